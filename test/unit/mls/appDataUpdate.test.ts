// AppDataUpdate (mls-extensions-09 §4.7) applied to the app_data_dictionary by the patched ts-mls,
// identically at every member, with the MIMI component rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MimiComponentId,
  baseRoomPolicyUpdateProposal,
  createClient,
  createCommit,
  createExternalSender,
  encodeAppDataUpdate,
  encodeParticipantListUpdate,
  epoch,
  exportGroupInfo,
  externalSenders,
  generateKeyPackages,
  getAppDataDictionary,
  getBaseRoomPolicy,
  getParticipantList,
  getRoomMetadata,
  groupInfoAppData,
  joinFromWelcome,
  leafIndexesOfUser,
  members,
  participantListUpdateProposal,
  processMessage,
  propose,
  proposeAsExternalSender,
  removeComponentProposal,
  rolesListUpdateProposal,
  roomMetadataUpdateProposal,
} from "../../../src/mls/index.ts";
import type { BaseRoomPolicy, MlsGroup, RoleData, RoomMetaData } from "../../../src/mls/index.ts";
import { addAndJoin, client, expectCommit, expectProposal, hub, rejectsWith, room, toHex, userOf } from "./helpers.ts";

const meta = (name: string): RoomMetaData => ({
  roomUri: "mimi://hub.example/r/club",
  roomName: name,
  roomDescriptions: [],
  roomAvatar: "",
  roomSubject: "",
  roomMood: "",
});

const policy: BaseRoomPolicy = {
  fixedMembership: false,
  parentDependant: false,
  parentRoom: [],
  multiDevice: true,
  maxClients: undefined,
  maxUsers: undefined,
  pseudonymsAllowed: false,
  persistentRoom: true,
  discoverable: false,
  policyComponents: [MimiComponentId.roles_list],
};

const roles: RoleData = {
  roles: [2, 3].map((roleIndex) => ({
    roleIndex,
    roleName: `r${roleIndex}`,
    roleDescription: "",
    roleCapabilities: [],
    minimumParticipantsConstraint: 0,
    maximumParticipantsConstraint: undefined,
    minimumActiveParticipantsConstraint: 0,
    maximumActiveParticipantsConstraint: undefined,
    authorizedRoleChanges: [],
  })),
};

/** Everyone's GroupContext is byte-identical (epoch, tree hash, transcript, extensions). */
function assertSameContext(groups: readonly MlsGroup[]): void {
  const [first, ...rest] = groups;
  assert.ok(first !== undefined);
  const view = (g: MlsGroup) => ({
    epoch: g.state.groupContext.epoch,
    treeHash: toHex(g.state.groupContext.treeHash),
    transcript: toHex(g.state.groupContext.confirmedTranscriptHash),
    extensions: g.state.groupContext.extensions.map((e) => [e.extensionType, toHex(e.extensionData)]),
  });
  for (const g of rest) assert.deepEqual(view(g), view(first));
}

test("MIMI-MLS-10 MIMI-MLS-11 AppDataUpdates apply identically at all three members (role change + removal + addition, several components)", async () => {
  const [alice, bob, carol, dave, erin] = await Promise.all(["alice", "bob", "carol", "dave", "erin"].map((n) => client(n)));
  assert.ok(alice && bob && carol && dave && erin);
  const g0 = await room(alice, ["alice", "bob", "carol"].map((u) => userOf(u)), { roomMetadata: meta("Club"), baseRoomPolicy: policy, rolesList: roles });
  const { adder, joined } = await addAndJoin(g0, [bob, carol]);
  let a = adder;
  const b = joined[0];
  let c = joined[1];
  assert.ok(b !== undefined && c !== undefined);
  assertSameContext([a, b, c]);

  // Commit 1 (alice): carol (index 2) becomes role 3, bob (index 1) leaves the list and his client
  // is removed, dave is appended and his client added.
  const [daveKp] = await generateKeyPackages(dave);
  assert.ok(daveKp !== undefined);
  const bobLeaves = leafIndexesOfUser(a, userOf("bob"));
  assert.deepEqual(bobLeaves, [1]);
  const c1 = await createCommit(a, {
    proposals: [
      participantListUpdateProposal({
        changedRoleParticipants: [{ userIndex: 2, roleIndex: 3 }],
        removedIndices: [1],
        addedParticipants: [{ user: userOf("dave"), roleIndex: 2 }],
      }),
      { kind: "remove", leafIndex: 1 },
      { kind: "add", keyPackage: daveKp.keyPackage },
    ],
  });
  a = c1.group;
  const rc = expectCommit(await processMessage(c, c1.commit));
  c = rc.group;
  assert.deepEqual(rc.changedComponents, [MimiComponentId.participant_list]);
  assert.deepEqual(rc.removedLeafIndexes, [1]);
  assert.equal(expectCommit(await processMessage(b, c1.commit)).removedSelf, true);
  assert.ok(c1.welcome !== undefined);
  let d = await joinFromWelcome(dave, c1.welcome, daveKp);
  assertSameContext([a, c, d]);
  assert.deepEqual(getParticipantList(d)?.participants, [
    { user: userOf("alice"), roleIndex: 2 },
    { user: userOf("carol"), roleIndex: 3 },
    { user: userOf("dave"), roleIndex: 2 },
  ]);

  // Commit 2 (carol): two components at once.
  const c2 = await createCommit(c, { proposals: [roomMetadataUpdateProposal(meta("Club 2")), baseRoomPolicyUpdateProposal({ ...policy, maxUsers: 10 })] });
  c = c2.group;
  a = expectCommit(await processMessage(a, c2.commit)).group;
  const rd = expectCommit(await processMessage(d, c2.commit));
  d = rd.group;
  assert.deepEqual(rd.changedComponents, [MimiComponentId.room_metadata, MimiComponentId.base_room_policy]);
  assertSameContext([a, c, d]);
  assert.equal(getRoomMetadata(a)?.roomName, "Club 2");
  assert.equal(getBaseRoomPolicy(d)?.maxUsers, 10);

  // Commit 3: dave proposes adding erin (a standalone proposal, by reference); alice commits it
  // together with her own inline update changing dave's role. Both updates are applied in order.
  const p = await propose(d, participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: userOf("erin"), roleIndex: 2 }] }));
  d = p.group;
  a = expectProposal(await processMessage(a, p.message)).group;
  c = expectProposal(await processMessage(c, p.message)).group;
  const c3 = await createCommit(a, { proposals: [participantListUpdateProposal({ changedRoleParticipants: [{ userIndex: 2, roleIndex: 3 }], removedIndices: [], addedParticipants: [] })] });
  a = c3.group;
  c = expectCommit(await processMessage(c, c3.commit)).group;
  d = expectCommit(await processMessage(d, c3.commit)).group;
  assertSameContext([a, c, d]);
  assert.deepEqual(
    getParticipantList(a)?.participants.map((x) => [x.user, x.roleIndex]),
    [
      [userOf("alice"), 2],
      [userOf("carol"), 3],
      [userOf("dave"), 3],
      [userOf("erin"), 2],
    ],
  );

  // Commit 4: remove a component entirely.
  const c4 = await createCommit(d, { proposals: [removeComponentProposal(MimiComponentId.room_metadata)] });
  d = c4.group;
  a = expectCommit(await processMessage(a, c4.commit)).group;
  c = expectCommit(await processMessage(c, c4.commit)).group;
  assertSameContext([a, c, d]);
  assert.equal(getRoomMetadata(c), undefined);
  assert.deepEqual(
    getAppDataDictionary(c).componentData.map((x) => x.componentId),
    [MimiComponentId.participant_list, MimiComponentId.roles_list, MimiComponentId.base_room_policy],
  );
  // the hub sees the same state in the GroupInfo of the new epoch
  assert.deepEqual(groupInfoAppData(c4.groupInfo), getAppDataDictionary(a));
  assert.equal(epoch(a), 5n);
});

test("MIMI-MLS-10 an AppDataUpdate proposal is sent in the draft's wire format (no extra length prefix)", async () => {
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob")]);
  const { adder } = await addAndJoin(g0, [bob]);
  const update = { changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: userOf("carol"), roleIndex: 2 }] };
  const p = await propose(adder, participantListUpdateProposal(update));
  // Proposal = uint16 proposal_type 0x0008, then the AppDataUpdate struct itself.
  const body = encodeAppDataUpdate({ componentId: MimiComponentId.participant_list, op: 1, update: encodeParticipantListUpdate(update) });
  const needle = "0008" + toHex(body);
  assert.ok(toHex(p.message).includes(needle), "proposal bytes contain 0x0008 || AppDataUpdate");
  assert.ok(!toHex(p.message).includes("0008" + body.length.toString(16).padStart(2, "0") + toHex(body)), "no opaque<V> wrapper");
});

test("MIMI-MLS-10 the app_data_dictionary extension is added at the end when a group has none", async () => {
  const alice = await client("alice");
  const { createRoomGroup } = await import("../../../src/mls/index.ts");
  const g = await createRoomGroup(alice, { groupId: "mimi://hub.example/g/empty", hubExternalSender: await hub() });
  // createRoomGroup always writes the dictionary; remove its only entry then add one back
  const c1 = await createCommit(g, { proposals: [roomMetadataUpdateProposal(meta("x"))] });
  assert.equal(getRoomMetadata(c1.group)?.roomName, "x");
  const c2 = await createCommit(c1.group, { proposals: [removeComponentProposal(MimiComponentId.room_metadata)] });
  assert.deepEqual(getAppDataDictionary(c2.group).componentData, []);
  // removing a component that has no state is invalid (§4.7)
  await rejectsWith(createCommit(c2.group, { proposals: [removeComponentProposal(MimiComponentId.room_metadata)] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
});

test("MIMI-MLS-13 MIMI-MLS-14 invalid combinations and unknown components are refused by the committer", async () => {
  const alice = await client("alice");
  const g = await room(alice, [userOf("alice")], { rolesList: roles, roomMetadata: meta("m") });
  const addBob = participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: userOf("bob"), roleIndex: 2 }] });
  // roles_list and participant_list in one commit (room-policy-03)
  await rejectsWith(createCommit(g, { proposals: [addBob, rolesListUpdateProposal(roles)] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  // two room_metadata updates in one commit (protocol-06)
  await rejectsWith(createCommit(g, { proposals: [roomMetadataUpdateProposal(meta("a")), roomMetadataUpdateProposal(meta("b"))] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  // update and remove of the same component (§4.7)
  await rejectsWith(createCommit(g, { proposals: [roomMetadataUpdateProposal(meta("a")), removeComponentProposal(MimiComponentId.room_metadata)] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  // an unknown component (§4.7), update or remove
  await rejectsWith(createCommit(g, { proposals: [{ kind: "appDataUpdate", update: { componentId: 0x7777, op: 1, update: new Uint8Array([1]) } }] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  await rejectsWith(createCommit(g, { proposals: [removeComponentProposal(0x7777)] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  // a participant-list update that breaks the list rules
  const err = await rejectsWith(
    createCommit(g, { proposals: [participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [5], addedParticipants: [] })] }),
    "MIMI_ERR_MLS_APP_DATA_INVALID",
  );
  assert.match(err.message, /removed index 5/);
  // nothing changed
  assert.equal(epoch(g), 0n);
});

test("MIMI-MLS-10 a receiver refuses a commit whose AppDataUpdate it cannot apply", async () => {
  // Alice knows an extra component 0x7777; Bob does not, so he must refuse the commit.
  const handler = (_current: Uint8Array | undefined, updates: readonly Uint8Array[]): Uint8Array => updates.at(-1) ?? new Uint8Array(0);
  const alice = await createClient("mimi://a.example/d/alice/phone", { componentHandlers: new Map([[0x7777, handler]]) });
  const bob = await client("bob");
  const g0 = await room(alice, [userOf("alice"), userOf("bob")]);
  const { adder, joined } = await addAndJoin(g0, [bob]);
  const b = joined[0];
  assert.ok(b !== undefined);
  const c = await createCommit(adder, { proposals: [{ kind: "appDataUpdate", update: { componentId: 0x7777, op: 1, update: new Uint8Array([9]) } }] });
  assert.equal(toHex(c.group.state.groupContext.extensions.find((e) => e.extensionType === 6)?.extensionData ?? new Uint8Array()).includes("7777" + "0109"), true);
  const err = await rejectsWith(processMessage(b, c.commit), "MIMI_ERR_MLS_APP_DATA_INVALID");
  assert.match(err.message, /not known/);
  assert.equal(epoch(b), 1n);
});

test("MIMI-MLS-15 MIMI-MLS-19 external_senders can be changed by a GroupContextExtensions proposal that keeps the app_data_dictionary", async () => {
  const h = await hub();
  const follower = await createExternalSender("b.example");
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob")], { roomMetadata: meta("m") });
  const { adder, joined } = await addAndJoin(g0, [bob]);
  let b = joined[0];
  assert.ok(b !== undefined);
  // add the follower next to the hub, together with an AppDataUpdate in the same commit
  const c1 = await createCommit(adder, { proposals: [{ kind: "externalSenders", senders: [h, follower] }, roomMetadataUpdateProposal(meta("n"))] });
  b = expectCommit(await processMessage(b, c1.commit)).group;
  assertSameContext([c1.group, b]);
  assert.deepEqual(externalSenders(b).map((s) => s.identity?.kind === "provider" && s.identity.provider), ["hub.example", "b.example"]);
  assert.equal(getRoomMetadata(b)?.roomName, "n");
  // the follower can now propose; then it is removed again (its last participant left)
  const fp = await proposeAsExternalSender(follower, await exportGroupInfo(b), roomMetadataUpdateProposal(meta("from follower")));
  b = expectProposal(await processMessage(b, fp)).group;
  const a = expectProposal(await processMessage(c1.group, fp)).group;
  const c2 = await createCommit(a, { proposals: [{ kind: "externalSenders", senders: [h] }] });
  b = expectCommit(await processMessage(b, c2.commit)).group;
  assertSameContext([c2.group, b]);
  assert.equal(getRoomMetadata(b)?.roomName, "from follower");
  assert.equal(externalSenders(b).length, 1);
  await rejectsWith(createCommit(b, { proposals: [{ kind: "externalSenders", senders: [] }] }), "MIMI_ERR_MLS_INVALID_OPERATION");
  assert.equal(members(b).length, 2);
});
