// Message status reports, draft-mahy-mimi-message-status-01.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  bytesEqual,
  decodeStatusReport,
  decodeStatusReportLenient,
  encodeStatusReport,
  MessageStatus,
  statusName,
  toHex,
  validateStatusReport,
} from "../../../src/content/index.ts";
import type { MessageStatusReport } from "../../../src/content/index.ts";
import { MimiError } from "../../../src/errors.ts";
import { h, messageId, throwsCode } from "./helpers.ts";

// status-01 §5, Figure 2 and the pretty-printed hex that follows it: original, reply, mention and
// expiring messages of draft-ietf-mimi-content, with the statuses read, read, unread, expired.
const EXAMPLE = h(`
  84                                      # array(4)
     82                                   # array(2)
        58 20                             # bytes(32)
           017ce54837404c3696e0c747b985cb17
           2716d0ed0a3d249ca63ace7d82a096f4
        02                                # unsigned(2)
     82                                   # array(2)
        58 20                             # bytes(32)
           015354973c2b65ca937bf1e035ae53a5
           ab80e947afa43d46920d4202e5cc0b27
        02                                # unsigned(2)
     82                                   # array(2)
        58 20                             # bytes(32)
           018d825adf9f6be00dcafc5704c4102f
           5022e74219d0b603e4ba7622654042af
        00                                # unsigned(0)
     82                                   # array(2)
        58 20                             # bytes(32)
           01e59db8173939facc2c8a4a0f0ae8d0
           c7a11a81239626630c9464a8d6717a03
        03                                # unsigned(3)
`);

test("MIMI-CONTENT-32 the status-01 §5 example (4 entries) decodes and round-trips byte for byte", () => {
  const report = decodeStatusReport(EXAMPLE);
  assert.equal(report.length, 4);
  assert.deepEqual(
    report.map((e) => [toHex(e.messageId).slice(0, 8), e.status]),
    [
      ["017ce548", MessageStatus.read],
      ["01535497", MessageStatus.read],
      ["018d825a", MessageStatus.unread],
      ["01e59db8", MessageStatus.expired],
    ],
  );
  assert.ok(bytesEqual(encodeStatusReport(report), EXAMPLE));
  assert.equal(decodeStatusReportLenient(EXAMPLE).roundTrip, true);
});

test("MIMI-CONTENT-32 every status value 0..255 is carried; 7..255 are unknown but kept", () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 255].map(statusName),
    ["unread", "delivered", "read", "expired", "deleted", "hidden", "error", "unknown", "unknown"],
  );
  const report: MessageStatusReport = [
    { messageId: messageId(1), status: 7 },
    { messageId: messageId(2), status: 255 },
  ];
  assert.deepEqual(decodeStatusReport(encodeStatusReport(report)), report);
  assert.deepEqual(decodeStatusReport(h("80")), []);
});

test("MIMI-CONTENT-32 invalid reports are MIMI_ERR_STATUS_INVALID with the path of the fault", () => {
  throwsCode(() => validateStatusReport([{ messageId: messageId(1), status: 256 }]), "MIMI_ERR_STATUS_INVALID", /^\[0\]\.status/);
  throwsCode(() => validateStatusReport([{ messageId: messageId(1), status: -1 }]), "MIMI_ERR_STATUS_INVALID");
  throwsCode(() => encodeStatusReport([{ messageId: new Uint8Array(31), status: 1 }]), "MIMI_ERR_STATUS_INVALID", /^\[0\]\.messageId/);
  throwsCode(() => decodeStatusReport(h("81 83 5820" + "01".repeat(32) + "02 00")), "MIMI_ERR_STATUS_INVALID", /2-element/);
  throwsCode(() => decodeStatusReport(h("a0")), "MIMI_ERR_STATUS_INVALID", /array/);
  throwsCode(() => decodeStatusReport(h("81 82 5820" + "01".repeat(32) + "190100")), "MIMI_ERR_STATUS_INVALID", /0\.\.255/);
  throwsCode(() => decodeStatusReport(h("81 82 6161 02")), "MIMI_ERR_STATUS_INVALID", /messageId/);
  throwsCode(() => decodeStatusReport(EXAMPLE, { maxBytes: 100 }), "MIMI_ERR_STATUS_INVALID", /limit/);
});

test("a truncated or malformed report is MIMI_ERR_STATUS_INVALID wrapping the CBOR error", () => {
  for (let n = 0; n < EXAMPLE.byteLength; n++) {
    const err = throwsCode(() => decodeStatusReport(EXAMPLE.subarray(0, n)), "MIMI_ERR_STATUS_INVALID");
    assert.ok(err.cause instanceof MimiError && err.cause.code === "MIMI_ERR_CONTENT_CBOR_MALFORMED", `prefix of ${n} bytes`);
  }
});

test("status-01 does not require deterministic CBOR: other encodings decode and report roundTrip false", () => {
  // One entry, status 2 written as 18 02, inside an indefinite-length array.
  const loose = h("9f 82 5820" + "01".repeat(32) + "1802 ff");
  const result = decodeStatusReportLenient(loose);
  assert.deepEqual(result.report, [{ messageId: h("01".repeat(32)), status: 2 }]);
  assert.equal(result.roundTrip, false);
  assert.equal(result.nonDeterministic.length, 2);
});
