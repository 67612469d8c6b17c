// The protocol-06 structs the SDK builds and reads (src/protocol), from and to the MLS facade's
// byte forms (MLSMessage-wrapped GroupInfo, Welcome and KeyPackage).
import { decodeExact, encode, opaqueV, struct, uint16 } from "../../codec/index.ts";
import { MimiError } from "../../errors.ts";
import { decodeGroupInfo, inspectMessage } from "../../mls/index.ts";
import {
  asCredential,
  asGroupInfo,
  asMlsMessage,
  asRatchetTree,
  keyPackageToMlsMessage,
  mlsMessageToWelcome,
} from "../../mls/wire.ts";
import type { CredentialBytes } from "../../mls/wire.ts";
import {
  FanoutMessage,
  GroupInfoRepresentation,
  HandshakeBundle,
  KeyMaterialClientCode,
  KeyMaterialResponse,
  KeyMaterialUserCode,
  KeyMaterialUserCodeCodec,
  RatchetTreeRepresentation,
  SubmitMessageResponse,
  SubmitResponseCode,
  UpdateResponseCode,
  UpdateRoomResponse,
} from "../../protocol/index.ts";
import type { FanoutMessage as FanoutMessageValue, HandshakeBundle as HandshakeBundleValue } from "../../protocol/index.ts";

/** RFC 9420 ExtensionType ratchet_tree. */
const RATCHET_TREE_EXTENSION = 2;

/**
 * The ratchet tree (`optional<Node> ratchet_tree<V>`, RFC 9420 §12.4.3.3) carried in the
 * ratchet_tree extension of a GroupInfo (MLSMessage), as the facade's exportGroupInfo writes it.
 */
export function ratchetTreeOfGroupInfo(groupInfoMessage: Uint8Array): Uint8Array {
  const gi = decodeGroupInfo(groupInfoMessage);
  const ext = gi.extensions.find((e) => e.extensionType === "ratchet_tree" || e.extensionType === RATCHET_TREE_EXTENSION);
  if (ext === undefined) throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "the GroupInfo has no ratchet_tree extension");
  return asRatchetTree(ext.extensionData).bytes;
}

/**
 * HandshakeBundle for a commit (protocol-06 §5.3): the Welcome if any, the new GroupInfo (full;
 * bare, with external_pub, without ratchet_tree) and the full ratchet tree (RatchetTreeOption.full).
 */
export function commitBundle(result: { readonly commit: Uint8Array; readonly welcome?: Uint8Array | undefined; readonly hubGroupInfo: Uint8Array; readonly ratchetTree: Uint8Array }): Uint8Array {
  const bundle: HandshakeBundleValue = {
    kind: "commit",
    proposalOrCommit: asMlsMessage(result.commit),
    welcome: result.welcome === undefined ? undefined : mlsMessageToWelcome(asMlsMessage(result.welcome)),
    groupInfoOption: { representation: GroupInfoRepresentation.full, groupInfo: asGroupInfo(result.hubGroupInfo) },
    ratchetTreeOption: { representation: RatchetTreeRepresentation.full, ratchetTree: asRatchetTree(result.ratchetTree) },
  };
  return encode(HandshakeBundle, bundle);
}

/** HandshakeBundle for proposals: the first as proposalOrCommit, the others as moreProposals. */
export function proposalBundle(proposals: readonly Uint8Array[]): Uint8Array {
  const [first, ...rest] = proposals;
  if (first === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "a proposal bundle needs at least one proposal");
  return encode(HandshakeBundle, { kind: "proposal", proposalOrCommit: asMlsMessage(first), moreProposals: rest.map(asMlsMessage) });
}

export type UpdateOutcome =
  | { readonly code: "success"; readonly acceptedTimestamp: bigint }
  | { readonly code: "wrongEpoch"; readonly currentEpoch: bigint; readonly description: string }
  | { readonly code: "notAllowed"; readonly description: string }
  | { readonly code: "invalidProposal"; readonly description: string; readonly invalidProposals: number };

function badResponse(what: string, cause: unknown): MimiError {
  return new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `the provider's ${what} does not decode`, { cause });
}

export function parseUpdateResponse(bytes: Uint8Array): UpdateOutcome {
  let r;
  try {
    r = decodeExact(UpdateRoomResponse, bytes);
  } catch (cause) {
    throw badResponse("UpdateRoomResponse", cause);
  }
  switch (r.responseCode) {
    case UpdateResponseCode.success:
      return { code: "success", acceptedTimestamp: r.acceptedTimestamp };
    case UpdateResponseCode.wrongEpoch:
      return { code: "wrongEpoch", currentEpoch: r.currentEpoch, description: r.errorDescription };
    case UpdateResponseCode.notAllowed:
      return { code: "notAllowed", description: r.errorDescription };
    default:
      return { code: "invalidProposal", description: r.errorDescription, invalidProposals: r.invalidProposals.length };
  }
}

export type SubmitOutcome =
  | { readonly code: "accepted"; readonly acceptedTimestamp: bigint }
  | { readonly code: "notAllowed" }
  | { readonly code: "epochTooOld"; readonly currentEpoch: bigint };

export function parseSubmitResponse(bytes: Uint8Array): SubmitOutcome {
  let r;
  try {
    r = decodeExact(SubmitMessageResponse, bytes);
  } catch (cause) {
    throw badResponse("SubmitMessageResponse", cause);
  }
  switch (r.statusCode) {
    case SubmitResponseCode.accepted:
      return { code: "accepted", acceptedTimestamp: r.acceptedTimestamp };
    case SubmitResponseCode.notAllowed:
      return { code: "notAllowed" };
    default:
      return { code: "epochTooOld", currentEpoch: r.currentEpoch };
  }
}

export function parseFanout(bytes: Uint8Array): FanoutMessageValue {
  try {
    return decodeExact(FanoutMessage, bytes);
  } catch (cause) {
    throw badResponse("FanoutMessage", cause);
  }
}

const BasicCredential = struct("Credential.basic", [
  ["credentialType", uint16],
  ["identity", opaqueV],
]);

/** A BasicCredential (RFC 9420 §5.3) in its TLS encoding. */
export function basicCredential(identity: Uint8Array): CredentialBytes {
  return asCredential(encode(BasicCredential, { credentialType: 1, identity }));
}

/** The identity of a BasicCredential in its TLS encoding (undefined for other credential types). */
export function basicCredentialIdentity(credential: Uint8Array): Uint8Array | undefined {
  try {
    const c = decodeExact(BasicCredential, credential);
    return c.credentialType === 1 ? c.identity : undefined;
  } catch {
    return undefined;
  }
}

/** A claimed KeyPackage, as the facade takes it (MLSMessage bytes), with the client it is for. */
export interface ClaimedKeyPackage {
  readonly clientUri: string;
  readonly keyPackage: Uint8Array;
}

export type KeyMaterialOutcome =
  | { readonly ok: true; readonly keyPackages: readonly ClaimedKeyPackage[]; readonly exhausted: readonly string[] }
  | { readonly ok: false; readonly userStatus: string };

/**
 * Reads a KeyMaterialResponse for `targetUser`: the KeyPackages of clients with status success,
 * each checked to be a KeyPackage of a client of that user (a provider may not substitute one).
 */
export function parseKeyMaterialResponse(bytes: Uint8Array, targetUser: string): KeyMaterialOutcome {
  let r;
  try {
    r = decodeExact(KeyMaterialResponse, bytes);
  } catch (cause) {
    throw badResponse("KeyMaterialResponse", cause);
  }
  if (r.userStatus !== KeyMaterialUserCode.success && r.userStatus !== KeyMaterialUserCode.partialSuccess) {
    return { ok: false, userStatus: KeyMaterialUserCodeCodec.nameOf(r.userStatus) ?? String(r.userStatus) };
  }
  const keyPackages: ClaimedKeyPackage[] = [];
  const exhausted: string[] = [];
  for (const c of r.clients) {
    if (c.clientStatus !== KeyMaterialClientCode.success) {
      exhausted.push(c.clientUri.uri);
      continue;
    }
    const message = keyPackageToMlsMessage(c.keyPackage).bytes;
    const info = inspectMessage(message);
    if (info.wireFormat !== "key_package" || info.identity?.kind !== "client" || info.identity.userUri !== targetUser || info.identity.clientUri !== c.clientUri.uri) {
      throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `a KeyPackage claimed for ${targetUser} belongs to another client`, { details: { clientUri: c.clientUri.uri } });
    }
    keyPackages.push({ clientUri: c.clientUri.uri, keyPackage: message });
  }
  return { ok: true, keyPackages, exhausted };
}
