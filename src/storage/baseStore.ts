// What the level and memory stores share: validation, the closed state, error mapping, the
// user-facing lock, and compare-and-set built from a per-key row lock plus an atomic batch.
//
// A backend supplies only primitives on already validated input (get, getMany, has, an atomic
// write of a list of ops, a range scan, close). The PostgreSQL store will not need this class
// for correctness (its transactions give atomicity and row locks between processes), but it can
// reuse common.ts so validation stays identical.
import { MimiError, isMimiError, wrapError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  bytesEqual,
  normalizeNamespaces,
  normalizeRange,
  resolveSync,
  rowLockKey,
  schemaVersionCodec,
  typedNamespace,
  validateKey,
  validateValue,
  type NormalizedRange,
} from "./common.ts";
import { KeyedLock } from "./keyedLock.ts";
import {
  DEFAULT_NAMESPACES,
  META_NAMESPACE,
  SCHEMA_VERSION_KEY,
  type BatchOp,
  type CasResult,
  type Entry,
  type LockOptions,
  type Namespace,
  type RangeOptions,
  type Store,
  type StoreKind,
  type StoreOptions,
  type TypedNamespace,
  type ValueCodec,
  type WriteOptions,
} from "./Store.ts";

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

export abstract class BaseStore implements Store {
  abstract readonly kind: StoreKind;
  readonly namespaces: readonly string[];
  protected readonly log: Logger;
  readonly #known: ReadonlySet<string>;
  readonly #views = new Map<string, Namespace>();
  // Two separate lock tables: withLock callers may hold any key while calling compareAndSet or
  // batch, and those take row locks, so sharing one table could make a caller wait for itself.
  readonly #userLocks = new KeyedLock();
  readonly #rowLocks = new KeyedLock();
  readonly #lockTimeoutMs: number;
  #closed = false;
  #closing: Promise<void> | undefined;

  protected constructor(options: StoreOptions, log: Logger) {
    this.namespaces = normalizeNamespaces(options.namespaces ?? DEFAULT_NAMESPACES);
    this.#known = new Set(this.namespaces);
    this.#lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    if (!(this.#lockTimeoutMs >= 0)) throw new MimiError("MIMI_ERR_INTERNAL", "lockTimeoutMs must be a non-negative number");
    this.log = log;
  }

  // ---- backend primitives (input already validated, store known to be open) ------------------

  protected abstract rawGet(namespace: string, key: string): Promise<Uint8Array | undefined>;
  protected abstract rawGetMany(namespace: string, keys: readonly string[]): Promise<(Uint8Array | undefined)[]>;
  protected abstract rawHas(namespace: string, key: string): Promise<boolean>;
  /** Applies every op or none. */
  protected abstract rawWrite(ops: readonly BatchOp[], sync: boolean): Promise<void>;
  /** Entries of `range`; `value` is undefined when `withValues` is false. */
  protected abstract rawIterate(
    namespace: string,
    range: NormalizedRange,
    withValues: boolean,
  ): AsyncIterableIterator<[string, Uint8Array | undefined]>;
  protected abstract rawClose(): Promise<void>;

  /** Maps a backend error to a MimiError. Subclasses add their library's codes. */
  protected mapError(err: unknown): MimiError {
    if (isMimiError(err)) return err;
    if (this.#closed) return new MimiError("MIMI_ERR_STORAGE_CLOSED", undefined, { cause: err });
    return wrapError("MIMI_ERR_STORAGE_IO", err);
  }

  // ---- Store ----------------------------------------------------------------------------------

  get isOpen(): boolean {
    return !this.#closed;
  }

  namespace(name: string): Namespace {
    const cached = this.#views.get(name);
    if (cached !== undefined) return cached;
    this.#assertNamespace(name);
    const view = this.#makeNamespace(name);
    this.#views.set(name, view);
    return view;
  }

  async batch(ops: readonly BatchOp[], options?: WriteOptions): Promise<void> {
    this.#assertOpen();
    this.#validateOps(ops);
    if (ops.length === 0) return;
    await this.#guard(() => this.#write(ops, resolveSync(options, true)));
  }

  async withLock<T>(keys: string | readonly string[], fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
    this.#assertOpen();
    return this.#userLocks.run(keys, fn, { timeoutMs: options.timeoutMs ?? this.#lockTimeoutMs });
  }

  async compareAndSet(
    namespace: string,
    key: string,
    expected: Uint8Array | undefined,
    next: Uint8Array | undefined,
    extraOps: readonly BatchOp[] = [],
    options?: WriteOptions,
  ): Promise<CasResult> {
    this.#assertOpen();
    this.#assertNamespace(namespace);
    validateKey(key, namespace);
    if (expected !== undefined) validateValue(expected, namespace);
    const own: BatchOp = next === undefined ? { type: "del", namespace, key } : { type: "put", namespace, key, value: next };
    // The CAS write goes first, so an extra op on the same key (unusual) wins, as in a batch.
    const ops = [own, ...extraOps];
    this.#validateOps(ops);
    const sync = resolveSync(options, true);
    return this.#guard(() =>
      this.#rowLocks.run(ops.map(rowLockKey), async (): Promise<CasResult> => {
        this.#assertOpen();
        const current = await this.rawGet(namespace, key);
        if (!bytesEqual(current, expected)) return { ok: false, current };
        await this.rawWrite(ops, sync);
        return { ok: true };
      }),
    );
  }

  async schemaVersion(): Promise<number> {
    const raw = await this.namespace(META_NAMESPACE).typed(schemaVersionCodec).get(SCHEMA_VERSION_KEY);
    return raw ?? 0;
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    // Refuse new operations at once; the backend then finishes or aborts what is in flight.
    this.#closed = true;
    this.#closing = (async () => {
      try {
        await this.rawClose();
        this.log.debug("store closed");
      } catch (err) {
        throw wrapError("MIMI_ERR_STORAGE_IO", err);
      }
    })();
    return this.#closing;
  }

  // ---- helpers --------------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new MimiError("MIMI_ERR_STORAGE_CLOSED");
  }

  #assertNamespace(name: string): void {
    if (!this.#known.has(name)) {
      throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", `unknown namespace ${JSON.stringify(name)}`, {
        details: { namespaces: this.namespaces },
      });
    }
  }

  #validateOps(ops: readonly BatchOp[]): void {
    const untrusted: unknown = ops; // checked without narrowing `ops` to any[]
    if (!Array.isArray(untrusted)) throw new MimiError("MIMI_ERR_INTERNAL", "batch ops must be an array");
    for (const op of ops) {
      this.#assertNamespace(op.namespace);
      validateKey(op.key, op.namespace);
      if (op.type === "put") validateValue(op.value, op.namespace);
      else if ((op as { type: unknown }).type !== "del") {
        throw new MimiError("MIMI_ERR_INTERNAL", "batch op type must be put or del", { details: { namespace: op.namespace } });
      }
    }
  }

  /** Every write takes the row locks of its keys, so compareAndSet's read-then-write is atomic. */
  #write(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    return this.#rowLocks.run(ops.map(rowLockKey), async () => {
      this.#assertOpen();
      await this.rawWrite(ops, sync);
    });
  }

  async #guard<T>(fn: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await fn();
    } catch (err) {
      throw this.mapError(err);
    }
  }

  async *#scan(namespace: string, range: RangeOptions, withValues: boolean): AsyncGenerator<[string, Uint8Array | undefined]> {
    this.#assertOpen();
    const normalized = normalizeRange(range, namespace);
    if (normalized.limit === 0) return;
    try {
      for await (const entry of this.rawIterate(namespace, normalized, withValues)) {
        // A scan that outlives close() ends with CLOSED in every backend, not with whatever
        // the backend's torn-down iterator happens to do.
        this.#assertOpen();
        yield entry;
      }
    } catch (err) {
      throw this.mapError(err);
    }
  }

  #makeNamespace(name: string): Namespace {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the view closes over its store
    const store = this;
    const view: Namespace = {
      name,
      async get(key: string): Promise<Uint8Array | undefined> {
        validateKey(key, name);
        return store.#guard(() => store.rawGet(name, key));
      },
      async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
        for (const key of keys) validateKey(key, name);
        if (keys.length === 0) {
          store.#assertOpen();
          return [];
        }
        return store.#guard(() => store.rawGetMany(name, keys));
      },
      async has(key: string): Promise<boolean> {
        validateKey(key, name);
        return store.#guard(() => store.rawHas(name, key));
      },
      async put(key: string, value: Uint8Array, options?: WriteOptions): Promise<void> {
        const op: BatchOp = { type: "put", namespace: name, key, value };
        store.#validateOps([op]);
        await store.#guard(() => store.#write([op], resolveSync(options, false)));
      },
      async del(key: string, options?: WriteOptions): Promise<void> {
        const op: BatchOp = { type: "del", namespace: name, key };
        store.#validateOps([op]);
        await store.#guard(() => store.#write([op], resolveSync(options, false)));
      },
      async *iterate(range: RangeOptions = {}): AsyncGenerator<Entry> {
        for await (const [key, value] of store.#scan(name, range, true)) yield { key, value: value ?? new Uint8Array(0) };
      },
      async *keys(range: RangeOptions = {}): AsyncGenerator<string> {
        for await (const [key] of store.#scan(name, range, false)) yield key;
      },
      putOp: (key: string, value: Uint8Array): BatchOp => ({ type: "put", namespace: name, key, value }),
      delOp: (key: string): BatchOp => ({ type: "del", namespace: name, key }),
      typed: <T>(codec: ValueCodec<T>): TypedNamespace<T> => typedNamespace(view, codec),
    };
    return view;
  }
}
