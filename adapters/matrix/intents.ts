// Homeserver calls as the bridge bot and as ghosts (issue 6 items 2–4), through
// matrix-appservice-bridge 11.2.0's intents (registration, joins, membership, power levels,
// profiles) — but sends go through our own PUT with a deterministic transaction ID:
// `Intent.sendEvent` re-sends with a NEW txnId after a join error (matrix-appservice-bridge#513),
// which duplicates messages. Synapse deduplicates PUT /send/{type}/{txnId} per (user, txnId)
// (CS-API "Transaction identifiers"), so a repeated delivery of one MIMI event cannot duplicate it.
//
// The Bridge is never `listen()`ed: our TransactionServer receives the homeserver's transactions.
import { AppServiceRegistration, Bridge, Logger as MabLogger, type Intent } from "matrix-appservice-bridge";
import { MimiError, type Logger } from "../../src/adapter/index.ts";

export interface RegistrationData {
  readonly id: string;
  readonly url: string | null;
  readonly asToken: string;
  readonly hsToken: string;
  readonly senderLocalpart: string;
  readonly userRegexes: readonly { regex: string; exclusive: boolean }[];
  readonly aliasRegexes: readonly { regex: string; exclusive: boolean }[];
}

/** The errcode of a failed CS-API call (bot-sdk MatrixError or a raw body), if any. */
export function errcodeOf(err: unknown): string | undefined {
  const e = err as { errcode?: unknown; body?: { errcode?: unknown } } | undefined;
  if (typeof e?.errcode === "string") return e.errcode;
  if (typeof e?.body?.errcode === "string") return e.body.errcode;
  return undefined;
}

export function statusOf(err: unknown): number | undefined {
  const e = err as { statusCode?: unknown; httpStatus?: unknown } | undefined;
  if (typeof e?.statusCode === "number") return e.statusCode;
  if (typeof e?.httpStatus === "number") return e.httpStatus;
  return undefined;
}

export function errText(err: unknown): string {
  const code = errcodeOf(err);
  const bodyError = (err as { body?: { error?: unknown } } | undefined)?.body?.error;
  const msg = err instanceof Error ? err.message : typeof bodyError === "string" ? bodyError : (JSON.stringify(err) ?? "unknown error");
  return `${code === undefined ? "" : `${code}: `}${msg}`;
}

const enc = encodeURIComponent;

export class Homeserver {
  readonly bridge: Bridge;
  readonly botUserId: string;
  readonly #log: Logger;
  readonly #registered = new Set<string>();
  readonly #joined = new Set<string>();
  readonly #onCreated: ((type: string) => void) | undefined;

  /** `onCreated`: called with the Matrix type of every event the bridge created (metrics). */
  constructor(o: { homeserverUrl: string; domain: string; registration: RegistrationData; log: Logger; onCreated?: (type: string) => void }) {
    // The SDK's own console logging (winston, process-wide) is off: every failure that matters is
    // logged by the adapter through its pino logger (e.g. an expected M_NOT_FOUND is not an error).
    MabLogger.configure({ console: "off" });
    const reg = new AppServiceRegistration(o.registration.url ?? "");
    reg.setId(o.registration.id);
    reg.setHomeserverToken(o.registration.hsToken);
    reg.setAppServiceToken(o.registration.asToken);
    reg.setSenderLocalpart(o.registration.senderLocalpart);
    for (const r of o.registration.userRegexes) reg.addRegexPattern("users", r.regex, r.exclusive);
    for (const r of o.registration.aliasRegexes) reg.addRegexPattern("aliases", r.regex, r.exclusive);
    this.bridge = new Bridge({
      homeserverUrl: o.homeserverUrl,
      domain: o.domain,
      registration: reg,
      disableStores: true,
      disableContext: true,
      controller: {
        onEvent() {
          // Events arrive through our TransactionServer, never through the Bridge.
        },
      },
    });
    this.botUserId = `@${o.registration.senderLocalpart}:${o.domain}`;
    this.#log = o.log;
    this.#onCreated = o.onCreated;
  }

  async initialise(): Promise<void> {
    await this.bridge.initialise();
  }

  /**
   * Releases the Bridge's timers (its intent-culling timer would keep the process alive). The
   * Bridge never listened, so its appservice part may refuse to close: that is fine.
   */
  async close(): Promise<void> {
    await this.bridge.close().catch(() => undefined);
  }

  intent(userId: string): Intent {
    return this.bridge.getIntent(userId);
  }

  /** Registers a ghost once per process (M_USER_IN_USE is fine). */
  async ensureRegistered(userId: string): Promise<void> {
    if (userId === this.botUserId || this.#registered.has(userId)) return;
    await this.intent(userId).ensureRegistered();
    this.#registered.add(userId);
  }

  async whoami(): Promise<string> {
    const r = (await this.intent(this.botUserId).matrixClient.doRequest("GET", "/_matrix/client/v3/account/whoami")) as { user_id?: string };
    return r.user_id ?? "";
  }

  /** A raw CS-API request as `userId` (a ghost: `?user_id=` masquerading). */
  async request(userId: string, method: string, path: string, body?: unknown, qs?: Record<string, string>): Promise<Record<string, unknown>> {
    await this.ensureRegistered(userId);
    return (await this.intent(userId).matrixClient.doRequest(method, path, qs ?? null, body ?? null)) as Record<string, unknown>;
  }

  /**
   * PUT /rooms/{roomId}/send/{type}/{txnId} as `userId`. If the sender is not in the room yet it
   * joins (ghosts) and the SAME txnId is used again.
   */
  async send(userId: string, roomId: string, type: string, content: Record<string, unknown>, txnId: string): Promise<string> {
    const path = `/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(type)}/${enc(txnId)}`;
    try {
      const r = await this.request(userId, "PUT", path, content);
      this.#onCreated?.(type);
      return String(r.event_id);
    } catch (err) {
      if (errcodeOf(err) !== "M_FORBIDDEN") throw err;
      this.#log.debug({ userId, roomId, err: errText(err) }, "matrix: send refused; joining and retrying with the same txnId");
      await this.join(userId, roomId, true);
      const r = await this.request(userId, "PUT", path, content);
      this.#onCreated?.(type);
      return String(r.event_id);
    }
  }

  /** Whether `eventId` is an event of `roomId` (as `asUser` may see it). */
  async hasEvent(asUser: string, roomId: string, eventId: string): Promise<boolean> {
    try {
      await this.request(asUser, "GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`);
      return true;
    } catch (err) {
      if (errcodeOf(err) === "M_NOT_FOUND" || errcodeOf(err) === "M_FORBIDDEN") return false;
      throw err;
    }
  }

  /** The joined members of a room (as `asUser`, who must be in it). */
  async joinedMembers(asUser: string, roomId: string): Promise<string[]> {
    const r = await this.request(asUser, "GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
    const joined = r.joined;
    return typeof joined === "object" && joined !== null ? Object.keys(joined) : [];
  }

  async redact(userId: string, roomId: string, eventId: string, txnId: string, reason?: string): Promise<string> {
    const r = await this.request(userId, "PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(eventId)}/${enc(txnId)}`, reason === undefined ? {} : { reason });
    this.#onCreated?.("m.room.redaction");
    return String(r.event_id);
  }

  async state(userId: string, roomId: string, type: string, stateKey: string): Promise<Record<string, unknown> | undefined> {
    try {
      return await this.request(userId, "GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`);
    } catch (err) {
      if (errcodeOf(err) === "M_NOT_FOUND" || errcodeOf(err) === "M_FORBIDDEN") return undefined;
      throw err;
    }
  }

  /**
   * The room's creators when its version gives them unlimited power (room version 12+, MSC4289:
   * the m.room.create sender and `additional_creators`); empty for older versions.
   */
  async creators(roomId: string): Promise<string[]> {
    let ev: Record<string, unknown>;
    try {
      ev = await this.request(this.botUserId, "GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.create/`, undefined, { format: "event" });
    } catch {
      return [];
    }
    const content = (ev.content as Record<string, unknown> | undefined) ?? {};
    const version = Number.parseInt(typeof content.room_version === "string" ? content.room_version : "1", 10);
    if (!(version >= 12)) return [];
    const extra = Array.isArray(content.additional_creators) ? content.additional_creators.filter((u): u is string => typeof u === "string") : [];
    return [...(typeof ev.sender === "string" ? [ev.sender] : []), ...extra];
  }

  async setState(userId: string, roomId: string, type: string, stateKey: string, content: Record<string, unknown>): Promise<void> {
    await this.request(userId, "PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, content);
    this.#onCreated?.(type);
  }

  /** The membership of `user` in `roomId` as the bot (or `asUser`) sees it. */
  async membership(roomId: string, user: string, asUser = this.botUserId): Promise<string | undefined> {
    const m = await this.state(asUser, roomId, "m.room.member", user).catch(() => undefined);
    return typeof m?.membership === "string" ? m.membership : undefined;
  }

  /**
   * `userId` joins `roomId`. A ghost that is not invited is invited first by the bot (when the
   * bot is in the room).
   */
  async join(userId: string, roomId: string, force = false): Promise<void> {
    const k = `${userId}\n${roomId}`;
    if (!force && this.#joined.has(k)) return;
    await this.ensureRegistered(userId);
    try {
      await this.request(userId, "POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    } catch (err) {
      if (userId === this.botUserId) throw err;
      this.#log.debug({ userId, roomId, err: errText(err) }, "matrix: join refused; the bot invites first");
      await this.invite(this.botUserId, roomId, userId);
      await this.request(userId, "POST", `/_matrix/client/v3/rooms/${enc(roomId)}/join`, {});
    }
    this.#joined.add(k);
  }

  forgetJoin(userId: string, roomId: string): void {
    this.#joined.delete(`${userId}\n${roomId}`);
  }

  /**
   * Invites `target`. `isDirect`: the invite carries `is_direct: true` (CS API §Direct Messaging:
   * the invitee's client files the room under m.direct), which /invite cannot send; the member
   * state event with membership invite can (what mautrix does too).
   */
  async invite(asUser: string, roomId: string, target: string, options: { isDirect?: boolean } = {}): Promise<void> {
    try {
      if (options.isDirect === true) {
        await this.request(asUser, "PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/m.room.member/${enc(target)}`, { membership: "invite", is_direct: true });
        return;
      }
      await this.request(asUser, "POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: target });
    } catch (err) {
      // Already in the room or invited: fine.
      if (errcodeOf(err) === "M_FORBIDDEN" && /already|is in the room|invited/i.test(errText(err))) return;
      throw err;
    }
  }

  async leave(userId: string, roomId: string, reason?: string): Promise<void> {
    this.forgetJoin(userId, roomId);
    await this.request(userId, "POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, reason === undefined ? {} : { reason });
  }

  async kick(asUser: string, roomId: string, target: string, reason?: string): Promise<void> {
    this.forgetJoin(target, roomId);
    await this.request(asUser, "POST", `/_matrix/client/v3/rooms/${enc(roomId)}/kick`, { user_id: target, ...(reason === undefined ? {} : { reason }) });
  }

  async ban(asUser: string, roomId: string, target: string, reason?: string): Promise<void> {
    this.forgetJoin(target, roomId);
    await this.request(asUser, "POST", `/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: target, ...(reason === undefined ? {} : { reason }) });
  }

  async unban(asUser: string, roomId: string, target: string): Promise<void> {
    await this.request(asUser, "POST", `/_matrix/client/v3/rooms/${enc(roomId)}/unban`, { user_id: target });
  }

  async setPowerLevel(asUser: string, roomId: string, target: string, level: number): Promise<void> {
    const pl = (await this.state(asUser, roomId, "m.room.power_levels", "")) ?? {};
    const users = { ...((pl.users as Record<string, number> | undefined) ?? {}) };
    if (users[target] === level) return;
    users[target] = level;
    await this.setState(asUser, roomId, "m.room.power_levels", "", { ...pl, users });
  }

  async setDisplayName(userId: string, name: string): Promise<void> {
    await this.request(userId, "PUT", `/_matrix/client/v3/profile/${enc(userId)}/displayname`, { displayname: name });
  }

  /**
   * Whether the homeserver has `userId`. First GET /profile/{userId} as the bot (Matrix CS API
   * "Profiles": 404 when the user does not exist). Synapse (1.163) also answers 404 for a user
   * with neither display name nor avatar, so a 404 for a user of this homeserver is checked with
   * GET /register/available?username=<localpart> (CS API "Account registration"): 400
   * M_USER_IN_USE means the user exists, 200 `available` that it does not (case-insensitive in
   * Synapse, like its registration). Synapse answers that endpoint only while registration is
   * enabled (else 403 M_FORBIDDEN) and always says "available" with inhibit_user_in_use_error:
   * there the 404 stands (a non-admin has no other way to ask), so a profile-less user stays
   * unreachable from MIMI (docs/MATRIX.md §6). Other failures (e.g. its 429 rate limit) mean the
   * homeserver cannot tell now: MIMI_ERR_BRIDGE_PLATFORM_UNAVAILABLE wrapping them.
   */
  async userExists(userId: string): Promise<boolean> {
    const unavailable = (err: unknown) => new MimiError("MIMI_ERR_BRIDGE_PLATFORM_UNAVAILABLE", `the homeserver could not say whether a user exists: ${errText(err)}`, { cause: err });
    try {
      await this.request(this.botUserId, "GET", `/_matrix/client/v3/profile/${enc(userId)}`);
      return true;
    } catch (err) {
      if (statusOf(err) !== 404) throw unavailable(err);
    }
    const sep = userId.indexOf(":");
    const domain = this.botUserId.slice(this.botUserId.indexOf(":") + 1);
    // Only this homeserver's registrations can be asked about; a 404 for a remote user stands.
    if (!userId.startsWith("@") || sep < 0 || userId.slice(sep + 1) !== domain) return false;
    try {
      const r = await this.request(this.botUserId, "GET", "/_matrix/client/v3/register/available", undefined, { username: userId.slice(1, sep) });
      return r.available !== true;
    } catch (err) {
      const code = errcodeOf(err);
      if (code === "M_USER_IN_USE") return true;
      // A localpart the homeserver would never register cannot name an existing user.
      if (code === "M_INVALID_USERNAME") return false;
      // Registration disabled (403), or another application service's exclusive namespace: no answer; the 404 stands.
      if (code === "M_FORBIDDEN" || code === "M_EXCLUSIVE") {
        this.#log.debug({ userId, err: errText(err) }, "matrix: no profile, and the homeserver does not say whether the user is registered");
        return false;
      }
      throw unavailable(err);
    }
  }

  /** POST /createRoom as `userId`; an alias already taken resolves to the existing room. */
  async createRoom(userId: string, options: Record<string, unknown>): Promise<string> {
    try {
      const r = await this.request(userId, "POST", "/_matrix/client/v3/createRoom", options);
      const roomId = String(r.room_id);
      this.#joined.add(`${userId}\n${roomId}`);
      return roomId;
    } catch (err) {
      const aliasName = options.room_alias_name;
      if (errcodeOf(err) === "M_ROOM_IN_USE" && typeof aliasName === "string") {
        const existing = await this.resolveAlias(`#${aliasName}:${this.botUserId.slice(this.botUserId.indexOf(":") + 1)}`);
        if (existing !== undefined) return existing;
      }
      throw err;
    }
  }

  /** PUT /directory/room/{alias} as the bot (the alias namespace is the bridge's, exclusive); an alias already on `roomId` is fine. */
  async createAlias(alias: string, roomId: string): Promise<void> {
    try {
      await this.request(this.botUserId, "PUT", `/_matrix/client/v3/directory/room/${enc(alias)}`, { room_id: roomId });
    } catch (err) {
      if (errcodeOf(err) === "M_UNKNOWN" && (await this.resolveAlias(alias)) === roomId) return;
      throw err;
    }
  }

  async resolveAlias(alias: string): Promise<string | undefined> {
    try {
      const r = await this.request(this.botUserId, "GET", `/_matrix/client/v3/directory/room/${enc(alias)}`);
      return typeof r.room_id === "string" ? r.room_id : undefined;
    } catch (err) {
      if (errcodeOf(err) === "M_NOT_FOUND") return undefined;
      throw err;
    }
  }

  async setTyping(userId: string, roomId: string, typing: boolean): Promise<void> {
    await this.request(userId, "PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(userId)}`, typing ? { typing: true, timeout: 30000 } : { typing: false });
  }

  async readReceipt(userId: string, roomId: string, eventId: string): Promise<void> {
    await this.request(userId, "POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/m.read/${enc(eventId)}`, {});
  }

  /** Adds `roomId` to the `m.direct` account data of `userId` for `peer`. */
  async markDirect(userId: string, peer: string, roomId: string): Promise<void> {
    const path = `/_matrix/client/v3/user/${enc(userId)}/account_data/m.direct`;
    let current: Record<string, string[]> = {};
    try {
      current = (await this.request(userId, "GET", path)) as Record<string, string[]>;
    } catch (err) {
      if (errcodeOf(err) !== "M_NOT_FOUND") throw err;
    }
    const rooms = current[peer] ?? [];
    if (rooms.includes(roomId)) return;
    await this.request(userId, "PUT", path, { ...current, [peer]: [...rooms, roomId] });
  }
}

export function notReady(): MimiError {
  return new MimiError("MIMI_ERR_INTERNAL", "the Matrix adapter was used before init()");
}
