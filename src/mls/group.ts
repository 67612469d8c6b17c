// MLS groups for MIMI rooms: the operations the hub, followers, the bridge's per-user clients and
// the native SDK use. Every value is immutable: an operation returns a new MlsGroup and the old
// one stays valid (so a caller can persist before it acknowledges, DESIGN.md §6).
//
// Room state lives in the GroupContext app_data_dictionary (mls-extensions-09 §4.6) and changes
// through AppDataUpdate proposals (§4.7), applied by the patched ts-mls during commit creation
// and processing (patches/ts-mls+1.6.4.patch; see src/mls/README.md).
import {
  createApplicationMessage,
  createCommit as tsCreateCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createGroupInfoWithExternalPubAndRatchetTree,
  createProposal,
  decodeGroupState as tsDecodeGroupState,
  decodeMlsMessage,
  encodeExternalSenders,
  encodeGroupState as tsEncodeGroupState,
  encodeMlsMessage,
  encodeRequiredCapabilities,
  externalSendersFromExtensions,
  joinGroup,
  joinGroupExternal,
  makePskIndex,
  processPrivateMessage,
  processPublicMessage,
  proposeExternal,
} from "ts-mls";
import type {
  ClientConfig,
  ClientState,
  CiphersuiteImpl,
  Credential,
  Extension,
  FramedContent,
  GroupInfo,
  IncomingMessageAction,
  IncomingMessageCallback,
  KeyPackage,
  MLSMessage,
  PrivateKeyPackage,
  Proposal,
  ProposalWithSender,
  RatchetTree,
} from "ts-mls";
import { defaultClientConfig } from "ts-mls/clientConfig.js";
import { encodeGroupInfo as encodeBareGroupInfo } from "ts-mls/groupInfo.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { MimiError } from "../errors.ts";
import type { MimiErrorCode } from "../errors.ts";
import {
  ExtensionTypeId,
  ProposalTypeId,
  checkAppDataUpdateCombination,
  decodeAppDataDictionary,
  decodeAppDataUpdate,
  encodeAppDataDictionary,
  encodeAppDataUpdate,
  makeAppDataDictionary,
  makeAppDataUpdateCallback,
  mimiComponentHandlers,
} from "./appData.ts";
import type { AppDataDictionary, AppDataUpdate, ComponentUpdateHandler } from "./appData.ts";
import { bytesEqual } from "./codecUtil.ts";
import {
  MimiComponentId,
  decodeBaseRoomPolicy,
  decodeParticipantListData,
  decodeRoleData,
  decodeRoomMetaData,
  encodeBaseRoomPolicy,
  encodeParticipantListData,
  encodeParticipantListUpdate,
  encodeRoleData,
  encodeRoomMetaData,
} from "./components.ts";
import type { BaseRoomPolicy, ParticipantListData, ParticipantListUpdate, RoleData, RoomMetaData } from "./components.ts";
import {
  clientCredential,
  createAuthenticationService,
  parseClientCredential,
  parseMimiCredential,
  providerCredential,
  tryParseMimiCredential,
} from "./credentials.ts";
import type { CredentialCheck, MimiAuthenticationService, MimiClientIdentity, MimiIdentity, MimiProviderIdentity } from "./credentials.ts";
import { assertKeyPackageCurrent, decodeKeyPackage, generateMimiKeyPackage } from "./keyPackages.ts";
import type { GenerateKeyPackageOptions, GeneratedKeyPackage } from "./keyPackages.ts";
import { mlsCall, mlsCallSync, toMimiError } from "./mlsErrors.ts";
import { DEFAULT_CIPHERSUITE, DEFAULT_CRYPTO_PROVIDER, suiteImpl } from "./suites.ts";
import type { CipherSuiteName, CryptoProviderName } from "./suites.ts";

// ---- clients and external senders ----------------------------------------------------------------

/** A view of a commit for a caller's policy hook (the hub's room policy, a client's checks). */
export interface CommitView {
  /** Leaf index of the committer; undefined for an external commit. */
  readonly committerLeafIndex: number | undefined;
  readonly proposals: readonly ProposalSummary[];
  /** The group before the commit. */
  readonly before: MlsGroup;
}

/** A caller's verdict on a commit: true to accept, or the reason to reject. */
export type CommitPolicy = (commit: CommitView) => true | string;

export interface ClientOptions {
  /** Default: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (suite 1). */
  readonly cipherSuite?: CipherSuiteName;
  /** Default: "native". */
  readonly cryptoProvider?: CryptoProviderName;
  /** Extra authentication-service checks (e.g. requireClientProvider). */
  readonly credentialChecks?: readonly CredentialCheck[];
  /** Checked for every commit this client creates or processes. */
  readonly commitPolicy?: CommitPolicy;
  /**
   * MIMI-MLS-05: after every join and commit, every member's user must be in the
   * participant_list (when the group has one). Default true.
   */
  readonly enforceParticipants?: boolean;
  /** Handlers for app components beyond the MIMI ones (mls-extensions-09 §4.7 application logic). */
  readonly componentHandlers?: ReadonlyMap<number, ComponentUpdateHandler>;
}

/** One MLS client: a MIMI client identity with its signature key (RFC 9420 §5.1.2). */
export interface MlsClient {
  readonly identity: MimiClientIdentity;
  readonly credential: Credential;
  readonly cipherSuite: CipherSuiteName;
  readonly cryptoProvider: CryptoProviderName;
  readonly signaturePublicKey: Uint8Array;
  /** Secret. Redacted from logs by name (src/log.ts). */
  readonly signaturePrivateKey: Uint8Array;
  readonly options: ClientOptions;
}

/** A server acting as an MLS external sender (the hub; a follower). */
export interface MlsExternalSender {
  readonly identity: MimiProviderIdentity;
  readonly credential: Credential;
  readonly cipherSuite: CipherSuiteName;
  readonly cryptoProvider: CryptoProviderName;
  readonly signaturePublicKey: Uint8Array;
  /** Secret. */
  readonly signaturePrivateKey: Uint8Array;
}

/** An entry of the external_senders extension (RFC 9420 §12.1.8.1). */
export interface ExternalSenderEntry {
  readonly signaturePublicKey: Uint8Array;
  readonly credential: Credential;
}

export interface SignatureKeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** Creates (or, with `signatureKeyPair`, restores) an MLS client for `clientUri` (mimi://p/d/<user>/<device>). */
export async function createClient(clientUri: string, options: ClientOptions & { readonly signatureKeyPair?: SignatureKeyPair } = {}): Promise<MlsClient> {
  const credential = clientCredential(clientUri);
  const identity = parseClientCredential(credential);
  const cipherSuite = options.cipherSuite ?? DEFAULT_CIPHERSUITE;
  const cryptoProvider = options.cryptoProvider ?? DEFAULT_CRYPTO_PROVIDER;
  const cs = await suiteImpl(cipherSuite, cryptoProvider);
  const keys = options.signatureKeyPair ?? (await newSignatureKeyPair(cs));
  const { signatureKeyPair: _omit, ...rest } = options;
  return { identity, credential, cipherSuite, cryptoProvider, signaturePublicKey: keys.publicKey, signaturePrivateKey: keys.privateKey, options: rest };
}

/** Creates (or restores) the external-sender identity of a provider (`mimi://<provider>`). */
export async function createExternalSender(
  provider: string,
  options: { readonly cipherSuite?: CipherSuiteName; readonly cryptoProvider?: CryptoProviderName; readonly signatureKeyPair?: SignatureKeyPair } = {},
): Promise<MlsExternalSender> {
  const credential = providerCredential(provider);
  const identity = parseMimiCredential(credential);
  if (identity.kind !== "provider") throw new MimiError("MIMI_ERR_INTERNAL", "provider credential did not parse as a provider");
  const cipherSuite = options.cipherSuite ?? DEFAULT_CIPHERSUITE;
  const cryptoProvider = options.cryptoProvider ?? DEFAULT_CRYPTO_PROVIDER;
  const keys = options.signatureKeyPair ?? (await newSignatureKeyPair(await suiteImpl(cipherSuite, cryptoProvider)));
  return { identity, credential, cipherSuite, cryptoProvider, signaturePublicKey: keys.publicKey, signaturePrivateKey: keys.privateKey };
}

async function newSignatureKeyPair(cs: CiphersuiteImpl): Promise<SignatureKeyPair> {
  const k = await mlsCall("signature keygen", "MIMI_ERR_INTERNAL", () => cs.signature.keygen());
  return { publicKey: k.publicKey, privateKey: k.signKey };
}

export function externalSenderEntry(sender: MlsExternalSender | ExternalSenderEntry): ExternalSenderEntry {
  return { signaturePublicKey: sender.signaturePublicKey, credential: sender.credential };
}

/** KeyPackages for a client (RFC 9420 §10), with MIMI capabilities; optionally last resort. */
export async function generateKeyPackages(
  client: MlsClient,
  options: GenerateKeyPackageOptions & { readonly count?: number } = {},
): Promise<GeneratedKeyPackage[]> {
  const cs = await suiteImpl(client.cipherSuite, client.cryptoProvider);
  const count = options.count ?? 1;
  const out: GeneratedKeyPackage[] = [];
  for (let i = 0; i < count; i++) {
    out.push(await generateMimiKeyPackage(cs, client.identity, client.credential, { signKey: client.signaturePrivateKey, publicKey: client.signaturePublicKey }, options));
  }
  return out;
}

// ---- groups ---------------------------------------------------------------------------------------

/** An MLS group as seen by one client. Treat `state` as opaque. */
export interface MlsGroup {
  readonly client: MlsClient;
  readonly state: ClientState;
}

/** Per-operation ts-mls configuration, with the places our hooks record why they said no. */
interface OperationContext {
  readonly cs: CiphersuiteImpl;
  readonly config: ClientConfig;
  readonly as: MimiAuthenticationService;
  readonly appDataReason: string | undefined;
  policyReason: { code: MimiErrorCode; reason: string } | undefined;
  /** Component data the operation's app_data_update proposals produced (undefined: removed or invalid). */
  readonly appDataAfter: ReadonlyMap<number, Uint8Array | undefined>;
}

async function operationContext(client: MlsClient, extraChecks: readonly CredentialCheck[] = []): Promise<OperationContext> {
  const cs = await suiteImpl(client.cipherSuite, client.cryptoProvider);
  const as = createAuthenticationService([...(client.options.credentialChecks ?? []), ...extraChecks]);
  const handlers = client.options.componentHandlers === undefined ? mimiComponentHandlers : new Map([...mimiComponentHandlers, ...client.options.componentHandlers]);
  const reasons: { appData: string | undefined } = { appData: undefined };
  const appDataAfter = new Map<number, Uint8Array | undefined>();
  const update = makeAppDataUpdateCallback(handlers, (reason) => {
    reasons.appData = reason;
  });
  const config: ClientConfig = {
    ...defaultClientConfig,
    authService: as,
    appDataUpdateCallback: (componentId, currentData, updates) => {
      const out = update(componentId, currentData, updates);
      appDataAfter.set(componentId, out);
      return out;
    },
  };
  return {
    cs,
    as,
    config,
    get appDataReason() {
      return reasons.appData;
    },
    policyReason: undefined,
    appDataAfter,
  };
}

function withConfig(state: ClientState, ctx: OperationContext): ClientState {
  return { ...state, clientConfig: ctx.config };
}

function fail(ctx: OperationContext, what: string, err: unknown, fallback: MimiErrorCode): MimiError {
  if (err instanceof MimiError) return err;
  const e = toMimiError(err, fallback, what, () => ctx.as.rejection);
  if (e.code === "MIMI_ERR_MLS_APP_DATA_INVALID" && ctx.appDataReason !== undefined) {
    return new MimiError("MIMI_ERR_MLS_APP_DATA_INVALID", `${what}: ${ctx.appDataReason}`, { cause: err, details: { reason: ctx.appDataReason } });
  }
  return e;
}

async function run<T>(ctx: OperationContext, what: string, fallback: MimiErrorCode, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fail(ctx, what, err, fallback);
  }
}

/**
 * Wipes the key material ts-mls reports as consumed. Only for application messages (their
 * message keys, RFC 9420 §9.2 forward secrecy): for handshakes the consumed secrets include the
 * previous epoch's init_secret, and the previous state must stay usable, because the hub may
 * refuse our commit (protocol-06 wrongEpoch) and we then process the winner's commit from it.
 * The previous epoch's secrets go when the caller drops that state.
 */
function zeroize(consumed: readonly Uint8Array[]): void {
  for (const c of consumed) c.fill(0);
}

function encodeMessage(msg: MLSMessage): Uint8Array {
  return mlsCallSync("encode MLSMessage", "MIMI_ERR_INTERNAL", () => encodeMlsMessage(msg));
}

function decodeMessage(bytes: Uint8Array): MLSMessage {
  return mlsCallSync("decode MLSMessage", "MIMI_ERR_MLS_INVALID_MESSAGE", () => {
    const decoded = decodeMlsMessage(bytes, 0);
    if (decoded === undefined) throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "not an MLSMessage");
    if (decoded[1] !== bytes.length) {
      throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "bytes follow the MLSMessage", { details: { trailing: bytes.length - decoded[1] } });
    }
    return decoded[0];
  });
}

/** The room components a group is created with (each becomes an app_data_dictionary entry). */
export interface RoomComponents {
  readonly participantList?: ParticipantListData;
  readonly roomMetadata?: RoomMetaData;
  readonly rolesList?: RoleData;
  readonly baseRoomPolicy?: BaseRoomPolicy;
  /** Further components, already encoded. */
  readonly other?: readonly { readonly componentId: number; readonly data: Uint8Array }[];
}

function componentsDictionary(c: RoomComponents): AppDataDictionary {
  const entries: { componentId: number; data: Uint8Array }[] = [];
  if (c.participantList !== undefined) entries.push({ componentId: MimiComponentId.participant_list, data: encodeParticipantListData(c.participantList) });
  if (c.roomMetadata !== undefined) entries.push({ componentId: MimiComponentId.room_metadata, data: encodeRoomMetaData(c.roomMetadata) });
  if (c.rolesList !== undefined) entries.push({ componentId: MimiComponentId.roles_list, data: encodeRoleData(c.rolesList) });
  if (c.baseRoomPolicy !== undefined) entries.push({ componentId: MimiComponentId.base_room_policy, data: encodeBaseRoomPolicy(c.baseRoomPolicy) });
  for (const o of c.other ?? []) entries.push({ componentId: o.componentId, data: o.data });
  return makeAppDataDictionary(entries);
}

export interface CreateRoomGroupOptions {
  /** The MLS group_id (protocol-06 uses the MIMI group URI, e.g. mimi://hub.example/g/room). */
  readonly groupId: Uint8Array | string;
  /** MIMI-MLS-15: protocol-06 "the external_senders extension MUST contain at least the Certificate of the Hub". */
  readonly hubExternalSender: MlsExternalSender | ExternalSenderEntry;
  readonly otherExternalSenders?: readonly (MlsExternalSender | ExternalSenderEntry)[];
  readonly components?: RoomComponents;
}

/**
 * Creates the MLS group of a room. GroupContext extensions, in this order:
 * required_capabilities (app_data_dictionary + app_data_update), app_data_dictionary (the room
 * components) and external_senders (the hub first). external_senders is deliberately not first:
 * the patched ts-mls indexes external senders within the vector (MIMI-MLS-02).
 */
export async function createRoomGroup(client: MlsClient, options: CreateRoomGroupOptions): Promise<MlsGroup> {
  const ctx = await operationContext(client);
  const groupId = typeof options.groupId === "string" ? new TextEncoder().encode(options.groupId) : options.groupId;
  const senders = [options.hubExternalSender, ...(options.otherExternalSenders ?? [])].map(externalSenderEntry);
  const dictionary = componentsDictionary(options.components ?? {});
  const extensions: Extension[] = [
    {
      extensionType: "required_capabilities",
      extensionData: encodeRequiredCapabilities({
        extensionTypes: [ExtensionTypeId.app_data_dictionary],
        proposalTypes: [ProposalTypeId.app_data_update],
        credentialTypes: ["basic"],
      }),
    },
    { extensionType: ExtensionTypeId.app_data_dictionary, extensionData: encodeAppDataDictionary(dictionary) },
    {
      extensionType: "external_senders",
      extensionData: encodeExternalSenders(senders.map((s) => ({ signaturePublicKey: s.signaturePublicKey, credential: s.credential }))),
    },
  ];
  const kp = (await generateKeyPackages(client))[0];
  if (kp === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "no KeyPackage generated");
  const state = await run(ctx, "create group", "MIMI_ERR_INTERNAL", () =>
    createGroup(groupId, kp.keyPackage, kp.privateKeys, extensions, ctx.cs, ctx.config),
  );
  const group = { client, state };
  checkGroupInvariants(group);
  return group;
}

// ---- reading a group ------------------------------------------------------------------------------

export function epoch(group: MlsGroup): bigint {
  return group.state.groupContext.epoch;
}

export function groupId(group: MlsGroup): Uint8Array {
  return group.state.groupContext.groupId;
}

export function ownLeafIndex(group: MlsGroup): number {
  return group.state.privatePath.leafIndex;
}

/** True until a commit removes this client. */
export function isActive(group: MlsGroup): boolean {
  return group.state.groupActiveState.kind === "active";
}

export interface MemberInfo {
  readonly leafIndex: number;
  readonly identity: MimiIdentity | undefined;
  readonly signaturePublicKey: Uint8Array;
}

/** The group's members (non-blank leaves), by leaf index. */
export function members(group: MlsGroup): MemberInfo[] {
  const out: MemberInfo[] = [];
  for (const [nodeIndex, node] of group.state.ratchetTree.entries()) {
    if (node?.nodeType === "leaf") {
      out.push({ leafIndex: nodeIndex / 2, identity: tryParseMimiCredential(node.leaf.credential), signaturePublicKey: node.leaf.signaturePublicKey });
    }
  }
  return out;
}

/** Leaf indexes of the clients of one user (MIMI keeps users and clients separately, arch-02). */
export function leafIndexesOfUser(group: MlsGroup, userUri: string): number[] {
  return members(group)
    .filter((m) => m.identity?.kind === "client" && m.identity.userUri === userUri)
    .map((m) => m.leafIndex);
}

export interface ExternalSenderInfo {
  readonly senderIndex: number;
  readonly identity: MimiIdentity | undefined;
  readonly signaturePublicKey: Uint8Array;
}

/** The external_senders vector of the GroupContext (RFC 9420 §12.1.8.1). */
export function externalSenders(group: MlsGroup): ExternalSenderInfo[] {
  return mlsCallSync("external_senders", "MIMI_ERR_MLS_INVALID_MESSAGE", () =>
    externalSendersFromExtensions(group.state.groupContext.extensions).map((s, senderIndex) => ({
      senderIndex,
      identity: tryParseMimiCredential(s.credential),
      signaturePublicKey: s.signaturePublicKey,
    })),
  );
}

function dictionaryOf(extensions: readonly Extension[]): AppDataDictionary {
  const ext = extensions.filter((e) => e.extensionType === ExtensionTypeId.app_data_dictionary);
  if (ext.length > 1) throw new MimiError("MIMI_ERR_MLS_APP_DATA_INVALID", "more than one app_data_dictionary extension");
  return ext[0] === undefined ? { componentData: [] } : decodeAppDataDictionary(ext[0].extensionData);
}

/** The app_data_dictionary of the group's GroupContext (empty if absent). */
export function getAppDataDictionary(group: MlsGroup): AppDataDictionary {
  return dictionaryOf(group.state.groupContext.extensions);
}

function componentBytes(group: MlsGroup, componentId: number): Uint8Array | undefined {
  return getAppDataDictionary(group).componentData.find((c) => c.componentId === componentId)?.data;
}

export function getComponent(group: MlsGroup, componentId: number): Uint8Array | undefined {
  return componentBytes(group, componentId);
}

export function getParticipantList(group: MlsGroup): ParticipantListData | undefined {
  const b = componentBytes(group, MimiComponentId.participant_list);
  return b === undefined ? undefined : decodeParticipantListData(b);
}

export function getRoomMetadata(group: MlsGroup): RoomMetaData | undefined {
  const b = componentBytes(group, MimiComponentId.room_metadata);
  return b === undefined ? undefined : decodeRoomMetaData(b);
}

export function getRolesList(group: MlsGroup): RoleData | undefined {
  const b = componentBytes(group, MimiComponentId.roles_list);
  return b === undefined ? undefined : decodeRoleData(b);
}

export function getBaseRoomPolicy(group: MlsGroup): BaseRoomPolicy | undefined {
  const b = componentBytes(group, MimiComponentId.base_room_policy);
  return b === undefined ? undefined : decodeBaseRoomPolicy(b);
}

/**
 * Invariants every epoch of a MIMI group keeps; checked after every join and commit, so an
 * epoch that breaks them is refused (the previous state stays current):
 *  - every member presents a client credential and every external sender a provider credential
 *    (MIMI-MLS-03);
 *  - the external_senders extension exists (MIMI-MLS-15);
 *  - MIMI-MLS-05: arch-02/protocol-06 "A client may be a member only if its user is a
 *    participant": with a participant_list, every member's user is in it.
 */
function checkGroupInvariants(group: MlsGroup): void {
  if (!isActive(group)) return;
  const invalid = (code: MimiErrorCode, reason: string): MimiError => new MimiError(code, `MIMI group invariant violated: ${reason}`, { details: { reason } });
  const users = new Set<string>();
  for (const m of members(group)) {
    if (m.identity?.kind !== "client") throw invalid("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `leaf ${m.leafIndex} does not present a client credential`);
    users.add(m.identity.userUri);
  }
  const senders = externalSenders(group);
  if (senders.length === 0) throw invalid("MIMI_ERR_MLS_INVALID_MESSAGE", "the group has no external_senders (the hub must be one)");
  for (const s of senders) {
    if (s.identity?.kind !== "provider") throw invalid("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `external sender ${s.senderIndex} does not present a provider credential`);
  }
  if (group.client.options.enforceParticipants === false) return;
  const list = getParticipantList(group);
  if (list === undefined) return;
  const participants = new Set(list.participants.map((p) => p.user));
  for (const user of users) {
    if (!participants.has(user)) throw invalid("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `member user ${user} is not a participant`);
  }
}

// ---- proposals -----------------------------------------------------------------------------------

/** A proposal to create or commit. */
export type ProposalInput =
  | { readonly kind: "add"; readonly keyPackage: KeyPackage | Uint8Array }
  | { readonly kind: "remove"; readonly leafIndex: number }
  | { readonly kind: "appDataUpdate"; readonly update: AppDataUpdate }
  /**
   * Replace the external_senders vector (protocol-06: a follower's certificate MAY be added while
   * it has participants and MUST be removed with its last one; the hub stays). Sent as a
   * GroupContextExtensions proposal that keeps every other extension, app_data_dictionary included
   * (MIMI-MLS-19).
   */
  | { readonly kind: "externalSenders"; readonly senders: readonly (MlsExternalSender | ExternalSenderEntry)[] };

export function participantListUpdateProposal(update: ParticipantListUpdate): ProposalInput {
  return { kind: "appDataUpdate", update: { componentId: MimiComponentId.participant_list, op: 1, update: encodeParticipantListUpdate(update) } };
}
export function roomMetadataUpdateProposal(metadata: RoomMetaData): ProposalInput {
  return { kind: "appDataUpdate", update: { componentId: MimiComponentId.room_metadata, op: 1, update: encodeRoomMetaData(metadata) } };
}
export function rolesListUpdateProposal(roles: RoleData): ProposalInput {
  return { kind: "appDataUpdate", update: { componentId: MimiComponentId.roles_list, op: 1, update: encodeRoleData(roles) } };
}
export function baseRoomPolicyUpdateProposal(policy: BaseRoomPolicy): ProposalInput {
  return { kind: "appDataUpdate", update: { componentId: MimiComponentId.base_room_policy, op: 1, update: encodeBaseRoomPolicy(policy) } };
}
export function removeComponentProposal(componentId: number): ProposalInput {
  return { kind: "appDataUpdate", update: { componentId, op: 2 } };
}

function toTsProposal(p: ProposalInput, extensions: readonly Extension[]): Proposal {
  switch (p.kind) {
    case "externalSenders": {
      if (p.senders.length === 0) throw new MimiError("MIMI_ERR_MLS_INVALID_OPERATION", "external_senders must keep at least the hub");
      const data = encodeExternalSenders(p.senders.map(externalSenderEntry).map((e) => ({ signaturePublicKey: e.signaturePublicKey, credential: e.credential })));
      const others = extensions.filter((e) => e.extensionType !== "external_senders");
      return { proposalType: "group_context_extensions", groupContextExtensions: { extensions: [...others, { extensionType: "external_senders", extensionData: data }] } };
    }
    case "add": {
      const keyPackage = p.keyPackage instanceof Uint8Array ? decodeKeyPackage(p.keyPackage) : p.keyPackage;
      return { proposalType: "add", add: { keyPackage } };
    }
    case "remove":
      return { proposalType: "remove", remove: { removed: p.leafIndex } };
    case "appDataUpdate":
      return { proposalType: ProposalTypeId.app_data_update, proposalData: encodeAppDataUpdate(p.update) };
  }
}

/** What a proposal does, as seen by policy hooks and processMessage results. */
export type ProposalSummary =
  | { readonly kind: "add"; readonly senderLeafIndex: number | undefined; readonly identity: MimiIdentity | undefined; readonly keyPackage: KeyPackage }
  | { readonly kind: "remove"; readonly senderLeafIndex: number | undefined; readonly leafIndex: number }
  | { readonly kind: "update"; readonly senderLeafIndex: number | undefined }
  | { readonly kind: "appDataUpdate"; readonly senderLeafIndex: number | undefined; readonly update: AppDataUpdate }
  | { readonly kind: "groupContextExtensions"; readonly senderLeafIndex: number | undefined }
  | { readonly kind: "other"; readonly senderLeafIndex: number | undefined; readonly proposalType: string | number };

function summarise(p: Proposal, senderLeafIndex: number | undefined): ProposalSummary {
  switch (p.proposalType) {
    case "add":
      return { kind: "add", senderLeafIndex, identity: tryParseMimiCredential(p.add.keyPackage.leafNode.credential), keyPackage: p.add.keyPackage };
    case "remove":
      return { kind: "remove", senderLeafIndex, leafIndex: p.remove.removed };
    case "update":
      return { kind: "update", senderLeafIndex };
    case "group_context_extensions":
      return { kind: "groupContextExtensions", senderLeafIndex };
    case ProposalTypeId.app_data_update:
      return { kind: "appDataUpdate", senderLeafIndex, update: decodeAppDataUpdate((p as { proposalData: Uint8Array }).proposalData) };
    default:
      return { kind: "other", senderLeafIndex, proposalType: p.proposalType };
  }
}

/** Commit-level checks shared by the committer and every receiver; returns the rejection. */
function checkCommit(group: MlsGroup, committerLeafIndex: number | undefined, proposals: readonly ProposalWithSender[]): { code: MimiErrorCode; reason: string } | undefined {
  let summaries: ProposalSummary[];
  try {
    summaries = proposals.map((p) => summarise(p.proposal, p.senderLeafIndex));
  } catch (err) {
    return { code: "MIMI_ERR_MLS_APP_DATA_INVALID", reason: err instanceof Error ? err.message : String(err) };
  }
  const updates = summaries.flatMap((s) => (s.kind === "appDataUpdate" ? [s.update] : []));
  const combination = checkAppDataUpdateCombination(updates);
  if (combination !== undefined) return { code: "MIMI_ERR_MLS_APP_DATA_INVALID", reason: combination };
  // mls-extensions-09 §4.7: a remove of an unknown component is invalid like an update would be.
  for (const u of updates) {
    if (u.op === 2 && !mimiComponentHandlers.has(u.componentId) && group.client.options.componentHandlers?.has(u.componentId) !== true) {
      return { code: "MIMI_ERR_MLS_APP_DATA_INVALID", reason: `component 0x${u.componentId.toString(16)} is not known` };
    }
  }
  const policy = group.client.options.commitPolicy;
  if (policy !== undefined) {
    const verdict = policy({ committerLeafIndex, proposals: summaries, before: group });
    if (verdict !== true) return { code: "MIMI_ERR_MLS_COMMIT_REJECTED", reason: verdict };
  }
  return undefined;
}

function incomingCallback(group: MlsGroup, ctx: OperationContext): IncomingMessageCallback {
  return (incoming): IncomingMessageAction => {
    if (incoming.kind !== "commit") return "accept";
    const verdict = checkCommit(group, incoming.senderLeafIndex, incoming.proposals);
    if (verdict === undefined) return "accept";
    ctx.policyReason = verdict;
    return "reject";
  };
}

export interface CommitResult {
  readonly group: MlsGroup;
  /** The Commit as an MLSMessage (PublicMessage unless `publicMessage: false`). */
  readonly commit: Uint8Array;
  /** The Welcome (MLSMessage) when the commit adds members. */
  readonly welcome: Uint8Array | undefined;
  /** GroupInfo (MLSMessage) of the new epoch, with external_pub and ratchet_tree (a self-contained GroupInfo). */
  readonly groupInfo: Uint8Array;
  /**
   * The GroupInfo for the HandshakeBundle (protocol-06 §5.3, "Both the Welcome and GroupInfo omit
   * the ratchet_tree"): a bare GroupInfo (not MLSMessage-wrapped, MIMI-PROTO-CHOICE-21) with
   * external_pub, so the hub can serve external joins (RFC 9420 §12.4.3.2), and no ratchet_tree.
   * Empty when this client left the group with the commit.
   */
  readonly hubGroupInfo: Uint8Array;
  /** The ratchet tree of the new epoch: RFC 9420 §12.4.3.3 `optional<Node> ratchet_tree<V>` (RatchetTreeOption.full). */
  readonly ratchetTree: Uint8Array;
}

export interface CreateCommitOptions {
  /** Proposals sent inline; pending proposals received earlier are always committed by reference. */
  readonly proposals?: readonly ProposalInput[];
  /** Default true: MIMI handshakes are PublicMessages so the hub can check them (protocol-06). */
  readonly publicMessage?: boolean;
  /** Include the ratchet_tree in the Welcome's GroupInfo (default true). */
  readonly ratchetTreeInWelcome?: boolean;
  readonly authenticatedData?: Uint8Array;
  /** Extra AS checks for this operation (e.g. the submitting provider). */
  readonly credentialChecks?: readonly CredentialCheck[];
}

/** The GroupInfo (MLSMessage) of the current epoch, with external_pub and ratchet_tree. */
export async function exportGroupInfo(group: MlsGroup): Promise<Uint8Array> {
  const ctx = await operationContext(group.client);
  const gi = await run(ctx, "create GroupInfo", "MIMI_ERR_INTERNAL", () => createGroupInfoWithExternalPubAndRatchetTree(withConfig(group.state, ctx), [], ctx.cs));
  return encodeMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo: gi });
}

/**
 * What a member sends the hub for the current epoch (room creation, HandshakeBundle of a commit,
 * protocol-06 §5.3): a bare GroupInfo with external_pub and without ratchet_tree, and the ratchet
 * tree separately (RatchetTreeOption.full). The hub keeps both to serve external joins (§5.6).
 */
export async function exportHubGroupInfo(group: MlsGroup): Promise<{ readonly groupInfo: Uint8Array; readonly ratchetTree: Uint8Array }> {
  const ctx = await operationContext(group.client);
  const gi = await run(ctx, "create GroupInfo", "MIMI_ERR_INTERNAL", () => createGroupInfoWithExternalPub(withConfig(group.state, ctx), [], ctx.cs));
  return {
    groupInfo: mlsCallSync("encode GroupInfo", "MIMI_ERR_INTERNAL", () => encodeBareGroupInfo(gi)),
    ratchetTree: mlsCallSync("encode ratchet tree", "MIMI_ERR_INTERNAL", () => encodeRatchetTree(group.state.ratchetTree)),
  };
}

/** Creates a commit of the pending proposals plus `options.proposals` (RFC 9420 §12.4). */
export async function createCommit(group: MlsGroup, options: CreateCommitOptions = {}): Promise<CommitResult> {
  const ctx = await operationContext(group.client, options.credentialChecks);
  const extra = (options.proposals ?? []).map((p) => toTsProposal(p, group.state.groupContext.extensions));
  for (const p of extra) if (p.proposalType === "add") assertKeyPackageCurrent(p.add.keyPackage);
  const pending = Object.values(group.state.unappliedProposals);
  const own = ownLeafIndex(group);
  const verdict = checkCommit(group, own, [...pending, ...extra.map((proposal) => ({ proposal, senderLeafIndex: own }))]);
  if (verdict !== undefined) throw new MimiError(verdict.code, `commit refused: ${verdict.reason}`, { details: { reason: verdict.reason } });
  const result = await run(ctx, "create commit", "MIMI_ERR_MLS_INVALID_OPERATION", () =>
    tsCreateCommit(
      { state: withConfig(group.state, ctx), cipherSuite: ctx.cs },
      {
        extraProposals: extra,
        wireAsPublicMessage: options.publicMessage ?? true,
        ratchetTreeExtension: options.ratchetTreeInWelcome ?? true,
        ...(options.authenticatedData === undefined ? {} : { authenticatedData: options.authenticatedData }),
      },
    ),
  );
  const next: MlsGroup = { client: group.client, state: result.newState };
  checkGroupInvariants(next);
  const active = isActive(next);
  const forHub = active ? await exportHubGroupInfo(next) : { groupInfo: new Uint8Array(0), ratchetTree: new Uint8Array(0) };
  return {
    group: next,
    commit: encodeMessage(result.commit),
    welcome: result.welcome === undefined ? undefined : encodeMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome }),
    groupInfo: active ? await exportGroupInfo(next) : new Uint8Array(0),
    hubGroupInfo: forHub.groupInfo,
    ratchetTree: forHub.ratchetTree,
  };
}

/** Adds clients by KeyPackage: commit + Welcome + GroupInfo (RFC 9420 §12.1.1, §12.4.3). */
export async function addMembers(
  group: MlsGroup,
  keyPackages: readonly (KeyPackage | Uint8Array)[],
  options: Omit<CreateCommitOptions, "proposals"> & { readonly proposals?: readonly ProposalInput[] } = {},
): Promise<CommitResult & { readonly welcome: Uint8Array }> {
  if (keyPackages.length === 0) throw new MimiError("MIMI_ERR_MLS_INVALID_OPERATION", "addMembers needs at least one KeyPackage");
  const result = await createCommit(group, { ...options, proposals: [...(options.proposals ?? []), ...keyPackages.map((keyPackage) => ({ kind: "add" as const, keyPackage }))] });
  if (result.welcome === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "commit with Add proposals produced no Welcome");
  return { ...result, welcome: result.welcome };
}

/** Removes members by leaf index in one commit (RFC 9420 §12.1.3). */
export function removeMembers(group: MlsGroup, leafIndexes: readonly number[], options: Omit<CreateCommitOptions, "proposals"> = {}): Promise<CommitResult> {
  return createCommit(group, { ...options, proposals: leafIndexes.map((leafIndex) => ({ kind: "remove" as const, leafIndex })) });
}

export interface ProposalResult {
  readonly group: MlsGroup;
  /** The proposal as an MLSMessage. */
  readonly message: Uint8Array;
}

/** Sends a standalone proposal (RFC 9420 §12.1), a PublicMessage by default. */
export async function propose(group: MlsGroup, proposal: ProposalInput, options: { readonly publicMessage?: boolean } = {}): Promise<ProposalResult> {
  const ctx = await operationContext(group.client);
  const r = await run(ctx, "create proposal", "MIMI_ERR_MLS_INVALID_OPERATION", () =>
    createProposal(withConfig(group.state, ctx), options.publicMessage ?? true, toTsProposal(proposal, group.state.groupContext.extensions), ctx.cs),
  );
  return { group: { client: group.client, state: r.newState }, message: encodeMessage(r.message) };
}

/**
 * A member cannot commit its own removal (RFC 9420 §12.1.3: the committer knows the next epoch);
 * it proposes a Remove of its own leaf for another member to commit. (mls-extensions SelfRemove
 * is not implemented by ts-mls 1.6.4.)
 */
export function proposeSelfRemove(group: MlsGroup): Promise<ProposalResult> {
  return propose(group, { kind: "remove", leafIndex: ownLeafIndex(group) });
}

/**
 * The hub (or a follower) as MLS external sender creates a proposal (RFC 9420 §12.1.8), signed
 * with its external-sender key, for the epoch of `groupInfo` (MLSMessage bytes). Returns the
 * PublicMessage as an MLSMessage.
 */
export async function proposeAsExternalSender(sender: MlsExternalSender, groupInfo: Uint8Array | GroupInfo, proposal: ProposalInput): Promise<Uint8Array> {
  if (proposal.kind === "add" || proposal.kind === "externalSenders") {
    // RFC 9420 §12.1.8 allows external Adds; MIMI adds clients through member commits (and the
    // hub cannot know the joiner's path secrets anyway), so we keep the hub to Remove/AppDataUpdate.
    throw new MimiError("MIMI_ERR_MLS_INVALID_OPERATION", "external senders propose Remove or AppDataUpdate only");
  }
  const gi = groupInfo instanceof Uint8Array ? decodeGroupInfo(groupInfo) : groupInfo;
  const listed = mlsCallSync("external_senders", "MIMI_ERR_MLS_INVALID_MESSAGE", () => externalSendersFromExtensions(gi.groupContext.extensions));
  if (!listed.some((s) => bytesEqual(s.signaturePublicKey, sender.signaturePublicKey))) {
    throw new MimiError("MIMI_ERR_MLS_INVALID_OPERATION", `${sender.identity.providerUri} is not an external sender of this group`);
  }
  const cs = await suiteImpl(sender.cipherSuite, sender.cryptoProvider);
  const msg = await mlsCall("external proposal", "MIMI_ERR_MLS_INVALID_OPERATION", () =>
    proposeExternal(gi, toTsProposal(proposal, gi.groupContext.extensions), sender.signaturePublicKey, sender.signaturePrivateKey, cs),
  );
  return encodeMessage(msg);
}

export function decodeGroupInfo(bytes: Uint8Array): GroupInfo {
  const msg = decodeMessage(bytes);
  if (msg.wireformat !== "mls_group_info") throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", `expected a GroupInfo, got ${msg.wireformat}`);
  return msg.groupInfo;
}

// ---- joining -----------------------------------------------------------------------------------

/** The KeyPackage a Welcome is for, with its private keys. */
export interface KeyPackageWithSecrets {
  readonly keyPackage: KeyPackage;
  readonly privateKeys: PrivateKeyPackage;
}

/** Joins from a Welcome (RFC 9420 §12.4.3.1). The ratchet tree comes from the Welcome's GroupInfo unless given. */
export async function joinFromWelcome(client: MlsClient, welcome: Uint8Array, keyPackage: KeyPackageWithSecrets): Promise<MlsGroup> {
  const ctx = await operationContext(client);
  const msg = decodeMessage(welcome);
  if (msg.wireformat !== "mls_welcome") throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", `expected a Welcome, got ${msg.wireformat}`);
  if (!bytesEqual(keyPackage.keyPackage.leafNode.signaturePublicKey, client.signaturePublicKey)) {
    throw new MimiError("MIMI_ERR_MLS_INVALID_OPERATION", "the KeyPackage does not belong to this client");
  }
  const state = await run(ctx, "join from Welcome", "MIMI_ERR_MLS_INVALID_MESSAGE", () =>
    joinGroup(msg.welcome, keyPackage.keyPackage, keyPackage.privateKeys, makePskIndex(undefined, {}), ctx.cs, undefined, undefined, ctx.config),
  );
  const group = { client, state };
  checkGroupInvariants(group);
  return group;
}

/**
 * Joins by external commit from a GroupInfo with external_pub (RFC 9420 §12.4.3.2), an MLSMessage.
 * The ratchet tree comes from the GroupInfo's ratchet_tree extension or, as the hub serves it
 * (protocol-06 §5.6 GroupInfoRatchetTreeTBE), from `options.ratchetTree` (RFC 9420 §12.4.3.3
 * `optional<Node> ratchet_tree<V>`). The client's user must already be a participant (MIMI-MLS-05).
 * Returns the group, the commit (an MLSMessage PublicMessage) to submit to the hub, and the new
 * epoch's GroupInfo in both forms (see CommitResult).
 */
export async function externalJoin(
  client: MlsClient,
  groupInfo: Uint8Array,
  options: { readonly authenticatedData?: Uint8Array; readonly ratchetTree?: Uint8Array } = {},
): Promise<{ group: MlsGroup; commit: Uint8Array; groupInfo: Uint8Array; hubGroupInfo: Uint8Array; ratchetTree: Uint8Array }> {
  const ctx = await operationContext(client);
  const gi = decodeGroupInfo(groupInfo);
  const tree = options.ratchetTree === undefined ? undefined : decodeTree(options.ratchetTree);
  const kp = (await generateKeyPackages(client))[0];
  if (kp === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "no KeyPackage generated");
  const r = await run(ctx, "external join", "MIMI_ERR_MLS_INVALID_MESSAGE", () =>
    joinGroupExternal(gi, kp.keyPackage, kp.privateKeys, false, ctx.cs, tree, ctx.config, options.authenticatedData),
  );
  const group = { client, state: r.newState };
  checkGroupInvariants(group);
  const forHub = await exportHubGroupInfo(group);
  return {
    group,
    commit: encodeMessage({ version: "mls10", wireformat: "mls_public_message", publicMessage: r.publicMessage }),
    groupInfo: await exportGroupInfo(group),
    hubGroupInfo: forHub.groupInfo,
    ratchetTree: forHub.ratchetTree,
  };
}

function decodeTree(bytes: Uint8Array): RatchetTree {
  let decoded: [RatchetTree, number] | undefined;
  try {
    decoded = decodeRatchetTree(bytes, 0);
  } catch (cause) {
    // ts-mls throws InternalError for a tree whose last node is blank: hostile input, not a bug here.
    throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "ratchet tree cannot be decoded", { cause });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "not exactly one ratchet tree");
  return decoded[0];
}

// ---- application messages and incoming messages -------------------------------------------------

/** Encrypts an application message (RFC 9420 §6.3) as an MLSMessage PrivateMessage. */
export async function encryptApplication(group: MlsGroup, plaintext: Uint8Array, options: { readonly authenticatedData?: Uint8Array } = {}): Promise<{ group: MlsGroup; message: Uint8Array }> {
  const ctx = await operationContext(group.client);
  const r = await run(ctx, "encrypt application message", "MIMI_ERR_MLS_INVALID_OPERATION", () =>
    createApplicationMessage(withConfig(group.state, ctx), plaintext, ctx.cs, options.authenticatedData),
  );
  zeroize(r.consumed);
  return {
    group: { client: group.client, state: r.newState },
    message: encodeMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: r.privateMessage }),
  };
}

/** Who sent a message. */
export type MessageSender =
  | { readonly kind: "member"; readonly leafIndex: number; readonly identity: MimiIdentity | undefined }
  | { readonly kind: "external"; readonly senderIndex: number; readonly identity: MimiIdentity | undefined }
  | { readonly kind: "newMember"; readonly identity: MimiIdentity | undefined };

export type ProcessResult =
  | {
      readonly kind: "application";
      readonly group: MlsGroup;
      readonly sender: MessageSender & { readonly kind: "member" };
      readonly plaintext: Uint8Array;
      readonly authenticatedData: Uint8Array;
      readonly epoch: bigint;
    }
  | { readonly kind: "proposal"; readonly group: MlsGroup; readonly sender: MessageSender; readonly proposal: ProposalSummary }
  | {
      readonly kind: "commit";
      readonly group: MlsGroup;
      readonly sender: MessageSender;
      /** The new epoch. */
      readonly epoch: bigint;
      /** This client was removed by the commit; `group` is no longer usable for sending. */
      readonly removedSelf: boolean;
      /**
       * Only with `removedSelf`: the participant_list the commit leaves behind (`group` keeps the
       * previous epoch's, since a removed member cannot enter the new one). It tells a ban (the
       * user listed with role_index 1, room-policy-03 §8.1.3) from a removal (not listed).
       */
      readonly participantsAfter?: ParticipantListData;
      readonly addedLeafIndexes: readonly number[];
      readonly removedLeafIndexes: readonly number[];
      /** Components whose data changed, appeared or disappeared. */
      readonly changedComponents: readonly number[];
    };

function senderOf(group: MlsGroup, content: FramedContent): MessageSender {
  const s = content.sender;
  switch (s.senderType) {
    case "member": {
      const node = group.state.ratchetTree[s.leafIndex * 2];
      return { kind: "member", leafIndex: s.leafIndex, identity: node?.nodeType === "leaf" ? tryParseMimiCredential(node.leaf.credential) : undefined };
    }
    case "external": {
      const es = externalSenders(group)[s.senderIndex];
      return { kind: "external", senderIndex: s.senderIndex, identity: es?.identity };
    }
    default: {
      const leaf = content.contentType === "commit" ? content.commit.path?.leafNode : content.contentType === "proposal" && content.proposal.proposalType === "add" ? content.proposal.add.keyPackage.leafNode : undefined;
      return { kind: "newMember", identity: leaf === undefined ? undefined : tryParseMimiCredential(leaf.credential) };
    }
  }
}

function leafSet(group: MlsGroup): Map<number, Uint8Array> {
  return new Map(members(group).map((m) => [m.leafIndex, m.signaturePublicKey]));
}

function commitChanges(before: MlsGroup, after: MlsGroup): { added: number[]; removed: number[]; changedComponents: number[] } {
  const a = leafSet(before);
  const b = leafSet(after);
  const added: number[] = [];
  const removed: number[] = [];
  for (const [i, key] of b) if (!bytesEqual(a.get(i) ?? new Uint8Array(0), key)) added.push(i);
  for (const [i, key] of a) if (!bytesEqual(b.get(i) ?? new Uint8Array(0), key)) removed.push(i);
  const da = new Map(getAppDataDictionary(before).componentData.map((c) => [c.componentId, c.data]));
  const db = new Map(getAppDataDictionary(after).componentData.map((c) => [c.componentId, c.data]));
  const changedComponents = [...new Set([...da.keys(), ...db.keys()])].filter((id) => {
    const x = da.get(id);
    const y = db.get(id);
    return x === undefined || y === undefined || !bytesEqual(x, y);
  });
  return { added, removed, changedComponents: changedComponents.sort((x, y) => x - y) };
}

/**
 * Processes any incoming MLSMessage for this group: an application message (decrypts it), a
 * proposal (stores it for the next commit) or a commit (moves to the next epoch). Throws
 * MIMI_ERR_MLS_WRONG_EPOCH for a handshake of another epoch or a message from a future epoch,
 * MIMI_ERR_MLS_INVALID_MESSAGE / _DECRYPT_FAILED / _CREDENTIAL_REJECTED / _APP_DATA_INVALID /
 * _COMMIT_REJECTED otherwise. On any error the group is unchanged.
 */
export async function processMessage(group: MlsGroup, message: Uint8Array, options: { readonly credentialChecks?: readonly CredentialCheck[] } = {}): Promise<ProcessResult> {
  const ctx = await operationContext(group.client, options.credentialChecks);
  const msg = decodeMessage(message);
  const current = epoch(group);
  const state = withConfig(group.state, ctx);
  if (msg.wireformat === "mls_private_message") {
    const pm = msg.privateMessage;
    if (!bytesEqual(pm.groupId, groupId(group))) throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "message is for another group");
    if (pm.epoch > current) {
      throw new MimiError("MIMI_ERR_MLS_WRONG_EPOCH", `message is for epoch ${pm.epoch}, the group is at ${current}`, { details: { messageEpoch: pm.epoch.toString(), epoch: current.toString() } });
    }
    if (pm.contentType !== "application" && pm.epoch !== current) {
      throw new MimiError("MIMI_ERR_MLS_WRONG_EPOCH", `handshake for epoch ${pm.epoch}, the group is at ${current}`, { details: { messageEpoch: pm.epoch.toString(), epoch: current.toString() } });
    }
    const r = await run(ctx, "process PrivateMessage", "MIMI_ERR_MLS_INVALID_MESSAGE", () =>
      processPrivateMessage(state, pm, makePskIndex(state, {}), ctx.cs, incomingCallback(group, ctx)),
    );
    const content = r.framedContent;
    if (content === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "patched ts-mls did not return the FramedContent");
    if (r.kind === "applicationMessage") {
      zeroize(r.consumed);
      const sender = senderOf(group, content);
      if (sender.kind !== "member") throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "application message from a non-member");
      return { kind: "application", group: { client: group.client, state: r.newState }, sender, plaintext: r.message, authenticatedData: content.authenticatedData, epoch: pm.epoch };
    }
    return finishHandshake(group, ctx, r.newState, r.actionTaken, content);
  }
  if (msg.wireformat === "mls_public_message") {
    const pm = msg.publicMessage;
    if (!bytesEqual(pm.content.groupId, groupId(group))) throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "message is for another group");
    if (pm.content.epoch !== current) {
      throw new MimiError("MIMI_ERR_MLS_WRONG_EPOCH", `handshake for epoch ${pm.content.epoch}, the group is at ${current}`, {
        details: { messageEpoch: pm.content.epoch.toString(), epoch: current.toString() },
      });
    }
    if (pm.content.contentType === "application") throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "application data must be sent as a PrivateMessage");
    const r = await run(ctx, "process PublicMessage", "MIMI_ERR_MLS_INVALID_MESSAGE", () =>
      processPublicMessage(state, pm, makePskIndex(state, {}), ctx.cs, incomingCallback(group, ctx)),
    );
    return finishHandshake(group, ctx, r.newState, r.actionTaken, pm.content);
  }
  throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", `a ${msg.wireformat} is not a group message`);
}

function finishHandshake(group: MlsGroup, ctx: OperationContext, newState: ClientState, action: IncomingMessageAction, content: FramedContent): ProcessResult {
  if (action === "reject") {
    const v = ctx.policyReason ?? { code: "MIMI_ERR_MLS_COMMIT_REJECTED" as const, reason: "rejected" };
    throw new MimiError(v.code, `commit rejected: ${v.reason}`, { details: { reason: v.reason } });
  }
  const sender = senderOf(group, content);
  const next: MlsGroup = { client: group.client, state: newState };
  if (content.contentType === "proposal") {
    return { kind: "proposal", group: next, sender, proposal: summarise(content.proposal, sender.kind === "member" ? sender.leafIndex : undefined) };
  }
  const removedSelf = newState.groupActiveState.kind === "removedFromGroup";
  if (!removedSelf) checkGroupInvariants(next);
  const changes = removedSelf ? { added: [], removed: [ownLeafIndex(group)], changedComponents: [] } : commitChanges(group, next);
  const participantsAfter = removedSelf ? participantListAfter(group, ctx) : undefined;
  return {
    kind: "commit",
    group: next,
    sender,
    epoch: epoch(next),
    removedSelf,
    ...(participantsAfter === undefined ? {} : { participantsAfter }),
    addedLeafIndexes: changes.added,
    removedLeafIndexes: changes.removed,
    changedComponents: changes.changedComponents,
  };
}

/**
 * The participant_list after a commit that removed this client: what its app_data_update
 * proposals produced (ts-mls validated and applied them, mls-extensions-09 §4.7, before it
 * stopped at the removal), else the current one (the commit did not change it).
 */
function participantListAfter(group: MlsGroup, ctx: OperationContext): ParticipantListData | undefined {
  if (!ctx.appDataAfter.has(MimiComponentId.participant_list)) return getParticipantList(group);
  const bytes = ctx.appDataAfter.get(MimiComponentId.participant_list);
  return bytes === undefined ? undefined : decodeParticipantListData(bytes);
}

/** processMessage for a handshake only (proposal or commit); application messages are refused. */
export async function processHandshake(group: MlsGroup, message: Uint8Array, options: { readonly credentialChecks?: readonly CredentialCheck[] } = {}): Promise<Exclude<ProcessResult, { kind: "application" }>> {
  const r = await processMessage(group, message, options);
  if (r.kind === "application") throw new MimiError("MIMI_ERR_MLS_INVALID_MESSAGE", "expected a handshake message, got an application message");
  return r;
}

/** processMessage, named for the common case of an application message. */
export const decryptMessage = processMessage;

// ---- storage ------------------------------------------------------------------------------------

const STATE_FORMAT = 1;

/** Serialises the group state for storage (contains secrets: store encrypted, mode 0600). */
export function encodeGroupState(group: MlsGroup): Uint8Array {
  const body = mlsCallSync("encode group state", "MIMI_ERR_INTERNAL", () => tsEncodeGroupState(group.state));
  const out = new Uint8Array(body.length + 1);
  out[0] = STATE_FORMAT;
  out.set(body, 1);
  return out;
}

/** Restores a group state stored by encodeGroupState, for the client it belongs to. */
export function decodeGroupState(client: MlsClient, bytes: Uint8Array): MlsGroup {
  if (bytes[0] !== STATE_FORMAT) throw new MimiError("MIMI_ERR_MLS_STATE_CORRUPT", "unknown group state format", { details: { format: bytes[0] } });
  const state = mlsCallSync("decode group state", "MIMI_ERR_MLS_STATE_CORRUPT", () => {
    const decoded = tsDecodeGroupState(bytes, 1);
    if (decoded === undefined || decoded[1] !== bytes.length - 1) throw new MimiError("MIMI_ERR_MLS_STATE_CORRUPT", "group state does not decode exactly");
    return decoded[0];
  });
  const group: MlsGroup = { client, state: { ...state, clientConfig: defaultClientConfig } };
  const own = group.state.ratchetTree[ownLeafIndex(group) * 2];
  if (isActive(group) && (own?.nodeType !== "leaf" || !bytesEqual(own.leaf.signaturePublicKey, client.signaturePublicKey))) {
    throw new MimiError("MIMI_ERR_MLS_STATE_CORRUPT", "group state belongs to another client");
  }
  return group;
}

// ---- message inspection (for the hub and followers) ---------------------------------------------

export type MessageInfo =
  | {
      readonly wireFormat: "public_message";
      readonly groupId: Uint8Array;
      readonly epoch: bigint;
      readonly contentType: "application" | "proposal" | "commit";
      readonly sender:
        | { readonly kind: "member"; readonly leafIndex: number }
        | { readonly kind: "external"; readonly senderIndex: number }
        | { readonly kind: "new_member_proposal" }
        | { readonly kind: "new_member_commit" };
    }
  | { readonly wireFormat: "private_message"; readonly groupId: Uint8Array; readonly epoch: bigint; readonly contentType: "application" | "proposal" | "commit" }
  | { readonly wireFormat: "welcome"; readonly cipherSuite: CipherSuiteName; readonly newMembers: readonly Uint8Array[] }
  | { readonly wireFormat: "group_info"; readonly groupId: Uint8Array; readonly epoch: bigint; readonly cipherSuite: CipherSuiteName }
  | { readonly wireFormat: "key_package"; readonly cipherSuite: CipherSuiteName; readonly identity: MimiIdentity | undefined };

/** Decodes an MLSMessage's routing facts without any keys (what a hub can see). */
export function inspectMessage(bytes: Uint8Array): MessageInfo {
  const msg = decodeMessage(bytes);
  switch (msg.wireformat) {
    case "mls_public_message": {
      const c = msg.publicMessage.content;
      const s = c.sender;
      const sender =
        s.senderType === "member"
          ? { kind: "member" as const, leafIndex: s.leafIndex }
          : s.senderType === "external"
            ? { kind: "external" as const, senderIndex: s.senderIndex }
            : { kind: s.senderType };
      return { wireFormat: "public_message", groupId: c.groupId, epoch: c.epoch, contentType: c.contentType, sender };
    }
    case "mls_private_message":
      return { wireFormat: "private_message", groupId: msg.privateMessage.groupId, epoch: msg.privateMessage.epoch, contentType: msg.privateMessage.contentType };
    case "mls_welcome":
      return { wireFormat: "welcome", cipherSuite: msg.welcome.cipherSuite, newMembers: msg.welcome.secrets.map((s) => s.newMember) };
    case "mls_group_info":
      return { wireFormat: "group_info", groupId: msg.groupInfo.groupContext.groupId, epoch: msg.groupInfo.groupContext.epoch, cipherSuite: msg.groupInfo.groupContext.cipherSuite };
    case "mls_key_package":
      return { wireFormat: "key_package", cipherSuite: msg.keyPackage.cipherSuite, identity: tryParseMimiCredential(msg.keyPackage.leafNode.credential) };
  }
}

/** The app_data_dictionary carried in a GroupInfo's GroupContext (the hub's view of room state). */
export function groupInfoAppData(groupInfo: Uint8Array | GroupInfo): AppDataDictionary {
  const gi = groupInfo instanceof Uint8Array ? decodeGroupInfo(groupInfo) : groupInfo;
  return dictionaryOf(gi.groupContext.extensions);
}

export type { AppDataUpdate };
