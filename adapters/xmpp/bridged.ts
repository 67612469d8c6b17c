// Existing MUCs of the XMPP server bridged into MIMI rooms (MIMI-XMPP-23). An admin runs the
// "bridge a MUC" command (XEP-0050); the component then joins the MUC as the bridge bot
// (`<component domain>/bot`) and as one ghost occupant per remote MIMI participant
// (`<ghost>/<resource>`, nick `user@host`). Messages of real occupants — seen through the bot, and
// only when their real JID is visible (non-anonymous room, or the bot is a moderator) and is a
// user of our XMPP domain — become PlatformEvents; MIMI messages are posted by the ghosts.
//
// IDs: the MUC gives every message an XEP-0359 stanza-id (needs muc_mam on Prosody). A real
// occupant's message is known to the core by that stanza-id; a ghost's message by the `mimi-…` id
// we sent, and the MUC's stanza-id for it (what XMPP clients reference in replies, reactions and
// retractions) is kept as an alias in both directions.
import { randomBytes } from "node:crypto";
import {
  MimiError,
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
  type PlatformRoomId,
  type RoomKindName,
} from "../../src/adapter/index.ts";
import type { BridgeContext } from "./context.ts";
import { bareOf, key, mucStanzaId, stanzaIdFor, tryParseJid } from "./ids.ts";
import { planInbound, type RefKind } from "./inbound.ts";
import { errText } from "./link.ts";
import { contentChildren, correctionChildren, parseMessage, reactionChildren, retractionChildren } from "./rich.ts";
import { KeyedSerial } from "../../src/adapter/index.ts";
import { NS, byteLength, readError, xml, type XmlElement } from "./xml.ts";

export interface BridgedState {
  readonly mucJid: string;
  readonly roomId: string;
  readonly kind: RoomKindName;
  /** The local user who bridged it (sender of the room.create). */
  readonly admin: string;
  botNick: string;
  /** Ghost bare JID → nick and MIMI URI. */
  ghosts: Record<string, { nick: string; mimiUri: string }>;
}

interface OccupantInfo {
  jid?: string | undefined;
  affiliation: string;
  role: string;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

const JOIN_TIMEOUT_MS = 10000;

export class BridgedMucs {
  readonly #b: BridgeContext;
  readonly #states = new Map<string, BridgedState>();
  /** Live occupant lists seen by the bot (not persisted: rebuilt on every join). */
  readonly #occupants = new Map<string, Map<string, OccupantInfo>>();
  readonly #joined = new Set<string>();
  readonly #waiters = new Map<string, Waiter>();
  readonly #serial = new KeyedSerial();
  #loaded = false;

  constructor(b: BridgeContext) {
    this.#b = b;
  }

  get botJid(): string {
    return `${this.#b.ids.componentDomain}/bot`;
  }

  #ghostFull(ghost: string): string {
    return `${ghost}/${this.#b.config.ghostResource}`;
  }

  async #load(): Promise<void> {
    if (this.#loaded) return;
    for (const row of await this.#b.store.list<BridgedState>("bmuc/")) this.#states.set(row.value.mucJid, row.value);
    this.#loaded = true;
  }

  async state(mucJid: string): Promise<BridgedState | undefined> {
    await this.#load();
    return this.#states.get(mucJid);
  }

  async all(): Promise<BridgedState[]> {
    await this.#load();
    return [...this.#states.values()];
  }

  async #save(s: BridgedState): Promise<void> {
    this.#states.set(s.mucJid, s);
    await this.#b.store.put(key("bmuc", s.mucJid), s);
  }

  // ---- joining ----------------------------------------------------------------------------------------

  #join(from: string, mucJid: string, nick: string): Promise<void> {
    const waitKey = `${from}|${mucJid}`;
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waitKey);
        reject(new MimiError("MIMI_ERR_XMPP_TIMEOUT", `no answer to the join of ${mucJid}`));
      }, JOIN_TIMEOUT_MS);
      this.#waiters.set(waitKey, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
    // XEP-0045 §7.2.1 join; §7.2.14 no history for the bridge (it would replay old messages).
    void this.#b.link.sendNow(xml("presence", { from, to: `${mucJid}/${nick}` }, xml("x", { xmlns: NS.muc }, xml("history", { maxstanzas: "0" }))));
    return done;
  }

  async #joinGhost(state: BridgedState, ghost: string): Promise<void> {
    const g = state.ghosts[ghost];
    if (g === undefined) return;
    const full = this.#ghostFull(ghost);
    if (this.#joined.has(`${full}|${state.mucJid}`)) return;
    try {
      await this.#join(full, state.mucJid, g.nick);
    } catch (err) {
      if (err instanceof MimiError && err.details?.["condition"] === "conflict" && !g.nick.endsWith(" (MIMI)")) {
        g.nick = `${g.nick} (MIMI)`;
        await this.#save(state);
        await this.#join(full, state.mucJid, g.nick);
        return;
      }
      throw err;
    }
  }

  /** After every (re)connect: the bot and the ghosts enter their MUCs again. */
  async rejoinAll(): Promise<void> {
    this.#joined.clear();
    this.#occupants.clear();
    for (const state of await this.all()) {
      void this.#join(this.botJid, state.mucJid, state.botNick).catch((err: unknown) => this.#b.log.warn({ muc: state.mucJid, err: errText(err) }, "xmpp: bridge bot could not rejoin a MUC"));
      for (const ghost of Object.keys(state.ghosts)) {
        void this.#joinGhost(state, ghost).catch((err: unknown) => this.#b.log.warn({ muc: state.mucJid, err: errText(err) }, "xmpp: ghost could not rejoin a MUC"));
      }
    }
  }

  /** Ghosts and the bot leave before the component disconnects (dependency trial §5.3). */
  async leaveAll(): Promise<void> {
    for (const state of await this.all()) {
      for (const ghost of Object.keys(state.ghosts)) await this.#b.link.sendNow(xml("presence", { from: this.#ghostFull(ghost), to: `${state.mucJid}/${state.ghosts[ghost]?.nick ?? ""}`, type: "unavailable" }));
      await this.#b.link.sendNow(xml("presence", { from: this.botJid, to: `${state.mucJid}/${state.botNick}`, type: "unavailable" }));
    }
  }

  // ---- admin commands -----------------------------------------------------------------------------------

  /** Joins an existing MUC as the bot and bridges it into a new MIMI room. */
  async bridge(admin: string, mucJid: string, kind: RoomKindName, name: string | undefined): Promise<{ roomId: string; warnings: string[] }> {
    const jid = tryParseJid(mucJid);
    const muc = jid === undefined ? undefined : this.#b.ids.classify(jid);
    if (muc?.kind !== "serverMuc" || jid?.resourcepart !== undefined) {
      throw new MimiError("MIMI_ERR_XMPP_BAD_ADDRESS", `not a room of ${this.#b.config.mucDomain ?? "the server's MUC service (mucDomain is not configured)"}`);
    }
    const room = muc.bare;
    if ((await this.#b.core.portals.byPlatformRoom(platformRoomId(room))) !== undefined) throw new MimiError("MIMI_ERR_ROOM_EXISTS", `${room} is bridged already`);
    const botNick = this.#b.config.muc.botNick;
    this.#occupants.set(room, new Map());
    await this.#join(this.botJid, room, botNick);
    this.#joined.add(`${this.botJid}|${room}`);
    let roomName = name;
    if (roomName === undefined) {
      try {
        const info = await this.#b.link.request(xml("iq", { type: "get", from: this.botJid, to: room }, xml("query", { xmlns: NS.discoInfo })));
        roomName = info.getChild("query", NS.discoInfo)?.getChild("identity")?.attrs.name;
      } catch {
        roomName = undefined;
      }
    }
    const res = await this.#b.submit({
      type: "room.create",
      platformEventId: platformEventId(`bridge:${room}:${Date.now()}`),
      sender: platformUserId(admin),
      room: platformRoomId(room),
      kind,
      timestamp: Date.now(),
      ...(roomName === undefined ? {} : { name: roomName }),
    });
    if (res.status !== "accepted" || res.roomId === undefined) {
      await this.#b.link.sendNow(xml("presence", { from: this.botJid, to: `${room}/${botNick}`, type: "unavailable" }));
      this.#joined.delete(`${this.botJid}|${room}`);
      throw new MimiError("MIMI_ERR_XMPP_STANZA_ERROR", res.status === "rejected" ? `${res.message} (${res.code})` : res.status === "ignored" ? res.reason : "no room ID");
    }
    const state: BridgedState = { mucJid: room, roomId: res.roomId, kind, admin, botNick, ghosts: {} };
    await this.#save(state);
    await this.#b.core.portals.setData(platformRoomId(room), { bridgedMuc: true, botNick });
    const warnings: string[] = [];
    const occupants = this.#occupants.get(room) ?? new Map<string, OccupantInfo>();
    if ([...occupants.values()].some((o) => o.jid === undefined)) warnings.push("some occupants' real JIDs are hidden: make the room non-anonymous or the bridge bot a moderator, or their messages cannot be bridged");
    for (const [, o] of occupants) await this.#memberJoined(state, o);
    return { roomId: res.roomId, warnings };
  }

  async unbridge(mucJid: string): Promise<boolean> {
    const state = await this.state(mucJid);
    if (state === undefined) return false;
    for (const [ghost, g] of Object.entries(state.ghosts)) await this.#b.link.sendNow(xml("presence", { from: this.#ghostFull(ghost), to: `${mucJid}/${g.nick}`, type: "unavailable" }));
    await this.#b.link.sendNow(xml("presence", { from: this.botJid, to: `${mucJid}/${state.botNick}`, type: "unavailable" }));
    this.#states.delete(mucJid);
    this.#occupants.delete(mucJid);
    for (const k of [...this.#joined]) if (k.endsWith(`|${mucJid}`)) this.#joined.delete(k);
    await this.#b.store.del(key("bmuc", mucJid));
    return true;
  }

  // ---- XMPP → MIMI ---------------------------------------------------------------------------------------

  #localOf(o: OccupantInfo | undefined): string | undefined {
    if (o?.jid === undefined) return undefined;
    const jid = tryParseJid(o.jid);
    if (jid === undefined) return undefined;
    const c = this.#b.ids.classify(jid);
    return c.kind === "local" ? c.bare : undefined;
  }

  async #memberJoined(state: BridgedState, o: OccupantInfo): Promise<void> {
    const local = this.#localOf(o);
    if (local === undefined || local === state.admin) return;
    const res = await this.#b.submit({
      type: "room.membership",
      platformEventId: platformEventId(`join:${local}:${Date.now()}`),
      sender: platformUserId(local),
      room: platformRoomId(state.mucJid),
      action: "join",
      target: platformUserId(local),
      timestamp: Date.now(),
    });
    if (res.status === "rejected") this.#b.log.info({ muc: state.mucJid, code: res.code }, "xmpp: an occupant of a bridged MUC could not join the MIMI room");
  }

  /** Presence from a server MUC (to the bot or to a ghost). */
  async onPresence(stanza: XmlElement, from: { bare: string; resource?: string | undefined }, to: string): Promise<void> {
    await this.#serial.run(`in:${from.bare}`, () => this.#presence(stanza, from, to));
  }

  async #presence(stanza: XmlElement, from: { bare: string; resource?: string | undefined }, to: string): Promise<void> {
    const mucJid = from.bare;
    const nick = from.resource;
    const waiter = this.#waiters.get(`${to}|${mucJid}`);
    if (stanza.attrs.type === "error") {
      const e = readError(stanza);
      if (waiter !== undefined) {
        this.#waiters.delete(`${to}|${mucJid}`);
        waiter.reject(new MimiError("MIMI_ERR_XMPP_STANZA_ERROR", `joining ${mucJid} failed: ${e.condition}`, { details: { condition: e.condition } }));
      }
      return;
    }
    if (nick === undefined) return;
    const x = stanza.getChild("x", NS.mucUser);
    const item = x?.getChild("item");
    const codes = new Set((x?.getChildren("status") ?? []).map((s) => s.attrs.code ?? ""));
    const unavailable = stanza.attrs.type === "unavailable";
    if (codes.has("110")) {
      if (!unavailable) {
        this.#joined.add(`${to}|${mucJid}`);
        if (codes.has("201") && to === this.botJid) {
          // §10.1.2: the room did not exist and is locked; accept the default configuration.
          void this.#b.link.request(xml("iq", { type: "set", from: to, to: mucJid }, xml("query", { xmlns: NS.mucOwner }, xml("x", { xmlns: NS.dataForms, type: "submit" })))).catch(() => undefined);
        }
        if (waiter !== undefined) {
          this.#waiters.delete(`${to}|${mucJid}`);
          waiter.resolve();
        }
      } else {
        this.#joined.delete(`${to}|${mucJid}`);
        this.#b.log.info({ muc: mucJid, who: to === this.botJid ? "bot" : "ghost", codes: [...codes] }, "xmpp: the bridge left or was removed from a bridged MUC");
      }
      return;
    }
    if (to !== this.botJid) return; // the occupant list is kept from the bot's view only
    let occupants = this.#occupants.get(mucJid);
    if (occupants === undefined) {
      occupants = new Map();
      this.#occupants.set(mucJid, occupants);
    }
    const state = await this.state(mucJid);
    const ghostEntry = state === undefined ? undefined : Object.entries(state.ghosts).find(([, g]) => g.nick === nick);
    const info: OccupantInfo = { jid: item?.attrs.jid === undefined ? undefined : bareOfText(item.attrs.jid), affiliation: item?.attrs.affiliation ?? "none", role: item?.attrs.role ?? "none" };
    if (!unavailable) {
      const known = occupants.has(nick);
      occupants.set(nick, info);
      if (!known && state !== undefined && ghostEntry === undefined) await this.#memberJoined(state, info);
      return;
    }
    const before = occupants.get(nick);
    occupants.delete(nick);
    if (codes.has("303") && item?.attrs.nick !== undefined) {
      occupants.set(item.attrs.nick, before ?? info);
      return;
    }
    if (state === undefined) return;
    // §8.2 kick (307) and §9.1 ban (301) seen in the MUC → room.membership.
    const action = codes.has("301") ? "ban" : codes.has("307") ? "kick" : undefined;
    if (action === undefined) return;
    const target = ghostEntry?.[0] ?? this.#localOf(before ?? info);
    const actorJid = item?.getChild("actor")?.attrs.jid;
    const actorNick = item?.getChild("actor")?.attrs.nick;
    const actor = actorJid !== undefined ? this.#localOf({ jid: bareOfText(actorJid), affiliation: "", role: "" }) : this.#localOf(actorNick === undefined ? undefined : occupants.get(actorNick));
    if (target === undefined || actor === undefined) {
      this.#b.log.info({ muc: mucJid, action }, "xmpp: a kick or ban in a bridged MUC names no local actor or bridgeable target; not bridged");
      return;
    }
    const reason = item?.getChildText("reason") ?? undefined;
    const res = await this.#b.submit({
      type: "room.membership",
      platformEventId: platformEventId(`${action}:${target}:${Date.now()}`),
      sender: platformUserId(actor),
      room: platformRoomId(mucJid),
      action,
      target: platformUserId(target),
      timestamp: Date.now(),
      ...(reason === undefined ? {} : { reason }),
    });
    if (res.status === "rejected") this.#b.log.info({ muc: mucJid, action, code: res.code }, "xmpp: the core refused a kick or ban seen in a bridged MUC");
    if (ghostEntry !== undefined && res.status === "accepted") {
      const { [ghostEntry[0]]: _gone, ...rest } = state.ghosts;
      state.ghosts = rest;
      await this.#save(state);
    }
  }

  /** A message from a server MUC. Only the bot's copy is read (every occupant gets one). */
  async onMessage(stanza: XmlElement, from: { bare: string; resource?: string | undefined }, to: string): Promise<void> {
    if (stanza.attrs.type === "error") return this.#bounce(stanza, from.bare, to);
    const invite = from.resource === undefined ? stanza.getChild("x", NS.mucUser)?.getChild("invite") : undefined;
    if (invite !== undefined) return this.#serial.run(`in:${from.bare}`, () => this.#invited(stanza, from.bare, to, invite));
    if (to !== this.botJid) return;
    await this.#serial.run(`in:${from.bare}`, () => this.#message(stanza, from));
  }

  /**
   * MIMI-XMPP-23: an occupant's XEP-0045 §7.8.2 mediated invitation of a ghost, forwarded by the
   * MUC (`<invite from=real JID/>`) → room.membership invite of that remote MIMI user.
   */
  async #invited(stanza: XmlElement, mucJid: string, to: string, invite: XmlElement): Promise<void> {
    const state = await this.state(mucJid);
    const ghostJid = tryParseJid(to);
    const ghost = ghostJid === undefined ? undefined : this.#b.ids.classify(ghostJid);
    const inviter = this.#localOf({ jid: bareOfText(invite.attrs.from ?? ""), affiliation: "", role: "" });
    if (state === undefined || ghost?.kind !== "ghost" || inviter === undefined) {
      this.#b.log.info({ muc: mucJid }, "xmpp: an invitation from a bridged MUC that names no ghost or no local inviter; ignored");
      return;
    }
    const res = await this.#b.submit({
      type: "room.membership",
      platformEventId: platformEventId(`invite:${stanza.attrs.id ?? randomBytes(8).toString("hex")}:${ghost.bare}`),
      sender: platformUserId(inviter),
      room: platformRoomId(mucJid),
      action: "invite",
      target: platformUserId(ghost.bare),
      timestamp: Date.now(),
    });
    if (res.status !== "accepted") this.#b.log.info({ muc: mucJid, status: res.status, code: res.status === "rejected" ? res.code : undefined }, "xmpp: an invitation in a bridged MUC was not carried into MIMI");
  }

  async #bounce(stanza: XmlElement, mucJid: string, to: string): Promise<void> {
    const id = stanza.attrs.id;
    const e = readError(stanza);
    const state = await this.state(mucJid);
    if (state === undefined || id === undefined) return;
    const ghost = Object.keys(state.ghosts).find((g) => this.#ghostFull(g) === to);
    // §7.4: not-acceptable means the sender is not an occupant (e.g. after the MUC restarted).
    if (ghost !== undefined && e.condition === "not-acceptable") {
      this.#joined.delete(`${to}|${mucJid}`);
      try {
        await this.#joinGhost(state, ghost);
        this.#b.link.requeue(id);
      } catch (err) {
        this.#b.log.warn({ muc: mucJid, err: errText(err) }, "xmpp: ghost could not rejoin after a bounce");
      }
      return;
    }
    this.#b.link.handleBounce(stanza);
  }

  async #message(stanza: XmlElement, from: { bare: string; resource?: string | undefined }): Promise<void> {
    const b = this.#b;
    const mucJid = from.bare;
    const state = await this.state(mucJid);
    if (state === undefined || stanza.attrs.type !== "groupchat") return;
    const room = platformRoomId(mucJid);
    const delay = stanza.getChild("delay", NS.delay);
    if (delay !== undefined && delay.attrs.from === mucJid) return; // history replay
    const stanzaId = stanza.getChildren("stanza-id", NS.sid).find((s) => s.attrs.by === mucJid)?.attrs.id;

    // XEP-0425 moderation announced by the MUC (from the room's bare JID).
    if (from.resource === undefined) {
      const retract = stanza.getChild("retract", NS.retract);
      const moderated = retract?.getChild("moderated", NS.moderate);
      if (retract?.attrs.id !== undefined && moderated !== undefined) {
        const byNick = moderated.attrs.by?.slice(mucJid.length + 1);
        const actor = this.#localOf(byNick === undefined ? undefined : this.#occupants.get(mucJid)?.get(byNick));
        if (actor === undefined) return;
        const target = await this.#alias(room, retract.attrs.id);
        await b.submit({ type: "message.retract", platformEventId: platformEventId(`moderate:${retract.attrs.id}`), sender: platformUserId(actor), room, target: platformEventId(target), moderation: true, timestamp: Date.now() });
      }
      return;
    }
    const nick = from.resource;
    if (nick === state.botNick) return;
    const ghostEntry = Object.entries(state.ghosts).find(([, g]) => g.nick === nick);
    if (ghostEntry !== undefined) {
      // The MUC reflected a ghost's message: remember the MUC's stanza-id for it.
      const ours = stanza.attrs.id;
      if (stanzaId !== undefined && ours !== undefined && ours.startsWith("mimi-")) {
        await b.store.put(key("alias", room, stanzaId), ours);
        await b.store.put(key("rev", room, ours), stanzaId);
      }
      return;
    }
    const occupant = this.#occupants.get(mucJid)?.get(nick);
    const sender = this.#localOf(occupant);
    if (sender === undefined) {
      b.log.info({ muc: mucJid }, "xmpp: message from an occupant who is not a user of this server (or whose JID is hidden); not bridged");
      return;
    }
    const parsed = parseMessage(stanza, b.config.limits);
    if (parsed.problems.length > 0) {
      b.log.info({ muc: mucJid, problems: parsed.problems }, "xmpp: malformed MUC message dropped");
      return;
    }
    if (parsed.rawBody !== undefined && byteLength(parsed.rawBody) > b.config.limits.maxBodyBytes) {
      b.log.info({ muc: mucJid, bytes: byteLength(parsed.rawBody) }, "xmpp: oversized MUC message dropped");
      return;
    }
    const clientId = parsed.id ?? parsed.originId ?? `gen-${randomBytes(8).toString("hex")}`;
    const primaryId = stanzaId ?? mucStanzaId(sender, clientId);
    if (stanzaId !== undefined) await b.store.put(key("alias", room, `c:${sender}:${clientId}`), stanzaId);
    const ts = parsed.delay ?? Date.now();
    if (parsed.subject !== undefined && parsed.body === undefined) {
      await b.submit({ type: "room.metadata", platformEventId: platformEventId(primaryId), sender: platformUserId(sender), room, topic: parsed.subject, timestamp: ts });
      return;
    }
    const resolveRef = async (id: string, kind: RefKind): Promise<string> => {
      if (kind === "replace") return (await b.store.get<string>(key("alias", room, `c:${sender}:${id}`))) ?? mucStanzaId(sender, id);
      return this.#alias(room, id);
    };
    const plan = await planInbound({ room, sender: platformUserId(sender), primaryId, parsed, timestamp: ts, resolveRef }, b.store);
    for (const event of plan.events) {
      const res = await b.submit(event);
      if (res.status === "rejected") {
        b.log.info({ muc: mucJid, code: res.code, type: event.type }, "xmpp: the core refused an event from a bridged MUC");
        return;
      }
    }
    await plan.commit();
  }

  async #alias(room: PlatformRoomId, id: string): Promise<string> {
    return (await this.#b.store.get<string>(key("alias", room, id))) ?? id;
  }

  async #mucIdOf(room: PlatformRoomId, platformId: string): Promise<string> {
    return (await this.#b.store.get<string>(key("rev", room, platformId))) ?? platformId;
  }

  // ---- MIMI → XMPP ------------------------------------------------------------------------------------------

  async #required(room: PlatformRoomId): Promise<BridgedState> {
    const state = await this.state(room);
    if (state === undefined) throw new MimiError("MIMI_ERR_XMPP_UNKNOWN_ROOM", `no bridged MUC ${room}`, { details: { room } });
    return state;
  }

  async #ghostOf(state: BridgedState, sender: MimiSender): Promise<string> {
    const ghost = sender.platformUser;
    if (state.ghosts[ghost] === undefined) {
      state.ghosts[ghost] = { nick: ghostNick(sender.mimiUri), mimiUri: sender.mimiUri };
      await this.#save(state);
    }
    if (this.#b.link.online && !this.#joined.has(`${this.#ghostFull(ghost)}|${state.mucJid}`)) {
      await this.#joinGhost(state, ghost).catch((err: unknown) => this.#b.log.warn({ muc: state.mucJid, err: errText(err) }, "xmpp: ghost join failed"));
    }
    return this.#ghostFull(ghost);
  }

  async #post(state: BridgedState, from: string, id: string, children: XmlElement[]): Promise<void> {
    const marker = key("sent", state.mucJid, id);
    if ((await this.#b.store.get<number>(marker)) !== undefined) return;
    await this.#b.link.enqueue(xml("message", { from, to: state.mucJid, type: "groupchat", id }, ...children));
    await this.#b.store.put(marker, Date.now());
  }

  async handleMessage(m: MimiMessage): Promise<DeliveryResult> {
    return this.#serial.run(`out:${m.room}`, async () => {
      const state = await this.#required(m.room);
      const from = await this.#ghostOf(state, m.sender);
      const id = stanzaIdFor(m.messageId);
      const replyTo = m.replyTo === undefined ? undefined : await this.#mucIdOf(m.room, m.replyTo);
      await this.#post(state, from, id, contentChildren({ text: m.text, replyTo, thread: m.thread, attachments: m.attachments }, id));
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleEdit(e: MimiEdit): Promise<DeliveryResult> {
    return this.#serial.run(`out:${e.room}`, async () => {
      const state = await this.#required(e.room);
      const from = await this.#ghostOf(state, e.sender);
      const id = stanzaIdFor(e.messageId);
      await this.#post(state, from, id, correctionChildren(e.target, e.text, id));
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleReaction(r: MimiReaction, add: boolean): Promise<DeliveryResult> {
    return this.#serial.run(`out:${r.room}`, async () => {
      const state = await this.#required(r.room);
      const from = await this.#ghostOf(state, r.sender);
      const target = await this.#mucIdOf(r.room, r.target);
      const setKey = key("mreact", r.room, r.sender.platformUser, target);
      const set = new Set((await this.#b.store.get<string[]>(setKey)) ?? []);
      if (add) set.add(r.reaction);
      else set.delete(r.reaction);
      await this.#b.store.put(setKey, [...set]);
      const id = stanzaIdFor(r.messageId, add ? "" : "remove");
      await this.#post(state, from, id, reactionChildren(target, [...set], id));
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleRetraction(r: MimiRetraction): Promise<void> {
    await this.#serial.run(`out:${r.room}`, async () => {
      const state = await this.#required(r.room);
      const id = stanzaIdFor(r.messageId);
      const target = await this.#mucIdOf(r.room, r.target);
      if (r.target.startsWith("mimi-") && !r.sender.local) {
        // The ghost retracts its own message (XEP-0424 §4; in a MUC the id is the MUC's stanza-id).
        const from = await this.#ghostOf(state, r.sender);
        await this.#post(state, from, id, retractionChildren(target, id));
        return;
      }
      // Someone else's message: the bot moderates (XEP-0425 §4), which needs moderator rights.
      try {
        await this.#b.link.request(xml("iq", { type: "set", from: this.botJid, to: state.mucJid }, xml("moderate", { xmlns: NS.moderate, id: target }, xml("retract", { xmlns: NS.retract }))));
      } catch (err) {
        this.#b.log.warn({ muc: state.mucJid, err: errText(err) }, "xmpp: moderation in a bridged MUC failed (is the bridge bot a moderator?)");
      }
    });
  }

  async handleMetadata(md: MimiRoomMetadata): Promise<void> {
    const state = await this.#required(md.room);
    if (md.subject === undefined) return;
    await this.#b.link.enqueue(xml("message", { from: this.botJid, to: state.mucJid, type: "groupchat", id: `subj-${randomBytes(6).toString("hex")}` }, xml("subject", {}, md.subject)));
  }

  async handleTyping(t: MimiTyping): Promise<void> {
    const state = await this.state(t.room);
    if (state === undefined || state.ghosts[t.sender.platformUser] === undefined) return;
    await this.#b.link.sendNow(xml("message", { from: this.#ghostFull(t.sender.platformUser), to: state.mucJid, type: "groupchat" }, xml(t.active ? "composing" : "active", { xmlns: NS.chatStates }), xml("no-store", { xmlns: NS.hints })));
  }

  async handleReadReceipt(r: MimiReadReceipt): Promise<void> {
    const state = await this.state(r.room);
    if (state === undefined || state.ghosts[r.sender.platformUser] === undefined) return;
    const target = await this.#mucIdOf(r.room, r.target);
    await this.#b.link.sendNow(xml("message", { from: this.#ghostFull(r.sender.platformUser), to: state.mucJid, type: "groupchat" }, xml("displayed", { xmlns: NS.markers, id: target })));
  }

  async handleParticipantChange(c: MimiParticipantChange): Promise<void> {
    await this.#serial.run(`out:${c.room}`, async () => {
      const state = await this.#required(c.room);
      const user = c.platformUser;
      const ghost = this.#b.ids.parseGhost(user) !== undefined;
      if (ghost) {
        if (c.change === "added") {
          if (state.ghosts[user] === undefined) {
            state.ghosts[user] = { nick: ghostNick(c.user), mimiUri: c.user };
            await this.#save(state);
          }
          if (this.#b.link.online) await this.#joinGhost(state, user).catch((err: unknown) => this.#b.log.warn({ muc: state.mucJid, err: errText(err) }, "xmpp: ghost join failed"));
        } else if (c.change === "removed" || c.change === "left" || c.change === "banned") {
          const g = state.ghosts[user];
          if (g === undefined) return;
          await this.#b.link.enqueue(xml("presence", { from: this.#ghostFull(user), to: `${state.mucJid}/${g.nick}`, type: "unavailable" }));
          const { [user]: _gone, ...rest } = state.ghosts;
          state.ghosts = rest;
          this.#joined.delete(`${this.#ghostFull(user)}|${state.mucJid}`);
          await this.#save(state);
        }
        return;
      }
      // A local user: the bot acts with its MUC rights (§8.2 kick, §9.1 ban, §7.8.2 invitation).
      if (c.change === "added") {
        const present = [...(this.#occupants.get(state.mucJid)?.values() ?? [])].some((o) => this.#localOf(o) === user);
        if (!present) await this.#b.link.enqueue(xml("message", { from: this.botJid, to: state.mucJid, id: `inv-${randomBytes(6).toString("hex")}` }, xml("x", { xmlns: NS.mucUser }, xml("invite", { to: user }))));
        return;
      }
      if (c.change !== "removed" && c.change !== "banned") return;
      const item =
        c.change === "banned"
          ? xml("item", { jid: user, affiliation: "outcast" }, xml("reason", {}, "banned in MIMI"))
          : xml("item", { nick: this.#nickOfLocal(state.mucJid, user), role: "none" }, xml("reason", {}, "removed in MIMI"));
      if (c.change === "removed" && item.attrs.nick === undefined) return;
      try {
        await this.#b.link.request(xml("iq", { type: "set", from: this.botJid, to: state.mucJid }, xml("query", { xmlns: NS.mucAdmin }, item)));
      } catch (err) {
        this.#b.log.warn({ muc: state.mucJid, change: c.change, err: errText(err) }, "xmpp: the bridge bot could not apply a MIMI removal in a bridged MUC (is it an admin?)");
      }
    });
  }

  #nickOfLocal(mucJid: string, user: string): string | undefined {
    for (const [nick, o] of this.#occupants.get(mucJid) ?? []) if (this.#localOf(o) === user) return nick;
    return undefined;
  }

  /** Occupant nicks → real bare JIDs as the bot sees them (tests, admin listing). */
  occupantsOf(mucJid: string): Map<string, string | undefined> {
    return new Map([...(this.#occupants.get(mucJid) ?? new Map<string, OccupantInfo>())].map(([n, o]) => [n, o.jid]));
  }

  async idle(): Promise<void> {
    await this.#serial.idle();
  }
}

function bareOfText(text: string): string | undefined {
  const jid = tryParseJid(text);
  return jid === undefined ? undefined : bareOf(jid);
}

export function ghostNick(mimiUri: string): string {
  const m = /^mimi:\/\/([^/]+)\/u\/(.+)$/.exec(mimiUri);
  if (m === null) return mimiUri.slice(0, 128);
  let user = m[2] ?? "";
  try {
    user = decodeURIComponent(user);
  } catch {
    // keep the encoded form
  }
  return `${user}@${m[1] ?? ""}`.slice(0, 128);
}
