// Fuzzing support: arbitrary inputs for a decoder, mixing random bytes with mutated valid
// encodings (so the fuzzer reaches deep into the structure, real MLS bytes included).
import assert from "node:assert/strict";
import fc from "fast-check";
import { MimiError } from "../../../src/errors.ts";
import { toHex } from "./samples.ts";

/** Runs per top-level decoder (the brief: at least 10,000). */
export const FUZZ_RUNS = 10_000;

function mutate(seed: Uint8Array, edits: [number, number][], cut: number | null, junk: Uint8Array, mode: number): Uint8Array {
  let out = seed.slice();
  for (const [pos, byte] of edits) {
    if (out.length > 0) out[pos % out.length] = byte;
  }
  if (mode === 1 && cut !== null) out = out.subarray(0, cut % (out.length + 1));
  if (mode === 2) out = new Uint8Array([...out, ...junk]);
  if (mode === 3 && cut !== null && out.length > 0) {
    // delete one byte
    const at = cut % out.length;
    out = new Uint8Array([...out.subarray(0, at), ...out.subarray(at + 1)]);
  }
  return out;
}

/** Random bytes, and valid seeds with a few bytes overwritten, cut short, shortened or extended. */
export function inputs(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const mutated = fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xff })), { minLength: 0, maxLength: 4 }),
      fc.option(fc.nat()),
      fc.uint8Array({ maxLength: 8 }),
      fc.integer({ min: 0, max: 3 }),
    )
    .map(([seed, edits, cut, junk, mode]) => mutate(seed, edits, cut, junk, mode));
  return fc.oneof(
    { arbitrary: fc.uint8Array({ maxLength: 48 }), weight: 2 },
    { arbitrary: fc.uint8Array({ minLength: 48, maxLength: 700 }), weight: 1 },
    { arbitrary: mutated, weight: 5 },
  );
}

/**
 * `decode` never throws anything but a MIMI_ERR_CODEC_ MimiError, and whatever it accepts
 * re-encodes to the very same bytes (canonical form).
 */
export function fuzz<T>(decode: (bytes: Uint8Array) => T, encodeBack: (value: T) => Uint8Array, seeds: readonly Uint8Array[], runs = FUZZ_RUNS): void {
  for (const seed of seeds) assert.equal(toHex(encodeBack(decode(seed))), toHex(seed), "seeds must be valid");
  let accepted = 0;
  fc.assert(
    fc.property(inputs(seeds), (bytes) => {
      let value: T;
      try {
        value = decode(bytes);
      } catch (err) {
        if (!(err instanceof MimiError)) throw new Error(`decoder threw a non-MimiError: ${String(err)}`, { cause: err });
        if (!err.code.startsWith("MIMI_ERR_CODEC_")) throw new Error(`decoder threw ${err.code}: ${err.message}`, { cause: err });
        return;
      }
      accepted++;
      assert.equal(toHex(encodeBack(value)), toHex(bytes), "accepted input must be canonical");
    }),
    { numRuns: runs },
  );
  // The mutations keep some inputs valid; a fuzzer that never gets past the first byte is useless.
  assert.ok(accepted > 0, "some fuzz inputs should decode");
}
