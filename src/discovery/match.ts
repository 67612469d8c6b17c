// The identifierQuery match engine (draft-ietf-mimi-protocol-06 §5.8 "Find internal address"), as
// pure functions: a query is checked once (prepareQuery), then compared with each candidate's
// searchable view (matches). No storage, no I/O: test/unit/discovery/discovery-match.test.ts
// covers every search type.
//
// MIMI-DISC-01 semantics (the draft's, with our choices marked MIMI-DISC-CHOICE-NN in
// docs/CONFORMANCE.md):
//   handle        the entire handle URI, exact: `mimi://a.example/u/alice` (canonicalised as every
//                 MIMI URI) or the draft example's form `im:alice@a.example` (domain
//                 case-insensitive) (MIMI-DISC-CHOICE-01)
//   nick          the handle's user part or one of the user's nicknames, exact
//   email         the RFC 5322 addr-spec, exact (domain case-insensitive, local part as written)
//   phone         E.164 with "+", exact (visual separators ignored, as in tel: URIs)
//   partialName   case-insensitive substring of a field holding the user's name
//   wholeProfile  case-insensitive substring of any searchable field (MIMI-DISC-CHOICE-02)
//   oidcStdClaim  the named OIDC Core §5.1 claim, exact
//   vcardField    the named vCard property (RFC 6350), exact; property names case-insensitive
// MIMI-DISC-02: every element must match (AND semantics).
import type { QueryElement } from "../protocol/identifierQuery.ts";
import { SearchIdentifierType } from "../protocol/identifierQuery.ts";
import { toAsciiDomain, tryParseMimiUri } from "../ids/index.ts";
import { OIDC_SEARCHABLE_CLAIMS, VCARD_SEARCHABLE_PROPERTIES, canonicalEmail, canonicalPhone } from "./profile.ts";
import type { Searchability, SearchView } from "./profile.ts";

export type SearchTypeName = "handle" | "nick" | "email" | "phone" | "partialName" | "wholeProfile" | "oidcStdClaim" | "vcardField";

const TYPE_NAMES: Record<number, SearchTypeName> = {
  [SearchIdentifierType.handle]: "handle",
  [SearchIdentifierType.nick]: "nick",
  [SearchIdentifierType.email]: "email",
  [SearchIdentifierType.phone]: "phone",
  [SearchIdentifierType.partialName]: "partialName",
  [SearchIdentifierType.wholeProfile]: "wholeProfile",
  [SearchIdentifierType.oidcStdClaim]: "oidcStdClaim",
  [SearchIdentifierType.vcardField]: "vcardField",
};

export function searchTypeName(t: number): SearchTypeName | undefined {
  return TYPE_NAMES[t];
}

/** One query element, checked and normalised. */
export interface PreparedElement {
  readonly type: SearchTypeName;
  /** Exact types: the canonical value; substring types: the case-folded value. */
  readonly value: string;
  /** oidcStdClaim: the claim name; vcardField: the property name (uppercase). */
  readonly field?: string;
  /** False when the value cannot be what the type asks for (e.g. a phone without "+"): it matches nothing. */
  readonly valid: boolean;
}

export interface QueryLimits {
  readonly maxElements: number;
  readonly minSubstringLength: number;
  /** False in discovery.mode ssiOnly: e-mail and phone (SII) searches are not allowed. */
  readonly siiSearch: boolean;
}

export type PreparedQuery =
  | { readonly code: "forbidden" | "unsupportedField" | "ambiguous"; readonly reason: string }
  | { readonly code: undefined; readonly elements: readonly PreparedElement[] };

/** Case folding for the substring types: compatibility-normalised, lowercase. */
export function fold(s: string): string {
  return s.normalize("NFKC").toLowerCase();
}

/** MIMI-DISC-CHOICE-01: canonical handle forms: a MIMI user URI, or `im:local@domain` with the domain in A-label lowercase. */
export function canonicalHandle(value: string): string | undefined {
  const v = value.trim();
  if (/^mimi:/i.test(v)) {
    const parsed = tryParseMimiUri(v);
    return parsed?.kind === "user" ? parsed.uri : undefined;
  }
  const im = /^im:([^@\s]+)@([^@\s]+)$/i.exec(v);
  if (im === null) return undefined;
  const domain = toAsciiDomain(im[2] ?? "");
  return domain === undefined ? undefined : `im:${(im[1] ?? "").normalize("NFC")}@${domain}`;
}

const SII_CLAIMS = new Set(["email", "phone_number"]);
const SII_PROPERTIES = new Set(["EMAIL", "TEL"]);

function prepareOne(e: QueryElement): PreparedElement | { unsupported: string } {
  const type = searchTypeName(e.searchType);
  if (type === undefined) return { unsupported: `search type ${e.searchType}` };
  const raw = e.searchValue;
  switch (type) {
    case "handle": {
      const h = canonicalHandle(raw);
      return { type, value: h ?? raw, valid: h !== undefined };
    }
    case "nick": {
      const v = raw.normalize("NFC").trim();
      return { type, value: v, valid: v.length > 0 };
    }
    case "email": {
      const v = canonicalEmail(raw.trim());
      return { type, value: v ?? raw, valid: v !== undefined };
    }
    case "phone": {
      // protocol-06: "the international format of a telephone number with the "+" prefix".
      const v = raw.trim().startsWith("+") ? canonicalPhone(raw.trim()) : undefined;
      return { type, value: v ?? raw, valid: v !== undefined };
    }
    case "partialName":
    case "wholeProfile": {
      const v = fold(raw.trim());
      return { type, value: v, valid: v.length > 0 };
    }
    case "oidcStdClaim": {
      const claim = "claimName" in e ? e.claimName : "";
      // MIMI-DISC-04: only the claims this provider keeps are searchable.
      if (!OIDC_SEARCHABLE_CLAIMS.includes(claim)) return { unsupported: `OIDC claim ${claim.slice(0, 64)}` };
      const v = claim === "email" ? canonicalEmail(raw.trim()) : claim === "phone_number" ? canonicalPhone(raw.trim()) : raw.normalize("NFC");
      return { type, value: v ?? raw, field: claim, valid: v !== undefined && v !== "" };
    }
    case "vcardField": {
      // RFC 6350 §3.3: property names are case-insensitive.
      const prop = ("propertyName" in e ? e.propertyName : "").toUpperCase();
      if (!VCARD_SEARCHABLE_PROPERTIES.includes(prop)) return { unsupported: `vCard property ${prop.slice(0, 64)}` };
      const phone = prop === "TEL" ? canonicalPhone(raw.trim()) : undefined;
      const v = prop === "EMAIL" ? canonicalEmail(raw.trim()) : prop === "TEL" ? (phone === undefined ? undefined : `tel:${phone}`) : raw.normalize("NFC");
      return { type, value: v ?? raw, field: prop, valid: v !== undefined && v !== "" };
    }
  }
}

function isSiiElement(e: PreparedElement): boolean {
  return e.type === "email" || e.type === "phone" || (e.type === "oidcStdClaim" && SII_CLAIMS.has(e.field ?? "")) || (e.type === "vcardField" && SII_PROPERTIES.has(e.field ?? ""));
}

/**
 * Checks a query before any user is looked at, so its outcome depends only on the request:
 *  - no elements, more than `maxElements`, or (ssiOnly) an SII element → forbidden
 *    (protocol-06: "an unspecified field or combination of fields is not allowed");
 *  - a claim or property this provider does not search → unsupportedField (MIMI-DISC-04);
 *  - a substring shorter than `minSubstringLength` → ambiguous (MIMI-DISC-05, MIMI-DISC-CHOICE-03).
 */
export function prepareQuery(elements: readonly QueryElement[], limits: QueryLimits): PreparedQuery {
  if (elements.length === 0) return { code: "forbidden", reason: "a query needs at least one element" };
  if (elements.length > limits.maxElements) return { code: "forbidden", reason: `at most ${limits.maxElements} query elements` };
  const prepared: PreparedElement[] = [];
  let unsupported: string | undefined;
  for (const e of elements) {
    const p = prepareOne(e);
    if ("unsupported" in p) unsupported ??= p.unsupported;
    else prepared.push(p);
  }
  // MIMI-DISC-21 / MIMI-DISC-CHOICE-08: a provider in ssiOnly mode does not resolve SIIs for anyone.
  if (!limits.siiSearch && prepared.some(isSiiElement)) return { code: "forbidden", reason: "this provider does not search e-mail addresses or phone numbers (discovery.mode ssiOnly)" };
  if (unsupported !== undefined) return { code: "unsupportedField", reason: `${unsupported} is not searchable here` };
  for (const e of prepared) {
    if ((e.type === "partialName" || e.type === "wholeProfile") && [...e.value].length < limits.minSubstringLength) {
      return { code: "ambiguous", reason: `${e.type} needs at least ${limits.minSubstringLength} characters` };
    }
  }
  return { code: undefined, elements: prepared };
}

/** Whether one element matches a view (searchability aside). */
export function matchElement(view: SearchView, e: PreparedElement): boolean {
  if (!e.valid) return false;
  switch (e.type) {
    case "handle":
      return view.handles.includes(e.value);
    case "nick":
      return view.nicks.some((n) => n.normalize("NFC") === e.value);
    case "email":
      return view.email !== undefined && view.email === e.value;
    case "phone":
      return view.phone !== undefined && view.phone === e.value;
    case "partialName":
      return view.names.some((n) => fold(n).includes(e.value));
    case "wholeProfile":
      // MIMI-DISC-CHOICE-02: case-insensitive like partialName (the draft does not say).
      return view.all.some((n) => fold(n).includes(e.value));
    case "oidcStdClaim":
      return (view.oidc.get(e.field ?? "") ?? []).some((v) => v.normalize("NFC") === e.value);
    case "vcardField":
      return (view.vcard.get(e.field ?? "") ?? []).some((v) => v.normalize("NFC") === e.value);
  }
}

/**
 * MIMI-DISC-03: per-user searchability. `name` allows every search type, `handle` only queries
 * made of handle elements, `none` nothing ("even an exact handle search returns no results").
 */
export function searchabilityAllows(s: Searchability, elements: readonly PreparedElement[]): boolean {
  switch (s) {
    case "name":
      return true;
    case "handle":
      // MIMI-DISC-CHOICE-04: only a query made entirely of handle elements finds such a user.
      return elements.every((e) => e.type === "handle");
    case "none":
      return false;
  }
}

/**
 * Whether the view matches the whole query (MIMI-DISC-02, AND) and its owner allows it
 * (MIMI-DISC-03). MIMI-DISC-07: every element is evaluated, whatever the searchability and
 * whatever earlier elements gave, so an unsearchable user costs the same work as any other.
 */
export function matches(view: SearchView, elements: readonly PreparedElement[]): boolean {
  let all = true;
  for (const e of elements) all = matchElement(view, e) && all;
  const allowed = searchabilityAllows(view.searchability, elements);
  return all && allowed;
}
