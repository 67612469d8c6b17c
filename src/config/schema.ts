// The configuration schema: one YAML file, validated by this one schema (TypeBox → JSON Schema,
// checked by Ajv with every error reported at once; see load.ts). Defaults live here and only here.
//
// Sections grow with the project: later issues add tls, peers, consent, discovery and
// adapters.<id> (each adapter validates its own section against its configSchema).
import { Type, type Static } from "@sinclair/typebox";

// A DNS name as used for provider domains (RFC 1123 labels, at least one label). `localhost`
// is allowed for local use and tests.
const DomainName = (options: { default?: string } = {}) =>
  Type.String({
    ...options,
    pattern: "^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
    description: "a lowercase DNS name, e.g. a.example",
  });

export const LogLevel = Type.Union(
  [
    Type.Literal("fatal"),
    Type.Literal("error"),
    Type.Literal("warn"),
    Type.Literal("info"),
    Type.Literal("debug"),
    Type.Literal("trace"),
    Type.Literal("silent"),
  ],
  { default: "info" },
);

export const ConfigSchema = Type.Object(
  {
    provider: Type.Object(
      {
        domain: DomainName({ default: "localhost" }),
      },
      { additionalProperties: false, default: {} },
    ),
    server: Type.Object(
      {
        host: Type.String({ default: "127.0.0.1", minLength: 1, description: "address to listen on" }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8480, description: "0 picks a free port" }),
        publicUrl: Type.Optional(
          Type.String({
            pattern: "^https?://[^/?#]+(/[^?#]*)?$",
            description: "an absolute http(s) URL without query or fragment, e.g. https://mimi.a.example",
          }),
        ),
        bodyLimitBytes: Type.Integer({ minimum: 1024, maximum: 67108864, default: 4194304 }),
        shutdownTimeoutMs: Type.Integer({ minimum: 100, maximum: 600000, default: 10000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    storage: Type.Object(
      {
        kind: Type.Union([Type.Literal("level"), Type.Literal("memory")], { default: "level" }),
        dataDir: Type.String({ minLength: 1, default: "./data" }),
      },
      { additionalProperties: false, default: {} },
    ),
    logging: Type.Object(
      {
        level: LogLevel,
      },
      { additionalProperties: false, default: {} },
    ),
    content: Type.Object(
      {
        // MIMI-CONTENT message ID formula (draft-ietf-mimi-content-08 §3.3). "-07" only for peers
        // that still hash without length prefixes.
        messageIdFormula: Type.Union([Type.Literal("-08"), Type.Literal("-07")], { default: "-08" }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
