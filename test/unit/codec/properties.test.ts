// Property tests (fast-check): every combinator round-trips, and no decoder does anything but
// return a value or throw a MIMI_ERR_CODEC_ MimiError for arbitrary input (10,000 runs each).
// Inputs that decode must re-encode to the very same bytes: the wire form is canonical, which is
// what rules out non-minimal lengths, stray presence octets and similar malleability.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { MimiError } from "../../../src/errors.ts";
import {
  MAX_VARINT,
  decodeExact,
  encode,
  opaque,
  opaqueV,
  optional,
  uint16,
  uint32,
  uint64,
  uint8,
  utf8V,
  varint,
  vectorV,
} from "../../../src/codec/index.ts";
import type { Codec, DecodeOptions, Infer } from "../../../src/codec/index.ts";
import { Body, BodyKind, LinkCodec, Protocol, ProtocolCodec, Role, RoleCodec, Sample, TreeNodeCodec } from "./sample.ts";
import type { Link, TreeNode } from "./sample.ts";
import { toHex } from "./helpers.ts";

const FUZZ_RUNS = 10_000;

// ---- arbitraries --------------------------------------------------------------------------

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const varintValue = fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 16000, max: 17000 }), fc.integer({ min: 0, max: MAX_VARINT }));
// Up to 300 bytes so both 1- and 2-byte length headers occur.
const bytesV = fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ minLength: 60, maxLength: 300 }));
// "binary" strings cover all of Unicode (astral planes included), never lone surrogates.
const text = fc.string({ unit: "binary", maxLength: 24 });

/** fc.record, but always with Object.prototype, as decoded structs have. */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const role = fc.constantFrom(...Object.values(Role));
const identifierUri = record({ uri: text });
const participant = record({ user: identifierUri, role, nickname: fc.option(text, { nil: undefined }) });
const body: fc.Arbitrary<Infer<typeof Body>> = fc.oneof(
  fc.constant({ kind: BodyKind.none }),
  record({ kind: fc.constant(BodyKind.text), text }),
  record({ kind: fc.constant(BodyKind.blob), hash: fc.uint8Array({ minLength: 32, maxLength: 32 }), size: u64 }),
);
const sample: fc.Arbitrary<Sample> = record({
  protocol: fc.constant(Protocol.mls10),
  roomId: identifierUri,
  epoch: u64,
  participants: fc.array(participant, { maxLength: 4 }),
  topic: fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined }),
  body,
  cipherSuites: fc.array(u16, { maxLength: 4 }),
  groupInfo: fc.uint8Array({ maxLength: 24 }),
  flags: u8,
  sequence: u32,
  hops: varintValue,
});
// Recursive values built to a fixed depth (fc.letrec can recurse past the JavaScript stack).
function treeOf(depth: number): fc.Arbitrary<TreeNode> {
  return record({ label: text, children: depth === 0 ? fc.constant([]) : fc.array(treeOf(depth - 1), { maxLength: 3 }) });
}
function linkOf(depth: number): fc.Arbitrary<Link> {
  return record({ value: u8, next: depth === 0 ? fc.constant(undefined) : fc.option(linkOf(depth - 1), { nil: undefined }) });
}
const tree = treeOf(4);
const link = linkOf(6);

function roundTrip<T>(codec: Codec<T>, arb: fc.Arbitrary<T>, numRuns = 300): void {
  fc.assert(
    fc.property(arb, (value) => {
      assert.deepEqual(decodeExact(codec, encode(codec, value)), value);
    }),
    { numRuns },
  );
}

// ---- round trips ----------------------------------------------------------------------------

test("round trip: uint8, uint16, uint32, uint64 over their full ranges", () => {
  roundTrip(uint8, u8);
  roundTrip(uint16, u16);
  roundTrip(uint32, u32);
  roundTrip(uint64, u64);
});

test("MIMI-CODEC-01 round trip: varint over 0..2^30-1 (minimal form)", () => {
  roundTrip(varint, varintValue, 1000);
});

test("round trip: opaque[N], opaque<V>, utf8<V>", () => {
  roundTrip(opaque(16), fc.uint8Array({ minLength: 16, maxLength: 16 }));
  roundTrip(opaqueV, bytesV);
  roundTrip(utf8V, text, 1000);
});

test("MIMI-CODEC-04 round trip: vector<V> of fixed- and variable-size elements, nested", () => {
  roundTrip(vectorV(uint16), fc.array(u16, { maxLength: 40 }));
  roundTrip(vectorV(opaqueV), fc.array(bytesV, { maxLength: 5 }));
  roundTrip(vectorV(vectorV(utf8V)), fc.array(fc.array(text, { maxLength: 4 }), { maxLength: 4 }));
});

test("MIMI-CODEC-05 round trip: optional<T>", () => {
  roundTrip(optional(uint32), fc.option(u32, { nil: undefined }));
  roundTrip(optional(opaqueV), fc.option(bytesV, { nil: undefined }));
});

test("MIMI-CODEC-06 round trip: enums", () => {
  roundTrip(RoleCodec, role);
  roundTrip(ProtocolCodec, fc.constantFrom(...Object.values(Protocol)));
});

test("MIMI-CODEC-13 round trip: variant (select on a discriminant)", () => {
  roundTrip(Body, body, 500);
});

test("round trip: nested sample struct (optional, vector of structs, select, variant, enum)", () => {
  roundTrip(Sample, sample, 500);
});

test("MIMI-CODEC-11 round trip: recursive codecs through lazy()", () => {
  roundTrip(TreeNodeCodec, tree, 200);
  roundTrip(LinkCodec, link, 300);
});

// ---- fuzzing: random and mutated input never crashes a decoder ------------------------------

/** Valid encodings with a few bytes overwritten, cut short or extended: near-misses reach deep. */
function mutated<T>(codec: Codec<T>, arb: fc.Arbitrary<T>): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(arb, fc.array(fc.tuple(fc.nat(), u8), { maxLength: 3 }), fc.oneof(fc.constant(-1), fc.nat()), fc.option(u8, { nil: undefined }))
    .map(([value, edits, cut, extra]) => {
      let bytes = encode(codec, value);
      for (const [pos, byte] of edits) if (bytes.length > 0) bytes[pos % bytes.length] = byte;
      if (cut >= 0) bytes = bytes.subarray(0, cut % (bytes.length + 1));
      return extra === undefined ? bytes : Uint8Array.of(...bytes, extra);
    });
}

function fuzz<T>(codec: Codec<T>, valid: fc.Arbitrary<T>, options?: DecodeOptions): void {
  let accepted = 0;
  let rejected = 0;
  const input = fc.oneof(fc.uint8Array({ maxLength: 48 }), mutated(codec, valid));
  fc.assert(
    fc.property(input, (bytes) => {
      let value: T;
      try {
        value = decodeExact(codec, bytes, options);
      } catch (err) {
        assert.ok(err instanceof MimiError, `non-MimiError thrown: ${String(err)}`);
        assert.match(err.code, /^MIMI_ERR_CODEC_/, err.message);
        const offset = err.details?.["offset"];
        assert.ok(typeof offset === "number" && offset >= 0 && offset <= bytes.length, `offset ${String(offset)} in ${err.message}`);
        assert.equal(typeof err.details?.["path"], "string", err.message);
        rejected++;
        return;
      }
      accepted++;
      // MIMI-CODEC-01 and friends: whatever is accepted is the one canonical encoding of its value.
      assert.equal(toHex(encode(codec, value, options)), toHex(bytes));
    }),
    { numRuns: FUZZ_RUNS },
  );
  // Both outcomes must actually occur, or the property proved less than it claims.
  assert.ok(accepted > 0, `${codec.name}: no input was accepted`);
  assert.ok(rejected > 0, `${codec.name}: no input was rejected`);
}

test("MIMI-CODEC-15 fuzz uint8, uint16, uint32, uint64: only MIMI_ERR_CODEC_ errors, canonical when accepted", () => {
  fuzz(uint8, u8);
  fuzz(uint16, u16);
  fuzz(uint32, u32);
  fuzz(uint64, u64);
});

test("MIMI-CODEC-15 fuzz varint", () => {
  fuzz(varint, varintValue);
});

test("MIMI-CODEC-15 fuzz opaque[N], opaque<V>, utf8<V>", () => {
  fuzz(opaque(4), fc.uint8Array({ minLength: 4, maxLength: 4 }));
  fuzz(opaqueV, bytesV);
  fuzz(utf8V, text);
});

test("MIMI-CODEC-15 fuzz vector<V> of uint16 and of opaque<V>", () => {
  fuzz(vectorV(uint16), fc.array(u16, { maxLength: 10 }));
  fuzz(vectorV(opaqueV), fc.array(fc.uint8Array({ maxLength: 6 }), { maxLength: 5 }));
});

test("MIMI-CODEC-15 fuzz optional<uint32> and an enum", () => {
  fuzz(optional(uint32), fc.option(u32, { nil: undefined }));
  fuzz(RoleCodec, role);
});

test("MIMI-CODEC-15 fuzz variant and the nested sample struct", () => {
  fuzz(Body, body);
  fuzz(Sample, sample);
});

test("MIMI-CODEC-15 fuzz recursive codecs with a small depth limit and a small vector limit", () => {
  fuzz(TreeNodeCodec, tree, { maxDepth: 4, maxVectorLength: 64 });
  fuzz(LinkCodec, link, { maxDepth: 4 });
});
