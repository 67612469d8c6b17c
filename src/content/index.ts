// draft-ietf-mimi-content (editor's copy "-08") and draft-mahy-mimi-message-status-01.
// See docs/content-json.md for the JSON form.

export { MimiContentLimits } from "./limits.ts";
export { bytesEqual, compareBytes, parseHex, toHex } from "./bytes.ts";
export { CborFloat, CborTag, decodeCbor, encodeCbor } from "./cbor.ts";
export type { CborDecodeMode, CborDecodeOptions, CborDecodeResult, CborKey, CborMap, CborValue } from "./cbor.ts";
export { Cardinality, Disposition, ExtensionKey, MessageStatus, PartSemantics } from "./types.ts";
export type {
  CardinalityName,
  DispositionName,
  Expiration,
  ExtendedTime,
  ExternalPart,
  MessageDerivedValues,
  MessageId,
  MessageStatusName,
  MessageStatusReport,
  MimiContent,
  MimiExtensions,
  MultiPart,
  NestedPart,
  NullPart,
  PartSemanticsName,
  PerMessageStatus,
  SinglePart,
  Timestamp,
} from "./types.ts";
export {
  contentFromCbor,
  contentToCbor,
  decodeContent,
  decodeContentLenient,
  dispositionName,
  effectiveDisposition,
  encodeContent,
  partsDepthFirst,
  roomUriOf,
  senderUriOf,
  validateContent,
  validateExtensions,
} from "./codec.ts";
export type { ContentStats, DecodeContentOptions, IndexedPart, LenientDecodeResult } from "./codec.ts";
export {
  checkMessageId,
  computeMessageId,
  deriveSalt,
  HashAlg,
  messageIdFormulas,
  messageIdOfBytes,
  messageIdOfContent,
  newSalt,
  resolveMessageIdUris,
} from "./message-id.ts";
export type { MessageIdFormula, MessageIdInput, MessageIdOptions } from "./message-id.ts";
export {
  decodeMessageDerivedValues,
  decodeMessageDerivedValuesLenient,
  encodeMessageDerivedValues,
  EXTENDED_TIME_TAG,
  messageDerivedValuesFromCbor,
  messageDerivedValuesToCbor,
  timestampMillis,
  validateMessageDerivedValues,
} from "./implied.ts";
export type { DecodeDerivedValuesOptions, LenientDerivedValuesResult } from "./implied.ts";
export { assertNotDuplicate, inReplyToChainLoops, MessageIdRegistry, validateForReceipt } from "./receipt.ts";
export type { ReceiptContext, SeenMessageIds } from "./receipt.ts";
export {
  decodeStatusReport,
  decodeStatusReportLenient,
  encodeStatusReport,
  MESSAGE_STATUS_MEDIA_TYPE,
  statusName,
  validateStatusReport,
} from "./status.ts";
export type { DecodeStatusOptions, LenientStatusResult } from "./status.ts";
export {
  cborFromJson,
  cborToJson,
  contentFromJson,
  contentToJson,
  contentToJsonText,
  encodeContentFromJsonText,
  messageDerivedValuesFromJson,
  messageDerivedValuesToJson,
  statusReportToJson,
} from "./json.ts";
export type { CborJson, DispositionJson, MessageDerivedValuesJson, MimiContentJson, NestedPartJson, PerMessageStatusJson } from "./json.ts";
export { inspectContent, MIMI_CONTENT_MEDIA_TYPE } from "./inspect.ts";
export type { ContentInspectReport, ImpliedFieldsInspectReport, InspectOptions, InspectReport, PartSummary, StatusInspectReport } from "./inspect.ts";
