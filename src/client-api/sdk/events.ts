// The typed events the SDK delivers to applications, how they are derived from MLS state changes,
// and how they are persisted (the queue in state.ts) and turned back into values.
import { decodeContent } from "../../content/index.ts";
import type { MimiContent } from "../../content/index.ts";
import type { MemberInfo, ParticipantListData, RoomMetaData } from "../../mls/index.ts";
import type { DroppedAttachment, ExternalAttachment, MessageKind, MessageStatusEntry } from "./content.ts";
import type { StoredSdkEvent } from "./state.ts";

export interface SenderInfo {
  /** The sender's user URI (mimi://<provider>/u/<user>). */
  readonly user: string;
  /** The sending client (device) URI (mimi://<provider>/d/<user>/<device>). */
  readonly client: string;
}

export interface MessageEvent {
  readonly type: "message";
  readonly roomId: string;
  /** Hex message ID (draft-ietf-mimi-content -08 §3.3). */
  readonly messageId: string;
  readonly sender: SenderInfo;
  /** The hub's accepted timestamp (ms since the Unix epoch). */
  readonly timestamp: number;
  readonly content: MimiContent;
  readonly kind: MessageKind;
  /** The message text (for a reaction: the reaction; "" for deletes). */
  readonly text: string;
  readonly replaces?: string;
  readonly inReplyTo?: string;
  /** The reaction; for an unreact, the reaction it withdraws (when this client saw it). */
  readonly reaction?: string;
  readonly deleted?: boolean;
  /** For kind "status": what the sender reports about which messages (read, delivered, …). */
  readonly statuses?: readonly MessageStatusEntry[];
  /** The thread (content §4.1 topicId) in hex; absent when the message is in no thread. */
  readonly topicId?: string;
  /** Files referenced by ExternalParts (content §4.5) with http(s) URLs, depth first. */
  readonly attachments?: readonly ExternalAttachment[];
  /** External parts left out of `attachments` (another URL scheme), with the reason. */
  readonly droppedAttachments?: readonly DroppedAttachment[];
}

interface RoomEventBase {
  readonly roomId: string;
  /** The hub's accepted timestamp of the commit (or the local time for events without one). */
  readonly timestamp: number;
  /** The user whose client made the change (undefined for hub proposals or unknown). */
  readonly by?: string;
}

/** This client became a member of the room's group. */
export interface JoinedEvent extends RoomEventBase {
  readonly type: "joined";
  readonly via: "create" | "welcome" | "externalJoin";
}

/**
 * This client is no longer a member: it left (its own leave was committed), it was banned (the
 * commit lists its user with the ban role, room-policy-03 §8.1.3) or removed (not listed any
 * more). `by` is the committer's user.
 */
export interface LeftEvent extends RoomEventBase {
  readonly type: "left";
  readonly reason: "left" | "removed" | "banned";
}

export interface ParticipantAddedEvent extends RoomEventBase {
  readonly type: "participantAdded";
  readonly user: string;
  readonly role: number;
}

export interface ParticipantRemovedEvent extends RoomEventBase {
  readonly type: "participantRemoved";
  readonly user: string;
}

export interface ParticipantBannedEvent extends RoomEventBase {
  readonly type: "participantBanned";
  readonly user: string;
}

export interface RoleChangedEvent extends RoomEventBase {
  readonly type: "roleChanged";
  readonly user: string;
  readonly from: number;
  readonly to: number;
}

/** Clients (MLS members) joined or left the group. */
export interface MembersChangedEvent extends RoomEventBase {
  readonly type: "membersChanged";
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export interface RoomMetadataEvent extends RoomEventBase {
  readonly type: "roomMetadata";
  readonly name: string;
  readonly subject: string;
  /** The room avatar URI ("" = none), present only when this change set or removed it. */
  readonly avatar?: string;
}

export type MimiEvent =
  | MessageEvent
  | JoinedEvent
  | LeftEvent
  | ParticipantAddedEvent
  | ParticipantRemovedEvent
  | ParticipantBannedEvent
  | RoleChangedEvent
  | MembersChangedEvent
  | RoomMetadataEvent;

export type MimiEventType = MimiEvent["type"];
export type MimiEventOf<T extends MimiEventType> = Extract<MimiEvent, { type: T }>;

export const MIMI_EVENT_TYPES: readonly MimiEventType[] = [
  "message",
  "joined",
  "left",
  "participantAdded",
  "participantRemoved",
  "participantBanned",
  "roleChanged",
  "membersChanged",
  "roomMetadata",
];

/** role_index 1 is the ban role (room-policy-03 §8.1.3). */
const BANNED = 1;

/**
 * Why a commit that removed this client did so: `banned` when the participant list it leaves
 * lists `user` with the ban role (room-policy-03 §8.1.3), else `removed`.
 */
export function removalReason(after: ParticipantListData | undefined, user: string): "banned" | "removed" {
  return after?.participants.some((p) => p.user === user && p.roleIndex === BANNED) === true ? "banned" : "removed";
}

/** The participant events that take `before` to `after` (room-policy-03: role 0 = not listed, 1 = banned). */
export function participantEvents(before: ParticipantListData | undefined, after: ParticipantListData | undefined, base: RoomEventBase): MimiEvent[] {
  const a = new Map((before?.participants ?? []).map((p) => [p.user, p.roleIndex]));
  const b = new Map((after?.participants ?? []).map((p) => [p.user, p.roleIndex]));
  const out: MimiEvent[] = [];
  for (const [user, from] of a) {
    const to = b.get(user);
    if (to === undefined) out.push({ ...base, type: "participantRemoved", user });
    else if (to !== from) out.push(to === BANNED ? { ...base, type: "participantBanned", user } : { ...base, type: "roleChanged", user, from, to });
  }
  for (const [user, role] of b) {
    if (!a.has(user)) out.push(role === BANNED ? { ...base, type: "participantBanned", user } : { ...base, type: "participantAdded", user, role });
  }
  return out;
}

function clientUris(members: readonly MemberInfo[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const x of members) {
    const key = `${x.leafIndex}:${Buffer.from(x.signaturePublicKey).toString("hex")}`;
    m.set(key, x.identity?.kind === "client" ? x.identity.clientUri : "");
  }
  return m;
}

/** A membersChanged event when the set of leaves differs, else nothing. */
export function memberEvents(before: readonly MemberInfo[], after: readonly MemberInfo[], base: RoomEventBase): MimiEvent[] {
  const a = clientUris(before);
  const b = clientUris(after);
  const added = [...b].filter(([k]) => !a.has(k)).map(([, uri]) => uri);
  const removed = [...a].filter(([k]) => !b.has(k)).map(([, uri]) => uri);
  return added.length === 0 && removed.length === 0 ? [] : [{ ...base, type: "membersChanged", added, removed }];
}

export function metadataEvents(before: RoomMetaData | undefined, after: RoomMetaData | undefined, base: RoomEventBase): MimiEvent[] {
  if (after === undefined) return [];
  if (before !== undefined && before.roomName === after.roomName && before.roomSubject === after.roomSubject && before.roomMood === after.roomMood && before.roomAvatar === after.roomAvatar) return [];
  const avatarChanged = before === undefined ? after.roomAvatar !== "" : before.roomAvatar !== after.roomAvatar;
  return [{ ...base, type: "roomMetadata", name: after.roomName, subject: after.roomSubject, ...(avatarChanged ? { avatar: after.roomAvatar } : {}) }];
}

/** The stored form: a message's content is kept as its encoded bytes. */
export function toStored(event: MimiEvent, contentBytes?: Uint8Array): StoredSdkEvent {
  if (event.type === "message") {
    const { content: _content, ...rest } = event;
    return { ...rest, contentBytes };
  }
  return { ...event };
}

export function fromStored(stored: StoredSdkEvent): MimiEvent {
  if (stored.type === "message") {
    const { contentBytes, ...rest } = stored as StoredSdkEvent & { contentBytes: Uint8Array };
    return { ...(rest as unknown as Omit<MessageEvent, "content">), content: decodeContent(contentBytes) };
  }
  return stored as unknown as MimiEvent;
}
