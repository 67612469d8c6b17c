// Update Room State (draft-ietf-mimi-protocol-06 §5.3): POST /update/{roomId} with an
// UpdateRequest (a HandshakeBundle), answered by an UpdateRoomResponse; with GroupInfoOption and
// the RatchetTreeOption / PartialGroupInfo structs of draft-mahy-mls-ratchet-tree-options-03.
import { empty, enumOf, opaqueV, optional, selectOn, struct, uint64, uint8, utf8V, vectorV } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";
import { ContentType, ExtensionList, GroupInfo, ProposalRef, RatchetTree, Welcome, WireFormat, mlsMessageInfo } from "../mls/wire.ts";
import type { MlsMessageBytes, MlsMessageInfo } from "../mls/wire.ts";
import { mlsMessageWhere, selectOnDerived } from "./framing.ts";

// ---- handshake messages -------------------------------------------------------------------------

function handshakeProblem(info: MlsMessageInfo, contentTypes: readonly number[]): string | undefined {
  // MIMI-PROTO-CHOICE-24: protocol-06 allows PublicMessage or SemiPrivateMessage handshakes;
  // ts-mls 1.6.4 has no SemiPrivateMessage (draft-mahy-mls-semiprivatemessage), so only
  // PublicMessage is accepted for now (a SemiPrivateMessage fails to decode as MLS_MALFORMED).
  if (info.wireFormat !== WireFormat.mls_public_message) return `wire format ${info.wireFormat} is not mls_public_message`;
  if (info.contentType === undefined || !contentTypes.includes(info.contentType)) {
    return `content type ${String(info.contentType)} is not ${contentTypes.map((c) => (c === ContentType.proposal ? "proposal" : "commit")).join(" or ")}`;
  }
  return undefined;
}

// MIMI-PROTO-UPDATE-01: protocol-06 §5.3 HandshakeBundle.proposalOrCommit is "A Proposal or Commit
// which is either a PublicMessage; or a SemiPrivateMessage".
/** The MLSMessage of HandshakeBundle.proposalOrCommit: a PublicMessage proposal or commit. */
export const HandshakeMessage = mlsMessageWhere("MLSMessage(handshake)", "MIMI-PROTO-UPDATE-01", (info) =>
  handshakeProblem(info, [ContentType.proposal, ContentType.commit]),
);

// MIMI-PROTO-UPDATE-02: protocol-06 §5.3/§5.5/§5.6 moreProposals, externalProposals and
// PendingProposal.proposal are proposals "represented as either PublicMessage or SemiPrivateMessage".
/** An MLSMessage that must be a PublicMessage proposal (moreProposals, externalProposals, pending proposals). */
export const ProposalMessage = mlsMessageWhere("MLSMessage(proposal)", "MIMI-PROTO-UPDATE-02", (info) => handshakeProblem(info, [ContentType.proposal]));

// ---- RatchetTreeOption, PartialGroupInfo (draft-mahy-mls-ratchet-tree-options-03 §3, §4) -------

/** RatchetTreeRepresentation (ratchet-tree-options-03 §3). */
export const RatchetTreeRepresentation = { reserved: 0, full: 1, httpsUri: 2, outOfBand: 3, distributionService: 4 } as const;
export type RatchetTreeRepresentation = (typeof RatchetTreeRepresentation)[keyof typeof RatchetTreeRepresentation];
// MIMI-PROTO-CHOICE-19: reserved(0) is rejected.
export const RatchetTreeRepresentationCodec = enumOf(
  "RatchetTreeRepresentation",
  {
    full: RatchetTreeRepresentation.full,
    httpsUri: RatchetTreeRepresentation.httpsUri,
    outOfBand: RatchetTreeRepresentation.outOfBand,
    distributionService: RatchetTreeRepresentation.distributionService,
  },
  uint8,
);

// MIMI-PROTO-CHOICE-11: `case full: Node ratchet_tree<V>` is read as the RFC 9420 §12.4.3.3
// ratchet_tree extension, `optional<Node> ratchet_tree<V>` (the prose: "the complete ratchet_tree
// extension is included"): a plain Node vector could not hold blank nodes. `case httpsUrl` is the
// enum's httpsUri(2); the URL is UTF-8 text.
/** RatchetTreeOption (ratchet-tree-options-03 §3). */
export const RatchetTreeOption = struct("RatchetTreeOption", [
  ["representation", RatchetTreeRepresentationCodec],
  selectOn("representation", {
    [RatchetTreeRepresentation.full]: struct("RatchetTreeOption.full", [["ratchetTree", RatchetTree]]),
    [RatchetTreeRepresentation.httpsUri]: struct("RatchetTreeOption.httpsUri", [
      ["ratchetTreeUrl", utf8V],
      ["treeSignature", opaqueV],
    ]),
    [RatchetTreeRepresentation.outOfBand]: struct("RatchetTreeOption.outOfBand", [["treeSignature", opaqueV]]),
    [RatchetTreeRepresentation.distributionService]: empty,
  }),
]);
export type RatchetTreeOption = Infer<typeof RatchetTreeOption>;

/** RatchetTreePresence (ratchet-tree-options-03 §4); here 0 is a real value. */
export const RatchetTreePresence = { no_ratchet_tree: 0, present: 1, removed: 2, added: 3 } as const;
export type RatchetTreePresence = (typeof RatchetTreePresence)[keyof typeof RatchetTreePresence];
export const RatchetTreePresenceCodec = enumOf("RatchetTreePresence", RatchetTreePresence, uint8);

/** PartialGroupInfo (ratchet-tree-options-03 §4). */
export const PartialGroupInfo = struct("PartialGroupInfo", [
  ["ratchetTreePresence", RatchetTreePresenceCodec],
  // GroupInfo extensions excluding ratchet_tree
  ["groupInfoExtensions", ExtensionList],
  ["signature", opaqueV],
]);
export type PartialGroupInfo = Infer<typeof PartialGroupInfo>;

// ---- GroupInfoOption, HandshakeBundle, UpdateRequest (protocol-06 §5.3) ----------------------

/** GroupInfoRepresentation (protocol-06 §5.3). */
export const GroupInfoRepresentation = { reserved: 0, full: 1, partial: 2 } as const;
export type GroupInfoRepresentation = (typeof GroupInfoRepresentation)[keyof typeof GroupInfoRepresentation];
// MIMI-PROTO-CHOICE-19: reserved(0) is rejected.
export const GroupInfoRepresentationCodec = enumOf(
  "GroupInfoRepresentation",
  { full: GroupInfoRepresentation.full, partial: GroupInfoRepresentation.partial },
  uint8,
);

// MIMI-PROTO-CHOICE-21: `GroupInfo`, `Welcome` and `KeyPackage` in MIMI structs are the bare MLS
// structs (RFC 9420 §12.4.3, §12.4.3.1, §10), not MLSMessage-wrapped, exactly as the TLS-PL says;
// only fields typed `MLSMessage` carry the wrapper. wire.ts converts between the two forms.
/** GroupInfoOption (protocol-06 §5.3). */
export const GroupInfoOption = struct("GroupInfoOption", [
  ["representation", GroupInfoRepresentationCodec],
  selectOn("representation", {
    [GroupInfoRepresentation.full]: struct("GroupInfoOption.full", [["groupInfo", GroupInfo]]),
    [GroupInfoRepresentation.partial]: struct("GroupInfoOption.partial", [["partialGroupInfo", PartialGroupInfo]]),
  }),
]);
export type GroupInfoOption = Infer<typeof GroupInfoOption>;

/** The two kinds of HandshakeBundle: the content type of proposalOrCommit. */
export type HandshakeKind = "proposal" | "commit";

function handshakeKind(m: { proposalOrCommit: MlsMessageBytes }): HandshakeKind | undefined {
  const ct = mlsMessageInfo(m.proposalOrCommit).contentType;
  return ct === ContentType.commit ? "commit" : ct === ContentType.proposal ? "proposal" : undefined;
}

// MIMI-PROTO-CHOICE-09: `select (proposalOrCommit.content.content_type)` (whose closing `};` is
// missing in the draft) is decided from the MLSMessage itself: the content type of the
// PublicMessage (RFC 9420 §6.2), kept in the value as `kind`.
/** HandshakeBundle (protocol-06 §5.3). */
export const HandshakeBundle = selectOnDerived(
  "HandshakeBundle",
  "MIMI-PROTO-CHOICE-09",
  struct("HandshakeBundle.head", [["proposalOrCommit", HandshakeMessage]]),
  handshakeKind,
  {
    commit: struct("HandshakeBundle.commit", [
      // Both the Welcome and GroupInfo omit the ratchet_tree.
      ["welcome", optional(Welcome)],
      ["groupInfoOption", GroupInfoOption],
      ["ratchetTreeOption", RatchetTreeOption],
    ]),
    proposal: struct("HandshakeBundle.proposal", [["moreProposals", vectorV(ProposalMessage)]]),
  },
);
export type HandshakeBundle = Infer<typeof HandshakeBundle>;

// MIMI-PROTO-CHOICE-10: `select (room.protocol)` selects on something that is not on the wire:
// the protocol is the room's (mls10, the only one), so the body is exactly one HandshakeBundle.
/** UpdateRequest (protocol-06 §5.3), mls10: a HandshakeBundle. */
export const UpdateRequest = struct("UpdateRequest", [["bundle", HandshakeBundle]]);
export type UpdateRequest = Infer<typeof UpdateRequest>;

// ---- UpdateRoomResponse -------------------------------------------------------------------------

/** UpdateResponseCode (protocol-06 §5.3). */
export const UpdateResponseCode = { success: 0, wrongEpoch: 1, notAllowed: 2, invalidProposal: 3 } as const;
export type UpdateResponseCode = (typeof UpdateResponseCode)[keyof typeof UpdateResponseCode];
export const UpdateResponseCodeCodec = enumOf("UpdateResponseCode", UpdateResponseCode, uint8);

// MIMI-PROTO-CHOICE-08: `string errorDescription` (`string` is no TLS-PL type) is UTF-8 text in an
// opaque<V>, strictly validated. MIMI-PROTO-CHOICE-20: notAllowed has an empty arm.
/** UpdateRoomResponse (protocol-06 §5.3). */
export const UpdateRoomResponse = struct("UpdateRoomResponse", [
  ["responseCode", UpdateResponseCodeCodec],
  ["errorDescription", utf8V],
  selectOn("responseCode", {
    // the hub acceptance time, milliseconds since the Unix epoch
    [UpdateResponseCode.success]: struct("UpdateRoomResponse.success", [["acceptedTimestamp", uint64]]),
    [UpdateResponseCode.wrongEpoch]: struct("UpdateRoomResponse.wrongEpoch", [["currentEpoch", uint64]]),
    [UpdateResponseCode.notAllowed]: empty,
    [UpdateResponseCode.invalidProposal]: struct("UpdateRoomResponse.invalidProposal", [["invalidProposals", vectorV(ProposalRef)]]),
  }),
]);
export type UpdateRoomResponse = Infer<typeof UpdateRoomResponse>;
