// The MIMI Role Capabilities registry of draft-ietf-mimi-room-policy-03 §10.2 (Table 1), with the
// semantics of §8, and where each capability can be enforced (§8.3).
//
// Source: the published -03 text (versioned/draft-ietf-mimi-room-policy-03.txt). The editor's
// markdown of an earlier revision numbers the membership block differently (canAddSelf 0x0004,
// canBan 0x0008, …); -03 inserted canOpenJoin / canJoinIfPreauthorized and canDeleteJoinCode and
// renumbered. Names are spelled as in Table 1 (`canUnBan`; the prose of §8.1.3 says `canUnban`).

/** Where a capability lives in the registry (§8.1–§8.6, §10.2). */
export type CapabilityCategory = "membership" | "message" | "asset" | "metadata" | "realtime" | "disruptive";

/**
 * Who can enforce a capability. The hub sees every handshake (PublicMessage, or SemiPrivateMessage
 * with the hub as external receiver) and every submitMessage, so it enforces membership, roles,
 * room state and send/receive; everything inside the encrypted content is enforced by receiving
 * clients (room-policy-03 §8.3; MIMI-POLICY-25).
 */
export type EnforcementPoint = "hub" | "client";

interface CapabilitySpec {
  readonly value: number;
  readonly category: CapabilityCategory;
  readonly reserved: boolean;
  readonly enforcedBy: EnforcementPoint;
}

const m = (value: number, reserved = false): CapabilitySpec => ({ value, category: "membership", reserved, enforcedBy: "hub" });
const msg = (value: number, enforcedBy: EnforcementPoint, reserved = false): CapabilitySpec => ({ value, category: "message", reserved, enforcedBy });
const asset = (value: number): CapabilitySpec => ({ value, category: "asset", reserved: false, enforcedBy: "client" });
const meta = (value: number, reserved = false): CapabilitySpec =>
  // Room metadata changes are AppDataUpdate proposals the hub sees; the "own profile" ones
  // (0x0380–0x0383) are reserved and would live in content, so clients would enforce them.
  ({ value, category: "metadata", reserved, enforcedBy: reserved ? "client" : "hub" });
const rt = (value: number): CapabilitySpec => ({ value, category: "realtime", reserved: false, enforcedBy: "client" });
const d = (value: number, reserved = false): CapabilitySpec => ({ value, category: "disruptive", reserved, enforcedBy: "hub" });

/** room-policy-03 §10.2 Table 1, complete, in registry order. */
export const Capabilities = {
  // §8.1 membership, 0x0000–0x0011
  canAddParticipant: m(0x0000),
  canRemoveParticipant: m(0x0001),
  canAddOwnClient: m(0x0002),
  canRemoveOwnClient: m(0x0003),
  canOpenJoin: m(0x0004),
  canJoinIfPreauthorized: m(0x0005),
  canRemoveSelf: m(0x0006),
  canCreateJoinCode: m(0x0007, true),
  canDeleteJoinCode: m(0x0008, true),
  canUseJoinCode: m(0x0009),
  canBan: m(0x000a),
  canUnBan: m(0x000b),
  canKick: m(0x000c),
  canKnock: m(0x000d, true),
  canAcceptKnock: m(0x000e, true),
  canChangeUserRole: m(0x000f),
  canChangeOwnRole: m(0x0010),
  canCreateSubgroup: m(0x0011, true),
  // §8.3 messages, 0x0100–0x0111 (the hub enforces only send and receive; it also receives
  // /reportAbuse, so it can check the reporter's role)
  canSendMessage: msg(0x0100, "hub"),
  canReceiveMessage: msg(0x0101, "hub"),
  canCopyMessage: msg(0x0102, "client"),
  canReportAbuse: msg(0x0103, "hub"),
  canReplyToMessage: msg(0x0104, "client"),
  canReactToMessage: msg(0x0105, "client"),
  canEditReaction: msg(0x0106, "client"),
  canDeleteOwnReaction: msg(0x0107, "client"),
  canDeleteOtherReaction: msg(0x0108, "client"),
  canEditOwnMessage: msg(0x0109, "client"),
  canDeleteOwnMessage: msg(0x010a, "client"),
  canDeleteOtherMessage: msg(0x010b, "client"),
  canStartTopic: msg(0x010c, "client"),
  canReplyInTopic: msg(0x010d, "client"),
  canEditOwnTopic: msg(0x010e, "client"),
  canEditOtherTopic: msg(0x010f, "client"),
  canSendDirectMessage: msg(0x0110, "client", true),
  canTargetMessage: msg(0x0111, "client", true),
  // §8.4 assets and links (links are described in §8.3 but registered here), 0x0200–0x020b
  canUploadImage: asset(0x0200),
  canUploadAudio: asset(0x0201),
  canUploadVideo: asset(0x0202),
  canUploadAttachment: asset(0x0203),
  canDownloadImage: asset(0x0204),
  canDownloadAudio: asset(0x0205),
  canDownloadVideo: asset(0x0206),
  canDownloadAttachment: asset(0x0207),
  canSendLink: asset(0x0208),
  canSendLinkPreview: asset(0x0209),
  canFollowLink: asset(0x020a),
  canCopyLink: asset(0x020b),
  // §8.2 room metadata, 0x0300–0x0304; own-profile capabilities reserved (§8.7)
  canChangeRoomName: meta(0x0300),
  canChangeRoomDescription: meta(0x0301),
  canChangeRoomAvatar: meta(0x0302),
  canChangeRoomSubject: meta(0x0303),
  canChangeRoomMood: meta(0x0304),
  canChangeOwnName: meta(0x0380, true),
  canChangeOwnPresence: meta(0x0381, true),
  canChangeOwnMood: meta(0x0382, true),
  canChangeOwnAvatar: meta(0x0383, true),
  // §8.5 real-time media, 0x0400–0x0407 (no MIMI call protocol yet: clients enforce)
  canStartCall: rt(0x0400),
  canJoinCall: rt(0x0401),
  canSendAudio: rt(0x0402),
  canReceiveAudio: rt(0x0403),
  canSendVideo: rt(0x0404),
  canReceiveVideo: rt(0x0405),
  canShareScreen: rt(0x0406),
  canViewSharedScreen: rt(0x0407),
  // §8.6 disruptive policy changes, 0x0500–0x0605
  canCreateRoom: d(0x0500, true),
  canDestroyRoom: d(0x0501),
  canChangeRoomMembershipStyle: d(0x0502),
  canChangeRoleDefinitions: d(0x0503),
  canChangePreauthorizedUserList: d(0x0504),
  canChangeOtherPolicyAttribute: d(0x0505, true),
  canChangeMlsOperationalPolicies: d(0x0600, true),
  canSendMLSReinitProposal: d(0x0601),
  canSendMLSUpdateProposal: d(0x0602, true),
  canSendMLSPSKProposal: d(0x0603, true),
  canSendMLSExternalProposal: d(0x0604, true),
  canSendMLSExternalCommit: d(0x0605, true),
} as const satisfies Record<string, CapabilitySpec>;

export type CapabilityName = keyof typeof Capabilities;

/** `uint16 CapabilityType` values 0xF000–0xFFFF are for private use (§10.2). */
export const PRIVATE_USE_CAPABILITY_MIN = 0xf000;

const NAMES = Object.keys(Capabilities) as CapabilityName[];
const BY_VALUE: ReadonlyMap<number, CapabilityName> = new Map(NAMES.map((name) => [Capabilities[name].value, name]));

/** Every registered capability name, in registry order. */
export const CAPABILITY_NAMES: readonly CapabilityName[] = NAMES;

/** The uint16 value of a capability. */
export function capabilityValue(name: CapabilityName): number {
  return Capabilities[name].value;
}

/** The registered name of a capability value, or undefined (unknown or private-use value). */
export function capabilityName(value: number): CapabilityName | undefined {
  return BY_VALUE.get(value);
}

/** Capability values for a list of names (for building `role_capabilities`). */
export function capabilityValues(names: readonly CapabilityName[]): number[] {
  return names.map(capabilityValue);
}

export function isReservedCapability(name: CapabilityName): boolean {
  return Capabilities[name].reserved;
}

export function isPrivateUseCapability(value: number): boolean {
  return Number.isInteger(value) && value >= PRIVATE_USE_CAPABILITY_MIN && value <= 0xffff;
}

/** Who enforces `name`: the hub, or receiving clients (MIMI-POLICY-25). */
export function enforcementPoint(name: CapabilityName): EnforcementPoint {
  return Capabilities[name].enforcedBy;
}

/**
 * The split of §8.3 as two lists: capabilities the hub checks on handshakes and submitMessage,
 * and capabilities only receiving clients can check because they concern encrypted content.
 * Reserved capabilities are left out: nothing uses them yet.
 */
export function enforcementSplit(): { readonly hub: readonly CapabilityName[]; readonly client: readonly CapabilityName[] } {
  const active = NAMES.filter((n) => !Capabilities[n].reserved);
  return { hub: active.filter((n) => Capabilities[n].enforcedBy === "hub"), client: active.filter((n) => Capabilities[n].enforcedBy === "client") };
}
