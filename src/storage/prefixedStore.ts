// A view of a Store in which every namespace of the view is a key prefix inside one namespace
// of the underlying store. The bridge hosts one MLS client (SDK state) per bridged user; each
// gets such a view, so all of them live in the provider's one database, their writes stay atomic
// batches of that database, and nothing extra is opened per user.
//
// Keys of view namespace N are stored as `<prefix>/<N>/<key>` in the backing namespace. Ranges
// translate bound for bound; the view's `close()` closes nothing (the backing store belongs to
// the provider).
import { MimiError } from "../errors.ts";
import { typedNamespace } from "./common.ts";
import type { BatchOp, CasResult, Entry, LockOptions, Namespace, RangeOptions, Store, TypedNamespace, ValueCodec, WriteOptions } from "./Store.ts";

const END = "\u{10FFFF}";

export function prefixedStore(backing: Store, backingNamespace: string, prefix: string, namespaces: readonly string[]): Store {
  if (prefix.includes("/") || prefix.length === 0) throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", "a store prefix is one non-empty segment");
  const base = backing.namespace(backingNamespace);
  const known = new Set(namespaces);
  let closed = false;
  const check = (name: string) => {
    if (closed) throw new MimiError("MIMI_ERR_STORAGE_CLOSED", "this store view is closed");
    if (!known.has(name)) throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", `unknown namespace ${JSON.stringify(name)}`, { details: { namespaces: [...known] } });
  };
  const head = (name: string) => `${prefix}/${name}/`;

  const view = (name: string): Namespace => {
    const p = head(name);
    const translate = (r: RangeOptions = {}): RangeOptions => {
      const out: RangeOptions = {};
      // Every key of the view lies in [p, p + END): the range starts there unless a bound says more.
      out.gte = r.gte !== undefined ? p + r.gte : r.gt === undefined ? p + (r.prefix ?? "") : p;
      if (r.gt !== undefined) out.gt = p + r.gt;
      out.lt = r.lt !== undefined ? p + r.lt : p + END;
      if (r.lte !== undefined) out.lte = p + r.lte;
      if (r.prefix !== undefined) out.prefix = p + r.prefix;
      if (r.limit !== undefined) out.limit = r.limit;
      if (r.reverse !== undefined) out.reverse = r.reverse;
      return out;
    };
    const ns: Namespace = {
      name,
      get: (key) => (check(name), base.get(p + key)),
      getMany: (keys) => (check(name), base.getMany(keys.map((k) => p + k))),
      has: (key) => (check(name), base.has(p + key)),
      put: (key, value, options?: WriteOptions) => (check(name), base.put(p + key, value, options)),
      del: (key, options?: WriteOptions) => (check(name), base.del(p + key, options)),
      async *iterate(range?: RangeOptions): AsyncIterableIterator<Entry> {
        check(name);
        for await (const e of base.iterate(translate(range))) yield { key: e.key.slice(p.length), value: e.value };
      },
      async *keys(range?: RangeOptions): AsyncIterableIterator<string> {
        check(name);
        for await (const k of base.keys(translate(range))) yield k.slice(p.length);
      },
      putOp: (key, value) => base.putOp(p + key, value),
      delOp: (key) => base.delOp(p + key),
      typed: <T>(codec: ValueCodec<T>): TypedNamespace<T> => typedNamespace(ns, codec),
    };
    return ns;
  };

  // Batch ops built by a view's namespace already name the backing namespace and prefixed key.
  const store: Store = {
    kind: backing.kind,
    namespaces: [...namespaces],
    get isOpen() {
      return !closed && backing.isOpen;
    },
    namespace(name: string): Namespace {
      check(name);
      return view(name);
    },
    batch: (ops: readonly BatchOp[], options?: WriteOptions) => {
      if (closed) throw new MimiError("MIMI_ERR_STORAGE_CLOSED", "this store view is closed");
      return backing.batch(ops, options);
    },
    withLock: <T>(keys: string | readonly string[], fn: () => Promise<T>, options?: LockOptions) =>
      backing.withLock((typeof keys === "string" ? [keys] : keys).map((k) => `${prefix}:${k}`), fn, options),
    compareAndSet: (namespace, key, expected, next, extraOps, options): Promise<CasResult> => {
      check(namespace);
      return backing.compareAndSet(backingNamespace, head(namespace) + key, expected, next, extraOps, options);
    },
    schemaVersion: () => backing.schemaVersion(),
    close: () => {
      closed = true;
      return Promise.resolve();
    },
  };
  return store;
}
