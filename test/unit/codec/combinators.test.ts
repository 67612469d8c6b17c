// vector<V> of T, optional<T>, enums, structs, selects and variants, lazy() and depth limits,
// and the error details (offset, path) that point at the bad byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decodeExact,
  empty,
  encode,
  enumOf,
  opaque,
  opaqueV,
  optional,
  selectOn,
  struct,
  uint16,
  uint32,
  uint64,
  uint8,
  utf8V,
  variant,
  vectorV,
} from "../../../src/codec/index.ts";
import type { Codec, Infer } from "../../../src/codec/index.ts";
import { MimiError } from "../../../src/errors.ts";
import { Body, BodyKind, IdentifierUri, LinkCodec, Protocol, ProtocolCodec, Role, RoleCodec, Sample, TreeNodeCodec } from "./sample.ts";
import type { Link } from "./sample.ts";
import { expectCodecError, hex, toHex } from "./helpers.ts";

function kat<T>(codec: Codec<T>, value: T, bytes: string): void {
  assert.equal(toHex(encode(codec, value)), bytes.replace(/\s+/g, ""), `${codec.name} encode`);
  assert.deepEqual(decodeExact(codec, hex(bytes)), value, `${codec.name} decode`);
}

// Compile-time checks of the inferred types (a wrong inference fails `tsc`, not this test run).
type Equal<A, B> = (<G>() => G extends A ? 1 : 2) extends <G>() => G extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
type _frankType = Expect<
  Equal<Infer<typeof Frank>, { serverFrank: Uint8Array; frankingSignatureCiphersuite: number; frankingIntegritySignature: Uint8Array }>
>;
type _bodyType = Expect<
  Equal<Infer<typeof Body>, { kind: 0 } | { kind: 1; text: string } | { kind: 2; hash: Uint8Array; size: bigint }>
>;
type _roleType = Expect<Equal<Infer<typeof RoleCodec>, 0 | 1 | 0x1234>>;
type _optionalType = Expect<Equal<Infer<ReturnType<typeof optional<number>>>, number | undefined>>;

// draft-ietf-mimi-protocol Frank, as the struct helper is meant to be used.
const Frank = struct("Frank", [
  ["serverFrank", opaque(32)],
  ["frankingSignatureCiphersuite", uint16],
  ["frankingIntegritySignature", opaqueV],
]);

test("MIMI-CODEC-04 vector<V> of T: the length counts bytes, not elements", () => {
  kat(vectorV(uint16), [], "00");
  kat(vectorV(uint16), [1, 0x0203], "04 0001 0203");
  kat(vectorV(opaqueV), [hex("01"), hex("0203")], "05 0101 020203");
  kat(vectorV(vectorV(uint8)), [[1], [], [2, 3]], "06 0101 00 020203");
});

test("MIMI-CODEC-04 an element that overruns the vector's length is rejected even if the input goes on", () => {
  // The vector claims 3 bytes: one uint16 fits, the second needs 2 but only 1 is left in the
  // vector; the byte after the vector must not be borrowed.
  const err = expectCodecError(() => decodeExact(vectorV(uint16), hex("03 0001 02 05")), "MIMI_ERR_CODEC_TRUNCATED", {
    offset: 3,
    needed: 2,
    available: 1,
    end: 4,
    insideVector: true,
  });
  assert.equal(err.details?.["path"], "uint16<V>[1]");
  // Same for a nested opaque<V> whose length runs past the enclosing vector.
  expectCodecError(() => decodeExact(vectorV(opaqueV), hex("02 05aa bbccddee")), "MIMI_ERR_CODEC_TRUNCATED", { offset: 1, needed: 5, available: 1, insideVector: true });
});

test("MIMI-CODEC-04 zero-size elements: encoding refuses them, decoding cannot loop on them", () => {
  const v = vectorV(empty);
  kat(v, [], "00");
  expectCodecError(() => encode(v, [{}]), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { path: "struct{}<V>[0]" });
  expectCodecError(() => decodeExact(v, hex("02 0000")), "MIMI_ERR_CODEC_TRAILING_BYTES", { offset: 1, trailing: 2 });
  expectCodecError(() => encode(vectorV(uint8), "nope" as unknown as number[]), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE");
});

test("MIMI-CODEC-05 optional<T>: 00 is absent, 01 then T is present", () => {
  const o = optional(uint32);
  kat(o, undefined, "00");
  kat(o, 0x01020304, "01 01020304");
  kat(optional(opaqueV), hex(""), "01 00");
});

test("MIMI-CODEC-05 a presence octet other than 0 or 1 is MIMI_ERR_CODEC_INVALID_OPTIONAL", () => {
  for (const presence of [2, 0x7f, 0xff]) {
    expectCodecError(() => decodeExact(optional(uint8), Uint8Array.of(presence, 0)), "MIMI_ERR_CODEC_INVALID_OPTIONAL", { offset: 0, value: presence });
  }
  // Inside a struct the offset is absolute and the path names the field.
  expectCodecError(() => decodeExact(Participant2, hex("01 61 0000 02")), "MIMI_ERR_CODEC_INVALID_OPTIONAL", { offset: 4, path: "Participant2.nickname" });
  expectCodecError(() => decodeExact(optional(uint16), hex("01 00")), "MIMI_ERR_CODEC_TRUNCATED", { offset: 1 });
});

const Participant2 = struct("Participant2", [
  ["uri", utf8V],
  ["role", RoleCodec],
  ["nickname", optional(utf8V)],
]);

test("MIMI-CODEC-06 enum codecs carry declared values in their base type", () => {
  kat(ProtocolCodec, Protocol.mls10, "01");
  kat(RoleCodec, Role.owner, "1234");
  assert.equal(RoleCodec.nameOf(0x1234), "owner");
  assert.equal(RoleCodec.nameOf(7), undefined);
  assert.ok(ProtocolCodec.isKnown(1));
  assert.ok(!ProtocolCodec.isKnown(2));
});

test("MIMI-CODEC-06 undeclared enum values are MIMI_ERR_CODEC_INVALID_ENUM on decode and on encode", () => {
  expectCodecError(() => decodeExact(ProtocolCodec, hex("02")), "MIMI_ERR_CODEC_INVALID_ENUM", { offset: 0, value: 2, enum: "Protocol" });
  expectCodecError(() => decodeExact(RoleCodec, hex("0002")), "MIMI_ERR_CODEC_INVALID_ENUM", { value: 2 });
  expectCodecError(() => encode(ProtocolCodec, 2 as 1), "MIMI_ERR_CODEC_INVALID_ENUM", { value: 2 });
});

test("MIMI-CODEC-06 allowUnknown keeps undeclared values but still checks the base type", () => {
  const Lenient = enumOf("ExtensionType", { applicationId: 1, ratchetTree: 2 }, uint16, { allowUnknown: true });
  kat(Lenient, 0xf000, "f000");
  kat(Lenient, 2, "0002");
  assert.equal(Lenient.nameOf(0xf000), undefined);
  expectCodecError(() => encode(Lenient, 0x10000), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE");
  expectCodecError(() => decodeExact(Lenient, hex("01")), "MIMI_ERR_CODEC_TRUNCATED");
});

test("enum declarations whose values do not fit the base type fail at declaration time", () => {
  expectCodecError(() => enumOf("Bad", { big: 256 }, uint8), "MIMI_ERR_INTERNAL");
  expectCodecError(() => enumOf("Bad", { neg: -1 }, uint16), "MIMI_ERR_INTERNAL");
});

test("struct: fields in declaration order with no framing (RFC 8446 §3.6)", () => {
  const value = { serverFrank: new Uint8Array(32).fill(0xaa), frankingSignatureCiphersuite: 1, frankingIntegritySignature: hex("0102") };
  kat(Frank, value, `${"aa".repeat(32)} 0001 02 0102`);
  // Keys come out in declaration order.
  assert.deepEqual(Object.keys(decodeExact(Frank, encode(Frank, value))), ["serverFrank", "frankingSignatureCiphersuite", "frankingIntegritySignature"]);
  assert.deepEqual(Frank.fieldNames, ["serverFrank", "frankingSignatureCiphersuite", "frankingIntegritySignature"]);
});

test("struct encoding reports the failing field's path; non-objects are refused", () => {
  const noSig = { serverFrank: new Uint8Array(32), frankingSignatureCiphersuite: 1 } as unknown as Infer<typeof Frank>;
  expectCodecError(() => encode(Frank, noSig), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { path: "Frank.frankingIntegritySignature" });
  const badSuite = { serverFrank: new Uint8Array(32), frankingSignatureCiphersuite: 70000, frankingIntegritySignature: hex("") };
  expectCodecError(() => encode(Frank, badSuite), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { path: "Frank.frankingSignatureCiphersuite" });
  for (const v of [null, undefined, 5, [1]]) {
    expectCodecError(() => encode(Frank, v as unknown as Infer<typeof Frank>), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { type: "Frank" });
  }
});

test("struct declaration mistakes fail at declaration time with MIMI_ERR_INTERNAL", () => {
  expectCodecError(() => struct("Dup", [["a", uint8], ["a", uint16]]), "MIMI_ERR_INTERNAL");
  expectCodecError(() => struct("Proto", [["__proto__", uint8]]), "MIMI_ERR_INTERNAL");
  expectCodecError(() => struct("Late", [selectOn("tag", { 1: empty }), ["tag", uint8]]), "MIMI_ERR_INTERNAL");
  expectCodecError(() => struct("Clash", [["tag", uint8], ["x", uint8], selectOn("tag", { 1: struct("one", [["x", uint16]]) })]), "MIMI_ERR_INTERNAL");
  expectCodecError(() => selectOn("tag", { 1: uint8 as never }), "MIMI_ERR_INTERNAL");
});

test("MIMI-CODEC-13 variant: the discriminant, then the fields of its arm (RFC 8446 §3.8)", () => {
  kat(Body, { kind: BodyKind.none }, "00");
  kat(Body, { kind: BodyKind.text, text: "hi" }, "01 02 6869");
  kat(Body, { kind: BodyKind.blob, hash: new Uint8Array(32).fill(7), size: 5n }, `02 ${"07".repeat(32)} 0000000000000005`);
});

test("MIMI-CODEC-13 a discriminant with no arm is MIMI_ERR_CODEC_INVALID_ENUM on decode and encode", () => {
  // A plain uint8 tag with arms for 1 and 2 only.
  const Shape = variant("Shape", "tag", uint8, { 1: struct("a", [["a", uint8]]), 2: struct("b", [["b", uint16]]) });
  kat(Shape, { tag: 2, b: 0x0102 }, "02 0102");
  expectCodecError(() => decodeExact(Shape, hex("03 00")), "MIMI_ERR_CODEC_INVALID_ENUM", { offset: 1, value: 3, on: "tag", path: "Shape.tag" });
  expectCodecError(() => encode(Shape, { tag: 3, a: 1 } as unknown as Infer<typeof Shape>), "MIMI_ERR_CODEC_INVALID_ENUM", { value: 3 });
  // An enum value that is declared but has no arm: Sample selects on protocol with mls10 only.
  const sample = sampleValue();
  const bytes = encode(Sample, sample);
  bytes[0] = Protocol.reserved;
  expectCodecError(() => decodeExact(Sample, bytes), "MIMI_ERR_CODEC_INVALID_ENUM", { on: "protocol", value: 0, path: "Sample.protocol" });
});

test("MIMI-CODEC-13 selectOn an earlier field: the arm's fields sit between the fields around it", () => {
  const Req = struct("Req", [
    ["protocol", ProtocolCodec],
    ["room", IdentifierUri],
    selectOn("protocol", { [Protocol.mls10]: struct("mls10", [["suites", vectorV(uint16)]]) }),
    ["tail", uint8],
  ]);
  type _reqType = Expect<Equal<Infer<typeof Req>, { protocol: 1; room: { uri: string }; suites: number[]; tail: number }>>;
  kat(Req, { protocol: 1, room: { uri: "r" }, suites: [1], tail: 9 }, "01 0172 020001 09");
  assert.deepEqual(Req.fieldNames, ["protocol", "room", "tail", "suites"]);
});

function sampleValue(): Sample {
  return {
    protocol: 1,
    roomId: { uri: "mimi://hub.example/r/clubhouse" },
    epoch: 42n,
    participants: [
      { user: { uri: "mimi://a.example/u/alice" }, role: Role.owner, nickname: "Alice" },
      { user: { uri: "mimi://b.example/u/bob" }, role: Role.member, nickname: undefined },
    ],
    topic: hex("c0ffee"),
    body: { kind: BodyKind.text, text: "hello" },
    cipherSuites: [1, 3],
    groupInfo: hex("0102"),
    flags: 0x80,
    sequence: 7,
    hops: 300,
  };
}

test("nested sample struct round-trips and the error path points into it", () => {
  const value = sampleValue();
  const bytes = encode(Sample, value);
  assert.deepEqual(decodeExact(Sample, bytes), value);
  // Corrupt the first byte of bob's URI into a lone continuation byte.
  const bob = new TextEncoder().encode("mimi://b.example/u/bob");
  const at = Buffer.from(bytes).indexOf(Buffer.from(bob));
  assert.ok(at > 0);
  bytes[at] = 0x80;
  expectCodecError(() => decodeExact(Sample, bytes), "MIMI_ERR_CODEC_INVALID_UTF8", { offset: at, path: "Sample.participants[1].user.uri" });
  // Trailing byte after a complete Sample.
  const longer = Uint8Array.of(...encode(Sample, value), 0);
  expectCodecError(() => decodeExact(Sample, longer), "MIMI_ERR_CODEC_TRAILING_BYTES", { offset: longer.length - 1, trailing: 1 });
});

function chain(links: number): Uint8Array {
  // Link = uint8 value, optional<Link> next: 00 01 | 00 01 | … | 00 00
  const out = new Uint8Array(links * 2);
  for (let i = 0; i < links; i++) out[i * 2 + 1] = i === links - 1 ? 0 : 1;
  return out;
}

test("MIMI-CODEC-11 recursion through lazy() is limited by maxDepth (MIMI_ERR_CODEC_DEPTH_EXCEEDED)", () => {
  // The outer Link is depth 0; each further Link enters lazy() once. The fifth Link (at offset 8)
  // is the first one too deep for maxDepth 3.
  assert.equal(countLinks(decodeExact(LinkCodec, chain(4), { maxDepth: 3 })), 4);
  expectCodecError(() => decodeExact(LinkCodec, chain(5), { maxDepth: 3 }), "MIMI_ERR_CODEC_DEPTH_EXCEEDED", { maxDepth: 3, offset: 8 });
  // Default limit (32), with hostile nesting far beyond the JavaScript stack: typed error, no RangeError.
  assert.equal(countLinks(decodeExact(LinkCodec, chain(33))), 33);
  expectCodecError(() => decodeExact(LinkCodec, chain(34)), "MIMI_ERR_CODEC_DEPTH_EXCEEDED", { maxDepth: 32 });
  expectCodecError(() => decodeExact(LinkCodec, chain(200_000)), "MIMI_ERR_CODEC_DEPTH_EXCEEDED");
  // Trees count depth along a path, not in total: many siblings are fine.
  const wide = { label: "root", children: Array.from({ length: 100 }, (_, i) => ({ label: String(i), children: [] })) };
  assert.deepEqual(decodeExact(TreeNodeCodec, encode(TreeNodeCodec, wide), { maxDepth: 1 }), wide);
});

test("MIMI-CODEC-11 encoding a cyclic value is MIMI_ERR_CODEC_DEPTH_EXCEEDED, not a stack overflow", () => {
  const a: Link = { value: 1, next: undefined };
  a.next = a;
  expectCodecError(() => encode(LinkCodec, a), "MIMI_ERR_CODEC_DEPTH_EXCEEDED", { maxDepth: 32 });
  expectCodecError(() => encode(LinkCodec, a, { maxDepth: 5 }), "MIMI_ERR_CODEC_DEPTH_EXCEEDED", { maxDepth: 5 });
});

function countLinks(link: Link): number {
  let n = 0;
  for (let l: Link | undefined = link; l !== undefined; l = l.next) n++;
  return n;
}

test("uint64 inside structs survives values above 2^53", () => {
  const S = struct("S", [["epoch", uint64]]);
  kat(S, { epoch: 2n ** 63n + 5n }, "8000000000000005");
});

test("custom codecs built on the public Reader/Writer API compose with struct and keep the guarantees", () => {
  // uint24 (RFC 8446 §3.3 lists it; MIMI does not use it): a hand-written leaf codec.
  const uint24: Codec<number> = {
    name: "uint24",
    encode(w, v) {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffff) {
        throw new MimiError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `${v} does not fit uint24`, { details: { type: "uint24" } });
      }
      w.writeUint8(v >>> 16);
      w.writeUint16(v & 0xffff);
    },
    decode: (r) => (r.readUint8() << 16) | r.readUint16(),
  };
  // A <V> vector parsed by hand with readVectorLength() and within().
  const sumV: Codec<number> = {
    name: "sum<V>",
    encode: (w, v) => w.vector(() => w.writeUint8(v)),
    decode(r) {
      return r.within(r.readVectorLength(), () => {
        let sum = 0;
        while (!r.atEnd) sum += r.readUint8();
        return sum;
      });
    },
  };
  const S = struct("S", [
    ["a", uint24],
    ["b", sumV],
  ]);
  kat(S, { a: 0x010203, b: 5 }, "010203 0105");
  assert.deepEqual(decodeExact(S, hex("010203 03 010203")), { a: 0x010203, b: 6 });
  expectCodecError(() => decodeExact(S, hex("0102")), "MIMI_ERR_CODEC_TRUNCATED", { path: "S.a" });
  expectCodecError(() => encode(S, { a: 2 ** 24, b: 0 }), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", { path: "S.a", type: "uint24" });
});
