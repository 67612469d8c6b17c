// Identifiers of the XMPP adapter: who is local, who is a ghost, which JID shows which MIMI room,
// and the deterministic stanza IDs of everything the bridge sends.
//
// JIDs on the component domain (all pure and reversible):
//
//   ghost      XEP-0106-escape(xmpp-escape(user) "@" host) "@" component   (src/ids/jid.ts;
//              its XEP-0106-unescaped localpart always contains "@")
//   MIMI room  room-escape(id) "#" host "@" component     for mimi://host/r/<id>
//              "#" room-escape(roomId) "@" component        for any other room ID
//   XMPP room  any other localpart (a MUC created by an XMPP user joining it, XEP-0045 §10.1)
//   service    the bare component domain (gateway, MUC service, bridge bot)
//
//   room-escape works on UTF-8 bytes: a-z 0-9 "-" "." stay; A-Z become "_" + the lowercase
//   letter; "_" becomes "__"; every other byte becomes "=" + two lowercase hex digits. Its output
//   never holds "@", "\", "#" or uppercase, so room JIDs survive the server's case folding
//   (RFC 7622 §3.3), need no XEP-0106 escaping and never unescape to a ghost. The last "#"
//   separates the host, which has no "#".
//
// Platform room IDs (opaque to the core): a MUC JID (component room or bridged server MUC), or
// `chat:<local bare JID>|<ghost bare JID>` for a one-to-one chat (DESIGN.md §4).
import { createHash } from "node:crypto";
import {
  MimiError,
  parseJid,
  formatJid,
  parseMimiUri,
  parseXmppGhost,
  platformRoomId,
  platformUserId,
  unescapeJidLocalpart,
  userUri,
  xmppGhostFor,
  type Jid,
  type PlatformRoomId,
  type PlatformUserId,
} from "../../src/adapter/index.ts";

const HEX = "0123456789abcdef";
const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

/** room-escape (grammar above). */
export function escapeRoomPart(value: string): string {
  let out = "";
  for (const b of utf8.encode(value)) {
    if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e) out += String.fromCharCode(b);
    else if (b >= 0x41 && b <= 0x5a) out += `_${String.fromCharCode(b + 0x20)}`;
    else if (b === 0x5f) out += "__";
    else out += `=${HEX[b >> 4] ?? ""}${HEX[b & 15] ?? ""}`;
  }
  return out;
}

/** Inverse of escapeRoomPart; undefined for anything escapeRoomPart cannot produce. */
export function unescapeRoomPart(escaped: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    const c = escaped.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e) bytes.push(c);
    else if (c === 0x5f) {
      const n = escaped.charCodeAt(i + 1);
      if (n === 0x5f) bytes.push(0x5f);
      else if (n >= 0x61 && n <= 0x7a) bytes.push(n - 0x20);
      else return undefined;
      i++;
    } else if (c === 0x3d) {
      const hex = escaped.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else return undefined;
  }
  let value: string;
  try {
    value = utf8Decoder.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  return escapeRoomPart(value) === escaped ? value : undefined;
}

export interface XmppIdentity {
  /** The XMPP server's user domain. */
  readonly domain: string;
  readonly componentDomain: string;
  /** The MIMI provider domain (ctx.core.domain). */
  readonly provider: string;
  readonly mucDomain?: string | undefined;
}

export type JidClass =
  | { kind: "local"; bare: string; jid: Jid }
  | { kind: "ghost"; bare: string; mimiUri: string; jid: Jid }
  | { kind: "room"; bare: string; jid: Jid }
  | { kind: "service"; jid: Jid }
  | { kind: "serverMuc"; bare: string; jid: Jid }
  | { kind: "other"; jid: Jid };

export function tryParseJid(text: string | undefined): Jid | undefined {
  if (text === undefined || text.length === 0 || text.length > 3071) return undefined;
  try {
    return parseJid(text);
  } catch {
    return undefined;
  }
}

export const bareOf = (jid: Jid): string => (jid.localpart === undefined ? jid.domainpart : `${jid.localpart}@${jid.domainpart}`);

export class XmppIds {
  readonly #id: XmppIdentity;

  constructor(identity: XmppIdentity) {
    this.#id = identity;
  }

  get componentDomain(): string {
    return this.#id.componentDomain;
  }
  get domain(): string {
    return this.#id.domain;
  }
  get provider(): string {
    return this.#id.provider;
  }

  /** Sorts a JID into the adapter's classes (pure). */
  classify(jid: Jid): JidClass {
    const { domainpart, localpart } = jid;
    if (domainpart === this.#id.domain && localpart !== undefined) return { kind: "local", bare: bareOf(jid), jid };
    if (domainpart === this.#id.componentDomain) {
      if (localpart === undefined) return { kind: "service", jid };
      const ghost = this.parseGhost(bareOf(jid));
      // A "ghost" of one of our own provider's users is not one: that user is local (localJidOf).
      if (ghost !== undefined && this.localJidOf(ghost) === undefined) return { kind: "ghost", bare: bareOf(jid), mimiUri: ghost, jid };
      if (ghost !== undefined || unescapeJidLocalpart(localpart).includes("@")) return { kind: "other", jid };
      return { kind: "room", bare: bareOf(jid), jid };
    }
    if (this.#id.mucDomain !== undefined && domainpart === this.#id.mucDomain && localpart !== undefined) return { kind: "serverMuc", bare: bareOf(jid), jid };
    return { kind: "other", jid };
  }

  // ---- users -----------------------------------------------------------------------------------

  /** mimi://<provider>/u/<localpart> for a user of the XMPP domain (bare or full JID); else undefined. */
  toMimiUri(user: string): string | undefined {
    const jid = tryParseJid(user);
    if (jid?.localpart === undefined || jid.domainpart !== this.#id.domain) return undefined;
    try {
      return userUri(this.#id.provider, jid.localpart);
    } catch {
      return undefined;
    }
  }

  /** The bare JID of a local user from their MIMI URI; undefined for users of other providers. */
  localJidOf(mimiUri: string): PlatformUserId | undefined {
    try {
      const parsed = parseMimiUri(mimiUri);
      const name = parsed.segments[0];
      if (parsed.kind !== "user" || parsed.host !== this.#id.provider || name === undefined) return undefined;
      return platformUserId(formatJid({ localpart: name, domainpart: this.#id.domain }));
    } catch {
      return undefined;
    }
  }

  /** The ghost (bare JID) of a MIMI user (src/ids/jid.ts grammar). Throws for users without one. */
  ghostFor(mimiUri: string): PlatformUserId {
    return platformUserId(formatJid(xmppGhostFor(mimiUri, { componentDomain: this.#id.componentDomain })));
  }

  parseGhost(user: string): string | undefined {
    try {
      return parseXmppGhost(user, { componentDomain: this.#id.componentDomain });
    } catch {
      return undefined;
    }
  }

  /** The XMPP user that shows a MIMI user: a local JID for our provider's users, else the ghost. */
  platformUserFor(mimiUri: string): PlatformUserId {
    return this.localJidOf(mimiUri) ?? this.ghostFor(mimiUri);
  }

  // ---- rooms -----------------------------------------------------------------------------------

  /** The component MUC JID of a MIMI room (grammar above). */
  roomJidFor(roomId: string): PlatformRoomId {
    let local: string;
    try {
      const parsed = parseMimiUri(roomId);
      const [id, ...rest] = parsed.segments;
      local = parsed.kind === "room" && id !== undefined && rest.length === 0 ? `${escapeRoomPart(id)}#${parsed.host}` : `#${escapeRoomPart(roomId)}`;
    } catch {
      local = `#${escapeRoomPart(roomId)}`;
    }
    const jid = `${local}@${this.#id.componentDomain}`;
    if (utf8.encode(local).length > 1023) throw new MimiError("MIMI_ERR_XMPP_BAD_ADDRESS", "room ID is too long for a JID localpart", { details: { roomId } });
    return platformRoomId(jid);
  }

  /** Inverse of roomJidFor; undefined for rooms the mapping did not make (XMPP-created rooms). */
  roomIdOfJid(roomJid: string): string | undefined {
    const jid = tryParseJid(roomJid);
    if (jid?.localpart === undefined || jid.domainpart !== this.#id.componentDomain || jid.resourcepart !== undefined) return undefined;
    const local = jid.localpart;
    if (local.startsWith("#")) return unescapeRoomPart(local.slice(1));
    const hash = local.lastIndexOf("#");
    if (hash <= 0) return undefined;
    const id = unescapeRoomPart(local.slice(0, hash));
    const host = local.slice(hash + 1);
    if (id === undefined || !/^[a-z0-9.-]+$/.test(host)) return undefined;
    const uri = `mimi://${host}/r/${encodeURIComponent(id)}`;
    try {
      const parsed = parseMimiUri(uri);
      return parsed.segments[0] === id && parsed.host === host ? parsed.uri : undefined;
    } catch {
      return undefined;
    }
  }

  // ---- one-to-one chats ------------------------------------------------------------------------

  chatRoom(localBare: string, ghostBare: string): PlatformRoomId {
    return platformRoomId(`chat:${localBare}|${ghostBare}`);
  }

  parseChatRoom(room: string): { local: PlatformUserId; ghost: PlatformUserId } | undefined {
    if (!room.startsWith("chat:")) return undefined;
    const body = room.slice(5);
    const bar = body.lastIndexOf("|");
    if (bar < 0) return undefined;
    const local = tryParseJid(body.slice(0, bar));
    const ghost = tryParseJid(body.slice(bar + 1));
    if (local === undefined || ghost === undefined) return undefined;
    if (this.classify(local).kind !== "local" || this.classify(ghost).kind !== "ghost") return undefined;
    return { local: platformUserId(bareOf(local)), ghost: platformUserId(bareOf(ghost)) };
  }
}

// ---- stanza IDs ------------------------------------------------------------------------------------

/**
 * The deterministic stanza ID of what the bridge sends for a MIMI message: `mimi-` + the first 16
 * hex digits of the MIMI message ID (a non-hex ID is hashed first). A repeated delivery therefore
 * carries the same `id` and XEP-0359 origin-id (MIMI-XMPP-05).
 */
export function stanzaIdFor(messageId: string, salt = ""): string {
  const hex = /^[0-9a-fA-F]{16}/.test(messageId) && salt === "" ? messageId.slice(0, 16).toLowerCase() : sha256Hex(`${salt}\0${messageId}`).slice(0, 16);
  return `mimi-${hex}`;
}

export function sha256Hex(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/**
 * The XEP-0359 stanza-id this component's MUC service gives a message of a local occupant: a hash
 * of the sender and the sender's own stanza ID, so a resubmission after a crash gets the same ID
 * and a XEP-0308 correction (which names the sender's own ID) maps back without a table.
 */
export function mucStanzaId(senderBare: string, clientId: string): string {
  return `x-${sha256Hex(`${senderBare}\0${clientId}`).slice(0, 24)}`;
}

/** Store keys: every dynamic part is percent-encoded so keys stay unambiguous. */
export const key = (...parts: string[]): string => parts.map((p) => encodeURIComponent(p)).join("/");
