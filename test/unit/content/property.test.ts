// Property-based tests (fast-check): hostile bytes never crash the decoders, and any valid
// MimiContent survives CBOR and JSON round trips.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  bytesEqual,
  CborFloat,
  CborTag,
  contentFromJson,
  contentToJson,
  decodeContent,
  decodeStatusReport,
  Disposition,
  encodeContent,
  encodeStatusReport,
  inspectContent,
  messageIdOfBytes,
  messageIdOfContent,
} from "../../../src/content/index.ts";
import type { CborKey, CborValue, MimiContent, NestedPart, PartSemanticsName } from "../../../src/content/index.ts";
import { MimiError } from "../../../src/errors.ts";
import { ALICE, MINIMAL, ROOM, sampleContent } from "./helpers.ts";

/** Calls `fn`; anything thrown must be a MimiError. */
function onlyMimiErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof MimiError)) throw err;
  }
}

/** Valid inputs with random damage: truncation, byte flips, insertions, splices. */
function mutated(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom("flip", "insert", "delete", "truncate")), { minLength: 1, maxLength: 4 }))
    .map(([seed, edits]) => {
      let out = Array.from(seed);
      for (const [pos, value, kind] of edits) {
        const at = out.length === 0 ? 0 : pos % out.length;
        if (kind === "flip") out[at] = value;
        else if (kind === "insert") out.splice(at, 0, value);
        else if (kind === "delete") out.splice(at, 1);
        else out = out.slice(0, at);
      }
      return Uint8Array.from(out);
    });
}

const contentSeeds = [MINIMAL, encodeContent(sampleContent()), encodeContent(sampleContent({ expires: { relative: true, time: 60 }, inReplyTo: new Uint8Array(32).fill(1) }))];

test("random bytes never crash the content decoder: only MimiError (10,000 runs)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
      onlyMimiErrors(() => decodeContent(bytes));
    }),
    { numRuns: 10_000 },
  );
});

test("damaged valid content never crashes decodeContent or inspectContent: only MimiError (10,000 runs)", () => {
  fc.assert(
    fc.property(mutated(contentSeeds), (bytes) => {
      onlyMimiErrors(() => decodeContent(bytes));
      onlyMimiErrors(() => inspectContent(bytes));
    }),
    { numRuns: 10_000 },
  );
});

const statusSeed = encodeStatusReport([
  { messageId: new Uint8Array(32).fill(1), status: 2 },
  { messageId: new Uint8Array(32).fill(3), status: 200 },
]);

test("random and damaged bytes never crash the status decoder: only MIMI_ERR_STATUS_INVALID (10,000 runs)", () => {
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 96 }), mutated([statusSeed])), (bytes) => {
      try {
        decodeStatusReport(bytes);
      } catch (err) {
        assert.ok(err instanceof MimiError && err.code === "MIMI_ERR_STATUS_INVALID", String(err));
      }
    }),
    { numRuns: 10_000 },
  );
});

// ---- a generator of valid MimiContent -------------------------------------------------------

const text = fc.string({ unit: "binary", maxLength: 12 }).filter((s) => s.isWellFormed());
const bytes = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });
const fixedBytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const safeInt = fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER });
const wideInt = fc.oneof(fc.bigInt({ min: BigInt(Number.MAX_SAFE_INTEGER) + 1n, max: 2n ** 64n - 1n }), fc.bigInt({ min: -(2n ** 64n), max: BigInt(Number.MIN_SAFE_INTEGER) - 1n }));
const float = fc.double().map((v) => new CborFloat(v));

const leaf: fc.Arbitrary<CborValue> = fc.oneof(safeInt, wideInt, text, bytes(8), fc.boolean(), fc.constant(null), float);
const mapKey: fc.Arbitrary<CborKey> = fc.oneof(safeInt, text, bytes(4));

/** A CBOR value whose tags, maps and arrays use at most `levels` more levels (§6.3). */
function cborValue(levels: number): fc.Arbitrary<CborValue> {
  if (levels === 0) return leaf;
  const inner = cborValue(levels - 1);
  return fc.oneof(
    { weight: 3, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(inner, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.uniqueArray(fc.tuple(mapKey, inner), { maxLength: 3, selector: ([k]) => (k instanceof Uint8Array ? `b${Buffer.from(k).toString("hex")}` : `${typeof k}:${String(k)}`) }).map((entries) => new Map(entries)) },
    { weight: 1, arbitrary: fc.tuple(fc.oneof(fc.integer({ min: 0, max: 1_000_000 }), fc.bigInt({ min: 2n ** 60n, max: 2n ** 64n - 1n })), inner).map(([tag, v]) => new CborTag(tag, v)) },
  );
}

const extensionKey = fc.oneof(safeInt.filter((k) => k !== 1 && k !== 2), fc.string({ unit: "binary", minLength: 1, maxLength: 10 }).filter((s) => s.isWellFormed()));
const extensions = fc
  .tuple(fc.option(text, { nil: undefined }), fc.option(text, { nil: undefined }), fc.uniqueArray(fc.tuple(extensionKey, cborValue(3)), { maxLength: 3, selector: ([k]) => `${typeof k}:${k}` }))
  .map(([sender, room, rest]) => {
    const map = new Map<number | string, CborValue>(rest);
    if (sender !== undefined) map.set(1, sender);
    if (room !== undefined) map.set(2, room);
    return map;
  });

const disposition = fc.oneof(fc.constantFrom(...Object.values(Disposition)), fc.integer({ min: 9, max: 255 }));
// noNullPrototype: decoded content is made of plain objects, and deepEqual compares prototypes.
const record = { noNullPrototype: true } as const;
const common = fc.record({ disposition, language: fc.constantFrom("", "en", "fr,de") }, record);

function nestedPart(level: number): fc.Arbitrary<NestedPart> {
  const nullPart = common.map((c): NestedPart => ({ ...c, cardinality: "nullpart" }));
  const single = fc.tuple(common, text, bytes(16)).map(([c, contentType, content]): NestedPart => ({ ...c, cardinality: "single", contentType, content }));
  const external = fc
    .tuple(common, fc.record({ contentType: text, url: text, description: text, filename: text }, record), fc.nat({ max: 0xffffffff }), fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((b) => (b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b))), fc.nat({ max: 0xffff }), fc.nat({ max: 0xff }), fc.tuple(bytes(16), bytes(12), bytes(4), bytes(32)))
    .map(([c, t, expires, size, encAlg, hashAlg, [key, nonce, aad, contentHash]]): NestedPart => ({ ...c, cardinality: "external", ...t, expires, size, encAlg, key, nonce, aad, hashAlg, contentHash }));
  const leaves = fc.oneof(nullPart, single, external);
  if (level >= 4) return leaves;
  const multi = fc
    .tuple(common, fc.constantFrom<PartSemanticsName>("chooseOne", "singleUnit", "processAll"), fc.array(nestedPart(level + 1), { minLength: 2, maxLength: 3 }))
    .map(([c, partSemantics, parts]): NestedPart => ({ ...c, cardinality: "multi", partSemantics, parts }));
  return fc.oneof({ weight: 3, arbitrary: leaves }, { weight: 1, arbitrary: multi });
}

const mimiContent: fc.Arbitrary<MimiContent> = fc.record({
  salt: fixedBytes(16),
  replaces: fc.option(fixedBytes(32), { nil: null }),
  topicId: bytes(20),
  expires: fc.option(fc.record({ relative: fc.boolean(), time: fc.nat({ max: 0xffffffff }) }, record), { nil: null }),
  inReplyTo: fc.option(fixedBytes(32), { nil: null }),
  mimiExtensions: extensions,
  nestedPart: nestedPart(1),
}, record);

test("any valid MimiContent round-trips through deterministic CBOR, strictly decoded, with a stable message ID (2,000 runs)", () => {
  fc.assert(
    fc.property(mimiContent, (content) => {
      const encoded = encodeContent(content);
      const decoded = decodeContent(encoded);
      assert.deepEqual(decoded, content);
      assert.ok(bytesEqual(encodeContent(decoded), encoded));
      const uris = { senderUri: ALICE, roomUri: ROOM };
      assert.deepEqual(messageIdOfBytes(encoded, uris), messageIdOfContent(content, uris));
    }),
    { numRuns: 2_000 },
  );
});

test("any valid MimiContent round-trips through the JSON form, text included (2,000 runs)", () => {
  fc.assert(
    fc.property(mimiContent, (content) => {
      const json = JSON.parse(JSON.stringify(contentToJson(content))) as unknown;
      const back = contentFromJson(json);
      assert.deepEqual(back, content);
      assert.ok(bytesEqual(encodeContent(back), encodeContent(content)));
    }),
    { numRuns: 2_000 },
  );
});
