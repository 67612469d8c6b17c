// An in-memory Store for tests and throw-away runs. Nothing survives the process.
//
// It behaves like the level store wherever the Store contract says something: the same key
// rules and order (code-point order = UTF-8 byte order), copies of values in and out, atomic
// batches, migrations, and an exclusive "data folder": a MemoryDatabase can be opened by one
// store at a time (MIMI_ERR_STORAGE_LOCKED otherwise) and reopened after close, which lets tests
// exercise restarts without touching the disk.
import { MimiError } from "../errors.ts";
import { silentLogger } from "../log.ts";
import { BaseStore } from "./baseStore.ts";
import { compareKeys, type NormalizedRange } from "./common.ts";
import { runMigrations } from "./migrate.ts";
import { MIGRATIONS } from "./migrations/index.ts";
import type { BatchOp, StoreOptions } from "./Store.ts";

interface Table {
  /** Sorted by compareKeys. */
  keys: string[];
  values: Map<string, Uint8Array>;
}

/** First index in [0, n) where `pred` turns true (pred must be false…false true…true). */
function searchFirst(n: number, pred: (i: number) => boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pred(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function asyncIterator<T>(items: readonly T[]): AsyncIterableIterator<T> {
  const inner = items[Symbol.iterator]();
  const iterator: AsyncIterableIterator<T> = {
    next: () => Promise.resolve(inner.next()),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

/** The data behind one or more successive memory stores: the in-memory "data folder". */
export class MemoryDatabase {
  readonly #tables = new Map<string, Table>();
  #holder: MemoryStore | undefined;

  /** @internal Used by MemoryStore to emulate LevelDB's exclusive LOCK file. */
  claim(store: MemoryStore): void {
    if (this.#holder !== undefined) {
      throw new MimiError("MIMI_ERR_STORAGE_LOCKED", "the memory database is in use by another open store");
    }
    this.#holder = store;
  }

  /** @internal */
  releaseClaim(store: MemoryStore): void {
    if (this.#holder === store) this.#holder = undefined;
  }

  /** @internal */
  table(namespace: string): Table {
    let table = this.#tables.get(namespace);
    if (table === undefined) {
      table = { keys: [], values: new Map() };
      this.#tables.set(namespace, table);
    }
    return table;
  }
}

export interface MemoryStoreOptions extends StoreOptions {
  /** Reopen existing data; a fresh database is used when omitted. */
  database?: MemoryDatabase;
}

export class MemoryStore extends BaseStore {
  readonly kind = "memory" as const;
  readonly #db: MemoryDatabase;

  private constructor(db: MemoryDatabase, options: MemoryStoreOptions) {
    super(options, (options.logger ?? silentLogger()).child({ component: "storage", store: "memory" }));
    this.#db = db;
  }

  static async open(options: MemoryStoreOptions = {}): Promise<MemoryStore> {
    const db = options.database ?? new MemoryDatabase();
    const store = new MemoryStore(db, options);
    db.claim(store);
    try {
      const { from, to } = await runMigrations(store, options.migrations ?? MIGRATIONS, store.log);
      store.log.info({ schemaVersion: to, migratedFrom: from }, "memory store open");
    } catch (err) {
      await store.close();
      throw err;
    }
    return store;
  }

  protected rawGet(namespace: string, key: string): Promise<Uint8Array | undefined> {
    const value = this.#db.table(namespace).values.get(key);
    // Hand out copies, as LevelDB does, so a caller's edit cannot change the stored value.
    return Promise.resolve(value === undefined ? undefined : value.slice());
  }

  protected rawGetMany(namespace: string, keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const values = this.#db.table(namespace).values;
    return Promise.resolve(keys.map((key) => values.get(key)?.slice()));
  }

  protected rawHas(namespace: string, key: string): Promise<boolean> {
    return Promise.resolve(this.#db.table(namespace).values.has(key));
  }

  protected rawWrite(ops: readonly BatchOp[], _sync: boolean): Promise<void> {
    // Ops are validated before we get here and nothing below can throw, so applying them in one
    // synchronous pass is all-or-nothing.
    for (const op of ops) {
      const table = this.#db.table(op.namespace);
      const index = searchFirst(table.keys.length, (i) => compareKeys(table.keys[i] as string, op.key) >= 0);
      const present = table.keys[index] === op.key;
      if (op.type === "put") {
        if (!present) table.keys.splice(index, 0, op.key);
        table.values.set(op.key, op.value.slice());
      } else if (present) {
        table.keys.splice(index, 1);
        table.values.delete(op.key);
      }
    }
    return Promise.resolve();
  }

  protected rawIterate(namespace: string, range: NormalizedRange, withValues: boolean): AsyncIterableIterator<[string, Uint8Array | undefined]> {
    const table = this.#db.table(namespace);
    const { keys } = table;
    const { gt, gte, lt, lte, prefix } = range;
    const start = searchFirst(keys.length, (i) => {
      const key = keys[i] as string;
      return (gt === undefined || compareKeys(key, gt) > 0) && (gte === undefined || compareKeys(key, gte) >= 0) && (prefix === undefined || compareKeys(key, prefix) >= 0);
    });
    // Keys with a given prefix are contiguous in code-point order, so "past the range" is monotone.
    const end = searchFirst(keys.length, (i) => {
      const key = keys[i] as string;
      return (
        (lt !== undefined && compareKeys(key, lt) >= 0) ||
        (lte !== undefined && compareKeys(key, lte) > 0) ||
        (prefix !== undefined && compareKeys(key, prefix) > 0 && !key.startsWith(prefix))
      );
    });
    // A snapshot taken when the scan starts, like LevelDB's iterator: later writes are not seen.
    let selected = start < end ? keys.slice(start, end) : [];
    if (range.reverse) selected.reverse();
    if (selected.length > range.limit) selected = selected.slice(0, range.limit);
    return asyncIterator(selected.map((key): [string, Uint8Array | undefined] => [key, withValues ? table.values.get(key)?.slice() : undefined]));
  }

  protected rawClose(): Promise<void> {
    this.#db.releaseClaim(this);
    return Promise.resolve();
  }
}

export function openMemoryStore(options: MemoryStoreOptions = {}): Promise<MemoryStore> {
  return MemoryStore.open(options);
}
