// Report abuse (draft-ietf-mimi-protocol-06 §5.9).
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { AbuseReport, AbuseType, AbusiveMessage } from "../../../src/protocol/index.ts";
import { CATHY, abuseReports, fill, frank, hex, roundTrip, toHex, utf8hex } from "./samples.ts";

test("AbuseReport round-trips with franked messages and extensions", () => {
  for (const r of abuseReports()) roundTrip(AbuseReport, r);
});

test("MIMI-PROTO-CHOICE-14 / MIMI-PROTO-CHOICE-15 / MIMI-PROTO-CHOICE-23 an anonymous report (empty reportingUser) with reason reserved(0) = unspecified, written out", () => {
  const bytes = hex(`00 18 ${utf8hex(CATHY)} 00 00 00 00`);
  assert.equal(toHex(encode(AbuseReport, abuseReports()[1]!)), toHex(bytes));
  assert.deepEqual(decodeExact(AbuseReport, bytes), abuseReports()[1]);
  assert.equal(AbuseType.reserved, 0);
});

test("AbusiveMessage: message_content<V>, Frank, accepted_timestamp, written out", () => {
  const msg = { messageContent: hex("a0a1a2"), frank: frank(0x10), acceptedTimestamp: 9n };
  const bytes = hex(`03 a0a1a2 ${fill(0x10, 32)} 0001 4040 ${fill(0xef, 64)} 0000000000000009`);
  assert.equal(toHex(encode(AbusiveMessage, msg)), toHex(bytes));
  assert.deepEqual(decodeExact(AbusiveMessage, bytes), msg);
});
