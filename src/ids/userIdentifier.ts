// "A user typed an identifier": one entry point that recognises every form the seed's naming
// question (Q2) lists and returns either an SSI already mapped to a MIMI user URI or an SII that
// still needs discovery (draft-party-mimi-user-private-discovery: SSI = service-specific,
// SII = service-independent identifier).
//
// Recognised forms, tried in this order on the input with surrounding white space removed:
//
//   "@" …                     Matrix user ID            @bob:b.example          → ssi, form "matrix"
//   mimi:…                    MIMI URI (user or pseudonym)  mimi://b.example/u/bob → ssi, form "mimi"
//   matrix:u/…                Matrix URI (spec appendix "Matrix URI scheme")    → ssi, form "matrix"
//   xmpp:…                    XMPP URI, bare JID only (RFC 5122 §2)             → ssi, form "xmpp"
//   tel:…                     global E.164 number (RFC 3966)                    → sii, "tel"
//   mailto:…                  one e-mail address (RFC 6068)                     → sii, "mailto"
//   "+" digits                a bare E.164 number, read as tel:                 → sii, "tel"
//   local "@" domain          bare JID (default) or e-mail (defaultForm "mailto")
//
// The ambiguity: `bob@b.example` is both a bare JID and an e-mail address. MIMI-ID-40: it is read
// as an XMPP SSI (DESIGN.md lists `bob@b.example` among the SSIs that "work directly"); an e-mail
// address must be written `mailto:bob@b.example`. A deployment whose users mostly type e-mail
// addresses can flip that default with `defaultForm: "mailto"`. Anything else (a bare name, other
// URI schemes, full JIDs or device URIs, which name a client rather than a user) is refused with
// MIMI_ERR_ID_UNSUPPORTED or MIMI_ERR_ID_WRONG_KIND.
import { MimiError } from "../errors.ts";
import { mimiUriFromJid, parseJid } from "./jid.ts";
import { mimiUriFromMatrixUserId } from "./matrix.ts";
import { parseMimiUri } from "./mimiUri.ts";
import type { MimiUri } from "./mimiUri.ts";
import { formatTelUri, parseMailtoUri, parseTelUri, formatMailtoUri } from "./sii.ts";
import type { MailtoUri, TelUri } from "./sii.ts";

export type UserIdentifier =
  | { readonly kind: "ssi"; readonly uri: MimiUri; readonly form: "mimi" | "matrix" | "xmpp" }
  | { readonly kind: "sii"; readonly scheme: "tel"; readonly uri: TelUri }
  | { readonly kind: "sii"; readonly scheme: "mailto"; readonly uri: MailtoUri };

export interface ParseUserIdentifierOptions {
  /** How to read a bare `local@domain`: as an XMPP bare JID (default) or an e-mail address. */
  readonly defaultForm?: "xmpp" | "mailto";
}

const MAX_INPUT_LENGTH = 8192;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

function unsupported(reason: string, details: Record<string, unknown> = {}): MimiError {
  return new MimiError("MIMI_ERR_ID_UNSUPPORTED", `identifier form is not supported: ${reason}`, { details: { reason, ...details } });
}

function wrongKind(reason: string): MimiError {
  return new MimiError("MIMI_ERR_ID_WRONG_KIND", `not a user identifier: ${reason}`, { details: { reason } });
}

function fromMimi(text: string): UserIdentifier {
  const parsed = parseMimiUri(text);
  // identity-05: pseudonyms name users too ("or under /u/, as local policy decides").
  if (parsed.kind !== "user" && parsed.kind !== "pseudonym") throw wrongKind(`a ${parsed.kind} URI does not name a user`);
  return { kind: "ssi", uri: parsed.uri, form: "mimi" };
}

function fromBareJid(text: string): UserIdentifier {
  const jid = parseJid(text);
  if (jid.resourcepart !== undefined) throw wrongKind("a full JID names a client; leave out the /resource");
  return { kind: "ssi", uri: mimiUriFromJid(jid), form: "xmpp" };
}

function fromXmppUri(rest: string): UserIdentifier {
  // RFC 5122 §2.2: xmpp:[//authority/]path[?query][#fragment]; we take the plain path form.
  if (rest.startsWith("//") || rest.includes("?") || rest.includes("#")) throw unsupported("xmpp: URI with authority, query or fragment");
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_ID_INVALID_JID", "not a valid XMPP JID: malformed percent-encoding", { cause, details: { reason: "malformed percent-encoding" } });
  }
  return fromBareJid(decoded);
}

function fromMatrixUri(rest: string): UserIdentifier {
  // Matrix spec appendix "Matrix URI scheme": matrix:u/{user id without sigil}[?query]; the
  // query (action=chat, via=…) only carries hints, which a typed identifier does not need.
  const path = rest.split(/[?#]/, 1)[0] ?? "";
  if (!path.startsWith("u/")) throw unsupported("only matrix:u/… URIs name users");
  let decoded: string;
  try {
    decoded = decodeURIComponent(path.slice(2));
  } catch (cause) {
    throw new MimiError("MIMI_ERR_ID_INVALID_MATRIX", "not a valid Matrix user ID: malformed percent-encoding", { cause, details: { reason: "malformed percent-encoding" } });
  }
  return { kind: "ssi", uri: mimiUriFromMatrixUserId(`@${decoded}`), form: "matrix" };
}

/**
 * Recognises a user identifier typed by a person (see the table at the top of this file).
 * Throws only MimiError: MIMI_ERR_ID_UNSUPPORTED for unknown forms, MIMI_ERR_ID_WRONG_KIND for
 * identifiers of something other than a user, and the parser's own code (MIMI_ERR_ID_INVALID_*)
 * for a recognised form that is malformed.
 */
export function parseUserIdentifier(input: string, options: ParseUserIdentifierOptions = {}): UserIdentifier {
  if (typeof input !== "string") throw unsupported("not a string");
  if (input.length > MAX_INPUT_LENGTH) throw unsupported("input is too long");
  const text = input.trim();
  if (text.length === 0) throw unsupported("empty input");

  if (text.startsWith("@")) return { kind: "ssi", uri: mimiUriFromMatrixUserId(text), form: "matrix" };

  // A JID localpart cannot contain ":" (RFC 7622 §3.3.1) and a Matrix ID starts with "@", so a
  // scheme-like prefix before any "@" can only be a URI scheme.
  const scheme = SCHEME.exec(text)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    const rest = text.slice(scheme.length + 1);
    switch (scheme) {
      case "mimi":
        return fromMimi(text);
      case "tel":
        return { kind: "sii", scheme: "tel", uri: parseTelUri(text).uri };
      case "mailto":
        return { kind: "sii", scheme: "mailto", uri: parseMailtoUri(text).uri };
      case "xmpp":
        return fromXmppUri(rest);
      case "matrix":
        return fromMatrixUri(rest);
      default:
        throw unsupported(`URI scheme ${scheme.slice(0, 32)}`, { scheme: scheme.slice(0, 32) });
    }
  }

  if (text.startsWith("+")) return { kind: "sii", scheme: "tel", uri: formatTelUri(text) };

  if (text.includes("@")) {
    if (options.defaultForm === "mailto") return { kind: "sii", scheme: "mailto", uri: formatMailtoUri(text) };
    return fromBareJid(text);
  }

  throw unsupported("expected mimi://…, @user:server, user@domain, tel:+… or mailto:…");
}
