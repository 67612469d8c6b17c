// Implied (derived) message fields: draft-ietf-mimi-content -08 §4.6 and Appendix A.2
// (`implied.cddl`). A receiver derives these values rather than reading them from the content;
// the array form exists so they can be stored and exchanged next to the content
// (examples/implied-original.cbor).
//
//   MessageDerivedValues = [messageId, hubAcceptedTimestamp, mlsGroupId, senderLeafIndex,
//                           senderClientUrl, senderUserUrl, roomUrl]
//   Timestamp = MsecsSinceEpoch (uint .size 8) / ExtendedTime (#6.1001({* name => value}))

import { MimiError } from "../errors.ts";
import type { MimiErrorCode } from "../errors.ts";
import { bytesEqual, utf8Length } from "./bytes.ts";
import { CborFloat, CborTag, decodeCbor, encodeCbor } from "./cbor.ts";
import type { CborValue } from "./cbor.ts";
import { checkMessageIdShape, validateExtensionValue } from "./codec.ts";
import { MimiContentLimits as L } from "./limits.ts";
import type { MessageDerivedValues, Timestamp } from "./types.ts";

/** RFC 9581 §3 extended time tag. */
export const EXTENDED_TIME_TAG = 1001;

export interface DecodeDerivedValuesOptions {
  maxBytes?: number;
}

export interface LenientDerivedValuesResult {
  values: MessageDerivedValues;
  roundTrip: boolean;
  nonDeterministic: string[];
}

function fail(code: MimiErrorCode, path: string, message: string): never {
  throw new MimiError(code, `${path}: ${message}`, { details: { path } });
}

function checkText(v: unknown, path: string): void {
  if (typeof v !== "string" || !v.isWellFormed()) fail("MIMI_ERR_CONTENT_SCHEMA", path, "must be a text string (MsgUri = tstr)");
}

function validateTimestamp(ts: unknown, path: string): void {
  if (typeof ts === "number") {
    if (!Number.isSafeInteger(ts) || ts < 0) fail("MIMI_ERR_CONTENT_SCHEMA", path, "MsecsSinceEpoch must be an unsigned 64-bit integer");
    return;
  }
  if (typeof ts === "bigint") {
    if (ts < 0n || ts > L.maxUint64) fail("MIMI_ERR_CONTENT_SCHEMA", path, "MsecsSinceEpoch must be an unsigned 64-bit integer");
    return;
  }
  if (typeof ts !== "object" || ts === null || !((ts as { extendedTime?: unknown }).extendedTime instanceof Map)) {
    fail("MIMI_ERR_CONTENT_SCHEMA", path, "must be milliseconds since the epoch or an RFC 9581 extended time map");
  }
  let i = 0;
  for (const [k, v] of (ts as { extendedTime: Map<unknown, unknown> }).extendedTime) {
    // A.2 `name = int / tstr .size (1..255)`.
    const keyOk = (typeof k === "number" && Number.isSafeInteger(k)) || (typeof k === "string" && k.isWellFormed() && utf8Length(k) >= 1 && utf8Length(k) <= 255);
    if (!keyOk) fail("MIMI_ERR_CONTENT_SCHEMA", `${path}.extendedTime[${i}][0]`, "key must be an integer or a text string of 1..255 octets");
    validateExtensionValue(v, 2, `${path}.extendedTime[${i}][1]`);
    i += 1;
  }
}

/** MIMI-CONTENT-31: A.2 MessageDerivedValues field types. */
export function validateMessageDerivedValues(values: MessageDerivedValues): void {
  if (typeof values !== "object" || values === null) fail("MIMI_ERR_CONTENT_SCHEMA", "$", "must be an object");
  checkMessageIdShape(values.messageId, "messageId");
  validateTimestamp(values.hubAcceptedTimestamp, "hubAcceptedTimestamp");
  if (!(values.mlsGroupId instanceof Uint8Array)) fail("MIMI_ERR_CONTENT_SCHEMA", "mlsGroupId", "must be a byte string");
  const leaf = values.senderLeafIndex;
  if (typeof leaf !== "number" || !Number.isInteger(leaf) || leaf < 0 || leaf > L.maxUint32) {
    fail("MIMI_ERR_CONTENT_SCHEMA", "senderLeafIndex", "must be an unsigned 32-bit integer");
  }
  checkText(values.senderClientUrl, "senderClientUrl");
  checkText(values.senderUserUrl, "senderUserUrl");
  checkText(values.roomUrl, "roomUrl");
}

function timestampFromCbor(v: CborValue): Timestamp {
  if (v instanceof CborTag && v.tag === EXTENDED_TIME_TAG && v.value instanceof Map) return { extendedTime: v.value };
  if (typeof v === "number" || typeof v === "bigint") return v;
  return fail("MIMI_ERR_CONTENT_SCHEMA", "hubAcceptedTimestamp", "must be an unsigned integer or tag 1001 around a map");
}

/** Maps a decoded CBOR value onto MessageDerivedValues and validates it. */
export function messageDerivedValuesFromCbor(value: CborValue): MessageDerivedValues {
  if (!Array.isArray(value) || value.length !== 7) {
    fail("MIMI_ERR_CONTENT_SCHEMA", "$", "MessageDerivedValues must be an array of 7 elements (Appendix A.2)");
  }
  const v = value as unknown[];
  const values: MessageDerivedValues = {
    messageId: v[0] as Uint8Array,
    hubAcceptedTimestamp: timestampFromCbor(v[1] as CborValue),
    mlsGroupId: v[2] as Uint8Array,
    senderLeafIndex: v[3] as number,
    senderClientUrl: v[4] as string,
    senderUserUrl: v[5] as string,
    roomUrl: v[6] as string,
  };
  validateMessageDerivedValues(values);
  return values;
}

export function messageDerivedValuesToCbor(values: MessageDerivedValues): CborValue[] {
  const ts = values.hubAcceptedTimestamp;
  return [
    values.messageId,
    typeof ts === "object" ? new CborTag(EXTENDED_TIME_TAG, ts.extendedTime) : ts,
    values.mlsGroupId,
    values.senderLeafIndex,
    values.senderClientUrl,
    values.senderUserUrl,
    values.roomUrl,
  ];
}

export function encodeMessageDerivedValues(values: MessageDerivedValues): Uint8Array {
  validateMessageDerivedValues(values);
  return encodeCbor(messageDerivedValuesToCbor(values));
}

function checkSize(bytes: Uint8Array, maxBytes: number | undefined): void {
  const max = maxBytes ?? L.maxContentBytes;
  if (bytes.byteLength > max) {
    throw new MimiError("MIMI_ERR_CONTENT_TOO_LARGE", `implied fields are ${bytes.byteLength} bytes, more than ${max}`, { details: { size: bytes.byteLength, limit: max } });
  }
}

/** Strict decoding: deterministic CBOR (§6.1 applies as it does to the content) and A.2 types. */
export function decodeMessageDerivedValues(bytes: Uint8Array, options: DecodeDerivedValuesOptions = {}): MessageDerivedValues {
  checkSize(bytes, options.maxBytes);
  const { value } = decodeCbor(bytes, { mode: "strict" });
  const values = messageDerivedValuesFromCbor(value);
  if (!bytesEqual(encodeCbor(value), bytes)) {
    throw new MimiError("MIMI_ERR_CONTENT_NOT_DETERMINISTIC", "implied fields do not re-encode to the identical bytes (RFC 8949 §4.2.1)");
  }
  return values;
}

export function decodeMessageDerivedValuesLenient(bytes: Uint8Array, options: DecodeDerivedValuesOptions = {}): LenientDerivedValuesResult {
  checkSize(bytes, options.maxBytes);
  const { value, nonDeterministic } = decodeCbor(bytes, { mode: "lenient" });
  const values = messageDerivedValuesFromCbor(value);
  return { values, roundTrip: bytesEqual(encodeMessageDerivedValues(values), bytes), nonDeterministic };
}

/** Milliseconds since the epoch of a Timestamp, when it has one (ExtendedTime key 1 is POSIX seconds, RFC 9581 §3). */
export function timestampMillis(ts: Timestamp): number | undefined {
  if (typeof ts === "number") return ts;
  if (typeof ts === "bigint") return Number(ts);
  const seconds = ts.extendedTime.get(1);
  if (typeof seconds === "number") return seconds * 1000;
  if (typeof seconds === "bigint") return Number(seconds) * 1000;
  if (seconds instanceof CborFloat) return seconds.value * 1000;
  return undefined;
}
