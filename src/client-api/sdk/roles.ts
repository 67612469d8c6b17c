// Which role the SDK gives a user it adds, and role names to indexes (draft-ietf-mimi-room-policy-03
// §3): the hub enforces the policy, the SDK only picks what the actor's authorized_role_changes
// allow from role 0 ("not in the list").
import { MimiError } from "../../errors.ts";
import type { ParticipantListData, RoleData } from "../../mls/index.ts";

/** Role names the presets use for ordinary added users, in order of preference. */
const ADDED_ROLE_NAMES = ["member", "attendee", "participant"];
const BANNED = 1;

export function roleOf(list: ParticipantListData | undefined, user: string): number {
  return list?.participants.find((p) => p.user === user)?.roleIndex ?? 0;
}

/**
 * The role for a user that `actorRole` adds: one of the actor's allowed targets from role 0,
 * preferring the presets' ordinary roles (member, attendee, participant), else the lowest
 * non-banned target; 2 when the room has no roles_list (the hub decides).
 */
export function addedRole(roles: RoleData | undefined, actorRole: number): number {
  if (roles === undefined) return 2;
  const actor = roles.roles.find((r) => r.roleIndex === actorRole);
  const targets = (actor?.authorizedRoleChanges.find((c) => c.fromRoleIndex === 0)?.targetRoleIndexes ?? []).filter((t) => t !== BANNED && t !== 0);
  if (targets.length === 0) return 2;
  for (const name of ADDED_ROLE_NAMES) {
    const r = roles.roles.find((x) => x.roleName === name && targets.includes(x.roleIndex));
    if (r !== undefined) return r.roleIndex;
  }
  return Math.min(...targets);
}

/** A role given by index or by name (e.g. "admin", "moderator", "banned"). */
export function resolveRole(roles: RoleData | undefined, role: number | string): number {
  if (typeof role === "number") {
    if (!Number.isSafeInteger(role) || role < 1) throw new MimiError("MIMI_ERR_CLI_USAGE", `role index ${role} is not a positive integer`);
    return role;
  }
  if (/^\d+$/.test(role)) return resolveRole(roles, Number(role));
  const r = roles?.roles.find((x) => x.roleName === role);
  if (r === undefined) {
    const known = roles?.roles.map((x) => x.roleName).join(", ") ?? "none";
    throw new MimiError("MIMI_ERR_CLI_USAGE", `the room has no role named ${JSON.stringify(role)} (roles: ${known})`);
  }
  return r.roleIndex;
}

/** The name of a role index, or its number as text. */
export function roleName(roles: RoleData | undefined, index: number): string {
  return roles?.roles.find((r) => r.roleIndex === index)?.roleName ?? String(index);
}
