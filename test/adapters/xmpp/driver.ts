// The XMPP side of the adapter conformance suite and of the XMPP acceptance tests: a real Prosody
// (test/helpers/prosody.ts) and real @xmpp/client users on it (TestClient, PLAIN over loopback),
// with the adapter running inside a real provider (the bridge host), not a FakeCore.
//
// How the platform gestures are made (what an XMPP client would do):
//   - a group bridged into MIMI: the user joins a room JID that does not exist on the component
//     (XEP-0045 §10.1, status 201 → a new MIMI group), then invites by XEP-0045 §7.8.2 mediated
//     invitations to the ghosts' JIDs;
//   - a MIMI room brought in from MIMI: the user gets a mediated invitation from the room and
//     joins it (clients here auto-join invitations, as clients with bookmarks do);
//   - IDs: in MUCs what the driver reports are the MUC's XEP-0359 stanza-ids (replies, reactions,
//     retractions name them; XEP-0308 corrections name the sender's own id); in one-to-one chats
//     the stanza ids;
//   - threads: XEP-0201 <thread> whose ID is the root message's ID (as other events name it), so
//     the bridge recognises the root; files: XEP-0066 OOB with the URL as the body (the fallback
//     clients show as the file);
//   - moderation: XEP-0045 §8.2 kick (role none, by nick) and §9.1 ban (affiliation outcast, by
//     JID) IQs to the room.
// What a user "sees" is derived from everything its client received (TestClient.inbox order) plus
// what it sent to one-to-one chats (no reflection there), normalised to the suite's `Seen`.
import { randomBytes } from "node:crypto";
import type { PlatformRoomId } from "../../../src/adapter/index.ts";
import { platformEventId, platformRoomId } from "../../../src/adapter/index.ts";
import type { Adapter } from "../../../src/adapter/adapter.ts";
import type { Provider } from "../../../src/provider.ts";
import { until } from "../../helpers/acceptance.ts";
import { startProsody, type ProsodyServer } from "../../helpers/prosody.ts";
import { BRIDGED, type ConsentSeen, type PlatformDriver, type Seen } from "../conformance.ts";
import { TestClient, password, testXmppConfig, xml, type Element } from "./harness.ts";

export const NS = {
  muc: "http://jabber.org/protocol/muc",
  mucUser: "http://jabber.org/protocol/muc#user",
  mucAdmin: "http://jabber.org/protocol/muc#admin",
  mucOwner: "http://jabber.org/protocol/muc#owner",
  conference: "jabber:x:conference",
  sid: "urn:xmpp:sid:0",
  delay: "urn:xmpp:delay",
  correct: "urn:xmpp:message-correct:0",
  reply: "urn:xmpp:reply:0",
  fallback: "urn:xmpp:fallback:0",
  reactions: "urn:xmpp:reactions:0",
  retract: "urn:xmpp:message-retract:1",
  moderate: "urn:xmpp:message-moderate:1",
  commands: "http://jabber.org/protocol/commands",
  dataForms: "jabber:x:data",
  markers: "urn:xmpp:chat-markers:0",
  oob: "jabber:x:oob",
} as const;

/** The XMPP accounts every test Prosody has (password: harness.password(name)). */
export const XMPP_USERS = ["alice", "carol", "dave", "erin", "admin"] as const;

export async function startXmppServer(): Promise<ProsodyServer> {
  return startProsody({ users: XMPP_USERS.map((name) => ({ name, password: password(name) })) });
}

/** The provider config section that runs the XMPP adapter against `server`. */
export function xmppProviderConfig(server: ProsodyServer): Record<string, unknown> {
  return { adapters: { xmpp: testXmppConfig(server) } };
}

export function xmppAdapterOf(provider: Provider): Adapter {
  const a = provider.bridge?.adapter("xmpp");
  if (a === undefined) throw new Error("the XMPP adapter is not running in this provider");
  return a;
}

export const statusCodes = (el: Element): string[] => (el.getChild("x", NS.mucUser)?.getChildren("status") ?? []).map((s) => String(s.attrs.code));
const bareOf = (jid: string): string => {
  const slash = jid.indexOf("/");
  return slash < 0 ? jid : jid.slice(0, slash);
};
const resourceOf = (jid: string): string | undefined => {
  const slash = jid.indexOf("/");
  return slash < 0 ? undefined : jid.slice(slash + 1);
};
const newId = (prefix: string) => `${prefix}-${randomBytes(6).toString("hex")}`;

/** XEP-0428: the body without the fallback ranges of the features the client understands. */
function strippedBody(el: Element): string | undefined {
  const body = el.getChildText("body");
  if (body === null) return undefined;
  const chars = Array.from(body);
  const drop = chars.map(() => false);
  for (const fb of el.getChildren("fallback", NS.fallback)) {
    const f = String(fb.attrs.for ?? "");
    if (f !== NS.reply && f !== NS.retract && f !== NS.reactions) continue;
    const ranges = fb.getChildren("body");
    if (ranges.length === 0) return "";
    for (const r of ranges) for (let i = Number(r.attrs.start); i < Number(r.attrs.end) && i < chars.length; i++) drop[i] = true;
  }
  return chars.filter((_, i) => !drop[i]).join("");
}

interface Logged {
  readonly el: Element;
  readonly out: boolean;
}

/** One XMPP user: a TestClient plus what the driver needs to act and observe like a client. */
export class XmppUser {
  readonly name: string;
  readonly client: TestClient;
  readonly server: ProsodyServer;
  /** Everything received (in order) plus the one-to-one messages sent. */
  readonly log: Logged[] = [];
  /** MUCs this user is in (rejoined after a reconnect, as clients do). */
  readonly rooms = new Set<string>();
  /** Join MUCs the user is invited to (a client with auto-join). */
  autoJoin = true;
  /** Own MUC messages: stanza-id → the id the client gave it (XEP-0308 corrections name the latter). */
  readonly #ownIds = new Map<string, string>();
  /** Own reaction sets per (room, target) (XEP-0444 sends the whole set). */
  readonly #reactions = new Map<string, Set<string>>();

  readonly #available: boolean;

  /** `available: false`: a session that never sends presence (it sends, but gets nothing addressed to the bare JID). */
  constructor(server: ProsodyServer, name: string, resource = "driver", options: { available?: boolean } = {}) {
    this.server = server;
    this.name = name;
    this.#available = options.available !== false;
    this.client = new TestClient(server, name, resource, undefined, { available: this.#available });
    this.client.xmpp.on("stanza", (el: Element) => {
      this.log.push({ el, out: false });
      this.#autoJoin(el);
    });
    this.client.xmpp.on("online", () => {
      // After a reconnect the server has forgotten our MUC occupancy: enter again.
      if (this.client.onlineCount > 1) for (const room of this.rooms) void this.#sendJoin(room).catch(() => undefined);
    });
  }

  get bare(): string {
    return this.client.bare;
  }

  get mimiUri(): string {
    return `mimi://${BRIDGED}/u/${this.name}`;
  }

  async start(): Promise<void> {
    await this.client.start();
    if (!this.#available) return;
    await this.client.waitFor((el) => el.is("presence") && el.attrs.from === this.client.full && el.attrs.type === undefined, "own presence", { timeoutMs: 20_000 });
  }

  async stop(): Promise<void> {
    await this.client.stop();
  }

  #autoJoin(el: Element): void {
    if (!this.autoJoin || !el.is("message")) return;
    const invite = el.getChild("x", NS.mucUser)?.getChild("invite");
    if (invite === undefined) return;
    const room = String(el.getChild("x", NS.conference)?.attrs.jid ?? bareOf(String(el.attrs.from ?? "")));
    if (this.rooms.has(room)) return;
    this.rooms.add(room);
    void this.#sendJoin(room).catch(() => undefined);
  }

  #sendJoin(room: string): Promise<void> {
    return this.client.send(xml("presence", { to: `${room}/${this.name}` }, xml("x", { xmlns: NS.muc })));
  }

  /** Joins a MUC (creating it when it does not exist); resolves with the self-presence (110) or rejects with the error. */
  async join(room: string, nick = this.name): Promise<Element> {
    const mark = this.client.mark();
    this.rooms.add(room);
    await this.client.send(xml("presence", { to: `${room}/${nick}` }, xml("x", { xmlns: NS.muc })));
    const answer = await this.client.waitFor(
      (el) => el.is("presence") && bareOf(String(el.attrs.from ?? "")) === room && (el.attrs.type === "error" || (el.attrs.type !== "unavailable" && statusCodes(el).includes("110"))),
      `${this.name} joins ${room}`,
      { after: mark, timeoutMs: 30_000 },
    );
    if (answer.attrs.type === "error") {
      this.rooms.delete(room);
      const cond = answer.getChild("error")?.getChildElements()[0]?.name ?? "error";
      throw new Error(`joining ${room} failed: ${cond}`);
    }
    return answer;
  }

  /** Whether the user's current occupancy of `room` is confirmed (self-presence after the last removal). */
  inRoom(room: string): boolean {
    let inside = false;
    for (const { el, out } of this.log) {
      if (out || !el.is("presence") || bareOf(String(el.attrs.from ?? "")) !== room || !statusCodes(el).includes("110")) continue;
      inside = el.attrs.type === undefined;
    }
    return inside;
  }

  // ---- acting ------------------------------------------------------------------------------------

  static isChat(room: string): boolean {
    return room.startsWith("chat:");
  }

  static ghostOfChat(room: string): string {
    return room.slice(room.lastIndexOf("|") + 1);
  }

  /**
   * Sends a message; returns the ID other events name it by (MUC: the stanza-id; chat: the id).
   * `thread`: XEP-0201 §2; `oob`: XEP-0066 §3 files (the body is the text, or the URL alone).
   */
  async send(room: string, text: string, options: { replyTo?: string; id?: string; replyToAuthor?: string; thread?: string; oob?: { url: string; desc?: string } } = {}): Promise<string> {
    const id = options.id ?? newId(this.name);
    const reply = options.replyTo === undefined ? [] : [xml("reply", { xmlns: NS.reply, id: options.replyTo, ...(options.replyToAuthor === undefined ? {} : { to: options.replyToAuthor }) })];
    const oob = options.oob === undefined ? [] : [xml("x", { xmlns: NS.oob }, xml("url", {}, options.oob.url), ...(options.oob.desc === undefined ? [] : [xml("desc", {}, options.oob.desc)]))];
    const thread = options.thread === undefined ? [] : [xml("thread", {}, options.thread)];
    const body = text === "" && options.oob !== undefined ? options.oob.url : text;
    const children = [xml("body", {}, body), ...reply, ...oob, ...thread, xml("origin-id", { xmlns: NS.sid, id })];
    return this.#message(room, id, children);
  }

  /** Sends `children` as a message with `id`; for a MUC waits for the reflection and returns the stanza-id. */
  async #message(room: string, id: string, children: Element[]): Promise<string> {
    if (XmppUser.isChat(room)) {
      const el = xml("message", { to: XmppUser.ghostOfChat(room), type: "chat", id }, ...children);
      await this.client.send(el);
      this.log.push({ el, out: true });
      return id;
    }
    const mark = this.client.mark();
    await this.client.send(xml("message", { to: room, type: "groupchat", id }, ...children));
    const echo = await this.client.waitFor(
      (el) => el.is("message") && bareOf(String(el.attrs.from ?? "")) === room && el.attrs.id === id && (el.attrs.type === "groupchat" || el.attrs.type === "error"),
      `${this.name}: the MUC reflects ${id}`,
      { after: mark, timeoutMs: 30_000 },
    );
    if (echo.attrs.type === "error") throw new Error(`${room} refused ${id}: ${echo.getChild("error")?.toString() ?? ""}`);
    // Prosody's muc_mam gives stanza-ids to what it archives (messages with a body).
    const sid: unknown = echo.getChildren("stanza-id", NS.sid).find((s) => s.attrs.by === room)?.attrs.id;
    if (typeof sid !== "string") {
      if (children.some((c) => c.is("body"))) throw new Error(`${room} gave ${id} no stanza-id: ${echo.toString()}`);
      return id;
    }
    this.#ownIds.set(sid, id);
    return sid;
  }

  /** Sends the same stanza again (a client resending after a reconnect). */
  async resend(room: string, id: string, text: string): Promise<void> {
    const clientId = this.#ownIds.get(id) ?? id;
    if (XmppUser.isChat(room)) {
      await this.client.send(xml("message", { to: XmppUser.ghostOfChat(room), type: "chat", id: clientId }, xml("body", {}, text), xml("origin-id", { xmlns: NS.sid, id: clientId })));
      return;
    }
    await this.#message(room, clientId, [xml("body", {}, text), xml("origin-id", { xmlns: NS.sid, id: clientId })]);
  }

  async edit(room: string, target: string, text: string): Promise<void> {
    // XEP-0308 §3: the correction names the id of the message as its sender sent it.
    const original = this.#ownIds.get(target) ?? target;
    const id = newId(this.name);
    await this.#message(room, id, [xml("body", {}, text), xml("replace", { xmlns: NS.correct, id: original }), xml("origin-id", { xmlns: NS.sid, id })]);
  }

  async react(room: string, target: string, reaction: string, remove = false): Promise<void> {
    const k = `${room}\n${target}`;
    const set = this.#reactions.get(k) ?? new Set<string>();
    if (remove) set.delete(reaction);
    else set.add(reaction);
    this.#reactions.set(k, set);
    const id = newId(this.name);
    await this.#message(room, id, [xml("reactions", { xmlns: NS.reactions, id: target }, ...[...set].map((r) => xml("reaction", {}, r))), xml("origin-id", { xmlns: NS.sid, id })]);
  }

  async retract(room: string, target: string): Promise<void> {
    const id = newId(this.name);
    // XEP-0424 §4 (in a MUC the target is the stanza-id; in a chat the message's id).
    await this.#message(room, id, [
      xml("retract", { xmlns: NS.retract, id: target }),
      xml("fallback", { xmlns: NS.fallback, for: NS.retract }),
      xml("body", {}, "This person attempted to retract a previous message, but it's unsupported by your client."),
      xml("origin-id", { xmlns: NS.sid, id }),
    ]);
  }

  /** XEP-0045 §8.2 kick (by nick) or §9.1 ban (by bare JID); rejects with the stanza error. */
  async moderate(room: string, target: { nick?: string; jid?: string }, action: "kick" | "ban", reason?: string): Promise<void> {
    const why = reason === undefined ? [] : [xml("reason", {}, reason)];
    const item =
      action === "kick"
        ? xml("item", { ...(target.nick === undefined ? { jid: target.jid } : { nick: target.nick }), role: "none" }, ...why)
        : xml("item", { jid: target.jid ?? "", affiliation: "outcast" }, ...why);
    await this.client.iq(xml("iq", { type: "set", to: room }, xml("query", { xmlns: NS.mucAdmin }, item)), 30_000);
  }

  /** XEP-0045 §7.8.2 mediated invitation of `jid` to `room`. */
  async invite(room: string, jid: string, reason?: string): Promise<void> {
    await this.client.send(xml("message", { to: room, id: newId("inv") }, xml("x", { xmlns: NS.mucUser }, xml("invite", { to: jid }, ...(reason === undefined ? [] : [xml("reason", {}, reason)])))));
  }

  /** The occupant nick currently shown for `jid` (bare) in `room`, from the presences received. */
  nickOf(room: string, jid: string): string | undefined {
    for (const [nick, j] of this.occupants(room)) if (j === jid) return nick;
    return undefined;
  }

  /** Current occupants of `room` (nick → bare JID) as this client saw them. */
  occupants(room: string): Map<string, string> {
    const present = new Map<string, string>();
    for (const { el, out } of this.log) {
      if (out || !el.is("presence")) continue;
      const from = String(el.attrs.from ?? "");
      if (bareOf(from) !== room) continue;
      const nick = resourceOf(from);
      if (nick === undefined || el.attrs.type === "error") continue;
      const item = el.getChild("x", NS.mucUser)?.getChild("item");
      if (el.attrs.type === "unavailable") {
        const renamed: unknown = statusCodes(el).includes("303") ? item?.attrs.nick : undefined;
        const jid = present.get(nick);
        present.delete(nick);
        if (typeof renamed === "string" && jid !== undefined) present.set(renamed, jid);
      } else {
        present.set(nick, item?.attrs.jid === undefined ? "" : bareOf(String(item.attrs.jid)));
      }
    }
    return present;
  }

  // ---- observing -----------------------------------------------------------------------------------

  /**
   * What this user has seen in `room`, as the suite's `Seen` list. `mimiOf` maps a bare JID (local
   * user or ghost) to a MIMI URI. History replays of messages already seen (XEP-0045 §7.2.14 after
   * a rejoin, recognised by their stanza-id and a delay from the room) are skipped, as clients do;
   * everything else counts, so a duplicate delivery shows up twice.
   */
  seen(room: string, mimiOf: (bareJid: string) => string): Seen[] {
    const out: Seen[] = [];
    const chat = XmppUser.isChat(room);
    const ghost = chat ? XmppUser.ghostOfChat(room) : undefined;
    const present = new Map<string, string>();
    const reactions = new Map<string, Set<string>>();
    const stanzaIds = new Set<string>();
    /** (author, the id they sent it with) → the id others name it by. */
    const idOf = new Map<string, string>();
    const me = this.bare;
    for (const { el, out: sent } of this.log) {
      const from = String(el.attrs.from ?? "");
      if (el.is("presence")) {
        if (chat || sent || bareOf(from) !== room) continue;
        const nick = resourceOf(from);
        if (nick === undefined || el.attrs.type === "error") continue;
        const item = el.getChild("x", NS.mucUser)?.getChild("item");
        const codes = statusCodes(el);
        if (el.attrs.type === "unavailable") {
          const jid = present.get(nick);
          present.delete(nick);
          if (codes.includes("303")) {
            if (typeof item?.attrs.nick === "string" && jid !== undefined) present.set(item.attrs.nick, jid);
            continue;
          }
          const who = jid ?? (item?.attrs.jid === undefined ? undefined : bareOf(String(item.attrs.jid)));
          if (who === undefined || who === "") continue;
          out.push({ kind: "participant", change: codes.includes("301") ? "banned" : codes.includes("307") ? "removed" : "left", user: mimiOf(who) });
        } else {
          const jid = item?.attrs.jid === undefined ? "" : bareOf(String(item.attrs.jid));
          const known = present.has(nick);
          present.set(nick, jid);
          if (!known && jid !== "") out.push({ kind: "participant", change: "added", user: mimiOf(jid) });
        }
        continue;
      }
      if (!el.is("message") || el.attrs.type === "error") continue;
      let author: string;
      let sid: string | undefined;
      if (chat) {
        if (sent) {
          if (el.attrs.to !== ghost) continue;
          author = me;
        } else {
          if (bareOf(from) !== ghost || el.attrs.type !== "chat") continue;
          author = ghost;
        }
        sid = typeof el.attrs.id === "string" ? el.attrs.id : undefined;
      } else {
        if (sent || bareOf(from) !== room || el.attrs.type !== "groupchat") continue;
        // XEP-0045 §8.1: a subject change (from an occupant or the room itself).
        const subject = el.getChild("subject");
        if (subject !== undefined && el.getChildText("body") === null) {
          out.push({ kind: "metadata", topic: subject.getText() });
          continue;
        }
        const nick = resourceOf(from);
        sid = el.getChildren("stanza-id", NS.sid).find((s) => s.attrs.by === room)?.attrs.id as string | undefined;
        const retract = el.getChild("retract", NS.retract);
        const moderated = retract?.getChild("moderated", NS.moderate);
        if (nick === undefined) {
          // XEP-0425 §5: the room announces a moderation.
          if (retract !== undefined && moderated !== undefined) {
            const by = present.get(resourceOf(String(moderated.attrs.by ?? "")) ?? "");
            out.push({ kind: "retract", target: platformEventId(String(retract.attrs.id)), from: by === undefined || by === "" ? room : mimiOf(by) });
          }
          continue;
        }
        const jid = present.get(nick);
        if (jid === undefined || jid === "") continue;
        author = jid;
      }
      const delayedByRoom = el.getChild("delay", NS.delay)?.attrs.from === room;
      if (sid !== undefined && stanzaIds.has(sid) && delayedByRoom) continue; // history replay after a rejoin
      if (sid !== undefined) stanzaIds.add(sid);
      if (typeof el.attrs.id === "string" && sid !== undefined) idOf.set(`${author}\n${el.attrs.id}`, sid);
      const fromUri = mimiOf(author);
      // XEP-0333 §3: a displayed marker (in a MUC it names the room's stanza-id).
      const displayed = el.getChild("displayed", NS.markers);
      if (displayed !== undefined && el.getChildText("body") === null) {
        out.push({ kind: "receipt", target: platformEventId(String(displayed.attrs.id)), from: fromUri });
        continue;
      }
      const retract = el.getChild("retract", NS.retract);
      if (el.getChild("subject") !== undefined && el.getChildText("body") === null) continue;
      if (retract !== undefined) {
        out.push({ kind: "retract", target: platformEventId(String(retract.attrs.id)), from: fromUri });
        continue;
      }
      const reacts = el.getChild("reactions", NS.reactions);
      if (reacts !== undefined) {
        const target = String(reacts.attrs.id);
        const k = `${author}\n${target}`;
        const before = reactions.get(k) ?? new Set<string>();
        const after = new Set(reacts.getChildren("reaction").map((r) => r.getText().trim()));
        for (const r of after) if (!before.has(r)) out.push({ kind: "reaction", target: platformEventId(target), from: fromUri, reaction: r });
        for (const r of before) if (!after.has(r)) out.push({ kind: "unreact", target: platformEventId(target), from: fromUri, reaction: r });
        reactions.set(k, after);
        continue;
      }
      const body = strippedBody(el);
      const replace = el.getChild("replace", NS.correct);
      if (replace !== undefined && body !== undefined) {
        const original = String(replace.attrs.id);
        out.push({ kind: "edit", target: platformEventId(idOf.get(`${author}\n${original}`) ?? original), from: fromUri, text: body });
        continue;
      }
      if (body === undefined || body.trim().length === 0) continue;
      const replyTo: unknown = el.getChild("reply", NS.reply)?.attrs.id;
      const thread = el.getChildText("thread");
      const attachments = el.getChildren("x", NS.oob).flatMap((x) => {
        const url = x.getChildText("url")?.trim();
        if (url === undefined || url === "") return [];
        const name = decodeURIComponent(url.split(/[?#]/)[0]!.split("/").at(-1) ?? "");
        return [{ url, ...(name === "" ? {} : { filename: name }) }];
      });
      out.push({
        kind: "message",
        id: platformEventId(sid ?? String(el.attrs.id ?? "")),
        from: fromUri,
        text: body,
        ...(typeof replyTo === "string" ? { replyTo: platformEventId(replyTo) } : {}),
        ...(thread === null || thread === "" ? {} : { thread }),
        ...(attachments.length === 0 ? {} : { attachments }),
      });
    }
    return out;
  }
}

// ---- the conformance driver ---------------------------------------------------------------------------

export interface XmppDriver extends PlatformDriver {
  /** A connected XMPP user of the driver (tests that look closer). */
  user(name: string): XmppUser;
  server(): ProsodyServer;
}

export function xmppDriver(): XmppDriver {
  let server: ProsodyServer | undefined;
  let provider: Provider | undefined;
  const users = new Map<string, XmppUser>();
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} is not ready`);
    return v;
  };
  const userOf = (name: string) => need(users.get(name), `XMPP user ${name}`);
  const adapter = () => xmppAdapterOf(need(provider, "the provider"));
  /** A bare JID the clients see → MIMI URI (local users and ghosts). */
  const mimiOf = (jid: string): string => adapter().parseGhost(jid as never) ?? adapter().toMimiUri(jid as never) ?? jid;
  /** The XMPP address of a MIMI user: a local user's JID, else the ghost. */
  const jidOf = (mimiUri: string): string => adapter().localUserFor(mimiUri) ?? adapter().ghostFor(mimiUri);

  return {
    user: userOf,
    server: () => need(server, "Prosody"),
    async providerConfig() {
      server = await startXmppServer();
      return xmppProviderConfig(server);
    },
    async connect(p, names) {
      provider = p;
      const s = need(server, "Prosody");
      for (const name of names) {
        if (users.has(name)) continue;
        const u = new XmppUser(s, name);
        users.set(name, u);
        await u.start();
      }
      await until(() => p.bridge?.status()["xmpp"] === "connected", "the XMPP adapter is connected", 30_000);
    },
    adapter: (p) => xmppAdapterOf(p),
    async bridgeGroup(user, name, invite) {
      const u = userOf(user);
      const room = `${name}@${need(server, "Prosody").componentDomain}`;
      const self = await u.join(room);
      if (!statusCodes(self).includes("201")) throw new Error(`${room} existed already (no status 201)`);
      for (const mimiUri of invite) await u.invite(room, jidOf(mimiUri));
      return platformRoomId(room);
    },
    async roomOf(user, roomId) {
      const u = userOf(user);
      const portals = need(provider, "the provider").bridge?.portals("xmpp");
      let room: string | undefined;
      await until(async () => {
        room = (await portals?.byRoom(roomId))?.platformRoom;
        return room !== undefined;
      }, `a portal for ${roomId}`);
      const r = need(room, "the room");
      // A MUC: the user was invited and joins (auto-join); a chat needs nothing.
      if (!XmppUser.isChat(r)) await until(() => u.inRoom(r), `${user} is in ${r}`, 30_000, () => u.log.slice(-5).map((l) => l.el.toString()).join("\n"));
      return platformRoomId(r);
    },
    async send(user, room, text, options = {}) {
      const u = userOf(user);
      const replyAuthor = options.replyTo === undefined || XmppUser.isChat(room) ? undefined : u.seen(room, mimiOf).find((s) => s.kind === "message" && s.id === options.replyTo);
      const authorNick = replyAuthor?.kind === "message" ? u.nickOf(room, jidOf(replyAuthor.from)) : undefined;
      return platformEventId(
        await u.send(room, text, { ...(options.replyTo === undefined ? {} : { replyTo: options.replyTo }), ...(authorNick === undefined ? {} : { replyToAuthor: `${room}/${authorNick}` }) }),
      );
    },
    async sendThreaded(user, room, root, text) {
      return platformEventId(await userOf(user).send(room, text, { thread: root }));
    },
    async sendAttachment(user, room, file) {
      // A file the client put on an HTTP upload service (XEP-0363 would hand out such a URL).
      const url = `https://upload.${need(server, "Prosody").domain}/${randomBytes(6).toString("hex")}/${encodeURIComponent(file.filename)}`;
      const id = await userOf(user).send(room, file.caption ?? "", { oob: { url } });
      return { id: platformEventId(id), platformUrl: url, mimiUrl: url };
    },
    async resend(user, room, id, text) {
      await userOf(user).resend(room, id, text);
    },
    async edit(user, room, target, text) {
      await userOf(user).edit(room, target, text);
    },
    async react(user, room, target, reaction) {
      await userOf(user).react(room, target, reaction);
    },
    async retract(user, room, target) {
      await userOf(user).retract(room, target);
    },
    async moderate(user, room, target, action) {
      const u = userOf(user);
      const jid = jidOf(target);
      if (action === "ban") return u.moderate(room, { jid }, "ban");
      let nick: string | undefined;
      await until(() => (nick = u.nickOf(room, jid)) !== undefined, `${user} sees ${target} in ${room}`);
      await u.moderate(room, { ...(nick === undefined ? {} : { nick }) }, "kick");
    },
    async markRead(user, room, target) {
      const to = XmppUser.isChat(room) ? XmppUser.ghostOfChat(room) : room;
      await userOf(user).client.send(xml("message", { to, type: XmppUser.isChat(room) ? "chat" : "groupchat", id: `mk-${randomBytes(6).toString("hex")}` }, xml("displayed", { xmlns: NS.markers, id: target })));
    },
    async setTopic(user, room, topic) {
      await userOf(user).client.send(xml("message", { to: room, type: "groupchat", id: `subj-${randomBytes(6).toString("hex")}` }, xml("subject", {}, topic)));
    },
    // RFC 6121 §3: subscription states are the XMPP side of consent (docs/MAPPING.md).
    async requestConsent(user, peer) {
      await userOf(user).client.send(xml("presence", { to: jidOf(peer), type: "subscribe" }));
    },
    async grantConsent(user, peer) {
      await userOf(user).client.send(xml("presence", { to: jidOf(peer), type: "subscribed" }));
    },
    async revokeConsent(user, peer) {
      await userOf(user).client.send(xml("presence", { to: jidOf(peer), type: "unsubscribed" }));
    },
    consentSeen(user) {
      const kinds: Record<string, ConsentSeen["kind"]> = { subscribe: "request", subscribed: "grant", unsubscribed: "revoke" };
      return userOf(user).log.flatMap(({ el, out }) => {
        const kind = kinds[String(el.attrs.type ?? "")];
        if (out || !el.is("presence") || kind === undefined) return [];
        const ghost = adapter().parseGhost(bareOf(String(el.attrs.from ?? "")) as never);
        return ghost === undefined ? [] : [{ from: ghost, kind }];
      });
    },
    seen: (user, room: PlatformRoomId) => userOf(user).seen(room, mimiOf),
    async close() {
      for (const u of users.values()) await u.stop();
      users.clear();
      await server?.dispose();
      server = undefined;
    },
  };
}

