// Submit a Message (draft-ietf-mimi-protocol-06 §5.4): POST /submitMessage/{roomId} with a
// SubmitMessageRequest, answered by a SubmitMessageResponse; and the franking structs of §5.4.1.
import { empty, encode, enumOf, opaque, opaqueV, optional, selectOn, struct, uint64, uint8 } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";
import { CipherSuite, ContentType, WireFormat } from "../mls/wire.ts";
import { mlsMessageWhere } from "./framing.ts";
import { IdentifierUri } from "./identifierUri.ts";
import { Protocol, ProtocolCodec } from "./protocol.ts";

/** The SignWithLabel label of franking_integrity_signature (protocol-06 §5.4.1.2). */
export const FRANKING_INTEGRITY_TBS_LABEL = "FrankingIntegrityTBS";

/** SubmitResponseCode (protocol-06 §5.4). */
export const SubmitResponseCode = { accepted: 0, notAllowed: 1, epochTooOld: 2 } as const;
export type SubmitResponseCode = (typeof SubmitResponseCode)[keyof typeof SubmitResponseCode];
export const SubmitResponseCodeCodec = enumOf("SubmitResponseCode", SubmitResponseCode, uint8);

/**
 * `struct { uint8 server_frank[32]; CipherSuite franking_signature_ciphersuite;
 * opaque franking_integrity_signature<V>; } Frank;` (protocol-06 §5.4).
 */
export const Frank = struct("Frank", [
  ["serverFrank", opaque(32)],
  ["frankingSignatureCiphersuite", CipherSuite],
  ["frankingIntegritySignature", opaqueV],
]);
export type Frank = Infer<typeof Frank>;

// MIMI-PROTO-SUBMIT-01: protocol-06 §5.4 "the request body (appMessage) is an MLSMessage with a
// WireFormat of PrivateMessage, and a content_type of application". Anything else is refused.
const ApplicationMessage = mlsMessageWhere("MLSMessage(PrivateMessage, application)", "MIMI-PROTO-SUBMIT-01", (info) =>
  info.wireFormat !== WireFormat.mls_private_message
    ? `wire format ${info.wireFormat} is not mls_private_message`
    : info.contentType !== ContentType.application
      ? `content type ${String(info.contentType)} is not application`
      : undefined,
);

/** SubmitMessageRequest (protocol-06 §5.4). */
export const SubmitMessageRequest = struct("SubmitMessageRequest", [
  ["protocol", ProtocolCodec],
  selectOn("protocol", {
    [Protocol.mls10]: struct("SubmitMessageRequest.mls10", [
      ["appMessage", ApplicationMessage],
      ["sendingUri", IdentifierUri],
    ]),
  }),
]);
export type SubmitMessageRequest = Infer<typeof SubmitMessageRequest>;

// MIMI-PROTO-CHOICE-04: SubmitResponseCode declares `accepted(0)` but the response selects on
// `case success`: the `success` arm is the `accepted(0)` arm.
// MIMI-PROTO-CHOICE-03: `optional Frank frank` is read as `optional<Frank> frank` (RFC 9420 §2.1.1).
// MIMI-PROTO-CHOICE-20: notAllowed has no case, so its arm is empty.
/** SubmitMessageResponse (protocol-06 §5.4). */
export const SubmitMessageResponse = struct("SubmitMessageResponse", [
  ["protocol", ProtocolCodec],
  selectOn("protocol", {
    [Protocol.mls10]: struct("SubmitMessageResponse.mls10", [
      ["statusCode", SubmitResponseCodeCodec],
      selectOn("statusCode", {
        [SubmitResponseCode.accepted]: struct("SubmitMessageResponse.accepted", [
          // the hub acceptance time, milliseconds since the Unix epoch
          ["acceptedTimestamp", uint64],
          ["frank", optional(Frank)],
        ]),
        [SubmitResponseCode.notAllowed]: empty,
        [SubmitResponseCode.epochTooOld]: struct("SubmitMessageResponse.epochTooOld", [["currentEpoch", uint64]]),
      }),
    ]),
  }),
]);
export type SubmitMessageResponse = Infer<typeof SubmitMessageResponse>;

/** `struct { IdentifierUri sender_uri; IdentifierUri room_uri; uint64 accepted_timestamp; } ServerFrankingContext;` (§5.4.1.2) */
export const ServerFrankingContext = struct("ServerFrankingContext", [
  ["senderUri", IdentifierUri],
  ["roomUri", IdentifierUri],
  ["acceptedTimestamp", uint64],
]);
export type ServerFrankingContext = Infer<typeof ServerFrankingContext>;

/** `struct { opaque server_frank[32]; CipherSuite franking_signature_ciphersuite; ServerFrankingContext context; } FrankingIntegrityTBS;` (§5.4.1.2) */
export const FrankingIntegrityTBS = struct("FrankingIntegrityTBS", [
  ["serverFrank", opaque(32)],
  ["frankingSignatureCiphersuite", CipherSuite],
  ["context", ServerFrankingContext],
]);
export type FrankingIntegrityTBS = Infer<typeof FrankingIntegrityTBS>;

/** The bytes the hub signs for franking_integrity_signature (protocol-06 §5.4.1.2). */
export function encodeFrankingIntegrityTBS(tbs: FrankingIntegrityTBS): Uint8Array {
  return encode(FrankingIntegrityTBS, tbs);
}

/** The bytes of ServerFrankingContext, which the hub's server_frank HMAC covers after franking_tag (§5.4.1.2). */
export function encodeServerFrankingContext(context: ServerFrankingContext): Uint8Array {
  return encode(ServerFrankingContext, context);
}
