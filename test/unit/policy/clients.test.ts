// Clients (MLS members) under room policy: canAddOwnClient, canRemoveOwnClient, canKick,
// multi_device, max_clients and the active-participant constraints.
import { test } from "node:test";
import { authorizeAddClient, authorizeRemoveClient, directPreset, groupPreset, moderatedChannelPreset } from "../../../src/policy/index.ts";
import type { RoomPolicy } from "../../../src/policy/index.ts";
import { alice, allowed, as, bob, carol, clients, dave, denied, external, hub, list, throwsCode } from "./helpers.ts";

const group = groupPreset().policy;
const mod = moderatedChannelPreset().policy;

test("MIMI-POLICY-28 a user adds its own clients with canAddOwnClient; only participants have clients", () => {
  const l = list([alice, 6], [bob, 3], [carol, 2], [dave, 1]);
  const ctx = { activeClients: clients([alice, 1], [bob, 1], [carol, 1]) };
  allowed(authorizeAddClient(mod, l, as(bob), bob, ctx), "an attendee adds its second device");
  denied(authorizeAddClient(mod, l, as(carol), carol, ctx), "missingCapability", "MIMI-POLICY-28");
  denied(authorizeAddClient(mod, l, as(dave), dave, ctx), "banned", "MIMI-POLICY-28");
  denied(authorizeAddClient(mod, l, as(alice), "mimi://e.example/u/erin", ctx), "notParticipant", "MIMI-POLICY-28");
  // Someone else's clients: only together with adding that user to the list.
  denied(authorizeAddClient(mod, l, as(alice), bob, ctx), "missingCapability", "MIMI-POLICY-28");
  allowed(authorizeAddClient(mod, l, as(alice), bob, { ...ctx, targetAddedInSameCommit: true }));
  throwsCode(() => authorizeAddClient(mod, l, as(bob), bob, { count: 0 }), "MIMI_ERR_POLICY_INVALID");
});

test("MIMI-POLICY-29 fixed membership: a participant brings in the clients of a listed user who has none yet, and only then", () => {
  const direct = directPreset().policy;
  const participant = direct.roleData.roles.find((r) => r.roleName !== "banned" && r.roleIndex !== 0)?.roleIndex ?? 2;
  const l = list([alice, participant], [bob, participant]);
  allowed(authorizeAddClient(direct, l, as(alice), bob, { activeClients: clients([alice, 1]) }), "the creator adds the other side's clients");
  allowed(authorizeAddClient(direct, l, as(alice), bob, { activeClients: clients([alice, 1]), count: 2 }), "all of them at once");
  denied(authorizeAddClient(direct, l, as(alice), bob, { activeClients: clients([alice, 1], [bob, 1]) }), "missingCapability", "MIMI-POLICY-28");
  denied(authorizeAddClient(direct, l, as(alice), carol, { activeClients: clients([alice, 1]) }), "notParticipant", "MIMI-POLICY-28");
  denied(authorizeAddClient(direct, l, as(carol), bob, { activeClients: clients([alice, 1]) }), "missingCapability", "MIMI-POLICY-28");
  // Not in rooms without fixed membership: there the adder of the user adds its clients.
  denied(authorizeAddClient(group, list([alice, 3], [bob, 2]), as(alice), bob, { activeClients: clients([alice, 1]) }), "missingCapability", "MIMI-POLICY-28");
});

test("MIMI-POLICY-19 multi_device false: one client per user", () => {
  const single: RoomPolicy = { ...group, baseRoomPolicy: { ...group.baseRoomPolicy, multiDevice: false } };
  const l = list([alice, 3], [bob, 2]);
  allowed(authorizeAddClient(single, l, as(bob), bob, { activeClients: clients([alice, 1]) }));
  denied(authorizeAddClient(single, l, as(bob), bob, { activeClients: clients([alice, 1], [bob, 1]) }), "singleDevice", "MIMI-POLICY-19");
  denied(authorizeAddClient(single, l, as(bob), bob, { activeClients: clients([alice, 1]), count: 2 }), "singleDevice", "MIMI-POLICY-19");
});

test("MIMI-POLICY-20 max_clients bounds the clients of the whole group", () => {
  const capped: RoomPolicy = { ...group, baseRoomPolicy: { ...group.baseRoomPolicy, maxClients: 3 } };
  const l = list([alice, 3], [bob, 2]);
  allowed(authorizeAddClient(capped, l, as(bob), bob, { activeClients: clients([alice, 2]) }));
  denied(authorizeAddClient(capped, l, as(bob), bob, { activeClients: clients([alice, 2], [bob, 1]) }), "maxClients", "MIMI-POLICY-20");
});

test("MIMI-POLICY-23 a role with maximum_active_participants 0 never has clients (banned, policy_enforcer)", () => {
  const l = list([alice, 3], [hub, 4]);
  denied(authorizeAddClient(group, l, as(alice), hub, { activeClients: clients([alice, 1]), targetAddedInSameCommit: true }), "constraintViolated", "MIMI-POLICY-23");
  denied(authorizeAddClient(group, l, as(hub), hub, { activeClients: clients([alice, 1]) }), "missingCapability", "MIMI-POLICY-28");
});

test("MIMI-POLICY-11 canKick removes another participant's clients, within the min-active constraint", () => {
  const l = list([alice, 3], [bob, 2], [carol, 2], [hub, 4]);
  const ctx = { activeClients: clients([alice, 1], [bob, 2], [carol, 1]) };
  allowed(authorizeRemoveClient(group, l, as(alice), bob, ctx));
  allowed(authorizeRemoveClient(group, l, as(alice), bob, { ...ctx, count: 2 }));
  denied(authorizeRemoveClient(group, l, as(carol), bob, ctx), "missingCapability", "MIMI-POLICY-11");
  denied(authorizeRemoveClient(group, l, as(hub), bob, ctx), "missingCapability", "MIMI-POLICY-11");
  denied(authorizeRemoveClient(group, l, external(4), bob, ctx), "missingCapability", "MIMI-POLICY-11");
  // Removing or banning the user in the same commit covers its clients.
  allowed(authorizeRemoveClient(group, l, as(hub), bob, { ...ctx, targetLeavingInSameCommit: true }));
  // At least one active member: the last one cannot be kicked out.
  const minActive: RoomPolicy = {
    ...group,
    roleData: { roles: group.roleData.roles.map((r) => (r.roleIndex === 2 ? { ...r, minimumActiveParticipantsConstraint: 1 } : r)) },
  };
  allowed(authorizeRemoveClient(minActive, l, as(alice), carol, ctx), "bob stays active");
  denied(authorizeRemoveClient(minActive, l, as(alice), bob, { activeClients: clients([alice, 1], [bob, 1]) }), "constraintViolated", "MIMI-POLICY-23");
  // Removing more clients than the user has is invalid.
  denied(authorizeRemoveClient(group, l, as(alice), carol, { ...ctx, count: 2 }), "invalidUpdate", "MIMI-POLICY-12");
});

test("MIMI-POLICY-12 canRemoveOwnClient: attendees remove their clients, guests cannot", () => {
  const l = list([alice, 6], [bob, 3], [carol, 2]);
  const ctx = { activeClients: clients([alice, 1], [bob, 2], [carol, 1]) };
  allowed(authorizeRemoveClient(mod, l, as(bob), bob, ctx));
  denied(authorizeRemoveClient(mod, l, as(carol), carol, ctx), "missingCapability", "MIMI-POLICY-12");
  allowed(authorizeRemoveClient(mod, l, as(carol), carol, { ...ctx, targetLeavingInSameCommit: true }), "leaving takes the clients along");
});

test("MIMI-POLICY-24 banned and removed users may still remove their own clients, and nothing else", () => {
  const l = list([alice, 3], [bob, 1], [carol, 2]);
  const ctx = { activeClients: clients([alice, 1], [bob, 1], [carol, 1], [dave, 1]) };
  allowed(authorizeRemoveClient(group, l, as(bob), bob, ctx), "banned user removes its client");
  allowed(authorizeRemoveClient(group, l, as(dave), dave, ctx), "removed user removes its client");
  denied(authorizeRemoveClient(group, l, as(bob), carol, ctx), "banned", "MIMI-POLICY-24");
  denied(authorizeRemoveClient(group, l, as(dave), carol, ctx), "notParticipant", "MIMI-POLICY-24");
  // Any participant may clean up clients whose user is banned or gone.
  allowed(authorizeRemoveClient(group, l, as(carol), bob, ctx));
  allowed(authorizeRemoveClient(group, l, as(carol), dave, ctx));
});
