// Writer: a growable output buffer used by every encoder.
//
// Encoders validate values before writing (MIMI-CODEC-07: a value that does not fit its wire type
// is an error, never silently truncated or wrapped), so whatever the Writer emits decodes back to
// the same value.
import { codecError, declarationError, describe } from "./fail.ts";
import { DEFAULT_MAX_DEPTH, MAX_VARINT } from "./reader.ts";

export interface EncodeOptions {
  /** Largest nesting through recursive (`lazy`) codecs; guards against cyclic values. Default 32. */
  readonly maxDepth?: number;
}

const MAX_UINT64 = (1n << 64n) - 1n;

function outOfRange(what: string, value: unknown, details: Record<string, unknown> = {}): never {
  throw codecError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `${describe(value)} does not fit ${what}`, { type: what, ...details });
}

/** Size in bytes of the minimal RFC 9420 §2.1.2 encoding of `n` (0 <= n <= MAX_VARINT). */
export function varintSize(n: number): 1 | 2 | 4 {
  return n < 64 ? 1 : n < 16384 ? 2 : 4;
}

export class Writer {
  readonly maxDepth: number;
  #buf = new Uint8Array(256);
  #pos = 0;
  #depth = 0;

  constructor(options: EncodeOptions = {}) {
    const d = options.maxDepth;
    if (d !== undefined && (!Number.isSafeInteger(d) || d < 0 || d > 10_000)) {
      throw declarationError(`maxDepth must be an integer between 0 and 10000, got ${String(d)}`);
    }
    this.maxDepth = d ?? DEFAULT_MAX_DEPTH;
  }

  /** Number of bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  #ensure(n: number): void {
    const need = this.#pos + n;
    if (need <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
  }

  // MIMI-CODEC-07: RFC 8446 §3.3 unsigned big-endian integers; values outside the type's range
  // (negative, fractional, too large, not a number) are rejected.
  writeUint8(v: number): void {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xff) outOfRange("uint8", v);
    this.#ensure(1);
    this.#buf[this.#pos++] = v;
  }

  writeUint16(v: number): void {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff) outOfRange("uint16", v);
    this.#ensure(2);
    const b = this.#buf;
    b[this.#pos] = v >>> 8;
    b[this.#pos + 1] = v & 0xff;
    this.#pos += 2;
  }

  writeUint32(v: number): void {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) outOfRange("uint32", v);
    this.#ensure(4);
    const b = this.#buf;
    const p = this.#pos;
    b[p] = v >>> 24;
    b[p + 1] = (v >>> 16) & 0xff;
    b[p + 2] = (v >>> 8) & 0xff;
    b[p + 3] = v & 0xff;
    this.#pos = p + 4;
  }

  writeUint64(v: bigint): void {
    if (typeof v !== "bigint" || v < 0n || v > MAX_UINT64) outOfRange("uint64", v);
    this.writeUint32(Number(v >> 32n));
    this.writeUint32(Number(v & 0xffff_ffffn));
  }

  /** RFC 9420 §2.1.2 variable-length integer, always in its minimal form. */
  writeVarint(v: number): void {
    // MIMI-CODEC-03: RFC 9420 §2.1.2 the integer has 30 usable bits at most (1, 2 or 4 bytes).
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_VARINT) outOfRange("varint", v, { max: MAX_VARINT });
    this.#ensure(4);
    this.#putVarint(this.#pos, v);
    this.#pos += varintSize(v);
  }

  // MIMI-CODEC-01: RFC 9420 §2.1.2 "The encoded value MUST use the smallest number of bits
  // required to represent the value": the form is chosen by varintSize().
  #putVarint(at: number, v: number): void {
    const b = this.#buf;
    switch (varintSize(v)) {
      case 1:
        b[at] = v;
        break;
      case 2:
        b[at] = 0x40 | (v >>> 8);
        b[at + 1] = v & 0xff;
        break;
      case 4:
        b[at] = 0x80 | (v >>> 24);
        b[at + 1] = (v >>> 16) & 0xff;
        b[at + 2] = (v >>> 8) & 0xff;
        b[at + 3] = v & 0xff;
        break;
    }
  }

  writeBytes(bytes: Uint8Array): void {
    if (!(bytes instanceof Uint8Array)) outOfRange("opaque", bytes);
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /**
   * Writes a `<V>` vector: `body` writes the contents, then the byte length is put in front as a
   * minimal varint. Room for the longest (4-byte) header is reserved first and the body is moved
   * back if the header turns out shorter, so the body is written once, in place.
   */
  vector(body: () => void): void {
    this.#ensure(4);
    const mark = this.#pos;
    this.#pos += 4;
    body();
    const len = this.#pos - mark - 4;
    if (len > MAX_VARINT) {
      throw codecError("MIMI_ERR_CODEC_LENGTH_TOO_LARGE", `vector of ${len} bytes is longer than a <V> length can express`, { length: len, limit: MAX_VARINT });
    }
    const header = varintSize(len);
    if (header !== 4) this.#buf.copyWithin(mark + header, mark + 4, this.#pos);
    this.#pos -= 4 - header;
    this.#putVarint(mark, len);
  }

  /** Enters one level of recursion (used by `lazy`); pair with `leave()` in a finally block. */
  enter(): void {
    // MIMI-CODEC-11: a cyclic or absurdly deep value gets a typed error, not a stack overflow.
    if (this.#depth >= this.maxDepth) {
      throw codecError("MIMI_ERR_CODEC_DEPTH_EXCEEDED", `value nests deeper than ${this.maxDepth} levels`, { maxDepth: this.maxDepth });
    }
    this.#depth++;
  }

  leave(): void {
    this.#depth--;
  }

  /** The bytes written, as a new buffer of exactly the right size (not aliased to the Writer). */
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#pos);
  }
}
