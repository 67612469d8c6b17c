// Reader: a bounds-checked cursor over an input buffer, used by every decoder.
//
// Safety rules every decoder relies on (DESIGN.md §7: bad input gets a typed error, never a
// crash):
// - every read checks the bytes it needs against the current bound first, so no decoder ever
//   reads past the input, and the only exceptions are MimiErrors;
// - nothing is allocated from a claimed length before the claimed bytes are known to be present
//   (a 4-byte varint can claim 1 GiB; we answer "truncated", not an allocation);
// - vector bodies are parsed in place: `within()` narrows the bound to the vector's end instead of
//   copying the body into a new buffer.
//
// Aliasing (brief requirement 3, decided here): by default `readBytes()` returns a COPY, so a
// decoded opaque value stays valid after the caller reuses or frees its input buffer (Node's
// pooled Buffers are reused all the time). Callers that own the input and never mutate it can
// pass `aliasInput: true` to get zero-copy views (`subarray`) into the input instead.
import { codecError, declarationError } from "./fail.ts";

/** Largest value of the RFC 9420 §2.1.2 variable-length integer (30 usable bits). */
export const MAX_VARINT = 0x3fff_ffff;

/** Default per-vector limit in bytes: far above any MIMI struct, far below what would hurt. */
export const DEFAULT_MAX_VECTOR_LENGTH = 16 * 1024 * 1024;

/** Default limit on recursion through `lazy()` codecs. */
export const DEFAULT_MAX_DEPTH = 32;

export interface DecodeOptions {
  /** Largest accepted `<V>` length in bytes, for any single vector. Default 16 MiB. */
  readonly maxVectorLength?: number;
  /** Largest nesting through recursive (`lazy`) codecs. Default 32. */
  readonly maxDepth?: number;
  /**
   * If true, decoded opaque values are views into the input (no copy). Only for callers that
   * keep the input alive and unmodified for as long as they use the decoded value. Default false.
   */
  readonly aliasInput?: boolean;
}

function checkLimit(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw declarationError(`${name} must be an integer between 0 and ${max}, got ${String(value)}`);
  }
  return value;
}

export class Reader {
  /** The whole input, as a plain Uint8Array view (never a Buffer: Buffer#slice does not copy). */
  readonly bytes: Uint8Array;
  readonly maxVectorLength: number;
  readonly maxDepth: number;
  readonly aliasInput: boolean;
  #offset = 0;
  #end: number;
  #depth = 0;

  constructor(bytes: Uint8Array, options: DecodeOptions = {}) {
    if (!(bytes instanceof Uint8Array)) {
      throw declarationError("decode input must be a Uint8Array");
    }
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#end = this.bytes.length;
    this.maxVectorLength = checkLimit("maxVectorLength", options.maxVectorLength, DEFAULT_MAX_VECTOR_LENGTH, MAX_VARINT);
    this.maxDepth = checkLimit("maxDepth", options.maxDepth, DEFAULT_MAX_DEPTH, 10_000);
    this.aliasInput = options.aliasInput === true;
  }

  /** Absolute offset of the next byte to read. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes left before the current bound (the end of the input or of the enclosing vector). */
  get remaining(): number {
    return this.#end - this.#offset;
  }

  /** Throws MIMI_ERR_CODEC_TRUNCATED unless `n` more bytes are available within the bound. */
  need(n: number): void {
    // MIMI-CODEC-14: DESIGN.md §7 input that ends (or whose enclosing vector ends) before the
    // structure is complete is a typed error, checked before every read.
    if (n <= this.#end - this.#offset) return;
    const insideVector = this.#end < this.bytes.length;
    throw codecError(
      "MIMI_ERR_CODEC_TRUNCATED",
      insideVector
        ? `needs ${n} bytes at offset ${this.#offset} but the enclosing vector ends at ${this.#end}`
        : `needs ${n} bytes at offset ${this.#offset} but the input ends at ${this.#end}`,
      { offset: this.#offset, needed: n, available: this.#end - this.#offset, end: this.#end, insideVector },
    );
  }

  // RFC 8446 §3.3: multi-byte numbers are big-endian (network byte order).
  readUint8(): number {
    this.need(1);
    return this.bytes[this.#offset++]!;
  }

  readUint16(): number {
    this.need(2);
    const b = this.bytes;
    const o = this.#offset;
    this.#offset = o + 2;
    return (b[o]! << 8) | b[o + 1]!;
  }

  readUint32(): number {
    this.need(4);
    const b = this.bytes;
    const o = this.#offset;
    this.#offset = o + 4;
    // Multiply rather than shift the top byte: `<< 24` would go negative for values >= 2^31.
    return b[o]! * 0x100_0000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
  }

  readUint64(): bigint {
    const hi = this.readUint32();
    const lo = this.readUint32();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /**
   * RFC 9420 §2.1.2 variable-length integer: the top two bits of the first byte give the length
   * (00 → 1, 01 → 2, 10 → 4 bytes), the remaining bits hold the value in network byte order.
   */
  readVarint(): number {
    const start = this.#offset;
    this.need(1);
    const first = this.bytes[start]!;
    const prefix = first >> 6;
    // MIMI-CODEC-02: RFC 9420 §2.1.2 "Vectors that start with the prefix "11" are invalid and
    // MUST be rejected." (MLS has no 8-byte form, unlike QUIC's RFC 9000 §16.)
    if (prefix === 3) {
      throw codecError("MIMI_ERR_CODEC_INVALID_VARINT", `variable-length integer at offset ${start} uses the reserved 0b11 prefix`, {
        offset: start,
        firstByte: first,
      });
    }
    if (prefix === 0) {
      this.#offset = start + 1;
      return first;
    }
    const length = prefix === 1 ? 2 : 4;
    this.need(length);
    let v = first & 0x3f;
    for (let i = 1; i < length; i++) v = v * 256 + this.bytes[start + i]!;
    // MIMI-CODEC-01: RFC 9420 §2.1.2 "The encoded value MUST use the smallest number of bits
    // required to represent the value. When decoding, values using more bits than necessary MUST
    // be treated as malformed." A 2-byte form must hold >= 64, a 4-byte form >= 16384.
    const min = prefix === 1 ? 64 : 16384;
    if (v < min) {
      throw codecError(
        "MIMI_ERR_CODEC_NON_MINIMAL_LENGTH",
        `variable-length integer ${v} at offset ${start} uses ${length} bytes; the minimal encoding is shorter`,
        { offset: start, value: v, length },
      );
    }
    this.#offset = start + length;
    return v;
  }

  /**
   * Reads a `<V>` length header and checks it against the per-decode limit and the bytes
   * actually present. Returns the length in bytes; the body starts at `offset`.
   */
  readVectorLength(): number {
    const start = this.#offset;
    const len = this.readVarint();
    // MIMI-CODEC-10: RFC 9420 §2.1.2 "Implementations should take care not to allow vectors to
    // overflow available storage" and SHOULD give a clear error: a configurable cap, checked
    // before anything is allocated, then the claimed length against the bytes really present.
    if (len > this.maxVectorLength) {
      throw codecError("MIMI_ERR_CODEC_LENGTH_TOO_LARGE", `vector length ${len} at offset ${start} exceeds the limit of ${this.maxVectorLength} bytes`, {
        offset: start,
        length: len,
        limit: this.maxVectorLength,
      });
    }
    if (len > this.#end - this.#offset) {
      throw codecError("MIMI_ERR_CODEC_TRUNCATED", `vector length ${len} at offset ${start} exceeds the ${this.#end - this.#offset} bytes that remain`, {
        offset: start,
        needed: len,
        available: this.#end - this.#offset,
        end: this.#end,
        insideVector: this.#end < this.bytes.length,
      });
    }
    return len;
  }

  /** `n` bytes as a copy (default) or as a view into the input (`aliasInput`). */
  readBytes(n: number): Uint8Array {
    return this.aliasInput ? this.readView(n) : this.readView(n).slice();
  }

  /** `n` bytes as a view into the input, for transient use (text decoding, hashing). */
  readView(n: number): Uint8Array {
    this.need(n);
    const o = this.#offset;
    this.#offset = o + n;
    return this.bytes.subarray(o, o + n);
  }

  /**
   * Runs `body` with the bound narrowed to the next `length` bytes (a vector body) and requires
   * that it consume exactly those bytes. The caller has checked `length` (readVectorLength).
   */
  within<T>(length: number, body: () => T): T {
    const outerEnd = this.#end;
    const end = this.#offset + length;
    this.#end = end;
    try {
      const value = body();
      if (this.#offset !== end) {
        // MIMI-CODEC-04: the body of a `<V>` vector must be exactly its declared length.
        throw codecError("MIMI_ERR_CODEC_TRAILING_BYTES", `${end - this.#offset} bytes left unread at offset ${this.#offset} inside a vector ending at ${end}`, {
          offset: this.#offset,
          end,
        });
      }
      return value;
    } finally {
      this.#end = outerEnd;
    }
  }

  /** Enters one level of recursion (used by `lazy`); pair with `leave()` in a finally block. */
  enter(): void {
    // MIMI-CODEC-11: DESIGN.md §7 depth limits: recursion is bounded, so hostile nesting gets a
    // typed error instead of a stack overflow.
    if (this.#depth >= this.maxDepth) {
      throw codecError("MIMI_ERR_CODEC_DEPTH_EXCEEDED", `structure nests deeper than ${this.maxDepth} levels at offset ${this.#offset}`, {
        offset: this.#offset,
        maxDepth: this.maxDepth,
      });
    }
    this.#depth++;
  }

  leave(): void {
    this.#depth--;
  }

  /** True once every byte up to the current bound has been consumed. */
  get atEnd(): boolean {
    return this.#offset === this.#end;
  }
}
