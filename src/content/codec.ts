// MIMI content codec: draft-ietf-mimi-content -08 §4 (fields), §6 (encoding, data model and
// depth restrictions), §9.1 (limits that do not depend on the clock; those live in receipt.ts).
//
// Decoding is two steps: the generic reader (cbor.ts) turns bytes into the CBOR data model, then
// `contentFromCbor` maps the seven-element array onto `MimiContent` and `validateContent` checks
// every field. Encoding runs the same `validateContent` first, so a MimiContent that encodes is
// one that decodes.

import { MimiError } from "../errors.ts";
import type { MimiErrorCode } from "../errors.ts";
import { bytesEqual, utf8Length } from "./bytes.ts";
import { CborFloat, CborTag, decodeCbor, encodeCbor } from "./cbor.ts";
import type { CborValue } from "./cbor.ts";
import { MimiContentLimits as L } from "./limits.ts";
import { Cardinality, Disposition, ExtensionKey, PartSemantics } from "./types.ts";
import type {
  CardinalityName,
  DispositionName,
  Expiration,
  MimiContent,
  MimiExtensions,
  NestedPart,
  PartSemanticsName,
} from "./types.ts";

export interface DecodeContentOptions {
  /** Local policy for §9.1 "too large"; default MimiContentLimits.maxContentBytes. */
  maxBytes?: number;
}

/** What `validateContent` learns while it walks the body. */
export interface ContentStats {
  /** Number of NestedParts, the root included (the highest implied part index + 1). */
  parts: number;
  /** Deepest NestedPart level; the body itself is level 1. */
  depth: number;
}

export interface LenientDecodeResult {
  content: MimiContent;
  /** True when re-encoding the decoded content gives the input bytes back, byte for byte. */
  roundTrip: boolean;
  /** Why the input is not deterministic CBOR, if it is not. */
  nonDeterministic: string[];
  stats: ContentStats;
}

function fail(code: MimiErrorCode, path: string, message: string, details: Record<string, unknown> = {}): never {
  throw new MimiError(code, path === "" ? message : `${path}: ${message}`, { details: { path, ...details } });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function checkString(v: unknown, path: string): void {
  if (typeof v !== "string") fail("MIMI_ERR_CONTENT_SCHEMA", path, "must be a text string");
  // MIMI-CONTENT-10: §6.2 text strings MUST be valid UTF-8 (a lone surrogate has no UTF-8 form).
  if (!v.isWellFormed()) fail("MIMI_ERR_CONTENT_SCHEMA", path, "text string is not valid Unicode (lone surrogate)");
}

function checkBytes(v: unknown, path: string): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) fail("MIMI_ERR_CONTENT_SCHEMA", path, "must be a byte string");
}

function checkUint(v: unknown, max: number, path: string): void {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    fail("MIMI_ERR_CONTENT_SCHEMA", path, `must be an unsigned integer no larger than ${max}`);
  }
}

function checkUint64(v: unknown, path: string): void {
  const ok = (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) || (typeof v === "bigint" && v >= 0n && v <= L.maxUint64);
  if (!ok) fail("MIMI_ERR_CONTENT_SCHEMA", path, "must be an unsigned 64-bit integer");
}

/** MIMI-CONTENT-16: §4.1 `MessageId = bstr .size 32`. */
export function checkMessageIdShape(v: unknown, path: string, code: MimiErrorCode = "MIMI_ERR_CONTENT_BAD_MESSAGE_ID"): asserts v is Uint8Array {
  checkBytes(v, path);
  if (v.byteLength !== L.messageIdBytes) fail(code, path, `message ID must be ${L.messageIdBytes} bytes, got ${v.byteLength}`);
}

/**
 * Checks a generic CBOR value inside an extension. `level` is the §6.3 level the value would
 * occupy if it is a tag, map or array (the extensions map itself is level 1).
 */
export function validateExtensionValue(v: unknown, level: number, path: string): void {
  if (v === null || typeof v === "boolean" || v instanceof Uint8Array) return;
  if (v instanceof CborFloat) {
    // §6.2 discourages floats but allows them; NaN is written as the half-width quiet NaN.
    if (typeof v.value !== "number") fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", path, "float value must be a number");
    return;
  }
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", path, "a plain number must be a safe integer");
    return;
  }
  if (typeof v === "bigint") {
    if (v > L.maxUint64 || v < -1n - L.maxUint64) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", path, "integer does not fit 64 bits");
    return;
  }
  if (typeof v === "string") {
    if (!v.isWellFormed()) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", path, "text string is not valid Unicode (lone surrogate)");
    return;
  }
  const isContainer = Array.isArray(v) || v instanceof Map || v instanceof CborTag;
  if (!isContainer) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", path, "value is not in the CBOR data model");
  // MIMI-CONTENT-12: §6.3 no tags, maps or arrays at more than 4 levels of depth in the extensions.
  if (level > L.maxExtensionDepth) {
    fail("MIMI_ERR_CONTENT_DEPTH_EXCEEDED", path, `extension nests a tag, map or array at level ${level}, deeper than ${L.maxExtensionDepth} (§6.3)`, { limit: L.maxExtensionDepth });
  }
  if (Array.isArray(v)) {
    v.forEach((item, i) => validateExtensionValue(item, level + 1, `${path}[${i}]`));
  } else if (v instanceof CborTag) {
    const t = v.tag;
    const ok = (typeof t === "number" && Number.isSafeInteger(t) && t >= 0) || (typeof t === "bigint" && t >= 0n && t <= L.maxUint64);
    if (!ok) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", path, "tag number must be an unsigned 64-bit integer");
    validateExtensionValue(v.value, level + 1, `${path}.value`);
  } else {
    const seen = new Set<string>();
    let i = 0;
    for (const [k, value] of v as Map<unknown, unknown>) {
      // MIMI-CONTENT-07: §6.2 keys of maps inside extensions are integers, text or byte strings.
      // MIMI-CONTENT-08: §6.2 integer keys representable as a double.
      const keyOk = (typeof k === "number" && Number.isSafeInteger(k)) || (typeof k === "string" && k.isWellFormed()) || k instanceof Uint8Array;
      if (!keyOk) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${path}.map[${i}][0]`, "map key must be a safe integer, text string or byte string (§6.2)");
      const id = keyIdentity(k);
      if (seen.has(id)) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${path}.map[${i}][0]`, "duplicate map key");
      seen.add(id);
      validateExtensionValue(value, level + 1, `${path}.map[${i}][1]`);
      i += 1;
    }
  }
}

function keyIdentity(k: number | string | Uint8Array): string {
  if (typeof k === "number") return `i${k}`;
  if (typeof k === "string") return `t${k}`;
  return `b${Buffer.from(k).toString("hex")}`;
}

/** §4.3 extensions map: key rules, registered keys 1 and 2, value rules. */
export function validateExtensions(ext: unknown, path = "mimiExtensions"): void {
  if (!(ext instanceof Map)) fail("MIMI_ERR_CONTENT_SCHEMA", path, "must be a map");
  let i = 0;
  for (const [k, v] of ext as Map<unknown, unknown>) {
    const at = `${path}[${i}]`;
    if (typeof k === "number") {
      // MIMI-CONTENT-08: §6.2 integer keys representable as a double without loss.
      if (!Number.isSafeInteger(k)) fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${at}[0]`, "integer extension key must be within ±(2^53 - 1) (§6.2)");
    } else if (typeof k === "string") {
      // MIMI-CONTENT-05: §4.3 / §6.2 text keys hold 1..255 octets of UTF-8.
      const n = k.isWellFormed() ? utf8Length(k) : -1;
      if (n < L.minExtensionTextKeyBytes || n > L.maxExtensionTextKeyBytes) {
        fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${at}[0]`, `text extension key must be ${L.minExtensionTextKeyBytes}..${L.maxExtensionTextKeyBytes} octets of UTF-8 (§4.3)`);
      }
    } else {
      // MIMI-CONTENT-05: §6.2 extension keys MUST be integers or text strings (not byte strings).
      fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${at}[0]`, "extension key must be an integer or a text string (§6.2)");
    }
    // MIMI-CONTENT-27: §4.3 / §8.2.1 senderUri (1) and roomUri (2) are tstr.
    if ((k === ExtensionKey.senderUri || k === ExtensionKey.roomUri) && (typeof v !== "string" || !v.isWellFormed())) {
      fail("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${at}[1]`, `extension ${k} (${k === 1 ? "senderUri" : "roomUri"}) must be a text string`);
    }
    validateExtensionValue(v, 2, `${at}[1]`);
    i += 1;
  }
}

function validatePart(part: unknown, path: string, depth: number, stats: ContentStats): void {
  // MIMI-CONTENT-11: §6.3 / §9.1 NestedParts MUST NOT be nested more than 4 levels deep.
  if (depth > L.maxNestedPartDepth) {
    fail("MIMI_ERR_CONTENT_DEPTH_EXCEEDED", path, `NestedPart at level ${depth}, deeper than ${L.maxNestedPartDepth} (§6.3)`, { limit: L.maxNestedPartDepth });
  }
  stats.parts += 1;
  stats.depth = Math.max(stats.depth, depth);
  // MIMI-CONTENT-13: §9.1 more than 1024 body parts is discarded.
  if (stats.parts > L.maxParts) {
    fail("MIMI_ERR_CONTENT_TOO_MANY_PARTS", path, `more than ${L.maxParts} body parts (§9.1)`, { limit: L.maxParts });
  }
  if (!isObject(part)) fail("MIMI_ERR_CONTENT_SCHEMA", path, "must be a NestedPart");
  // MIMI-CONTENT-23: §4.4 / §8.2.2 a disposition is 0..255; unknown values (9..255) are kept.
  checkUint(part.disposition, L.maxDisposition, `${path}.disposition`);
  checkString(part.language, `${path}.language`);
  switch (part.cardinality) {
    case "nullpart":
      return;
    case "single":
      checkString(part.contentType, `${path}.contentType`);
      checkBytes(part.content, `${path}.content`);
      return;
    case "external":
      // MIMI-CONTENT-30: §4.4 / §4.5 ExternalPart field types and widths.
      checkString(part.contentType, `${path}.contentType`);
      checkString(part.url, `${path}.url`);
      checkUint(part.expires, L.maxUint32, `${path}.expires`);
      checkUint64(part.size, `${path}.size`);
      checkUint(part.encAlg, L.maxUint16, `${path}.encAlg`);
      checkBytes(part.key, `${path}.key`);
      checkBytes(part.nonce, `${path}.nonce`);
      checkBytes(part.aad, `${path}.aad`);
      checkUint(part.hashAlg, L.maxUint8, `${path}.hashAlg`);
      checkBytes(part.contentHash, `${path}.contentHash`);
      checkString(part.description, `${path}.description`);
      checkString(part.filename, `${path}.filename`);
      return;
    case "multi": {
      // MIMI-CONTENT-22: §9.1 discard a body with an unknown PartSemantics value.
      if (typeof part.partSemantics !== "string" || !Object.hasOwn(PartSemantics, part.partSemantics)) {
        fail("MIMI_ERR_CONTENT_SCHEMA", `${path}.partSemantics`, "unknown PartSemantics value (§9.1)");
      }
      // MIMI-CONTENT-28: §4.4 `parts: [2* NestedPart]`.
      if (!Array.isArray(part.parts) || part.parts.length < 2) {
        fail("MIMI_ERR_CONTENT_SCHEMA", `${path}.parts`, "a MultiPart must have at least 2 parts (§4.4)");
      }
      (part.parts as unknown[]).forEach((p, i) => validatePart(p, `${path}.parts[${i}]`, depth + 1, stats));
      return;
    }
    default:
      fail("MIMI_ERR_CONTENT_SCHEMA", `${path}.cardinality`, "must be nullpart, single, external or multi");
  }
}

/**
 * Checks every field of a MimiContent against the CDDL (A.1) and the structural limits of §6 and
 * §9.1 that do not depend on the clock. Returns the part count and depth.
 */
export function validateContent(content: MimiContent): ContentStats {
  if (!isObject(content)) fail("MIMI_ERR_CONTENT_SCHEMA", "", "MIMI content must be an object");
  const c = content as unknown as Record<string, unknown>;
  // MIMI-CONTENT-15: §4.1 `salt: bstr .size 16`.
  checkBytes(c.salt, "salt");
  if (c.salt.byteLength !== L.saltBytes) fail("MIMI_ERR_CONTENT_BAD_SALT", "salt", `salt must be ${L.saltBytes} bytes, got ${c.salt.byteLength}`);
  if (c.replaces !== null) checkMessageIdShape(c.replaces, "replaces");
  checkBytes(c.topicId, "topicId");
  // MIMI-CONTENT-14: §9.1 a topicId over 4096 octets is discarded.
  if (c.topicId.byteLength > L.maxTopicIdBytes) {
    fail("MIMI_ERR_CONTENT_TOPIC_TOO_LARGE", "topicId", `topicId is ${c.topicId.byteLength} bytes, more than ${L.maxTopicIdBytes} (§9.1)`, { limit: L.maxTopicIdBytes });
  }
  if (c.expires !== null) {
    // MIMI-CONTENT-29: §4.1 `Expiration = [relative: bool, time: uint .size 4]`.
    if (!isObject(c.expires)) fail("MIMI_ERR_CONTENT_SCHEMA", "expires", "must be null or [relative, time]");
    if (typeof c.expires.relative !== "boolean") fail("MIMI_ERR_CONTENT_SCHEMA", "expires.relative", "must be a boolean");
    checkUint(c.expires.time, L.maxUint32, "expires.time");
  }
  if (c.inReplyTo !== null) checkMessageIdShape(c.inReplyTo, "inReplyTo");
  validateExtensions(c.mimiExtensions);
  const stats: ContentStats = { parts: 0, depth: 0 };
  validatePart(c.nestedPart, "nestedPart", 1, stats);
  return stats;
}

// ---- CBOR data model <-> MimiContent ---------------------------------------------------------

const NESTED_PART_LENGTH: Record<CardinalityName, number> = { nullpart: 3, single: 5, external: 15, multi: 5 };
const cardinalityNames = Object.keys(Cardinality) as CardinalityName[];
const partSemanticsNames = Object.keys(PartSemantics) as PartSemanticsName[];

function partFromCbor(v: CborValue, path: string, depth: number): NestedPart {
  if (!Array.isArray(v) || v.length < 3) fail("MIMI_ERR_CONTENT_SCHEMA", path, "NestedPart must be an array [disposition, language, cardinality, ...] (§4.4)");
  if (depth > L.maxNestedPartDepth) {
    fail("MIMI_ERR_CONTENT_DEPTH_EXCEEDED", path, `NestedPart at level ${depth}, deeper than ${L.maxNestedPartDepth} (§6.3)`, { limit: L.maxNestedPartDepth });
  }
  const [disposition, language, cardinality] = v as [number, string, CborValue];
  const name = typeof cardinality === "number" ? cardinalityNames[cardinality] : undefined;
  if (name === undefined) fail("MIMI_ERR_CONTENT_SCHEMA", `${path}.cardinality`, "cardinality must be 0 (null), 1 (single), 2 (external) or 3 (multi)");
  if (v.length !== NESTED_PART_LENGTH[name]) {
    fail("MIMI_ERR_CONTENT_SCHEMA", path, `a ${name} NestedPart has ${NESTED_PART_LENGTH[name]} elements, got ${v.length}`);
  }
  const f = v as unknown[];
  switch (name) {
    case "nullpart":
      return { disposition, language, cardinality: name };
    case "single":
      return { disposition, language, cardinality: name, contentType: f[3] as string, content: f[4] as Uint8Array };
    case "external":
      return {
        disposition,
        language,
        cardinality: name,
        contentType: f[3] as string,
        url: f[4] as string,
        expires: f[5] as number,
        size: f[6] as number | bigint,
        encAlg: f[7] as number,
        key: f[8] as Uint8Array,
        nonce: f[9] as Uint8Array,
        aad: f[10] as Uint8Array,
        hashAlg: f[11] as number,
        contentHash: f[12] as Uint8Array,
        description: f[13] as string,
        filename: f[14] as string,
      };
    case "multi": {
      const semantics = typeof f[3] === "number" ? partSemanticsNames[f[3]] : undefined;
      // MIMI-CONTENT-22: §9.1 unknown PartSemantics value.
      if (semantics === undefined) fail("MIMI_ERR_CONTENT_SCHEMA", `${path}.partSemantics`, "unknown PartSemantics value (§9.1)");
      if (!Array.isArray(f[4])) fail("MIMI_ERR_CONTENT_SCHEMA", `${path}.parts`, "must be an array of NestedParts");
      const parts = (f[4] as CborValue[]).map((p, i) => partFromCbor(p, `${path}.parts[${i}]`, depth + 1));
      return { disposition, language, cardinality: name, partSemantics: semantics, parts };
    }
  }
}

function expiresFromCbor(v: CborValue): Expiration | null {
  if (v === null) return null;
  if (!Array.isArray(v) || v.length !== 2) fail("MIMI_ERR_CONTENT_SCHEMA", "expires", "must be null or [relative: bool, time: uint .size 4] (§4.1)");
  return { relative: v[0] as boolean, time: v[1] as number };
}

/** Maps a decoded CBOR value onto MimiContent and validates it. */
export function contentFromCbor(value: CborValue): MimiContent {
  const content = mapContent(value);
  validateContent(content);
  return content;
}

// MIMI-CONTENT-33: A.1 CDDL, the top-level array and the NestedPart arrays have fixed shapes.
function mapContent(value: CborValue): MimiContent {
  if (!Array.isArray(value) || value.length !== 7) {
    fail("MIMI_ERR_CONTENT_SCHEMA", "", "MIMI content must be a CBOR array of 7 elements [salt, replaces, topicId, expires, inReplyTo, mimiExtensions, nestedPart] (§4.1)");
  }
  const v = value as unknown[];
  if (!(v[5] instanceof Map)) fail("MIMI_ERR_CONTENT_SCHEMA", "mimiExtensions", "must be a map (§4.3)");
  const content: MimiContent = {
    salt: v[0] as Uint8Array,
    replaces: v[1] as Uint8Array | null,
    topicId: v[2] as Uint8Array,
    expires: expiresFromCbor(v[3] as CborValue),
    inReplyTo: v[4] as Uint8Array | null,
    mimiExtensions: v[5] as MimiExtensions,
    nestedPart: partFromCbor(v[6] as CborValue, "nestedPart", 1),
  };
  return content;
}

function partToCbor(p: NestedPart): CborValue {
  const head: CborValue[] = [p.disposition, p.language, Cardinality[p.cardinality]];
  switch (p.cardinality) {
    case "nullpart":
      return head;
    case "single":
      return [...head, p.contentType, p.content];
    case "external":
      return [...head, p.contentType, p.url, p.expires, p.size, p.encAlg, p.key, p.nonce, p.aad, p.hashAlg, p.contentHash, p.description, p.filename];
    case "multi":
      return [...head, PartSemantics[p.partSemantics], p.parts.map(partToCbor)];
  }
}

/** Maps MimiContent onto the CBOR data model (no validation; `encodeContent` validates). */
export function contentToCbor(c: MimiContent): CborValue[] {
  return [
    c.salt,
    c.replaces,
    c.topicId,
    c.expires === null ? null : [c.expires.relative, c.expires.time],
    c.inReplyTo,
    c.mimiExtensions,
    partToCbor(c.nestedPart),
  ];
}

/** Validates and encodes MIMI content in deterministic CBOR (§6.1). */
export function encodeContent(content: MimiContent): Uint8Array {
  validateContent(content);
  return encodeCbor(contentToCbor(content));
}

function checkSize(bytes: Uint8Array, maxBytes: number | undefined): void {
  if (!(bytes instanceof Uint8Array)) fail("MIMI_ERR_CONTENT_SCHEMA", "", "content must be a Uint8Array");
  const max = maxBytes ?? L.maxContentBytes;
  // MIMI-CONTENT-24: §9.1 a body that is too large according to local policy is discarded.
  if (bytes.byteLength > max) {
    throw new MimiError("MIMI_ERR_CONTENT_TOO_LARGE", `content is ${bytes.byteLength} bytes, more than the limit of ${max} (§9.1, local policy)`, { details: { size: bytes.byteLength, limit: max } });
  }
}

/**
 * Strict decoding for received content: well-formed, deterministic (§6.1), within the data model
 * (§6.2) and the structural limits (§6.3, §9.1), and re-encoding to the identical bytes.
 */
export function decodeContent(bytes: Uint8Array, options: DecodeContentOptions = {}): MimiContent {
  checkSize(bytes, options.maxBytes);
  const { value } = decodeCbor(bytes, { mode: "strict" });
  const content = contentFromCbor(value);
  // MIMI-CONTENT-01: whatever the reader did not catch, the re-encoding must be identical.
  if (!bytesEqual(encodeCbor(value), bytes)) {
    throw new MimiError("MIMI_ERR_CONTENT_NOT_DETERMINISTIC", "content does not re-encode to the identical bytes (RFC 8949 §4.2.1, draft-ietf-mimi-content §6.1)");
  }
  return content;
}

/**
 * Decoding for inspection: accepts non-deterministic forms (non-minimal lengths, indefinite
 * lengths, unsorted keys) and reports them, but still rejects malformed CBOR and schema errors.
 */
export function decodeContentLenient(bytes: Uint8Array, options: DecodeContentOptions = {}): LenientDecodeResult {
  checkSize(bytes, options.maxBytes);
  const { value, nonDeterministic } = decodeCbor(bytes, { mode: "lenient" });
  return lenientFromCbor(value, bytes, nonDeterministic);
}

/** @internal Shared by decodeContentLenient and inspect. */
export function lenientFromCbor(value: CborValue, bytes: Uint8Array, nonDeterministic: string[]): LenientDecodeResult {
  const content = mapContent(value);
  const stats = validateContent(content);
  const roundTrip = bytesEqual(encodeContent(content), bytes);
  return { content, roundTrip, nonDeterministic, stats };
}

// ---- part helpers ------------------------------------------------------------------------------

/** MIMI-CONTENT-23: §9.1 an unknown disposition "should be treated as if it were render". */
export function effectiveDisposition(disposition: number): number {
  return disposition <= Disposition.preview ? disposition : Disposition.render;
}

/** The registry name of a disposition (§8.2.2), or "unknown" for 9..255. */
export function dispositionName(disposition: number): DispositionName | "unknown" {
  const entry = Object.entries(Disposition).find(([, v]) => v === disposition);
  return entry === undefined ? "unknown" : (entry[0] as DispositionName);
}

export interface IndexedPart {
  /** §4.4 implied part index: zero-based, depth-first, the body being 0. */
  partIndex: number;
  /** Nesting level, the body being 1. */
  depth: number;
  part: NestedPart;
}

/** Lists every NestedPart in part-index order (§4.4, Appendix B.3). */
export function partsDepthFirst(root: NestedPart): IndexedPart[] {
  const out: IndexedPart[] = [];
  const walk = (part: NestedPart, depth: number): void => {
    out.push({ partIndex: out.length, depth, part });
    if (part.cardinality === "multi") for (const p of part.parts) walk(p, depth + 1);
  };
  walk(root, 1);
  return out;
}

/** The §8.2.1 senderUri extension (key 1), if present. */
export function senderUriOf(content: MimiContent): string | undefined {
  const v = content.mimiExtensions.get(ExtensionKey.senderUri);
  return typeof v === "string" ? v : undefined;
}

/** The §8.2.1 roomUri extension (key 2), if present. */
export function roomUriOf(content: MimiContent): string | undefined {
  const v = content.mimiExtensions.get(ExtensionKey.roomUri);
  return typeof v === "string" ? v : undefined;
}
