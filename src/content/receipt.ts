// Checks a receiver makes that depend on its clock or on what it has already seen
// (draft-ietf-mimi-content -08 §9.1 "General handling", §4.1 reply loops). They are kept apart
// from structural decoding so that stored messages (the draft's examples are from 2022) still
// decode, and so that the caller decides what "now" is.

import { MimiError } from "../errors.ts";
import { toHex } from "./bytes.ts";
import { validateContent } from "./codec.ts";
import { timestampMillis } from "./implied.ts";
import { MimiContentLimits as L } from "./limits.ts";
import { checkMessageId, messageIdOfContent } from "./message-id.ts";
import type { MessageIdFormula } from "./message-id.ts";
import type { MessageId, MimiContent, Timestamp } from "./types.ts";

/** Anything that can answer "was this message ID (lowercase hex) seen before?". */
export interface SeenMessageIds {
  has(messageIdHex: string): boolean;
}

export interface ReceiptContext {
  /** The receiver's clock, in milliseconds since the UNIX epoch, or a Date. */
  now: number | Date;
  /** Message IDs already encountered; enables the duplicate check (§9.1). */
  seenMessageIds?: SeenMessageIds;
  /** The message's own ID, if already known; otherwise computed when needed. */
  messageId?: MessageId;
  /** For computing the message ID (§3.3): formula and URIs, as in `messageIdOfContent`. */
  formula?: MessageIdFormula;
  senderUri?: string;
  roomUri?: string;
  /** The hub-accepted timestamp of the message (§3.4, §4.6). */
  hubAcceptedTimestamp?: Timestamp;
  /** The earliest plausible timestamp, e.g. when the room was created (§9.1); ms or Date. */
  notBefore?: number | Date;
}

function millis(value: number | Date, what: string): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw new MimiError("MIMI_ERR_INTERNAL", `${what} must be a finite number of milliseconds or a valid Date`);
  return ms;
}

/**
 * Validates received content against the §9.1 checks that need a clock or history, after the
 * structural checks of `validateContent`. Throws the first MimiError found.
 */
export function validateForReceipt(content: MimiContent, context: ReceiptContext): void {
  validateContent(content);
  const nowMs = millis(context.now, "now");

  // MIMI-CONTENT-17: §9.1 message IDs whose first octet is an unknown hash algorithm.
  if (content.replaces !== null) checkMessageId(content.replaces, "replaces");
  if (content.inReplyTo !== null) checkMessageId(content.inReplyTo, "inReplyTo");

  // MIMI-CONTENT-19: §9.1 an expiry more than a year in the past (absolute only) or in the future.
  if (content.expires !== null) {
    const { relative, time } = content.expires;
    const nowSeconds = Math.floor(nowMs / 1000);
    const tooFar = relative ? time > L.maxExpiryDistanceSeconds : time > nowSeconds + L.maxExpiryDistanceSeconds;
    const tooOld = !relative && time < nowSeconds - L.maxExpiryDistanceSeconds;
    if (tooFar || tooOld) {
      throw new MimiError(
        "MIMI_ERR_CONTENT_EXPIRY_OUT_OF_RANGE",
        `expires: ${relative ? `relative expiry of ${time} s` : `absolute expiry ${time}`} is more than a year ${tooOld ? "in the past" : "in the future"} (§9.1)`,
        { details: { path: "expires", relative, time, now: nowSeconds } },
      );
    }
  }

  if (context.hubAcceptedTimestamp !== undefined) {
    const ts = timestampMillis(context.hubAcceptedTimestamp);
    // MIMI-CONTENT-20: §9.1 timestamps received more than a few minutes in the future.
    if (ts !== undefined && ts > nowMs + L.maxClockSkewMs) {
      throw new MimiError("MIMI_ERR_CONTENT_TIMESTAMP_IN_FUTURE", `hub-accepted timestamp ${ts} is more than ${L.maxClockSkewMs / 60000} minutes after now (${nowMs}) (§9.1)`, {
        details: { timestamp: ts, now: nowMs, skewMs: L.maxClockSkewMs },
      });
    }
    // MIMI-CONTENT-21: §9.1 timestamps before the room containing them was created.
    if (ts !== undefined && context.notBefore !== undefined) {
      const floor = millis(context.notBefore, "notBefore");
      if (ts < floor) {
        throw new MimiError("MIMI_ERR_CONTENT_TIMESTAMP_TOO_OLD", `hub-accepted timestamp ${ts} is before ${floor}, when the room was created (§9.1)`, { details: { timestamp: ts, notBefore: floor } });
      }
    }
  }

  if (context.messageId !== undefined) checkMessageId(context.messageId, "messageId");
  if (context.seenMessageIds !== undefined) {
    const id =
      context.messageId ??
      messageIdOfContent(content, {
        formula: context.formula ?? "-08",
        ...(context.senderUri === undefined ? {} : { senderUri: context.senderUri }),
        ...(context.roomUri === undefined ? {} : { roomUri: context.roomUri }),
      });
    assertNotDuplicate(id, context.seenMessageIds);
  }
}

/** MIMI-CONTENT-18: §9.1 discard a message ID which duplicates one already encountered. */
export function assertNotDuplicate(id: MessageId, seen: SeenMessageIds): void {
  const hex = toHex(id);
  if (seen.has(hex)) {
    throw new MimiError("MIMI_ERR_CONTENT_DUPLICATE_MESSAGE_ID", `message ID ${hex} was already seen (§9.1)`, { details: { messageId: hex } });
  }
}

/**
 * A bounded memory of message IDs for duplicate detection (§9.1). When full it forgets the
 * oldest ID; the capacity is local policy. Persistent stores implement `SeenMessageIds` instead.
 */
export class MessageIdRegistry implements SeenMessageIds {
  readonly capacity: number;
  readonly #ids = new Set<string>();

  constructor(capacity: number = L.defaultSeenMessageIds) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new MimiError("MIMI_ERR_INTERNAL", "MessageIdRegistry capacity must be a positive integer");
    this.capacity = capacity;
  }

  get size(): number {
    return this.#ids.size;
  }

  has(messageIdHex: string): boolean {
    return this.#ids.has(messageIdHex);
  }

  /** Throws MIMI_ERR_CONTENT_DUPLICATE_MESSAGE_ID if `id` was seen, otherwise remembers it. */
  remember(id: MessageId): void {
    checkMessageId(id);
    assertNotDuplicate(id, this);
    this.#ids.add(toHex(id));
    if (this.#ids.size > this.capacity) {
      const oldest = this.#ids.values().next();
      if (oldest.done !== true) this.#ids.delete(oldest.value);
    }
  }
}

/**
 * MIMI-CONTENT-34: §4.1 when receiving a reply, the client follows the inReplyTo chain and
 * checks that it does not loop back. `inReplyToOf` returns the inReplyTo of a known message
 * (by lowercase hex ID), or null/undefined when it has none or is unknown (§9.1: unknown
 * targets are legitimate). Returns true when the chain starting at `start` revisits a message.
 */
export function inReplyToChainLoops(start: MessageId, inReplyToOf: (messageIdHex: string) => MessageId | null | undefined): boolean {
  const visited = new Set<string>();
  let current: MessageId | null | undefined = start;
  while (current !== null && current !== undefined) {
    const hex = toHex(current);
    if (visited.has(hex)) return true;
    visited.add(hex);
    current = inReplyToOf(hex);
  }
  return false;
}
