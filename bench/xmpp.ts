// XMPP: messages per second and p50/p99 latency from an XMPP user to a MIMI native client through
// the bridge, against the same XMPP users talking directly through Prosody, measured in the same
// run (docs/PERFORMANCE.md "XMPP bridge").
//
// Setup: a real Prosody (test/helpers/prosody.ts: Debian's package, temp config, loopback,
// stopped by PID) with XMPP users alice and bob on xmpp.localhost; two providers as SEPARATE
// PROCESSES (src/demo/processNetwork.ts: fresh CA, mutual TLS on loopback, LevelDB stores, log
// level warn, consent policy `none`, the product default): a.example runs the XMPP adapter
// (XEP-0114 component mimi.xmpp.localhost) inside its bridge host, b.example serves the native
// user. In this process: the XMPP clients (@xmpp/client, SASL PLAIN over loopback like the
// adapter tests: SCRAM costs about 1.4 s of CPU per login) and the native SDK client
// mimi://b.example/u/bob (memory state, HTTP transport). The 1-1 chat is set up the way a user
// would: alice subscribes to bob's ghost (RFC 6121 presence subscription = MIMI consent
// request), bob grants consent with his client, alice's first message to the ghost opens a MIMI
// direct room (hub a.example, where alice's hosted MLS client creates it) and bob's client joins.
//
// Paths (every message a text of TEXT_BYTES bytes carrying its key; latency = send() called →
// the receiver's listener runs, one process, one monotonic clock):
//   xmpp_to_mimi   subject:  XMPP alice → Prosody → component → bridge host (alice's hosted MLS
//                            client: encrypt, submit to the hub a.example) → fanout to b.example →
//                            bob's long poll → decrypt → bob's `message` listener.
//                  baseline: XMPP alice → Prosody → XMPP bob (c2s to c2s, the same stanza shape).
//   mimi_to_xmpp   subject:  native bob send() → b.example → hub a.example → alice's hosted client
//                            (long poll, decrypt) → adapter → component → Prosody → XMPP alice.
//                  baseline: XMPP bob → Prosody → XMPP alice.
// Each path is run two ways:
//   - ping-pong: one message in flight (send, wait until it arrived, send the next): the path's
//     own latency, no queueing. Rate = 1 / latency.
//   - pipelined: a sliding window of IN_FLIGHT messages outstanding (a new one is sent when one
//     arrives): throughput, and latency under load (mostly queueing at the bottleneck).
// ratio = subject / baseline: for rates, messages/s per messages/s; for latencies, ms per ms.
// addedP50Ms / addedP99Ms = subject minus baseline percentile. Rates are medians over the runs;
// percentiles are over every sample of every run (pooled). Subject and baseline rounds alternate
// (which goes first alternates too), as in bench/lib.ts.
//
// Scale: BENCH_XMPP_SCALE (default 1) multiplies the messages per round and the time budget;
// BENCH_XMPP_RUNS (default 5) sets the number of runs; BENCH_XMPP_PATHS picks the paths (default
// both); BENCH_XMPP_NAGLE=1 keeps Nagle's algorithm (below); BENCH_XMPP_DEBUG=1 prints every
// sample and the split of slow ping-pong messages on stderr. A message that does not arrive within
// STALL_MS is a functional failure: exit 1. Speed never fails the benchmark. Prosody and the
// providers are stopped by PID and the temp folders removed in `finally` (and on Ctrl-C).
import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { client as xmppClient, xml, type Client as XmppClient } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { HttpTransport, MimiClient, openClientStore } from "../src/client-api/sdk/index.ts";
import { xmppGhostFor, formatJid } from "../src/adapter/index.ts";
import { startProcessNetwork, type ProcessNetwork } from "../src/demo/processNetwork.ts";
import { startProsody, type ProsodyServer } from "../test/helpers/prosody.ts";
import { againstBaseline, alternatingRuns, Arrivals, clockTicksPerSecond, CpuMeter, envNumber, percentile, pool } from "./lib.ts";

const BENCH = "xmpp";
const PROVIDER = "a.example";
const REMOTE = "b.example";
const XMPP_DOMAIN = "xmpp.localhost";
const TEXT_BYTES = 1024;
const IN_FLIGHT = 16;

/**
 * BENCH_XMPP_NAGLE=1 keeps Nagle's algorithm where the benchmark controls it (Prosody's default
 * `network_settings.nagle = true`, @xmpp/client's sockets). By default both use TCP_NODELAY: on
 * loopback, Nagle plus the receiver's delayed ACK stalls a small write for ~40 ms now and then, on
 * the baseline and the bridged path alike, which is TCP timing, not work (docs/PERFORMANCE.md).
 */
const NAGLE = process.env.BENCH_XMPP_NAGLE === "1";
const PATH_NAMES = ["xmpp_to_mimi", "mimi_to_xmpp"] as const;
type PathName = (typeof PATH_NAMES)[number];
/** BENCH_XMPP_PATHS: a comma-separated subset of PATH_NAMES (default: both). */
const PATHS: readonly PathName[] = (() => {
  const raw = (process.env.BENCH_XMPP_PATHS ?? "").split(",").map((x) => x.trim()).filter((x) => x !== "");
  if (raw.length === 0) return PATH_NAMES;
  const bad = raw.filter((x) => !(PATH_NAMES as readonly string[]).includes(x));
  if (bad.length > 0) {
    process.stderr.write(`[bench xmpp] BENCH_XMPP_PATHS: unknown ${bad.join(", ")}; have ${PATH_NAMES.join(", ")}\n`);
    process.exit(2);
  }
  return PATH_NAMES.filter((n) => raw.includes(n));
})();
const SCALE = envNumber(BENCH, "BENCH_XMPP_SCALE", 1, 0.05);
const RUNS = Math.round(envNumber(BENCH, "BENCH_XMPP_RUNS", 5, 1));
/** Messages per ping-pong round (one in flight). */
const PINGPONG_PER_ROUND = Math.max(5, Math.round(60 * SCALE));
/** Messages per pipelined round (IN_FLIGHT outstanding). */
const PIPELINED_PER_ROUND = Math.max(IN_FLIGHT, Math.round(200 * SCALE));
const WARMUP_MESSAGES = 10;
/** Whole benchmark, setup included; runs that would not fit are dropped. */
const TIME_BUDGET_MS = 100_000 * Math.max(1, SCALE);
/** A message that has not arrived after this long is lost. */
const STALL_MS = 30_000;

const started = performance.now();
const out = (line: Record<string, unknown>): void => void process.stdout.write(JSON.stringify(line) + "\n");
const note = (text: string): void => void process.stderr.write(`[bench xmpp] ${text}\n`);
const ms = (x: number) => Number(x.toFixed(1));

class FunctionalFailure extends Error {}

const password = (name: string) => `pw-${name}-bench`;

/** A plain XMPP user: one c2s session, PLAIN over loopback, available, roster fetched. */
class XmppUser {
  readonly name: string;
  readonly bare: string;
  readonly xmpp: XmppClient;
  readonly #handlers: ((el: Element) => void)[] = [];

  constructor(server: ProsodyServer, name: string) {
    this.name = name;
    this.bare = `${name}@${server.domain}`;
    const pw = password(name);
    this.xmpp = xmppClient({
      service: server.clientService,
      domain: server.domain,
      resource: "bench",
      credentials: (auth) => auth({ username: name, password: pw }, "PLAIN", xml("user-agent")),
    });
    this.xmpp.on("error", () => undefined);
    if (!NAGLE) {
      // @xmpp/client leaves Nagle's algorithm on (net.Socket's default): see NAGLE above.
      this.xmpp.on("connect", () => (this.xmpp as unknown as { socket?: { setNoDelay?: (on: boolean) => void } }).socket?.setNoDelay?.(true));
    }
    this.xmpp.on("stanza", (el: Element) => {
      for (const h of this.#handlers) h(el);
    });
  }

  onStanza(h: (el: Element) => void): void {
    this.#handlers.push(h);
  }

  /** Waits for the first stanza matching `match` (registered before `trigger` runs). */
  async expect(match: (el: Element) => boolean, what: string, trigger: () => Promise<unknown>, timeoutMs = 30_000): Promise<Element> {
    let done: ((el: Element) => void) | undefined;
    const got = new Promise<Element>((resolve) => (done = resolve));
    const h = (el: Element) => {
      if (match(el)) done?.(el);
    };
    this.#handlers.push(h);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await trigger();
      return await Promise.race([
        got,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new FunctionalFailure(`${this.name}: no ${what} within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.#handlers.splice(this.#handlers.indexOf(h), 1);
    }
  }

  iq(el: Element, timeoutMs = 10_000): Promise<Element> {
    // @types/xmpp__client's iqCaller type does not resolve for the linter: name what we use.
    const caller = (this.xmpp as unknown as { iqCaller: { request(el: Element, timeoutMs: number): Promise<Element> } }).iqCaller;
    return caller.request(el, timeoutMs);
  }

  async start(): Promise<void> {
    await this.xmpp.start();
    // The roster first: Prosody delivers subscription approvals only to "interested" resources
    // (RFC 6121 §2.1.6); then available presence, which comes back when the session is up.
    await this.iq(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })));
    const full = this.xmpp.jid?.toString() ?? this.bare;
    await this.expect((el) => el.is("presence") && el.attrs.from === full && el.attrs.type === undefined, "own presence", () => this.xmpp.send(xml("presence")));
  }

  chat(to: string, key: string, text: string): Promise<void> {
    return this.xmpp.send(xml("message", { to, type: "chat", id: key }, xml("body", {}, text), xml("origin-id", { xmlns: "urn:xmpp:sid:0", id: key })));
  }

  async stop(): Promise<void> {
    try {
      await this.xmpp.stop();
    } catch {
      // already down
    }
  }
}

/** Keys of messages on their way (bench/lib.ts Arrivals): the key is the text before the first "|". */
const newArrivals = () =>
  new Arrivals({
    stallMs: STALL_MS,
    keyOf: (text) => {
      const bar = text.indexOf("|");
      return bar <= 0 ? undefined : text.slice(0, bar);
    },
    fail: (m) => new FunctionalFailure(m),
  });

/** CPU time per process per round (this process is "bench"; the providers and Prosody by PID). */
const cpuMeter = new CpuMeter(clockTicksPerSecond());

interface Path {
  /** Short tag in message keys. */
  readonly tag: string;
  readonly send: (key: string, text: string) => Promise<unknown>;
  readonly arrivals: Arrivals;
}

interface Round {
  rate: number;
  lat: number[];
  /** For MIMI receivers: send → hub accepted, hub accepted → listener (wall clock, ms). */
  toHub: number[];
  fromHub: number[];
  /** CPU ms used during the round, per process. */
  cpu: Record<string, number | undefined>;
  n: number;
}

let roundNo = 0;
const padding = "x".repeat(TEXT_BYTES);

async function round(path: Path, n: number, width: number): Promise<Round> {
  const r = roundNo++;
  const lat: number[] = [];
  const toHub: number[] = [];
  const fromHub: number[] = [];
  const cpu0 = cpuMeter.now();
  const t0 = performance.now();
  await pool(n, width, async (i) => {
    const key = `${path.tag}${r}-${i}`;
    const arrived = path.arrivals.wait(key);
    const sentWall = Date.now();
    const s = performance.now();
    try {
      await path.send(key, `${key}|${padding}`.slice(0, TEXT_BYTES));
    } catch (err) {
      throw new FunctionalFailure(`sending ${key} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    lat.push((await arrived) - s);
    const w = path.arrivals.wall.get(key);
    path.arrivals.wall.delete(key);
    if (w?.hubTs !== undefined) {
      toHub.push(w.hubTs - sentWall);
      fromHub.push(w.at - w.hubTs);
    }
    if (process.env.BENCH_XMPP_DEBUG && (lat.at(-1) ?? 0) > (width === 1 ? 60 : 500)) note(`slow ${key}: ${ms(lat.at(-1) ?? 0)} ms at ${Math.round(s - started)} ms${w?.hubTs === undefined ? "" : ` (to hub ${w.hubTs - sentWall}, from hub ${w.at - w.hubTs})`}`);
  });
  const rate = (n * 1000) / (performance.now() - t0);
  const cpu = CpuMeter.diff(cpu0, cpuMeter.now());
  return { rate, lat, toHub, fromHub, cpu, n };
}

const dir = await mkdtemp(join(tmpdir(), "mimi-bench-xmpp-"));
let net: ProcessNetwork | undefined;
let prosody: ProsodyServer | undefined;
const xmppUsers: XmppUser[] = [];
let bob: MimiClient | undefined;
// Interrupted: exit, so that the exit hooks stop the providers and Prosody by PID; then the folders go.
const onSignal = () => process.exit(130);
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);
const removeDir = () => rmSync(dir, { recursive: true, force: true });
const killProsody = () => {
  const pid = prosody?.pid();
  if (pid === undefined) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    // already gone
  }
  if (prosody !== undefined) rmSync(prosody.dir, { recursive: true, force: true });
};
process.once("exit", killProsody);

try {
  const load0 = loadavg()[0] ?? 0;
  // ---- Prosody, the providers, the clients ---------------------------------------------------------
  prosody = await startProsody({ domain: XMPP_DOMAIN, ...(NAGLE ? {} : { extraGlobal: "network_settings = { nagle = false }" }), users: ["alice", "bob"].map((name) => ({ name, password: password(name) })) });
  const server = prosody;
  const xmppConfig = {
    service: server.componentService,
    componentDomain: server.componentDomain,
    componentSecret: server.componentSecret,
    domain: server.domain,
    mucDomain: server.mucDomain,
  };
  net = await startProcessNetwork({
    domains: [PROVIDER, REMOTE],
    dir,
    logLevel: "warn",
    storage: "level",
    // The product's consent default (processNetwork turns consent off unless told otherwise).
    extraConfig: (d) => ({ consent: { preConsent: "none" }, ...(d === PROVIDER ? { adapters: { xmpp: xmppConfig } } : {}) }),
  });
  process.once("exit", removeDir); // after the network's own exit hook, so it runs after the kill
  const remoteApi = net.providers[REMOTE]?.clientApiUrl;
  if (remoteApi === undefined) throw new FunctionalFailure(`no provider ${REMOTE}`);
  const network = net;
  for (const d of [PROVIDER, REMOTE]) cpuMeter.track(d, () => network.providers[d]?.pid());
  cpuMeter.track("prosody", () => server.pid());

  const alice = new XmppUser(server, "alice");
  const xbob = new XmppUser(server, "bob");
  xmppUsers.push(alice, xbob);
  await Promise.all([alice.start(), xbob.start()]);

  // The component is connected once the bridge answers disco#info on its domain.
  const deadline = performance.now() + 30_000;
  for (;;) {
    try {
      await alice.iq(xml("iq", { type: "get", to: server.componentDomain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })), 2_000);
      break;
    } catch (err) {
      if (performance.now() > deadline) throw new FunctionalFailure(`the bridge's component did not answer on ${server.componentDomain}: ${err instanceof Error ? err.message : String(err)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const nativeBob = new MimiClient({ apiUrl: remoteApi, transport: new HttpTransport({ apiUrl: remoteApi }), state: await openClientStore({ memory: true }), autoCommit: false });
  bob = nativeBob;
  await nativeBob.register("bob");
  const bobUri = (await nativeBob.account())?.userUri ?? `mimi://${REMOTE}/u/bob`;
  const aliceUri = `mimi://${PROVIDER}/u/alice`;
  const ghost = formatJid(xmppGhostFor(bobUri, { componentDomain: server.componentDomain }));

  // ---- the 1-1 chat: subscription = consent request, grant, first message opens the direct room -----
  const t0 = performance.now();
  await alice.expect(
    (el) => el.is("presence") && el.attrs.type === "subscribed" && el.attrs.from === ghost,
    `subscription approval from ${ghost}`,
    async () => {
      await alice.xmpp.send(xml("presence", { to: ghost, type: "subscribe", id: "bench-sub" }));
      let requested = false;
      while (!requested) {
        if (performance.now() - t0 > 30_000) throw new FunctionalFailure(`bob never saw alice's consent request`);
        requested = (await nativeBob.consentList()).incoming.some((r) => r.requester === aliceUri && (r.state === "requested" || r.state === "granted"));
        if (!requested) await new Promise((r) => setTimeout(r, 100));
      }
      await nativeBob.consentGrant(aliceUri);
    },
  );
  const consentMs = performance.now() - t0;

  const toMimi = newArrivals();
  const toAliceXmpp = newArrivals();
  const toBobXmpp = newArrivals();
  const fromBobMimi = newArrivals();
  /** The direct room, once the first message opened it. */
  const chat: { roomId?: string } = {};
  const joined = new Promise<string>((resolve) => {
    const off = nativeBob.on("joined", (e) => {
      off();
      resolve(e.roomId);
    });
  });
  nativeBob.on("message", (e) => toMimi.arrived(e.text, { hubTs: e.timestamp }));
  alice.onStanza((el) => {
    if (!el.is("message") || el.attrs.type === "error") return;
    const body = el.getChildText("body");
    if (body === null) return;
    const from = typeof el.attrs.from === "string" ? el.attrs.from : "";
    if (from.startsWith(`${ghost}/`)) fromBobMimi.arrived(body);
    else if (from.startsWith(`${xbob.bare}/`)) toAliceXmpp.arrived(body);
  });
  xbob.onStanza((el) => {
    if (!el.is("message") || el.attrs.type === "error") return;
    const body = el.getChildText("body");
    if (body !== null) toBobXmpp.arrived(body);
  });
  // Errors bounced to alice mean the bridge refused: fail loudly instead of waiting.
  let bounced: string | undefined;
  alice.onStanza((el) => {
    if (el.is("message") && el.attrs.type === "error") bounced = el.toString().slice(0, 600);
  });

  const allPaths = {
    xmpp_to_mimi: {
      subject: { tag: "xm", send: (k: string, t: string) => alice.chat(ghost, k, t), arrivals: toMimi } satisfies Path,
      baseline: { tag: "xx", send: (k: string, t: string) => alice.chat(xbob.bare, k, t), arrivals: toBobXmpp } satisfies Path,
    },
    mimi_to_xmpp: {
      subject: {
        tag: "mx",
        send: (_key: string, t: string) => {
          if (chat.roomId === undefined) throw new FunctionalFailure("no direct room");
          return nativeBob.send(chat.roomId, t);
        },
        arrivals: fromBobMimi,
      } satisfies Path,
      baseline: { tag: "yy", send: (k: string, t: string) => xbob.chat(alice.bare, k, t), arrivals: toAliceXmpp } satisfies Path,
    },
  } satisfies Record<PathName, { subject: Path; baseline: Path }>;
  const paths = PATHS.map((name) => [name, allPaths[name]] as const);

  // The first message opens the direct room (room.create by alice's hosted client, bob's client
  // added from the start), then the room is warmed up both ways.
  const t1 = performance.now();
  const firstKey = "open-0";
  const first = toMimi.wait(firstKey);
  await alice.chat(ghost, firstKey, `${firstKey}|hello bob`);
  let joinTimer: ReturnType<typeof setTimeout> | undefined;
  const roomId = await Promise.race([
    joined,
    new Promise<never>((_, reject) => {
      joinTimer = setTimeout(() => reject(new FunctionalFailure(`bob's client did not join the direct room within ${STALL_MS} ms${bounced === undefined ? "" : `; alice got ${bounced}`}`)), STALL_MS);
    }),
  ]).finally(() => clearTimeout(joinTimer));
  chat.roomId = roomId;
  await first;
  const openMs = performance.now() - t1;
  const info = await nativeBob.room(roomId);
  const people = info.participants.map((x) => x.user).sort();
  if (people.join(" ") !== [aliceUri, bobUri].sort().join(" ")) throw new FunctionalFailure(`the bridged chat's participants are ${people.join(", ")}, expected alice and bob`);
  if (info.kind !== undefined && info.kind !== "direct") throw new FunctionalFailure(`the bridged chat is a ${info.kind} room, expected a direct room`);
  for (const [, p] of paths) {
    await round(p.subject, WARMUP_MESSAGES, 1);
    await round(p.baseline, WARMUP_MESSAGES, 1);
    await round(p.subject, WARMUP_MESSAGES, 4);
    await round(p.baseline, WARMUP_MESSAGES * 4, 4);
  }
  note(`setup ${Math.round(t1 - started)} ms (subscription → consent granted → approval ${Math.round(consentMs)} ms); direct room ${roomId} opened by the first message in ${Math.round(openMs)} ms; warm-up done at ${Math.round(performance.now() - started)} ms`);

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

  // ---- figures -------------------------------------------------------------------------------------
  const baselineName = {
    xmpp_to_mimi: `XMPP ${alice.bare} -> Prosody -> XMPP ${xbob.bare}`,
    mimi_to_xmpp: `XMPP ${xbob.bare} -> Prosody -> XMPP ${alice.bare}`,
  };
  const pooled = (rs: Round[], f: (r: Round) => number[]) => rs.flatMap(f);
  for (const name of PATHS) {
    const s = acc.get(`${name}/subject`) ?? { pp: [], pl: [] };
    const b = acc.get(`${name}/baseline`) ?? { pp: [], pl: [] };
    const common = { textBytes: TEXT_BYTES, runs };
    for (const [mode, rs, bs, width, perRound] of [
      ["pingpong", s.pp, b.pp, 1, PINGPONG_PER_ROUND],
      ["pipelined", s.pl, b.pl, IN_FLIGHT, PIPELINED_PER_ROUND],
    ] as const) {
      if (process.env.BENCH_XMPP_DEBUG) note(`${name} ${mode} subject ${JSON.stringify(rs.flatMap((r) => r.lat).sort((x, y) => x - y).map(ms))} baseline ${JSON.stringify(bs.flatMap((r) => r.lat).sort((x, y) => x - y).map(ms))}`);
      const toHub = pooled(rs, (r) => r.toHub);
      // CPU ms per message of every process, summed over the runs (diagnostic, not a figure).
      const cpuPer = (rounds: Round[]) => cpuMeter.perMessage(rounds);
      const fromHub = pooled(rs, (r) => r.fromHub);
      out({
        bench: BENCH,
        figure: `${name}_${mode}_1KiB`,
        ...againstBaseline(rs, bs),
        unit: "msg/s",
        baseline: `${baselineName[name]}, ${width} in flight`,
        ...(toHub.length > 0 ? { sendToHubAcceptedP50Ms: ms(percentile(toHub, 50)), hubAcceptedToReceiverP50Ms: ms(percentile(fromHub, 50)) } : {}),
        cpuMsPerMessage: cpuPer(rs),
        baselineCpuMsPerMessage: cpuPer(bs),
        inFlight: width,
        messagesPerRound: perRound,
        ...common,
      });
    }
  }
  note(`done in ${Math.round(performance.now() - started)} ms on ${cpus().length} CPUs; load average ${load0.toFixed(2)} → ${(loadavg()[0] ?? 0).toFixed(2)}`);
} catch (err) {
  process.exitCode = 1;
  note(`FAILED: ${err instanceof FunctionalFailure ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  for (const u of xmppUsers) await u.stop();
  await bob?.close().catch(() => undefined);
  await net?.stop().catch((err: unknown) => note(`stopping the providers: ${String(err)}`));
  await prosody?.dispose().catch((err: unknown) => note(`stopping Prosody: ${String(err)}`));
  process.off("exit", removeDir);
  process.off("exit", killProsody);
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  await rm(dir, { recursive: true, force: true });
}
