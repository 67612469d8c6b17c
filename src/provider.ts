// The composition root of one MIMI provider process: configuration in, a running provider out.
// It checks the TLS files, opens the Store, builds the HTTP(S) server and the PeerClient, and
// shuts them down in the right order. Tests start providers through here too (port 0), so what
// runs in production is what is tested.
import { join, resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Config } from "./config/index.ts";
import { isMimiError, wrapError } from "./errors.ts";
import type { Logger } from "./log.ts";
import { openStore, type Store } from "./storage/index.ts";
import { BridgeHost } from "./bridge/host.ts";
import { loadAdapter } from "./bridge/registry.ts";
import { buildClientApi } from "./client-api/server.ts";
import { discoveryPeerRoutes } from "./discovery/index.ts";
import { createServices, type Services } from "./services.ts";
import { buildHttpServer } from "./transport/httpServer.ts";
import { protocolHandlers } from "./transport/protocolRoutes.ts";
import { PeerClient } from "./transport/peerClient.ts";
import { loadTransportSecurity } from "./transport/tlsMaterial.ts";
import { VERSION } from "./version.ts";

export interface Provider {
  readonly config: Config;
  readonly store: Store;
  readonly http: FastifyInstance;
  /** Outbound server-to-server requests over mutual TLS (draft-ietf-mimi-protocol-06 §Transport). */
  readonly peerClient: PeerClient;
  /** Whether the listener is HTTPS with required client certificates (server.tls). */
  readonly tls: boolean;
  /** The base URL the provider listens on (or its configured public URL). */
  readonly url: string;
  /** Hub, follower, accounts, KeyPackages, inbox and outbox. */
  readonly services: Services;
  /** The client API listener (docs/CLIENT-API.md), when enabled. */
  readonly clientApi: FastifyInstance | undefined;
  /** Base URL of the client API, e.g. http://127.0.0.1:8481 ("" when disabled). */
  readonly clientApiUrl: string;
  /** The bridge host running the configured adapters (undefined: no `adapters` section). */
  readonly bridge: BridgeHost | undefined;
  /** Stops accepting requests, finishes in-flight ones, closes peer connections and the store. Idempotent. */
  stop(): Promise<void>;
}

export async function startProvider(config: Config, logger: Logger): Promise<Provider> {
  const log = logger.child({ component: "provider", provider: config.provider.domain });
  // Before anything else: a key file readable by others or a certificate for another domain
  // stops the start (MIMI-PROTO-TLS-05), with every problem listed.
  const security = await loadTransportSecurity(config);
  const tls = security.server;
  const peerClient = new PeerClient({
    domain: config.provider.domain,
    logger,
    tls: tls === undefined ? undefined : { certPem: tls.certPem, privateKey: tls.privateKey },
    peers: security.peers,
    defaultServerCa: security.defaultServerCa,
    connectTimeoutMs: config.outbound.connectTimeoutMs,
    requestTimeoutMs: config.outbound.requestTimeoutMs,
    directoryTtlMs: config.outbound.directoryTtlMs,
    maxResponseBytes: config.outbound.maxResponseBytes,
  });
  const dataDir = resolve(config.storage.dataDir);
  const store = await openStore(
    config.storage.kind === "level" ? { kind: "level", dataDir, logger } : { kind: "memory", logger },
  );
  let listenUrl = "";
  const publicUrl = () => config.server.publicUrl ?? listenUrl;
  let http: FastifyInstance | undefined;
  let services: Services;
  try {
    services = await createServices({
      domain: config.provider.domain,
      store,
      logger,
      peerClient,
      // The hub's signing key sits beside the store (mode 0600); a memory store keeps it in memory.
      hubKeyFile: config.storage.kind === "level" ? join(dataDir, "keys", "hub-signature.json") : undefined,
      consentConfig: config.consent,
      // MIMI-DISC-11: so does the discovery signing key.
      discovery: config.discovery,
      discoveryKeyFile: config.storage.kind === "level" ? join(dataDir, "keys", "discovery-signature.json") : undefined,
    });
  } catch (err) {
    await peerClient.close();
    await store.close();
    throw err;
  }
  let clientApi: FastifyInstance | undefined;
  let clientApiUrl = "";
  let bridge: BridgeHost | undefined;
  try {
    http = await buildHttpServer({
      logger,
      domain: config.provider.domain,
      publicUrl,
      bodyLimitBytes: config.server.bodyLimitBytes,
      version: VERSION,
      tls,
      requirePeerAuthentication: true,
      protocol: protocolHandlers(services),
      peerRoutes: discoveryPeerRoutes(services.discovery),
      health: {
        check: async () =>
          store.isOpen
            ? { ok: true, details: { storage: { kind: store.kind, schemaVersion: await store.schemaVersion() }, ...(bridge === undefined ? {} : { adapters: bridge.status() }) } }
            : { ok: false, details: { storage: { kind: store.kind, open: false } } },
      },
    });
    await http.listen({ host: config.server.host, port: config.server.port });
    if (config.clientApi.enabled) {
      clientApi = await buildClientApi({ services, logger, registration: config.clientApi.registration, bodyLimitBytes: config.server.bodyLimitBytes, maxWaitMs: config.clientApi.maxWaitMs });
      await clientApi.listen({ host: config.clientApi.host, port: config.clientApi.port });
      const caddr = clientApi.server.address();
      const cport = typeof caddr === "object" && caddr ? caddr.port : config.clientApi.port;
      clientApiUrl = `http://${config.clientApi.host.includes(":") ? `[${config.clientApi.host}]` : config.clientApi.host}:${cport}`;
    }
    const configured = Object.entries(config.adapters).filter(([, section]) => section !== undefined);
    if (configured.length > 0) {
      const adapters = [];
      for (const [id, section] of configured) adapters.push({ adapter: await loadAdapter(id), config: section });
      bridge = new BridgeHost({
        services,
        store,
        logger,
        adapters,
        // The secret that derives message IDs from platform events lives beside the store (0600).
        secretFile: config.storage.kind === "level" ? join(dataDir, "keys", "bridge-secret") : undefined,
      });
      await bridge.start();
    }
  } catch (err) {
    await bridge?.stop().catch(() => undefined);
    await clientApi?.close();
    await http?.close();
    await services.stop();
    await peerClient.close();
    await store.close();
    if (isMimiError(err)) throw err; // e.g. an adapter that cannot be loaded or started
    throw wrapError("MIMI_ERR_INTERNAL", err, `cannot start the HTTP server on ${config.server.host}:${config.server.port}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const addr = http.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.server.port;
  const host = config.server.host.includes(":") ? `[${config.server.host}]` : config.server.host;
  listenUrl = `${tls ? "https" : "http"}://${host}:${port}`;
  log.info(
    {
      url: listenUrl,
      publicUrl: publicUrl(),
      dataDir: config.storage.kind === "level" ? dataDir : undefined,
      version: VERSION,
      // Paths only; the key's content is never logged.
      tls: tls === undefined ? false : { cert: tls.paths.cert, keyFile: tls.paths.key, ca: tls.paths.ca, notAfter: tls.notAfter.toISOString() },
      peers: [...security.peers.keys()],
      clientApi: clientApiUrl || false,
      adapters: bridge === undefined ? [] : Object.keys(bridge.status()),
    },
    "mimi-bridge provider started",
  );
  if (tls === undefined) {
    log.info("server.tls is not configured: plain HTTP; the /v1/ protocol endpoints answer 403 MIMI_ERR_PEER_UNAUTHENTICATED (peer authentication needs mutual TLS)");
  }

  let stopping: Promise<void> | undefined;
  return {
    config,
    store,
    http,
    peerClient,
    services,
    clientApi,
    clientApiUrl,
    bridge,
    tls: tls !== undefined,
    get url() {
      return publicUrl();
    },
    stop() {
      stopping ??= (async () => {
        log.info("stopping");
        try {
          await bridge?.stop();
          await clientApi?.close();
          await http.close();
          await services.stop();
        } finally {
          try {
            await peerClient.close();
          } finally {
            await store.close();
          }
        }
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
