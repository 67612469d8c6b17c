// Convey explicit consent (draft-ietf-mimi-protocol-06 §5.7, §8): ConsentEntry bodies of
// POST /requestConsent/{targetDomain} (request, cancel) and POST /updateConsent/{requesterDomain}
// (grant, revoke), and the ConsentScope they refer to.
import { decodeExact, empty, encode, enumOf, optional, selectOn, struct, uint8, vectorV } from "../codec/index.ts";
import type { Codec, DecodeOptions, Infer } from "../codec/index.ts";
import { KeyPackage } from "../mls/wire.ts";
import { AppDataDictionary } from "./appDataDictionary.ts";
import { constrained } from "./framing.ts";
import { IdentifierUri } from "./identifierUri.ts";

/** ConsentOperation (protocol-06 §5.7); here 0 is a real value (cancel). */
export const ConsentOperation = { cancel: 0, request: 1, grant: 2, revoke: 3 } as const;
export type ConsentOperation = (typeof ConsentOperation)[keyof typeof ConsentOperation];
export const ConsentOperationCodec = enumOf("ConsentOperation", ConsentOperation, uint8);

// MIMI-PROTO-CHOICE-12: `optional<RoomId> roomId` uses a type the draft never defines; it is an
// IdentifierUri (the room's MIMI URI), as KeyMaterialRequest.roomId is.
// MIMI-PROTO-CHOICE-20: operations other than grant have an empty arm.
/** ConsentEntry (protocol-06 §5.7). */
export const ConsentEntry = struct("ConsentEntry", [
  ["consentOperation", ConsentOperationCodec],
  ["requesterUri", IdentifierUri],
  ["targetUri", IdentifierUri],
  ["roomId", optional(IdentifierUri)],
  selectOn("consentOperation", {
    [ConsentOperation.cancel]: empty,
    [ConsentOperation.request]: empty,
    // the target's KeyPackages, so the requester can add it at once; may be empty
    [ConsentOperation.grant]: struct("ConsentEntry.grant", [["clientKeyPackages", vectorV(KeyPackage)]]),
    [ConsentOperation.revoke]: empty,
  }),
  ["consentExtensions", AppDataDictionary],
]);
export type ConsentEntry = Infer<typeof ConsentEntry>;

/** `struct { IdentifierUri requesterUri; IdentifierUri targetUri; optional<RoomId> roomId; } ConsentScope;` */
export const ConsentScope = struct("ConsentScope", [
  ["requesterUri", IdentifierUri],
  ["targetUri", IdentifierUri],
  ["roomId", optional(IdentifierUri)],
]);
export type ConsentScope = Infer<typeof ConsentScope>;

/** The ConsentScope (requesterUri, targetUri, optional roomId) from URIs. */
export function consentScope(requesterUri: string, targetUri: string, roomId?: string): ConsentScope {
  return { requesterUri: { uri: requesterUri }, targetUri: { uri: targetUri }, roomId: roomId === undefined ? undefined : { uri: roomId } };
}

/** The ConsentScope a ConsentEntry refers to. */
export function consentScopeOf(entry: ConsentEntry | ConsentScope): ConsentScope {
  return { requesterUri: entry.requesterUri, targetUri: entry.targetUri, roomId: entry.roomId };
}

/**
 * A string that identifies a ConsentScope exactly (the hex of its TLS encoding): equal scopes,
 * and only those, have equal keys. For maps and storage keys.
 */
export function consentScopeKey(scope: ConsentEntry | ConsentScope): string {
  return Buffer.from(encode(ConsentScope, consentScopeOf(scope))).toString("hex");
}

// MIMI-PROTO-CONSENT-01: protocol-06 §5.7 "A cancel MUST use the same ConsentScope as a previous
// request." Scopes are equal when all three parts are, byte for byte (a room-scoped request is
// not cancelled by an unscoped cancel, nor the other way round). The consent store uses this.
/** True if both name the same ConsentScope. */
export function sameConsentScope(a: ConsentEntry | ConsentScope, b: ConsentEntry | ConsentScope): boolean {
  return consentScopeKey(a) === consentScopeKey(b);
}

// MIMI-PROTO-CONSENT-02: protocol-06 §5.7 a requestConsent body is "a ConsentEntry, with a
// consentOperation of request or cancel"; an updateConsent body one "with a consentOperation of
// grant … or revoke". Each endpoint refuses the other endpoint's operations.
/** The body of POST /requestConsent/{targetDomain}: a ConsentEntry with request or cancel. */
export const RequestConsentBody: Codec<ConsentEntry> = constrained({ ...ConsentEntry, name: "ConsentEntry(requestConsent)" }, "MIMI-PROTO-CONSENT-02", (e) =>
  e.consentOperation === ConsentOperation.request || e.consentOperation === ConsentOperation.cancel
    ? undefined
    : `consentOperation ${ConsentOperationCodec.nameOf(e.consentOperation) ?? e.consentOperation} does not belong on requestConsent`,
);

/** The body of POST /updateConsent/{requesterDomain}: a ConsentEntry with grant or revoke. */
export const UpdateConsentBody: Codec<ConsentEntry> = constrained({ ...ConsentEntry, name: "ConsentEntry(updateConsent)" }, "MIMI-PROTO-CONSENT-02", (e) =>
  e.consentOperation === ConsentOperation.grant || e.consentOperation === ConsentOperation.revoke
    ? undefined
    : `consentOperation ${ConsentOperationCodec.nameOf(e.consentOperation) ?? e.consentOperation} does not belong on updateConsent`,
);

/** Decodes a requestConsent body (request or cancel). Throws MimiError. */
export function decodeRequestConsentBody(body: Uint8Array, options?: DecodeOptions): ConsentEntry {
  return decodeExact(RequestConsentBody, body, options);
}

/** Decodes an updateConsent body (grant or revoke). Throws MimiError. */
export function decodeUpdateConsentBody(body: Uint8Array, options?: DecodeOptions): ConsentEntry {
  return decodeExact(UpdateConsentBody, body, options);
}
