// Shared helpers for the room-policy tests (not a test file itself).
import assert from "node:assert/strict";
import { MimiError } from "../../../src/errors.ts";
import type { MimiErrorCode } from "../../../src/errors.ts";
import type {
  Actor,
  ParticipantListData,
  ParticipantListUpdate,
  PolicyDecision,
  PolicyDenialCode,
  UserRolePair,
} from "../../../src/policy/index.ts";

/** A canonical MIMI user URI. */
export const u = (name: string, host = "a.example"): string => `mimi://${host}/u/${name}`;

export const alice = u("alice");
export const bob = u("bob", "b.example");
export const carol = u("carol", "c.example");
export const dave = u("dave", "d.example");
export const erin = u("erin", "e.example");
export const hub = u("policy-enforcer", "hub.example");

export const as = (user: string): Actor => ({ kind: "user", user });
export const external = (roleIndex: number, id = "hub.example"): Actor => ({ kind: "external", id, roleIndex });

export function list(...entries: [string, number][]): ParticipantListData {
  return { participants: entries.map(([user, roleIndex]): UserRolePair => ({ user, roleIndex })) };
}

export function update(parts: { change?: [number, number][]; remove?: number[]; add?: [string, number][] }): ParticipantListUpdate {
  return {
    changedRoleParticipants: (parts.change ?? []).map(([userIndex, roleIndex]) => ({ userIndex, roleIndex })),
    removedIndices: parts.remove ?? [],
    addedParticipants: (parts.add ?? []).map(([user, roleIndex]) => ({ user, roleIndex })),
  };
}

export const clients = (...entries: [string, number][]): Map<string, number> => new Map(entries);

export function allowed(d: PolicyDecision | { allowed: boolean }, message?: string): void {
  if (!d.allowed) assert.fail(`${message ?? "expected allowed"}: denied ${JSON.stringify(d)}`);
}

export function denied(d: PolicyDecision | { allowed: boolean }, code: PolicyDenialCode, rule?: string, message?: string): void {
  if (d.allowed) assert.fail(`${message ?? "expected a denial"}: allowed`);
  const denial = d as { code: string; rule: string; reason: string };
  assert.equal(denial.code, code, `${message ?? ""} ${denial.reason}`);
  if (rule !== undefined) assert.equal(denial.rule, rule, `${message ?? ""} ${denial.reason}`);
  assert.ok(denial.reason.length > 0);
}

/** Runs `fn`, asserts it throws a MimiError with `code`. */
export function throwsCode(fn: () => unknown, code: MimiErrorCode): MimiError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MimiError, `expected MimiError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}
