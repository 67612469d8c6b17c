import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { JID_ESCAPES, escapeJidLocalpart, unescapeJidLocalpart } from "../../../src/ids/index.ts";
import { onlyMimiErrors, throwsCode } from "./assertions.ts";

test("MIMI-ID-33 the §3.2/§3.3 tables: ten characters, lowercase hex, both directions", () => {
  assert.deepEqual(JID_ESCAPES, {
    " ": "\\20",
    '"': "\\22",
    "&": "\\26",
    "'": "\\27",
    "/": "\\2f",
    ":": "\\3a",
    "<": "\\3c",
    ">": "\\3e",
    "@": "\\40",
    "\\": "\\5c",
  });
  for (const [char, seq] of Object.entries(JID_ESCAPES)) {
    assert.equal(unescapeJidLocalpart(`a${seq}b`), `a${char}b`);
    if (char !== "\\") assert.equal(escapeJidLocalpart(`a${char}b`), `a${seq}b`);
  }
  // "CASE IS SIGNIFICANT" (§3.1): uppercase hex is not an escape sequence.
  assert.equal(unescapeJidLocalpart("a\\2Fb\\3Ac"), "a\\2Fb\\3Ac");
  // §3.1, §3.3 examples.
  assert.equal(escapeJidLocalpart("d'artagnan"), "d\\27artagnan");
  assert.equal(unescapeJidLocalpart("treville\\40musketeers.lit"), "treville@musketeers.lit");
});

// XEP-0106 §5.1 "JID Examples": user input, escaped JID. Only the localpart is escaped (§2
// requirement 1), so the "@example.com" of each row is the JID separator and domain.
const TABLE: readonly (readonly [number, string, string])[] = [
  [1, "space cadet", "space\\20cadet"],
  [2, 'call me "ishmael"', "call\\20me\\20\\22ishmael\\22"],
  [3, "at&t guy", "at\\26t\\20guy"],
  [4, "d'artagnan", "d\\27artagnan"],
  [5, "/.fanboy", "\\2f.fanboy"],
  [6, "::foo::", "\\3a\\3afoo\\3a\\3a"],
  [7, "<foo>", "\\3cfoo\\3e"],
  [8, "user@host", "user\\40host"],
  [9, "c:\\net", "c\\3a\\5cnet"],
  [10, "c:\\\\net", "c\\3a\\5c\\5cnet"],
  [11, "c:\\cool stuff", "c\\3a\\5ccool\\20stuff"],
  [12, "c:\\5commas", "c\\3a\\5c5commas"],
];

test("MIMI-ID-33 MIMI-ID-34 §5.1 examples table: every escaped JID unescapes to the user input", () => {
  for (const [row, input, escaped] of TABLE) {
    assert.equal(unescapeJidLocalpart(escaped), input, `row ${row}`);
  }
});

test("MIMI-ID-36 §5.1 examples table: escaping reproduces rows 1–8 and 12; rows 9–11 follow §4.2 step 3 and §4.3", () => {
  for (const [row, input, escaped] of TABLE) {
    if (row >= 9 && row <= 11) continue;
    assert.equal(escapeJidLocalpart(input), escaped, `row ${row}`);
  }
  // Rows 9–11 escape backslashes that start no escape sequence, which §4.3 says MUST be left
  // alone ("foo\bar is not modified"). We follow §4.2/§4.3; both spellings mean the same.
  const normative: Record<number, string> = { 9: "c\\3a\\net", 10: "c\\3a\\\\net", 11: "c\\3a\\cool\\20stuff" };
  for (const [row, input, tableEscaped] of TABLE) {
    const ours = normative[row];
    if (ours === undefined) continue;
    assert.equal(escapeJidLocalpart(input), ours, `row ${row}`);
    assert.equal(unescapeJidLocalpart(ours), input, `row ${row}`);
    assert.equal(unescapeJidLocalpart(tableEscaped), unescapeJidLocalpart(ours), `row ${row}`);
  }
});

test("MIMI-ID-36 §4.2 step 3: a backslash that starts a sequence that would unescape is escaped to \\5c", () => {
  // The Wireless Village example of §4.2 and §5.5.
  assert.equal(escapeJidLocalpart("\\3and\\2is\\5cool"), "\\5c3and\\2is\\5c5cool");
  assert.equal(unescapeJidLocalpart("\\5c3and\\2is\\5c5cool"), "\\3and\\2is\\5cool");
  assert.equal(escapeJidLocalpart("\\27"), "\\5c27");
  assert.equal(escapeJidLocalpart("\\5c"), "\\5c5c");
  // Left-to-right: "\5c27" unescapes to "\27", not to "'".
  assert.equal(unescapeJidLocalpart("\\5c27"), "\\27");
});

test("MIMI-ID-34 §4.3 exceptions: partial and unknown sequences are not modified either way", () => {
  for (const s of ["\\2plus\\2is\\4", "foo\\bar", "foob\\41r", "a\\", "\\", "\\2", "\\5C"]) {
    assert.equal(escapeJidLocalpart(s), s, s);
    assert.equal(unescapeJidLocalpart(s), s, s);
  }
});

test("XEP-0106 §5.2–§5.5 address examples (e-mail, SIP, IM, IMPS)", () => {
  assert.equal(escapeJidLocalpart("here's_a_wild_&_/cr%zy/_address"), "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address");
  assert.equal(
    escapeJidLocalpart('here\'s_a_wild_&_/cr%zy/_address_for:<wv>("IMPS")'),
    "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address_for\\3a\\3cwv\\3e(\\22IMPS\\22)",
  );
  assert.equal(unescapeJidLocalpart("here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address"), "here's_a_wild_&_/cr%zy/_address");
});

test("MIMI-ID-35 \\20 must not be the first or last character of an escaped localpart", () => {
  throwsCode(() => escapeJidLocalpart(" cadet"), "MIMI_ERR_ID_INVALID_JID");
  throwsCode(() => escapeJidLocalpart("cadet "), "MIMI_ERR_ID_INVALID_JID");
  throwsCode(() => escapeJidLocalpart(" "), "MIMI_ERR_ID_INVALID_JID");
  assert.equal(escapeJidLocalpart("a b"), "a\\20b");
});

test("MIMI-ID-38 no character outside the table is escaped (§2 requirement 3)", () => {
  const untouched = "abcXYZ019_=%.+-!#$*()[]{}|~^`?,;éß漢🙂\u02bc";
  assert.equal(escapeJidLocalpart(untouched), untouched);
});

const escapeHeavy = fc.string({
  unit: fc.oneof(
    fc.constantFrom(..." \"&'/:<>@\\".split("")),
    fc.constantFrom("\\20", "\\22", "\\26", "\\27", "\\2f", "\\3a", "\\3c", "\\3e", "\\40", "\\5c", "\\5C", "\\2F", "\\4", "2", "5c", "c"),
    fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
  ),
  maxLength: 30,
});

test("MIMI-ID-33 MIMI-ID-36 property: unescape∘escape is the identity and the result has no disallowed character", () => {
  fc.assert(
    fc.property(escapeHeavy, (s) => {
      if (s.startsWith(" ") || s.endsWith(" ")) {
        throwsCode(() => escapeJidLocalpart(s), "MIMI_ERR_ID_INVALID_JID");
        return;
      }
      const escaped = escapeJidLocalpart(s);
      assert.equal(unescapeJidLocalpart(escaped), s);
      assert.doesNotMatch(escaped, /[ "&'/:<>@]/);
      assert.ok(!escaped.startsWith("\\20") && !escaped.endsWith("\\20"));
    }),
    { numRuns: 4000 },
  );
});

test("property: the XEP-0106 functions never throw anything but MimiError", () => {
  fc.assert(
    fc.property(escapeHeavy, (s) => {
      onlyMimiErrors(() => escapeJidLocalpart(s));
      onlyMimiErrors(() => unescapeJidLocalpart(s));
    }),
    { numRuns: 2000 },
  );
});
