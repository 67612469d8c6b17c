// MIMI URIs: parse, validate, normalise, format.
//
// Forms (draft-ietf-mimi-protocol-06 "Identifiers" example table; draft-mahy-mimi-identity-05
// "Representation of identifiers using URIs"):
//
//   mimi://a.example                       provider
//   mimi://a.example/u/alice               user
//   mimi://a.example/d/ClientA1            client/device (one or more segments:
//   mimi://a.example/d/alice/ClientA1        identity-05 and the content draft's /d/<uuid>/0003)
//   mimi://a.example/r/clubhouse           room
//   mimi://a.example/g/clubhouse           MLS group
//   mimi://a.example/p/crazykoala75        pseudonym (identity-05)
//   mimi://a.example/t/engineering         team (identity-05)
//
// No draft registers the scheme or gives it an ABNF, so this file pins one down from RFC 3986 and
// the drafts' prose: the provider is the authority's host and nothing else names a server
// (identity-05), so userinfo, port, query and fragment are rejected; the first path segment is the
// type; every later segment is an identifier.
//
// Normal form (MIMI-ID-03): RFC 3986 §6.2.2 syntax-based normalisation (lowercase scheme and host,
// uppercase percent-encoding hex digits, unreserved characters decoded) plus one scheme-based rule
// (RFC 3986 §6.2.3): the identity of a segment is its percent-decoded UTF-8 string, and its
// canonical spelling percent-encodes exactly the octets that are not `pchar` delimiters
// (unreserved / sub-delims / ":" / "@"). So `%21` and `!` are the same segment. Without that rule
// two URIs could parse to the same `segments` and format back differently, and ghost names
// (which are built from the decoded segment) could collide. Raw non-ASCII input (an IRI,
// RFC 3987 §3.1) is accepted and percent-encoded as UTF-8.
import { MimiError } from "../errors.ts";
import { toAsciiDomain } from "./domain.ts";

/** A MIMI URI in canonical form. Obtain one only from this module's functions. */
export type MimiUri = string & { readonly __brand: "MimiUri" };

export type MimiUriKind = "provider" | "user" | "device" | "room" | "group" | "pseudonym" | "team";

/** Path type letter of each kind (the first path segment); the provider has no path. */
export const MIMI_URI_TYPES = {
  user: "u",
  device: "d",
  room: "r",
  group: "g",
  pseudonym: "p",
  team: "t",
} as const satisfies Record<Exclude<MimiUriKind, "provider">, string>;

export interface MimiUriParts {
  readonly kind: MimiUriKind;
  /** The provider: a normalised ASCII domain name (or IPv4 address). */
  readonly host: string;
  /** Identifier segments after the type letter, percent-decoded. Empty for a provider. */
  readonly segments: readonly string[];
}

export interface ParsedMimiUri extends MimiUriParts {
  readonly uri: MimiUri;
}

/** Longest accepted input, checked before any work (inputs come from peers and users). */
export const MAX_MIMI_URI_INPUT_LENGTH = 8192;
/** Longest canonical MIMI URI, in octets. Our limit: long enough for any realistic ID. */
export const MAX_MIMI_URI_LENGTH = 2048;

const KIND_OF_TYPE: ReadonlyMap<string, Exclude<MimiUriKind, "provider">> = new Map(
  Object.entries(MIMI_URI_TYPES).map(([kind, letter]) => [letter, kind as Exclude<MimiUriKind, "provider">]),
);

const HEX = "0123456789ABCDEF";
// RFC 3986 §2.2, §2.3, §3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@".
const PCHAR_RAW = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@") {
  PCHAR_RAW[c.charCodeAt(0)] = 1;
}
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const CONTROL = /\p{Cc}/u;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

function invalid(reason: string, details: Record<string, unknown> = {}): MimiError {
  return new MimiError("MIMI_ERR_ID_INVALID_URI", `not a valid MIMI URI: ${reason}`, { details: { reason, ...details } });
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** Percent-decodes one raw path segment (URI or IRI text) to its string value. */
function decodeSegment(raw: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const code = raw.charCodeAt(i);
    if (code === 0x25) {
      // MIMI-ID-03: RFC 3986 §2.1, a "%" must be followed by two hex digits.
      const hi = hexValue(raw.charCodeAt(i + 1));
      const lo = hexValue(raw.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) throw invalid("malformed percent-encoding", { at: i });
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (code < 0x80) {
      if (PCHAR_RAW[code] !== 1) throw invalid("character not allowed in a path segment", { char: raw[i] });
      bytes.push(code);
    } else {
      // IRI input (RFC 3987 §3.1): the UTF-8 octets of the character. Lone surrogates were
      // rejected before, so codePointAt gives a whole scalar value here.
      const cp = raw.codePointAt(i) ?? 0;
      const char = String.fromCodePoint(cp);
      for (const b of utf8Encoder.encode(char)) bytes.push(b);
      i += char.length - 1;
    }
  }
  try {
    // MIMI-ID-06: segments are UTF-8 text.
    return utf8Decoder.decode(new Uint8Array(bytes));
  } catch (cause) {
    throw new MimiError("MIMI_ERR_ID_INVALID_URI", "not a valid MIMI URI: segment is not UTF-8", { cause, details: { reason: "segment is not UTF-8" } });
  }
}

/** The canonical spelling of one segment value (see the header: MIMI-ID-03). */
function encodeSegment(value: string): string {
  let out = "";
  for (const b of utf8Encoder.encode(value)) {
    if (b < 0x80 && PCHAR_RAW[b] === 1) out += String.fromCharCode(b);
    else out += `%${HEX[b >> 4] ?? ""}${HEX[b & 15] ?? ""}`;
  }
  return out;
}

function checkSegmentValue(value: string): void {
  // MIMI-ID-05: RFC 3986 §3.3 allows empty segments, but an empty identifier names nothing.
  if (value.length === 0) throw invalid("empty path segment");
  // MIMI-ID-05: RFC 3986 §5.2.4 removes "." and ".." segments when resolving, so a URI that
  // contains them would change identity when handled by generic URI code.
  if (value === "." || value === "..") throw invalid("dot segment");
  if (!value.isWellFormed()) throw invalid("segment is not well-formed Unicode");
  // MIMI-ID-06: control characters (C0, DEL, C1) in identifiers only serve to spoof logs and
  // displays.
  if (CONTROL.test(value)) throw invalid("control character in segment");
}

function checkHost(host: string): string {
  const ascii = toAsciiDomain(host);
  // MIMI-ID-04: the provider is a domain name, IDNA to ASCII (RFC 5890) and lowercased.
  if (ascii === undefined) throw invalid("host is not a valid domain name");
  return ascii;
}

function checkCount(kind: MimiUriKind, count: number): void {
  // MIMI-ID-05: a device may have several segments (identity-05: /d/alice/ClientA1, content
  // draft: /d/<uuid>/0003); every other kind names one identifier.
  const ok = kind === "provider" ? count === 0 : kind === "device" ? count >= 1 : count === 1;
  if (!ok) throw invalid(`wrong number of segments for a ${kind} URI`, { kind, count });
}

function build(kind: MimiUriKind, host: string, segments: readonly string[]): ParsedMimiUri {
  let uri = `mimi://${host}`;
  if (kind !== "provider") uri += `/${MIMI_URI_TYPES[kind]}/${segments.map(encodeSegment).join("/")}`;
  // MIMI-ID-07: canonical form is ASCII, so length in characters is length in octets.
  if (uri.length > MAX_MIMI_URI_LENGTH) throw invalid("URI is too long", { limit: MAX_MIMI_URI_LENGTH });
  return { uri: uri as MimiUri, kind, host, segments: Object.freeze([...segments]) };
}

/**
 * Parses, validates and normalises a MIMI URI (or IRI). Throws MimiError
 * MIMI_ERR_ID_INVALID_URI with `details.reason`.
 */
export function parseMimiUri(input: string): ParsedMimiUri {
  if (typeof input !== "string") throw invalid("not a string");
  // MIMI-ID-07: bound the work done on untrusted input before anything else.
  if (input.length > MAX_MIMI_URI_INPUT_LENGTH) throw invalid("input is too long", { limit: MAX_MIMI_URI_INPUT_LENGTH });
  if (!input.isWellFormed()) throw invalid("input is not well-formed Unicode");
  const scheme = SCHEME.exec(input);
  // MIMI-ID-01: RFC 3986 §3.1, schemes are case-insensitive; the canonical form is lowercase.
  if (scheme?.[1]?.toLowerCase() !== "mimi") throw invalid("scheme is not mimi");
  let rest = input.slice(scheme[0].length);
  if (!rest.startsWith("//")) throw invalid("missing authority");
  rest = rest.slice(2);
  // MIMI-ID-02: identity-05 names a provider by the authority's host alone; queries and fragments
  // have no meaning in an identifier and would make equal identifiers compare unequal.
  if (rest.includes("?")) throw invalid("query not allowed");
  if (rest.includes("#")) throw invalid("fragment not allowed");
  const slash = rest.indexOf("/");
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? "" : rest.slice(slash);
  if (authority.includes("@")) throw invalid("userinfo not allowed");
  if (authority.startsWith("[")) throw invalid("IP literal hosts not allowed");
  if (authority.includes(":")) throw invalid("port not allowed");
  const host = checkHost(authority);

  if (path === "" || path === "/") return build("provider", host, []);
  const [type = "", ...segments] = path.slice(1).split("/").map(decodeSegment);
  const kind = KIND_OF_TYPE.get(type);
  if (kind === undefined) throw invalid("unknown MIMI URI type", { type: type.slice(0, 16) });
  checkCount(kind, segments.length);
  for (const s of segments) checkSegmentValue(s);
  return build(kind, host, segments);
}

/** Like parseMimiUri but returns undefined instead of throwing. */
export function tryParseMimiUri(input: string): ParsedMimiUri | undefined {
  try {
    return parseMimiUri(input);
  } catch (err) {
    if (err instanceof MimiError) return undefined;
    throw err;
  }
}

/** The canonical form of a MIMI URI. Idempotent. */
export function normaliseMimiUri(input: string): MimiUri {
  return parseMimiUri(input).uri;
}

/** True if `value` is a MIMI URI already in canonical form. */
export function isMimiUri(value: unknown): value is MimiUri {
  return typeof value === "string" && tryParseMimiUri(value)?.uri === value;
}

/** Builds a canonical MIMI URI from parts; the host is normalised, segments are encoded. */
export function formatMimiUri(parts: MimiUriParts): MimiUri {
  if (!Object.hasOwn(MIMI_URI_TYPES, parts.kind) && parts.kind !== "provider") {
    throw invalid("unknown MIMI URI kind", { kind: String(parts.kind) });
  }
  const host = checkHost(parts.host);
  checkCount(parts.kind, parts.segments.length);
  for (const s of parts.segments) {
    if (typeof s !== "string") throw invalid("segment is not a string");
    checkSegmentValue(s);
  }
  return build(parts.kind, host, parts.segments).uri;
}

export function providerUri(host: string): MimiUri {
  return formatMimiUri({ kind: "provider", host, segments: [] });
}
export function userUri(host: string, user: string): MimiUri {
  return formatMimiUri({ kind: "user", host, segments: [user] });
}
export function deviceUri(host: string, first: string, ...more: string[]): MimiUri {
  return formatMimiUri({ kind: "device", host, segments: [first, ...more] });
}
export function roomUri(host: string, id: string): MimiUri {
  return formatMimiUri({ kind: "room", host, segments: [id] });
}
export function groupUri(host: string, id: string): MimiUri {
  return formatMimiUri({ kind: "group", host, segments: [id] });
}
export function pseudonymUri(host: string, id: string): MimiUri {
  return formatMimiUri({ kind: "pseudonym", host, segments: [id] });
}
export function teamUri(host: string, id: string): MimiUri {
  return formatMimiUri({ kind: "team", host, segments: [id] });
}

/** True if `value` is a valid MIMI URI (any spelling) of the given kind. */
export function isMimiUriOfKind(value: string, kind: MimiUriKind): boolean {
  return tryParseMimiUri(value)?.kind === kind;
}
export function isUserUri(value: string): boolean {
  return isMimiUriOfKind(value, "user");
}
export function isDeviceUri(value: string): boolean {
  return isMimiUriOfKind(value, "device");
}
export function isRoomUri(value: string): boolean {
  return isMimiUriOfKind(value, "room");
}

/** Parses and checks the kind. Throws MIMI_ERR_ID_INVALID_URI or MIMI_ERR_ID_WRONG_KIND. */
export function expectMimiUriKind(value: string, kind: MimiUriKind): ParsedMimiUri {
  const parsed = parseMimiUri(value);
  if (parsed.kind !== kind) {
    throw new MimiError("MIMI_ERR_ID_WRONG_KIND", `expected a ${kind} URI, got a ${parsed.kind} URI`, {
      details: { expected: kind, actual: parsed.kind },
    });
  }
  return parsed;
}

/** The provider and user name of a user URI. */
export function parseUserUri(value: string): { readonly uri: MimiUri; readonly host: string; readonly user: string } {
  const parsed = expectMimiUriKind(value, "user");
  return { uri: parsed.uri, host: parsed.host, user: parsed.segments[0] ?? "" };
}

/** The provider domain (the URI's host) of any MIMI URI. */
export function providerOf(value: string): string {
  return parseMimiUri(value).host;
}
