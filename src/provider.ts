// The composition root of one MIMI provider process: configuration in, a running provider out.
// It opens the Store, builds the HTTP server, and shuts both down in the right order. Tests
// start providers through here too (port 0), so what runs in production is what is tested.
import { resolve } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Config } from "./config/index.ts";
import { wrapError } from "./errors.ts";
import type { Logger } from "./log.ts";
import { openStore, type Store } from "./storage/index.ts";
import { buildHttpServer } from "./transport/httpServer.ts";
import { VERSION } from "./version.ts";

export interface Provider {
  readonly config: Config;
  readonly store: Store;
  readonly http: FastifyInstance;
  /** The base URL the provider listens on (or its configured public URL). */
  readonly url: string;
  /** Stops accepting requests, finishes in-flight ones, closes the store. Idempotent. */
  stop(): Promise<void>;
}

export async function startProvider(config: Config, logger: Logger): Promise<Provider> {
  const log = logger.child({ component: "provider", provider: config.provider.domain });
  const dataDir = resolve(config.storage.dataDir);
  const store = await openStore(
    config.storage.kind === "level" ? { kind: "level", dataDir, logger } : { kind: "memory", logger },
  );
  let listenUrl = "";
  const publicUrl = () => config.server.publicUrl ?? listenUrl;
  let http: FastifyInstance;
  try {
    http = await buildHttpServer({
      logger,
      domain: config.provider.domain,
      publicUrl,
      bodyLimitBytes: config.server.bodyLimitBytes,
      version: VERSION,
      health: {
        check: async () =>
          store.isOpen
            ? { ok: true, details: { storage: { kind: store.kind, schemaVersion: await store.schemaVersion() } } }
            : { ok: false, details: { storage: { kind: store.kind, open: false } } },
      },
    });
    await http.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await store.close();
    throw wrapError("MIMI_ERR_INTERNAL", err, `cannot start the HTTP server on ${config.server.host}:${config.server.port}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const addr = http.server.address();
  const port = typeof addr === "object" && addr ? addr.port : config.server.port;
  const host = config.server.host.includes(":") ? `[${config.server.host}]` : config.server.host;
  listenUrl = `http://${host}:${port}`;
  log.info({ url: listenUrl, publicUrl: publicUrl(), dataDir: config.storage.kind === "level" ? dataDir : undefined, version: VERSION }, "mimi-bridge provider started");

  let stopping: Promise<void> | undefined;
  return {
    config,
    store,
    http,
    get url() {
      return publicUrl();
    },
    stop() {
      stopping ??= (async () => {
        log.info("stopping");
        try {
          await http.close();
        } finally {
          await store.close();
        }
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
