// Service-independent identifiers (SIIs; draft-party-mimi-user-private-discovery, called CSIs in
// the discovery requirements draft): E.164 telephone numbers as tel: URIs and e-mail addresses as
// mailto: URIs. They are resolved to a MIMI user URI by discovery; here we only parse and normalise
// them so that equal identifiers compare equal (protocol-06 identifierQuery: `phone` = E.164 with
// "+", `email` = RFC 5322 addr-spec, both matched exactly).
import { MimiError } from "../errors.ts";
import { toAsciiDomain } from "./domain.ts";

/** A tel: URI in canonical form: `tel:+` followed by 1 to 15 digits. */
export type TelUri = string & { readonly __brand: "TelUri" };
/** A mailto: URI with exactly one addr-spec, in canonical form. */
export type MailtoUri = string & { readonly __brand: "MailtoUri" };

export interface ParsedTelUri {
  readonly uri: TelUri;
  /** The number in E.164 form with its "+": "+15551234567". */
  readonly e164: string;
}

export interface ParsedMailtoUri {
  readonly uri: MailtoUri;
  /** The addr-spec (RFC 5322 §3.4.1): `localPart@domain`, local part case kept. */
  readonly addrSpec: string;
  /** The local part as written in the addr-spec (a dot-atom, or a quoted-string if it must be). */
  readonly localPart: string;
  /** The domain, lowercase ASCII (A-labels). */
  readonly domain: string;
}

const MAX_INPUT_LENGTH = 4096;
/** ITU-T E.164 §6: at most 15 digits including the country code. */
export const MAX_E164_DIGITS = 15;
/** RFC 5321 §4.5.3.1.1 and §4.5.3.1.3: local part 64 octets, path 256 octets (254 for the address). */
export const MAX_LOCAL_PART_OCTETS = 64;
export const MAX_ADDR_SPEC_OCTETS = 254;

function badTel(reason: string): MimiError {
  return new MimiError("MIMI_ERR_ID_INVALID_TEL", `not a valid E.164 tel: URI: ${reason}`, { details: { reason } });
}
function badMailto(reason: string): MimiError {
  return new MimiError("MIMI_ERR_ID_INVALID_MAILTO", `not a valid mailto: URI: ${reason}`, { details: { reason } });
}

function checkInput(input: string, fail: (reason: string) => MimiError): void {
  if (typeof input !== "string") throw fail("not a string");
  if (input.length > MAX_INPUT_LENGTH) throw fail("input is too long");
  if (!input.isWellFormed()) throw fail("input is not well-formed Unicode");
}

// ---- tel: (RFC 3966) -------------------------------------------------------------------------

/**
 * Normalises the number part of a global tel: URI ("+1-555-123-4567" → "+15551234567").
 * MIMI-ID-10: RFC 3966 §3 global-number-digits = "+" *phonedigit DIGIT *phonedigit, where
 * phonedigit = DIGIT / visual-separator ("-" "." "(" ")"); §4 compares numbers with visual
 * separators removed, so the canonical form drops them.
 */
function normaliseGlobalNumber(body: string): string {
  // RFC 3966 §5.1.5: a local number MUST carry phone-context; we do not accept local numbers at
  // all (an SII must be globally unique), so a missing "+" is an error, not a context lookup.
  if (!body.startsWith("+")) throw badTel("not a global number (must start with +)");
  // MIMI-ID-10: we accept no parameters (ext, isub, phone-context or any other): an SII names a
  // subscriber, and a parameter would make equal numbers compare unequal.
  if (body.includes(";")) throw badTel("parameters are not allowed");
  let digits = "";
  for (const c of body.slice(1)) {
    if (c >= "0" && c <= "9") digits += c;
    else if (c !== "-" && c !== "." && c !== "(" && c !== ")") throw badTel("only digits and visual separators are allowed");
  }
  if (digits.length === 0) throw badTel("no digits");
  if (digits.length > MAX_E164_DIGITS) throw badTel(`more than ${MAX_E164_DIGITS} digits`);
  // RFC 3966 §5.1.4: global numbers MUST be composed with the country code (E.164), and no
  // country code starts with 0.
  if (digits.startsWith("0")) throw badTel("country code cannot start with 0");
  return `+${digits}`;
}

/** Parses a `tel:` URI holding a global E.164 number. Throws MIMI_ERR_ID_INVALID_TEL. */
export function parseTelUri(input: string): ParsedTelUri {
  checkInput(input, badTel);
  // RFC 3966 §3 via RFC 3986 §3.1: the scheme is case-insensitive.
  if (input.slice(0, 4).toLowerCase() !== "tel:") throw badTel("scheme is not tel");
  const e164 = normaliseGlobalNumber(input.slice(4));
  return { uri: `tel:${e164}` as TelUri, e164 };
}

/** The tel: URI for a number written as "+15551234567" (visual separators allowed). */
export function formatTelUri(number: string): TelUri {
  checkInput(number, badTel);
  return `tel:${normaliseGlobalNumber(number)}` as TelUri;
}

// ---- mailto: (RFC 6068) with one RFC 5322 addr-spec --------------------------------------------

const HEX = "0123456789ABCDEF";
// RFC 5322 §3.2.3 atext, extended with any non-ASCII character by RFC 6532 §3.2.
const ATEXT_ASCII = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]$/;
// Octets written unencoded in the canonical mailto: form: RFC 3986 unreserved plus the sub-delims
// that RFC 6068 §2 lets appear in `to` and that are common in addresses. Everything else,
// including "%", "&", "/", "?", "#", ",", "@" inside the local part and '"', is percent-encoded.
const MAILTO_RAW = new Uint8Array(128);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$'()*+;=") MAILTO_RAW[c.charCodeAt(0)] = 1;
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

function isAtext(c: string): boolean {
  return (c.codePointAt(0) ?? 0) >= 0x80 ? !/[\p{Cc}\p{Cf}\p{Z}]/u.test(c) : ATEXT_ASCII.test(c);
}

function isDotAtomText(s: string): boolean {
  if (s.length === 0) return false;
  return s.split(".").every((part) => part.length > 0 && [...part].every(isAtext));
}

function percentDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code === 0x25) {
      const pair = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(pair)) throw badMailto("malformed percent-encoding");
      bytes.push(Number.parseInt(pair, 16));
      i += 2;
    } else if (code < 0x80) {
      bytes.push(code);
    } else {
      const cp = s.codePointAt(i) ?? 0;
      const char = String.fromCodePoint(cp);
      for (const b of utf8Encoder.encode(char)) bytes.push(b);
      i += char.length - 1;
    }
  }
  try {
    return utf8Decoder.decode(new Uint8Array(bytes));
  } catch (cause) {
    throw new MimiError("MIMI_ERR_ID_INVALID_MAILTO", "not a valid mailto: URI: not UTF-8", { cause, details: { reason: "not UTF-8" } });
  }
}

function percentEncode(s: string): string {
  let out = "";
  for (const b of utf8Encoder.encode(s)) {
    out += b < 0x80 && MAILTO_RAW[b] === 1 ? String.fromCharCode(b) : `%${HEX[b >> 4] ?? ""}${HEX[b & 15] ?? ""}`;
  }
  return out;
}

/**
 * Splits an addr-spec into its local part's value and the domain. Supports dot-atom and
 * quoted-string local parts (RFC 5322 §3.4.1, §3.2.4) and UTF-8 (RFC 6532); not comments, folding
 * white space, obsolete forms or domain literals.
 */
function splitAddrSpec(addr: string): { value: string; domain: string } {
  let value: string;
  let rest: string;
  if (addr.startsWith('"')) {
    value = "";
    let i = 1;
    for (;;) {
      const c = addr[i];
      if (c === undefined) throw badMailto("unterminated quoted local part");
      if (c === '"') break;
      if (c === "\\") {
        // RFC 5322 §3.2.1 quoted-pair = "\" (VCHAR / WSP); a quoted HTAB is refused like a raw
        // one (below), so that the canonical spelling parses back to the same value.
        const next = addr[i + 1];
        if (next === undefined || !/^[\x20-\x7e]$/.test(next)) throw badMailto("bad quoted-pair");
        value += next;
        i += 2;
        continue;
      }
      // RFC 5322 §3.2.4 qtext (plus the space of FWS), RFC 6532 §3.2 UTF-8.
      const cp = addr.codePointAt(i) ?? 0;
      if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && /[\p{Cc}\p{Cf}]/u.test(String.fromCodePoint(cp)))) {
        throw badMailto("control character in quoted local part");
      }
      const char = String.fromCodePoint(cp);
      value += char;
      i += char.length;
    }
    rest = addr.slice(i + 1);
    if (!rest.startsWith("@")) throw badMailto("quoted local part must be followed by @");
  } else {
    const at = addr.lastIndexOf("@");
    if (at < 0) throw badMailto("no @ in address");
    value = addr.slice(0, at);
    rest = addr.slice(at);
    if (!isDotAtomText(value)) throw badMailto("local part is not a dot-atom");
  }
  const domainText = rest.slice(1);
  if (domainText.startsWith("[")) throw badMailto("domain literals are not supported");
  const domain = toAsciiDomain(domainText);
  if (domain === undefined || !/[a-z]/.test(domain.split(".").pop() ?? "")) throw badMailto("domain is not a valid domain name");
  return { value, domain };
}

/** The local part spelled canonically: bare if it is a dot-atom, else quoted with minimal escapes. */
function canonicalLocalPart(value: string): string {
  if (isDotAtomText(value)) return value;
  return `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

function normaliseAddrSpec(addr: string): ParsedMailtoUri {
  const { value, domain } = splitAddrSpec(addr);
  if (value.length === 0) throw badMailto("empty local part");
  const localPart = canonicalLocalPart(value);
  // MIMI-ID-11: RFC 5321 §2.4, the local part MUST be interpreted only by the host of the domain,
  // so its case is kept; the domain is case-insensitive (RFC 5321 §2.4) and gets the
  // lowercase A-label form.
  if (utf8Encoder.encode(localPart).length > MAX_LOCAL_PART_OCTETS) throw badMailto("local part is too long");
  const addrSpec = `${localPart}@${domain}`;
  if (utf8Encoder.encode(addrSpec).length > MAX_ADDR_SPEC_OCTETS) throw badMailto("address is too long");
  return { uri: `mailto:${percentEncode(localPart)}@${domain}` as MailtoUri, addrSpec, localPart, domain };
}

/** Parses a `mailto:` URI with exactly one addr-spec. Throws MIMI_ERR_ID_INVALID_MAILTO. */
export function parseMailtoUri(input: string): ParsedMailtoUri {
  checkInput(input, badMailto);
  if (input.slice(0, 7).toLowerCase() !== "mailto:") throw badMailto("scheme is not mailto");
  const to = input.slice(7);
  // MIMI-ID-11: RFC 6068 §2, hfields follow "?" and addresses are separated by ","; an SII is one
  // address with nothing else, so both are rejected rather than dropped silently.
  if (to.includes("?")) throw badMailto("header fields are not allowed");
  if (to.includes("#")) throw badMailto("fragment not allowed");
  if (to.includes(",")) throw badMailto("more than one address");
  if (to.length === 0) throw badMailto("no address");
  // RFC 6068 §2: characters not allowed in URIs appear percent-encoded; decode before parsing
  // the addr-spec (XEP-0106 §4.2 step 1 gives the same rule for address transformations).
  if (/[\s"<>\\^`{|}]/.test(to)) throw badMailto("character must be percent-encoded");
  return normaliseAddrSpec(percentDecode(to));
}

/** The canonical mailto: URI of a bare addr-spec ("Alice@Example.COM" → "mailto:Alice@example.com"). */
export function formatMailtoUri(addrSpec: string): MailtoUri {
  checkInput(addrSpec, badMailto);
  return normaliseAddrSpec(addrSpec).uri;
}
