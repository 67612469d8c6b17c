// The homeserver → bridge half of the Application Service API (Matrix spec, "Application Service
// API": "Pushing events", "Querying", "Pinging"): our own fastify server, not matrix-appservice's
// listener. matrix-appservice answers 200 before any handler has run and remembers only the last
// txnId in memory (bridge-anchors §4.1), so a crash after the 200 loses events and a replay after
// a restart duplicates them. Here a transaction is written to the store, deduplicated, before its
// 200; workers then hand the stored events to the sink and delete each only after the sink has
// finished with it.
//
// Order: Matrix orders events per room only (spec, "Room Events": a room's DAG; a transaction may
// mix rooms and promises nothing across them), so the queue is split into one lane per room_id
// (ephemeral events without a room_id, e.g. m.presence, share one lane of their own). A lane is
// handed over strictly in seq order, one entry at a time; up to MAX_ACTIVE_LANES lanes run at
// once, round-robin, so a slow room or a failing event (backoff) holds up its own room only.
//
// "Handed over once": an entry leaves its lane in memory the moment the sink has finished with it
// (never handed over again by this process); its q/ key is deleted afterwards by a group commit
// (#flush: every entry finished meanwhile in one AdapterStore.batch, one fsync). stop() flushes.
// A crash between the sink finishing and that flush hands the entry over once more after the
// restart, before the later entries of its room; the sink must tolerate that (the core
// deduplicates submissions by platformEventId). What a crash can never do is lose an entry: the
// delete always follows the sink's success.
//
// Store layout (the adapter's AdapterStore):
//   txn/<txnId>     → { at, fp }   a transaction we answered 200 (fp: fingerprint of its content)
//   evt/<event_id>  → { seq, at }  an event received (queued, handed over, or skipped as stale)
//   q/<seq>         → QueueEntry   queued, not yet known handled (seq: 16 digits, so key order is seq order)
// evt/ and txn/ markers are pruned after `dedupeRetentionMs` (7 days): the homeserver retries a
// transaction until it gets a 2xx, never a week after.
//
// Deduplication is by event_id as well as txnId: a homeserver's transaction counter can reset
// (new registration, database restore, Dendrite sending txnId 1 every time: matrix-appservice-
// discord#852, dendrite#1852), so an old txnId with new content is processed, never refused.
import { createHash, timingSafeEqual } from "node:crypto";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { MimiError, type AdapterStore, type AdapterStoreOp, type Logger } from "../../src/adapter/index.ts";

export interface MatrixEvent {
  readonly event_id: string;
  readonly room_id: string;
  readonly sender: string;
  readonly type: string;
  readonly state_key?: string;
  readonly content: Record<string, unknown>;
  readonly origin_server_ts: number;
  readonly unsigned?: Record<string, unknown>;
  readonly redacts?: string;
}

export interface MatrixEphemeral {
  readonly type: string;
  readonly room_id?: string;
  readonly content: Record<string, unknown>;
}

export interface TransactionSink {
  /**
   * Each event once (deduplicated by event_id across transactions and restarts; after a crash an
   * event already handled may come again, see the file comment), in order within its room; events
   * of different rooms concurrently. Throwing leaves the event queued: it is retried later (with
   * backoff) and its room waits meanwhile, other rooms do not.
   */
  onEvent(event: MatrixEvent): Promise<void>;
  onEphemeral(event: MatrixEphemeral): Promise<void>;
  /** GET /_matrix/app/v1/users/{userId}: create the ghost if valid; false → 404. */
  onUserQuery(userId: string): Promise<boolean>;
}

export interface TransactionServerOptions {
  /** The registration's hs_token: what the homeserver presents. Never logged. */
  hsToken: string;
  host: string;
  /** 0 picks a free port (see start()'s result). */
  port: number;
  store: AdapterStore;
  log: Logger;
  sink: TransactionSink;
  /** Larger request bodies get 413 M_TOO_LARGE without being read to the end. */
  maxTransactionBytes: number;
  /** Users the homeserver may ask about (GET /users): others get 404 without asking the sink. */
  userNamespace: RegExp;
  /** 0/absent: off. Non-state events older than this when first received are skipped (marked seen, not queued). */
  staleEventMaxAgeMs?: number;
  /** Hand-over attempts per queued entry before it is dropped as poison (default 8), and the backoff. */
  retry?: { attempts?: number; initialDelayMs?: number; maxDelayMs?: number };
  /** How long evt/ and txn/ markers are kept (default 7 days). */
  dedupeRetentionMs?: number;
  /** Clock (tests). */
  now?: () => number;
  /** Called after the sink finished with an entry (metrics): its kind, Matrix type, and ms since the transaction was received. */
  onHandled?: (kind: "event" | "ephemeral", type: string, latencyMs: number) => void;
}

/** Counters since start() (for metrics and tests). */
export interface TransactionStats {
  transactions: number;
  replayedTransactions: number;
  reusedTxnIds: number;
  eventsQueued: number;
  ephemeralQueued: number;
  duplicateEvents: number;
  malformedEvents: number;
  staleEvents: number;
  delivered: number;
  failedAttempts: number;
  poisonedEntries: number;
  authFailures: number;
  rejectedTransactions: number;
  /** Entries stored and not yet handled (including those being handed over and those waiting for a retry). */
  queueDepth: number;
  /** Lanes (rooms) being handed over right now (at most MAX_ACTIVE_LANES). */
  inFlight: number;
  /** Lanes (rooms) waiting for a retry after their first entry failed. */
  retryingRooms: number;
}

/** `receivedAt`: when the transaction was stored (absent in entries stored by older versions). */
type QueueEntry =
  | { readonly seq: number; readonly kind: "event"; readonly event: MatrixEvent; readonly attempts?: number; readonly receivedAt?: number }
  | { readonly seq: number; readonly kind: "ephemeral"; readonly event: MatrixEphemeral; readonly attempts?: number; readonly receivedAt?: number };

/** One room's entries, in seq order. `running`: a worker is handing them over; `retry`: waiting for a retry. */
interface Lane {
  readonly key: string;
  entries: QueueEntry[];
  running: boolean;
  retry: NodeJS.Timeout | undefined;
}

interface EventMarker {
  readonly seq: number;
  readonly at: number;
}
interface TxnMarker {
  readonly at: number;
  readonly fp: string;
}

export const TRANSACTION_PATH_PREFIX = "/_matrix/app/v1";
const DAY_MS = 24 * 3600 * 1000;
const PRUNE_EVERY_MS = 6 * 3600 * 1000;
/** Spec, "Event IDs" / "Room IDs" / "User Identifiers": at most 255 bytes. */
const MAX_ID_BYTES = 255;
const SEQ_DIGITS = 16;
/**
 * Lanes (rooms) handed over at once. Handing an event over is I/O-bound (the core's synced writes,
 * the hub, calls to the homeserver), so a few rooms in flight hide each other's waits; more would
 * only queue in the core's store locks on a small machine. The bound also keeps a burst across
 * thousands of rooms from opening thousands of concurrent core submissions.
 */
export const MAX_ACTIVE_LANES = 8;
/** Deletes of handled entries per store batch (the rest go into the next one). */
const DELETE_BATCH_MAX = 256;
/** The lane of ephemeral events without a room_id (room IDs start with "!", so it collides with none). */
const NO_ROOM_LANE = "";

const laneOf = (entry: QueueEntry): string => entry.event.room_id ?? NO_ROOM_LANE;

const seqKey = (seq: number): string => `q/${String(seq).padStart(SEQ_DIGITS, "0")}`;
/** Storage keys hold at most 1024 bytes: encode IDs, hash the (homeserver-chosen, unbounded) long ones. */
const idKey = (prefix: string, id: string): string => {
  const enc = encodeURIComponent(id);
  return enc.length <= 700 ? `${prefix}${enc}` : `${prefix}~${createHash("sha256").update(id).digest("hex")}`;
};
const evtKey = (eventId: string): string => idKey("evt/", eventId);
const txnKey = (txnId: string): string => idKey("txn/", txnId);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Deeper JSON than this is refused per event: the store's CBOR encoder recurses, and a value it
 * cannot encode would fail the whole transaction with a 500 the homeserver retries forever.
 * Real events nest a few levels (Synapse's own JSON handling stops near 1000).
 */
export const MAX_EVENT_DEPTH = 64;

function tooDeep(root: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[root, 0]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, d] = item;
    if (typeof v !== "object" || v === null) continue;
    if (d >= max) return true;
    for (const child of Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

function isId(v: unknown, sigil: string): v is string {
  return typeof v === "string" && v.length > 1 && v.startsWith(sigil) && v.isWellFormed() && !v.includes("\u0000") && Buffer.byteLength(v) <= MAX_ID_BYTES;
}

/** A pushed event as we keep it, or why it is unusable (spec, "Room Events": required keys). */
export function toMatrixEvent(raw: unknown): MatrixEvent | string {
  if (!isRecord(raw)) return "not an object";
  const { event_id, room_id, sender, type, state_key, content, origin_server_ts, unsigned, redacts } = raw;
  if (!isId(event_id, "$")) return "bad or missing event_id";
  if (!isId(room_id, "!")) return "bad or missing room_id";
  if (!isId(sender, "@")) return "bad or missing sender";
  if (typeof type !== "string" || type === "" || Buffer.byteLength(type) > MAX_ID_BYTES) return "bad or missing type";
  if (!isRecord(content)) return "content is not an object";
  if (typeof origin_server_ts !== "number" || !Number.isFinite(origin_server_ts)) return "bad or missing origin_server_ts";
  if (state_key !== undefined && typeof state_key !== "string") return "state_key is not a string";
  if (unsigned !== undefined && !isRecord(unsigned)) return "unsigned is not an object";
  if (redacts !== undefined && typeof redacts !== "string") return "redacts is not a string";
  if (tooDeep(content, MAX_EVENT_DEPTH) || (unsigned !== undefined && tooDeep(unsigned, MAX_EVENT_DEPTH))) return "nests too deeply";
  return {
    event_id,
    room_id,
    sender,
    type,
    ...(state_key === undefined ? {} : { state_key }),
    content,
    origin_server_ts,
    ...(unsigned === undefined ? {} : { unsigned }),
    ...(redacts === undefined ? {} : { redacts }),
  };
}

function toEphemeral(raw: unknown): MatrixEphemeral | undefined {
  if (!isRecord(raw)) return undefined;
  const { type, room_id, content } = raw;
  if (typeof type !== "string" || type === "" || !isRecord(content) || tooDeep(content, MAX_EVENT_DEPTH)) return undefined;
  if (room_id !== undefined && !isId(room_id, "!")) return undefined;
  return { type, ...(room_id === undefined ? {} : { room_id }), content };
}

/** JSON with sorted keys, so equal content gives equal fingerprints. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (isRecord(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v) ?? "null";
}

const sha256 = (s: string | Buffer): Buffer => createHash("sha256").update(s).digest();

class MatrixHttpError extends Error {
  readonly status: number;
  readonly errcode: string;
  constructor(status: number, errcode: string, message: string) {
    super(message);
    this.status = status;
    this.errcode = errcode;
  }
}

export class TransactionServer {
  readonly #o: TransactionServerOptions;
  readonly #log: Logger;
  readonly #tokenHash: Buffer;
  readonly #now: () => number;
  readonly #attempts: number;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #retentionMs: number;
  /** Lanes with entries stored and not yet handled (a lane is dropped when it runs empty). */
  readonly #lanes = new Map<string, Lane>();
  /** Lanes with entries, neither running nor waiting for a retry, in the order they became ready (round-robin). */
  readonly #ready: Lane[] = [];
  /** Entries in all lanes. */
  #depth = 0;
  /** The workers running, one per active lane. */
  readonly #workers = new Set<Promise<void>>();
  /** q/ keys of entries handled and not yet deleted (the next group commit). */
  #doneKeys: string[] = [];
  #flushing: Promise<void> | undefined;
  #nextSeq = 0;
  #app: FastifyInstance | undefined;
  #started = false;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];
  #pruneTimer: NodeJS.Timeout | undefined;
  /** Transactions are handled one at a time (dedupe reads and the write must not interleave). */
  #serial: Promise<unknown> = Promise.resolve();
  readonly #stats: Omit<TransactionStats, "queueDepth" | "inFlight" | "retryingRooms"> = {
    transactions: 0,
    replayedTransactions: 0,
    reusedTxnIds: 0,
    eventsQueued: 0,
    ephemeralQueued: 0,
    duplicateEvents: 0,
    malformedEvents: 0,
    staleEvents: 0,
    delivered: 0,
    failedAttempts: 0,
    poisonedEntries: 0,
    authFailures: 0,
    rejectedTransactions: 0,
  };

  constructor(o: TransactionServerOptions) {
    if (o.hsToken.length === 0) throw new MimiError("MIMI_ERR_MATRIX_REGISTRATION_INVALID", "TransactionServer needs the registration's hs_token");
    this.#o = o;
    this.#log = o.log.child({ component: "matrix-transactions" });
    this.#tokenHash = sha256(o.hsToken);
    this.#now = o.now ?? Date.now;
    this.#attempts = Math.max(1, o.retry?.attempts ?? 8);
    this.#initialDelayMs = Math.max(0, o.retry?.initialDelayMs ?? 200);
    this.#maxDelayMs = Math.max(this.#initialDelayMs, o.retry?.maxDelayMs ?? 30_000);
    this.#retentionMs = o.dedupeRetentionMs ?? 7 * DAY_MS;
  }

  stats(): TransactionStats {
    let retryingRooms = 0;
    for (const lane of this.#lanes.values()) if (lane.retry !== undefined) retryingRooms++;
    return { ...this.#stats, queueDepth: this.#depth, inFlight: this.#workers.size, retryingRooms };
  }

  /**
   * Loads the stored queue (what a crash left behind: handed to the sink again, in order within
   * each room), starts listening and starts the workers.
   */
  async start(): Promise<{ url: string; port: number }> {
    if (this.#started) throw new MimiError("MIMI_ERR_INTERNAL", "TransactionServer.start() called twice");
    this.#started = true;
    const stored = (await this.#o.store.list<QueueEntry>("q/")).map((e) => e.value).sort((a, b) => a.seq - b.seq);
    // Lanes are filled in seq order, so each room's entries keep the order they were received in.
    for (const entry of stored) this.#enqueue(entry);
    this.#nextSeq = (stored.at(-1)?.seq ?? -1) + 1;
    if (stored.length > 0) this.#log.info({ queued: stored.length, rooms: this.#lanes.size }, "resuming Matrix events stored before the last stop");
    const app = this.#buildApp();
    this.#app = app;
    let address: string;
    try {
      address = await app.listen({ host: this.#o.host, port: this.#o.port });
    } catch (err) {
      this.#app = undefined;
      throw new MimiError("MIMI_ERR_MATRIX_LISTEN_FAILED", `cannot listen on ${this.#o.host}:${this.#o.port} (${(err as NodeJS.ErrnoException).code ?? "error"})`, { cause: err });
    }
    const port = (() => {
      const a = app.server.address();
      return typeof a === "object" && a !== null ? a.port : this.#o.port;
    })();
    const host = this.#o.host.includes(":") ? `[${this.#o.host}]` : this.#o.host;
    this.#log.info({ address }, "Matrix transaction endpoint listening");
    void this.#prune();
    this.#pruneTimer = setInterval(() => void this.#prune(), PRUNE_EVERY_MS);
    this.#pruneTimer.unref();
    this.#pump();
    return { url: `http://${host}:${port}`, port };
  }

  /**
   * Stops listening, waits for the events being handed over and deletes the handled ones (so a
   * clean stop never hands anything over twice); the rest stays stored.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    for (const lane of this.#lanes.values()) {
      if (lane.retry !== undefined) clearTimeout(lane.retry);
      lane.retry = undefined;
    }
    this.#ready.length = 0;
    await this.#app?.close();
    while (this.#workers.size > 0) await Promise.all([...this.#workers]);
    while (this.#flushing !== undefined) await this.#flushing;
    // Nothing more will be handed over by this instance.
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** Resolves when every stored event has been handed to the sink and deleted from the queue (tests); or at stop(). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #isIdle(): boolean {
    return this.#depth === 0 && this.#workers.size === 0 && this.#flushing === undefined && this.#doneKeys.length === 0;
  }

  // ---- HTTP ------------------------------------------------------------------------------------------

  #buildApp(): FastifyInstance {
    const app = Fastify({
      logger: false,
      bodyLimit: this.#o.maxTransactionBytes,
      // Transaction IDs and user IDs are path parameters (255-byte user IDs, percent-encoded).
      routerOptions: { maxParamLength: 2048 },
      return503OnClosing: true,
      forceCloseConnections: true,
    });
    // The body is parsed here (not by fastify's JSON parser) so a malformed one gets a Matrix error.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser("*", { parseAs: "buffer", bodyLimit: this.#o.maxTransactionBytes }, (_req, body, done) => done(null, body));

    app.setErrorHandler((err: FastifyError | MatrixHttpError, req, reply) => {
      if (err instanceof MatrixHttpError) return this.#fail(reply, err.status, err.errcode, err.message);
      if (err.code === "FST_ERR_CTP_BODY_TOO_LARGE" || err.statusCode === 413) {
        this.#stats.rejectedTransactions++;
        this.#log.warn({ path: pathOf(req), limit: this.#o.maxTransactionBytes }, "request body over the limit refused");
        return this.#fail(reply, 413, "M_TOO_LARGE", `request body is larger than ${this.#o.maxTransactionBytes} bytes`);
      }
      if (typeof err.statusCode === "number" && err.statusCode >= 400 && err.statusCode < 500) {
        return this.#fail(reply, 400, "M_NOT_JSON", "the request body could not be read");
      }
      this.#log.error({ err, path: pathOf(req) }, "Matrix transaction endpoint failed");
      return this.#fail(reply, 500, "M_UNKNOWN", "internal error; retry later");
    });
    app.setNotFoundHandler((_req, reply) => this.#fail(reply, 404, "M_UNRECOGNIZED", "Unrecognized request"));

    const auth = { onRequest: (req: FastifyRequest, reply: FastifyReply, done: () => void) => this.#auth(req, reply, done) };
    const param = (req: FastifyRequest, name: string): string => (req.params as Record<string, string>)[name] ?? "";
    const putTxn = (req: FastifyRequest) => this.#onTransaction(param(req, "txnId"), req.body);
    const getUser = (req: FastifyRequest, reply: FastifyReply) => this.#onUserQuery(param(req, "userId"), reply);
    const getRoom = (_req: FastifyRequest, reply: FastifyReply) => this.#fail(reply, 404, "M_NOT_FOUND", "this bridge creates no rooms on alias queries");
    // Spec v1.1+ paths; the unprefixed legacy paths (pre-r0 homeservers) get the same handlers
    // rather than matrix-appservice's 308, which not every homeserver HTTP client follows.
    for (const prefix of [TRANSACTION_PATH_PREFIX, ""]) {
      app.put(`${prefix}/transactions/:txnId`, auth, putTxn);
      app.get(`${prefix}/users/:userId`, auth, getUser);
      app.get(`${prefix}/rooms/:alias`, auth, getRoom);
    }
    // Spec v1.7 "Pinging": the homeserver checks that we are up and hold its token.
    app.post(`${TRANSACTION_PATH_PREFIX}/ping`, auth, () => ({}));
    return app;
  }

  #fail(reply: FastifyReply, status: number, errcode: string, error: string): FastifyReply {
    return reply.code(status).header("content-type", "application/json").send({ errcode, error });
  }

  /**
   * Spec, "Authorization" (v1.4+): the homeserver sends `Authorization: Bearer <hs_token>`
   * (older ones `?access_token=`). Missing: 401 M_UNAUTHORIZED; wrong: 403 M_FORBIDDEN. Compared
   * in constant time (hashes of equal length), before the body is read.
   */
  #auth(req: FastifyRequest, reply: FastifyReply, done: () => void): void {
    const header = req.headers.authorization;
    let token: string | undefined;
    if (typeof header === "string") {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      token = m?.[1] ?? "";
    } else {
      const q = (req.query as Record<string, unknown> | undefined)?.["access_token"];
      if (typeof q === "string") token = q;
    }
    if (token === undefined) {
      this.#stats.authFailures++;
      this.#log.warn({ path: pathOf(req), ip: req.ip }, "Matrix request without hs_token refused");
      void this.#fail(reply, 401, "M_UNAUTHORIZED", "missing hs_token");
      return;
    }
    if (!timingSafeEqual(sha256(token), this.#tokenHash)) {
      this.#stats.authFailures++;
      this.#log.warn({ path: pathOf(req), ip: req.ip }, "Matrix request with a wrong hs_token refused");
      void this.#fail(reply, 403, "M_FORBIDDEN", "bad hs_token");
      return;
    }
    done();
  }

  async #onUserQuery(userId: string, reply: FastifyReply): Promise<FastifyReply> {
    if (!this.#o.userNamespace.test(userId)) return this.#fail(reply, 404, "M_NOT_FOUND", "not a user of this bridge");
    let ok: boolean;
    try {
      ok = await this.#o.sink.onUserQuery(userId);
    } catch (err) {
      this.#log.error({ err, userId }, "user query failed");
      return this.#fail(reply, 500, "M_UNKNOWN", "user query failed; retry later");
    }
    return ok ? reply.code(200).send({}) : this.#fail(reply, 404, "M_NOT_FOUND", "no such MIMI user");
  }

  // ---- transactions ----------------------------------------------------------------------------------

  /** Spec, "Pushing events": PUT /transactions/{txnId}. Resolves only after the store write. */
  async #onTransaction(txnId: string, body: unknown): Promise<Record<string, never>> {
    if (!Buffer.isBuffer(body) || body.length === 0) {
      this.#stats.rejectedTransactions++;
      throw new MatrixHttpError(400, "M_NOT_JSON", "the body must be a JSON object");
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString("utf8"));
    } catch {
      this.#stats.rejectedTransactions++;
      this.#log.warn({ txnId }, "Matrix transaction that is not JSON refused");
      throw new MatrixHttpError(400, "M_NOT_JSON", "the body is not JSON");
    }
    if (!isRecord(parsed) || !Array.isArray(parsed["events"])) {
      this.#stats.rejectedTransactions++;
      this.#log.warn({ txnId }, "Matrix transaction without an events array refused");
      throw new MatrixHttpError(400, "M_BAD_JSON", "the body must be an object with an events array");
    }
    const rawEvents = parsed["events"] as unknown[];
    // MSC2409: stable `ephemeral`, unstable `de.sorunome.msc2409.ephemeral` (Synapse sends one of them).
    const rawEphemeral = [parsed["ephemeral"], parsed["de.sorunome.msc2409.ephemeral"]].find(Array.isArray) as unknown[] | undefined;
    const run = this.#serial.then(() => this.#store(txnId, rawEvents, rawEphemeral ?? []));
    this.#serial = run.catch(() => undefined);
    await run;
    return {};
  }

  async #store(txnId: string, rawEvents: readonly unknown[], rawEphemeral: readonly unknown[]): Promise<void> {
    const store = this.#o.store;
    const events: MatrixEvent[] = [];
    for (const raw of rawEvents) {
      const ev = toMatrixEvent(raw);
      if (typeof ev === "string") {
        this.#stats.malformedEvents++;
        const id = isRecord(raw) && typeof raw["event_id"] === "string" ? raw["event_id"].slice(0, MAX_ID_BYTES) : undefined;
        this.#log.warn({ txnId, eventId: id, reason: ev }, "malformed Matrix event dropped");
      } else events.push(ev);
    }
    const ephemeral: MatrixEphemeral[] = [];
    for (const raw of rawEphemeral) {
      const e = toEphemeral(raw);
      if (e === undefined) {
        this.#stats.malformedEvents++;
        this.#log.warn({ txnId }, "malformed Matrix ephemeral event dropped");
      } else ephemeral.push(e);
    }
    // What a replay of this transaction carries (`unsigned.age` differs between retries, so only IDs and EDUs).
    const fp = sha256(stableJson([events.map((e) => e.event_id), ephemeral])).toString("hex");
    const tKey = txnKey(txnId);
    const known = await store.get<TxnMarker>(tKey);
    if (known !== undefined) {
      if (known.fp === fp) {
        this.#stats.replayedTransactions++;
        this.#log.debug({ txnId }, "replayed Matrix transaction acknowledged again");
        return;
      }
      // Same ID, other content: the homeserver's counter was reset. Process it (events are deduplicated by event_id).
      this.#stats.reusedTxnIds++;
      this.#log.warn({ txnId }, "Matrix transaction ID reused with other content (homeserver transaction counter reset?); processing it");
    }
    const now = this.#now();
    const maxAge = this.#o.staleEventMaxAgeMs ?? 0;
    const entries: QueueEntry[] = [];
    const markers: AdapterStoreOp[] = [];
    const seen = new Set<string>();
    let seq = this.#nextSeq;
    for (const event of events) {
      if (seen.has(event.event_id) || (await store.get<EventMarker>(evtKey(event.event_id))) !== undefined) {
        this.#stats.duplicateEvents++;
        continue;
      }
      seen.add(event.event_id);
      // State events always count (membership, power levels): skipping one would leave the room
      // state wrong; only messages are skipped for age.
      if (maxAge > 0 && event.state_key === undefined && now - event.origin_server_ts > maxAge) {
        this.#stats.staleEvents++;
        this.#log.info({ eventId: event.event_id, roomId: event.room_id, ageMs: now - event.origin_server_ts }, "stale Matrix event skipped");
        markers.push({ type: "put", key: evtKey(event.event_id), value: { seq: -1, at: now } satisfies EventMarker });
        continue;
      }
      const entry: QueueEntry = { seq: seq++, kind: "event", event, receivedAt: now };
      entries.push(entry);
      markers.push({ type: "put", key: evtKey(event.event_id), value: { seq: entry.seq, at: now } satisfies EventMarker });
    }
    for (const event of ephemeral) entries.push({ seq: seq++, kind: "ephemeral", event, receivedAt: now });
    const ops: AdapterStoreOp[] = [
      ...entries.map((e): AdapterStoreOp => ({ type: "put", key: seqKey(e.seq), value: e })),
      ...markers,
      // Last, so that without an atomic batch a crash before it makes the homeserver retry.
      { type: "put", key: tKey, value: { at: now, fp } satisfies TxnMarker },
    ];
    if (store.batch) {
      await store.batch(ops);
    } else {
      // Without a batch: queue entries, then markers, then the txn. A crash in between leaves queue
      // entries without markers; the retry queues them again and the worker skips the entry whose
      // marker names another seq (see #deliver).
      for (const op of ops) await (op.type === "put" ? store.put(op.key, op.value) : store.del(op.key));
    }
    this.#nextSeq = seq;
    this.#stats.transactions++;
    for (const e of entries) {
      if (e.kind === "event") this.#stats.eventsQueued++;
      else this.#stats.ephemeralQueued++;
    }
    for (const e of entries) this.#enqueue(e);
    this.#pump();
  }

  // ---- the workers -----------------------------------------------------------------------------------

  #enqueue(entry: QueueEntry): void {
    const key = laneOf(entry);
    let lane = this.#lanes.get(key);
    if (lane === undefined) {
      lane = { key, entries: [], running: false, retry: undefined };
      this.#lanes.set(key, lane);
    }
    lane.entries.push(entry);
    this.#depth++;
    if (!lane.running && lane.retry === undefined && lane.entries.length === 1) this.#ready.push(lane);
  }

  /** Starts a worker for each ready lane while fewer than MAX_ACTIVE_LANES run. */
  #pump(): void {
    while (this.#started && !this.#stopped && this.#workers.size < MAX_ACTIVE_LANES) {
      const lane = this.#ready.shift();
      if (lane === undefined) break;
      lane.running = true;
      const worker: Promise<void> = this.#work(lane).finally(() => {
        this.#workers.delete(worker);
        lane.running = false;
        this.#settle(lane);
        this.#pump();
        this.#wakeIdle();
      });
      this.#workers.add(worker);
    }
  }

  /** A lane a worker left: ready again, waiting for its retry, or dropped when empty. */
  #settle(lane: Lane): void {
    if (lane.retry !== undefined) return;
    if (lane.entries.length === 0) {
      this.#lanes.delete(lane.key);
      return;
    }
    if (!this.#stopped) this.#ready.push(lane);
  }

  /**
   * Hands the lane's entries over in order until it is empty, its first entry failed (the lane
   * then waits for the retry and the slot goes to another room), or other lanes are waiting for a
   * slot (round-robin: this one goes to the back of the line after each entry).
   */
  async #work(lane: Lane): Promise<void> {
    while (!this.#stopped) {
      const entry = lane.entries[0];
      if (entry === undefined) return;
      const outcome = await this.#deliver(entry);
      if (outcome === "done") {
        lane.entries.shift();
        this.#depth--;
        if (this.#ready.length > 0) return;
        continue;
      }
      if (outcome === "stopped" || this.#stopped) return;
      lane.entries[0] = outcome.entry;
      const timer = setTimeout(() => {
        lane.retry = undefined;
        if (this.#stopped) return;
        this.#ready.push(lane);
        this.#pump();
      }, outcome.retryInMs);
      lane.retry = timer;
      return;
    }
  }

  /**
   * One attempt at handing an entry over. "done" when it is finished with (handed over, dropped as
   * poison, or a duplicate): its delete is then queued for the next group commit. Otherwise the
   * entry to keep (with its attempt count) and when to try again.
   */
  async #deliver(entry: QueueEntry): Promise<"done" | "stopped" | { entry: QueueEntry; retryInMs: number }> {
    const store = this.#o.store;
    if (entry.kind === "event" && !store.batch) {
      // Without atomic batches the same event may be queued twice (see #store): the marker names the entry that owns it.
      try {
        const marker = await store.get<EventMarker>(evtKey(entry.event.event_id));
        if (marker !== undefined && marker.seq !== entry.seq) {
          this.#stats.duplicateEvents++;
          this.#done(entry);
          return "done";
        }
        if (marker === undefined) await store.put(evtKey(entry.event.event_id), { seq: entry.seq, at: this.#now() } satisfies EventMarker);
      } catch (err) {
        // The store failed (not the sink): keep the entry and try again later, unless stop() ran
        // meanwhile (it already cleared the retry timers; a new one would outlive it).
        if (this.#stopped) return "stopped";
        this.#log.warn({ err, seq: entry.seq }, "Matrix event queue: store error; retrying");
        return { entry, retryInMs: this.#maxDelayMs };
      }
    }
    try {
      if (entry.kind === "event") await this.#o.sink.onEvent(entry.event);
      else await this.#o.sink.onEphemeral(entry.event);
    } catch (err) {
      // A failure the core marks retryable (the hub unreachable, storage busy: SubmitResult
      // .retryable) is waited out at the longest backoff and never makes the event poison:
      // dropping it would lose a message to an outage.
      const retryable = err instanceof MimiError && err.details?.["retryable"] === true;
      const attempts = retryable ? Math.min(entry.attempts ?? 0, this.#attempts - 2) + 1 : (entry.attempts ?? 0) + 1;
      this.#stats.failedAttempts++;
      const where = entry.kind === "event" ? { eventId: entry.event.event_id, roomId: entry.event.room_id, type: entry.event.type } : { type: entry.event.type, roomId: entry.event.room_id };
      if (attempts >= this.#attempts) {
        // A poison event must not block its room forever.
        this.#stats.poisonedEntries++;
        this.#log.error({ err, ...where, attempts }, "Matrix event dropped after repeated failures");
        this.#done(entry);
        return "done";
      }
      this.#log.warn({ err, ...where, attempts }, "handling a Matrix event failed; retrying");
      const kept: QueueEntry = { ...entry, attempts };
      // Kept with the entry, so a crash loop still ends in the drop above.
      await store.put(seqKey(entry.seq), kept).catch((e: unknown) => this.#log.warn({ err: e }, "cannot record the attempt count"));
      if (this.#stopped) return "stopped";
      return { entry: kept, retryInMs: Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** (attempts - 1)) };
    }
    this.#stats.delivered++;
    if (entry.receivedAt !== undefined) this.#o.onHandled?.(entry.kind, entry.event.type, Math.max(0, this.#now() - entry.receivedAt));
    this.#done(entry);
    return "done";
  }

  /**
   * Queues the delete of a finished entry's q/ key. Group commit: the first delete starts a
   * flush right away; entries finished while it writes go into the next batch together, so under
   * load many deletes share one synced write, and no worker waits for it (a crash before it only
   * hands the entry over again, see the file comment).
   */
  #done(entry: QueueEntry): void {
    this.#doneKeys.push(seqKey(entry.seq));
    this.#commit();
  }

  #commit(): void {
    if (this.#flushing !== undefined || this.#doneKeys.length === 0) return;
    this.#flushing = this.#flush().finally(() => {
      this.#flushing = undefined;
      // Keys queued after #flush's loop ended but before this callback ran.
      this.#commit();
      this.#wakeIdle();
    });
  }

  async #flush(): Promise<void> {
    const store = this.#o.store;
    while (this.#doneKeys.length > 0) {
      const keys = this.#doneKeys.splice(0, DELETE_BATCH_MAX);
      try {
        if (store.batch) await store.batch(keys.map((key): AdapterStoreOp => ({ type: "del", key })));
        else for (const key of keys) await store.del(key);
      } catch (err) {
        // These entries would be handed over again after a restart; the sink's own dedupe (the
        // core keys submissions by event ID) absorbs that.
        this.#log.warn({ err, entries: keys.length }, "cannot delete handled Matrix queue entries");
      }
    }
  }

  #wakeIdle(): void {
    if (this.#isIdle()) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** Deletes evt/ and txn/ markers older than the retention (never those of queued entries). */
  async #prune(): Promise<void> {
    try {
      const store = this.#o.store;
      const cutoff = this.#now() - this.#retentionMs;
      const queued = new Set<number>();
      for (const lane of this.#lanes.values()) for (const e of lane.entries) queued.add(e.seq);
      const old: string[] = [];
      for (const { key, value } of await store.list<EventMarker>("evt/")) if (value.at < cutoff && !queued.has(value.seq)) old.push(key);
      for (const { key, value } of await store.list<TxnMarker>("txn/")) if (value.at < cutoff) old.push(key);
      for (let i = 0; i < old.length; i += 500) {
        const chunk = old.slice(i, i + 500);
        if (store.batch) await store.batch(chunk.map((key): AdapterStoreOp => ({ type: "del", key })));
        else for (const key of chunk) await store.del(key);
      }
      if (old.length > 0) this.#log.info({ pruned: old.length }, "old Matrix dedupe markers pruned");
    } catch (err) {
      this.#log.warn({ err }, "pruning Matrix dedupe markers failed");
    }
  }
}

/** The request path without its query (which may hold ?access_token=). */
function pathOf(req: FastifyRequest): string {
  const i = req.url.indexOf("?");
  return i < 0 ? req.url : req.url.slice(0, i);
}
