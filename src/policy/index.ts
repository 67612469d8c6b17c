// Room policy (draft-ietf-mimi-room-policy-03): capabilities, roles, presets and the pure
// authorization engine the hub (and receiving clients) consult. See docs/policy.md.
export {
  CAPABILITY_NAMES,
  Capabilities,
  PRIVATE_USE_CAPABILITY_MIN,
  capabilityName,
  capabilityValue,
  capabilityValues,
  enforcementPoint,
  enforcementSplit,
  isPrivateUseCapability,
  isReservedCapability,
} from "./capabilities.ts";
export type { CapabilityCategory, CapabilityName, EnforcementPoint } from "./capabilities.ts";
export {
  BANNED_ROLE_INDEX,
  BANNED_ROLE_NAME,
  NOT_IN_LIST_ROLE_INDEX,
  assertValidParticipantList,
  assertValidRoomPolicy,
  policyView,
  roleCapabilityNames,
  roleOfUser,
  roomPolicyProblems,
} from "./roles.ts";
export type { PolicyView } from "./roles.ts";
export {
  authorizeAddClient,
  authorizeCapability,
  authorizeCommit,
  authorizeCommitComposition,
  authorizeMetadataChange,
  authorizeParticipantListUpdate,
  authorizePolicyChange,
  authorizeProposal,
  authorizeReceive,
  authorizeRemoveClient,
  authorizeSend,
  checkParentDependentMembership,
  denialError,
  parentDependentRemovals,
  participantSetKey,
  updateResponseCode,
} from "./authorize.ts";
export type { AddClientContext, PolicyComponentChange, RemoveClientContext, SendContext } from "./authorize.ts";
export {
  PolicyComponentId,
  RoomKinds,
  directPreset,
  groupPreset,
  initialParticipantList,
  moderatedChannelPreset,
  presetFor,
} from "./presets.ts";
export type { InitialParticipants, PolicyPreset, PresetOptions, RoomKind } from "./presets.ts";
export { PolicyDenialCodes } from "./types.ts";
export type {
  ActiveClients,
  Actor,
  BaseRoomPolicy,
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
  Role,
  RoleData,
  RoomMetaData,
  RoomPolicy,
  RoomState,
  SingleSourceRoleChangeTargets,
  UserRolePair,
  UserindexRolePair,
} from "./types.ts";
