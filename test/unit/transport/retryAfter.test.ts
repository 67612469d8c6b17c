// Retry-After (RFC 9110 §10.2.3) for answers from peers: delay-seconds or an HTTP-date.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseHttpDate, retryAfterMs } from "../../../src/transport/peerClient.ts";

const now = Date.UTC(2026, 0, 15, 12, 0, 0);

test("Retry-After in seconds", () => {
  assert.equal(retryAfterMs({ "retry-after": "0" }, now), 0);
  assert.equal(retryAfterMs({ "retry-after": "120" }, now), 120_000);
  assert.equal(retryAfterMs({ "retry-after": " 7 " }, now), 7000);
  assert.equal(retryAfterMs({ "retry-after": ["5", "9"] }, now), 5000);
});

test("Retry-After as an HTTP-date: IMF-fixdate, RFC 850 and asctime, all GMT", () => {
  assert.equal(retryAfterMs({ "retry-after": "Thu, 15 Jan 2026 12:01:30 GMT" }, now), 90_000);
  assert.equal(retryAfterMs({ "retry-after": "Thursday, 15-Jan-26 12:00:10 GMT" }, now), 10_000);
  assert.equal(retryAfterMs({ "retry-after": "Thu Jan 15 12:00:05 2026" }, now), 5000);
  assert.equal(retryAfterMs({ "retry-after": "Thu Jan  1 00:00:00 2026" }, now), 0); // single-digit day, in the past
  // A date in the past means "now".
  assert.equal(retryAfterMs({ "retry-after": "Sun, 06 Nov 1994 08:49:37 GMT" }, now), 0);
  assert.equal(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), Date.UTC(1994, 10, 6, 8, 49, 37));
  // RFC 850's two-digit year: more than 50 years ahead means the previous century.
  assert.equal(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", now), Date.UTC(1994, 10, 6, 8, 49, 37));
  assert.equal(parseHttpDate("Sunday, 06-Nov-30 08:49:37 GMT", now), Date.UTC(2030, 10, 6, 8, 49, 37));
});

test("Retry-After absent or malformed gives undefined", () => {
  for (const value of [undefined, "", "-1", "1.5", "soon", "2026-01-15T12:00:00Z", "Thu, 15 Jan 2026 12:01:30 UTC", "Thu, 31 Feb 2026 12:00:00 GMT", "Thu, 15 Jan 2026 25:00:00 GMT", "99999999999999999999"]) {
    assert.equal(retryAfterMs(value === undefined ? {} : { "retry-after": value }, now), undefined, String(value));
  }
});
