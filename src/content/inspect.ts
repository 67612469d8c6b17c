// `mimi-bridge content inspect FILE.cbor`: a JSON-serialisable report of a MIMI content message
// (application/mimi-content), of the implied fields array (Appendix A.2) or of a message status
// report (application/mimi-message-status).
//
// Decoding is lenient about the encoding form (non-minimal lengths, indefinite lengths, unsorted
// map keys) so that a non-deterministic file can still be shown, with `roundTrip: false` and the
// reasons in `nonDeterministic`. Everything else (malformed or truncated CBOR, schema and limit
// violations) throws the MimiError that strict decoding would throw. The message ID is computed
// over the bytes exactly as given, which is what a receiver of those bytes computes (§3.3).

import { MimiError, isMimiError } from "../errors.ts";
import type { MimiErrorCode } from "../errors.ts";
import { decodeCbor } from "./cbor.ts";
import type { CborValue } from "./cbor.ts";
import { dispositionName, lenientFromCbor, partsDepthFirst, roomUriOf, senderUriOf } from "./codec.ts";
import { encodeMessageDerivedValues, messageDerivedValuesFromCbor } from "./implied.ts";
import { contentToJson, messageDerivedValuesToJson, statusReportToJson } from "./json.ts";
import type { DispositionJson, MessageDerivedValuesJson, MimiContentJson, PerMessageStatusJson } from "./json.ts";
import { MimiContentLimits as L } from "./limits.ts";
import { computeMessageId, resolveMessageIdUris } from "./message-id.ts";
import type { MessageIdFormula } from "./message-id.ts";
import { encodeStatusReport, MESSAGE_STATUS_MEDIA_TYPE, statusReportFromCbor } from "./status.ts";
import { bytesEqual, toHex } from "./bytes.ts";
import type { CardinalityName, PartSemanticsName } from "./types.ts";

export const MIMI_CONTENT_MEDIA_TYPE = "application/mimi-content";

export interface InspectOptions {
  /** Message ID formula (§3.3); default "-08". */
  formula?: MessageIdFormula;
  /** Overrides extension 1 for the message ID. */
  senderUri?: string;
  /** Overrides extension 2 for the message ID. */
  roomUri?: string;
  /** Largest input accepted; default MimiContentLimits.maxContentBytes. */
  maxBytes?: number;
}

export interface PartSummary {
  /** §4.4 implied part index (depth-first, body = 0). */
  partIndex: number;
  /** NestedPart level, body = 1. */
  depth: number;
  cardinality: CardinalityName;
  disposition: DispositionJson;
  language: string;
  contentType?: string;
  partSemantics?: PartSemanticsName;
  /** SinglePart: octets of inline content. ExternalPart: the declared size (0 = unknown). */
  size?: number | string;
  url?: string;
  /** SinglePart with a text/* type and valid UTF-8: the text, cut at 500 characters. */
  text?: string;
}

interface InspectCommon {
  /** Octets of input. */
  size: number;
  /** True when the input re-encodes byte for byte (deterministic CBOR, RFC 8949 §4.2.1). */
  roundTrip: boolean;
  /** Why the input is not in deterministic form, if it is not. */
  nonDeterministic: string[];
}

export interface ContentInspectReport extends InspectCommon {
  kind: "mimiContent";
  mediaType: typeof MIMI_CONTENT_MEDIA_TYPE;
  formula: MessageIdFormula;
  /** Lowercase hex, or null when it cannot be computed (see messageIdError). */
  messageId: string | null;
  messageIdError?: { code: MimiErrorCode; message: string };
  senderUri: string | null;
  roomUri: string | null;
  counts: { size: number; parts: number; depth: number; extensions: number };
  content: MimiContentJson;
  parts: PartSummary[];
}

export interface ImpliedFieldsInspectReport extends InspectCommon {
  kind: "impliedFields";
  counts: { size: number };
  impliedFields: MessageDerivedValuesJson;
}

export interface StatusInspectReport extends InspectCommon {
  kind: "messageStatusReport";
  mediaType: typeof MESSAGE_STATUS_MEDIA_TYPE;
  counts: { size: number; entries: number };
  statuses: PerMessageStatusJson[];
}

export type InspectReport = ContentInspectReport | ImpliedFieldsInspectReport | StatusInspectReport;

const utf8 = new TextDecoder("utf-8", { fatal: true });
const TEXT_PREVIEW = 500;

function textPreview(contentType: string, content: Uint8Array): string | undefined {
  if (!contentType.toLowerCase().startsWith("text/")) return undefined;
  try {
    const text = utf8.decode(content);
    return text.length > TEXT_PREVIEW ? `${text.slice(0, TEXT_PREVIEW)}…` : text;
  } catch {
    return undefined;
  }
}

type Kind = InspectReport["kind"];

/** Tells the three top-level arrays apart: implied fields carry a text string at index 5 where content has its extensions map. */
function classify(value: CborValue): Kind {
  if (Array.isArray(value)) {
    if (value.length === 7 && typeof value[5] === "string") return "impliedFields";
    if (value.every((e) => Array.isArray(e))) return "messageStatusReport";
  }
  return "mimiContent";
}

/** Inspects MIMI content, implied fields or a message status report. Throws MimiError on invalid input. */
export function inspectContent(bytes: Uint8Array, options: InspectOptions = {}): InspectReport {
  if (!(bytes instanceof Uint8Array)) throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", "input must be a Uint8Array");
  const max = options.maxBytes ?? L.maxContentBytes;
  if (bytes.byteLength > max) {
    throw new MimiError("MIMI_ERR_CONTENT_TOO_LARGE", `input is ${bytes.byteLength} bytes, more than the limit of ${max}`, { details: { size: bytes.byteLength, limit: max } });
  }
  const { value, nonDeterministic } = decodeCbor(bytes, { mode: "lenient" });
  const kind = classify(value);

  if (kind === "impliedFields") {
    const values = messageDerivedValuesFromCbor(value);
    return {
      kind,
      size: bytes.byteLength,
      roundTrip: bytesEqual(encodeMessageDerivedValues(values), bytes),
      nonDeterministic,
      counts: { size: bytes.byteLength },
      impliedFields: messageDerivedValuesToJson(values),
    };
  }

  if (kind === "messageStatusReport") {
    const report = statusReportFromCbor(value);
    return {
      kind,
      mediaType: MESSAGE_STATUS_MEDIA_TYPE,
      size: bytes.byteLength,
      roundTrip: bytesEqual(encodeStatusReport(report), bytes),
      nonDeterministic,
      counts: { size: bytes.byteLength, entries: report.length },
      statuses: statusReportToJson(report),
    };
  }

  const { content, roundTrip, stats } = lenientFromCbor(value, bytes, nonDeterministic);
  const formula = options.formula ?? "-08";
  let messageId: string | null = null;
  let messageIdError: ContentInspectReport["messageIdError"];
  try {
    const { senderUri, roomUri } = resolveMessageIdUris(content, options);
    messageId = toHex(computeMessageId({ senderUri, roomUri, message: bytes, salt: content.salt, formula }));
  } catch (err) {
    if (!isMimiError(err)) throw err;
    messageIdError = { code: err.code, message: err.message };
  }
  const parts = partsDepthFirst(content.nestedPart).map(({ partIndex, depth, part }): PartSummary => {
    const name = dispositionName(part.disposition);
    const summary: PartSummary = { partIndex, depth, cardinality: part.cardinality, disposition: name === "unknown" ? part.disposition : name, language: part.language };
    if (part.cardinality === "single") {
      summary.contentType = part.contentType;
      summary.size = part.content.byteLength;
      const text = textPreview(part.contentType, part.content);
      if (text !== undefined) summary.text = text;
    } else if (part.cardinality === "external") {
      summary.contentType = part.contentType;
      summary.size = typeof part.size === "bigint" ? part.size.toString() : part.size;
      summary.url = part.url;
    } else if (part.cardinality === "multi") {
      summary.partSemantics = part.partSemantics;
    }
    return summary;
  });
  const report: ContentInspectReport = {
    kind,
    mediaType: MIMI_CONTENT_MEDIA_TYPE,
    size: bytes.byteLength,
    roundTrip,
    nonDeterministic,
    formula,
    messageId,
    senderUri: senderUriOf(content) ?? null,
    roomUri: roomUriOf(content) ?? null,
    counts: { size: bytes.byteLength, parts: stats.parts, depth: stats.depth, extensions: content.mimiExtensions.size },
    content: contentToJson(content),
    parts,
  };
  if (messageIdError !== undefined) report.messageIdError = messageIdError;
  return report;
}
