// The `adapters.matrix` config section (TypeBox). The core validates it together with the rest of
// the configuration; `resolveMatrixConfig` fills the defaults again (so the adapter also works
// when handed a partial object: tests, embedding), reads the registration file and checks that it
// matches this section. The tokens live only in the registration file (the homeserver reads the
// same file), never in the main configuration.
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { MimiError, matrixGhostFor, matrixGhostNamespaceRegex } from "../../src/adapter/index.ts";
import { inExclusiveUserNamespace, loadRegistration, type MatrixRegistration } from "./registration.ts";

// Matrix appendix "Server Name": hostname / IPv4 / [IPv6], optional port. Checked again by
// matrixGhostNamespaceRegex (the ids module's full grammar).
const SERVER_NAME = "^(\\[[0-9A-Fa-f:.]{2,45}\\]|[A-Za-z0-9.-]{1,255})(:[0-9]{1,5})?$";
// Appendix "User Identifiers" (v1.8+ localpart grammar).
const LOCALPART = "^[a-z0-9._=\\-/+]{1,64}$";
const USER_ID = "^@[^:\\s]{1,255}:[^\\s]{1,255}$";

export const DEFAULT_MATRIX_LISTEN_PORT = 29330;
export const MIB = 1024 * 1024;

export const MatrixConfigSchema = Type.Object(
  {
    homeserverUrl: Type.String({
      pattern: "^https?://[^/?#\\s]+(/[^?#\\s]*)?$",
      description: "the homeserver's client-server API as the bridge reaches it, e.g. http://127.0.0.1:8008",
    }),
    domain: Type.String({ pattern: SERVER_NAME, description: "the homeserver's server_name: @alice:<domain> is mimi://<provider>/u/alice" }),
    registrationFile: Type.String({
      minLength: 1,
      description: "the application service registration (YAML, mode 0600) shared with the homeserver; as_token and hs_token come from it",
    }),
    listen: Type.Object(
      {
        host: Type.String({ minLength: 1, default: "127.0.0.1", description: "address of the transaction endpoint the homeserver pushes to" }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: DEFAULT_MATRIX_LISTEN_PORT, description: "0 picks a free port (tests)" }),
      },
      { additionalProperties: false, default: {} },
    ),
    ghostPrefix: Type.String({ pattern: LOCALPART, default: "_mimi_", description: "localpart prefix of the ghosts of remote MIMI users (exclusive namespace)" }),
    botLocalpart: Type.String({ pattern: LOCALPART, default: "mimi-bridge", description: "the bridge bot (the registration's sender_localpart)" }),
    admins: Type.Array(Type.String({ pattern: USER_ID }), {
      default: [],
      maxItems: 1000,
      description: "Matrix user IDs allowed to run bridge/unbridge in any room, even when they are not its admins",
    }),
    limits: Type.Object(
      {
        maxBodyBytes: Type.Integer({ minimum: 16, maximum: 16 * MIB, default: 65536, description: "larger message bodies are refused with a notice" }),
        maxTransactionBytes: Type.Integer({
          minimum: 1024,
          maximum: 100 * MIB,
          default: 5 * MIB,
          description: "larger transactions get 413 M_TOO_LARGE (matrix-appservice's default is 5 MB too)",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Optional(
      Type.Object(
        {
          listen: Type.Object(
            {
              host: Type.String({ minLength: 1, default: "127.0.0.1", description: "address of the Prometheus endpoint (GET /metrics, GET /health)" }),
              port: Type.Integer({ minimum: 0, maximum: 65535, description: "0 picks a free port (tests)" }),
            },
            { additionalProperties: false },
          ),
        },
        {
          additionalProperties: false,
          description: "Prometheus metrics on their own listener (as mautrix bridges do); off when absent. Keep it off the public network: it names rooms by count only, but it is unauthenticated.",
        },
      ),
    ),
    staleEventMaxAgeMs: Type.Integer({
      minimum: 0,
      maximum: 30 * 24 * 3600 * 1000,
      default: 0,
      description:
        "0 (default): bridge every event. Otherwise message events (not state) older than this when first received are skipped (after long downtime, instead of a flood). Replayed transactions are never dropped for age.",
    }),
  },
  { additionalProperties: false },
);

/** After resolveMatrixConfig the registration has been read, checked and matched to the section. */
export type MatrixConfig = Static<typeof MatrixConfigSchema> & { registration: MatrixRegistration };

/** What callers may pass: everything with a default is optional. */
export type MatrixConfigInput = Omit<Static<typeof MatrixConfigSchema>, "listen" | "ghostPrefix" | "botLocalpart" | "admins" | "limits" | "staleEventMaxAgeMs" | "metrics"> & {
  metrics?: { listen: { host?: string; port: number } };
  listen?: Partial<MatrixConfig["listen"]>;
  ghostPrefix?: string;
  botLocalpart?: string;
  admins?: string[];
  limits?: Partial<MatrixConfig["limits"]>;
  staleEventMaxAgeMs?: number;
};

function configInvalid(problems: string[]): MimiError {
  return new MimiError("MIMI_ERR_CONFIG_INVALID", `adapters.matrix is invalid: ${problems.join("; ")}`, { details: { problems } });
}

/**
 * Applies the schema's defaults, checks the result, reads the registration (refusing
 * placeholders and a file others can read) and checks that it matches: sender_localpart is
 * botLocalpart, and the ghosts this section makes are in an exclusive user namespace (otherwise
 * the homeserver refuses to let the bridge create them, or a local user could take their names).
 */
export function resolveMatrixConfig(input: Readonly<MatrixConfigInput>): MatrixConfig {
  const value: unknown = Value.Default(MatrixConfigSchema, structuredClone(input));
  if (!Value.Check(MatrixConfigSchema, value)) {
    throw configInvalid([...Value.Errors(MatrixConfigSchema, value)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`));
  }
  if (value.botLocalpart.startsWith(value.ghostPrefix)) throw configInvalid(["/botLocalpart: must not start with ghostPrefix (the bot is not a ghost)"]);
  const m = value.metrics?.listen;
  // One port cannot serve both listeners (0 = a free port each, fine).
  if (m !== undefined && m.port !== 0 && m.port === value.listen.port && (m.host === value.listen.host || m.host === "0.0.0.0" || value.listen.host === "0.0.0.0" || m.host === "::" || value.listen.host === "::")) {
    throw configInvalid(["/metrics/listen/port: must differ from /listen/port (the transaction endpoint)"]);
  }
  try {
    // The full server-name grammar (port range, IPv4 octets, IPv6 literal).
    matrixGhostNamespaceRegex({ serverName: value.domain, prefix: value.ghostPrefix });
  } catch (err) {
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", `adapters.matrix is invalid: /domain: not a Matrix server name`, { cause: err, details: { problems: ["/domain"] } });
  }
  const registration = loadRegistration(value.registrationFile);
  const mismatch = (problem: string): MimiError =>
    new MimiError("MIMI_ERR_MATRIX_REGISTRATION_MISMATCH", `${value.registrationFile} does not match adapters.matrix: ${problem}`, { details: { problem } });
  if (registration.sender_localpart !== value.botLocalpart) {
    throw mismatch(`sender_localpart is ${registration.sender_localpart} but botLocalpart is ${value.botLocalpart}`);
  }
  const sample = matrixGhostFor("mimi://example.org/u/alice", { serverName: value.domain, prefix: value.ghostPrefix });
  if (!inExclusiveUserNamespace(registration, sample)) {
    throw mismatch(`no exclusive users namespace covers the ghosts (e.g. ${sample}); regenerate it with the same domain and ghostPrefix`);
  }
  return { ...value, registration };
}

/** The ghosts' user namespace as a RegExp (for TransactionServer's userNamespace). */
export function ghostNamespace(config: Pick<MatrixConfig, "domain" | "ghostPrefix">): RegExp {
  return new RegExp(matrixGhostNamespaceRegex({ serverName: config.domain, prefix: config.ghostPrefix }));
}
