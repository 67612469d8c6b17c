// Fetch Key Material (draft-ietf-mimi-protocol-06 §5.2): POST /keyMaterial/{targetUser} with a
// KeyMaterialRequest, answered by a KeyMaterialResponse.
import { empty, encode, enumOf, opaqueV, optional, selectOn, struct, uint8, vectorV } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";
import { Capabilities, CipherSuite, Credential, KeyPackage, RequiredCapabilities, SignaturePublicKey } from "../mls/wire.ts";
import { constrained } from "./framing.ts";
import { IdentifierUri } from "./identifierUri.ts";
import { Protocol, ProtocolCodec } from "./protocol.ts";

/** The SignWithLabel label of key_material_request_signature (protocol-06 §5.2). */
export const KEY_MATERIAL_REQUEST_TBS_LABEL = "KeyMaterialRequestTBS";

// ---- request ----------------------------------------------------------------------------------

// MIMI-PROTO-KM-01: protocol-06 §5.2 "For MLS, the request includes a non-empty list of acceptable
// MLS ciphersuites." An empty list is refused on decode and on encode.
const AcceptableCiphersuites = constrained({ ...vectorV(CipherSuite), name: "CipherSuite<V>" }, "MIMI-PROTO-KM-01", (suites) =>
  suites.length === 0 ? "acceptableCiphersuites is empty" : undefined,
);

// MIMI-PROTO-CHOICE-13: `roomId` is a required IdentifierUri, but §5.2 asks for it only "when the
// request is being made in the context of adding the target user to a room". Outside a room the
// field carries the empty URI (NO_URI in identifierUri.ts); consent code treats it as "no room".
const requestHead = [
  ["protocol", ProtocolCodec],
  ["requestingUser", IdentifierUri],
  ["targetUser", IdentifierUri],
  ["roomId", IdentifierUri],
] as const;

const mls10Tbs = [
  ["acceptableCiphersuites", AcceptableCiphersuites],
  ["requiredCapabilities", RequiredCapabilities],
  ["requesterSignatureKey", SignaturePublicKey],
  ["requesterCredential", Credential],
] as const;

/** KeyMaterialRequest (protocol-06 §5.2). */
export const KeyMaterialRequest = struct("KeyMaterialRequest", [
  ...requestHead,
  selectOn("protocol", {
    [Protocol.mls10]: struct("KeyMaterialRequest.mls10", [
      ...mls10Tbs,
      // SignWithLabel(requesterSignatureKey, "KeyMaterialRequestTBS", KeyMaterialRequestTBS)
      ["keyMaterialRequestSignature", opaqueV],
    ]),
  }),
]);
export type KeyMaterialRequest = Infer<typeof KeyMaterialRequest>;

/** KeyMaterialRequestTBS (protocol-06 §5.2): the request without its signature. */
export const KeyMaterialRequestTBS = struct("KeyMaterialRequestTBS", [
  ...requestHead,
  selectOn("protocol", { [Protocol.mls10]: struct("KeyMaterialRequestTBS.mls10", [...mls10Tbs]) }),
]);
export type KeyMaterialRequestTBS = Infer<typeof KeyMaterialRequestTBS>;

/**
 * The bytes the requester signs (SignWithLabel content, protocol-06 §5.2): KeyMaterialRequestTBS
 * of `request`. A full KeyMaterialRequest may be passed; its signature is ignored.
 */
export function encodeKeyMaterialRequestTBS(request: KeyMaterialRequestTBS | KeyMaterialRequest): Uint8Array {
  return encode(KeyMaterialRequestTBS, request);
}

// ---- response ---------------------------------------------------------------------------------

/** KeyMaterialUserCode (protocol-06 §5.2). */
export const KeyMaterialUserCode = {
  success: 0,
  partialSuccess: 1,
  incompatibleProtocol: 2,
  noCompatibleMaterial: 3,
  userUnknown: 4,
  noConsent: 5,
  noConsentForThisRoom: 6,
  userDeleted: 7,
} as const;
export type KeyMaterialUserCode = (typeof KeyMaterialUserCode)[keyof typeof KeyMaterialUserCode];
export const KeyMaterialUserCodeCodec = enumOf("KeyMaterialUserCode", KeyMaterialUserCode, uint8);

/** KeyMaterialClientCode (protocol-06 §5.2). */
export const KeyMaterialClientCode = { success: 0, keyMaterialExhausted: 1, nothingCompatible: 2 } as const;
export type KeyMaterialClientCode = (typeof KeyMaterialClientCode)[keyof typeof KeyMaterialClientCode];
export const KeyMaterialClientCodeCodec = enumOf("KeyMaterialClientCode", KeyMaterialClientCode, uint8);

// MIMI-PROTO-CHOICE-20: a select with no case for some discriminant values has an empty arm for
// them (here keyMaterialExhausted), as RFC 8446 §3.8 variants do.
/** ClientKeyMaterial (protocol-06 §5.2), the mls10 form. */
export const ClientKeyMaterial = struct("ClientKeyMaterial", [
  ["clientStatus", KeyMaterialClientCodeCodec],
  ["clientUri", IdentifierUri],
  selectOn("clientStatus", {
    [KeyMaterialClientCode.success]: struct("ClientKeyMaterial.success", [["keyPackage", KeyPackage]]),
    [KeyMaterialClientCode.keyMaterialExhausted]: empty,
    [KeyMaterialClientCode.nothingCompatible]: struct("ClientKeyMaterial.nothingCompatible", [["clientCapabilities", optional(Capabilities)]]),
  }),
]);
export type ClientKeyMaterial = Infer<typeof ClientKeyMaterial>;

/**
 * The user codes whose response may list clients. MIMI-PROTO-CHOICE-27: §5.2 says "If the user code
 * is noCompatibleMaterial, the provider MAY populate the clients list. For any other user code,
 * the provider MUST NOT populate the clients list", which read literally would also empty
 * success and partialSuccess, contradicting the paragraph before ("each client is enumerated").
 * "Any other" is read as: other than success, partialSuccess and noCompatibleMaterial.
 */
export const USER_CODES_WITH_CLIENTS: ReadonlySet<number> = new Set([
  KeyMaterialUserCode.success,
  KeyMaterialUserCode.partialSuccess,
  KeyMaterialUserCode.noCompatibleMaterial,
]);

// MIMI-PROTO-CHOICE-18: ClientKeyMaterial's `select (protocol)` names a field of the enclosing
// KeyMaterialResponse; the `clients` vector is declared inside KeyMaterialResponse's mls10 arm,
// which gives the same bytes.
// MIMI-PROTO-KM-02: protocol-06 §5.2 "For any other user code, the provider MUST NOT populate the
// clients list": checked on decode (a peer's response) and on encode (ours).
/** KeyMaterialResponse (protocol-06 §5.2). */
export const KeyMaterialResponse = constrained(
  struct("KeyMaterialResponse", [
    ["protocol", ProtocolCodec],
    ["userStatus", KeyMaterialUserCodeCodec],
    ["userUri", IdentifierUri],
    selectOn("protocol", {
      [Protocol.mls10]: struct("KeyMaterialResponse.mls10", [["clients", vectorV(ClientKeyMaterial)]]),
    }),
  ]),
  "MIMI-PROTO-KM-02",
  (res) =>
    res.clients.length > 0 && !USER_CODES_WITH_CLIENTS.has(res.userStatus)
      ? `userStatus ${KeyMaterialUserCodeCodec.nameOf(res.userStatus) ?? res.userStatus} must come with an empty clients list, got ${res.clients.length}`
      : undefined,
);
export type KeyMaterialResponse = Infer<typeof KeyMaterialResponse>;
