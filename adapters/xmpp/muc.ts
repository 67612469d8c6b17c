// The component's own MUC service (XEP-0045): every MIMI group or channel with local members is a
// room `<escaped room>@<component domain>` (ids.ts). The adapter is the MUC service here: it keeps
// the occupants, reflects messages, answers the admin and owner protocols and replays history
// from its store. Remote MIMI participants appear as occupants with the nick `user@host` and
// their ghost JID (the rooms are non-anonymous, status 100).
import { randomBytes } from "node:crypto";
import {
  MimiError,
  parseMimiUri,
  platformEventId,
  platformRoomId,
  platformUserId,
  type DeliveryResult,
  type MimiEdit,
  type MimiMessage,
  type MimiParticipantChange,
  type MimiReaction,
  type MimiReadReceipt,
  type MimiRetraction,
  type MimiRoomMetadata,
  type MimiSender,
  type MimiTyping,
  type PlatformEvent,
  type PlatformRoomId,
  type RoomKindName,
} from "../../src/adapter/index.ts";
import { cloneEl, errorForRejection, fromJsonEl, mimiRoleFor, mucStanding, toJsonEl, type BridgeContext, type JsonEl } from "./context.ts";
import { key, mucStanzaId, sha256Hex, stanzaIdFor, tryParseJid } from "./ids.ts";
import { planInbound, type RefKind } from "./inbound.ts";
import { contentChildren, correctionChildren, delayElement, moderationChildren, parseMessage, reactionChildren, retractionChildren } from "./rich.ts";
import { KeyedSerial } from "../../src/adapter/index.ts";
import { NS, byteLength, errorReply, formField, parseXmppDateTime, xml, type StanzaErrorSpec, type XmlElement } from "./xml.ts";

interface Occupant {
  readonly nick: string;
  readonly bare: string;
  fulls: string[];
}

interface Member {
  role: string;
  readonly mimiUri?: string;
}

export interface RoomState {
  readonly roomJid: string;
  readonly roomId: string;
  readonly kind: RoomKindName;
  name?: string;
  subject?: string;
  subjectNick?: string;
  /** Platform user (local bare JID or ghost bare JID) → MIMI role. */
  members: Record<string, Member>;
  banned: string[];
  /** Local occupants by nick. */
  occupants: Record<string, Occupant>;
  historySeq: number;
}

interface HistoryEntry {
  readonly ts: number;
  readonly nick: string;
  /** The stanza-id the room gave the message. */
  readonly sid: string;
  /** The sender's platform user (local bare JID or ghost). */
  readonly author: string;
  readonly el: JsonEl;
}

const MAX_NICK = 128;
const LATE_MS = 5000;

/** Late deliveries carry their MIMI time as an XEP-0203 delay. */
const isLate = (ts: number) => Date.now() - ts > LATE_MS;

export class ComponentMuc {
  readonly #b: BridgeContext;
  readonly #rooms = new Map<string, RoomState>();
  readonly #serial = new KeyedSerial();

  constructor(b: BridgeContext) {
    this.#b = b;
  }

  // ---- state --------------------------------------------------------------------------------------

  /** The room state, created from the portal on first use; undefined when there is no portal. */
  async room(roomJid: string): Promise<RoomState | undefined> {
    const cached = this.#rooms.get(roomJid);
    if (cached !== undefined) return cached;
    const stored = await this.#b.store.get<RoomState>(key("room", roomJid));
    // Another caller may have loaded or created the state meanwhile: one object per room, always.
    const raced = this.#rooms.get(roomJid);
    if (raced !== undefined) return raced;
    if (stored !== undefined) {
      this.#rooms.set(roomJid, stored);
      return stored;
    }
    const portal = await this.#b.core.portals.byPlatformRoom(platformRoomId(roomJid));
    const raced2 = this.#rooms.get(roomJid);
    if (raced2 !== undefined) return raced2;
    if (portal === undefined) return undefined;
    const state: RoomState = { roomJid, roomId: portal.roomId, kind: portal.kind, members: {}, banned: [], occupants: {}, historySeq: 0 };
    this.#rooms.set(roomJid, state);
    await this.#save(state);
    return state;
  }

  async #save(state: RoomState): Promise<void> {
    await this.#b.store.put(key("room", state.roomJid), state);
  }

  /** All component rooms with a state (for disco#items and admin listings). */
  async rooms(): Promise<RoomState[]> {
    const rows = await this.#b.store.list<RoomState>("room/");
    return rows.map((r) => this.#rooms.get(r.value.roomJid) ?? r.value);
  }

  /** Forgets a room (unbridge): occupants get a XEP-0045 §10.9 destroy presence. */
  async destroy(roomJid: string, reason: string): Promise<void> {
    const state = await this.room(roomJid);
    if (state === undefined) return;
    for (const occ of Object.values(state.occupants)) {
      for (const full of occ.fulls) {
        await this.#b.link.sendNow(
          xml(
            "presence",
            { from: `${roomJid}/${occ.nick}`, to: full, type: "unavailable" },
            xml("x", { xmlns: NS.mucUser }, xml("item", { affiliation: "none", role: "none" }), xml("destroy", {}, xml("reason", {}, reason)), xml("status", { code: "110" })),
          ),
        );
      }
    }
    this.#rooms.delete(roomJid);
    await this.#b.store.del(key("room", roomJid));
    for (const h of await this.#b.store.list<HistoryEntry>(`${key("hist", roomJid)}/`)) await this.#b.store.del(h.key);
  }

  ghostNick(mimiUri: string): string {
    try {
      const p = parseMimiUri(mimiUri);
      return `${p.segments[0] ?? "?"}@${p.host}`.slice(0, MAX_NICK);
    } catch {
      return mimiUri.slice(0, MAX_NICK);
    }
  }

  #occupantByFull(state: RoomState, full: string): Occupant | undefined {
    return Object.values(state.occupants).find((o) => o.fulls.includes(full));
  }

  #occupantByBare(state: RoomState, bare: string): Occupant | undefined {
    return Object.values(state.occupants).find((o) => o.bare === bare);
  }

  /** Ghost occupants: remote members shown by nick. */
  #ghosts(state: RoomState): { nick: string; ghost: string; role: string }[] {
    const out: { nick: string; ghost: string; role: string }[] = [];
    for (const [user, m] of Object.entries(state.members)) {
      if (m.mimiUri === undefined || this.#b.ids.parseGhost(user) === undefined) continue;
      out.push({ nick: this.ghostNick(m.mimiUri), ghost: user, role: m.role });
    }
    return out;
  }

  /** The nick that shows a platform user in the room (an occupant's nick, a ghost's nick). */
  nickOf(state: RoomState, platformUser: string): string | undefined {
    const occ = this.#occupantByBare(state, platformUser);
    if (occ !== undefined) return occ.nick;
    const m = state.members[platformUser];
    if (m?.mimiUri !== undefined && this.#b.ids.parseGhost(platformUser) !== undefined) return this.ghostNick(m.mimiUri);
    return undefined;
  }

  /** The platform user behind a nick (local occupant or ghost). */
  userOfNick(state: RoomState, nick: string): string | undefined {
    const occ = state.occupants[nick];
    if (occ !== undefined) return occ.bare;
    return this.#ghosts(state).find((g) => g.nick === nick)?.ghost;
  }

  #roleOf(state: RoomState, user: string): string | undefined {
    return state.members[user]?.role;
  }

  #fulls(state: RoomState, except?: string): string[] {
    const out: string[] = [];
    for (const o of Object.values(state.occupants)) for (const f of o.fulls) if (f !== except) out.push(f);
    return out;
  }

  #itemFor(state: RoomState, user: string, extra: Record<string, string | undefined> = {}): XmlElement {
    const standing = state.banned.includes(user) ? { affiliation: "outcast", role: "none" } : mucStanding(this.#roleOf(state, user));
    return xml("item", { affiliation: standing.affiliation, role: standing.role, jid: user, ...extra });
  }

  #presence(state: RoomState, nick: string, user: string, to: string, opts: { type?: string; statuses?: string[]; self?: boolean; item?: Record<string, string | undefined>; children?: XmlElement[] } = {}): XmlElement {
    const statuses = [...(opts.statuses ?? [])];
    if (opts.self === true) statuses.push("110");
    return xml(
      "presence",
      { from: `${state.roomJid}/${nick}`, to, type: opts.type },
      xml("x", { xmlns: NS.mucUser }, this.#itemFor(state, user, opts.item), ...(opts.children ?? []), ...statuses.map((code) => xml("status", { code }))),
    );
  }

  async #broadcast(els: (to: string) => XmlElement, fulls: string[], durable: boolean): Promise<void> {
    for (const full of fulls) {
      const el = els(full);
      if (durable) await this.#b.link.enqueue(el);
      else await this.#b.link.sendNow(el);
    }
  }

  // ---- XMPP → MIMI --------------------------------------------------------------------------------

  /** Presence from a local user to room/nick: join, nick change, leave (XEP-0045 §7.2, §7.6, §7.14). */
  async onPresence(stanza: XmlElement, fromBare: string, fromFull: string, roomJid: string, nick: string | undefined): Promise<void> {
    await this.#serial.run(`in:${roomJid}`, async () => {
      const type = stanza.attrs.type;
      if (type === "unavailable" || type === "error") return this.#leave(roomJid, fromFull, stanza.getChildText("status") ?? undefined);
      if (type !== undefined) return; // subscriptions to a room are not meaningful
      if (nick === undefined || nick.length === 0) {
        // §7.2.6: a join without nick.
        await this.#replyError(stanza, { condition: "jid-malformed", text: "join with room@service/nick" });
        return;
      }
      await this.#join(stanza, fromBare, fromFull, roomJid, nick);
    });
  }

  async #replyError(stanza: XmlElement, spec: StanzaErrorSpec): Promise<void> {
    const reply = errorReply(stanza, spec);
    if (reply === undefined) return;
    if (stanza.name === "presence") reply.append(xml("x", { xmlns: NS.muc }));
    await this.#b.link.sendNow(reply);
  }

  async #join(stanza: XmlElement, fromBare: string, fromFull: string, roomJid: string, nick: string): Promise<void> {
    const b = this.#b;
    if (nick.length > MAX_NICK || /[\p{Cc}]/u.test(nick)) {
      await this.#replyError(stanza, { condition: "not-acceptable", text: "nickname not acceptable" });
      return;
    }
    let state = await this.room(roomJid);
    let created = false;
    if (state === undefined) {
      if (b.ids.roomIdOfJid(roomJid) !== undefined) {
        // A MIMI room this user was never added to: it does not exist for them (§7.2.? item-not-found).
        await this.#replyError(stanza, { condition: "item-not-found", text: "no such room; ask a member to add you" });
        return;
      }
      // MIMI-XMPP-20: XEP-0045 §10.1.2 room creation by joining → a new MIMI group.
      const local = roomJid.slice(0, roomJid.indexOf("@"));
      const res = await b.submit({ type: "room.create", platformEventId: platformEventId(`create:${roomJid}`), sender: platformUserId(fromBare), room: platformRoomId(roomJid), kind: "group", name: local, timestamp: Date.now() });
      if (res.status !== "accepted" || res.roomId === undefined) {
        await this.#replyError(stanza, res.status === "rejected" ? errorForRejection(res) : { condition: "not-allowed", text: res.status === "ignored" ? res.reason : "room not created" });
        return;
      }
      // MIMI events of the new room (its metadata, the creator's participation) may have made the
      // state from the portal while the core was creating it: keep that one object.
      state = (await this.room(roomJid)) ?? { roomJid, roomId: res.roomId, kind: "group", name: local, members: {}, banned: [], occupants: {}, historySeq: 0 };
      state.name ??= local;
      state.members[fromBare] ??= { role: "admin" };
      this.#rooms.set(roomJid, state);
      created = true;
    }

    const existing = this.#occupantByFull(state, fromFull);
    if (existing !== undefined) {
      if (existing.nick === nick) {
        // A presence update of an occupant: rebroadcast (§7.7 is about status; keep it simple).
        await this.#broadcast((to) => this.#presence(state, nick, fromBare, to, { self: to === fromFull }), this.#fulls(state), false);
        return;
      }
      await this.#changeNick(state, existing, fromFull, nick, stanza);
      return;
    }

    // §7.2.8: banned users may not enter.
    if (state.banned.includes(fromBare)) {
      await this.#replyError(stanza, { condition: "forbidden", text: "you are banned from this room" });
      return;
    }
    // §7.2.9: nick conflicts with another user or a ghost.
    const holder = this.userOfNick(state, nick);
    if (holder !== undefined && holder !== fromBare) {
      await this.#replyError(stanza, { condition: "conflict", text: "that nickname is in use" });
      return;
    }
    const already = this.#occupantByBare(state, fromBare);
    if (already !== undefined && already.nick !== nick) {
      // Another session of the same user joins under another nick: XEP-0045 §7.2 multi-session uses one nick.
      await this.#replyError(stanza, { condition: "conflict", text: `you are in this room as ${already.nick}` });
      return;
    }

    // §7.2.7: members only; a non-member asks the core to join (the room policy decides).
    if (state.members[fromBare] === undefined) {
      const res = await b.submit({ type: "room.membership", platformEventId: platformEventId(`join:${fromBare}:${Date.now()}`), sender: platformUserId(fromBare), room: platformRoomId(roomJid), action: "join", target: platformUserId(fromBare), timestamp: Date.now() });
      if (res.status !== "accepted") {
        await this.#replyError(stanza, res.status === "rejected" ? { ...errorForRejection(res), condition: "registration-required" } : { condition: "registration-required", text: res.reason });
        return;
      }
      state.members[fromBare] = { role: state.kind === "channel" ? "guest" : "member" };
    }

    if (already !== undefined) already.fulls.push(fromFull);
    else state.occupants[nick] = { nick, bare: fromBare, fulls: [fromFull] };
    await this.#save(state);

    // §7.2.3: existing occupants to the new one, then the new one to the others, then self-presence.
    for (const g of this.#ghosts(state)) await b.link.sendNow(this.#presence(state, g.nick, g.ghost, fromFull));
    for (const o of Object.values(state.occupants)) if (o.nick !== nick) await b.link.sendNow(this.#presence(state, o.nick, o.bare, fromFull));
    if (already === undefined) await this.#broadcast((to) => this.#presence(state, nick, fromBare, to), this.#fulls(state, fromFull), false);
    const statuses = ["100", ...(created ? ["201"] : [])];
    await b.link.sendNow(this.#presence(state, nick, fromBare, fromFull, { self: true, statuses }));

    // §7.2.14 history, then §7.2.15 subject (always, possibly empty).
    await this.#sendHistory(state, fromFull, stanza.getChild("x", NS.muc)?.getChild("history"));
    await b.link.sendNow(xml("message", { from: state.subjectNick === undefined ? roomJid : `${roomJid}/${state.subjectNick}`, to: fromFull, type: "groupchat", id: `subj-${randomBytes(4).toString("hex")}` }, xml("subject", {}, state.subject ?? "")));
  }

  async #changeNick(state: RoomState, occ: Occupant, fromFull: string, nick: string, stanza: XmlElement): Promise<void> {
    // §7.6: conflict check, then unavailable (303, new nick) and available under the new nick.
    const holder = this.userOfNick(state, nick);
    if (holder !== undefined && holder !== occ.bare) {
      await this.#replyError(stanza, { condition: "conflict", text: "that nickname is in use" });
      return;
    }
    const old = occ.nick;
    const fulls = this.#fulls(state);
    for (const to of fulls) {
      await this.#b.link.sendNow(this.#presence(state, old, occ.bare, to, { type: "unavailable", statuses: ["303"], self: occ.fulls.includes(to), item: { nick } }));
    }
    const { [old]: _removed, ...rest } = state.occupants;
    state.occupants = { ...rest, [nick]: { nick, bare: occ.bare, fulls: occ.fulls } };
    await this.#save(state);
    for (const to of fulls) await this.#b.link.sendNow(this.#presence(state, nick, occ.bare, to, { self: occ.fulls.includes(to) }));
    this.#b.log.debug({ room: state.roomJid }, "xmpp: occupant changed nick");
    void fromFull;
  }

  async #leave(roomJid: string, fromFull: string, status: string | undefined): Promise<void> {
    const state = this.#rooms.get(roomJid) ?? (await this.room(roomJid));
    if (state === undefined) return;
    const occ = this.#occupantByFull(state, fromFull);
    if (occ === undefined) return;
    occ.fulls = occ.fulls.filter((f) => f !== fromFull);
    // §7.14: self-presence (110) to the leaving session; the others see the nick go when its last session left.
    await this.#b.link.sendNow(this.#presence(state, occ.nick, occ.bare, fromFull, { type: "unavailable", self: true }));
    if (occ.fulls.length === 0) {
      const { [occ.nick]: _gone, ...rest } = state.occupants;
      state.occupants = rest;
      await this.#broadcast((to) => this.#presence(state, occ.nick, occ.bare, to, { type: "unavailable", ...(status === undefined ? {} : {}) }), this.#fulls(state), false);
    }
    await this.#save(state);
  }

  /** A bounce from an occupant's session: that session is gone (bifrost#298). */
  async dropSession(roomJid: string, full: string): Promise<void> {
    await this.#serial.run(`in:${roomJid}`, () => this.#leave(roomJid, full, undefined));
  }

  async #sendHistory(state: RoomState, to: string, history: XmlElement | undefined): Promise<void> {
    const maxStanzas = history?.attrs.maxstanzas === undefined ? this.#b.config.muc.historyMessages : Math.max(0, Number.parseInt(history.attrs.maxstanzas, 10) || 0);
    if (history?.attrs.maxchars === "0" || maxStanzas === 0) return;
    const seconds = history?.attrs.seconds === undefined ? undefined : Number.parseInt(history.attrs.seconds, 10);
    const since = parseXmppDateTime(history?.attrs.since);
    const oldest = Math.max(seconds !== undefined && Number.isFinite(seconds) ? Date.now() - seconds * 1000 : 0, since ?? 0);
    const rows = await this.#b.store.list<HistoryEntry>(`${key("hist", state.roomJid)}/`);
    const entries = rows.map((r) => r.value).filter((h) => h.ts >= oldest);
    for (const h of entries.slice(-maxStanzas)) {
      const el = fromJsonEl(h.el);
      el.attrs.to = to;
      // XEP-0045 §7.2.14: history carries XEP-0203 delay from the room JID.
      if (el.getChild("delay", NS.delay) === undefined) el.append(delayElement(h.ts, state.roomJid));
      await this.#b.link.sendNow(el);
    }
  }

  async #record(state: RoomState, el: XmlElement, nick: string, sid: string, author: string, ts: number): Promise<void> {
    const max = this.#b.config.muc.historyMessages;
    if (max === 0) return;
    const copy = cloneEl(el);
    delete copy.attrs.to;
    state.historySeq += 1;
    const entry: HistoryEntry = { ts, nick, sid, author, el: toJsonEl(copy) };
    await this.#b.store.put(`${key("hist", state.roomJid)}/${state.historySeq.toString().padStart(12, "0")}`, entry);
    await this.#save(state);
    if (state.historySeq % 16 === 0) {
      const rows = await this.#b.store.list<HistoryEntry>(`${key("hist", state.roomJid)}/`);
      for (const r of rows.slice(0, Math.max(0, rows.length - max))) await this.#b.store.del(r.key);
    }
  }

  async #authorOf(state: RoomState, sid: string): Promise<HistoryEntry | undefined> {
    const rows = await this.#b.store.list<HistoryEntry>(`${key("hist", state.roomJid)}/`);
    return rows.map((r) => r.value).find((h) => h.sid === sid);
  }

  /**
   * MIMI-XMPP-22: a member's XEP-0045 §7.8.2 mediated invitation (`<invite to=…/>` to the room) →
   * room.membership invite of the ghost (a remote MIMI user) or local user it names. The room
   * policy decides; the added user then appears through the MIMI participant change.
   */
  async onInvite(stanza: XmlElement, fromBare: string, roomJid: string): Promise<void> {
    await this.#serial.run(`in:${roomJid}`, async () => {
      const b = this.#b;
      const reply = async (spec: StanzaErrorSpec) => {
        const r = errorReply(stanza, spec);
        if (r !== undefined) await b.link.sendNow(r);
      };
      const state = await this.room(roomJid);
      if (state === undefined || state.members[fromBare] === undefined) return reply({ condition: "item-not-found", text: "no such room" });
      const invites = stanza.getChild("x", NS.mucUser)?.getChildren("invite") ?? [];
      if (invites.length > 20) return reply({ condition: "policy-violation", text: "at most 20 invitations at once" });
      for (const invite of invites) {
        const jid = tryParseJid(invite.attrs.to);
        const c = jid === undefined ? undefined : b.ids.classify(jid);
        if (c?.kind !== "ghost" && c?.kind !== "local") return reply({ condition: "jid-malformed", text: "invite a user of this server or a MIMI user's address on this bridge" });
        const res = await b.submit({
          type: "room.membership",
          platformEventId: platformEventId(`invite:${stanza.attrs.id ?? randomBytes(8).toString("hex")}:${c.bare}`),
          sender: platformUserId(fromBare),
          room: platformRoomId(roomJid),
          action: "invite",
          target: platformUserId(c.bare),
          timestamp: Date.now(),
        });
        if (res.status === "rejected") return reply(errorForRejection(res));
        if (res.status === "ignored") return reply({ condition: "not-allowed", text: res.reason });
      }
    });
  }

  /** Groupchat message from a local occupant (XEP-0045 §7.4, §8.1 subject). */
  async onGroupchat(stanza: XmlElement, fromBare: string, fromFull: string, roomJid: string): Promise<void> {
    await this.#serial.run(`in:${roomJid}`, () => this.#groupchat(stanza, fromBare, fromFull, roomJid));
  }

  async #groupchat(stanza: XmlElement, fromBare: string, fromFull: string, roomJid: string): Promise<void> {
    const b = this.#b;
    const state = await this.room(roomJid);
    const reply = async (spec: StanzaErrorSpec) => {
      const r = errorReply(stanza, spec);
      if (r !== undefined) await b.link.sendNow(r);
    };
    if (state === undefined) return reply({ condition: "item-not-found" });
    const occ = this.#occupantByFull(state, fromFull);
    // §7.4: only occupants may send.
    if (occ === undefined) return reply({ condition: "not-acceptable", text: "join the room first" });
    const parsed = parseMessage(stanza, b.config.limits);
    if (parsed.problems.length > 0) {
      b.log.info({ room: roomJid, problems: parsed.problems }, "xmpp: malformed groupchat message refused");
      return reply({ condition: "bad-request", text: parsed.problems.join("; ") });
    }
    if (parsed.rawBody !== undefined && byteLength(parsed.rawBody) > b.config.limits.maxBodyBytes) {
      b.log.info({ room: roomJid, bytes: byteLength(parsed.rawBody) }, "xmpp: oversized groupchat body refused");
      return reply({ condition: "policy-violation", text: `body is larger than ${b.config.limits.maxBodyBytes} bytes` });
    }
    const standing = mucStanding(this.#roleOf(state, fromBare));
    const clientId = parsed.id ?? parsed.originId ?? `gen-${randomBytes(8).toString("hex")}`;
    const sid = mucStanzaId(fromBare, clientId);
    const ts = parsed.delay ?? Date.now();

    // §8.1 subject change → room.metadata.
    if (parsed.subject !== undefined && parsed.body === undefined) {
      const res = await b.submit({ type: "room.metadata", platformEventId: platformEventId(sid), sender: platformUserId(fromBare), room: platformRoomId(roomJid), topic: parsed.subject, timestamp: ts });
      if (res.status === "rejected") return reply(errorForRejection(res));
      state.subject = parsed.subject;
      state.subjectNick = occ.nick;
      await this.#save(state);
      await this.#broadcast((to) => xml("message", { from: `${roomJid}/${occ.nick}`, to, type: "groupchat", id: stanza.attrs.id }, xml("subject", {}, parsed.subject ?? "")), this.#fulls(state), false);
      return;
    }
    if (standing.role === "visitor" && (parsed.body !== undefined || parsed.retract !== undefined)) {
      return reply({ condition: "forbidden", text: "visitors may not speak in this channel" });
    }

    const resolveRef = (id: string, kind: RefKind): Promise<string> => Promise.resolve(this.#resolveRef(fromBare, id, kind));
    const plan = await planInbound({ room: platformRoomId(roomJid), sender: platformUserId(fromBare), primaryId: sid, parsed, timestamp: ts, resolveRef }, b.store);
    if (plan.events.length === 0) {
      if (parsed.unknown.length > 0) b.log.info({ room: roomJid, namespaces: parsed.unknown }, "xmpp: groupchat message with only unknown payloads dropped");
      if (parsed.reactions !== undefined) await this.#reflect(state, stanza, occ, sid, ts, fromBare, plan.content);
      return;
    }
    for (const event of plan.events) {
      const res = await b.submit(event);
      if (res.status === "rejected") {
        if (plan.content) await reply(errorForRejection(res));
        return;
      }
    }
    await plan.commit();
    await this.#reflect(state, stanza, occ, sid, ts, fromBare, plan.content);
  }

  /**
   * Our own stanza-ids (x-…, mimi-…) are what clients must use in groupchat (XEP-0461 §3,
   * XEP-0444 §3.2, XEP-0424 §4); a correction names the sender's own id (XEP-0308 §3), as do
   * clients that retract by origin-id.
   */
  #resolveRef(fromBare: string, id: string, kind: RefKind): string {
    if (/^(x-[0-9a-f]{24}|mimi-[0-9a-f]{16})$/.test(id)) return id;
    if (kind === "replace" || kind === "retract") return mucStanzaId(fromBare, id);
    return id;
  }

  /** §7.4 reflection to every occupant (the sender included), with our XEP-0359 stanza-id. */
  async #reflect(state: RoomState, stanza: XmlElement, occ: Occupant, sid: string, ts: number, author: string, content: boolean): Promise<void> {
    const children = stanza.getChildElements().filter((c) => !(c.name === "stanza-id" && c.attrs.xmlns === NS.sid) && !(c.name === "delay" && c.attrs.xmlns === NS.delay));
    const make = (to: string) =>
      xml("message", { from: `${state.roomJid}/${occ.nick}`, to, type: "groupchat", id: stanza.attrs.id }, ...children.map((c) => cloneEl(c)), xml("stanza-id", { xmlns: NS.sid, by: state.roomJid, id: sid }));
    if (content) await this.#record(state, make(""), occ.nick, sid, author, ts);
    await this.#broadcast(make, this.#fulls(state), false);
  }

  /** IQs to the room JID: disco, muc#admin, muc#owner, XEP-0425 moderation, ping. */
  async onIq(stanza: XmlElement, fromBare: string, fromFull: string, roomJid: string): Promise<XmlElement | null | StanzaErrorSpec> {
    return this.#serial.run(`in:${roomJid}`, () => this.#iq(stanza, fromBare, fromFull, roomJid));
  }

  async #iq(stanza: XmlElement, fromBare: string, fromFull: string, roomJid: string): Promise<XmlElement | null | StanzaErrorSpec> {
    const state = await this.room(roomJid);
    const child = stanza.getChildElements()[0];
    if (child === undefined) return { condition: "bad-request" };
    const member = state !== undefined && state.members[fromBare] !== undefined;
    if (state === undefined || !member) {
      // MIMI rooms are private: non-members learn nothing about them.
      if (child.is("query", NS.discoInfo) && state === undefined && this.#b.ids.roomIdOfJid(roomJid) === undefined) return { condition: "item-not-found" };
      return { condition: "item-not-found" };
    }
    const type = stanza.attrs.type;
    if (type === "get" && child.is("query", NS.discoInfo)) return this.#discoInfo(state);
    if (type === "get" && child.is("query", NS.discoItems)) return xml("query", { xmlns: NS.discoItems });
    if (type === "get" && child.is("ping", NS.ping)) return null;
    if (child.is("query", NS.mucAdmin)) return type === "get" ? this.#adminGet(state, child) : this.#adminSet(state, fromBare, child);
    if (child.is("query", NS.mucOwner)) return type === "get" ? this.#ownerForm(state) : this.#ownerSet(state, fromBare, child);
    if (type === "set" && child.is("moderate", NS.moderate)) return this.#moderate(state, fromBare, child.attrs.id, child.getChildText("reason") ?? undefined);
    if (type === "set" && child.is("apply-to", NS.fasten) && child.getChild("moderate", NS.moderate0) !== undefined) {
      return this.#moderate(state, fromBare, child.attrs.id, child.getChild("moderate", NS.moderate0)?.getChildText("reason") ?? undefined);
    }
    void fromFull;
    return { condition: "service-unavailable" };
  }

  /** XEP-0045 §6.4 room information (XEP-0128 muc#roominfo form). */
  #discoInfo(state: RoomState): XmlElement {
    const features = [
      NS.muc,
      "muc_persistent",
      "muc_membersonly",
      "muc_nonanonymous",
      "muc_unsecured",
      "muc_hidden",
      state.kind === "channel" ? "muc_moderated" : "muc_unmoderated",
      NS.sid,
      NS.discoInfo,
      NS.moderate,
      NS.retract,
      NS.reactions,
      NS.correct,
      NS.reply,
      NS.markers,
    ];
    const field = (v: string, value: string, label?: string) => xml("field", { var: v, label }, xml("value", {}, value));
    return xml(
      "query",
      { xmlns: NS.discoInfo },
      xml("identity", { category: "conference", type: "text", name: state.name ?? state.roomJid.slice(0, state.roomJid.indexOf("@")) }),
      ...features.map((f) => xml("feature", { var: f })),
      xml(
        "x",
        { xmlns: NS.dataForms, type: "result" },
        field("FORM_TYPE", NS.mucRoomInfo),
        field("muc#roominfo_subject", state.subject ?? "", "Subject"),
        field("muc#roominfo_occupants", String(Object.keys(state.occupants).length + this.#ghosts(state).length), "Number of occupants"),
        field("muc#roominfo_description", `MIMI ${state.kind} ${state.roomId}`, "Description"),
        field("muc#roomconfig_roomname", state.name ?? "", "Name"),
      ),
    );
  }

  /** §9.2/§9.5/§9.8/§10.5: affiliation lists; §8.5/§9.x: role lists. */
  #adminGet(state: RoomState, query: XmlElement): XmlElement | null | StanzaErrorSpec {
    const item = query.getChild("item");
    const wantAff = item?.attrs.affiliation;
    const wantRole = item?.attrs.role;
    const out: XmlElement[] = [];
    if (wantAff === "outcast") for (const u of state.banned) out.push(xml("item", { affiliation: "outcast", jid: u }));
    else {
      for (const [user, m] of Object.entries(state.members)) {
        const s = mucStanding(m.role);
        if ((wantAff !== undefined && s.affiliation === wantAff) || (wantRole !== undefined && s.role === wantRole)) {
          out.push(xml("item", { affiliation: s.affiliation, role: s.role, jid: user, nick: this.nickOf(state, user) }));
        }
      }
    }
    return xml("query", { xmlns: NS.mucAdmin }, ...out);
  }

  /** §8.2 kick, §8.3–8.5 roles, §9.1 ban, §9.x affiliations → room.membership. */
  async #adminSet(state: RoomState, fromBare: string, query: XmlElement): Promise<XmlElement | null | StanzaErrorSpec> {
    const items = query.getChildren("item");
    if (items.length === 0 || items.length > 50) return { condition: "bad-request", text: "one to 50 items" };
    const applied: (() => Promise<void>)[] = [];
    for (const item of items) {
      let target: string | undefined;
      if (item.attrs.nick !== undefined) target = this.userOfNick(state, item.attrs.nick);
      else if (item.attrs.jid !== undefined) {
        const jid = tryParseJid(item.attrs.jid);
        const c = jid === undefined ? undefined : this.#b.ids.classify(jid);
        if (c?.kind === "local" || c?.kind === "ghost") target = c.bare;
      }
      if (target === undefined) return { condition: "item-not-found", text: "no such occupant or user" };
      const reason = item.getChildText("reason") ?? undefined;
      const { affiliation, role } = item.attrs;
      let action: "kick" | "ban" | "unban" | "role";
      let mimiRole: string | undefined;
      if (role === "none") action = "kick";
      else if (affiliation === "outcast") action = "ban";
      else if (affiliation === "none" && state.banned.includes(target)) action = "unban";
      else if (affiliation === "none") action = "kick";
      else {
        mimiRole = mimiRoleFor(state.kind, { affiliation, role });
        if (mimiRole === undefined) return { condition: "not-acceptable", text: `no MIMI role for affiliation=${affiliation ?? ""} role=${role ?? ""}` };
        action = "role";
      }
      const event: PlatformEvent = {
        type: "room.membership",
        platformEventId: platformEventId(`admin:${action}:${target}:${randomBytes(6).toString("hex")}`),
        sender: platformUserId(fromBare),
        room: platformRoomId(state.roomJid),
        action,
        target: platformUserId(target),
        timestamp: Date.now(),
        ...(reason === undefined ? {} : { reason }),
        ...(mimiRole === undefined ? {} : { role: mimiRole }),
      };
      const res = await this.#b.submit(event);
      if (res.status === "rejected") return errorForRejection(res);
      if (res.status === "ignored") return { condition: "not-allowed", text: res.reason };
      const actorNick = this.nickOf(state, fromBare);
      const t = target;
      if (action === "kick") applied.push(() => this.#remove(state, t, "307", actorNick, reason, false));
      else if (action === "ban") applied.push(() => this.#remove(state, t, "301", actorNick, reason, true));
      else if (action === "unban")
        applied.push(() => {
          state.banned = state.banned.filter((u) => u !== t);
          return Promise.resolve();
        });
      else applied.push(() => this.#setRole(state, t, mimiRole ?? "member"));
    }
    for (const apply of applied) await apply();
    await this.#save(state);
    return xml("query", { xmlns: NS.mucAdmin });
  }

  /** Removes a user from the room: §8.2 (307 kick) or §9.1 (301 ban) presence to everyone. */
  async #remove(state: RoomState, user: string, code: "307" | "301" | undefined, actorNick: string | undefined, reason: string | undefined, ban: boolean): Promise<void> {
    const nick = this.nickOf(state, user);
    if (ban && !state.banned.includes(user)) state.banned.push(user);
    const occ = this.#occupantByBare(state, user);
    const children = [
      ...(actorNick === undefined ? [] : [xml("actor", { nick: actorNick })]),
      ...(reason === undefined ? [] : [xml("reason", {}, reason)]),
    ];
    const statuses = code === undefined ? [] : [code];
    const removedMember = state.members[user];
    const { [user]: _gone, ...rest } = state.members;
    state.members = rest;
    if (nick !== undefined) {
      const item = (to: string) => {
        const el = xml(
          "presence",
          { from: `${state.roomJid}/${nick}`, to, type: "unavailable" },
          xml(
            "x",
            { xmlns: NS.mucUser },
            xml("item", { affiliation: ban ? "outcast" : "none", role: "none", jid: user }, ...children.map((c) => cloneEl(c))),
            ...statuses.map((s) => xml("status", { code: s })),
            ...(occ?.fulls.includes(to) === true ? [xml("status", { code: "110" })] : []),
          ),
        );
        return el;
      };
      // Durable: the removal must reach the removed user even across a reconnect.
      await this.#broadcast(item, this.#fulls(state), true);
    }
    if (occ !== undefined) {
      const { [occ.nick]: _o, ...others } = state.occupants;
      state.occupants = others;
    }
    void removedMember;
    await this.#save(state);
  }

  async #setRole(state: RoomState, user: string, role: string): Promise<void> {
    const m = state.members[user];
    state.members[user] = m?.mimiUri === undefined ? { role } : { role, mimiUri: m.mimiUri };
    await this.#save(state);
    const nick = this.nickOf(state, user);
    if (nick === undefined) return;
    const occ = this.#occupantByBare(state, user);
    await this.#broadcast((to) => this.#presence(state, nick, user, to, { self: occ?.fulls.includes(to) === true }), this.#fulls(state), true);
  }

  /** §10.1.3 / §10.2: the owner form (name only; the rest is fixed by MIMI). */
  #ownerForm(state: RoomState): XmlElement {
    return xml(
      "query",
      { xmlns: NS.mucOwner },
      xml(
        "x",
        { xmlns: NS.dataForms, type: "form" },
        xml("title", {}, "MIMI room configuration"),
        xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, "http://jabber.org/protocol/muc#roomconfig")),
        xml("field", { var: "muc#roomconfig_roomname", type: "text-single", label: "Name" }, xml("value", {}, state.name ?? "")),
        xml("field", { var: "muc#roomconfig_persistentroom", type: "boolean", label: "Persistent" }, xml("value", {}, "1")),
        xml("field", { var: "muc#roomconfig_membersonly", type: "boolean", label: "Members only" }, xml("value", {}, "1")),
        xml("field", { var: "muc#roomconfig_whois", type: "list-single", label: "Real JIDs visible to" }, xml("value", {}, "anyone")),
      ),
    );
  }

  async #ownerSet(state: RoomState, fromBare: string, query: XmlElement): Promise<XmlElement | null | StanzaErrorSpec> {
    if (query.getChild("destroy") !== undefined) return { condition: "not-allowed", text: "MIMI rooms are not destroyed from XMPP; ask an admin to unbridge" };
    const form = query.getChild("x", NS.dataForms);
    if (form === undefined || form.attrs.type === "cancel") return xml("query", { xmlns: NS.mucOwner });
    const name = formField(form, "muc#roomconfig_roomname");
    if (name !== undefined && name !== (state.name ?? "")) {
      const res = await this.#b.submit({ type: "room.metadata", platformEventId: platformEventId(`name:${sha256Hex(name).slice(0, 16)}:${Date.now()}`), sender: platformUserId(fromBare), room: platformRoomId(state.roomJid), name, timestamp: Date.now() });
      if (res.status === "rejected") return errorForRejection(res);
      state.name = name;
      await this.#save(state);
      // §10.2.1 status 104: configuration changed.
      await this.#broadcast((to) => xml("message", { from: state.roomJid, to, type: "groupchat" }, xml("x", { xmlns: NS.mucUser }, xml("status", { code: "104" }))), this.#fulls(state), false);
    }
    return xml("query", { xmlns: NS.mucOwner });
  }

  /** MIMI-XMPP-13: XEP-0425 moderation → message.retract { moderation: true }. */
  async #moderate(state: RoomState, fromBare: string, id: string | undefined, reason: string | undefined): Promise<XmlElement | null | StanzaErrorSpec> {
    if (id === undefined || id.length === 0 || id.length > this.#b.config.limits.maxIdLength) return { condition: "bad-request", text: "moderate needs the stanza-id" };
    const res = await this.#b.submit({
      type: "message.retract",
      platformEventId: platformEventId(`moderate:${id}`),
      sender: platformUserId(fromBare),
      room: platformRoomId(state.roomJid),
      target: platformEventId(id),
      moderation: true,
      timestamp: Date.now(),
      ...(reason === undefined ? {} : { reason }),
    });
    if (res.status === "rejected") return errorForRejection(res);
    const by = `${state.roomJid}/${this.nickOf(state, fromBare) ?? "moderator"}`;
    const mid = `mod-${sha256Hex(id).slice(0, 16)}`;
    const make = (to: string) => xml("message", { from: state.roomJid, to, type: "groupchat", id: mid }, ...moderationChildren(id, by, reason, mid));
    await this.#record(state, make(""), "", mid, "", Date.now());
    await this.#broadcast(make, this.#fulls(state), true);
    return null;
  }

  // ---- MIMI → XMPP -------------------------------------------------------------------------------------

  async #required(room: PlatformRoomId): Promise<RoomState> {
    const state = await this.room(room);
    if (state === undefined) throw new MimiError("MIMI_ERR_XMPP_UNKNOWN_ROOM", `no component room ${room}`, { details: { room } });
    return state;
  }

  /** The nick a MIMI sender shows under; a remote sender becomes a (ghost) member if needed. */
  async #senderNick(state: RoomState, sender: MimiSender): Promise<string> {
    const user = sender.platformUser;
    if (!sender.local && state.members[user] === undefined) {
      state.members[user] = { role: "member", mimiUri: sender.mimiUri };
      await this.#save(state);
      const nick = this.ghostNick(sender.mimiUri);
      await this.#broadcast((to) => this.#presence(state, nick, user, to), this.#fulls(state), true);
    }
    return this.nickOf(state, user) ?? (sender.local ? user.slice(0, user.indexOf("@")) : this.ghostNick(sender.mimiUri));
  }

  /** Durable groupchat to every occupant; remembered for history. Idempotent per stanza id. */
  async #deliver(state: RoomState, nick: string, id: string, children: XmlElement[], ts: number, author: string, history: boolean): Promise<void> {
    const marker = key("sent", state.roomJid, id);
    if ((await this.#b.store.get<number>(marker)) !== undefined) return;
    const late = isLate(ts) || !this.#b.link.online;
    const make = (to: string) =>
      xml("message", { from: `${state.roomJid}/${nick}`, to, type: "groupchat", id }, ...children.map((c) => cloneEl(c)), xml("stanza-id", { xmlns: NS.sid, by: state.roomJid, id }), late ? delayElement(ts, state.roomJid) : undefined);
    if (history) await this.#record(state, make(""), nick, id, author, ts);
    await this.#broadcast(make, this.#fulls(state), true);
    await this.#b.store.put(marker, Date.now());
  }

  async handleMessage(m: MimiMessage): Promise<DeliveryResult> {
    return this.#serial.run(`out:${m.room}`, async () => {
      const state = await this.#required(m.room);
      const nick = await this.#senderNick(state, m.sender);
      const id = stanzaIdFor(m.messageId);
      const replyAuthor = m.replyTo === undefined ? undefined : await this.#authorOf(state, m.replyTo);
      const children = contentChildren({ text: m.text, replyTo: m.replyTo, replyToAuthor: replyAuthor === undefined ? undefined : `${state.roomJid}/${replyAuthor.nick}`, thread: m.thread, attachments: m.attachments }, id);
      await this.#deliver(state, nick, id, children, m.timestamp, m.sender.platformUser, true);
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleEdit(e: MimiEdit): Promise<DeliveryResult> {
    return this.#serial.run(`out:${e.room}`, async () => {
      const state = await this.#required(e.room);
      const nick = await this.#senderNick(state, e.sender);
      const id = stanzaIdFor(e.messageId);
      await this.#deliver(state, nick, id, correctionChildren(e.target, e.text, id), e.timestamp, e.sender.platformUser, true);
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleRetraction(r: MimiRetraction): Promise<void> {
    await this.#serial.run(`out:${r.room}`, async () => {
      const state = await this.#required(r.room);
      const nick = await this.#senderNick(state, r.sender);
      const id = stanzaIdFor(r.messageId);
      const original = await this.#authorOf(state, r.target);
      if (original === undefined || original.author === r.sender.platformUser) {
        // XEP-0424: the author retracts (in a MUC the id is the stanza-id, which for us is the target).
        await this.#deliver(state, nick, id, retractionChildren(r.target, id), r.timestamp, r.sender.platformUser, true);
      } else {
        // XEP-0425 §5: a moderator retracted someone else's message; announced by the room.
        const children = moderationChildren(r.target, `${state.roomJid}/${nick}`, undefined, id);
        const marker = key("sent", state.roomJid, id);
        if ((await this.#b.store.get<number>(marker)) !== undefined) return;
        const make = (to: string) => xml("message", { from: state.roomJid, to, type: "groupchat", id }, ...children.map((c) => cloneEl(c)));
        await this.#record(state, make(""), "", id, "", r.timestamp);
        await this.#broadcast(make, this.#fulls(state), true);
        await this.#b.store.put(marker, Date.now());
      }
    });
  }

  async handleReaction(r: MimiReaction, add: boolean): Promise<DeliveryResult> {
    return this.#serial.run(`out:${r.room}`, async () => {
      const state = await this.#required(r.room);
      const nick = await this.#senderNick(state, r.sender);
      const setKey = key("mreact", r.room, r.sender.platformUser, r.target);
      const set = new Set((await this.#b.store.get<string[]>(setKey)) ?? []);
      if (add) set.add(r.reaction);
      else set.delete(r.reaction);
      await this.#b.store.put(setKey, [...set]);
      const id = stanzaIdFor(r.messageId, add ? "" : "remove");
      await this.#deliver(state, nick, id, reactionChildren(r.target, [...set], id), r.timestamp, r.sender.platformUser, true);
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleMetadata(md: MimiRoomMetadata): Promise<void> {
    await this.#serial.run(`out:${md.room}`, async () => {
      const state = await this.#required(md.room);
      const byUser = md.by === undefined ? undefined : this.#b.ids.platformUserFor(md.by);
      const byNick = byUser === undefined ? undefined : this.nickOf(state, byUser);
      if (md.name !== undefined && md.name !== state.name) {
        state.name = md.name;
        await this.#save(state);
        await this.#broadcast((to) => xml("message", { from: state.roomJid, to, type: "groupchat" }, xml("x", { xmlns: NS.mucUser }, xml("status", { code: "104" }))), this.#fulls(state), true);
      }
      if (md.subject !== undefined && md.subject !== (state.subject ?? "")) {
        state.subject = md.subject;
        if (byNick === undefined) delete state.subjectNick;
        else state.subjectNick = byNick;
        await this.#save(state);
        const id = `subj-${sha256Hex(`${md.roomId}\0${md.subject}`).slice(0, 16)}`;
        await this.#broadcast((to) => xml("message", { from: byNick === undefined ? state.roomJid : `${state.roomJid}/${byNick}`, to, type: "groupchat", id }, xml("subject", {}, md.subject ?? "")), this.#fulls(state), true);
      }
    });
  }

  async handleTyping(t: MimiTyping): Promise<void> {
    const state = await this.room(t.room);
    if (state === undefined) return;
    const nick = this.nickOf(state, t.sender.platformUser);
    if (nick === undefined) return;
    await this.#broadcast((to) => xml("message", { from: `${state.roomJid}/${nick}`, to, type: "groupchat" }, xml(t.active ? "composing" : "active", { xmlns: NS.chatStates }), xml("no-store", { xmlns: NS.hints })), this.#fulls(state), false);
  }

  async handleReadReceipt(r: MimiReadReceipt): Promise<void> {
    const state = await this.room(r.room);
    if (state === undefined) return;
    const nick = this.nickOf(state, r.sender.platformUser);
    if (nick === undefined) return;
    await this.#broadcast((to) => xml("message", { from: `${state.roomJid}/${nick}`, to, type: "groupchat" }, xml("displayed", { xmlns: NS.markers, id: r.target })), this.#fulls(state), false);
  }

  /** MIMI-XMPP-22: MIMI participant changes → occupants, invitations, 307/301 removals, roles. */
  async handleParticipantChange(c: MimiParticipantChange): Promise<void> {
    await this.#serial.run(`out:${c.room}`, async () => {
      const state = await this.#required(c.room);
      const user = c.platformUser;
      const ghost = this.#b.ids.parseGhost(user) !== undefined;
      const byUser = c.by === undefined ? undefined : this.#b.ids.platformUserFor(c.by);
      const actor = byUser === undefined || byUser === user ? undefined : this.nickOf(state, byUser);
      switch (c.change) {
        case "added": {
          const known = state.members[user] !== undefined;
          state.members[user] = ghost ? { role: c.role ?? "member", mimiUri: c.user } : { role: c.role ?? state.members[user]?.role ?? "member" };
          state.banned = state.banned.filter((u) => u !== user);
          await this.#save(state);
          if (ghost) {
            const nick = this.ghostNick(c.user);
            await this.#broadcast((to) => this.#presence(state, nick, user, to), this.#fulls(state), true);
          } else if (!known && this.#occupantByBare(state, user) === undefined) {
            // §7.8.2 mediated invitation, plus XEP-0249 so clients can join with one click.
            const id = `inv-${sha256Hex(`${state.roomJid}\0${user}\0${c.timestamp}`).slice(0, 16)}`;
            await this.#b.link.enqueue(
              xml(
                "message",
                { from: state.roomJid, to: user, id },
                xml("x", { xmlns: NS.mucUser }, xml("invite", { from: byUser ?? state.roomJid }, xml("reason", {}, `You were added to the MIMI ${state.kind} ${state.name ?? state.roomId}`))),
                xml("x", { xmlns: NS.conference, jid: state.roomJid, reason: state.name }),
                xml("body", {}, `You were added to ${state.name ?? state.roomJid}: join ${state.roomJid}`),
              ),
            );
          }
          return;
        }
        case "removed":
          return this.#remove(state, user, actor === undefined && byUser === undefined ? undefined : "307", actor, undefined, false);
        case "left":
          return this.#remove(state, user, undefined, undefined, undefined, false);
        case "banned":
          return this.#remove(state, user, "301", actor, undefined, true);
        case "role":
          return this.#setRole(state, user, c.role ?? "member");
      }
    });
  }

  /** Rooms a local user is a member of (service disco#items, XEP-0045 §6.3). */
  async roomsOf(bare: string): Promise<RoomState[]> {
    return (await this.rooms()).filter((r) => r.members[bare] !== undefined);
  }

  /** XEP-0410 self-ping to room/nick: answered when the pinging session is that occupant. */
  async selfPing(roomJid: string, nick: string, fromFull: string): Promise<XmlElement | null | StanzaErrorSpec> {
    const state = await this.room(roomJid);
    const occ = state?.occupants[nick];
    if (occ?.fulls.includes(fromFull) === true) return null;
    return { condition: "not-acceptable", text: "not joined" };
  }

  /** XEP-0045 §7.5 private messages are not bridged: MIMI has no per-occupant side channel. */
  async onPrivateMessage(stanza: XmlElement, roomJid: string, nick: string): Promise<void> {
    const state = await this.room(roomJid);
    const user = state === undefined ? undefined : this.userOfNick(state, nick);
    const hint = user !== undefined && this.#b.ids.parseGhost(user) !== undefined ? `; message ${user} directly` : "";
    const r = errorReply(stanza, { condition: "not-acceptable", text: `private messages are not supported in MIMI rooms${hint}` });
    if (r !== undefined) await this.#b.link.sendNow(r);
  }

  async idle(): Promise<void> {
    await this.#serial.idle();
  }
}
