// RFC 9420 §2.1.2 variable-length integers and <V> length headers.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MAX_VARINT, decodeExact, encode, opaqueV, varint, varintSize } from "../../../src/codec/index.ts";
import { expectCodecError, hex, toHex } from "./helpers.ts";

test("RFC 9420 §2.1.2 / RFC 9000 §A.1 examples decode and encode: 0x25=37, 0x7bbd=15293, 0x9d7f3e7d=494878333", () => {
  const examples: [string, number][] = [
    ["25", 37],
    ["7bbd", 15293],
    ["9d7f3e7d", 494878333],
  ];
  for (const [bytes, value] of examples) {
    assert.equal(decodeExact(varint, hex(bytes)), value, bytes);
    assert.equal(toHex(encode(varint, value)), bytes, String(value));
  }
});

test("MIMI-CODEC-01 varint boundaries use the minimal form: 0, 63 | 64, 16383 | 16384, 2^30-1", () => {
  const cases: [number, string][] = [
    [0, "00"],
    [63, "3f"],
    [64, "4040"],
    [16383, "7fff"],
    [16384, "80004000"],
    [MAX_VARINT, "bfffffff"],
  ];
  for (const [value, bytes] of cases) {
    assert.equal(toHex(encode(varint, value)), bytes, String(value));
    assert.equal(decodeExact(varint, hex(bytes)), value, bytes);
    assert.equal(varintSize(value), bytes.length / 2);
  }
  assert.equal(MAX_VARINT, 2 ** 30 - 1);
});

test("MIMI-CODEC-01 non-minimal varints are rejected as MIMI_ERR_CODEC_NON_MINIMAL_LENGTH", () => {
  // 37 in two bytes (RFC 9000 §A.1 notes 0x4025 also means 37 in QUIC; MLS forbids it), 63 in two,
  // 0 and 16383 in four.
  for (const bytes of ["4025", "403f", "4000", "80000000", "80003fff", "8000003f"]) {
    expectCodecError(() => decodeExact(varint, hex(bytes)), "MIMI_ERR_CODEC_NON_MINIMAL_LENGTH", { offset: 0 });
  }
  // The same check applies to vector length headers, at the header's offset.
  expectCodecError(() => decodeExact(opaqueV, hex("4001 aa")), "MIMI_ERR_CODEC_NON_MINIMAL_LENGTH", { offset: 0, value: 1 });
});

test("MIMI-CODEC-01 property: every value encodes minimally and round-trips; padded forms are rejected", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: MAX_VARINT }), (v) => {
      const bytes = encode(varint, v);
      assert.equal(bytes.length, v < 64 ? 1 : v < 16384 ? 2 : 4);
      assert.equal(decodeExact(varint, bytes), v);
      // The same value forced into a longer form must be refused.
      if (v < 64) expectCodecError(() => decodeExact(varint, Uint8Array.of(0x40, v)), "MIMI_ERR_CODEC_NON_MINIMAL_LENGTH");
      if (v < 16384) {
        expectCodecError(() => decodeExact(varint, Uint8Array.of(0x80, 0, v >> 8, v & 0xff)), "MIMI_ERR_CODEC_NON_MINIMAL_LENGTH");
      }
    }),
    { numRuns: 2000 },
  );
});

test("MIMI-CODEC-02 the 0b11 prefix is rejected as MIMI_ERR_CODEC_INVALID_VARINT (RFC 9000's 8-byte form is not MLS)", () => {
  // RFC 9000 §A.1: 0xc2197c5eff14e88c is 151288809941952652 in QUIC.
  expectCodecError(() => decodeExact(varint, hex("c2197c5eff14e88c")), "MIMI_ERR_CODEC_INVALID_VARINT", { offset: 0, firstByte: 0xc2 });
  for (let first = 0xc0; first <= 0xff; first++) {
    expectCodecError(() => decodeExact(varint, Uint8Array.of(first, 0, 0, 0, 0, 0, 0, 0)), "MIMI_ERR_CODEC_INVALID_VARINT");
  }
  // Also as a vector length header, with the offset of the header inside the input.
  const err = expectCodecError(() => decodeExact(opaqueV, hex("ff")), "MIMI_ERR_CODEC_INVALID_VARINT", { offset: 0 });
  assert.equal(err.details?.["path"], "opaque<V>");
});

test("MIMI-CODEC-03 encoding a varint outside 0..2^30-1 (or not an integer) is MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", () => {
  for (const bad of [2 ** 30, 2 ** 31, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    expectCodecError(() => encode(varint, bad), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { type: "varint" });
  }
  expectCodecError(() => encode(varint, "5" as unknown as number), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE");
});

test("MIMI-CODEC-14 a varint cut short is MIMI_ERR_CODEC_TRUNCATED with offset and bytes needed", () => {
  expectCodecError(() => decodeExact(varint, new Uint8Array(0)), "MIMI_ERR_CODEC_TRUNCATED", { offset: 0, needed: 1, available: 0 });
  expectCodecError(() => decodeExact(varint, hex("7b")), "MIMI_ERR_CODEC_TRUNCATED", { offset: 0, needed: 2, available: 1 });
  expectCodecError(() => decodeExact(varint, hex("9d7f3e")), "MIMI_ERR_CODEC_TRUNCATED", { offset: 0, needed: 4, available: 3 });
});

test("<V> length headers switch form at 64 and 16384 bytes and the body follows intact", () => {
  for (const [size, header] of [
    [0, "00"],
    [63, "3f"],
    [64, "4040"],
    [16383, "7fff"],
    [16384, "80004000"],
  ] as const) {
    const body = Uint8Array.from({ length: size }, (_, i) => (i * 7) & 0xff);
    const bytes = encode(opaqueV, body);
    assert.equal(bytes.length, header.length / 2 + size);
    assert.equal(toHex(bytes.subarray(0, header.length / 2)), header, `header for ${size}`);
    assert.deepEqual(decodeExact(opaqueV, bytes), body);
  }
});
