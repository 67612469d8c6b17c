// Matrix user IDs and their MIMI URIs: native users and ghosts.
//
// User IDs follow the Matrix spec, appendix "Identifier Grammar" (v1.8+):
//   user_id = "@" user_id_localpart ":" server_name
//   user_id_localpart = 1*( DIGIT / %x61-7A / "-" / "." / "=" / "_" / "/" / "+" )
//   server_name = hostname [ ":" port ]      (IPv4, "[" IPv6 "]" or dns-name; port = 1*5DIGIT)
// and at most 255 bytes in total. Server names are case-sensitive (same appendix).
//
// Native users: `@alice:hs.example` ⇔ `mimi://hs.example/u/alice` (DESIGN.md mapping table).
//
// Ghosts: a MIMI user of another provider appears on the homeserver as a user in the appservice's
// exclusive namespace. The ghost grammar (stable: changing it renames every ghost):
//
//   ghost-user-id   = "@" prefix mx-escape( user "@" host ) ":" server_name
//   prefix          = configured, default "_mimi_" (1*user_id_char)
//   user            = the decoded user segment of mimi://host/u/user (any Unicode string)
//   host            = the URI's normalised host (lowercase ASCII, never contains "@")
//
//   mx-escape(s)    = the spec's "Mapping from other character sets", applied to UTF-8(s) byte
//                     by byte:
//                       a-z 0-9 "-" "." "/" "+"   -> themselves
//                       A-Z                       -> "_" + the lowercase letter
//                       "_"                       -> "__"
//                       any other byte (incl. "=", "@", non-ASCII) -> "=" + 2 lowercase hex digits
//
// e.g. mimi://b.example/u/Bob.Smith -> @_mimi__bob._smith=40b.example:hs.example
//
// Reversal: strip the prefix, undo mx-escape, split at the LAST "@" (the host has none). mx-escape
// is injective (each byte has one encoding and the encodings form a prefix code), and the split
// is unambiguous, so distinct (host, user) pairs give distinct ghosts. Only the canonical escape
// is accepted back (for example "=61" instead of "a" is rejected), so ghost ⇔ URI is a bijection.
// The 255-byte limit means very long users have no ghost: matrixGhostFor throws for them.
import { isIP } from "node:net";
import { MimiError } from "../errors.ts";
import { isIpv4, toAsciiDomain } from "./domain.ts";
import { parseUserUri, userUri } from "./mimiUri.ts";
import type { MimiUri } from "./mimiUri.ts";
import { tryUnescapeBytes, utf8Encoder } from "./byteEscape.ts";

/** A syntactically valid Matrix user ID. */
export type MatrixUserId = string & { readonly __brand: "MatrixUserId" };

export interface ParsedMatrixUserId {
  readonly userId: MatrixUserId;
  readonly localpart: string;
  /** The server name exactly as written (case-sensitive, with its port if any). */
  readonly serverName: string;
  readonly hostname: string;
  readonly port: number | undefined;
}

export interface MatrixUserIdOptions {
  /**
   * Accept historical user IDs (spec: "Historical User IDs"): any localpart except ":" and NUL,
   * including the empty one. Needed to read senders of existing rooms; never used to create IDs.
   */
  readonly allowHistorical?: boolean;
}

export interface MatrixGhostOptions {
  /** The homeserver's server name, where the ghosts live. */
  readonly serverName: string;
  /** Localpart prefix of the appservice's exclusive user namespace. Default "_mimi_". */
  readonly prefix?: string;
}

export interface MatrixBridgeIdentity extends MatrixGhostOptions {
  /** The MIMI provider domain of the homeserver's native users. Default: the server name. */
  readonly provider?: string;
}

/** The spec's limit on a whole user ID, sigil and server name included. */
export const MAX_MATRIX_USER_ID_BYTES = 255;
export const DEFAULT_MATRIX_GHOST_PREFIX = "_mimi_";

const LOCALPART = /^[a-z0-9._=\-/+]+$/;
const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV4_SHAPE = /^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;
const PORT = /^[0-9]{1,5}$/;
const MAX_INPUT_LENGTH = 4096;
const HEX = "0123456789abcdef";

function invalid(reason: string, details: Record<string, unknown> = {}): MimiError {
  return new MimiError("MIMI_ERR_ID_INVALID_MATRIX", `not a valid Matrix user ID: ${reason}`, { details: { reason, ...details } });
}

function byteLength(s: string): number {
  return utf8Encoder.encode(s).length;
}

/** True if `localpart` meets the current (v1.8+) user ID localpart grammar. */
export function isValidMatrixLocalpart(localpart: string): boolean {
  return LOCALPART.test(localpart);
}

/** Splits and validates a server name (appendix "Server Name"). Returns undefined if invalid. */
function splitServerName(serverName: string): { hostname: string; port: number | undefined } | undefined {
  let hostname: string;
  let portText: string | undefined;
  if (serverName.startsWith("[")) {
    const close = serverName.indexOf("]");
    if (close < 0) return undefined;
    hostname = serverName.slice(0, close + 1);
    const after = serverName.slice(close + 1);
    if (after !== "" && !after.startsWith(":")) return undefined;
    portText = after === "" ? undefined : after.slice(1);
    const inner = hostname.slice(1, -1);
    // IPv6address = 2*45IPv6char, and it must be a real RFC 3513 §2.2 address.
    if (!IPV6_CHARS.test(inner) || isIP(inner) !== 6) return undefined;
  } else {
    const colon = serverName.indexOf(":");
    hostname = colon < 0 ? serverName : serverName.slice(0, colon);
    portText = colon < 0 ? undefined : serverName.slice(colon + 1);
    if (!DNS_NAME.test(hostname)) return undefined;
    // "IPv4 literals must be a sequence of four decimal numbers in the range 0 to 255".
    if (IPV4_SHAPE.test(hostname) && !isIpv4(hostname)) return undefined;
  }
  if (portText !== undefined && !PORT.test(portText)) return undefined;
  return { hostname, port: portText === undefined ? undefined : Number(portText) };
}

/** Parses a Matrix user ID. Throws MIMI_ERR_ID_INVALID_MATRIX with `details.reason`. */
export function parseMatrixUserId(input: string, options: MatrixUserIdOptions = {}): ParsedMatrixUserId {
  if (typeof input !== "string") throw invalid("not a string");
  if (input.length > MAX_INPUT_LENGTH) throw invalid("input is too long");
  if (!input.isWellFormed()) throw invalid("not well-formed Unicode");
  if (!input.startsWith("@")) throw invalid("missing @ sigil");
  // The localpart cannot contain ":" (in either grammar), so the first ":" ends it.
  const colon = input.indexOf(":");
  if (colon < 0) throw invalid("missing server name");
  const localpart = input.slice(1, colon);
  const serverName = input.slice(colon + 1);
  if (options.allowHistorical === true) {
    // Spec, "Historical User IDs": any code point except ":" and NUL, empty included.
    if (localpart.includes("\u0000")) throw invalid("NUL in localpart");
  } else if (!isValidMatrixLocalpart(localpart)) {
    // MIMI-ID-20: the localpart "MUST NOT be empty, and MUST contain only the characters a-z,
    // 0-9, ., _, =, -, /, and +" (appendix "User Identifiers").
    throw invalid("localpart must be non-empty and use only a-z 0-9 . _ = - / +");
  }
  const server = splitServerName(serverName);
  // MIMI-ID-22: server_name grammar (appendix "Server Name").
  if (server === undefined) throw invalid("server name is not hostname[:port]");
  // MIMI-ID-21: "The length of a user ID, including the @ sigil and the domain, MUST NOT exceed
  // 255 bytes."
  if (byteLength(input) > MAX_MATRIX_USER_ID_BYTES) throw invalid("longer than 255 bytes", { limit: MAX_MATRIX_USER_ID_BYTES });
  return { userId: input as MatrixUserId, localpart, serverName, hostname: server.hostname, port: server.port };
}

/** Formats and validates a (current-grammar) user ID. */
export function formatMatrixUserId(localpart: string, serverName: string): MatrixUserId {
  return parseMatrixUserId(`@${localpart}:${serverName}`).userId;
}

/** True if `input` is a valid current-grammar Matrix user ID. */
export function isMatrixUserId(input: string): input is MatrixUserId {
  try {
    parseMatrixUserId(input);
    return true;
  } catch (err) {
    if (err instanceof MimiError) return false;
    throw err;
  }
}

// ---- native users ----------------------------------------------------------------------------

/** The MIMI host of a server name without port; undefined for IPv6 literals or a port. */
function mimiHostOfServerName(serverName: string): string | undefined {
  const server = splitServerName(serverName);
  if (server === undefined || server.port !== undefined || server.hostname.startsWith("[")) return undefined;
  return toAsciiDomain(server.hostname);
}

/**
 * `@alice:hs.example` → `mimi://hs.example/u/alice`: a Matrix user ID read as an SSI. The server
 * name must be a MIMI host: a port or an IPv6 literal gives MIMI_ERR_ID_UNSUPPORTED.
 */
export function mimiUriFromMatrixUserId(userId: string): MimiUri {
  const parsed = parseMatrixUserId(userId);
  const host = mimiHostOfServerName(parsed.serverName);
  if (host === undefined) {
    throw new MimiError("MIMI_ERR_ID_UNSUPPORTED", "a Matrix server name with a port or an IPv6 literal has no MIMI provider", {
      details: { serverName: parsed.serverName },
    });
  }
  return userUri(host, parsed.localpart);
}

/** `mimi://hs.example/u/alice` → `@alice:hs.example`; the user must be a valid localpart. */
export function matrixUserIdFromMimiUri(uri: string): MatrixUserId {
  const { host, user } = parseUserUri(uri);
  if (!isValidMatrixLocalpart(user)) throw invalid("MIMI user name is not a valid Matrix localpart");
  return formatMatrixUserId(user, host);
}

// ---- the character mapping ---------------------------------------------------------------------

/**
 * The Matrix spec's suggested "Mapping from other character sets" (appendix, User Identifiers):
 * UTF-8, `_` → `__`, A-Z → `_` + lowercase, bytes outside a-z 0-9 - . / + (and `=`) → `=xx`.
 * Total and injective on well-formed strings; throws MIMI_ERR_ID_INVALID_MATRIX for lone surrogates.
 */
export function escapeMatrixLocalpart(value: string): string {
  if (!value.isWellFormed()) throw invalid("cannot map a string with lone surrogates");
  let out = "";
  for (const b of utf8Encoder.encode(value)) {
    if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x2f || b === 0x2b) {
      out += String.fromCharCode(b);
    } else if (b >= 0x41 && b <= 0x5a) {
      out += `_${String.fromCharCode(b + 0x20)}`;
    } else if (b === 0x5f) {
      out += "__";
    } else {
      out += `=${HEX[b >> 4] ?? ""}${HEX[b & 15] ?? ""}`;
    }
  }
  return out;
}

function tryUnescapeMatrix(escaped: string): string | undefined {
  return tryUnescapeBytes(escaped, (c) => (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x2f || c === 0x2b, escapeMatrixLocalpart);
}

/** Inverse of escapeMatrixLocalpart. Throws MIMI_ERR_ID_INVALID_MATRIX on a non-canonical escape. */
export function unescapeMatrixLocalpart(escaped: string): string {
  const value = tryUnescapeMatrix(escaped);
  if (value === undefined) throw invalid("not a canonical escaped localpart");
  return value;
}

// ---- ghosts --------------------------------------------------------------------------------------

function ghostSettings(options: MatrixGhostOptions): { serverName: string; prefix: string } {
  const prefix = options.prefix ?? DEFAULT_MATRIX_GHOST_PREFIX;
  if (!isValidMatrixLocalpart(prefix)) {
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", "Matrix ghost prefix must be a non-empty localpart (a-z 0-9 . _ = - / +)", {
      details: { prefix },
    });
  }
  if (splitServerName(options.serverName) === undefined) {
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", "Matrix server name is not hostname[:port]", { details: { serverName: options.serverName } });
  }
  return { serverName: options.serverName, prefix };
}

/** The ghost user ID of a MIMI user (see the grammar at the top of this file). */
export function matrixGhostFor(uri: string, options: MatrixGhostOptions): MatrixUserId {
  const { serverName, prefix } = ghostSettings(options);
  const { host, user } = parseUserUri(uri);
  // MIMI-ID-23: reversible, injective composition of host and user, in localpart characters.
  const userId = `@${prefix}${escapeMatrixLocalpart(`${user}@${host}`)}:${serverName}`;
  if (byteLength(userId) > MAX_MATRIX_USER_ID_BYTES) {
    // MIMI-ID-21 again: there is no way to name this user within 255 bytes without a lookup table.
    throw invalid("ghost user ID would be longer than 255 bytes", { limit: MAX_MATRIX_USER_ID_BYTES, uri });
  }
  return userId as MatrixUserId;
}

/**
 * The MIMI user a ghost stands for. Returns undefined when `userId` is not in the ghost namespace
 * (other server, or localpart without the prefix); throws MIMI_ERR_ID_NOT_A_GHOST when it is in
 * the namespace but is not a canonical ghost, and MIMI_ERR_ID_INVALID_MATRIX when it is not a
 * user ID at all.
 */
export function parseMatrixGhost(userId: string, options: MatrixGhostOptions): MimiUri | undefined {
  const { serverName, prefix } = ghostSettings(options);
  // Historical IDs are read so that e.g. an uppercase ghost-looking ID is reported as "not a
  // ghost" rather than as a broken user ID.
  const parsed = parseMatrixUserId(userId, { allowHistorical: true });
  if (parsed.serverName !== serverName || !parsed.localpart.startsWith(prefix)) return undefined;
  // MIMI-ID-24: in the namespace, so it must be a valid ghost.
  const notAGhost = (reason: string, cause?: unknown): MimiError =>
    new MimiError("MIMI_ERR_ID_NOT_A_GHOST", `not a ghost of this bridge: ${reason}`, {
      details: { reason, userId },
      ...(cause === undefined ? {} : { cause }),
    });
  const decoded = tryUnescapeMatrix(parsed.localpart.slice(prefix.length));
  if (decoded === undefined) throw notAGhost("localpart is not a canonical escape");
  const at = decoded.lastIndexOf("@");
  if (at < 0) throw notAGhost("no provider in the ghost name");
  const host = decoded.slice(at + 1);
  if (toAsciiDomain(host) !== host) throw notAGhost("provider is not a normalised domain");
  let uri: MimiUri;
  try {
    uri = userUri(host, decoded.slice(0, at));
  } catch (err) {
    throw notAGhost("user is not a valid MIMI user name", err);
  }
  return uri;
}

/**
 * A regular expression for the appservice registration's exclusive `users` namespace
 * (application service API, "Registration"): every ghost, and nothing but ghosts' prefix.
 */
export function matrixGhostNamespaceRegex(options: MatrixGhostOptions): string {
  const { serverName, prefix } = ghostSettings(options);
  const quote = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
  return `^@${quote(prefix)}[a-z0-9._=\\-/+]+:${quote(serverName)}$`;
}

// ---- the adapter's view: native users and ghosts together ----------------------------------------

function providerOfBridge(identity: MatrixBridgeIdentity): string {
  const provider = identity.provider === undefined ? mimiHostOfServerName(identity.serverName) : toAsciiDomain(identity.provider);
  if (provider === undefined) {
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", "set a MIMI provider domain for this homeserver (its server name is not one)", {
      details: { serverName: identity.serverName },
    });
  }
  return provider;
}

/** Native Matrix user for a URI of our provider, ghost for any other provider. */
export function mimiUriToMatrixUser(uri: string, identity: MatrixBridgeIdentity): MatrixUserId {
  const provider = providerOfBridge(identity);
  const { host, user } = parseUserUri(uri);
  if (host !== provider) return matrixGhostFor(uri, identity);
  if (!isValidMatrixLocalpart(user)) throw invalid("local MIMI user name is not a valid Matrix localpart");
  return formatMatrixUserId(user, identity.serverName);
}

/**
 * The MIMI user behind a user ID of our homeserver: a ghost's remote user, or a native user of
 * our provider. Users of other homeservers give MIMI_ERR_ID_UNSUPPORTED (they are not ours).
 */
export function matrixUserToMimiUri(userId: string, identity: MatrixBridgeIdentity): MimiUri {
  const provider = providerOfBridge(identity);
  const ghost = parseMatrixGhost(userId, identity);
  if (ghost !== undefined) return ghost;
  const parsed = parseMatrixUserId(userId);
  if (parsed.serverName !== identity.serverName) {
    throw new MimiError("MIMI_ERR_ID_UNSUPPORTED", "user of another homeserver", { details: { serverName: parsed.serverName } });
  }
  return userUri(provider, parsed.localpart);
}
