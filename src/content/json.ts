// The JSON form of MIMI content, for people and the command line (documented in
// docs/content-json.md). It mirrors `MimiContent` field by field:
//
// - byte strings are lowercase hex strings ("" for empty);
// - dispositions are registry names ("render") or, for values without a name, integers;
// - cardinality and partSemantics are the CDDL names ("single", "chooseOne");
// - integers above 2^53 - 1 (ExternalPart size, timestamps) are decimal strings;
// - mimiExtensions is an array of [key, value] pairs (keys: integer or text) so that the integer
//   key 1 and the text key "1" stay distinct;
// - extension values (any CBOR) use JSON for text, safe integers, booleans, null and arrays, and
//   one-key objects for the rest: {"bytes": hex}, {"int": "decimal"}, {"float": n | "NaN" |
//   "Infinity" | "-Infinity" | "-0"}, {"tag": n, "value": v}, {"map": [[k, v], ...]}.
//
// Shape errors are MIMI_ERR_CONTENT_JSON_INVALID with a JSON path in the message and in
// `details.path` (e.g. "nestedPart.parts[1].content: must be a hex string"); a well-formed JSON
// form that breaks a content rule gets that rule's code (e.g. MIMI_ERR_CONTENT_BAD_SALT).

import { MimiError } from "../errors.ts";
import { parseHex, toHex } from "./bytes.ts";
import { CborFloat, CborTag } from "./cbor.ts";
import type { CborKey, CborMap, CborValue } from "./cbor.ts";
import { dispositionName, encodeContent, validateContent } from "./codec.ts";
import { validateMessageDerivedValues } from "./implied.ts";
import { MimiContentLimits as L } from "./limits.ts";
import { statusName } from "./status.ts";
import { Cardinality, Disposition, PartSemantics } from "./types.ts";
import type {
  DispositionName,
  MessageDerivedValues,
  MessageStatusName,
  MessageStatusReport,
  MimiContent,
  MimiExtensions,
  NestedPart,
  PartSemanticsName,
  Timestamp,
} from "./types.ts";

export type CborJson =
  | string
  | number
  | boolean
  | null
  | CborJson[]
  | { bytes: string }
  | { int: string }
  | { float: number | "NaN" | "Infinity" | "-Infinity" | "-0" }
  | { tag: number | string; value: CborJson }
  | { map: [CborJson, CborJson][] };

export type DispositionJson = DispositionName | number;

interface PartCommonJson {
  disposition: DispositionJson;
  language: string;
}

export type NestedPartJson =
  | (PartCommonJson & { cardinality: "nullpart" })
  | (PartCommonJson & { cardinality: "single"; contentType: string; content: string })
  | (PartCommonJson & {
      cardinality: "external";
      contentType: string;
      url: string;
      expires: number;
      size: number | string;
      encAlg: number;
      key: string;
      nonce: string;
      aad: string;
      hashAlg: number;
      contentHash: string;
      description: string;
      filename: string;
    })
  | (PartCommonJson & { cardinality: "multi"; partSemantics: PartSemanticsName; parts: NestedPartJson[] });

export interface MimiContentJson {
  salt: string;
  replaces: string | null;
  topicId: string;
  expires: { relative: boolean; time: number } | null;
  inReplyTo: string | null;
  mimiExtensions: [number | string, CborJson][];
  nestedPart: NestedPartJson;
}

export interface MessageDerivedValuesJson {
  messageId: string;
  hubAcceptedTimestamp: number | string | { extendedTime: [number | string, CborJson][] };
  mlsGroupId: string;
  senderLeafIndex: number;
  senderClientUrl: string;
  senderUserUrl: string;
  roomUrl: string;
}

export interface PerMessageStatusJson {
  messageId: string;
  status: number;
  statusName: MessageStatusName | "unknown";
}

// ---- to JSON ------------------------------------------------------------------------------------

const bigToJson = (v: number | bigint): number | string => (typeof v === "bigint" ? v.toString() : v);

/** The JSON form of a generic CBOR value (extension values). */
export function cborToJson(v: CborValue): CborJson {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return { int: v.toString() };
  if (v instanceof Uint8Array) return { bytes: toHex(v) };
  if (v instanceof CborFloat) {
    const f = v.value;
    if (Number.isNaN(f)) return { float: "NaN" };
    if (f === Infinity) return { float: "Infinity" };
    if (f === -Infinity) return { float: "-Infinity" };
    if (Object.is(f, -0)) return { float: "-0" };
    return { float: f };
  }
  if (v instanceof CborTag) return { tag: bigToJson(v.tag), value: cborToJson(v.value) };
  if (Array.isArray(v)) return v.map(cborToJson);
  return { map: [...v].map(([k, val]): [CborJson, CborJson] => [cborToJson(k), cborToJson(val)]) };
}

function partToJson(p: NestedPart): NestedPartJson {
  const name = dispositionName(p.disposition);
  const common: PartCommonJson = { disposition: name === "unknown" ? p.disposition : name, language: p.language };
  switch (p.cardinality) {
    case "nullpart":
      return { ...common, cardinality: "nullpart" };
    case "single":
      return { ...common, cardinality: "single", contentType: p.contentType, content: toHex(p.content) };
    case "external":
      return {
        ...common,
        cardinality: "external",
        contentType: p.contentType,
        url: p.url,
        expires: p.expires,
        size: bigToJson(p.size),
        encAlg: p.encAlg,
        key: toHex(p.key),
        nonce: toHex(p.nonce),
        aad: toHex(p.aad),
        hashAlg: p.hashAlg,
        contentHash: toHex(p.contentHash),
        description: p.description,
        filename: p.filename,
      };
    case "multi":
      return { ...common, cardinality: "multi", partSemantics: p.partSemantics, parts: p.parts.map(partToJson) };
  }
}

/** The JSON form of MIMI content (see docs/content-json.md). */
export function contentToJson(content: MimiContent): MimiContentJson {
  return {
    salt: toHex(content.salt),
    replaces: content.replaces === null ? null : toHex(content.replaces),
    topicId: toHex(content.topicId),
    expires: content.expires === null ? null : { relative: content.expires.relative, time: content.expires.time },
    inReplyTo: content.inReplyTo === null ? null : toHex(content.inReplyTo),
    mimiExtensions: [...content.mimiExtensions].map(([k, v]): [number | string, CborJson] => [k, cborToJson(v)]),
    nestedPart: partToJson(content.nestedPart),
  };
}

export function messageDerivedValuesToJson(values: MessageDerivedValues): MessageDerivedValuesJson {
  const ts = values.hubAcceptedTimestamp;
  return {
    messageId: toHex(values.messageId),
    hubAcceptedTimestamp:
      typeof ts === "object" ? { extendedTime: [...ts.extendedTime].map(([k, v]): [number | string, CborJson] => [k as number | string, cborToJson(v)]) } : bigToJson(ts),
    mlsGroupId: toHex(values.mlsGroupId),
    senderLeafIndex: values.senderLeafIndex,
    senderClientUrl: values.senderClientUrl,
    senderUserUrl: values.senderUserUrl,
    roomUrl: values.roomUrl,
  };
}

export function statusReportToJson(report: MessageStatusReport): PerMessageStatusJson[] {
  return report.map((e) => ({ messageId: toHex(e.messageId), status: e.status, statusName: statusName(e.status) }));
}

// ---- from JSON ----------------------------------------------------------------------------------

function bad(path: string, message: string): never {
  throw new MimiError("MIMI_ERR_CONTENT_JSON_INVALID", `${path === "" ? "$" : path}: ${message}`, { details: { path: path === "" ? "$" : path } });
}

const at = (base: string, field: string): string => (base === "" ? field : `${base}.${field}`);

function obj(v: unknown, path: string, allowed: readonly string[]): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(path, "must be an object");
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!allowed.includes(k)) bad(at(path, k), "unknown field");
  for (const k of allowed) if (!Object.hasOwn(o, k)) bad(at(path, k), "is required");
  return o;
}

function hex(v: unknown, path: string): Uint8Array {
  const out = typeof v === "string" ? parseHex(v) : undefined;
  if (out === undefined) bad(path, "must be a hex string");
  return out;
}

function hexOrNull(v: unknown, path: string): Uint8Array | null {
  return v === null ? null : hex(v, path);
}

function str(v: unknown, path: string): string {
  if (typeof v !== "string") bad(path, "must be a string");
  return v;
}

function int(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v)) bad(path, "must be an integer");
  return v;
}

function bigIntFromText(v: string, path: string): number | bigint {
  if (!/^-?(0|[1-9][0-9]*)$/.test(v)) bad(path, "must be a decimal integer string");
  const big = BigInt(v);
  if (big > L.maxUint64 || big < -1n - L.maxUint64) bad(path, "integer does not fit 64 bits");
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function uint64(v: unknown, path: string): number | bigint {
  if (typeof v === "string") return bigIntFromText(v, path);
  return int(v, path);
}

/** Parses the JSON form of a generic CBOR value. */
export function cborFromJson(v: unknown, path = "", depth = 0): CborValue {
  // Stop hostile nesting before it exhausts the stack; §6.3 then applies its own, lower limit.
  if (depth > L.maxCborNesting) {
    throw new MimiError("MIMI_ERR_CONTENT_DEPTH_EXCEEDED", `${path}: nests deeper than ${L.maxCborNesting} levels`, { details: { path } });
  }
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) bad(path, 'a JSON number must be a safe integer; write floats as {"float": n} and large integers as {"int": "decimal"}');
    return v;
  }
  if (Array.isArray(v)) return v.map((item, i) => cborFromJson(item, `${path}[${i}]`, depth + 1));
  if (typeof v !== "object") bad(path, "is not a JSON value");
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(",");
  switch (keys) {
    case "bytes":
      return hex(o.bytes, at(path, "bytes"));
    case "int":
      if (typeof o.int !== "string") bad(at(path, "int"), "must be a decimal integer string");
      return bigIntFromText(o.int, at(path, "int"));
    case "float": {
      const f = o.float;
      if (typeof f === "number") return new CborFloat(f);
      const special: Record<string, number> = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity, "-0": -0 };
      if (typeof f === "string" && Object.hasOwn(special, f)) return new CborFloat(special[f] as number);
      return bad(at(path, "float"), 'must be a number or one of "NaN", "Infinity", "-Infinity", "-0"');
    }
    case "tag,value": {
      const t = typeof o.tag === "string" ? bigIntFromText(o.tag, at(path, "tag")) : int(o.tag, at(path, "tag"));
      if (t < 0) bad(at(path, "tag"), "must be an unsigned integer");
      return new CborTag(t, cborFromJson(o.value, at(path, "value"), depth + 1));
    }
    case "map":
      return mapFromJson(o.map, at(path, "map"), depth + 1);
    default:
      return bad(path, 'an object must be one of {"bytes"}, {"int"}, {"float"}, {"tag", "value"}, {"map"}');
  }
}

function mapFromJson(v: unknown, path: string, depth: number): CborMap {
  if (!Array.isArray(v)) bad(path, "must be an array of [key, value] pairs");
  const map: CborMap = new Map();
  v.forEach((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) bad(`${path}[${i}]`, "must be a [key, value] pair");
    const key = cborFromJson(pair[0], `${path}[${i}][0]`, depth);
    if (!(typeof key === "number" || typeof key === "string" || key instanceof Uint8Array)) bad(`${path}[${i}][0]`, "a map key must be an integer, a string or {\"bytes\"} (§6.2)");
    map.set(key, cborFromJson(pair[1], `${path}[${i}][1]`));
  });
  return map;
}

function extensionsFromJson(v: unknown, path: string): MimiExtensions {
  if (!Array.isArray(v)) bad(path, "must be an array of [key, value] pairs");
  const ext: MimiExtensions = new Map();
  v.forEach((pair, i) => {
    if (!Array.isArray(pair) || pair.length !== 2) bad(`${path}[${i}]`, "must be a [key, value] pair");
    const key: unknown = pair[0];
    if (!(typeof key === "string" || (typeof key === "number" && Number.isSafeInteger(key)))) bad(`${path}[${i}][0]`, "an extension key must be an integer or a string");
    if (ext.has(key)) {
      throw new MimiError("MIMI_ERR_CONTENT_EXTENSION_INVALID", `${path}[${i}][0]: duplicate extension key (§4.3)`, { details: { path: `${path}[${i}][0]` } });
    }
    ext.set(key, cborFromJson(pair[1], `${path}[${i}][1]`));
  });
  return ext;
}

function dispositionFromJson(v: unknown, path: string): number {
  if (typeof v === "string") {
    if (!Object.hasOwn(Disposition, v)) bad(path, `unknown disposition name; use one of ${Object.keys(Disposition).join(", ")} or an integer`);
    return Disposition[v as DispositionName];
  }
  return int(v, path);
}

const PART_FIELDS: Record<string, readonly string[]> = {
  nullpart: [],
  single: ["contentType", "content"],
  external: ["contentType", "url", "expires", "size", "encAlg", "key", "nonce", "aad", "hashAlg", "contentHash", "description", "filename"],
  multi: ["partSemantics", "parts"],
};

function partFromJson(v: unknown, path: string, depth: number): NestedPart {
  if (typeof v !== "object" || v === null || Array.isArray(v)) bad(path, "must be an object");
  const cardinality = (v as Record<string, unknown>).cardinality;
  if (typeof cardinality !== "string" || !Object.hasOwn(Cardinality, cardinality)) bad(at(path, "cardinality"), 'must be "nullpart", "single", "external" or "multi"');
  const fields = PART_FIELDS[cardinality] ?? [];
  const o = obj(v, path, ["disposition", "language", "cardinality", ...fields]);
  const disposition = dispositionFromJson(o.disposition, at(path, "disposition"));
  const language = str(o.language, at(path, "language"));
  switch (cardinality) {
    case "nullpart":
      return { disposition, language, cardinality };
    case "single":
      return { disposition, language, cardinality, contentType: str(o.contentType, at(path, "contentType")), content: hex(o.content, at(path, "content")) };
    case "external":
      return {
        disposition,
        language,
        cardinality,
        contentType: str(o.contentType, at(path, "contentType")),
        url: str(o.url, at(path, "url")),
        expires: int(o.expires, at(path, "expires")),
        size: uint64(o.size, at(path, "size")),
        encAlg: int(o.encAlg, at(path, "encAlg")),
        key: hex(o.key, at(path, "key")),
        nonce: hex(o.nonce, at(path, "nonce")),
        aad: hex(o.aad, at(path, "aad")),
        hashAlg: int(o.hashAlg, at(path, "hashAlg")),
        contentHash: hex(o.contentHash, at(path, "contentHash")),
        description: str(o.description, at(path, "description")),
        filename: str(o.filename, at(path, "filename")),
      };
    default: {
      const semantics = o.partSemantics;
      if (typeof semantics !== "string" || !Object.hasOwn(PartSemantics, semantics)) bad(at(path, "partSemantics"), 'must be "chooseOne", "singleUnit" or "processAll"');
      if (!Array.isArray(o.parts)) bad(at(path, "parts"), "must be an array of NestedParts");
      // The depth limit (§6.3) is enforced by validateContent; stop runaway recursion here first.
      if (depth > L.maxCborNesting) {
        throw new MimiError("MIMI_ERR_CONTENT_DEPTH_EXCEEDED", `${path}: NestedParts nest too deeply`, { details: { path } });
      }
      const parts = (o.parts as unknown[]).map((p, i) => partFromJson(p, `${at(path, "parts")}[${i}]`, depth + 1));
      return { disposition, language, cardinality: "multi", partSemantics: semantics as PartSemanticsName, parts };
    }
  }
}

/** Parses and validates the JSON form of MIMI content. */
export function contentFromJson(json: unknown): MimiContent {
  const o = obj(json, "", ["salt", "replaces", "topicId", "expires", "inReplyTo", "mimiExtensions", "nestedPart"]);
  let expires: MimiContent["expires"] = null;
  if (o.expires !== null) {
    const e = obj(o.expires, "expires", ["relative", "time"]);
    if (typeof e.relative !== "boolean") bad("expires.relative", "must be a boolean");
    expires = { relative: e.relative, time: int(e.time, "expires.time") };
  }
  const content: MimiContent = {
    salt: hex(o.salt, "salt"),
    replaces: hexOrNull(o.replaces, "replaces"),
    topicId: hex(o.topicId, "topicId"),
    expires,
    inReplyTo: hexOrNull(o.inReplyTo, "inReplyTo"),
    mimiExtensions: extensionsFromJson(o.mimiExtensions, "mimiExtensions"),
    nestedPart: partFromJson(o.nestedPart, "nestedPart", 1),
  };
  validateContent(content);
  return content;
}

/** Parses JSON text (the JSON form), validates it and encodes it as deterministic CBOR. */
export function encodeContentFromJsonText(text: string): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_CONTENT_JSON_INVALID", `not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, details: { path: "$" } });
  }
  return encodeContent(contentFromJson(json));
}

/** Pretty JSON text of the JSON form, as the CLI prints it. */
export function contentToJsonText(content: MimiContent): string {
  return `${JSON.stringify(contentToJson(content), null, 2)}\n`;
}

function timestampFromJson(v: unknown, path: string): Timestamp {
  if (typeof v === "number" || typeof v === "string") return uint64(v, path);
  const o = obj(v, path, ["extendedTime"]);
  if (!Array.isArray(o.extendedTime)) bad(at(path, "extendedTime"), "must be an array of [key, value] pairs");
  const map = new Map<CborKey, CborValue>();
  (o.extendedTime as unknown[]).forEach((pair, i) => {
    const p = `${path}.extendedTime[${i}]`;
    if (!Array.isArray(pair) || pair.length !== 2) bad(p, "must be a [key, value] pair");
    const key: unknown = pair[0];
    if (!(typeof key === "string" || (typeof key === "number" && Number.isSafeInteger(key)))) bad(`${p}[0]`, "key must be an integer or a string");
    map.set(key, cborFromJson(pair[1], `${p}[1]`));
  });
  return { extendedTime: map };
}

/** Parses and validates the JSON form of the implied fields (MessageDerivedValues). */
export function messageDerivedValuesFromJson(json: unknown): MessageDerivedValues {
  const o = obj(json, "", ["messageId", "hubAcceptedTimestamp", "mlsGroupId", "senderLeafIndex", "senderClientUrl", "senderUserUrl", "roomUrl"]);
  const values: MessageDerivedValues = {
    messageId: hex(o.messageId, "messageId"),
    hubAcceptedTimestamp: timestampFromJson(o.hubAcceptedTimestamp, "hubAcceptedTimestamp"),
    mlsGroupId: hex(o.mlsGroupId, "mlsGroupId"),
    senderLeafIndex: int(o.senderLeafIndex, "senderLeafIndex"),
    senderClientUrl: str(o.senderClientUrl, "senderClientUrl"),
    senderUserUrl: str(o.senderUserUrl, "senderUserUrl"),
    roomUrl: str(o.roomUrl, "roomUrl"),
  };
  validateMessageDerivedValues(values);
  return values;
}
