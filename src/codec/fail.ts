// Error helpers shared by the codec: every failure is a MimiError with a MIMI_ERR_CODEC_ code
// (or MIMI_ERR_INTERNAL for a programming mistake in a codec declaration), carrying structured
// details such as the byte offset and, once it has bubbled up through structs and vectors, the
// field path (for example "KeyMaterialRequest.targetUser.uri").
import { MimiError } from "../errors.ts";
import type { MimiErrorCode } from "../errors.ts";

export function codecError(code: MimiErrorCode, message: string, details: Record<string, unknown>, cause?: unknown): MimiError {
  return new MimiError(code, message, cause === undefined ? { details } : { details, cause });
}

/** A mistake in how a codec was declared (caught at module load time, not on peer input). */
export function declarationError(message: string): MimiError {
  return new MimiError("MIMI_ERR_INTERNAL", `codec declaration: ${message}`);
}

/**
 * Prepends a path segment (".field" or "[index]") to a codec error on its way out, so the final
 * error names the place in the structure where decoding or encoding failed. Rethrows `err`.
 */
export function withPath(err: unknown, segment: string): never {
  if (err instanceof MimiError && err.details !== undefined) {
    const prev = err.details["path"];
    err.details["path"] = typeof prev === "string" ? segment + prev : segment;
  }
  throw err;
}

/** Short, log-safe description of an unexpected JavaScript value passed to an encoder. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "undefined") return String(value);
  if (typeof value === "string") return `string(${value.length})`;
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  if (Array.isArray(value)) return `array(${value.length})`;
  return typeof value;
}
