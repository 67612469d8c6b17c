// Matrix: messages per second and p50/p99 latency from a Matrix user to a MIMI native client
// through the Matrix adapter (and back), against two Matrix users talking directly through the
// same Synapse, measured in the same run (docs/PERFORMANCE.md "Matrix adapter").
//
// Setup: a real Synapse (test/helpers/synapse.ts: the pinned release from the venv cached in
// .tools/, SQLite, loopback, rate limits off, stopped by PID) with the adapter's generated
// application-service registration (adapters/matrix/registration.ts, as test/adapters/matrix/
// driver.ts does) and Matrix users alice and carol on hs.localhost. Two providers as SEPARATE
// PROCESSES (src/demo/processNetwork.ts: fresh CA, mutual TLS on loopback, LevelDB stores, log
// level warn): a.example runs the Matrix adapter (transaction endpoint on loopback) inside its
// bridge host; b.example serves the native user mimi://b.example/u/bob (SDK client in this
// process, memory state, HTTP transport). Consent is `off` (processNetwork's default): consent is
// checked when bob is added, never per message, so it does not change what is measured. The
// bridged room is made the way a Matrix user would (MIMI-MATRIX-04): alice creates a room,
// invites the bridge bot with power level 100, says `!mimi bridge`, then invites bob's ghost;
// bob's client is added to the MIMI room and the ghost joins the Matrix room. The baseline room
// is a plain Matrix room of alice and carol on the same Synapse.
//
// Receivers on the Matrix side are plain /sync long polls (timeout 30 s, a filter keeping only
// m.room.message timeline events), one loop per user, running for the whole measurement, as a
// Matrix client would; senders PUT /rooms/{room}/send/m.room.message/{txnId}.
//
// Paths (every message a text of TEXT_BYTES bytes starting with its key; latency = send() called
// → the receiver's listener runs; one process, one monotonic clock):
//   matrix_to_mimi  subject:  alice PUT /send (bridged room) → Synapse → application-service
//                             transaction to a.example's adapter (stored before its 200) → bridge
//                             host (alice's hosted MLS client: encrypt, submit to hub a.example)
//                             → fanout to b.example → bob's long poll → decrypt → bob's listener.
//                   baseline: alice PUT /send (plain room) → Synapse → carol's /sync.
//   mimi_to_matrix  subject:  native bob send() → b.example → hub a.example → alice's hosted
//                             client in a.example's bridge host (long poll, decrypt) → adapter
//                             (one room's deliveries in order) → bob's ghost PUT /send → Synapse
//                             → alice's /sync.
//                   baseline: carol PUT /send (plain room) → Synapse → alice's /sync.
// Each path is run two ways, as in bench/xmpp.ts:
//   - ping-pong: one message in flight: the path's own latency, no queueing. Rate = 1 / latency.
//   - pipelined: a sliding window of IN_FLIGHT messages outstanding: throughput, and latency under
//     load (mostly queueing at the bottleneck).
// ratio = subject / baseline for rates; latencyRatioP50/P99 for latencies; addedP50Ms/addedP99Ms =
// subject minus baseline percentile. Rates are medians over the runs; percentiles are over every
// sample of every run (pooled). Subject and baseline rounds alternate (which goes first
// alternates too).
//
// Where the time goes (diagnostics in each line, wall clock, 1 ms resolution): origin_server_ts
// (when Synapse created the event) and, for the MIMI receiver, the hub's accepted timestamp split
// the path. BENCH_MATRIX_SPLIT=1 also puts a recording pass-through between Synapse and the
// adapter's transaction endpoint (the registration's url points at it), which timestamps every
// transaction's arrival: the application-service push delay. It adds a loopback HTTP hop to the
// subject, so it is off by default.
//
// Scale: BENCH_MATRIX_SCALE (default 1) multiplies the messages per round and the time budget;
// BENCH_MATRIX_RUNS (default 3) sets the number of runs; BENCH_MATRIX_PATHS picks the paths
// (default both); BENCH_MATRIX_DEBUG=1 prints every sample on stderr. A message that does not
// arrive within STALL_MS is a functional failure: exit 1. Speed never fails the benchmark. Synapse
// and the providers are stopped by PID and the temp folders removed in `finally` (and on Ctrl-C).
import { createServer, request as httpRequest, type Server } from "node:http";
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { generateRegistration, writeRegistrationFile } from "../adapters/matrix/registration.ts";
import { matrixGhostFor } from "../src/adapter/index.ts";
import { HttpTransport, MimiClient, openClientStore } from "../src/client-api/sdk/index.ts";
import { startProcessNetwork, type ProcessNetwork } from "../src/demo/processNetwork.ts";
import { clientFor, type MatrixClient } from "../test/helpers/matrixClient.ts";
import { freePort } from "../test/helpers/processes.ts";
import { startSynapse, type SynapseServer } from "../test/helpers/synapse.ts";
import { againstBaseline, alternatingRuns, Arrivals, clockTicksPerSecond, CpuMeter, envNumber, percentile, pool, type CpuSample } from "./lib.ts";

const BENCH = "matrix";
const PROVIDER = "a.example";
const REMOTE = "b.example";
const HS = "hs.localhost";
const BOT_LOCALPART = "mimi-bridge";
const GHOST_PREFIX = "_mimi_";
const TEXT_BYTES = 1024;
const IN_FLIGHT = 16;

const PATH_NAMES = ["matrix_to_mimi", "mimi_to_matrix"] as const;
type PathName = (typeof PATH_NAMES)[number];
/** BENCH_MATRIX_PATHS: a comma-separated subset of PATH_NAMES (default: both). */
const PATHS: readonly PathName[] = (() => {
  const raw = (process.env.BENCH_MATRIX_PATHS ?? "").split(",").map((x) => x.trim()).filter((x) => x !== "");
  if (raw.length === 0) return PATH_NAMES;
  const bad = raw.filter((x) => !(PATH_NAMES as readonly string[]).includes(x));
  if (bad.length > 0) {
    process.stderr.write(`[bench matrix] BENCH_MATRIX_PATHS: unknown ${bad.join(", ")}; have ${PATH_NAMES.join(", ")}\n`);
    process.exit(2);
  }
  return PATH_NAMES.filter((n) => raw.includes(n));
})();
const SCALE = envNumber(BENCH, "BENCH_MATRIX_SCALE", 1, 0.05);
const RUNS = Math.round(envNumber(BENCH, "BENCH_MATRIX_RUNS", 3, 1));
const SPLIT = process.env.BENCH_MATRIX_SPLIT === "1";
const DEBUG = process.env.BENCH_MATRIX_DEBUG === "1";
/** Messages per ping-pong round (one in flight). */
const PINGPONG_PER_ROUND = Math.max(5, Math.round(20 * SCALE));
/** Messages per pipelined round (IN_FLIGHT outstanding). */
const PIPELINED_PER_ROUND = Math.max(IN_FLIGHT, Math.round(64 * SCALE));
/** Messages per warm-up round: one round in flight and one pipelined, per path and side. */
const WARMUP_MESSAGES = 8;
/** Whole benchmark, setup included; runs that would not fit are dropped. */
const TIME_BUDGET_MS = 110_000 * Math.max(1, SCALE);
/** A message that has not arrived after this long is lost. */
const STALL_MS = 30_000;

const started = performance.now();
const out = (line: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(line) + "\n");
const note = (text: string): void => void process.stderr.write(`[bench matrix] ${text}\n`);
const ms = (x: number) => Number(x.toFixed(1));

class FunctionalFailure extends Error {}

/** The key of a message: its first word (keys are [a-z0-9-], which no text mapping changes). */
const keyOf = (text: string): string | undefined => {
  const sp = text.indexOf(" ");
  return sp <= 0 ? undefined : text.slice(0, sp);
};

/** Keys of messages on their way (bench/lib.ts Arrivals): the key is the text's first word. */
const newArrivals = () => new Arrivals({ stallMs: STALL_MS, keyOf, fail: (m) => new FunctionalFailure(m) });

interface SyncedMessage {
  roomId: string;
  sender: string;
  body: string;
  originTs: number;
}

/**
 * A lean Matrix client receiver: GET /sync as a long poll (Client-Server API "Syncing"), with an
 * inline filter that keeps only m.room.message timeline events (no presence, account data,
 * ephemeral or state), so that what is measured is Synapse's delivery, not the size of sync
 * answers. One loop per user; every message goes to `onMessage`.
 */
class SyncReceiver {
  readonly #client: MatrixClient;
  readonly #onMessage: (m: SyncedMessage) => void;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  error: unknown;

  constructor(client: MatrixClient, onMessage: (m: SyncedMessage) => void) {
    this.#client = client;
    this.#onMessage = onMessage;
  }

  static readonly filter = JSON.stringify({
    presence: { types: [] },
    account_data: { types: [] },
    room: { timeline: { limit: 500, types: ["m.room.message"] }, state: { types: [] }, ephemeral: { types: [] }, account_data: { types: [] } },
  });

  async #sync(since: string | undefined, timeoutMs: number): Promise<{ next_batch: string; rooms?: { join?: Record<string, { timeline?: { events?: { type: string; sender: string; content: Record<string, unknown>; origin_server_ts?: number }[]; limited?: boolean } }> } }> {
    const query: Record<string, string> = { timeout: String(timeoutMs), filter: SyncReceiver.filter, ...(since === undefined ? {} : { since }) };
    return this.#client.request("GET", "/_matrix/client/v3/sync", undefined, query, AbortSignal.any([this.#abort.signal, AbortSignal.timeout(timeoutMs + 60_000)]));
  }

  /** Starts from "now" (the first sync's position is skipped) and resolves once the loop runs. */
  async start(): Promise<void> {
    let since = (await this.#sync(undefined, 0)).next_batch;
    this.#loop = (async () => {
      while (!this.#abort.signal.aborted) {
        try {
          const res = await this.#sync(since, 30_000);
          since = res.next_batch;
          for (const [roomId, r] of Object.entries(res.rooms?.join ?? {})) {
            // A limited timeline would hide messages: with a window of IN_FLIGHT it never is.
            if (r.timeline?.limited === true) this.error = new FunctionalFailure(`${this.#client.userId}: /sync timeline of ${roomId} was limited`);
            for (const ev of r.timeline?.events ?? []) {
              if (ev.type !== "m.room.message" || typeof ev.content.body !== "string") continue;
              this.#onMessage({ roomId, sender: ev.sender, body: ev.content.body, originTs: ev.origin_server_ts ?? Number.NaN });
            }
          }
        } catch (err) {
          if (this.#abort.signal.aborted) break;
          this.error = err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }
}

/**
 * BENCH_MATRIX_SPLIT: a pass-through between Synapse and the adapter's transaction endpoint
 * (Application Service API "Pushing events": PUT /_matrix/app/v1/transactions/{txnId}) that
 * records when each event's transaction arrived, then forwards the request unchanged and streams
 * the adapter's answer back. Tokens pass through in headers and are never read or logged.
 */
class PushRecorder {
  /** event_id → when the transaction carrying it arrived (Date.now()) and the event's origin_server_ts. */
  readonly arrived = new Map<string, { at: number; originTs: number }>();
  /** Events per transaction (to see Synapse's batching). */
  readonly batch: number[] = [];
  readonly #server: Server;

  constructor(targetPort: number) {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const at = Date.now();
        const body = Buffer.concat(chunks);
        if (req.method === "PUT" && (req.url ?? "").includes("/transactions/")) {
          try {
            const events = (JSON.parse(body.toString("utf8")) as { events?: { event_id?: unknown; origin_server_ts?: unknown }[] }).events ?? [];
            this.batch.push(events.length);
            for (const e of events) if (typeof e.event_id === "string") this.arrived.set(e.event_id, { at, originTs: typeof e.origin_server_ts === "number" ? e.origin_server_ts : Number.NaN });
          } catch {
            // not JSON: the adapter answers it; nothing to record
          }
        }
        const fwd = httpRequest({ host: "127.0.0.1", port: targetPort, method: req.method, path: req.url, headers: req.headers }, (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        });
        fwd.on("error", () => {
          res.writeHead(502);
          res.end();
        });
        fwd.end(body);
      });
    });
  }

  listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(port, "127.0.0.1", () => resolve());
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.closeAllConnections();
      this.#server.close(() => resolve());
    });
  }
}

interface Path {
  /** Short tag in message keys. */
  readonly tag: string;
  /** Sends; returns the Matrix event ID when the sender is a Matrix user. */
  readonly send: (key: string, text: string) => Promise<string | undefined>;
  readonly arrivals: Arrivals;
}

interface Round {
  rate: number;
  lat: number[];
  /** Splits (wall clock, ms): send → origin_server_ts / hub accepted / pushed to the adapter → … */
  split: Record<string, number[]>;
  cpu: CpuSample;
  n: number;
}

const cpu = new CpuMeter(clockTicksPerSecond());
let recorder: PushRecorder | undefined;
let roundNo = 0;
const padding = "x".repeat(TEXT_BYTES);

async function round(path: Path, n: number, width: number): Promise<Round> {
  const r = roundNo++;
  const lat: number[] = [];
  const split: Record<string, number[]> = {};
  const add = (name: string, v: number) => {
    if (Number.isFinite(v)) (split[name] ??= []).push(v);
  };
  const cpu0 = cpu.now();
  const t0 = performance.now();
  await pool(n, width, async (i) => {
    const key = `${path.tag}${r}-${i}`;
    const arrived = path.arrivals.wait(key);
    const sentWall = Date.now();
    const s = performance.now();
    let eventId: string | undefined;
    try {
      eventId = await path.send(key, `${key} ${padding}`.slice(0, TEXT_BYTES));
    } catch (err) {
      throw new FunctionalFailure(`sending ${key} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    // How long the sender waited: PUT /send answers once Synapse persisted the event; the SDK's
    // send() once the hub accepted the message.
    add("sendCall", performance.now() - s);
    lat.push((await arrived) - s);
    const w = path.arrivals.wall.get(key);
    path.arrivals.wall.delete(key);
    if (w === undefined) return;
    const pushed = eventId === undefined ? undefined : recorder?.arrived.get(eventId);
    if (eventId !== undefined) recorder?.arrived.delete(eventId);
    if (w.originTs !== undefined) {
      add("sendToOrigin", w.originTs - sentWall);
      add("originToReceiver", w.at - w.originTs);
    }
    if (w.hubTs !== undefined) {
      add("sendToHubAccepted", w.hubTs - sentWall);
      add("hubAcceptedToReceiver", w.at - w.hubTs);
      if (pushed !== undefined) {
        add("sendToOrigin", pushed.originTs - sentWall);
        add("originToPushed", pushed.at - pushed.originTs);
        add("pushedToHubAccepted", w.hubTs - pushed.at);
      }
    }
    if (DEBUG && (lat.at(-1) ?? 0) > (width === 1 ? 100 : 1000)) note(`slow ${key}: ${ms(lat.at(-1) ?? 0)} ms at ${Math.round(s - started)} ms`);
  });
  const rate = (n * 1000) / (performance.now() - t0);
  return { rate, lat, split, cpu: CpuMeter.diff(cpu0, cpu.now()), n };
}

const dir = await mkdtemp(join(tmpdir(), "mimi-bench-matrix-"));
let net: ProcessNetwork | undefined;
let synapse: SynapseServer | undefined;
const receivers: SyncReceiver[] = [];
const setupClients: MatrixClient[] = [];
let bob: MimiClient | undefined;
// Interrupted: exit, so that the exit hooks stop the providers and Synapse by PID; then the folder goes.
const onSignal = () => process.exit(130);
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);
const removeDir = () => rmSync(dir, { recursive: true, force: true });

try {
  const load0 = loadavg()[0] ?? 0;
  // ---- Synapse with the adapter's registration, the providers, the clients --------------------------
  const adapterPort = await freePort();
  const pushPort = SPLIT ? await freePort() : adapterPort;
  const registration = generateRegistration({ url: `http://127.0.0.1:${pushPort}`, domain: HS, ghostPrefix: GHOST_PREFIX, botLocalpart: BOT_LOCALPART });
  const registrationFile = join(dir, "registration.yaml");
  await writeRegistrationFile(registrationFile, registration);
  if (SPLIT) {
    recorder = new PushRecorder(adapterPort);
    await recorder.listen(pushPort);
  }
  const tSynapse = performance.now();
  synapse = await startSynapse({ serverName: HS, appServiceConfigFiles: [registrationFile], logLevel: "WARNING" });
  const hs = synapse;
  const synapseMs = performance.now() - tSynapse;
  net = await startProcessNetwork({
    domains: [PROVIDER, REMOTE],
    dir,
    logLevel: "warn",
    storage: "level",
    extraConfig: (d) =>
      d === PROVIDER
        ? { adapters: { matrix: { homeserverUrl: hs.url, domain: HS, registrationFile, listen: { host: "127.0.0.1", port: adapterPort }, ghostPrefix: GHOST_PREFIX, botLocalpart: BOT_LOCALPART } } }
        : {},
  });
  process.once("exit", removeDir); // after the network's own exit hook, so it runs after the kill
  const remoteApi = net.providers[REMOTE]?.clientApiUrl;
  if (remoteApi === undefined) throw new FunctionalFailure(`no provider ${REMOTE}`);
  const network = net;
  for (const d of [PROVIDER, REMOTE]) cpu.track(d, () => network.providers[d]?.pid());
  cpu.track("synapse", () => hs.pid());

  const [aliceUser, carolUser] = await Promise.all([hs.registerUser("alice"), hs.registerUser("carol")]);
  const alice = clientFor(hs.url, aliceUser);
  const carol = clientFor(hs.url, carolUser);
  setupClients.push(alice, carol);
  await Promise.all([alice.startSync(), carol.startSync()]);

  const nativeBob = new MimiClient({ apiUrl: remoteApi, transport: new HttpTransport({ apiUrl: remoteApi }), state: await openClientStore({ memory: true }), autoCommit: false });
  bob = nativeBob;
  await nativeBob.register("bob");
  const bobUri = (await nativeBob.account())?.userUri ?? `mimi://${REMOTE}/u/bob`;
  const ghost = matrixGhostFor(bobUri, { serverName: HS, prefix: GHOST_PREFIX });
  const botId = `@${BOT_LOCALPART}:${HS}`;

  // ---- the bridged room (MIMI-MATRIX-04, as a room admin does it) and the plain baseline room --------
  const t0 = performance.now();
  const joined = new Promise<string>((resolve) => {
    const off = nativeBob.on("joined", (e) => {
      off();
      resolve(e.roomId);
    });
  });
  // The room creator has unlimited power in room version 12 (MSC4289): only the bot is listed.
  const bridged = await alice.createRoom({ name: "bench", preset: "private_chat", invite: [botId], power_level_content_override: { users: { [botId]: 100 } } });
  await alice.waitForMembership(bridged, botId, "join", 60_000);
  await alice.sendMessage(bridged, "!mimi bridge");
  const answer = await alice.waitForEvent(bridged, (e) => e.sender === botId && e.type === "m.room.message" && typeof e.content.body === "string" && /^(Bridged|Bridging failed)/.test(e.content.body), "the bot's answer to !mimi bridge", 60_000);
  if (!String(answer.content.body).startsWith("Bridged")) throw new FunctionalFailure(`bridging failed: ${String(answer.content.body)}`);
  await alice.invite(bridged, ghost);
  let joinTimer: ReturnType<typeof setTimeout> | undefined;
  const mimiRoom = await Promise.race([
    joined,
    new Promise<never>((_, reject) => {
      joinTimer = setTimeout(() => reject(new FunctionalFailure(`bob's client was not added to the bridged room within ${STALL_MS} ms`)), STALL_MS);
    }),
  ]).finally(() => clearTimeout(joinTimer));
  await alice.waitForMembership(bridged, ghost, "join", 60_000);
  const bridgeMs = performance.now() - t0;
  const plain = await alice.createRoom({ name: "baseline", preset: "private_chat", invite: [carol.userId] });
  await carol.waitForInvite(plain, 60_000);
  await carol.join(plain);
  await alice.waitForMembership(plain, carol.userId, "join", 60_000);
  // The setup clients' own /sync loops stop here: only the lean receivers below run while measuring.
  await Promise.all(setupClients.map((c) => c.stop()));

  // ---- receivers ---------------------------------------------------------------------------------------
  const toMimi = newArrivals();
  const toCarol = newArrivals();
  const toAliceFromGhost = newArrivals();
  const toAliceFromCarol = newArrivals();
  nativeBob.on("message", (e) => {
    if (e.roomId === mimiRoom) toMimi.arrived(e.text, { hubTs: e.timestamp });
  });
  const aliceRx = new SyncReceiver(alice, (m) => {
    if (m.roomId === bridged && m.sender === ghost) toAliceFromGhost.arrived(m.body, { originTs: m.originTs });
    else if (m.roomId === plain && m.sender === carol.userId) toAliceFromCarol.arrived(m.body, { originTs: m.originTs });
  });
  const carolRx = new SyncReceiver(carol, (m) => {
    if (m.roomId === plain && m.sender === alice.userId) toCarol.arrived(m.body, { originTs: m.originTs });
  });
  receivers.push(aliceRx, carolRx);
  await Promise.all(receivers.map((r) => r.start()));

  const matrixSend = (c: MatrixClient, room: string) => (key: string, text: string) => c.sendMessage(room, { msgtype: "m.text", body: text }, `bench-${key}`);
  const allPaths = {
    matrix_to_mimi: {
      subject: { tag: "mm", send: matrixSend(alice, bridged), arrivals: toMimi } satisfies Path,
      baseline: { tag: "ac", send: matrixSend(alice, plain), arrivals: toCarol } satisfies Path,
    },
    mimi_to_matrix: {
      subject: {
        tag: "bm",
        send: async (_key: string, text: string) => {
          await nativeBob.send(mimiRoom, text);
          return undefined;
        },
        arrivals: toAliceFromGhost,
      } satisfies Path,
      baseline: { tag: "ca", send: matrixSend(carol, plain), arrivals: toAliceFromCarol } satisfies Path,
    },
  } satisfies Record<PathName, { subject: Path; baseline: Path }>;
  const paths = PATHS.map((name) => [name, allPaths[name]] as const);

  for (const [, p] of paths) {
    await round(p.subject, WARMUP_MESSAGES, 1);
    await round(p.baseline, WARMUP_MESSAGES, 1);
    await round(p.subject, WARMUP_MESSAGES * 2, 8);
    await round(p.baseline, WARMUP_MESSAGES * 2, 8);
  }
  note(
    `setup: Synapse ${Math.round(synapseMs)} ms; bridged room (bot invited → !mimi bridge → ghost invited → bob added, ghost joined) ${Math.round(bridgeMs)} ms; warm-up done at ${Math.round(performance.now() - started)} ms`,
  );

  // ---- measured runs ---------------------------------------------------------------------------------
  const { rounds: acc, runs } = await alternatingRuns({
    paths,
    runs: RUNS,
    budgetMs: TIME_BUDGET_MS,
    started,
    pingpongPerRound: PINGPONG_PER_ROUND,
    pipelinedPerRound: PIPELINED_PER_ROUND,
    inFlight: IN_FLIGHT,
    round,
    note,
  });
  for (const r of receivers) if (r.error instanceof FunctionalFailure) throw r.error;

  // ---- figures -------------------------------------------------------------------------------------
  const baselineName = {
    matrix_to_mimi: `Matrix ${alice.userId} -> Synapse -> Matrix ${carol.userId} (/sync)`,
    mimi_to_matrix: `Matrix ${carol.userId} -> Synapse -> Matrix ${alice.userId} (/sync)`,
  };
  const pooled = (rs: Round[], f: (r: Round) => number[]) => rs.flatMap(f);
  const p50s = (rs: Round[]) => {
    const names = [...new Set(rs.flatMap((r) => Object.keys(r.split)))];
    return Object.fromEntries(names.map((k) => [`${k}P50Ms`, ms(percentile(pooled(rs, (r) => r.split[k] ?? []), 50))]));
  };
  for (const name of PATHS) {
    const s = acc.get(`${name}/subject`) ?? { pp: [], pl: [] };
    const b = acc.get(`${name}/baseline`) ?? { pp: [], pl: [] };
    for (const [mode, rs, bs, width, perRound] of [
      ["pingpong", s.pp, b.pp, 1, PINGPONG_PER_ROUND],
      ["pipelined", s.pl, b.pl, IN_FLIGHT, PIPELINED_PER_ROUND],
    ] as const) {
      if (DEBUG) note(`${name} ${mode} subject ${JSON.stringify(rs.flatMap((r) => r.lat).sort((x, y) => x - y).map(ms))} baseline ${JSON.stringify(bs.flatMap((r) => r.lat).sort((x, y) => x - y).map(ms))}`);
      out({
        bench: BENCH,
        figure: `${name}_${mode}_1KiB`,
        ...againstBaseline(rs, bs),
        unit: "msg/s",
        baseline: `${baselineName[name]}, ${width} in flight`,
        split: p50s(rs),
        baselineSplit: p50s(bs),
        cpuMsPerMessage: cpu.perMessage(rs),
        baselineCpuMsPerMessage: cpu.perMessage(bs),
        inFlight: width,
        messagesPerRound: perRound,
        textBytes: TEXT_BYTES,
        runs,
      });
    }
  }
  if (recorder !== undefined && recorder.batch.length > 0) {
    note(`application-service transactions seen: ${recorder.batch.length}, events per transaction p50 ${percentile(recorder.batch, 50)}, max ${Math.max(...recorder.batch)}`);
  }
  note(`done in ${Math.round(performance.now() - started)} ms on ${cpus().length} CPUs; load average ${load0.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}`);
} catch (err) {
  process.exitCode = 1;
  note(`FAILED: ${err instanceof FunctionalFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  if (synapse !== undefined) note(await synapse.logTail(20).catch(() => "(no Synapse log)"));
} finally {
  for (const r of receivers) await r.stop().catch(() => undefined);
  for (const c of setupClients) await c.stop().catch(() => undefined);
  await bob?.close().catch(() => undefined);
  await net?.stop().catch((err: unknown) => note(`stopping the providers: ${String(err)}`));
  await synapse?.dispose().catch((err: unknown) => note(`stopping Synapse: ${String(err)}`));
  await recorder?.close();
  process.off("exit", removeDir);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await rm(dir, { recursive: true, force: true });
}
