import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatMailtoUri, formatTelUri, parseMailtoUri, parseTelUri } from "../../../src/ids/index.ts";
import { nastyString, onlyMimiErrors, throwsCode } from "./assertions.ts";

test("MIMI-ID-10 tel: global E.164 numbers, visual separators removed (RFC 3966 §3, §4)", () => {
  const cases: [string, string][] = [
    ["tel:+15551234567", "tel:+15551234567"],
    ["tel:+1-555-123-4567", "tel:+15551234567"],
    ["TEL:+1.555.123.4567", "tel:+15551234567"],
    ["tel:+1(555)1234567", "tel:+15551234567"],
    ["tel:+44-20-7946-0958", "tel:+442079460958"],
    ["tel:+1", "tel:+1"],
    ["tel:+123456789012345", "tel:+123456789012345"],
    ["tel:+-1", "tel:+1"],
  ];
  for (const [input, canonical] of cases) {
    const parsed = parseTelUri(input);
    assert.equal(parsed.uri, canonical, input);
    assert.equal(parsed.e164, canonical.slice(4));
    assert.equal(parseTelUri(parsed.uri).uri, parsed.uri, "idempotent");
  }
  assert.equal(formatTelUri("+49-30-1234"), "tel:+49301234");
});

test("MIMI-ID-10 tel: local numbers, parameters, too many digits and other characters are rejected", () => {
  for (const bad of [
    "tel:5551234567", // local number (RFC 3966 §5.1.5 would need phone-context)
    "tel:1234;phone-context=example.com",
    "tel:+15551234567;ext=22",
    "tel:+15551234567;isub=1",
    "tel:+15551234567;foo=bar",
    "tel:+1234567890123456", // 16 digits (E.164 allows 15)
    "tel:+",
    "tel:+()-.",
    "tel:+0123",
    "tel:+1 555 1234",
    "tel:+1%2D555",
    "tel:+1555a",
    "tel:",
    "te:+1555",
    "mailto:+1555",
    "+15551234567",
  ]) {
    throwsCode(() => parseTelUri(bad), "MIMI_ERR_ID_INVALID_TEL", bad);
  }
});

test("MIMI-ID-11 mailto: one addr-spec; domain to lowercase A-labels, local part case kept (RFC 5321 §2.4)", () => {
  const cases: [string, string, string][] = [
    ["mailto:alice@example.com", "mailto:alice@example.com", "alice@example.com"],
    ["MAILTO:Alice.Smith@Example.COM", "mailto:Alice.Smith@example.com", "Alice.Smith@example.com"],
    ["mailto:bob+tag@b.example", "mailto:bob+tag@b.example", "bob+tag@b.example"],
    ["mailto:o'brien@b.example", "mailto:o'brien@b.example", "o'brien@b.example"],
    ["mailto:jos%C3%A9@m%C3%BCnchen.de", "mailto:jos%C3%A9@xn--mnchen-3ya.de", "josé@xn--mnchen-3ya.de"],
    ["mailto:josé@münchen.de", "mailto:jos%C3%A9@xn--mnchen-3ya.de", "josé@xn--mnchen-3ya.de"],
    // RFC 6068 §6.1 examples
    ["mailto:%22not%40me%22@example.org", "mailto:%22not%40me%22@example.org", '"not@me"@example.org'],
    ["mailto:%22oh%5C%5Cno%22@example.org", "mailto:%22oh%5C%5Cno%22@example.org", '"oh\\\\no"@example.org'],
    // A quoted local part that is a dot-atom is written bare (RFC 5321 §4.1.2 prefers that).
    ["mailto:%22john%22@example.org", "mailto:john@example.org", "john@example.org"],
    ["mailto:%22a%5Cb%22@example.org", "mailto:ab@example.org", "ab@example.org"],
    // XEP-0106 §5.2: the mailto: form of an address with JID-disallowed characters.
    ["mailto:here%27s_a_wild_%26_%2Fcr%25zy%2F_address@example.com", "mailto:here's_a_wild_%26_%2Fcr%25zy%2F_address@example.com", "here's_a_wild_&_/cr%zy/_address@example.com"],
  ];
  for (const [input, canonical, addrSpec] of cases) {
    const parsed = parseMailtoUri(input);
    assert.equal(parsed.uri, canonical, input);
    assert.equal(parsed.addrSpec, addrSpec, input);
    assert.equal(parseMailtoUri(parsed.uri).uri, parsed.uri, "idempotent");
  }
  assert.equal(formatMailtoUri("Alice@Example.COM"), "mailto:Alice@example.com");
  assert.equal(formatMailtoUri('"john doe"@example.com'), "mailto:%22john%20doe%22@example.com");
  assert.notEqual(parseMailtoUri("mailto:Alice@example.com").uri, parseMailtoUri("mailto:alice@example.com").uri);
});

test("MIMI-ID-11 mailto: several recipients, headers, bad syntax and over-long addresses are rejected", () => {
  for (const bad of [
    "mailto:a@example.com,b@example.com",
    "mailto:a@example.com?subject=hi",
    "mailto:?to=a@example.com",
    "mailto:a@example.com#x",
    "mailto:",
    "mailto:alice",
    "mailto:alice@",
    "mailto:@example.com",
    "mailto:a..b@example.com",
    "mailto:.a@example.com",
    "mailto:a.@example.com",
    "mailto:a b@example.com",
    "mailto:a%20b@example.com",
    "mailto:a@b@example.com",
    "mailto:a@[192.0.2.1]",
    "mailto:a@192.0.2.1",
    "mailto:a@exa_mple.com",
    "mailto:a@example..com",
    "mailto:%22unterminated@example.com",
    "mailto:%22%22@example.com",
    "mailto:%22a%0Ab%22@example.com",
    "mailto:a%ZZ@example.com",
    "mailto:%FF@example.com",
    `mailto:${"a".repeat(65)}@example.com`,
    // 10 + 1 + 251 octets: a valid local part and domain, but more than 254 together.
    `mailto:${"a".repeat(10)}@${["b", "c", "d", "e"].map((c) => c.repeat(61)).join(".")}.com`,
    "mail:a@example.com",
    "a@example.com",
  ]) {
    throwsCode(() => parseMailtoUri(bad), "MIMI_ERR_ID_INVALID_MAILTO", bad);
  }
  assert.equal(parseMailtoUri(`mailto:${"a".repeat(64)}@example.com`).localPart.length, 64);
});

test("property: mailto canonical form is a fixed point for generated addresses", () => {
  fc.assert(
    fc.property(fc.emailAddress(), (addr) => {
      const uri = formatMailtoUri(addr);
      assert.equal(parseMailtoUri(uri).uri, uri);
    }),
    { numRuns: 2000 },
  );
});

test("property: arbitrary strings never make the SII parsers throw anything but MimiError", () => {
  fc.assert(
    fc.property(nastyString(["tel:", "tel:+", "TEL:+1", "mailto:", "mailto:a@", "mailto:%22"]), (s) => {
      onlyMimiErrors(() => assert.equal(parseTelUri(parseTelUri(s).uri).uri, parseTelUri(s).uri));
      onlyMimiErrors(() => assert.equal(parseMailtoUri(parseMailtoUri(s).uri).uri, parseMailtoUri(s).uri));
      onlyMimiErrors(() => formatTelUri(s));
      onlyMimiErrors(() => formatMailtoUri(s));
    }),
    { numRuns: 4000 },
  );
});
