// Discovery: does identifierQuery (protocol-06 §5.8) answer an existing but unsearchable user as
// fast as an unknown one? The acceptance of issue 4 asks that the two be indistinguishable: same
// code, same bytes (asserted in test/unit/discovery and test/integration/discovery.test.ts) and
// timing within noise (measured here: tests never assert timing).
//
// Subject: the answer time for queries naming an EXISTING user whose searchability is `none`
// (zach) or `handle` (yolanda; queried by e-mail and phone, which she does not allow).
// Baseline: the same query naming an UNKNOWN user, measured in the same run, interleaved one for
// one with the subject. ratio = median(subject) / median(baseline): 1.0 means no difference.
//
// Figures, one JSON line per search type (handle, email, phone, nick) and level:
//   engine_<type>        the answering code path in this process (IdentifierQueryEngine, memory
//                        store, 2,000 other users, no answer floor): decode, candidate lookup,
//                        match, encode. µs per query. Shows that the code does the same work.
//   engine_level_<type>  the same on a LevelDB store: a read that finds a record costs more than one
//                        that finds none, which the code cannot avoid.
//   mtls_floor0_<type>   end to end between provider PROCESSES (src/demo/processNetwork.ts: mutual
//                        TLS on loopback, LevelDB): a.example's certificate (a PeerClient built from
//                        its config file) → POST /v1/identifierQuery to c.example, configured with
//                        identifierQuery.minAnswerMs 0. ms per query, one in flight.
//   mtls_<type>          the same to b.example with the default minAnswerMs (20 ms): what a peer
//                        observes from a provider as shipped.
// The targets' per-peer rate limits are raised for the run (they would throttle the benchmark).
//
// Bounded: RUNS runs of a fixed number of pairs per figure (about 90 s in all); a wrong answer
// (anything but the same notFound bytes for both) exits 1; speed never does. Providers are stopped
// by PID, the folder removed.
import { rm } from "node:fs/promises";
import { mkdtemp } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { Accounts } from "../src/accounts/accounts.ts";
import { encode } from "../src/codec/index.ts";
import { loadConfigFile } from "../src/config/index.ts";
import { startProcessNetwork, type ProcessNetwork } from "../src/demo/processNetwork.ts";
import { IdentifierQueryEngine } from "../src/discovery/identifierQuery.ts";
import { ProfileStore } from "../src/discovery/profiles.ts";
import type { ProfileChange } from "../src/discovery/profile.ts";
import { silentLogger } from "../src/log.ts";
import { IdentifierRequest, SearchIdentifierType } from "../src/protocol/identifierQuery.ts";
import { openStore } from "../src/storage/index.ts";
import { PeerClient } from "../src/transport/peerClient.ts";
import { loadTransportSecurity } from "../src/transport/tlsMaterial.ts";
import { median } from "./lib.ts";

const BENCH = "discovery";
const RUNS = 5;
const ENGINE_SAMPLES = 2000;
const MTLS_SAMPLES = 300;
/** With the 20 ms floor every sample takes 20 ms: fewer of them. */
const FLOOR_SAMPLES = 40;
const FILLER_USERS = 2000;
const TARGET = "b.example";
const TARGET_NO_FLOOR = "c.example";

class FunctionalFailure extends Error {}

const out = (line: Record<string, unknown>) => process.stdout.write(JSON.stringify(line) + "\n");
const note = (s: string) => process.stderr.write(`[bench discovery] ${s}\n`);

type Kind = "handle" | "email" | "phone" | "nick";
const req = (type: Kind, value: string) => encode(IdentifierRequest, { queryElements: [{ searchType: SearchIdentifierType[type], searchValue: value }], idRequestExtensions: { componentData: [] } });

/** Subject (existing, unsearchable) and baseline (unknown) request pairs per search type. */
function pairs(domain: string, i: number): Record<Kind, [Uint8Array, Uint8Array]> {
  return {
    handle: [req("handle", `mimi://${domain}/u/zach`), req("handle", `mimi://${domain}/u/unknown${i % 97}`)],
    email: [req("email", i % 2 === 0 ? `zach@${domain}` : `yolanda@${domain}`), req("email", `unknown${i % 97}@${domain}`)],
    phone: [req("phone", i % 2 === 0 ? "+15550000003" : "+15550000002"), req("phone", `+1555999${String(i % 9973).padStart(4, "0")}`)],
    nick: [req("nick", i % 2 === 0 ? "zach" : "zed"), req("nick", `unknown${i % 97}`)],
  };
}

const profilesOf = (domain: string): [string, ProfileChange][] => [
  ["zach", { displayNames: ["Zach Private"], email: `zach@${domain}`, phone: "+15550000003", nicks: ["zed"], searchability: "none" }],
  ["yolanda", { displayNames: ["Yolanda Cards"], email: `yolanda@${domain}`, phone: "+15550000002", searchability: "handle" }],
];

/** Times `fn` for subject and baseline alternately, `n` pairs; returns the two sample lists (ms). */
async function interleaved(n: number, run: (i: number, which: 0 | 1) => Promise<string>): Promise<{ subject: number[]; baseline: number[] }> {
  const subject: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < n; i++) {
    // Alternate which one goes first, so neither always benefits from a warm cache.
    const order: (0 | 1)[] = i % 2 === 0 ? [0, 1] : [1, 0];
    const answers: string[] = [];
    for (const which of order) {
      const t = performance.now();
      answers.push(await run(i, which));
      (which === 0 ? subject : baseline).push(performance.now() - t);
    }
    if (answers[0] !== answers[1]) throw new FunctionalFailure(`different answers for an unsearchable and an unknown user (pair ${i})`);
  }
  return { subject, baseline };
}

function report(figure: string, unit: "us" | "ms", runs: { subject: number; baseline: number }[], samples: number): void {
  const scale = unit === "us" ? 1000 : 1;
  const value = median(runs.map((r) => r.subject)) * scale;
  const baselineValue = median(runs.map((r) => r.baseline)) * scale;
  out({
    bench: BENCH,
    figure,
    value: Number(value.toFixed(unit === "us" ? 1 : 3)),
    unit,
    baseline: "the same query for an unknown user",
    baselineValue: Number(baselineValue.toFixed(unit === "us" ? 1 : 3)),
    ratio: Number((value / baselineValue).toFixed(3)),
    runs: runs.length,
    samplesPerRun: samples,
  });
}

const started = performance.now();
const dir = await mkdtemp(join(tmpdir(), "mimi-bench-discovery-"));
let net: ProcessNetwork | undefined;
let peerClient: PeerClient | undefined;
const onSignal = () => process.exit(130);
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);
try {
  // ---- in-process: the answering code path, on a memory store and on LevelDB ---------------------
  for (const kind of ["memory", "level"] as const) {
    const store = kind === "memory" ? await openStore({ kind: "memory" }) : await openStore({ kind: "level", dataDir: join(dir, "engine-level"), logger: silentLogger() });
    try {
      const accounts = new Accounts(store, TARGET);
      const profiles = new ProfileStore({ store, accounts, domain: TARGET, defaultSearchability: "handle" });
      for (let i = 0; i < FILLER_USERS; i++) {
        const name = `user${i}`;
        await accounts.createUser(name);
        await profiles.update(name, { displayNames: [`User ${i}`], email: `${name}@${TARGET}`, phone: `+1556${String(i).padStart(7, "0")}`, nicks: [`u${i}`], searchability: i % 3 === 0 ? "name" : i % 3 === 1 ? "handle" : "none" });
      }
      for (const [name, change] of profilesOf(TARGET)) {
        await accounts.createUser(name);
        await profiles.update(name, change);
      }
      const engine = new IdentifierQueryEngine({
        domain: TARGET,
        profiles,
        settings: { enabled: true, maxResults: 10, minSubstringLength: 3, maxElements: 8, minAnswerMs: 0, peerRateLimit: { burst: 1_000_000_000, perMinute: 60_000_000 } },
        siiSearch: true,
      });
      const samples = kind === "memory" ? ENGINE_SAMPLES : ENGINE_SAMPLES / 4;
      for (const type of ["handle", "email", "phone", "nick"] as const) {
        const ask = async (i: number, which: 0 | 1) => Buffer.from(await engine.answerPeer(pairs(TARGET, i)[type][which], "a.example")).toString("hex");
        const runs: { subject: number; baseline: number }[] = [];
        await interleaved(200, ask); // warm-up
        for (let r = 0; r < RUNS; r++) {
          const s = await interleaved(samples, ask);
          runs.push({ subject: median(s.subject), baseline: median(s.baseline) });
        }
        report(`${kind === "memory" ? "engine" : "engine_level"}_${type}_unsearchable_vs_unknown`, "us", runs, samples);
      }
    } finally {
      await store.close();
    }
  }

  // ---- two provider processes over mutual TLS ------------------------------------------------------
  net = await startProcessNetwork({
    domains: ["a.example", TARGET, TARGET_NO_FLOOR],
    dir: join(dir, "net"),
    logLevel: "warn",
    storage: "level",
    extraConfig: (d) => ({ discovery: { identifierQuery: { peerRateLimit: { burst: 1_000_000, perMinute: 60_000_000 }, ...(d === TARGET_NO_FLOOR ? { minAnswerMs: 0 } : {}) } } }),
  });
  const a = net.providers["a.example"];
  if (a === undefined) throw new FunctionalFailure("providers missing");
  for (const domain of [TARGET, TARGET_NO_FLOOR]) {
    const p = net.providers[domain];
    if (p === undefined) throw new FunctionalFailure(`no ${domain}`);
    for (const [name, change] of [...profilesOf(domain), ["filler", { displayNames: ["Filler"], searchability: "name" }] as [string, ProfileChange]]) {
      const reg = await fetch(`${p.clientApiUrl}/client/v1/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ user: name }) });
      const { token } = (await reg.json()) as { token: string };
      const set = await fetch(`${p.clientApiUrl}/client/v1/discovery/profile`, { method: "PUT", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify(change) });
      if (set.status !== 200) throw new FunctionalFailure(`profile of ${name}@${domain}: HTTP ${set.status}`);
    }
  }
  const config = await loadConfigFile(a.configPath);
  const security = await loadTransportSecurity(config);
  if (security.server === undefined) throw new FunctionalFailure("a.example has no TLS material");
  peerClient = new PeerClient({
    domain: config.provider.domain,
    logger: silentLogger(),
    tls: { certPem: security.server.certPem, privateKey: security.server.privateKey },
    peers: security.peers,
    defaultServerCa: security.defaultServerCa,
    connectTimeoutMs: config.outbound.connectTimeoutMs,
    requestTimeoutMs: config.outbound.requestTimeoutMs,
    directoryTtlMs: config.outbound.directoryTtlMs,
    maxResponseBytes: config.outbound.maxResponseBytes,
  });
  const pc = peerClient;
  for (const [target, prefix, samples] of [
    [TARGET_NO_FLOOR, "mtls_floor0", MTLS_SAMPLES],
    [TARGET, "mtls", FLOOR_SAMPLES],
  ] as const) {
    const ask = async (i: number, which: 0 | 1, type: "handle" | "email" | "phone" | "nick"): Promise<string> => {
      const res = await pc.request(target, "identifierQuery", { domain: target }, { body: pairs(target, i)[type][which] });
      if (res.status !== 200) throw new FunctionalFailure(`identifierQuery at ${target} answered ${res.status}`);
      return Buffer.from(res.body).toString("hex");
    };
    for (const type of ["handle", "email", "phone", "nick"] as const) {
      const runs: { subject: number; baseline: number }[] = [];
      await interleaved(samples === MTLS_SAMPLES ? 50 : 5, (i, which) => ask(i, which, type)); // warm-up: connection, JIT
      for (let r = 0; r < RUNS; r++) {
        const s = await interleaved(samples, (i, which) => ask(i, which, type));
        runs.push({ subject: median(s.subject), baseline: median(s.baseline) });
      }
      report(`${prefix}_${type}_unsearchable_vs_unknown`, "ms", runs, samples);
    }
  }
  note(`done in ${Math.round(performance.now() - started)} ms on ${cpus().length} CPUs`);
} catch (err) {
  process.exitCode = 1;
  note(`FAILED: ${err instanceof FunctionalFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await peerClient?.close().catch(() => undefined);
  await net?.stop().catch((err: unknown) => note(`stopping the providers: ${String(err)}`));
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await rm(dir, { recursive: true, force: true });
}
