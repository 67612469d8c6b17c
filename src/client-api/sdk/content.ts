// MIMI content (draft-ietf-mimi-content, editor's copy -08) for the SDK's message operations:
// what each operation sends, and what a received message means.
//
//   send    render SinglePart (text/plain or GFM-MIMI markdown); with attachments a processAll
//           MultiPart (§4.3): the text part first (when there is text), then one ExternalPart
//           (§4.5, disposition attachment) per attachment
//   reply   inReplyTo = the message replied to (that exact version, §5.3)
//   edit    replaces = the FIRST version of the message (§5.5), keeps its inReplyTo and topicId
//   react   reaction disposition, inReplyTo = the message (§5.4)
//   unreact replaces = the reaction, NullPart with the reaction disposition (§5.7)
//   delete  replaces = the first version, NullPart (§5.6), keeps its inReplyTo and topicId
//   status  a message status report (draft-mahy-mimi-message-status-01): one SinglePart of type
//           application/mimi-message-status with the session disposition (it is not shown)
//
// Threads: a message's topicId (§4.1, Slack-style threads; empty = none). The SDK writes every
// byte string as lowercase hex, like message IDs, so the recommended topicId of a thread (the
// message ID of its root, docs/MAPPING.md "Threads and media") reads exactly like that message ID;
// `topicIdOfText`/`topicText` convert a platform's thread string (UTF-8) and back.
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
import type { ExternalPart, MessageStatusName, MimiContent, NestedPart } from "../../content/index.ts";
import { MimiError } from "../../errors.ts";
import { fromHex, toHex, utf8Decode, utf8Encode } from "./util.ts";

export const TEXT_PLAIN = "text/plain;charset=utf-8";
export const TEXT_MARKDOWN = "text/markdown;variant=GFM-MIMI";

/**
 * What the SDK sends. Message IDs and topicIds are lowercase hex (a message ID is 32 bytes = 64
 * digits; a topicId 0..4096 bytes, §9.1).
 */
export type MessageOperation =
  | { readonly kind: "text"; readonly text: string; readonly markdown?: boolean; readonly inReplyTo?: string; readonly topicId?: string; readonly attachments?: readonly ExternalAttachment[] }
  | { readonly kind: "edit"; readonly replaces: string; readonly text: string; readonly markdown?: boolean; readonly inReplyTo?: string; readonly topicId?: string }
  | { readonly kind: "reaction"; readonly inReplyTo: string; readonly reaction: string }
  | { readonly kind: "unreact"; readonly replaces: string; readonly inReplyTo?: string }
  | { readonly kind: "delete"; readonly replaces: string; readonly inReplyTo?: string; readonly topicId?: string }
  | { readonly kind: "status"; readonly statuses: readonly MessageStatusEntry[] };

/**
 * A file held elsewhere, sent as an ExternalPart (draft-ietf-mimi-content §4.5). Field names are
 * the part's; byte strings are lowercase hex. Absent numbers are 0 on the wire ("unknown",
 * "never", "not encrypted"), absent strings "". Only http and https URLs: those are what every
 * receiver must be able to download (§4.5).
 */
export interface ExternalAttachment {
  readonly url: string;
  readonly contentType: string;
  /** Octets; 0 or absent = unknown. */
  readonly size?: number;
  readonly filename?: string;
  readonly description?: string;
  /** BCP 47 language tag(s) of the content, "" or absent = none. */
  readonly language?: string;
  /** Seconds since the Unix epoch after which the URL is invalid; 0 or absent = never. */
  readonly expires?: number;
  /** IANA named-information hash algorithm (1 = sha-256) of `contentHash`. */
  readonly hashAlg?: number;
  readonly contentHash?: string;
  /** IANA AEAD algorithm (1 = AES-128-GCM) the content is encrypted with; 0 or absent = plain. */
  readonly encAlg?: number;
  readonly key?: string;
  readonly nonce?: string;
  readonly aad?: string;
}

/** An external part `interpretMessage` did not report, and why (its depth-first part index, §4.4). */
export interface DroppedAttachment {
  readonly partIndex: number;
  readonly reason: string;
}

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

/** Why `url` is not one every receiver can fetch (§4.5: http and https), or undefined. */
function badUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "the URL does not parse";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return `the URL scheme ${parsed.protocol.slice(0, 20)} is not http or https`;
  if (parsed.hostname === "") return "the URL has no host";
  return undefined;
}

function hexField(v: string | undefined, what: string, max: number): Uint8Array {
  if (v === undefined || v === "") return new Uint8Array(0);
  if (!/^(?:[0-9a-f]{2})*$/i.test(v) || v.length > 2 * max) throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", `${what} must be hex of at most ${max} bytes`, { details: { field: what } });
  return fromHex(v.toLowerCase());
}

function uintField(v: number | undefined, what: string, max: number): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", `${what} must be an integer 0..${max}`, { details: { field: what } });
  return v;
}

/** An attachment as an ExternalPart (§4.5), disposition attachment (§4.4, as in the draft's attachment example). */
export function externalPart(a: ExternalAttachment, index = 0): ExternalPart {
  const at = `attachments[${index}]`;
  const problem = badUrl(a.url);
  if (problem !== undefined) throw new MimiError("MIMI_ERR_CONTENT_BAD_URL", `${at}.url: ${problem}`, { details: { field: `${at}.url` } });
  if (a.contentType.length === 0 || !a.contentType.includes("/")) throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", `${at}.contentType must be a media type`, { details: { field: `${at}.contentType` } });
  return {
    cardinality: "external",
    disposition: Disposition.attachment,
    language: a.language ?? "",
    contentType: a.contentType,
    url: a.url,
    expires: uintField(a.expires, `${at}.expires`, 0xffff_ffff),
    size: uintField(a.size, `${at}.size`, Number.MAX_SAFE_INTEGER),
    encAlg: uintField(a.encAlg, `${at}.encAlg`, 0xffff),
    key: hexField(a.key, `${at}.key`, 1024),
    nonce: hexField(a.nonce, `${at}.nonce`, 1024),
    aad: hexField(a.aad, `${at}.aad`, 65_536),
    hashAlg: uintField(a.hashAlg, `${at}.hashAlg`, 0xff),
    contentHash: hexField(a.contentHash, `${at}.contentHash`, 1024),
    description: a.description ?? "",
    filename: a.filename ?? "",
  };
}

/** What the SDK reports of an ExternalPart (the inverse of `externalPart`). */
function attachmentOf(p: ExternalPart): ExternalAttachment {
  const size = typeof p.size === "bigint" ? undefined : p.size;
  return {
    url: p.url,
    contentType: p.contentType,
    ...(size === undefined || size === 0 ? {} : { size }),
    ...(p.filename === "" ? {} : { filename: p.filename }),
    ...(p.description === "" ? {} : { description: p.description }),
    ...(p.language === "" ? {} : { language: p.language }),
    ...(p.expires === 0 ? {} : { expires: p.expires }),
    ...(p.hashAlg === 0 && p.contentHash.byteLength === 0 ? {} : { hashAlg: p.hashAlg, contentHash: toHex(p.contentHash) }),
    ...(p.encAlg === 0 ? {} : { encAlg: p.encAlg, key: toHex(p.key), nonce: toHex(p.nonce), aad: toHex(p.aad) }),
  };
}

/** The body of a text message: the text part alone, or a processAll MultiPart (§4.3) with the attachments. */
function textBody(text: string, markdown: boolean | undefined, attachments: readonly ExternalAttachment[] | undefined): NestedPart {
  const externals = (attachments ?? []).map((a, i) => externalPart(a, i));
  if (externals.length === 0) return textPart(text, markdown);
  const parts: NestedPart[] = [...(text === "" ? [] : [textPart(text, markdown)]), ...externals];
  // A MultiPart needs two parts (§4.4): a lone attachment is the body itself.
  if (parts.length === 1) return parts[0]!;
  return { cardinality: "multi", disposition: Disposition.render, language: "", partSemantics: "processAll", parts };
}

/** The topicId (§4.1) of a hex string; "" or undefined = no thread. */
function topicIdBytes(topicId: string | undefined): Uint8Array {
  if (topicId === undefined || topicId === "") return new Uint8Array(0);
  if (!/^(?:[0-9a-f]{2})+$/i.test(topicId)) throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", "topicId must be hex (the SDK writes byte strings in hex)", { details: { field: "topicId" } });
  // §9.1: a receiver discards a topicId over 4096 octets; refuse to send one.
  if (topicId.length > 2 * 4096) throw new MimiError("MIMI_ERR_CONTENT_TOPIC_TOO_LARGE", `topicId is ${topicId.length / 2} bytes, more than 4096 (§9.1)`, { details: { field: "topicId", limit: 4096 } });
  return fromHex(topicId.toLowerCase());
}

/** The SDK's (hex) topicId of a platform's thread string: its UTF-8 octets. */
export function topicIdOfText(thread: string): string {
  return toHex(utf8Encode(thread));
}

/**
 * The thread string a (hex) topicId spells in UTF-8, or undefined when it is not well-formed
 * UTF-8 or has control characters (which no platform thread ID has; XML cannot carry most).
 */
export function topicText(topicId: string): string | undefined {
  try {
    const text = utf8Decode(fromHex(topicId));
    return text.length === 0 || /\p{Cc}/u.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

/** Builds, encodes and identifies the content of one operation. */
export function buildMessage(ctx: ContentContext, op: MessageOperation): BuiltMessage {
  let replaces: Uint8Array | null = null;
  let inReplyTo: Uint8Array | null = null;
  let nestedPart: NestedPart;
  let topicId: Uint8Array = new Uint8Array(0);
  switch (op.kind) {
    case "text":
      nestedPart = textBody(op.text, op.markdown, op.attachments);
      if (op.inReplyTo !== undefined) inReplyTo = messageIdBytes(op.inReplyTo, "inReplyTo");
      topicId = topicIdBytes(op.topicId);
      break;
    case "edit":
      nestedPart = textPart(op.text, op.markdown);
      replaces = messageIdBytes(op.replaces, "replaces");
      if (op.inReplyTo !== undefined) inReplyTo = messageIdBytes(op.inReplyTo, "inReplyTo");
      topicId = topicIdBytes(op.topicId);
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
      topicId = topicIdBytes(op.topicId);
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
    topicId,
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
  /** The thread (§4.1 topicId) in hex; absent when the topicId is empty. */
  readonly topicId?: string;
  /** The ExternalParts (§4.5), depth first, whose URL is http(s); absent when there are none. */
  readonly attachments?: readonly ExternalAttachment[];
  /** External parts not reported in `attachments` (another URL scheme, or no URL), with the reason. */
  readonly droppedAttachments?: readonly DroppedAttachment[];
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

/** The ExternalParts of a body, depth first (part indexes as §4.4 defines them). */
function externalsOf(root: NestedPart): { attachments: ExternalAttachment[]; dropped: DroppedAttachment[] } {
  const attachments: ExternalAttachment[] = [];
  const dropped: DroppedAttachment[] = [];
  for (const { part, partIndex } of partsDepthFirst(root)) {
    if (part.cardinality !== "external") continue;
    const problem = badUrl(part.url);
    if (problem === undefined) attachments.push(attachmentOf(part));
    else dropped.push({ partIndex, reason: problem });
  }
  return { attachments, dropped };
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
  const topicId = content.topicId.byteLength === 0 ? undefined : toHex(content.topicId);
  const base = {
    content,
    messageId,
    senderUri: senderUriOf(content),
    roomUri: roomUriOf(content),
    ...(replaces === undefined ? {} : { replaces }),
    ...(inReplyTo === undefined ? {} : { inReplyTo }),
    ...(topicId === undefined ? {} : { topicId }),
  };
  if (part.cardinality === "nullpart" && replaces !== undefined) {
    return { ...base, kind: isReaction ? "unreact" : "delete", text: "", deleted: true };
  }
  if (part.cardinality === "single" && part.contentType.split(";")[0]?.trim().toLowerCase() === MESSAGE_STATUS_TYPE && replaces === undefined) {
    const statuses = decodeStatusReport(part.content).map((e) => ({ messageId: toHex(e.messageId), status: statusName(e.status) }));
    return { ...base, kind: "status", text: "", statuses };
  }
  const text = firstText(part);
  if (isReaction) return { ...base, kind: "reaction", text, reaction: text };
  const { attachments, dropped } = externalsOf(part);
  return {
    ...base,
    kind: replaces === undefined ? "text" : "edit",
    text,
    ...(attachments.length === 0 ? {} : { attachments }),
    ...(dropped.length === 0 ? {} : { droppedAttachments: dropped }),
  };
}
