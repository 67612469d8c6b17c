// The JSON form of MIMI content (docs/content-json.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  CborFloat,
  CborTag,
  cborFromJson,
  cborToJson,
  contentFromJson,
  contentToJson,
  contentToJsonText,
  decodeContent,
  encodeContent,
  encodeContentFromJsonText,
  messageDerivedValuesFromJson,
  messageDerivedValuesToJson,
  messageIdOfBytes,
  toHex,
} from "../../../src/content/index.ts";
import type { CborValue, MimiContentJson } from "../../../src/content/index.ts";
import { ALICE, h, ROOM, sampleContent, textPart, throwsCode } from "./helpers.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

function sampleJson(): MimiContentJson {
  return JSON.parse(JSON.stringify(contentToJson(sampleContent()))) as MimiContentJson;
}

test("the JSON form mirrors MimiContent: hex bytes, names for dispositions, [key, value] extension pairs", () => {
  const json = contentToJson(sampleContent({ topicId: h("466f6f") }));
  assert.deepEqual(json, {
    salt: "000102030405060708090a0b0c0d0e0f",
    replaces: null,
    topicId: "466f6f",
    expires: null,
    inReplyTo: null,
    mimiExtensions: [
      [1, ALICE],
      [2, ROOM],
    ],
    nestedPart: { disposition: "render", language: "", cardinality: "single", contentType: "text/plain;charset=utf-8", content: "68656c6c6f" },
  });
  assert.deepEqual(contentFromJson(JSON.parse(contentToJsonText(sampleContent({ topicId: h("466f6f") })))), sampleContent({ topicId: h("466f6f") }));
});

test("generic CBOR values in extensions have a lossless JSON form", () => {
  const values: CborValue[] = [
    "text",
    -5,
    2n ** 64n - 1n,
    -(2n ** 64n),
    h("00ff"),
    true,
    null,
    [1, [2]],
    new Map<number | string | Uint8Array, CborValue>([[1, "a"], ["k", 2], [h("01"), null]]),
    new CborTag(32, "http://example.com"),
    new CborTag(2n ** 64n - 1n, 0),
    new CborFloat(1),
    new CborFloat(-0),
    new CborFloat(NaN),
    new CborFloat(-Infinity),
  ];
  for (const v of values) {
    const text = JSON.stringify(cborToJson(v));
    assert.deepEqual(cborFromJson(JSON.parse(text)), v, text);
  }
  assert.deepEqual(cborToJson(new CborFloat(1)), { float: 1 });
  assert.deepEqual(cborToJson(h("0102")), { bytes: "0102" });
  assert.deepEqual(cborToJson(2n ** 60n), { int: "1152921504606846976" });
});

test("JSON shape errors are MIMI_ERR_CONTENT_JSON_INVALID with the JSON path of the fault", () => {
  const json = sampleJson();
  json.nestedPart = { disposition: "render", language: "", cardinality: "multi", partSemantics: "chooseOne", parts: [contentToJson(sampleContent()).nestedPart, { ...(contentToJson(sampleContent({ nestedPart: textPart("x") })).nestedPart as { content: string }), content: "xyz" } as MimiContentJson["nestedPart"]] };
  const err = throwsCode(() => contentFromJson(json), "MIMI_ERR_CONTENT_JSON_INVALID", /^nestedPart\.parts\[1\]\.content: must be a hex string$/);
  assert.equal(err.details?.path, "nestedPart.parts[1].content");

  const cases: [(j: Record<string, unknown>) => void, RegExp][] = [
    [(j) => (j.salt = 5), /^salt: must be a hex string/],
    [(j) => (j.replaces = "0g"), /^replaces: must be a hex string/],
    [(j) => delete j.topicId, /^topicId: is required/],
    [(j) => (j.extra = 1), /^extra: unknown field/],
    [(j) => (j.expires = { relative: "yes", time: 1 }), /^expires\.relative: must be a boolean/],
    [(j) => (j.expires = { relative: true, time: 1.5 }), /^expires\.time: must be an integer/],
    [(j) => (j.mimiExtensions = { 1: ALICE }), /^mimiExtensions: must be an array/],
    [(j) => (j.mimiExtensions = [[1, ALICE, 3]]), /^mimiExtensions\[0\]: must be a \[key, value\] pair/],
    [(j) => (j.mimiExtensions = [[true, ALICE]]), /^mimiExtensions\[0\]\[0\]: an extension key/],
    [(j) => (j.mimiExtensions = [[3, 1.5]]), /^mimiExtensions\[0\]\[1\]: a JSON number must be a safe integer/],
    [(j) => (j.mimiExtensions = [[3, { map: [[[1], 2]] }]]), /^mimiExtensions\[0\]\[1\]\.map\[0\]\[0\]: a map key/],
    [(j) => (j.mimiExtensions = [[3, { bytes: "0", int: "1" }]]), /^mimiExtensions\[0\]\[1\]: an object must be one of/],
    [(j) => (j.mimiExtensions = [[3, { float: "nan" }]]), /^mimiExtensions\[0\]\[1\]\.float/],
    [(j) => (j.mimiExtensions = [[3, { int: "1e3" }]]), /^mimiExtensions\[0\]\[1\]\.int: must be a decimal integer string/],
    [(j) => (j.mimiExtensions = [[3, { int: "18446744073709551616" }]]), /does not fit 64 bits/],
    [(j) => ((j.nestedPart as Record<string, unknown>).disposition = "loud"), /^nestedPart\.disposition: unknown disposition name/],
    [(j) => ((j.nestedPart as Record<string, unknown>).cardinality = "double"), /^nestedPart\.cardinality: must be/],
    [(j) => ((j.nestedPart as Record<string, unknown>).url = "https://x"), /^nestedPart\.url: unknown field/],
    [(j) => (j.nestedPart = { disposition: 1, language: "", cardinality: "multi", partSemantics: "all", parts: [] }), /^nestedPart\.partSemantics/],
  ];
  for (const [mutate, message] of cases) {
    const j = sampleJson() as unknown as Record<string, unknown>;
    mutate(j);
    throwsCode(() => contentFromJson(j), "MIMI_ERR_CONTENT_JSON_INVALID", message);
  }
  throwsCode(() => contentFromJson("not an object"), "MIMI_ERR_CONTENT_JSON_INVALID", /^\$: must be an object/);
});

test("MIMI-CONTENT-12 deeply nested JSON extension values stop with a MimiError, not a stack overflow", () => {
  const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
  const text = JSON.stringify(sampleJson()).replace('"mimiExtensions":[', `"mimiExtensions":[[7,${deep}],`);
  throwsCode(() => encodeContentFromJsonText(text), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED");
  const j = sampleJson();
  j.mimiExtensions.push([7, [[[[]]]]]);
  throwsCode(() => contentFromJson(j), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED", /level 5/);
});

test("well-formed JSON that breaks a content rule gets that rule's code and path", () => {
  const j = sampleJson();
  j.salt = "00";
  throwsCode(() => contentFromJson(j), "MIMI_ERR_CONTENT_BAD_SALT", /^salt: /);
  const dup = sampleJson();
  dup.mimiExtensions = [
    [1, ALICE],
    [1, ALICE],
  ];
  throwsCode(() => contentFromJson(dup), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /^mimiExtensions\[1\]\[0\]: duplicate/);
  const bigTopic = sampleJson();
  bigTopic.topicId = "00".repeat(4097);
  throwsCode(() => contentFromJson(bigTopic), "MIMI_ERR_CONTENT_TOPIC_TOO_LARGE");
  const disp = sampleJson();
  (disp.nestedPart as { disposition: number }).disposition = 300;
  throwsCode(() => contentFromJson(disp), "MIMI_ERR_CONTENT_SCHEMA", /^nestedPart\.disposition/);
});

test("encodeContentFromJsonText: JSON text in, deterministic CBOR out; broken JSON is MIMI_ERR_CONTENT_JSON_INVALID", () => {
  const bytes = encodeContentFromJsonText(JSON.stringify(sampleJson()));
  assert.deepEqual(bytes, encodeContent(sampleContent()));
  assert.deepEqual(decodeContent(bytes), sampleContent());
  const err = throwsCode(() => encodeContentFromJsonText("{ salt: "), "MIMI_ERR_CONTENT_JSON_INVALID", /not valid JSON/);
  assert.equal(err.details?.path, "$");
  assert.ok(err.cause instanceof SyntaxError);
});

test("docs/content-json.md: both examples encode; example 1 is the draft's original message (ID from §5.1)", () => {
  const doc = readFileSync(path.join(repoRoot, "docs/content-json.md"), "utf8");
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1] ?? "");
  assert.equal(blocks.length, 2);
  const original = encodeContentFromJsonText(blocks[0] ?? "");
  assert.equal(original.byteLength, 193);
  // §5.1: message ID = h'017ce54837404c3696e0c747b985cb17 2716d0ed0a3d249ca63ace7d82a096f4'
  assert.equal(toHex(messageIdOfBytes(original)), "017ce54837404c3696e0c747b985cb172716d0ed0a3d249ca63ace7d82a096f4");
  const rich = encodeContentFromJsonText(blocks[1] ?? "");
  const back = contentToJson(decodeContent(rich));
  assert.deepEqual(back, JSON.parse(blocks[1] ?? ""), "example 2 is already in canonical order and round-trips");
});

test("implied fields have a JSON form too (large timestamps as decimal strings, extended time as pairs)", () => {
  const values = {
    messageId: h("01".repeat(32)),
    hubAcceptedTimestamp: 2n ** 63n,
    mlsGroupId: h("eeee"),
    senderLeafIndex: 4,
    senderClientUrl: "mimi://example.com/d/x/0003",
    senderUserUrl: ALICE,
    roomUrl: ROOM,
  };
  const json = JSON.parse(JSON.stringify(messageDerivedValuesToJson(values))) as unknown;
  assert.equal((json as { hubAcceptedTimestamp: unknown }).hubAcceptedTimestamp, "9223372036854775808");
  assert.deepEqual(messageDerivedValuesFromJson(json), values);
  const extended = { ...values, hubAcceptedTimestamp: { extendedTime: new Map<number | string | Uint8Array, CborValue>([[1, 1644387225], [-3, 19]]) } };
  assert.deepEqual(messageDerivedValuesFromJson(JSON.parse(JSON.stringify(messageDerivedValuesToJson(extended)))), extended);
  throwsCode(() => messageDerivedValuesFromJson({ ...(json as object), senderLeafIndex: "4" }), "MIMI_ERR_CONTENT_JSON_INVALID", /^senderLeafIndex/);
});
