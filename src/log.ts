// The one pino logger of mimi-bridge.
//
// Build the root logger once (createLogger) and pass children down: `log.child({ component })`,
// `{ roomId }`, `{ adapter }`. Never import a global logger.
//
// Secrets never reach a log line: every field whose name says it is a secret is censored at any
// depth up to four levels below the logged object, and HTTP authorization and cookie headers are
// censored too. Message plaintext is never logged on purpose; the `plaintext` and `body` fields
// are censored as a second line of defence (DESIGN.md section 7).
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from "pino";

export type { Logger } from "pino";

/** Field names that hold secrets or plaintext, wherever they appear. */
export const SECRET_FIELDS = [
  "password",
  "secret",
  "token",
  "as_token",
  "hs_token",
  "asToken",
  "hsToken",
  "componentSecret",
  "component_secret",
  "privateKey",
  "private_key",
  "signaturePrivateKey",
  "initPrivateKey",
  "hpkePrivateKey",
  "accessToken",
  "access_token",
  "apiKey",
  "plaintext",
  "passphrase",
] as const;

function redactPaths(): string[] {
  const paths: string[] = ["req.headers.authorization", "req.headers.cookie", 'req.headers["x-api-key"]'];
  for (const field of SECRET_FIELDS) {
    let prefix = "";
    for (let depth = 0; depth <= 4; depth++) {
      paths.push(`${prefix}${field}`);
      prefix += "*.";
    }
  }
  return paths;
}

export interface LogOptions {
  level?: LevelWithSilent;
  /** Defaults to standard output. Tests pass a stream to inspect what was logged. */
  destination?: DestinationStream;
  /** Base bindings for every line, e.g. `{ provider: "a.example" }`. */
  base?: Record<string, unknown>;
}

export const REDACTED = "[redacted]";

export function createLogger(options: LogOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { ...(options.base ?? {}) },
      redact: { paths: redactPaths(), censor: REDACTED },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    },
    options.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that drops everything, for library code called without one. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
