// Several real providers in this process, talking to each other over real mutual TLS on
// loopback, each with its own store and client API (port 0). For tests that need separate
// processes, see test/helpers/processes.ts and the demo.
import { join } from "node:path";
import type { LevelWithSilent } from "pino";
import { validateConfig } from "../../src/config/index.ts";
import { createLogger } from "../../src/log.ts";
import { startProvider, type Provider } from "../../src/provider.ts";
import { freePort, tempDir } from "./processes.ts";
import { makeDevCertificates, type DevCertificates } from "./tls.ts";

export interface TestNetwork {
  providers: Record<string, Provider>;
  certs: DevCertificates;
  dir: string;
  stop(): Promise<void>;
}

/**
 * Starts one provider per domain. Each knows the others through a static peer map whose URLs
 * are filled in once every provider listens (ports are picked by the OS).
 */
export async function startNetwork(
  domains: string[],
  opts: {
    storage?: "memory" | "level";
    logLevel?: LevelWithSilent;
    registration?: "open" | "closed";
    /** More configuration per provider (whole sections, e.g. `{ discovery: {…} }`), merged at the top level. */
    extraConfig?: (domain: string) => Record<string, unknown>;
  } = {},
): Promise<TestNetwork> {
  const tmp = await tempDir("net");
  const certs = await makeDevCertificates(tmp.path, domains, { ips: ["127.0.0.1"] });
  const providers: Record<string, Provider> = {};
  // Ports are chosen up front so every peer map is complete at start. A port found free can be
  // taken by another process before we bind it (tests run in parallel): then all of this
  // network's providers start again on fresh ports, a few times.
  for (let attempt = 1; ; attempt++) {
    const ports: Record<string, number> = {};
    for (const d of domains) ports[d] = await freePort();
    try {
      for (const domain of domains) {
        const cert = certs.providers[domain];
        if (!cert) throw new Error(`no certificate for ${domain}`);
        const config = validateConfig({
          provider: { domain },
          server: { host: "127.0.0.1", port: ports[domain], tls: { cert: cert.cert, key: cert.key, ca: certs.ca.cert } },
          peers: Object.fromEntries(domains.filter((d) => d !== domain).map((d) => [d, { url: `https://127.0.0.1:${ports[d]}` }])),
          clientApi: { port: 0, registration: opts.registration ?? "open", maxWaitMs: 5000 },
          storage: opts.storage === "level" ? { kind: "level", dataDir: join(tmp.path, `data-${domain}`) } : { kind: "memory" },
          logging: { level: opts.logLevel ?? "silent" },
          // Test networks do not enforce consent unless a test says so (the product default is
          // `none`): most tests are about rooms, not consent.
          consent: { preConsent: "off" },
          ...(opts.extraConfig?.(domain) ?? {}),
        });
        providers[domain] = await startProvider(config, createLogger({ level: opts.logLevel ?? "silent", base: { provider: domain } }));
      }
      break;
    } catch (err) {
      for (const [d, p] of Object.entries(providers)) {
        await p.stop();
        delete providers[d];
      }
      if (attempt < 4 && addressInUse(err)) continue;
      await tmp.remove();
      throw err;
    }
  }
  return {
    providers,
    certs,
    dir: tmp.path,
    async stop() {
      for (const p of Object.values(providers)) await p.stop();
      await tmp.remove();
    },
  };
}

function addressInUse(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if ((e as NodeJS.ErrnoException).code === "EADDRINUSE") return true;
  return false;
}
