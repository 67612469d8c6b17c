// Policy templates for the three room kinds of mimi-bridge (DESIGN.md §1 Q4): `direct` (1-1 and
// group DMs), `group` and `moderatedChannel`. Each yields a RoleData (roles_list, room-policy-03
// §3), a BaseRoomPolicy (§5), and the roles for the creator, for added users, for preauthorized
// joiners and for the hub's policy enforcer. docs/policy.md shows them as tables.
//
// - direct: fixed_membership (§5). Every participant has the same role; nobody can add, remove
//   or ban a user, nobody can leave; each user manages its own clients.
// - group: Appendix A.1 "Cooperatively administered room", adjusted: members add members and
//   leave; admins also remove, ban, unban, kick, change roles and change the policy.
// - moderatedChannel: Appendix A.3 "Moderated room": guest, attendee, speaker, moderator,
//   super_admin and the hub's policy_enforcer, with the appendix's role indexes and role-change
//   tables.
//
// Reserved capabilities (§8.7, e.g. canChangeOwnName, canCreateJoinCode) that the appendix
// lists are left out: they have no meaning yet and a future definition could surprise.
import { capabilityValues } from "./capabilities.ts";
import type { CapabilityName } from "./capabilities.ts";
import { participantSetKey } from "./authorize.ts";
import { BANNED_ROLE_INDEX, BANNED_ROLE_NAME, assertValidParticipantList, invalid, policyView } from "./roles.ts";
import type { BaseRoomPolicy, ParticipantListData, Role, RoomPolicy, SingleSourceRoleChangeTargets, UserRolePair } from "./types.ts";

export const RoomKinds = ["direct", "group", "moderatedChannel"] as const;
export type RoomKind = (typeof RoomKinds)[number];

/** roles_list and base_room_policy component IDs (room-policy-03 §10.1.2, §10.1.4, suggested). */
export const PolicyComponentId = { roles_list: 0x0025, preauth_list: 0x0026, base_room_policy: 0x0027 } as const;

export interface PolicyPreset {
  readonly kind: RoomKind;
  readonly policy: RoomPolicy;
  /** Role of the user that creates the room. */
  readonly creatorRole: number;
  /** Role of a user another participant adds (canAddParticipant). */
  readonly addedRole: number;
  /** Role a user takes when it joins by preauthorization (canJoinIfPreauthorized), if any. */
  readonly preauthorizedJoinRole: number | undefined;
  /** Role of the hub's policy enforcer, if the preset has one. */
  readonly policyEnforcerRole: number | undefined;
  /** Role indexes by role name. */
  readonly roleIndex: Readonly<Record<string, number>>;
}

export interface PresetOptions {
  /** base_room_policy max_users (§5). */
  readonly maxUsers?: number;
  /** base_room_policy max_clients (§5). */
  readonly maxClients?: number;
  /** base_room_policy multi_device (§5); default true. */
  readonly multiDevice?: boolean;
  /** base_room_policy discoverable (§5); default false, true for moderatedChannel. */
  readonly discoverable?: boolean;
  /**
   * moderatedChannel only: define role 0 `no_role` (canUseJoinCode → guest, attendee) as Appendix
   * A.3 does. Default true. False leaves role 0 undefined (no capabilities), for codecs that do
   * not accept a role_index 0 entry in roles_list.
   */
  readonly noRole?: boolean;
}

// ---- capability sets -----------------------------------------------------------------------------

const MESSAGING: readonly CapabilityName[] = [
  "canSendMessage",
  "canReceiveMessage",
  "canCopyMessage",
  "canReportAbuse",
  "canReplyToMessage",
  "canReactToMessage",
  "canEditReaction",
  "canDeleteOwnReaction",
  "canEditOwnMessage",
  "canDeleteOwnMessage",
  "canStartTopic",
  "canReplyInTopic",
  "canEditOwnTopic",
];
const ASSETS_AND_LINKS: readonly CapabilityName[] = [
  "canUploadImage",
  "canUploadAudio",
  "canUploadVideo",
  "canUploadAttachment",
  "canDownloadImage",
  "canDownloadAudio",
  "canDownloadVideo",
  "canDownloadAttachment",
  "canSendLink",
  "canSendLinkPreview",
  "canFollowLink",
  "canCopyLink",
];
const REAL_TIME: readonly CapabilityName[] = [
  "canStartCall",
  "canJoinCall",
  "canSendAudio",
  "canReceiveAudio",
  "canSendVideo",
  "canReceiveVideo",
  "canShareScreen",
  "canViewSharedScreen",
];
const ROOM_METADATA_BASIC: readonly CapabilityName[] = ["canChangeRoomName", "canChangeRoomAvatar", "canChangeRoomSubject", "canChangeRoomMood"];
const DISRUPTIVE: readonly CapabilityName[] = [
  "canChangeRoomMembershipStyle",
  "canChangeRoleDefinitions",
  "canChangePreauthorizedUserList",
  "canDestroyRoom",
  "canSendMLSReinitProposal",
];
/** Appendix A's policy_enforcer, without the reserved canChangeMlsOperationalPolicies. */
const POLICY_ENFORCER: readonly CapabilityName[] = [
  "canRemoveParticipant",
  "canChangeUserRole",
  "canBan",
  "canUnBan",
  "canChangeRoleDefinitions",
  "canChangePreauthorizedUserList",
  "canDestroyRoom",
  "canSendMLSReinitProposal",
];

interface RoleSpec {
  readonly index: number;
  readonly name: string;
  readonly description: string;
  readonly capabilities: readonly CapabilityName[];
  readonly minParticipants?: number;
  readonly maxParticipants?: number;
  readonly minActive?: number;
  readonly maxActive?: number;
  readonly changes: readonly (readonly [number, readonly number[]])[];
}

function role(spec: RoleSpec): Role {
  const unique = [...new Set(spec.capabilities)];
  const authorizedRoleChanges: SingleSourceRoleChangeTargets[] = spec.changes.map(([from, to]) => ({ fromRoleIndex: from, targetRoleIndexes: [...to] }));
  return {
    roleIndex: spec.index,
    roleName: spec.name,
    roleDescription: spec.description,
    roleCapabilities: capabilityValues(unique),
    minimumParticipantsConstraint: spec.minParticipants ?? 0,
    maximumParticipantsConstraint: spec.maxParticipants,
    minimumActiveParticipantsConstraint: spec.minActive ?? 0,
    maximumActiveParticipantsConstraint: spec.maxActive,
    authorizedRoleChanges,
  };
}

/** Role 1 "banned": no capabilities, never active (§8.1.3, Appendix A). */
const bannedRole = (): Role =>
  role({ index: BANNED_ROLE_INDEX, name: BANNED_ROLE_NAME, description: "banned from the room", capabilities: [], maxActive: 0, changes: [] });

/** Every (from, [all other indexes]) pair over `indexes`: "may move anyone between these". */
function allChanges(indexes: readonly number[]): [number, number[]][] {
  return indexes.map((from) => [from, indexes.filter((to) => to !== from)]);
}

function base(options: PresetOptions, fixedMembership: boolean, discoverable: boolean): BaseRoomPolicy {
  return {
    fixedMembership,
    parentDependant: false,
    parentRoom: [],
    multiDevice: options.multiDevice ?? true,
    maxClients: options.maxClients,
    maxUsers: options.maxUsers,
    pseudonymsAllowed: false,
    persistentRoom: true,
    discoverable: options.discoverable ?? discoverable,
    policyComponents: [PolicyComponentId.roles_list],
  };
}

function preset(kind: RoomKind, roles: Role[], baseRoomPolicy: BaseRoomPolicy, fields: Omit<PolicyPreset, "kind" | "policy" | "roleIndex">): PolicyPreset {
  const policy: RoomPolicy = { roleData: { roles }, baseRoomPolicy };
  policyView(policy); // a preset that is not well formed is a bug: throws MIMI_ERR_POLICY_INVALID
  const roleIndex = Object.fromEntries(roles.map((r) => [r.roleName, r.roleIndex]));
  return { kind, policy, roleIndex, ...fields };
}

// ---- the presets ---------------------------------------------------------------------------------

/**
 * Direct messages and group DMs: fixed_membership (MIMI-POLICY-17). One role, `participant`, for
 * every user; no role can add or remove users; users cannot leave but add and remove their own
 * clients. Role 1 `banned` exists for uniformity; no role can ban.
 */
export function directPreset(options: PresetOptions = {}): PolicyPreset {
  const participant = role({
    index: 2,
    name: "participant",
    description: "a fixed participant of a direct conversation",
    capabilities: ["canAddOwnClient", "canRemoveOwnClient", ...MESSAGING, ...ASSETS_AND_LINKS, ...ROOM_METADATA_BASIC, "canChangeRoomDescription", ...REAL_TIME],
    changes: [],
  });
  return preset("direct", [bannedRole(), participant], base(options, true, false), {
    creatorRole: 2,
    addedRole: 2,
    preauthorizedJoinRole: undefined,
    policyEnforcerRole: undefined,
  });
}

/**
 * Groups (Appendix A.1, cooperatively administered, adjusted): `member` adds members and leaves;
 * `admin` (the creator; at least one must remain) also removes, bans, unbans, kicks, changes
 * roles, deletes others' messages and changes the policy; the hub's `policy_enforcer` removes and
 * bans but never adds.
 */
export function groupPreset(options: PresetOptions = {}): PolicyPreset {
  const member: RoleSpec = {
    index: 2,
    name: "member",
    description: "an ordinary member: adds members, sends, leaves",
    capabilities: ["canAddParticipant", "canAddOwnClient", "canRemoveOwnClient", "canRemoveSelf", ...MESSAGING, ...ASSETS_AND_LINKS, ...ROOM_METADATA_BASIC, ...REAL_TIME],
    changes: [
      [0, [2]],
      [2, [0]],
    ],
  };
  const admin: RoleSpec = {
    index: 3,
    name: "admin",
    description: "administers the group",
    capabilities: [
      ...member.capabilities,
      "canRemoveParticipant",
      "canBan",
      "canUnBan",
      "canKick",
      "canChangeUserRole",
      "canDeleteOtherMessage",
      "canDeleteOtherReaction",
      "canEditOtherTopic",
      "canChangeRoomDescription",
      ...DISRUPTIVE,
    ],
    minParticipants: 1,
    changes: allChanges([0, 1, 2, 3]),
  };
  const enforcer: RoleSpec = {
    index: 4,
    name: "policy_enforcer",
    description: "the hub enforcing provider policy: removes and bans, never adds",
    capabilities: POLICY_ENFORCER,
    minParticipants: 1,
    maxParticipants: 2,
    maxActive: 0,
    changes: [
      [0, [1]],
      [1, [0]],
      [2, [0, 1]],
      [3, [0, 1]],
    ],
  };
  return preset("group", [bannedRole(), role(member), role(admin), role(enforcer)], base(options, false, false), {
    creatorRole: 3,
    addedRole: 2,
    preauthorizedJoinRole: undefined,
    policyEnforcerRole: 4,
  });
}

/**
 * Channels (Appendix A.3 "Moderated room", same indexes): `guest` receives and reacts, `attendee`
 * also manages its clients and joins by preauthorization, `speaker` sends, `moderator` adds,
 * removes, bans, unbans, kicks and moves users between roles 0–5, `super_admin` (the creator)
 * also changes the policy, `policy_enforcer` is the hub. Role 0 `no_role` holds canUseJoinCode
 * with targets guest and attendee, as in the appendix.
 */
export function moderatedChannelPreset(options: PresetOptions = {}): PolicyPreset {
  const noRole: RoleSpec = { index: 0, name: "no_role", description: "not in the participant list", capabilities: ["canUseJoinCode"], changes: [[0, [2, 3]]] };
  const guest: RoleSpec = {
    index: 2,
    name: "guest",
    description: "receives and reacts",
    capabilities: [
      "canRemoveSelf",
      "canReceiveMessage",
      "canCopyMessage",
      "canReactToMessage",
      "canDeleteOwnReaction",
      "canFollowLink",
      "canCopyLink",
      "canDownloadImage",
      "canDownloadVideo",
      "canDownloadAudio",
    ],
    changes: [
      [0, [2]],
      [2, [0]],
    ],
  };
  const attendee: RoleSpec = {
    index: 3,
    name: "attendee",
    description: "a guest that manages its own clients and may be preauthorized",
    capabilities: [
      ...guest.capabilities,
      "canAddOwnClient",
      "canJoinIfPreauthorized",
      "canRemoveOwnClient",
      "canChangeOwnRole",
      "canReportAbuse",
      "canReplyInTopic",
      "canDownloadAttachment",
    ],
    changes: [
      [0, [3]],
      [3, [0]],
    ],
  };
  const speaker: RoleSpec = {
    index: 4,
    name: "speaker",
    description: "an attendee with voice",
    capabilities: [
      // Appendix A.3 says "all the capabilities authorized for a speaker" (read: attendee).
      ...attendee.capabilities,
      "canSendMessage",
      // Not in the appendix; a speaker that can send can also reply (a decision).
      "canReplyToMessage",
      "canEditOwnMessage",
      "canDeleteOwnMessage",
      "canStartTopic",
      "canUploadImage",
      "canUploadVideo",
      "canUploadAudio",
      "canUploadAttachment",
      "canSendLink",
      "canSendLinkPreview",
    ],
    changes: [
      [0, [4]],
      [4, [0]],
    ],
  };
  const moderator: RoleSpec = {
    index: 5,
    name: "moderator",
    description: "moderates the channel",
    capabilities: [
      // Appendix A.3 says "an ordinary_user", a role this room does not have (read: speaker).
      ...speaker.capabilities,
      "canAddParticipant",
      "canRemoveParticipant",
      "canBan",
      "canUnBan",
      "canKick",
      "canChangeUserRole",
      "canDeleteOtherReaction",
      "canDeleteOtherMessage",
      "canEditOwnTopic",
      "canEditOtherTopic",
      ...ROOM_METADATA_BASIC,
    ],
    minParticipants: 1,
    changes: allChanges([0, 1, 2, 3, 4, 5]),
  };
  const superAdmin: RoleSpec = {
    index: 6,
    name: "super_admin",
    description: "owns the channel",
    capabilities: [...moderator.capabilities, "canChangeRoomDescription", ...DISRUPTIVE],
    changes: allChanges([0, 1, 2, 3, 4, 5, 6]),
  };
  const enforcer: RoleSpec = {
    index: 7,
    name: "policy_enforcer",
    description: "the hub enforcing provider policy: removes and bans, never adds",
    capabilities: POLICY_ENFORCER,
    minParticipants: 1,
    maxParticipants: 2,
    maxActive: 0,
    changes: [[0, [1]], [1, [0]], ...[2, 3, 4, 5, 6].map((from): [number, number[]] => [from, [0, 1]])],
  };
  return preset(
    "moderatedChannel",
    [...(options.noRole === false ? [] : [role(noRole)]), bannedRole(), role(guest), role(attendee), role(speaker), role(moderator), role(superAdmin), role(enforcer)],
    base(options, false, true),
    { creatorRole: 6, addedRole: 3, preauthorizedJoinRole: 3, policyEnforcerRole: 7 },
  );
}

/** The preset of a room kind. */
export function presetFor(kind: RoomKind, options: PresetOptions = {}): PolicyPreset {
  switch (kind) {
    case "direct":
      return directPreset(options);
    case "group":
      return groupPreset(options);
    case "moderatedChannel":
      return moderatedChannelPreset(options);
    default:
      throw invalid(`unknown room kind ${String(kind)}`);
  }
}

export interface InitialParticipants {
  readonly creator: string;
  /** Other users listed at creation: the fixed participants of a direct room, or added users. */
  readonly participants?: readonly string[];
  /** The hub's user URI, listed as policy_enforcer (never active), for presets that have one. */
  readonly hubUser?: string;
}

/**
 * The participant list a room of this preset starts with. Direct rooms list all their fixed
 * participants (two or more, MIMI-POLICY-18) with the same role; other rooms list the creator,
 * the given users with the added role, and optionally the hub. Throws MIMI_ERR_POLICY_INVALID for
 * duplicates or a direct room with fewer than two users.
 */
export function initialParticipantList(p: PolicyPreset, initial: InitialParticipants): ParticipantListData {
  const others = initial.participants ?? [];
  const entries: UserRolePair[] = [{ user: initial.creator, roleIndex: p.creatorRole }];
  if (p.kind === "direct") {
    participantSetKey([initial.creator, ...others]);
    if (initial.hubUser !== undefined) throw invalid("a direct room does not list the hub");
  }
  for (const user of others) entries.push({ user, roleIndex: p.addedRole });
  if (initial.hubUser !== undefined) {
    if (p.policyEnforcerRole === undefined) throw invalid(`the ${p.kind} preset has no policy_enforcer role`);
    entries.push({ user: initial.hubUser, roleIndex: p.policyEnforcerRole });
  }
  const list: ParticipantListData = { participants: entries };
  assertValidParticipantList(policyView(p.policy), list);
  return list;
}
