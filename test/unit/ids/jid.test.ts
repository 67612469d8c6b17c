import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MimiError } from "../../../src/errors.ts";
import {
  escapeXmppGhostUser,
  formatJid,
  jidFromMimiUri,
  mimiUriFromJid,
  mimiUriToXmppJid,
  parseJid,
  parseXmppGhost,
  toBareJid,
  unescapeXmppGhostUser,
  userUri,
  xmppGhostFor,
  xmppJidToMimiUri,
} from "../../../src/ids/index.ts";
import type { Jid } from "../../../src/ids/index.ts";
import { mimiHost, nastyString, onlyMimiErrors, segmentValue, throwsCode } from "./assertions.ts";

const component = { componentDomain: "mimi.xmpp.example" } as const;

test("MIMI-ID-30 MIMI-ID-32 valid JIDs (RFC 7622 §3.5 examples and normalisation)", () => {
  const cases: [string, Jid, string][] = [
    ["juliet@example.com", { localpart: "juliet", domainpart: "example.com" }, "juliet@example.com"],
    ["juliet@example.com/foo", { localpart: "juliet", domainpart: "example.com", resourcepart: "foo" }, "juliet@example.com/foo"],
    ["juliet@example.com/foo bar", { localpart: "juliet", domainpart: "example.com", resourcepart: "foo bar" }, "juliet@example.com/foo bar"],
    ["juliet@example.com/foo@bar", { localpart: "juliet", domainpart: "example.com", resourcepart: "foo@bar" }, "juliet@example.com/foo@bar"],
    ["foo\\20bar@example.com", { localpart: "foo\\20bar", domainpart: "example.com" }, "foo\\20bar@example.com"],
    ["fussball@example.com", { localpart: "fussball", domainpart: "example.com" }, "fussball@example.com"],
    ["fußball@example.com", { localpart: "fußball", domainpart: "example.com" }, "fußball@example.com"],
    ["π@example.com", { localpart: "π", domainpart: "example.com" }, "π@example.com"],
    ["Σ@example.com/foo", { localpart: "σ", domainpart: "example.com", resourcepart: "foo" }, "σ@example.com/foo"],
    ["example.com", { domainpart: "example.com" }, "example.com"],
    ["example.com/foobar", { domainpart: "example.com", resourcepart: "foobar" }, "example.com/foobar"],
    ["a.example.com/b@example.net", { domainpart: "a.example.com", resourcepart: "b@example.net" }, "a.example.com/b@example.net"],
    // Case mapping of the localpart and domainpart, never of the resourcepart.
    ["Juliet@EXAMPLE.COM/Balcony", { localpart: "juliet", domainpart: "example.com", resourcepart: "Balcony" }, "juliet@example.com/Balcony"],
    // Trailing dot stripped (§3.2), A-labels turned into U-labels (§3.2.1).
    ["juliet@example.com.", { localpart: "juliet", domainpart: "example.com" }, "juliet@example.com"],
    ["juliet@xn--mnchen-3ya.de", { localpart: "juliet", domainpart: "münchen.de" }, "juliet@münchen.de"],
    ["juliet@[::1]", { localpart: "juliet", domainpart: "[::1]" }, "juliet@[::1]"],
    ["juliet@[2001:DB8::1]", { localpart: "juliet", domainpart: "[2001:db8::1]" }, "juliet@[2001:db8::1]"],
    // Width mapping (RFC 8265 §3.3.2 rule 1) of fullwidth letters.
    ["ｊｕｌｉｅｔ@example.com", { localpart: "juliet", domainpart: "example.com" }, "juliet@example.com"],
  ];
  for (const [input, jid, text] of cases) {
    assert.deepEqual(parseJid(input), jid, input);
    assert.equal(formatJid(jid), text, input);
    assert.deepEqual(parseJid(text), jid, "normal form is a fixed point");
  }
  assert.deepEqual(toBareJid(parseJid("juliet@example.com/balcony")), { localpart: "juliet", domainpart: "example.com" });
});

test("MIMI-ID-31 invalid JIDs: excluded localpart characters, empty parts, bad domains", () => {
  for (const bad of [
    '"juliet"@example.com',
    "foo bar@example.com",
    "juliet&romeo@example.com",
    "d'artagnan@example.com",
    "a:b@example.com",
    "<foo>@example.com",
    "ｊｕｌｉｅｔ＠x@example.com", // fullwidth @ maps to "@"
    "tab\there@example.com",
    "@example.com",
    "@example.com/",
    "juliet@",
    "juliet@example.com/",
    "/foobar",
    "",
    "juliet@exa mple.com",
    "juliet@exa_mple.com",
    "juliet@[::1",
    "juliet@[zz]",
    "juliet@example.com/a\u0000b",
    "juliet@example..com",
  ]) {
    throwsCode(() => parseJid(bad), "MIMI_ERR_ID_INVALID_JID", bad);
  }
  throwsCode(() => formatJid({ localpart: "a@b", domainpart: "example.com" }), "MIMI_ERR_ID_INVALID_JID");
  throwsCode(() => formatJid({ domainpart: "example.com/x" }), "MIMI_ERR_ID_INVALID_JID");
});

test("MIMI-ID-31 each part is at most 1023 octets", () => {
  const l1023 = "a".repeat(1023);
  assert.equal(parseJid(`${l1023}@example.com`).localpart, l1023);
  assert.equal(parseJid(`a@example.com/${l1023}`).resourcepart, l1023);
  throwsCode(() => parseJid(`${l1023}a@example.com`), "MIMI_ERR_ID_INVALID_JID");
  throwsCode(() => parseJid(`a@example.com/${l1023}a`), "MIMI_ERR_ID_INVALID_JID");
  // Octets, not characters: 512 two-octet characters are 1024 octets.
  throwsCode(() => parseJid(`${"é".repeat(512)}@example.com`), "MIMI_ERR_ID_INVALID_JID");
});

test("native users (identity-05): bare JID ⇔ user URI, full JID ⇔ device URI", () => {
  assert.equal(mimiUriFromJid("juliet@xmpp.example"), "mimi://xmpp.example/u/juliet");
  assert.equal(mimiUriFromJid("juliet@xmpp.example/balcony"), "mimi://xmpp.example/d/juliet/balcony");
  assert.equal(mimiUriFromJid("Juliet@XMPP.example/Balcony Phone"), "mimi://xmpp.example/d/juliet/Balcony%20Phone");
  assert.equal(mimiUriFromJid("d\\27artagnan@münchen.de"), "mimi://xn--mnchen-3ya.de/u/d%5C27artagnan");
  assert.deepEqual(jidFromMimiUri("mimi://xmpp.example/u/juliet"), { localpart: "juliet", domainpart: "xmpp.example" });
  assert.deepEqual(jidFromMimiUri("mimi://xmpp.example/d/juliet/balcony"), { localpart: "juliet", domainpart: "xmpp.example", resourcepart: "balcony" });
  assert.deepEqual(jidFromMimiUri("mimi://xn--mnchen-3ya.de/u/juliet"), { localpart: "juliet", domainpart: "münchen.de" });
  throwsCode(() => mimiUriFromJid("xmpp.example"), "MIMI_ERR_ID_UNSUPPORTED");
  throwsCode(() => mimiUriFromJid("juliet@[::1]"), "MIMI_ERR_ID_UNSUPPORTED");
  throwsCode(() => jidFromMimiUri("mimi://xmpp.example/u/Juliet"), "MIMI_ERR_ID_INVALID_JID");
  throwsCode(() => jidFromMimiUri("mimi://xmpp.example/u/a%40b"), "MIMI_ERR_ID_INVALID_JID");
  throwsCode(() => jidFromMimiUri("mimi://xmpp.example/r/room"), "MIMI_ERR_ID_WRONG_KIND");
  throwsCode(() => jidFromMimiUri("mimi://xmpp.example/d/one"), "MIMI_ERR_ID_WRONG_KIND");
  throwsCode(() => jidFromMimiUri("mimi://xmpp.example/d/a/b/c"), "MIMI_ERR_ID_WRONG_KIND");
});

test("MIMI-ID-37 MIMI-ID-39 ghost JIDs: mimi://b.example/u/bob → bob\\40b.example@mimi.xmpp.example (DESIGN.md) and back", () => {
  const cases: [string, string][] = [
    ["mimi://b.example/u/bob", "bob\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/Bob.Smith", "_bob._smith\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/a_b=c", "a__b=3dc\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/a@c.example", "a\\40c.example\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/a%2Fb:c", "a\\2fb\\3ac\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/o'brien%20&%20co", "o\\27brien\\20\\26\\20co\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/%20lead", "=20lead\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/trail%20", "trail\\20\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/c:%5Cnet", "c\\3a\\net\\40b.example@mimi.xmpp.example"],
    ["mimi://b.example/u/%5C40", "\\5c40\\40b.example@mimi.xmpp.example"],
    ["mimi://xn--mnchen-3ya.de/u/Jos%C3%A9", "_jos=c3=a9\\40xn--mnchen-3ya.de@mimi.xmpp.example"],
  ];
  for (const [uri, jidText] of cases) {
    const ghost = xmppGhostFor(uri, component);
    assert.equal(formatJid(ghost), jidText, uri);
    assert.deepEqual(parseJid(jidText), ghost, "the ghost is already a normalised JID");
    assert.equal(parseXmppGhost(jidText, component), uri, jidText);
    assert.equal(parseXmppGhost(ghost, component), uri);
  }
  // The resourcepart of a ghost's full JID does not change who it is.
  assert.equal(parseXmppGhost("bob\\40b.example@mimi.xmpp.example/phone", component), "mimi://b.example/u/bob");
  // The server case-folds localparts; a ghost JID typed in uppercase is the same JID.
  assert.equal(parseXmppGhost("BOB\\40B.EXAMPLE@MIMI.XMPP.EXAMPLE", component), "mimi://b.example/u/bob");
  // The XEP-0106 §5.1 rows 9–11 spelling of a backslash is accepted as the same ghost.
  assert.equal(parseXmppGhost("c\\3a\\5cnet\\40b.example@mimi.xmpp.example", component), "mimi://b.example/u/c:%5Cnet");
});

test("MIMI-ID-39 parseXmppGhost: undefined off the component domain, NOT_A_GHOST on it when not a ghost", () => {
  assert.equal(parseXmppGhost("bob\\40b.example@xmpp.example", component), undefined);
  assert.equal(parseXmppGhost("mimi.xmpp.example", component), undefined, "the component itself");
  assert.equal(parseXmppGhost("mimi.xmpp.example/admin", component), undefined);
  for (const bad of [
    "nobody@mimi.xmpp.example", // no provider
    "bob\\40@mimi.xmpp.example", // empty provider
    "\\40b.example@mimi.xmpp.example", // empty user
    "bob\\40-b.example@mimi.xmpp.example", // provider not LDH
    "bob\\40b_example@mimi.xmpp.example", // "_" is the inner escape, not a host character
    "b=6fb\\40b.example@mimi.xmpp.example", // non-canonical inner escape of "o"
    "=zz\\40b.example@mimi.xmpp.example", // malformed inner escape
    "_1\\40b.example@mimi.xmpp.example", // "_" followed by a non-letter
    "=ff\\40b.example@mimi.xmpp.example", // not UTF-8
    "=0a\\40b.example@mimi.xmpp.example", // control character
    "\\20lead\\40b.example@mimi.xmpp.example", // a leading space must be "=20"
    ".\\40b.example@mimi.xmpp.example", // dot segment
  ]) {
    throwsCode(() => parseXmppGhost(bad, component), "MIMI_ERR_ID_NOT_A_GHOST", bad);
  }
  throwsCode(() => parseXmppGhost("not a jid@", component), "MIMI_ERR_ID_INVALID_JID");
  throwsCode(() => xmppGhostFor("mimi://b.example/u/bob", { componentDomain: "bad domain" }), "MIMI_ERR_CONFIG_INVALID");
  throwsCode(() => xmppGhostFor("mimi://b.example/r/room", component), "MIMI_ERR_ID_WRONG_KIND");
});

test("MIMI-ID-31 a MIMI user whose ghost localpart would exceed 1023 octets has no ghost", () => {
  const longest = "a".repeat(1023 - "\\40b.example".length);
  assert.equal(xmppGhostFor(userUri("b.example", longest), component).localpart?.length, 1023);
  throwsCode(() => xmppGhostFor(userUri("b.example", `${longest}a`), component), "MIMI_ERR_ID_INVALID_JID");
});

test("bridge view: native JIDs on the XMPP domain, ghosts on the component domain", () => {
  const identity = { domain: "xmpp.example", componentDomain: "mimi.xmpp.example" };
  assert.deepEqual(mimiUriToXmppJid("mimi://xmpp.example/u/juliet", identity), { localpart: "juliet", domainpart: "xmpp.example" });
  assert.deepEqual(mimiUriToXmppJid("mimi://xmpp.example/d/juliet/balcony", identity), { localpart: "juliet", domainpart: "xmpp.example", resourcepart: "balcony" });
  assert.deepEqual(mimiUriToXmppJid("mimi://b.example/u/bob", identity), { localpart: "bob\\40b.example", domainpart: "mimi.xmpp.example" });
  assert.equal(xmppJidToMimiUri("juliet@xmpp.example", identity), "mimi://xmpp.example/u/juliet");
  assert.equal(xmppJidToMimiUri("juliet@xmpp.example/balcony", identity), "mimi://xmpp.example/d/juliet/balcony");
  assert.equal(xmppJidToMimiUri("bob\\40b.example@mimi.xmpp.example/x", identity), "mimi://b.example/u/bob");
  throwsCode(() => xmppJidToMimiUri("romeo@other.example", identity), "MIMI_ERR_ID_UNSUPPORTED");
  throwsCode(() => xmppJidToMimiUri("mimi.xmpp.example", identity), "MIMI_ERR_ID_UNSUPPORTED");
  const mapped = { ...identity, provider: "a.example" };
  assert.equal(xmppJidToMimiUri("juliet@xmpp.example", mapped), "mimi://a.example/u/juliet");
  assert.deepEqual(mimiUriToXmppJid("mimi://a.example/u/juliet", mapped), { localpart: "juliet", domainpart: "xmpp.example" });
  assert.deepEqual(mimiUriToXmppJid("mimi://xmpp.example/u/juliet", mapped), { localpart: "juliet\\40xmpp.example", domainpart: "mimi.xmpp.example" });
});

test("MIMI-ID-38 the inner ghost layer round-trips any well-formed string and emits only lowercase printable ASCII", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: "binary-ascii", maxLength: 40 })), (s) => {
      const escaped = escapeXmppGhostUser(s);
      assert.match(escaped, /^[\x20-\x40\x5b-\x7e]*$/);
      assert.ok(!escaped.startsWith(" "));
      assert.equal(unescapeXmppGhostUser(escaped), s);
    }),
    { numRuns: 3000 },
  );
  throwsCode(() => unescapeXmppGhostUser("=61"), "MIMI_ERR_ID_INVALID_JID");
});

test("MIMI-ID-39 property: ghost JIDs round-trip for arbitrary (host, user) pairs and are normalised JIDs", () => {
  fc.assert(
    fc.property(mimiHost, segmentValue, (host, user) => {
      const uri = userUri(host, user);
      let ghost: Jid;
      try {
        ghost = xmppGhostFor(uri, component);
      } catch (err) {
        assert.ok(err instanceof MimiError && err.code === "MIMI_ERR_ID_INVALID_JID", String(err));
        return;
      }
      const text = formatJid(ghost);
      assert.deepEqual(parseJid(text), ghost);
      assert.equal(parseXmppGhost(text, component), uri);
    }),
    { numRuns: 4000 },
  );
});

test("MIMI-ID-39 property: distinct (host, user) pairs never share a ghost JID", () => {
  fc.assert(
    fc.property(mimiHost, segmentValue, mimiHost, segmentValue, (h1, u1, h2, u2) => {
      fc.pre(h1 !== h2 || u1 !== u2);
      const g1 = xmppGhostFor(userUri(h1, u1), component).localpart;
      const g2 = xmppGhostFor(userUri(h2, u2), component).localpart;
      assert.notEqual(g1, g2);
    }),
    { numRuns: 2000 },
  );
});

test("MIMI-ID-32 property: JID normalisation is idempotent for arbitrary Unicode parts", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", minLength: 1, maxLength: 12 }), fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }), (local, resource) => {
      onlyMimiErrors(() => {
        const jid = parseJid(`${local}@example.com/${resource}`);
        const text = formatJid(jid);
        assert.deepEqual(parseJid(text), jid);
        assert.equal(formatJid(parseJid(text)), text);
      });
    }),
    { numRuns: 3000 },
  );
});

test("property: arbitrary strings never make the JID parsers throw anything but MimiError", () => {
  fc.assert(
    fc.property(nastyString(["a@", "a@b.example/", "bob\\40b.example@mimi.xmpp.example", "@", "["]), (s) => {
      onlyMimiErrors(() => {
        const jid = parseJid(s);
        assert.deepEqual(parseJid(formatJid(jid)), jid);
      });
      onlyMimiErrors(() => parseXmppGhost(s, component));
      onlyMimiErrors(() => parseXmppGhost(`${s}@mimi.xmpp.example`, component));
      onlyMimiErrors(() => unescapeXmppGhostUser(s));
      onlyMimiErrors(() => mimiUriFromJid(s));
    }),
    { numRuns: 4000 },
  );
});
