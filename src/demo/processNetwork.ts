// Several providers as SEPARATE PROCESSES on loopback, with a fresh test CA and mutual TLS:
// what `mimi-bridge demo` runs, and what the process-level integration tests and benchmarks
// start. Each provider is `mimi-bridge serve --config <its file>`; ports are chosen up front, so
// a provider restarted after a crash comes back at the same addresses.
//
// Every process started here is tracked by PID and stopped by that PID only.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { MimiError } from "../errors.ts";

const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const launcher = join(repoRoot, "bin", "mimi-bridge.mjs");

export interface ProviderProcess {
  readonly domain: string;
  readonly s2sUrl: string;
  readonly clientApiUrl: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly logFile: string;
  pid(): number | undefined;
  /** Sends a signal (default SIGTERM) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Starts it again (after stop or a kill) and waits until it serves. */
  restart(): Promise<void>;
  readonly running: boolean;
}

export interface ProcessNetwork {
  readonly dir: string;
  readonly providers: Record<string, ProviderProcess>;
  stop(): Promise<void>;
}

export interface ProcessNetworkOptions {
  domains: readonly string[];
  /** A folder for certificates, configs, data and logs. */
  dir: string;
  logLevel?: string;
  registration?: "open" | "closed";
  storage?: "level" | "memory";
  /** Extra config per provider, merged into the generated YAML. */
  extraConfig?: (domain: string) => Record<string, unknown>;
  startTimeoutMs?: number;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((res) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      res(true);
    });
    socket.once("error", () => res(false));
  });
}

class Proc implements ProviderProcess {
  readonly domain: string;
  readonly s2sUrl: string;
  readonly clientApiUrl: string;
  readonly configPath: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly #timeoutMs: number;
  #child: ChildProcess | undefined;
  #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  #log: WriteStream | undefined;

  constructor(o: { domain: string; s2sUrl: string; clientApiUrl: string; configPath: string; dataDir: string; logFile: string; timeoutMs: number }) {
    this.domain = o.domain;
    this.s2sUrl = o.s2sUrl;
    this.clientApiUrl = o.clientApiUrl;
    this.configPath = o.configPath;
    this.dataDir = o.dataDir;
    this.logFile = o.logFile;
    this.#timeoutMs = o.timeoutMs;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  pid(): number | undefined {
    return this.#child?.pid;
  }

  async restart(): Promise<void> {
    if (this.running) throw new MimiError("MIMI_ERR_INTERNAL", `${this.domain} is still running`);
    this.#log = createWriteStream(this.logFile, { flags: "a" });
    const child = spawn(process.execPath, [launcher, "serve", "--config", this.configPath], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: process.env });
    this.#child = child;
    this.#exited = new Promise((res) => child.on("exit", (code, signal) => res({ code, signal })));
    let buffered = "";
    let stderr = "";
    const ready = new Promise<void>((res, rej) => {
      const timer = setTimeout(() => {
        clearInterval(poll);
        rej(new MimiError("MIMI_ERR_INTERNAL", `${this.domain} did not start within ${this.#timeoutMs} ms; see ${this.logFile}`));
      }, this.#timeoutMs);
      let started = false;
      child.stdout.on("data", (chunk: Buffer) => {
        this.#log?.write(chunk);
        if (started) return; // after start, lines only go to the log file
        buffered += chunk.toString("utf8");
        if (buffered.includes('"msg":"mimi-bridge provider started"')) {
          started = true;
          clearTimeout(timer);
          clearInterval(poll);
          res();
        }
        if (buffered.length > 100_000) buffered = buffered.slice(-10_000);
      });
      child.stderr.on("data", (chunk: Buffer) => {
        this.#log?.write(chunk);
        stderr += chunk.toString("utf8");
      });
      // With a log level above info the start line never comes: both listeners accepting
      // connections means the provider serves (it listens only once everything is ready).
      const ports = [new URL(this.s2sUrl).port, new URL(this.clientApiUrl).port].map(Number);
      const poll = setInterval(() => {
        void Promise.all(ports.map(accepts)).then((ok) => {
          if (ok.every(Boolean)) {
            started = true;
            clearTimeout(timer);
            clearInterval(poll);
            res();
          }
        });
      }, 100);
      void this.#exited!.then(({ code, signal }) => {
        clearTimeout(timer);
        clearInterval(poll);
        rej(new MimiError("MIMI_ERR_INTERNAL", `${this.domain} exited (${code ?? signal}) while starting: ${stderr.slice(0, 2000)}`));
      });
    });
    await ready;
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.#child;
    if (!child || !this.#exited) return { code: null, signal: null };
    if (this.running && child.pid !== undefined) process.kill(child.pid, signal);
    const result = await this.#exited;
    await new Promise<void>((res) => (this.#log ? this.#log.end(() => res()) : res()));
    this.#log = undefined;
    return result;
  }
}

/** Generates a CA and certificates, writes one config per provider and starts them all. */
export async function startProcessNetwork(o: ProcessNetworkOptions): Promise<ProcessNetwork> {
  const { createCa, issueProviderCertificate, writeCertificateAndKey } = await import("../transport/certificates.ts");
  const certDir = join(o.dir, "certs");
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  const ca = await createCa();
  const caFiles = await writeCertificateAndKey(certDir, "ca", ca);
  const ports: Record<string, { s2s: number; client: number }> = {};
  for (const d of o.domains) ports[d] = { s2s: await freePort(), client: await freePort() };
  const providers: Record<string, ProviderProcess> = {};
  for (const domain of o.domains) {
    const pair = await issueProviderCertificate(ca, { domain, ips: ["127.0.0.1"] });
    const files = await writeCertificateAndKey(certDir, domain, pair);
    const p = ports[domain]!;
    const dataDir = join(o.dir, `data-${domain}`);
    const config = {
      provider: { domain },
      server: { host: "127.0.0.1", port: p.s2s, tls: { cert: files.cert, key: files.key, ca: caFiles.cert } },
      peers: Object.fromEntries(o.domains.filter((d) => d !== domain).map((d) => [d, { url: `https://127.0.0.1:${ports[d]!.s2s}` }])),
      clientApi: { host: "127.0.0.1", port: p.client, registration: o.registration ?? "open" },
      storage: o.storage === "memory" ? { kind: "memory" } : { kind: "level", dataDir },
      logging: { level: o.logLevel ?? "info" },
      // Consent is not enforced in these networks unless `extraConfig` says so (the product
      // default is `none`); the demo's --consent-policy and the consent tests set it.
      consent: { preConsent: "off" },
      ...(o.extraConfig?.(domain) ?? {}),
    };
    const configPath = join(o.dir, `${domain}.yaml`);
    await writeFile(configPath, stringify(config), { mode: 0o600 });
    providers[domain] = new Proc({
      domain,
      s2sUrl: `https://127.0.0.1:${p.s2s}`,
      clientApiUrl: `http://127.0.0.1:${p.client}`,
      configPath,
      dataDir,
      logFile: join(o.dir, `${domain}.log`),
      timeoutMs: o.startTimeoutMs ?? 60_000,
    });
  }
  // If this process dies without stopping the network, its providers must not outlive it.
  const killAll = () => {
    for (const p of Object.values(providers)) {
      const pid = p.pid();
      if (p.running && pid !== undefined) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
    }
  };
  process.once("exit", killAll);
  const network: ProcessNetwork = {
    dir: o.dir,
    providers,
    async stop() {
      await Promise.all(Object.values(providers).map((p) => p.stop()));
      process.off("exit", killAll);
    },
  };
  try {
    await Promise.all(Object.values(providers).map((p) => p.restart()));
  } catch (err) {
    await network.stop();
    throw err;
  }
  return network;
}

/** Reads a provider's log file (for scans of what the hub wrote). */
export function readLog(p: ProviderProcess): Promise<string> {
  return readFile(p.logFile, "utf8");
}
