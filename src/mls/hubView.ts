// The hub's view of a room's MLS group (draft-ietf-mimi-protocol-06 §5.3, §5.5, §5.6;
// DESIGN.md §2): the hub orders the room's group without being a member. It sees handshakes as
// PublicMessages (RFC 9420 §6.2), authenticates and summarises them for room policy, keeps the
// current GroupInfo and ratchet tree (to serve external joins), checks that the GroupInfo and tree
// a committer sends really are the outcome of the commit it accepted, routes Welcomes by
// KeyPackageRef, and never holds a group secret.
//
// What a non-member can and cannot check (the reason behind each check is in its comment):
//  - everything public: signatures (FramedContentTBS, GroupInfoTBS, LeafNodeTBS, KeyPackageTBS),
//    the ratchet tree (leaf signatures, parent hashes, tree hash), the proposals and their
//    validity, and the whole next GroupContext, because RFC 9420 derives it from public data only:
//    tree_hash from the public tree after the proposals and the UpdatePath (§7.8, §12.4.2),
//    confirmed_transcript_hash from the commit's FramedContent and signature (§8.2), the
//    extensions from GroupContextExtensions and AppDataUpdate proposals (mls-extensions-09 §4.7);
//  - nothing secret: the membership_tag of member PublicMessages (membership_key), the confirmation
//    tag of the commit and of the GroupInfo (confirmation_key), the encrypted path secrets, the
//    external_pub value (derived from external_secret), PSK values.
//
// Everything here throws MimiError (MIMI_ERR_MLS_*), except the typed wrongEpoch answer.
import { createHash } from "node:crypto";
import { decodeMlsMessage, encodeMlsMessage, externalSendersFromExtensions, getCiphersuiteFromName } from "ts-mls";
import type { CiphersuiteImpl, ClientState, Credential, Extension, FramedContent, GroupContext, GroupInfo, KeyPackage, LeafNode, MLSMessage, Proposal, PublicMessage, RatchetTree } from "ts-mls";
import type { FramedContentAuthData } from "ts-mls";
import { makeProposalRef } from "ts-mls/authenticatedContent.js";
import {
  applyProposals,
  nextEpochContext,
  validateLeafNodeCredentialAndKeyUniqueness,
  validateLeafNodeUpdateOrCommit,
  validateRatchetTree,
} from "ts-mls/clientState.js";
import { defaultClientConfig } from "ts-mls/clientConfig.js";
import { encodeCredential as tsEncodeCredential } from "ts-mls/credential.js";
import { decryptWithLabel as tsDecryptWithLabel, encryptWithLabel as tsEncryptWithLabel } from "ts-mls/crypto/hpke.js";
import { signWithLabel as tsSignWithLabel, verifyWithLabel as tsVerifyWithLabel } from "ts-mls/crypto/signature.js";
import { extensionTypeToNumber } from "ts-mls/extension.js";
import { verifyFramedContentSignature } from "ts-mls/framedContent.js";
import { encodeGroupContext } from "ts-mls/groupContext.js";
import { decodeGroupInfo as tsDecodeGroupInfo, encodeGroupInfo as tsEncodeGroupInfo, verifyGroupInfoSignature } from "ts-mls/groupInfo.js";
import { decodeKeyPackage as tsDecodeKeyPackage, encodeKeyPackage as tsEncodeKeyPackage } from "ts-mls/keyPackage.js";
import { encodeLeafNode } from "ts-mls/leafNode.js";
import { decodeProposal, encodeProposal } from "ts-mls/proposal.js";
import { addLeafNode, decodeRatchetTree, encodeRatchetTree, filteredDirectPathAndCopathResolution, removeLeafNode } from "ts-mls/ratchetTree.js";
import { treeHashRoot } from "ts-mls/treeHash.js";
import { leafToNodeIndex, nodeToLeafIndex, toLeafIndex, toNodeIndex } from "ts-mls/treemath.js";
import { applyUpdatePath } from "ts-mls/updatePath.js";
import { decodeWelcome as tsDecodeWelcome, encodeWelcome as tsEncodeWelcome } from "ts-mls/welcome.js";
import { encode, opaqueV, struct, uint16, uint8, utf8V } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import type { MimiErrorCode } from "../errors.ts";
import {
  AppDataUpdateOperation,
  ExtensionTypeId,
  ProposalTypeId,
  checkAppDataUpdateCombination,
  decodeAppDataDictionary,
  decodeAppDataUpdate,
  encodeAppDataDictionary,
  makeAppDataUpdateCallback,
  mimiComponentHandlers,
} from "./appData.ts";
import type { AppDataDictionary, AppDataUpdate, ComponentUpdateHandler } from "./appData.ts";
import { bytesEqual, decodeExactMls } from "./codecUtil.ts";
import { MimiComponentId, decodeParticipantListData } from "./components.ts";
import { createAuthenticationService, tryParseMimiCredential } from "./credentials.ts";
import type { CredentialCheck, MimiAuthenticationService, MimiClientIdentity, MimiProviderIdentity } from "./credentials.ts";
import { createExternalSender } from "./group.ts";
import type { MlsExternalSender } from "./group.ts";
import { isLastResortKeyPackage, validateKeyPackage } from "./keyPackages.ts";
import { toMimiError } from "./mlsErrors.ts";
import { DEFAULT_CRYPTO_PROVIDER, cipherSuiteId, cipherSuiteName, isCipherSuiteName, suiteImpl } from "./suites.ts";
import type { CipherSuiteName, CryptoProviderName } from "./suites.ts";

// ---- public types ---------------------------------------------------------------------------------

/** What the hub stores per room: plain bytes and bigints, so it serialises as it is. */
export interface HubRoomMls {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  /** RFC 9420 CipherSuite number. */
  readonly cipherSuite: number;
  /** The bare GroupInfo of the epoch (RFC 9420 §12.4.3): with external_pub, without ratchet_tree. */
  readonly groupInfo: Uint8Array;
  /** The ratchet_tree extension data of the epoch: `optional<Node> ratchet_tree<V>` (RFC 9420 §12.4.3.3). */
  readonly ratchetTree: Uint8Array;
}

/** A member (non-blank leaf) of the room's group, with its MIMI client credential. */
export interface LeafInfo {
  readonly leafIndex: number;
  readonly clientUri: string;
  readonly userUri: string;
  /** The client's provider domain. */
  readonly provider: string;
  readonly signatureKey: Uint8Array;
}

/** An entry of the GroupContext external_senders vector (RFC 9420 §12.1.8.1): a MIMI provider. */
export interface HubExternalSender {
  readonly senderIndex: number;
  readonly providerUri: string;
  readonly provider: string;
  readonly signatureKey: Uint8Array;
}

/** The hub's validated view of one epoch of a room: the stored bytes plus what was read from them. */
export interface HubRoomSnapshot {
  readonly room: HubRoomMls;
  readonly cipherSuiteName: CipherSuiteName;
  readonly leaves: readonly LeafInfo[];
  readonly dictionary: AppDataDictionary;
  readonly externalSenders: readonly HubExternalSender[];
  /** GroupContext.tree_hash. */
  readonly treeHash: Uint8Array;
  /** GroupContext.confirmed_transcript_hash. */
  readonly confirmedTranscriptHash: Uint8Array;
  /** GroupInfo.confirmation_tag (the epoch's confirmation tag, needed for the next interim transcript hash). */
  readonly confirmationTag: Uint8Array;
  /** GroupContext extension types, in order. */
  readonly extensionTypes: readonly number[];
  /** GroupInfo.signer. */
  readonly signerLeafIndex: number;
  /** The GroupInfo carries external_pub, so the hub can serve external joins (RFC 9420 §12.4.3.2). */
  readonly hasExternalPub: boolean;
}

/** Who sent a handshake, as far as the hub can tell (RFC 9420 §6 Sender). */
export type HandshakeSender =
  | { readonly kind: "member"; readonly leafIndex: number; readonly clientUri: string; readonly userUri: string; readonly provider: string }
  | { readonly kind: "external"; readonly senderIndex: number; readonly providerUri: string; readonly provider: string }
  | { readonly kind: "new_member_commit"; readonly clientUri: string; readonly userUri: string; readonly provider: string; readonly signatureKey: Uint8Array }
  | { readonly kind: "new_member_proposal"; readonly clientUri: string; readonly userUri: string; readonly provider: string; readonly signatureKey: Uint8Array };

interface HubProposalSummaryBase {
  /** RFC 9420 ProposalType number. */
  readonly proposalType: number;
  /** The RFC 9420 Proposal struct, encoded (what a commit carries by value). */
  readonly proposal: Uint8Array;
  /** Who proposed it: for a proposal committed by value, the committer. */
  readonly sender: HandshakeSender;
  /** The epoch the proposal belongs to. */
  readonly epoch: bigint;
  /** Hex ProposalRef (RFC 9420 §5.2) when it was sent as a proposal message, else undefined. */
  readonly ref: string | undefined;
}

/** One proposal, summarised for room policy (plain data: it can be stored as a pending proposal). */
export type HubProposalSummary = HubProposalSummaryBase &
  (
    | { readonly type: "add"; readonly keyPackageRef: Uint8Array; readonly clientUri: string; readonly userUri: string; readonly provider: string; readonly keyPackage: Uint8Array }
    | { readonly type: "remove"; readonly leafIndex: number; readonly clientUri: string; readonly userUri: string; readonly provider: string }
    | { readonly type: "update"; readonly leafIndex: number; readonly clientUri: string; readonly userUri: string }
    | { readonly type: "appDataUpdate"; readonly componentId: number; readonly op: "update" | "remove"; readonly data: Uint8Array | undefined }
    | {
        readonly type: "groupContextExtensions";
        readonly extensionTypes: readonly number[];
        /** The new external_senders vector when the proposal changes it, else undefined. */
        readonly externalSenders: readonly HubExternalSender[] | undefined;
      }
    | { readonly type: "externalInit" }
    | { readonly type: "psk" }
    | { readonly type: "reinit" }
    | { readonly type: "other" }
  );

export type HubProposalSummaryType = HubProposalSummary["type"];

/** The result of inspectHandshake. */
export type HandshakeInspection =
  | {
      readonly status: "wrongEpoch";
      readonly kind: "proposal" | "commit";
      readonly messageEpoch: bigint;
      readonly currentEpoch: bigint;
    }
  | (HandshakeInspectionOk & {
      readonly kind: "proposal";
      /** The proposal (also `proposals[0]`). */
      readonly proposal: HubProposalSummary;
      /** RFC 9420 §5.2 MakeProposalRef over the AuthenticatedContent. */
      readonly proposalRef: Uint8Array;
      readonly proposalRefHex: string;
    })
  | (HandshakeInspectionOk & {
      readonly kind: "commit";
      readonly proposalRef: undefined;
      readonly proposalRefHex: undefined;
      /** The committer's leaf index in the new epoch (for an external commit: the leaf it will take). */
      readonly committerLeafIndex: number;
      /** The app_data_dictionary after the commit's AppDataUpdates (equal to the current one without). */
      readonly dictionaryAfter: AppDataDictionary;
    });

/** What every successful inspection has. */
export interface HandshakeInspectionOk {
  readonly status: "ok";
  readonly epoch: bigint;
  readonly sender: HandshakeSender;
  /** A proposal message: `[proposal]`; a commit: in commit order, by value and by reference (resolved). */
  readonly proposals: readonly HubProposalSummary[];
  /** The commit has an UpdatePath (false for a proposal). */
  readonly hasPath: boolean;
  /** Hex ProposalRefs the commit includes by reference, in commit order (empty for a proposal). */
  readonly committedProposalRefs: readonly string[];
  readonly authenticatedData: Uint8Array;
}

/** Options of the hub view; the defaults suit a MIMI hub. */
export interface HubViewOptions {
  /** Default "native". */
  readonly cryptoProvider?: CryptoProviderName;
  /** Application logic for components beyond the MIMI ones (as ClientOptions.componentHandlers). */
  readonly componentHandlers?: ReadonlyMap<number, ComponentUpdateHandler>;
  /** MIMI-MLS-05: every member's user must be in the participant_list. Default true. */
  readonly enforceParticipants?: boolean;
  /** The GroupInfo must carry external_pub (MIMI-MLS-HUB-03). Default true. */
  readonly requireExternalPub?: boolean;
  /** Extra authentication-service checks (e.g. requireClientProvider). */
  readonly credentialChecks?: readonly CredentialCheck[];
  /** For KeyPackage lifetimes. */
  readonly now?: Date;
}

/** A cipher suite by RFC 9420 number or ts-mls name. */
export type CipherSuiteRef = number | CipherSuiteName;

/** Which form MLS bytes are in: a bare struct (as in MIMI wire structs, MIMI-PROTO-CHOICE-21) or an MLSMessage. */
export type MlsBytesForm = "bare" | "mlsMessage";

// ---- errors and small helpers -----------------------------------------------------------------

function fail(code: MimiErrorCode, reason: string, details: Record<string, unknown> = {}, cause?: unknown): MimiError {
  return new MimiError(code, reason, cause === undefined ? { details: { reason, ...details } } : { cause, details: { reason, ...details } });
}

function invalid(reason: string, details: Record<string, unknown> = {}): MimiError {
  return fail("MIMI_ERR_MLS_INVALID_MESSAGE", reason, details);
}

function mismatch(reason: string, details: Record<string, unknown> = {}): MimiError {
  return fail("MIMI_ERR_MLS_GROUP_INFO_MISMATCH", `GroupInfo or ratchet tree does not match the commit: ${reason}`, details);
}

/** Runs ts-mls code on hostile input: whatever it throws becomes a MimiError (never an InternalError). */
async function guard<T>(what: string, code: MimiErrorCode, fn: () => Promise<T> | T, as?: MimiAuthenticationService): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof MimiError) throw err;
    const e = toMimiError(err, code, what, () => as?.rejection);
    // ts-mls reports some malformed inputs as InternalError; here they are the peer's fault.
    if (e.code === "MIMI_ERR_INTERNAL") throw new MimiError(code, e.message, { cause: err });
    throw e;
  }
}

function guardSync<T>(what: string, code: MimiErrorCode, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof MimiError) throw err;
    const e = toMimiError(err, code, what);
    if (e.code === "MIMI_ERR_INTERNAL") throw new MimiError(code, e.message, { cause: err });
    throw e;
  }
}

/** Decodes exactly one structure and insists that it re-encodes to the same bytes (canonical form). */
function decodeExactTs<T>(what: string, bytes: Uint8Array, decode: (b: Uint8Array, o: number) => [T, number] | undefined, encodeBack: (v: T) => Uint8Array): T {
  return guardSync(`decode ${what}`, "MIMI_ERR_MLS_INVALID_MESSAGE", () => {
    if (!(bytes instanceof Uint8Array)) throw invalid(`${what} must be bytes`);
    const decoded = decode(bytes, 0);
    if (decoded === undefined) throw invalid(`${what} cannot be decoded`);
    if (decoded[1] !== bytes.length) throw invalid(`${what} is followed by ${bytes.length - decoded[1]} bytes`, { trailing: bytes.length - decoded[1] });
    if (!bytesEqual(encodeBack(decoded[0]), bytes)) throw invalid(`${what} is not in canonical form (RFC 9420 §2.1)`);
    return decoded[0];
  });
}

function decodeMessage(bytes: Uint8Array): MLSMessage {
  return decodeExactTs("MLSMessage", bytes, decodeMlsMessage, encodeMlsMessage);
}

function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

function suiteName(cs: CipherSuiteRef): CipherSuiteName {
  const name = typeof cs === "number" ? cipherSuiteName(cs) : isCipherSuiteName(cs) ? cs : undefined;
  if (name === undefined) throw fail("MIMI_ERR_MLS_UNSUPPORTED_CIPHERSUITE", `unknown MLS ciphersuite ${String(cs)}`, { cipherSuite: String(cs) });
  return name;
}

function authService(options: HubViewOptions): MimiAuthenticationService {
  return createAuthenticationService(options.credentialChecks ?? []);
}

function clientOf(credential: Credential, what: string): MimiClientIdentity {
  const id = tryParseMimiCredential(credential);
  // MIMI-MLS-HUB-04 (MIMI-MLS-03): members present MIMI client credentials.
  if (id?.kind !== "client") throw fail("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `${what} does not present a MIMI client credential`);
  return id;
}

function providerOf(credential: Credential, what: string): MimiProviderIdentity {
  const id = tryParseMimiCredential(credential);
  // MIMI-MLS-HUB-04 (MIMI-MLS-15): external senders are MIMI providers.
  if (id?.kind !== "provider") throw fail("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `${what} does not present a MIMI provider credential`);
  return id;
}

function extensionNumber(e: Extension): number {
  return extensionTypeToNumber(e.extensionType);
}

function handlersOf(options: HubViewOptions): ReadonlyMap<number, ComponentUpdateHandler> {
  return options.componentHandlers === undefined ? mimiComponentHandlers : new Map([...mimiComponentHandlers, ...options.componentHandlers]);
}

function dictionaryOf(extensions: readonly Extension[]): AppDataDictionary {
  const ext = extensions.filter((e) => e.extensionType === ExtensionTypeId.app_data_dictionary);
  if (ext.length > 1) throw fail("MIMI_ERR_MLS_APP_DATA_INVALID", "more than one app_data_dictionary extension");
  return ext[0] === undefined ? { componentData: [] } : decodeAppDataDictionary(ext[0].extensionData);
}

function externalSendersOf(extensions: readonly Extension[]): HubExternalSender[] {
  const list = guardSync("external_senders", "MIMI_ERR_MLS_INVALID_MESSAGE", () => externalSendersFromExtensions([...extensions]));
  return list.map((s, senderIndex) => {
    const id = providerOf(s.credential, `external sender ${senderIndex}`);
    return { senderIndex, providerUri: id.providerUri, provider: id.provider, signatureKey: s.signaturePublicKey };
  });
}

function leafAt(tree: RatchetTree, leafIndex: number): LeafNode | undefined {
  if (!Number.isSafeInteger(leafIndex) || leafIndex < 0) return undefined;
  const node = tree[leafToNodeIndex(toLeafIndex(leafIndex))];
  return node?.nodeType === "leaf" ? node.leaf : undefined;
}

// ---- decoding the stored room state ---------------------------------------------------------

interface Decoded {
  readonly cs: CiphersuiteImpl;
  readonly gi: GroupInfo;
  readonly tree: RatchetTree;
}

/** Decoded ts-mls values of each snapshot made here (a snapshot read back from storage is decoded again). */
const decodedCache = new WeakMap<HubRoomSnapshot, Decoded>();

function decodeBareGroupInfo(bytes: Uint8Array): GroupInfo {
  return decodeExactTs("GroupInfo", bytes, tsDecodeGroupInfo, tsEncodeGroupInfo);
}

function decodeTree(bytes: Uint8Array): RatchetTree {
  return decodeExactTs("ratchet tree", bytes, decodeRatchetTree, encodeRatchetTree);
}

/**
 * The snapshot with its decoded values. A snapshot not made by this module (e.g. read back from
 * storage) is rebuilt from its stored bytes (loadHubRoom), so what the hub relies on (leaves,
 * external senders, dictionary) always comes from the GroupInfo and tree, never from loose fields.
 */
async function viewOf(snapshot: HubRoomSnapshot, options: HubViewOptions): Promise<{ snapshot: HubRoomSnapshot; decoded: Decoded }> {
  const known = decodedCache.get(snapshot);
  if (known !== undefined) return { snapshot, decoded: known };
  const rebuilt = await loadHubRoom(snapshot.room, options);
  const decoded = decodedCache.get(rebuilt);
  if (decoded === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "rebuilt snapshot has no decoded state");
  return { snapshot: rebuilt, decoded };
}

/**
 * Reads what the GroupInfo and tree say and checks the MIMI invariants of an epoch. The
 * cryptographic checks are the callers' (hubRoomFromGroupInfo, verifyCommitOutcome).
 */
function buildSnapshot(gi: GroupInfo, groupInfo: Uint8Array, tree: RatchetTree, ratchetTree: Uint8Array, cs: CiphersuiteImpl, options: HubViewOptions): HubRoomSnapshot {
  const gc = gi.groupContext;
  const giTypes = gi.extensions.map(extensionNumber);
  // MIMI-MLS-HUB-03: protocol-06 §5.3 "Both the Welcome and GroupInfo omit the ratchet_tree": the
  // hub keeps the tree apart, and a GroupInfo signature covers its extensions, so a GroupInfo with
  // an embedded tree cannot be stored as ours.
  if (giTypes.includes(ExtensionTypeId.ratchet_tree)) throw invalid("the GroupInfo carries a ratchet_tree extension (protocol-06 §5.3: it must be omitted)");
  const hasExternalPub = giTypes.includes(ExtensionTypeId.external_pub);
  // MIMI-MLS-HUB-03: the hub serves external joins (protocol-06 §5.6), which need external_pub
  // (RFC 9420 §12.4.3.2).
  if (options.requireExternalPub !== false && !hasExternalPub) throw invalid("the GroupInfo has no external_pub extension, so the hub could not serve external joins");
  const leaves: LeafInfo[] = [];
  for (const [nodeIndex, node] of tree.entries()) {
    if (node?.nodeType !== "leaf") continue;
    const leafIndex = nodeToLeafIndex(toNodeIndex(nodeIndex));
    const id = clientOf(node.leaf.credential, `leaf ${leafIndex}`);
    leaves.push({ leafIndex, clientUri: id.clientUri, userUri: id.userUri, provider: id.provider, signatureKey: node.leaf.signaturePublicKey });
  }
  const externalSenders = externalSendersOf(gc.extensions);
  // MIMI-MLS-HUB-04 (MIMI-MLS-15): protocol-06 "the external_senders extension MUST contain at
  // least the Certificate of the Hub".
  if (externalSenders.length === 0) throw invalid("the group has no external_senders (the hub must be one)");
  const dictionary = dictionaryOf(gc.extensions);
  if (options.enforceParticipants !== false) {
    // MIMI-MLS-HUB-04 (MIMI-MLS-05): "A client may be a member only if its user is a participant".
    const data = dictionary.componentData.find((c) => c.componentId === MimiComponentId.participant_list)?.data;
    if (data !== undefined) {
      const participants = new Set(decodeParticipantListData(data).participants.map((p) => p.user));
      for (const l of leaves) {
        if (!participants.has(l.userUri)) throw fail("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `member user ${l.userUri} (leaf ${l.leafIndex}) is not a participant`);
      }
    }
  }
  const snapshot: HubRoomSnapshot = {
    room: { groupId: gc.groupId, epoch: gc.epoch, cipherSuite: cipherSuiteId(gc.cipherSuite), groupInfo, ratchetTree },
    cipherSuiteName: gc.cipherSuite,
    leaves,
    dictionary,
    externalSenders,
    treeHash: gc.treeHash,
    confirmedTranscriptHash: gc.confirmedTranscriptHash,
    confirmationTag: gi.confirmationTag,
    extensionTypes: gc.extensions.map(extensionNumber),
    signerLeafIndex: gi.signer,
    hasExternalPub,
  };
  decodedCache.set(snapshot, { cs, gi, tree });
  return snapshot;
}

async function verifyGroupInfoBySigner(gi: GroupInfo, tree: RatchetTree, cs: CiphersuiteImpl): Promise<void> {
  const signer = leafAt(tree, gi.signer);
  if (signer === undefined) throw invalid(`GroupInfo signer ${gi.signer} is not a member leaf`, { signer: gi.signer });
  // MIMI-MLS-HUB-01: RFC 9420 §12.4.3.1 "Verify the signature on the GroupInfo object. The
  // signature input comprises all of the fields in the GroupInfo object except the signature
  // field. The public key is taken from the LeafNode of the ratchet tree with leaf index signer."
  const ok = await guard("verify GroupInfo", "MIMI_ERR_MLS_INVALID_MESSAGE", () => verifyGroupInfoSignature(gi, signer.signaturePublicKey, cs.signature));
  if (!ok) throw fail("MIMI_ERR_MLS_SIGNATURE_INVALID", "the GroupInfo signature does not verify with the signer's leaf key", { signer: gi.signer });
}

/**
 * Validates a GroupInfo and ratchet tree as the hub receives them at room creation (or to adopt a
 * room): the GroupInfo is a bare GroupInfo (MIMI-PROTO-CHOICE-21) with external_pub and without
 * ratchet_tree; `ratchetTree` is the ratchet_tree extension data (RatchetTreeOption.full).
 * Checks the tree (RFC 9420 §12.4.3.1 step "verify the integrity of the ratchet tree": leaf
 * signatures, parent hashes, unique keys, tree_hash = GroupContext.tree_hash), the GroupInfo
 * signature by its signer leaf, `expect` (group id, epoch) and the MIMI invariants.
 */
export async function hubRoomFromGroupInfo(
  groupInfo: Uint8Array,
  ratchetTree: Uint8Array,
  expect: { readonly groupId?: Uint8Array; readonly epoch?: bigint; readonly cipherSuite?: CipherSuiteRef } = {},
  options: HubViewOptions = {},
): Promise<HubRoomSnapshot> {
  const gi = decodeBareGroupInfo(groupInfo);
  const gc = gi.groupContext;
  if (gc.version !== "mls10") throw invalid(`GroupInfo version ${String(gc.version)} is not mls10`);
  if (expect.groupId !== undefined && !bytesEqual(expect.groupId, gc.groupId)) throw invalid("the GroupInfo is for another group");
  if (expect.epoch !== undefined && expect.epoch !== gc.epoch) {
    throw fail("MIMI_ERR_MLS_WRONG_EPOCH", `the GroupInfo is for epoch ${gc.epoch}, expected ${expect.epoch}`, { epoch: gc.epoch.toString(), expected: expect.epoch.toString() });
  }
  if (expect.cipherSuite !== undefined && suiteName(expect.cipherSuite) !== gc.cipherSuite) throw invalid(`the GroupInfo uses ${gc.cipherSuite}`);
  const cs = await suiteImpl(gc.cipherSuite, options.cryptoProvider ?? DEFAULT_CRYPTO_PROVIDER);
  const tree = decodeTree(ratchetTree);
  const as = authService(options);
  // MIMI-MLS-HUB-02: RFC 9420 §12.4.3.1 tree integrity (§7.9.2 parent hashes, §7.3 leaf
  // signatures, §7.8 tree_hash equals GroupContext.tree_hash), reusing ts-mls's own validation.
  const err = await guard("validate ratchet tree", "MIMI_ERR_MLS_INVALID_MESSAGE", () =>
    validateRatchetTree(tree, gc, { ...defaultClientConfig.lifetimeConfig, validateLifetimeOnReceive: false }, as, gc.treeHash, cs),
  );
  if (err !== undefined) throw toMimiError(err, "MIMI_ERR_MLS_INVALID_MESSAGE", "ratchet tree is invalid", () => as.rejection);
  await verifyGroupInfoBySigner(gi, tree, cs);
  return buildSnapshot(gi, groupInfo, tree, ratchetTree, cs, options);
}

/**
 * Re-reads a room the hub stored (HubRoomMls). The bytes were verified when they were accepted,
 * so signatures are not checked again; the tree must still hash to GroupContext.tree_hash.
 */
export async function loadHubRoom(room: HubRoomMls, options: HubViewOptions = {}): Promise<HubRoomSnapshot> {
  const stored = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw err instanceof MimiError && err.code === "MIMI_ERR_MLS_INVALID_MESSAGE" ? fail("MIMI_ERR_MLS_STATE_CORRUPT", `stored room: ${err.message}`, {}, err) : err;
    }
  };
  const gi = stored(() => decodeBareGroupInfo(room.groupInfo));
  const gc = gi.groupContext;
  if (!bytesEqual(room.groupId, gc.groupId) || room.epoch !== gc.epoch || room.cipherSuite !== cipherSuiteId(gc.cipherSuite)) {
    throw fail("MIMI_ERR_MLS_STATE_CORRUPT", "stored room fields do not match its GroupInfo");
  }
  const cs = await suiteImpl(gc.cipherSuite, options.cryptoProvider ?? DEFAULT_CRYPTO_PROVIDER);
  const tree = stored(() => decodeTree(room.ratchetTree));
  const hash = await guard("tree hash", "MIMI_ERR_MLS_STATE_CORRUPT", () => treeHashRoot(tree, cs.hash));
  if (!bytesEqual(hash, gc.treeHash)) throw fail("MIMI_ERR_MLS_STATE_CORRUPT", "stored ratchet tree does not match the GroupInfo tree_hash");
  return buildSnapshot(gi, room.groupInfo, tree, room.ratchetTree, cs, options);
}

// ---- handshakes ---------------------------------------------------------------------------------

function senderFromLeaf(leafIndex: number, leaf: LeafNode): HandshakeSender & { kind: "member" } {
  const id = clientOf(leaf.credential, `leaf ${leafIndex}`);
  return { kind: "member", leafIndex, clientUri: id.clientUri, userUri: id.userUri, provider: id.provider };
}

function sameClient(a: Credential, b: Credential): boolean {
  const x = tryParseMimiCredential(a);
  const y = tryParseMimiCredential(b);
  return x?.kind === "client" && y?.kind === "client" && x.clientUri === y.clientUri;
}

function proposalTypeNumber(p: Proposal): number {
  switch (p.proposalType) {
    case "add":
      return ProposalTypeId.add;
    case "update":
      return ProposalTypeId.update;
    case "remove":
      return ProposalTypeId.remove;
    case "psk":
      return ProposalTypeId.psk;
    case "reinit":
      return ProposalTypeId.reinit;
    case "external_init":
      return ProposalTypeId.external_init;
    case "group_context_extensions":
      return ProposalTypeId.group_context_extensions;
    default:
      return p.proposalType;
  }
}

interface SummariseContext {
  readonly decoded: Decoded;
  readonly snapshot: HubRoomSnapshot;
  readonly sender: HandshakeSender;
  readonly ref: string | undefined;
  readonly options: HubViewOptions;
  readonly as: MimiAuthenticationService;
}

/** Summarises and validates one proposal as far as it can be judged alone. */
async function summarise(p: Proposal, c: SummariseContext): Promise<HubProposalSummary> {
  const { decoded, snapshot, sender } = c;
  const gc = decoded.gi.groupContext;
  const base: HubProposalSummaryBase = {
    proposalType: proposalTypeNumber(p),
    proposal: guardSync("encode Proposal", "MIMI_ERR_MLS_INVALID_MESSAGE", () => encodeProposal(p)),
    sender,
    epoch: gc.epoch,
    ref: c.ref,
  };
  switch (p.proposalType) {
    case "add": {
      const kp = p.add.keyPackage;
      // MIMI-MLS-HUB-11: RFC 9420 §12.1.1 "An Add proposal is invalid if the KeyPackage is invalid
      // according to Section 10.1" (suite, signatures, init_key ≠ encryption key, lifetime) plus the
      // MIMI credential form and capabilities (validateKeyPackage, MIMI-MLS-06/-17).
      if (kp.cipherSuite !== gc.cipherSuite) throw fail("MIMI_ERR_MLS_KEY_PACKAGE_INVALID", `KeyPackage cipher suite ${kp.cipherSuite} is not the group's ${gc.cipherSuite}`);
      const info = await validateKeyPackage(kp, decoded.cs, { checks: c.options.credentialChecks ?? [], ...(c.options.now === undefined ? {} : { now: c.options.now }) });
      return {
        ...base,
        type: "add",
        keyPackageRef: info.keyPackageRef,
        clientUri: info.identity.clientUri,
        userUri: info.identity.userUri,
        provider: info.identity.provider,
        keyPackage: guardSync("encode KeyPackage", "MIMI_ERR_MLS_KEY_PACKAGE_INVALID", () => tsEncodeKeyPackage(kp)),
      };
    }
    case "remove": {
      const leafIndex = p.remove.removed;
      const leaf = snapshot.leaves.find((l) => l.leafIndex === leafIndex);
      // MIMI-MLS-HUB-12: RFC 9420 §12.1.3 "A Remove proposal is invalid if the removed field does
      // not identify a non-blank leaf node."
      if (leaf === undefined) throw invalid(`Remove of leaf ${leafIndex}, which is blank or outside the tree`, { leafIndex });
      return { ...base, type: "remove", leafIndex, clientUri: leaf.clientUri, userUri: leaf.userUri, provider: leaf.provider };
    }
    case "update": {
      // MIMI-MLS-HUB-07: RFC 9420 §12.1.2 an Update is sent by a member for its own leaf (§12.1.8
      // external senders cannot send it).
      if (sender.kind !== "member") throw invalid(`an Update proposal from a ${sender.kind} sender`);
      const old = leafAt(decoded.tree, sender.leafIndex);
      const leaf = p.update.leafNode;
      if (old === undefined) throw invalid("Update from a blank leaf");
      // MIMI-MLS-HUB-10: RFC 9420 §12.1.2 the LeafNode is valid for this leaf (§7.3 signature over
      // group_id and leaf_index), and §5.3.1 its credential is "valid as a successor" of the old one:
      // for MIMI the same client URI.
      const err = await guard("validate Update leaf node", "MIMI_ERR_MLS_INVALID_MESSAGE", () => validateLeafNodeUpdateOrCommit(leaf, sender.leafIndex, gc, c.as, decoded.cs.signature), c.as);
      if (err !== undefined) throw toMimiError(err, "MIMI_ERR_MLS_INVALID_MESSAGE", "Update leaf node is invalid", () => c.as.rejection);
      if (!sameClient(old.credential, leaf.credential)) throw fail("MIMI_ERR_MLS_CREDENTIAL_REJECTED", "an Update must keep the client's credential identity (RFC 9420 §5.3.1)");
      return { ...base, type: "update", leafIndex: sender.leafIndex, clientUri: sender.clientUri, userUri: sender.userUri };
    }
    case "group_context_extensions": {
      const exts = p.groupContextExtensions.extensions;
      const before = gc.extensions.find((e) => e.extensionType === "external_senders");
      const after = exts.find((e) => e.extensionType === "external_senders");
      const changed = before === undefined || after === undefined ? before !== after : !bytesEqual(before.extensionData, after.extensionData);
      return { ...base, type: "groupContextExtensions", extensionTypes: exts.map(extensionNumber), externalSenders: changed ? externalSendersOf(exts) : undefined };
    }
    case "external_init":
      return { ...base, type: "externalInit" };
    case "psk":
      return { ...base, type: "psk" };
    case "reinit":
      return { ...base, type: "reinit" };
    default: {
      if (p.proposalType === ProposalTypeId.app_data_update) {
        const u = decodeAppDataUpdate((p as { proposalData: Uint8Array }).proposalData);
        return { ...base, type: "appDataUpdate", componentId: u.componentId, op: u.op === AppDataUpdateOperation.remove ? "remove" : "update", data: u.op === AppDataUpdateOperation.update ? u.update : undefined };
      }
      return { ...base, type: "other" };
    }
  }
}

function appDataUpdateOf(p: HubProposalSummary): AppDataUpdate | undefined {
  if (p.type !== "appDataUpdate") return undefined;
  return p.op === "remove" ? { componentId: p.componentId, op: AppDataUpdateOperation.remove } : { componentId: p.componentId, op: AppDataUpdateOperation.update, update: p.data ?? new Uint8Array(0) };
}

/**
 * MIMI-MLS-HUB-15: mls-extensions-09 §4.7 AppDataUpdate processing, as every member runs it
 * (the patched ts-mls with the facade's component logic): per component in commit order, one
 * remove (of existing state) or one or more updates given to the component's application logic;
 * unknown components are invalid. Plus the commit-level MIMI rules (MIMI-MLS-13, MIMI-MLS-14).
 */
function applyAppDataUpdates(dictionary: AppDataDictionary, updates: readonly AppDataUpdate[], handlers: ReadonlyMap<number, ComponentUpdateHandler>): AppDataDictionary {
  const bad = (reason: string): MimiError => fail("MIMI_ERR_MLS_APP_DATA_INVALID", reason);
  const combination = checkAppDataUpdateCombination(updates);
  if (combination !== undefined) throw bad(combination);
  const entries = new Map(dictionary.componentData.map((c) => [c.componentId, c.data]));
  const byComponent = new Map<number, AppDataUpdate[]>();
  for (const u of updates) byComponent.set(u.componentId, [...(byComponent.get(u.componentId) ?? []), u]);
  for (const [componentId, list] of byComponent) {
    const name = `component 0x${componentId.toString(16).padStart(4, "0")}`;
    const handler = handlers.get(componentId);
    if (handler === undefined) throw bad(`${name} is not known`);
    if (list.some((u) => u.op === AppDataUpdateOperation.remove)) {
      if (list.length > 1) throw bad(`a remove must be the only AppDataUpdate for ${name}`);
      if (!entries.has(componentId)) throw bad(`remove of ${name}, which has no state`);
      entries.delete(componentId);
      continue;
    }
    try {
      entries.set(componentId, handler(entries.get(componentId), list.map((u) => (u.op === AppDataUpdateOperation.update ? u.update : new Uint8Array(0)))));
    } catch (err) {
      throw fail("MIMI_ERR_MLS_APP_DATA_INVALID", err instanceof Error ? err.message : String(err), {}, err);
    }
  }
  return { componentData: [...entries].sort((a, b) => a[0] - b[0]).map(([componentId, data]) => ({ componentId, data })) };
}

interface ParsedHandshake {
  readonly message: PublicMessage;
  readonly content: FramedContent;
  readonly auth: FramedContentAuthData;
}

function parseHandshake(bytes: Uint8Array): ParsedHandshake {
  const msg = decodeMessage(bytes);
  // MIMI-PROTO-CHOICE-24 / MIMI-MLS-HUB-05: the hub can only judge PublicMessage handshakes.
  if (msg.wireformat !== "mls_public_message") throw invalid(`a ${msg.wireformat} is not a PublicMessage handshake`);
  const pm = msg.publicMessage;
  if (pm.content.contentType === "application") throw invalid("application data must be sent as a PrivateMessage (RFC 9420 §6.2)");
  return { message: pm, content: pm.content, auth: pm.auth };
}

/** Sender identification and the signature key to verify with (RFC 9420 §6.1 "Signing key"). */
async function identifySender(c: FramedContent, d: Decoded, snapshot: HubRoomSnapshot, as: MimiAuthenticationService): Promise<{ sender: HandshakeSender; key: Uint8Array; committerLeafIndex: number | undefined }> {
  const s = c.sender;
  switch (s.senderType) {
    case "member": {
      const leaf = leafAt(d.tree, s.leafIndex);
      if (leaf === undefined) throw invalid(`sender leaf ${s.leafIndex} is blank or outside the tree`, { leafIndex: s.leafIndex });
      return { sender: senderFromLeaf(s.leafIndex, leaf), key: leaf.signaturePublicKey, committerLeafIndex: s.leafIndex };
    }
    case "external": {
      // MIMI-MLS-HUB-07: RFC 9420 §12.1.8 external senders send proposals only.
      if (c.contentType !== "proposal") throw invalid("an external sender may only send proposals (RFC 9420 §12.1.8)");
      const es = snapshot.externalSenders[s.senderIndex];
      if (es === undefined) throw invalid(`external sender index ${s.senderIndex} is not in external_senders`, { senderIndex: s.senderIndex });
      return { sender: { kind: "external", senderIndex: s.senderIndex, providerUri: es.providerUri, provider: es.provider }, key: es.signatureKey, committerLeafIndex: undefined };
    }
    case "new_member_proposal": {
      // MIMI-MLS-HUB-07: RFC 9420 §12.1.8 a new_member_proposal sender sends an Add of itself,
      // signed with the KeyPackage's leaf key.
      if (c.contentType !== "proposal" || c.proposal.proposalType !== "add") throw invalid("a new_member_proposal sender may only send an Add proposal");
      const leaf = c.proposal.add.keyPackage.leafNode;
      const id = clientOf(leaf.credential, "the new member's KeyPackage");
      return { sender: { kind: "new_member_proposal", clientUri: id.clientUri, userUri: id.userUri, provider: id.provider, signatureKey: leaf.signaturePublicKey }, key: leaf.signaturePublicKey, committerLeafIndex: undefined };
    }
    case "new_member_commit": {
      // MIMI-MLS-HUB-07: RFC 9420 §12.4.3.2 an external commit is a commit "signed by the new
      // member", with a path whose LeafNode is the joiner's.
      if (c.contentType !== "commit") throw invalid("a new_member_commit sender may only send a commit");
      const path = c.commit.path;
      if (path === undefined) throw invalid("an external commit must have a path (RFC 9420 §12.4.3.2)");
      const id = clientOf(path.leafNode.credential, "the joiner's leaf node");
      if (!(await as.validateCredential(path.leafNode.credential, path.leafNode.signaturePublicKey))) {
        throw fail("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `the joiner's credential is rejected: ${as.rejection ?? "rejected"}`);
      }
      return { sender: { kind: "new_member_commit", clientUri: id.clientUri, userUri: id.userUri, provider: id.provider, signatureKey: path.leafNode.signaturePublicKey }, key: path.leafNode.signaturePublicKey, committerLeafIndex: undefined };
    }
  }
}

/** The leaf an external joiner takes: the leftmost blank leaf after the commit's Removes (RFC 9420 §12.4.3.2). */
function externalJoinerLeaf(tree: RatchetTree, removes: readonly number[]): { tree: RatchetTree; leafIndex: number } {
  const afterRemove = removes.reduce((t, r) => removeLeafNode(t, toLeafIndex(r)), tree);
  let leafIndex = -1;
  for (let n = 0; n < afterRemove.length; n += 2) {
    if (afterRemove[n] === undefined) {
      leafIndex = n / 2;
      break;
    }
  }
  if (leafIndex === -1) leafIndex = (afterRemove.length + 1) / 2;
  return { tree: afterRemove, leafIndex };
}

/**
 * Inspects one handshake (an MLSMessage PublicMessage proposal or commit) for the snapshot's
 * epoch: group and epoch (a wrong epoch is a result, so the hub can answer wrongEpoch with the
 * current one), the sender (member → client and user URI; external → which external sender;
 * new_member_commit → the joiner's credential from the UpdatePath leaf; new_member_proposal),
 * the signature with the sender's key (FramedContentTBS, with the GroupContext for member and
 * new_member_commit senders, RFC 9420 §6.1), and the proposals: by value, and by reference
 * resolved against `pendingProposals` (the proposals the hub accepted in this epoch, keyed by
 * hex ProposalRef). For a proposal message it also gives its ProposalRef (RFC 9420 §5.2).
 * Commits are also checked for the sender rules of external commits and the AppDataUpdate rules;
 * the full outcome is checked by verifyCommitOutcome.
 */
export async function inspectHandshake(
  snapshot: HubRoomSnapshot,
  message: Uint8Array,
  pendingProposals: ReadonlyMap<string, HubProposalSummary> = new Map(),
  options: HubViewOptions = {},
): Promise<HandshakeInspection> {
  const { content, auth } = parseHandshake(message);
  const { snapshot: view, decoded: d } = await viewOf(snapshot, options);
  const gc = d.gi.groupContext;
  const kind = content.contentType === "commit" ? "commit" : "proposal";
  // MIMI-MLS-HUB-05: RFC 9420 §6 group_id and epoch identify the group and epoch the message is
  // for; protocol-06 §5.3 a handshake for another epoch gets wrongEpoch with the current epoch.
  if (!bytesEqual(content.groupId, gc.groupId)) throw invalid("the handshake is for another group");
  if (content.epoch !== gc.epoch) return { status: "wrongEpoch", kind, messageEpoch: content.epoch, currentEpoch: gc.epoch };

  const as = authService(options);
  const { sender, key, committerLeafIndex } = await identifySender(content, d, view, as);
  // MIMI-MLS-HUB-06: RFC 9420 §6.1 the signature over FramedContentTBS (which includes the
  // GroupContext for member and new_member_commit senders) with the sender's key. The
  // membership_tag of member messages needs membership_key, which the hub does not have.
  const ok = await guard("verify handshake signature", "MIMI_ERR_MLS_INVALID_MESSAGE", () =>
    verifyFramedContentSignature(key, "mls_public_message", content, auth, gc, d.cs.signature),
  );
  if (!ok) throw fail("MIMI_ERR_MLS_SIGNATURE_INVALID", `the handshake signature does not verify with the ${sender.kind} sender's key`, { sender: sender.kind });

  if (content.contentType === "proposal") {
    if (content.proposal.proposalType === "external_init") throw invalid("ExternalInit is only valid inside an external commit (RFC 9420 §12.1.5)");
    // MIMI-MLS-HUB-09: RFC 9420 §5.2 ProposalRef = RefHash("MLS 1.0 Proposal Reference", AuthenticatedContent).
    const ref = await guard("ProposalRef", "MIMI_ERR_MLS_INVALID_MESSAGE", () => makeProposalRef({ wireformat: "mls_public_message", content, auth }, d.cs.hash));
    const refHex = toHex(ref);
    const proposal = await summarise(content.proposal, { decoded: d, snapshot: view, sender, ref: refHex, options, as });
    // MIMI-MLS-HUB-15: an AppDataUpdate the members' component logic would refuse is refused now.
    const update = appDataUpdateOf(proposal);
    if (update !== undefined) applyAppDataUpdates(view.dictionary, [update], handlersOf(options));
    return {
      status: "ok",
      kind: "proposal",
      epoch: gc.epoch,
      sender,
      proposal,
      proposals: [proposal],
      proposalRef: ref,
      proposalRefHex: refHex,
      hasPath: false,
      committedProposalRefs: [],
      authenticatedData: content.authenticatedData,
    };
  }
  if (content.contentType !== "commit") throw invalid("not a handshake");

  const commit = content.commit;
  // MIMI-MLS-HUB-08: RFC 9420 §12.4.3.2 "The Commit MUST NOT include any proposals by reference,
  // since an external joiner cannot determine the validity of proposals sent within the group."
  if (sender.kind === "new_member_commit" && commit.proposals.some((p) => p.proposalOrRefType === "reference")) {
    throw invalid("an external commit must not include proposals by reference (RFC 9420 §12.4.3.2)");
  }
  const proposals: HubProposalSummary[] = [];
  const refs: string[] = [];
  const unknown: string[] = [];
  for (const por of commit.proposals) {
    if (por.proposalOrRefType === "reference") {
      const refHex = toHex(por.reference);
      refs.push(refHex);
      const p = pendingProposals.get(refHex);
      // MIMI-MLS-HUB-09: a reference must name a proposal the hub accepted in this epoch (RFC 9420
      // §12.4 "proposals … by reference"; a member that never saw it could not process the commit).
      if (p === undefined || p.epoch !== gc.epoch) unknown.push(refHex);
      else proposals.push(p);
    } else {
      if (por.proposal.proposalType === "update") throw invalid("a commit cannot carry an Update by value (RFC 9420 §12.2: the committer updates through its path)");
      proposals.push(await summarise(por.proposal, { decoded: d, snapshot: view, sender, ref: undefined, options, as }));
    }
  }
  if (unknown.length > 0) {
    throw fail("MIMI_ERR_MLS_UNKNOWN_PROPOSAL", `the commit references ${unknown.length} proposal(s) the hub does not hold for epoch ${gc.epoch}`, { unknownProposalRefs: unknown });
  }

  let committer: number;
  if (sender.kind === "new_member_commit") {
    // MIMI-MLS-HUB-08: RFC 9420 §12.2 an external commit has exactly one ExternalInit, at most one
    // Remove (the joiner's old leaf: the new LeafNode must be acceptable "for the removed
    // participant"), zero or more PreSharedKey proposals, nothing else, and (§12.4.3.2) no
    // proposals by reference (checked above).
    const count = (t: HubProposalSummaryType): number => proposals.filter((p) => p.type === t).length;
    if (count("externalInit") !== 1) throw invalid("an external commit must contain exactly one ExternalInit proposal");
    if (count("remove") > 1) throw invalid("an external commit may contain at most one Remove proposal");
    const other = proposals.find((p) => p.type !== "externalInit" && p.type !== "remove" && p.type !== "psk");
    if (other !== undefined) throw invalid(`an external commit must not contain a ${other.type} proposal`);
    const removes = proposals.flatMap((p) => (p.type === "remove" ? [p] : []));
    for (const r of removes) {
      if (r.clientUri !== sender.clientUri) throw fail("MIMI_ERR_MLS_CREDENTIAL_REJECTED", "an external commit may only remove the joiner's own former leaf (resync)");
    }
    committer = externalJoinerLeaf(d.tree, removes.map((r) => r.leafIndex)).leafIndex;
  } else {
    if (committerLeafIndex === undefined) throw invalid("a commit from a non-member");
    committer = committerLeafIndex;
    if (proposals.some((p) => p.type === "externalInit")) throw invalid("ExternalInit is only valid in an external commit (RFC 9420 §12.2)");
    const path = commit.path;
    const old = leafAt(d.tree, committer);
    // MIMI-MLS-HUB-10: RFC 9420 §5.3.1 the committer's new LeafNode keeps its identity.
    if (path !== undefined && old !== undefined && !sameClient(old.credential, path.leafNode.credential)) {
      throw fail("MIMI_ERR_MLS_CREDENTIAL_REJECTED", "the committer's new leaf must keep its credential identity (RFC 9420 §5.3.1)");
    }
  }
  const updates = proposals.flatMap((p) => {
    const u = appDataUpdateOf(p);
    return u === undefined ? [] : [u];
  });
  const dictionaryAfter = updates.length === 0 ? view.dictionary : applyAppDataUpdates(view.dictionary, updates, handlersOf(options));
  return {
    status: "ok",
    kind: "commit",
    epoch: gc.epoch,
    sender,
    proposals,
    proposalRef: undefined,
    proposalRefHex: undefined,
    hasPath: commit.path !== undefined,
    committedProposalRefs: refs,
    committerLeafIndex: committer,
    dictionaryAfter,
    authenticatedData: content.authenticatedData,
  };
}

// ---- commit outcome -----------------------------------------------------------------------------

function fakeState(d: Decoded, pending: readonly HubProposalSummary[], options: HubViewOptions, as: MimiAuthenticationService, onAppDataInvalid: (reason: string) => void): ClientState {
  const unappliedProposals: ClientState["unappliedProposals"] = {};
  for (const p of pending) {
    if (p.ref === undefined) continue;
    const proposal = decodeExactTs("Proposal", p.proposal, decodeProposal, encodeProposal);
    unappliedProposals[Buffer.from(p.ref, "hex").toString("base64")] = { proposal, senderLeafIndex: p.sender.kind === "member" ? p.sender.leafIndex : undefined };
  }
  // ts-mls applyProposals reads only the public parts of a ClientState (GroupContext, tree, pending
  // proposals, configuration) for a member commit; the secret fields are never touched, so the
  // hub passes a state without them. privatePath.leafIndex points outside the tree: the hub is not
  // a member, so "removed self" is meaningless and ignored.
  const state = {
    groupContext: d.gi.groupContext,
    ratchetTree: d.tree,
    unappliedProposals,
    confirmationTag: d.gi.confirmationTag,
    privatePath: { leafIndex: 0x7fffffff, privateKeys: {} },
    groupActiveState: { kind: "active" },
    historicalReceiverData: new Map(),
    clientConfig: {
      ...defaultClientConfig,
      authService: as,
      lifetimeConfig: { ...defaultClientConfig.lifetimeConfig, validateLifetimeOnReceive: false },
      appDataUpdateCallback: makeAppDataUpdateCallback(handlersOf(options), onAppDataInvalid),
    },
  };
  return state as unknown as ClientState;
}

/** The hub accepts any PSK id: it cannot know PSK values, and does not need them (no key schedule). */
const anyPsk = { findPsk: (): Uint8Array => new Uint8Array(64) };

interface Outcome {
  readonly tree: RatchetTree;
  readonly groupContext: GroupContext;
  readonly committerLeafIndex: number;
  readonly addedLeaves: readonly LeafNode[];
}

/**
 * Computes the next epoch's public state from the current one and the commit, as every member
 * does (RFC 9420 §12.4.2 "Joining via … / Processing a commit"), minus the secrets.
 */
async function computeOutcome(d: Decoded, content: FramedContent & { contentType: "commit" }, signature: Uint8Array, ins: Extract<HandshakeInspection, { kind: "commit"; status: "ok" }>, options: HubViewOptions): Promise<Outcome> {
  const gc = d.gi.groupContext;
  const commit = content.commit;
  const as = authService(options);
  const cs = d.cs;
  let appDataReason: string | undefined;
  const step = async <T>(what: string, fn: () => Promise<T> | T): Promise<T> => {
    try {
      return await guard(what, "MIMI_ERR_MLS_INVALID_MESSAGE", fn, as);
    } catch (err) {
      if (err instanceof MimiError && err.code === "MIMI_ERR_MLS_APP_DATA_INVALID" && appDataReason !== undefined) {
        throw fail("MIMI_ERR_MLS_APP_DATA_INVALID", `${what}: ${appDataReason}`, {}, err);
      }
      throw err;
    }
  };
  const throwIf = (err: Error | undefined, what: string): void => {
    if (err !== undefined) throw toMimiError(err, "MIMI_ERR_MLS_INVALID_MESSAGE", what, () => as.rejection);
  };

  let tree: RatchetTree;
  let extensions = gc.extensions;
  let committer: number;
  let excluded: number[] = [];
  let addedLeaves: LeafNode[] = [];
  const path = commit.path;
  if (content.sender.senderType === "new_member_commit") {
    if (path === undefined) throw invalid("an external commit must have a path");
    // RFC 9420 §12.4.3.2: the Removes first, then the joiner at the leftmost blank leaf.
    const removes = ins.proposals.flatMap((p) => (p.type === "remove" ? [p.leafIndex] : []));
    const joined = externalJoinerLeaf(d.tree, removes);
    committer = joined.leafIndex;
    // MIMI-MLS-HUB-10: RFC 9420 §12.4.2 the path's LeafNode is valid for the joiner's leaf.
    throwIf(await step("validate the joiner's leaf node", () => validateLeafNodeUpdateOrCommit(path.leafNode, committer, gc, as, cs.signature)), "the joiner's leaf node is invalid");
    throwIf(await step("leaf node uniqueness", () => validateLeafNodeCredentialAndKeyUniqueness(joined.tree, path.leafNode, committer)), "the joiner's leaf node is not unique");
    const [withLeaf] = addLeafNode(joined.tree, path.leafNode);
    tree = withLeaf;
    if (nodeToLeafIndex(toNodeIndex(tree.findIndex((n) => n?.nodeType === "leaf" && n.leaf === path.leafNode))) !== committer) {
      throw invalid("the joiner's leaf position does not follow RFC 9420 §12.4.3.2");
    }
  } else {
    committer = ins.committerLeafIndex;
    const state = fakeState(d, ins.proposals, options, as, (reason) => {
      appDataReason = reason;
    });
    const result = await step("apply the commit's proposals", () => applyProposals(state, commit.proposals, toLeafIndex(committer), anyPsk, false, cs));
    if (result.additionalResult.kind === "externalCommit") throw invalid("ExternalInit in a member commit");
    // MIMI-MLS-HUB-16: RFC 9420 §12.4 / §17.4 "Path Required": a commit with Update, Remove or
    // GroupContextExtensions proposals (or none at all) must have a path.
    if (result.needsUpdatePath && path === undefined) throw invalid("the commit needs a path (RFC 9420 §12.4, §17.4 Path Required)");
    if (result.additionalResult.kind === "memberCommit") {
      if (result.additionalResult.extensions.length > 0) extensions = result.additionalResult.extensions;
      addedLeaves = result.additionalResult.addedLeafNodes.map(([, kp]) => kp.leafNode);
      excluded = result.additionalResult.addedLeafNodes.map(([leafIndex]) => leafToNodeIndex(leafIndex));
    }
    tree = result.tree;
    if (path !== undefined) {
      // MIMI-MLS-HUB-10: RFC 9420 §12.4.2 "Validate the LeafNode as specified in Section 7.3" for
      // the committer's leaf index, and its keys unique in the tree.
      throwIf(await step("validate the committer's leaf node", () => validateLeafNodeUpdateOrCommit(path.leafNode, committer, gc, as, cs.signature)), "the committer's leaf node is invalid");
      throwIf(await step("leaf node uniqueness", () => validateLeafNodeCredentialAndKeyUniqueness(tree, path.leafNode, committer)), "the committer's leaf node is not unique");
    }
  }
  if (path !== undefined) {
    // MIMI-MLS-HUB-14: RFC 9420 §12.4.2 every filtered-direct-path node encrypts its path secret
    // to each node of the copath child's resolution, minus the leaves added by this commit
    // ("excluding … new leaves"); a wrong count leaves some member unable to decrypt.
    const fdp = filteredDirectPathAndCopathResolution(toLeafIndex(committer), tree);
    if (fdp.length !== path.nodes.length) throw invalid("the UpdatePath length does not match the committer's filtered direct path (RFC 9420 §12.4.2)");
    const skip = new Set(excluded);
    for (const [i, { resolution }] of fdp.entries()) {
      const expected = resolution.filter((n) => !skip.has(n)).length;
      if (path.nodes[i]?.encryptedPathSecret.length !== expected) {
        throw invalid(`UpdatePath node ${i} has ${path.nodes[i]?.encryptedPathSecret.length ?? 0} encrypted path secrets, the resolution needs ${expected} (RFC 9420 §12.4.2)`);
      }
    }
    // RFC 9420 §12.4.2: merge the path into the tree (new parent keys, parent hashes); ts-mls also
    // checks that the LeafNode's parent_hash matches (§7.9.2) and that the keys are new.
    tree = await step("apply the UpdatePath", () => applyUpdatePath(tree, toLeafIndex(committer), path, cs.hash, content.sender.senderType === "new_member_commit"));
  }
  // MIMI-MLS-HUB-13 / -14: RFC 9420 §8.2 and §12.4.2 the next GroupContext: epoch + 1, tree_hash
  // of the new tree, confirmed_transcript_hash = Hash(interim_transcript_hash || ConfirmedTranscriptHashInput)
  // with interim_transcript_hash = Hash(confirmed_transcript_hash || InterimTranscriptHashInput(confirmation_tag)) of this epoch.
  const treeHash = await step("tree hash", () => treeHashRoot(tree, cs.hash));
  const groupContext = await step("next GroupContext", () =>
    nextEpochContext({ ...gc, extensions }, "mls_public_message", content, signature, treeHash, d.gi.confirmationTag, cs.hash),
  );
  return { tree, groupContext, committerLeafIndex: committer, addedLeaves };
}

/**
 * After the hub accepted a commit (inspection = inspectHandshake of it): checks the GroupInfo and
 * tree the committer sent for the new epoch (the HandshakeBundle's GroupInfoOption.full and
 * RatchetTreeOption.full), and that they really are the outcome of this commit, by recomputing
 * the new epoch's public state: the tree (the Removes blank their leaves, the Adds put the
 * KeyPackages' leaf nodes in, the UpdatePath), the GroupContext (group, epoch + 1, tree_hash,
 * confirmed_transcript_hash over this commit, extensions with the commit's AppDataUpdates applied
 * by the facade's component logic), the GroupInfo's confirmation_tag (= the commit's) and its
 * signature by the committer. `newRatchetTree` may be omitted (e.g. a RatchetTreeOption other than
 * full): the hub then keeps the tree it computed. Returns the snapshot of the new epoch.
 */
export async function verifyCommitOutcome(
  before: HubRoomSnapshot,
  commit: Uint8Array,
  inspection: HandshakeInspection,
  newGroupInfo: Uint8Array,
  newRatchetTree: Uint8Array | undefined,
  options: HubViewOptions = {},
): Promise<HubRoomSnapshot> {
  if (inspection.status !== "ok" || inspection.kind !== "commit") throw fail("MIMI_ERR_MLS_INVALID_OPERATION", "verifyCommitOutcome needs the ok inspection of a commit");
  // The commit is inspected again (cheap: one signature), with exactly the pending proposals the
  // inspection resolved, so the outcome is computed from what the hub authorised.
  const pending = new Map(inspection.proposals.flatMap((p) => (p.ref === undefined ? [] : [[p.ref, p] as const])));
  const ins = await inspectHandshake(before, commit, pending, options);
  if (ins.status !== "ok" || ins.kind !== "commit" || ins.committedProposalRefs.join() !== inspection.committedProposalRefs.join() || ins.proposals.length !== inspection.proposals.length) {
    throw fail("MIMI_ERR_MLS_INVALID_OPERATION", "the inspection is not the inspection of this commit");
  }
  const { decoded: d } = await viewOf(before, options);
  const { content, auth } = parseHandshake(commit);
  if (content.contentType !== "commit" || auth.contentType !== "commit") throw invalid("not a commit");
  const outcome = await computeOutcome(d, content, auth.signature, ins, options);

  const gi = decodeBareGroupInfo(newGroupInfo);
  const got = gi.groupContext;
  const want = outcome.groupContext;
  // MIMI-MLS-HUB-14: same group, same suite and version, the next epoch.
  if (!bytesEqual(got.groupId, want.groupId)) throw mismatch("the GroupInfo is for another group");
  if (got.version !== want.version || got.cipherSuite !== want.cipherSuite) throw mismatch("the GroupInfo changes the protocol version or cipher suite");
  if (got.epoch !== want.epoch) throw mismatch(`the GroupInfo is for epoch ${got.epoch}, the commit leads to epoch ${want.epoch}`, { epoch: got.epoch.toString(), expected: want.epoch.toString() });
  // MIMI-MLS-HUB-13: RFC 9420 §8.2 the GroupInfo's confirmed_transcript_hash must chain this
  // commit onto this epoch: a GroupInfo of any other commit fails here.
  if (!bytesEqual(got.confirmedTranscriptHash, want.confirmedTranscriptHash)) throw mismatch("confirmed_transcript_hash is not the one of this commit (RFC 9420 §8.2): a GroupInfo of another commit");
  // RFC 9420 §12.4.3: GroupInfo.confirmation_tag is the new epoch's confirmation tag, which the
  // commit carries in clear (FramedContentAuthData.confirmation_tag). Its MAC cannot be checked
  // without confirmation_key.
  if (!bytesEqual(gi.confirmationTag, auth.confirmationTag)) throw mismatch("confirmation_tag differs from the commit's (RFC 9420 §12.4.3)");
  // MIMI-MLS-HUB-15: the app_data_dictionary is the old one with the commit's AppDataUpdates applied.
  const gotDictionary = dictionaryOf(got.extensions);
  const wantDictionary = dictionaryOf(want.extensions);
  if (!bytesEqual(encodeAppDataDictionary(gotDictionary), encodeAppDataDictionary(wantDictionary))) {
    throw mismatch("app_data_dictionary is not the current one with the commit's AppDataUpdates applied (mls-extensions-09 §4.7)");
  }
  if (!bytesEqual(extensionsBytes(got.extensions), extensionsBytes(want.extensions))) throw mismatch("GroupContext extensions differ from those the commit produces");

  // The tree the committer sent (if any): the Adds' leaf nodes are in it, the removed leaves are
  // gone, and it hashes to the GroupInfo's tree_hash.
  let tree = outcome.tree;
  let treeBytes: Uint8Array;
  if (newRatchetTree !== undefined) {
    const sent = decodeTree(newRatchetTree);
    const sentLeaves = new Set(sent.flatMap((n) => (n?.nodeType === "leaf" ? [toHex(encodeLeafNode(n.leaf))] : [])));
    for (const leaf of outcome.addedLeaves) {
      if (!sentLeaves.has(toHex(encodeLeafNode(leaf)))) throw mismatch(`the ratchet tree lacks the leaf of added client ${clientOf(leaf.credential, "added leaf").clientUri}`);
    }
    for (const r of ins.proposals) {
      if (r.type !== "remove") continue;
      const old = leafAt(d.tree, r.leafIndex);
      if (old !== undefined && sentLeaves.has(toHex(encodeLeafNode(old)))) throw mismatch(`the ratchet tree still holds removed client ${r.clientUri}`);
    }
    const sentHash = await guard("tree hash", "MIMI_ERR_MLS_INVALID_MESSAGE", () => treeHashRoot(sent, d.cs.hash));
    if (!bytesEqual(sentHash, got.treeHash)) throw mismatch("the ratchet tree does not hash to the GroupInfo's tree_hash");
    tree = sent;
    treeBytes = newRatchetTree;
  } else {
    treeBytes = guardSync("encode ratchet tree", "MIMI_ERR_INTERNAL", () => encodeRatchetTree(outcome.tree));
  }
  // MIMI-MLS-HUB-14: the tree hash of the recomputed tree (old tree + proposals + path).
  if (!bytesEqual(got.treeHash, want.treeHash)) throw mismatch("tree_hash is not the hash of the tree this commit produces (RFC 9420 §7.8, §12.4.2)");
  if (!bytesEqual(encodeGroupContext(got), encodeGroupContext(want))) throw mismatch("the GroupContext differs from the one this commit produces");

  // MIMI-MLS-HUB-01: signed by the committer (MIMI-MLS-HUB-22: the HandshakeBundle's GroupInfo is
  // the committer's, protocol-06 §5.3), at its leaf in the new tree.
  if (gi.signer !== outcome.committerLeafIndex) throw mismatch(`the GroupInfo is signed by leaf ${gi.signer}, not by the committer (leaf ${outcome.committerLeafIndex})`);
  await verifyGroupInfoBySigner(gi, tree, d.cs);
  return buildSnapshot(gi, newGroupInfo, tree, treeBytes, d.cs, options);
}

function extensionsBytes(exts: readonly Extension[]): Uint8Array {
  return encodeGroupContext({
    version: "mls10",
    cipherSuite: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
    groupId: new Uint8Array(0),
    epoch: 0n,
    treeHash: new Uint8Array(0),
    confirmedTranscriptHash: new Uint8Array(0),
    extensions: [...exts],
  });
}

// ---- the group info endpoint (protocol-06 §5.6) -------------------------------------------------

/**
 * What the hub puts in GroupInfoRatchetTreeTBE for an external join (protocol-06 §5.6): the
 * epoch's bare GroupInfo (with external_pub, without ratchet_tree) and the ratchet tree.
 * A joiner passes them to the facade's externalJoin (the GroupInfo wrapped as an MLSMessage by
 * groupInfoToMessage, the tree as `ratchetTree`).
 */
export function externalJoinMaterial(snapshot: HubRoomSnapshot): { readonly groupInfo: Uint8Array; readonly ratchetTree: Uint8Array } {
  // MIMI-MLS-HUB-03: RFC 9420 §12.4.3.2 an external joiner needs external_pub.
  if (!snapshot.hasExternalPub) throw fail("MIMI_ERR_MLS_INVALID_OPERATION", "the room's GroupInfo has no external_pub: external joins are not possible");
  return { groupInfo: snapshot.room.groupInfo, ratchetTree: snapshot.room.ratchetTree };
}

/** A bare GroupInfo as an MLSMessage (wire_format mls_group_info, RFC 9420 §6). */
export function groupInfoToMessage(groupInfo: Uint8Array): Uint8Array {
  const gi = decodeBareGroupInfo(groupInfo);
  return guardSync("encode MLSMessage", "MIMI_ERR_INTERNAL", () => encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo: gi }));
}

/** The bare GroupInfo inside an MLSMessage of wire_format mls_group_info. */
export function groupInfoFromMessage(mlsMessage: Uint8Array): Uint8Array {
  const m = decodeMessage(mlsMessage);
  if (m.wireformat !== "mls_group_info") throw invalid(`expected a GroupInfo, got ${m.wireformat}`);
  return guardSync("encode GroupInfo", "MIMI_ERR_INTERNAL", () => tsEncodeGroupInfo(m.groupInfo));
}

// ---- Welcome routing, KeyPackages, PrivateMessage headers ---------------------------------------

/** `struct { opaque label<V>; opaque value<V>; } RefHashInput` (RFC 9420 §5.2). */
const RefHashInput = struct("RefHashInput", [
  ["label", opaqueV],
  ["value", opaqueV],
]);

const NODE_HASH: Readonly<Record<string, string>> = { "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512" };

/** RFC 9420 §5.2 RefHash(label, value) = Hash(RefHashInput), synchronously (node:crypto). */
function refHash(suite: CipherSuiteName, label: string, value: Uint8Array): Uint8Array {
  const alg = NODE_HASH[getCiphersuiteFromName(suite).hash];
  if (alg === undefined) throw fail("MIMI_ERR_MLS_UNSUPPORTED_CIPHERSUITE", `no hash for ${suite}`);
  return new Uint8Array(createHash(alg).update(encode(RefHashInput, { label: new TextEncoder().encode(label), value })).digest());
}

/** The Welcome's routing facts (RFC 9420 §12.4.3.1): suite, and per new member its KeyPackageRef and HPKE ciphertext. */
export interface WelcomeInfo {
  readonly cipherSuite: number;
  readonly cipherSuiteName: CipherSuiteName;
  readonly secrets: readonly { readonly keyPackageRef: Uint8Array; readonly kemOutput: Uint8Array; readonly ciphertext: Uint8Array }[];
  readonly encryptedGroupInfo: Uint8Array;
}

/** Decodes a Welcome, bare (as in HandshakeBundle.welcome, the default) or as an MLSMessage (as in FanoutMessage). */
export function welcomeInfo(welcome: Uint8Array, options: { readonly form?: MlsBytesForm } = {}): WelcomeInfo {
  let w;
  if (options.form === "mlsMessage") {
    const m = decodeMessage(welcome);
    if (m.wireformat !== "mls_welcome") throw invalid(`expected a Welcome, got ${m.wireformat}`);
    w = m.welcome;
  } else {
    w = decodeExactTs("Welcome", welcome, tsDecodeWelcome, tsEncodeWelcome);
  }
  return {
    cipherSuite: cipherSuiteId(w.cipherSuite),
    cipherSuiteName: w.cipherSuite,
    secrets: w.secrets.map((s) => ({ keyPackageRef: s.newMember, kemOutput: s.encryptedGroupSecrets.kemOutput, ciphertext: s.encryptedGroupSecrets.ciphertext })),
    encryptedGroupInfo: w.encryptedGroupInfo,
  };
}

/**
 * MIMI-MLS-HUB-17: the KeyPackageRefs a Welcome is for (RFC 9420 §12.4.3.1 EncryptedGroupSecrets.new_member),
 * by which the hub routes it (protocol-06 §5.5: Welcomes go only to the providers named by them).
 */
export function welcomeKeyPackageRefs(welcome: Uint8Array, options: { readonly form?: MlsBytesForm } = {}): Uint8Array[] {
  return welcomeInfo(welcome, options).secrets.map((s) => s.keyPackageRef);
}

/** What the hub and providers need to know of a KeyPackage to route and account for it. */
export interface KeyPackageSummary {
  readonly keyPackageRef: Uint8Array;
  readonly clientUri: string;
  readonly userUri: string;
  readonly provider: string;
  readonly cipherSuite: number;
  readonly cipherSuiteName: CipherSuiteName;
  /** Seconds since the Unix epoch (LeafNode lifetime, RFC 9420 §7.2). */
  readonly notBefore: bigint;
  readonly notAfter: bigint;
  /** mls-extensions-09 §6.4 last_resort_key_package (MIMI-MLS-07). */
  readonly lastResort: boolean;
  readonly signatureKey: Uint8Array;
}

/**
 * Reads a KeyPackage, bare (as in KeyMaterialResponse, the default) or as an MLSMessage, and
 * computes its KeyPackageRef (MIMI-MLS-HUB-18: RFC 9420 §5.2 RefHash("MLS 1.0 KeyPackage
 * Reference", KeyPackage)). It does not verify the KeyPackage: use validateKeyPackage for that.
 */
export function keyPackageSummary(keyPackage: Uint8Array, options: { readonly form?: MlsBytesForm } = {}): KeyPackageSummary {
  let kp: KeyPackage;
  if (options.form === "mlsMessage") {
    const m = decodeMessage(keyPackage);
    if (m.wireformat !== "mls_key_package") throw fail("MIMI_ERR_MLS_KEY_PACKAGE_INVALID", `expected a KeyPackage, got ${m.wireformat}`);
    kp = m.keyPackage;
  } else {
    kp = decodeExactTs("KeyPackage", keyPackage, tsDecodeKeyPackage, tsEncodeKeyPackage);
  }
  const bare = options.form === "mlsMessage" ? tsEncodeKeyPackage(kp) : keyPackage;
  const id = tryParseMimiCredential(kp.leafNode.credential);
  if (id?.kind !== "client") throw fail("MIMI_ERR_MLS_CREDENTIAL_REJECTED", "the KeyPackage does not present a MIMI client credential");
  return {
    keyPackageRef: refHash(kp.cipherSuite, "MLS 1.0 KeyPackage Reference", bare),
    clientUri: id.clientUri,
    userUri: id.userUri,
    provider: id.provider,
    cipherSuite: cipherSuiteId(kp.cipherSuite),
    cipherSuiteName: kp.cipherSuite,
    notBefore: kp.leafNode.lifetime.notBefore,
    notAfter: kp.leafNode.lifetime.notAfter,
    lastResort: isLastResortKeyPackage(kp),
    signatureKey: kp.leafNode.signaturePublicKey,
  };
}

/** The clear header of a PrivateMessage (RFC 9420 §6.3): what the hub sees of application messages. */
export function privateMessageHeader(mlsMessage: Uint8Array): { readonly groupId: Uint8Array; readonly epoch: bigint; readonly contentType: "application" | "proposal" | "commit" } {
  const m = decodeMessage(mlsMessage);
  if (m.wireformat !== "mls_private_message") throw invalid(`expected a PrivateMessage, got ${m.wireformat}`);
  return { groupId: m.privateMessage.groupId, epoch: m.privateMessage.epoch, contentType: m.privateMessage.contentType };
}

// ---- SignWithLabel / EncryptWithLabel for the protocol structs ----------------------------------

/** A signature private key, or anything holding one (MlsClient, MlsExternalSender). */
export type SigningKey = Uint8Array | { readonly signaturePrivateKey: Uint8Array };

interface CryptoOptions {
  readonly cryptoProvider?: CryptoProviderName;
}

function suiteOf(cipherSuite: CipherSuiteRef, options: CryptoOptions): Promise<CiphersuiteImpl> {
  return suiteImpl(suiteName(cipherSuite), options.cryptoProvider ?? DEFAULT_CRYPTO_PROVIDER);
}

/**
 * MIMI-MLS-HUB-19: RFC 9420 §5.1.2 SignWithLabel(SignatureKey, Label, Content) =
 * Signature.Sign(SignatureKey, SignContent{"MLS 1.0 " + Label, Content}), e.g. for
 * KeyMaterialRequestTBS, GroupInfoRequestTBS and GroupInfoResponseTBS (protocol-06 §5.2, §5.6).
 */
export async function signWithLabel(cipherSuite: CipherSuiteRef, key: SigningKey, label: string, content: Uint8Array, options: CryptoOptions = {}): Promise<Uint8Array> {
  const cs = await suiteOf(cipherSuite, options);
  const signKey = key instanceof Uint8Array ? key : key.signaturePrivateKey;
  return guard("SignWithLabel", "MIMI_ERR_MLS_INVALID_OPERATION", () => tsSignWithLabel(signKey, label, content, cs.signature));
}

/** MIMI-MLS-HUB-19: RFC 9420 §5.1.2 VerifyWithLabel. False for a wrong signature or an unusable key. */
export async function verifyWithLabel(cipherSuite: CipherSuiteRef, publicKey: Uint8Array, label: string, content: Uint8Array, signature: Uint8Array, options: CryptoOptions = {}): Promise<boolean> {
  const cs = await suiteOf(cipherSuite, options);
  try {
    return await tsVerifyWithLabel(publicKey, label, content, signature, cs.signature);
  } catch {
    return false;
  }
}

/**
 * MIMI-MLS-HUB-20: RFC 9420 §5.1.3 EncryptWithLabel(PublicKey, Label, Context, Plaintext) =
 * SealBase(PublicKey, EncryptContext{"MLS 1.0 " + Label, Context}, "", Plaintext), e.g. the
 * GroupInfoResponse's encrypted_groupinfo_and_tree (protocol-06 §5.6).
 */
export async function encryptWithLabel(
  cipherSuite: CipherSuiteRef,
  publicKey: Uint8Array,
  label: string,
  context: Uint8Array,
  plaintext: Uint8Array,
  options: CryptoOptions = {},
): Promise<{ readonly kemOutput: Uint8Array; readonly ciphertext: Uint8Array }> {
  const cs = await suiteOf(cipherSuite, options);
  const r = await guard("EncryptWithLabel", "MIMI_ERR_MLS_INVALID_OPERATION", async () => tsEncryptWithLabel(await cs.hpke.importPublicKey(publicKey), label, context, plaintext, cs.hpke));
  return { kemOutput: r.enc, ciphertext: r.ct };
}

/** MIMI-MLS-HUB-20: RFC 9420 §5.1.3 DecryptWithLabel. Throws MIMI_ERR_MLS_DECRYPT_FAILED. */
export async function decryptWithLabel(
  cipherSuite: CipherSuiteRef,
  privateKey: Uint8Array,
  label: string,
  context: Uint8Array,
  kemOutput: Uint8Array,
  ciphertext: Uint8Array,
  options: CryptoOptions = {},
): Promise<Uint8Array> {
  const cs = await suiteOf(cipherSuite, options);
  try {
    return await tsDecryptWithLabel(await cs.hpke.importPrivateKey(privateKey), label, context, kemOutput, ciphertext, cs.hpke);
  } catch (cause) {
    throw fail("MIMI_ERR_MLS_DECRYPT_FAILED", "DecryptWithLabel failed", { label }, cause);
  }
}

/** A fresh HPKE key pair of the suite's KEM (e.g. GroupInfoRequest.groupInfoPublicKey). The private key is secret. */
export async function generateHpkeKeyPair(cipherSuite: CipherSuiteRef, options: CryptoOptions = {}): Promise<{ readonly publicKey: Uint8Array; readonly privateKey: Uint8Array }> {
  const cs = await suiteOf(cipherSuite, options);
  return guard("HPKE keygen", "MIMI_ERR_INTERNAL", async () => {
    const k = await cs.hpke.generateKeyPair();
    return { publicKey: await cs.hpke.exportPublicKey(k.publicKey), privateKey: await cs.hpke.exportPrivateKey(k.privateKey) };
  });
}

// ---- the hub's own external-sender identity -----------------------------------------------------

/** RFC 9420 §5.3 Credential, encoded (e.g. ExternalSender.credential of GroupInfoResponse.hub_sender, protocol-06 §5.6). */
export function encodeCredential(credential: Credential): Uint8Array {
  return guardSync("encode Credential", "MIMI_ERR_MLS_INVALID_OPERATION", () => tsEncodeCredential(credential));
}

/** Format of a stored external-sender key (ours, not a MIMI wire struct). */
const ExternalSenderKeyFile = struct("MimiExternalSenderKey", [
  ["version", uint8],
  ["provider", utf8V],
  ["cipherSuite", uint16],
  ["signaturePublicKey", opaqueV],
  ["signaturePrivateKey", opaqueV],
]);
const EXTERNAL_SENDER_KEY_VERSION = 1;
const KEY_CHECK_LABEL = "mimi-bridge external sender key check";

/**
 * MIMI-MLS-HUB-21: serialises the hub's (or a follower's) external-sender identity, so the
 * provider keeps the same key across restarts (protocol-06: the hub's key is in every room's
 * external_senders; a new key would need a GroupContextExtensions commit in each room). The
 * bytes contain the private key: store them with mode 0600 (DESIGN.md §7).
 */
export function encodeExternalSenderKey(sender: MlsExternalSender): Uint8Array {
  return encode(ExternalSenderKeyFile, {
    version: EXTERNAL_SENDER_KEY_VERSION,
    provider: sender.identity.provider,
    cipherSuite: cipherSuiteId(sender.cipherSuite),
    signaturePublicKey: sender.signaturePublicKey,
    signaturePrivateKey: sender.signaturePrivateKey,
  });
}

/** Restores an identity stored by encodeExternalSenderKey; checks that the two keys belong together. */
export async function decodeExternalSenderKey(bytes: Uint8Array, options: CryptoOptions = {}): Promise<MlsExternalSender> {
  let v;
  try {
    v = decodeExactMls(ExternalSenderKeyFile, bytes);
  } catch (cause) {
    throw fail("MIMI_ERR_MLS_STATE_CORRUPT", "stored external-sender key cannot be decoded", {}, cause);
  }
  if (v.version !== EXTERNAL_SENDER_KEY_VERSION) throw fail("MIMI_ERR_MLS_STATE_CORRUPT", `unknown external-sender key format ${v.version}`);
  const suite = cipherSuiteName(v.cipherSuite);
  if (suite === undefined) throw fail("MIMI_ERR_MLS_STATE_CORRUPT", `stored external-sender key has unknown cipher suite ${v.cipherSuite}`);
  const sender = await createExternalSender(v.provider, {
    cipherSuite: suite,
    ...(options.cryptoProvider === undefined ? {} : { cryptoProvider: options.cryptoProvider }),
    signatureKeyPair: { publicKey: v.signaturePublicKey, privateKey: v.signaturePrivateKey },
  });
  if (sender.identity.provider !== v.provider) throw fail("MIMI_ERR_MLS_STATE_CORRUPT", "stored provider name is not canonical");
  const probe = new TextEncoder().encode(v.provider);
  let sig: Uint8Array;
  try {
    sig = await signWithLabel(suite, sender, KEY_CHECK_LABEL, probe, options);
  } catch (cause) {
    throw fail("MIMI_ERR_MLS_STATE_CORRUPT", "stored external-sender private key is unusable", {}, cause);
  }
  if (!(await verifyWithLabel(suite, sender.signaturePublicKey, KEY_CHECK_LABEL, probe, sig, options))) {
    throw fail("MIMI_ERR_MLS_STATE_CORRUPT", "stored external-sender public and private keys do not belong together");
  }
  return sender;
}
