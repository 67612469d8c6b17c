// Hub: submitMessage accepted by the hub and fanned out to two followers, end to end, against the
// transport floor measured in the same run.
//
// Setup: three providers as SEPARATE PROCESSES (src/demo/processNetwork.ts: fresh CA, mutual TLS
// on loopback, LevelDB stores, log level warn): hub a.example, followers b.example and c.example.
// In this process: SDK clients with memory state (docs/SDK.md): alice on A creates a group room
// with bob (on B) and carol (on C); alice sends, bob and carol receive.
//
// Subject: text messages of 1 KiB sent with alice.send(), at most IN_FLIGHT calls outstanding
// (the SDK runs them one after the other under its client mutex; the diagnostics on stderr count
// what actually went over the wire: submits in flight, catch-up GET /events per send, long polls).
//   - accepted: messages/s until every send() has resolved, i.e. the hub accepted the message (it
//     is durably in the outbox and in alice's inbox); latency send() called → resolved.
//   - end to end: messages/s until BOTH receivers have handed every message to their `message`
//     listener (decrypted, checked, stored); latency send() called → that listener runs, one
//     sample per message and receiver. One process, one monotonic clock (performance.now()).
//   - unloaded latency: the same end to end with ONE message in flight (no queueing anywhere).
// Baseline, the transport floor: raw mutual-TLS HTTPS POSTs with a body of the same size as the
//   MLS message alice submits, from a.example's certificate and key (a PeerClient built from
//   a.example's own config file, exactly as the hub's outbox builds its own) to b.example's
//   POST /v1/notify/{room} for a room whose hub is b.example itself. B runs the whole transport
//   path (TLS client certificate, From, Host, 1.3 KB body read) and refuses with 403 before
//   anything is decoded or stored ("nobody notifies the hub", src/transport/protocolRoutes.ts).
//   So it is one fanout exchange of the hub minus the follower's work. Not chosen: the directory
//   GET (no body, outside peer authentication), a notify that B accepts (storing it and waking
//   inboxes is the subject's own work), the 501 of an unimplemented endpoint (changes meaning
//   once the endpoint exists). Measured with the same number in flight as the figure it serves.
// ratio = subject / baseline: for rates, messages/s per POSTs/s (the fraction of the floor's rate
// reached); for the latency figure, ms per ms (how many floors one message takes).
// Throughputs are medians over the runs; p50/p99 are over every sample of every run (pooled).
//
// One run = subject and baseline rounds alternating (as in bench/lib.ts). Bounded: at most RUNS
// runs within TIME_BUDGET_MS (setup included; a run that would not fit is dropped). A message
// that never arrives (no progress for STALL_MS), a failed send or a baseline answer other than
// 403 is a functional failure: exit 1. Speed never fails the benchmark. The providers are
// stopped by PID (network.stop()) and the temp folder is removed in `finally`.
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { HttpTransport, MimiClient, openClientStore } from "../src/client-api/sdk/index.ts";
import type { ServerEvent } from "../src/client-api/sdk/index.ts";
import { loadConfigFile } from "../src/config/index.ts";
import { startProcessNetwork, type ProcessNetwork } from "../src/demo/processNetwork.ts";
import { silentLogger } from "../src/log.ts";
import { PeerClient } from "../src/transport/peerClient.ts";
import { loadTransportSecurity } from "../src/transport/tlsMaterial.ts";
import { median, pool } from "./lib.ts";

const BENCH = "hub";
const HUB = "a.example";
const FOLLOWERS = ["b.example", "c.example"] as const;
const TEXT_BYTES = 1024;
const IN_FLIGHT = 8;
const MESSAGES_PER_RUN = 150;
/** Baseline POSTs per run at IN_FLIGHT: more than messages, so that a round lasts about half a second. */
const POSTS_PER_RUN = 600;
/** Messages (and POSTs) per run for the unloaded latency, one in flight. */
const UNLOADED_PER_RUN = 30;
const WARMUP_MESSAGES = 24;
const RUNS = 5;
/** Whole benchmark, setup included; runs that would not fit are dropped. */
const TIME_BUDGET_MS = 75_000;
/** No receiver progress for this long while messages are outstanding: they are lost. */
const STALL_MS = 20_000;

const started = performance.now();

function out(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + "\n");
}

function note(text: string): void {
  process.stderr.write(`[bench hub] ${text}\n`);
}

/** Nearest-rank percentile. */
function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

const ms = (x: number) => Number(x.toFixed(1));

class FunctionalFailure extends Error {}

/** The SDK's HTTP transport, counting and timing what goes over the wire (for the report, not the figures). */
class CountingTransport extends HttpTransport {
  submits = 0;
  submitMs = 0;
  submitsInFlight = 0;
  maxSubmitsInFlight = 0;
  lastSubmitBytes = 0;
  /** GET /events without waiting (the catch-up before every operation) and long polls. */
  drains = 0;
  drainMs = 0;
  polls = 0;

  override async submit(roomId: string, message: Uint8Array): Promise<Uint8Array> {
    this.submits++;
    this.lastSubmitBytes = message.byteLength;
    this.maxSubmitsInFlight = Math.max(this.maxSubmitsInFlight, ++this.submitsInFlight);
    const t = performance.now();
    try {
      return await super.submit(roomId, message);
    } finally {
      this.submitMs += performance.now() - t;
      this.submitsInFlight--;
    }
  }

  override async events(after: number, waitMs: number, signal?: AbortSignal): Promise<ServerEvent[]> {
    if (waitMs > 0) {
      this.polls++;
      return super.events(after, waitMs, signal);
    }
    this.drains++;
    const t = performance.now();
    try {
      return await super.events(after, waitMs, signal);
    } finally {
      this.drainMs += performance.now() - t;
    }
  }
}

interface Receiver {
  readonly name: string;
  readonly client: MimiClient;
  readonly transport: CountingTransport;
  /** Receive time (performance.now()) per message key. */
  readonly got: Map<string, number>;
}

/** Resolves when every receiver has every key; throws after STALL_MS without progress. */
async function allReceived(receivers: readonly Receiver[], keys: readonly string[]): Promise<void> {
  let lastCount = -1;
  let lastProgress = performance.now();
  for (;;) {
    const count = receivers.reduce((n, r) => n + keys.filter((k) => r.got.has(k)).length, 0);
    if (count === receivers.length * keys.length) return;
    if (count !== lastCount) {
      lastCount = count;
      lastProgress = performance.now();
    } else if (performance.now() - lastProgress > STALL_MS) {
      const missing = receivers.map((r) => `${r.name} misses ${keys.filter((k) => !r.got.has(k)).length} of ${keys.length}`).join(", ");
      throw new FunctionalFailure(`messages lost: nothing arrived for ${STALL_MS} ms; ${missing}`);
    }
    await new Promise((r) => setTimeout(r, 2));
  }
}

const dir = await mkdtemp(join(tmpdir(), "mimi-bench-hub-"));
let net: ProcessNetwork | undefined;
const clients: MimiClient[] = [];
let peerClient: PeerClient | undefined;
// Interrupted: exit, so that processNetwork's exit hook stops the providers by PID; then the folder goes.
const onSignal = () => process.exit(130);
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);
const removeDir = () => rmSync(dir, { recursive: true, force: true });

try {
  net = await startProcessNetwork({ domains: [HUB, ...FOLLOWERS], dir, logLevel: "warn", storage: "level" });
  process.once("exit", removeDir); // registered after the network's own exit hook, so it runs after the kill
  const providers = net.providers;
  const apiUrl = (d: string) => {
    const p = providers[d];
    if (p === undefined) throw new FunctionalFailure(`no provider ${d}`);
    return p.clientApiUrl;
  };

  // ---- clients and the room --------------------------------------------------------------------
  const transport = new CountingTransport({ apiUrl: apiUrl(HUB) });
  const alice = new MimiClient({ apiUrl: apiUrl(HUB), transport, state: await openClientStore({ memory: true }), autoCommit: false });
  clients.push(alice);
  await alice.register("alice");
  const receivers: Receiver[] = [];
  for (const [i, d] of FOLLOWERS.entries()) {
    const t = new CountingTransport({ apiUrl: apiUrl(d) });
    const c = new MimiClient({ apiUrl: apiUrl(d), transport: t, state: await openClientStore({ memory: true }), autoCommit: false });
    clients.push(c);
    await c.register(i === 0 ? "bob" : "carol");
    receivers.push({ name: d, client: c, transport: t, got: new Map() });
  }
  const users = await Promise.all(receivers.map(async (r) => (await r.client.account())?.userUri ?? ""));
  const joined = receivers.map(
    (r) =>
      new Promise<string>((resolve) => {
        const off = r.client.on("joined", (e) => {
          off();
          resolve(e.roomId);
        });
      }),
  );
  for (const r of receivers) {
    r.client.on("message", (e) => {
      r.got.set(e.text.slice(0, e.text.indexOf("|")), performance.now());
    });
  }
  const roomId = await alice.createRoom("group", { participants: users });
  let joinTimer: ReturnType<typeof setTimeout> | undefined;
  const joinedRooms = await Promise.race([
    Promise.all(joined),
    new Promise<never>((_, reject) => {
      joinTimer = setTimeout(() => reject(new FunctionalFailure("the followers' users did not join within 30 s")), 30_000);
    }),
  ]).finally(() => clearTimeout(joinTimer));
  if (joinedRooms.some((r) => r !== roomId)) throw new FunctionalFailure(`joined ${joinedRooms.join(", ")}, expected ${roomId}`);

  // ---- the baseline's client: a.example's certificate, configured like the hub's outbox ---------
  const hubProcess = providers[HUB];
  if (hubProcess === undefined) throw new FunctionalFailure("no hub process");
  const config = await loadConfigFile(hubProcess.configPath);
  const security = await loadTransportSecurity(config);
  if (security.server === undefined) throw new FunctionalFailure("the hub has no TLS material");
  const pc = new PeerClient({
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
  peerClient = pc;
  const floorTarget = FOLLOWERS[0];
  const floorRoom = `${floorTarget}/r/bench-transport-floor`; // hosted by the target itself: 403, nothing stored

  // ---- rounds --------------------------------------------------------------------------------------
  let round = 0;
  const padding = "x".repeat(TEXT_BYTES);

  /** n messages, `width` in flight: accepted and end-to-end rates and latencies. */
  async function subjectRound(n: number, width: number): Promise<{ accepted: number; e2e: number; acceptLat: number[]; e2eLat: number[] }> {
    const r = round++;
    const keys = Array.from({ length: n }, (_, i) => `${r}:${i}`);
    const sentAt = new Map<string, number>();
    const acceptLat: number[] = [];
    const t0 = performance.now();
    await pool(n, width, async (i) => {
      const key = keys[i] ?? "";
      const s = performance.now();
      sentAt.set(key, s);
      try {
        await alice.send(roomId, `${key}|${padding}`.slice(0, TEXT_BYTES));
      } catch (err) {
        throw new FunctionalFailure(`send ${key} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      acceptLat.push(performance.now() - s);
    });
    const t1 = performance.now();
    await allReceived(receivers, keys);
    const e2eLat: number[] = [];
    let last = t1;
    for (const rc of receivers) {
      for (const k of keys) {
        const at = rc.got.get(k) ?? Number.NaN;
        e2eLat.push(at - (sentAt.get(k) ?? Number.NaN));
        last = Math.max(last, at);
      }
    }
    return { accepted: (n * 1000) / (t1 - t0), e2e: (n * 1000) / (last - t0), acceptLat, e2eLat };
  }

  /** n mutual-TLS POSTs of `bodyBytes`, `width` in flight. */
  async function baselineRound(n: number, width: number, bodyBytes: number): Promise<{ rate: number; lat: number[] }> {
    const body = new Uint8Array(bodyBytes).fill(0x5a);
    const lat: number[] = [];
    const t0 = performance.now();
    await pool(n, width, async () => {
      const s = performance.now();
      const res = await pc.request(floorTarget, "notify", { roomId: floorRoom }, { body });
      if (res.status !== 403) throw new FunctionalFailure(`the baseline POST answered ${res.status}, expected 403`);
      lat.push(performance.now() - s);
    });
    return { rate: (n * 1000) / (performance.now() - t0), lat };
  }

  // ---- warm-up (JIT, connections, the hub's room view, LevelDB) ------------------------------------
  await subjectRound(WARMUP_MESSAGES, IN_FLIGHT);
  const bodyBytes = transport.lastSubmitBytes;
  await baselineRound(WARMUP_MESSAGES * 4, IN_FLIGHT, bodyBytes);
  note(`setup and warm-up: ${Math.round(performance.now() - started)} ms; one 1 KiB text = ${bodyBytes} bytes of MLS message`);

  // ---- measured runs -----------------------------------------------------------------------------
  const accepted: number[] = [];
  const e2e: number[] = [];
  const floor: number[] = [];
  const acceptLat: number[] = [];
  const e2eLat: number[] = [];
  const floorLat: number[] = [];
  const unloadedLat: number[] = [];
  const floor1Lat: number[] = [];
  // Where the sender's time goes, per width (for the report, not the figures).
  const wire = () => ({ sends: transport.submits, submitMs: transport.submitMs, drains: transport.drains, drainMs: transport.drainMs, polls: receivers.map((r) => r.transport.polls) });
  type Wire = ReturnType<typeof wire>;
  const zero = (): Wire => ({ sends: 0, submitMs: 0, drains: 0, drainMs: 0, polls: receivers.map(() => 0) });
  const add = (acc: Wire, a: Wire, b: Wire) => {
    acc.sends += b.sends - a.sends;
    acc.submitMs += b.submitMs - a.submitMs;
    acc.drains += b.drains - a.drains;
    acc.drainMs += b.drainMs - a.drainMs;
    acc.polls = acc.polls.map((p, k) => p + (b.polls[k] ?? 0) - (a.polls[k] ?? 0));
  };
  const wireLoaded = zero();
  const wireUnloaded = zero();
  const unloadedAcceptLat: number[] = [];
  let loadedMs = 0;
  let longest = 0;
  for (let i = 0; i < RUNS; i++) {
    const elapsed = performance.now() - started;
    if (i > 0 && elapsed + longest * 1.5 > TIME_BUDGET_MS) {
      note(`time budget: stopping after ${i} runs (${Math.round(elapsed)} ms elapsed)`);
      break;
    }
    const runStart = performance.now();
    let w = wire();
    const s = await subjectRound(MESSAGES_PER_RUN, IN_FLIGHT);
    add(wireLoaded, w, wire());
    loadedMs += performance.now() - runStart;
    const b = await baselineRound(POSTS_PER_RUN, IN_FLIGHT, bodyBytes);
    w = wire();
    const u = await subjectRound(UNLOADED_PER_RUN, 1);
    add(wireUnloaded, w, wire());
    const b1 = await baselineRound(UNLOADED_PER_RUN, 1, bodyBytes);
    longest = Math.max(longest, performance.now() - runStart);
    accepted.push(s.accepted);
    e2e.push(s.e2e);
    floor.push(b.rate);
    acceptLat.push(...s.acceptLat);
    e2eLat.push(...s.e2eLat);
    floorLat.push(...b.lat);
    unloadedLat.push(...u.e2eLat);
    unloadedAcceptLat.push(...u.acceptLat);
    floor1Lat.push(...b1.lat);
  }
  const runs = accepted.length;
  const per = (x: number, n: number) => (x / n).toFixed(1);
  const describeWire = (label: string, w: Wire) =>
    `${label}: per send() ${per(w.drains, w.sends)} GET /events (wait=0) taking ${per(w.drainMs, w.sends)} ms, 1 submit taking ${per(w.submitMs, w.sends)} ms; ` +
    `receiver long polls per message ${w.polls.map((p) => per(p, w.sends)).join(", ")}`;
  note(`${describeWire(`${IN_FLIGHT} in flight`, wireLoaded)}; at most ${transport.maxSubmitsInFlight} submit on the wire at once; ${((runs * MESSAGES_PER_RUN * 1000) / loadedMs).toFixed(0)} msg/s over these rounds`);
  note(`${describeWire("1 in flight", wireUnloaded)}; accepted p50 ${ms(percentile(unloadedAcceptLat, 50))} ms`);

  const floorValue = median(floor);
  const floorName = `mTLS POST ${bodyBytes} B, ${HUB} cert -> ${floorTarget} /v1/notify answering 403 (nothing stored)`;
  const baseline = {
    baseline: `${floorName}, ${IN_FLIGHT} in flight`,
    baselineValue: Math.round(floorValue),
    baselineP50Ms: ms(percentile(floorLat, 50)),
    baselineP99Ms: ms(percentile(floorLat, 99)),
  };
  const common = { inFlight: IN_FLIGHT, messagesPerRun: MESSAGES_PER_RUN, textBytes: TEXT_BYTES, mlsMessageBytes: bodyBytes };
  const acceptedValue = median(accepted);
  out({
    bench: BENCH,
    figure: "submit_accepted_1KiB",
    value: Math.round(acceptedValue),
    unit: "msg/s",
    p50Ms: ms(percentile(acceptLat, 50)),
    p99Ms: ms(percentile(acceptLat, 99)),
    ...baseline,
    ratio: Number((acceptedValue / floorValue).toFixed(3)),
    runs,
    ...common,
  });
  const e2eValue = median(e2e);
  out({
    bench: BENCH,
    figure: "fanout_2_followers_e2e_1KiB",
    value: Math.round(e2eValue),
    unit: "msg/s",
    p50Ms: ms(percentile(e2eLat, 50)),
    p99Ms: ms(percentile(e2eLat, 99)),
    ...baseline,
    ratio: Number((e2eValue / floorValue).toFixed(3)),
    runs,
    ...common,
  });
  const unloadedP50 = percentile(unloadedLat, 50);
  const floor1P50 = percentile(floor1Lat, 50);
  out({
    bench: BENCH,
    figure: "fanout_2_followers_e2e_latency_1KiB_unloaded",
    value: ms(unloadedP50),
    unit: "ms (p50)",
    p50Ms: ms(unloadedP50),
    p99Ms: ms(percentile(unloadedLat, 99)),
    baseline: `${floorName}, 1 in flight`,
    baselineValue: ms(floor1P50),
    baselineP50Ms: ms(floor1P50),
    baselineP99Ms: ms(percentile(floor1Lat, 99)),
    ratio: Number((unloadedP50 / floor1P50).toFixed(2)),
    runs,
    inFlight: 1,
    messagesPerRun: UNLOADED_PER_RUN,
    textBytes: TEXT_BYTES,
    mlsMessageBytes: bodyBytes,
  });
  // The floor itself, for the record: the baseline of the lines above.
  out({
    bench: BENCH,
    figure: "mtls_post_floor",
    value: Math.round(floorValue),
    unit: "req/s",
    p50Ms: baseline.baselineP50Ms,
    p99Ms: baseline.baselineP99Ms,
    unloadedP50Ms: ms(floor1P50),
    unloadedP99Ms: ms(percentile(floor1Lat, 99)),
    baseline: `none: ${floorName} is the baseline of the hub figures`,
    runs,
    inFlight: IN_FLIGHT,
    requestsPerRun: POSTS_PER_RUN,
    bodyBytes,
  });
  note(`done in ${Math.round(performance.now() - started)} ms on ${cpus().length} CPUs`);
} catch (err) {
  process.exitCode = 1;
  note(`FAILED: ${err instanceof FunctionalFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  for (const c of clients) await c.close().catch(() => undefined);
  await peerClient?.close().catch(() => undefined);
  await net?.stop().catch((err: unknown) => note(`stopping the providers: ${String(err)}`));
  process.off("exit", removeDir);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await rm(dir, { recursive: true, force: true });
}
