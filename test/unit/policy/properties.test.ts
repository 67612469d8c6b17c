// Property tests (fast-check) of the participant-list engine and of whole commits, over the
// three presets, random lists, actors, updates and client counts.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MimiError } from "../../../src/errors.ts";
import { applyParticipantListUpdates } from "../../../src/mls/components.ts";
import { authorizeCommit, authorizeParticipantListUpdate, directPreset, groupPreset, moderatedChannelPreset } from "../../../src/policy/index.ts";
import type { Actor, ParticipantListData, ParticipantListUpdate, PolicyPreset, PolicyProposal } from "../../../src/policy/index.ts";

const PRESETS: readonly PolicyPreset[] = [directPreset(), groupPreset(), moderatedChannelPreset()];
const POOL = Array.from({ length: 7 }, (_, i) => `mimi://p${i % 3}.example/u/user${i}`);
const RUNS = Number(process.env["POLICY_RUNS"] ?? 1000);

interface Scenario {
  preset: PolicyPreset;
  list: ParticipantListData;
  actor: Actor;
  update: ParticipantListUpdate;
  active: Map<string, number>;
}

// Seeds are mapped onto the generated list so that most updates are meaningful (indexes inside the
// list, defined roles, new users) and a few are not (an index just past the end, role 0 or 9).
const pick = <T>(xs: readonly T[], seed: number): T | undefined => xs[seed % Math.max(1, xs.length)];
const indexFrom = (seed: number, length: number): number => (seed % 10 === 9 ? length : seed % Math.max(1, length));
const roleFrom = (seed: number, roles: readonly number[]): number => (seed % 20 === 19 ? 0 : seed % 20 === 18 ? 9 : (pick(roles, seed) ?? 1));

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    p: fc.nat({ max: PRESETS.length - 1 }),
    members: fc.uniqueArray(fc.constantFrom(...POOL), { minLength: 1, maxLength: 6 }),
    roleSeeds: fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
    clientSeeds: fc.array(fc.nat({ max: 2 }), { minLength: 7, maxLength: 7 }),
    actorSeed: fc.nat({ max: 9 }),
    privileged: fc.nat({ max: 9 }),
    changes: fc.array(fc.record({ i: fc.nat(), r: fc.nat() }), { maxLength: 2 }),
    removed: fc.array(fc.nat(), { maxLength: 2 }),
    added: fc.array(fc.record({ u: fc.nat(), r: fc.nat() }), { maxLength: 2 }),
    selfAdd: fc.boolean(),
  })
  .map((r) => {
    const preset = PRESETS[r.p] ?? groupPreset();
    const roles = preset.policy.roleData.roles.map((x) => x.roleIndex).filter((i) => i !== 0);
    const participants = r.members.map((user, i) => ({ user, roleIndex: roleFrom(r.roleSeeds[i] ?? 0, roles) || preset.addedRole }));
    const outsiders = POOL.filter((x) => !r.members.includes(x));
    const outsider = outsiders[0] ?? "mimi://z.example/u/nobody";
    let actor: Actor;
    const at = r.actorSeed % r.members.length;
    const member = r.actorSeed < 8 ? r.members[at] : undefined;
    if (member !== undefined) {
      actor = { kind: "user", user: member };
      const own = participants[at];
      if (r.privileged < 7 && own !== undefined) own.roleIndex = preset.creatorRole;
    } else if (r.actorSeed === 9 && preset.policyEnforcerRole !== undefined) actor = { kind: "external", id: "hub", roleIndex: preset.policyEnforcerRole };
    else actor = { kind: "user", user: outsider };
    const list: ParticipantListData = { participants: participants.map((p) => (p.roleIndex === 9 || p.roleIndex === 0 ? { ...p, roleIndex: preset.addedRole } : p)) };
    const n = list.participants.length;
    const added = r.added.map((a) => ({ user: pick(a.u % 5 === 4 ? POOL : outsiders, a.u) ?? outsider, roleIndex: roleFrom(a.r, roles) }));
    if (r.selfAdd && actor.kind === "user" && member === undefined) added.push({ user: actor.user, roleIndex: preset.preauthorizedJoinRole ?? preset.addedRole });
    const active = new Map(r.members.map((user, i) => [user, r.clientSeeds[i] ?? 0]));
    return {
      preset,
      list,
      actor,
      active,
      update: {
        changedRoleParticipants: r.changes.map((c) => {
          const userIndex = indexFrom(c.i, n);
          const current = list.participants[userIndex]?.roleIndex;
          let roleIndex = roleFrom(c.r, roles);
          if (roleIndex === current && c.r % 7 !== 0) roleIndex = roleFrom(c.r + 1, roles);
          return { userIndex, roleIndex };
        }),
        removedIndices: r.removed.map((i) => indexFrom(i, n)),
        addedParticipants: added,
      },
    };
  });

const decide = (s: Scenario): ReturnType<typeof authorizeParticipantListUpdate> =>
  authorizeParticipantListUpdate(s.preset.policy, s.list, s.actor, s.update, { activeClients: s.active, preauthorizedRoleIndex: s.preset.preauthorizedJoinRole });

test("MIMI-POLICY-04 MIMI-POLICY-05 an authorized update yields a valid list, equal to src/mls's application of it", () => {
  fc.assert(
    fc.property(scenario, (s) => {
      const d = decide(s);
      if (!d.allowed) return;
      const users = d.list.participants.map((p) => p.user);
      assert.equal(new Set(users).size, users.length, "no duplicate users");
      const defined = new Set(s.preset.policy.roleData.roles.map((r) => r.roleIndex));
      for (const p of d.list.participants) assert.ok(p.roleIndex !== 0 && defined.has(p.roleIndex));
      const touched = d.actions.map((a) => a.user);
      assert.equal(new Set(touched).size, touched.length, "each user is touched at most once");
      // Differential: the wire-level application in src/mls/components.ts gives the same list.
      assert.deepEqual(d.list, applyParticipantListUpdates(s.list, [s.update]));
    }),
    { numRuns: RUNS },
  );
});

test("MIMI-POLICY-06 the engine never mutates its inputs; a denied update leaves the list as it was", () => {
  fc.assert(
    fc.property(scenario, (s) => {
      const snapshot = (): string => JSON.stringify({ list: s.list, update: s.update, active: [...s.active] });
      const before = snapshot();
      decide(s);
      assert.equal(snapshot(), before);
    }),
    { numRuns: RUNS },
  );
});

test("MIMI-POLICY-24 banned users change nothing; outsiders can only add themselves", () => {
  fc.assert(
    fc.property(scenario, (s) => {
      const d = decide(s);
      if (!d.allowed || s.actor.kind !== "user") return;
      const user = s.actor.user;
      const role = s.list.participants.find((p) => p.user === user)?.roleIndex ?? 0;
      assert.notEqual(role, 1, "a banned actor is never allowed");
      if (role === 0) for (const a of d.actions) assert.ok(a.kind === "join" && a.user === user, JSON.stringify(a));
    }),
    { numRuns: RUNS },
  );
});

test("MIMI-POLICY-17 MIMI-POLICY-15 fixed membership keeps the user set; the policy enforcer never adds anyone", () => {
  fc.assert(
    fc.property(scenario, (s) => {
      const d = decide(s);
      if (!d.allowed) return;
      const nonBanned = (l: ParticipantListData): Set<string> => new Set(l.participants.filter((p) => p.roleIndex !== 1).map((p) => p.user));
      if (s.preset.policy.baseRoomPolicy.fixedMembership) {
        assert.deepEqual(new Set(d.list.participants.map((p) => p.user)), new Set(s.list.participants.map((p) => p.user)));
      }
      const enforcer = s.preset.policyEnforcerRole;
      const actorRole = s.actor.kind === "external" ? s.actor.roleIndex : s.list.participants.find((p) => p.user === (s.actor as { user: string }).user)?.roleIndex;
      if (enforcer !== undefined && actorRole === enforcer) {
        const was = nonBanned(s.list);
        for (const user of nonBanned(d.list)) assert.ok(was.has(user), `${user} appeared`);
      }
    }),
    { numRuns: RUNS },
  );
});

test("MIMI-POLICY-09 MIMI-POLICY-28 an authorized commit leaves clients only with non-banned participants", () => {
  const commitArb = fc.record({
    s: scenario,
    adds: fc.array(fc.constantFrom(...POOL), { maxLength: 3 }),
    removes: fc.array(fc.constantFrom(...POOL), { maxLength: 3 }),
    withList: fc.boolean(),
  });
  fc.assert(
    fc.property(commitArb, ({ s, adds, removes, withList }) => {
      if (s.actor.kind !== "user") return;
      const proposals: PolicyProposal[] = [
        ...(withList ? [{ kind: "participantList", update: s.update } as const] : []),
        ...adds.map((user) => ({ kind: "addClient", user }) as const),
        ...removes.map((user) => ({ kind: "removeClient", user }) as const),
      ];
      const d = authorizeCommit(s.preset.policy, { participantList: s.list, activeClients: s.active }, { committer: s.actor.user, external: true, proposals, preauthorizedRoleIndex: s.preset.preauthorizedJoinRole });
      if (!d.allowed) return;
      const roles = new Map(d.participantList.participants.map((p) => [p.user, p.roleIndex]));
      for (const [user, n] of d.activeClients) {
        assert.ok(n > 0);
        // Users the commit touched, or whose clients it added; a pre-existing inconsistency that
        // the commit leaves alone (or reduces) does not block it.
        const touched = n > (s.active.get(user) ?? 0) || d.actions.some((a) => a.user === user);
        if (!touched) continue;
        const role = roles.get(user);
        assert.ok(role !== undefined && role !== 1, `${user} keeps ${n} clients with role ${String(role)}`);
      }
    }),
    { numRuns: RUNS },
  );
});

test("malformed updates throw MIMI_ERR_POLICY_INVALID and nothing else", () => {
  const junk = fc.oneof(fc.integer({ min: -3, max: 10 }), fc.double(), fc.constant(Number.NaN), fc.string({ maxLength: 3 }) as fc.Arbitrary<unknown>);
  fc.assert(
    fc.property(scenario, junk, junk, (s, a, b) => {
      const update = { changedRoleParticipants: [{ userIndex: a, roleIndex: b }], removedIndices: [a], addedParticipants: [] } as unknown as ParticipantListUpdate;
      try {
        authorizeParticipantListUpdate(s.preset.policy, s.list, s.actor, update);
      } catch (err) {
        assert.ok(err instanceof MimiError && err.code === "MIMI_ERR_POLICY_INVALID", String(err));
      }
    }),
    { numRuns: RUNS },
  );
});
