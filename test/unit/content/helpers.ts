// Shared helpers for the content tests (not a test file itself).
import assert from "node:assert/strict";
import { MimiError } from "../../../src/errors.ts";
import type { MimiErrorCode } from "../../../src/errors.ts";
import { Disposition } from "../../../src/content/index.ts";
import type { MimiContent, NestedPart, SinglePart } from "../../../src/content/index.ts";

/** Bytes from hex written with spaces, newlines or `#` comments (like a CBOR pretty dump). */
export function h(text: string): Uint8Array {
  const hex = text
    .split("\n")
    .map((line) => line.replace(/#.*$/, ""))
    .join("")
    .replace(/\s+/g, "");
  assert.match(hex, /^(?:[0-9a-fA-F]{2})*$/, "test hex must be whole bytes");
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/** Runs `fn`, asserts it throws a MimiError with `code`, and returns it. */
export function throwsCode(fn: () => unknown, code: MimiErrorCode, message?: RegExp): MimiError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MimiError, `expected MimiError ${code}, got ${caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught)}`);
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}

/** A 16-byte salt 00 01 .. 0f. */
export const SALT = h("000102030405060708090a0b0c0d0e0f");

/**
 * The smallest valid content: [salt, null, h'', null, null, {}, [1, "", 0]], written out by hand
 * from the CDDL (A.1) so that tests of the decoder do not depend on the encoder.
 */
export const MINIMAL = h(`
  87                                   # array(7)
     50 000102030405060708090a0b0c0d0e0f # salt
     f6                                # replaces = null
     40                                # topicId = h''
     f6                                # expires = null
     f6                                # inReplyTo = null
     a0                                # extensions = {}
     83 01 60 00                       # [render, "", nullpart]
`);

export const ALICE = "mimi://example.com/u/alice-smith";
export const ROOM = "mimi://example.com/r/engineering_team";

export function textPart(text: string): SinglePart {
  return { disposition: Disposition.render, language: "", cardinality: "single", contentType: "text/plain;charset=utf-8", content: new TextEncoder().encode(text) };
}

/** A valid content object with sender and room URIs, overridable field by field. */
export function sampleContent(overrides: Partial<MimiContent> = {}): MimiContent {
  return {
    salt: SALT,
    replaces: null,
    topicId: new Uint8Array(0),
    expires: null,
    inReplyTo: null,
    mimiExtensions: new Map<number | string, string>([
      [1, ALICE],
      [2, ROOM],
    ]),
    nestedPart: textPart("hello"),
    ...overrides,
  };
}

/** A NestedPart tree: a chain of MultiParts `levels` deep (the body being level 1). */
export function nestedChain(levels: number): NestedPart {
  let part: NestedPart = textPart("leaf");
  for (let level = levels - 1; level >= 1; level--) {
    part = { disposition: Disposition.render, language: "", cardinality: "multi", partSemantics: "processAll", parts: [part, textPart("sibling")] };
  }
  return part;
}

/** A valid 32-byte message ID with the sha-256 hash algorithm octet (§3.3). */
export function messageId(fill: number): Uint8Array {
  const id = new Uint8Array(32).fill(fill);
  id[0] = 1;
  return id;
}
