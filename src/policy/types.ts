// Types of the room-policy engine (draft-ietf-mimi-room-policy-03).
//
// The wire structs (Role, RoleData, BaseRoomPolicy: room-policy-03 §3 and §5; ParticipantListData,
// ParticipantListUpdate, RoomMetaData: protocol-06 §7.5 and §7.6) are declared once, with their
// codecs, in src/mls/components.ts; the engine reuses those TypeScript types as they are (type-only
// imports, so the engine loads no codec and no MLS code).
import type {
  BaseRoomPolicy,
  ParticipantListData,
  ParticipantListUpdate,
  Role,
  RoleData,
  RoomMetaData,
  SingleSourceRoleChangeTargets,
  UserRolePair,
  UserindexRolePair,
} from "../mls/components.ts";
import type { CapabilityName } from "./capabilities.ts";

export type {
  BaseRoomPolicy,
  ParticipantListData,
  ParticipantListUpdate,
  Role,
  RoleData,
  RoomMetaData,
  SingleSourceRoleChangeTargets,
  UserRolePair,
  UserindexRolePair,
};

/** The policy components the engine reads: roles_list (§3) and base_room_policy (§5). */
export interface RoomPolicy {
  readonly roleData: RoleData;
  readonly baseRoomPolicy: BaseRoomPolicy;
}

/**
 * Who performs an action.
 *
 * - `user`: a user acting through one of its clients (a member commit or proposal, or an external
 *   join). Its role is its entry in the participant list, or 0 when it has none.
 * - `external`: an external sender that is not in the participant list and holds a role by
 *   preauthorization (§4), typically the hub as `policy_enforcer`. The caller resolves the role
 *   (first matching PreAuthRoleEntry) and passes its index.
 */
export type Actor =
  | { readonly kind: "user"; readonly user: string }
  | { readonly kind: "external"; readonly id: string; readonly roleIndex: number };

/** Number of clients each user has in the room's MLS group (a user that is absent has none). */
export type ActiveClients = ReadonlyMap<string, number>;

/** Why the engine said no. Stable strings: they appear in logs and in `errorDescription`. */
export const PolicyDenialCodes = [
  "notParticipant", // the actor (or target) is not in the participant list
  "banned", // the actor is in the banned role (index 1, named "banned")
  "missingCapability", // the actor's role lacks the capability the action needs
  "roleChangeNotAuthorized", // no authorized_role_changes entry (from → to) in the actor's role
  "constraintViolated", // a min/max (active) participants constraint of a role
  "fixedMembership", // fixed_membership rooms never add or remove users
  "sameUserTwice", // one commit operates on the same user more than once
  "invalidUpdate", // the change cannot be applied (bad index, undefined role, no-op, …)
  "maxUsers", // more non-banned participants than max_users
  "maxClients", // more clients than max_clients
  "singleDevice", // multi_device is false and a user would have two clients
  "clientsInconsistent", // clients of a user who is not (or no longer) a non-banned participant
  "commitComposition", // changes that must not share a commit
  "selfCommit", // a leaving user cannot commit its own removal
] as const;
export type PolicyDenialCode = (typeof PolicyDenialCodes)[number];

export interface PolicyAllowed {
  readonly allowed: true;
}

export interface PolicyDenial {
  readonly allowed: false;
  readonly code: PolicyDenialCode;
  /** One sentence for people (logs, `errorDescription`). */
  readonly reason: string;
  /** The traceability ID of the rule that denied (MIMI-POLICY-NN, see docs/policy.md). */
  readonly rule: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export type PolicyDecision = PolicyAllowed | PolicyDenial;

/** What one participant-list action did, once authorized. */
export type ParticipantListActionKind =
  | "add" // canAddParticipant (0 → role)
  | "preBan" // canBan (0 → banned): a user not in the list is listed as banned
  | "join" // the user added itself: canOpenJoin, canJoinIfPreauthorized or canUseJoinCode
  | "remove" // canRemoveParticipant (role → 0)
  | "leave" // canRemoveSelf (own role → 0)
  | "changeRole" // canChangeUserRole
  | "changeOwnRole" // canChangeOwnRole (to the first matching preauthorized role)
  | "ban" // canBan, or canChangeUserRole (+ canKick) (role → banned)
  | "unban"; // canUnBan, or canChangeUserRole (banned → role)

export interface ParticipantListAction {
  readonly kind: ParticipantListActionKind;
  readonly user: string;
  readonly fromRole: number;
  readonly toRole: number;
  /** The capability that authorized the action. */
  readonly capability: CapabilityName;
  readonly actor: Actor;
}

export type ParticipantListDecision =
  | { readonly allowed: true; readonly list: ParticipantListData; readonly actions: readonly ParticipantListAction[] }
  | PolicyDenial;

/** Facts about the actor and the group that the participant-list rules need. */
export interface MembershipContext {
  /** Clients per user in the MLS group before the change. Default: nobody has clients. */
  readonly activeClients?: ActiveClients | undefined;
  /**
   * Clients per user after the commit (its MLS Adds and Removes applied). When given, the engine
   * also checks that no removed or banned user keeps clients. When absent, the engine assumes the
   * commit removes every client of removed and banned users and adds none.
   */
  readonly activeClientsAfter?: ActiveClients | undefined;
  /** The first role the acting user matches in preauth_list (§4), resolved by the caller. */
  readonly preauthorizedRoleIndex?: number | undefined;
  /** The target role of a join code the acting user presents, already checked by the caller. */
  readonly joinCodeRoleIndex?: number | undefined;
}

/** One participant-list AppDataUpdate with its sender. */
export interface ProposedListUpdate {
  readonly actor: Actor;
  readonly update: ParticipantListUpdate;
}

/**
 * The policy-relevant content of one proposal, as the hub extracts it from a handshake. `sender`
 * defaults to the committer (an inline proposal); by-reference proposals carry their own sender.
 */
export type PolicyProposal =
  | { readonly kind: "participantList"; readonly update: ParticipantListUpdate; readonly sender?: Actor }
  /** An MLS Add of one client of `user`. */
  | { readonly kind: "addClient"; readonly user: string; readonly sender?: Actor }
  /** An MLS Remove (or SelfRemove) of one client of `user`. */
  | { readonly kind: "removeClient"; readonly user: string; readonly sender?: Actor }
  /** AppDataUpdate of roles_list: the new RoleData replaces the old one (§3). */
  | { readonly kind: "roles"; readonly roleData: RoleData; readonly sender?: Actor }
  /** AppDataUpdate of preauth_list (§4). */
  | { readonly kind: "preauth"; readonly sender?: Actor }
  /** AppDataUpdate of base_room_policy (§5). */
  | { readonly kind: "baseRoomPolicy"; readonly baseRoomPolicy: BaseRoomPolicy; readonly sender?: Actor }
  /** AppDataUpdate of room_metadata (protocol-06 §7.6). */
  | { readonly kind: "roomMetadata"; readonly metadata: RoomMetaData; readonly sender?: Actor }
  /** An MLS ReInit proposal. */
  | { readonly kind: "reinit"; readonly sender?: Actor }
  /** Anything else (Update, PSK, other components): no room-policy rule beyond the sender's standing. */
  | { readonly kind: "other"; readonly sender?: Actor };

/** The room state a commit is judged against. */
export interface RoomState {
  readonly participantList: ParticipantListData;
  readonly activeClients?: ActiveClients | undefined;
  readonly roomMetadata?: RoomMetaData | undefined;
}

export interface CommitDescription {
  /** User URI of the committing client. */
  readonly committer: string;
  /** An external commit (a client joining the group by itself). */
  readonly external?: boolean | undefined;
  readonly proposals: readonly PolicyProposal[];
  /** For the committer, see MembershipContext. */
  readonly preauthorizedRoleIndex?: number | undefined;
  readonly joinCodeRoleIndex?: number | undefined;
}

export type CommitDecision =
  | {
      readonly allowed: true;
      readonly participantList: ParticipantListData;
      readonly activeClients: ActiveClients;
      readonly actions: readonly ParticipantListAction[];
    }
  | PolicyDenial;
