// Combinators over other codecs: vector<V> of T (RFC 9420 §2.1.2 with RFC 8446 §3.4 byte
// lengths), optional<T> (RFC 9420 §2.1.1), enumerated types (RFC 8446 §3.5) and lazy() for
// recursive declarations.
import type { Codec } from "./codec.ts";
import { codecError, declarationError, describe, withPath } from "./fail.ts";
import { Writer } from "./writer.ts";

/**
 * `T name<V>`: a varint length counting BYTES (RFC 8446 §3.4: "the length declares the number
 * of bytes, not the number of elements"), then elements back to back.
 */
export function vectorV<T>(element: Codec<T>): Codec<T[]> {
  const name = `${element.name}<V>`;
  return {
    name,
    encode(w, values) {
      if (!Array.isArray(values)) {
        throw codecError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `${describe(values)} does not fit ${name}`, { type: name });
      }
      w.vector(() => {
        let i = 0;
        for (const item of values) {
          const before = w.length;
          try {
            element.encode(w, item);
          } catch (err) {
            withPath(err, `[${i}]`);
          }
          // A zero-byte element cannot be counted by a byte length: the decoder would see an
          // empty vector. Refuse rather than send something that decodes differently.
          if (w.length === before) {
            throw codecError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `element ${i} of ${name} encodes to zero bytes`, { type: name, path: `[${i}]` });
          }
          i++;
        }
      });
    },
    decode(r) {
      const len = r.readVectorLength();
      // MIMI-CODEC-04: RFC 9420 §2.1.2 / RFC 8446 §3.4 decode elements until exactly `len` bytes
      // are consumed; an element that runs past the vector's end fails inside within() as
      // TRUNCATED (the bound is the vector end, not the input end).
      return r.within(len, () => {
        const out: T[] = [];
        while (!r.atEnd) {
          const before = r.offset;
          let item: T;
          try {
            item = element.decode(r);
          } catch (err) {
            withPath(err, `[${out.length}]`);
          }
          if (r.offset === before) {
            // Zero-size elements would loop forever over a non-empty body.
            throw codecError("MIMI_ERR_CODEC_TRAILING_BYTES", `element ${out.length} of ${name} at offset ${before} consumed no bytes; ${r.remaining} bytes cannot be parsed`, {
              offset: before,
              trailing: r.remaining,
            });
          }
          out.push(item);
        }
        return out;
      });
    },
  };
}

/** `optional<T>` (RFC 9420 §2.1.1): a presence octet (0 or 1), then T if present. */
export function optional<T>(inner: Codec<T>): Codec<T | undefined> {
  return {
    name: `optional<${inner.name}>`,
    encode(w, v) {
      if (v === undefined) {
        w.writeUint8(0);
      } else {
        w.writeUint8(1);
        inner.encode(w, v);
      }
    },
    decode(r) {
      const start = r.offset;
      const present = r.readUint8();
      if (present === 0) return undefined;
      if (present === 1) return inner.decode(r);
      // MIMI-CODEC-05: RFC 9420 §2.1.1 "a presence octet with a value other than 0 or 1 MUST be
      // rejected as malformed."
      throw codecError("MIMI_ERR_CODEC_INVALID_OPTIONAL", `optional presence octet ${present} at offset ${start} is neither 0 nor 1`, {
        offset: start,
        value: present,
      });
    },
  };
}

export interface EnumCodec<T extends number> extends Codec<T> {
  /** The declared names and values. */
  readonly values: Readonly<Record<string, number>>;
  /** True if `value` is one of the declared values. */
  isKnown(value: number): boolean;
  /** The declared name of `value` (for logs), or undefined. */
  nameOf(value: number): string | undefined;
}

export interface EnumOptions {
  /**
   * Keep values that are not declared instead of rejecting them (for registries that grow, such
   * as extension or proposal types, where an unknown value must be carried through, not refused).
   */
  readonly allowUnknown?: boolean;
}

/**
 * An enumerated type (RFC 8446 §3.5) carried in `base` (uint8, uint16, …), from an `as const`
 * object of allowed values. Undeclared values are rejected with MIMI_ERR_CODEC_INVALID_ENUM
 * unless `allowUnknown` is set (then the codec's type widens to number):
 *
 *   export const Protocol = { reserved: 0, mls10: 1 } as const;
 *   export const ProtocolCodec = enumOf("Protocol", Protocol, uint8); // Codec<0 | 1>
 */
export function enumOf<const V extends Readonly<Record<string, number>>>(
  name: string,
  values: V,
  base: Codec<number>,
  options?: EnumOptions & { readonly allowUnknown?: false },
): EnumCodec<V[keyof V]>;
export function enumOf<const V extends Readonly<Record<string, number>>>(
  name: string,
  values: V,
  base: Codec<number>,
  options: EnumOptions & { readonly allowUnknown: true },
): EnumCodec<number>;
export function enumOf(name: string, values: Readonly<Record<string, number>>, base: Codec<number>, options: EnumOptions = {}): EnumCodec<number> {
  const names = new Map<number, string>();
  for (const [key, value] of Object.entries(values)) {
    // Every declared value must fit the base type, or encoding it would fail later at run time.
    try {
      base.encode(new Writer(), value);
    } catch {
      throw declarationError(`enum ${name}: ${key} = ${String(value)} does not fit ${base.name}`);
    }
    if (!names.has(value)) names.set(value, key);
  }
  const allowUnknown = options.allowUnknown === true;
  const unknown = (value: number, offset?: number): never => {
    throw codecError(
      "MIMI_ERR_CODEC_INVALID_ENUM",
      offset === undefined ? `${describe(value)} is not a value of ${name}` : `${value} at offset ${offset} is not a value of ${name}`,
      offset === undefined ? { enum: name, value } : { enum: name, value, offset },
    );
  };
  return {
    name,
    values: Object.freeze({ ...values }),
    isKnown: (value) => names.has(value),
    nameOf: (value) => names.get(value),
    encode(w, v) {
      // MIMI-CODEC-06: only declared values go out (unless allowUnknown), so we never send what
      // we would refuse ourselves.
      if (!allowUnknown && !names.has(v)) unknown(v);
      base.encode(w, v);
    },
    decode(r) {
      const start = r.offset;
      const v = base.decode(r);
      // MIMI-CODEC-06: RFC 8446 §3.5 leaves unknown values to "the definition of the field";
      // the MIMI and MLS fields we decode mostly cannot be parsed past an unknown value (it picks
      // a select arm or a meaning), so strict is the default and allowUnknown the explicit opt-in.
      if (!allowUnknown && !names.has(v)) unknown(v, start);
      return v;
    },
  };
}

/**
 * A codec resolved on first use, for recursive declarations. Every entry counts one level of
 * depth against the decode (and encode) limit, so hostile nesting cannot overflow the stack.
 */
export function lazy<T>(name: string, get: () => Codec<T>): Codec<T> {
  let resolved: Codec<T> | undefined;
  const target = (): Codec<T> => (resolved ??= get());
  return {
    name,
    encode(w, v) {
      w.enter();
      try {
        target().encode(w, v);
      } finally {
        w.leave();
      }
    },
    decode(r) {
      r.enter();
      try {
        return target().decode(r);
      } finally {
        r.leave();
      }
    },
  };
}
