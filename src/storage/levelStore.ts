// The embedded Store on classic-level (LevelDB), the default backend (DESIGN.md section 6).
//
// Layout: `<dataDir>/level/` is the LevelDB folder, so the data folder can hold other files
// later. Each namespace is a sublevel (keys prefixed `!name!` in one LevelDB); keys and values
// are passed as bytes, keys encoded as UTF-8 here, so the order is plain UTF-8 byte order and a
// prefix scan can use an exact byte upper bound. A batch across namespaces is one LevelDB write
// batch, which LevelDB applies atomically.
//
// LevelDB is single-process by design: it holds `LOCK` in its folder, and a second open (from
// another process, or a second store in this one) fails with MIMI_ERR_STORAGE_LOCKED.
import { chmod, mkdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ClassicLevel } from "classic-level";
import { MimiError, isMimiError, wrapError } from "../errors.ts";
import { silentLogger, type Logger } from "../log.ts";
import { BaseStore } from "./baseStore.ts";
import { asPlainBytes, fromUtf8, normalizeNamespaces, utf8, type NormalizedRange } from "./common.ts";
import { runMigrations, validateMigrations } from "./migrate.ts";
import { MIGRATIONS } from "./migrations/index.ts";
import { DEFAULT_NAMESPACES, type BatchOp, type StoreOptions } from "./Store.ts";

type Bytes = Uint8Array;
type Db = ClassicLevel<Bytes, Bytes>;
function makeSublevel(db: Db, name: string) {
  return db.sublevel<Bytes, Bytes>(name, { keyEncoding: "view", valueEncoding: "view" });
}
type Sublevel = ReturnType<typeof makeSublevel>;

export interface LevelStoreOptions extends StoreOptions {
  /** The data folder; created with mode 0700 if missing. */
  dataDir: string;
}

/** The folder inside dataDir that LevelDB owns. */
export const LEVEL_SUBDIR = "level";

function hasCode(err: unknown, code: string): boolean {
  // classic-level reports a held LOCK as LEVEL_DATABASE_NOT_OPEN with a LEVEL_LOCKED cause.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if ((e as Error & { code?: unknown }).code === code) return true;
  }
  return false;
}

/** A bound: its bytes and whether it is inclusive. */
interface Bound {
  bytes: Bytes;
  inclusive: boolean;
}

function tighter(a: Bound | undefined, b: Bound | undefined, lower: boolean): Bound | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const cmp = Buffer.compare(a.bytes, b.bytes);
  if (cmp === 0) return a.inclusive ? b : a;
  return (cmp > 0) === lower ? a : b;
}

/** Range options for a classic-level iterator, with bytes bounds and at most one bound per side. */
function levelRange(range: NormalizedRange): { gt?: Bytes; gte?: Bytes; lt?: Bytes; lte?: Bytes } {
  const bound = (key: string | undefined, inclusive: boolean): Bound | undefined =>
    key === undefined ? undefined : { bytes: utf8(key), inclusive };
  let lower = tighter(bound(range.gt, false), bound(range.gte, true), true);
  let upper = tighter(bound(range.lt, false), bound(range.lte, true), false);
  if (range.prefix !== undefined) {
    const prefix = utf8(range.prefix);
    lower = tighter(lower, { bytes: prefix, inclusive: true }, true);
    // UTF-8 never contains 0xFF, so bumping the last byte gives the smallest byte string above
    // every key that starts with the prefix.
    const end = prefix.slice();
    end[end.length - 1] = (end[end.length - 1] as number) + 1;
    upper = tighter(upper, { bytes: end, inclusive: false }, false);
  }
  const out: { gt?: Bytes; gte?: Bytes; lt?: Bytes; lte?: Bytes } = {};
  if (lower !== undefined) out[lower.inclusive ? "gte" : "gt"] = lower.bytes;
  if (upper !== undefined) out[upper.inclusive ? "lte" : "lt"] = upper.bytes;
  return out;
}

/** Creates the data folder owner-only: it will hold private keys (DESIGN.md section 7). */
async function prepareDataDir(dataDir: string, log: Logger): Promise<string> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const info = await stat(dataDir);
    if (process.platform !== "win32" && (info.mode & 0o077) !== 0) {
      log.warn({ dataDir, mode: (info.mode & 0o777).toString(8) }, "data folder was readable by others; restricting it to mode 0700");
      await chmod(dataDir, 0o700);
    }
    const location = join(dataDir, LEVEL_SUBDIR);
    await mkdir(location, { recursive: true, mode: 0o700 });
    return location;
  } catch (err) {
    throw wrapError("MIMI_ERR_STORAGE_IO", err, `cannot prepare data folder ${dataDir}`, { dataDir });
  }
}

export class LevelStore extends BaseStore {
  readonly kind = "level" as const;
  readonly dataDir: string;
  readonly #db: Db;
  readonly #subs = new Map<string, Sublevel>();

  private constructor(db: Db, options: LevelStoreOptions, log: Logger) {
    super(options, log);
    this.dataDir = options.dataDir;
    this.#db = db;
    for (const name of this.namespaces) {
      this.#subs.set(name, makeSublevel(db, name));
    }
  }

  static async open(options: LevelStoreOptions): Promise<LevelStore> {
    const log = (options.logger ?? silentLogger()).child({ component: "storage", store: "level" });
    if (typeof options.dataDir !== "string" || options.dataDir.length === 0) {
      throw new MimiError("MIMI_ERR_INTERNAL", "the level store needs a dataDir");
    }
    // Refuse bad arguments before touching the disk.
    normalizeNamespaces(options.namespaces ?? DEFAULT_NAMESPACES);
    validateMigrations(options.migrations ?? MIGRATIONS);
    const location = await prepareDataDir(options.dataDir, log);
    const db: Db = new ClassicLevel<Bytes, Bytes>(location, { keyEncoding: "view", valueEncoding: "view", createIfMissing: true });
    try {
      await db.open();
    } catch (err) {
      if (hasCode(err, "LEVEL_LOCKED")) {
        throw new MimiError("MIMI_ERR_STORAGE_LOCKED", `the data folder ${options.dataDir} is in use by another process or store`, {
          cause: err,
          details: { dataDir: options.dataDir },
        });
      }
      throw wrapError("MIMI_ERR_STORAGE_IO", err, `cannot open the store in ${options.dataDir}`, { dataDir: options.dataDir });
    }
    let store: LevelStore;
    try {
      store = new LevelStore(db, options, log);
    } catch (err) {
      await db.close();
      throw err;
    }
    try {
      const { from, to } = await runMigrations(store, options.migrations ?? MIGRATIONS, log);
      log.info({ dataDir: options.dataDir, schemaVersion: to, migratedFrom: from }, "level store open");
    } catch (err) {
      // Release the LOCK so the operator (or a test) can retry with a fixed build.
      await store.close().catch((closeErr: unknown) => log.warn({ err: closeErr }, "closing after a failed open failed"));
      throw err;
    }
    return store;
  }

  protected override mapError(err: unknown): MimiError {
    if (isMimiError(err)) return err;
    if (!this.isOpen || hasCode(err, "LEVEL_DATABASE_NOT_OPEN") || hasCode(err, "LEVEL_ITERATOR_NOT_OPEN")) {
      return new MimiError("MIMI_ERR_STORAGE_CLOSED", undefined, { cause: err });
    }
    return wrapError("MIMI_ERR_STORAGE_IO", err);
  }

  #sub(namespace: string): Sublevel {
    const sub = this.#subs.get(namespace);
    if (sub === undefined) throw new MimiError("MIMI_ERR_INTERNAL", `no sublevel for namespace ${namespace}`);
    return sub;
  }

  protected async rawGet(namespace: string, key: string): Promise<Uint8Array | undefined> {
    // abstract-level 3 returns undefined for a missing key instead of throwing NotFound.
    const value = await this.#sub(namespace).get(utf8(key));
    return value === undefined ? undefined : asPlainBytes(value);
  }

  protected async rawGetMany(namespace: string, keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const values = await this.#sub(namespace).getMany(keys.map(utf8));
    return values.map((value) => (value === undefined ? undefined : asPlainBytes(value)));
  }

  protected rawHas(namespace: string, key: string): Promise<boolean> {
    return this.#sub(namespace).has(utf8(key));
  }

  protected rawWrite(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    const levelOps = ops.map((op) =>
      op.type === "put"
        ? { type: "put" as const, sublevel: this.#sub(op.namespace), key: utf8(op.key), value: op.value }
        : { type: "del" as const, sublevel: this.#sub(op.namespace), key: utf8(op.key) },
    );
    return this.#db.batch(levelOps, { sync });
  }

  protected async *rawIterate(
    namespace: string,
    range: NormalizedRange,
    withValues: boolean,
  ): AsyncGenerator<[string, Uint8Array | undefined]> {
    const options = { ...levelRange(range), reverse: range.reverse, limit: Number.isFinite(range.limit) ? range.limit : -1 };
    const sub = this.#sub(namespace);
    if (withValues) {
      for await (const [key, value] of sub.iterator(options)) yield [fromUtf8(key), asPlainBytes(value)];
    } else {
      for await (const key of sub.keys(options)) yield [fromUtf8(key), undefined];
    }
  }

  protected rawClose(): Promise<void> {
    return this.#db.close();
  }
}

export function openLevelStore(options: LevelStoreOptions): Promise<LevelStore> {
  return LevelStore.open(options);
}
