// MIMI component structs (protocol-06, room-policy-03) and the app_data_dictionary / AppDataUpdate
// structs (mls-extensions-09 §4.6, §4.7): byte layouts, round trips and the participant-list rules.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  applyParticipantListUpdates,
  decodeAppDataDictionary,
  decodeAppDataUpdate,
  decodeBaseRoomPolicy,
  decodeParticipantListData,
  decodeParticipantListUpdate,
  decodeRoleData,
  decodeRoomMetaData,
  diffParticipantLists,
  encodeAppDataDictionary,
  encodeAppDataUpdate,
  encodeBaseRoomPolicy,
  encodeParticipantListData,
  encodeParticipantListUpdate,
  encodeRoleData,
  encodeRoomMetaData,
  makeAppDataDictionary,
} from "../../../src/mls/index.ts";
import type { BaseRoomPolicy, ParticipantListData, RoleData, RoomMetaData } from "../../../src/mls/index.ts";
import { hex, throwsWith, toHex } from "./helpers.ts";

const ascii = (s: string): string => Buffer.from(s, "utf8").toString("hex");
const ALICE = "mimi://a.example/u/alice";
const BOB = "mimi://b.example/u/bob";
const CAROL = "mimi://a.example/u/carol";
const DAVE = "mimi://a.example/u/dave";

test("participant_list ParticipantListData: hand-checked bytes and round trip", () => {
  const data: ParticipantListData = { participants: [{ user: ALICE, roleIndex: 2 }, { user: BOB, roleIndex: 1 }] };
  const bytes = encodeParticipantListData(data);
  // participants<V>: 56 bytes = 0x38; UserRolePair = opaque user<V> (24 = 0x18 / 22 = 0x16) + uint32 role_index
  const expected = "38" + "18" + ascii(ALICE) + "00000002" + "16" + ascii(BOB) + "00000001";
  assert.equal(toHex(bytes), expected);
  assert.deepEqual(decodeParticipantListData(bytes), data);
  throwsWith(() => decodeParticipantListData(hex(expected + "00")), "MIMI_ERR_CODEC_TRAILING_BYTES");
  throwsWith(() => decodeParticipantListData(hex(expected.slice(0, -2))), "MIMI_ERR_CODEC_TRUNCATED");
});

test("participant_list ParticipantListUpdate: hand-checked bytes and round trip", () => {
  const update = { changedRoleParticipants: [{ userIndex: 1, roleIndex: 3 }], removedIndices: [0], addedParticipants: [{ user: CAROL, roleIndex: 2 }] };
  const bytes = encodeParticipantListUpdate(update);
  const expected = "08" + "00000001" + "00000003" + "04" + "00000000" + "1d" + "18" + ascii(CAROL) + "00000002";
  assert.equal(toHex(bytes), expected);
  assert.deepEqual(decodeParticipantListUpdate(bytes), update);
});

test("MIMI-MLS-18 ParticipantListData rejects role_index 0, duplicates and non-canonical user URIs", () => {
  throwsWith(() => encodeParticipantListData({ participants: [{ user: ALICE, roleIndex: 0 }] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => encodeParticipantListData({ participants: [{ user: ALICE, roleIndex: 2 }, { user: ALICE, roleIndex: 3 }] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => encodeParticipantListData({ participants: [{ user: "mimi://A.example/u/alice", roleIndex: 2 }] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => encodeParticipantListData({ participants: [{ user: "mimi://a.example/d/alice/phone", roleIndex: 2 }] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  // the same checks apply to bytes received from a peer
  const dup = "38" + "18" + ascii(ALICE) + "00000002" + "18" + ascii(ALICE) + "00000003";
  throwsWith(() => decodeParticipantListData(hex(dup.replace(/^38/, "3a"))), "MIMI_ERR_MLS_APP_DATA_INVALID");
});

test("MIMI-MLS-11 participant list updates: role changes, then removals, then additions, indexes into the current list", () => {
  const current: ParticipantListData = { participants: [ALICE, BOB, CAROL].map((user) => ({ user, roleIndex: 2 })) };
  // carol (index 2) changes role, alice (index 0) is removed: both indexes refer to the list
  // before this update; dave is appended at the end.
  const next = applyParticipantListUpdates(current, [
    { changedRoleParticipants: [{ userIndex: 2, roleIndex: 3 }], removedIndices: [0], addedParticipants: [{ user: DAVE, roleIndex: 2 }] },
  ]);
  assert.deepEqual(next.participants, [
    { user: BOB, roleIndex: 2 },
    { user: CAROL, roleIndex: 3 },
    { user: DAVE, roleIndex: 2 },
  ]);
  // Several updates in one commit apply in order; each indexes the list left by the previous one.
  const twoSteps = applyParticipantListUpdates(current, [
    { changedRoleParticipants: [], removedIndices: [0], addedParticipants: [] },
    { changedRoleParticipants: [{ userIndex: 0, roleIndex: 5 }], removedIndices: [], addedParticipants: [] },
  ]);
  assert.deepEqual(twoSteps.participants[0], { user: BOB, roleIndex: 5 });
  // diff gives an update that reproduces the target
  const d = diffParticipantLists(current, next);
  assert.deepEqual(applyParticipantListUpdates(current, [d]), next);
  // the input is not modified
  assert.equal(current.participants.length, 3);
  assert.equal(current.participants[2]?.roleIndex, 2);
});

test("MIMI-MLS-12 a commit must not operate on the same user more than once", () => {
  const current: ParticipantListData = { participants: [ALICE, BOB].map((user) => ({ user, roleIndex: 2 })) };
  const bad = [
    [{ changedRoleParticipants: [{ userIndex: 0, roleIndex: 3 }], removedIndices: [0], addedParticipants: [] }],
    [{ changedRoleParticipants: [{ userIndex: 0, roleIndex: 3 }, { userIndex: 0, roleIndex: 4 }], removedIndices: [], addedParticipants: [] }],
    [{ changedRoleParticipants: [], removedIndices: [1, 1], addedParticipants: [] }],
    [{ changedRoleParticipants: [], removedIndices: [0], addedParticipants: [{ user: ALICE, roleIndex: 2 }] }],
    [
      { changedRoleParticipants: [{ userIndex: 1, roleIndex: 3 }], removedIndices: [], addedParticipants: [] },
      { changedRoleParticipants: [], removedIndices: [1], addedParticipants: [] },
    ],
    [{ changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: DAVE, roleIndex: 2 }, { user: DAVE, roleIndex: 3 }] }],
  ];
  for (const updates of bad) throwsWith(() => applyParticipantListUpdates(current, updates), "MIMI_ERR_MLS_APP_DATA_INVALID");
  // out of range, reserved role 0, already a participant
  throwsWith(() => applyParticipantListUpdates(current, [{ changedRoleParticipants: [{ userIndex: 2, roleIndex: 3 }], removedIndices: [], addedParticipants: [] }]), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => applyParticipantListUpdates(current, [{ changedRoleParticipants: [], removedIndices: [7], addedParticipants: [] }]), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => applyParticipantListUpdates(current, [{ changedRoleParticipants: [{ userIndex: 0, roleIndex: 0 }], removedIndices: [], addedParticipants: [] }]), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => applyParticipantListUpdates(current, [{ changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: BOB, roleIndex: 2 }] }]), "MIMI_ERR_MLS_APP_DATA_INVALID");
});

test("room_metadata RoomMetaData round trip; UTF8String rejects NUL and Uri must parse", () => {
  const meta: RoomMetaData = {
    roomUri: "mimi://hub.example/r/clubhouse",
    roomName: "Club house ☕",
    roomDescriptions: [{ mediaType: "", languageTag: "en", descriptionContent: "A place" }],
    roomAvatar: "https://hub.example/a.png",
    roomSubject: "",
    roomMood: "calm",
  };
  const bytes = encodeRoomMetaData(meta);
  assert.deepEqual(decodeRoomMetaData(bytes), meta);
  assert.equal(toHex(bytes.subarray(0, 31)), "1e" + ascii("mimi://hub.example/r/clubhouse"));
  throwsWith(() => encodeRoomMetaData({ ...meta, roomName: "a\u0000b" }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => encodeRoomMetaData({ ...meta, roomAvatar: "not a uri" }), "MIMI_ERR_MLS_APP_DATA_INVALID");
  // MIMI-MLS-21: NUL from a peer is refused too
  const withNul = encodeRoomMetaData({ ...meta, roomMood: "xx" });
  const i = withNul.length - 2;
  withNul[i] = 0;
  throwsWith(() => decodeRoomMetaData(withNul), "MIMI_ERR_MLS_APP_DATA_INVALID");
});

test("roles_list RoleData round trip; a role 0 (no_role) entry is allowed, duplicates are refused", () => {
  const roles: RoleData = {
    roles: [
      {
        roleIndex: 1,
        roleName: "banned",
        roleDescription: "",
        roleCapabilities: [],
        minimumParticipantsConstraint: 0,
        maximumParticipantsConstraint: undefined,
        minimumActiveParticipantsConstraint: 0,
        maximumActiveParticipantsConstraint: 0,
        authorizedRoleChanges: [],
      },
      {
        roleIndex: 2,
        roleName: "member",
        roleDescription: "ordinary participant",
        roleCapabilities: [0x0000, 0x0100, 0x0101],
        minimumParticipantsConstraint: 1,
        maximumParticipantsConstraint: 100,
        minimumActiveParticipantsConstraint: 0,
        maximumActiveParticipantsConstraint: undefined,
        authorizedRoleChanges: [{ fromRoleIndex: 0, targetRoleIndexes: [2] }],
      },
    ],
  };
  const bytes = encodeRoleData(roles);
  assert.deepEqual(decodeRoleData(bytes), roles);
  // first Role: uint32 1, "banned", "", caps<V> empty, 0, absent, 0, present 0, changes<V> empty
  assert.equal(toHex(bytes.subarray(2, 2 + 28)), "00000001" + "06" + ascii("banned") + "00" + "00" + "00000000" + "00" + "00000000" + "01" + "00000000" + "00");
  // room-policy-03 Appendix A: a role 0 (`no_role`) entry gives capabilities to non-participants.
  const noRole = { roles: [{ ...roles.roles[0]!, roleIndex: 0, roleName: "no_role" }, ...roles.roles] };
  assert.deepEqual(decodeRoleData(encodeRoleData(noRole)), noRole);
  throwsWith(() => encodeRoleData({ roles: [roles.roles[1]!, roles.roles[1]!] }), "MIMI_ERR_MLS_APP_DATA_INVALID");
});

test("base_room_policy BaseRoomPolicy: hand-checked bytes and round trip", () => {
  const policy: BaseRoomPolicy = {
    fixedMembership: true,
    parentDependant: false,
    parentRoom: [],
    multiDevice: true,
    maxClients: undefined,
    maxUsers: 50,
    pseudonymsAllowed: false,
    persistentRoom: true,
    discoverable: false,
    policyComponents: [0x0025, 0x0027],
  };
  const bytes = encodeBaseRoomPolicy(policy);
  assert.equal(toHex(bytes), "01" + "00" + "00" + "01" + "00" + "01" + "00000032" + "00" + "01" + "00" + "04" + "0025" + "0027");
  assert.deepEqual(decodeBaseRoomPolicy(bytes), policy);
  const withParent = { ...policy, parentDependant: true, parentRoom: ["mimi://hub.example/r/parent"] };
  assert.deepEqual(decodeBaseRoomPolicy(encodeBaseRoomPolicy(withParent)), withParent);
  const badBool = bytes.slice();
  badBool[0] = 2;
  throwsWith(() => decodeBaseRoomPolicy(badBool), "MIMI_ERR_CODEC_INVALID_ENUM");
});

test("MIMI-MLS-09 AppDataDictionary is sorted by component_id with unique entries; AppDataUpdate layout", () => {
  const d = makeAppDataDictionary([
    { componentId: 0x0023, data: new Uint8Array(0) },
    { componentId: 0x0022, data: hex("aa") },
  ]);
  const bytes = encodeAppDataDictionary(d);
  assert.equal(toHex(bytes), "07" + "0022" + "01aa" + "0023" + "00");
  assert.deepEqual(decodeAppDataDictionary(bytes), d);
  throwsWith(() => decodeAppDataDictionary(hex("07" + "0023" + "00" + "0022" + "01aa")), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => decodeAppDataDictionary(hex("06" + "0022" + "00" + "0022" + "00")), "MIMI_ERR_MLS_APP_DATA_INVALID");
  throwsWith(() => makeAppDataDictionary([{ componentId: 1, data: hex("") }, { componentId: 1, data: hex("") }]), "MIMI_ERR_MLS_APP_DATA_INVALID");

  // struct { ComponentID component_id; AppDataUpdateOperation op; select (op) { update: opaque update<V>; remove: struct{} } }
  assert.equal(toHex(encodeAppDataUpdate({ componentId: 0x0022, op: 1, update: hex("0102") })), "0022" + "01" + "02" + "0102");
  assert.equal(toHex(encodeAppDataUpdate({ componentId: 0x0023, op: 2 })), "0023" + "02");
  assert.deepEqual(decodeAppDataUpdate(hex("002302")), { componentId: 0x23, op: 2 });
  throwsWith(() => decodeAppDataUpdate(hex("002300")), "MIMI_ERR_CODEC_INVALID_ENUM"); // invalid(0)
});
