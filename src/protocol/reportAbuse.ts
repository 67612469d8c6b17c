// Report abuse (draft-ietf-mimi-protocol-06 §5.9): POST /reportAbuse/{roomId} with an AbuseReport;
// the answer is a status code only.
import { enumOf, opaqueV, struct, uint64, uint8, utf8V, vectorV } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";
import { AppDataDictionary } from "./appDataDictionary.ts";
import { IdentifierUri } from "./identifierUri.ts";
import { Frank } from "./submitMessage.ts";

/** AbuseType (protocol-06 §5.9): only reserved(0) is defined so far. */
export const AbuseType = { reserved: 0 } as const;
export type AbuseType = (typeof AbuseType)[keyof typeof AbuseType];
// MIMI-PROTO-CHOICE-15: the draft defines no reason code but reserved(0) (a TODO), so 0 is accepted
// and means "unspecified"; every other value is rejected until the draft defines it.
export const AbuseTypeCodec = enumOf("AbuseType", AbuseType, uint8);

/** AbusiveMessage (protocol-06 §5.9). */
export const AbusiveMessage = struct("AbusiveMessage", [
  // the message content (e.g. a MIMI content message) with allegedly abusive content
  ["messageContent", opaqueV],
  ["frank", Frank],
  ["acceptedTimestamp", uint64],
]);
export type AbusiveMessage = Infer<typeof AbusiveMessage>;

// MIMI-PROTO-CHOICE-14: "The reportingUser optionally contains the identity of the user", but the
// field is a plain IdentifierUri: the empty URI (NO_URI) is an anonymous report.
// MIMI-PROTO-CHOICE-23: `note` ("a UTF8 human-readable string, which can be empty") is UTF-8 text.
/** AbuseReport (protocol-06 §5.9). */
export const AbuseReport = struct("AbuseReport", [
  ["reportingUser", IdentifierUri],
  ["allegedAbuserUri", IdentifierUri],
  ["reasonCode", AbuseTypeCodec],
  ["note", utf8V],
  ["messages", vectorV(AbusiveMessage)],
  ["abuseExtensions", AppDataDictionary],
]);
export type AbuseReport = Infer<typeof AbuseReport>;
