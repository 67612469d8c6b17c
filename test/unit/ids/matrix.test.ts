import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MimiError } from "../../../src/errors.ts";
import {
  escapeMatrixLocalpart,
  formatMatrixUserId,
  isMatrixUserId,
  matrixGhostFor,
  matrixGhostNamespaceRegex,
  matrixUserIdFromMimiUri,
  matrixUserToMimiUri,
  mimiUriFromMatrixUserId,
  mimiUriToMatrixUser,
  parseMatrixGhost,
  parseMatrixUserId,
  unescapeMatrixLocalpart,
  userUri,
} from "../../../src/ids/index.ts";
import { mimiHost, nastyString, onlyMimiErrors, segmentValue, throwsCode } from "./assertions.ts";

const hs = { serverName: "hs.example" } as const;

test("MIMI-ID-20 MIMI-ID-22 valid user IDs: localpart grammar and every server_name form of the spec", () => {
  const cases: [string, string, string, string, number | undefined][] = [
    ["@alice:example.org", "alice", "example.org", "example.org", undefined],
    ["@a.b_c=d-e/f+g:matrix.org:8888", "a.b_c=d-e/f+g", "matrix.org:8888", "matrix.org", 8888],
    ["@x:1.2.3.4", "x", "1.2.3.4", "1.2.3.4", undefined],
    ["@x:1.2.3.4:1234", "x", "1.2.3.4:1234", "1.2.3.4", 1234],
    ["@x:[1234:5678::abcd]", "x", "[1234:5678::abcd]", "[1234:5678::abcd]", undefined],
    ["@x:[1234:5678::abcd]:5678", "x", "[1234:5678::abcd]:5678", "[1234:5678::abcd]", 5678],
    ["@x:MATRIX.ORG", "x", "MATRIX.ORG", "MATRIX.ORG", undefined],
    ["@0:localhost", "0", "localhost", "localhost", undefined],
  ];
  for (const [id, localpart, serverName, hostname, port] of cases) {
    const parsed = parseMatrixUserId(id);
    assert.deepEqual(parsed, { userId: id, localpart, serverName, hostname, port }, id);
    assert.ok(isMatrixUserId(id));
  }
  // Server names are case-sensitive (appendix "Server Name"): no normalisation.
  assert.notEqual(parseMatrixUserId("@user:matrix.org").serverName, parseMatrixUserId("@user:MATRIX.ORG").serverName);
});

test("MIMI-ID-20 MIMI-ID-22 invalid user IDs are rejected", () => {
  for (const bad of [
    "alice:example.org",
    "@:example.org",
    "@Alice:example.org",
    "@al ice:example.org",
    "@al*ice:example.org",
    "@alice",
    "@alice:",
    "@alice:example.org:",
    "@alice:example.org:123456",
    "@alice:example.org:8a",
    "@alice:ex_ample.org",
    "@alice:[::1",
    "@alice:[zz::1]",
    "@alice:[::1]x",
    "@alice:1.2.3.256",
    "@alice:exa mple.org",
    "#room:example.org",
    "",
  ]) {
    throwsCode(() => parseMatrixUserId(bad), "MIMI_ERR_ID_INVALID_MATRIX", bad);
    assert.ok(!isMatrixUserId(bad));
  }
});

test("MIMI-ID-21 a user ID is at most 255 bytes, sigil and server name included", () => {
  const server = ":hs.example";
  const fits = `@${"a".repeat(255 - 1 - server.length)}${server}`;
  assert.equal(Buffer.byteLength(fits), 255);
  assert.equal(parseMatrixUserId(fits).userId, fits);
  throwsCode(() => parseMatrixUserId(`@a${fits.slice(1)}`), "MIMI_ERR_ID_INVALID_MATRIX");
  // Counted in bytes, not characters (historical IDs may hold non-ASCII).
  const wide = `@${"é".repeat(125)}${server}`;
  assert.ok(wide.length < 255 && Buffer.byteLength(wide) > 255);
  throwsCode(() => parseMatrixUserId(wide, { allowHistorical: true }), "MIMI_ERR_ID_INVALID_MATRIX");
});

test("historical user IDs are read only when asked for", () => {
  assert.equal(parseMatrixUserId("@Alice:example.org", { allowHistorical: true }).localpart, "Alice");
  assert.equal(parseMatrixUserId("@:example.org", { allowHistorical: true }).localpart, "");
  assert.equal(parseMatrixUserId("@a b!:example.org", { allowHistorical: true }).localpart, "a b!");
  throwsCode(() => parseMatrixUserId("@a\u0000b:example.org", { allowHistorical: true }), "MIMI_ERR_ID_INVALID_MATRIX");
});

test("native users: @alice:hs.example ⇔ mimi://hs.example/u/alice (DESIGN.md mapping table)", () => {
  assert.equal(mimiUriFromMatrixUserId("@alice:hs.example"), "mimi://hs.example/u/alice");
  assert.equal(mimiUriFromMatrixUserId("@a/b:HS.example"), "mimi://hs.example/u/a%2Fb");
  assert.equal(matrixUserIdFromMimiUri("mimi://hs.example/u/alice"), "@alice:hs.example");
  assert.equal(matrixUserIdFromMimiUri("mimi://hs.example/u/a%2Fb"), "@a/b:hs.example");
  throwsCode(() => mimiUriFromMatrixUserId("@alice:hs.example:8448"), "MIMI_ERR_ID_UNSUPPORTED");
  throwsCode(() => mimiUriFromMatrixUserId("@alice:[::1]"), "MIMI_ERR_ID_UNSUPPORTED");
  throwsCode(() => matrixUserIdFromMimiUri("mimi://hs.example/u/Alice"), "MIMI_ERR_ID_INVALID_MATRIX");
  throwsCode(() => matrixUserIdFromMimiUri("mimi://hs.example/r/alice"), "MIMI_ERR_ID_WRONG_KIND");
  assert.equal(formatMatrixUserId("bob", "b.example:8448"), "@bob:b.example:8448");
});

test("MIMI-ID-23 the spec's 'Mapping from other character sets' examples", () => {
  // Appendix "User Identifiers" → "Mapping from other character sets".
  assert.equal(escapeMatrixLocalpart("A"), "_a");
  assert.equal(escapeMatrixLocalpart("_"), "__");
  assert.equal(escapeMatrixLocalpart("#"), "=23");
  assert.equal(escapeMatrixLocalpart("á"), "=c3=a1");
  assert.equal(escapeMatrixLocalpart("="), "=3d");
  // The allowed characters other than "_" and "=" stay as they are.
  assert.equal(escapeMatrixLocalpart("az09-./+"), "az09-./+");
  assert.equal(escapeMatrixLocalpart("Bob.Smith@b.example"), "_bob._smith=40b.example");
  assert.equal(escapeMatrixLocalpart("🙂"), "=f0=9f=99=82");
  for (const [escaped, value] of [["_a", "A"], ["__", "_"], ["=23", "#"], ["=c3=a1", "á"], ["=3d", "="]] as const) {
    assert.equal(unescapeMatrixLocalpart(escaped), value);
  }
  // Only the canonical spelling is accepted back.
  for (const bad of ["=61", "=41", "=5f", "=3D", "_", "_A", "_1", "=", "=4", "=zz", "A", " ", "=c3", "=ff"]) {
    throwsCode(() => unescapeMatrixLocalpart(bad), "MIMI_ERR_ID_INVALID_MATRIX", bad);
  }
});

test("MIMI-ID-23 ghosts: mimi://b.example/u/Bob.Smith → @_mimi__bob._smith=40b.example:hs.example and back", () => {
  const cases: [string, string][] = [
    ["mimi://b.example/u/bob", "@_mimi_bob=40b.example:hs.example"],
    ["mimi://b.example/u/Bob.Smith", "@_mimi__bob._smith=40b.example:hs.example"],
    ["mimi://b.example/u/a_b=c", "@_mimi_a__b=3dc=40b.example:hs.example"],
    ["mimi://b.example/u/a@c.example", "@_mimi_a=40c.example=40b.example:hs.example"],
    ["mimi://b.example/u/a%2Fb", "@_mimi_a/b=40b.example:hs.example"],
    ["mimi://xn--mnchen-3ya.de/u/jos%C3%A9", "@_mimi_jos=c3=a9=40xn--mnchen-3ya.de:hs.example"],
  ];
  for (const [uri, ghost] of cases) {
    assert.equal(matrixGhostFor(uri, hs), ghost, uri);
    assert.equal(parseMatrixGhost(ghost, hs), uri, ghost);
    assert.ok(isMatrixUserId(ghost), "a valid current-grammar user ID");
  }
  assert.equal(matrixGhostFor("mimi://b.example/u/bob", { serverName: "hs.example", prefix: "mimi." }), "@mimi.bob=40b.example:hs.example");
  throwsCode(() => matrixGhostFor("mimi://b.example/r/bob", hs), "MIMI_ERR_ID_WRONG_KIND");
});

test("MIMI-ID-24 parseMatrixGhost: undefined outside the namespace, NOT_A_GHOST inside it when not a valid escape", () => {
  assert.equal(parseMatrixGhost("@alice:hs.example", hs), undefined);
  assert.equal(parseMatrixGhost("@_mimi_bob=40b.example:other.example", hs), undefined);
  assert.equal(parseMatrixGhost("@_mimi_bob=40b.example:HS.example", hs), undefined, "server names are case-sensitive");
  for (const bad of [
    "@_mimi_:hs.example", // nothing after the prefix
    "@_mimi_bob:hs.example", // no provider
    "@_mimi_bob=40:hs.example", // empty provider
    "@_mimi_=40b.example:hs.example", // empty user
    "@_mimi_bob=40b_example:hs.example", // provider with uppercase
    "@_mimi_bob=40-b.example:hs.example", // provider not LDH
    "@_mimi_b=6fb=40b.example:hs.example", // non-canonical "=6f" for "o"
    "@_mimi_bob=4:hs.example", // truncated escape
    "@_mimi_=ff=40b.example:hs.example", // not UTF-8
    "@_mimi_=0a=40b.example:hs.example", // control character in the user
    "@_mimi_.=40b.example:hs.example", // dot segment
    "@_mimi_Bob=40b.example:hs.example", // historical (uppercase) ID in the namespace
  ]) {
    throwsCode(() => parseMatrixGhost(bad, hs), "MIMI_ERR_ID_NOT_A_GHOST", bad);
  }
  throwsCode(() => parseMatrixGhost("not a user id", hs), "MIMI_ERR_ID_INVALID_MATRIX");
  throwsCode(() => parseMatrixGhost("@x:hs.example", { serverName: "hs.example", prefix: "Bad" }), "MIMI_ERR_CONFIG_INVALID");
});

test("MIMI-ID-21 a MIMI user whose ghost would exceed 255 bytes has no ghost", () => {
  const longest = "a".repeat(255 - "@_mimi_=40b.example:hs.example".length);
  assert.equal(Buffer.byteLength(matrixGhostFor(userUri("b.example", longest), hs)), 255);
  throwsCode(() => matrixGhostFor(userUri("b.example", `${longest}a`), hs), "MIMI_ERR_ID_INVALID_MATRIX");
});

test("the registration namespace regex matches ghosts and nothing else", () => {
  const regex = new RegExp(matrixGhostNamespaceRegex(hs));
  assert.ok(regex.test(matrixGhostFor("mimi://b.example/u/Bob.Smith", hs)));
  assert.ok(!regex.test("@alice:hs.example"));
  assert.ok(!regex.test("@_mimi_bob:hsXexample"));
  assert.ok(!regex.test("@_mimi_bob=40b.example:hs.example.evil"));
});

test("bridge view: native users of our provider, ghosts for every other provider", () => {
  const identity = { serverName: "hs.example" };
  assert.equal(mimiUriToMatrixUser("mimi://hs.example/u/alice", identity), "@alice:hs.example");
  assert.equal(mimiUriToMatrixUser("mimi://b.example/u/bob", identity), "@_mimi_bob=40b.example:hs.example");
  assert.equal(matrixUserToMimiUri("@alice:hs.example", identity), "mimi://hs.example/u/alice");
  assert.equal(matrixUserToMimiUri("@_mimi_bob=40b.example:hs.example", identity), "mimi://b.example/u/bob");
  throwsCode(() => matrixUserToMimiUri("@carol:other.example", identity), "MIMI_ERR_ID_UNSUPPORTED");
  throwsCode(() => mimiUriToMatrixUser("mimi://hs.example/u/Alice", identity), "MIMI_ERR_ID_INVALID_MATRIX");
  // A homeserver on a port needs an explicit provider domain.
  const ported = { serverName: "localhost:8448", provider: "a.example" };
  assert.equal(mimiUriToMatrixUser("mimi://a.example/u/alice", ported), "@alice:localhost:8448");
  assert.equal(matrixUserToMimiUri("@alice:localhost:8448", ported), "mimi://a.example/u/alice");
  assert.equal(mimiUriToMatrixUser("mimi://localhost/u/bob", ported), "@_mimi_bob=40localhost:localhost:8448");
  throwsCode(() => mimiUriToMatrixUser("mimi://a.example/u/alice", { serverName: "localhost:8448" }), "MIMI_ERR_CONFIG_INVALID");
});

test("MIMI-ID-23 property: the character mapping round-trips for any well-formed Unicode string", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.string({ unit: "binary-ascii", maxLength: 40 }), fc.string({ unit: "grapheme", maxLength: 20 })), (s) => {
      const escaped = escapeMatrixLocalpart(s);
      assert.match(escaped, /^[a-z0-9._=\-/+]*$/);
      assert.equal(unescapeMatrixLocalpart(escaped), s);
    }),
    { numRuns: 4000 },
  );
});

test("MIMI-ID-23 property: ghosts round-trip and are valid user IDs for arbitrary (host, user) pairs", () => {
  fc.assert(
    fc.property(mimiHost, segmentValue, (host, user) => {
      const uri = userUri(host, user);
      let ghost: string;
      try {
        ghost = matrixGhostFor(uri, hs);
      } catch (err) {
        // The only way to fail: the 255-byte limit.
        assert.ok(err instanceof MimiError && err.code === "MIMI_ERR_ID_INVALID_MATRIX", String(err));
        assert.ok(Buffer.byteLength(`@_mimi_${escapeMatrixLocalpart(`${user}@${host}`)}:hs.example`) > 255);
        return;
      }
      assert.ok(isMatrixUserId(ghost), ghost);
      assert.equal(parseMatrixGhost(ghost, hs), uri);
    }),
    { numRuns: 4000 },
  );
});

test("MIMI-ID-23 property: distinct (host, user) pairs never share a ghost", () => {
  fc.assert(
    fc.property(mimiHost, segmentValue, mimiHost, segmentValue, (h1, u1, h2, u2) => {
      fc.pre(h1 !== h2 || u1 !== u2);
      const g1 = escapeMatrixLocalpart(`${u1}@${h1}`);
      const g2 = escapeMatrixLocalpart(`${u2}@${h2}`);
      assert.notEqual(g1, g2);
    }),
    { numRuns: 2000 },
  );
});

test("property: arbitrary strings never make the Matrix parsers throw anything but MimiError", () => {
  fc.assert(
    fc.property(nastyString(["@", "@_mimi_", "@a:", "@_mimi_a=40b.example:hs.example", "@x:["]), (s) => {
      onlyMimiErrors(() => parseMatrixUserId(s));
      onlyMimiErrors(() => parseMatrixUserId(s, { allowHistorical: true }));
      onlyMimiErrors(() => parseMatrixGhost(s, hs));
      onlyMimiErrors(() => parseMatrixGhost(`@_mimi_${s}:hs.example`, hs));
      onlyMimiErrors(() => unescapeMatrixLocalpart(s));
      onlyMimiErrors(() => mimiUriFromMatrixUserId(s));
    }),
    { numRuns: 4000 },
  );
});
