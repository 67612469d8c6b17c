// Validation, ordering and codec helpers shared by every Store implementation, so the rules on
// keys, ranges and values are the same whichever backend runs (DESIGN.md section 6).
import { decode as cborDecode, encode as cborEncode } from "cborg";
import { MimiError } from "../errors.ts";
import {
  MAX_KEY_BYTES,
  META_NAMESPACE,
  NAMESPACE_NAME_PATTERN,
  type BatchOp,
  type Entry,
  type Namespace,
  type RangeOptions,
  type TypedNamespace,
  type ValueCodec,
  type WriteOptions,
} from "./Store.ts";

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

export function fromUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Rejects strings a backend could not store or order the same way as the others. */
function keyProblem(key: unknown, allowEmpty: boolean): string | undefined {
  if (typeof key !== "string") return "must be a string";
  if (key.length === 0 && !allowEmpty) return "must not be empty";
  // Lone surrogates have no UTF-8 form, so LevelDB and PostgreSQL would store something else.
  if (!key.isWellFormed()) return "must be well-formed Unicode";
  // PostgreSQL `text` cannot hold U+0000.
  if (key.includes("\u0000")) return "must not contain U+0000";
  // Each UTF-16 code unit takes 1 to 3 UTF-8 bytes, so only mid-length keys need counting.
  if (key.length > MAX_KEY_BYTES || (key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key, "utf8") > MAX_KEY_BYTES)) {
    return `must be at most ${MAX_KEY_BYTES} UTF-8 bytes`;
  }
  return undefined;
}

export function validateKey(key: unknown, namespace: string): asserts key is string {
  const problem = keyProblem(key, false);
  if (problem !== undefined) {
    // The key itself is not put in the error: keys can carry user or room identifiers.
    throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", `storage key ${problem}`, { details: { namespace } });
  }
}

export function validateValue(value: unknown, namespace: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", "storage values must be Uint8Array", { details: { namespace } });
  }
}

/** The sorted, de-duplicated namespace list with META_NAMESPACE added. */
export function normalizeNamespaces(names: readonly string[]): string[] {
  const set = new Set<string>([META_NAMESPACE]);
  for (const name of names) {
    if (typeof name !== "string" || !NAMESPACE_NAME_PATTERN.test(name)) {
      throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", `invalid namespace name ${JSON.stringify(name)}`, {
        details: { pattern: NAMESPACE_NAME_PATTERN.source },
      });
    }
    set.add(name);
  }
  return [...set].sort();
}

/** A validated RangeOptions with defaults filled in. */
export interface NormalizedRange {
  gt?: string;
  gte?: string;
  lt?: string;
  lte?: string;
  prefix?: string;
  limit: number;
  reverse: boolean;
}

export function normalizeRange(range: RangeOptions, namespace: string): NormalizedRange {
  const out: NormalizedRange = { limit: Infinity, reverse: range.reverse === true };
  for (const name of ["gt", "gte", "lt", "lte", "prefix"] as const) {
    const bound = range[name];
    if (bound === undefined) continue;
    const problem = keyProblem(bound, true);
    if (problem !== undefined) {
      throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", `range bound ${name} ${problem}`, { details: { namespace } });
    }
    // An empty prefix selects everything.
    if (name === "prefix" && bound === "") continue;
    out[name] = bound;
  }
  if (range.limit !== undefined) {
    const limit = range.limit;
    if (!(limit === Infinity || (Number.isInteger(limit) && limit >= 0))) {
      throw new MimiError("MIMI_ERR_INTERNAL", "range limit must be a non-negative integer", { details: { namespace } });
    }
    out.limit = limit;
  }
  return out;
}

/**
 * Compares strings in Unicode code-point order, which is the UTF-8 byte order LevelDB and
 * PostgreSQL (COLLATE "C") use. JavaScript's `<` compares UTF-16 code units instead, which puts
 * U+E000..U+FFFF after supplementary characters; this fixes that at the first difference.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      // Move surrogates (0xD800..0xDFFF) above 0xE000..0xFFFF.
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.compare(a, b) === 0;
}

/** A plain Uint8Array over the same memory, so every backend returns the same type (not Buffer). */
export function asPlainBytes(bytes: Uint8Array): Uint8Array {
  return bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function resolveSync(options: WriteOptions | undefined, fallback: boolean): boolean {
  return options?.sync ?? fallback;
}

/**
 * JSON values as UTF-8. Pass `guard` to check the shape of what is read back; a stored value that
 * does not parse or fails the guard is MIMI_ERR_STORAGE_IO (the value itself is never put in the
 * error or the log).
 */
export function jsonCodec<T>(guard?: (value: unknown) => value is T): ValueCodec<T> {
  return {
    name: "json",
    encode(value: T): Uint8Array {
      const text = JSON.stringify(value) as string | undefined;
      if (text === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "value cannot be encoded as JSON");
      return utf8(text);
    },
    decode(bytes: Uint8Array): T {
      let value: unknown;
      try {
        value = JSON.parse(fromUtf8(bytes));
      } catch (cause) {
        throw new MimiError("MIMI_ERR_STORAGE_IO", "stored value is not valid JSON", { cause });
      }
      if (guard !== undefined && !guard(value)) {
        throw new MimiError("MIMI_ERR_STORAGE_IO", "stored value does not have the expected shape");
      }
      return value as T;
    },
  };
}

/** Decorates a raw Namespace with a codec; works for any Store implementation. */
export function typedNamespace<T>(ns: Namespace, codec: ValueCodec<T>): TypedNamespace<T> {
  const decode = (bytes: Uint8Array | undefined): T | undefined => (bytes === undefined ? undefined : codec.decode(bytes));
  return {
    name: ns.name,
    codec,
    get: async (key) => decode(await ns.get(key)),
    getMany: async (keys) => (await ns.getMany(keys)).map(decode),
    has: (key) => ns.has(key),
    put: (key, value, options) => ns.put(key, codec.encode(value), options),
    del: (key, options) => ns.del(key, options),
    iterate: async function* (range?: RangeOptions): AsyncGenerator<Entry<T>> {
      for await (const { key, value } of ns.iterate(range)) yield { key, value: codec.decode(value) };
    },
    keys: (range) => ns.keys(range),
    putOp: (key, value) => ns.putOp(key, codec.encode(value)),
    delOp: (key) => ns.delOp(key),
    encode: (value) => codec.encode(value),
  };
}

/** Key of the in-process row lock for one storage key; U+0000 cannot occur in either part. */
export function rowLockKey(op: Pick<BatchOp, "namespace" | "key">): string {
  return `${op.namespace}\u0000${op.key}`;
}

/** schemaVersion is stored as a JSON number; anything else means the meta data is damaged. */
export const schemaVersionCodec: ValueCodec<number> = {
  name: "schemaVersion",
  encode: (version) => utf8(JSON.stringify(version)),
  decode: (bytes) => {
    const text = new TextDecoder("utf-8").decode(bytes);
    const version = Number(text);
    if (!/^\d{1,15}$/.test(text) || !Number.isSafeInteger(version)) {
      throw new MimiError("MIMI_ERR_STORAGE_IO", "stored schemaVersion is not a non-negative integer");
    }
    return version;
  },
};

/**
 * A codec storing values as CBOR (cborg): byte strings stay bytes, bigints stay bigints, and
 * properties whose value is `undefined` are left out. Used for the core's records, which hold
 * MLS and protocol bytes.
 */
export function cborCodec<T>(): ValueCodec<T> {
  return {
    name: "cbor",
    encode(value: T): Uint8Array {
      try {
        return cborEncode(value, { ignoreUndefinedProperties: true });
      } catch (cause) {
        throw new MimiError("MIMI_ERR_INTERNAL", "value cannot be encoded as CBOR", { cause });
      }
    },
    decode(bytes: Uint8Array): T {
      try {
        return cborDecode(bytes, { useMaps: false }) as T;
      } catch (cause) {
        throw new MimiError("MIMI_ERR_STORAGE_IO", "stored value is not valid CBOR", { cause });
      }
    },
  };
}
