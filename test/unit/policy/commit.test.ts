// Whole commits and single proposals as the hub judges them, commit composition, messages,
// room metadata, policy components and parent-dependent rooms.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  authorizeCommit,
  authorizeCommitComposition,
  authorizeMetadataChange,
  authorizePolicyChange,
  authorizeProposal,
  authorizeReceive,
  authorizeSend,
  checkParentDependentMembership,
  denialError,
  directPreset,
  groupPreset,
  moderatedChannelPreset,
  parentDependentRemovals,
  roomPolicyProblems,
  updateResponseCode,
} from "../../../src/policy/index.ts";
import type { PolicyComponentChange, PolicyDenial, PolicyProposal, RoomMetaData, RoomPolicy } from "../../../src/policy/index.ts";
import { alice, allowed, as, bob, carol, clients, dave, denied, erin, external, hub, list, throwsCode, update } from "./helpers.ts";

const group = groupPreset().policy; // banned 1, member 2, admin 3 (min 1), policy_enforcer 4
const mod = moderatedChannelPreset().policy; // guest 2, attendee 3, speaker 4, moderator 5, super_admin 6, enforcer 7

const meta = (over: Partial<RoomMetaData> = {}): RoomMetaData => ({
  roomUri: "mimi://a.example/r/clubhouse",
  roomName: "Clubhouse",
  roomDescriptions: [],
  roomAvatar: "",
  roomSubject: "",
  roomMood: "",
  ...over,
});

const listChange = (u: ReturnType<typeof update>, sender?: ReturnType<typeof as>): PolicyProposal =>
  sender === undefined ? { kind: "participantList", update: u } : { kind: "participantList", update: u, sender };

test("MIMI-POLICY-02 role definitions do not change in the same commit as the participant list", () => {
  const roles: PolicyProposal = { kind: "roles", roleData: group.roleData };
  allowed(authorizeCommitComposition([roles, { kind: "other" }]));
  denied(authorizeCommitComposition([roles, listChange(update({ remove: [1] }))]), "commitComposition", "MIMI-POLICY-02");
  denied(authorizeCommitComposition([roles, roles]), "commitComposition", "MIMI-POLICY-02");
  // Even an empty participant-list update counts as a participant-list change.
  denied(authorizeCommitComposition([listChange(update({})), roles]), "commitComposition", "MIMI-POLICY-02");
});

test("MIMI-POLICY-03 preauthorized users change only alongside participant-list removals", () => {
  const preauth: PolicyProposal = { kind: "preauth" };
  allowed(authorizeCommitComposition([preauth, listChange(update({ remove: [1] }))]));
  denied(authorizeCommitComposition([preauth, listChange(update({ add: [[dave, 2]] }))]), "commitComposition", "MIMI-POLICY-03");
  denied(authorizeCommitComposition([preauth, listChange(update({ change: [[1, 3]] }))]), "commitComposition", "MIMI-POLICY-03");
  denied(authorizeCommitComposition([preauth, preauth]), "commitComposition", "MIMI-POLICY-03");
});

test("MIMI-POLICY-26 one room metadata update per commit; each changed field needs its capability", () => {
  const m: PolicyProposal = { kind: "roomMetadata", metadata: meta() };
  denied(authorizeCommitComposition([m, m]), "commitComposition", "MIMI-POLICY-26");
  const l = list([alice, 3], [bob, 2], [carol, 1]);
  const current = meta();
  allowed(authorizeMetadataChange(group, l, as(bob), current, meta({ roomName: "Den", roomSubject: "cards" })));
  // A member lacks canChangeRoomDescription; an admin has it.
  const described = meta({ roomDescriptions: [{ mediaType: "", languageTag: "en", descriptionContent: "hi" }] });
  denied(authorizeMetadataChange(group, l, as(bob), current, described), "missingCapability", "MIMI-POLICY-26");
  allowed(authorizeMetadataChange(group, l, as(alice), current, described));
  allowed(authorizeMetadataChange(group, l, as(bob), current, meta()), "no change needs no capability");
  denied(authorizeMetadataChange(group, l, as(alice), current, meta({ roomUri: "mimi://a.example/r/other" })), "invalidUpdate", "MIMI-POLICY-26");
  denied(authorizeMetadataChange(group, l, as(carol), current, meta({ roomName: "x" })), "banned", "MIMI-POLICY-24");
  denied(authorizeMetadataChange(group, l, as(dave), current, meta({ roomName: "x" })), "notParticipant", "MIMI-POLICY-24");
  // Without a current value every non-empty field is a change.
  denied(authorizeMetadataChange(mod, list([alice, 6], [bob, 4]), as(bob), undefined, meta()), "missingCapability", "MIMI-POLICY-26");
  allowed(authorizeMetadataChange(mod, list([alice, 6], [bob, 4]), as(alice), undefined, described));
});

test("MIMI-POLICY-27 role definitions, base policy, preauthorized users and ReInit need the disruptive capabilities", () => {
  const l = list([alice, 3], [bob, 2]);
  const roles = { kind: "roles", roleData: group.roleData } as const;
  allowed(authorizePolicyChange(group, l, as(alice), roles));
  denied(authorizePolicyChange(group, l, as(bob), roles), "missingCapability", "MIMI-POLICY-27");
  denied(authorizePolicyChange(group, l, as(bob), { kind: "preauth" }), "missingCapability", "MIMI-POLICY-27");
  denied(authorizePolicyChange(group, l, as(bob), { kind: "reinit" }), "missingCapability", "MIMI-POLICY-27");
  allowed(authorizePolicyChange(group, l, as(alice), { kind: "reinit" }));
  allowed(authorizePolicyChange(group, l, external(4), { kind: "preauth" }), "the hub's policy enforcer");
  // The new roles must be well formed and keep every role in use.
  const dropMember: PolicyComponentChange = { kind: "roles", roleData: { roles: group.roleData.roles.filter((r) => r.roleIndex !== 2) } };
  denied(authorizePolicyChange(group, l, as(alice), dropMember), "invalidUpdate", "MIMI-POLICY-27");
  const twice: PolicyComponentChange = { kind: "roles", roleData: { roles: [...group.roleData.roles, ...group.roleData.roles] } };
  denied(authorizePolicyChange(group, l, as(alice), twice), "invalidUpdate", "MIMI-POLICY-27");
  // base_room_policy needs canChangeRoomMembershipStyle, and must stay consistent with the roles.
  allowed(authorizePolicyChange(group, l, as(alice), { kind: "baseRoomPolicy", baseRoomPolicy: { ...group.baseRoomPolicy, maxUsers: 50 } }));
  denied(authorizePolicyChange(group, l, as(bob), { kind: "baseRoomPolicy", baseRoomPolicy: group.baseRoomPolicy }), "missingCapability", "MIMI-POLICY-27");
  denied(
    authorizePolicyChange(group, l, as(alice), { kind: "baseRoomPolicy", baseRoomPolicy: { ...group.baseRoomPolicy, fixedMembership: true } }),
    "invalidUpdate",
    "MIMI-POLICY-27",
  );
});

test("MIMI-POLICY-24 banned and removed users cannot commit; outsiders commit only their own external join", () => {
  const l = list([alice, 6], [bob, 1], [carol, 3]);
  const state = { participantList: l, activeClients: clients([alice, 1], [bob, 1], [carol, 1]) };
  denied(authorizeCommit(mod, state, { committer: bob, proposals: [{ kind: "removeClient", user: bob }] }), "banned", "MIMI-POLICY-24");
  denied(authorizeCommit(mod, state, { committer: dave, proposals: [] }), "notParticipant", "MIMI-POLICY-24");
  denied(authorizeCommit(mod, state, { committer: dave, external: true, proposals: [{ kind: "addClient", user: dave }] }), "notParticipant", "MIMI-POLICY-24");
  // An external join by a preauthorized attendee: the list addition and its client together.
  const join = authorizeCommit(mod, state, {
    committer: dave,
    external: true,
    preauthorizedRoleIndex: 3,
    proposals: [listChange(update({ add: [[dave, 3]] })), { kind: "addClient", user: dave }],
  });
  assert.ok(join.allowed, JSON.stringify(join));
  assert.deepEqual(join.participantList, list([alice, 6], [bob, 1], [carol, 3], [dave, 3]));
  assert.equal(join.activeClients.get(dave), 1);
  // Without preauthorization (or for a role it does not match) the join is refused.
  denied(
    authorizeCommit(mod, state, { committer: dave, external: true, proposals: [listChange(update({ add: [[dave, 3]] })), { kind: "addClient", user: dave }] }),
    "missingCapability",
    "MIMI-POLICY-08",
  );
  // The banned user cannot rejoin by external commit either.
  denied(
    authorizeCommit(mod, state, { committer: bob, external: true, preauthorizedRoleIndex: 3, proposals: [{ kind: "addClient", user: bob }] }),
    "banned",
    "MIMI-POLICY-24",
  );
  // Proposals by reference: a banned sender may only remove its own clients.
  const cleanup = authorizeCommit(mod, state, { committer: alice, proposals: [{ kind: "removeClient", user: bob, sender: as(bob) }] });
  assert.ok(cleanup.allowed && !cleanup.activeClients.has(bob));
  denied(authorizeCommit(mod, state, { committer: alice, proposals: [{ kind: "removeClient", user: carol, sender: as(bob) }] }), "banned", "MIMI-POLICY-24");
  denied(authorizeCommit(mod, state, { committer: alice, proposals: [{ kind: "other", sender: as(bob) }] }), "banned", "MIMI-POLICY-24");
});

test("MIMI-POLICY-10 a leaving user cannot commit its own removal; another member commits it", () => {
  const l = list([alice, 3], [bob, 2]);
  const state = { participantList: l, activeClients: clients([alice, 1], [bob, 2]) };
  const leave: PolicyProposal[] = [
    listChange(update({ remove: [1] }), as(bob)),
    { kind: "removeClient", user: bob, sender: as(bob) },
    { kind: "removeClient", user: bob, sender: as(bob) },
  ];
  denied(authorizeCommit(group, state, { committer: bob, proposals: leave }), "selfCommit", "MIMI-POLICY-10");
  const d = authorizeCommit(group, state, { committer: alice, proposals: leave });
  assert.ok(d.allowed, JSON.stringify(d));
  assert.deepEqual(d.participantList, list([alice, 3]));
  assert.deepEqual([...d.activeClients], [[alice, 1]]);
  // Leaving but keeping a client is inconsistent (MIMI-POLICY-10 "MUST simultaneously propose to remove all of its remaining clients").
  denied(authorizeCommit(group, state, { committer: alice, proposals: leave.slice(0, 2) }), "clientsInconsistent", "MIMI-POLICY-09");
});

test("MIMI-POLICY-09 MIMI-POLICY-15 MIMI-POLICY-28 commits keep clients and participants consistent", () => {
  const l = list([alice, 6], [bob, 3], [carol, 5], [erin, 1]);
  const state = { participantList: l, activeClients: clients([alice, 1], [bob, 1], [carol, 1]) };
  // Add a user and its clients in one commit (canAddParticipant covers the clients).
  const add = authorizeCommit(mod, state, { committer: carol, proposals: [listChange(update({ add: [[dave, 4]] })), { kind: "addClient", user: dave }, { kind: "addClient", user: dave }] });
  assert.ok(add.allowed, JSON.stringify(add));
  assert.equal(add.activeClients.get(dave), 2);
  // Clients for a user that is not being added, or is not in the list, are refused.
  denied(authorizeCommit(mod, state, { committer: carol, proposals: [{ kind: "addClient", user: dave }] }), "notParticipant", "MIMI-POLICY-28");
  denied(authorizeCommit(mod, state, { committer: carol, proposals: [{ kind: "addClient", user: bob }] }), "missingCapability", "MIMI-POLICY-28");
  // Ban with and without removing the clients.
  allowed(authorizeCommit(mod, state, { committer: carol, proposals: [listChange(update({ change: [[1, 1]] })), { kind: "removeClient", user: bob }] }));
  denied(authorizeCommit(mod, state, { committer: carol, proposals: [listChange(update({ change: [[1, 1]] }))] }), "clientsInconsistent", "MIMI-POLICY-15");
  // Unban does not let the moderator add the user's clients (MIMI-POLICY-16).
  denied(authorizeCommit(mod, state, { committer: carol, proposals: [listChange(update({ change: [[3, 3]] })), { kind: "addClient", user: erin }] }), "missingCapability", "MIMI-POLICY-16");
  allowed(authorizeCommit(mod, state, { committer: carol, proposals: [listChange(update({ change: [[3, 3]] }))] }));
  // Removing a client that is not there.
  denied(authorizeCommit(mod, state, { committer: carol, proposals: [{ kind: "removeClient", user: dave }] }), "invalidUpdate", "MIMI-POLICY-12");
  // Kicks in a commit need canKick; the committer's own other client needs canRemoveOwnClient.
  denied(authorizeCommit(mod, { ...state, activeClients: clients([alice, 1], [bob, 2], [carol, 1]) }, { committer: bob, proposals: [{ kind: "removeClient", user: carol }] }), "missingCapability", "MIMI-POLICY-11");
  allowed(authorizeCommit(mod, { ...state, activeClients: clients([alice, 1], [bob, 2], [carol, 1]) }, { committer: bob, proposals: [{ kind: "removeClient", user: bob }] }));
});

test("MIMI-POLICY-19 MIMI-POLICY-20 MIMI-POLICY-02 commits check device limits and composition", () => {
  const single: RoomPolicy = { ...group, baseRoomPolicy: { ...group.baseRoomPolicy, multiDevice: false, maxClients: 2 } };
  const state = { participantList: list([alice, 3], [bob, 2]), activeClients: clients([alice, 1]) };
  allowed(authorizeCommit(single, state, { committer: bob, external: true, proposals: [{ kind: "addClient", user: bob }] }));
  denied(authorizeCommit(single, state, { committer: alice, proposals: [{ kind: "addClient", user: alice }] }), "singleDevice", "MIMI-POLICY-19");
  const three = { participantList: list([alice, 3], [bob, 2], [carol, 2]), activeClients: clients([alice, 1], [bob, 1]) };
  denied(authorizeCommit(single, three, { committer: carol, external: true, proposals: [{ kind: "addClient", user: carol }] }), "maxClients", "MIMI-POLICY-20");
  denied(
    authorizeCommit(group, state, { committer: alice, proposals: [{ kind: "roles", roleData: group.roleData }, listChange(update({ add: [[dave, 2]] }))] }),
    "commitComposition",
    "MIMI-POLICY-02",
  );
  allowed(authorizeCommit(group, { ...state, roomMetadata: meta() }, { committer: alice, proposals: [{ kind: "roles", roleData: group.roleData }, { kind: "roomMetadata", metadata: meta({ roomName: "x" }) }] }));
  denied(authorizeCommit(group, state, { committer: bob, proposals: [{ kind: "reinit" }] }), "missingCapability", "MIMI-POLICY-27");
});

test("MIMI-POLICY-14 preauthorization facts belong to the committer, not to senders of proposals by reference", () => {
  const state = { participantList: list([alice, 6], [bob, 3]), activeClients: clients([alice, 1], [bob, 1]) };
  const ownChange = listChange(update({ change: [[1, 4]] }), as(bob));
  denied(authorizeCommit(mod, state, { committer: alice, preauthorizedRoleIndex: 4, proposals: [ownChange] }), "roleChangeNotAuthorized", "MIMI-POLICY-14");
  allowed(authorizeCommit(mod, state, { committer: bob, preauthorizedRoleIndex: 4, proposals: [listChange(update({ change: [[1, 4]] }))] }));
});

test("MIMI-POLICY-24 single proposals: banned senders may only remove their own clients", () => {
  const state = { participantList: list([alice, 3], [bob, 1], [carol, 2]), activeClients: clients([alice, 1], [bob, 1], [carol, 1]) };
  allowed(authorizeProposal(group, state, as(bob), { kind: "removeClient", user: bob }));
  denied(authorizeProposal(group, state, as(bob), { kind: "addClient", user: bob }), "banned", "MIMI-POLICY-24");
  denied(authorizeProposal(group, state, as(bob), listChange(update({ remove: [1] }))), "banned", "MIMI-POLICY-24");
  denied(authorizeProposal(group, state, as(dave), { kind: "other" }), "notParticipant", "MIMI-POLICY-24");
  allowed(authorizeProposal(group, state, as(alice), listChange(update({ change: [[2, 3]] }))));
  denied(authorizeProposal(group, state, as(carol), listChange(update({ remove: [0] }))), "missingCapability", "MIMI-POLICY-09");
  allowed(authorizeProposal(group, state, as(carol), { kind: "removeClient", user: carol }));
  denied(authorizeProposal(group, state, as(carol), { kind: "removeClient", user: alice }), "missingCapability", "MIMI-POLICY-11");
  allowed(authorizeProposal(group, { ...state, roomMetadata: meta() }, as(carol), { kind: "roomMetadata", metadata: meta({ roomMood: "sunny" }) }));
  allowed(authorizeProposal(group, state, as(alice), { kind: "baseRoomPolicy", baseRoomPolicy: group.baseRoomPolicy }));
  throwsCode(() => authorizeProposal(group, state, as(alice), { kind: "bogus" } as never), "MIMI_ERR_POLICY_INVALID");
});

test("MIMI-POLICY-24 MIMI-POLICY-25 send and receive: banned and removed users neither send nor receive; roles decide", () => {
  const l = list([alice, 6], [bob, 2], [carol, 3], [dave, 4], [erin, 1]);
  allowed(authorizeSend(mod, l, alice));
  allowed(authorizeSend(mod, l, dave), "speaker");
  denied(authorizeSend(mod, l, bob), "missingCapability", "MIMI-POLICY-25");
  denied(authorizeSend(mod, l, carol), "missingCapability", "MIMI-POLICY-25");
  denied(authorizeSend(mod, l, erin), "banned", "MIMI-POLICY-24");
  denied(authorizeSend(mod, l, hub), "notParticipant", "MIMI-POLICY-24");
  denied(authorizeSend(mod, l, dave, { activeClients: clients([alice, 1]) }), "notParticipant", "MIMI-POLICY-24");
  allowed(authorizeReceive(mod, l, bob), "guests receive");
  denied(authorizeReceive(mod, l, erin), "banned", "MIMI-POLICY-24");
  denied(authorizeReceive(mod, l, hub), "notParticipant", "MIMI-POLICY-24");
  const d = directPreset().policy;
  allowed(authorizeSend(d, list([alice, 2], [bob, 2]), bob));
  throwsCode(() => authorizeSend(mod, l, ""), "MIMI_ERR_POLICY_INVALID");
});

test("MIMI-POLICY-22 parent-dependent rooms: parent_room set iff parent_dependant; members come from the parent", () => {
  const child: RoomPolicy = { ...group, baseRoomPolicy: { ...group.baseRoomPolicy, parentDependant: true, parentRoom: ["mimi://a.example/r/parent"] } };
  assert.deepEqual(roomPolicyProblems(child), []);
  assert.ok(roomPolicyProblems({ ...group, baseRoomPolicy: { ...group.baseRoomPolicy, parentDependant: true } }).some((s) => s.includes("MIMI-POLICY-22")));
  assert.ok(roomPolicyProblems({ ...group, baseRoomPolicy: { ...group.baseRoomPolicy, parentRoom: ["mimi://a.example/r/p"] } }).some((s) => s.includes("MIMI-POLICY-22")));
  const parent = list([alice, 3], [bob, 2], [carol, 1]);
  allowed(checkParentDependentMembership(child, list([alice, 3], [bob, 2]), group, parent));
  denied(checkParentDependentMembership(child, list([alice, 3], [carol, 2]), group, parent), "notParticipant", "MIMI-POLICY-22");
  denied(checkParentDependentMembership(child, list([alice, 3], [dave, 2]), group, parent), "notParticipant", "MIMI-POLICY-22");
  assert.deepEqual(parentDependentRemovals(list([alice, 3], [dave, 2], [bob, 2], [carol, 2]), group, parent), update({ remove: [1, 3] }));
});

test("denials map to protocol-06 UpdateResponseCodes and to MIMI_ERR_POLICY_DENIED", () => {
  const d = authorizeSend(mod, list([alice, 6], [bob, 2]), bob) as PolicyDenial;
  assert.equal(updateResponseCode(d), "notAllowed");
  const e = denialError(d);
  assert.equal(e.code, "MIMI_ERR_POLICY_DENIED");
  assert.equal(e.statusCode, 403);
  assert.deepEqual(e.details, { code: "missingCapability", rule: "MIMI-POLICY-25", capability: "canSendMessage", role: 2 });
  const twice = authorizeCommitComposition([{ kind: "roomMetadata", metadata: meta() }, { kind: "roomMetadata", metadata: meta() }]) as PolicyDenial;
  assert.equal(updateResponseCode(twice), "invalidProposal");
});
