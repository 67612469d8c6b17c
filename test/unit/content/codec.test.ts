// MimiContent codec: the CDDL of Appendix A.1, the data model and depth restrictions of §6 and the
// structural limits of §9.1. Invalid inputs are crafted with the generic CBOR encoder (which
// checks nothing about MIMI) or by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bytesEqual,
  CborFloat,
  CborTag,
  decodeContent,
  decodeContentLenient,
  Disposition,
  dispositionName,
  effectiveDisposition,
  encodeCbor,
  encodeContent,
  MimiContentLimits,
  partsDepthFirst,
  toHex,
  validateContent,
} from "../../../src/content/index.ts";
import type { CborValue, MimiContent, NestedPart } from "../../../src/content/index.ts";
import { ALICE, h, MINIMAL, nestedChain, ROOM, SALT, sampleContent, textPart, throwsCode } from "./helpers.ts";

/** A valid content array in the generic CBOR model, with some of the 7 fields replaced. */
function craft(replace: Record<number, CborValue> = {}): Uint8Array {
  const fields: CborValue[] = [
    SALT,
    null,
    new Uint8Array(0),
    null,
    null,
    new Map<number | string, CborValue>([
      [1, ALICE],
      [2, ROOM],
    ]),
    [1, "", 1, "text/plain;charset=utf-8", h("68")],
  ];
  for (const [i, v] of Object.entries(replace)) fields[Number(i)] = v;
  return encodeCbor(fields);
}

const nullPart = (): CborValue[] => [1, "", 0];

test("the minimal content, written by hand from the CDDL, decodes and re-encodes byte for byte", () => {
  const content = decodeContent(MINIMAL);
  assert.deepEqual(content, {
    salt: SALT,
    replaces: null,
    topicId: new Uint8Array(0),
    expires: null,
    inReplyTo: null,
    mimiExtensions: new Map(),
    nestedPart: { disposition: 1, language: "", cardinality: "nullpart" },
  });
  assert.ok(bytesEqual(encodeContent(content), MINIMAL));
});

test("every NestedPart kind round-trips: NullPart, SinglePart, ExternalPart with all fields, MultiPart with each semantics", () => {
  const external: NestedPart = {
    disposition: Disposition.attachment,
    language: "en",
    cardinality: "external",
    contentType: "video/mp4",
    url: "https://example.com/storage/8ksB4bSrrRE.mp4",
    expires: 0xffffffff,
    size: 18446744073709551615n,
    encAlg: 0xffff,
    key: h("21399320958a6f4c745dde670d95e0d8"),
    nonce: h("c86cf2c33f21527d1dd76f5b"),
    aad: h("aa"),
    hashAlg: 0xff,
    contentHash: h("9ab17a8c"),
    description: "2 hours of key signing video",
    filename: "bigfile.mp4",
  };
  for (const partSemantics of ["chooseOne", "singleUnit", "processAll"] as const) {
    const content = sampleContent({
      nestedPart: { disposition: 1, language: "", cardinality: "multi", partSemantics, parts: [textPart("x"), external, { disposition: 0, language: "fr", cardinality: "nullpart" }] },
    });
    const bytes = encodeContent(content);
    assert.deepEqual(decodeContent(bytes), content);
  }
});

test("MIMI-CONTENT-15 salt must be exactly 16 bytes", () => {
  throwsCode(() => decodeContent(craft({ 0: new Uint8Array(15) })), "MIMI_ERR_CONTENT_BAD_SALT", /^salt: /);
  throwsCode(() => decodeContent(craft({ 0: new Uint8Array(17) })), "MIMI_ERR_CONTENT_BAD_SALT");
  throwsCode(() => encodeContent(sampleContent({ salt: new Uint8Array(0) })), "MIMI_ERR_CONTENT_BAD_SALT");
  throwsCode(() => decodeContent(craft({ 0: "0123456789abcdef" })), "MIMI_ERR_CONTENT_SCHEMA", /salt: must be a byte string/);
});

test("MIMI-CONTENT-16 replaces and inReplyTo are null or 32-byte message IDs", () => {
  throwsCode(() => decodeContent(craft({ 1: new Uint8Array(31) })), "MIMI_ERR_CONTENT_BAD_MESSAGE_ID", /^replaces: /);
  throwsCode(() => decodeContent(craft({ 4: new Uint8Array(33) })), "MIMI_ERR_CONTENT_BAD_MESSAGE_ID", /^inReplyTo: /);
  throwsCode(() => decodeContent(craft({ 4: false })), "MIMI_ERR_CONTENT_SCHEMA");
  // An unknown hash-algorithm octet is not a structural error: validateForReceipt discards it (§9.1).
  const id = new Uint8Array(32).fill(2);
  assert.deepEqual(decodeContent(craft({ 1: id })).replaces, id);
});

test("MIMI-CONTENT-14 topicId up to 4096 bytes is accepted, 4097 is discarded", () => {
  assert.equal(MimiContentLimits.maxTopicIdBytes, 4096);
  assert.equal(decodeContent(craft({ 2: new Uint8Array(4096) })).topicId.byteLength, 4096);
  const err = throwsCode(() => decodeContent(craft({ 2: new Uint8Array(4097) })), "MIMI_ERR_CONTENT_TOPIC_TOO_LARGE");
  assert.equal(err.details?.limit, 4096);
  throwsCode(() => encodeContent(sampleContent({ topicId: new Uint8Array(4097) })), "MIMI_ERR_CONTENT_TOPIC_TOO_LARGE");
});

test("MIMI-CONTENT-29 expires is null or [relative: bool, time: uint .size 4]", () => {
  assert.deepEqual(decodeContent(craft({ 3: [false, 1644390004] })).expires, { relative: false, time: 1644390004 });
  assert.deepEqual(decodeContent(craft({ 3: [true, 0xffffffff] })).expires, { relative: true, time: 0xffffffff });
  throwsCode(() => decodeContent(craft({ 3: [true, 0x100000000] })), "MIMI_ERR_CONTENT_SCHEMA", /expires.time/);
  throwsCode(() => decodeContent(craft({ 3: [1, 60] })), "MIMI_ERR_CONTENT_SCHEMA", /expires.relative/);
  throwsCode(() => decodeContent(craft({ 3: [true] })), "MIMI_ERR_CONTENT_SCHEMA", /expires/);
  throwsCode(() => decodeContent(craft({ 3: [true, -1] })), "MIMI_ERR_CONTENT_SCHEMA", /expires.time/);
});

test("MIMI-CONTENT-05 extension keys are integers or text strings of 1..255 octets", () => {
  const ext = (key: number | string | Uint8Array): Uint8Array => craft({ 5: new Map<number | string | Uint8Array, CborValue>([[key, 0]]) });
  assert.ok(decodeContent(ext("k".repeat(255))).mimiExtensions.has("k".repeat(255)));
  assert.ok(decodeContent(ext("é".repeat(127))).mimiExtensions.size === 1); // 254 octets
  assert.ok(decodeContent(ext(-7)).mimiExtensions.has(-7));
  throwsCode(() => decodeContent(ext("k".repeat(256))), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /1\.\.255 octets/);
  throwsCode(() => decodeContent(ext("é".repeat(128))), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /1\.\.255 octets/); // 256 octets
  throwsCode(() => decodeContent(ext("")), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /1\.\.255 octets/);
  throwsCode(() => decodeContent(ext(h("01"))), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /integer or a text string/);
  throwsCode(() => decodeContent(craft({ 5: [] })), "MIMI_ERR_CONTENT_SCHEMA", /mimiExtensions: must be a map/);
});

test("MIMI-CONTENT-06 duplicate extension keys are rejected", () => {
  // {1: "a", 1: "b"} written by hand: the generic encoder refuses to produce it.
  const bytes = h(`87 50 000102030405060708090a0b0c0d0e0f f6 40 f6 f6  a2 01 6161 01 6162  83 01 60 00`);
  throwsCode(() => decodeContent(bytes), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /duplicate/);
});

test("MIMI-CONTENT-27 senderUri (1) and roomUri (2) must be text strings", () => {
  throwsCode(() => decodeContent(craft({ 5: new Map([[1, h("00")]]) })), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /senderUri/);
  throwsCode(() => decodeContent(craft({ 5: new Map<number, CborValue>([[2, new CborTag(32, ROOM)]]) })), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /roomUri/);
});

test("unknown extensions of every CBOR type are kept, and re-encoding stays byte-exact", () => {
  const ext = new Map<number | string, CborValue>([
    [1, ALICE],
    [2, ROOM],
    [3, new Map<number | string | Uint8Array, CborValue>([[1, 1644387225], [-3, 19]])],
    [-1, [true, false, null, new CborFloat(0.5), 2n ** 63n]],
    [256, new CborTag(1001, new Map([[1, 5]]))],
    ["x-vendor", new Map<number | string | Uint8Array, CborValue>([[h("beef"), "bytes key"]])],
  ]);
  const bytes = craft({ 5: ext });
  const content = decodeContent(bytes);
  assert.deepEqual(content.mimiExtensions, ext);
  assert.ok(bytesEqual(encodeContent(content), bytes));
});

test("MIMI-CONTENT-12 extensions nest tags, maps and arrays at most 4 levels deep (§6.3 example is the limit)", () => {
  // The §6.3 example: map (1) > array at key 256 (2) > array (3) > tag 32 (4) > text.
  const example = h(`
    a2 01 78 18 6d696d693a2f2f612e6578616d706c652f752f616c696365
       190100 82 82 42 1234 d820 72 687474703a2f2f6578616d706c652e636f6d
                 82 42 3456 19 168b`);
  const bytes = h(`87 50 000102030405060708090a0b0c0d0e0f f6 40 f6 f6 ${toHex(example)} 83 01 60 00`);
  assert.equal(decodeContent(bytes).mimiExtensions.size, 2);
  // One level more: the text inside tag 32 becomes an array (level 5).
  const deeper = craft({ 5: new Map([[256, [[h("1234"), new CborTag(32, ["http://example.com"])]]]]) });
  const err = throwsCode(() => decodeContent(deeper), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED", /level 5/);
  assert.equal(err.details?.limit, 4);
  throwsCode(() => encodeContent(sampleContent({ mimiExtensions: new Map([[9, [[[[]]]]]]) })), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED");
  assert.ok(encodeContent(sampleContent({ mimiExtensions: new Map([[9, [[[]]]]]) })).byteLength > 0);
});

test("MIMI-CONTENT-07 MIMI-CONTENT-08 keys of maps inside extensions: int/tstr/bstr, integers within ±(2^53 - 1)", () => {
  const bad = [new Map<unknown, CborValue>([[1.5, 0]]), new Map<unknown, CborValue>([[2n ** 53n, 0]]), new Map<unknown, CborValue>([[[1], 0]])];
  for (const inner of bad) {
    throwsCode(() => encodeContent(sampleContent({ mimiExtensions: new Map([[7, inner as CborValue]]) })), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /map key/);
  }
});

test("MIMI-CONTENT-11 NestedParts nest at most 4 levels deep (multipart-3 is at the limit)", () => {
  const four = sampleContent({ nestedPart: nestedChain(4) });
  assert.deepEqual(decodeContent(encodeContent(four)), four);
  assert.equal(validateContent(four).depth, 4);
  throwsCode(() => encodeContent(sampleContent({ nestedPart: nestedChain(5) })), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED", /level 5/);
  let body: CborValue = nullPart();
  for (let i = 0; i < 4; i++) body = [1, "", 3, 2, [body, nullPart()]];
  const err = throwsCode(() => decodeContent(craft({ 6: body })), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED");
  assert.match(err.message, /nestedPart\.parts\[0\]\.parts\[0\]\.parts\[0\]\.parts\[0\]/);
});

test("MIMI-CONTENT-13 at most 1024 body parts (every NestedPart counts, as the part index does)", () => {
  const body = (children: number): CborValue => [1, "", 3, 2, Array.from({ length: children }, nullPart)];
  assert.equal(partsDepthFirst(decodeContent(craft({ 6: body(1023) })).nestedPart).length, 1024);
  const err = throwsCode(() => decodeContent(craft({ 6: body(1024) })), "MIMI_ERR_CONTENT_TOO_MANY_PARTS");
  assert.equal(err.details?.limit, 1024);
});

test("MIMI-CONTENT-28 a MultiPart has at least two parts", () => {
  throwsCode(() => decodeContent(craft({ 6: [1, "", 3, 0, [nullPart()]] })), "MIMI_ERR_CONTENT_SCHEMA", /at least 2 parts/);
  throwsCode(() => decodeContent(craft({ 6: [1, "", 3, 0, []] })), "MIMI_ERR_CONTENT_SCHEMA", /at least 2 parts/);
});

test("MIMI-CONTENT-22 an unknown PartSemantics value is discarded (§9.1)", () => {
  throwsCode(() => decodeContent(craft({ 6: [1, "", 3, 3, [nullPart(), nullPart()]] })), "MIMI_ERR_CONTENT_SCHEMA", /PartSemantics/);
  throwsCode(() => encodeContent(sampleContent({ nestedPart: { disposition: 1, language: "", cardinality: "multi", partSemantics: "pickAny" as "chooseOne", parts: [textPart("a"), textPart("b")] } })), "MIMI_ERR_CONTENT_SCHEMA", /PartSemantics/);
});

test("MIMI-CONTENT-23 unknown dispositions 9..255 are kept and treated as render; above 255 is invalid", () => {
  const content = decodeContent(craft({ 6: [200, "", 0] }));
  assert.equal(content.nestedPart.disposition, 200);
  assert.equal(effectiveDisposition(200), Disposition.render);
  assert.equal(effectiveDisposition(Disposition.preview), Disposition.preview);
  assert.equal(dispositionName(200), "unknown");
  assert.equal(dispositionName(6), "attachment");
  throwsCode(() => decodeContent(craft({ 6: [256, "", 0] })), "MIMI_ERR_CONTENT_SCHEMA", /disposition/);
  throwsCode(() => decodeContent(craft({ 6: [new CborFloat(1), "", 0] })), "MIMI_ERR_CONTENT_SCHEMA", /disposition/);
});

test("MIMI-CONTENT-30 ExternalPart field widths: expires u32, size u64, encAlg u16, hashAlg u8", () => {
  const ext = (fields: Record<number, CborValue>): Uint8Array => {
    const part: CborValue[] = [6, "", 2, "", "https://example.com/x", 0, 0, 0, h(""), h(""), h(""), 0, h(""), "", ""];
    for (const [i, v] of Object.entries(fields)) part[Number(i)] = v;
    return craft({ 6: part });
  };
  assert.equal(decodeContent(ext({ 6: 2n ** 64n - 1n })).nestedPart.cardinality, "external");
  throwsCode(() => decodeContent(ext({ 5: 2 ** 32 })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart\.expires/);
  throwsCode(() => decodeContent(ext({ 7: 0x10000 })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart\.encAlg/);
  throwsCode(() => decodeContent(ext({ 11: 0x100 })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart\.hashAlg/);
  throwsCode(() => decodeContent(ext({ 6: -1 })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart\.size/);
  throwsCode(() => decodeContent(ext({ 4: new CborTag(32, "https://example.com/x") })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart\.url/);
});

test("MIMI-CONTENT-33 the top-level array and the NestedPart arrays have the shapes of the CDDL", () => {
  throwsCode(() => decodeContent(encodeCbor([SALT, null, h(""), null, null, new Map()])), "MIMI_ERR_CONTENT_SCHEMA", /7 elements/);
  throwsCode(() => decodeContent(encodeCbor(new Map([[0, SALT]]))), "MIMI_ERR_CONTENT_SCHEMA", /7 elements/);
  throwsCode(() => decodeContent(craft({ 6: [1, "", 4] })), "MIMI_ERR_CONTENT_SCHEMA", /cardinality/);
  throwsCode(() => decodeContent(craft({ 6: [1, "", 1, "text/plain"] })), "MIMI_ERR_CONTENT_SCHEMA", /5 elements/);
  throwsCode(() => decodeContent(craft({ 6: [1, "", 0, "extra"] })), "MIMI_ERR_CONTENT_SCHEMA", /3 elements/);
  throwsCode(() => decodeContent(craft({ 6: [1, "", 1, "text/plain", "not bytes"] })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart\.content: must be a byte string/);
  throwsCode(() => decodeContent(craft({ 6: [1, h(""), 0] })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart\.language/);
  throwsCode(() => decodeContent(craft({ 6: "body" })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart/);
});

test("MIMI-CONTENT-24 content larger than the local limit is discarded before decoding", () => {
  throwsCode(() => decodeContent(MINIMAL, { maxBytes: MINIMAL.byteLength - 1 }), "MIMI_ERR_CONTENT_TOO_LARGE");
  assert.ok(decodeContent(MINIMAL, { maxBytes: MINIMAL.byteLength }));
  const big = craft({ 6: [1, "", 1, "application/octet-stream", new Uint8Array(MimiContentLimits.maxContentBytes)] });
  const err = throwsCode(() => decodeContent(big), "MIMI_ERR_CONTENT_TOO_LARGE");
  assert.equal(err.statusCode, 413);
});

test("MIMI-CONTENT-01 strict decoding rejects non-deterministic content; lenient decoding reports roundTrip false", () => {
  // MINIMAL with the salt length written in two bytes (58 10) instead of one (50).
  const nonMinimal = h(`87 5810 000102030405060708090a0b0c0d0e0f f6 40 f6 f6 a0 83 01 60 00`);
  throwsCode(() => decodeContent(nonMinimal), "MIMI_ERR_CONTENT_NOT_DETERMINISTIC");
  const lenient = decodeContentLenient(nonMinimal);
  assert.equal(lenient.roundTrip, false);
  assert.equal(lenient.nonDeterministic.length, 1);
  assert.deepEqual(lenient.content, decodeContent(MINIMAL));
  // Extensions in RFC 7049 length-first order ("a" before 256) instead of bytewise order.
  const unsorted = h(`87 50 000102030405060708090a0b0c0d0e0f f6 40 f6 f6 a2 6161 00 190100 00 83 01 60 00`);
  throwsCode(() => decodeContent(unsorted), "MIMI_ERR_CONTENT_NOT_DETERMINISTIC", /sorted bytewise/);
  assert.equal(decodeContentLenient(unsorted).roundTrip, false);
  assert.equal(decodeContentLenient(MINIMAL).roundTrip, true);
});

test("§4.4 part index: depth-first from the body, as Appendix B.3 numbers multipart-3's 11 parts", () => {
  const html = (lang: string): NestedPart => ({ disposition: 1, language: lang, cardinality: "single", contentType: "text/html;charset=utf-8", content: h("00") });
  const image: NestedPart = { disposition: Disposition.inline, language: "", cardinality: "single", contentType: "image/gif", content: h("00") };
  const languages: NestedPart = { disposition: 1, language: "", cardinality: "multi", partSemantics: "chooseOne", parts: [html("en"), html("fr")] };
  const withImage: NestedPart = { disposition: 1, language: "", cardinality: "multi", partSemantics: "processAll", parts: [languages, image] };
  const body: NestedPart = { disposition: 1, language: "", cardinality: "multi", partSemantics: "chooseOne", parts: [withImage, withImage] };
  const parts = partsDepthFirst(body);
  assert.equal(parts.length, 11);
  // B.3: 3 English, 4 French, 5 GIF; 8 English, 9 French, 10 PNG.
  assert.deepEqual(parts.map((p) => (p.part.cardinality === "single" ? p.part.language || p.part.contentType : "multi")), ["multi", "multi", "multi", "en", "fr", "image/gif", "multi", "multi", "en", "fr", "image/gif"]);
  assert.deepEqual(parts.map((p) => p.depth), [1, 2, 3, 4, 4, 3, 2, 3, 4, 4, 3]);
});

test("encoding validates runtime values a TypeScript caller could still get wrong", () => {
  const broken = (patch: Record<string, unknown>): MimiContent => ({ ...sampleContent(), ...patch });
  throwsCode(() => encodeContent(broken({ nestedPart: { ...textPart("x"), content: "x" } })), "MIMI_ERR_CONTENT_SCHEMA", /nestedPart\.content/);
  throwsCode(() => encodeContent(broken({ nestedPart: { ...textPart("x"), contentType: "text/\ud800" } })), "MIMI_ERR_CONTENT_SCHEMA", /surrogate/);
  throwsCode(() => encodeContent(broken({ mimiExtensions: { 1: ALICE } })), "MIMI_ERR_CONTENT_SCHEMA", /mimiExtensions/);
  throwsCode(() => encodeContent(broken({ nestedPart: { ...textPart("x"), cardinality: "double" } })), "MIMI_ERR_CONTENT_SCHEMA", /cardinality/);
  throwsCode(() => encodeContent(broken({ mimiExtensions: new Map([[1.5, "x"]]) })), "MIMI_ERR_CONTENT_EXTENSION_INVALID");
});
