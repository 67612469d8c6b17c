import { test } from "node:test";
import assert from "node:assert/strict";
import { MimiError, errorCatalogue, isMimiError, wrapError } from "../../src/errors.ts";

test("every catalogue code is MIMI_ERR_ prefixed, unique, with an HTTP status and message", () => {
  const codes = Object.keys(errorCatalogue);
  assert.equal(new Set(codes).size, codes.length);
  for (const [code, spec] of Object.entries(errorCatalogue)) {
    assert.match(code, /^MIMI_ERR_[A-Z0-9_]+$/);
    assert.ok(spec.status >= 400 && spec.status < 600, code);
    assert.ok(spec.message.length > 0, code);
  }
});

test("MimiError carries code, category, status and wraps its cause", () => {
  const cause = new RangeError("boom");
  const err = new MimiError("MIMI_ERR_CODEC_TRUNCATED", undefined, { cause, details: { offset: 3 } });
  assert.equal(err.code, "MIMI_ERR_CODEC_TRUNCATED");
  assert.equal(err.category, "validation");
  assert.equal(err.statusCode, 400);
  assert.equal(err.cause, cause);
  assert.equal(err.message, errorCatalogue.MIMI_ERR_CODEC_TRUNCATED.message);
  assert.deepEqual(err.toJSON(), { code: "MIMI_ERR_CODEC_TRUNCATED", message: err.message, details: { offset: 3 } });
  assert.ok(isMimiError(err, "MIMI_ERR_CODEC_TRUNCATED"));
  assert.ok(!isMimiError(err, "MIMI_ERR_INTERNAL"));
  assert.ok(!isMimiError(cause));
});

test("wrapError keeps an existing MimiError and wraps anything else", () => {
  const inner = new MimiError("MIMI_ERR_STORAGE_IO");
  assert.equal(wrapError("MIMI_ERR_INTERNAL", inner), inner);
  const wrapped = wrapError("MIMI_ERR_STORAGE_IO", new Error("disk full"));
  assert.equal(wrapped.code, "MIMI_ERR_STORAGE_IO");
  assert.match(wrapped.message, /disk full/);
  assert.ok(wrapped.cause instanceof Error);
});
