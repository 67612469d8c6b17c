// Small helpers for the codec tests.
import assert from "node:assert/strict";
import { MimiError } from "../../../src/errors.ts";
import type { MimiErrorCode } from "../../../src/errors.ts";

/** Bytes from hex, spaces allowed: hex("7b bd"). A plain Uint8Array, never a Buffer. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  assert.ok(/^(?:[0-9a-f]{2})*$/i.test(clean), `bad hex literal ${s}`);
  return Uint8Array.from(Buffer.from(clean, "hex"));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/**
 * Runs `fn`, expects a MimiError with `code`, checks the given `details` entries, and returns the
 * error for further checks.
 */
export function expectCodecError(fn: () => unknown, code: MimiErrorCode, details: Record<string, unknown> = {}): MimiError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MimiError, `expected MimiError ${code}, got ${caught instanceof Error ? caught.stack : caught === undefined ? "no error" : typeof caught}`);
  assert.equal(caught.code, code, caught.message);
  for (const [key, value] of Object.entries(details)) {
    assert.deepEqual(caught.details?.[key], value, `details.${key} of ${caught.message}`);
  }
  return caught;
}
