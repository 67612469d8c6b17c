// What flows across the adapter boundary (DESIGN.md §4).
//
// Adapter → core: PlatformEvents, plain serialisable data, submitted with `ctx.core.submit()`
// and answered with a SubmitResult. The core persists an accepted event before it answers and
// deduplicates by (adapter, platformEventId), so an adapter may resubmit after a crash.
//
// Core → adapter: Mimi* deliveries, awaited method calls on the adapter. Platform IDs in them
// are already mapped (a reply names the platform event of the message it replies to, when the
// bridge knows it); the adapter answers with the platform ID it created, so later edits,
// reactions and retractions can be mapped back.
import type { PlatformEventId, PlatformRoomId, PlatformUserId } from "./types.ts";

/**
 * A file the platform holds by URL (MIMI ExternalPart, draft-ietf-mimi-content §4.5). Towards
 * MIMI only http(s) URLs are carried: an adapter turns its platform's media references into such
 * URLs (Matrix: the homeserver's authenticated media URL of an mxc:// URI, which a receiver can
 * fetch only with a token of that homeserver: the file is not copied, docs/MATRIX.md §6). From
 * MIMI the adapter gets the unencrypted external parts (§4.5 encAlg 0); the others are withheld
 * and the message says so.
 */
export interface Attachment {
  readonly url: string;
  readonly contentType: string;
  readonly size?: number;
  readonly filename?: string;
  readonly description?: string;
}

interface PlatformEventBase {
  /** Unique per adapter and room; the core deduplicates on it. */
  readonly platformEventId: PlatformEventId;
  /** The local platform user who acted (never a ghost). */
  readonly sender: PlatformUserId;
  /** Platform time in milliseconds, if the platform has one. */
  readonly timestamp?: number;
}

export interface PlatformMessage extends PlatformEventBase {
  readonly type: "message";
  readonly room: PlatformRoomId;
  /** Plain text (the MIMI text/plain part). */
  readonly text: string;
  /** The same message as GFM-MIMI Markdown, when the platform had formatting. */
  readonly markdown?: string;
  readonly replyTo?: PlatformEventId;
  /**
   * The platform's thread: the platform event ID of its root when the platform has one (Matrix
   * m.thread), else its thread string (XMPP XEP-0201). The core makes it the MIMI topicId: the
   * root's MIMI message ID when the bridge knows the root, else the string's UTF-8
   * (docs/MAPPING.md "Threads and media").
   */
  readonly thread?: string;
  /** Files of the message (ExternalParts after the text part, content §4.3 processAll). */
  readonly attachments?: readonly Attachment[];
  /** `notice` and `emote` are kept as a hint (Matrix msgtypes); MIMI has no such field. */
  readonly style?: "normal" | "notice" | "emote";
}

export interface PlatformEdit extends PlatformEventBase {
  readonly type: "message.edit";
  readonly room: PlatformRoomId;
  /** The platform ID of the message being corrected (the first version or the last: either works). */
  readonly target: PlatformEventId;
  readonly text: string;
  readonly markdown?: string;
}

export interface PlatformRetraction extends PlatformEventBase {
  readonly type: "message.retract";
  readonly room: PlatformRoomId;
  readonly target: PlatformEventId;
  /** A moderator retracting someone else's message (XEP-0425, Matrix redaction by a moderator). */
  readonly moderation?: boolean;
  readonly reason?: string;
}

export interface PlatformReaction extends PlatformEventBase {
  readonly type: "reaction.add" | "reaction.remove";
  readonly room: PlatformRoomId;
  readonly target: PlatformEventId;
  readonly reaction: string;
}

export type RoomKindName = "direct" | "group" | "channel";

/** Bridge a platform room into a new MIMI room (hosted by this provider), or start a direct chat. */
export interface PlatformRoomCreate extends PlatformEventBase {
  readonly type: "room.create";
  readonly room: PlatformRoomId;
  readonly kind: RoomKindName;
  readonly name?: string;
  readonly topic?: string;
  /** MIMI users (remote, or local users of this adapter) to add. */
  readonly invite?: readonly string[];
}

export type MembershipAction = "invite" | "join" | "leave" | "kick" | "ban" | "unban" | "role";

export interface PlatformMembership extends PlatformEventBase {
  readonly type: "room.membership";
  readonly room: PlatformRoomId;
  readonly action: MembershipAction;
  /** The affected user: a local platform user, or a ghost (a remote MIMI user). */
  readonly target: PlatformUserId;
  /** For `role`: a MIMI role name of the room's policy ("admin", "moderator", "member", …). */
  readonly role?: string;
  readonly reason?: string;
}

export interface PlatformRoomMetadata extends PlatformEventBase {
  readonly type: "room.metadata";
  readonly room: PlatformRoomId;
  readonly name?: string;
  readonly topic?: string;
  readonly avatar?: string;
}

/** Consent as the platform expresses it (presence subscription, invite and accept). */
export interface PlatformConsent extends PlatformEventBase {
  readonly type: "consent.request" | "consent.grant" | "consent.revoke" | "consent.cancel";
  /** The other side: a ghost (remote MIMI user) on the platform. */
  readonly peer: PlatformUserId;
  /** A room-scoped consent; absent: connection-wide. */
  readonly room?: PlatformRoomId;
}

export interface PlatformIdentifierQuery extends PlatformEventBase {
  readonly type: "identifier.query";
  /** What the user typed: a MIMI URI, `tel:+…`, `mailto:…`, a handle. */
  readonly query: string;
}

export interface PlatformReadReceipt extends PlatformEventBase {
  readonly type: "receipt.read";
  readonly room: PlatformRoomId;
  readonly target: PlatformEventId;
}

export interface PlatformTyping extends PlatformEventBase {
  readonly type: "typing";
  readonly room: PlatformRoomId;
  readonly active: boolean;
}

export type PlatformEvent =
  | PlatformMessage
  | PlatformEdit
  | PlatformRetraction
  | PlatformReaction
  | PlatformRoomCreate
  | PlatformMembership
  | PlatformRoomMetadata
  | PlatformConsent
  | PlatformIdentifierQuery
  | PlatformReadReceipt
  | PlatformTyping;

export type PlatformEventType = PlatformEvent["type"];

/** The core's answer to a submitted event. */
export type SubmitResult =
  | { readonly status: "accepted"; readonly roomId?: string; readonly messageId?: string; readonly resolved?: readonly ResolvedIdentifier[] }
  | { readonly status: "ignored"; readonly reason: string }
  | {
      readonly status: "rejected";
      readonly code: string;
      readonly message: string;
      /**
       * The core could not act now (a peer or the hub unreachable, storage busy, shutting down):
       * nothing was recorded for the event, and submitting it again later may succeed. An
       * adapter with a durable inbound queue keeps the event and retries; others tell the user.
       */
      readonly retryable?: true;
    };

export interface ResolvedIdentifier {
  readonly mimiUri: string;
  readonly ghost: PlatformUserId;
  readonly tags?: readonly string[];
}

// ---- core → adapter ----------------------------------------------------------------------------

/** Who sent something in MIMI, as the adapter shows it. */
export interface MimiSender {
  readonly mimiUri: string;
  /** The ghost for a remote user; the platform user for a local user of this adapter. */
  readonly platformUser: PlatformUserId;
  /** True when the sender is a local user of this adapter (its own message came back). */
  readonly local: boolean;
}

interface MimiDeliveryBase {
  /** The portal's platform room. */
  readonly room: PlatformRoomId;
  readonly roomId: string;
  readonly sender: MimiSender;
  /** The hub's accepted time, milliseconds. */
  readonly timestamp: number;
  readonly messageId: string;
}

export interface MimiMessage extends MimiDeliveryBase {
  readonly text: string;
  readonly markdown?: string;
  readonly replyTo?: PlatformEventId;
  readonly replyToMessageId?: string;
  /**
   * The thread (MIMI topicId): the platform event ID of the thread's root when the topicId is
   * the message ID of a message this portal shows, else the topicId's UTF-8 string, else
   * `mimi-topic:<hex>`. Handed back unchanged in a PlatformMessage it means the same thread.
   */
  readonly thread?: string;
  /** The message's http(s) ExternalParts that are not encrypted (content §4.5). */
  readonly attachments?: readonly Attachment[];
}

export interface MimiEdit extends MimiDeliveryBase {
  /** Platform ID of the edited message. */
  readonly target: PlatformEventId;
  readonly text: string;
  readonly markdown?: string;
}

export interface MimiRetraction extends MimiDeliveryBase {
  readonly target: PlatformEventId;
}

export interface MimiReaction extends MimiDeliveryBase {
  readonly target: PlatformEventId;
  readonly reaction: string;
}

export type ParticipantChangeKind = "added" | "removed" | "banned" | "role" | "left";

export interface MimiParticipantChange {
  readonly room: PlatformRoomId;
  readonly roomId: string;
  readonly change: ParticipantChangeKind;
  readonly user: string;
  readonly platformUser: PlatformUserId;
  /** The role name after the change. */
  readonly role?: string;
  readonly by?: string;
  readonly timestamp: number;
}

export interface MimiRoomMetadata {
  readonly room: PlatformRoomId;
  readonly roomId: string;
  readonly name?: string;
  readonly subject?: string;
  /** The room avatar URI (protocol-06 room_metadata roomAvatar), present when it changed; "" = removed. */
  readonly avatar?: string;
  readonly by?: string;
}

export interface MimiConsentRequest {
  /** The local platform user being asked. */
  readonly target: PlatformUserId;
  readonly requester: string;
  readonly requesterGhost: PlatformUserId;
  readonly roomId?: string;
}

export interface MimiConsentChange {
  readonly target: PlatformUserId;
  readonly peer: string;
  readonly peerGhost: PlatformUserId;
  readonly change: "granted" | "revoked";
}

export interface MimiTyping {
  readonly room: PlatformRoomId;
  readonly sender: MimiSender;
  readonly active: boolean;
}

export interface MimiReadReceipt {
  readonly room: PlatformRoomId;
  readonly sender: MimiSender;
  readonly target: PlatformEventId;
}

/** What an adapter answers when it put something on the platform. */
export interface DeliveryResult {
  /** The platform ID of what was created, for later edits, reactions and retractions. */
  readonly platformEventId?: PlatformEventId;
}
