import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  deviceUri,
  expectMimiUriKind,
  formatMimiUri,
  groupUri,
  isMimiUri,
  isRoomUri,
  isUserUri,
  normaliseMimiUri,
  parseMimiUri,
  parseUserUri,
  providerOf,
  providerUri,
  pseudonymUri,
  roomUri,
  teamUri,
  tryParseMimiUri,
  userUri,
} from "../../../src/ids/index.ts";
import type { MimiUriKind } from "../../../src/ids/index.ts";
import { mimiHost, nastyString, onlyMimiErrors, segmentValue, throwsCode } from "./assertions.ts";

test("parses every form of the protocol-06 / identity-05 / content examples", () => {
  const cases: [string, MimiUriKind, string, string[]][] = [
    ["mimi://a.example", "provider", "a.example", []],
    ["mimi://a.example/u/alice", "user", "a.example", ["alice"]],
    ["mimi://a.example/d/ClientA1", "device", "a.example", ["ClientA1"]],
    ["mimi://a.example/d/alice/ClientA1", "device", "a.example", ["alice", "ClientA1"]],
    ["mimi://example.com/d/6a8c2d4e-5b8f-4c0e-9f3a-1d2e3f4a5b6c/0003", "device", "example.com", ["6a8c2d4e-5b8f-4c0e-9f3a-1d2e3f4a5b6c", "0003"]],
    ["mimi://a.example/r/clubhouse", "room", "a.example", ["clubhouse"]],
    ["mimi://hub.example/r/Rl33FWLCYWOwxHrYnpWDQg", "room", "hub.example", ["Rl33FWLCYWOwxHrYnpWDQg"]],
    ["mimi://a.example/g/clubhouse", "group", "a.example", ["clubhouse"]],
    ["mimi://a.example/p/crazykoala75", "pseudonym", "a.example", ["crazykoala75"]],
    ["mimi://a.example/t/engineering", "team", "a.example", ["engineering"]],
    ["mimi://local.invalid/u/alice.smith", "user", "local.invalid", ["alice.smith"]],
  ];
  for (const [uri, kind, host, segments] of cases) {
    const parsed = parseMimiUri(uri);
    assert.deepEqual({ kind: parsed.kind, host: parsed.host, segments: [...parsed.segments] }, { kind, host, segments }, uri);
    assert.equal(parsed.uri, uri, "already canonical");
    assert.ok(isMimiUri(uri));
  }
});

test("MIMI-ID-01 scheme and host are case-insensitive and normalised to lowercase; path case is kept", () => {
  assert.equal(normaliseMimiUri("MIMI://A.Example/u/Alice"), "mimi://a.example/u/Alice");
  assert.equal(normaliseMimiUri("Mimi://B.EXAMPLE"), "mimi://b.example");
  assert.notEqual(normaliseMimiUri("mimi://a.example/u/Alice"), normaliseMimiUri("mimi://a.example/u/alice"));
  assert.ok(!isMimiUri("MIMI://a.example/u/alice"), "not canonical");
});

test("MIMI-ID-02 userinfo, port, query, fragment and IP-literal hosts are rejected", () => {
  for (const bad of [
    "mimi://alice@a.example/u/alice",
    "mimi://a.example:443/u/alice",
    "mimi://a.example:/u/alice",
    "mimi://a.example/u/alice?x=1",
    "mimi://a.example/u/alice#frag",
    "mimi://a.example?x",
    "mimi://[::1]/u/alice",
    "mimi:a.example/u/alice",
    "mimi:/a.example/u/alice",
    "https://a.example/u/alice",
    "im:alice@a.example",
    "mimi//a.example/u/alice",
    " mimi://a.example/u/alice",
    "mimi://a.example/u/alice ",
    "",
  ]) {
    throwsCode(() => parseMimiUri(bad), "MIMI_ERR_ID_INVALID_URI", bad);
  }
});

test("MIMI-ID-03 percent-encoding: unreserved and pchar delimiters decoded, hex uppercased, malformed escapes rejected", () => {
  const cases: [string, string][] = [
    ["mimi://a.example/u/%61lice", "mimi://a.example/u/alice"],
    ["mimi://a.example/%75/alice", "mimi://a.example/u/alice"],
    ["mimi://a.example/u/a%2fb", "mimi://a.example/u/a%2Fb"],
    ["mimi://a.example/u/a%20b", "mimi://a.example/u/a%20b"],
    ["mimi://a.example/u/%7Ealice%2D", "mimi://a.example/u/~alice-"],
    ["mimi://a.example/u/bob%21", "mimi://a.example/u/bob!"],
    ["mimi://a.example/u/a%40b%3Ac", "mimi://a.example/u/a@b:c"],
    ["mimi://a.example/u/jos%c3%a9", "mimi://a.example/u/jos%C3%A9"],
    ["mimi://a.example/u/josé", "mimi://a.example/u/jos%C3%A9"],
    ["mimi://a.example/u/%25", "mimi://a.example/u/%25"],
    ["mimi://a.example/", "mimi://a.example"],
  ];
  for (const [input, canonical] of cases) assert.equal(normaliseMimiUri(input), canonical, input);
  assert.deepEqual(parseMimiUri("mimi://a.example/u/a%2Fb").segments, ["a/b"]);
  for (const bad of ["mimi://a.example/u/%", "mimi://a.example/u/%4", "mimi://a.example/u/%zz", "mimi://a.example/u/a%g0"]) {
    throwsCode(() => parseMimiUri(bad), "MIMI_ERR_ID_INVALID_URI", bad);
  }
  // Characters that must be percent-encoded in a path segment (RFC 3986 §3.3).
  for (const c of [" ", '"', "<", ">", "\\", "^", "`", "{", "|", "}", "%"]) {
    throwsCode(() => parseMimiUri(`mimi://a.example/u/a${c}b`), "MIMI_ERR_ID_INVALID_URI", c);
  }
});

test("MIMI-ID-04 hosts are IDNA-mapped to lowercase A-labels and must be LDH domain names within DNS limits", () => {
  assert.equal(normaliseMimiUri("mimi://München.DE/u/x"), "mimi://xn--mnchen-3ya.de/u/x");
  assert.equal(normaliseMimiUri("mimi://xn--MNCHEN-3ya.de/u/x"), "mimi://xn--mnchen-3ya.de/u/x");
  assert.equal(normaliseMimiUri("mimi://127.0.0.1/u/x"), "mimi://127.0.0.1/u/x");
  assert.equal(normaliseMimiUri("mimi://localhost"), "mimi://localhost");
  const label63 = "a".repeat(63);
  assert.equal(providerOf(`mimi://${label63}.example`), `${label63}.example`);
  const long = [label63, label63, label63, "a".repeat(61)].join(".");
  assert.equal(long.length, 253);
  assert.equal(providerOf(`mimi://${long}`), long);
  for (const bad of [
    `mimi://${"a".repeat(64)}.example/u/x`,
    `mimi://${long}a/u/x`,
    "mimi://a_b.example/u/x",
    "mimi://-a.example/u/x",
    "mimi://a-.example/u/x",
    "mimi://a..example/u/x",
    "mimi://a.example./u/x",
    "mimi://b%2Eexample/u/x",
    "mimi://a*b.example/u/x",
    "mimi://example.123/u/x",
    "mimi:///u/x",
    "mimi://xn--iñvalid.com/u/x",
  ]) {
    throwsCode(() => parseMimiUri(bad), "MIMI_ERR_ID_INVALID_URI", bad);
  }
});

test("MIMI-ID-05 the first segment is the type; segment counts per kind; empty and dot segments rejected", () => {
  for (const bad of [
    "mimi://a.example/u",
    "mimi://a.example/u/",
    "mimi://a.example/u/alice/",
    "mimi://a.example/u/alice/extra",
    "mimi://a.example/r/a/b",
    "mimi://a.example/d",
    "mimi://a.example/d/alice//x",
    "mimi://a.example//u/alice",
    "mimi://a.example/x/alice",
    "mimi://a.example/U/alice",
    "mimi://a.example/user/alice",
    "mimi://a.example/u/.",
    "mimi://a.example/u/..",
    "mimi://a.example/u/%2E%2E",
    "mimi://a.example/d/alice/.",
  ]) {
    throwsCode(() => parseMimiUri(bad), "MIMI_ERR_ID_INVALID_URI", bad);
  }
  assert.deepEqual(parseMimiUri("mimi://a.example/d/a/b/c/d").segments, ["a", "b", "c", "d"]);
  assert.deepEqual(parseMimiUri("mimi://a.example/u/...").segments, ["..."]);
});

test("MIMI-ID-06 segments must be UTF-8 without control characters", () => {
  for (const bad of ["mimi://a.example/u/%FF", "mimi://a.example/u/%C3", "mimi://a.example/u/%ED%A0%80", "mimi://a.example/u/a%00b", "mimi://a.example/u/a%0Ab", "mimi://a.example/u/%7F", "mimi://a.example/u/%C2%85"]) {
    throwsCode(() => parseMimiUri(bad), "MIMI_ERR_ID_INVALID_URI", bad);
  }
  throwsCode(() => parseMimiUri("mimi://a.example/u/\ud800"), "MIMI_ERR_ID_INVALID_URI");
  throwsCode(() => userUri("a.example", "a\nb"), "MIMI_ERR_ID_INVALID_URI");
  // A BOM is a character like any other, and is kept.
  assert.deepEqual(parseMimiUri("mimi://a.example/u/%EF%BB%BFx").segments, ["\ufeffx"]);
});

test("MIMI-ID-07 length limits: input and canonical URI", () => {
  const prefix = "mimi://a.example/u/";
  const fits = prefix + "a".repeat(2048 - prefix.length);
  assert.equal(normaliseMimiUri(fits), fits);
  throwsCode(() => parseMimiUri(`${fits}a`), "MIMI_ERR_ID_INVALID_URI");
  // Short input whose canonical form is too long (each é becomes 6 characters).
  throwsCode(() => userUri("a.example", "é".repeat(400)), "MIMI_ERR_ID_INVALID_URI");
  throwsCode(() => parseMimiUri(`${prefix}${"a".repeat(9000)}`), "MIMI_ERR_ID_INVALID_URI");
});

test("builders, kind checks and providerOf", () => {
  assert.equal(providerUri("A.example"), "mimi://a.example");
  assert.equal(userUri("a.example", "Bob Smith"), "mimi://a.example/u/Bob%20Smith");
  assert.equal(deviceUri("a.example", "alice", "ClientA1"), "mimi://a.example/d/alice/ClientA1");
  assert.equal(roomUri("a.example", "club/house"), "mimi://a.example/r/club%2Fhouse");
  assert.equal(groupUri("a.example", "g1"), "mimi://a.example/g/g1");
  assert.equal(pseudonymUri("a.example", "p1"), "mimi://a.example/p/p1");
  assert.equal(teamUri("a.example", "t1"), "mimi://a.example/t/t1");
  assert.ok(isUserUri("mimi://a.example/u/x") && !isUserUri("mimi://a.example/r/x") && !isUserUri("not a uri"));
  assert.ok(isRoomUri("MIMI://a.example/r/x"));
  assert.equal(providerOf("mimi://B.example/r/x"), "b.example");
  assert.deepEqual(parseUserUri("mimi://a.example/u/a%2Fb"), { uri: "mimi://a.example/u/a%2Fb", host: "a.example", user: "a/b" });
  throwsCode(() => expectMimiUriKind("mimi://a.example/r/x", "user"), "MIMI_ERR_ID_WRONG_KIND");
  throwsCode(() => parseUserUri("mimi://a.example/d/x"), "MIMI_ERR_ID_WRONG_KIND");
  throwsCode(() => formatMimiUri({ kind: "user", host: "a.example", segments: [] }), "MIMI_ERR_ID_INVALID_URI");
  throwsCode(() => formatMimiUri({ kind: "bogus" as MimiUriKind, host: "a.example", segments: ["x"] }), "MIMI_ERR_ID_INVALID_URI");
  throwsCode(() => userUri("a.example:80", "x"), "MIMI_ERR_ID_INVALID_URI");
  assert.equal(tryParseMimiUri("nope"), undefined);
});

interface KindAndSegments {
  kind: MimiUriKind;
  segments: string[];
}
const kindAndSegments: fc.Arbitrary<KindAndSegments> = fc.oneof(
  fc.constant<KindAndSegments>({ kind: "provider", segments: [] }),
  fc.tuple(fc.constantFrom<MimiUriKind>("user", "room", "group", "pseudonym", "team"), segmentValue).map(([kind, s]): KindAndSegments => ({ kind, segments: [s] })),
  fc.array(segmentValue, { minLength: 1, maxLength: 4 }).map((segments): KindAndSegments => ({ kind: "device", segments })),
);

test("MIMI-ID-03 property: parse∘format is the identity on canonical URIs", () => {
  fc.assert(
    fc.property(mimiHost, kindAndSegments, (host, { kind, segments }) => {
      const uri = formatMimiUri({ kind, host, segments });
      const parsed = parseMimiUri(uri);
      assert.equal(parsed.uri, uri);
      assert.deepEqual({ kind: parsed.kind, host: parsed.host, segments: [...parsed.segments] }, { kind, host, segments });
      assert.equal(formatMimiUri(parsed), uri);
    }),
    { numRuns: 3000 },
  );
});

const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;
/** Spells a segment value in a random valid, non-canonical way. */
function messySegment(value: string, choices: readonly number[]): string {
  let out = "";
  let i = 0;
  for (const char of value) {
    const choice = choices[i++ % choices.length] ?? 0;
    const rawOk = PCHAR.test(char) || (char.codePointAt(0) ?? 0) > 0x7f;
    if (rawOk && choice % 3 !== 0) {
      out += char;
    } else {
      for (const b of new TextEncoder().encode(char)) {
        const hex = b.toString(16).padStart(2, "0");
        out += `%${choice % 2 === 0 ? hex : hex.toUpperCase()}`;
      }
    }
  }
  return out;
}

test("MIMI-ID-03 property: normalisation maps every spelling to the canonical URI and is idempotent", () => {
  fc.assert(
    fc.property(
      mimiHost,
      kindAndSegments,
      fc.array(fc.nat(5), { minLength: 1, maxLength: 8 }),
      fc.mixedCase(fc.constant("mimi")),
      fc.boolean(),
      (host, { kind, segments }, choices, scheme, upperHost) => {
        const canonical = formatMimiUri({ kind, host, segments });
        const typeLetter = canonical.split("/")[3] ?? "";
        const path = kind === "provider" ? "" : `/${typeLetter}/${segments.map((s) => messySegment(s, choices)).join("/")}`;
        const messy = `${scheme}://${upperHost ? host.toUpperCase() : host}${path}`;
        const once = normaliseMimiUri(messy);
        assert.equal(once, canonical);
        assert.equal(normaliseMimiUri(once), once);
      },
    ),
    { numRuns: 3000 },
  );
});

test("property: arbitrary strings never make the MIMI URI parser throw anything but MimiError", () => {
  fc.assert(
    fc.property(nastyString(["mimi://", "mimi://a.example/", "mimi://a.example/u/", "mimi://a.example/d/x/", "MIMI://"]), (s) => {
      onlyMimiErrors(() => {
        const parsed = parseMimiUri(s);
        // Whatever is accepted is canonical after one pass.
        assert.equal(normaliseMimiUri(parsed.uri), parsed.uri);
      });
    }),
    { numRuns: 4000 },
  );
});
