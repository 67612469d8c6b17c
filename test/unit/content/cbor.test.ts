// Deterministic CBOR (RFC 8949 §4.2.1) as draft-ietf-mimi-content §6 profiles it. Expected
// encodings come from RFC 8949 Appendix A and from applying the §4.2.1 rules by hand.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CborFloat, CborTag, decodeCbor, encodeCbor, toHex } from "../../../src/content/index.ts";
import type { CborValue } from "../../../src/content/index.ts";
import { h, throwsCode } from "./helpers.ts";

const decodeStrict = (hex: string): CborValue => decodeCbor(h(hex)).value;

test("MIMI-CONTENT-02 integers, lengths and floats use the shortest form (RFC 8949 Appendix A)", () => {
  const cases: [CborValue, string][] = [
    [0, "00"],
    [23, "17"],
    [24, "1818"],
    [255, "18ff"],
    [256, "190100"],
    [65535, "19ffff"],
    [65536, "1a00010000"],
    [4294967296, "1b0000000100000000"],
    [18446744073709551615n, "1bffffffffffffffff"],
    [-1, "20"],
    [-25, "3818"],
    [-18446744073709551616n, "3bffffffffffffffff"],
    [new CborFloat(1), "f93c00"],
    [new CborFloat(1.5), "f93e00"],
    [new CborFloat(-0), "f98000"],
    [new CborFloat(100000), "fa47c35000"],
    [new CborFloat(1.1), "fb3ff199999999999a"],
    [new CborFloat(Infinity), "f97c00"],
    [new CborFloat(-Infinity), "f9fc00"],
    [new CborFloat(65504), "f97bff"],
    [new CborFloat(0.00006103515625), "f90400"],
    [new CborFloat(5.960464477539063e-8), "f90001"],
    // A binary16 subnormal that is not a power of two (cborg 6.1.5 alone would write fa34400000).
    [new CborFloat(3 * 2 ** -24), "f90003"],
    [new CborFloat(3.4028234663852886e38), "fa7f7fffff"],
    [new CborFloat(-4.1), "fbc010666666666666"],
    [new CborFloat(1.0e300), "fb7e37e43c8800759c"],
    [new CborFloat(NaN), "f97e00"],
    [new Uint8Array(24), `5818${"00".repeat(24)}`],
    ["a", "6161"],
    [[1, [2, 3]], "8201820203"],
    [new CborTag(32, "a"), "d8206161"],
  ];
  for (const [value, hex] of cases) {
    assert.equal(toHex(encodeCbor(value)), hex, `expected encoding ${hex}`);
    assert.deepEqual(decodeStrict(hex), value, `decoding of ${hex}`);
  }
});

test("MIMI-CONTENT-04 map keys sort bytewise by encoding (RFC 8949 §4.2.1), not RFC 7049 length-first", () => {
  const map = new Map<number | string | Uint8Array, CborValue>([
    ["a", 1],
    [256, 2],
    [10, 3],
    [-1, 4],
    [h("01"), 5],
  ]);
  // Encoded keys: 0a < 19 0100 < 20 < 41 01 < 61 61. Length-first would put 20, 4101 and 6161 before 190100.
  assert.deepEqual(encodeCbor(map), h("a5  0a 03  190100 02  20 04  4101 05  6161 01"));
  throwsCode(() => decodeCbor(h("a2 6161 00 190100 00")), "MIMI_ERR_CONTENT_NOT_DETERMINISTIC", /sorted bytewise/);
  throwsCode(() => decodeCbor(h("a2 02 00 01 00")), "MIMI_ERR_CONTENT_NOT_DETERMINISTIC");
});

test("MIMI-CONTENT-02 strict decoding rejects non-minimal integers, lengths, tags and floats", () => {
  for (const hex of ["1817", "190017", "1a00000017", "1b0000000000000017", "3817", "5800", "7800", "9800", "b800", "d80100", "fa3fc00000", "fb3ff8000000000000", "fb7ff0000000000000"]) {
    throwsCode(() => decodeCbor(h(hex)), "MIMI_ERR_CONTENT_NOT_DETERMINISTIC", undefined);
  }
  // The same inputs decode leniently, each with its reason listed.
  const lenient = decodeCbor(h("1817"), { mode: "lenient" });
  assert.equal(lenient.value, 23);
  assert.equal(lenient.nonDeterministic.length, 1);
  assert.match(lenient.nonDeterministic[0] ?? "", /shortest form/);
});

test("MIMI-CONTENT-03 indefinite-length strings, arrays and maps are not deterministic", () => {
  for (const hex of ["5f4101ff", "7f6161ff", "9f01ff", "bf0101ff"]) {
    throwsCode(() => decodeCbor(h(hex)), "MIMI_ERR_CONTENT_NOT_DETERMINISTIC", /indefinite/);
  }
  assert.deepEqual(decodeCbor(h("5f 4101 4102 ff"), { mode: "lenient" }).value, h("0102"));
  assert.equal(decodeCbor(h("7f 6161 6162 ff"), { mode: "lenient" }).value, "ab");
  assert.deepEqual(decodeCbor(h("9f 01 02 ff"), { mode: "lenient" }).value, [1, 2]);
  assert.deepEqual(decodeCbor(h("bf 01 02 ff"), { mode: "lenient" }).value, new Map([[1, 2]]));
  // A chunk of another major type is malformed even leniently (RFC 8949 §3.2.3).
  throwsCode(() => decodeCbor(h("5f 6161 ff"), { mode: "lenient" }), "MIMI_ERR_CONTENT_CBOR_MALFORMED");
});

test("MIMI-CONTENT-06 duplicate map keys are rejected, also when spelled differently in lenient mode", () => {
  throwsCode(() => decodeCbor(h("a2 01 00 01 00")), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /duplicate/);
  throwsCode(() => decodeCbor(h("a2 01 00 1801 00"), { mode: "lenient" }), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /duplicate/);
  throwsCode(() => encodeCbor(new Map([[h("01"), 1], [h("01"), 2]])), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /duplicate/);
});

test("MIMI-CONTENT-07 map keys are integers, text strings or byte strings only (§6.2)", () => {
  for (const hex of ["a1 80 00", "a1 a0 00", "a1 f93c00 00", "a1 f5 00", "a1 f6 00", "a1 c1 00 00"]) {
    throwsCode(() => decodeCbor(h(hex)), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /map key/);
  }
  assert.deepEqual(decodeStrict("a3 01 00 41 01 00 61 61 00"), new Map<number | string | Uint8Array, CborValue>([[1, 0], [h("01"), 0], ["a", 0]]));
});

test("MIMI-CONTENT-08 integer map keys must be representable as a double: ±(2^53 - 1)", () => {
  assert.deepEqual(decodeStrict("a1 1b001fffffffffffff 00"), new Map([[Number.MAX_SAFE_INTEGER, 0]]));
  assert.deepEqual(decodeStrict("a1 3b001ffffffffffffe 00"), new Map([[Number.MIN_SAFE_INTEGER, 0]]));
  throwsCode(() => decodeCbor(h("a1 1b0020000000000000 00")), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /double/);
  throwsCode(() => decodeCbor(h("a1 3b001fffffffffffff 00")), "MIMI_ERR_CONTENT_EXTENSION_INVALID", /double/);
});

test("MIMI-CONTENT-09 the only NaN permitted is the half-width quiet NaN 0xf97e00", () => {
  assert.ok(Number.isNaN((decodeStrict("f97e00") as CborFloat).value));
  for (const hex of ["f97e01", "f97c01", "f9fe00", "fa7fc00000", "fb7ff8000000000000"]) {
    throwsCode(() => decodeCbor(h(hex), { mode: "lenient" }), "MIMI_ERR_CONTENT_SCHEMA", /NaN/);
  }
});

test("MIMI-CONTENT-10 text strings must be valid UTF-8; a byte order mark is kept as data", () => {
  throwsCode(() => decodeCbor(h("62 c328")), "MIMI_ERR_CONTENT_CBOR_MALFORMED", /UTF-8/);
  throwsCode(() => decodeCbor(h("63 eda080")), "MIMI_ERR_CONTENT_CBOR_MALFORMED", /UTF-8/); // encoded surrogate
  throwsCode(() => decodeCbor(h("7f 61c3 61a9 ff"), { mode: "lenient" }), "MIMI_ERR_CONTENT_CBOR_MALFORMED", /UTF-8/); // split character
  assert.equal(toHex(encodeCbor(decodeStrict("63 efbbbf") as string)), "63efbbbf");
  throwsCode(() => encodeCbor("\ud800"), "MIMI_ERR_CONTENT_SCHEMA", /surrogate/);
});

test("undefined and unassigned simple values are outside the MIMI data model; reserved forms are malformed", () => {
  throwsCode(() => decodeCbor(h("f7")), "MIMI_ERR_CONTENT_SCHEMA", /undefined/);
  throwsCode(() => decodeCbor(h("f0")), "MIMI_ERR_CONTENT_SCHEMA", /simple value/);
  throwsCode(() => decodeCbor(h("f820")), "MIMI_ERR_CONTENT_SCHEMA", /simple value/);
  throwsCode(() => decodeCbor(h("f818")), "MIMI_ERR_CONTENT_CBOR_MALFORMED");
  throwsCode(() => encodeCbor(undefined as unknown as CborValue), "MIMI_ERR_CONTENT_SCHEMA");
  throwsCode(() => encodeCbor(1.5), "MIMI_ERR_CONTENT_SCHEMA", /CborFloat/);
  throwsCode(() => encodeCbor(2n ** 64n), "MIMI_ERR_CONTENT_SCHEMA");
  throwsCode(() => encodeCbor({ a: 1 } as unknown as CborValue), "MIMI_ERR_CONTENT_SCHEMA");
});

test("malformed CBOR: truncation, reserved additional information, stray break, trailing bytes, impossible lengths", () => {
  const malformed = ["", "18", "1a0000", "62 61", "82 01", "a1 01", "1c", "5c", "ff", "00 00", "5b ffffffffffffffff", "9b 0000000100000000 00", "9a ffffffff", "bf 01 ff", "d8"];
  for (const hex of malformed) throwsCode(() => decodeCbor(h(hex), { mode: "lenient" }), "MIMI_ERR_CONTENT_CBOR_MALFORMED");
  // The error names where the data item that ran out starts.
  const err = throwsCode(() => decodeCbor(h("82 01 62 61")), "MIMI_ERR_CONTENT_CBOR_MALFORMED", /offset 2/);
  assert.equal(err.details?.offset, 2);
});

test("nesting deeper than MimiContentLimits.maxCborNesting (16) is refused before any schema check", () => {
  assert.ok(Array.isArray(decodeStrict("81".repeat(16) + "00")));
  throwsCode(() => decodeCbor(h("81".repeat(17) + "00")), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED");
  throwsCode(() => decodeCbor(h("c1".repeat(17) + "00")), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED");
  // A deep indefinite array is stopped just the same.
  throwsCode(() => decodeCbor(h("9f".repeat(100_000)), { mode: "lenient" }), "MIMI_ERR_CONTENT_DEPTH_EXCEEDED");
});

test("MIMI-CONTENT-02 bignums that fit a plain integer are not deterministic (§6.1: bigints as regular integers)", () => {
  throwsCode(() => decodeCbor(h("c2 48 0100000000000000")), "MIMI_ERR_CONTENT_NOT_DETERMINISTIC", /bignum/);
  throwsCode(() => decodeCbor(h("c2 49 000100000000000000")), "MIMI_ERR_CONTENT_NOT_DETERMINISTIC", /bignum/);
  const big = decodeStrict("c2 49 010000000000000000");
  assert.ok(big instanceof CborTag && big.tag === 2);
  assert.equal(toHex(encodeCbor(big)), "c249010000000000000000");
});

test("tags are kept with their content, including 64-bit tag numbers", () => {
  const uri = decodeStrict("d820 72 687474703a2f2f6578616d706c652e636f6d");
  assert.deepEqual(uri, new CborTag(32, "http://example.com"));
  const wide = decodeStrict("db ffffffffffffffff 00");
  assert.ok(wide instanceof CborTag && wide.tag === 18446744073709551615n);
  assert.equal(toHex(encodeCbor(wide)), "dbffffffffffffffff00");
});
