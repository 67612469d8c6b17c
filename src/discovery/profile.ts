// A local user's discovery profile and searchability (draft-ietf-mimi-protocol-06 §5.8 "Find
// internal address"), as pure values: validation of what a user sets, and the searchable view the
// identifierQuery engine (match.ts) compares query elements against.
//
// The profile: the handle (the user's MIMI URI, fixed), nicknames, display names, an e-mail
// address, a phone number, OpenID Connect standard claims (OIDC Core §5.1) and vCard properties
// (RFC 6350). Searchability is one of the draft's three examples (Xavier, Yolanda, Zach):
//   name   – found by name, nick, e-mail, phone, profile fields and handle;
//   handle – found only by an exact handle search;
//   none   – never found, "even an exact handle search returns no results".
import { MimiError } from "../errors.ts";
import { formatMailtoUri, formatTelUri, parseMailtoUri, parseTelUri } from "../ids/index.ts";

export const SEARCHABILITY = ["name", "handle", "none"] as const;
export type Searchability = (typeof SEARCHABILITY)[number];

export function isSearchability(v: unknown): v is Searchability {
  return typeof v === "string" && (SEARCHABILITY as readonly string[]).includes(v);
}

/**
 * MIMI-DISC-CHOICE-06: OIDC Core §5.1 UserInfo standard claims a profile may hold and a query may search
 * (`oidcStdClaim`). `email` and `phone_number` are derived from the profile's e-mail and phone and
 * cannot be set as claims. Other standard claims (address, birthdate, gender, picture, *_verified,
 * updated_at) are not supported: a query on them answers `unsupportedField` (MIMI-DISC-04).
 */
export const OIDC_SETTABLE_CLAIMS = ["name", "given_name", "family_name", "middle_name", "nickname", "preferred_username", "profile", "website", "locale", "zoneinfo"] as const;
export const OIDC_SEARCHABLE_CLAIMS: readonly string[] = [...OIDC_SETTABLE_CLAIMS, "email", "phone_number"];
/** OIDC claims that hold a (part of a) person's name: what `partialName` searches. */
const OIDC_NAME_CLAIMS = ["name", "given_name", "family_name", "middle_name", "nickname"];

/**
 * vCard properties (RFC 6350 §6, IANA "vCard Properties") a profile may hold and a query may search
 * (`vcardField`). EMAIL and TEL are derived from the profile's e-mail and phone. Names are
 * case-insensitive (RFC 6350 §3.3) and kept uppercase.
 */
export const VCARD_SETTABLE_PROPERTIES = ["FN", "N", "NICKNAME", "ORG", "TITLE", "ROLE", "URL", "NOTE", "LANG", "TZ"] as const;
export const VCARD_SEARCHABLE_PROPERTIES: readonly string[] = [...VCARD_SETTABLE_PROPERTIES, "EMAIL", "TEL"];
const VCARD_NAME_PROPERTIES = ["FN", "N", "NICKNAME"];

export const PROFILE_LIMITS = { displayNames: 4, nicks: 8, textChars: 256, nickChars: 64, fields: 16 } as const;

/** What is stored per user (`discovery` namespace, `profile/<name>`). */
export interface StoredProfile {
  displayNames: string[];
  nicks: string[];
  /** RFC 5322 addr-spec, canonical (domain lowercase). */
  email?: string;
  /** E.164 with "+". */
  phone?: string;
  oidc: Record<string, string>;
  vcard: Record<string, string>;
  /** Absent: the provider's discovery.defaultSearchability applies. */
  searchability?: Searchability;
  updatedAt: number;
}

/** A user's profile as the client API shows it. */
export interface Profile {
  readonly userUri: string;
  readonly name: string;
  readonly displayNames: readonly string[];
  readonly nicks: readonly string[];
  readonly email?: string;
  readonly phone?: string;
  readonly oidc: Readonly<Record<string, string>>;
  readonly vcard: Readonly<Record<string, string>>;
  readonly searchability: Searchability;
  /** Whether searchability is the user's own choice (false: the provider default). */
  readonly searchabilityChosen: boolean;
}

/** A change to a profile: absent fields stay, `null` clears e-mail or phone. */
export interface ProfileChange {
  displayNames?: readonly string[];
  nicks?: readonly string[];
  email?: string | null;
  phone?: string | null;
  oidc?: Readonly<Record<string, string>>;
  vcard?: Readonly<Record<string, string>>;
  searchability?: Searchability;
}

const PROFILE_FIELDS: readonly string[] = ["displayNames", "nicks", "email", "phone", "oidc", "vcard", "searchability"];

export function emptyProfile(): StoredProfile {
  return { displayNames: [], nicks: [], oidc: {}, vcard: {}, updatedAt: 0 };
}

function bad(message: string): MimiError {
  return new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", message);
}

// Control characters, format characters and line/paragraph separators have no place in names.
const BAD_TEXT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

function text(value: unknown, what: string, max: number): string {
  if (typeof value !== "string") throw bad(`${what} must be a string`);
  const v = value.normalize("NFC").trim();
  if (v.length === 0 || v.length > max) throw bad(`${what} must be 1 to ${max} characters`);
  if (!v.isWellFormed() || BAD_TEXT.test(v)) throw bad(`${what} contains control or format characters`);
  return v;
}

function textList(value: unknown, what: string, maxItems: number, maxChars: number, noSpace = false): string[] {
  if (!Array.isArray(value) || value.length > maxItems) throw bad(`${what} must be a list of at most ${maxItems} strings`);
  const out: string[] = [];
  for (const [i, v] of value.entries()) {
    const t = text(v, `${what}[${i}]`, maxChars);
    if (noSpace && /\s/u.test(t)) throw bad(`${what}[${i}] must not contain white space`);
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

function fieldMap(value: unknown, what: string, allowed: readonly string[], upper: boolean): Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw bad(`${what} must be an object`);
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > PROFILE_LIMITS.fields) throw bad(`${what} may hold at most ${PROFILE_LIMITS.fields} fields`);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    const key = upper ? k.toUpperCase() : k;
    if (!allowed.includes(key)) throw bad(`${what}.${k} is not supported; use one of ${allowed.join(", ")}`);
    if (v === "") continue;
    out[key] = text(v, `${what}.${k}`, PROFILE_LIMITS.textChars);
  }
  return out;
}

/** The canonical addr-spec of an e-mail address (bare or mailto:), or undefined if it is none. */
export function canonicalEmail(value: string): string | undefined {
  try {
    return value.slice(0, 7).toLowerCase() === "mailto:" ? parseMailtoUri(value).addrSpec : parseMailtoUri(formatMailtoUri(value)).addrSpec;
  } catch {
    return undefined;
  }
}

/** The E.164 form ("+15551234567") of a phone number (bare or tel:), or undefined if it is none. */
export function canonicalPhone(input: string): string | undefined {
  // People type spaces between digit groups; RFC 3966 has none, so they are dropped like the
  // visual separators "-", ".", "(", ")".
  const value = input.replace(/[\s\u00a0]+/g, "");
  try {
    return value.slice(0, 4).toLowerCase() === "tel:" ? parseTelUri(value).e164 : parseTelUri(formatTelUri(value)).e164;
  } catch {
    return undefined;
  }
}

/** Applies a change to a stored profile after validating every field (MIMI_ERR_CLIENT_BAD_REQUEST). */
export function applyProfileChange(current: StoredProfile, change: ProfileChange, now: number): StoredProfile {
  if (change === null || typeof change !== "object") throw bad("the profile change must be an object");
  const unknown = Object.keys(change).filter((k) => !PROFILE_FIELDS.includes(k));
  if (unknown.length > 0) throw bad(`unknown profile field ${unknown[0]?.slice(0, 64) ?? ""}; the fields are ${PROFILE_FIELDS.join(", ")}`);
  const next: StoredProfile = { ...current, oidc: { ...current.oidc }, vcard: { ...current.vcard }, updatedAt: now };
  if (change.displayNames !== undefined) next.displayNames = textList(change.displayNames, "displayNames", PROFILE_LIMITS.displayNames, PROFILE_LIMITS.textChars);
  if (change.nicks !== undefined) next.nicks = textList(change.nicks, "nicks", PROFILE_LIMITS.nicks, PROFILE_LIMITS.nickChars, true);
  if (change.email === null) delete next.email;
  else if (change.email !== undefined) {
    const email = typeof change.email === "string" ? canonicalEmail(change.email.trim()) : undefined;
    if (email === undefined) throw bad("email must be an e-mail address (addr-spec or mailto:)");
    next.email = email;
  }
  if (change.phone === null) delete next.phone;
  else if (change.phone !== undefined) {
    const phone = typeof change.phone === "string" ? canonicalPhone(change.phone.trim()) : undefined;
    if (phone === undefined) throw bad("phone must be an E.164 number with + (or a tel: URI)");
    next.phone = phone;
  }
  if (change.oidc !== undefined) next.oidc = fieldMap(change.oidc, "oidc", OIDC_SETTABLE_CLAIMS, false);
  if (change.vcard !== undefined) next.vcard = fieldMap(change.vcard, "vcard", VCARD_SETTABLE_PROPERTIES, true);
  if (change.searchability !== undefined) {
    if (!isSearchability(change.searchability)) throw bad(`searchability must be one of ${SEARCHABILITY.join(", ")}`);
    next.searchability = change.searchability;
  }
  return next;
}

/** What identifierQuery compares against: every searchable value of one user. */
export interface SearchView {
  readonly userUri: string;
  /** Exact handle forms: the MIMI URI and the im: form of the draft's example. */
  readonly handles: readonly string[];
  /** The user part of the handle and the user's nicknames (exact). */
  readonly nicks: readonly string[];
  readonly email: string | undefined;
  readonly phone: string | undefined;
  /** Fields holding the user's name (partialName). */
  readonly names: readonly string[];
  /** OIDC claim → values (derived ones included). */
  readonly oidc: ReadonlyMap<string, readonly string[]>;
  /** vCard property (uppercase) → values (derived ones included). */
  readonly vcard: ReadonlyMap<string, readonly string[]>;
  /** Every searchable value (wholeProfile). */
  readonly all: readonly string[];
  readonly searchability: Searchability;
}

function push(map: Map<string, string[]>, key: string, value: string | undefined): void {
  if (value === undefined || value === "") return;
  const list = map.get(key) ?? [];
  if (!list.includes(value)) list.push(value);
  map.set(key, list);
}

/** The searchable view of a stored profile of user `name` on `domain`. */
export function searchView(domain: string, name: string, userUri: string, p: StoredProfile, defaultSearchability: Searchability): SearchView {
  const nicks = [name, ...p.nicks.filter((n) => n !== name)];
  const oidc = new Map<string, string[]>();
  for (const [k, v] of Object.entries(p.oidc)) push(oidc, k, v);
  for (const n of p.displayNames) push(oidc, "name", n);
  push(oidc, "preferred_username", name);
  for (const n of p.nicks) push(oidc, "nickname", n);
  push(oidc, "email", p.email);
  push(oidc, "phone_number", p.phone);
  const vcard = new Map<string, string[]>();
  for (const [k, v] of Object.entries(p.vcard)) push(vcard, k, v);
  for (const n of p.displayNames) push(vcard, "FN", n);
  for (const n of p.nicks) push(vcard, "NICKNAME", n);
  push(vcard, "EMAIL", p.email);
  push(vcard, "TEL", p.phone === undefined ? undefined : `tel:${p.phone}`);
  const names = [...p.displayNames, ...OIDC_NAME_CLAIMS.flatMap((c) => oidc.get(c) ?? []), ...VCARD_NAME_PROPERTIES.flatMap((c) => vcard.get(c) ?? [])];
  const handles = [userUri, `im:${name}@${domain}`];
  const all = [...handles, ...nicks, ...names, ...[...oidc.values()].flat(), ...[...vcard.values()].flat()];
  return {
    userUri,
    handles,
    nicks,
    email: p.email,
    phone: p.phone,
    names: [...new Set(names)],
    oidc,
    vcard,
    all: [...new Set(all)],
    searchability: p.searchability ?? defaultSearchability,
  };
}

/**
 * MIMI-DISC-CHOICE-05: the fields returned in a UserProfile (protocol-06 §5.8 ProfileField): the display name and
 * nickname and the claims and properties the user set. The e-mail address and the phone number
 * are matched but never returned (a querier learns them only if it already knew them).
 */
export function publicFields(name: string, p: StoredProfile): { source: "oidcStdClaim" | "vcardField"; name: string; value: string }[] {
  const out: { source: "oidcStdClaim" | "vcardField"; name: string; value: string }[] = [];
  const first = p.displayNames[0];
  if (first !== undefined && p.oidc["name"] === undefined) out.push({ source: "oidcStdClaim", name: "name", value: first });
  out.push({ source: "oidcStdClaim", name: "preferred_username", value: name });
  for (const [k, v] of Object.entries(p.oidc).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out.push({ source: "oidcStdClaim", name: k, value: v });
  if (first !== undefined && p.vcard["FN"] === undefined) out.push({ source: "vcardField", name: "FN", value: first });
  for (const [k, v] of Object.entries(p.vcard).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out.push({ source: "vcardField", name: k, value: v });
  return out;
}
