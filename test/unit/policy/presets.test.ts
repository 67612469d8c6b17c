// The three presets (direct, group, moderatedChannel) and the table of what each role may do in
// each of them: add, remove, kick, ban, unban, role change, send, react.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  authorizeCapability,
  authorizeParticipantListUpdate,
  authorizeRemoveClient,
  authorizeSend,
  directPreset,
  groupPreset,
  initialParticipantList,
  moderatedChannelPreset,
  participantSetKey,
  presetFor,
  roleCapabilityNames,
  roomPolicyProblems,
} from "../../../src/policy/index.ts";
import type { PolicyDecision, PolicyPreset } from "../../../src/policy/index.ts";
import { decodeBaseRoomPolicy, decodeRoleData, encodeBaseRoomPolicy, encodeRoleData } from "../../../src/mls/components.ts";
import { alice, as, bob, carol, clients, dave, hub, list, throwsCode, u, update } from "./helpers.ts";

test("every preset is a well-formed policy and names its roles", () => {
  for (const kind of ["direct", "group", "moderatedChannel"] as const) {
    const p = presetFor(kind);
    assert.equal(p.kind, kind);
    assert.deepEqual(roomPolicyProblems(p.policy), [], kind);
    assert.equal(p.roleIndex["banned"], 1, `${kind} has the banned role at index 1`);
    assert.ok(p.policy.roleData.roles.some((r) => r.roleIndex === p.creatorRole));
    assert.ok(p.policy.roleData.roles.some((r) => r.roleIndex === p.addedRole));
    // No preset grants a reserved capability.
    for (const r of p.policy.roleData.roles) {
      for (const name of roleCapabilityNames(p.policy.roleData, r.roleIndex)) assert.ok(!["canCreateJoinCode", "canChangeOwnName", "canChangeMlsOperationalPolicies"].includes(name), `${kind} ${r.roleName} ${name}`);
    }
  }
  throwsCode(() => presetFor("channel" as never), "MIMI_ERR_POLICY_INVALID");
});

test("moderatedChannel follows Appendix A.3: indexes, names, tables and constraints", () => {
  const p = moderatedChannelPreset();
  const byIndex = new Map(p.policy.roleData.roles.map((r) => [r.roleIndex, r]));
  assert.deepEqual(
    [...byIndex.values()].map((r) => [r.roleIndex, r.roleName]),
    [
      [0, "no_role"],
      [1, "banned"],
      [2, "guest"],
      [3, "attendee"],
      [4, "speaker"],
      [5, "moderator"],
      [6, "super_admin"],
      [7, "policy_enforcer"],
    ],
  );
  const caps = (i: number): string[] => roleCapabilityNames(p.policy.roleData, i);
  assert.deepEqual(caps(0), ["canUseJoinCode"]);
  assert.deepEqual(caps(1), []);
  // guest: receive and react only (and leave).
  assert.ok(caps(2).includes("canReceiveMessage") && caps(2).includes("canReactToMessage") && caps(2).includes("canRemoveSelf"));
  assert.ok(!caps(2).includes("canSendMessage") && !caps(2).includes("canAddOwnClient"));
  assert.ok(caps(3).includes("canJoinIfPreauthorized") && !caps(3).includes("canSendMessage"));
  assert.ok(caps(4).includes("canSendMessage"));
  for (const c of ["canKick", "canBan", "canUnBan", "canDeleteOtherMessage", "canChangeUserRole", "canAddParticipant"]) assert.ok(caps(5).includes(c), c);
  assert.ok(!caps(5).includes("canChangeRoleDefinitions") && caps(6).includes("canChangeRoleDefinitions"));
  assert.ok(!caps(7).includes("canAddParticipant") && caps(7).includes("canBan") && caps(7).includes("canRemoveParticipant"));
  const moderator = byIndex.get(5);
  assert.equal(moderator?.minimumParticipantsConstraint, 1);
  assert.deepEqual(
    moderator?.authorizedRoleChanges.map((c) => [c.fromRoleIndex, c.targetRoleIndexes]),
    [
      [0, [1, 2, 3, 4, 5]],
      [1, [0, 2, 3, 4, 5]],
      [2, [0, 1, 3, 4, 5]],
      [3, [0, 1, 2, 4, 5]],
      [4, [0, 1, 2, 3, 5]],
      [5, [0, 1, 2, 3, 4]],
    ],
  );
  const enforcer = byIndex.get(7);
  assert.deepEqual([enforcer?.minimumParticipantsConstraint, enforcer?.maximumParticipantsConstraint, enforcer?.maximumActiveParticipantsConstraint], [1, 2, 0]);
  assert.deepEqual(
    enforcer?.authorizedRoleChanges.map((c) => [c.fromRoleIndex, c.targetRoleIndexes]),
    [
      [0, [1]],
      [1, [0]],
      [2, [0, 1]],
      [3, [0, 1]],
      [4, [0, 1]],
      [5, [0, 1]],
      [6, [0, 1]],
    ],
  );
  assert.deepEqual([p.creatorRole, p.addedRole, p.preauthorizedJoinRole, p.policyEnforcerRole], [6, 3, 3, 7]);
  assert.equal(p.policy.baseRoomPolicy.discoverable, true);
});

test("MIMI-POLICY-17 direct rooms have fixed membership and no role can add users", () => {
  const p = directPreset();
  assert.equal(p.policy.baseRoomPolicy.fixedMembership, true);
  for (const r of p.policy.roleData.roles) {
    const caps = roleCapabilityNames(p.policy.roleData, r.roleIndex);
    for (const c of ["canAddParticipant", "canRemoveParticipant", "canRemoveSelf", "canBan", "canChangeUserRole"] as const) assert.ok(!caps.includes(c), `${r.roleName} ${c}`);
  }
  assert.ok(roleCapabilityNames(p.policy.roleData, 2).includes("canRemoveOwnClient"), "users may remove their clients");
  // A fixed-membership policy where a role could add users is malformed.
  const bad = { ...p.policy, roleData: groupPreset().policy.roleData };
  assert.ok(roomPolicyProblems(bad).some((s) => s.includes("MIMI-POLICY-17")));
});

test("MIMI-POLICY-18 participantSetKey is canonical: order, duplicates and URI spelling do not matter", () => {
  const k = participantSetKey([alice, bob]);
  assert.equal(participantSetKey([bob, alice]), k);
  assert.equal(participantSetKey([bob, alice, bob]), k);
  assert.equal(participantSetKey(["MIMI://A.EXAMPLE/u/alice", bob]), k);
  assert.notEqual(participantSetKey([alice, bob, carol]), k);
  assert.equal(participantSetKey([carol, alice, bob]), participantSetKey([alice, bob, carol]));
  throwsCode(() => participantSetKey([alice]), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => participantSetKey([alice, alice]), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => participantSetKey([alice, "mimi://b.example/r/room"]), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => participantSetKey([alice, "not a uri"]), "MIMI_ERR_POLICY_INVALID");
});

test("initialParticipantList lists the creator, the others and the hub with the preset's roles", () => {
  const g = groupPreset();
  assert.deepEqual(initialParticipantList(g, { creator: alice, participants: [bob], hubUser: hub }), list([alice, 3], [bob, 2], [hub, 4]));
  const d = directPreset();
  assert.deepEqual(initialParticipantList(d, { creator: alice, participants: [bob, carol] }), list([alice, 2], [bob, 2], [carol, 2]));
  throwsCode(() => initialParticipantList(d, { creator: alice }), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => initialParticipantList(d, { creator: alice, participants: [bob], hubUser: hub }), "MIMI_ERR_POLICY_INVALID");
  throwsCode(() => initialParticipantList(g, { creator: alice, participants: [alice] }), "MIMI_ERR_POLICY_INVALID");
  const m = moderatedChannelPreset({ maxUsers: 500, multiDevice: false });
  assert.equal(m.policy.baseRoomPolicy.maxUsers, 500);
  assert.equal(m.policy.baseRoomPolicy.multiDevice, false);
  assert.deepEqual(initialParticipantList(m, { creator: alice }), list([alice, 6]));
});

// ---- the matrix ----------------------------------------------------------------------------------

type Action = "add" | "remove" | "kick" | "ban" | "unban" | "roleChange" | "send" | "react";
const ACTIONS: readonly Action[] = ["add", "remove", "kick", "ban", "unban", "roleChange", "send", "react"];

interface Matrix {
  readonly preset: PolicyPreset;
  /** Role a target has, and the role a role change moves it to (undefined: the preset has none). */
  readonly promoteTo: number | undefined;
  /** Actor role name → the actions it may take ("outsider": a user not in the list). */
  readonly rows: Readonly<Record<string, readonly Action[]>>;
}

const EVERYTHING = ACTIONS;
const MATRICES: readonly Matrix[] = [
  {
    preset: directPreset(),
    promoteTo: undefined,
    rows: { participant: ["send", "react"], banned: [], outsider: [] },
  },
  {
    preset: groupPreset(),
    promoteTo: 3,
    rows: {
      member: ["add", "send", "react"],
      admin: EVERYTHING,
      policy_enforcer: ["remove", "ban"],
      banned: [],
      outsider: [],
    },
  },
  {
    preset: moderatedChannelPreset(),
    promoteTo: 4,
    rows: {
      guest: ["react"],
      attendee: ["react"],
      speaker: ["send", "react"],
      moderator: EVERYTHING,
      super_admin: EVERYTHING,
      policy_enforcer: ["remove", "ban"],
      banned: [],
      outsider: [],
    },
  },
];

function attempt(m: Matrix, actorRole: number | undefined, action: Action): PolicyDecision | undefined {
  const p = m.preset;
  const actor = u("actor", "x.example");
  const target = bob;
  const bannedUser = carol;
  // The actor (unless an outsider), a target with the added role, a banned user.
  const entries: [string, number][] = [[target, p.addedRole], [bannedUser, 1]];
  if (actorRole !== undefined) entries.unshift([actor, actorRole]);
  const l = list(...entries);
  const actorActive = actorRole === undefined || actorRole === 1 || actorRole === p.policyEnforcerRole ? 0 : 1;
  const ctx = { activeClients: clients([actor, actorActive], [target, 1]) };
  const at = (user: string): number => l.participants.findIndex((x) => x.user === user);
  const policy = p.policy;
  switch (action) {
    case "add":
      return authorizeParticipantListUpdate(policy, l, as(actor), update({ add: [[dave, p.addedRole]] }), ctx);
    case "remove":
      return authorizeParticipantListUpdate(policy, l, as(actor), update({ remove: [at(target)] }), ctx);
    case "kick":
      return authorizeRemoveClient(policy, l, as(actor), target, ctx);
    case "ban":
      return authorizeParticipantListUpdate(policy, l, as(actor), update({ change: [[at(target), 1]] }), ctx);
    case "unban":
      return authorizeParticipantListUpdate(policy, l, as(actor), update({ change: [[at(bannedUser), p.addedRole]] }), ctx);
    case "roleChange":
      return m.promoteTo === undefined ? undefined : authorizeParticipantListUpdate(policy, l, as(actor), update({ change: [[at(target), m.promoteTo]] }), ctx);
    case "send":
      return authorizeSend(policy, l, actor);
    case "react":
      return authorizeCapability(policy, l, as(actor), "canReactToMessage");
  }
}

for (const m of MATRICES) {
  test(`MIMI-POLICY-07 MIMI-POLICY-09 MIMI-POLICY-11 MIMI-POLICY-13 MIMI-POLICY-15 MIMI-POLICY-16 MIMI-POLICY-24 MIMI-POLICY-25 ${m.preset.kind}: role × action matrix`, () => {
    for (const [roleName, may] of Object.entries(m.rows)) {
      const actorRole = roleName === "outsider" ? undefined : m.preset.roleIndex[roleName];
      assert.ok(roleName === "outsider" || actorRole !== undefined, `${m.preset.kind} has role ${roleName}`);
      for (const action of ACTIONS) {
        const d = attempt(m, actorRole, action);
        if (d === undefined) {
          assert.ok(!may.includes(action), `${m.preset.kind} has no role change, so ${roleName} cannot be expected to do one`);
          continue;
        }
        assert.equal(d.allowed, may.includes(action), `${m.preset.kind}: ${roleName} ${action} → ${JSON.stringify(d)}`);
      }
    }
  });
}

test("MIMI-POLICY-17 MIMI-POLICY-12 direct rooms: nobody adds, removes or leaves; users remove their own clients", () => {
  const p = directPreset();
  const l = initialParticipantList(p, { creator: alice, participants: [bob] });
  const ctx = { activeClients: clients([alice, 2], [bob, 1]) };
  const leave = authorizeParticipantListUpdate(p.policy, l, as(alice), update({ remove: [0] }), ctx);
  assert.ok(!leave.allowed && leave.code === "fixedMembership" && leave.rule === "MIMI-POLICY-17");
  const add = authorizeParticipantListUpdate(p.policy, l, as(alice), update({ add: [[carol, 2]] }), ctx);
  assert.ok(!add.allowed && add.code === "fixedMembership");
  assert.ok(authorizeRemoveClient(p.policy, l, as(alice), alice, ctx).allowed);
  assert.ok(authorizeRemoveClient(p.policy, l, as(bob), bob, ctx).allowed, "even the last client");
});

test("presets encode with the roles_list and base_room_policy codecs of src/mls/components.ts", () => {
  for (const p of [directPreset(), groupPreset(), moderatedChannelPreset({ noRole: false })]) {
    assert.deepEqual(decodeRoleData(encodeRoleData(p.policy.roleData)), p.policy.roleData, p.kind);
    assert.deepEqual(decodeBaseRoomPolicy(encodeBaseRoomPolicy(p.policy.baseRoomPolicy)), p.policy.baseRoomPolicy, p.kind);
  }
  // Without no_role, a non-participant holds no capability: join codes are off.
  const m = moderatedChannelPreset({ noRole: false });
  assert.equal(m.policy.roleData.roles.some((r) => r.roleIndex === 0), false);
  assert.deepEqual(roomPolicyProblems(m.policy), []);
});
