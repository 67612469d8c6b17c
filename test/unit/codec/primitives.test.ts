// Fixed-size integers (RFC 8446 §3.3), opaque[N] and opaque<V> (RFC 8446 §3.4, RFC 9420
// §2.1.2), UTF-8 strings, and the copy/alias rule for decoded bytes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode, opaque, opaqueV, uint16, uint32, uint64, uint8, utf8V } from "../../../src/codec/index.ts";
import type { Codec } from "../../../src/codec/index.ts";
import { expectCodecError, hex, toHex } from "./helpers.ts";

function kat<T>(codec: Codec<T>, value: T, bytes: string): void {
  assert.equal(toHex(encode(codec, value)), bytes.replace(/\s+/g, ""), `${codec.name} encode ${String(value)}`);
  assert.deepEqual(decodeExact(codec, hex(bytes)), value, `${codec.name} decode ${bytes}`);
}

test("MIMI-CODEC-07 uint8/16/32/64 are big-endian (RFC 8446 §3.3: 01 02 03 04 is 16909060)", () => {
  kat(uint8, 0, "00");
  kat(uint8, 0xff, "ff");
  kat(uint16, 0x1234, "1234");
  kat(uint16, 0xffff, "ffff");
  kat(uint32, 16909060, "01020304");
  // Above 2^31: must stay positive (no signed 32-bit shift artefacts).
  kat(uint32, 0xdeadbeef, "deadbeef");
  kat(uint32, 0xffffffff, "ffffffff");
  kat(uint64, 0x0102030405060708n, "0102030405060708");
  kat(uint64, 0n, "0000000000000000");
  // Beyond Number.MAX_SAFE_INTEGER, which is why uint64 is a bigint.
  kat(uint64, 2n ** 64n - 1n, "ffffffffffffffff");
  kat(uint64, 2n ** 53n + 1n, "0020000000000001");
});

test("MIMI-CODEC-07 encoding integers that do not fit is MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", () => {
  const bad: [Codec<number>, unknown][] = [
    [uint8, 256],
    [uint8, -1],
    [uint8, 1.5],
    [uint8, Number.NaN],
    [uint8, "1"],
    [uint8, undefined],
    [uint16, 0x10000],
    [uint16, Number.POSITIVE_INFINITY],
    [uint32, 2 ** 32],
    [uint32, -0.5],
  ];
  for (const [codec, value] of bad) {
    expectCodecError(() => encode(codec, value as number), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { type: codec.name });
  }
  for (const value of [-1n, 2n ** 64n, 1 as unknown as bigint]) {
    expectCodecError(() => encode(uint64, value), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { type: "uint64" });
  }
});

test("MIMI-CODEC-14 integers cut short are MIMI_ERR_CODEC_TRUNCATED at the right offset", () => {
  expectCodecError(() => decodeExact(uint8, new Uint8Array(0)), "MIMI_ERR_CODEC_TRUNCATED", { offset: 0, needed: 1 });
  expectCodecError(() => decodeExact(uint16, hex("12")), "MIMI_ERR_CODEC_TRUNCATED", { offset: 0, needed: 2, available: 1 });
  expectCodecError(() => decodeExact(uint32, hex("010203")), "MIMI_ERR_CODEC_TRUNCATED", { needed: 4, available: 3 });
  // uint64 reads two halves: the second half is the one missing, at offset 4.
  expectCodecError(() => decodeExact(uint64, hex("01020304050607")), "MIMI_ERR_CODEC_TRUNCATED", { offset: 4, needed: 4, available: 3 });
});

test("MIMI-CODEC-09 decodeExact rejects bytes after the value with MIMI_ERR_CODEC_TRAILING_BYTES", () => {
  expectCodecError(() => decodeExact(uint8, hex("0102")), "MIMI_ERR_CODEC_TRAILING_BYTES", { offset: 1, trailing: 1, path: "uint8" });
  expectCodecError(() => decodeExact(opaqueV, hex("01aa bbcc")), "MIMI_ERR_CODEC_TRAILING_BYTES", { offset: 2, trailing: 2 });
});

test("MIMI-CODEC-08 opaque[N] is exactly N bytes, no prefix; other lengths are refused", () => {
  const o4 = opaque(4);
  kat(o4, hex("deadbeef"), "deadbeef");
  kat(opaque(0), new Uint8Array(0), "");
  expectCodecError(() => encode(o4, hex("010203")), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { type: "opaque[4]", expected: 4 });
  expectCodecError(() => encode(o4, hex("0102030405")), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { expected: 4 });
  expectCodecError(() => encode(o4, [1, 2, 3, 4] as unknown as Uint8Array), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE");
  expectCodecError(() => decodeExact(o4, hex("010203")), "MIMI_ERR_CODEC_TRUNCATED", { offset: 0, needed: 4, available: 3 });
  expectCodecError(() => opaque(-1), "MIMI_ERR_INTERNAL");
});

test("opaque<V> is a varint byte length then the bytes", () => {
  kat(opaqueV, new Uint8Array(0), "00");
  kat(opaqueV, hex("010203"), "03 010203");
  expectCodecError(() => encode(opaqueV, "abc" as unknown as Uint8Array), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { type: "opaque<V>" });
});

test("MIMI-CODEC-10 a <V> length beyond the remaining input is MIMI_ERR_CODEC_TRUNCATED without allocating it", () => {
  // 0xbfffffff claims 1 GiB - 1; the limit is raised to the maximum so only the truncation check
  // can stop it. If the decoder allocated first, this test would be slow or run out of memory.
  const err = expectCodecError(
    () => decodeExact(opaqueV, hex("bfffffff 00"), { maxVectorLength: 2 ** 30 - 1 }),
    "MIMI_ERR_CODEC_TRUNCATED",
    { offset: 0, needed: 2 ** 30 - 1, available: 1 },
  );
  assert.match(err.message, /exceeds the 1 bytes that remain/);
});

test("MIMI-CODEC-10 a <V> length above maxVectorLength is MIMI_ERR_CODEC_LENGTH_TOO_LARGE (default 16 MiB)", () => {
  expectCodecError(() => decodeExact(opaqueV, hex("05 0102030405"), { maxVectorLength: 4 }), "MIMI_ERR_CODEC_LENGTH_TOO_LARGE", {
    offset: 0,
    length: 5,
    limit: 4,
  });
  assert.deepEqual(decodeExact(opaqueV, hex("04 01020304"), { maxVectorLength: 4 }), hex("01020304"));
  // Default: 16 MiB + 1 is refused from the header alone, before looking for the body.
  expectCodecError(() => decodeExact(opaqueV, hex("81000001")), "MIMI_ERR_CODEC_LENGTH_TOO_LARGE", { length: 16 * 1024 * 1024 + 1, limit: 16 * 1024 * 1024 });
  // Exactly 16 MiB passes the limit and is then only short of bytes.
  expectCodecError(() => decodeExact(opaqueV, hex("81000000")), "MIMI_ERR_CODEC_TRUNCATED");
});

test("decode options are validated: a bad limit is a MIMI_ERR_INTERNAL MimiError, not a RangeError", () => {
  expectCodecError(() => decodeExact(uint8, hex("00"), { maxVectorLength: -1 }), "MIMI_ERR_INTERNAL");
  expectCodecError(() => decodeExact(uint8, hex("00"), { maxDepth: 1.5 }), "MIMI_ERR_INTERNAL");
  expectCodecError(() => decodeExact(uint8, "00" as unknown as Uint8Array), "MIMI_ERR_INTERNAL");
});

test("utf8<V> carries UTF-8 text as opaque<V>, keeping a leading BOM", () => {
  kat(utf8V, "", "00");
  kat(utf8V, "héllo", "06 68c3a96c6c6f");
  kat(utf8V, "mimi://a.example/u/alice", "18" + toHex(new TextEncoder().encode("mimi://a.example/u/alice")));
  kat(utf8V, "😀", "04 f09f9880");
  kat(utf8V, "\ufeffx", "04 efbbbf78");
});

test("MIMI-CODEC-12 invalid UTF-8 is rejected as MIMI_ERR_CODEC_INVALID_UTF8 (fatal decoding, RFC 3629 §3)", () => {
  const invalid = [
    "c0af", // overlong "/"
    "e080af", // overlong, 3 bytes
    "80", // lone continuation byte
    "eda080", // UTF-16 surrogate U+D800
    "f4908080", // above U+10FFFF
    "e282", // truncated sequence
    "ff",
  ];
  for (const body of invalid) {
    const len = (body.length / 2).toString(16).padStart(2, "0");
    expectCodecError(() => decodeExact(utf8V, hex(`${len} ${body}`)), "MIMI_ERR_CODEC_INVALID_UTF8", { offset: 1, length: body.length / 2 });
  }
  // Encoding refuses lone surrogates instead of silently sending U+FFFD.
  expectCodecError(() => encode(utf8V, "a\ud800b"), "MIMI_ERR_CODEC_INVALID_UTF8");
  expectCodecError(() => encode(utf8V, 42 as unknown as string), "MIMI_ERR_CODEC_INVALID_UTF8");
});

test("decoded opaque values are copies by default: reusing the input buffer does not change them", () => {
  // A Node Buffer, as an HTTP body would be: Buffer#slice would alias, so the codec must not use it.
  const input = Buffer.from("03aabbcc", "hex");
  const value = decodeExact(opaqueV, input);
  input.fill(0);
  assert.deepEqual(value, hex("aabbcc"));
  assert.equal(Object.getPrototypeOf(value), Uint8Array.prototype, "decoded bytes are a plain Uint8Array, not a Buffer");
  assert.notEqual(value.buffer, input.buffer);

  const fixed = decodeExact(opaque(2), hex("0102"));
  assert.equal(fixed.byteLength, fixed.buffer.byteLength, "a copy owns exactly its bytes");
});

test("aliasInput: true returns zero-copy views into the input", () => {
  const input = hex("ff 03aabbcc").subarray(1);
  const value = decodeExact(opaqueV, input, { aliasInput: true });
  assert.deepEqual(value, hex("aabbcc"));
  assert.equal(value.buffer, input.buffer);
  assert.equal(value.byteOffset, input.byteOffset + 1);
  input[1] = 0x11;
  assert.equal(value[0], 0x11, "the view sees later changes to the input, as documented");
});

test("encode returns a fresh buffer of exactly the encoded size", () => {
  const a = encode(opaqueV, hex("0102"));
  const b = encode(opaqueV, hex("0102"));
  assert.equal(a.buffer.byteLength, 3);
  assert.notEqual(a.buffer, b.buffer);
});
