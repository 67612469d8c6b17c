// Deterministic CBOR for MIMI content (draft-ietf-mimi-content -08 §6, RFC 8949 §4.2.1).
//
// Encoding: cborg turns the value into tokens (`objectToTokens`) with its `rfc8949EncodeOptions`,
// whose map sorter orders keys bytewise by their encoded form. cborg's default sorter is the
// RFC 7049 "length first" rule, which §6.1 forbids ("MUST NOT send MIMI content in RFC7094
// 'canonical' order"), so the default options must never be used here. The tokens are then
// written out by `writeTokens` below rather than by cborg's writer, because cborg 6.1.5 does not
// write half-precision subnormals such as 3 * 2^-24 in their shortest form (it falls back to
// float32, which is not deterministic and which our own decoder then rejects). Every other
// token is written exactly as cborg writes it: shortest heads, definite lengths.
//
// Decoding uses the reader below rather than cborg's decoder, because a receiver has to tell
// apart three different faults that cborg folds together or does not see: input that is not
// well-formed CBOR (MIMI_ERR_CONTENT_CBOR_MALFORMED), well-formed CBOR that is not in
// deterministic form (MIMI_ERR_CONTENT_NOT_DETERMINISTIC), and values outside the MIMI data
// model of §6.2 (invalid UTF-8 is malformed; bad NaNs, undefined and bad map keys are not).
// cborg replaces invalid UTF-8 with U+FFFD, drops NaN payloads and cannot keep 1.0 apart from 1.
// In "lenient" mode the reader accepts non-deterministic forms and lists them, so `inspect` can
// still show such a file and report roundTrip: false.

import { objectToTokens, rfc8949EncodeOptions, Token, Type } from "cborg";
import type { EncodeOptions, TypeEncoder } from "cborg";
import type { TokenOrNestedTokens } from "cborg/interface";
import { MimiError, wrapError } from "../errors.ts";
import type { MimiErrorCode } from "../errors.ts";
import { compareBytes, toHex } from "./bytes.ts";
import { MimiContentLimits } from "./limits.ts";

/** A CBOR floating-point value. Kept apart from integers so that 1.0 (0xf93c00) round-trips. */
export class CborFloat {
  readonly value: number;
  constructor(value: number) {
    this.value = value;
  }
}

/** A CBOR tag with its content, e.g. tag 32 (URI) inside an extension or tag 1001 (RFC 9581). */
export class CborTag {
  readonly tag: number | bigint;
  readonly value: CborValue;
  constructor(tag: number | bigint, value: CborValue) {
    this.tag = tag;
    this.value = value;
  }
}

/** Map keys allowed anywhere in MIMI content (§6.2): integers, text strings, byte strings. */
export type CborKey = number | string | Uint8Array;
export type CborMap = Map<CborKey, CborValue>;

/**
 * The generic CBOR data model. Integers are `number` when they are safe integers and `bigint`
 * otherwise; floats are always `CborFloat`; maps are `Map`s (insertion order is irrelevant,
 * the encoder sorts).
 */
export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | CborValue[]
  | CborMap
  | CborTag
  | CborFloat;

export type CborDecodeMode = "strict" | "lenient";

export interface CborDecodeOptions {
  /** "strict" (default) throws on any non-deterministic encoding; "lenient" records it. */
  mode?: CborDecodeMode;
  /** Deepest nesting of arrays, maps and tags accepted; default MimiContentLimits.maxCborNesting. */
  maxDepth?: number;
}

export interface CborDecodeResult {
  value: CborValue;
  /** Lenient mode only: why the input is not in deterministic form (empty when it is). */
  nonDeterministic: string[];
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function fail(code: MimiErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new MimiError(code, message, details === undefined ? {} : { details });
}

function normaliseInt(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function halfToNumber(half: number): number {
  const exp = (half >> 10) & 0x1f;
  const mant = half & 0x3ff;
  let value: number;
  if (exp === 0) value = mant * 2 ** -24;
  else if (exp === 31) value = mant === 0 ? Infinity : NaN;
  else value = (mant + 1024) * 2 ** (exp - 25);
  return (half & 0x8000) !== 0 ? -value : value;
}

/** True when `value` (not NaN) has an exact IEEE 754 binary16 representation. */
function fitsHalf(value: number): boolean {
  if (!Number.isFinite(value) || value === 0) return true;
  const a = Math.abs(value);
  if (a > 65504) return false;
  if (a < 2 ** -14) return Number.isInteger(a * 2 ** 24); // subnormal range: multiples of 2^-24
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  return Number.isInteger(a / 2 ** (e - 10)); // 11 significant bits
}

class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  readonly strict: boolean;
  readonly maxDepth: number;
  readonly issues: string[] = [];
  pos = 0;

  constructor(bytes: Uint8Array, options: CborDecodeOptions) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.strict = (options.mode ?? "strict") === "strict";
    this.maxDepth = options.maxDepth ?? MimiContentLimits.maxCborNesting;
  }

  remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  malformed(message: string, at: number): never {
    fail("MIMI_ERR_CONTENT_CBOR_MALFORMED", `${message} (byte offset ${at})`, { offset: at });
  }

  // MIMI-CONTENT-01: §6.1 MIMI content MUST use deterministic serialization (RFC 8949 §4.2.1).
  nonDeterministic(message: string, at: number): void {
    if (this.strict) {
      fail("MIMI_ERR_CONTENT_NOT_DETERMINISTIC", `${message} (byte offset ${at}); RFC 8949 §4.2.1 and draft-ietf-mimi-content §6.1`, { offset: at });
    }
    this.issues.push(`byte offset ${at}: ${message}`);
  }

  need(n: number, at: number): void {
    if (this.remaining() < n) this.malformed("input ends before the CBOR data item is complete", at);
  }

  u8(at: number): number {
    this.need(1, at);
    const b = this.view.getUint8(this.pos);
    this.pos += 1;
    return b;
  }

  peek(at: number): number {
    this.need(1, at);
    return this.view.getUint8(this.pos);
  }

  enter(parentDepth: number, at: number): number {
    const depth = parentDepth + 1;
    if (depth > this.maxDepth) {
      fail("MIMI_ERR_CONTENT_DEPTH_EXCEEDED", `CBOR nests deeper than ${this.maxDepth} levels (byte offset ${at})`, { offset: at, limit: this.maxDepth });
    }
    return depth;
  }

  /** The argument of an initial byte (RFC 8949 §3); MIMI-CONTENT-02: §6.1 shortest form. */
  argument(ai: number, at: number): number | bigint {
    if (ai < 24) return ai;
    switch (ai) {
      case 24: {
        const v = this.u8(at);
        if (v < 24) this.nonDeterministic("integer, length or tag not in its shortest form", at);
        return v;
      }
      case 25: {
        this.need(2, at);
        const v = this.view.getUint16(this.pos);
        this.pos += 2;
        if (v < 0x100) this.nonDeterministic("integer, length or tag not in its shortest form", at);
        return v;
      }
      case 26: {
        this.need(4, at);
        const v = this.view.getUint32(this.pos);
        this.pos += 4;
        if (v < 0x10000) this.nonDeterministic("integer, length or tag not in its shortest form", at);
        return v;
      }
      case 27: {
        this.need(8, at);
        const v = this.view.getBigUint64(this.pos);
        this.pos += 8;
        if (v < 0x100000000n) this.nonDeterministic("integer, length or tag not in its shortest form", at);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      default:
        return this.malformed(`reserved additional information value ${ai}`, at);
    }
  }

  /** A length or count that must fit in what is left of the input (each element takes >= `unit` bytes). */
  count(arg: number | bigint, unit: number, at: number): number {
    if (typeof arg === "bigint" || arg * unit > this.remaining()) {
      this.malformed("length exceeds the remaining input", at);
    }
    return arg;
  }

  take(n: number): Uint8Array {
    // A copy, and a plain Uint8Array even when the input is a Buffer (whose slice() is a view).
    const out = new Uint8Array(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  text(raw: Uint8Array, at: number): string {
    try {
      return utf8.decode(raw);
    } catch (cause) {
      // MIMI-CONTENT-10: §6.2 text strings MUST be valid UTF-8.
      throw new MimiError("MIMI_ERR_CONTENT_CBOR_MALFORMED", `text string is not valid UTF-8 (byte offset ${at}); draft-ietf-mimi-content §6.2`, { cause, details: { offset: at } });
    }
  }

  item(parentDepth: number): CborValue {
    const at = this.pos;
    const ib = this.u8(at);
    const major = ib >> 5;
    const ai = ib & 0x1f;
    if (major === 7) return this.simple(ai, at);
    if (ai === 31) {
      // MIMI-CONTENT-03: §6.1 never use indefinite-length encoding.
      switch (major) {
        case 2:
        case 3:
          return this.indefiniteString(major, at);
        case 4:
          return this.indefiniteArray(parentDepth, at);
        case 5:
          return this.indefiniteMap(parentDepth, at);
        default:
          return this.malformed(`indefinite length is not defined for major type ${major}`, at);
      }
    }
    const arg = this.argument(ai, at);
    switch (major) {
      case 0:
        return arg;
      case 1:
        return normaliseInt(-1n - BigInt(arg));
      case 2:
        return this.take(this.count(arg, 1, at));
      case 3:
        return this.text(this.take(this.count(arg, 1, at)), at);
      case 4: {
        const n = this.count(arg, 1, at);
        const depth = this.enter(parentDepth, at);
        const out: CborValue[] = [];
        for (let i = 0; i < n; i++) out.push(this.item(depth));
        return out;
      }
      case 5: {
        const n = this.count(arg, 2, at);
        const depth = this.enter(parentDepth, at);
        const map: CborMap = new Map();
        const state: MapState = { seen: new Set(), previous: undefined };
        for (let i = 0; i < n; i++) this.entry(map, state, depth);
        return map;
      }
      default:
        return this.tag(arg, parentDepth, at);
    }
  }

  tag(tagNumber: number | bigint, parentDepth: number, at: number): CborTag {
    const depth = this.enter(parentDepth, at);
    const content = this.item(depth);
    // §6.1: "representing bigints as regular integers when they fit" (RFC 8949 §3.4.3, no leading zeros).
    if ((tagNumber === 2 || tagNumber === 3) && content instanceof Uint8Array && (content.byteLength <= 8 || content[0] === 0)) {
      this.nonDeterministic("bignum that fits a plain integer or has leading zero bytes", at);
    }
    return new CborTag(tagNumber, content);
  }

  entry(map: CborMap, state: MapState, depth: number): void {
    const keyAt = this.pos;
    const key = this.item(depth);
    const encodedKey = checkMapKey(key, keyAt);
    const hex = toHex(encodedKey);
    if (state.seen.has(hex)) {
      // MIMI-CONTENT-06: §4.3 no two extension fields with the same key (and RFC 8949 §5.6: maps with duplicate keys are invalid).
      fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `duplicate map key (byte offset ${keyAt}); draft-ietf-mimi-content §4.3`, { offset: keyAt });
    }
    if (state.previous !== undefined && compareBytes(state.previous, encodedKey) > 0) {
      // MIMI-CONTENT-04: §6.1 map keys sorted bytewise by their encoding (RFC 8949 §4.2.1), not RFC 7049 order.
      this.nonDeterministic("map keys are not sorted bytewise by their encoded form", keyAt);
    }
    state.seen.add(hex);
    state.previous = encodedKey;
    map.set(key as CborKey, this.item(depth));
  }

  indefiniteString(major: number, at: number): Uint8Array | string {
    this.nonDeterministic("indefinite-length string", at);
    const chunks: Uint8Array[] = [];
    const texts: string[] = [];
    for (;;) {
      const chunkAt = this.pos;
      const ib = this.u8(chunkAt);
      if (ib === 0xff) break;
      if (ib >> 5 !== major || (ib & 0x1f) === 31) this.malformed("chunk of an indefinite-length string is not a definite string of the same type", chunkAt);
      const raw = this.take(this.count(this.argument(ib & 0x1f, chunkAt), 1, chunkAt));
      if (major === 3) texts.push(this.text(raw, chunkAt));
      else chunks.push(raw);
    }
    return major === 3 ? texts.join("") : new Uint8Array(Buffer.concat(chunks));
  }

  indefiniteArray(parentDepth: number, at: number): CborValue[] {
    this.nonDeterministic("indefinite-length array", at);
    const depth = this.enter(parentDepth, at);
    const out: CborValue[] = [];
    while (this.peek(at) !== 0xff) out.push(this.item(depth));
    this.pos += 1;
    return out;
  }

  indefiniteMap(parentDepth: number, at: number): CborMap {
    this.nonDeterministic("indefinite-length map", at);
    const depth = this.enter(parentDepth, at);
    const map: CborMap = new Map();
    const state: MapState = { seen: new Set(), previous: undefined };
    while (this.peek(at) !== 0xff) this.entry(map, state, depth);
    this.pos += 1;
    return map;
  }

  simple(ai: number, at: number): CborValue {
    switch (ai) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return fail("MIMI_ERR_CONTENT_SCHEMA", `undefined is not part of the MIMI content data model (byte offset ${at})`, { offset: at });
      case 24: {
        const v = this.u8(at);
        if (v < 32) this.malformed("two-byte simple value below 32", at);
        return fail("MIMI_ERR_CONTENT_SCHEMA", `unassigned simple value ${v} (byte offset ${at})`, { offset: at });
      }
      case 25: {
        this.need(2, at);
        const half = this.view.getUint16(this.pos);
        this.pos += 2;
        const value = halfToNumber(half);
        // MIMI-CONTENT-09: §6.2 the only NaN permitted is the half-width quiet NaN 0xf97e00.
        if (Number.isNaN(value) && half !== 0x7e00) this.badNaN(at);
        return new CborFloat(value);
      }
      case 26: {
        this.need(4, at);
        const value = this.view.getFloat32(this.pos);
        this.pos += 4;
        if (Number.isNaN(value)) this.badNaN(at);
        if (fitsHalf(value)) this.nonDeterministic("float not in its shortest form", at);
        return new CborFloat(value);
      }
      case 27: {
        this.need(8, at);
        const value = this.view.getFloat64(this.pos);
        this.pos += 8;
        if (Number.isNaN(value)) this.badNaN(at);
        if (Math.fround(value) === value) this.nonDeterministic("float not in its shortest form", at);
        return new CborFloat(value);
      }
      case 31:
        return this.malformed("break stop code outside an indefinite-length item", at);
      default:
        if (ai < 20) return fail("MIMI_ERR_CONTENT_SCHEMA", `unassigned simple value ${ai} (byte offset ${at})`, { offset: at });
        return this.malformed(`reserved additional information value ${ai}`, at);
    }
  }

  badNaN(at: number): never {
    return fail("MIMI_ERR_CONTENT_SCHEMA", `NaN other than the half-width quiet NaN 0xf97e00 (byte offset ${at}); draft-ietf-mimi-content §6.2`, { offset: at });
  }
}

interface MapState {
  seen: Set<string>;
  previous: Uint8Array | undefined;
}

/**
 * MIMI-CONTENT-07 / MIMI-CONTENT-08: §6.2 map keys at any level are integers, text strings or
 * byte strings, and integer keys are representable as a double. Returns the key's deterministic
 * encoding, which is what RFC 8949 §4.2.1 sorts and compares.
 */
function checkMapKey(key: CborValue, at: number): Uint8Array {
  if (typeof key === "bigint") {
    fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `integer map key ${key} is not representable as a double (byte offset ${at}); draft-ietf-mimi-content §6.2`, { offset: at });
  }
  if (typeof key !== "number" && typeof key !== "string" && !(key instanceof Uint8Array)) {
    fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `map key is not an integer, text string or byte string (byte offset ${at}); draft-ietf-mimi-content §6.2`, { offset: at });
  }
  return encodeCbor(key);
}

/**
 * Decodes exactly one CBOR data item. Throws MimiError: CBOR_MALFORMED (not well-formed,
 * truncated, trailing bytes, invalid UTF-8), NOT_DETERMINISTIC (strict mode), DEPTH_EXCEEDED,
 * SCHEMA (undefined, unassigned simple values, NaN payloads), EXTENSION_INVALID (map keys).
 */
export function decodeCbor(bytes: Uint8Array, options: CborDecodeOptions = {}): CborDecodeResult {
  const reader = new Reader(bytes, options);
  let value: CborValue;
  try {
    value = reader.item(0);
  } catch (err) {
    throw wrapError("MIMI_ERR_CONTENT_CBOR_MALFORMED", err);
  }
  if (reader.pos !== bytes.byteLength) reader.malformed("trailing bytes after the CBOR data item", reader.pos);
  return { value, nonDeterministic: reader.issues };
}

// ---- encoding ------------------------------------------------------------------------------

const wrapperEncoder: TypeEncoder = (obj, _typ, options, refStack) => {
  if (obj instanceof CborFloat) return new Token(Type.float, obj.value);
  if (obj instanceof CborTag) return [new Token(Type.tag, obj.tag), objectToTokens(obj.value, options, refStack)];
  return null;
};

const encodeOptions: EncodeOptions = { ...rfc8949EncodeOptions, typeEncoders: { Object: wrapperEncoder } };

const utf8Encoder = new TextEncoder();

/** The IEEE 754 binary16 bits of `value`, which must satisfy fitsHalf (NaN excluded). */
function halfBits(value: number): number {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | (a * 2 ** 24); // zero and subnormals
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  return sign | ((e + 15) << 10) | (a / 2 ** (e - 10) - 1024);
}

class Writer {
  readonly chunks: Uint8Array[] = [];
  private small: number[] = [];

  byte(b: number): void {
    this.small.push(b);
  }

  bytes(b: Uint8Array): void {
    this.flush();
    this.chunks.push(b);
  }

  flush(): void {
    if (this.small.length > 0) {
      this.chunks.push(Uint8Array.from(this.small));
      this.small = [];
    }
  }

  /** RFC 8949 §3 head in its shortest form (§4.2.1). */
  head(major: number, arg: number | bigint): void {
    const mt = major << 5;
    const v = BigInt(arg);
    if (v < 24n) this.byte(mt | Number(v));
    else if (v < 0x100n) this.small.push(mt | 24, Number(v));
    else if (v < 0x10000n) this.small.push(mt | 25, Number(v >> 8n), Number(v & 0xffn));
    else if (v < 0x100000000n) {
      this.byte(mt | 26);
      for (let s = 24n; s >= 0n; s -= 8n) this.byte(Number((v >> s) & 0xffn));
    } else {
      this.byte(mt | 27);
      for (let s = 56n; s >= 0n; s -= 8n) this.byte(Number((v >> s) & 0xffn));
    }
  }

  /** The shortest of binary16, binary32 and binary64 that keeps the value (§6.1); NaN as 0xf97e00 (§6.2). */
  float(value: number): void {
    const view = new DataView(new ArrayBuffer(8));
    if (Number.isNaN(value)) {
      this.small.push(0xf9, 0x7e, 0x00);
    } else if (fitsHalf(value)) {
      const bits = halfBits(value);
      this.small.push(0xf9, bits >> 8, bits & 0xff);
    } else if (Math.fround(value) === value) {
      view.setFloat32(0, value);
      this.byte(0xfa);
      this.bytes(new Uint8Array(view.buffer, 0, 4));
    } else {
      view.setFloat64(0, value);
      this.byte(0xfb);
      this.bytes(new Uint8Array(view.buffer, 0, 8));
    }
  }

  result(): Uint8Array {
    this.flush();
    return new Uint8Array(Buffer.concat(this.chunks));
  }
}

function writeToken(w: Writer, token: Token): void {
  const value: unknown = token.value;
  switch (token.type.name) {
    case "uint":
    case "array":
    case "map":
    case "tag":
      w.head(token.type.major, value as number | bigint);
      return;
    case "negint":
      w.head(1, -1n - BigInt(value as number | bigint));
      return;
    case "bytes":
      w.head(2, (value as Uint8Array).byteLength);
      w.bytes(value as Uint8Array);
      return;
    case "string": {
      const raw = utf8Encoder.encode(value as string);
      w.head(3, raw.byteLength);
      w.bytes(raw);
      return;
    }
    case "float":
      w.float(value as number);
      return;
    case "false":
      w.byte(0xf4);
      return;
    case "true":
      w.byte(0xf5);
      return;
    case "null":
      w.byte(0xf6);
      return;
    default:
      throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", `cannot encode CBOR token ${token.type.name}`);
  }
}

/** Writes cborg's token tree (maps already sorted by rfc8949EncodeOptions) as bytes. */
function writeTokens(tokens: TokenOrNestedTokens): Uint8Array {
  const w = new Writer();
  const walk = (t: TokenOrNestedTokens): void => {
    if (Array.isArray(t)) for (const child of t) walk(child);
    else writeToken(w, t);
  };
  walk(tokens);
  return w.result();
}

function encodable(value: unknown, depth: number, path: string): void {
  if (depth > MimiContentLimits.maxCborNesting) fail("MIMI_ERR_CONTENT_DEPTH_EXCEEDED", `${path}: CBOR nests deeper than ${MimiContentLimits.maxCborNesting} levels`, { path });
  if (value === null || typeof value === "boolean" || value instanceof Uint8Array || value instanceof CborFloat) return;
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) fail("MIMI_ERR_CONTENT_SCHEMA", `${path}: a plain number must be a safe integer (use CborFloat for floats)`, { path });
    return;
  }
  if (typeof value === "bigint") {
    if (value > MimiContentLimits.maxUint64 || value < -1n - MimiContentLimits.maxUint64) fail("MIMI_ERR_CONTENT_SCHEMA", `${path}: integer does not fit CBOR major type 0 or 1`, { path });
    return;
  }
  if (typeof value === "string") {
    if (!value.isWellFormed()) fail("MIMI_ERR_CONTENT_SCHEMA", `${path}: text string has a lone surrogate and cannot be UTF-8`, { path });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => encodable(v, depth + 1, `${path}[${i}]`));
    return;
  }
  if (value instanceof CborTag) {
    const t = value.tag;
    if ((typeof t !== "number" && typeof t !== "bigint") || (typeof t === "number" && !Number.isSafeInteger(t)) || t < 0 || t > MimiContentLimits.maxUint64) {
      fail("MIMI_ERR_CONTENT_SCHEMA", `${path}: tag number must be an unsigned 64-bit integer`, { path });
    }
    encodable(value.value, depth + 1, `${path}.value`);
    return;
  }
  if (value instanceof Map) {
    const seen = new Set<string>();
    let i = 0;
    for (const [k, v] of value as Map<unknown, unknown>) {
      if (!((typeof k === "number" && Number.isSafeInteger(k)) || typeof k === "string" || k instanceof Uint8Array)) {
        fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${path}: map key must be a safe integer, text string or byte string (draft-ietf-mimi-content §6.2)`, { path });
      }
      encodable(k, depth + 1, `${path}.key[${i}]`);
      const hex = toHex(writeTokens(objectToTokens(k, encodeOptions)));
      if (seen.has(hex)) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${path}: duplicate map key`, { path });
      seen.add(hex);
      encodable(v, depth + 1, `${path}.value[${i}]`);
      i += 1;
    }
    return;
  }
  fail("MIMI_ERR_CONTENT_SCHEMA", `${path}: value is not in the CBOR data model (${typeof value})`, { path });
}

/**
 * Encodes a value in RFC 8949 §4.2.1 core deterministic form (MIMI-CONTENT-01, -02, -03, -04).
 * Throws MimiError (SCHEMA, EXTENSION_INVALID, DEPTH_EXCEEDED) for values outside the data model.
 */
export function encodeCbor(value: CborValue): Uint8Array {
  encodable(value, 0, "$");
  try {
    return writeTokens(objectToTokens(value, encodeOptions));
  } catch (err) {
    throw wrapError("MIMI_ERR_CONTENT_SCHEMA", err);
  }
}
