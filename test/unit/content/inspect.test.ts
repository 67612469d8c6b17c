// inspectContent, the engine of `mimi-bridge content inspect FILE.cbor`.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  computeMessageId,
  encodeCbor,
  encodeContent,
  encodeMessageDerivedValues,
  encodeStatusReport,
  inspectContent,
  toHex,
} from "../../../src/content/index.ts";
import type { ContentInspectReport, InspectReport } from "../../../src/content/index.ts";
import { ALICE, h, messageId, MINIMAL, ROOM, SALT, sampleContent, textPart, throwsCode } from "./helpers.ts";

function asContent(report: InspectReport): ContentInspectReport {
  assert.equal(report.kind, "mimiContent");
  return report;
}

test("a content report has every field in JSON form, the message ID, formula, roundTrip and counts", () => {
  const content = sampleContent({
    nestedPart: { disposition: 77, language: "", cardinality: "multi", partSemantics: "chooseOne", parts: [textPart("hello"), { ...textPart("x"), contentType: "image/png" }] },
  });
  const bytes = encodeContent(content);
  const report = asContent(inspectContent(bytes));
  assert.equal(report.mediaType, "application/mimi-content");
  assert.equal(report.formula, "-08");
  assert.equal(report.messageId, toHex(computeMessageId({ senderUri: ALICE, roomUri: ROOM, message: bytes, salt: SALT })));
  assert.equal(report.roundTrip, true);
  assert.deepEqual(report.nonDeterministic, []);
  assert.deepEqual(report.counts, { size: bytes.byteLength, parts: 3, depth: 2, extensions: 2 });
  assert.equal(report.senderUri, ALICE);
  assert.equal(report.content.salt, toHex(SALT));
  assert.equal(report.content.nestedPart.disposition, 77);
  assert.deepEqual(
    report.parts.map((p) => [p.partIndex, p.depth, p.cardinality, p.text]),
    [
      [0, 1, "multi", undefined],
      [1, 2, "single", "hello"],
      [2, 2, "single", undefined],
    ],
  );
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report, "the report is JSON-serialisable as it is");
});

test("MIMI-CONTENT-26 the -07 formula and explicit URIs change the reported message ID", () => {
  const bytes = encodeContent(sampleContent());
  const report07 = asContent(inspectContent(bytes, { formula: "-07" }));
  assert.equal(report07.formula, "-07");
  assert.equal(report07.messageId, toHex(computeMessageId({ senderUri: ALICE, roomUri: ROOM, message: bytes, salt: SALT, formula: "-07" })));
  assert.notEqual(report07.messageId, asContent(inspectContent(bytes)).messageId);
  const other = asContent(inspectContent(bytes, { roomUri: "mimi://example.com/r/other" }));
  assert.equal(other.messageId, toHex(computeMessageId({ senderUri: ALICE, roomUri: "mimi://example.com/r/other", message: bytes, salt: SALT })));
});

test("MIMI-CONTENT-27 without URIs the report says why there is no message ID instead of failing", () => {
  const report = asContent(inspectContent(MINIMAL));
  assert.equal(report.messageId, null);
  assert.equal(report.messageIdError?.code, "MIMI_ERR_CONTENT_MISSING_URIS");
  assert.equal(report.senderUri, null);
  assert.deepEqual(report.counts, { size: MINIMAL.byteLength, parts: 1, depth: 1, extensions: 0 });
  assert.ok(asContent(inspectContent(MINIMAL, { senderUri: ALICE, roomUri: ROOM })).messageId?.startsWith("01"));
});

test("MIMI-CONTENT-01 a non-deterministic file is still inspected, with roundTrip false and the reasons", () => {
  const nonMinimal = h(`87 5810 000102030405060708090a0b0c0d0e0f f6 40 f6 f6 a0 9f 01 60 00 ff`);
  const report = asContent(inspectContent(nonMinimal, { senderUri: ALICE, roomUri: ROOM }));
  assert.equal(report.roundTrip, false);
  assert.equal(report.nonDeterministic.length, 2);
  assert.match(report.nonDeterministic.join("\n"), /shortest form[\s\S]*indefinite-length array/);
  // The ID is over the bytes as given, which is what a receiver of this file would compute.
  assert.equal(report.messageId, toHex(computeMessageId({ senderUri: ALICE, roomUri: ROOM, message: nonMinimal, salt: SALT })));
});

test("a truncated file (every prefix) is MIMI_ERR_CONTENT_CBOR_MALFORMED; schema errors keep their codes", () => {
  const bytes = encodeContent(sampleContent());
  for (let n = 0; n < bytes.byteLength; n++) throwsCode(() => inspectContent(bytes.subarray(0, n)), "MIMI_ERR_CONTENT_CBOR_MALFORMED");
  throwsCode(() => inspectContent(encodeCbor([h("00"), null, h(""), null, null, new Map(), [1, "", 0]])), "MIMI_ERR_CONTENT_BAD_SALT");
  throwsCode(() => inspectContent(encodeCbor("hello")), "MIMI_ERR_CONTENT_SCHEMA");
  throwsCode(() => inspectContent(MINIMAL, { maxBytes: 4 }), "MIMI_ERR_CONTENT_TOO_LARGE");
});

test("MIMI-CONTENT-31 an implied-fields array is recognised and reported", () => {
  const bytes = encodeMessageDerivedValues({
    messageId: messageId(5),
    hubAcceptedTimestamp: 1644387225019,
    mlsGroupId: h("eeee"),
    senderLeafIndex: 4,
    senderClientUrl: "mimi://example.com/d/x/0003",
    senderUserUrl: ALICE,
    roomUrl: ROOM,
  });
  const report = inspectContent(bytes);
  assert.ok(report.kind === "impliedFields");
  assert.equal(report.roundTrip, true);
  assert.equal(report.impliedFields.senderLeafIndex, 4);
  assert.equal(report.impliedFields.messageId, toHex(messageId(5)));
  throwsCode(() => inspectContent(encodeCbor([h("01"), 1, h(""), 0, "a", "b", "c"])), "MIMI_ERR_CONTENT_BAD_MESSAGE_ID");
});

test("MIMI-CONTENT-32 a message status report is recognised and reported", () => {
  const bytes = encodeStatusReport([
    { messageId: messageId(1), status: 2 },
    { messageId: messageId(2), status: 9 },
  ]);
  const report = inspectContent(bytes);
  assert.ok(report.kind === "messageStatusReport");
  assert.equal(report.mediaType, "application/mimi-message-status");
  assert.deepEqual(
    report.statuses.map((s) => [s.status, s.statusName]),
    [
      [2, "read"],
      [9, "unknown"],
    ],
  );
  assert.equal(report.counts.entries, 2);
});
