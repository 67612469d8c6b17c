// Receipt-time checks of draft-ietf-mimi-content -08 §9.1 that depend on "now" or on history,
// kept out of structural decoding so that stored (2022) examples still decode.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  CborFloat,
  decodeContent,
  encodeContent,
  inReplyToChainLoops,
  MessageIdRegistry,
  messageIdOfContent,
  MimiContentLimits,
  toHex,
  validateForReceipt,
} from "../../../src/content/index.ts";
import { messageId, sampleContent, throwsCode } from "./helpers.ts";

const NOW = Date.UTC(2026, 0, 1); // 2026-01-01T00:00:00Z
const NOW_S = NOW / 1000;
const YEAR = MimiContentLimits.maxExpiryDistanceSeconds;

test("a 2022 message still decodes structurally; only validateForReceipt judges its expiry against now", () => {
  // §5.8 EXPIRING: absolute expiry 1644390004 (2022-02-09).
  const stored = decodeContent(encodeContent(sampleContent({ expires: { relative: false, time: 1644390004 } })));
  validateForReceipt(stored, { now: new Date("2022-02-09T06:45:00Z") });
  throwsCode(() => validateForReceipt(stored, { now: NOW }), "MIMI_ERR_CONTENT_EXPIRY_OUT_OF_RANGE", /in the past/);
});

test("MIMI-CONTENT-19 expiry more than a year in the past (absolute) or future (absolute and relative) is discarded", () => {
  const check = (relative: boolean, time: number): void => validateForReceipt(sampleContent({ expires: { relative, time } }), { now: NOW });
  check(false, NOW_S + YEAR);
  check(false, NOW_S - YEAR);
  check(true, YEAR);
  check(true, 600);
  throwsCode(() => check(false, NOW_S + YEAR + 1), "MIMI_ERR_CONTENT_EXPIRY_OUT_OF_RANGE", /in the future/);
  throwsCode(() => check(false, NOW_S - YEAR - 1), "MIMI_ERR_CONTENT_EXPIRY_OUT_OF_RANGE", /in the past/);
  throwsCode(() => check(true, YEAR + 1), "MIMI_ERR_CONTENT_EXPIRY_OUT_OF_RANGE", /relative/);
  // A year is at least 365 days: a "one year from now" expiry computed in a leap year is accepted.
  assert.ok(YEAR >= 366 * 86400);
});

test("MIMI-CONTENT-20 a hub-accepted timestamp more than a few minutes in the future is discarded", () => {
  const skew = MimiContentLimits.maxClockSkewMs;
  validateForReceipt(sampleContent(), { now: NOW, hubAcceptedTimestamp: NOW + skew });
  const err = throwsCode(() => validateForReceipt(sampleContent(), { now: NOW, hubAcceptedTimestamp: NOW + skew + 1 }), "MIMI_ERR_CONTENT_TIMESTAMP_IN_FUTURE");
  assert.equal(err.details?.timestamp, NOW + skew + 1);
  throwsCode(() => validateForReceipt(sampleContent(), { now: NOW, hubAcceptedTimestamp: BigInt(NOW + 3_600_000) }), "MIMI_ERR_CONTENT_TIMESTAMP_IN_FUTURE");
  // RFC 9581 extended time: key 1 holds POSIX seconds.
  throwsCode(() => validateForReceipt(sampleContent(), { now: NOW, hubAcceptedTimestamp: { extendedTime: new Map([[1, NOW_S + 3600]]) } }), "MIMI_ERR_CONTENT_TIMESTAMP_IN_FUTURE");
  validateForReceipt(sampleContent(), { now: NOW, hubAcceptedTimestamp: { extendedTime: new Map([[1, new CborFloat(NOW_S - 0.5)]]) } });
});

test("MIMI-CONTENT-21 a timestamp before the room was created is discarded", () => {
  const created = NOW - 86_400_000;
  validateForReceipt(sampleContent(), { now: NOW, hubAcceptedTimestamp: created, notBefore: created });
  throwsCode(() => validateForReceipt(sampleContent(), { now: NOW, hubAcceptedTimestamp: created - 1, notBefore: new Date(created) }), "MIMI_ERR_CONTENT_TIMESTAMP_TOO_OLD");
});

test("MIMI-CONTENT-17 replaces or inReplyTo naming an unknown hash algorithm is discarded; unknown targets are fine", () => {
  const unknownAlg = messageId(9);
  unknownAlg[0] = 0x02;
  throwsCode(() => validateForReceipt(sampleContent({ replaces: unknownAlg }), { now: NOW }), "MIMI_ERR_CONTENT_UNKNOWN_HASH_ALG", /^replaces: /);
  throwsCode(() => validateForReceipt(sampleContent({ inReplyTo: unknownAlg }), { now: NOW }), "MIMI_ERR_CONTENT_UNKNOWN_HASH_ALG", /^inReplyTo: /);
  // §9.1: a reference to a message we never saw is legitimate (sent before we joined).
  validateForReceipt(sampleContent({ inReplyTo: messageId(7), replaces: messageId(8) }), { now: NOW, seenMessageIds: new MessageIdRegistry() });
});

test("MIMI-CONTENT-18 a message ID already encountered is discarded", () => {
  const registry = new MessageIdRegistry();
  const content = sampleContent();
  validateForReceipt(content, { now: NOW, seenMessageIds: registry });
  registry.remember(messageIdOfContent(content));
  const err = throwsCode(() => validateForReceipt(content, { now: NOW, seenMessageIds: registry }), "MIMI_ERR_CONTENT_DUPLICATE_MESSAGE_ID");
  assert.equal(err.statusCode, 409);
  assert.equal(err.details?.messageId, toHex(messageIdOfContent(content)));
  // Under the -07 formula the same content has another ID, which was not seen.
  validateForReceipt(content, { now: NOW, seenMessageIds: registry, formula: "-07" });
  // A caller that knows the ID passes it in; a plain Set of hex strings works as well.
  const id = messageId(3);
  throwsCode(() => validateForReceipt(content, { now: NOW, messageId: id, seenMessageIds: new Set([toHex(id)]) }), "MIMI_ERR_CONTENT_DUPLICATE_MESSAGE_ID");
});

test("MIMI-CONTENT-18 MessageIdRegistry rejects repeats and forgets the oldest ID when full", () => {
  const registry = new MessageIdRegistry(2);
  registry.remember(messageId(1));
  throwsCode(() => registry.remember(messageId(1)), "MIMI_ERR_CONTENT_DUPLICATE_MESSAGE_ID");
  registry.remember(messageId(2));
  registry.remember(messageId(3));
  assert.equal(registry.size, 2);
  assert.ok(!registry.has(toHex(messageId(1))));
  assert.ok(registry.has(toHex(messageId(3))));
  registry.remember(messageId(1));
  throwsCode(() => registry.remember(new Uint8Array(31)), "MIMI_ERR_CONTENT_BAD_MESSAGE_ID");
  throwsCode(() => new MessageIdRegistry(0), "MIMI_ERR_INTERNAL");
});

test("MIMI-CONTENT-34 inReplyTo chains are followed and loops detected (§4.1)", () => {
  const [a, b, c] = [messageId(10), messageId(11), messageId(12)];
  const links = new Map<string, Uint8Array | null>([
    [toHex(a), b],
    [toHex(b), c],
    [toHex(c), null],
  ]);
  const lookup = (hex: string): Uint8Array | null | undefined => links.get(hex);
  assert.equal(inReplyToChainLoops(a, lookup), false);
  links.set(toHex(c), a);
  assert.equal(inReplyToChainLoops(a, lookup), true);
  assert.equal(inReplyToChainLoops(messageId(99), lookup), false, "an unknown message ends the chain");
});

test("validateForReceipt still runs the structural checks and wants a usable clock", () => {
  throwsCode(() => validateForReceipt(sampleContent({ salt: new Uint8Array(3) }), { now: NOW }), "MIMI_ERR_CONTENT_BAD_SALT");
  throwsCode(() => validateForReceipt(sampleContent(), { now: Number.NaN }), "MIMI_ERR_INTERNAL");
});
