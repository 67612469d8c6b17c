// The configuration schema: one YAML file, validated by this one schema (TypeBox → JSON Schema,
// checked by Ajv with every error reported at once; see load.ts). Defaults live here and only here.
//
// Sections grow with the project: later issues add consent, discovery and adapters.<id> (each
// adapter validates its own section against its configSchema). The secure transport settings
// (server.tls, peers, outbound) hold file PATHS only, never key material; the files are read and
// checked (key mode 0600 or stricter, certificate names provider.domain) when the provider starts
// (src/transport/tlsMaterial.ts).
import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { BUILT_IN_ADAPTERS } from "../bridge/registry.ts";

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

// discovery (issue 4): protocol-06 §5.8 identifierQuery and the SII → SSI discovery service
// (docs/CONSENT-DISCOVERY.md). Rate limits are token buckets: `burst` requests at once, refilled at
// `perMinute`.
const RateLimit = (burst: number, perMinute: number) =>
  Type.Object(
    {
      burst: Type.Integer({ minimum: 1, maximum: 1000000, default: burst }),
      perMinute: Type.Integer({ minimum: 1, maximum: 60000000, default: perMinute }),
    },
    { additionalProperties: false, default: {} },
  );

export const DiscoverySchema = Type.Object(
  {
    // The seed's three discovery options: ssiOnly (SII inputs refused), separate (resolve, then
    // the user sends consent requests), integrated (one call resolves and requests consent).
    mode: Type.Union([Type.Literal("ssiOnly"), Type.Literal("separate"), Type.Literal("integrated")], { default: "separate" }),
    // Searchability of users who never chose: name, handle (only an exact handle search finds
    // them) or none.
    defaultSearchability: Type.Union([Type.Literal("name"), Type.Literal("handle"), Type.Literal("none")], { default: "handle" }),
    identifierQuery: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        maxResults: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
        minSubstringLength: Type.Integer({ minimum: 1, maximum: 64, default: 3 }),
        maxElements: Type.Integer({ minimum: 1, maximum: 32, default: 8 }),
        // Every answer to a peer takes at least this long, so that its timing says nothing about
        // which users exist (0: answer as soon as computed).
        minAnswerMs: Type.Integer({ minimum: 0, maximum: 5000, default: 20 }),
        peerRateLimit: RateLimit(60, 120),
      },
      { additionalProperties: false, default: {} },
    ),
    service: Type.Object(
      {
        enabled: Type.Boolean({ default: false }),
        maxMappingsPerSii: Type.Integer({ minimum: 1, maximum: 1000, default: 32 }),
        peerRateLimit: RateLimit(60, 120),
      },
      { additionalProperties: false, default: {} },
    ),
    providers: Type.Array(DomainName(), { default: [], uniqueItems: true, maxItems: 32 }),
    mappingTtlDays: Type.Integer({ minimum: 1, maximum: 3650, default: 30 }),
    maxMappingsPerUser: Type.Integer({ minimum: 1, maximum: 256, default: 16 }),
    userRateLimit: RateLimit(20, 60),
    keyCacheTtlMs: Type.Integer({ minimum: 0, maximum: 86400000, default: 3600000 }),
  },
  { additionalProperties: false, default: {} },
);

// consent (issue 4, protocol-06 §5.7, digest §4; docs/CONSENT-DISCOVERY.md "Consent"): the seed's
// Question 3 as `preConsent` (none, the default: nothing before consent; keypackages;
// quarantine; off: consent not enforced, for closed test networks and demos), per provider with a per-user override, implicit consent (off by default),
// KeyPackage-exhaustion protection and quarantine caps. Rate limits are token buckets: `burst`
// claims at once, refilled at `perMinute`.
const ConsentRateLimit = (burst: number, perMinute: number) =>
  Type.Object(
    {
      burst: Type.Integer({ minimum: 1, maximum: 1000000, default: burst }),
      perMinute: Type.Integer({ minimum: 1, maximum: 60000000, default: perMinute }),
    },
    { additionalProperties: false, default: {} },
  );
const ConsentCaps = (messages: number, bytes: number) =>
  Type.Object(
    {
      messages: Type.Integer({ minimum: 1, maximum: 10000000, default: messages }),
      bytes: Type.Integer({ minimum: 1024, maximum: 1073741824, default: bytes }),
    },
    { additionalProperties: false, default: {} },
  );
export const QUARANTINE_PREVIEW_FIELDS = ["requester", "room", "count", "bytes", "firstAt", "lastAt", "dropped"] as const;

export const ConsentSchema = Type.Object(
  {
    preConsent: Type.Union([Type.Literal("off"), Type.Literal("none"), Type.Literal("keypackages"), Type.Literal("quarantine")], { default: "none" }),
    userOverride: Type.Boolean({ default: true }),
    implicit: Type.Object(
      {
        sameProvider: Type.Boolean({ default: false }),
        domains: Type.Array(DomainName(), { default: [], uniqueItems: true, maxItems: 1000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    requestTtlSeconds: Type.Integer({ minimum: 1, maximum: 315360000, default: 2592000 }),
    grantTtlSeconds: Type.Integer({ minimum: 0, maximum: 315360000, default: 0 }),
    announceRevocations: Type.Boolean({ default: false }),
    maxPendingPerRequester: Type.Integer({ minimum: 1, maximum: 100000, default: 20 }),
    maxPendingPerTarget: Type.Integer({ minimum: 1, maximum: 1000000, default: 500 }),
    sweepIntervalSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
    keyPackages: Type.Object(
      {
        perRequester: ConsentRateLimit(3, 1),
        perProvider: ConsentRateLimit(30, 10),
        targetBudget: Type.Object(
          {
            claims: Type.Integer({ minimum: 0, maximum: 1000000, default: 10 }),
            periodSeconds: Type.Integer({ minimum: 1, maximum: 31536000, default: 86400 }),
          },
          { additionalProperties: false, default: {} },
        ),
        reserve: Type.Integer({ minimum: 0, maximum: 1000, default: 2 }),
        lastResort: Type.Union([Type.Literal("consented"), Type.Literal("always"), Type.Literal("never")], { default: "consented" }),
      },
      { additionalProperties: false, default: {} },
    ),
    quarantine: Type.Object(
      {
        perRequester: ConsentCaps(100, 1048576),
        perTarget: ConsentCaps(1000, 16777216),
        maxAgeSeconds: Type.Integer({ minimum: 1, maximum: 31536000, default: 604800 }),
        preview: Type.Array(Type.Union(QUARANTINE_PREVIEW_FIELDS.map((f) => Type.Literal(f))), {
          default: [...QUARANTINE_PREVIEW_FIELDS],
          uniqueItems: true,
        }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false, default: {} },
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
    discovery: DiscoverySchema,
    consent: ConsentSchema,
    // adapters.<id> (issue 5; docs/ADAPTERS.md): a section per adapter to run, validated by the
    // adapter's own schema as part of this document. No section: the provider bridges nothing.
    adapters: Type.Object(Object.fromEntries(BUILT_IN_ADAPTERS.map((a): [string, TSchema] => [a.id, Type.Optional(a.configSchema)])), {
      additionalProperties: false,
      default: {},
      description: "adapters to run, by ID: xmpp, matrix, loopback",
    }),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
