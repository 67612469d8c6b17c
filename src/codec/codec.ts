// The Codec abstraction and the two top-level entry points, encode() and decodeExact().
//
// A Codec<T> pairs an encoder and a decoder for one TLS presentation language type (RFC 8446 §3
// as extended by RFC 9420 §2.1). Combinators in this folder build codecs from codecs, so a wire
// struct is declared once and both directions come from the same declaration.
//
// Writing a custom codec is allowed (some draft structs select on a field of an enclosing
// struct); it must read only through the Reader (which bounds-checks), validate what it writes,
// throw only MimiError, and call r.enter()/r.leave() (or use lazy()) if it can recurse.
import { MimiError, wrapError } from "../errors.ts";
import { codecError, withPath } from "./fail.ts";
import { Reader } from "./reader.ts";
import type { DecodeOptions } from "./reader.ts";
import { Writer } from "./writer.ts";
import type { EncodeOptions } from "./writer.ts";

export interface Codec<T> {
  /** Name used in error paths and messages, e.g. "KeyMaterialRequest" or "opaque<V>". */
  readonly name: string;
  // Method syntax on purpose: it makes Codec<X> assignable to Codec<unknown>, which the
  // struct helper needs to accept a list of differently typed field codecs.
  encode(w: Writer, value: T): void;
  decode(r: Reader): T;
}

/** The TypeScript type a codec encodes and decodes: `type KeyMaterialRequest = Infer<typeof KeyMaterialRequest>`. */
export type Infer<C> = C extends Codec<infer T> ? T : never;

function fromForeignThrow(err: unknown, name: string): MimiError {
  // MIMI-CODEC-15: DESIGN.md §7 decoders answer bad input with a typed error, never a crash.
  // Safety net: a decoder that throws anything but a MimiError is a bug in this codebase. Wrap it
  // so callers still get the one error type they handle; tests assert this never happens.
  return wrapError("MIMI_ERR_INTERNAL", err, `codec ${name} threw a non-MimiError`);
}

/** Encodes `value` to a new buffer. Throws MimiError (MIMI_ERR_CODEC_*) if it does not fit. */
export function encode<T>(codec: Codec<T>, value: T, options?: EncodeOptions): Uint8Array {
  const w = new Writer(options);
  try {
    codec.encode(w, value);
  } catch (err) {
    if (err instanceof MimiError) withPath(err, codec.name);
    throw fromForeignThrow(err, codec.name);
  }
  return w.finish();
}

/**
 * Decodes exactly one `codec` value that must span all of `bytes`.
 *
 * Throws only MimiError: MIMI_ERR_CODEC_TRUNCATED, _TRAILING_BYTES, _NON_MINIMAL_LENGTH,
 * _INVALID_VARINT, _LENGTH_TOO_LARGE, _INVALID_ENUM, _INVALID_OPTIONAL, _INVALID_UTF8 or
 * _DEPTH_EXCEEDED, with `details.offset` (absolute byte offset) and `details.path`.
 *
 * Opaque values in the result are copies unless `options.aliasInput` is set (see reader.ts).
 */
export function decodeExact<T>(codec: Codec<T>, bytes: Uint8Array, options?: DecodeOptions): T {
  let value: T;
  let r: Reader;
  try {
    r = new Reader(bytes, options);
    value = codec.decode(r);
  } catch (err) {
    if (err instanceof MimiError) withPath(err, codec.name);
    throw fromForeignThrow(err, codec.name);
  }
  // MIMI-CODEC-09: DESIGN.md §7 every decoder rejects trailing bytes: a top-level message is
  // exactly one value, so an attacker cannot smuggle data after it (or make two parsers disagree).
  if (!r.atEnd) {
    throw codecError("MIMI_ERR_CODEC_TRAILING_BYTES", `${r.remaining} bytes follow the end of ${codec.name} at offset ${r.offset}`, {
      offset: r.offset,
      trailing: r.remaining,
      path: codec.name,
    });
  }
  return value;
}
