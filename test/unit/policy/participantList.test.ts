// ParticipantListUpdate (protocol-06 §7.5) under room-policy-03 §8.1: ordering and index
// semantics, one touch per user, each action authorized on its own, and the membership
// capabilities with their authorized_role_changes and constraints.
import { test } from "node:test";
import assert from "node:assert/strict";
import { authorizeParticipantListUpdate, groupPreset, moderatedChannelPreset } from "../../../src/policy/index.ts";
import type { Role, RoomPolicy } from "../../../src/policy/index.ts";
import { alice, allowed, as, bob, carol, clients, dave, denied, erin, external, hub, list, throwsCode, u, update } from "./helpers.ts";

interface RoleOverride {
  roleIndex: number;
  roleName: string;
  caps: number[];
  changes: [number, number[]][];
  maxParticipants?: number;
  minActive?: number;
  maxActive?: number;
}

/** `policy` with one role replaced (or added). */
function withRole(policy: RoomPolicy, o: RoleOverride): RoomPolicy {
  const role: Role = {
    roleIndex: o.roleIndex,
    roleName: o.roleName,
    roleDescription: "",
    roleCapabilities: o.caps,
    minimumParticipantsConstraint: 0,
    maximumParticipantsConstraint: o.maxParticipants,
    minimumActiveParticipantsConstraint: o.minActive ?? 0,
    maximumActiveParticipantsConstraint: o.maxActive,
    authorizedRoleChanges: o.changes.map(([fromRoleIndex, targetRoleIndexes]) => ({ fromRoleIndex, targetRoleIndexes })),
  };
  const roles = policy.roleData.roles.filter((r) => r.roleIndex !== o.roleIndex).concat(role).sort((a, b) => a.roleIndex - b.roleIndex);
  return { ...policy, roleData: { roles } };
}

const group = groupPreset().policy; // banned 1, member 2, admin 3 (min 1), policy_enforcer 4
const mod = moderatedChannelPreset().policy; // guest 2, attendee 3, speaker 4, moderator 5, super_admin 6, enforcer 7

const fred = u("fred", "f.example");

test("MIMI-POLICY-04 role changes, then removals, then additions appended; indexes refer to the current list", () => {
  // alice admin, bob member, carol member, dave member
  const l = list([alice, 3], [bob, 2], [carol, 2], [dave, 2]);
  // Index 1 (bob) becomes admin, index 2 (carol) is removed: after the role change indexes have not
  // moved, and the removal does not shift the role change onto dave.
  const d = authorizeParticipantListUpdate(group, l, as(alice), update({ change: [[1, 3]], remove: [2], add: [[erin, 2]] }));
  allowed(d);
  assert.ok(d.allowed);
  assert.deepEqual(d.list, list([alice, 3], [bob, 3], [dave, 2], [erin, 2]));
  assert.deepEqual(
    d.actions.map((a) => [a.kind, a.user, a.fromRole, a.toRole, a.capability]),
    [
      ["changeRole", bob, 2, 3, "canChangeUserRole"],
      ["remove", carol, 2, 0, "canRemoveParticipant"],
      ["add", erin, 0, 2, "canAddParticipant"],
    ],
  );
  // Removed indexes all refer to the list before any removal.
  const two = authorizeParticipantListUpdate(group, l, as(alice), update({ remove: [3, 1] }));
  assert.ok(two.allowed);
  assert.deepEqual(two.list, list([alice, 3], [carol, 2]));
  // Indexes outside the list are invalid, not ignored.
  denied(authorizeParticipantListUpdate(group, l, as(alice), update({ change: [[4, 2]] })), "invalidUpdate", "MIMI-POLICY-04");
  denied(authorizeParticipantListUpdate(group, l, as(alice), update({ remove: [9] })), "invalidUpdate", "MIMI-POLICY-04");
  // A role change to an undefined role, or to the role the user already has.
  denied(authorizeParticipantListUpdate(group, l, as(alice), update({ change: [[1, 9]] })), "invalidUpdate", "MIMI-POLICY-04");
  denied(authorizeParticipantListUpdate(group, l, as(alice), update({ change: [[1, 2]] })), "invalidUpdate", "MIMI-POLICY-04");
});

test("MIMI-POLICY-04 several updates in one commit apply in order: the second indexes the first's result", () => {
  const l = list([alice, 3], [bob, 2], [carol, 2]);
  const d = authorizeParticipantListUpdate(group, l, as(alice), [update({ remove: [1] }), update({ change: [[1, 3]] })]);
  assert.ok(d.allowed);
  // After the first update carol is at index 1.
  assert.deepEqual(d.list, list([alice, 3], [carol, 3]));
});

test("MIMI-POLICY-05 a commit must not operate on the same user twice", () => {
  const l = list([alice, 3], [bob, 2], [carol, 2]);
  const cases = [
    update({ change: [[1, 3]], remove: [1] }),
    update({ change: [[1, 3], [1, 1]] }),
    update({ remove: [2, 2] }),
    update({ remove: [1], add: [[bob, 2]] }),
    update({ add: [[dave, 2], [dave, 2]] }),
  ];
  for (const c of cases) denied(authorizeParticipantListUpdate(group, l, as(alice), c), "sameUserTwice", "MIMI-POLICY-05", JSON.stringify(c));
  // …also across two updates of the same commit.
  denied(authorizeParticipantListUpdate(group, l, as(alice), [update({ add: [[dave, 2]] }), update({ remove: [3] })]), "sameUserTwice", "MIMI-POLICY-05");
});

test("MIMI-POLICY-06 each action is authorized separately and one denial rejects the update without touching the list", () => {
  const l = list([alice, 2], [bob, 2], [carol, 3]);
  const snapshot = structuredClone(l);
  // alice (member) may add, but not remove: the whole update is denied.
  const d = authorizeParticipantListUpdate(group, l, as(alice), update({ remove: [1], add: [[dave, 2]] }));
  denied(d, "missingCapability", "MIMI-POLICY-09");
  assert.ok(!d.allowed && d.details?.["user"] === bob);
  assert.deepEqual(l, snapshot, "the input list is unchanged");
  // The actor's role is its role at the start of the commit: promoting oneself does not help.
  const self = authorizeParticipantListUpdate(group, l, as(alice), update({ change: [[0, 3]], remove: [1] }));
  denied(self, "missingCapability", "MIMI-POLICY-14");
});

test("MIMI-POLICY-07 canAddParticipant needs a (0 → role) entry and the target not already listed", () => {
  const l = list([alice, 2], [bob, 3]);
  allowed(authorizeParticipantListUpdate(group, l, as(alice), update({ add: [[carol, 2]] })));
  // A member's table is (0,[2]): it cannot add an admin.
  denied(authorizeParticipantListUpdate(group, l, as(alice), update({ add: [[carol, 3]] })), "roleChangeNotAuthorized", "MIMI-POLICY-07");
  allowed(authorizeParticipantListUpdate(group, l, as(bob), update({ add: [[carol, 3]] })));
  denied(authorizeParticipantListUpdate(group, l, as(alice), update({ add: [[bob, 2]] })), "invalidUpdate", "MIMI-POLICY-07");
  // role_index 0 is never a role of a listed user.
  denied(authorizeParticipantListUpdate(group, l, as(bob), update({ add: [[carol, 0]] })), "invalidUpdate", "MIMI-POLICY-01");
  denied(authorizeParticipantListUpdate(group, l, as(bob), update({ change: [[0, 0]] })), "invalidUpdate", "MIMI-POLICY-01");
  // Guests and attendees of a moderated room cannot add anyone.
  const m = list([alice, 6], [bob, 3]);
  denied(authorizeParticipantListUpdate(mod, m, as(bob), update({ add: [[carol, 3]] })), "missingCapability", "MIMI-POLICY-07");
});

test("MIMI-POLICY-01 a participant list with role 0, an undefined role or a repeated user is malformed (throws)", () => {
  throwsCode(() => authorizeParticipantListUpdate(group, list([alice, 0]), as(alice), update({})), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => authorizeParticipantListUpdate(group, list([alice, 9]), as(alice), update({})), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => authorizeParticipantListUpdate(group, list([alice, 3], [alice, 2]), as(alice), update({})), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => authorizeParticipantListUpdate(group, list([alice, 3]), as(alice), update({ remove: [-1] })), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => authorizeParticipantListUpdate(group, list([alice, 3]), as(alice), update({ remove: [0.5] })), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => authorizeParticipantListUpdate(group, list([alice, 3]), { kind: "robot" } as never, update({})), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => authorizeParticipantListUpdate(group, list([alice, 3]), external(9), update({})), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => authorizeParticipantListUpdate(group, list([alice, 3]), as(alice), update({}), { activeClients: clients([alice, -1]) }), "MIMI_ERR_POLICY_INVALID");
});

test("MIMI-POLICY-08 a user adds itself by canOpenJoin on role 0, its preauthorized role, or a join code", () => {
  const l = list([alice, 6]);
  // Moderated: no canOpenJoin; attendee holds canJoinIfPreauthorized; no_role holds canUseJoinCode → [2, 3].
  denied(authorizeParticipantListUpdate(mod, l, as(bob), update({ add: [[bob, 3]] })), "missingCapability", "MIMI-POLICY-08");
  allowed(authorizeParticipantListUpdate(mod, l, as(bob), update({ add: [[bob, 3]] }), { preauthorizedRoleIndex: 3 }));
  // Preauthorization for a role without canJoinIfPreauthorized (guest) does not let the user in.
  denied(authorizeParticipantListUpdate(mod, l, as(bob), update({ add: [[bob, 2]] }), { preauthorizedRoleIndex: 2 }), "missingCapability", "MIMI-POLICY-08");
  // Speakers inherit canJoinIfPreauthorized from attendees (Appendix A.3).
  allowed(authorizeParticipantListUpdate(mod, l, as(bob), update({ add: [[bob, 4]] }), { preauthorizedRoleIndex: 4 }));
  const join = authorizeParticipantListUpdate(mod, l, as(bob), update({ add: [[bob, 2]] }), { joinCodeRoleIndex: 2 });
  assert.ok(join.allowed && join.actions[0]?.kind === "join" && join.actions[0].capability === "canUseJoinCode");
  // A non-participant may only add itself.
  denied(authorizeParticipantListUpdate(mod, l, as(bob), update({ add: [[bob, 3], [carol, 3]] }), { preauthorizedRoleIndex: 3 }), "notParticipant", "MIMI-POLICY-24");
  // canOpenJoin on role 0 with a (0 → 2) entry: anyone joins as 2, nothing else.
  const open = withRole(group, { roleIndex: 0, roleName: "no_role", caps: [0x0004], changes: [[0, [2]]] });
  allowed(authorizeParticipantListUpdate(open, list([alice, 3]), as(bob), update({ add: [[bob, 2]] })));
  denied(authorizeParticipantListUpdate(open, list([alice, 3]), as(bob), update({ add: [[bob, 3]] })), "missingCapability", "MIMI-POLICY-08");
});

test("MIMI-POLICY-08 MIMI-POLICY-24 a banned user cannot rejoin: not by preauthorization, join code, open join or a member's add", () => {
  const l = list([alice, 6], [carol, 5], [dave, 4], [bob, 1]);
  const rejoin = update({ add: [[bob, 3]] });
  denied(authorizeParticipantListUpdate(mod, l, as(bob), rejoin, { preauthorizedRoleIndex: 3, joinCodeRoleIndex: 3 }), "banned", "MIMI-POLICY-24");
  // A speaker is not authorised to lift a ban; adding a listed (banned) user is not an add.
  denied(authorizeParticipantListUpdate(mod, l, as(dave), rejoin), "invalidUpdate", "MIMI-POLICY-07");
  denied(authorizeParticipantListUpdate(mod, l, as(dave), update({ change: [[3, 3]] })), "missingCapability", "MIMI-POLICY-16");
  // Removing then re-adding in one commit touches the user twice.
  denied(authorizeParticipantListUpdate(mod, l, as(carol), update({ remove: [3], add: [[bob, 3]] })), "sameUserTwice", "MIMI-POLICY-05");
  // The moderator lifts the ban; that does not re-add clients (MIMI-POLICY-16, see clients tests).
  allowed(authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[3, 3]] })));
  const open = withRole(group, { roleIndex: 0, roleName: "no_role", caps: [0x0004], changes: [[0, [2]]] });
  denied(authorizeParticipantListUpdate(open, list([alice, 3], [bob, 1]), as(bob), update({ add: [[bob, 2]] })), "banned", "MIMI-POLICY-24");
});

test("MIMI-POLICY-09 canRemoveParticipant: another user, (role → 0) in the actor's table, min constraints", () => {
  const l = list([alice, 3], [bob, 2], [carol, 3]);
  allowed(authorizeParticipantListUpdate(group, l, as(alice), update({ remove: [1] })));
  allowed(authorizeParticipantListUpdate(group, l, as(alice), update({ remove: [2] })));
  // Members cannot remove.
  denied(authorizeParticipantListUpdate(group, l, as(bob), update({ remove: [0] })), "missingCapability", "MIMI-POLICY-09");
  // The last admin cannot be removed (admin min_participants 1).
  const one = list([alice, 3], [carol, 3]);
  allowed(authorizeParticipantListUpdate(group, one, as(alice), update({ remove: [1] })));
  denied(authorizeParticipantListUpdate(group, one, as(alice), update({ remove: [0, 1] })), "constraintViolated", "MIMI-POLICY-23");
  // The policy enforcer (listed hub, or external by preauthorization) removes but never adds.
  const withHub = list([alice, 3], [bob, 2], [hub, 4]);
  allowed(authorizeParticipantListUpdate(group, withHub, as(hub), update({ remove: [1] })));
  allowed(authorizeParticipantListUpdate(group, l, external(4), update({ remove: [1] })));
  denied(authorizeParticipantListUpdate(group, l, external(4), update({ add: [[dave, 2]] })), "missingCapability", "MIMI-POLICY-07");
  // When the clients after the commit are known, a removed user must have none left.
  const ctx = { activeClients: clients([alice, 1], [bob, 2]) };
  denied(
    authorizeParticipantListUpdate(group, l, as(alice), update({ remove: [1] }), { ...ctx, activeClientsAfter: clients([alice, 1], [bob, 1]) }),
    "clientsInconsistent",
    "MIMI-POLICY-09",
  );
  allowed(authorizeParticipantListUpdate(group, l, as(alice), update({ remove: [1] }), { ...ctx, activeClientsAfter: clients([alice, 1]) }));
});

test("MIMI-POLICY-10 canRemoveSelf: leaving uses the own role's (role → 0) entry and its minimum", () => {
  const l = list([alice, 3], [bob, 2]);
  const leave = authorizeParticipantListUpdate(group, l, as(bob), update({ remove: [1] }));
  assert.ok(leave.allowed && leave.actions[0]?.kind === "leave" && leave.actions[0].capability === "canRemoveSelf");
  // The only admin cannot leave (admin min_participants 1)…
  denied(authorizeParticipantListUpdate(group, l, as(alice), update({ remove: [0] })), "constraintViolated", "MIMI-POLICY-23");
  // …but can once there is another admin.
  allowed(authorizeParticipantListUpdate(group, list([alice, 3], [bob, 3]), as(alice), update({ remove: [0] })));
  // A guest of a moderated room may leave; a role without canRemoveSelf may not.
  allowed(authorizeParticipantListUpdate(mod, list([alice, 6], [bob, 2]), as(bob), update({ remove: [1] })));
  const noLeave = withRole(group, { roleIndex: 2, roleName: "member", caps: [0x0100], changes: [[2, [0]]] });
  denied(authorizeParticipantListUpdate(noLeave, l, as(bob), update({ remove: [1] })), "missingCapability", "MIMI-POLICY-10");
  const noEntry = withRole(group, { roleIndex: 2, roleName: "member", caps: [0x0006], changes: [] });
  denied(authorizeParticipantListUpdate(noEntry, l, as(bob), update({ remove: [1] })), "roleChangeNotAuthorized", "MIMI-POLICY-10");
});

test("MIMI-POLICY-13 canChangeUserRole: another participant, per the actor's table, within the constraints", () => {
  const l = list([alice, 6], [bob, 3], [carol, 5], [dave, 4]);
  allowed(authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[1, 4]] })), "moderator gives voice");
  allowed(authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[3, 3]] })), "moderator revokes voice");
  // A moderator's table does not reach super_admin (6).
  denied(authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[1, 6]] })), "roleChangeNotAuthorized", "MIMI-POLICY-13");
  denied(authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[0, 5]] })), "roleChangeNotAuthorized", "MIMI-POLICY-13");
  allowed(authorizeParticipantListUpdate(mod, l, as(alice), update({ change: [[1, 6]] })));
  // Speakers cannot change roles.
  denied(authorizeParticipantListUpdate(mod, l, as(dave), update({ change: [[1, 4]] })), "missingCapability", "MIMI-POLICY-13");
  // The last moderator cannot be demoted (moderator min_participants 1).
  denied(authorizeParticipantListUpdate(mod, l, as(alice), update({ change: [[2, 4]] })), "constraintViolated", "MIMI-POLICY-23");
  // A role's maximum: at most 2 policy enforcers in the moderated preset; with max 1 speaker, a
  // swap (one up, one down) is fine but a second speaker is not.
  const oneSpeaker = withRole(mod, { roleIndex: 4, roleName: "speaker", caps: [0x0100], changes: [[0, [4]], [4, [0]]], maxParticipants: 1 });
  allowed(authorizeParticipantListUpdate(oneSpeaker, l, as(alice), update({ change: [[1, 4], [3, 3]] })));
  denied(authorizeParticipantListUpdate(oneSpeaker, l, as(alice), update({ change: [[1, 4]] })), "constraintViolated", "MIMI-POLICY-23");
});

test("MIMI-POLICY-14 canChangeOwnRole: only to the first preauthorized role, without the role-change table", () => {
  const l = list([alice, 6], [bob, 3]);
  allowed(authorizeParticipantListUpdate(mod, l, as(bob), update({ change: [[1, 4]] }), { preauthorizedRoleIndex: 4 }));
  denied(authorizeParticipantListUpdate(mod, l, as(bob), update({ change: [[1, 4]] })), "roleChangeNotAuthorized", "MIMI-POLICY-14");
  denied(authorizeParticipantListUpdate(mod, l, as(bob), update({ change: [[1, 5]] }), { preauthorizedRoleIndex: 4 }), "roleChangeNotAuthorized", "MIMI-POLICY-14");
  // A guest lacks canChangeOwnRole.
  denied(authorizeParticipantListUpdate(mod, list([alice, 6], [bob, 2]), as(bob), update({ change: [[1, 4]] }), { preauthorizedRoleIndex: 4 }), "missingCapability", "MIMI-POLICY-14");
});

test("MIMI-POLICY-15 canBan: to role 1 named \"banned\", all clients go, pre-bans of non-participants", () => {
  const l = list([alice, 6], [bob, 3], [carol, 5]);
  const ctx = { activeClients: clients([alice, 1], [bob, 2], [carol, 1]) };
  const ban = authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[1, 1]] }), ctx);
  assert.ok(ban.allowed && ban.actions[0]?.kind === "ban" && ban.actions[0].capability === "canBan");
  // With the clients after the commit known, the banned user must have none.
  denied(authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[1, 1]] }), { ...ctx, activeClientsAfter: clients([alice, 1], [bob, 1], [carol, 1]) }), "clientsInconsistent", "MIMI-POLICY-15");
  // Pre-ban: list a user that is not a participant as banned (table entry (0 → 1)).
  const pre = authorizeParticipantListUpdate(mod, l, as(carol), update({ add: [[dave, 1]] }));
  assert.ok(pre.allowed && pre.actions[0]?.kind === "preBan");
  // The hub as external policy enforcer bans and pre-bans.
  allowed(authorizeParticipantListUpdate(mod, l, external(7), update({ change: [[1, 1]] }), ctx));
  allowed(authorizeParticipantListUpdate(mod, l, external(7), update({ add: [[dave, 1]] })));
  // A group member (canAddParticipant, table (0,[2])) cannot pre-ban; a guest has no capability for it.
  denied(authorizeParticipantListUpdate(group, list([alice, 2]), as(alice), update({ add: [[dave, 1]] })), "roleChangeNotAuthorized", "MIMI-POLICY-15");
  denied(authorizeParticipantListUpdate(mod, list([alice, 6], [bob, 2]), as(bob), update({ add: [[dave, 1]] })), "missingCapability", "MIMI-POLICY-15");
  // canBan needs role 1 to be named exactly "banned"; otherwise role 1 is an ordinary role.
  const renamed = withRole(mod, { roleIndex: 1, roleName: "muted", caps: [], changes: [] });
  const r = authorizeParticipantListUpdate(renamed, l, as(carol), update({ change: [[1, 1]] }), ctx);
  assert.ok(r.allowed && r.actions[0]?.kind === "changeRole" && r.actions[0].capability === "canChangeUserRole");
  // canChangeUserRole without canBan bans only with canKick (or a user without clients).
  const noBan = withRole(mod, { roleIndex: 5, roleName: "moderator", caps: [0x000f], changes: [[3, [1]]] });
  denied(authorizeParticipantListUpdate(noBan, l, as(carol), update({ change: [[1, 1]] }), ctx), "missingCapability", "MIMI-POLICY-15");
  allowed(authorizeParticipantListUpdate(noBan, l, as(carol), update({ change: [[1, 1]] }), { activeClients: clients([carol, 1]) }));
  const withKick = withRole(mod, { roleIndex: 5, roleName: "moderator", caps: [0x000f, 0x000c], changes: [[3, [1]]] });
  allowed(authorizeParticipantListUpdate(withKick, l, as(carol), update({ change: [[1, 1]] }), ctx));
  // A ban that breaks a min-active constraint is refused.
  const minActive = withRole(mod, { roleIndex: 3, roleName: "attendee", caps: [], changes: [], minActive: 1 });
  denied(authorizeParticipantListUpdate(minActive, l, as(carol), update({ change: [[1, 1]] }), ctx), "constraintViolated", "MIMI-POLICY-23");
});

test("MIMI-POLICY-16 canUnBan: from banned to a role of the actor's table; the policy enforcer cannot restore", () => {
  const l = list([alice, 6], [bob, 1], [carol, 5], [hub, 7]);
  const unban = authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[1, 3]] }));
  assert.ok(unban.allowed && unban.actions[0]?.kind === "unban" && unban.actions[0].capability === "canUnBan");
  denied(authorizeParticipantListUpdate(mod, l, as(carol), update({ change: [[1, 6]] })), "roleChangeNotAuthorized", "MIMI-POLICY-16");
  // Appendix A: the policy enforcer "can remove a banned user from the list (cleanup) but not restore them".
  denied(authorizeParticipantListUpdate(mod, l, as(hub), update({ change: [[1, 3]] })), "roleChangeNotAuthorized", "MIMI-POLICY-16");
  allowed(authorizeParticipantListUpdate(mod, l, as(hub), update({ remove: [1] })));
});

test("MIMI-POLICY-21 max_users counts non-banned participants", () => {
  const capped: RoomPolicy = { ...group, baseRoomPolicy: { ...group.baseRoomPolicy, maxUsers: 3 } };
  const l = list([alice, 3], [bob, 2], [carol, 1]);
  allowed(authorizeParticipantListUpdate(capped, l, as(alice), update({ add: [[dave, 2]] })));
  denied(authorizeParticipantListUpdate(capped, l, as(alice), update({ add: [[dave, 2], [erin, 2]] })), "maxUsers", "MIMI-POLICY-21");
  // Banned entries do not count: a pre-ban is fine at the limit.
  const full = list([alice, 3], [bob, 2], [dave, 2]);
  allowed(authorizeParticipantListUpdate(capped, full, as(alice), update({ add: [[erin, 1]] })));
  // Unbanning someone into a full room is refused; swapping is fine.
  denied(authorizeParticipantListUpdate(capped, list([alice, 3], [bob, 2], [dave, 2], [carol, 1]), as(alice), update({ change: [[3, 2]] })), "maxUsers", "MIMI-POLICY-21");
  allowed(authorizeParticipantListUpdate(capped, full, as(alice), update({ remove: [1], add: [[erin, 2]] })));
});

test("MIMI-POLICY-23 constraints: a room already out of bounds does not block unrelated changes", () => {
  // A moderated room starts without a moderator (min 1): adding attendees is still fine…
  const l = list([alice, 6]);
  allowed(authorizeParticipantListUpdate(mod, l, as(alice), update({ add: [[bob, 3]] })));
  // …while a change that breaks a bound, or makes it worse, is refused: with at most one active
  // attendee, a second one may be listed but not become active.
  const oneActive = withRole(mod, { roleIndex: 3, roleName: "attendee", caps: [], changes: [[0, [3]], [3, [0]]], maxActive: 1 });
  const withBob = list([alice, 6], [bob, 3]);
  const ctx = { activeClients: clients([alice, 1], [bob, 1]) };
  allowed(authorizeParticipantListUpdate(oneActive, withBob, as(alice), update({ add: [[fred, 3]] }), ctx));
  denied(
    authorizeParticipantListUpdate(oneActive, withBob, as(alice), update({ add: [[fred, 3]] }), { ...ctx, activeClientsAfter: clients([alice, 1], [bob, 1], [fred, 1]) }),
    "constraintViolated",
    "MIMI-POLICY-23",
  );
});
