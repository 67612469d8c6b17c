// The configuration schema: one YAML file, validated by this one schema (TypeBox → JSON Schema,
// checked by Ajv with every error reported at once; see load.ts). Defaults live here and only here.
//
// Sections grow with the project: later issues add consent, discovery and adapters.<id> (each
// adapter validates its own section against its configSchema). The secure transport settings
// (server.tls, peers, outbound) hold file PATHS only, never key material; the files are read and
// checked (key mode 0600 or stricter, certificate names provider.domain) when the provider starts
// (src/transport/tlsMaterial.ts).
import { Type, type Static } from "@sinclair/typebox";

// A DNS name as used for provider domains (RFC 1123 labels, at least one label). `localhost`
// is allowed for local use and tests.
const DOMAIN_PATTERN = "^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$";

const DomainName = (options: { default?: string } = {}) =>
  Type.String({
    ...options,
    pattern: DOMAIN_PATTERN,
    description: "a lowercase DNS name, e.g. a.example",
  });

const FilePath = (description: string) => Type.String({ minLength: 1, description });

// server.tls: when present, the server-to-server listener is HTTPS and every connection must
// present a client certificate that chains to `ca` (MIMI-PROTO-TLS-01).
export const ServerTlsSchema = Type.Object(
  {
    cert: FilePath("PEM file: this provider's certificate (chain), naming provider.domain; server and client certificate"),
    key: FilePath("PEM file: the certificate's private key; mode 0600 or stricter"),
    ca: FilePath("PEM file: the CA certificate(s) peer certificates must chain to"),
    trustSystemRoots: Type.Boolean({ default: false, description: "also accept client certificates from the CAs Node trusts by default" }),
  },
  { additionalProperties: false },
);

// peers: a static map from provider domain to where it is reached. Without an entry a peer is
// reached at https://<domain>.
export const PeerSchema = Type.Object(
  {
    url: Type.String({
      pattern: "^https://[^/?#]+(/[^?#]*)?$",
      description: "an absolute https URL without query or fragment, e.g. https://127.0.0.1:8481",
    }),
    ca: Type.Optional(FilePath("PEM file: the CA certificate(s) this peer's certificate must chain to (default: server.tls.ca)")),
  },
  { additionalProperties: false },
);

export const OutboundSchema = Type.Object(
  {
    connectTimeoutMs: Type.Integer({ minimum: 100, maximum: 600000, default: 10000 }),
    requestTimeoutMs: Type.Integer({ minimum: 100, maximum: 600000, default: 30000 }),
    directoryTtlMs: Type.Integer({ minimum: 0, maximum: 86400000, default: 300000 }),
    maxResponseBytes: Type.Integer({ minimum: 1024, maximum: 1073741824, default: 16777216 }),
    trustSystemRoots: Type.Boolean({ default: false }),
  },
  { additionalProperties: false, default: {} },
);

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
        tls: Type.Optional(ServerTlsSchema),
      },
      { additionalProperties: false, default: {} },
    ),
    peers: Type.Record(Type.String(), PeerSchema, {
      default: {},
      propertyNames: { pattern: DOMAIN_PATTERN, description: "keyed by lowercase DNS names, e.g. b.example" },
    }),
    outbound: OutboundSchema,
    clientApi: Type.Object(
      {
        // The provider-local API for native MIMI clients (docs/CLIENT-API.md): its own listener,
        // bearer tokens instead of provider certificates.
        enabled: Type.Boolean({ default: true }),
        host: Type.String({ default: "127.0.0.1", minLength: 1, description: "address to listen on" }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8481, description: "0 picks a free port" }),
        // open: anyone who reaches the listener may create an account (tests, demos, closed
        // networks); closed: accounts come from `mimi-bridge users add`.
        registration: Type.Union([Type.Literal("open"), Type.Literal("closed")], { default: "closed" }),
        maxWaitMs: Type.Integer({ minimum: 0, maximum: 120000, default: 30000 }),
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
