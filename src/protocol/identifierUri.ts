// `IdentifierUri` (draft-ietf-mimi-protocol-06 §5.2): a URI (user, client, room, …) on the wire.
import { struct, utf8V } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";

// MIMI-PROTO-CHOICE-22: `opaque uri<V>` carries the URI as UTF-8 text (URIs are ASCII, IRIs UTF-8);
// decoding rejects invalid UTF-8 (MIMI-CODEC-12). Whether the text is a valid MIMI URI is checked
// where the URI is used (src/ids), not here: IdentifierUri also carries tel:, mailto:, im: URIs.
// MIMI-PROTO-CHOICE-17: `IdentifierURI` (SubmitMessageRequest.sendingUri) is this same type.
/** `struct { opaque uri<V>; } IdentifierUri;` */
export const IdentifierUri = struct("IdentifierUri", [["uri", utf8V]]);
export type IdentifierUri = Infer<typeof IdentifierUri>;

/** `{ uri }`, for building values. */
export function identifierUri(uri: string): IdentifierUri {
  return { uri };
}

/**
 * The empty IdentifierUri, which stands for "none" in fields the draft types as required but
 * describes as optional (MIMI-PROTO-CHOICE-13 KeyMaterialRequest.roomId, -14 AbuseReport.reportingUser).
 */
export const NO_URI: IdentifierUri = Object.freeze({ uri: "" });

/** True for the empty IdentifierUri ("none"). */
export function isNoUri(u: IdentifierUri): boolean {
  return u.uri === "";
}
