// The identity rules of draft-ietf-mimi-protocol-06 §Transport as pure functions: From parsing,
// Host matching and certificate name matching (src/transport/peerIdentity.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { isMimiError } from "../../../src/errors.ts";
import { certificateNamesDomain, hostNamesDomain, hostWithoutPort, isProviderDomain, parseFromHeader } from "../../../src/transport/peerIdentity.ts";

const badFrom = (value: string | string[] | undefined) =>
  assert.throws(() => parseFromHeader(value), (err: unknown) => isMimiError(err, "MIMI_ERR_PEER_BAD_FROM") && err.statusCode === 400, JSON.stringify(value));

// MIMI-PROTO-TLS-04: the source provider is named by `From: mimi@<source-domain>`.
test("MIMI-PROTO-TLS-04 From must be exactly mimi@<domain>", () => {
  assert.equal(parseFromHeader("mimi@a.example"), "a.example");
  assert.equal(parseFromHeader(["mimi@sub.b.example"]), "sub.b.example");
  assert.equal(parseFromHeader("mimi@localhost"), "localhost");
  for (const v of [
    undefined,
    [],
    "",
    "a.example",
    "@a.example",
    "alice@a.example", // the local part is the literal "mimi"
    "MIMI@a.example",
    "Mimi@a.example",
    "mimi@A.Example", // provider domains are lowercase
    "mimi@a.example.", // no trailing dot
    "mimi@a..example",
    "mimi@-a.example",
    "mimi@a.example:443",
    "mimi@a.example/x",
    "mimi@a.example mimi@b.example",
    " mimi@a.example",
    "mimi@mimi@a.example",
    "<mimi@a.example>",
    "Mimi Bridge <mimi@a.example>",
    "mimi@127.0.0.1", // an IP address is never a provider domain (IP SANs must not stand in for one)
    "mimi@10.1.2.3",
    "mimi@[::1]",
    "mimi@xn--bcher-kva.example\u0000",
    `mimi@${"a".repeat(64)}.example`, // label too long
    `mimi@${Array.from({ length: 130 }, () => "ab").join(".")}`, // name too long
    ["mimi@a.example", "mimi@a.example"], // repeated header
  ]) {
    badFrom(v);
  }
});

test("provider domains: lowercase LDH names, never IP addresses", () => {
  assert.ok(isProviderDomain("a.example"));
  assert.ok(isProviderDomain("xn--bcher-kva.example"));
  assert.ok(isProviderDomain("1a.example"));
  assert.ok(!isProviderDomain("127.0.0.1"));
  assert.ok(!isProviderDomain("a.123"));
  assert.ok(!isProviderDomain("A.example"));
  assert.ok(!isProviderDomain(""));
});

// MIMI-PROTO-TLS-03: the target provider is named by Host; a non-standard port is ignored.
test("MIMI-PROTO-TLS-03 Host names the target provider, port ignored", () => {
  assert.ok(hostNamesDomain("a.example", "a.example"));
  assert.ok(hostNamesDomain("a.example:8443", "a.example"));
  assert.ok(hostNamesDomain(["A.EXAMPLE:443"], "a.example")); // Host is case-insensitive
  assert.ok(hostNamesDomain("a.example.", "a.example")); // the absolute form of the same name
  assert.ok(!hostNamesDomain("b.example", "a.example"));
  assert.ok(!hostNamesDomain("a.example.evil", "a.example"));
  assert.ok(!hostNamesDomain("x.a.example", "a.example"));
  assert.ok(!hostNamesDomain("127.0.0.1:8443", "a.example"));
  assert.ok(!hostNamesDomain("[::1]:8443", "a.example"));
  assert.ok(!hostNamesDomain("a.example:", "a.example"));
  assert.ok(!hostNamesDomain("a.example:99999x", "a.example"));
  assert.ok(!hostNamesDomain(undefined, "a.example"));
  assert.ok(!hostNamesDomain([], "a.example"));
  assert.ok(!hostNamesDomain(["a.example", "a.example"], "a.example"));
  assert.equal(hostWithoutPort("[::1]:80"), "[::1]");
  assert.equal(hostWithoutPort("a b"), undefined);
});

const cert = (subjectaltname: string | undefined) => ({ subjectaltname });
const names = (domain: string, san: string | undefined) => certificateNamesDomain(domain, cert(san)) === undefined;

// MIMI-PROTO-TLS-02: the peer's certificate must authenticate the provider domain (RFC 6125),
// by subjectAltName dNSName with Node's checkServerIdentity rules.
test("MIMI-PROTO-TLS-02 certificate names: exact dNSName matches, case-insensitively", () => {
  assert.ok(names("a.example", "DNS:a.example"));
  assert.ok(names("a.example", "DNS:other.example, DNS:a.example, IP Address:127.0.0.1"));
  assert.ok(names("a.example", "DNS:A.Example"));
  assert.ok(!names("a.example", "DNS:b.example"));
  assert.ok(!names("a.example", "DNS:x.a.example"));
  assert.ok(!names("a.example", "DNS:a.example.evil"));
  const err = certificateNamesDomain("a.example", cert("DNS:b.example"));
  assert.equal((err as NodeJS.ErrnoException | undefined)?.code, "ERR_TLS_CERT_ALTNAME_INVALID");
});

test("MIMI-PROTO-TLS-02 certificate names: wildcards only in the leftmost label, one label, never *.tld", () => {
  assert.ok(names("a.providers.example", "DNS:*.providers.example"));
  assert.ok(!names("providers.example", "DNS:*.providers.example")); // the wildcard needs a label
  assert.ok(!names("x.a.providers.example", "DNS:*.providers.example")); // exactly one label
  assert.ok(!names("a.example", "DNS:*.example")); // *.tld never matches
  assert.ok(!names("a.example", "DNS:*"));
  assert.ok(names("mimi1.example.org", "DNS:mimi*.example.org")); // Node allows a partial leftmost label
  assert.ok(!names("a.b.example", "DNS:a.*.example")); // not in an inner label
  assert.ok(!names("xn--bcher-kva.example.org", "DNS:xn--*.example.org")); // never in an A-label
});

test("MIMI-PROTO-TLS-02 certificate names: no dNSName, no name (no CN fallback; IP SANs never name a domain)", () => {
  assert.ok(!names("a.example", undefined));
  assert.ok(!names("a.example", ""));
  assert.ok(!names("a.example", "IP Address:127.0.0.1"));
  assert.ok(!names("a.example", "URI:https://a.example/"));
  assert.ok(!names("a.example", 'email:"DNS:a.example"'));
  assert.ok(!names("a.example", 'email:"x, DNS:a.example"')); // Node quotes values that look like more entries
  // The subject CN is ignored even when it is exactly the domain.
  const onlyCn = { subjectaltname: undefined, subject: { CN: "a.example" } };
  assert.notEqual(certificateNamesDomain("a.example", onlyCn), undefined);
  // An IP is not a provider domain, even with a matching IP SAN.
  assert.notEqual(certificateNamesDomain("127.0.0.1", cert("DNS:a.example, IP Address:127.0.0.1")), undefined);
});
