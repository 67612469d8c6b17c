// MIMI room-state components carried in the app_data_dictionary GroupContext extension
// (draft-ietf-mls-extensions-09 §4.6) and changed by AppDataUpdate proposals (§4.7):
//
//   participant_list  0x0022  ParticipantListData / ParticipantListUpdate  (protocol-06 "Participant List")
//   room_metadata     0x0023  RoomMetaData / RoomMetaUpdate                 (protocol-06 "Room Metadata")
//   roles_list        0x0025  RoleData / RoleUpdate                         (room-policy-03 "Role-Based Access Control")
//   base_room_policy  0x0027  BaseRoomPolicy (BaseRoomData / BaseRoomUpdate) (room-policy-03 "Base Room policy component syntax")
//
// IDs 0x0020–0x0023 are assigned by protocol-06 §IANA; 0x0025 and 0x0027 are room-policy-03's
// suggested values. Declared with our TLS presentation-language codec (src/codec).
import { MimiError } from "../errors.ts";
import { decodeExactMls } from "./codecUtil.ts";
import { encode, optional, struct, uint16, uint32, uint8, utf8V, vectorV } from "../codec/index.ts";
import type { Codec, Infer } from "../codec/index.ts";
import { parseMimiUri } from "../ids/mimiUri.ts";

/** Component IDs of draft-ietf-mls-extensions-09 §7.5 (uint16 ComponentID). */
export const MlsComponentId = {
  app_components: 0x0001,
  safe_aad: 0x0002,
  content_media_types: 0x0003,
  last_resort_key_package: 0x0004,
  app_ack: 0x0005,
} as const;

/** MIMI component IDs: protocol-06 §IANA (0x0020–0x0023), room-policy-03 suggested (0x0024–0x0030). */
export const MimiComponentId = {
  frank_aad: 0x0020,
  franking_signature_key: 0x0021,
  participant_list: 0x0022,
  room_metadata: 0x0023,
  mls_operational_policy: 0x0024,
  roles_list: 0x0025,
  preauth_list: 0x0026,
  base_room_policy: 0x0027,
} as const;

// ---- shared leaf codecs -----------------------------------------------------------------------

function invalid(message: string, details: Record<string, unknown> = {}): MimiError {
  return new MimiError("MIMI_ERR_MLS_APP_DATA_INVALID", message, { details });
}

/**
 * `struct { opaque string<V>; } UTF8String` ("a sequence of valid UTF8 without nulls"): a struct
 * with one opaque<V> field encodes exactly like the field, so it is carried as a plain string.
 * MIMI-MLS-21: protocol-06 "Room Metadata" UTF8String is valid UTF-8 without NUL characters.
 */
export const UTF8String: Codec<string> = {
  name: "UTF8String",
  encode(w, v) {
    if (typeof v === "string" && v.includes("\u0000")) throw invalid("UTF8String must not contain NUL");
    utf8V.encode(w, v);
  },
  decode(r) {
    const start = r.offset;
    const v = utf8V.decode(r);
    if (v.includes("\u0000")) throw invalid(`UTF8String at offset ${start} contains NUL`, { offset: start });
    return v;
  },
};

/**
 * `struct { opaque uri<V>; } Uri` ("a valid URI (ex: MIMI URI)"). The empty string is allowed
 * (protocol-06 leaves an unset avatar or parent zero-length); anything else must parse as a URI.
 */
export const Uri: Codec<string> = {
  name: "Uri",
  encode(w, v) {
    if (typeof v === "string" && v !== "" && !URL.canParse(v)) throw invalid("Uri is not a valid URI", { uri: v.slice(0, 64) });
    UTF8String.encode(w, v);
  },
  decode(r) {
    const start = r.offset;
    const v = UTF8String.decode(r);
    if (v !== "" && !URL.canParse(v)) throw invalid(`Uri at offset ${start} is not a valid URI`, { offset: start });
    return v;
  },
};

/** `enum { false(0), true(1) } bool` (room-policy-03), as a boolean. */
export const Bool: Codec<boolean> = {
  name: "bool",
  encode(w, v) {
    if (typeof v !== "boolean") throw invalid("bool must be a boolean");
    uint8.encode(w, v ? 1 : 0);
  },
  decode(r) {
    const start = r.offset;
    const v = uint8.decode(r);
    if (v > 1) throw new MimiError("MIMI_ERR_CODEC_INVALID_ENUM", `bool value ${v} at offset ${start} is neither 0 nor 1`, { details: { offset: start, value: v } });
    return v === 1;
  },
};

// ---- participant_list (protocol-06 "Participant List") ----------------------------------------

/** `struct { opaque user<V>; uint32 role_index; } UserRolePair`; `user` is a MIMI user URI. */
export const UserRolePair = struct("UserRolePair", [
  ["user", utf8V],
  ["roleIndex", uint32],
]);
export type UserRolePair = Infer<typeof UserRolePair>;

/** `struct { UserRolePair participants<V>; } ParticipantListData`. */
export const ParticipantListData = struct("ParticipantListData", [["participants", vectorV(UserRolePair)]]);
export type ParticipantListData = Infer<typeof ParticipantListData>;

/** `struct { uint32 user_index; uint32 role_index; } UserindexRolePair`. */
export const UserindexRolePair = struct("UserindexRolePair", [
  ["userIndex", uint32],
  ["roleIndex", uint32],
]);
export type UserindexRolePair = Infer<typeof UserindexRolePair>;

/** `struct { UserindexRolePair changedRoleParticipants<V>; uint32 removedIndices<V>; UserRolePair addedParticipants<V>; } ParticipantListUpdate`. */
export const ParticipantListUpdate = struct("ParticipantListUpdate", [
  ["changedRoleParticipants", vectorV(UserindexRolePair)],
  ["removedIndices", vectorV(uint32)],
  ["addedParticipants", vectorV(UserRolePair)],
]);
export type ParticipantListUpdate = Infer<typeof ParticipantListUpdate>;

function checkParticipantUser(user: string): void {
  // The user field is opaque in protocol-06; MIMI puts the user's URI there. We require a
  // canonical user (or pseudonym, identity-05) URI so participants compare equal to the user
  // URI derived from a client credential (MIMI-MLS-05).
  let parsed;
  try {
    parsed = parseMimiUri(user);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_MLS_APP_DATA_INVALID", "participant is not a MIMI URI", { cause, details: { user: user.slice(0, 64) } });
  }
  if ((parsed.kind !== "user" && parsed.kind !== "pseudonym") || parsed.uri !== user) {
    throw invalid("participant must be a user URI in canonical form", { user: user.slice(0, 64) });
  }
}

/** Structural validity of a participant list: canonical user URIs, no duplicates, no role 0. */
export function validateParticipantList(list: ParticipantListData): void {
  const seen = new Set<string>();
  for (const [i, p] of list.participants.entries()) {
    checkParticipantUser(p.user);
    // MIMI-MLS-18: room-policy-03 "The role_index zero is reserved to refer to a participant that
    // does not (yet) or no longer appears ... in the participant list".
    if (p.roleIndex === 0) throw invalid(`participant ${i} has the reserved role_index 0`, { index: i });
    if (seen.has(p.user)) throw invalid(`participant ${p.user} appears more than once`, { index: i });
    seen.add(p.user);
  }
}

/**
 * Applies the ParticipantListUpdates of one commit, in commit order, to `current`.
 *
 * MIMI-MLS-11: protocol-06 "Participant List": indexes refer to the current ParticipantListData;
 * first the role changes, then the removals, then the additions are appended at the end.
 * MIMI-MLS-12: "A single commit is not valid if it contain[s] any combination of Participant list
 * updates that operate on (add, remove, or change the role of) the same user ... more than once."
 * Throws MIMI_ERR_MLS_APP_DATA_INVALID.
 */
export function applyParticipantListUpdates(current: ParticipantListData, updates: readonly ParticipantListUpdate[]): ParticipantListData {
  let list = current.participants.map((p) => ({ ...p }));
  const touched = new Set<string>();
  const touch = (user: string, what: string): void => {
    if (touched.has(user)) throw invalid(`participant list update operates on ${user} more than once (${what})`, { user });
    touched.add(user);
  };
  for (const update of updates) {
    for (const change of update.changedRoleParticipants) {
      const p = list[change.userIndex];
      if (p === undefined) throw invalid(`role change for user_index ${change.userIndex} outside the list of ${list.length}`);
      if (change.roleIndex === 0) throw invalid("role change to the reserved role_index 0 (use removedIndices)");
      touch(p.user, "role change");
      p.roleIndex = change.roleIndex;
    }
    const removed = new Set<number>();
    for (const index of update.removedIndices) {
      const p = list[index];
      if (p === undefined) throw invalid(`removed index ${index} outside the list of ${list.length}`);
      touch(p.user, "removal");
      removed.add(index);
    }
    list = list.filter((_, i) => !removed.has(i));
    for (const added of update.addedParticipants) {
      checkParticipantUser(added.user);
      if (added.roleIndex === 0) throw invalid("added participant has the reserved role_index 0");
      touch(added.user, "addition");
      if (list.some((p) => p.user === added.user)) throw invalid(`added participant ${added.user} is already in the list`);
      list.push({ user: added.user, roleIndex: added.roleIndex });
    }
  }
  const result = { participants: list };
  validateParticipantList(result);
  return result;
}

/**
 * The ParticipantListUpdate that turns `from` into `to` (role changes for users in both, removals
 * for users only in `from`, additions for users only in `to`, in `to`'s order).
 */
export function diffParticipantLists(from: ParticipantListData, to: ParticipantListData): ParticipantListUpdate {
  const target = new Map(to.participants.map((p) => [p.user, p.roleIndex]));
  const before = new Set(from.participants.map((p) => p.user));
  const changedRoleParticipants: UserindexRolePair[] = [];
  const removedIndices: number[] = [];
  for (const [userIndex, p] of from.participants.entries()) {
    const role = target.get(p.user);
    if (role === undefined) removedIndices.push(userIndex);
    else if (role !== p.roleIndex) changedRoleParticipants.push({ userIndex, roleIndex: role });
  }
  const addedParticipants = to.participants.filter((p) => !before.has(p.user)).map((p) => ({ user: p.user, roleIndex: p.roleIndex }));
  return { changedRoleParticipants, removedIndices, addedParticipants };
}

// ---- room_metadata (protocol-06 "Room Metadata") ----------------------------------------------

/** `struct { opaque media_type<V>; opaque language_tag<V>; opaque description_content<V>; } RichDescription`. */
export const RichDescription = struct("RichDescription", [
  ["mediaType", utf8V],
  ["languageTag", utf8V],
  ["descriptionContent", utf8V],
]);
export type RichDescription = Infer<typeof RichDescription>;

/** `RoomMetaData` (also the RoomMetaUpdate, which replaces the data completely). */
export const RoomMetaData = struct("RoomMetaData", [
  ["roomUri", Uri],
  ["roomName", UTF8String],
  ["roomDescriptions", vectorV(RichDescription)],
  ["roomAvatar", Uri],
  ["roomSubject", UTF8String],
  ["roomMood", UTF8String],
]);
export type RoomMetaData = Infer<typeof RoomMetaData>;

// ---- roles_list (room-policy-03 "Role-Based Access Control") ----------------------------------

/** `struct { uint32 from_role_index; uint32 target_role_indexes<V>; } SingleSourceRoleChangeTargets`. */
export const SingleSourceRoleChangeTargets = struct("SingleSourceRoleChangeTargets", [
  ["fromRoleIndex", uint32],
  ["targetRoleIndexes", vectorV(uint32)],
]);
export type SingleSourceRoleChangeTargets = Infer<typeof SingleSourceRoleChangeTargets>;

/** room-policy-03 `Role`; role_capabilities are uint16 CapabilityType values. */
export const Role = struct("Role", [
  ["roleIndex", uint32],
  ["roleName", utf8V],
  ["roleDescription", utf8V],
  ["roleCapabilities", vectorV(uint16)],
  ["minimumParticipantsConstraint", uint32],
  ["maximumParticipantsConstraint", optional(uint32)],
  ["minimumActiveParticipantsConstraint", uint32],
  ["maximumActiveParticipantsConstraint", optional(uint32)],
  ["authorizedRoleChanges", vectorV(SingleSourceRoleChangeTargets)],
]);
export type Role = Infer<typeof Role>;

/** `struct { Role roles<V>; } RoleData` (also RoleUpdate, which replaces the data completely). */
export const RoleData = struct("RoleData", [["roles", vectorV(Role)]]);
export type RoleData = Infer<typeof RoleData>;

/** Role indexes are unique and 0 is reserved (room-policy-03 "Role-Based Access Control"). */
export function validateRoleData(data: RoleData): void {
  const seen = new Set<number>();
  for (const role of data.roles) {
    // A role 0 entry is allowed: room-policy-03 Appendix A defines `no_role` (index 0) to give
    // capabilities (canOpenJoin, canUseJoinCode) to non-participants (§8.1.1); a participant never
    // holds role 0 (MIMI-MLS-18, checked on the participant list).
    if (seen.has(role.roleIndex)) throw invalid(`role_index ${role.roleIndex} is defined twice`);
    seen.add(role.roleIndex);
  }
}

// ---- base_room_policy (room-policy-03 "Base Room policy component syntax") ---------------------

/**
 * room-policy-03 `BaseRoomPolicy` (BaseRoomData / BaseRoomUpdate). `Uri parent_room<V>` is a
 * vector of Uri (zero-length unless parent_dependant); `Component policy_components<V>` is a
 * vector of uint16 ComponentIDs (the draft's `Component` type is read as ComponentID).
 */
export const BaseRoomPolicy = struct("BaseRoomPolicy", [
  ["fixedMembership", Bool],
  ["parentDependant", Bool],
  ["parentRoom", vectorV(Uri)],
  ["multiDevice", Bool],
  ["maxClients", optional(uint32)],
  ["maxUsers", optional(uint32)],
  ["pseudonymsAllowed", Bool],
  ["persistentRoom", Bool],
  ["discoverable", Bool],
  ["policyComponents", vectorV(uint16)],
]);
export type BaseRoomPolicy = Infer<typeof BaseRoomPolicy>;

// ---- encode/decode helpers (throw MIMI_ERR_CODEC_* / MIMI_ERR_MLS_APP_DATA_INVALID) ----------

export function encodeParticipantListData(v: ParticipantListData): Uint8Array {
  validateParticipantList(v);
  return encode(ParticipantListData, v);
}
export function decodeParticipantListData(bytes: Uint8Array): ParticipantListData {
  const v = decodeExactMls(ParticipantListData, bytes);
  validateParticipantList(v);
  return v;
}
export function encodeParticipantListUpdate(v: ParticipantListUpdate): Uint8Array {
  return encode(ParticipantListUpdate, v);
}
export function decodeParticipantListUpdate(bytes: Uint8Array): ParticipantListUpdate {
  return decodeExactMls(ParticipantListUpdate, bytes);
}
export function encodeRoomMetaData(v: RoomMetaData): Uint8Array {
  return encode(RoomMetaData, v);
}
export function decodeRoomMetaData(bytes: Uint8Array): RoomMetaData {
  return decodeExactMls(RoomMetaData, bytes);
}
export function encodeRoleData(v: RoleData): Uint8Array {
  validateRoleData(v);
  return encode(RoleData, v);
}
export function decodeRoleData(bytes: Uint8Array): RoleData {
  const v = decodeExactMls(RoleData, bytes);
  validateRoleData(v);
  return v;
}
export function encodeBaseRoomPolicy(v: BaseRoomPolicy): Uint8Array {
  return encode(BaseRoomPolicy, v);
}
export function decodeBaseRoomPolicy(bytes: Uint8Array): BaseRoomPolicy {
  return decodeExactMls(BaseRoomPolicy, bytes);
}
