// The storage interface owned by the core (DESIGN.md section 6).
//
// One `Store` interface, several implementations: the embedded default on classic-level
// (levelStore.ts), an in-memory one for tests and throw-away runs (memoryStore.ts), and later
// PostgreSQL for scale-out, where several provider processes share one database. Every
// implementation must pass test/unit/storage/storeSuite.ts unchanged, so nothing here may depend on
// LevelDB particulars. The model is deliberately the smallest one all three share: a table
//
//   CREATE TABLE mimi_kv (namespace text, key text COLLATE "C", value bytea,
//                         PRIMARY KEY (namespace, key));
//
// with ordered range scans, atomic multi-row writes and a compare-and-set. Higher layers (room
// log, outbox, inbound dedupe) are built on top; the PostgreSQL store may later give them
// dedicated tables behind the same methods.
import type { Logger } from "../log.ts";

/** Which implementation backs a Store. */
export type StoreKind = "level" | "memory";

/**
 * Keys are non-empty strings of at most MAX_KEY_BYTES UTF-8 bytes, well-formed Unicode (no lone
 * surrogates: they have no UTF-8 form) and without U+0000 (PostgreSQL `text` cannot hold NUL).
 * Keys sort by their UTF-8 bytes, which is Unicode code-point order; PostgreSQL gets the same
 * order from `COLLATE "C"` in a UTF8 database.
 */
export const MAX_KEY_BYTES = 1024;

/** The namespace that holds the schema version and migration history. Always present. */
export const META_NAMESPACE = "meta";

/** The key in META_NAMESPACE that holds the schema version, a JSON number. */
export const SCHEMA_VERSION_KEY = "schemaVersion";

/**
 * The namespaces the core opens by default. Namespaces cost nothing until written (a LevelDB
 * sublevel is a key prefix, a PostgreSQL namespace is a column value), so adding one here is
 * enough to start using it; renaming or removing one needs a migration.
 */
export const DEFAULT_NAMESPACES: readonly string[] = [
  META_NAMESPACE,
  "rooms", // hub and follower room state, keyed by room ID
  "room_log", // per-room ordered events and commits, keyed `<roomId>/<seq>`
  "outbox", // transactional outbox for fanout and adapter sends (DESIGN.md section 6)
  "inbound", // inbound dedupe: Matrix txnId / event_id, /notify body hashes
  "key_packages",
  "consent",
  "identities", // ghost users and bridged identities
  "adapters", // adapter-private state, keyed `<adapter>/<...>`
  "accounts", // local users, token hashes and devices (client API)
  "inbox", // per-user ordered events for native clients, keyed `<user>/<seq>`
  "routes", // KeyPackageRef routing: hub → target provider, provider → local client
  "submissions", // hub: answers to accepted handshakes and messages, for idempotent retries
  "discovery", // profiles and searchability, published and served SII → SSI mappings (issue 4)
  "bridge_clients", // MLS state of the clients the bridge hosts for legacy users, keyed `<user>/<namespace>/…`
];

/** Namespace names: lowercase ASCII, so they are valid sublevel names and SQL-friendly. */
export const NAMESPACE_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

export interface WriteOptions {
  /**
   * Wait until the write is on disk (fsync) before resolving. Use it for every write that backs
   * an acknowledgement (DESIGN.md section 6, "persist before you acknowledge"). An fsync costs
   * about 270 µs against about 2.5 µs for a buffered write, so group the writes of one request
   * into one batch. Defaults: false for put/del, true for batch and compareAndSet. The memory
   * store ignores it; PostgreSQL maps `sync: false` to `SET LOCAL synchronous_commit = off`.
   */
  sync?: boolean;
}

/**
 * A key range. Bounds combine (all must hold); `prefix` selects keys starting with the prefix.
 * Bounds compare by UTF-8 bytes like keys. `limit` caps the number of entries (0 gives none),
 * counted after `reverse` is applied, so `{ reverse: true, limit: 1 }` is the last entry.
 */
export interface RangeOptions {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  prefix?: string;
  limit?: number;
  reverse?: boolean;
}

export interface Entry<V = Uint8Array> {
  key: string;
  value: V;
}

export type BatchOp =
  | { type: "put"; namespace: string; key: string; value: Uint8Array }
  | { type: "del"; namespace: string; key: string };

/**
 * Turns typed values into stored bytes and back. `jsonCodec` is built in; a CBOR codec (cborg,
 * deterministic encoding) can be added the same way without touching the Store.
 */
export interface ValueCodec<T> {
  readonly name: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/** One namespace of a Store: a sorted map from string keys to bytes. */
export interface Namespace {
  readonly name: string;
  /** The value, or undefined if the key is absent. Returned arrays belong to the caller. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Values in the order of `keys`, undefined where absent. One round trip; prefer it to many get(). */
  getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]>;
  has(key: string): Promise<boolean>;
  /** Stores a copy of `value`: later changes to the caller's array do not reach the store. */
  put(key: string, value: Uint8Array, options?: WriteOptions): Promise<void>;
  /** Deleting an absent key is not an error. */
  del(key: string, options?: WriteOptions): Promise<void>;
  /**
   * Entries in key order (or reverse). The scan is lazy; leaving a `for await` loop early
   * releases it. Writes made during a scan may or may not be seen by it.
   */
  iterate(range?: RangeOptions): AsyncIterableIterator<Entry>;
  /** Like iterate() without reading values. */
  keys(range?: RangeOptions): AsyncIterableIterator<string>;
  /** Builds a batch op for this namespace; it is validated when passed to Store.batch(). */
  putOp(key: string, value: Uint8Array): BatchOp;
  delOp(key: string): BatchOp;
  /** A view of this namespace whose values go through `codec`. */
  typed<T>(codec: ValueCodec<T>): TypedNamespace<T>;
}

/** A Namespace whose values are encoded and decoded by a ValueCodec. */
export interface TypedNamespace<T> {
  readonly name: string;
  readonly codec: ValueCodec<T>;
  get(key: string): Promise<T | undefined>;
  getMany(keys: readonly string[]): Promise<(T | undefined)[]>;
  has(key: string): Promise<boolean>;
  put(key: string, value: T, options?: WriteOptions): Promise<void>;
  del(key: string, options?: WriteOptions): Promise<void>;
  iterate(range?: RangeOptions): AsyncIterableIterator<Entry<T>>;
  keys(range?: RangeOptions): AsyncIterableIterator<string>;
  putOp(key: string, value: T): BatchOp;
  delOp(key: string): BatchOp;
  /** The raw bytes a value encodes to, e.g. for `expected` in compareAndSet. */
  encode(value: T): Uint8Array;
}

export interface LockOptions {
  /**
   * Give up waiting after this many milliseconds with MIMI_ERR_STORAGE_LOCK_TIMEOUT. Counts only
   * the wait for the locks, not the time `fn` runs. `Infinity` waits forever. Defaults to the
   * store's `lockTimeoutMs`.
   */
  timeoutMs?: number;
}

export type CasResult = { ok: true } | { ok: false; current: Uint8Array | undefined };

export interface Store {
  readonly kind: StoreKind;
  /** The namespaces this store was opened with, META_NAMESPACE included, sorted. */
  readonly namespaces: readonly string[];
  readonly isOpen: boolean;

  /** One of the namespaces given at open; any other name is MIMI_ERR_STORAGE_INVALID_KEY. */
  namespace(name: string): Namespace;

  /**
   * Applies put/del ops across namespaces all or nothing, in order (a later op on the same key
   * wins). Every op is validated before anything is written. `sync` defaults to true.
   * PostgreSQL: one transaction of INSERT … ON CONFLICT DO UPDATE / DELETE.
   */
  batch(ops: readonly BatchOp[], options?: WriteOptions): Promise<void>;

  /**
   * Runs `fn` while holding an exclusive lock on every key in `keys` (arbitrary strings such as
   * `room:<roomId>`; they are not storage keys). Used so two read-modify-write sequences on the
   * same room never interleave. Waiters are served first come, first served per key; several keys
   * are taken in sorted order, so overlapping key sets cannot deadlock. Not reentrant: calling
   * withLock again for a key already held by the same caller waits for itself until the timeout.
   *
   * The lock lives in this process only. That is enough for the embedded store, which LevelDB
   * already limits to one process. The PostgreSQL store, shared by several processes, will keep
   * the same method for in-process ordering but must rely on compareAndSet (row locks with
   * SELECT … FOR UPDATE, or a unique `(room, epoch)`) for correctness between processes, so code
   * that must be correct under scale-out puts its final write through compareAndSet.
   */
  withLock<T>(keys: string | readonly string[], fn: () => Promise<T>, options?: LockOptions): Promise<T>;

  /**
   * Atomically: if the current value of `key` in `namespace` equals `expected` byte for byte
   * (undefined: the key is absent), write `next` (undefined: delete) and `extraOps`, all in one
   * batch, and return `{ ok: true }`; otherwise write nothing and return the current value. This is
   * what the hub's "one commit per epoch" rests on: of several concurrent callers that read the
   * same `expected`, exactly one wins. Plain put/del/batch on the same keys are ordered against
   * it. `sync` defaults to true. PostgreSQL: SELECT … FOR UPDATE (or INSERT … ON CONFLICT DO
   * NOTHING when `expected` is undefined), compare, write, commit.
   */
  compareAndSet(
    namespace: string,
    key: string,
    expected: Uint8Array | undefined,
    next: Uint8Array | undefined,
    extraOps?: readonly BatchOp[],
    options?: WriteOptions,
  ): Promise<CasResult>;

  /** The schema version recorded in META_NAMESPACE (0 before any migration ran). */
  schemaVersion(): Promise<number>;

  /** Idempotent. Afterwards every operation raises MIMI_ERR_STORAGE_CLOSED. */
  close(): Promise<void>;
}

/**
 * Collects writes that are committed in the same batch as a migration's version bump, so a
 * migration is recorded if and only if its writes are.
 */
export interface MigrationBatch {
  put(namespace: string, key: string, value: Uint8Array): void;
  del(namespace: string, key: string): void;
  readonly ops: readonly BatchOp[];
}

/**
 * One numbered schema migration (src/storage/migrations/NNN-name.ts). `up` reads through `store`
 * and queues its writes in `batch`; the runner commits them together with the new schemaVersion.
 * A migration too large for one batch may write through `store` directly, but must then be safe
 * to run again, since a crash leaves the previous version recorded.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(store: Store, batch: MigrationBatch): Promise<void>;
}

/** What every implementation's open function accepts. */
export interface StoreOptions {
  /** Namespace names (META_NAMESPACE is added). Defaults to DEFAULT_NAMESPACES. */
  namespaces?: readonly string[];
  /** The ordered migrations, versions 1..N. Defaults to the registered list (migrations/index.ts). */
  migrations?: readonly Migration[];
  /** Default wait for withLock, in milliseconds. Defaults to 30 000; Infinity waits forever. */
  lockTimeoutMs?: number;
  logger?: Logger;
}
