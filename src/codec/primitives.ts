// Leaf codecs: fixed-size unsigned integers (RFC 8446 §3.3), the MLS variable-length integer
// (RFC 9420 §2.1.2), fixed and variable-length opaque vectors (RFC 8446 §3.4, RFC 9420 §2.1.2)
// and UTF-8 strings carried as opaque<V>.
import { TextDecoder, TextEncoder } from "node:util";
import type { Codec } from "./codec.ts";
import { codecError, declarationError, describe } from "./fail.ts";

export const uint8: Codec<number> = {
  name: "uint8",
  encode: (w, v) => w.writeUint8(v),
  decode: (r) => r.readUint8(),
};

export const uint16: Codec<number> = {
  name: "uint16",
  encode: (w, v) => w.writeUint16(v),
  decode: (r) => r.readUint16(),
};

export const uint32: Codec<number> = {
  name: "uint32",
  encode: (w, v) => w.writeUint32(v),
  decode: (r) => r.readUint32(),
};

/** uint64 as bigint: JavaScript numbers lose precision above 2^53 (epochs, timestamps). */
export const uint64: Codec<bigint> = {
  name: "uint64",
  encode: (w, v) => w.writeUint64(v),
  decode: (r) => r.readUint64(),
};

/** The RFC 9420 §2.1.2 variable-length integer on its own (0 .. 2^30-1, minimal form). */
export const varint: Codec<number> = {
  name: "varint",
  encode: (w, v) => w.writeVarint(v),
  decode: (r) => r.readVarint(),
};

/** `opaque name[N]`: exactly N bytes, no length prefix (RFC 8446 §3.4). */
export function opaque(n: number): Codec<Uint8Array> {
  if (!Number.isSafeInteger(n) || n < 0) throw declarationError(`opaque[N] needs a non-negative integer N, got ${String(n)}`);
  const name = `opaque[${n}]`;
  return {
    name,
    encode(w, v) {
      // MIMI-CODEC-08: RFC 8446 §3.4 a fixed-length vector has exactly N bytes; anything else
      // would shift every field after it.
      if (!(v instanceof Uint8Array) || v.length !== n) {
        throw codecError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `${describe(v)} does not fit ${name}`, { type: name, expected: n });
      }
      w.writeBytes(v);
    },
    decode: (r) => r.readBytes(n),
  };
}

/** `opaque name<V>`: a varint byte length, then that many bytes (RFC 9420 §2.1.2). */
export const opaqueV: Codec<Uint8Array> = {
  name: "opaque<V>",
  encode(w, v) {
    if (!(v instanceof Uint8Array)) {
      throw codecError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `${describe(v)} does not fit opaque<V>`, { type: "opaque<V>" });
    }
    w.vector(() => w.writeBytes(v));
  },
  decode: (r) => r.readBytes(r.readVectorLength()),
};

// ignoreBOM keeps a leading U+FEFF as a character instead of stripping it, so decoding then
// encoding gives back the same bytes.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * A UTF-8 string carried as `opaque<V>` (how MIMI carries URIs and other text). Decoding is
 * strict; encoding rejects strings with lone surrogates, which UTF-8 cannot represent.
 */
export const utf8V: Codec<string> = {
  name: "utf8<V>",
  encode(w, v) {
    // MIMI-CODEC-12: RFC 3629 §3 UTF-8 cannot encode surrogate code points; TextEncoder would
    // silently substitute U+FFFD, so the peer would see a different string than we meant.
    if (typeof v !== "string" || !v.isWellFormed()) {
      throw codecError("MIMI_ERR_CODEC_INVALID_UTF8", `${describe(v)} is not a well-formed Unicode string`, { type: "utf8<V>" });
    }
    const bytes = utf8Encoder.encode(v);
    w.vector(() => w.writeBytes(bytes));
  },
  decode(r) {
    const len = r.readVectorLength();
    const start = r.offset;
    const view = r.readView(len);
    try {
      // MIMI-CODEC-12: RFC 3629 §3 "Implementations of the decoding algorithm above MUST
      // protect against decoding invalid sequences": fatal mode rejects overlongs, surrogates,
      // code points above U+10FFFF and truncated sequences instead of substituting U+FFFD.
      return utf8Decoder.decode(view);
    } catch (cause) {
      throw codecError("MIMI_ERR_CODEC_INVALID_UTF8", `string of ${len} bytes at offset ${start} is not valid UTF-8`, { offset: start, length: len }, cause);
    }
  },
};
