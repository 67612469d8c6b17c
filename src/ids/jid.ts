// XMPP addresses (RFC 7622) and their MIMI URIs: native users and ghosts.
//
//   jid = [ localpart "@" ] domainpart [ "/" resourcepart ]          (RFC 7622 §3.1)
//
// Normal form. Full PRECIS (RFC 8264/8265) is the XMPP server's job; we apply the parts of its
// enforcement that change strings, so that equal JIDs compare equal here too:
//   localpart    UsernameCaseMapped (RFC 7622 §3.3, RFC 8265 §3.3): width mapping of
//                U+FF01–U+FFEE, Unicode toLowerCase, NFC; then the §3.3.1 exclusions.
//   domainpart   trailing dot stripped (§3.2), IDNA mapping, U-labels (§3.2.1); IPv6 literals
//                lowercased.
//   resourcepart OpaqueString (§3.4, RFC 8265 §4.2): non-ASCII spaces to U+0020, NFC.
// Each part is 1..1023 octets (§3.2, §3.3, §3.4). Not checked: the PRECIS IdentifierClass
// categories (symbols such as U+265A are refused by PRECIS but accepted by the stringprep
// nodeprep that Prosody still applies, and refusing them would cut such users off the bridge).
//
// Native users (draft-mahy-mimi-identity-05, DESIGN.md): the bare JID juliet@xmpp.example ⇔
// mimi://xmpp.example/u/juliet; the full JID juliet@xmpp.example/balcony ⇔
// mimi://xmpp.example/d/juliet/balcony. The localpart is used in its wire form (XEP-0106 escapes
// and all), because XEP-0106 §4.1 rule 5 forbids comparing JIDs by their unescaped form.
//
// Ghosts: a user of another MIMI provider is a JID on the bridge's component domain. Grammar
// (stable: changing it renames every ghost):
//
//   ghost-jid     = xep0106-escape( xmpp-escape( user ) "@" host ) "@" component-domain
//   user, host    = the decoded user segment and normalised host of mimi://host/u/user
//   xmpp-escape   = applied to UTF-8(user) byte by byte:
//                     a-z 0-9                                 -> themselves
//                     A-Z                                     -> "_" + the lowercase letter
//                     "_"                                     -> "__"
//                     "="                                     -> "=3d"
//                     SP as the very first byte               -> "=20"
//                     any other printable ASCII (SP ... "~")  -> itself
//                     any other byte (controls, DEL, non-ASCII) -> "=" + 2 lowercase hex digits
//   xep0106-escape = escapeJidLocalpart (xep0106.ts)
//
// e.g. mimi://b.example/u/bob       -> bob\40b.example@mimi.xmpp.example     (DESIGN.md)
//      mimi://b.example/u/Bob.Smith -> _bob._smith\40b.example@mimi.xmpp.example
//
// Why the inner layer: the server case-folds localparts (UsernameCaseMapped) and PRECIS refuses
// most non-ASCII symbols, so case and non-ASCII must be carried in lowercase ASCII; XEP-0106 may
// only escape its ten characters (§2 requirement 3). The inner layer leaves printable ASCII alone
// so that XEP-0106 clients display readable names ("bob@b.example"). A leading space is encoded
// because \20 must not start a localpart (XEP-0106 §4.1 rule 6); the last character is always the
// host's. Reversal: XEP-0106 unescape, split at the LAST "@" (the host has none), undo the inner
// layer. Both layers are injective and the split is unambiguous, so distinct users get distinct
// ghosts (MIMI-ID-39). The inner layer is accepted back only in its canonical spelling; the
// XEP-0106 layer in any spelling that unescapes to the same string, because XEP-0106 itself
// spells backslashes two ways (see xep0106.ts) and XMPP clients escape what their users type. So
// each user has one ghost JID that the bridge emits, and parseXmppGhost(xmppGhostFor(u)) = u.
// The 1023-octet limit means very long users have no ghost: xmppGhostFor throws for them.
import { isIP } from "node:net";
import { MimiError } from "../errors.ts";
import { toAsciiDomain, toUnicodeDomain } from "./domain.ts";
import { deviceUri, parseMimiUri, parseUserUri, userUri } from "./mimiUri.ts";
import type { MimiUri } from "./mimiUri.ts";
import { escapeJidLocalpart, unescapeJidLocalpart } from "./xep0106.ts";
import { tryUnescapeBytes, utf8Encoder } from "./byteEscape.ts";

/** A JID split into its parts, each in normal form. */
export interface Jid {
  readonly localpart?: string;
  readonly domainpart: string;
  readonly resourcepart?: string;
}

export interface XmppGhostOptions {
  /** The XEP-0114 component's domain, where the ghosts live ("mimi.xmpp.example"). */
  readonly componentDomain: string;
}

export interface XmppBridgeIdentity extends XmppGhostOptions {
  /** The XMPP server's domain, where the native users live ("xmpp.example"). */
  readonly domain: string;
  /** The MIMI provider domain of the native users. Default: the XMPP domain. */
  readonly provider?: string;
}

/** RFC 7622 §3.2, §3.3, §3.4: each part is at most 1023 octets. */
export const MAX_JID_PART_OCTETS = 1023;
const MAX_INPUT_LENGTH = 3 * 4 * 1024;
// RFC 7622 §3.3.1: "the following characters MUST NOT appear in the localpart".
const LOCALPART_EXCLUDED = /["&'/:<>@]/;
const HEX = "0123456789abcdef";

function invalid(reason: string, details: Record<string, unknown> = {}): MimiError {
  return new MimiError("MIMI_ERR_ID_INVALID_JID", `not a valid XMPP JID: ${reason}`, { details: { reason, ...details } });
}

function octets(s: string): number {
  return utf8Encoder.encode(s).length;
}

function checkLength(part: string, name: string): void {
  // MIMI-ID-31: RFC 7622 §3.3/§3.4 "MUST NOT be zero octets in length and MUST NOT be more than
  // 1023 octets in length" (§3.2 likewise for the domainpart).
  if (part.length === 0) throw invalid(`empty ${name}`);
  if (octets(part) > MAX_JID_PART_OCTETS) throw invalid(`${name} is longer than 1023 octets`);
}

/**
 * RFC 8264 §7: apply the rules until the output is stable; a string that is still changing after
 * three more applications MUST be rejected. (Case mapping then NFC is not always idempotent.)
 */
function untilStable(raw: string, rules: (s: string) => string, name: string): string {
  let current = rules(raw);
  for (let i = 0; i < 3; i++) {
    const next = rules(current);
    if (next === current) return current;
    current = next;
  }
  throw invalid(`${name} does not stabilise under normalisation`);
}

const usernameCaseMapped = (s: string): string =>
  s
    .replace(/[\uff01-\uffee]/gu, (c) => c.normalize("NFKC"))
    .toLowerCase()
    .normalize("NFC");

const opaqueString = (s: string): string => s.replace(/\p{Zs}/gu, " ").normalize("NFC");

function normaliseLocalpart(raw: string): string {
  const local = untilStable(raw, usernameCaseMapped, "localpart");
  checkLength(local, "localpart");
  // MIMI-ID-31: RFC 7622 §3.3.1 excluded characters; spaces and controls are disallowed by the
  // PRECIS IdentifierClass (RFC 8264 §4.2), which is where XEP-0106 §1 gets "space" from.
  if (LOCALPART_EXCLUDED.test(local)) throw invalid('localpart contains one of " & \' / : < > @');
  if (/[\p{Z}\p{Cc}\s]/u.test(local)) throw invalid("localpart contains a space or control character");
  return local;
}

function normaliseDomainpart(raw: string): string {
  // MIMI-ID-32: RFC 7622 §3.2, a trailing dot "MUST be stripped" before any use.
  const text = raw.endsWith(".") ? raw.slice(0, -1) : raw;
  checkLength(text, "domainpart");
  if (text.startsWith("[")) {
    const inner = text.endsWith("]") ? text.slice(1, -1) : "";
    if (isIP(inner) !== 6) throw invalid("domainpart is not a valid IPv6 literal");
    return `[${inner.toLowerCase()}]`;
  }
  const ascii = toAsciiDomain(text);
  if (ascii === undefined) throw invalid("domainpart is not a valid domain name");
  // RFC 7622 §3.2.1: domainparts hold U-labels, not A-labels.
  const domain = toUnicodeDomain(ascii);
  checkLength(domain, "domainpart");
  return domain;
}

function normaliseResourcepart(raw: string): string {
  const resource = untilStable(raw, opaqueString, "resourcepart");
  checkLength(resource, "resourcepart");
  if (/\p{Cc}/u.test(resource)) throw invalid("resourcepart contains a control character");
  return resource;
}

/** Parses and normalises a JID. Throws MIMI_ERR_ID_INVALID_JID with `details.reason`. */
export function parseJid(input: string): Jid {
  if (typeof input !== "string") throw invalid("not a string");
  if (input.length > MAX_INPUT_LENGTH) throw invalid("input is too long");
  if (!input.isWellFormed()) throw invalid("not well-formed Unicode");
  // MIMI-ID-30: RFC 7622 §3.1, the resourcepart starts at the FIRST "/", then the localpart ends
  // at the FIRST "@" of what is left (so a resourcepart may contain "@" and "/").
  const slash = input.indexOf("/");
  const head = slash < 0 ? input : input.slice(0, slash);
  const at = head.indexOf("@");
  const domainpart = normaliseDomainpart(at < 0 ? head : head.slice(at + 1));
  const jid: { localpart?: string; domainpart: string; resourcepart?: string } = { domainpart };
  if (at >= 0) jid.localpart = normaliseLocalpart(head.slice(0, at));
  if (slash >= 0) jid.resourcepart = normaliseResourcepart(input.slice(slash + 1));
  return jid;
}

/** Formats a JID after validating and normalising its parts. */
export function formatJid(jid: Jid): string {
  const bare = jid.localpart === undefined ? jid.domainpart : `${jid.localpart}@${jid.domainpart}`;
  const text = jid.resourcepart === undefined ? bare : `${bare}/${jid.resourcepart}`;
  const parsed = parseJid(text);
  // A part that contains a separator would re-split differently: refuse rather than misroute.
  if (parsed.localpart !== normaliseOptional(jid.localpart, normaliseLocalpart) || parsed.resourcepart !== normaliseOptional(jid.resourcepart, normaliseResourcepart)) {
    throw invalid("a part contains a JID separator");
  }
  const out = parsed.localpart === undefined ? parsed.domainpart : `${parsed.localpart}@${parsed.domainpart}`;
  return parsed.resourcepart === undefined ? out : `${out}/${parsed.resourcepart}`;
}

function normaliseOptional(part: string | undefined, normalise: (s: string) => string): string | undefined {
  return part === undefined ? undefined : normalise(part);
}

/** The bare JID (without resourcepart). */
export function toBareJid(jid: Jid): Jid {
  return jid.localpart === undefined ? { domainpart: jid.domainpart } : { localpart: jid.localpart, domainpart: jid.domainpart };
}

function asJid(jid: string | Jid): Jid {
  return typeof jid === "string" ? parseJid(jid) : parseJid(formatJid(jid));
}

function mimiHostOfDomainpart(domainpart: string): string {
  const host = domainpart.startsWith("[") ? undefined : toAsciiDomain(domainpart);
  if (host === undefined) {
    throw new MimiError("MIMI_ERR_ID_UNSUPPORTED", "an XMPP domain that is an IP literal has no MIMI provider", { details: { domainpart } });
  }
  return host;
}

// ---- native users ----------------------------------------------------------------------------

/**
 * identity-05: bare JID → user URI, full JID → device URI (`/d/localpart/resourcepart`).
 * A JID without localpart (a server or service) gives MIMI_ERR_ID_UNSUPPORTED.
 */
export function mimiUriFromJid(jid: string | Jid): MimiUri {
  const parsed = asJid(jid);
  if (parsed.localpart === undefined) {
    throw new MimiError("MIMI_ERR_ID_UNSUPPORTED", "a JID without localpart names a service, not a user", { details: { jid: formatJid(parsed) } });
  }
  const host = mimiHostOfDomainpart(parsed.domainpart);
  return parsed.resourcepart === undefined ? userUri(host, parsed.localpart) : deviceUri(host, parsed.localpart, parsed.resourcepart);
}

/** Inverse of mimiUriFromJid: user URI → bare JID, two-segment device URI → full JID. */
export function jidFromMimiUri(uri: string): Jid {
  const parsed = parseMimiUri(uri);
  const domainpart = toUnicodeDomain(parsed.host);
  const [localpart = "", resourcepart, ...extra] = parsed.segments;
  const userLike = parsed.kind === "user" && resourcepart === undefined;
  const deviceLike = parsed.kind === "device" && resourcepart !== undefined && extra.length === 0;
  if (!userLike && !deviceLike) {
    throw new MimiError("MIMI_ERR_ID_WRONG_KIND", "only user URIs and two-segment device URIs map to JIDs", { details: { kind: parsed.kind } });
  }
  // The MIMI name must already be the JID's normal form, or the mapping would not round-trip.
  if (normaliseLocalpart(localpart) !== localpart) throw invalid("MIMI user name is not a normalised JID localpart");
  if (resourcepart !== undefined && normaliseResourcepart(resourcepart) !== resourcepart) {
    throw invalid("MIMI device name is not a normalised JID resourcepart");
  }
  return resourcepart === undefined ? { localpart, domainpart } : { localpart, domainpart, resourcepart };
}

// ---- the ghost inner layer ---------------------------------------------------------------------

/**
 * xmpp-escape from the grammar above. Throws MIMI_ERR_ID_INVALID_JID for lone surrogates.
 * MIMI-ID-38: case and non-ASCII are carried by this layer ("_", "="), never by extra XEP-0106
 * sequences, which may only stand for the ten characters of XEP-0106 §3.2 (§2 requirement 3).
 */
export function escapeXmppGhostUser(value: string): string {
  if (!value.isWellFormed()) throw invalid("cannot map a string with lone surrogates");
  let out = "";
  let first = true;
  for (const b of utf8Encoder.encode(value)) {
    if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39)) out += String.fromCharCode(b);
    else if (b >= 0x41 && b <= 0x5a) out += `_${String.fromCharCode(b + 0x20)}`;
    else if (b === 0x5f) out += "__";
    else if (b === 0x3d || (b === 0x20 && first) || b < 0x20 || b >= 0x7f) out += `=${HEX[b >> 4] ?? ""}${HEX[b & 15] ?? ""}`;
    else out += String.fromCharCode(b);
    first = false;
  }
  return out;
}

function tryUnescapeXmppGhostUser(escaped: string): string | undefined {
  return tryUnescapeBytes(escaped, (c) => c >= 0x20 && c < 0x7f, escapeXmppGhostUser);
}

/** Inverse of escapeXmppGhostUser. Throws MIMI_ERR_ID_INVALID_JID on a non-canonical escape. */
export function unescapeXmppGhostUser(escaped: string): string {
  const value = tryUnescapeXmppGhostUser(escaped);
  if (value === undefined) throw invalid("not a canonical escaped ghost user");
  return value;
}

// ---- ghosts --------------------------------------------------------------------------------------

function componentDomainOf(options: XmppGhostOptions): string {
  try {
    return normaliseDomainpart(options.componentDomain);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", "XMPP component domain is not a valid domainpart", {
      cause,
      details: { componentDomain: options.componentDomain },
    });
  }
}

/** The ghost JID (bare) of a MIMI user (see the grammar at the top of this file). */
export function xmppGhostFor(uri: string, options: XmppGhostOptions): Jid {
  const domainpart = componentDomainOf(options);
  const { host, user } = parseUserUri(uri);
  // MIMI-ID-39: injective composition of host and user (grammar above). MIMI-ID-37: XEP-0106
  // touches the localpart only; the domainpart is the component's own.
  const localpart = escapeJidLocalpart(`${escapeXmppGhostUser(user)}@${host}`);
  if (octets(localpart) > MAX_JID_PART_OCTETS) throw invalid("ghost localpart would be longer than 1023 octets", { uri });
  return { localpart, domainpart };
}

/**
 * The MIMI user a ghost JID stands for (any resourcepart is ignored). Returns undefined for JIDs
 * not on the component domain and for the component's own JID; throws MIMI_ERR_ID_NOT_A_GHOST
 * for other JIDs on the component domain that are not canonical ghosts.
 */
export function parseXmppGhost(jid: string | Jid, options: XmppGhostOptions): MimiUri | undefined {
  const componentDomain = componentDomainOf(options);
  const parsed = asJid(jid);
  if (parsed.domainpart !== componentDomain || parsed.localpart === undefined) return undefined;
  const localpart = parsed.localpart;
  const notAGhost = (reason: string, cause?: unknown): MimiError =>
    new MimiError("MIMI_ERR_ID_NOT_A_GHOST", `not a ghost of this bridge: ${reason}`, {
      details: { reason, localpart },
      ...(cause === undefined ? {} : { cause }),
    });
  const unescaped = unescapeJidLocalpart(localpart);
  const at = unescaped.lastIndexOf("@");
  if (at < 0) throw notAGhost("no provider in the ghost name");
  const host = unescaped.slice(at + 1);
  if (toAsciiDomain(host) !== host) throw notAGhost("provider is not a normalised domain");
  const user = tryUnescapeXmppGhostUser(unescaped.slice(0, at));
  if (user === undefined) throw notAGhost("user part is not a canonical escape");
  try {
    return userUri(host, user);
  } catch (err) {
    throw notAGhost("user is not a valid MIMI user name", err);
  }
}

// ---- the adapter's view: native users and ghosts together ----------------------------------------

function providerOfBridge(identity: XmppBridgeIdentity): string {
  const provider = toAsciiDomain(identity.provider ?? identity.domain);
  if (provider === undefined) {
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", "set a MIMI provider domain for this XMPP server (its domain is not one)", {
      details: { domain: identity.domain },
    });
  }
  return provider;
}

/**
 * Native JID (on the XMPP domain) for a user or two-segment device URI of our provider; ghost JID
 * (on the component domain) for a user of any other provider.
 */
export function mimiUriToXmppJid(uri: string, identity: XmppBridgeIdentity): Jid {
  const provider = providerOfBridge(identity);
  const parsed = parseMimiUri(uri);
  if (parsed.host !== provider) return xmppGhostFor(uri, identity);
  const native = jidFromMimiUri(uri);
  return { ...native, domainpart: normaliseDomainpart(identity.domain) };
}

/**
 * The MIMI URI of a JID seen by the bridge: ghosts map to their remote user, native JIDs on the
 * XMPP domain to users (bare) or devices (full) of our provider. Anything else (other servers,
 * the component itself) gives MIMI_ERR_ID_UNSUPPORTED.
 */
export function xmppJidToMimiUri(jid: string | Jid, identity: XmppBridgeIdentity): MimiUri {
  const provider = providerOfBridge(identity);
  const parsed = asJid(jid);
  const ghost = parseXmppGhost(parsed, identity);
  if (ghost !== undefined) return ghost;
  if (parsed.domainpart !== normaliseDomainpart(identity.domain) || parsed.localpart === undefined) {
    throw new MimiError("MIMI_ERR_ID_UNSUPPORTED", "JID is neither a native user of this XMPP server nor a ghost", {
      details: { domainpart: parsed.domainpart },
    });
  }
  return parsed.resourcepart === undefined ? userUri(provider, parsed.localpart) : deviceUri(provider, parsed.localpart, parsed.resourcepart);
}
