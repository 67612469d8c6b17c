// Claim group key information (draft-ietf-mimi-protocol-06 §5.6): POST /groupInfo/{roomId} with a
// GroupInfoRequest, answered by a GroupInfoResponse whose GroupInfo, ratchet tree and pending
// proposals are HPKE-encrypted to the requester (GroupInfoRatchetTreeTBE).
import { empty, encode, enumOf, opaqueV, optional, selectOn, struct, uint64, uint8, vectorV } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import { CipherSuite, Credential, ExternalSender, GroupInfo, HPKECiphertext, HPKEPublicKey, SignaturePublicKey } from "../mls/wire.ts";
import { Protocol, ProtocolCodec } from "./protocol.ts";
import { ProposalMessage, RatchetTreeOption } from "./update.ts";

/** The SignWithLabel label of GroupInfoRequest.signature (protocol-06 §5.6). */
export const GROUP_INFO_REQUEST_TBS_LABEL = "GroupInfoRequestTBS";
/** The SignWithLabel label of GroupInfoResponse.signature (protocol-06 §5.6). */
export const GROUP_INFO_RESPONSE_TBS_LABEL = "GroupInfoResponseTBS";
/** The EncryptWithLabel label of encrypted_groupinfo_and_tree (protocol-06 §5.6); the context is room_id. */
export const GROUP_INFO_ENCRYPTION_LABEL = "GroupInfo and ratchet_tree encryption";

// ---- request ----------------------------------------------------------------------------------

/** GroupInfoRequest (protocol-06 §5.6). `joiningCode` is empty when there is none. */
export const GroupInfoRequest = struct("GroupInfoRequest", [
  ["protocol", ProtocolCodec],
  selectOn("protocol", {
    [Protocol.mls10]: struct("GroupInfoRequest.mls10", [
      ["cipherSuite", CipherSuite],
      ["requestingSignatureKey", SignaturePublicKey],
      ["requestingCredential", Credential],
      ["groupInfoPublicKey", HPKEPublicKey],
      ["joiningCode", opaqueV],
      // SignWithLabel(requestingSignatureKey, "GroupInfoRequestTBS", GroupInfoRequestTBS)
      ["signature", opaqueV],
    ]),
  }),
]);
export type GroupInfoRequest = Infer<typeof GroupInfoRequest>;

// MIMI-PROTO-CHOICE-07: the TBS has `optional opaque joiningCode<V>` while the request has a
// required `opaque joiningCode<V>`. Both are followed literally: the request carries the code, or
// an empty one for "no code"; the TBS carries `optional<opaque<V>>`, present exactly when the
// request's code is not empty. This one mapping lives in encodeGroupInfoRequestTBS below.
/** GroupInfoRequestTBS (protocol-06 §5.6). */
export const GroupInfoRequestTBS = struct("GroupInfoRequestTBS", [
  ["protocol", ProtocolCodec],
  selectOn("protocol", {
    [Protocol.mls10]: struct("GroupInfoRequestTBS.mls10", [
      ["cipherSuite", CipherSuite],
      ["requestingSignatureKey", SignaturePublicKey],
      ["requestingCredential", Credential],
      ["groupInfoPublicKey", HPKEPublicKey],
      ["joiningCode", optional(opaqueV)],
    ]),
  }),
]);
export type GroupInfoRequestTBS = Infer<typeof GroupInfoRequestTBS>;

/** A GroupInfoRequest before signing: everything but the signature. */
export type UnsignedGroupInfoRequest = Omit<GroupInfoRequest, "signature">;

/**
 * The bytes the requester signs for GroupInfoRequest.signature (MIMI-PROTO-GI-01: SignWithLabel
 * over GroupInfoRequestTBS, protocol-06 §5.6). A full request may be passed; its signature is
 * ignored. An empty joiningCode becomes an absent one (MIMI-PROTO-CHOICE-07).
 */
export function encodeGroupInfoRequestTBS(request: UnsignedGroupInfoRequest | GroupInfoRequest): Uint8Array {
  const tbs: GroupInfoRequestTBS = {
    protocol: request.protocol,
    cipherSuite: request.cipherSuite,
    requestingSignatureKey: request.requestingSignatureKey,
    requestingCredential: request.requestingCredential,
    groupInfoPublicKey: request.groupInfoPublicKey,
    joiningCode: request.joiningCode instanceof Uint8Array && request.joiningCode.length === 0 ? undefined : request.joiningCode,
  };
  return encode(GroupInfoRequestTBS, tbs);
}

// ---- response ---------------------------------------------------------------------------------

/** GroupInfoCode (protocol-06 §5.6). */
export const GroupInfoCode = { reserved: 0, success: 1, notAuthorized: 2, noSuchRoom: 3 } as const;
export type GroupInfoCode = (typeof GroupInfoCode)[keyof typeof GroupInfoCode];
// MIMI-PROTO-CHOICE-19: reserved(0) is rejected.
export const GroupInfoCodeCodec = enumOf(
  "GroupInfoCode",
  { success: GroupInfoCode.success, notAuthorized: GroupInfoCode.notAuthorized, noSuchRoom: GroupInfoCode.noSuchRoom },
  uint8,
);

/** `struct { MLSMessage proposal; uint64 hub_accepted_time; } PendingProposal;` (protocol-06 §5.6) */
export const PendingProposal = struct("PendingProposal", [
  ["proposal", ProposalMessage],
  ["hubAcceptedTime", uint64],
]);
export type PendingProposal = Infer<typeof PendingProposal>;

/** GroupInfoRatchetTreeTBE (protocol-06 §5.6): what encrypted_groupinfo_and_tree encrypts. */
export const GroupInfoRatchetTreeTBE = struct("GroupInfoRatchetTreeTBE", [
  // without an embedded ratchet_tree
  ["groupInfo", GroupInfo],
  ["ratchetTreeOption", RatchetTreeOption],
  // valid pending proposals accepted by the hub during the current epoch
  ["pendingProposals", vectorV(PendingProposal)],
]);
export type GroupInfoRatchetTreeTBE = Infer<typeof GroupInfoRatchetTreeTBE>;

// MIMI-PROTO-CHOICE-05: the draft names the first field `Protocol version` but selects on
// `protocol`; the field is `protocol` here (field names are not on the wire).
// MIMI-PROTO-CHOICE-06: `select (status) { case success: select (protocol) { case mls10: … } }` is
// flattened into the success arm: ProtocolCodec admits only mls10, so the inner select always
// takes that arm. Other statuses have the empty `default: struct{}` arm.
// MIMI-PROTO-CHOICE-22: `opaque room_id<V>` stays bytes (it is the HPKE context of the
// encryption), not an IdentifierUri.
/** GroupInfoResponse (protocol-06 §5.6). */
export const GroupInfoResponse = struct("GroupInfoResponse", [
  ["protocol", ProtocolCodec],
  ["roomId", opaqueV],
  ["status", GroupInfoCodeCodec],
  selectOn("status", {
    [GroupInfoCode.success]: struct("GroupInfoResponse.success", [
      ["cipherSuite", CipherSuite],
      ["hubSender", ExternalSender],
      ["encryptedGroupinfoAndTree", HPKECiphertext],
      // SignWithLabel(hub_sender.signature_key, "GroupInfoResponseTBS", GroupInfoResponseTBS)
      ["signature", opaqueV],
    ]),
    [GroupInfoCode.notAuthorized]: empty,
    [GroupInfoCode.noSuchRoom]: empty,
  }),
]);
export type GroupInfoResponse = Infer<typeof GroupInfoResponse>;

/** GroupInfoResponseTBS (protocol-06 §5.6). */
export const GroupInfoResponseTBS = struct("GroupInfoResponseTBS", [
  ["protocol", ProtocolCodec],
  ["roomId", opaqueV],
  ["status", GroupInfoCodeCodec],
  selectOn("protocol", {
    [Protocol.mls10]: struct("GroupInfoResponseTBS.mls10", [
      ["cipherSuite", CipherSuite],
      ["hubSender", ExternalSender],
      ["encryptedGroupinfoAndTree", HPKECiphertext],
    ]),
  }),
]);
export type GroupInfoResponseTBS = Infer<typeof GroupInfoResponseTBS>;

/** A successful GroupInfoResponse. */
export type SuccessfulGroupInfoResponse = Extract<GroupInfoResponse, { status: 1 }>;

// MIMI-PROTO-CHOICE-25: GroupInfoResponseTBS has no `select (status)`: it always holds the mls10
// fields, which only a success response has. So only success responses are signed, and this is
// the one place that maps a response to its TBS.
/**
 * The bytes the hub signs for GroupInfoResponse.signature (MIMI-PROTO-GI-01: SignWithLabel over
 * GroupInfoResponseTBS, protocol-06 §5.6). Only a success response has a TBS; a full response may
 * be passed, its signature is ignored.
 */
export function encodeGroupInfoResponseTBS(response: GroupInfoResponseTBS | SuccessfulGroupInfoResponse | Omit<SuccessfulGroupInfoResponse, "signature">): Uint8Array {
  if (response.status !== GroupInfoCode.success) {
    throw new MimiError("MIMI_ERR_CODEC_CONSTRAINT", "only a success GroupInfoResponse is signed (MIMI-PROTO-CHOICE-25)", {
      details: { rule: "MIMI-PROTO-CHOICE-25", status: response.status },
    });
  }
  return encode(GroupInfoResponseTBS, {
    protocol: response.protocol,
    roomId: response.roomId,
    status: response.status,
    cipherSuite: response.cipherSuite,
    hubSender: response.hubSender,
    encryptedGroupinfoAndTree: response.encryptedGroupinfoAndTree,
  });
}
