// Rich message payloads, both ways: corrections (XEP-0308), replies (XEP-0461) with fallback
// stripping (XEP-0428), reactions (XEP-0444), retractions (XEP-0424), chat markers (XEP-0333),
// chat states (XEP-0085), stable IDs (XEP-0359), delays (XEP-0203), file links (XEP-0066) and
// threads (XEP-0201).
import type { Attachment } from "../../src/adapter/index.ts";
import { NS, ownChild, ownChildText, parseXmppDateTime, xml, xmppDateTime, type XmlElement } from "./xml.ts";

export type ChatState = "active" | "composing" | "paused" | "inactive" | "gone";

export interface ParsedMessage {
  readonly id?: string | undefined;
  readonly originId?: string | undefined;
  /** The body with XEP-0428 fallbacks for the features we map removed. */
  readonly body?: string | undefined;
  readonly rawBody?: string | undefined;
  /** Present (possibly "") when the message carries a <subject/> (XEP-0045 §8.1). */
  readonly subject?: string | undefined;
  readonly thread?: string | undefined;
  readonly replace?: string | undefined;
  readonly reply?: { readonly id: string; readonly to?: string | undefined } | undefined;
  readonly reactions?: { readonly id: string; readonly emojis: readonly string[] } | undefined;
  readonly retract?: string | undefined;
  readonly displayed?: string | undefined;
  readonly chatState?: ChatState | undefined;
  readonly attachments: readonly Attachment[];
  readonly delay?: number | undefined;
  /** Extension namespaces we did not understand (logged, never an error on their own). */
  readonly unknown: readonly string[];
  /** Reasons the stanza is malformed (a stanza error answers it). */
  readonly problems: readonly string[];
}

const CHAT_STATES = new Set<string>(["active", "composing", "paused", "inactive", "gone"]);
/** Extension namespaces we read or that are harmless to ignore (hints, receipts requests, …). */
const KNOWN = new Set<string>([
  NS.sid,
  NS.correct,
  NS.reply,
  NS.fallback,
  NS.reactions,
  NS.retract,
  NS.retract0,
  NS.fasten,
  NS.markers,
  NS.chatStates,
  NS.oob,
  NS.delay,
  NS.hints,
  NS.receipts,
  NS.mucUser,
  NS.conference,
  NS.nick,
  NS.occupantId,
  "http://jabber.org/protocol/xhtml-im",
  "urn:xmpp:eme:0",
  "jabber:x:delay",
  "urn:xmpp:carbons:2",
  "urn:xmpp:styling:0",
  "urn:xmpp:message-attaching:1",
]);
const STANZA_CHILDREN = new Set(["body", "subject", "thread", "error"]);

const codePoints = (s: string): string[] => Array.from(s);

/**
 * XEP-0428 §4: removes the fallback ranges (Unicode code points, [start, end)) that belong to the
 * given features; a <fallback/> without <body/> ranges covers the whole body.
 */
export function stripFallback(stanza: XmlElement, body: string, features: ReadonlySet<string>): string {
  const ranges: [number, number][] = [];
  const chars = codePoints(body);
  for (const fb of stanza.getChildren("fallback", NS.fallback)) {
    if (!features.has(fb.attrs.for ?? "")) continue;
    const bodies = fb.getChildren("body");
    if (bodies.length === 0) return "";
    for (const b of bodies) {
      const start = Number(b.attrs.start);
      const end = Number(b.attrs.end);
      if (Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start && end <= chars.length) ranges.push([start, end]);
    }
  }
  if (ranges.length === 0) return body;
  const keep = chars.map(() => true);
  for (const [s, e] of ranges) for (let i = s; i < e; i++) keep[i] = false;
  return chars.filter((_, i) => keep[i]).join("");
}

function guessContentType(url: string): string {
  const path = url.split(/[?#]/)[0] ?? "";
  const ext = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  const types: Record<string, string> = {
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    gif: "image/gif",
    webp: "image/webp",
    svg: "image/svg+xml",
    mp4: "video/mp4",
    webm: "video/webm",
    mp3: "audio/mpeg",
    ogg: "audio/ogg",
    opus: "audio/ogg",
    m4a: "audio/mp4",
    pdf: "application/pdf",
    txt: "text/plain",
  };
  return types[ext] ?? "application/octet-stream";
}

function filenameOf(url: string): string | undefined {
  try {
    const name = decodeURIComponent(new URL(url).pathname.split("/").at(-1) ?? "");
    return name.length > 0 && name.length <= 255 ? name : undefined;
  } catch {
    return undefined;
  }
}

/** Reads every payload the adapter maps from a <message/>. Never throws. */
export function parseMessage(stanza: XmlElement, limits: { maxIdLength: number; maxReactions: number }): ParsedMessage {
  const problems: string[] = [];
  const unknown: string[] = [];
  const idOk = (v: string | undefined, what: string): string | undefined => {
    if (v === undefined) return undefined;
    if (v.length === 0 || v.length > limits.maxIdLength) {
      problems.push(`${what} is empty or longer than ${limits.maxIdLength}`);
      return undefined;
    }
    return v;
  };
  // A reference element without its (required) id is malformed.
  const needId = (v: string | undefined, what: string): string | undefined => {
    if (v !== undefined) return idOk(v, `${what} id`);
    problems.push(`${what} without id`);
    return undefined;
  };
  const id = idOk(stanza.attrs.id, "id");
  // XEP-0359 §4: origin-id is the sender's own stable ID.
  const originId = idOk(stanza.getChild("origin-id", NS.sid)?.attrs.id, "origin-id");
  const rawBody = ownChildText(stanza, "body");
  const subjectEl = ownChild(stanza, "subject");
  const thread = ownChildText(stanza, "thread");

  // XEP-0308 §3: <replace id='first id'/>.
  const replaceEl = stanza.getChild("replace", NS.correct);
  const replace = replaceEl === undefined ? undefined : needId(replaceEl.attrs.id, "replace");

  // XEP-0461 §3: <reply to='author' id='referenced id'/>.
  const replyEl = stanza.getChild("reply", NS.reply);
  let reply: ParsedMessage["reply"];
  if (replyEl !== undefined) {
    const rid = needId(replyEl.attrs.id, "reply");
    if (rid !== undefined) reply = { id: rid, to: replyEl.attrs.to };
  }

  // XEP-0444 §3.2: the complete set of the sender's reactions to one message.
  const reactEl = stanza.getChild("reactions", NS.reactions);
  let reactions: ParsedMessage["reactions"];
  if (reactEl !== undefined) {
    const rid = needId(reactEl.attrs.id, "reactions");
    const emojis = [...new Set(reactEl.getChildren("reaction").map((r) => r.getText().trim()))].filter((e) => e.length > 0 && e.length <= 64);
    if (emojis.length > limits.maxReactions) problems.push(`more than ${limits.maxReactions} reactions`);
    else if (rid !== undefined) reactions = { id: rid, emojis };
  }

  // XEP-0424 §4 (urn:xmpp:message-retract:1); version 0 used <apply-to xmlns=fasten><retract/>.
  let retract: string | undefined;
  const retractEl = stanza.getChild("retract", NS.retract);
  if (retractEl !== undefined) {
    retract = needId(retractEl.attrs.id, "retract");
  } else {
    const applyTo = stanza.getChild("apply-to", NS.fasten);
    if (applyTo?.getChild("retract", NS.retract0) !== undefined) retract = needId(applyTo.attrs.id, "apply-to");
  }

  // XEP-0333 §3: <displayed id='…'/> (received and acknowledged are not mapped).
  const displayedEl = stanza.getChild("displayed", NS.markers);
  const displayed = displayedEl === undefined ? undefined : needId(displayedEl.attrs.id, "displayed");

  // XEP-0085 §5.
  let chatState: ChatState | undefined;
  for (const c of stanza.getChildElements()) {
    if (c.attrs.xmlns === NS.chatStates && CHAT_STATES.has(c.name)) chatState = c.name as ChatState;
  }

  // XEP-0066 §3 jabber:x:oob.
  const attachments: Attachment[] = [];
  for (const x of stanza.getChildren("x", NS.oob)) {
    const url = x.getChildText("url")?.trim();
    if (url === undefined || !/^https?:\/\/\S+$/i.test(url) || url.length > 4096) {
      problems.push("oob without a usable http(s) URL");
      continue;
    }
    const desc = x.getChildText("desc") ?? undefined;
    const filename = filenameOf(url);
    attachments.push({
      url,
      contentType: guessContentType(url),
      ...(filename === undefined ? {} : { filename }),
      ...(desc === undefined || desc === "" ? {} : { description: desc.slice(0, 1024) }),
    });
  }

  // XEP-0203 §3: <delay stamp/>; accepted only when it is not in the future.
  const stampText = stanza.getChild("delay", NS.delay)?.attrs.stamp;
  const stamp = parseXmppDateTime(stampText);
  const delay = stamp !== undefined && stamp <= Date.now() + 60_000 ? stamp : undefined;

  for (const c of stanza.getChildElements()) {
    const ns = c.attrs.xmlns;
    if (ns === undefined || STANZA_CHILDREN.has(c.name)) continue;
    if (!KNOWN.has(ns)) unknown.push(ns.slice(0, 100));
  }

  let body = rawBody;
  if (body !== undefined) {
    const features = new Set<string>();
    if (reply !== undefined) features.add(NS.reply);
    if (retract !== undefined) features.add(NS.retract);
    if (reactions !== undefined) features.add(NS.reactions);
    body = stripFallback(stanza, body, features);
    if (reply !== undefined) body = body.replace(/^\n+/, "");
  }

  return {
    id,
    originId,
    body,
    rawBody,
    subject: subjectEl === undefined ? undefined : subjectEl.getText(),
    thread: thread === undefined || thread.length === 0 || thread.length > limits.maxIdLength ? undefined : thread,
    replace,
    reply,
    reactions,
    retract,
    displayed,
    chatState,
    attachments,
    delay,
    unknown,
    problems,
  };
}

// ---- building --------------------------------------------------------------------------------------

export interface OutboundContent {
  readonly text: string;
  readonly replyTo?: string | undefined;
  /** The JID of the author of the message replied to (XEP-0461 'to'), when known. */
  readonly replyToAuthor?: string | undefined;
  readonly thread?: string | undefined;
  readonly attachments?: readonly Attachment[] | undefined;
}

/** The children of a message carrying MIMI content (body, reply, oob, thread, markable). */
export function contentChildren(c: OutboundContent, id: string): XmlElement[] {
  const atts = c.attachments ?? [];
  let body = c.text;
  // XEP-0066: clients show a file inline when the body is exactly the URL.
  if (body.length === 0 && atts.length === 1 && atts[0] !== undefined) body = atts[0].url;
  else {
    const missing = atts.map((a) => a.url).filter((u) => !body.includes(u));
    if (missing.length > 0) body = [body, ...missing].filter((s) => s.length > 0).join("\n");
  }
  const out: XmlElement[] = [xml("body", {}, body)];
  if (c.replyTo !== undefined) out.push(xml("reply", { xmlns: NS.reply, id: c.replyTo, to: c.replyToAuthor }));
  for (const a of atts) out.push(xml("x", { xmlns: NS.oob }, xml("url", {}, a.url), a.description === undefined ? undefined : xml("desc", {}, a.description)));
  if (c.thread !== undefined) out.push(xml("thread", {}, c.thread));
  out.push(xml("origin-id", { xmlns: NS.sid, id }));
  out.push(xml("markable", { xmlns: NS.markers }));
  out.push(xml("active", { xmlns: NS.chatStates }));
  return out;
}

/** XEP-0203 delay, added when the stanza is shown later than the MIMI time. */
export function delayElement(ms: number, from: string): XmlElement {
  return xml("delay", { xmlns: NS.delay, from, stamp: xmppDateTime(ms) });
}

/** XEP-0308 correction children. */
export function correctionChildren(target: string, text: string, id: string): XmlElement[] {
  return [xml("body", {}, text), xml("replace", { xmlns: NS.correct, id: target }), xml("origin-id", { xmlns: NS.sid, id })];
}

/** XEP-0444 §3.2: the sender's complete reaction set (empty: all removed). */
export function reactionChildren(target: string, emojis: readonly string[], id: string): XmlElement[] {
  return [
    xml("reactions", { xmlns: NS.reactions, id: target }, ...emojis.map((e) => xml("reaction", {}, e))),
    xml("origin-id", { xmlns: NS.sid, id }),
    xml("store", { xmlns: NS.hints }),
  ];
}

const RETRACT_FALLBACK = "This person attempted to retract a previous message, but it's unsupported by your client.";

/** XEP-0424 §4 retraction with its XEP-0428 fallback body. */
export function retractionChildren(target: string, id: string): XmlElement[] {
  return [
    xml("retract", { xmlns: NS.retract, id: target }),
    xml("fallback", { xmlns: NS.fallback, for: NS.retract }),
    xml("body", {}, RETRACT_FALLBACK),
    xml("origin-id", { xmlns: NS.sid, id }),
    xml("store", { xmlns: NS.hints }),
  ];
}

/** XEP-0425 §5 (urn:xmpp:message-moderate:1) moderation announcement in a MUC. */
export function moderationChildren(target: string, moderatorOccupant: string, reason: string | undefined, id: string): XmlElement[] {
  return [
    xml(
      "retract",
      { xmlns: NS.retract, id: target },
      xml("moderated", { xmlns: NS.moderate, by: moderatorOccupant }),
      reason === undefined ? undefined : xml("reason", {}, reason),
    ),
    xml("fallback", { xmlns: NS.fallback, for: NS.retract }),
    xml("body", {}, `This message was moderated${reason === undefined ? "" : `: ${reason}`}.`),
    xml("origin-id", { xmlns: NS.sid, id }),
    xml("store", { xmlns: NS.hints }),
  ];
}
