// Roles and their structural rules (draft-ietf-mimi-room-policy-03 §3 and §5): an indexed view of
// a RoomPolicy, and validation of the policy and of a participant list against it.
//
// Malformed input (a role defined twice, a participant with role 0, a list entry whose role does
// not exist, …) throws MimiError MIMI_ERR_POLICY_INVALID: it is a broken state, not a request the
// engine could refuse.
import { MimiError } from "../errors.ts";
import { Capabilities } from "./capabilities.ts";
import type { CapabilityName } from "./capabilities.ts";
import type { BaseRoomPolicy, ParticipantListData, Role, RoleData, RoomPolicy } from "./types.ts";

/** role_index 0: a user that is not (yet, or any more) in the participant list (§3). */
export const NOT_IN_LIST_ROLE_INDEX = 0;
/** role_index 1, named exactly "banned", is the ban role of canBan/canUnBan (§8.1.3). */
export const BANNED_ROLE_INDEX = 1;
export const BANNED_ROLE_NAME = "banned";

const UINT32_MAX = 0xffffffff;
const isUint32 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= UINT32_MAX;
const isUint16 = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffff;

export function invalid(message: string, details?: Record<string, unknown>): MimiError {
  return new MimiError("MIMI_ERR_POLICY_INVALID", message, details === undefined ? {} : { details });
}

/** An indexed, read-only view of a RoomPolicy. Build one with `policyView`. */
export interface PolicyView {
  readonly policy: RoomPolicy;
  readonly base: BaseRoomPolicy;
  /** The role with this index; role 0 only if the room defines a "no_role" entry. */
  role(index: number): Role | undefined;
  isDefined(index: number): boolean;
  has(roleIndex: number, capability: CapabilityName): boolean;
  /** authorized_role_changes of role `roleIndex`: may it move a user from `from` to `to`? */
  canTransition(roleIndex: number, from: number, to: number): boolean;
  /** Role 1 exists and is named "banned" (§8.1.3). */
  readonly bannedRoleExists: boolean;
  /** `index` is the ban role (1, named "banned"). */
  isBanned(index: number): boolean;
  /** Role indexes defined by the room (role 0 included when defined). */
  readonly roleIndexes: readonly number[];
}

function roleName(role: Role): string {
  return role.roleName;
}

/**
 * Structural problems of a policy, as sentences (empty when the policy is well formed).
 *
 * MIMI-POLICY-01 (§3): role indexes are unique; role 0 may be defined only as the entry that
 * applies to non-participants ("no_role" in Appendix A).
 * MIMI-POLICY-08 (§8.1.1): canOpenJoin MUST NOT appear in any non-zero role.
 * MIMI-POLICY-17 (§5): in a fixed-membership room no non-zero, non-banned role holds
 * canAddParticipant.
 * MIMI-POLICY-22 (§5): if parent_dependant is true, parent_room MUST be set; otherwise it is
 * zero-length.
 */
export function roomPolicyProblems(policy: RoomPolicy): string[] {
  const problems: string[] = [];
  const roles = policy.roleData.roles;
  const defined = new Set<number>();
  for (const role of roles) {
    if (!isUint32(role.roleIndex)) {
      problems.push(`role_index ${String(role.roleIndex)} is not a uint32`);
      continue;
    }
    if (defined.has(role.roleIndex)) problems.push(`role_index ${role.roleIndex} is defined twice`);
    defined.add(role.roleIndex);
  }
  const banned = roles.find((r) => r.roleIndex === BANNED_ROLE_INDEX);
  const bannedRoleExists = banned !== undefined && roleName(banned) === BANNED_ROLE_NAME;
  for (const role of roles) {
    const where = `role ${String(role.roleIndex)}`;
    for (const cap of role.roleCapabilities) if (!isUint16(cap)) problems.push(`${where} has a capability that is not a uint16`);
    const caps = new Set(role.roleCapabilities);
    if (role.roleIndex !== NOT_IN_LIST_ROLE_INDEX && caps.has(Capabilities.canOpenJoin.value)) {
      problems.push(`${where} holds canOpenJoin, which only role 0 may hold (MIMI-POLICY-08)`);
    }
    if (
      policy.baseRoomPolicy.fixedMembership &&
      role.roleIndex !== NOT_IN_LIST_ROLE_INDEX &&
      !(bannedRoleExists && role.roleIndex === BANNED_ROLE_INDEX) &&
      caps.has(Capabilities.canAddParticipant.value)
    ) {
      problems.push(`${where} holds canAddParticipant in a fixed-membership room (MIMI-POLICY-17)`);
    }
    const bounds: [string, number, number | undefined][] = [
      ["participants", role.minimumParticipantsConstraint, role.maximumParticipantsConstraint],
      ["active participants", role.minimumActiveParticipantsConstraint, role.maximumActiveParticipantsConstraint],
    ];
    for (const [what, min, max] of bounds) {
      if (!isUint32(min) || (max !== undefined && !isUint32(max))) problems.push(`${where} has a ${what} constraint that is not a uint32`);
      else if (max !== undefined && min > max) problems.push(`${where} requires at least ${min} but at most ${max} ${what}`);
    }
    for (const change of role.authorizedRoleChanges) {
      for (const index of [change.fromRoleIndex, ...change.targetRoleIndexes]) {
        if (!isUint32(index)) problems.push(`${where} has an authorized_role_changes index that is not a uint32`);
        else if (index !== NOT_IN_LIST_ROLE_INDEX && !defined.has(index)) {
          problems.push(`${where} authorizes a change involving undefined role ${index}`);
        }
      }
    }
  }
  const base = policy.baseRoomPolicy;
  if (base.parentDependant && base.parentRoom.length === 0) problems.push("parent_dependant is true but parent_room is empty (MIMI-POLICY-22)");
  if (!base.parentDependant && base.parentRoom.length !== 0) problems.push("parent_room is set but parent_dependant is false (MIMI-POLICY-22)");
  if (base.maxClients !== undefined && !isUint32(base.maxClients)) problems.push("max_clients is not a uint32");
  if (base.maxUsers !== undefined && !isUint32(base.maxUsers)) problems.push("max_users is not a uint32");
  return problems;
}

/** Throws MIMI_ERR_POLICY_INVALID unless the policy is well formed (see roomPolicyProblems). */
export function assertValidRoomPolicy(policy: RoomPolicy): void {
  const problems = roomPolicyProblems(policy);
  if (problems.length > 0) throw invalid(`room policy is malformed: ${problems.join("; ")}`, { problems });
}

/** Builds the indexed view; throws MIMI_ERR_POLICY_INVALID for a malformed policy. */
export function policyView(policy: RoomPolicy): PolicyView {
  assertValidRoomPolicy(policy);
  const roles = new Map<number, Role>();
  const caps = new Map<number, ReadonlySet<number>>();
  const transitions = new Map<number, Map<number, Set<number>>>();
  for (const role of policy.roleData.roles) {
    roles.set(role.roleIndex, role);
    caps.set(role.roleIndex, new Set(role.roleCapabilities));
    const table = new Map<number, Set<number>>();
    // Several entries with the same from_role_index are merged (the draft does not forbid them).
    for (const change of role.authorizedRoleChanges) {
      const targets = table.get(change.fromRoleIndex) ?? new Set<number>();
      for (const t of change.targetRoleIndexes) targets.add(t);
      table.set(change.fromRoleIndex, targets);
    }
    transitions.set(role.roleIndex, table);
  }
  const banned = roles.get(BANNED_ROLE_INDEX);
  const bannedRoleExists = banned !== undefined && roleName(banned) === BANNED_ROLE_NAME;
  const empty: ReadonlySet<number> = new Set();
  return {
    policy,
    base: policy.baseRoomPolicy,
    role: (index) => roles.get(index),
    isDefined: (index) => roles.has(index),
    has: (roleIndex, capability) => (caps.get(roleIndex) ?? empty).has(Capabilities[capability].value),
    canTransition: (roleIndex, from, to) => transitions.get(roleIndex)?.get(from)?.has(to) ?? false,
    bannedRoleExists,
    isBanned: (index) => bannedRoleExists && index === BANNED_ROLE_INDEX,
    roleIndexes: [...roles.keys()].sort((a, b) => a - b),
  };
}

/**
 * Throws MIMI_ERR_POLICY_INVALID unless `list` is a well-formed participant list for the policy:
 * users are non-empty strings and appear once (protocol-06 §7.5 "each user is assigned exactly
 * one role"), no entry has role 0 (MIMI-POLICY-01), and every role is defined in roles_list.
 */
export function assertValidParticipantList(view: PolicyView, list: ParticipantListData): void {
  const seen = new Set<string>();
  for (const [i, p] of list.participants.entries()) {
    if (typeof p.user !== "string" || p.user.length === 0) throw invalid(`participant ${i} has no user`, { index: i });
    if (!isUint32(p.roleIndex)) throw invalid(`participant ${i} has a role_index that is not a uint32`, { index: i });
    if (p.roleIndex === NOT_IN_LIST_ROLE_INDEX) throw invalid(`participant ${i} has the reserved role_index 0 (MIMI-POLICY-01)`, { index: i });
    if (!view.isDefined(p.roleIndex)) throw invalid(`participant ${i} has role ${p.roleIndex}, which the room does not define`, { index: i, roleIndex: p.roleIndex });
    if (seen.has(p.user)) throw invalid(`participant ${i} repeats a user`, { index: i });
    seen.add(p.user);
  }
}

/** Throws MIMI_ERR_POLICY_INVALID unless every count is a non-negative integer. */
export function assertValidActiveClients(clients: ReadonlyMap<string, number> | undefined, what: string): void {
  if (clients === undefined) return;
  if (!(clients instanceof Map)) throw invalid(`${what} must be a Map of user to client count`);
  for (const [user, n] of clients) {
    if (typeof user !== "string" || !Number.isSafeInteger(n) || n < 0) throw invalid(`${what} has an invalid client count`, { count: n });
  }
}

/** The role of `user` in `list`, or 0 when it is not listed. */
export function roleOfUser(list: ParticipantListData, user: string): number {
  return list.participants.find((p) => p.user === user)?.roleIndex ?? NOT_IN_LIST_ROLE_INDEX;
}

/** Names of the capabilities a role holds, in registry order (unknown values left out). */
export function roleCapabilityNames(roleData: RoleData, roleIndex: number): CapabilityName[] {
  const role = roleData.roles.find((r) => r.roleIndex === roleIndex);
  if (role === undefined) return [];
  const caps = new Set(role.roleCapabilities);
  return (Object.keys(Capabilities) as CapabilityName[]).filter((n) => caps.has(Capabilities[n].value));
}
