// The tracked ts-mls patch for external_senders (RFC 9420 §12.1.8.1) and the hub as external sender.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "../../../src/codec/index.ts";
import {
  ExtensionTypeId,
  ExternalSenders,
  createExternalSender,
  createRoomGroup,
  epoch,
  exportGroupInfo,
  externalSenders,
  getParticipantList,
  inspectMessage,
  members,
  participantListUpdateProposal,
  processMessage,
  proposeAsExternalSender,
  createCommit,
} from "../../../src/mls/index.ts";
import { addAndJoin, client, expectCommit, expectProposal, hub, rejectsWith, te, toHex, userOf } from "./helpers.ts";

test("MIMI-MLS-01 external_senders extension data is the RFC 9420 vector ExternalSender external_senders<V>", async () => {
  const h = await hub();
  const follower = await createExternalSender("b.example");
  const alice = await client("alice");
  const g = await createRoomGroup(alice, { groupId: "mimi://hub.example/g/enc", hubExternalSender: h, otherExternalSenders: [follower], components: {} });
  const ext = g.state.groupContext.extensions.find((e) => e.extensionType === "external_senders");
  assert.ok(ext !== undefined);

  // Expected bytes built by hand with our codec: a varint byte length, then each
  // ExternalSender { opaque signature_key<V>; Credential credential; } back to back.
  const expected = encode(ExternalSenders, [
    { signatureKey: h.signaturePublicKey, credential: { credentialType: 1, identity: te.encode("mimi://hub.example") } },
    { signatureKey: follower.signaturePublicKey, credential: { credentialType: 1, identity: te.encode("mimi://b.example") } },
  ]);
  assert.equal(toHex(ext.extensionData), toHex(expected));

  // And spelled out for the first element: 0x20 = 32-byte key, 0x0001 = basic, 0x12 = 18-byte identity.
  const first = `20${toHex(h.signaturePublicKey)}0001${"12"}${Buffer.from("mimi://hub.example").toString("hex")}`;
  const second = `20${toHex(follower.signaturePublicKey)}0001${"10"}${Buffer.from("mimi://b.example").toString("hex")}`;
  const body = first + second;
  assert.equal(body.length / 2, 54 + 52);
  assert.equal(toHex(ext.extensionData), `406a${body}`); // 106 bytes: two-byte varint 0x406a

  // The vector decodes back to both senders, in order.
  const senders = externalSenders(g);
  assert.equal(senders.length, 2);
  assert.deepEqual(senders.map((s) => (s.identity?.kind === "provider" ? s.identity.provider : "?")), ["hub.example", "b.example"]);
});

test("MIMI-MLS-02 hub external Remove and AppDataUpdate are accepted when another GroupContext extension precedes external_senders, and a member commits them", async () => {
  const h = await hub();
  const [alice, bob, carol] = await Promise.all([client("alice"), client("bob"), client("carol")]);
  const g0 = await createRoomGroup(alice, {
    groupId: "mimi://hub.example/g/remove",
    hubExternalSender: h,
    components: { participantList: { participants: ["alice", "bob", "carol"].map((u) => ({ user: userOf(u), roleIndex: 2 })) } },
  });
  // required_capabilities and app_data_dictionary come before external_senders.
  const types = g0.state.groupContext.extensions.map((e) => e.extensionType);
  assert.deepEqual(types, ["required_capabilities", ExtensionTypeId.app_data_dictionary, "external_senders"]);

  const { adder: a1, joined } = await addAndJoin(g0, [bob, carol]);
  let a = a1;
  let [b, c] = joined;
  assert.ok(b !== undefined && c !== undefined);
  const carolLeaf = members(a).find((m) => m.identity?.kind === "client" && m.identity.user === "carol")?.leafIndex;
  assert.equal(carolLeaf, 2);

  // The hub works from the GroupInfo it keeps for the room.
  const proposal = await proposeAsExternalSender(h, await exportGroupInfo(a), { kind: "remove", leafIndex: 2 });
  const info = inspectMessage(proposal);
  assert.equal(info.wireFormat, "public_message");
  assert.ok(info.wireFormat === "public_message" && info.sender.kind === "external" && info.sender.senderIndex === 0);

  const pa = expectProposal(await processMessage(a, proposal));
  assert.equal(pa.sender.kind, "external");
  assert.ok(pa.sender.kind === "external" && pa.sender.identity?.kind === "provider" && pa.sender.identity.provider === "hub.example");
  assert.deepEqual(pa.proposal.kind === "remove" ? pa.proposal.leafIndex : -1, 2);
  a = pa.group;
  b = expectProposal(await processMessage(b, proposal)).group;
  c = expectProposal(await processMessage(c, proposal)).group;

  // Bob commits the pending hub proposal (by reference). The participant list keeps carol (the
  // hub only removed her client), so the MIMI invariants hold.
  const commit = await createCommit(b, {});
  b = commit.group;
  const ra = expectCommit(await processMessage(a, commit.commit));
  a = ra.group;
  assert.deepEqual(ra.removedLeafIndexes, [2]);
  const rc = expectCommit(await processMessage(c, commit.commit));
  assert.equal(rc.removedSelf, true);
  assert.equal(epoch(a), epoch(b));
  assert.equal(members(a).length, 2);
  assert.equal(toHex(a.state.groupContext.confirmedTranscriptHash), toHex(b.state.groupContext.confirmedTranscriptHash));

  // Then the hub proposes an AppDataUpdate (carol leaves the participant list: index 2) and Alice commits it.
  const adu = await proposeAsExternalSender(
    h,
    await exportGroupInfo(a),
    participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [2], addedParticipants: [] }),
  );
  a = expectProposal(await processMessage(a, adu)).group;
  b = expectProposal(await processMessage(b, adu)).group;
  const c2 = await createCommit(a);
  a = c2.group;
  const rb = expectCommit(await processMessage(b, c2.commit));
  b = rb.group;
  assert.deepEqual(rb.changedComponents, [0x0022]);
  assert.deepEqual(getParticipantList(b)?.participants.map((p) => p.user), [userOf("alice"), userOf("bob")]);
  assert.deepEqual(getParticipantList(a), getParticipantList(b));
});

test("MIMI-MLS-02 sender_index indexes the ExternalSender vector: a follower at index 1 proposes an AppDataUpdate", async () => {
  const h = await hub();
  const follower = await createExternalSender("b.example");
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const g0 = await createRoomGroup(alice, {
    groupId: "mimi://hub.example/g/follower",
    hubExternalSender: h,
    otherExternalSenders: [follower],
    components: { participantList: { participants: [{ user: userOf("alice"), roleIndex: 2 }, { user: userOf("bob"), roleIndex: 2 }] } },
  });
  const { adder, joined } = await addAndJoin(g0, [bob]);
  let a = adder;
  let b = joined[0];
  assert.ok(b !== undefined);
  const proposal = await proposeAsExternalSender(
    follower,
    await exportGroupInfo(a),
    participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: "mimi://b.example/u/dave", roleIndex: 2 }] }),
  );
  const info = inspectMessage(proposal);
  assert.ok(info.wireFormat === "public_message" && info.sender.kind === "external" && info.sender.senderIndex === 1);
  a = expectProposal(await processMessage(a, proposal)).group;
  b = expectProposal(await processMessage(b, proposal)).group;
  const commit = await createCommit(a);
  b = expectCommit(await processMessage(b, commit.commit)).group;
  assert.deepEqual(getParticipantList(b)?.participants.map((p) => p.user), [userOf("alice"), userOf("bob"), "mimi://b.example/u/dave"]);
  assert.deepEqual(getParticipantList(commit.group), getParticipantList(b));
});

test("an external sender whose key is not in external_senders cannot propose", async () => {
  const stranger = await createExternalSender("evil.example");
  const alice = await client("alice");
  const g = await createRoomGroup(alice, { groupId: "mimi://hub.example/g/stranger", hubExternalSender: await hub(), components: {} });
  await rejectsWith(proposeAsExternalSender(stranger, await exportGroupInfo(g), { kind: "remove", leafIndex: 0 }), "MIMI_ERR_MLS_INVALID_OPERATION");
});
