// MIMI content (draft-ietf-mimi-content, editor's copy -08) for the SDK's message operations:
// what each operation sends, and what a received message means.
//
//   send    render SinglePart (text/plain or GFM-MIMI markdown)
//   reply   inReplyTo = the message replied to (that exact version, §5.3)
//   edit    replaces = the FIRST version of the message (§5.5), keeps its inReplyTo
//   react   reaction disposition, inReplyTo = the message (§5.4)
//   unreact replaces = the reaction, NullPart with the reaction disposition (§5.7)
//   delete  replaces = the first version, NullPart (§5.6), keeps its inReplyTo
//   status  a message status report (draft-mahy-mimi-message-status-01): one SinglePart of type
//           application/mimi-message-status with the session disposition (it is not shown)
//
// Every message carries senderUri (extension 1) and roomUri (extension 2) (§8.2.1: "needed for
// franking and message IDs"); the message ID is the -08 formula over the encoded content.
import {
  Disposition,
  ExtensionKey,
  MessageStatus,
  computeMessageId,
  decodeContent,
  decodeStatusReport,
  encodeContent,
  encodeStatusReport,
  messageIdOfBytes,
  newSalt,
  partsDepthFirst,
  roomUriOf,
  senderUriOf,
  statusName,
} from "../../content/index.ts";
import type { MessageStatusName, MimiContent, NestedPart } from "../../content/index.ts";
import { MimiError } from "../../errors.ts";
import { fromHex, toHex, utf8Decode, utf8Encode } from "./util.ts";

export const TEXT_PLAIN = "text/plain;charset=utf-8";
export const TEXT_MARKDOWN = "text/markdown;variant=GFM-MIMI";

/** What the SDK sends. Message IDs are lowercase hex (32 bytes = 64 digits). */
export type MessageOperation =
  | { readonly kind: "text"; readonly text: string; readonly markdown?: boolean; readonly inReplyTo?: string }
  | { readonly kind: "edit"; readonly replaces: string; readonly text: string; readonly markdown?: boolean; readonly inReplyTo?: string }
  | { readonly kind: "reaction"; readonly inReplyTo: string; readonly reaction: string }
  | { readonly kind: "unreact"; readonly replaces: string; readonly inReplyTo?: string }
  | { readonly kind: "delete"; readonly replaces: string; readonly inReplyTo?: string }
  | { readonly kind: "status"; readonly statuses: readonly MessageStatusEntry[] };

/** One entry of a message status report: a message ID (hex) and its status for the reporter. */
export interface MessageStatusEntry {
  readonly messageId: string;
  readonly status: MessageStatusName | "unknown";
}

export const MESSAGE_STATUS_TYPE = "application/mimi-message-status";

export interface ContentContext {
  /** The sender's user URI (extension 1). */
  readonly senderUri: string;
  /** The room URI (extension 2). */
  readonly roomUri: string;
  /** For tests: a fixed salt (otherwise 16 random bytes, §4.1). */
  readonly salt?: Uint8Array;
}

export interface BuiltMessage {
  readonly content: MimiContent;
  /** The encoded content (deterministic CBOR): the MLS application plaintext. */
  readonly bytes: Uint8Array;
  /** Hex message ID (-08 formula). */
  readonly messageId: string;
}

function messageIdBytes(id: string, what: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/i.test(id)) throw new MimiError("MIMI_ERR_CONTENT_BAD_MESSAGE_ID", `${what} must be a 32-byte message ID in hex`, { details: { field: what } });
  return fromHex(id.toLowerCase());
}

function textPart(text: string, markdown: boolean | undefined): NestedPart {
  return { cardinality: "single", disposition: Disposition.render, language: "", contentType: markdown === true ? TEXT_MARKDOWN : TEXT_PLAIN, content: utf8Encode(text) };
}

/** Builds, encodes and identifies the content of one operation. */
export function buildMessage(ctx: ContentContext, op: MessageOperation): BuiltMessage {
  let replaces: Uint8Array | null = null;
  let inReplyTo: Uint8Array | null = null;
  let nestedPart: NestedPart;
  switch (op.kind) {
    case "text":
      nestedPart = textPart(op.text, op.markdown);
      if (op.inReplyTo !== undefined) inReplyTo = messageIdBytes(op.inReplyTo, "inReplyTo");
      break;
    case "edit":
      nestedPart = textPart(op.text, op.markdown);
      replaces = messageIdBytes(op.replaces, "replaces");
      if (op.inReplyTo !== undefined) inReplyTo = messageIdBytes(op.inReplyTo, "inReplyTo");
      break;
    case "reaction":
      if (op.reaction === "") throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", "a reaction must not be empty");
      nestedPart = { cardinality: "single", disposition: Disposition.reaction, language: "", contentType: TEXT_PLAIN, content: utf8Encode(op.reaction) };
      inReplyTo = messageIdBytes(op.inReplyTo, "inReplyTo");
      break;
    case "unreact":
      nestedPart = { cardinality: "nullpart", disposition: Disposition.reaction, language: "" };
      replaces = messageIdBytes(op.replaces, "replaces");
      if (op.inReplyTo !== undefined) inReplyTo = messageIdBytes(op.inReplyTo, "inReplyTo");
      break;
    case "delete":
      nestedPart = { cardinality: "nullpart", disposition: Disposition.render, language: "" };
      replaces = messageIdBytes(op.replaces, "replaces");
      if (op.inReplyTo !== undefined) inReplyTo = messageIdBytes(op.inReplyTo, "inReplyTo");
      break;
    case "status": {
      if (op.statuses.length === 0) throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", "a status report needs at least one message");
      const report = op.statuses.map((e) => {
        if (e.status === "unknown") throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", "a status report cannot send the status unknown");
        return { messageId: messageIdBytes(e.messageId, "messageId"), status: MessageStatus[e.status] };
      });
      nestedPart = { cardinality: "single", disposition: Disposition.session, language: "", contentType: MESSAGE_STATUS_TYPE, content: encodeStatusReport(report) };
      break;
    }
  }
  const content: MimiContent = {
    salt: ctx.salt ?? newSalt(),
    replaces,
    topicId: new Uint8Array(0),
    expires: null,
    inReplyTo,
    mimiExtensions: new Map<number | string, string>([
      [ExtensionKey.senderUri, ctx.senderUri],
      [ExtensionKey.roomUri, ctx.roomUri],
    ]),
    nestedPart,
  };
  const bytes = encodeContent(content);
  return { content, bytes, messageId: toHex(computeMessageId({ senderUri: ctx.senderUri, roomUri: ctx.roomUri, message: bytes, salt: content.salt })) };
}

/** What a received message is, as the SDK reports it. */
export type MessageKind = "text" | "edit" | "reaction" | "unreact" | "delete" | "status";

export interface InterpretedMessage {
  readonly content: MimiContent;
  readonly messageId: string;
  readonly kind: MessageKind;
  /** The text of the first text/* part (depth first), "" if none. For a reaction: the reaction. */
  readonly text: string;
  readonly replaces?: string;
  readonly inReplyTo?: string;
  /** The reaction (for kind "reaction"). */
  readonly reaction?: string;
  /** True for a delete or an unreact (replaces + NullPart). */
  readonly deleted?: boolean;
  /** For kind "status": the report's entries. */
  readonly statuses?: readonly MessageStatusEntry[];
  readonly senderUri: string | undefined;
  readonly roomUri: string | undefined;
}

function firstText(root: NestedPart): string {
  for (const { part } of partsDepthFirst(root)) {
    if (part.cardinality === "single" && /^text\//i.test(part.contentType)) {
      try {
        return utf8Decode(part.content);
      } catch {
        return "";
      }
    }
  }
  return "";
}

/**
 * Decodes received content strictly (§6) and says what it is. The message ID is computed from the
 * bytes as received, with the URIs of extensions 1 and 2. Throws MimiError (MIMI_ERR_CONTENT_*).
 */
export function interpretMessage(bytes: Uint8Array): InterpretedMessage {
  const content = decodeContent(bytes);
  const messageId = toHex(messageIdOfBytes(bytes));
  const replaces = content.replaces === null ? undefined : toHex(content.replaces);
  const inReplyTo = content.inReplyTo === null ? undefined : toHex(content.inReplyTo);
  const part = content.nestedPart;
  const isReaction = part.disposition === Disposition.reaction;
  const base = { content, messageId, senderUri: senderUriOf(content), roomUri: roomUriOf(content), ...(replaces === undefined ? {} : { replaces }), ...(inReplyTo === undefined ? {} : { inReplyTo }) };
  if (part.cardinality === "nullpart" && replaces !== undefined) {
    return { ...base, kind: isReaction ? "unreact" : "delete", text: "", deleted: true };
  }
  if (part.cardinality === "single" && part.contentType.split(";")[0]?.trim().toLowerCase() === MESSAGE_STATUS_TYPE && replaces === undefined) {
    const statuses = decodeStatusReport(part.content).map((e) => ({ messageId: toHex(e.messageId), status: statusName(e.status) }));
    return { ...base, kind: "status", text: "", statuses };
  }
  const text = firstText(part);
  if (isReaction) return { ...base, kind: "reaction", text, reaction: text };
  return { ...base, kind: replaces === undefined ? "text" : "edit", text };
}
