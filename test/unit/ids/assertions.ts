// Shared assertions and generators for the identifier tests.
import assert from "node:assert/strict";
import fc from "fast-check";
import { MimiError } from "../../../src/errors.ts";
import type { MimiErrorCode } from "../../../src/errors.ts";
import { toAsciiDomain } from "../../../src/ids/index.ts";

/** Asserts that `fn` throws a MimiError with `code`. */
export function throwsCode(fn: () => unknown, code: MimiErrorCode, label?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof MimiError, `${label ?? ""}: expected a MimiError, got ${String(err)}`);
    assert.equal(err.code, code, `${label ?? ""}: ${err.message}`);
    return true;
  });
}

/** Runs `fn` and fails unless it returns or throws a MimiError (never anything else). */
export function onlyMimiErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof MimiError)) throw new Error(`threw a non-MimiError: ${String(err)}`, { cause: err });
  }
}

/** Any UTF-16 code unit, lone surrogates included, with the characters identifiers care about. */
const nastyChar = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(..."@:/\\%_=.+-?#[] \"&'<>!$~*,;AZaz09\u0000\u007f\u00e9\ud800\udc00\u200d\uff20".split("")) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
);

/** Arbitrary strings biased towards identifier syntax, sometimes behind a known prefix. */
export function nastyString(prefixes: readonly string[] = []): fc.Arbitrary<string> {
  const body = fc.string({ unit: nastyChar, maxLength: 60 });
  if (prefixes.length === 0) return body;
  return fc.oneof(body, fc.tuple(fc.constantFrom(...prefixes), body).map(([p, b]) => p + b));
}

/** Normalised MIMI hosts: random LDH domains, IDN and IPv4 ones. */
export const mimiHost: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.domain().map((d) => toAsciiDomain(d)).filter((d): d is string => d !== undefined) },
  { weight: 1, arbitrary: fc.constantFrom("xn--mnchen-3ya.de", "xn--9ca.example", "127.0.0.1", "localhost", "b.example") },
);

/** Any valid MIMI segment value: full Unicode, biased to the characters escapers care about. */
export const segmentValue: fc.Arbitrary<string> = fc
  .oneof(
    fc.string({ unit: "binary", minLength: 1, maxLength: 24 }),
    fc.string({ unit: fc.constantFrom(..."aZ_=@/\\ .+-%:!'\"&<>é🙂".split(/(?:)/u)), minLength: 1, maxLength: 24 }),
    fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 24 }),
  )
  .filter((s) => s !== "." && s !== ".." && !/\p{Cc}/u.test(s));
