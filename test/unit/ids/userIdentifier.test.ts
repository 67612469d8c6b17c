import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { parseUserIdentifier } from "../../../src/ids/index.ts";
import { nastyString, onlyMimiErrors, throwsCode } from "./assertions.ts";

test("recognises the SSIs of the seed's naming question (DESIGN.md Q2)", () => {
  const cases: [string, { kind: string; uri: string; form: string }][] = [
    ["mimi://b.example/u/bob", { kind: "ssi", uri: "mimi://b.example/u/bob", form: "mimi" }],
    ["MIMI://B.example/u/bob", { kind: "ssi", uri: "mimi://b.example/u/bob", form: "mimi" }],
    ["mimi://b.example/p/crazykoala75", { kind: "ssi", uri: "mimi://b.example/p/crazykoala75", form: "mimi" }],
    ["@bob:b.example", { kind: "ssi", uri: "mimi://b.example/u/bob", form: "matrix" }],
    ["matrix:u/bob:b.example?action=chat", { kind: "ssi", uri: "mimi://b.example/u/bob", form: "matrix" }],
    ["bob@b.example", { kind: "ssi", uri: "mimi://b.example/u/bob", form: "xmpp" }],
    ["Bob@B.example", { kind: "ssi", uri: "mimi://b.example/u/bob", form: "xmpp" }],
    ["xmpp:bob@b.example", { kind: "ssi", uri: "mimi://b.example/u/bob", form: "xmpp" }],
    ["xmpp:d%5C27artagnan@b.example", { kind: "ssi", uri: "mimi://b.example/u/d%5C27artagnan", form: "xmpp" }],
    ["  @bob:b.example\n", { kind: "ssi", uri: "mimi://b.example/u/bob", form: "matrix" }],
  ];
  for (const [input, expected] of cases) assert.deepEqual(parseUserIdentifier(input), expected, input);
});

test("recognises the SIIs: tel: and mailto:, and a bare +E.164 number", () => {
  assert.deepEqual(parseUserIdentifier("tel:+1-555-123-4567"), { kind: "sii", scheme: "tel", uri: "tel:+15551234567" });
  assert.deepEqual(parseUserIdentifier("+44-20-7946-0958"), { kind: "sii", scheme: "tel", uri: "tel:+442079460958" });
  assert.deepEqual(parseUserIdentifier("mailto:Bob@B.example"), { kind: "sii", scheme: "mailto", uri: "mailto:Bob@b.example" });
});

test("MIMI-ID-40 a bare local@domain is an XMPP SSI unless the deployment says e-mail", () => {
  assert.deepEqual(parseUserIdentifier("bob@b.example"), { kind: "ssi", uri: "mimi://b.example/u/bob", form: "xmpp" });
  assert.deepEqual(parseUserIdentifier("bob@b.example", { defaultForm: "xmpp" }), { kind: "ssi", uri: "mimi://b.example/u/bob", form: "xmpp" });
  assert.deepEqual(parseUserIdentifier("Bob@B.example", { defaultForm: "mailto" }), { kind: "sii", scheme: "mailto", uri: "mailto:Bob@b.example" });
  // An e-mail address that is not a valid JID is still not guessed as e-mail.
  throwsCode(() => parseUserIdentifier("o'brien@b.example"), "MIMI_ERR_ID_INVALID_JID");
  assert.equal(parseUserIdentifier("mailto:o'brien@b.example").uri, "mailto:o'brien@b.example");
});

test("MIMI-ID-40 unknown forms are MIMI_ERR_ID_UNSUPPORTED; identifiers of non-users are MIMI_ERR_ID_WRONG_KIND", () => {
  for (const bad of ["bob", "", "   ", "b.example", "sip:bob@b.example", "https://b.example/bob", "im:bob@b.example", "xmpp://b.example/bob@b.example", "xmpp:bob@b.example?message", "matrix:r/room:b.example", "b.example:8448", "@bob:b.example:8448"]) {
    throwsCode(() => parseUserIdentifier(bad), "MIMI_ERR_ID_UNSUPPORTED", bad);
  }
  for (const bad of ["mimi://b.example/r/room", "mimi://b.example/d/bob/phone", "mimi://b.example", "bob@b.example/phone"]) {
    throwsCode(() => parseUserIdentifier(bad), "MIMI_ERR_ID_WRONG_KIND", bad);
  }
});

test("a recognised but malformed identifier reports its parser's error", () => {
  throwsCode(() => parseUserIdentifier("mimi://b.example/u/"), "MIMI_ERR_ID_INVALID_URI");
  throwsCode(() => parseUserIdentifier("@Bob:b.example"), "MIMI_ERR_ID_INVALID_MATRIX");
  throwsCode(() => parseUserIdentifier("matrix:u/%ZZ"), "MIMI_ERR_ID_INVALID_MATRIX");
  throwsCode(() => parseUserIdentifier("tel:555-1234"), "MIMI_ERR_ID_INVALID_TEL");
  throwsCode(() => parseUserIdentifier("+1 555"), "MIMI_ERR_ID_INVALID_TEL");
  throwsCode(() => parseUserIdentifier("mailto:a@b.example,c@d.example"), "MIMI_ERR_ID_INVALID_MAILTO");
  throwsCode(() => parseUserIdentifier("bob smith@b.example"), "MIMI_ERR_ID_INVALID_JID");
  throwsCode(() => parseUserIdentifier("xmpp:%ZZ@b.example"), "MIMI_ERR_ID_INVALID_JID");
});

test("property: arbitrary strings never make parseUserIdentifier throw anything but MimiError", () => {
  fc.assert(
    fc.property(
      nastyString(["mimi://b.example/u/", "@", "tel:+", "mailto:", "xmpp:", "matrix:u/", "+", "a@"]),
      fc.constantFrom<"xmpp" | "mailto" | undefined>("xmpp", "mailto", undefined),
      (s, defaultForm) => {
        onlyMimiErrors(() => {
          const id = parseUserIdentifier(s, defaultForm === undefined ? {} : { defaultForm });
          // Whatever it returns is already canonical: reading it again gives the same URI.
          assert.equal(parseUserIdentifier(id.uri).uri, id.uri);
        });
      },
    ),
    { numRuns: 4000 },
  );
});
