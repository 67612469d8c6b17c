// A small, real Matrix client for tests: plain client-server API calls over fetch (no SDK, no
// mocks) and a background /sync loop that keeps every room's timeline, state, ephemeral events,
// invites and leaves, with waitFor helpers. Access tokens travel only in Authorization headers and
// never appear in errors.
import { randomBytes } from "node:crypto";

export type JsonObject = Record<string, unknown>;

export interface MatrixEvent {
  type: string;
  sender: string;
  content: JsonObject;
  event_id?: string;
  room_id?: string;
  state_key?: string;
  origin_server_ts?: number;
  redacts?: string;
  unsigned?: JsonObject;
}

export interface CreateRoomOptions {
  name?: string;
  topic?: string;
  invite?: readonly string[];
  is_direct?: boolean;
  preset?: "private_chat" | "public_chat" | "trusted_private_chat";
  visibility?: "public" | "private";
  room_alias_name?: string;
  room_version?: string;
  power_level_content_override?: JsonObject;
  initial_state?: readonly { type: string; state_key?: string; content: JsonObject }[];
  creation_content?: JsonObject;
}

export interface MatrixClientOptions {
  /** The homeserver's base URL, e.g. http://127.0.0.1:8008. */
  baseUrl: string;
  userId: string;
  accessToken: string;
  deviceId?: string;
  /** For application services: act as this user (`?user_id=`, masquerading). */
  asUserId?: string;
}

/** What the homeserver answered when a request failed (errcode and HTTP status, for assertions). */
export class MatrixHttpError extends Error {
  readonly status: number;
  readonly errcode: string | undefined;
  readonly body: JsonObject;
  constructor(method: string, path: string, status: number, body: JsonObject) {
    const errcode = typeof body.errcode === "string" ? body.errcode : undefined;
    super(`${method} ${path}: HTTP ${status} ${errcode ?? ""} ${typeof body.error === "string" ? body.error : ""}`.trim());
    this.name = "MatrixHttpError";
    this.status = status;
    this.errcode = errcode;
    this.body = body;
  }
}

export interface RoomView {
  readonly roomId: string;
  /** Every timeline event seen, in order (state events included). */
  readonly timeline: MatrixEvent[];
  /** Current state: `${type}\u0000${state_key}` → event. */
  readonly state: Map<string, MatrixEvent>;
  /** Ephemeral events (typing, receipts) in arrival order. */
  readonly ephemeral: MatrixEvent[];
  /** The room's account data as last seen. */
  readonly accountData: Map<string, JsonObject>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const enc = encodeURIComponent;

/** A transaction ID for PUT /send and /redact. */
export function newTxnId(): string {
  return `t${Date.now().toString(36)}${randomBytes(6).toString("hex")}`;
}

interface Waiter {
  check: () => boolean;
  fail: (err: Error) => void;
}

interface SyncRoom {
  timeline?: { events?: MatrixEvent[] };
  state?: { events?: MatrixEvent[] };
  ephemeral?: { events?: MatrixEvent[] };
  account_data?: { events?: { type: string; content: JsonObject }[] };
  invite_state?: { events?: MatrixEvent[] };
}

interface SyncResponse {
  next_batch: string;
  rooms?: { join?: Record<string, SyncRoom>; invite?: Record<string, SyncRoom>; leave?: Record<string, SyncRoom>; knock?: Record<string, SyncRoom> };
  account_data?: { events?: { type: string; content: JsonObject }[] };
}

export class MatrixClient {
  readonly baseUrl: string;
  readonly userId: string;
  readonly deviceId: string | undefined;
  readonly asUserId: string | undefined;
  readonly #token: string;

  /** Rooms seen through /sync (joined or left), by room ID. */
  readonly rooms = new Map<string, RoomView>();
  /** Pending invites: room ID → stripped invite state. */
  readonly invites = new Map<string, MatrixEvent[]>();
  /** Rooms we have left or been kicked/banned from: room ID → the last timeline events of the leave. */
  readonly left = new Map<string, MatrixEvent[]>();
  /** Global account data as last seen. */
  readonly accountData = new Map<string, JsonObject>();
  /** The last error of the sync loop (cleared by the next successful sync). */
  syncError: unknown;
  syncCount = 0;

  #since: string | undefined;
  #syncing: Promise<void> | undefined;
  #abort: AbortController | undefined;
  readonly #waiters = new Set<Waiter>();
  readonly #seenIds = new Map<string, Set<string>>();

  constructor(o: MatrixClientOptions) {
    this.baseUrl = o.baseUrl.replace(/\/+$/, "");
    this.userId = o.asUserId ?? o.userId;
    this.deviceId = o.deviceId;
    this.asUserId = o.asUserId;
    this.#token = o.accessToken;
  }

  /** Logs in with a password (m.login.password) and returns a client for the new device. */
  static async login(baseUrl: string, user: string, password: string, deviceId?: string): Promise<MatrixClient> {
    const anon = new MatrixClient({ baseUrl, userId: user, accessToken: "" });
    const body = await anon.request<{ user_id: string; access_token: string; device_id: string }>("POST", "/_matrix/client/v3/login", {
      type: "m.login.password",
      identifier: { type: "m.id.user", user },
      password,
      ...(deviceId === undefined ? {} : { device_id: deviceId }),
    });
    return new MatrixClient({ baseUrl, userId: body.user_id, accessToken: body.access_token, deviceId: body.device_id });
  }

  /** A raw client-server API call; throws MatrixHttpError on a non-2xx answer. */
  async request<T = JsonObject>(method: string, path: string, body?: unknown, query: Record<string, string> = {}, signal?: AbortSignal): Promise<T> {
    const q = new URLSearchParams(query);
    if (this.asUserId !== undefined) q.set("user_id", this.asUserId);
    const qs = q.toString();
    const headers: Record<string, string> = {};
    if (this.#token !== "") headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${this.baseUrl}${path}${qs === "" ? "" : `?${qs}`}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: signal ?? AbortSignal.timeout(120_000),
    });
    const text = await res.text();
    let parsed: JsonObject;
    try {
      parsed = text === "" ? {} : (JSON.parse(text) as JsonObject);
    } catch {
      parsed = { error: text.slice(0, 200) };
    }
    if (!res.ok) throw new MatrixHttpError(method, path, res.status, parsed);
    return parsed as T;
  }

  whoami(): Promise<{ user_id: string; device_id?: string; is_guest?: boolean }> {
    return this.request("GET", "/_matrix/client/v3/account/whoami");
  }

  // ---- rooms ---------------------------------------------------------------------------------

  async createRoom(o: CreateRoomOptions = {}): Promise<string> {
    const r = await this.request<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", o);
    return r.room_id;
  }

  async invite(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.request("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/invite`, { user_id: userId, ...(reason === undefined ? {} : { reason }) });
  }

  async join(roomIdOrAlias: string): Promise<string> {
    const r = await this.request<{ room_id: string }>("POST", `/_matrix/client/v3/join/${enc(roomIdOrAlias)}`, {});
    return r.room_id;
  }

  async leave(roomId: string, reason?: string): Promise<void> {
    await this.request("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/leave`, reason === undefined ? {} : { reason });
  }

  async kick(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.request("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/kick`, { user_id: userId, ...(reason === undefined ? {} : { reason }) });
  }

  async ban(roomId: string, userId: string, reason?: string): Promise<void> {
    await this.request("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/ban`, { user_id: userId, ...(reason === undefined ? {} : { reason }) });
  }

  async unban(roomId: string, userId: string): Promise<void> {
    await this.request("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/unban`, { user_id: userId });
  }

  async knock(roomIdOrAlias: string, reason?: string): Promise<string> {
    const r = await this.request<{ room_id: string }>("POST", `/_matrix/client/v3/knock/${enc(roomIdOrAlias)}`, reason === undefined ? {} : { reason });
    return r.room_id;
  }

  async joinedMembers(roomId: string): Promise<string[]> {
    const r = await this.request<{ joined: Record<string, unknown> }>("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/joined_members`);
    return Object.keys(r.joined);
  }

  // ---- media ---------------------------------------------------------------------------------

  /** POST /_matrix/media/v3/upload (CS API §Content repository); returns the mxc:// URI. */
  async upload(data: Uint8Array, contentType: string, filename?: string): Promise<string> {
    const q = new URLSearchParams(filename === undefined ? {} : { filename });
    if (this.asUserId !== undefined) q.set("user_id", this.asUserId);
    const path = "/_matrix/media/v3/upload";
    const res = await fetch(`${this.baseUrl}${path}${q.size === 0 ? "" : `?${q.toString()}`}`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.#token}`, "content-type": contentType },
      body: data,
      signal: AbortSignal.timeout(120_000),
    });
    const body = (await res.json().catch(() => ({}))) as JsonObject;
    if (!res.ok) throw new MatrixHttpError("POST", path, res.status, body);
    if (typeof body.content_uri !== "string") throw new Error(`the upload answer has no content_uri: ${JSON.stringify(body).slice(0, 200)}`);
    return body.content_uri;
  }

  /** GET of an authenticated media URL (CS API v1.11 /_matrix/client/v1/media/download) with this user's token. */
  async download(url: string): Promise<{ status: number; contentType: string | null; data: Uint8Array }> {
    const res = await fetch(url, { headers: { authorization: `Bearer ${this.#token}` }, signal: AbortSignal.timeout(120_000) });
    return { status: res.status, contentType: res.headers.get("content-type"), data: new Uint8Array(await res.arrayBuffer()) };
  }

  // ---- events --------------------------------------------------------------------------------

  /** PUT /send/{type}/{txnId}; the same txnId twice is one event (idempotent). Returns the event ID. */
  async sendEvent(roomId: string, type: string, content: JsonObject, txnId: string = newTxnId()): Promise<string> {
    const r = await this.request<{ event_id: string }>("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/send/${enc(type)}/${enc(txnId)}`, content);
    return r.event_id;
  }

  /** An m.room.message: a string is an m.text body. */
  sendMessage(roomId: string, content: string | JsonObject, txnId?: string): Promise<string> {
    const c = typeof content === "string" ? { msgtype: "m.text", body: content } : content;
    return this.sendEvent(roomId, "m.room.message", c, txnId);
  }

  async sendState(roomId: string, type: string, stateKey: string, content: JsonObject): Promise<string> {
    const r = await this.request<{ event_id: string }>("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, content);
    return r.event_id;
  }

  getState<T = JsonObject>(roomId: string, type: string, stateKey = ""): Promise<T> {
    return this.request<T>("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`);
  }

  getEvent(roomId: string, eventId: string): Promise<MatrixEvent> {
    return this.request<MatrixEvent>("GET", `/_matrix/client/v3/rooms/${enc(roomId)}/event/${enc(eventId)}`);
  }

  async redact(roomId: string, eventId: string, reason?: string, txnId: string = newTxnId()): Promise<string> {
    const r = await this.request<{ event_id: string }>("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/redact/${enc(eventId)}/${enc(txnId)}`, reason === undefined ? {} : { reason });
    return r.event_id;
  }

  /** An m.reaction (m.annotation) with the given key, e.g. "👍". */
  react(roomId: string, eventId: string, key: string, txnId?: string): Promise<string> {
    return this.sendEvent(roomId, "m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: eventId, key } }, txnId);
  }

  /** An edit (m.replace) of `eventId`; a string is the new m.text body. */
  edit(roomId: string, eventId: string, newContent: string | JsonObject, txnId?: string): Promise<string> {
    const nc = typeof newContent === "string" ? { msgtype: "m.text", body: newContent } : newContent;
    const fallbackBody = typeof nc.body === "string" ? `* ${nc.body}` : "*";
    return this.sendMessage(roomId, { ...nc, body: fallbackBody, "m.new_content": nc, "m.relates_to": { rel_type: "m.replace", event_id: eventId } }, txnId);
  }

  /** A reply (m.in_reply_to) to `eventId`. */
  reply(roomId: string, eventId: string, content: string | JsonObject, txnId?: string): Promise<string> {
    const c = typeof content === "string" ? { msgtype: "m.text", body: content } : content;
    return this.sendMessage(roomId, { ...c, "m.relates_to": { "m.in_reply_to": { event_id: eventId } } }, txnId);
  }

  /** A message in the thread rooted at `rootEventId` (m.thread, with the reply fallback). */
  thread(roomId: string, rootEventId: string, content: string | JsonObject, latestEventId: string = rootEventId, txnId?: string): Promise<string> {
    const c = typeof content === "string" ? { msgtype: "m.text", body: content } : content;
    return this.sendMessage(
      roomId,
      { ...c, "m.relates_to": { rel_type: "m.thread", event_id: rootEventId, is_falling_back: true, "m.in_reply_to": { event_id: latestEventId } } },
      txnId,
    );
  }

  getPowerLevels(roomId: string): Promise<JsonObject> {
    return this.getState(roomId, "m.room.power_levels");
  }

  setPowerLevels(roomId: string, content: JsonObject): Promise<string> {
    return this.sendState(roomId, "m.room.power_levels", "", content);
  }

  /** Reads the power levels, sets one user's level, writes them back. */
  async setUserPowerLevel(roomId: string, userId: string, level: number): Promise<string> {
    const pl = await this.getPowerLevels(roomId);
    const users = { ...((pl.users as Record<string, number> | undefined) ?? {}), [userId]: level };
    return this.setPowerLevels(roomId, { ...pl, users });
  }

  setRoomName(roomId: string, name: string): Promise<string> {
    return this.sendState(roomId, "m.room.name", "", { name });
  }

  setRoomTopic(roomId: string, topic: string): Promise<string> {
    return this.sendState(roomId, "m.room.topic", "", { topic });
  }

  async setTyping(roomId: string, typing: boolean, timeoutMs = 30_000): Promise<void> {
    await this.request("PUT", `/_matrix/client/v3/rooms/${enc(roomId)}/typing/${enc(this.userId)}`, typing ? { typing, timeout: timeoutMs } : { typing });
  }

  async sendReceipt(roomId: string, eventId: string, type = "m.read"): Promise<void> {
    await this.request("POST", `/_matrix/client/v3/rooms/${enc(roomId)}/receipt/${enc(type)}/${enc(eventId)}`, {});
  }

  // ---- account data --------------------------------------------------------------------------

  async setAccountData(type: string, content: JsonObject): Promise<void> {
    await this.request("PUT", `/_matrix/client/v3/user/${enc(this.userId)}/account_data/${enc(type)}`, content);
  }

  getAccountData<T = JsonObject>(type: string): Promise<T> {
    return this.request<T>("GET", `/_matrix/client/v3/user/${enc(this.userId)}/account_data/${enc(type)}`);
  }

  /** Adds `roomId` to this user's m.direct list for `otherUserId`. */
  async markDirect(otherUserId: string, roomId: string): Promise<void> {
    let direct: Record<string, string[]> = {};
    try {
      direct = await this.getAccountData<Record<string, string[]>>("m.direct");
    } catch (err) {
      if (!(err instanceof MatrixHttpError && err.status === 404)) throw err;
    }
    const list = direct[otherUserId] ?? [];
    if (!list.includes(roomId)) direct = { ...direct, [otherUserId]: [...list, roomId] };
    await this.setAccountData("m.direct", direct);
  }

  // ---- sync ----------------------------------------------------------------------------------

  /** Starts the background /sync loop (idempotent); resolves after the first sync. */
  async startSync(): Promise<void> {
    if (this.#syncing === undefined) {
      const abort = new AbortController();
      this.#abort = abort;
      this.#syncing = this.#loop(abort.signal);
    }
    await this.waitFor(() => this.syncCount > 0 || undefined, "the first /sync", 120_000);
  }

  /** Stops the sync loop and fails pending waiters. */
  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#syncing;
    for (const w of [...this.#waiters]) w.fail(new Error(`${this.userId}: the sync loop was stopped`));
    this.#syncing = undefined;
    this.#abort = undefined;
  }

  room(roomId: string): RoomView {
    let r = this.rooms.get(roomId);
    if (r === undefined) {
      r = { roomId, timeline: [], state: new Map(), ephemeral: [], accountData: new Map() };
      this.rooms.set(roomId, r);
    }
    return r;
  }

  /** The current membership of `userId` in `roomId` as seen through /sync. */
  membership(roomId: string, userId: string): string | undefined {
    const ev = this.rooms.get(roomId)?.state.get(`m.room.member\u0000${userId}`);
    return typeof ev?.content.membership === "string" ? ev.content.membership : undefined;
  }

  /**
   * Resolves with the first non-undefined (and non-false) result of `check`, evaluated now and after
   * every /sync batch and every `pollMs`; rejects after `timeoutMs` naming `what`.
   */
  waitFor<T>(check: () => T | undefined | false, what: string, timeoutMs = 60_000, pollMs = 100): Promise<T> {
    const first = check();
    if (first !== undefined && first !== false) return Promise.resolve(first);
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        check: () => {
          let v: T | undefined | false;
          try {
            v = check();
          } catch (err) {
            this.#waiters.delete(waiter);
            clearTimeout(timer);
            clearInterval(poll);
            reject(err instanceof Error ? err : new Error(String(err)));
            return true;
          }
          if (v === undefined || v === false) return false;
          this.#waiters.delete(waiter);
          clearTimeout(timer);
          clearInterval(poll);
          resolve(v);
          return true;
        },
        fail: (err) => {
          this.#waiters.delete(waiter);
          clearTimeout(timer);
          clearInterval(poll);
          reject(err);
        },
      };
      // Checked after every /sync batch, and also polled, for conditions on things outside /sync.
      const poll = setInterval(() => waiter.check(), pollMs);
      const timer = setTimeout(() => {
        clearInterval(poll);
        this.#waiters.delete(waiter);
        const err = this.syncError instanceof Error ? ` (last sync error: ${this.syncError.message})` : "";
        reject(new Error(`${this.userId}: timed out after ${timeoutMs} ms waiting for ${what}${err}`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** The first timeline event in `roomId` (already seen or still to come) that matches. */
  waitForEvent(roomId: string, match: (e: MatrixEvent) => boolean, what: string, timeoutMs?: number): Promise<MatrixEvent> {
    return this.waitFor(() => this.rooms.get(roomId)?.timeline.find(match), `${what} in ${roomId}`, timeoutMs);
  }

  /** The timeline event with this ID. */
  waitForEventId(roomId: string, eventId: string, timeoutMs?: number): Promise<MatrixEvent> {
    return this.waitForEvent(roomId, (e) => e.event_id === eventId, `event ${eventId}`, timeoutMs);
  }

  /** The first ephemeral event (m.typing, m.receipt) in `roomId` that matches. */
  waitForEphemeral(roomId: string, match: (e: MatrixEvent) => boolean, what: string, timeoutMs?: number): Promise<MatrixEvent> {
    return this.waitFor(() => this.rooms.get(roomId)?.ephemeral.find(match), `${what} (ephemeral) in ${roomId}`, timeoutMs);
  }

  /** An invite (by anyone, or to the given room); resolves with the room ID. */
  waitForInvite(match: string | ((roomId: string, inviteState: MatrixEvent[]) => boolean) = () => true, timeoutMs?: number): Promise<string> {
    const m = typeof match === "string" ? (id: string) => id === match : match;
    return this.waitFor(() => [...this.invites].find(([id, st]) => m(id, st))?.[0], "an invite", timeoutMs);
  }

  /** Until `userId` has `membership` in `roomId`. */
  waitForMembership(roomId: string, userId: string, membership: string, timeoutMs?: number): Promise<true> {
    return this.waitFor(() => this.membership(roomId, userId) === membership || undefined, `${userId} to be ${membership} in ${roomId}`, timeoutMs);
  }

  async #loop(signal: AbortSignal): Promise<void> {
    const filter = JSON.stringify({ room: { timeline: { limit: 200 }, state: { lazy_load_members: false } } });
    while (!signal.aborted) {
      try {
        const query: Record<string, string> = { timeout: this.#since === undefined ? "0" : "20000", filter };
        if (this.#since !== undefined) query.since = this.#since;
        const res = await this.request<SyncResponse>("GET", "/_matrix/client/v3/sync", undefined, query, AbortSignal.any([signal, AbortSignal.timeout(120_000)]));
        this.#apply(res);
        this.#since = res.next_batch;
        this.syncError = undefined;
        this.syncCount++;
      } catch (err) {
        if (signal.aborted) break;
        this.syncError = err;
        await sleep(500);
      }
      for (const w of [...this.#waiters]) w.check();
    }
  }

  #apply(res: SyncResponse): void {
    for (const ev of res.account_data?.events ?? []) this.accountData.set(ev.type, ev.content);
    const rooms = res.rooms ?? {};
    for (const [roomId, r] of Object.entries(rooms.invite ?? {})) this.invites.set(roomId, r.invite_state?.events ?? []);
    for (const [roomId, r] of Object.entries(rooms.join ?? {})) {
      this.invites.delete(roomId);
      this.left.delete(roomId);
      this.#applyRoom(roomId, r);
    }
    for (const [roomId, r] of Object.entries(rooms.leave ?? {})) {
      this.invites.delete(roomId);
      this.#applyRoom(roomId, r);
      this.left.set(roomId, r.timeline?.events ?? []);
    }
  }

  #applyRoom(roomId: string, r: SyncRoom): void {
    const view = this.room(roomId);
    let seen = this.#seenIds.get(roomId);
    if (seen === undefined) this.#seenIds.set(roomId, (seen = new Set()));
    for (const ev of r.state?.events ?? []) if (ev.state_key !== undefined) view.state.set(`${ev.type}\u0000${ev.state_key}`, { ...ev, room_id: roomId });
    for (const ev of r.timeline?.events ?? []) {
      if (ev.event_id !== undefined) {
        if (seen.has(ev.event_id)) continue;
        seen.add(ev.event_id);
      }
      const e = { ...ev, room_id: roomId };
      view.timeline.push(e);
      if (ev.state_key !== undefined) view.state.set(`${ev.type}\u0000${ev.state_key}`, e);
    }
    for (const ev of r.ephemeral?.events ?? []) view.ephemeral.push({ ...ev, room_id: roomId });
    for (const ev of r.account_data?.events ?? []) view.accountData.set(ev.type, ev.content);
  }
}

/** A client for a user registered with SynapseServer.registerUser (or any {userId, accessToken}). */
export function clientFor(baseUrl: string, user: { userId: string; accessToken: string; deviceId?: string }): MatrixClient {
  return new MatrixClient({ baseUrl, userId: user.userId, accessToken: user.accessToken, ...(user.deviceId === undefined ? {} : { deviceId: user.deviceId }) });
}
