// Small helpers over src/codec for the MLS-side structs.
import { decodeExact } from "../codec/index.ts";
import type { Codec } from "../codec/index.ts";

/** Largest vector accepted inside MIMI components and MLS extension data we parse ourselves. */
export const MLS_MAX_VECTOR_LENGTH = 4 * 1024 * 1024;

/** decodeExact with the limits used for component and extension data (throws MIMI_ERR_CODEC_*). */
export function decodeExactMls<T>(codec: Codec<T>, bytes: Uint8Array): T {
  return decodeExact(codec, bytes, { maxVectorLength: MLS_MAX_VECTOR_LENGTH });
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
