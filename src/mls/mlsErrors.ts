// Every error that leaves src/mls is a MimiError. ts-mls throws its own classes (ValidationError,
// CodecError, UsageError, CryptoVerificationError, CryptoError, InternalError, DependencyError)
// and sometimes plain TypeErrors on malformed input; mlsCall() maps all of them to the
// MIMI_ERR_MLS_* codes, keeping the original as `cause`.
import { MimiError, wrapError } from "../errors.ts";
import type { MimiErrorCode } from "../errors.ts";

function classify(err: unknown, fallback: MimiErrorCode): MimiErrorCode {
  if (!(err instanceof Error)) return fallback;
  const message = err.message;
  switch (err.name) {
    case "ValidationError":
      if (/validate (external )?credential/i.test(message)) return "MIMI_ERR_MLS_CREDENTIAL_REJECTED";
      if (/epoch/i.test(message)) return "MIMI_ERR_MLS_WRONG_EPOCH";
      if (/AppDataUpdate|app_data_dictionary/.test(message)) return "MIMI_ERR_MLS_APP_DATA_INVALID";
      if (/Lifetime/i.test(message)) return "MIMI_ERR_MLS_KEY_PACKAGE_EXPIRED";
      return "MIMI_ERR_MLS_INVALID_MESSAGE";
    case "CodecError":
      // malformed input: the caller's code says what kind of input (KeyPackage, stored state, …)
      return fallback === "MIMI_ERR_INTERNAL" || fallback === "MIMI_ERR_MLS_INVALID_OPERATION" ? "MIMI_ERR_MLS_INVALID_MESSAGE" : fallback;
    case "CryptoVerificationError":
      return "MIMI_ERR_MLS_INVALID_MESSAGE";
    case "CryptoError":
      return "MIMI_ERR_MLS_DECRYPT_FAILED";
    case "UsageError":
      return "MIMI_ERR_MLS_INVALID_OPERATION";
    case "DependencyError":
      // a suite whose optional ts-mls peer dependency is not installed
      return "MIMI_ERR_MLS_UNSUPPORTED_CIPHERSUITE";
    case "InternalError":
      return "MIMI_ERR_INTERNAL";
    default:
      return fallback;
  }
}

/** Wraps anything thrown by ts-mls (or by the crypto under it) as a MimiError. */
export function toMimiError(err: unknown, fallback: MimiErrorCode, what: string, rejection?: () => string | undefined): MimiError {
  if (err instanceof MimiError) return err;
  const code = classify(err, fallback);
  const reason = code === "MIMI_ERR_MLS_CREDENTIAL_REJECTED" ? rejection?.() : undefined;
  const text = `${what}: ${err instanceof Error ? err.message : String(err)}${reason === undefined ? "" : ` (${reason})`}`;
  return wrapError(code, err, text, reason === undefined ? undefined : { reason });
}

/**
 * Runs one ts-mls operation; whatever it throws comes out as a MimiError. `fallback` is the code
 * for errors ts-mls does not classify (e.g. a TypeError while parsing hostile input).
 */
export async function mlsCall<T>(
  what: string,
  fallback: MimiErrorCode,
  fn: () => Promise<T> | T,
  rejection?: () => string | undefined,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toMimiError(err, fallback, what, rejection);
  }
}

/** Synchronous variant of mlsCall (decoders). */
export function mlsCallSync<T>(what: string, fallback: MimiErrorCode, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toMimiError(err, fallback, what);
  }
}
