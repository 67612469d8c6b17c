// The hub role (draft-ietf-mimi-protocol-06 §3, §5; arch-02): for every room created on this
// provider, the hub orders the MLS group, enforces room policy, stamps accepted timestamps,
// keeps GroupInfo and ratchet tree for external joins, routes Welcomes by KeyPackageRef and
// fans everything out through the durable outbox. It never sees application plaintext: it only
// reads PublicMessage handshakes and the clear header of PrivateMessages.
//
// Every entry point takes the *authenticated* domain of the provider that sent the request
// (the mTLS peer, or this provider for its own clients) and answers with the protocol struct.
import { createHash, randomBytes } from "node:crypto";
import { decodeExact, encode, opaqueV, struct, uint16 } from "../codec/index.ts";
import { MimiError, isMimiError } from "../errors.ts";
import { parseMimiUri, providerOf, roomUri as makeRoomUri, userUri } from "../ids/index.ts";
import type { Logger } from "../log.ts";
import {
  BaseRoomPolicy as BaseRoomPolicyCodec,
  MimiComponentId,
  RoleData as RoleDataCodec,
  decodeBaseRoomPolicy,
  decodeParticipantListData,
  decodeParticipantListUpdate,
  decodeRoleData,
  decodeRoomMetaData,
  encodeBaseRoomPolicy,
  encodeParticipantListData,
  encodeRoleData,
  hubRoomFromGroupInfo,
  inspectHandshake,
  loadHubRoom,
  keyPackageSummary,
  privateMessageHeader,
  verifyCommitOutcome,
  verifyWithLabel,
  welcomeKeyPackageRefs,
  type HandshakeInspection,
  type HandshakeSender,
  type HubRoomSnapshot,
  type HubProposalSummary as ProposalSummary,
} from "../mls/index.ts";
import { asMlsMessage, type RatchetTreeBytes } from "../mls/wire.ts";
import {
  authorizeCommit,
  authorizeProposal,
  authorizeSend,
  initialParticipantList,
  participantSetKey,
  presetFor,
  type Actor,
  type ActiveClients,
  type ParticipantListData,
  type PolicyProposal,
  type RoomKind,
  type RoomPolicy,
  type RoomMetaData,
} from "../policy/index.ts";
import {
  GroupInfoCode,
  GroupInfoRatchetTreeTBE,
  GroupInfoRequest,
  GROUP_INFO_ENCRYPTION_LABEL,
  GROUP_INFO_RESPONSE_TBS_LABEL,
  encodeGroupInfoResponseTBS,
  GroupInfoResponse,
  GROUP_INFO_REQUEST_TBS_LABEL,
  KEY_MATERIAL_REQUEST_TBS_LABEL,
  KeyMaterialRequest,
  KeyMaterialResponse,
  Protocol,
  RatchetTreeRepresentation,
  SubmitMessageRequest,
  SubmitMessageResponse,
  SubmitResponseCode,
  UpdateRequest,
  UpdateResponseCode,
  UpdateRoomResponse,
  encodeGroupInfoRequestTBS,
  encodeKeyMaterialRequestTBS,
  fanoutFromHandshakeBundle,
  fanoutWelcome,
  type FanoutMessage,
  type HandshakeBundle,
} from "../protocol/index.ts";
import { cborCodec, type BatchOp, type Store, type TypedNamespace } from "../storage/index.ts";
import type { HubRoomRecord, PendingProposal, RoomTemplate } from "./records.ts";

/** What the hub needs from the rest of the provider. */
export interface HubDeps {
  domain: string;
  store: Store;
  logger: Logger;
  /** The hub's MLS external-sender identity (protocol-06: external_senders MUST include the hub). */
  identity: HubIdentity;
  /** Fans messages out: outbox entries for peers, inbox appends for our own users. */
  fanout: FanoutPort;
  /** Answers keyMaterial as the target provider (local users), or relays it to the target's provider. */
  keyMaterialForTarget(targetUser: string, request: Uint8Array, from: string): Promise<Uint8Array>;
  /** Consent for participant-list additions (src/consent/); absent: every addition is allowed. */
  consent?: HubConsentCheck;
  now?: () => number;
}

/**
 * What the hub asks the consent layer when a commit adds a participant whose Adds do not use
 * KeyPackages claimed through this hub for this room (MIMI-PROTO-CONSENT-15): whether this
 * provider itself knows that `target` consents to be added by `requester` (a grant in its consent
 * store, incoming or outgoing; implicit consent; or consent not enforced for a local target).
 */
export interface HubConsentCheck {
  admitsAdd(requester: string, target: string, roomId: string): Promise<boolean>;
}

/** One provider and what it must receive. */
export interface FanoutTarget {
  provider: string;
  messages: readonly FanoutMessage[];
}

/**
 * How the hub turns fanout into batch operations. The hub takes `lockKeys` (after its room
 * lock), builds `ops` and writes them in the same batch as the room record, then calls `done`
 * (wake the outbox workers, wake local readers).
 */
export interface FanoutPort {
  lockKeys(roomId: string, targets: readonly FanoutTarget[]): Promise<string[]>;
  ops(roomId: string, targets: readonly FanoutTarget[]): Promise<{ ops: BatchOp[]; done: () => void }>;
}

export interface HubIdentity {
  providerUri: string;
  cipherSuite: number;
  signatureKey: Uint8Array;
  credential: Uint8Array;
  sign(label: string, content: Uint8Array): Promise<Uint8Array>;
  encryptWithLabel(publicKey: Uint8Array, label: string, context: Uint8Array, plaintext: Uint8Array): Promise<{ kemOutput: Uint8Array; ciphertext: Uint8Array }>;
}

const TEMPLATE_TTL_MS = 10 * 60 * 1000;
/** Application messages of the previous epoch are still accepted (operational policy default). */
const APP_MESSAGE_EPOCH_TOLERANCE = 1;

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** A fixed-length key part for a room URI. */
const roomKey = (roomId: string) => createHash("sha256").update(roomId, "utf8").digest("hex").slice(0, 32);
const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
};

interface RoomView {
  epoch: number;
  snapshot: HubRoomSnapshot;
  policy: RoomPolicy;
  list: ParticipantListData;
  metadata: RoomMetaData | undefined;
  activeClients: ActiveClients;
}

function componentData(snapshot: HubRoomSnapshot, id: number): Uint8Array | undefined {
  return snapshot.dictionary.componentData.find((c) => c.componentId === id)?.data;
}

function roomViewOf(snapshot: HubRoomSnapshot): RoomView {
  const list = componentData(snapshot, MimiComponentId.participant_list);
  const roles = componentData(snapshot, MimiComponentId.roles_list);
  const base = componentData(snapshot, MimiComponentId.base_room_policy);
  const meta = componentData(snapshot, MimiComponentId.room_metadata);
  if (!list || !roles || !base) {
    throw new MimiError("MIMI_ERR_ROOM_TEMPLATE_MISMATCH", "the group lacks participant_list, roles_list or base_room_policy");
  }
  const active = new Map<string, number>();
  for (const leaf of snapshot.leaves) active.set(leaf.userUri, (active.get(leaf.userUri) ?? 0) + 1);
  return {
    epoch: Number(snapshot.room.epoch),
    snapshot,
    policy: { roleData: decodeRoleData(roles), baseRoomPolicy: decodeBaseRoomPolicy(base) },
    list: decodeParticipantListData(list),
    metadata: meta ? decodeRoomMetaData(meta) : undefined,
    activeClients: active,
  };
}

const domainsOf = (list: ParticipantListData): Set<string> => new Set(list.participants.map((p) => providerOf(p.user)));

function updateResponse(code: number, fields: Record<string, unknown> = {}, description = ""): Uint8Array {
  return encode(UpdateRoomResponse, { responseCode: code, errorDescription: description, ...fields } as UpdateRoomResponse);
}

function submitResponse(code: number, fields: Record<string, unknown> = {}): Uint8Array {
  return encode(SubmitMessageResponse, { protocol: Protocol.mls10, statusCode: code, ...fields } as SubmitMessageResponse);
}

export class Hub {
  readonly #d: HubDeps;
  readonly #log: Logger;
  readonly #rooms: TypedNamespace<HubRoomRecord | RoomTemplate | string>;
  readonly #submissions: TypedNamespace<Uint8Array>;
  /** Parsed room state per room and epoch, so each message does not re-verify the tree. */
  readonly #views = new Map<string, RoomView>();

  constructor(deps: HubDeps) {
    this.#d = deps;
    this.#log = deps.logger.child({ component: "hub" });
    this.#rooms = deps.store.namespace("rooms").typed(cborCodec<HubRoomRecord | RoomTemplate | string>());
    this.#submissions = deps.store.namespace("submissions").typed(cborCodec<Uint8Array>());
  }

  #now(): number {
    return this.#d.now?.() ?? Date.now();
  }

  /** Whether this provider hosts (is the hub of) the room. */
  isHubOf(roomId: string): boolean {
    try {
      return providerOf(roomId) === this.#d.domain;
    } catch {
      return false;
    }
  }

  async record(roomId: string): Promise<HubRoomRecord | undefined> {
    return (await this.#rooms.get(`hub/${roomId}`)) as HubRoomRecord | undefined;
  }

  async #view(record: HubRoomRecord): Promise<RoomView> {
    const cached = this.#views.get(record.roomId);
    if (cached && cached.epoch === record.epoch) return cached;
    // Verified when it was accepted; re-read from storage without re-checking signatures.
    const snapshot = await loadHubRoom({ groupId: record.groupId, epoch: BigInt(record.epoch), cipherSuite: record.cipherSuite, groupInfo: record.groupInfo, ratchetTree: record.ratchetTree });
    const view = roomViewOf(snapshot);
    this.#views.set(record.roomId, view);
    return view;
  }

  /** How many application messages the hub accepted in a room (each answer is kept for retries). */
  async acceptedMessages(roomId: string): Promise<number> {
    let n = 0;
    for await (const _ of this.#submissions.keys({ prefix: `submit/${roomKey(roomId)}/` })) n++;
    return n;
  }

  /** The participant list and policy of a hosted room (for the client API and tests). */
  async roomState(roomId: string): Promise<{ record: HubRoomRecord; list: ParticipantListData; policy: RoomPolicy; activeClients: ActiveClients } | undefined> {
    const record = await this.record(roomId);
    if (!record) return undefined;
    const view = await this.#view(record);
    return { record, list: view.list, policy: view.policy, activeClients: view.activeClients };
  }

  // ---- room creation (local clients; room creation is outside MIMI, protocol-06 §3) ----------

  /**
   * A template for a new room: its ID, the MLS group ID (the group URI), the hub as external
   * sender and the components the group must start with (policy preset of the room kind).
   */
  async template(creator: string, kind: RoomKind, participants: readonly string[] = []): Promise<RoomTemplate> {
    const id = randomBytes(12).toString("base64url");
    const roomId = makeRoomUri(this.#d.domain, id);
    const groupId = new TextEncoder().encode(`mimi://${this.#d.domain}/g/${id}`);
    const preset = presetFor(kind);
    let directKey: string | undefined;
    if (kind === "direct") {
      directKey = participantSetKey([creator, ...participants]);
      const existing = (await this.#rooms.get(`direct/${hex(sha256(new TextEncoder().encode(directKey)))}`)) as string | undefined;
      if (existing) throw new MimiError("MIMI_ERR_ROOM_EXISTS", `a direct room for these participants exists: ${existing}`, { details: { roomId: existing } });
    }
    const list = initialParticipantList(preset, { creator, participants: participants.filter((p) => p !== creator) });
    const template: RoomTemplate = {
      roomId,
      groupId,
      kind,
      creator,
      participantList: encodeParticipantListData(list),
      rolesList: encodeRoleData(preset.policy.roleData),
      baseRoomPolicy: encodeBaseRoomPolicy(preset.policy.baseRoomPolicy),
      expiresAt: this.#now() + TEMPLATE_TTL_MS,
      ...(directKey === undefined ? {} : { directKey }),
    };
    await this.#rooms.put(`template/${roomId}`, template, { sync: true });
    return template;
  }

  /**
   * Starts hosting a room from the creator's first GroupInfo and tree. The group must be exactly
   * the template: its group ID, the hub as first external sender, the template's components,
   * and the creator's client as the only member.
   */
  async createRoom(creator: string, clientUri: string, roomId: string, groupInfo: Uint8Array, ratchetTree: Uint8Array): Promise<HubRoomRecord> {
    return this.#d.store.withLock(`room:${roomId}`, async () => {
      const template = (await this.#rooms.get(`template/${roomId}`)) as RoomTemplate | undefined;
      if (!template || template.expiresAt < this.#now() || template.creator !== creator) {
        throw new MimiError("MIMI_ERR_ROOM_NOT_FOUND", `no room template ${roomId} for ${creator}`);
      }
      if (await this.#rooms.has(`hub/${roomId}`)) throw new MimiError("MIMI_ERR_ROOM_EXISTS", `room ${roomId} exists`);
      const snapshot = await hubRoomFromGroupInfo(groupInfo, ratchetTree, { groupId: template.groupId, epoch: 0n });
      const mismatch = (why: string) => new MimiError("MIMI_ERR_ROOM_TEMPLATE_MISMATCH", `the new group does not match the room template: ${why}`);
      if (snapshot.leaves.length !== 1 || snapshot.leaves[0]?.clientUri !== clientUri || snapshot.leaves[0].userUri !== creator) {
        throw mismatch("the creator's client must be the only member");
      }
      const sender = snapshot.externalSenders[0];
      if (!sender || hex(sender.signatureKey) !== hex(this.#d.identity.signatureKey)) throw mismatch("the hub must be the first external sender");
      for (const [id, expected] of [
        [MimiComponentId.participant_list, template.participantList],
        [MimiComponentId.roles_list, template.rolesList],
        [MimiComponentId.base_room_policy, template.baseRoomPolicy],
      ] as const) {
        const got = componentData(snapshot, id);
        if (!got || hex(got) !== hex(expected)) throw mismatch(`component 0x${id.toString(16)} differs`);
      }
      const view = roomViewOf(snapshot);
      const record: HubRoomRecord = {
        roomId,
        kind: template.kind,
        createdAt: this.#now(),
        creator,
        groupId: template.groupId,
        epoch: 0,
        cipherSuite: snapshot.room.cipherSuite,
        groupInfo,
        ratchetTree,
        pending: [],
        providers: [...domainsOf(view.list)],
        accepted: 0,
        ...(template.directKey === undefined ? {} : { directKey: template.directKey }),
      };
      const ops: BatchOp[] = [this.#rooms.putOp(`hub/${roomId}`, record), this.#rooms.delOp(`template/${roomId}`)];
      if (template.directKey !== undefined) {
        const key = `direct/${hex(sha256(new TextEncoder().encode(template.directKey)))}`;
        const existing = (await this.#rooms.get(key)) as string | undefined;
        if (existing) throw new MimiError("MIMI_ERR_ROOM_EXISTS", `a direct room for these participants exists: ${existing}`, { details: { roomId: existing } });
        ops.push(this.#rooms.putOp(key, roomId));
      }
      await this.#d.store.batch(ops);
      this.#views.set(roomId, view);
      this.#log.info({ roomId, kind: record.kind }, "room created");
      return record;
    });
  }

  // ---- /update (protocol-06 §5.3) -------------------------------------------------------------

  async update(roomId: string, body: Uint8Array, from: string): Promise<Uint8Array> {
    const request = decodeExact(UpdateRequest, body);
    const bundle = request.bundle;
    // Keyed with the relaying provider: a replay from elsewhere is judged afresh (MIMI-PROTO-HUB-02).
    const dedupeKey = `update/${roomKey(roomId)}/${hex(sha256(new TextEncoder().encode(from), body))}`;
    return this.#d.store.withLock(`room:${roomId}`, async () => {
      // A retried request gets the answer the first one got (never applied twice).
      const earlier = await this.#submissions.get(dedupeKey);
      if (earlier) return earlier;
      const record = await this.record(roomId);
      if (!record) throw new MimiError("MIMI_ERR_ROOM_NOT_FOUND", `no room ${roomId} on this hub`);
      const view = await this.#view(record);
      const pendingByRef = new Map(record.pending.map((p) => [hex(p.ref), p]));
      const summaries = new Map<string, ProposalSummary>();
      for (const p of record.pending) {
        const insp = await inspectHandshake(view.snapshot, p.message);
        if (insp.status === "ok" && insp.kind === "proposal") summaries.set(insp.proposalRefHex, insp.proposal);
      }
      let inspection: HandshakeInspection;
      try {
        inspection = await inspectHandshake(view.snapshot, bundle.proposalOrCommit.bytes, summaries);
      } catch (err) {
        if (isMimiError(err) && err.code.startsWith("MIMI_ERR_MLS_")) {
          return updateResponse(UpdateResponseCode.notAllowed, {}, `handshake rejected: ${err.message}`);
        }
        throw err;
      }
      if (inspection.status === "wrongEpoch") {
        // MIMI-PROTO-HUB-01: exactly one commit per epoch; the others learn the current epoch.
        return updateResponse(UpdateResponseCode.wrongEpoch, { currentEpoch: BigInt(record.epoch) }, `the room is at epoch ${record.epoch}`);
      }
      // MIMI-PROTO-HUB-02: a provider relays only its own users' handshakes.
      const senderUser = inspection.sender.kind === "external" ? undefined : inspection.sender.userUri;
      if (senderUser === undefined || providerOf(senderUser) !== from) {
        return updateResponse(UpdateResponseCode.notAllowed, {}, "the sender is not a user of the relaying provider");
      }
      const response =
        inspection.kind === "proposal"
          ? await this.#acceptProposal(record, view, bundle, inspection, senderUser)
          : await this.#acceptCommit(record, view, bundle, inspection, senderUser, pendingByRef);
      return response;
    }).then(async (res) => {
      const decoded = decodeExact(UpdateRoomResponse, res);
      if (decoded.responseCode === UpdateResponseCode.success) await this.#submissions.put(dedupeKey, res, { sync: true });
      return res;
    });
  }

  #policyProposal(p: ProposalSummary, sender?: Actor): PolicyProposal {
    const withSender = <T extends object>(v: T) => (sender === undefined ? v : { ...v, sender });
    switch (p.type) {
      case "add":
        return withSender({ kind: "addClient" as const, user: p.userUri });
      case "remove":
        return withSender({ kind: "removeClient" as const, user: p.userUri });
      case "appDataUpdate": {
        if (p.op === "update" && p.data !== undefined) {
          if (p.componentId === MimiComponentId.participant_list) return withSender({ kind: "participantList" as const, update: decodeParticipantListUpdate(p.data) });
          if (p.componentId === MimiComponentId.roles_list) return withSender({ kind: "roles" as const, roleData: decodeExact(RoleDataCodec, p.data) });
          if (p.componentId === MimiComponentId.base_room_policy) return withSender({ kind: "baseRoomPolicy" as const, baseRoomPolicy: decodeExact(BaseRoomPolicyCodec, p.data) });
          if (p.componentId === MimiComponentId.room_metadata) return withSender({ kind: "roomMetadata" as const, metadata: decodeRoomMetaData(p.data) });
          if (p.componentId === 0x0026) return withSender({ kind: "preauth" as const });
        }
        return withSender({ kind: "other" as const });
      }
      case "reinit":
        return withSender({ kind: "reinit" as const });
      default:
        return withSender({ kind: "other" as const });
    }
  }

  async #acceptProposal(record: HubRoomRecord, view: RoomView, bundle: HandshakeBundle, first: Extract<HandshakeInspection, { status: "ok" }>, senderUser: string): Promise<Uint8Array> {
    if (bundle.kind !== "proposal") throw new MimiError("MIMI_ERR_INTERNAL", "proposal inspection for a commit bundle");
    const actor: Actor = { kind: "user", user: senderUser };
    const state = { participantList: view.list, activeClients: view.activeClients, roomMetadata: view.metadata };
    // The bundle's proposal and its moreProposals (protocol-06 §5.3) are accepted together: each
    // from the same sender, each authorised, each cached until a commit includes it.
    const items: { message: Uint8Array; inspection: Extract<HandshakeInspection, { status: "ok"; kind: "proposal" }> }[] = [];
    const messages = [bundle.proposalOrCommit.bytes, ...bundle.moreProposals.map((m) => m.bytes)];
    for (const [i, message] of messages.entries()) {
      const insp = i === 0 ? first : await inspectHandshake(view.snapshot, message);
      if (insp.status !== "ok" || insp.kind !== "proposal") return updateResponse(UpdateResponseCode.invalidProposal, {}, `moreProposals[${i - 1}] is not a proposal of this epoch`);
      if (insp.sender.kind === "external" || insp.sender.userUri !== senderUser) return updateResponse(UpdateResponseCode.notAllowed, {}, "every proposal of a bundle must come from the same sender");
      items.push({ message, inspection: insp });
    }
    for (const { inspection } of items) {
      const decision = authorizeProposal(view.policy, state, actor, this.#policyProposal(inspection.proposal));
      if (!decision.allowed) return updateResponse(UpdateResponseCode.notAllowed, {}, decision.reason);
    }
    const timestamp = this.#now();
    // A leave (removing the sender's own clients or its own participant entry) must be included
    // by the next committer (protocol-06 §"Leaving the room").
    const isLeave = (p: ProposalSummary) =>
      (p.type === "remove" && p.userUri === senderUser) ||
      (p.type === "appDataUpdate" && p.componentId === MimiComponentId.participant_list && p.op === "update" && p.data !== undefined &&
        this.#isSelfRemoval(view.list, decodeParticipantListUpdate(p.data), senderUser));
    const pending: PendingProposal[] = items.map(({ message, inspection }) => ({
      ref: inspection.proposalRef,
      message,
      sender: senderUser,
      acceptedAt: timestamp,
      mustInclude: isLeave(inspection.proposal),
    }));
    const next: HubRoomRecord = { ...record, pending: [...record.pending, ...pending], accepted: record.accepted + 1 };
    const fanout = fanoutFromHandshakeBundle(bundle, BigInt(timestamp));
    return this.#commitBatch(record, next, [...record.providers], [fanout], [], updateResponse(UpdateResponseCode.success, { acceptedTimestamp: BigInt(timestamp) }));
  }

  #isSelfRemoval(list: ParticipantListData, update: { removedIndices: number[]; changedRoleParticipants: unknown[]; addedParticipants: unknown[] }, user: string): boolean {
    return update.changedRoleParticipants.length === 0 && update.addedParticipants.length === 0 &&
      update.removedIndices.length === 1 && list.participants[update.removedIndices[0] ?? -1]?.user === user;
  }

  async #acceptCommit(
    record: HubRoomRecord,
    view: RoomView,
    bundle: HandshakeBundle,
    inspection: Extract<HandshakeInspection, { status: "ok" }>,
    committer: string,
    pendingByRef: Map<string, PendingProposal>,
  ): Promise<Uint8Array> {
    if (bundle.kind !== "commit") throw new MimiError("MIMI_ERR_INTERNAL", "commit inspection for a proposal bundle");
    // MIMI-PROTO-HUB-05: cached leave proposals MUST be included by the next committer.
    const committed = new Set(inspection.committedProposalRefs);
    for (const p of record.pending) {
      if (p.mustInclude && !committed.has(hex(p.ref))) {
        return updateResponse(UpdateResponseCode.invalidProposal, { invalidProposals: [p.ref] }, "the commit must include the pending leave proposals");
      }
    }
    // The policy sees each proposal with its sender: by-reference ones with their proposer.
    const proposals: PolicyProposal[] = [];
    for (const p of inspection.proposals) {
      const byRef = p.ref !== undefined && pendingByRef.has(p.ref);
      proposals.push(this.#policyProposal(p, byRef ? actorOf(p.sender, committer) : undefined));
    }
    // MIMI-PROTO-HUB-03: every participant-list change and every Add/Remove is authorised by
    // room policy (room-policy-03); banned or removed users cannot commit.
    const decision = authorizeCommit(view.policy, { participantList: view.list, activeClients: view.activeClients, roomMetadata: view.metadata }, {
      committer,
      external: inspection.sender.kind === "new_member_commit",
      proposals,
    });
    if (!decision.allowed) {
      this.#log.info({ roomId: record.roomId, rule: decision.rule, code: decision.code }, "commit refused by room policy");
      return updateResponse(UpdateResponseCode.notAllowed, {}, decision.reason);
    }
    // The committer sends the new GroupInfo and the full tree (protocol-06 §5.3).
    if (bundle.groupInfoOption.representation !== 1 || bundle.ratchetTreeOption.representation !== RatchetTreeRepresentation.full) {
      return updateResponse(UpdateResponseCode.notAllowed, {}, "this hub needs the full GroupInfo and the full ratchet tree with every commit");
    }
    const newGroupInfo = (bundle.groupInfoOption as { groupInfo: { bytes: Uint8Array } }).groupInfo.bytes;
    const newTree = (bundle.ratchetTreeOption as { ratchetTree: RatchetTreeBytes }).ratchetTree.bytes;
    let after: HubRoomSnapshot;
    try {
      after = await verifyCommitOutcome(view.snapshot, bundle.proposalOrCommit.bytes, inspection, newGroupInfo, newTree);
    } catch (err) {
      if (isMimiError(err) && err.code.startsWith("MIMI_ERR_MLS_")) return updateResponse(UpdateResponseCode.notAllowed, {}, `the new GroupInfo does not follow from the commit: ${err.message}`);
      throw err;
    }
    const afterView = roomViewOf(after);
    // MIMI-PROTO-HUB-06: Welcomes go to the providers that issued the KeyPackages.
    const adds = inspection.proposals.filter((p): p is ProposalSummary & { type: "add" } => p.type === "add");
    const welcomeTargets = new Map<string, Uint8Array[]>();
    if (adds.length > 0) {
      if (!bundle.welcome) return updateResponse(UpdateResponseCode.notAllowed, {}, "a commit with Add proposals needs its Welcome");
      const refs = welcomeKeyPackageRefs(bundle.welcome.bytes);
      const added = new Set(adds.map((a) => hex(a.keyPackageRef)));
      if (refs.length !== added.size || refs.some((r) => !added.has(hex(r)))) {
        return updateResponse(UpdateResponseCode.notAllowed, {}, "the Welcome does not match the added KeyPackages");
      }
      for (const add of adds) {
        const route = await this.#hubRoute(add.keyPackageRef);
        const provider = route ?? providerOf(add.userUri);
        if (route === undefined && provider !== this.#d.domain) {
          return updateResponse(UpdateResponseCode.notAllowed, {}, `KeyPackage ${hex(add.keyPackageRef).slice(0, 16)}… was not claimed through this hub`);
        }
        welcomeTargets.set(provider, [...(welcomeTargets.get(provider) ?? []), add.keyPackageRef]);
      }
    }
    const refused = await this.#consentRefusal(record.roomId, committer, view.list, afterView.list, adds);
    if (refused !== undefined) {
      this.#log.info({ roomId: record.roomId, committer, target: refused }, "participant addition refused: no consent");
      return updateResponse(UpdateResponseCode.notAllowed, {}, `MIMI-PROTO-CONSENT-15: ${refused} has not consented (through its provider) to be added by ${committer}`);
    }
    const timestamp = this.#now();
    const beforeDomains = domainsOf(view.list);
    const afterDomains = domainsOf(afterView.list);
    // Removed clients SHOULD receive the commit that removes them: fan out to both sets.
    const targets = [...new Set([...beforeDomains, ...afterDomains])];
    const next: HubRoomRecord = {
      ...record,
      epoch: record.epoch + 1,
      groupInfo: newGroupInfo,
      ratchetTree: newTree,
      pending: [],
      providers: [...afterDomains],
      accepted: record.accepted + 1,
    };
    const messages: FanoutMessage[] = [fanoutFromHandshakeBundle(bundle, BigInt(timestamp))];
    const welcomes: { provider: string; message: FanoutMessage }[] = [];
    if (bundle.welcome) {
      const welcome = fanoutWelcome(bundle.welcome, { representation: RatchetTreeRepresentation.full, ratchetTree: bundle.ratchetTreeOption.ratchetTree }, BigInt(timestamp));
      for (const provider of welcomeTargets.keys()) welcomes.push({ provider, message: welcome });
    }
    const res = await this.#commitBatch(record, next, targets, messages, welcomes, updateResponse(UpdateResponseCode.success, { acceptedTimestamp: BigInt(timestamp) }));
    this.#views.set(record.roomId, afterView);
    this.#log.info({ roomId: record.roomId, epoch: next.epoch, committer, proposals: inspection.proposals.length }, "commit accepted");
    return res;
  }

  /**
   * MIMI-PROTO-CONSENT-15 (protocol-06 §5.7: "the hub also refuses a participant-list add for a
   * target whose provider has not granted consent"): every participant the commit adds (other
   * than the committer) must be covered, either
   *  (a) by Adds for that user whose KeyPackages were all claimed through this hub for this room
   *      with a success answer of the target's provider (which answers success only once its
   *      consent gate admitted the requester: consent, implicit consent, or its pre-consent policy;
   *      the hub records KeyPackageRef → provider and room from that answer), or
   *  (b) by this provider's own knowledge (HubConsentCheck: a grant in its consent store, implicit
   *      consent, consent not enforced for a local target).
   * Returns the first user that is not covered.
   */
  async #consentRefusal(roomId: string, committer: string, before: ParticipantListData, after: ParticipantListData, adds: readonly (ProposalSummary & { type: "add" })[]): Promise<string | undefined> {
    const check = this.#d.consent;
    if (check === undefined) return undefined;
    const had = new Set(before.participants.map((p) => p.user));
    const added = [...new Set(after.participants.map((p) => p.user))].filter((u) => !had.has(u) && u !== committer);
    for (const user of added) {
      const mine = adds.filter((a) => a.userUri === user);
      let viaHub = mine.length > 0;
      for (const add of mine) {
        const route = await this.#hubRouteRecord(add.keyPackageRef);
        if (route === undefined || route.provider !== providerOf(user) || (route.roomId !== undefined && route.roomId !== roomId)) viaHub = false;
      }
      if (viaHub) continue;
      if (await check.admitsAdd(committer, user, roomId)) continue;
      return user;
    }
    return undefined;
  }

  async #hubRouteRecord(ref: Uint8Array): Promise<{ provider: string; roomId?: string } | undefined> {
    const route = await this.#d.store.namespace("routes").typed(cborCodec<{ provider: string; roomId?: string; expiresAt: number }>()).get(`hub/${hex(ref)}`);
    return route !== undefined && route.expiresAt > this.#now() ? route : undefined;
  }

  async #hubRoute(ref: Uint8Array): Promise<string | undefined> {
    const route = (await this.#d.store.namespace("routes").typed(cborCodec<{ provider: string; expiresAt: number }>()).get(`hub/${hex(ref)}`)) ?? undefined;
    return route && route.expiresAt > this.#now() ? route.provider : undefined;
  }

  /**
   * Writes the new room record, the fanout (outbox for peers, inbox for local users) and the
   * answer in one atomic batch, with compare-and-set on the record so no second writer (even in
   * another process sharing the store) can slip in an epoch (MIMI-PROTO-HUB-01).
   */
  async #commitBatch(
    before: HubRoomRecord,
    next: HubRoomRecord,
    targets: readonly string[],
    messages: readonly FanoutMessage[],
    welcomes: readonly { provider: string; message: FanoutMessage }[],
    response: Uint8Array,
  ): Promise<Uint8Array> {
    const plan: FanoutTarget[] = targets.map((provider) => ({ provider, messages }));
    for (const w of welcomes) plan.push({ provider: w.provider, messages: [w.message] });
    await this.#writeWithFanout(before, next, plan, []);
    return response;
  }

  /**
   * Writes the new room record, the fanout (outbox for peers, inbox for local users) and any
   * extra ops in one atomic batch, with compare-and-set on the record so no second writer (even
   * in another process sharing the store) can slip in an epoch (MIMI-PROTO-HUB-01).
   */
  async #writeWithFanout(before: HubRoomRecord, next: HubRoomRecord | undefined, plan: readonly FanoutTarget[], extra: readonly BatchOp[]): Promise<void> {
    const roomId = before.roomId;
    const keys = await this.#d.fanout.lockKeys(roomId, plan);
    const done = await this.#d.store.withLock(keys, async () => {
      const { ops, done } = await this.#d.fanout.ops(roomId, plan);
      if (next === undefined) {
        // An application message changes no room state: no record rewrite, just the fanout.
        await this.#d.store.batch([...ops, ...extra]);
        return done;
      }
      const ns = this.#rooms;
      const result = await this.#d.store.compareAndSet(ns.name, `hub/${roomId}`, ns.encode(before), ns.encode(next), [...ops, ...extra]);
      if (!result.ok) throw new MimiError("MIMI_ERR_STORAGE_LOCK_TIMEOUT", `room ${roomId} changed concurrently; retry`);
      return done;
    });
    done();
  }

  // ---- /submitMessage (protocol-06 §5.4) -------------------------------------------------------

  async submitMessage(roomId: string, body: Uint8Array, from: string): Promise<Uint8Array> {
    const request = decodeExact(SubmitMessageRequest, body);
    const sendingUri = request.sendingUri.uri;
    // Keyed per room, so the accepted messages of a room can be counted (acceptedMessages).
    const dedupeKey = `submit/${roomKey(roomId)}/${hex(sha256(new TextEncoder().encode(from), request.appMessage.bytes))}`;
    return this.#d.store.withLock(`room:${roomId}`, async () => {
      // A retried submission gets the same answer: accepted once means delivered once.
      const earlier = await this.#submissions.get(dedupeKey);
      if (earlier) return earlier;
      const record = await this.record(roomId);
      if (!record) throw new MimiError("MIMI_ERR_ROOM_NOT_FOUND", `no room ${roomId} on this hub`);
      const view = await this.#view(record);
      let sender: string;
      try {
        sender = parseMimiUri(sendingUri).uri;
      } catch {
        return submitResponse(SubmitResponseCode.notAllowed);
      }
      // The relaying provider vouches for its own users only.
      if (providerOf(sender) !== from) return submitResponse(SubmitResponseCode.notAllowed);
      const header = privateMessageHeader(request.appMessage.bytes);
      if (hex(header.groupId) !== hex(record.groupId)) return submitResponse(SubmitResponseCode.notAllowed);
      const epoch = Number(header.epoch);
      // notAllowed also covers nonsense such as an epoch newer than the hub's (protocol-06 §5.4).
      if (epoch > record.epoch) return submitResponse(SubmitResponseCode.notAllowed);
      if (epoch < record.epoch - APP_MESSAGE_EPOCH_TOLERANCE) return submitResponse(SubmitResponseCode.epochTooOld, { currentEpoch: BigInt(record.epoch) });
      // MIMI-PROTO-HUB-04: a banned, removed or silenced user cannot send.
      const decision = authorizeSend(view.policy, view.list, sender, { activeClients: view.activeClients });
      if (!decision.allowed) {
        this.#log.info({ roomId, rule: decision.rule, code: decision.code }, "message refused by room policy");
        return submitResponse(SubmitResponseCode.notAllowed);
      }
      const timestamp = this.#now();
      const fanout: FanoutMessage = { kind: "application", timestamp: BigInt(timestamp), message: request.appMessage, frank: undefined };
      const response = submitResponse(SubmitResponseCode.accepted, { acceptedTimestamp: BigInt(timestamp), frank: undefined });
      // MIMI-PROTO-HUB-07: an accepted message is a commitment to deliver: the answer is given
      // only after the fanout is stored (persist before acknowledging).
      await this.#writeWithFanout(record, undefined, record.providers.map((provider) => ({ provider, messages: [fanout] })), [this.#submissions.putOp(dedupeKey, response)]);
      return response;
    });
  }

  // ---- /keyMaterial (protocol-06 §5.2) ---------------------------------------------------------

  /**
   * keyMaterial arriving at this provider: answered here when the target user is ours, relayed
   * to the target's provider when the room (roomId in the request) is hosted here. The hub
   * remembers KeyPackageRef → target provider to route the Welcome (MIMI-PROTO-KM-12).
   */
  async keyMaterial(targetUser: string, body: Uint8Array, from: string): Promise<Uint8Array> {
    const request = decodeExact(KeyMaterialRequest, body);
    if (request.targetUser.uri !== targetUser) throw new MimiError("MIMI_ERR_HTTP_BAD_REQUEST", "targetUser in the path and the body differ");
    const requester = request.requestingUser.uri;
    const roomId = request.roomId.uri;
    const hostsRoom = roomId !== "" && this.isHubOf(roomId);
    // Who may ask: the requester's own provider, or the hub of the room (relaying).
    const allowedFrom = providerOf(requester) === from || (roomId !== "" && providerOf(roomId) === from);
    if (!allowedFrom) throw new MimiError("MIMI_ERR_CLIENT_FORBIDDEN", `${from} may not claim KeyPackages for ${requester}`);
    // MIMI-PROTO-KM-13: the request is signed by the requesting client (protocol-06 §5.2).
    const sigOk = await verifyWithLabel(request.acceptableCiphersuites[0] ?? 1, request.requesterSignatureKey, KEY_MATERIAL_REQUEST_TBS_LABEL, encodeKeyMaterialRequestTBS(request), request.keyMaterialRequestSignature);
    if (!sigOk) throw new MimiError("MIMI_ERR_HTTP_BAD_REQUEST", "the KeyMaterialRequest signature does not verify");
    // …by a client of the requesting user (its credential names the user's device).
    const credentialOf = credentialUser(request.requesterCredential.bytes);
    if (!credentialOf || credentialOf.userUri !== requester) throw new MimiError("MIMI_ERR_HTTP_BAD_REQUEST", "the requester credential does not name a client of requestingUser");
    if (hostsRoom) {
      const record = await this.record(roomId);
      if (!record) throw new MimiError("MIMI_ERR_ROOM_NOT_FOUND", `no room ${roomId} on this hub`);
    } else if (providerOf(targetUser) !== this.#d.domain) {
      // Neither the hub of the room nor the target's provider: not an open relay.
      throw new MimiError("MIMI_ERR_CLIENT_FORBIDDEN", `this provider neither hosts ${roomId || "the room"} nor serves ${targetUser}`);
    }
    const answer = await this.#d.keyMaterialForTarget(targetUser, body, from);
    if (!hostsRoom) return answer;
    const response = decodeExact(KeyMaterialResponse, answer);
    const ops: BatchOp[] = [];
    const routes = this.#d.store.namespace("routes").typed(cborCodec<{ provider: string; roomId: string; expiresAt: number }>());
    for (const c of response.clients) {
      if (c.clientStatus !== 0) continue;
      const facts = keyPackageSummary((c as { keyPackage: { bytes: Uint8Array } }).keyPackage.bytes);
      ops.push(routes.putOp(`hub/${hex(facts.keyPackageRef)}`, { provider: providerOf(targetUser), roomId, expiresAt: Number(facts.notAfter) * 1000 }));
    }
    if (ops.length) await this.#d.store.batch(ops);
    return answer;
  }

  // ---- /groupInfo (protocol-06 §5.6) ----------------------------------------------------------

  async groupInfo(roomId: string, body: Uint8Array, from: string): Promise<Uint8Array> {
    const request = decodeExact(GroupInfoRequest, body);
    const record = await this.record(roomId);
    const roomIdBytes = new TextEncoder().encode(roomId);
    const refuse = (status: number) => encode(GroupInfoResponse, { protocol: Protocol.mls10, roomId: roomIdBytes, status } as GroupInfoResponse);
    if (!record) return refuse(GroupInfoCode.noSuchRoom);
    const ok = await verifyWithLabel(request.cipherSuite, request.requestingSignatureKey, GROUP_INFO_REQUEST_TBS_LABEL, encodeGroupInfoRequestTBS(request), request.signature);
    if (!ok) return refuse(GroupInfoCode.notAuthorized);
    const view = await this.#view(record);
    const identity = credentialUser(request.requestingCredential.bytes);
    if (!identity || providerOf(identity.userUri) !== from) return refuse(GroupInfoCode.notAuthorized);
    // A new device of an existing, non-banned participant (canAddOwnClient is checked again on
    // the external commit itself).
    const entry = view.list.participants.find((p) => p.user === identity.userUri);
    if (!entry || entry.roleIndex === 1) return refuse(GroupInfoCode.notAuthorized);
    const tbe = encode(GroupInfoRatchetTreeTBE, {
      groupInfo: { bytes: record.groupInfo } as never,
      ratchetTreeOption: { representation: RatchetTreeRepresentation.full, ratchetTree: { bytes: record.ratchetTree } } as never,
      pendingProposals: record.pending.map((p) => ({ proposal: asMlsMessage(p.message), hubAcceptedTime: BigInt(p.acceptedAt) })),
    });
    const sealed = await this.#d.identity.encryptWithLabel(request.groupInfoPublicKey, GROUP_INFO_ENCRYPTION_LABEL, roomIdBytes, tbe);
    const unsigned = {
      protocol: Protocol.mls10,
      roomId: roomIdBytes,
      status: GroupInfoCode.success,
      cipherSuite: record.cipherSuite,
      hubSender: { signatureKey: this.#d.identity.signatureKey, credential: { bytes: this.#d.identity.credential } },
      encryptedGroupinfoAndTree: sealed,
    };
    const signature = await this.#d.identity.sign(GROUP_INFO_RESPONSE_TBS_LABEL, encodeGroupInfoResponseTBS(unsigned as never));
    return encode(GroupInfoResponse, { ...unsigned, signature } as never);
  }
}

/** RFC 9420 §5.3: a BasicCredential is credential_type 1 followed by opaque identity<V>. */
const BasicCredential = struct("BasicCredential", [
  ["credentialType", uint16],
  ["identity", opaqueV],
]);

/** The client and user URI named by a MIMI BasicCredential (bytes of an MLS Credential). */
function credentialUser(credential: Uint8Array): { clientUri: string; userUri: string } | undefined {
  try {
    const c = decodeExact(BasicCredential, credential);
    if (c.credentialType !== 1) return undefined;
    const parsed = parseMimiUri(new TextDecoder("utf-8", { fatal: true }).decode(c.identity));
    if (parsed.kind !== "device" || parsed.segments.length !== 2) return undefined;
    return { clientUri: parsed.uri, userUri: userUri(parsed.host, parsed.segments[0] ?? "") };
  } catch {
    return undefined;
  }
}

/** The room-policy actor of a proposal's sender. */
function actorOf(sender: HandshakeSender, committer: string): Actor | undefined {
  switch (sender.kind) {
    case "member":
    case "new_member_commit":
    case "new_member_proposal":
      return sender.userUri === committer ? undefined : { kind: "user", user: sender.userUri };
    case "external":
      // An external sender (the hub) acts with the role preauthorization gives it; the hub does
      // not send proposals yet, so it holds no role.
      return { kind: "external", id: sender.providerUri, roleIndex: 0 };
  }
}
