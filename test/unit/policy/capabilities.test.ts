// The MIMI Role Capabilities registry (room-policy-03 §10.2 Table 1) and the hub/client split
// of §8.3.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CAPABILITY_NAMES,
  Capabilities,
  PolicyComponentId,
  capabilityName,
  capabilityValue,
  enforcementPoint,
  enforcementSplit,
  isPrivateUseCapability,
  isReservedCapability,
} from "../../../src/policy/index.ts";
import { MimiComponentId } from "../../../src/mls/components.ts";

// Table 1 of versioned/draft-ietf-mimi-room-policy-03.txt, transcribed by hand.
const TABLE_1: [number, string, boolean][] = [
  [0x0000, "canAddParticipant", false],
  [0x0001, "canRemoveParticipant", false],
  [0x0002, "canAddOwnClient", false],
  [0x0003, "canRemoveOwnClient", false],
  [0x0004, "canOpenJoin", false],
  [0x0005, "canJoinIfPreauthorized", false],
  [0x0006, "canRemoveSelf", false],
  [0x0007, "canCreateJoinCode", true],
  [0x0008, "canDeleteJoinCode", true],
  [0x0009, "canUseJoinCode", false],
  [0x000a, "canBan", false],
  [0x000b, "canUnBan", false],
  [0x000c, "canKick", false],
  [0x000d, "canKnock", true],
  [0x000e, "canAcceptKnock", true],
  [0x000f, "canChangeUserRole", false],
  [0x0010, "canChangeOwnRole", false],
  [0x0011, "canCreateSubgroup", true],
  [0x0100, "canSendMessage", false],
  [0x0101, "canReceiveMessage", false],
  [0x0102, "canCopyMessage", false],
  [0x0103, "canReportAbuse", false],
  [0x0104, "canReplyToMessage", false],
  [0x0105, "canReactToMessage", false],
  [0x0106, "canEditReaction", false],
  [0x0107, "canDeleteOwnReaction", false],
  [0x0108, "canDeleteOtherReaction", false],
  [0x0109, "canEditOwnMessage", false],
  [0x010a, "canDeleteOwnMessage", false],
  [0x010b, "canDeleteOtherMessage", false],
  [0x010c, "canStartTopic", false],
  [0x010d, "canReplyInTopic", false],
  [0x010e, "canEditOwnTopic", false],
  [0x010f, "canEditOtherTopic", false],
  [0x0110, "canSendDirectMessage", true],
  [0x0111, "canTargetMessage", true],
  [0x0200, "canUploadImage", false],
  [0x0201, "canUploadAudio", false],
  [0x0202, "canUploadVideo", false],
  [0x0203, "canUploadAttachment", false],
  [0x0204, "canDownloadImage", false],
  [0x0205, "canDownloadAudio", false],
  [0x0206, "canDownloadVideo", false],
  [0x0207, "canDownloadAttachment", false],
  [0x0208, "canSendLink", false],
  [0x0209, "canSendLinkPreview", false],
  [0x020a, "canFollowLink", false],
  [0x020b, "canCopyLink", false],
  [0x0300, "canChangeRoomName", false],
  [0x0301, "canChangeRoomDescription", false],
  [0x0302, "canChangeRoomAvatar", false],
  [0x0303, "canChangeRoomSubject", false],
  [0x0304, "canChangeRoomMood", false],
  [0x0380, "canChangeOwnName", true],
  [0x0381, "canChangeOwnPresence", true],
  [0x0382, "canChangeOwnMood", true],
  [0x0383, "canChangeOwnAvatar", true],
  [0x0400, "canStartCall", false],
  [0x0401, "canJoinCall", false],
  [0x0402, "canSendAudio", false],
  [0x0403, "canReceiveAudio", false],
  [0x0404, "canSendVideo", false],
  [0x0405, "canReceiveVideo", false],
  [0x0406, "canShareScreen", false],
  [0x0407, "canViewSharedScreen", false],
  [0x0500, "canCreateRoom", true],
  [0x0501, "canDestroyRoom", false],
  [0x0502, "canChangeRoomMembershipStyle", false],
  [0x0503, "canChangeRoleDefinitions", false],
  [0x0504, "canChangePreauthorizedUserList", false],
  [0x0505, "canChangeOtherPolicyAttribute", true],
  [0x0600, "canChangeMlsOperationalPolicies", true],
  [0x0601, "canSendMLSReinitProposal", false],
  [0x0602, "canSendMLSUpdateProposal", true],
  [0x0603, "canSendMLSPSKProposal", true],
  [0x0604, "canSendMLSExternalProposal", true],
  [0x0605, "canSendMLSExternalCommit", true],
];

test("the registry is room-policy-03 Table 1: every value, name and reserved mark, in order", () => {
  assert.deepEqual(
    CAPABILITY_NAMES.map((n) => [capabilityValue(n), n, isReservedCapability(n)]),
    TABLE_1,
  );
  for (const [value, name] of TABLE_1) assert.equal(capabilityName(value), name);
  assert.equal(new Set(CAPABILITY_NAMES.map(capabilityValue)).size, CAPABILITY_NAMES.length, "values are unique");
  assert.equal(capabilityName(0x0012), undefined);
  assert.equal(capabilityName(0xf001), undefined);
  assert.ok(isPrivateUseCapability(0xf000) && isPrivateUseCapability(0xffff) && !isPrivateUseCapability(0xefff));
});

test("categories follow the registry ranges (§8.1–§8.6)", () => {
  for (const name of CAPABILITY_NAMES) {
    const { value, category } = Capabilities[name];
    const expected = value < 0x0100 ? "membership" : value < 0x0200 ? "message" : value < 0x0300 ? "asset" : value < 0x0400 ? "metadata" : value < 0x0500 ? "realtime" : "disruptive";
    assert.equal(category, expected, name);
  }
});

test("MIMI-POLICY-25 the hub enforces membership, roles, send and receive; clients enforce content capabilities (§8.3)", () => {
  const { hub, client } = enforcementSplit();
  for (const name of ["canAddParticipant", "canRemoveParticipant", "canBan", "canUnBan", "canKick", "canChangeUserRole", "canSendMessage", "canReceiveMessage"] as const) {
    assert.equal(enforcementPoint(name), "hub", name);
    assert.ok(hub.includes(name));
  }
  for (const name of ["canReactToMessage", "canEditOwnMessage", "canDeleteOtherMessage", "canStartTopic", "canEditOtherTopic", "canSendLink", "canUploadImage", "canStartCall"] as const) {
    assert.equal(enforcementPoint(name), "client", name);
    assert.ok(client.includes(name));
  }
  // Room state visible in handshakes is hub-enforced too.
  assert.equal(enforcementPoint("canChangeRoomName"), "hub");
  assert.equal(enforcementPoint("canChangeRoleDefinitions"), "hub");
  // Reserved capabilities are in neither list; together the lists cover the rest exactly once.
  assert.ok(!hub.includes("canKnock") && !client.includes("canKnock"));
  assert.equal(hub.length + client.length, CAPABILITY_NAMES.filter((n) => !isReservedCapability(n)).length);
});

test("policy component IDs agree with src/mls/components.ts (room-policy-03 §10.1)", () => {
  assert.equal(PolicyComponentId.roles_list, MimiComponentId.roles_list);
  assert.equal(PolicyComponentId.preauth_list, MimiComponentId.preauth_list);
  assert.equal(PolicyComponentId.base_room_policy, MimiComponentId.base_room_policy);
});
