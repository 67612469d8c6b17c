// Matrix events ↔ adapter SDK events: the pure mapping of messages, formatting, mentions, edits,
// replies, reactions, redactions, threads, media and ephemeral events (issue 6, item 5). No I/O:
// everything the mapping must know about earlier events comes in through the context.
//
// Inbound (Matrix → PlatformEvent): the platformEventId is the Matrix event ID (so the core's
// deduplication follows Matrix's), except for ephemeral events, which have none (see below).
// Malformed input never throws: it yields `problems` and no events (the adapter answers with a
// notice). Events that are fine but not ours to map (state, unknown types, redacted events) yield
// neither events nor problems, and say why in `ignored`.
//
// Outbound (Mimi* → Matrix content): builders for m.room.message, m.replace edits, m.annotation
// reactions and redactions, and the deterministic transaction IDs the sends use.
import { createHash } from "node:crypto";
import {
  platformEventId,
  type Attachment,
  type MimiEdit,
  type MimiMessage,
  type MimiReaction,
  type PlatformEvent,
  type PlatformEventId,
  type PlatformMessage,
  type PlatformRoomId,
  type PlatformUserId,
} from "../../src/adapter/index.ts";
import { escapeHtml, htmlToMarkdown, isMatrixUserId, markdownToHtml, stripBodyReplyFallback, stripHtmlReplyFallback } from "./format.ts";

import type { MatrixEphemeral, MatrixEvent } from "./appservice.ts";

export type { MatrixEvent } from "./appservice.ts";
/** An ephemeral event of an appservice transaction (MSC2409: `m.typing`, `m.receipt`). */
export type MatrixEphemeralEvent = MatrixEphemeral;

export interface MatrixInboundContext {
  /** The Matrix user who sent the event (a local user; the adapter drops ghosts' echoes before). */
  readonly sender: PlatformUserId;
  /** The Matrix room ID. */
  readonly room: PlatformRoomId;
  /** Client-server base URL of the homeserver, for authenticated media URLs. */
  readonly homeserverUrl: string;
  /** The MIMI user URI of a Matrix user (a ghost or a local user), for mentions. */
  readonly mimiUserOf: (mxid: string) => string | undefined;
  readonly limits: { readonly maxBodyBytes: number };
  /** What a redacted event was, when the adapter knows it (undefined: treated as a message). */
  readonly kindOf?: (eventId: string) => "message" | "reaction" | undefined;
  /** The reaction an m.reaction event carried: its target, key and (if known) its sender. */
  readonly reactionOf?: (eventId: string) => { readonly target: string; readonly key: string; readonly sender?: string } | undefined;
  /** The sender of an earlier event (a redaction by anyone else is a moderation). */
  readonly senderOf?: (eventId: string) => string | undefined;
}

export interface MatrixInboundResult {
  readonly events: PlatformEvent[];
  /** Why the event is malformed or refused (then `events` is empty). */
  readonly problems: string[];
  /** Set when the event was fine but is not mapped here. */
  readonly ignored?: string;
}

export const HTML_FORMAT = "org.matrix.custom.html";
const MAX_ID = 255;
/** Reaction keys are short (an emoji, a short text); the MIMI reaction part is a single text part. */
export const MAX_REACTION_KEY_BYTES = 256;
const MAX_REASON = 1024;
const MAX_RECEIPTS = 1000;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isEventId = (v: unknown): v is string => typeof v === "string" && v.length > 1 && v.length <= MAX_ID && v.startsWith("$") && !/[\s]/.test(v);
const bytes = (s: string): number => Buffer.byteLength(s, "utf8");
const tooBig = (s: string, max: number): boolean => s.length > max || bytes(s) > max;

function timestampOf(ev: { origin_server_ts?: unknown }): { timestamp?: number } {
  const ts = ev.origin_server_ts;
  return typeof ts === "number" && Number.isSafeInteger(ts) && ts >= 0 ? { timestamp: ts } : {};
}

/** `mxc://<server>/<mediaId>` → its parts; undefined when malformed. */
export function parseMxc(url: string): { server: string; mediaId: string } | undefined {
  const m = /^mxc:\/\/([A-Za-z0-9.\-[\]:]{1,255})\/([A-Za-z0-9_-]{1,255})$/.exec(url);
  return m?.[1] === undefined || m[2] === undefined ? undefined : { server: m[1], mediaId: m[2] };
}

const trimSlash = (u: string): string => u.replace(/\/+$/, "");

/** The homeserver's authenticated media download URL (CS API v1.11) of an mxc URI. */
export function authenticatedMediaUrl(homeserverUrl: string, mxc: string): string | undefined {
  const p = parseMxc(mxc);
  if (p === undefined) return undefined;
  return `${trimSlash(homeserverUrl)}/_matrix/client/v1/media/download/${encodeURIComponent(p.server)}/${p.mediaId}`;
}

/** Inverse of authenticatedMediaUrl (also accepts the legacy /_matrix/media/v3 download path). */
export function mxcFromMediaUrl(homeserverUrl: string, url: string): string | undefined {
  const base = trimSlash(homeserverUrl);
  for (const prefix of [`${base}/_matrix/client/v1/media/download/`, `${base}/_matrix/media/v3/download/`]) {
    if (!url.startsWith(prefix)) continue;
    const [server, mediaId] = url.slice(prefix.length).split(/[?#]/)[0]?.split("/") ?? [];
    if (server === undefined || mediaId === undefined) return undefined;
    let decoded: string;
    try {
      decoded = decodeURIComponent(server);
    } catch {
      return undefined;
    }
    const mxc = `mxc://${decoded}/${mediaId}`;
    return parseMxc(mxc) === undefined ? undefined : mxc;
  }
  return undefined;
}

const MEDIA_TYPES = new Set(["m.image", "m.file", "m.audio", "m.video"]);
const MIME = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

interface ParsedBody {
  readonly text: string;
  readonly markdown?: string;
  readonly style?: "notice" | "emote";
  readonly attachments?: Attachment[];
}

/**
 * The text, Markdown, style and attachments of an m.room.message content (also m.new_content
 * and m.sticker). Returns problems instead when the content is unusable.
 */
function parseBody(content: Record<string, unknown>, ctx: MatrixInboundContext, opts: { reply: boolean; sticker?: boolean }): ParsedBody | string[] {
  const max = ctx.limits.maxBodyBytes;
  const problems: string[] = [];
  const body = content["body"];
  if (typeof body !== "string") return ["body is missing or not a string"];
  if (tooBig(body, max)) return [`body is larger than ${max} bytes`];
  const msgtype = opts.sticker === true ? "m.image" : content["msgtype"];
  const formatted = content["format"] === HTML_FORMAT ? content["formatted_body"] : undefined;
  if (formatted !== undefined && typeof formatted !== "string") problems.push("formatted_body is not a string");
  else if (typeof formatted === "string" && tooBig(formatted, max)) problems.push(`formatted_body is larger than ${max} bytes`);
  if (problems.length > 0) return problems;

  // Reply fallbacks (before spec v1.13): <mx-reply> in HTML, "> <@user> …" lines in the body.
  let text = body;
  if (opts.reply && /^> (?:\* )?<[@!]/.test(text)) text = stripBodyReplyFallback(text);
  let markdown: string | undefined;
  if (typeof formatted === "string") {
    try {
      const md = htmlToMarkdown(stripHtmlReplyFallback(formatted), { mimiUserOf: ctx.mimiUserOf });
      if (md.length > 0 && md !== text) markdown = md;
    } catch {
      // An HTML document no parser survives (absurd nesting): the plain body still stands.
      markdown = undefined;
    }
    if (markdown !== undefined && tooBig(markdown, max)) return [`the Markdown of formatted_body is larger than ${max} bytes`];
  }

  const out = (extra: Omit<ParsedBody, "text" | "markdown">): ParsedBody => ({ text, ...(markdown === undefined ? {} : { markdown }), ...extra });
  if (msgtype === "m.notice") return out({ style: "notice" });
  if (msgtype === "m.emote") return out({ style: "emote" });
  if (msgtype === "m.location") {
    const geo = content["geo_uri"];
    if (typeof geo === "string" && /^geo:-?\d{1,3}(\.\d+)?,-?\d{1,3}(\.\d+)?\S*$/i.test(geo) && geo.length <= 512 && !text.includes(geo)) {
      text = text.length === 0 ? geo : `${text}\n${geo}`;
    }
    return out({});
  }
  if (typeof msgtype === "string" && MEDIA_TYPES.has(msgtype)) {
    const url = content["url"];
    // Encrypted media (`file`) uses AES-CTR keys a MIMI external part cannot carry: the text stays.
    if (url === undefined) return out({});
    if (typeof url !== "string" || parseMxc(url) === undefined) return ["media url is not an mxc:// URI"];
    const info = isObject(content["info"]) ? content["info"] : {};
    const mimetype = typeof info["mimetype"] === "string" && MIME.test(info["mimetype"]) ? info["mimetype"] : "application/octet-stream";
    const size = typeof info["size"] === "number" && Number.isSafeInteger(info["size"]) && info["size"] >= 0 ? info["size"] : undefined;
    // Spec v1.10 captions: with a `filename` that differs from `body`, the body is a caption.
    const fn = typeof content["filename"] === "string" && content["filename"].length > 0 ? content["filename"] : undefined;
    const caption = fn !== undefined && fn !== body ? text : undefined;
    const filename = (fn ?? body).slice(0, 255);
    const attachment: Attachment = {
      url: authenticatedMediaUrl(ctx.homeserverUrl, url) ?? url,
      contentType: mimetype,
      ...(size === undefined ? {} : { size }),
      ...(filename.length === 0 ? {} : { filename }),
      ...(caption === undefined || caption.length === 0 ? {} : { description: caption.slice(0, MAX_REASON) }),
    };
    return out({ attachments: [attachment] });
  }
  // m.text and every msgtype we do not know: the body is the message.
  return out({});
}

function relationOf(content: Record<string, unknown>): { rel?: Record<string, unknown>; problem?: string } {
  const rel = content["m.relates_to"];
  if (rel === undefined) return {};
  if (!isObject(rel)) return { problem: "m.relates_to is not an object" };
  if (rel["rel_type"] !== undefined && typeof rel["rel_type"] !== "string") return { problem: "m.relates_to.rel_type is not a string" };
  const reply = rel["m.in_reply_to"];
  if (reply !== undefined && (!isObject(reply) || !isEventId(reply["event_id"]))) return { problem: "m.relates_to.m.in_reply_to has no valid event_id" };
  return { rel };
}

function messageEvents(ev: MatrixEvent, content: Record<string, unknown>, ctx: MatrixInboundContext, sticker: boolean): MatrixInboundResult {
  const { rel, problem } = relationOf(content);
  if (problem !== undefined) return { events: [], problems: [problem] };
  const base = { platformEventId: platformEventId(ev.event_id), sender: ctx.sender, room: ctx.room, ...timestampOf(ev) };
  const relType = rel?.["rel_type"];

  // MIMI-MATRIX-23: edits (m.replace) carry the new version in m.new_content.
  if (relType === "m.replace") {
    const target = rel?.["event_id"];
    if (!isEventId(target)) return { events: [], problems: ["m.replace without a valid event_id"] };
    const nc = content["m.new_content"];
    if (!isObject(nc)) return { events: [], problems: ["m.replace without m.new_content"] };
    const parsed = parseBody(nc, ctx, { reply: false });
    if (Array.isArray(parsed)) return { events: [], problems: parsed };
    // An edited emote stays an emote: MIMI writes emotes as "/me …" (PlatformEdit has no style).
    const me = (s: string) => (parsed.style === "emote" ? `/me ${s}` : s);
    return {
      events: [
        { ...base, type: "message.edit", target: platformEventId(target), text: me(parsed.text), ...(parsed.markdown === undefined ? {} : { markdown: me(parsed.markdown) }) },
      ],
      problems: [],
    };
  }

  // MIMI-MATRIX-27: threads; MIMI-MATRIX-24: replies. In a thread, an m.in_reply_to with
  // is_falling_back is only there for clients without threads.
  let thread: string | undefined;
  let replyTo: string | undefined;
  const inReplyTo = rel?.["m.in_reply_to"];
  const replyId = isObject(inReplyTo) && isEventId(inReplyTo["event_id"]) ? inReplyTo["event_id"] : undefined;
  if (relType === "m.thread") {
    const root = rel?.["event_id"];
    if (!isEventId(root)) return { events: [], problems: ["m.thread without a valid event_id"] };
    thread = root;
    if (rel?.["is_falling_back"] !== true) replyTo = replyId;
  } else {
    replyTo = replyId;
  }

  const parsed = parseBody(content, ctx, { reply: replyId !== undefined, sticker });
  if (Array.isArray(parsed)) return { events: [], problems: parsed };
  if (parsed.text.trim().length === 0 && (parsed.attachments?.length ?? 0) === 0) return { events: [], problems: [], ignored: "empty message" };
  const event: PlatformMessage = {
    ...base,
    type: "message",
    text: parsed.text,
    ...(parsed.markdown === undefined ? {} : { markdown: parsed.markdown }),
    ...(replyTo === undefined ? {} : { replyTo: platformEventId(replyTo) }),
    ...(thread === undefined ? {} : { thread }),
    ...(parsed.attachments === undefined ? {} : { attachments: parsed.attachments }),
    ...(parsed.style === undefined ? {} : { style: parsed.style }),
  };
  return { events: [event], problems: [] };
}

function reactionEvents(ev: MatrixEvent, content: Record<string, unknown>, ctx: MatrixInboundContext): MatrixInboundResult {
  const rel = content["m.relates_to"];
  if (!isObject(rel) || rel["rel_type"] !== "m.annotation") return { events: [], problems: ["m.reaction without an m.annotation relation"] };
  const target = rel["event_id"];
  const key = rel["key"];
  if (!isEventId(target)) return { events: [], problems: ["m.reaction without a valid event_id"] };
  if (typeof key !== "string" || key.trim().length === 0) return { events: [], problems: ["m.reaction without a key"] };
  if (bytes(key) > MAX_REACTION_KEY_BYTES) return { events: [], problems: [`reaction key longer than ${MAX_REACTION_KEY_BYTES} bytes`] };
  return {
    events: [{ type: "reaction.add", platformEventId: platformEventId(ev.event_id), sender: ctx.sender, room: ctx.room, ...timestampOf(ev), target: platformEventId(target), reaction: key }],
    problems: [],
  };
}

function redactionEvents(ev: MatrixEvent, content: Record<string, unknown>, ctx: MatrixInboundContext): MatrixInboundResult {
  // Room v11 moved `redacts` into the content; older rooms have it at the top level.
  const redacts: unknown = typeof ev.redacts === "string" ? ev.redacts : content["redacts"];
  if (!isEventId(redacts)) return { events: [], problems: ["m.room.redaction without a valid redacts event ID"] };
  const base = { platformEventId: platformEventId(ev.event_id), sender: ctx.sender, room: ctx.room, ...timestampOf(ev) };
  const kind = ctx.kindOf?.(redacts);
  if (kind === "reaction") {
    const r = ctx.reactionOf?.(redacts);
    if (r === undefined || !isEventId(r.target)) return { events: [], problems: [], ignored: "redaction of a reaction the bridge does not know" };
    if (r.sender !== undefined && r.sender !== ev.sender) return { events: [], problems: [], ignored: "redaction of someone else's reaction" };
    return { events: [{ ...base, type: "reaction.remove", target: platformEventId(r.target), reaction: r.key }], problems: [] };
  }
  const reason = typeof content["reason"] === "string" && content["reason"].length > 0 ? content["reason"].slice(0, MAX_REASON) : undefined;
  const original = ctx.senderOf?.(redacts);
  const moderation = original !== undefined && original !== ev.sender;
  return {
    events: [{ ...base, type: "message.retract", target: platformEventId(redacts), ...(moderation ? { moderation: true } : {}), ...(reason === undefined ? {} : { reason }) }],
    problems: [],
  };
}

/** Maps one room event to the PlatformEvents it stands for. Never throws. */
export function platformEventsFromMatrix(ev: MatrixEvent, ctx: MatrixInboundContext): MatrixInboundResult {
  const e = ev as unknown;
  if (!isObject(e)) return { events: [], problems: ["event is not an object"] };
  if (!isEventId(e["event_id"])) return { events: [], problems: ["event_id is missing or malformed"] };
  if (typeof e["type"] !== "string") return { events: [], problems: ["type is missing"] };
  const content = e["content"];
  if (!isObject(content)) return { events: [], problems: ["content is not an object"] };
  if (e["state_key"] !== undefined) return { events: [], problems: [], ignored: "state event" };
  if (isObject(e["unsigned"]) && e["unsigned"]["redacted_because"] !== undefined) return { events: [], problems: [], ignored: "redacted event" };
  try {
    switch (ev.type) {
      case "m.room.message":
        return messageEvents(ev, content, ctx, false);
      case "m.sticker":
        return messageEvents(ev, content, ctx, true);
      case "m.reaction":
        return reactionEvents(ev, content, ctx);
      case "m.room.redaction":
        return redactionEvents(ev, content, ctx);
      default:
        return { events: [], problems: [], ignored: `event type ${ev.type.slice(0, 100)} is not mapped here` };
    }
  } catch (err) {
    // Context callbacks belong to the adapter; a fault in them is reported, not thrown.
    return { events: [], problems: [`mapping failed: ${err instanceof Error ? err.message.slice(0, 200) : "unknown error"}`] };
  }
}

// ---- ephemeral events (MIMI-MATRIX-29) ---------------------------------------------------------

export interface MatrixEphemeralContext {
  readonly room: PlatformRoomId;
  /** True for the homeserver's own users the bridge serves (never a ghost or the bot). */
  readonly isLocalUser: (mxid: string) => boolean;
  /** The local users typing before this m.typing event (the adapter keeps the returned `typing`). */
  readonly typingBefore: readonly string[];
  /** Makes the IDs of typing events unique and replay-stable, e.g. `<txnId>:<index>`. */
  readonly key: string;
  /** Time of typing events (ephemeral events carry none). */
  readonly now?: number;
}

export interface MatrixEphemeralResult extends MatrixInboundResult {
  /** For m.typing: the local users typing now. */
  readonly typing?: string[];
}

/**
 * m.typing → `typing` on/off per local user (the difference to `typingBefore`); m.receipt → one
 * `receipt.read` per local user and event (private receipts stay private). IDs: typing events
 * `typing:<key>:<user>:on|off`, receipts `receipt:<user>:<event>` (one per user and event).
 */
export function platformEventsFromEphemeral(ev: MatrixEphemeralEvent, ctx: MatrixEphemeralContext): MatrixEphemeralResult {
  const e = ev as unknown;
  if (!isObject(e) || typeof e["type"] !== "string") return { events: [], problems: ["ephemeral event is not an object with a type"] };
  const content = e["content"];
  if (!isObject(content)) return { events: [], problems: ["content is not an object"] };
  const ts = ctx.now !== undefined && Number.isSafeInteger(ctx.now) ? { timestamp: ctx.now } : {};
  try {
    if (e["type"] === "m.typing") {
      const ids = content["user_ids"];
      if (!Array.isArray(ids)) return { events: [], problems: ["m.typing without user_ids"] };
      const now = [...new Set(ids.filter((u): u is string => typeof u === "string" && isMatrixUserId(u) && ctx.isLocalUser(u)))];
      const before = new Set(ctx.typingBefore);
      const after = new Set(now);
      const events: PlatformEvent[] = [];
      for (const u of now) {
        if (!before.has(u)) events.push({ type: "typing", platformEventId: platformEventId(`typing:${ctx.key}:${u}:on`), sender: u as PlatformUserId, room: ctx.room, active: true, ...ts });
      }
      for (const u of before) {
        if (!after.has(u)) events.push({ type: "typing", platformEventId: platformEventId(`typing:${ctx.key}:${u}:off`), sender: u as PlatformUserId, room: ctx.room, active: false, ...ts });
      }
      return { events, problems: [], typing: now };
    }
    if (e["type"] === "m.receipt") {
      const events: PlatformEvent[] = [];
      let seen = 0;
      for (const [eventId, receipts] of Object.entries(content)) {
        if (!isEventId(eventId) || !isObject(receipts)) continue;
        const read = receipts["m.read"];
        if (!isObject(read)) continue;
        for (const [user, data] of Object.entries(read)) {
          if (++seen > MAX_RECEIPTS) return { events: [], problems: [`m.receipt with more than ${MAX_RECEIPTS} receipts`] };
          if (!isMatrixUserId(user) || !ctx.isLocalUser(user)) continue;
          const at = isObject(data) && typeof data["ts"] === "number" && Number.isSafeInteger(data["ts"]) && data["ts"] >= 0 ? { timestamp: data["ts"] } : ts;
          events.push({ type: "receipt.read", platformEventId: platformEventId(`receipt:${user}:${eventId}`), sender: user as PlatformUserId, room: ctx.room, target: platformEventId(eventId), ...at });
        }
      }
      return { events, problems: [] };
    }
  } catch (err) {
    return { events: [], problems: [`mapping failed: ${err instanceof Error ? err.message.slice(0, 200) : "unknown error"}`] };
  }
  return { events: [], problems: [], ignored: `ephemeral type ${e["type"].slice(0, 100)} is not mapped` };
}

// ---- outbound --------------------------------------------------------------------------------------

export interface MatrixOutboundContext {
  /** The Matrix user ID of a MIMI user (its ghost, or the local user), for mention pills. */
  readonly matrixIdOf: (mimiUri: string) => string | undefined;
  /** Lets attachments on this homeserver's authenticated media URLs go back as mxc:// media. */
  readonly homeserverUrl?: string;
  /** The Matrix root event of a MIMI thread (topicId); default: the topicId itself when it is a Matrix event ID. */
  readonly threadRootOf?: (thread: string) => string | undefined;
  /** The Matrix sender of the message replied to: added to m.mentions like Matrix clients do. */
  readonly replyToSender?: string;
  /** Forces a msgtype (the bridge bot's notices); default m.text, or m.emote for "/me …". */
  readonly msgtype?: "m.text" | "m.notice" | "m.emote";
}

export interface MatrixContent {
  readonly type: "m.room.message" | "m.reaction";
  readonly content: Record<string, unknown>;
}

const EMOTE = /^\/me /;

interface TextContent {
  msgtype: string;
  body: string;
  format?: string;
  formatted_body?: string;
  "m.mentions": { user_ids?: string[] };
}

/** The text part of a message: msgtype, body, formatted_body and mentions. */
function textContent(text: string, markdown: string | undefined, ctx: MatrixOutboundContext, extraMentions: readonly string[] = []): TextContent {
  let msgtype: string = ctx.msgtype ?? "m.text";
  let body = text;
  let md = markdown;
  if (ctx.msgtype === undefined && EMOTE.test(body)) {
    msgtype = "m.emote";
    body = body.replace(EMOTE, "");
    if (md !== undefined) md = md.replace(EMOTE, "");
  }
  const mentions = new Set(extraMentions.filter(isMatrixUserId));
  const out: TextContent = { msgtype, body, "m.mentions": {} };
  if (md !== undefined && md.trim().length > 0) {
    const r = markdownToHtml(md, ctx);
    for (const m of r.mentions) mentions.add(m);
    // Only when the formatting adds something: a lone paragraph of the same text is noise.
    if (r.html.length > 0 && r.html !== `<p>${escapeHtml(body)}</p>`) {
      out.format = HTML_FORMAT;
      out.formatted_body = r.html;
    }
  }
  if (mentions.size > 0) out["m.mentions"] = { user_ids: [...mentions].sort() };
  return out;
}

function mediaMsgtype(contentType: string): string {
  const t = contentType.toLowerCase();
  if (t.startsWith("image/")) return "m.image";
  if (t.startsWith("video/")) return "m.video";
  if (t.startsWith("audio/")) return "m.audio";
  return "m.file";
}

function mxcOf(a: Attachment, ctx: MatrixOutboundContext): string | undefined {
  if (parseMxc(a.url) !== undefined) return a.url;
  return ctx.homeserverUrl === undefined ? undefined : mxcFromMediaUrl(ctx.homeserverUrl, a.url);
}

function relationFor(m: MimiMessage, ctx: MatrixOutboundContext): Record<string, unknown> | undefined {
  const replyTo = m.replyTo !== undefined && isEventId(m.replyTo) ? m.replyTo : undefined;
  let root: string | undefined;
  if (m.thread !== undefined && m.thread.length > 0) {
    const mapped = ctx.threadRootOf === undefined ? undefined : ctx.threadRootOf(m.thread);
    root = mapped ?? (isEventId(m.thread) ? m.thread : undefined);
    if (root !== undefined && !isEventId(root)) root = undefined;
  }
  if (root !== undefined) {
    // Spec §11.37.1: a thread event carries a fallback reply for clients without threads.
    return { rel_type: "m.thread", event_id: root, is_falling_back: replyTo === undefined, "m.in_reply_to": { event_id: replyTo ?? root } };
  }
  // Spec v1.13 (MSC2781): no reply fallback in body or formatted_body.
  return replyTo === undefined ? undefined : { "m.in_reply_to": { event_id: replyTo } };
}

/**
 * A MIMI message as an m.room.message content. One attachment on Matrix media (mxc://, or this
 * homeserver's media URL) becomes an m.image/m.video/m.audio/m.file event with the text as its
 * caption; other attachments become links after the text.
 */
export function matrixMessageContent(m: MimiMessage, ctx: MatrixOutboundContext): MatrixContent {
  const relation = relationFor(m, ctx);
  const extra = ctx.replyToSender === undefined ? [] : [ctx.replyToSender];
  const atts = m.attachments ?? [];
  const only = atts.length === 1 ? atts[0] : undefined;
  const mxc = only === undefined ? undefined : mxcOf(only, ctx);
  let content: Record<string, unknown>;
  if (only !== undefined && mxc !== undefined) {
    const filename = only.filename ?? only.description ?? "file";
    const caption = m.text.trim().length > 0 && m.text !== filename ? textContent(m.text, m.markdown, { ...ctx, msgtype: "m.text" }, extra) : undefined;
    content = {
      msgtype: mediaMsgtype(only.contentType),
      body: caption?.body ?? filename,
      filename,
      url: mxc,
      info: { mimetype: only.contentType, ...(only.size === undefined ? {} : { size: only.size }) },
      ...(caption?.formatted_body === undefined ? {} : { format: HTML_FORMAT, formatted_body: caption.formatted_body }),
      "m.mentions": caption?.["m.mentions"] ?? (extra.length > 0 ? { user_ids: [...extra] } : {}),
    };
  } else {
    const t = textContent(m.text, m.markdown, ctx, extra);
    content = { ...t };
    const links = atts.filter((a) => !m.text.includes(a.url));
    if (links.length > 0) {
      const label = (a: Attachment) => a.filename ?? a.description ?? a.url;
      const lines = links.map((a) => (label(a) === a.url ? a.url : `${label(a)}: ${a.url}`));
      content["body"] = [t.body, ...lines].filter((s) => s.length > 0).join("\n");
      const html = links.map((a) => {
        const safe = /^https?:\/\//i.test(a.url) ? a.url : undefined;
        return safe === undefined ? escapeHtml(label(a)) : `<a href="${escapeHtml(safe)}">${escapeHtml(label(a))}</a>`;
      });
      const head = t.formatted_body ?? (t.body.length > 0 ? `<p>${escapeHtml(t.body)}</p>` : "");
      content["format"] = HTML_FORMAT;
      content["formatted_body"] = head + html.map((h) => `<p>${h}</p>`).join("");
    }
  }
  if (relation !== undefined) content["m.relates_to"] = relation;
  return { type: "m.room.message", content };
}

/** A MIMI edit as an m.replace of the original Matrix event (the target must be the first version). */
export function matrixEditContent(e: MimiEdit, targetEventId: string, ctx: MatrixOutboundContext = { matrixIdOf: () => undefined }): MatrixContent {
  const t = textContent(e.text, e.markdown, ctx);
  const content: Record<string, unknown> = {
    msgtype: t.msgtype,
    body: `* ${t.body}`,
    ...(t.formatted_body === undefined ? {} : { format: HTML_FORMAT, formatted_body: `* ${t.formatted_body}` }),
    "m.new_content": { ...t },
    // Mentions live in m.new_content; the edit itself notifies no one again.
    "m.mentions": {},
    "m.relates_to": { rel_type: "m.replace", event_id: targetEventId },
  };
  return { type: "m.room.message", content };
}

/** A MIMI reaction as an m.annotation of the Matrix event. */
export function matrixReactionContent(r: MimiReaction, targetEventId: string): MatrixContent {
  return { type: "m.reaction", content: { "m.relates_to": { rel_type: "m.annotation", event_id: targetEventId, key: r.reaction } } };
}

/** A retraction (or a reaction removal) as a redaction: PUT /rooms/{room}/redact/{eventId}/{txnId} with this body. */
export function matrixRedaction(targetEventId: PlatformEventId | string, reason?: string): { readonly eventId: string; readonly content: { reason?: string } } {
  return { eventId: targetEventId, content: reason === undefined || reason.length === 0 ? {} : { reason: reason.slice(0, MAX_REASON) } };
}

/**
 * The CS-API transaction ID of a send derived from a MIMI message ID: `mimi-<kind>-<id>` with the
 * message ID itself when it is short and URL-safe (hex IDs are), else its SHA-256 in hex. Stable
 * across restarts, so a resent event is deduplicated by the homeserver. At most 255 characters.
 */
export function txnIdFor(messageId: string, kind: string): string {
  if (!/^[a-z][a-z0-9]{0,15}$/.test(kind)) throw new Error(`transaction kind ${JSON.stringify(kind.slice(0, 40))} must be 1-16 lowercase letters or digits`);
  const id = /^[A-Za-z0-9_]{1,200}$/.test(messageId) ? messageId : createHash("sha256").update(messageId, "utf8").digest("hex");
  return `mimi-${kind}-${id}`;
}
