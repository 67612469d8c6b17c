import { Option, type Command } from "commander";
import { loadConfigFile, validateConfig, type Config } from "../../config/index.ts";
import { createLogger } from "../../log.ts";
import { startProvider } from "../../provider.ts";
import type { CliIo } from "../io.ts";
import { resolve } from "node:path";
import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";

interface ServeOptions {
  config?: string;
  host?: string;
  port?: string;
  dataDir?: string;
  domain?: string;
  publicUrl?: string;
  logLevel?: string;
  storage?: string;
  clientApiPort?: string;
}

/** Reads the raw YAML object so command-line overrides are validated together with it. */
async function rawConfig(path: string | undefined): Promise<Record<string, Record<string, unknown>>> {
  if (path === undefined) return {};
  await loadConfigFile(path); // full validation with file-specific messages first
  const doc = parseDocument(await readFile(path, "utf8"));
  return (doc.toJS() ?? {}) as Record<string, Record<string, unknown>>;
}

export async function resolveServeConfig(opts: ServeOptions, io: CliIo): Promise<Config> {
  const path = opts.config ?? io.env.MIMI_BRIDGE_CONFIG;
  const raw = await rawConfig(path === undefined ? undefined : resolve(io.cwd, path));
  const set = (section: string, key: string, value: unknown) => {
    if (value === undefined) return;
    raw[section] = { ...(raw[section] ?? {}), [key]: value };
  };
  set("server", "host", opts.host);
  if (opts.port !== undefined) {
    const port = Number(opts.port);
    set("server", "port", Number.isInteger(port) ? port : opts.port);
  }
  set("server", "publicUrl", opts.publicUrl);
  if (opts.clientApiPort !== undefined) {
    const port = Number(opts.clientApiPort);
    set("clientApi", "port", Number.isInteger(port) ? port : opts.clientApiPort);
  }
  set("storage", "dataDir", opts.dataDir === undefined ? undefined : resolve(io.cwd, opts.dataDir));
  set("storage", "kind", opts.storage);
  set("provider", "domain", opts.domain);
  set("logging", "level", opts.logLevel);
  const cfg = validateConfig(raw, path ?? "command line");
  // A relative dataDir is relative to where the command runs.
  if (cfg.storage.kind === "level" && !cfg.storage.dataDir.startsWith("/")) {
    return validateConfig({ ...structuredClone(cfg), storage: { ...cfg.storage, dataDir: resolve(io.cwd, cfg.storage.dataDir) } }, path ?? "command line");
  }
  return cfg;
}

export function registerServeCommand(program: Command, io: CliIo): void {
  program
    .command("serve")
    .description("run a MIMI provider (HTTP server with the protocol directory and /health; embedded LevelDB store in ./data by default)")
    .option("-c, --config <file>", "YAML configuration file (default: $MIMI_BRIDGE_CONFIG, else built-in defaults)")
    .option("--host <address>", "listen address (server.host)")
    .option("-p, --port <port>", "listen port, 0 for any free port (server.port)")
    .option("--public-url <url>", "base URL peers use to reach this provider (server.publicUrl)")
    .option("--client-api-port <port>", "client API listen port, 0 for any free port (clientApi.port)")
    .option("--data-dir <dir>", "data folder of the embedded store (storage.dataDir)")
    .addOption(new Option("--storage <kind>", "store implementation (storage.kind)").choices(["level", "memory"]))
    .option("--domain <domain>", "provider domain (provider.domain)")
    .addOption(new Option("--log-level <level>", "log level (logging.level)").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]))
    .action(async (opts: ServeOptions) => {
      const config = await resolveServeConfig(opts, io);
      const logger = createLogger({ level: config.logging.level });
      const provider = await startProvider(config, logger);
      await new Promise<void>((resolveDone) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals += 1;
          if (signals > 1) {
            logger.warn({ signal }, "second signal: exiting without a clean shutdown");
            process.exit(130);
          }
          logger.info({ signal }, "shutting down");
          const timer = setTimeout(() => {
            logger.error({ timeoutMs: config.server.shutdownTimeoutMs }, "clean shutdown timed out");
            process.exit(1);
          }, config.server.shutdownTimeoutMs);
          timer.unref();
          provider.stop().then(
            () => {
              clearTimeout(timer);
              resolveDone();
            },
            (err: unknown) => {
              logger.error({ err }, "shutdown failed");
              io.exitCode = 1;
              resolveDone();
            },
          );
        };
        process.on("SIGINT", onSignal);
        process.on("SIGTERM", onSignal);
      });
      logger.flush();
    });
}
