// The identifierQuery match engine (src/discovery/match.ts) and profile validation
// (src/discovery/profile.ts): protocol-06 §5.8 search types, AND semantics, searchability, and the
// query checks that answer forbidden / unsupportedField / ambiguous. Pure functions, no store.
import { test } from "node:test";
import assert from "node:assert/strict";
import { matches, matchElement, prepareQuery, searchabilityAllows } from "../../../src/discovery/match.ts";
import type { PreparedElement, QueryLimits } from "../../../src/discovery/match.ts";
import { applyProfileChange, emptyProfile, publicFields, searchView } from "../../../src/discovery/profile.ts";
import type { Searchability, StoredProfile } from "../../../src/discovery/profile.ts";
import { isMimiError } from "../../../src/errors.ts";
import { SearchIdentifierType } from "../../../src/protocol/identifierQuery.ts";
import type { QueryElement } from "../../../src/protocol/identifierQuery.ts";

const DOMAIN = "a.example";
const LIMITS: QueryLimits = { maxElements: 8, minSubstringLength: 3, siiSearch: true };

function alice(searchability: Searchability = "name"): StoredProfile {
  return applyProfileChange(
    emptyProfile(),
    {
      displayNames: ["Alice Smith", "Ali Smith-Müller"],
      nicks: ["ace"],
      email: "Alice.Smith@A.Example",
      phone: "+1 (212) 555-1212",
      oidc: { given_name: "Alice", family_name: "Smith", locale: "en-US" },
      vcard: { org: "Acme Corp", TITLE: "Engineer" },
      searchability,
    },
    1,
  );
}

const view = (p: StoredProfile = alice(), name = "alice.smith") => searchView(DOMAIN, name, `mimi://${DOMAIN}/u/${name}`, p, "handle");

const el = (type: keyof typeof SearchIdentifierType, searchValue: string, field?: string): QueryElement =>
  (type === "oidcStdClaim"
    ? { searchType: SearchIdentifierType.oidcStdClaim, claimName: field ?? "", searchValue }
    : type === "vcardField"
      ? { searchType: SearchIdentifierType.vcardField, propertyName: field ?? "", searchValue }
      : { searchType: SearchIdentifierType[type], searchValue }) as QueryElement;

function prepared(...elements: QueryElement[]): readonly PreparedElement[] {
  const p = prepareQuery(elements, LIMITS);
  assert.equal(p.code, undefined, p.code === undefined ? "" : p.reason);
  return p.code === undefined ? p.elements : [];
}

const hit = (...elements: QueryElement[]) => matches(view(), prepared(...elements));

test("MIMI-DISC-01 handle: the entire handle URI, exact (MIMI URI canonicalised, or im:user@domain)", () => {
  assert.ok(hit(el("handle", "mimi://a.example/u/alice.smith")));
  assert.ok(hit(el("handle", "MIMI://A.EXAMPLE/u/alice.smith")), "scheme and host are case-insensitive (MIMI-ID-01)");
  assert.ok(hit(el("handle", "im:alice.smith@a.example")), "the draft's example form");
  assert.ok(hit(el("handle", "im:alice.smith@A.Example")));
  assert.ok(!hit(el("handle", "mimi://a.example/u/alice")), "a prefix is not the handle");
  assert.ok(!hit(el("handle", "mimi://a.example/u/ALICE.SMITH")), "the path is case-sensitive");
  assert.ok(!hit(el("handle", "mimi://b.example/u/alice.smith")));
  assert.ok(!hit(el("handle", "alice.smith")));
});

test("MIMI-DISC-01 nick: the handle's user part or a nickname, exact", () => {
  assert.ok(hit(el("nick", "alice.smith")));
  assert.ok(hit(el("nick", "ace")));
  assert.ok(!hit(el("nick", "Ace")));
  assert.ok(!hit(el("nick", "alice")));
});

test("MIMI-DISC-01 email: the addr-spec exact, domain case-insensitive, local part as written", () => {
  assert.ok(hit(el("email", "Alice.Smith@a.example")));
  assert.ok(hit(el("email", "Alice.Smith@A.EXAMPLE")));
  assert.ok(hit(el("email", "mailto:Alice.Smith@a.example")));
  assert.ok(!hit(el("email", "alice.smith@a.example")), "the local part is interpreted only by its host (RFC 5321 §2.4)");
  assert.ok(!hit(el("email", "Alice.Smith@b.example")));
  assert.ok(!hit(el("email", "not an address")));
});

test("MIMI-DISC-01 phone: E.164 with +, exact (visual separators ignored)", () => {
  assert.ok(hit(el("phone", "+12125551212")));
  assert.ok(hit(el("phone", "+1-212-555-1212")));
  assert.ok(!hit(el("phone", "12125551212")), "protocol-06: the international format with the + prefix");
  assert.ok(!hit(el("phone", "+1212555121")));
});

test("MIMI-DISC-01 partialName: a case-insensitive substring of a name field", () => {
  assert.ok(hit(el("partialName", "smi")));
  assert.ok(hit(el("partialName", "SMITH")));
  assert.ok(hit(el("partialName", "müller")), "Unicode case folding");
  assert.ok(hit(el("partialName", "ali")));
  assert.ok(!hit(el("partialName", "acme")), "ORG is not a name field");
  assert.ok(!hit(el("partialName", "engineer")));
});

test("MIMI-DISC-01 wholeProfile: a substring of any searchable field", () => {
  assert.ok(hit(el("wholeProfile", "acme")));
  assert.ok(hit(el("wholeProfile", "engineer")));
  assert.ok(hit(el("wholeProfile", "555-1212".replace("-", ""))), "the phone number is searchable");
  assert.ok(hit(el("wholeProfile", "a.example/u/alice")), "the handle is searchable");
  assert.ok(!hit(el("wholeProfile", "zebra")));
});

test("MIMI-DISC-01 oidcStdClaim and vcardField: the named claim or property, exact", () => {
  assert.ok(hit(el("oidcStdClaim", "Alice", "given_name")));
  assert.ok(hit(el("oidcStdClaim", "Smith", "family_name")));
  assert.ok(hit(el("oidcStdClaim", "Alice Smith", "name")), "display names are the name claim");
  assert.ok(hit(el("oidcStdClaim", "alice.smith", "preferred_username")));
  assert.ok(hit(el("oidcStdClaim", "Alice.Smith@A.EXAMPLE", "email")), "email claim compared as an addr-spec");
  assert.ok(hit(el("oidcStdClaim", "+1 212 555 1212", "phone_number")));
  assert.ok(!hit(el("oidcStdClaim", "alice", "given_name")), "exact");
  assert.ok(!hit(el("oidcStdClaim", "Smith", "given_name")), "another claim's value");
  assert.ok(hit(el("vcardField", "Acme Corp", "ORG")));
  assert.ok(hit(el("vcardField", "Acme Corp", "org")), "property names are case-insensitive (RFC 6350 §3.3)");
  assert.ok(hit(el("vcardField", "Alice Smith", "FN")));
  assert.ok(hit(el("vcardField", "tel:+12125551212", "TEL")));
  assert.ok(!hit(el("vcardField", "Acme", "ORG")));
});

test("MIMI-DISC-02 every element must match (AND)", () => {
  assert.ok(hit(el("oidcStdClaim", "Alice", "given_name"), el("vcardField", "Acme Corp", "ORG")));
  assert.ok(!hit(el("oidcStdClaim", "Alice", "given_name"), el("vcardField", "Other Corp", "ORG")));
  assert.ok(!hit(el("partialName", "smith"), el("email", "bob@a.example")));
  assert.ok(hit(el("partialName", "smith"), el("nick", "ace"), el("phone", "+12125551212")));
});

test("MIMI-DISC-03 searchability: name finds by anything, handle only by exact handle queries, none never", () => {
  const byName = [el("partialName", "smith")];
  const byHandle = [el("handle", "mimi://a.example/u/alice.smith")];
  const mixed = [el("handle", "mimi://a.example/u/alice.smith"), el("nick", "ace")];
  const cases: [Searchability, QueryElement[], boolean][] = [
    ["name", byName, true],
    ["name", byHandle, true],
    ["name", mixed, true],
    ["handle", byName, false],
    ["handle", byHandle, true],
    ["handle", mixed, false],
    ["handle", [el("email", "Alice.Smith@a.example")], false],
    ["none", byName, false],
    ["none", byHandle, false],
    ["none", mixed, false],
  ];
  for (const [s, q, expected] of cases) {
    assert.equal(matches(view(alice(s)), prepared(...q)), expected, `${s}: ${q.map((e) => e.searchType).join("+")}`);
    assert.equal(searchabilityAllows(s, prepared(...q)), expected);
  }
  // The element itself still matches; only the owner's choice hides the user.
  assert.ok(matchElement(view(alice("none")), prepared(...byHandle)[0]!));
});

test("MIMI-DISC-04 claims and properties this provider does not keep answer unsupportedField", () => {
  for (const e of [el("oidcStdClaim", "1970-01-01", "birthdate"), el("oidcStdClaim", "x", "address"), el("vcardField", "x", "BDAY"), el("vcardField", "x", "PHOTO"), el("oidcStdClaim", "x", "")]) {
    const p = prepareQuery([el("nick", "alice"), e], LIMITS);
    assert.equal(p.code, "unsupportedField");
  }
});

test("MIMI-DISC-05 substrings shorter than minSubstringLength answer ambiguous; other checks give forbidden", () => {
  assert.equal(prepareQuery([el("partialName", "sm")], LIMITS).code, "ambiguous");
  assert.equal(prepareQuery([el("wholeProfile", " a ")], LIMITS).code, "ambiguous");
  assert.equal(prepareQuery([el("partialName", "smi")], LIMITS).code, undefined);
  assert.equal(prepareQuery([], LIMITS).code, "forbidden", "an empty query would match everyone");
  assert.equal(prepareQuery(Array.from({ length: 9 }, () => el("nick", "a")), LIMITS).code, "forbidden");
});

test("MIMI-DISC-21 in ssiOnly mode e-mail and phone searches (also as claims or properties) are forbidden", () => {
  const ssiOnly = { ...LIMITS, siiSearch: false };
  for (const e of [el("email", "a@a.example"), el("phone", "+15550000000"), el("oidcStdClaim", "a@a.example", "email"), el("oidcStdClaim", "+1555", "phone_number"), el("vcardField", "x", "tel")]) {
    assert.equal(prepareQuery([e], ssiOnly).code, "forbidden");
  }
  assert.equal(prepareQuery([el("handle", "mimi://a.example/u/x")], ssiOnly).code, undefined);
});

test("profiles: every field is validated; e-mail and phone are canonicalised; null clears", () => {
  const p = alice();
  assert.equal(p.email, "Alice.Smith@a.example");
  assert.equal(p.phone, "+12125551212");
  assert.deepEqual(p.vcard, { ORG: "Acme Corp", TITLE: "Engineer" });
  const cleared = applyProfileChange(p, { email: null, phone: null }, 2);
  assert.equal(cleared.email, undefined);
  assert.equal(cleared.phone, undefined);
  assert.deepEqual(cleared.displayNames, p.displayNames, "absent fields stay");
  const bad = [
    { email: "nope" },
    { phone: "12125551212" },
    { displayNames: ["x".repeat(300)] },
    { displayNames: ["a\u0000b"] },
    { nicks: ["two words"] },
    { oidc: { birthdate: "1970-01-01" } },
    { oidc: { email: "a@a.example" } },
    { vcard: { TEL: "+1" } },
    { searchability: "everyone" as Searchability },
    { displayNames: "Alice" as unknown as string[] },
    { displayName: ["Alice"] } as never,
  ];
  for (const change of bad) assert.throws(() => applyProfileChange(p, change, 3), (e: unknown) => isMimiError(e, "MIMI_ERR_CLIENT_BAD_REQUEST"), JSON.stringify(change));
});

test("profiles: the fields returned never include the e-mail address or the phone number", () => {
  const fields = publicFields("alice.smith", alice());
  const text = JSON.stringify(fields);
  assert.ok(!text.includes("Alice.Smith@"), text);
  assert.ok(!text.includes("5551212"), text);
  assert.ok(fields.some((f) => f.source === "oidcStdClaim" && f.name === "name" && f.value === "Alice Smith"));
  assert.ok(fields.some((f) => f.source === "vcardField" && f.name === "ORG" && f.value === "Acme Corp"));
});
