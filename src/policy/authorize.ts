// The room-policy authorization engine: draft-ietf-mimi-room-policy-03 §3–§5 and §8, with the
// participant-list and hub rules of draft-ietf-mimi-protocol-06 §5.3, §7.5 and §7.6.
//
// Pure functions, no I/O. Every function answers with a decision; a denial is a value
// (`{ allowed: false, code, reason, rule }`), never an exception. Only malformed input (a broken
// policy, a participant list with duplicates or undefined roles, a non-integer index, an actor of
// an unknown kind) throws MimiError MIMI_ERR_POLICY_INVALID.
//
// Decisions where the drafts are silent or inconsistent are listed in docs/policy.md §"Decisions";
// the comments below name them where they are taken.
import { MimiError } from "../errors.ts";
import { tryParseMimiUri } from "../ids/mimiUri.ts";
import type { CapabilityName } from "./capabilities.ts";
import {
  NOT_IN_LIST_ROLE_INDEX,
  assertValidActiveClients,
  assertValidParticipantList,
  invalid,
  policyView,
  roomPolicyProblems,
} from "./roles.ts";
import type { PolicyView } from "./roles.ts";
import type {
  ActiveClients,
  Actor,
  CommitDecision,
  CommitDescription,
  MembershipContext,
  ParticipantListAction,
  ParticipantListActionKind,
  ParticipantListData,
  ParticipantListDecision,
  ParticipantListUpdate,
  PolicyAllowed,
  PolicyDecision,
  PolicyDenial,
  PolicyDenialCode,
  PolicyProposal,
  ProposedListUpdate,
  RoomMetaData,
  RoomPolicy,
  RoomState,
  UserRolePair,
} from "./types.ts";

const ALLOWED: PolicyAllowed = Object.freeze({ allowed: true });

function deny(code: PolicyDenialCode, rule: string, reason: string, details?: Record<string, unknown>): PolicyDenial {
  return details === undefined ? { allowed: false, code, rule, reason } : { allowed: false, code, rule, reason, details };
}

function isDenial(v: unknown): v is PolicyDenial {
  return typeof v === "object" && v !== null && (v as { allowed?: unknown }).allowed === false;
}

/** The UpdateResponseCode (protocol-06 §5.3) a hub answers for a denial. */
export function updateResponseCode(denial: PolicyDenial): "notAllowed" | "invalidProposal" {
  switch (denial.code) {
    case "sameUserTwice":
    case "invalidUpdate":
    case "commitComposition":
    case "clientsInconsistent":
      return "invalidProposal";
    default:
      return "notAllowed";
  }
}

/** A MimiError (MIMI_ERR_POLICY_DENIED) for callers that must throw; details carry code and rule. */
export function denialError(denial: PolicyDenial): MimiError {
  return new MimiError("MIMI_ERR_POLICY_DENIED", denial.reason, { details: { code: denial.code, rule: denial.rule, ...denial.details } });
}

// ---- actors ------------------------------------------------------------------------------------

interface Resolved {
  readonly actor: Actor;
  /** Role at the start of the commit (0 for a user that is not listed). */
  readonly role: number;
  /** The acting user, for `user` actors. */
  readonly user: string | undefined;
}

function resolveActor(view: PolicyView, roles: ReadonlyMap<string, number>, actor: Actor): Resolved {
  if (typeof actor !== "object" || actor === null) throw invalid("actor must be an object");
  if (actor.kind === "user") {
    if (typeof actor.user !== "string" || actor.user.length === 0) throw invalid("a user actor needs a user URI");
    return { actor, role: roles.get(actor.user) ?? NOT_IN_LIST_ROLE_INDEX, user: actor.user };
  }
  if (actor.kind === "external") {
    const r = actor.roleIndex;
    if (!Number.isInteger(r) || r === NOT_IN_LIST_ROLE_INDEX || !view.isDefined(r)) {
      throw invalid(`external actor role ${String(r)} is not a role of the room`, { roleIndex: r });
    }
    return { actor, role: r, user: undefined };
  }
  throw invalid(`unknown actor kind ${String((actor as { kind?: unknown }).kind)}`);
}

function actorLabel(a: Resolved): string {
  return a.actor.kind === "user" ? a.actor.user : `external ${a.actor.id}`;
}

/**
 * MIMI-POLICY-24 (protocol-06 §5.3): a removed or banned user takes no part in the room beyond
 * removing its own clients. Used for every action on someone else.
 */
function standing(view: PolicyView, a: Resolved): PolicyDenial | undefined {
  if (view.isBanned(a.role)) return deny("banned", "MIMI-POLICY-24", `${actorLabel(a)} is banned from the room`);
  if (a.actor.kind === "user" && a.role === NOT_IN_LIST_ROLE_INDEX) {
    return deny("notParticipant", "MIMI-POLICY-24", `${actorLabel(a)} is not a participant of the room`);
  }
  return undefined;
}

function need(view: PolicyView, a: Resolved, capability: CapabilityName, rule: string, what: string): PolicyDenial | undefined {
  if (view.has(a.role, capability)) return undefined;
  return deny("missingCapability", rule, `${what} needs ${capability}, which role ${a.role} of ${actorLabel(a)} lacks`, { capability, role: a.role });
}

function transition(view: PolicyView, a: Resolved, from: number, to: number, rule: string, what: string): PolicyDenial | undefined {
  if (view.canTransition(a.role, from, to)) return undefined;
  return deny("roleChangeNotAuthorized", rule, `${what}: role ${a.role} has no authorized_role_changes entry ${from} → ${to}`, { role: a.role, from, to });
}

// ---- input shape -------------------------------------------------------------------------------

/** Array.isArray without its type predicate, which widens readonly arrays to any[]. */
const isArray = (v: unknown): boolean => Array.isArray(v);
const isIndex = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

function assertUpdateShape(update: ParticipantListUpdate): void {
  if (typeof update !== "object" || update === null) throw invalid("ParticipantListUpdate must be an object");
  const { changedRoleParticipants: changed, removedIndices: removed, addedParticipants: added } = update;
  if (!isArray(changed) || !isArray(removed) || !isArray(added)) throw invalid("ParticipantListUpdate needs its three vectors");
  for (const c of changed) if (!isIndex(c.userIndex) || !isIndex(c.roleIndex)) throw invalid("changedRoleParticipants entry is not a pair of uint32");
  for (const i of removed) if (!isIndex(i)) throw invalid("removedIndices entry is not a uint32");
  for (const p of added) {
    if (typeof p.user !== "string" || p.user.length === 0 || !isIndex(p.roleIndex)) throw invalid("addedParticipants entry needs a user and a uint32 role");
  }
}

function rolesOf(list: ParticipantListData): Map<string, number> {
  return new Map(list.participants.map((p) => [p.user, p.roleIndex]));
}

const clientsOf = (clients: ActiveClients, user: string): number => clients.get(user) ?? 0;

// ---- participant-list actions ------------------------------------------------------------------

type Verdict = { readonly kind: ParticipantListActionKind; readonly capability: CapabilityName } | PolicyDenial;

interface SubjectFacts {
  /** The user the preauthorization and join-code facts belong to. */
  readonly subject: string | undefined;
  readonly preauthorizedRoleIndex: number | undefined;
  readonly joinCodeRoleIndex: number | undefined;
}

function decideRoleChange(view: PolicyView, a: Resolved, user: string, from: number, to: number, facts: SubjectFacts, clientsBefore: number): Verdict {
  if (to === NOT_IN_LIST_ROLE_INDEX) {
    return deny("invalidUpdate", "MIMI-POLICY-01", "a change to role_index 0 is a removal and belongs in removedIndices");
  }
  if (!view.isDefined(to)) return deny("invalidUpdate", "MIMI-POLICY-04", `role ${to} is not defined in roles_list`, { role: to });
  if (to === from) return deny("invalidUpdate", "MIMI-POLICY-04", `${user} already has role ${to}`);
  if (a.user === user) {
    // MIMI-POLICY-14 (§8.1.3 canChangeOwnRole): only to the first non-zero role the holder
    // matches in preauth_list; authorized_role_changes is not consulted.
    const missing = need(view, a, "canChangeOwnRole", "MIMI-POLICY-14", "changing one's own role");
    if (missing) return missing;
    if (facts.subject !== user || facts.preauthorizedRoleIndex !== to) {
      return deny("roleChangeNotAuthorized", "MIMI-POLICY-14", `${user} may change its own role only to the first role it matches in preauth_list`, { to });
    }
    return { kind: "changeOwnRole", capability: "canChangeOwnRole" };
  }
  const bad = standing(view, a);
  if (bad) return bad;
  let kind: ParticipantListActionKind;
  let capability: CapabilityName;
  let rule: string;
  if (view.isBanned(to)) {
    // MIMI-POLICY-15 (§8.1.3 canBan): to role 1 named "banned", with all clients removed. The
    // draft notes canChangeUserRole + canKick "would allow the same action"; without canKick,
    // canChangeUserRole can ban only a user that has no clients.
    kind = "ban";
    rule = "MIMI-POLICY-15";
    if (view.has(a.role, "canBan")) capability = "canBan";
    else if (view.has(a.role, "canChangeUserRole") && (clientsBefore === 0 || view.has(a.role, "canKick"))) capability = "canChangeUserRole";
    else return deny("missingCapability", rule, `banning ${user} needs canBan (or canChangeUserRole with canKick)`, { role: a.role });
  } else if (view.isBanned(from)) {
    // MIMI-POLICY-16 (§8.1.3 canUnban): from role 1 to a non-zero role of the holder's table.
    kind = "unban";
    rule = "MIMI-POLICY-16";
    if (view.has(a.role, "canUnBan")) capability = "canUnBan";
    else if (view.has(a.role, "canChangeUserRole")) capability = "canChangeUserRole";
    else return deny("missingCapability", rule, `unbanning ${user} needs canUnBan`, { role: a.role });
  } else {
    // MIMI-POLICY-13 (§8.1.3 canChangeUserRole): another participant, from → non-zero to.
    kind = "changeRole";
    rule = "MIMI-POLICY-13";
    capability = "canChangeUserRole";
    const missing = need(view, a, capability, rule, `changing the role of ${user}`);
    if (missing) return missing;
  }
  const notListed = transition(view, a, from, to, rule, `${kind} of ${user}`);
  return notListed ?? { kind, capability };
}

function decideRemoval(view: PolicyView, a: Resolved, user: string, from: number): Verdict {
  // MIMI-POLICY-17 (§5): users of a fixed-membership room cannot leave or be removed.
  if (view.base.fixedMembership) return deny("fixedMembership", "MIMI-POLICY-17", `${user} cannot leave or be removed: the room has fixed membership`);
  if (a.user === user) {
    // MIMI-POLICY-10 (§8.1.2 canRemoveSelf): own role's entry from the current role contains 0.
    const missing = need(view, a, "canRemoveSelf", "MIMI-POLICY-10", "leaving the room");
    if (missing) return missing;
    return transition(view, a, from, NOT_IN_LIST_ROLE_INDEX, "MIMI-POLICY-10", `${user} leaving`) ?? { kind: "leave", capability: "canRemoveSelf" };
  }
  // MIMI-POLICY-09 (§8.1.2 canRemoveParticipant): another user; entry from its role contains 0.
  const bad = standing(view, a);
  if (bad) return bad;
  const missing = need(view, a, "canRemoveParticipant", "MIMI-POLICY-09", `removing ${user}`);
  if (missing) return missing;
  return transition(view, a, from, NOT_IN_LIST_ROLE_INDEX, "MIMI-POLICY-09", `removal of ${user}`) ?? { kind: "remove", capability: "canRemoveParticipant" };
}

function decideAddition(view: PolicyView, a: Resolved, user: string, to: number, facts: SubjectFacts): Verdict {
  if (to === NOT_IN_LIST_ROLE_INDEX) return deny("invalidUpdate", "MIMI-POLICY-01", `${user} cannot be added with the reserved role_index 0`);
  if (!view.isDefined(to)) return deny("invalidUpdate", "MIMI-POLICY-04", `role ${to} is not defined in roles_list`, { role: to });
  // MIMI-POLICY-17 (§5): other users cannot be added to a fixed-membership room.
  if (view.base.fixedMembership) return deny("fixedMembership", "MIMI-POLICY-17", `${user} cannot be added: the room has fixed membership`);
  if (a.user === user) {
    // MIMI-POLICY-08 (§8.1.1, §4): a user that is not in the list adds itself by canOpenJoin (on
    // role 0, with a (0 → to) entry in role 0's table), canJoinIfPreauthorized (on the target role,
    // which is its first preauthorized match) or canUseJoinCode (a valid code for that role).
    if (view.isBanned(to)) return deny("roleChangeNotAuthorized", "MIMI-POLICY-08", `${user} cannot join as banned`);
    const mine = facts.subject === user;
    if (view.has(NOT_IN_LIST_ROLE_INDEX, "canOpenJoin") && view.canTransition(NOT_IN_LIST_ROLE_INDEX, NOT_IN_LIST_ROLE_INDEX, to)) {
      return { kind: "join", capability: "canOpenJoin" };
    }
    if (mine && view.has(to, "canJoinIfPreauthorized") && facts.preauthorizedRoleIndex === to) return { kind: "join", capability: "canJoinIfPreauthorized" };
    if (mine && view.has(NOT_IN_LIST_ROLE_INDEX, "canUseJoinCode") && facts.joinCodeRoleIndex === to) return { kind: "join", capability: "canUseJoinCode" };
    return deny("missingCapability", "MIMI-POLICY-08", `${user} may not join as role ${to}: no canOpenJoin, preauthorization or join code allows it`, { role: to });
  }
  const bad = standing(view, a);
  if (bad) return bad;
  if (view.isBanned(to)) {
    // MIMI-POLICY-15: banning a user not yet in the list ("pre-ban", Appendix A's (0,[1]) entries).
    const capability: CapabilityName | undefined = view.has(a.role, "canBan") ? "canBan" : view.has(a.role, "canAddParticipant") ? "canAddParticipant" : undefined;
    if (capability === undefined) return deny("missingCapability", "MIMI-POLICY-15", `listing ${user} as banned needs canBan`, { role: a.role });
    return transition(view, a, NOT_IN_LIST_ROLE_INDEX, to, "MIMI-POLICY-15", `ban of ${user}`) ?? { kind: "preBan", capability };
  }
  // MIMI-POLICY-07 (§8.1.1 canAddParticipant): the holder's table MUST have (0 → to).
  const missing = need(view, a, "canAddParticipant", "MIMI-POLICY-07", `adding ${user}`);
  if (missing) return missing;
  return transition(view, a, NOT_IN_LIST_ROLE_INDEX, to, "MIMI-POLICY-07", `addition of ${user}`) ?? { kind: "add", capability: "canAddParticipant" };
}

interface ListOutcome {
  readonly list: UserRolePair[];
  readonly actions: ParticipantListAction[];
  readonly touched: ReadonlySet<string>;
}

/**
 * Applies the commit's ParticipantListUpdates in order and authorizes each action.
 *
 * MIMI-POLICY-04 (protocol-06 §7.5): indexes refer to the participant list as it stands before
 * the update; the role changes are applied first, then the removals, then the additions are
 * appended. Several updates in one commit apply one after the other (the indexes of the second
 * refer to the list the first produced), as src/mls/components.ts does.
 * MIMI-POLICY-05 (protocol-06 §7.5): no user is operated on more than once in a commit.
 * MIMI-POLICY-06 (protocol-06 §7.5): each action is authorized separately, against the actor's
 * role at the start of the commit; one denial rejects the whole commit.
 */
function evaluateListUpdates(
  view: PolicyView,
  current: ParticipantListData,
  proposals: readonly ProposedListUpdate[],
  facts: SubjectFacts,
  clientsBefore: ActiveClients,
): ListOutcome | PolicyDenial {
  const preRoles = rolesOf(current);
  let list: UserRolePair[] = current.participants.map((p) => ({ user: p.user, roleIndex: p.roleIndex }));
  const touched = new Set<string>();
  const actions: ParticipantListAction[] = [];
  const twice = (user: string, proposal: number): PolicyDenial =>
    deny("sameUserTwice", "MIMI-POLICY-05", `the commit operates on ${user} more than once`, { user, proposal });
  for (const [n, { actor, update }] of proposals.entries()) {
    assertUpdateShape(update);
    const a = resolveActor(view, preRoles, actor);
    if (view.isBanned(a.role)) return deny("banned", "MIMI-POLICY-24", `${actorLabel(a)} is banned and cannot change the participant list`, { proposal: n });
    const record = (verdict: Verdict, user: string, fromRole: number, toRole: number): PolicyDenial | undefined => {
      if (isDenial(verdict)) return { ...verdict, details: { ...verdict.details, proposal: n, user, fromRole, toRole } };
      actions.push({ kind: verdict.kind, user, fromRole, toRole, capability: verdict.capability, actor });
      return undefined;
    };
    for (const change of update.changedRoleParticipants) {
      const entry = list[change.userIndex];
      if (entry === undefined) {
        return deny("invalidUpdate", "MIMI-POLICY-04", `user_index ${change.userIndex} is outside the participant list of ${list.length}`, { proposal: n });
      }
      if (touched.has(entry.user)) return twice(entry.user, n);
      touched.add(entry.user);
      const verdict = decideRoleChange(view, a, entry.user, entry.roleIndex, change.roleIndex, facts, clientsOf(clientsBefore, entry.user));
      const denied = record(verdict, entry.user, entry.roleIndex, change.roleIndex);
      if (denied) return denied;
    }
    const removed = new Set<number>();
    for (const index of update.removedIndices) {
      const entry = list[index];
      if (entry === undefined) return deny("invalidUpdate", "MIMI-POLICY-04", `removed index ${index} is outside the participant list of ${list.length}`, { proposal: n });
      if (touched.has(entry.user)) return twice(entry.user, n);
      touched.add(entry.user);
      const denied = record(decideRemoval(view, a, entry.user, entry.roleIndex), entry.user, entry.roleIndex, NOT_IN_LIST_ROLE_INDEX);
      if (denied) return denied;
      removed.add(index);
    }
    // Role changes were recorded against the entries; now apply them, then the removals.
    for (const change of update.changedRoleParticipants) {
      const entry = list[change.userIndex];
      if (entry !== undefined) entry.roleIndex = change.roleIndex;
    }
    list = list.filter((_, i) => !removed.has(i));
    for (const added of update.addedParticipants) {
      if (touched.has(added.user)) return twice(added.user, n);
      if (list.some((p) => p.user === added.user)) {
        return deny("invalidUpdate", "MIMI-POLICY-07", `${added.user} is already in the participant list`, { proposal: n, user: added.user });
      }
      touched.add(added.user);
      const denied = record(decideAddition(view, a, added.user, added.roleIndex, facts), added.user, NOT_IN_LIST_ROLE_INDEX, added.roleIndex);
      if (denied) return denied;
      list.push({ user: added.user, roleIndex: added.roleIndex });
    }
  }
  return { list, actions, touched };
}

const LEAVING: ReadonlySet<ParticipantListActionKind> = new Set(["remove", "leave", "ban", "preBan"]);

/** Clients after the list change when the caller did not say: removed and banned users have none. */
function deriveClientsAfter(before: ActiveClients, final: readonly UserRolePair[], actions: readonly ParticipantListAction[]): Map<string, number> {
  const listed = new Set(final.map((p) => p.user));
  const after = new Map<string, number>();
  for (const [user, n] of before) if (listed.has(user)) after.set(user, n);
  for (const act of actions) if (LEAVING.has(act.kind)) after.delete(act.user);
  return after;
}

interface Counts {
  participants: number;
  active: number;
}

function countByRole(list: readonly UserRolePair[], clients: ActiveClients): Map<number, Counts> {
  const counts = new Map<number, Counts>();
  for (const p of list) {
    const c = counts.get(p.roleIndex) ?? { participants: 0, active: 0 };
    c.participants += 1;
    if (clientsOf(clients, p.user) > 0) c.active += 1;
    counts.set(p.roleIndex, c);
  }
  return counts;
}

/**
 * Checks the state a change produces.
 *
 * MIMI-POLICY-23 (§3, §8.1): the minimum and maximum (active) participants constraints of every
 * role. A change is refused when it moves a count out of bounds, or further out of bounds; a
 * room that already breaks a bound (e.g. a moderated room created with no moderator yet) does
 * not block changes that leave that count alone. A maximum of 0 active participants means no
 * user of that role may have clients.
 * MIMI-POLICY-21 (§5): no more non-banned participants than max_users.
 * MIMI-POLICY-09/15/28: when the clients after the commit are known, no removed or banned user
 * keeps a client, and every user with a new client is a non-banned participant.
 */
function checkOutcome(
  view: PolicyView,
  beforeList: readonly UserRolePair[],
  afterList: readonly UserRolePair[],
  before: ActiveClients,
  after: ActiveClients,
  touched: ReadonlySet<string>,
  clientsKnown: boolean,
): PolicyDenial | undefined {
  if (clientsKnown) {
    const roles = new Map(afterList.map((p) => [p.user, p.roleIndex]));
    for (const [user, n] of after) {
      if (n === 0 || (!touched.has(user) && n <= clientsOf(before, user))) continue;
      const role = roles.get(user);
      if (role === undefined) {
        return deny("clientsInconsistent", touched.has(user) ? "MIMI-POLICY-09" : "MIMI-POLICY-28", `${user} is not a participant but would have ${n} client(s) in the group`, { user });
      }
      if (view.isBanned(role)) return deny("clientsInconsistent", "MIMI-POLICY-15", `${user} is banned but would keep ${n} client(s) in the group`, { user });
    }
  }
  const b = countByRole(beforeList, before);
  const a = countByRole(afterList, after);
  for (const index of view.roleIndexes) {
    if (index === NOT_IN_LIST_ROLE_INDEX) continue;
    const role = view.role(index);
    if (role === undefined) continue;
    const was = b.get(index) ?? { participants: 0, active: 0 };
    const now = a.get(index) ?? { participants: 0, active: 0 };
    const checks: [string, number, number, number, number | undefined][] = [
      ["participants", was.participants, now.participants, role.minimumParticipantsConstraint, role.maximumParticipantsConstraint],
      ["active participants", was.active, now.active, role.minimumActiveParticipantsConstraint, role.maximumActiveParticipantsConstraint],
    ];
    for (const [what, w, x, min, max] of checks) {
      if (x < min && x < w) {
        return deny("constraintViolated", "MIMI-POLICY-23", `role ${index} (${role.roleName}) would have ${x} ${what}, fewer than its minimum ${min}`, { role: index, count: x, minimum: min });
      }
      if (max !== undefined && x > max && x > w) {
        return deny("constraintViolated", "MIMI-POLICY-23", `role ${index} (${role.roleName}) would have ${x} ${what}, more than its maximum ${max}`, { role: index, count: x, maximum: max });
      }
    }
  }
  const maxUsers = view.base.maxUsers;
  if (maxUsers !== undefined) {
    const nonBanned = (l: readonly UserRolePair[]): number => l.filter((p) => !view.isBanned(p.roleIndex)).length;
    const x = nonBanned(afterList);
    if (x > maxUsers && x > nonBanned(beforeList)) return deny("maxUsers", "MIMI-POLICY-21", `the room would have ${x} non-banned participants, more than max_users ${maxUsers}`, { count: x, maximum: maxUsers });
  }
  return undefined;
}

/** MIMI-POLICY-19 (§5 multi_device) and MIMI-POLICY-20 (§5 max_clients). */
function checkDeviceLimits(view: PolicyView, before: ActiveClients, after: ActiveClients): PolicyDenial | undefined {
  if (!view.base.multiDevice) {
    for (const [user, n] of after) {
      if (n > 1 && n > clientsOf(before, user)) return deny("singleDevice", "MIMI-POLICY-19", `${user} would have ${n} clients in a single-device room`, { user, count: n });
    }
  }
  const maxClients = view.base.maxClients;
  if (maxClients !== undefined) {
    const total = (c: ActiveClients): number => [...c.values()].reduce((s, n) => s + n, 0);
    const x = total(after);
    if (x > maxClients && x > total(before)) return deny("maxClients", "MIMI-POLICY-20", `the group would have ${x} clients, more than max_clients ${maxClients}`, { count: x, maximum: maxClients });
  }
  return undefined;
}

function prepare(policy: RoomPolicy, list: ParticipantListData): PolicyView {
  const view = policyView(policy);
  if (typeof list !== "object" || list === null || !isArray(list.participants)) throw invalid("participant list must have a participants vector");
  assertValidParticipantList(view, list);
  return view;
}

/**
 * Authorizes one ParticipantListUpdate (or the several of one commit, all from `actor`) against
 * the current participant list, and returns the resulting list and what each action was.
 *
 * MIMI-POLICY-04..17, 21, 23, 24. A denied update leaves `currentList` untouched (the engine never
 * mutates its inputs).
 */
export function authorizeParticipantListUpdate(
  policy: RoomPolicy,
  currentList: ParticipantListData,
  actor: Actor,
  update: ParticipantListUpdate | readonly ParticipantListUpdate[],
  context: MembershipContext = {},
): ParticipantListDecision {
  const view = prepare(policy, currentList);
  assertValidActiveClients(context.activeClients, "activeClients");
  assertValidActiveClients(context.activeClientsAfter, "activeClientsAfter");
  const updates = (isArray(update) ? update : [update]) as readonly ParticipantListUpdate[];
  const before = context.activeClients ?? new Map<string, number>();
  const facts: SubjectFacts = {
    subject: actor.kind === "user" ? actor.user : undefined,
    preauthorizedRoleIndex: context.preauthorizedRoleIndex,
    joinCodeRoleIndex: context.joinCodeRoleIndex,
  };
  const outcome = evaluateListUpdates(view, currentList, updates.map((u) => ({ actor, update: u })), facts, before);
  if (isDenial(outcome)) return outcome;
  const after = context.activeClientsAfter ?? deriveClientsAfter(before, outcome.list, outcome.actions);
  const bad = checkOutcome(view, currentList.participants, outcome.list, before, after, outcome.touched, context.activeClientsAfter !== undefined);
  if (bad) return bad;
  return { allowed: true, list: { participants: outcome.list }, actions: outcome.actions };
}

// ---- clients -----------------------------------------------------------------------------------

function decideAddClient(
  view: PolicyView,
  preRoles: ReadonlyMap<string, number>,
  finalRoles: ReadonlyMap<string, number>,
  sender: Actor,
  user: string,
  addedInCommit: ReadonlySet<string>,
  unbannedInCommit: ReadonlySet<string>,
  clientsBefore: number,
): PolicyDecision {
  // MIMI-POLICY-28 (§8.1.1 canAddOwnClient; protocol-06 §1): a client may be a member only if its
  // user is a participant; the user adds its own clients, and the one who adds a user to the list
  // may add that user's clients in the same commit (canAddParticipant, or the user's own join).
  const role = finalRoles.get(user);
  if (role === undefined) return deny("notParticipant", "MIMI-POLICY-28", `${user} is not a participant, so none of its clients may join`, { user });
  if (view.isBanned(role)) return deny("banned", "MIMI-POLICY-28", `${user} is banned, so none of its clients may join`, { user });
  if (addedInCommit.has(user)) return ALLOWED;
  const a = resolveActor(view, preRoles, sender);
  if (a.user === user) {
    if (view.isBanned(a.role) || a.role === NOT_IN_LIST_ROLE_INDEX) return deny("notParticipant", "MIMI-POLICY-28", `${user} must be a participant to add its clients`);
    return need(view, a, "canAddOwnClient", "MIMI-POLICY-28", `adding a client of ${user}`) ?? ALLOWED;
  }
  if (view.base.fixedMembership && clientsBefore === 0 && a.role !== NOT_IN_LIST_ROLE_INDEX && !view.isBanned(a.role)) {
    // MIMI-POLICY-29 (§5 fixed_membership; §8.1.1): a direct room lists its users at creation,
    // which is their addition; as "the holder is also authorized to add any MLS clients matching
    // the added user", any participant may bring in the clients of a listed user who has none yet
    // (the creator adds the other side's clients, as in every MLS direct conversation). A user
    // with clients in the room adds further ones itself.
    return ALLOWED;
  }
  if (unbannedInCommit.has(user)) {
    // MIMI-POLICY-16: "Adding clients for that unbanned user is not authorized by this capability."
    return deny("missingCapability", "MIMI-POLICY-16", `unbanning ${user} does not authorize adding its clients`, { user });
  }
  return deny("missingCapability", "MIMI-POLICY-28", `only ${user} itself may add clients to its existing participation`, { user });
}

function decideRemoveClient(
  view: PolicyView,
  preRoles: ReadonlyMap<string, number>,
  finalRoles: ReadonlyMap<string, number>,
  sender: Actor,
  user: string,
  leavingInCommit: ReadonlySet<string>,
): PolicyDecision {
  const a = resolveActor(view, preRoles, sender);
  if (a.user === user) {
    // MIMI-POLICY-24: a removed or banned user may still remove its own clients.
    if (view.isBanned(a.role) || a.role === NOT_IN_LIST_ROLE_INDEX) return ALLOWED;
    // MIMI-POLICY-10: leaving takes all one's clients with it.
    if (leavingInCommit.has(user)) return ALLOWED;
    // MIMI-POLICY-12 (§8.1.2 canRemoveOwnClient); the min-active check is MIMI-POLICY-23.
    return need(view, a, "canRemoveOwnClient", "MIMI-POLICY-12", `removing a client of ${user}`) ?? ALLOWED;
  }
  const bad = standing(view, a);
  if (bad) return bad;
  // MIMI-POLICY-09/15: removing or banning a user removes its clients in the same commit.
  if (leavingInCommit.has(user)) return ALLOWED;
  // Clients whose user is not (or no longer) a non-banned participant must go (protocol-06 §1);
  // any participant may clean them up (a decision: the drafts do not name a capability).
  const role = finalRoles.get(user);
  if (role === undefined || view.isBanned(role)) return ALLOWED;
  // MIMI-POLICY-11 (§8.1.2 canKick): another participant's clients, list unchanged.
  return need(view, a, "canKick", "MIMI-POLICY-11", `removing a client of ${user}`) ?? ALLOWED;
}

export interface AddClientContext {
  readonly activeClients?: ActiveClients;
  /** How many clients of the user are added (default 1). */
  readonly count?: number;
  /** The same commit adds the user to the participant list (its adder may add its clients). */
  readonly targetAddedInSameCommit?: boolean;
}

/**
 * An MLS Add of `count` clients of `targetUser` by `actor`. Pass the participant list as it will
 * be after the commit's participant-list updates. MIMI-POLICY-19, 20, 23, 28.
 */
export function authorizeAddClient(policy: RoomPolicy, list: ParticipantListData, actor: Actor, targetUser: string, context: AddClientContext = {}): PolicyDecision {
  const view = prepare(policy, list);
  assertValidActiveClients(context.activeClients, "activeClients");
  const count = context.count ?? 1;
  if (!Number.isSafeInteger(count) || count < 1) throw invalid("count must be a positive integer");
  const roles = rolesOf(list);
  const added = new Set(context.targetAddedInSameCommit === true ? [targetUser] : []);
  const d = decideAddClient(view, roles, roles, actor, targetUser, added, new Set(), clientsOf(context.activeClients ?? new Map<string, number>(), targetUser));
  if (!d.allowed) return d;
  const before = context.activeClients ?? new Map<string, number>();
  const after = new Map(before).set(targetUser, clientsOf(before, targetUser) + count);
  return checkDeviceLimits(view, before, after) ?? checkOutcome(view, list.participants, list.participants, before, after, new Set(), true) ?? ALLOWED;
}

export interface RemoveClientContext {
  readonly activeClients?: ActiveClients;
  /** How many clients of the user are removed (default 1). */
  readonly count?: number;
  /** The same commit removes or bans the user (which authorizes removing its clients). */
  readonly targetLeavingInSameCommit?: boolean;
}

/**
 * An MLS Remove (or SelfRemove) of `count` clients of `targetUser` proposed by `actor`: the
 * user's own (canRemoveOwnClient) or someone else's (canKick). MIMI-POLICY-11, 12, 23, 24.
 */
export function authorizeRemoveClient(policy: RoomPolicy, list: ParticipantListData, actor: Actor, targetUser: string, context: RemoveClientContext = {}): PolicyDecision {
  const view = prepare(policy, list);
  assertValidActiveClients(context.activeClients, "activeClients");
  const count = context.count ?? 1;
  if (!Number.isSafeInteger(count) || count < 1) throw invalid("count must be a positive integer");
  const before = context.activeClients ?? new Map<string, number>();
  const had = clientsOf(before, targetUser);
  if (context.activeClients !== undefined && had < count) {
    return deny("invalidUpdate", "MIMI-POLICY-12", `${targetUser} has ${had} client(s) in the group, fewer than the ${count} removed`, { user: targetUser });
  }
  const roles = rolesOf(list);
  const leaving = new Set(context.targetLeavingInSameCommit === true ? [targetUser] : []);
  const d = decideRemoveClient(view, roles, roles, actor, targetUser, leaving);
  if (!d.allowed) return d;
  if (leaving.size > 0) return ALLOWED;
  const after = new Map(before).set(targetUser, Math.max(0, had - count));
  return checkOutcome(view, list.participants, list.participants, before, after, new Set(), false) ?? ALLOWED;
}

// ---- messages and capabilities -----------------------------------------------------------------

export interface SendContext {
  /** When given, the sender must also be active (protocol-06 §5.4: "an active participant"). */
  readonly activeClients?: ActiveClients;
}

function messageStanding(view: PolicyView, list: ParticipantListData, user: string, context: SendContext): PolicyDenial | undefined {
  if (typeof user !== "string" || user.length === 0) throw invalid("a user URI is needed");
  const role = rolesOf(list).get(user);
  if (role === undefined) return deny("notParticipant", "MIMI-POLICY-24", `${user} is not a participant of the room`);
  if (view.isBanned(role)) return deny("banned", "MIMI-POLICY-24", `${user} is banned from the room`);
  if (context.activeClients !== undefined && clientsOf(context.activeClients, user) === 0) {
    return deny("notParticipant", "MIMI-POLICY-24", `${user} has no client in the group`);
  }
  return undefined;
}

/**
 * May `senderUser` have an application message accepted by the hub (submitMessage)?
 * MIMI-POLICY-24 (banned and removed users cannot send) and MIMI-POLICY-25 (canSendMessage is
 * hub-enforced).
 */
export function authorizeSend(policy: RoomPolicy, list: ParticipantListData, senderUser: string, context: SendContext = {}): PolicyDecision {
  const view = prepare(policy, list);
  assertValidActiveClients(context.activeClients, "activeClients");
  const bad = messageStanding(view, list, senderUser, context);
  if (bad) return bad;
  const role = rolesOf(list).get(senderUser) ?? NOT_IN_LIST_ROLE_INDEX;
  if (view.has(role, "canSendMessage")) return ALLOWED;
  return deny("missingCapability", "MIMI-POLICY-25", `role ${role} of ${senderUser} lacks canSendMessage`, { capability: "canSendMessage", role });
}

/**
 * Should the hub fan application messages out to the clients of `user`?
 * MIMI-POLICY-24 and MIMI-POLICY-25 (canReceiveMessage: the hub withholds fanout).
 */
export function authorizeReceive(policy: RoomPolicy, list: ParticipantListData, user: string): PolicyDecision {
  const view = prepare(policy, list);
  const bad = messageStanding(view, list, user, {});
  if (bad) return bad;
  const role = rolesOf(list).get(user) ?? NOT_IN_LIST_ROLE_INDEX;
  if (view.has(role, "canReceiveMessage")) return ALLOWED;
  return deny("missingCapability", "MIMI-POLICY-25", `role ${role} of ${user} lacks canReceiveMessage`, { capability: "canReceiveMessage", role });
}

/**
 * Does `actor` hold `capability` in this room? The generic check behind the client-enforced
 * capabilities (react, edit, delete, topics, assets, links, real-time): a receiving client calls
 * it for the sender of what it received. A user that is not listed holds role 0's capabilities
 * (if the room defines role 0); a banned user holds none. MIMI-POLICY-24, MIMI-POLICY-25.
 */
export function authorizeCapability(policy: RoomPolicy, list: ParticipantListData, actor: Actor, capability: CapabilityName): PolicyDecision {
  const view = prepare(policy, list);
  const a = resolveActor(view, rolesOf(list), actor);
  if (view.isBanned(a.role)) return deny("banned", "MIMI-POLICY-24", `${actorLabel(a)} is banned from the room`);
  if (view.has(a.role, capability)) return ALLOWED;
  if (a.role === NOT_IN_LIST_ROLE_INDEX) return deny("notParticipant", "MIMI-POLICY-24", `${actorLabel(a)} is not a participant of the room`, { capability });
  return deny("missingCapability", "MIMI-POLICY-25", `role ${a.role} of ${actorLabel(a)} lacks ${capability}`, { capability, role: a.role });
}

// ---- room metadata and policy components -------------------------------------------------------

const METADATA_FIELDS: readonly (readonly [keyof RoomMetaData, CapabilityName])[] = [
  ["roomName", "canChangeRoomName"],
  ["roomDescriptions", "canChangeRoomDescription"],
  ["roomAvatar", "canChangeRoomAvatar"],
  ["roomSubject", "canChangeRoomSubject"],
  ["roomMood", "canChangeRoomMood"],
];

function sameField(a: RoomMetaData[keyof RoomMetaData], b: RoomMetaData[keyof RoomMetaData]): boolean {
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (a.length !== b.length) return false;
  return a.every((d, i) => {
    const e = b[i];
    return e !== undefined && d.mediaType === e.mediaType && d.languageTag === e.languageTag && d.descriptionContent === e.descriptionContent;
  });
}

function decideMetadata(view: PolicyView, a: Resolved, current: RoomMetaData | undefined, next: RoomMetaData): PolicyDecision {
  const bad = standing(view, a);
  if (bad) return bad;
  if (typeof next !== "object" || next === null) throw invalid("room metadata must be an object");
  // A decision: room_uri names the room; no capability covers changing it.
  if (current !== undefined && next.roomUri !== current.roomUri) return deny("invalidUpdate", "MIMI-POLICY-26", "room_uri cannot change");
  for (const [field, capability] of METADATA_FIELDS) {
    const changed = current === undefined ? !sameField(next[field], field === "roomDescriptions" ? [] : "") : !sameField(next[field], current[field]);
    if (changed) {
      const missing = need(view, a, capability, "MIMI-POLICY-26", `changing ${field}`);
      if (missing) return missing;
    }
  }
  return ALLOWED;
}

/**
 * A RoomMetaUpdate (protocol-06 §7.6) that replaces `current` by `next`: each changed field needs
 * its §8.2 capability. MIMI-POLICY-26.
 */
export function authorizeMetadataChange(policy: RoomPolicy, list: ParticipantListData, actor: Actor, current: RoomMetaData | undefined, next: RoomMetaData): PolicyDecision {
  const view = prepare(policy, list);
  return decideMetadata(view, resolveActor(view, rolesOf(list), actor), current, next);
}

/** A change of a policy component or an MLS ReInit (§8.6). */
export type PolicyComponentChange =
  | { readonly kind: "roles"; readonly roleData: RoomPolicy["roleData"] }
  | { readonly kind: "baseRoomPolicy"; readonly baseRoomPolicy: RoomPolicy["baseRoomPolicy"] }
  | { readonly kind: "preauth" }
  | { readonly kind: "reinit" };

function decidePolicyChange(view: PolicyView, list: ParticipantListData, a: Resolved, change: PolicyComponentChange): PolicyDecision {
  const bad = standing(view, a);
  if (bad) return bad;
  // MIMI-POLICY-27 (§8.6): the disruptive capabilities; an update is valid only if its content is.
  const next: RoomPolicy | undefined =
    change.kind === "roles"
      ? { roleData: change.roleData, baseRoomPolicy: view.base }
      : change.kind === "baseRoomPolicy"
        ? { roleData: view.policy.roleData, baseRoomPolicy: change.baseRoomPolicy }
        : undefined;
  const capability: CapabilityName =
    change.kind === "roles"
      ? "canChangeRoleDefinitions"
      : change.kind === "baseRoomPolicy"
        ? "canChangeRoomMembershipStyle"
        : change.kind === "preauth"
          ? "canChangePreauthorizedUserList"
          : "canSendMLSReinitProposal";
  const missing = need(view, a, capability, "MIMI-POLICY-27", `a ${change.kind} change`);
  if (missing) return missing;
  if (next !== undefined) {
    const problems = roomPolicyProblems(next);
    if (problems.length > 0) return deny("invalidUpdate", "MIMI-POLICY-27", `the new policy is malformed: ${problems.join("; ")}`, { problems });
    const defined = new Set(next.roleData.roles.map((r) => r.roleIndex));
    const orphan = list.participants.find((p) => !defined.has(p.roleIndex));
    if (orphan !== undefined) return deny("invalidUpdate", "MIMI-POLICY-27", `the new roles_list drops role ${orphan.roleIndex}, which ${orphan.user} holds`, { role: orphan.roleIndex });
  }
  return ALLOWED;
}

/**
 * An AppDataUpdate of roles_list, base_room_policy or preauth_list, or an MLS ReInit, by
 * `actor`. MIMI-POLICY-27.
 */
export function authorizePolicyChange(policy: RoomPolicy, list: ParticipantListData, actor: Actor, change: PolicyComponentChange): PolicyDecision {
  const view = prepare(policy, list);
  return decidePolicyChange(view, list, resolveActor(view, rolesOf(list), actor), change);
}

// ---- commits -----------------------------------------------------------------------------------

/**
 * What may share one commit.
 * MIMI-POLICY-02 (§3): a roles_list update is not valid in the same commit as any participant
 * list change (and, a decision, at most one roles_list update per commit).
 * MIMI-POLICY-03 (§4): a preauth_list update is not valid with participant list changes other
 * than removals.
 * MIMI-POLICY-26 (protocol-06 §7.6): only a single room metadata update per commit.
 * MIMI-POLICY-27: at most one base_room_policy update per commit (a decision, like roles_list).
 */
export function authorizeCommitComposition(changes: readonly PolicyProposal[]): PolicyDecision {
  if (!isArray(changes)) throw invalid("changes must be an array of proposals");
  const count = (kind: PolicyProposal["kind"]): number => changes.filter((c) => c.kind === kind).length;
  const listUpdates = changes.flatMap((c) => (c.kind === "participantList" ? [c.update] : []));
  for (const u of listUpdates) assertUpdateShape(u);
  const roles = count("roles");
  if (roles > 0 && listUpdates.length > 0) return deny("commitComposition", "MIMI-POLICY-02", "role definitions cannot change in the same commit as the participant list");
  if (roles > 1) return deny("commitComposition", "MIMI-POLICY-02", "a commit can replace the role definitions only once");
  const preauth = count("preauth");
  if (preauth > 0 && listUpdates.some((u) => u.changedRoleParticipants.length > 0 || u.addedParticipants.length > 0)) {
    return deny("commitComposition", "MIMI-POLICY-03", "preauthorized users cannot change in the same commit as participant list changes other than removals");
  }
  if (preauth > 1) return deny("commitComposition", "MIMI-POLICY-03", "a commit can replace the preauthorized users only once");
  if (count("roomMetadata") > 1) return deny("commitComposition", "MIMI-POLICY-26", "only a single room metadata update is valid per commit");
  if (count("baseRoomPolicy") > 1) return deny("commitComposition", "MIMI-POLICY-27", "a commit can replace the base room policy only once");
  return ALLOWED;
}

/**
 * MIMI-POLICY-24 (protocol-06 §5.3): what a sender that is banned or not in the list may
 * propose: Remove/SelfRemove of its own clients; and, when not banned, its own join (the
 * participant-list self-addition and its own clients, checked by MIMI-POLICY-08 and -28).
 */
function proposalStanding(view: PolicyView, preRoles: ReadonlyMap<string, number>, sender: Actor, p: PolicyProposal, index: number): PolicyDenial | undefined {
  const a = resolveActor(view, preRoles, sender);
  const banned = view.isBanned(a.role);
  const outsider = a.actor.kind === "user" && a.role === NOT_IN_LIST_ROLE_INDEX;
  if (!banned && !outsider) return undefined;
  if (p.kind === "removeClient" && a.user !== undefined && p.user === a.user) return undefined;
  if (outsider && (p.kind === "participantList" || (p.kind === "addClient" && p.user === a.user))) return undefined;
  return deny(banned ? "banned" : "notParticipant", "MIMI-POLICY-24", `${actorLabel(a)} is ${banned ? "banned" : "not a participant"} and may only propose removing its own clients`, { proposal: index, kind: p.kind });
}

/**
 * Authorizes a whole commit as the hub sees it: the committer's standing, what may share the
 * commit, every participant-list action, every client Add and Remove, the policy and metadata
 * updates, and the state the commit produces (constraints, max_users, multi_device,
 * max_clients, no clients for users who are not non-banned participants).
 *
 * MIMI-POLICY-02..28. On success it returns the participant list and client counts after the
 * commit; the inputs are never mutated.
 */
export function authorizeCommit(policy: RoomPolicy, state: RoomState, commit: CommitDescription): CommitDecision {
  const view = prepare(policy, state.participantList);
  assertValidActiveClients(state.activeClients, "activeClients");
  if (typeof commit !== "object" || commit === null || typeof commit.committer !== "string" || commit.committer.length === 0) {
    throw invalid("a commit needs the committer's user URI");
  }
  if (!isArray(commit.proposals)) throw invalid("a commit needs its proposals");
  const committer: Actor = { kind: "user", user: commit.committer };
  const senderOf = (p: PolicyProposal): Actor => p.sender ?? committer;
  const composition = authorizeCommitComposition(commit.proposals);
  if (!composition.allowed) return composition;

  const preRoles = rolesOf(state.participantList);
  const committerRole = preRoles.get(commit.committer) ?? NOT_IN_LIST_ROLE_INDEX;
  // MIMI-POLICY-24: banned and removed users cannot commit; a user that is not in the list can
  // only commit its own external join.
  if (view.isBanned(committerRole)) return deny("banned", "MIMI-POLICY-24", `${commit.committer} is banned and cannot commit`);
  if (committerRole === NOT_IN_LIST_ROLE_INDEX) {
    const joins =
      commit.external === true &&
      commit.proposals.some((p) => {
        if (p.kind !== "participantList") return false;
        const s = senderOf(p);
        return s.kind === "user" && s.user === commit.committer && p.update.addedParticipants.some((x: UserRolePair) => x.user === commit.committer);
      });
    if (!joins) return deny("notParticipant", "MIMI-POLICY-24", `${commit.committer} is not a participant; it can only commit an external commit that adds itself`);
  }
  for (const [i, p] of commit.proposals.entries()) {
    const bad = proposalStanding(view, preRoles, senderOf(p), p, i);
    if (bad) return bad;
  }

  const before = state.activeClients ?? new Map<string, number>();
  const after = new Map(before);
  for (const p of commit.proposals) {
    if (p.kind === "addClient") after.set(p.user, clientsOf(after, p.user) + 1);
    if (p.kind === "removeClient") {
      const n = clientsOf(after, p.user);
      if (n === 0) return deny("invalidUpdate", "MIMI-POLICY-12", `the commit removes more clients of ${p.user} than it has`, { user: p.user });
      after.set(p.user, n - 1);
    }
  }

  const facts: SubjectFacts = { subject: commit.committer, preauthorizedRoleIndex: commit.preauthorizedRoleIndex, joinCodeRoleIndex: commit.joinCodeRoleIndex };
  const listProposals = commit.proposals.flatMap((p) => (p.kind === "participantList" ? [{ actor: senderOf(p), update: p.update }] : []));
  const outcome = evaluateListUpdates(view, state.participantList, listProposals, facts, before);
  if (isDenial(outcome)) return outcome;
  // MIMI-POLICY-10 (§8.1.2): a leaving user cannot commit its own removal (nor its own ban).
  const own = outcome.actions.find((act) => act.user === commit.committer && LEAVING.has(act.kind));
  if (own !== undefined) return deny("selfCommit", "MIMI-POLICY-10", `${commit.committer} cannot commit its own ${own.kind}; another member commits it`);

  const finalRoles = new Map(outcome.list.map((p) => [p.user, p.roleIndex]));
  const added = new Set(outcome.actions.filter((act) => act.kind === "add" || act.kind === "join").map((act) => act.user));
  const unbanned = new Set(outcome.actions.filter((act) => act.kind === "unban").map((act) => act.user));
  const leaving = new Set(outcome.actions.filter((act) => LEAVING.has(act.kind)).map((act) => act.user));
  for (const [i, p] of commit.proposals.entries()) {
    let d: PolicyDecision = ALLOWED;
    if (p.kind === "addClient") d = decideAddClient(view, preRoles, finalRoles, senderOf(p), p.user, added, unbanned, clientsOf(before, p.user));
    else if (p.kind === "removeClient") d = decideRemoveClient(view, preRoles, finalRoles, senderOf(p), p.user, leaving);
    if (!d.allowed) return { ...d, details: { ...d.details, proposal: i } };
  }
  const state2 = checkOutcome(view, state.participantList.participants, outcome.list, before, after, outcome.touched, true) ?? checkDeviceLimits(view, before, after);
  if (state2) return state2;

  for (const [i, p] of commit.proposals.entries()) {
    let d: PolicyDecision = ALLOWED;
    const a = (): Resolved => resolveActor(view, preRoles, senderOf(p));
    if (p.kind === "roles") d = decidePolicyChange(view, state.participantList, a(), { kind: "roles", roleData: p.roleData });
    else if (p.kind === "baseRoomPolicy") d = decidePolicyChange(view, state.participantList, a(), { kind: "baseRoomPolicy", baseRoomPolicy: p.baseRoomPolicy });
    else if (p.kind === "preauth") d = decidePolicyChange(view, state.participantList, a(), { kind: "preauth" });
    else if (p.kind === "reinit") d = decidePolicyChange(view, state.participantList, a(), { kind: "reinit" });
    else if (p.kind === "roomMetadata") d = decideMetadata(view, a(), state.roomMetadata, p.metadata);
    if (!d.allowed) return { ...d, details: { ...d.details, proposal: i } };
  }
  const clients = new Map([...after].filter(([, n]) => n > 0));
  return { allowed: true, participantList: { participants: outcome.list }, activeClients: clients, actions: outcome.actions };
}

/**
 * One proposal sent to the hub on its own (protocol-06 §5.3 /update with a proposal), judged
 * against the current state. The commit that later includes it is judged again by
 * authorizeCommit. MIMI-POLICY-24 and the rule of the proposal's kind.
 */
export function authorizeProposal(policy: RoomPolicy, state: RoomState, sender: Actor, proposal: PolicyProposal, context: MembershipContext = {}): PolicyDecision {
  const view = prepare(policy, state.participantList);
  assertValidActiveClients(state.activeClients, "activeClients");
  const preRoles = rolesOf(state.participantList);
  const bad = proposalStanding(view, preRoles, sender, proposal, 0);
  if (bad) return bad;
  const list = state.participantList;
  const clients = state.activeClients ?? new Map<string, number>();
  const a = (): Resolved => resolveActor(view, preRoles, sender);
  switch (proposal.kind) {
    case "participantList": {
      const d = authorizeParticipantListUpdate(policy, list, sender, proposal.update, { ...context, activeClients: clients });
      return d.allowed ? ALLOWED : d;
    }
    case "addClient":
      return authorizeAddClient(policy, list, sender, proposal.user, { activeClients: clients });
    case "removeClient":
      return authorizeRemoveClient(policy, list, sender, proposal.user, { activeClients: clients });
    case "roles":
      return decidePolicyChange(view, list, a(), { kind: "roles", roleData: proposal.roleData });
    case "baseRoomPolicy":
      return decidePolicyChange(view, list, a(), { kind: "baseRoomPolicy", baseRoomPolicy: proposal.baseRoomPolicy });
    case "preauth":
      return decidePolicyChange(view, list, a(), { kind: "preauth" });
    case "reinit":
      return decidePolicyChange(view, list, a(), { kind: "reinit" });
    case "roomMetadata":
      return decideMetadata(view, a(), state.roomMetadata, proposal.metadata);
    case "other":
      return ALLOWED;
    default:
      throw invalid(`unknown proposal kind ${String((proposal as { kind?: unknown }).kind)}`);
  }
}

// ---- fixed-membership and parent-dependent rooms -----------------------------------------------

/**
 * MIMI-POLICY-18 (§5): "Only a single fixed-membership room can exist for any unique set of
 * participants." The canonical key of a participant set: the users' canonical MIMI URIs (user or
 * pseudonym), deduplicated, sorted, joined by a line feed (which no URI contains). Throws
 * MIMI_ERR_POLICY_INVALID for fewer than two distinct users or a non-user URI.
 */
export function participantSetKey(users: readonly string[]): string {
  if (!isArray(users)) throw invalid("participants must be an array of user URIs");
  const canonical = new Set<string>();
  for (const u of users) {
    const parsed = typeof u === "string" ? tryParseMimiUri(u) : undefined;
    if (parsed === undefined || (parsed.kind !== "user" && parsed.kind !== "pseudonym")) {
      throw invalid("a participant set holds MIMI user (or pseudonym) URIs", { user: typeof u === "string" ? u.slice(0, 64) : typeof u });
    }
    canonical.add(parsed.uri);
  }
  if (canonical.size < 2) throw invalid("a fixed-membership room needs two or more distinct participants");
  return [...canonical].sort().join("\n");
}

/**
 * MIMI-POLICY-22 (§5): in a parent-dependent room every non-banned participant must be a
 * non-banned participant of the parent room. The draft says "strict subset", which would forbid
 * the call-in-a-Group-DM example of the same section; we require a subset.
 */
export function checkParentDependentMembership(policy: RoomPolicy, list: ParticipantListData, parentPolicy: RoomPolicy, parentList: ParticipantListData): PolicyDecision {
  const view = prepare(policy, list);
  const parentView = prepare(parentPolicy, parentList);
  if (!view.base.parentDependant) return ALLOWED;
  const parent = new Set(parentList.participants.filter((p) => !parentView.isBanned(p.roleIndex)).map((p) => p.user));
  const outsider = list.participants.find((p) => !view.isBanned(p.roleIndex) && !parent.has(p.user));
  if (outsider === undefined) return ALLOWED;
  return deny("notParticipant", "MIMI-POLICY-22", `${outsider.user} is not a participant of the parent room`, { user: outsider.user });
}

/**
 * The ParticipantListUpdate a hub proposes when users leave the parent room (§5: "that user is
 * automatically removed from any parent-dependent rooms of that parent").
 */
export function parentDependentRemovals(list: ParticipantListData, parentPolicy: RoomPolicy, parentList: ParticipantListData): ParticipantListUpdate {
  const parentView = prepare(parentPolicy, parentList);
  const parent = new Set(parentList.participants.filter((p) => !parentView.isBanned(p.roleIndex)).map((p) => p.user));
  const removedIndices = list.participants.flatMap((p, i) => (parent.has(p.user) ? [] : [i]));
  return { changedRoleParticipants: [], removedIndices, addedParticipants: [] };
}
