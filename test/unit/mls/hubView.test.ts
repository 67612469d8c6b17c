// The hub's (non-member's) view of a room's MLS group: src/mls/hubView.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encode, decodeExact, opaqueV, struct, uint16, uint32, uint64, uint8 } from "../../../src/codec/index.ts";
import {
  MimiComponentId,
  addMembers,
  createClient,
  createCommit,
  createExternalSender,
  createRoomGroup,
  decodeExternalSenderKey,
  decryptWithLabel,
  encodeAppDataDictionary,
  encodeExternalSenderKey,
  encryptApplication,
  encryptWithLabel,
  exportGroupInfo,
  exportHubGroupInfo,
  externalJoin,
  externalJoinMaterial,
  generateHpkeKeyPair,
  generateKeyPackages,
  getAppDataDictionary,
  getRoomMetadata,
  groupInfoFromMessage,
  groupInfoToMessage,
  hubRoomFromGroupInfo,
  inspectHandshake,
  joinFromWelcome,
  keyPackageSummary,
  loadHubRoom,
  members,
  participantListUpdateProposal,
  privateMessageHeader,
  processMessage,
  propose,
  proposeAsExternalSender,
  roomMetadataUpdateProposal,
  signWithLabel,
  verifyCommitOutcome,
  verifyWithLabel,
  welcomeInfo,
  welcomeKeyPackageRefs,
} from "../../../src/mls/index.ts";
import type { HandshakeInspection, HubProposalSummary, HubRoomSnapshot, MlsClient, MlsGroup, RoomMetaData } from "../../../src/mls/index.ts";
import { ExtensionList } from "../../../src/mls/wire.ts";
import { addAndJoin, client, expectCommit, hub, rejectsWith, room, te, toHex, userOf } from "./helpers.ts";

const meta = (name: string): RoomMetaData => ({ roomUri: "mimi://hub.example/r/club", roomName: name, roomDescriptions: [], roomAvatar: "", roomSubject: "", roomMood: "" });

/** The hub's snapshot of a member's current epoch, as a committer would send it. */
async function snapshotOf(g: MlsGroup): Promise<HubRoomSnapshot> {
  const { groupInfo, ratchetTree } = await exportHubGroupInfo(g);
  return hubRoomFromGroupInfo(groupInfo, ratchetTree);
}

function ok(i: HandshakeInspection): Extract<HandshakeInspection, { status: "ok" }> {
  if (i.status !== "ok") assert.fail(`expected ok, got ${i.status}`);
  return i;
}

function flip(b: Uint8Array, at: number): Uint8Array {
  const c = b.slice();
  const i = at < 0 ? c.length + at : at;
  c[i] = (c[i] ?? 0) ^ 0x01;
  return c;
}

function leafOf(g: MlsGroup, name: string): number {
  const m = members(g).find((x) => x.identity?.kind === "client" && x.identity.user === name);
  assert.ok(m !== undefined, `${name} is not a member`);
  return m.leafIndex;
}

function pendingOf(...inspections: HandshakeInspection[]): Map<string, HubProposalSummary> {
  const m = new Map<string, HubProposalSummary>();
  for (const i of inspections) {
    const o = ok(i);
    if (o.kind !== "proposal") assert.fail("not a proposal");
    m.set(o.proposalRefHex, o.proposal);
  }
  return m;
}

// A bare GroupInfo, field by field (RFC 9420 §8.1 GroupContext, §12.4.3 GroupInfo), so tests can
// forge GroupInfos the committer "could" have signed.
const GroupInfoCodec = struct("GroupInfo", [
  ["version", uint16],
  ["cipherSuite", uint16],
  ["groupId", opaqueV],
  ["epoch", uint64],
  ["treeHash", opaqueV],
  ["confirmedTranscriptHash", opaqueV],
  ["gcExtensions", ExtensionList],
  ["extensions", ExtensionList],
  ["confirmationTag", opaqueV],
  ["signer", uint32],
  ["signature", opaqueV],
]);
type GroupInfoFields = ReturnType<typeof GroupInfoCodec.decode>;

async function resign(gi: Uint8Array, signer: MlsClient, change: (g: GroupInfoFields) => GroupInfoFields): Promise<Uint8Array> {
  const g = change(decodeExact(GroupInfoCodec, gi));
  const withoutSig = encode(GroupInfoCodec, { ...g, signature: new Uint8Array(0) });
  const tbs = withoutSig.subarray(0, withoutSig.length - 1); // drop the empty signature<V>
  const signature = await signWithLabel(signer.cipherSuite, signer, "GroupInfoTBS", tbs);
  return encode(GroupInfoCodec, { ...g, signature });
}

const people = ["alice", "bob", "carol", "dave", "erin"].map((u) => userOf(u));

test("MIMI-MLS-HUB-01 MIMI-MLS-HUB-02 MIMI-MLS-HUB-03 MIMI-MLS-HUB-04 snapshot from GroupInfo + tree; tampered tree, tampered signature, wrong group, embedded tree, non-participant refused", async () => {
  const alice = await client("alice");
  const g = await room(alice, people, { roomMetadata: meta("Club") });
  const { groupInfo, ratchetTree } = await exportHubGroupInfo(g);
  const s = await hubRoomFromGroupInfo(groupInfo, ratchetTree, { groupId: g.state.groupContext.groupId, epoch: 0n, cipherSuite: 1 });
  assert.equal(s.room.epoch, 0n);
  assert.equal(s.room.cipherSuite, 1);
  assert.equal(s.cipherSuiteName, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  assert.deepEqual(s.leaves.map((l) => [l.leafIndex, l.clientUri, l.userUri, l.provider]), [[0, "mimi://a.example/d/alice/phone", userOf("alice"), "a.example"]]);
  assert.equal(toHex(s.leaves[0]?.signatureKey ?? new Uint8Array(0)), toHex(alice.signaturePublicKey));
  assert.deepEqual(s.externalSenders.map((e) => [e.senderIndex, e.provider, toHex(e.signatureKey)]), [[0, "hub.example", toHex((await hub()).signaturePublicKey)]]);
  assert.equal(toHex(encodeAppDataDictionary(s.dictionary)), toHex(encodeAppDataDictionary(getAppDataDictionary(g))));
  assert.ok(s.hasExternalPub);
  assert.deepEqual(s.extensionTypes, [3, 6, 5]);
  assert.equal(toHex(s.room.groupInfo), toHex(groupInfo));

  // MIMI-MLS-HUB-02: a flipped byte in the tree (the leaf's signature, then its HPKE key) is refused.
  await rejectsWith(hubRoomFromGroupInfo(groupInfo, flip(ratchetTree, -3)), "MIMI_ERR_MLS_INVALID_MESSAGE");
  await rejectsWith(hubRoomFromGroupInfo(groupInfo, flip(ratchetTree, 6)), "MIMI_ERR_MLS_INVALID_MESSAGE");
  // MIMI-MLS-HUB-01: a flipped byte in the GroupInfo signature.
  await rejectsWith(hubRoomFromGroupInfo(flip(groupInfo, -2), ratchetTree), "MIMI_ERR_MLS_SIGNATURE_INVALID");
  // A GroupInfo signed by a key that is not the signer leaf's.
  const mallory = await client("mallory");
  await rejectsWith(
    resign(groupInfo, mallory, (x) => x).then((gi) => hubRoomFromGroupInfo(gi, ratchetTree)),
    "MIMI_ERR_MLS_SIGNATURE_INVALID",
  );
  await rejectsWith(hubRoomFromGroupInfo(groupInfo, ratchetTree, { groupId: te.encode("mimi://hub.example/g/other") }), "MIMI_ERR_MLS_INVALID_MESSAGE");
  await rejectsWith(hubRoomFromGroupInfo(groupInfo, ratchetTree, { epoch: 1n }), "MIMI_ERR_MLS_WRONG_EPOCH");
  await rejectsWith(hubRoomFromGroupInfo(new Uint8Array([...groupInfo, 0]), ratchetTree), "MIMI_ERR_MLS_INVALID_MESSAGE");
  await rejectsWith(hubRoomFromGroupInfo(groupInfo.subarray(0, 40), ratchetTree), "MIMI_ERR_MLS_INVALID_MESSAGE");
  // MIMI-MLS-HUB-03: the self-contained GroupInfo (with ratchet_tree) is not what the hub stores.
  await rejectsWith(hubRoomFromGroupInfo(groupInfoFromMessage(await exportGroupInfo(g)), ratchetTree), "MIMI_ERR_MLS_INVALID_MESSAGE");
  // ... and one without external_pub would not serve external joins.
  const noPub = await resign(groupInfo, alice, (x) => ({ ...x, extensions: x.extensions.filter((e) => e.extensionType !== 4) }));
  await rejectsWith(hubRoomFromGroupInfo(noPub, ratchetTree), "MIMI_ERR_MLS_INVALID_MESSAGE");
  assert.equal((await hubRoomFromGroupInfo(noPub, ratchetTree, {}, { requireExternalPub: false })).hasExternalPub, false);

  // MIMI-MLS-HUB-04 (MIMI-MLS-05): a member whose user is not a participant.
  const loner = await createClient("mimi://a.example/d/loner/phone", { enforceParticipants: false });
  const g2 = await createRoomGroup(loner, { groupId: "mimi://hub.example/g/loner", hubExternalSender: await hub(), components: { participantList: { participants: [{ user: userOf("bob"), roleIndex: 2 }] } } });
  const x = await exportHubGroupInfo(g2);
  await rejectsWith(hubRoomFromGroupInfo(x.groupInfo, x.ratchetTree), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");

  // Stored and re-read; a corrupted stored tree is noticed.
  const again = await loadHubRoom(s.room);
  assert.deepEqual(again.leaves, s.leaves);
  await rejectsWith(loadHubRoom({ ...s.room, ratchetTree: flip(ratchetTree, 6) }), "MIMI_ERR_MLS_STATE_CORRUPT");
  await rejectsWith(loadHubRoom({ ...s.room, epoch: 3n }), "MIMI_ERR_MLS_STATE_CORRUPT");
  await rejectsWith(loadHubRoom({ ...s.room, ratchetTree: ratchetTree.subarray(0, 20) }), "MIMI_ERR_MLS_STATE_CORRUPT");
});

test("MIMI-MLS-HUB-06 MIMI-MLS-HUB-11 MIMI-MLS-HUB-13 MIMI-MLS-HUB-14 MIMI-MLS-HUB-17 MIMI-MLS-HUB-18 a member's Add commit: sender, KeyPackages, outcome accepted, Welcome routed by KeyPackageRef", async () => {
  const [alice, bob, carol] = await Promise.all([client("alice"), client("bob", "laptop", { provider: "b.example" }), client("carol")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob", "b.example"), userOf("carol")]);
  const s0 = await snapshotOf(g0);
  const kps = [(await generateKeyPackages(bob))[0], (await generateKeyPackages(carol))[0]];
  assert.ok(kps[0] !== undefined && kps[1] !== undefined);
  const r = await addMembers(g0, kps.map((k) => k?.encoded ?? new Uint8Array(0)));

  const i = ok(await inspectHandshake(s0, r.commit));
  assert.equal(i.kind, "commit");
  assert.deepEqual(i.sender, { kind: "member", leafIndex: 0, clientUri: "mimi://a.example/d/alice/phone", userUri: userOf("alice"), provider: "a.example" });
  assert.equal(i.hasPath, false);
  assert.deepEqual(i.committedProposalRefs, []);
  assert.deepEqual(
    i.proposals.map((p) => (p.type === "add" ? [p.clientUri, p.userUri, p.provider, toHex(p.keyPackageRef)] : p.type)),
    [
      ["mimi://b.example/d/bob/laptop", userOf("bob", "b.example"), "b.example", toHex(kps[0].keyPackageRef)],
      ["mimi://a.example/d/carol/phone", userOf("carol"), "a.example", toHex(kps[1].keyPackageRef)],
    ],
  );
  // MIMI-MLS-HUB-18: the bare KeyPackage in the summary hashes to the same KeyPackageRef.
  const add0 = i.proposals[0];
  assert.ok(add0?.type === "add");
  const sum = keyPackageSummary(add0.keyPackage);
  assert.equal(toHex(sum.keyPackageRef), toHex(kps[0].keyPackageRef));
  assert.equal(toHex(keyPackageSummary(kps[0].encoded, { form: "mlsMessage" }).keyPackageRef), toHex(kps[0].keyPackageRef));
  assert.equal(sum.notAfter, kps[0].notAfter);
  assert.equal(sum.lastResort, false);
  assert.equal(sum.cipherSuite, 1);
  assert.equal(sum.clientUri, "mimi://b.example/d/bob/laptop");
  const lastResort = (await generateKeyPackages(bob, { lastResort: true }))[0];
  assert.ok(lastResort !== undefined);
  assert.equal(keyPackageSummary(lastResort.encoded, { form: "mlsMessage" }).lastResort, true);

  // MIMI-MLS-HUB-17: the Welcome names exactly the added KeyPackages (MLSMessage and bare forms).
  const refs = welcomeKeyPackageRefs(r.welcome, { form: "mlsMessage" }).map(toHex).sort();
  assert.deepEqual(refs, kps.map((k) => toHex(k?.keyPackageRef ?? new Uint8Array(0))).sort());
  assert.deepEqual(welcomeKeyPackageRefs(r.welcome.subarray(4)).map(toHex).sort(), refs);
  assert.equal(welcomeInfo(r.welcome, { form: "mlsMessage" }).cipherSuite, 1);

  // MIMI-MLS-HUB-13/-14: the committer's GroupInfo and tree are the outcome of this commit.
  const s1 = await verifyCommitOutcome(s0, r.commit, i, r.hubGroupInfo, r.ratchetTree);
  assert.equal(s1.room.epoch, 1n);
  assert.deepEqual(s1.leaves.map((l) => l.clientUri), ["mimi://a.example/d/alice/phone", "mimi://b.example/d/bob/laptop", "mimi://a.example/d/carol/phone"]);
  assert.equal(toHex(s1.treeHash), toHex(r.group.state.groupContext.treeHash));
  assert.equal(toHex(s1.confirmedTranscriptHash), toHex(r.group.state.groupContext.confirmedTranscriptHash));
  // The same outcome without the committer's tree: the hub keeps the tree it computed.
  const s1b = await verifyCommitOutcome(s0, r.commit, i, r.hubGroupInfo, undefined);
  assert.equal(toHex(s1b.room.ratchetTree), toHex(r.ratchetTree));
  // A commit the hub has seen: the joiners can use the Welcome.
  const b = await joinFromWelcome(bob, r.welcome, kps[0]);
  assert.equal(b.state.groupContext.epoch, 1n);
});

test("MIMI-MLS-HUB-05 wrong epoch is a typed answer with the current epoch; another group or a PrivateMessage handshake is refused", async () => {
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const { adder: a1, joined } = await addAndJoin(await room(alice, people), [bob]);
  const b1 = joined[0];
  assert.ok(b1 !== undefined);
  const s1 = await snapshotOf(a1);
  const stale = await propose(a1, roomMetadataUpdateProposal(meta("x")));
  const c2 = await createCommit(a1, { proposals: [roomMetadataUpdateProposal(meta("y"))] });
  const s2 = await snapshotOf(c2.group);
  assert.deepEqual(await inspectHandshake(s2, stale.message), { status: "wrongEpoch", kind: "proposal", messageEpoch: 1n, currentEpoch: 2n });
  assert.deepEqual(await inspectHandshake(s2, c2.commit), { status: "wrongEpoch", kind: "commit", messageEpoch: 1n, currentEpoch: 2n });
  const other = await snapshotOf(await room(await client("zed"), [userOf("zed")]));
  await rejectsWith(inspectHandshake(other, stale.message), "MIMI_ERR_MLS_INVALID_MESSAGE");
  const priv = await createCommit(b1, { publicMessage: false });
  await rejectsWith(inspectHandshake(s1, priv.commit), "MIMI_ERR_MLS_INVALID_MESSAGE");
  await rejectsWith(inspectHandshake(s1, new Uint8Array([0, 1, 0, 1, 7])), "MIMI_ERR_MLS_INVALID_MESSAGE");
  await rejectsWith(inspectHandshake(s1, new Uint8Array([...stale.message, 0])), "MIMI_ERR_MLS_INVALID_MESSAGE");
  // PrivateMessage headers are what the hub sees of application messages.
  const app = await encryptApplication(b1, te.encode("hello"));
  const h = privateMessageHeader(app.message);
  assert.deepEqual([toHex(h.groupId), h.epoch, h.contentType], [toHex(a1.state.groupContext.groupId), 1n, "application"]);
  assert.throws(() => privateMessageHeader(stale.message), /PrivateMessage/);
});

test("MIMI-MLS-HUB-06 MIMI-MLS-HUB-07 MIMI-MLS-HUB-09 MIMI-MLS-HUB-12 member and external proposals: senders, signatures, forged signatures, ProposalRefs, refs resolved in the commit", async () => {
  const h = await hub();
  const [alice, bob, carol] = await Promise.all([client("alice"), client("bob"), client("carol")]);
  const { adder: a1, joined } = await addAndJoin(await room(alice, people, { roomMetadata: meta("Club") }), [bob, carol]);
  const b1 = joined[0];
  assert.ok(b1 !== undefined);
  const s1 = await snapshotOf(a1);

  // A member's proposal: bob renames the room.
  const p = await propose(b1, roomMetadataUpdateProposal(meta("Bob's club")));
  const ip = ok(await inspectHandshake(s1, p.message));
  assert.ok(ip.kind === "proposal");
  assert.deepEqual(ip.sender, { kind: "member", leafIndex: 1, clientUri: "mimi://a.example/d/bob/phone", userUri: userOf("bob"), provider: "a.example" });
  assert.equal(ip.proposal.type, "appDataUpdate");
  assert.ok(ip.proposal.type === "appDataUpdate" && ip.proposal.componentId === MimiComponentId.room_metadata && ip.proposal.op === "update" && ip.proposal.data !== undefined);
  assert.equal(ip.proposal.ref, ip.proposalRefHex);
  assert.equal(ip.proposal.epoch, 1n);
  // MIMI-MLS-HUB-09: the ProposalRef is the one the members compute (ts-mls keys pending proposals by it).
  const a2 = (await processMessage(a1, p.message)).group;
  assert.deepEqual(Object.keys(a2.state.unappliedProposals), [Buffer.from(ip.proposalRef).toString("base64")]);

  // The hub's own external proposal, made from the GroupInfo it stores: remove carol.
  const hubRemove = await proposeAsExternalSender(h, groupInfoToMessage(s1.room.groupInfo), { kind: "remove", leafIndex: leafOf(a1, "carol") });
  const ie = ok(await inspectHandshake(s1, hubRemove));
  assert.deepEqual(ie.sender, { kind: "external", senderIndex: 0, providerUri: "mimi://hub.example", provider: "hub.example" });
  // A snapshot read back from storage (a copy, loose fields even emptied) is rebuilt from its bytes.
  const copy: HubRoomSnapshot = { ...structuredClone(s1), externalSenders: [], leaves: [] };
  assert.deepEqual(ok(await inspectHandshake(copy, hubRemove)).sender, ie.sender);
  assert.ok(ie.proposals[0]?.type === "remove" && ie.proposals[0].leafIndex === 2 && ie.proposals[0].clientUri === "mimi://a.example/d/carol/phone" && ie.proposals[0].userUri === userOf("carol"));

  // MIMI-MLS-HUB-06: a flipped byte in a signature (member: before the 32-byte membership_tag;
  // external: the message ends with the signature) and in the signed content.
  await rejectsWith(inspectHandshake(s1, flip(p.message, -33 - 10)), "MIMI_ERR_MLS_SIGNATURE_INVALID");
  await rejectsWith(inspectHandshake(s1, flip(hubRemove, -5)), "MIMI_ERR_MLS_SIGNATURE_INVALID");
  const name = Buffer.from(p.message).indexOf("Bob's club");
  assert.ok(name > 0);
  await rejectsWith(inspectHandshake(s1, flip(p.message, name)), "MIMI_ERR_MLS_SIGNATURE_INVALID");
  // A proposal signed by another external sender's key is not the hub's.
  const impostor = await createExternalSender("hub.example");
  await rejectsWith(
    inspectHandshake(s1, await proposeAsExternalSender({ ...impostor, signaturePublicKey: h.signaturePublicKey }, groupInfoToMessage(s1.room.groupInfo), { kind: "remove", leafIndex: 2 })),
    "MIMI_ERR_MLS_SIGNATURE_INVALID",
  );
  // MIMI-MLS-HUB-12: a Remove of a blank leaf.
  await rejectsWith(inspectHandshake(s1, await proposeAsExternalSender(h, groupInfoToMessage(s1.room.groupInfo), { kind: "remove", leafIndex: 7 })), "MIMI_ERR_MLS_INVALID_MESSAGE");

  // Alice commits both by reference, plus carol's participant removal by value.
  const a3 = (await processMessage(a2, hubRemove)).group;
  const commit = await createCommit(a3, { proposals: [participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [2], addedParticipants: [] })] });
  // MIMI-MLS-HUB-09: without the pending proposals the references are unknown.
  const unknown = await rejectsWith(inspectHandshake(s1, commit.commit), "MIMI_ERR_MLS_UNKNOWN_PROPOSAL");
  assert.deepEqual(new Set(unknown.details?.["unknownProposalRefs"] as string[]), new Set([ip.proposalRefHex, ok(ie).proposalRefHex]));
  const pending = pendingOf(ip, ie);
  const ic = ok(await inspectHandshake(s1, commit.commit, pending));
  assert.ok(ic.kind === "commit");
  assert.deepEqual(new Set(ic.committedProposalRefs), new Set(pending.keys()));
  assert.deepEqual(ic.proposals.map((x) => [x.type, x.sender.kind]).sort(), [["appDataUpdate", "member"], ["appDataUpdate", "member"], ["remove", "external"]].sort());
  assert.equal(ic.hasPath, true);
  // The hub knows the dictionary after the commit before any member does.
  assert.equal(toHex(encodeAppDataDictionary(ic.dictionaryAfter)), toHex(encodeAppDataDictionary(getAppDataDictionary(commit.group))));
  const s2 = await verifyCommitOutcome(s1, commit.commit, ic, commit.hubGroupInfo, commit.ratchetTree);
  assert.deepEqual(s2.leaves.map((l) => l.leafIndex), [0, 1]);
  assert.equal(getRoomMetadata(commit.group)?.roomName, "Bob's club");
  // The members agree.
  const b2 = expectCommit(await processMessage((await processMessage(p.group, hubRemove)).group, commit.commit)).group;
  assert.equal(toHex(b2.state.groupContext.treeHash), toHex(s2.treeHash));
});

test("MIMI-MLS-HUB-07 a new_member_proposal Add is verified with the KeyPackage's key (a hand-built PublicMessage)", async () => {
  const alice = await client("alice");
  const dave = await client("dave");
  const g = await room(alice, people);
  const s = await snapshotOf(g);
  const kp = (await generateKeyPackages(dave))[0];
  assert.ok(kp !== undefined);
  // RFC 9420 §6: FramedContent { group_id<V>, epoch, Sender{new_member_proposal(3)}, authenticated_data<V>,
  // content_type proposal(2), Proposal{add(1), KeyPackage} }; FramedContentTBS = version, wire_format, FramedContent
  // (no GroupContext for this sender type); PublicMessage = FramedContent, signature<V>.
  const framed = new Uint8Array([
    ...encode(opaqueV, s.room.groupId),
    ...encode(uint64, s.room.epoch),
    ...encode(uint8, 3),
    ...encode(opaqueV, new Uint8Array(0)),
    ...encode(uint8, 2),
    ...encode(uint16, 1),
    ...kp.encoded.subarray(4),
  ]);
  const tbs = new Uint8Array([0, 1, 0, 1, ...framed]);
  const signature = await signWithLabel(1, dave, "FramedContentTBS", tbs);
  const message = new Uint8Array([0, 1, 0, 1, ...framed, ...encode(opaqueV, signature)]);
  const i = ok(await inspectHandshake(s, message));
  assert.equal(i.sender.kind, "new_member_proposal");
  assert.ok(i.sender.kind === "new_member_proposal" && i.sender.clientUri === "mimi://a.example/d/dave/phone" && i.sender.userUri === userOf("dave"));
  assert.ok(i.proposals[0]?.type === "add" && toHex(i.proposals[0].keyPackageRef) === toHex(kp.keyPackageRef));
  // Signed by someone else: refused.
  const forged = new Uint8Array([0, 1, 0, 1, ...framed, ...encode(opaqueV, await signWithLabel(1, alice, "FramedContentTBS", tbs))]);
  await rejectsWith(inspectHandshake(s, forged), "MIMI_ERR_MLS_SIGNATURE_INVALID");
});

test("MIMI-MLS-HUB-03 MIMI-MLS-HUB-07 MIMI-MLS-HUB-08 MIMI-MLS-HUB-14 MIMI-MLS-HUB-22 external join from the hub's GroupInfo and tree: new_member_commit sender, outcome accepted, members agree", async () => {
  const [alice, bob, dave] = await Promise.all([client("alice"), client("bob"), client("dave", "tablet")]);
  const { adder: a1, joined } = await addAndJoin(await room(alice, people), [bob]);
  const s1 = await snapshotOf(a1);
  // protocol-06 §5.6: what the hub serves (GroupInfoRatchetTreeTBE), used by the facade's externalJoin.
  const material = externalJoinMaterial(s1);
  const join = await externalJoin(dave, groupInfoToMessage(material.groupInfo), { ratchetTree: material.ratchetTree });
  const i = ok(await inspectHandshake(s1, join.commit));
  assert.ok(i.kind === "commit");
  assert.deepEqual(i.sender.kind === "new_member_commit" ? [i.sender.clientUri, i.sender.userUri, i.sender.provider] : [], ["mimi://a.example/d/dave/tablet", userOf("dave"), "a.example"]);
  assert.deepEqual(i.proposals.map((p) => p.type), ["externalInit"]);
  assert.equal(i.committerLeafIndex, 2);
  assert.equal(i.hasPath, true);
  const s2 = await verifyCommitOutcome(s1, join.commit, i, join.hubGroupInfo, join.ratchetTree);
  assert.deepEqual(s2.leaves.map((l) => l.userUri), [userOf("alice"), userOf("bob"), userOf("dave")]);
  assert.ok(s2.hasExternalPub);
  const a2 = expectCommit(await processMessage(a1, join.commit));
  assert.deepEqual(a2.addedLeafIndexes, [2]);
  const b2 = expectCommit(await processMessage(joined[0] ?? a1, join.commit));
  assert.equal(toHex(b2.group.state.groupContext.treeHash), toHex(s2.treeHash));
  // The GroupInfo of the join signed by a member other than the joiner is not the committer's.
  const other = await resign(join.hubGroupInfo, bob, (x) => ({ ...x, signer: 1 }));
  await rejectsWith(verifyCommitOutcome(s1, join.commit, i, other, join.ratchetTree), "MIMI_ERR_MLS_GROUP_INFO_MISMATCH");
  // MIMI-MLS-HUB-03: a room GroupInfo without external_pub cannot serve joins.
  const noPub = await hubRoomFromGroupInfo(await resign(s1.room.groupInfo, alice, (x) => ({ ...x, extensions: [] })), s1.room.ratchetTree, {}, { requireExternalPub: false });
  assert.throws(() => externalJoinMaterial(noPub), /external_pub/);
});

test("MIMI-MLS-HUB-13 MIMI-MLS-HUB-14 MIMI-MLS-HUB-15 MIMI-MLS-HUB-01 verifyCommitOutcome refuses another commit's GroupInfo, a wrong epoch, a dictionary without the AppDataUpdates, a tree missing an added leaf, a bad signature", async () => {
  const [alice, bob, carol] = await Promise.all([client("alice"), client("bob"), client("carol")]);
  const { adder: a1, joined } = await addAndJoin(await room(alice, people, { roomMetadata: meta("Club") }), [bob]);
  const b1 = joined[0];
  assert.ok(b1 !== undefined);
  const s1 = await snapshotOf(a1);

  // Two commits race for epoch 2: alice's (AppDataUpdate + Add carol) and bob's (another AppDataUpdate).
  const kp = (await generateKeyPackages(carol))[0];
  assert.ok(kp !== undefined);
  const ca = await addMembers(a1, [kp.encoded], { proposals: [roomMetadataUpdateProposal(meta("A"))] });
  const cb = await createCommit(b1, { proposals: [roomMetadataUpdateProposal(meta("B"))] });
  const ia = ok(await inspectHandshake(s1, ca.commit));
  const ib = ok(await inspectHandshake(s1, cb.commit));
  assert.equal(getRoomMetadata(ca.group)?.roomName, "A");

  // MIMI-MLS-HUB-13: the GroupInfo and tree of the other commit.
  const e1 = await rejectsWith(verifyCommitOutcome(s1, ca.commit, ia, cb.hubGroupInfo, cb.ratchetTree), "MIMI_ERR_MLS_GROUP_INFO_MISMATCH");
  assert.match(e1.message, /confirmed_transcript_hash|tree/);
  await rejectsWith(verifyCommitOutcome(s1, cb.commit, ib, ca.hubGroupInfo, ca.ratchetTree), "MIMI_ERR_MLS_GROUP_INFO_MISMATCH");
  // MIMI-MLS-HUB-14: the current epoch's GroupInfo again (wrong epoch).
  const e2 = await rejectsWith(verifyCommitOutcome(s1, ca.commit, ia, s1.room.groupInfo, s1.room.ratchetTree), "MIMI_ERR_MLS_GROUP_INFO_MISMATCH");
  assert.match(e2.message, /epoch/);
  // MIMI-MLS-HUB-15: a GroupInfo the committer signed whose dictionary lacks the AppDataUpdate.
  const oldDictionary = encodeAppDataDictionary(getAppDataDictionary(a1));
  const staleDict = await resign(ca.hubGroupInfo, alice, (x) => ({
    ...x,
    gcExtensions: x.gcExtensions.map((e) => (e.extensionType === 6 ? { extensionType: 6, extensionData: oldDictionary } : e)),
  }));
  const e3 = await rejectsWith(verifyCommitOutcome(s1, ca.commit, ia, staleDict, ca.ratchetTree), "MIMI_ERR_MLS_GROUP_INFO_MISMATCH");
  assert.match(e3.message, /app_data_dictionary/);
  // MIMI-MLS-HUB-14: the tree without the added leaf (the previous epoch's tree).
  const e4 = await rejectsWith(verifyCommitOutcome(s1, ca.commit, ia, ca.hubGroupInfo, s1.room.ratchetTree), "MIMI_ERR_MLS_GROUP_INFO_MISMATCH");
  assert.match(e4.message, /lacks the leaf of added client mimi:\/\/a\.example\/d\/carol\/phone/);
  // A tree_hash in the GroupInfo that the commit does not produce (signed by the committer).
  const badHash = await resign(ca.hubGroupInfo, alice, (x) => ({ ...x, treeHash: flip(x.treeHash, 0) }));
  await rejectsWith(verifyCommitOutcome(s1, ca.commit, ia, badHash, undefined), "MIMI_ERR_MLS_GROUP_INFO_MISMATCH");
  // A confirmation tag that is not the commit's.
  const badTag = await resign(ca.hubGroupInfo, alice, (x) => ({ ...x, confirmationTag: flip(x.confirmationTag, 0) }));
  await rejectsWith(verifyCommitOutcome(s1, ca.commit, ia, badTag, ca.ratchetTree), "MIMI_ERR_MLS_GROUP_INFO_MISMATCH");
  // MIMI-MLS-HUB-01: the committer's GroupInfo with a flipped signature byte.
  await rejectsWith(verifyCommitOutcome(s1, ca.commit, ia, flip(ca.hubGroupInfo, -3), ca.ratchetTree), "MIMI_ERR_MLS_SIGNATURE_INVALID");
  // The self-contained GroupInfo (with ratchet_tree) is refused for storage.
  await rejectsWith(verifyCommitOutcome(s1, ca.commit, ia, groupInfoFromMessage(ca.groupInfo), ca.ratchetTree), "MIMI_ERR_MLS_INVALID_MESSAGE");
  // An inspection of another commit.
  await rejectsWith(verifyCommitOutcome(s1, ca.commit, ib, ca.hubGroupInfo, ca.ratchetTree), "MIMI_ERR_MLS_INVALID_OPERATION");
  // And the honest outcomes are accepted.
  const sa = await verifyCommitOutcome(s1, ca.commit, ia, ca.hubGroupInfo, ca.ratchetTree);
  assert.equal(sa.leaves.length, 3);
  const sb = await verifyCommitOutcome(s1, cb.commit, ib, cb.hubGroupInfo, cb.ratchetTree);
  assert.equal(sb.signerLeafIndex, 1);
});

test("MIMI-MLS-HUB-12 MIMI-MLS-HUB-15 MIMI-MLS-HUB-16 removes and participant-list changes: blank leaves, dictionary after, invalid AppDataUpdates refused at inspection", async () => {
  const h = await hub();
  const [alice, bob, carol] = await Promise.all([client("alice"), client("bob"), client("carol")]);
  const { adder: a1 } = await addAndJoin(await room(alice, [userOf("alice"), userOf("bob"), userOf("carol")]), [bob, carol]);
  const s1 = await snapshotOf(a1);
  const c = await createCommit(a1, {
    proposals: [{ kind: "remove", leafIndex: leafOf(a1, "bob") }, participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [1], addedParticipants: [] })],
  });
  const i = ok(await inspectHandshake(s1, c.commit));
  assert.ok(i.kind === "commit");
  assert.deepEqual(i.proposals.map((p) => (p.type === "remove" ? `remove ${p.leafIndex} ${p.userUri}` : p.type)), [`remove 1 ${userOf("bob")}`, "appDataUpdate"]);
  assert.equal(i.hasPath, true);
  const s2 = await verifyCommitOutcome(s1, c.commit, i, c.hubGroupInfo, c.ratchetTree);
  assert.deepEqual(s2.leaves.map((l) => l.leafIndex), [0, 2]);

  // A participant-list change with AppDataUpdate, then an add of erin in the freed leaf.
  const d = await createCommit(c.group, { proposals: [participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: userOf("erin"), roleIndex: 2 }] })] });
  const id = ok(await inspectHandshake(s2, d.commit));
  assert.ok(id.kind === "commit");
  assert.equal(toHex(encodeAppDataDictionary(id.dictionaryAfter)), toHex(encodeAppDataDictionary(getAppDataDictionary(d.group))));
  const s3 = await verifyCommitOutcome(s2, d.commit, id, d.hubGroupInfo, d.ratchetTree);
  const erin = await client("erin");
  const kp = (await generateKeyPackages(erin))[0];
  assert.ok(kp !== undefined);
  const e = await addMembers(d.group, [kp.encoded]);
  const s4 = await verifyCommitOutcome(s3, e.commit, ok(await inspectHandshake(s3, e.commit)), e.hubGroupInfo, e.ratchetTree);
  assert.deepEqual(s4.leaves.map((l) => [l.leafIndex, l.userUri]), [[0, userOf("alice")], [1, userOf("erin")], [2, userOf("carol")]]);

  // MIMI-MLS-HUB-15: AppDataUpdates the members would refuse are refused at inspection.
  const gi = groupInfoToMessage(s4.room.groupInfo);
  await rejectsWith(inspectHandshake(s4, await proposeAsExternalSender(h, gi, { kind: "appDataUpdate", update: { componentId: 0x7777, op: 1, update: new Uint8Array([1]) } })), "MIMI_ERR_MLS_APP_DATA_INVALID");
  await rejectsWith(
    inspectHandshake(s4, await proposeAsExternalSender(h, gi, participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [9], addedParticipants: [] }))),
    "MIMI_ERR_MLS_APP_DATA_INVALID",
  );
  await rejectsWith(inspectHandshake(s4, await proposeAsExternalSender(h, gi, { kind: "appDataUpdate", update: { componentId: MimiComponentId.room_metadata, op: 2 } })), "MIMI_ERR_MLS_APP_DATA_INVALID");
});

test("MIMI-MLS-HUB-19 MIMI-MLS-HUB-20 SignWithLabel/VerifyWithLabel and EncryptWithLabel/DecryptWithLabel round trip and interoperate with ts-mls", async () => {
  const alice = await client("alice");
  const kp = (await generateKeyPackages(alice))[0];
  assert.ok(kp !== undefined);
  // RFC 9420 §10: KeyPackage = KeyPackageTBS || signature<V>; an Ed25519 signature is 64 bytes (varint 0x4040).
  const bare = kp.encoded.subarray(4);
  const tbs = bare.subarray(0, bare.length - 66);
  const sig = bare.subarray(bare.length - 64);
  assert.equal(toHex(bare.subarray(bare.length - 66, bare.length - 64)), "4040");
  assert.equal(await verifyWithLabel(1, alice.signaturePublicKey, "KeyPackageTBS", tbs, sig), true);
  assert.equal(await verifyWithLabel("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519", alice.signaturePublicKey, "KeyPackageTBS", tbs, sig, { cryptoProvider: "default" }), true);
  // Ed25519 is deterministic: our SignWithLabel gives ts-mls's signature byte for byte.
  assert.equal(toHex(await signWithLabel(1, alice, "KeyPackageTBS", tbs)), toHex(sig));
  assert.equal(toHex(await signWithLabel(1, alice.signaturePrivateKey, "KeyPackageTBS", tbs, { cryptoProvider: "default" })), toHex(sig));
  assert.equal(await verifyWithLabel(1, alice.signaturePublicKey, "KeyPackageTBS", flip(tbs, 10), sig), false);
  assert.equal(await verifyWithLabel(1, alice.signaturePublicKey, "LeafNodeTBS", tbs, sig), false);
  assert.equal(await verifyWithLabel(1, new Uint8Array(3), "KeyPackageTBS", tbs, sig), false);
  await rejectsWith(verifyWithLabel(0x9999, alice.signaturePublicKey, "x", tbs, sig), "MIMI_ERR_MLS_UNSUPPORTED_CIPHERSUITE");

  // EncryptWithLabel round trip, suites 1 and 3 (suite 1 across providers; the default provider
  // lacks the optional ChaCha20-Poly1305 package).
  for (const suite of [1, 3] as const) {
    const k = await generateHpkeKeyPair(suite);
    assert.equal(k.publicKey.length, 32);
    const ct = await encryptWithLabel(suite, k.publicKey, "GroupInfo and ratchet_tree encryption", te.encode("room"), te.encode("secret tree"));
    assert.equal(new TextDecoder().decode(await decryptWithLabel(suite, k.privateKey, "GroupInfo and ratchet_tree encryption", te.encode("room"), ct.kemOutput, ct.ciphertext, { cryptoProvider: suite === 1 ? "default" : "native" })), "secret tree");
    await rejectsWith(decryptWithLabel(suite, k.privateKey, "another label", te.encode("room"), ct.kemOutput, ct.ciphertext), "MIMI_ERR_MLS_DECRYPT_FAILED");
    await rejectsWith(decryptWithLabel(suite, k.privateKey, "GroupInfo and ratchet_tree encryption", te.encode("other room"), ct.kemOutput, ct.ciphertext), "MIMI_ERR_MLS_DECRYPT_FAILED");
  }
  // ts-mls's own EncryptWithLabel: a Welcome's EncryptedGroupSecrets (RFC 9420 §12.4.3.1,
  // label "Welcome", context encrypted_group_info) opens with the KeyPackage's init key.
  const bob = await client("bob");
  const bkp = (await generateKeyPackages(bob))[0];
  assert.ok(bkp !== undefined);
  const r = await addMembers(await room(alice, people), [bkp.encoded]);
  const w = welcomeInfo(r.welcome, { form: "mlsMessage" });
  const secret = w.secrets[0];
  assert.ok(secret !== undefined);
  const groupSecrets = await decryptWithLabel(1, bkp.privateKeys.initPrivateKey, "Welcome", w.encryptedGroupInfo, secret.kemOutput, secret.ciphertext);
  assert.equal(groupSecrets[0], 0x20); // GroupSecrets starts with joiner_secret<V>, 32 bytes
  assert.ok(groupSecrets.length >= 33);
});

test("MIMI-MLS-HUB-21 the hub's external-sender key is saved and restored, and proposals it signs after a restart verify", async () => {
  const hubKey = await createExternalSender("hub.example");
  const bytes = encodeExternalSenderKey(hubKey);
  const restored = await decodeExternalSenderKey(bytes);
  assert.equal(restored.identity.provider, "hub.example");
  assert.equal(toHex(restored.signaturePublicKey), toHex(hubKey.signaturePublicKey));
  assert.equal(toHex(restored.signaturePrivateKey), toHex(hubKey.signaturePrivateKey));
  assert.equal(restored.cipherSuite, hubKey.cipherSuite);
  const alice = await client("alice");
  const g = await createRoomGroup(alice, { groupId: "mimi://hub.example/g/restart", hubExternalSender: hubKey, components: { participantList: { participants: [{ user: userOf("alice"), roleIndex: 2 }] } } });
  const s = await snapshotOf(g);
  const prop = await proposeAsExternalSender(restored, groupInfoToMessage(s.room.groupInfo), roomMetadataUpdateProposal(meta("after restart")));
  assert.equal(ok(await inspectHandshake(s, prop)).sender.kind, "external");
  // A key file whose keys do not belong together, or that is cut short, is refused.
  const other = await createExternalSender("hub.example");
  const mixed = encodeExternalSenderKey({ ...hubKey, signaturePrivateKey: other.signaturePrivateKey });
  await rejectsWith(decodeExternalSenderKey(mixed), "MIMI_ERR_MLS_STATE_CORRUPT");
  await rejectsWith(decodeExternalSenderKey(bytes.subarray(0, bytes.length - 1)), "MIMI_ERR_MLS_STATE_CORRUPT");
});

// ---- hand-edited commits, re-signed by their sender (what a malicious committer could send) ----

const GroupContextCodec = struct("GroupContext", [
  ["version", uint16],
  ["cipherSuite", uint16],
  ["groupId", opaqueV],
  ["epoch", uint64],
  ["treeHash", opaqueV],
  ["confirmedTranscriptHash", opaqueV],
  ["gcExtensions", ExtensionList],
]);

function varint(b: Uint8Array, off: number): [number, number] {
  const first = b[off] ?? 0;
  const size = 1 << (first >> 6);
  let v = first & 0x3f;
  for (let i = 1; i < size; i++) v = v * 256 + (b[off + i] ?? 0);
  return [v, size];
}

interface CommitParts {
  groupId: Uint8Array;
  epoch: Uint8Array;
  sender: Uint8Array;
  aad: Uint8Array;
  proposals: Uint8Array;
  path: Uint8Array | undefined;
  confirmationTag: Uint8Array;
  membershipTag: Uint8Array | undefined;
}

/** Splits an MLSMessage PublicMessage commit (RFC 9420 §6.2) into its fields. */
function splitCommit(msg: Uint8Array): CommitParts {
  let off = 4;
  const opaque = (): Uint8Array => {
    const [len, size] = varint(msg, off);
    const v = msg.subarray(off + size, off + size + len);
    off += size + len;
    return v;
  };
  const groupId = opaque();
  const epoch = msg.subarray(off, off + 8);
  off += 8;
  const senderType = msg[off] ?? 0;
  const senderLen = senderType === 1 || senderType === 2 ? 5 : 1;
  const sender = msg.subarray(off, off + senderLen);
  off += senderLen;
  const aad = opaque();
  assert.equal(msg[off], 3); // content_type commit
  off += 1;
  const proposals = opaque();
  // The end: signature<V> (66), confirmation_tag<V> (33) and, for members, membership_tag<V> (33).
  const membershipTag = senderType === 1 ? msg.subarray(msg.length - 32) : undefined;
  const authStart = msg.length - (senderType === 1 ? 33 : 0) - 33 - 66;
  const path = msg[off] === 1 ? msg.subarray(off + 1, authStart) : undefined;
  const confirmationTag = msg.subarray(authStart + 66 + 1, authStart + 66 + 33);
  return { groupId, epoch, sender, aad, proposals, path, confirmationTag, membershipTag };
}

/** Re-assembles a commit and signs it with `signer` (FramedContentTBS with the GroupContext of `snapshot` for member and new_member_commit senders). */
async function joinCommit(p: CommitParts, signer: MlsClient | Uint8Array, snapshot: HubRoomSnapshot): Promise<Uint8Array> {
  const framed = new Uint8Array([
    ...encode(opaqueV, p.groupId),
    ...p.epoch,
    ...p.sender,
    ...encode(opaqueV, p.aad),
    3,
    ...encode(opaqueV, p.proposals),
    ...(p.path === undefined ? [0] : [1, ...p.path]),
  ]);
  const senderType = p.sender[0];
  const g = decodeExact(GroupInfoCodec, snapshot.room.groupInfo);
  const context = senderType === 1 || senderType === 4 ? encode(GroupContextCodec, g) : new Uint8Array(0);
  const signature = await signWithLabel(1, signer, "FramedContentTBS", new Uint8Array([0, 1, 0, 1, ...framed, ...context]));
  return new Uint8Array([
    0, 1, 0, 1,
    ...framed,
    ...encode(opaqueV, signature),
    ...encode(opaqueV, p.confirmationTag),
    ...(senderType === 1 ? encode(opaqueV, p.membershipTag ?? new Uint8Array(32)) : []),
  ]);
}

test("MIMI-MLS-HUB-07 MIMI-MLS-HUB-08 MIMI-MLS-HUB-16 re-signed commits: a commit without its required path, external commits with forbidden proposals, an external sender's commit", async () => {
  const h = await hub();
  const [alice, bob, dave] = await Promise.all([client("alice"), client("bob"), client("dave")]);
  const { adder: a1 } = await addAndJoin(await room(alice, people), [bob]);
  const s1 = await snapshotOf(a1);

  // The splitter is faithful: re-signing an unchanged commit gives the same bytes (Ed25519 is deterministic).
  const c = await createCommit(a1, { proposals: [{ kind: "remove", leafIndex: 1 }] });
  assert.equal(toHex(await joinCommit(splitCommit(c.commit), alice, s1)), toHex(c.commit));

  // MIMI-MLS-HUB-16: a Remove without a path (RFC 9420 §17.4 "Path Required").
  const noPath = await joinCommit({ ...splitCommit(c.commit), path: undefined }, alice, s1);
  const i = ok(await inspectHandshake(s1, noPath));
  assert.equal(i.hasPath, false);
  const e = await rejectsWith(verifyCommitOutcome(s1, noPath, i, c.hubGroupInfo, c.ratchetTree), "MIMI_ERR_MLS_INVALID_MESSAGE");
  assert.match(e.message, /path/);

  // MIMI-MLS-HUB-07: the same commit claimed by the hub as external sender.
  const asHub = await joinCommit({ ...splitCommit(c.commit), sender: new Uint8Array([2, 0, 0, 0, 0]) }, h.signaturePrivateKey, s1);
  assert.match((await rejectsWith(inspectHandshake(s1, asHub), "MIMI_ERR_MLS_INVALID_MESSAGE")).message, /external sender may only send proposals/);

  // MIMI-MLS-HUB-08: external commits with more than they may carry.
  const join = await externalJoin(dave, groupInfoToMessage(s1.room.groupInfo), { ratchetTree: s1.room.ratchetTree });
  const parts = splitCommit(join.commit);
  assert.equal(toHex(await joinCommit(parts, dave, s1)), toHex(join.commit));
  const withProposal = async (proposalOrRef: number[]): Promise<Uint8Array> => joinCommit({ ...parts, proposals: new Uint8Array([...parts.proposals, ...proposalOrRef]) }, dave, s1);
  // a Remove of someone else (alice, leaf 0): only the joiner's own former leaf may go (resync)
  assert.match((await rejectsWith(inspectHandshake(s1, await withProposal([1, 0, 3, 0, 0, 0, 0])), "MIMI_ERR_MLS_CREDENTIAL_REJECTED")).message, /own former leaf/);
  // an AppDataUpdate (room_metadata remove)
  assert.match((await rejectsWith(inspectHandshake(s1, await withProposal([1, 0, 8, 0, 0x23, 2])), "MIMI_ERR_MLS_INVALID_MESSAGE")).message, /must not contain a appDataUpdate/);
  // a proposal by reference
  assert.match((await rejectsWith(inspectHandshake(s1, await withProposal([2, 32, ...new Uint8Array(32)])), "MIMI_ERR_MLS_INVALID_MESSAGE")).message, /by reference/);
  // a second ExternalInit
  const externalInit = parts.proposals.subarray(0);
  assert.match((await rejectsWith(inspectHandshake(s1, await withProposal([...externalInit])), "MIMI_ERR_MLS_INVALID_MESSAGE")).message, /exactly one ExternalInit/);
  // signed by someone other than the joiner whose leaf is in the path
  await rejectsWith(inspectHandshake(s1, await joinCommit(parts, bob, s1)), "MIMI_ERR_MLS_SIGNATURE_INVALID");
});

/** The committer's LeafNode at the start of an UpdatePath (RFC 9420 §7.2), split around its credential identity and signature. */
function splitLeafNode(path: Uint8Array): { beforeIdentity: Uint8Array; identity: Uint8Array; afterIdentity: Uint8Array; signature: Uint8Array; rest: Uint8Array } {
  let off = 0;
  const skip = (): void => {
    const [len, size] = varint(path, off);
    off += size + len;
  };
  skip(); // encryption_key
  skip(); // signature_key
  off += 2; // credential_type (basic)
  const idStart = off;
  skip(); // identity<V>
  const idEnd = off;
  for (let k = 0; k < 5; k++) skip(); // capabilities
  assert.equal(path[off], 3); // leaf_node_source commit
  off += 1;
  skip(); // parent_hash
  skip(); // extensions
  const sigStart = off;
  skip(); // signature
  const [idLen, idSize] = varint(path, idStart);
  return {
    beforeIdentity: path.subarray(0, idStart),
    identity: path.subarray(idStart + idSize, idStart + idSize + idLen),
    afterIdentity: path.subarray(idEnd, sigStart),
    signature: path.subarray(sigStart),
    rest: path.subarray(off),
  };
}

test("MIMI-MLS-HUB-10 the committer's new leaf must keep its client identity and carry a valid LeafNode signature", async () => {
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const { adder: a1 } = await addAndJoin(await room(alice, people), [bob]);
  const s1 = await snapshotOf(a1);
  const c = await createCommit(a1, { proposals: [{ kind: "remove", leafIndex: 1 }] });
  const parts = splitCommit(c.commit);
  assert.ok(parts.path !== undefined);
  const leaf = splitLeafNode(parts.path);
  assert.equal(new TextDecoder().decode(leaf.identity), "mimi://a.example/d/alice/phone");
  const leafSignature = leaf.signature.subarray(0, leaf.signature.length - leaf.rest.length);

  // The same LeafNode presenting another client, correctly re-signed (LeafNodeTBS: the LeafNode
  // without its signature, then group_id<V> and leaf_index for a commit leaf, RFC 9420 §7.2).
  const body = new Uint8Array([...leaf.beforeIdentity, ...encode(opaqueV, te.encode("mimi://a.example/d/alice/laptop")), ...leaf.afterIdentity]);
  const leafTbs = new Uint8Array([...body, ...encode(opaqueV, s1.room.groupId), ...encode(uint32, 0)]);
  const renamed = new Uint8Array([...body, ...encode(opaqueV, await signWithLabel(1, alice, "LeafNodeTBS", leafTbs)), ...leaf.rest]);
  const e = await rejectsWith(inspectHandshake(s1, await joinCommit({ ...parts, path: renamed }, alice, s1)), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");
  assert.match(e.message, /keep its credential identity/);

  // The original LeafNode with a flipped signature byte: inspection passes, the outcome check refuses it.
  const flipped = new Uint8Array([...parts.path.subarray(0, parts.path.length - leaf.rest.length - leafSignature.length), ...flip(leafSignature, -4), ...leaf.rest]);
  const forged = await joinCommit({ ...parts, path: flipped }, alice, s1);
  const i = ok(await inspectHandshake(s1, forged));
  const e2 = await rejectsWith(verifyCommitOutcome(s1, forged, i, c.hubGroupInfo, c.ratchetTree), "MIMI_ERR_MLS_INVALID_MESSAGE");
  assert.match(e2.message, /leaf node/);
});

test("MIMI-MLS-HUB-05 hostile input: mutated handshakes, GroupInfos, trees, Welcomes and KeyPackages only ever produce MimiErrors or a typed answer", async () => {
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const g0 = await room(alice, people);
  const s0 = await snapshotOf(g0);
  const kp = (await generateKeyPackages(bob))[0];
  assert.ok(kp !== undefined);
  const r = await addMembers(g0, [kp.encoded]);
  const i0 = await inspectHandshake(s0, r.commit);
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const mutate = (b: Uint8Array): Uint8Array => {
    const c = b.slice();
    const kind = rnd(3);
    if (kind === 0) c[rnd(c.length)] = rnd(256);
    if (kind === 1) return c.subarray(0, rnd(c.length));
    if (kind === 2) return new Uint8Array([...c, rnd(256)]);
    return c;
  };
  const isTyped = (err: unknown): boolean => err instanceof Error && err.name === "MimiError";
  for (let n = 0; n < 150; n++) {
    const cases: (() => unknown)[] = [
      () => inspectHandshake(s0, mutate(r.commit)),
      () => hubRoomFromGroupInfo(mutate(s0.room.groupInfo), s0.room.ratchetTree),
      () => hubRoomFromGroupInfo(s0.room.groupInfo, mutate(s0.room.ratchetTree)),
      () => verifyCommitOutcome(s0, r.commit, ok(i0), mutate(r.hubGroupInfo), r.ratchetTree),
      () => welcomeKeyPackageRefs(mutate(r.welcome), { form: "mlsMessage" }),
      () => keyPackageSummary(mutate(kp.encoded.subarray(4))),
      () => privateMessageHeader(mutate(r.commit)),
    ];
    for (const fn of cases) {
      try {
        await fn();
      } catch (err) {
        assert.ok(isTyped(err), `not a MimiError: ${err instanceof Error ? err.stack : String(err)}`);
      }
    }
  }
});
