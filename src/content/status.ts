// Message status reports (delivery and read receipts): draft-mahy-mimi-message-status-01.
//
//   MessageStatusReport = [* PerMessageStatus]
//   PerMessageStatus    = [messageId: bstr .size 32, status: baseStatus / $extStatus / unknownStatus]
//   baseStatus = unread 0 | delivered 1 | read 2 | expired 3 | deleted 4 | hidden 5 | error 6
//   unknownStatus = 7..255
//
// Media type application/mimi-message-status (§7.1). The draft does not require deterministic
// CBOR (no ID is computed over a report), so decoding accepts any well-formed encoding and
// reports whether it round-trips; encoding is always deterministic (RFC 8949 §4.2.1), like MIMI
// content. Every failure is MIMI_ERR_STATUS_INVALID, wrapping the CBOR-level error as its cause.

import { MimiError } from "../errors.ts";
import { bytesEqual } from "./bytes.ts";
import { decodeCbor, encodeCbor } from "./cbor.ts";
import type { CborValue } from "./cbor.ts";
import { MimiContentLimits as L } from "./limits.ts";
import { MessageStatus } from "./types.ts";
import type { MessageStatusName, MessageStatusReport, PerMessageStatus } from "./types.ts";

export const MESSAGE_STATUS_MEDIA_TYPE = "application/mimi-message-status";

export interface DecodeStatusOptions {
  /** Local policy; default MimiContentLimits.maxStatusReportBytes. */
  maxBytes?: number;
}

export interface LenientStatusResult {
  report: MessageStatusReport;
  roundTrip: boolean;
  nonDeterministic: string[];
}

function invalid(path: string, message: string, cause?: unknown): never {
  throw new MimiError("MIMI_ERR_STATUS_INVALID", `${path}: ${message}`, cause === undefined ? { details: { path } } : { cause, details: { path } });
}

/** The status name (§3), or "unknown" for 7..255 (status-01 §4 unknownStatus). */
export function statusName(status: number): MessageStatusName | "unknown" {
  const entry = Object.entries(MessageStatus).find(([, v]) => v === status);
  return entry === undefined ? "unknown" : (entry[0] as MessageStatusName);
}

/**
 * MIMI-CONTENT-32: status-01 §4 every entry is [messageId: bstr .size 32, status: 0..255];
 * unknown statuses 7..255 are kept, not rejected.
 */
export function validateStatusReport(report: MessageStatusReport): void {
  if (!Array.isArray(report)) invalid("$", "a message status report is an array of [messageId, status] pairs");
  report.forEach((entry: unknown, i) => {
    if (typeof entry !== "object" || entry === null) invalid(`[${i}]`, "must be a PerMessageStatus");
    const e = entry as Partial<PerMessageStatus>;
    if (!(e.messageId instanceof Uint8Array) || e.messageId.byteLength !== L.messageIdBytes) {
      invalid(`[${i}].messageId`, `message ID must be a ${L.messageIdBytes}-byte string`);
    }
    const s = e.status;
    if (typeof s !== "number" || !Number.isInteger(s) || s < 0 || s > L.maxUint8) invalid(`[${i}].status`, "status must be an integer 0..255");
  });
}

function reportFromCbor(value: CborValue): MessageStatusReport {
  if (!Array.isArray(value)) invalid("$", "a message status report is a CBOR array");
  const report = value.map((entry, i): PerMessageStatus => {
    if (!Array.isArray(entry) || entry.length !== 2) invalid(`[${i}]`, "PerMessageStatus must be a 2-element array [messageId, status]");
    return { messageId: entry[0] as Uint8Array, status: entry[1] as number };
  });
  validateStatusReport(report);
  return report;
}

export function encodeStatusReport(report: MessageStatusReport): Uint8Array {
  validateStatusReport(report);
  return encodeCbor(report.map((e) => [e.messageId, e.status]));
}

/** Decodes application/mimi-message-status and reports whether the input is in deterministic form. */
export function decodeStatusReportLenient(bytes: Uint8Array, options: DecodeStatusOptions = {}): LenientStatusResult {
  if (!(bytes instanceof Uint8Array)) invalid("$", "input must be a Uint8Array");
  const max = options.maxBytes ?? L.maxStatusReportBytes;
  if (bytes.byteLength > max) invalid("$", `report is ${bytes.byteLength} bytes, more than the limit of ${max} (local policy)`);
  let decoded: { value: CborValue; nonDeterministic: string[] };
  try {
    decoded = decodeCbor(bytes, { mode: "lenient" });
  } catch (cause) {
    invalid("$", cause instanceof Error ? cause.message : "not well-formed CBOR", cause);
  }
  const report = reportFromCbor(decoded.value);
  return { report, roundTrip: bytesEqual(encodeStatusReport(report), bytes), nonDeterministic: decoded.nonDeterministic };
}

/** Decodes application/mimi-message-status. Throws MIMI_ERR_STATUS_INVALID. */
export function decodeStatusReport(bytes: Uint8Array, options: DecodeStatusOptions = {}): MessageStatusReport {
  return decodeStatusReportLenient(bytes, options).report;
}

/** @internal Used by inspect, which has already decoded the CBOR. */
export function statusReportFromCbor(value: CborValue): MessageStatusReport {
  return reportFromCbor(value);
}
