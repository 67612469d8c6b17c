// Shared helpers for benchmarks. Every benchmark prints one JSON line per figure:
//   {"bench": "...", "figure": "...", "value": ..., "unit": "...", "baseline": "...",
//    "baselineValue": ..., "ratio": value / baselineValue, "runs": n}
// The baseline is measured in the same process and run, interleaved with the subject, because
// absolute times on these shared 2-core machines mean little (docs/PERFORMANCE.md).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Operations per second of `fn` over about `ms` milliseconds (after a warm-up). */
export async function opsPerSecond(fn: () => unknown, ms = 300): Promise<number> {
  const warmEnd = performance.now() + ms / 5;
  while (performance.now() < warmEnd) await fn();
  let n = 0;
  const start = performance.now();
  const end = start + ms;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 16; i++) await fn();
    n += 16;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

export interface Figure {
  bench: string;
  figure: string;
  unit: string;
  subject: () => unknown;
  baselineName: string;
  baseline: () => unknown;
  /** Repetitions; subject and baseline alternate, the medians are reported. */
  runs?: number;
  ms?: number;
}

/** Measures subject and baseline alternately and prints one JSON line. */
export async function compare(f: Figure): Promise<Record<string, unknown>> {
  const runs = f.runs ?? 5;
  const subject: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < runs; i++) {
    subject.push(await opsPerSecond(f.subject, f.ms));
    baseline.push(await opsPerSecond(f.baseline, f.ms));
  }
  const value = median(subject);
  const baselineValue = median(baseline);
  const line = {
    bench: f.bench,
    figure: f.figure,
    value: Math.round(value),
    unit: f.unit,
    baseline: f.baselineName,
    baselineValue: Math.round(baselineValue),
    ratio: Number((value / baselineValue).toFixed(3)),
    runs,
  };
  process.stdout.write(JSON.stringify(line) + "\n");
  return line;
}

/** Runs `task(i)` for i in [0, n) with at most `width` outstanding. */
export async function pool(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < n) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
}

/** Nearest-rank percentile of `xs` (NaN when there are no samples). */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

/** CPU time in ms (user + system) per process name; undefined where it could not be read. */
export type CpuSample = Record<string, number | undefined>;

/**
 * CPU time of this process ("bench") and of other processes by PID, from /proc/<pid>/stat
 * (fields 14 and 15, utime and stime, in clock ticks; proc(5)). Linux only: elsewhere the other
 * processes read as undefined. For the "CPU ms per message" diagnostics of the bridge benches.
 */
export class CpuMeter {
  readonly #pids = new Map<string, () => number | undefined>();
  readonly #tick: number;

  constructor(clockTicksPerSecond = 100) {
    this.#tick = clockTicksPerSecond;
  }

  /** Counts `name`, whose PID is looked up at every sample (a restarted process keeps its name). */
  track(name: string, pid: () => number | undefined): void {
    this.#pids.set(name, pid);
  }

  names(): string[] {
    return ["bench", ...this.#pids.keys()];
  }

  now(): CpuSample {
    const own = process.cpuUsage();
    const res: CpuSample = { bench: (own.user + own.system) / 1000 };
    for (const [name, pid] of this.#pids) {
      try {
        const stat = readFileSync(`/proc/${pid() ?? "none"}/stat`, "utf8");
        // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        res[name] = ((Number(fields[11]) + Number(fields[12])) * 1000) / this.#tick;
      } catch {
        res[name] = undefined;
      }
    }
    return res;
  }

  /** CPU ms used between two samples, per process. */
  static diff(before: CpuSample, after: CpuSample): CpuSample {
    return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v === undefined || before[k] === undefined ? undefined : v - (before[k] ?? 0)]));
  }

  /** CPU ms per message per process (and their total) over rounds of `n` messages each. */
  perMessage(rounds: readonly { cpu: CpuSample; n: number }[]): Record<string, number> {
    const n = rounds.reduce((a, r) => a + r.n, 0);
    const o: Record<string, number> = {};
    for (const k of this.names()) {
      const v = rounds.map((r) => r.cpu[k]);
      if (n > 0 && v.every((x) => x !== undefined)) o[k] = Number((v.reduce((a: number, x) => a + (x ?? 0), 0) / n).toFixed(2));
    }
    o.total = Number(Object.values(o).reduce((a, x) => a + x, 0).toFixed(2));
    return o;
  }
}

/** The kernel's clock ticks per second (getconf CLK_TCK; 100 when that fails), for CpuMeter. */
export function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** The rounds of one path side: one in flight ("pingpong") and pipelined. */
export interface PathRounds<R> {
  readonly pp: R[];
  readonly pl: R[];
}

/**
 * The measured runs of the bridge benches: per run and path, subject and baseline rounds
 * alternate (AB, then BA: neither side always runs on a warmer machine), one in flight and then
 * `inFlight` at once, until `runs` runs or the time budget (a run that would overrun it by the
 * longest run so far × 1.5 is not started). Returns the rounds by `<path>/subject|baseline`.
 */
export async function alternatingRuns<P, R>(o: {
  readonly paths: readonly (readonly [string, { readonly subject: P; readonly baseline: P }])[];
  readonly runs: number;
  readonly budgetMs: number;
  readonly started: number;
  readonly pingpongPerRound: number;
  readonly pipelinedPerRound: number;
  readonly inFlight: number;
  readonly round: (path: P, n: number, width: number) => Promise<R>;
  readonly note: (text: string) => void;
}): Promise<{ rounds: Map<string, PathRounds<R>>; runs: number }> {
  const rounds = new Map<string, PathRounds<R>>(o.paths.flatMap(([name]) => [`${name}/subject`, `${name}/baseline`].map((k): [string, PathRounds<R>] => [k, { pp: [], pl: [] }])));
  let longest = 0;
  let runs = 0;
  for (let i = 0; i < o.runs; i++) {
    const elapsed = performance.now() - o.started;
    if (i > 0 && elapsed + longest * 1.5 > o.budgetMs) {
      o.note(`time budget: stopping after ${i} runs (${Math.round(elapsed)} ms elapsed)`);
      break;
    }
    const runStart = performance.now();
    for (const [name, p] of o.paths) {
      const order = i % 2 === 0 ? (["subject", "baseline"] as const) : (["baseline", "subject"] as const);
      for (const side of order) rounds.get(`${name}/${side}`)?.pp.push(await o.round(p[side], o.pingpongPerRound, 1));
      for (const side of order) rounds.get(`${name}/${side}`)?.pl.push(await o.round(p[side], o.pipelinedPerRound, o.inFlight));
    }
    longest = Math.max(longest, performance.now() - runStart);
    runs++;
  }
  return { rounds, runs };
}

const ms1 = (x: number) => Number(x.toFixed(1));

/**
 * The common fields of a bridge bench's JSON line: rate (median over rounds) and pooled
 * latency percentiles of the subject against the baseline measured in the same run, their
 * ratios and the added latency.
 */
export function againstBaseline(subject: readonly { readonly rate: number; readonly lat: readonly number[] }[], baseline: readonly { readonly rate: number; readonly lat: readonly number[] }[]): Record<string, number> {
  const lat = subject.flatMap((r) => r.lat);
  const blat = baseline.flatMap((r) => r.lat);
  const value = median(subject.map((r) => r.rate));
  const baselineValue = median(baseline.map((r) => r.rate));
  const [p50, p99, b50, b99] = [percentile(lat, 50), percentile(lat, 99), percentile(blat, 50), percentile(blat, 99)];
  return {
    value: ms1(value),
    p50Ms: ms1(p50),
    p99Ms: ms1(p99),
    baselineValue: ms1(baselineValue),
    baselineP50Ms: ms1(b50),
    baselineP99Ms: ms1(b99),
    ratio: Number((value / baselineValue).toFixed(4)),
    latencyRatioP50: Number((p50 / b50).toFixed(2)),
    latencyRatioP99: Number((p99 / b99).toFixed(2)),
    addedP50Ms: ms1(p50 - b50),
    addedP99Ms: ms1(p99 - b99),
  };
}

/** A number from the environment (a bench knob), or exit 2 with a message when it is not one. */
export function envNumber(bench: string, name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`[bench ${bench}] ${name}=${raw} is not a number >= ${min}\n`);
    process.exit(2);
  }
  return n;
}

/** Wall-clock stamps of one message (ms): its arrival (Date.now()) and the servers' own timestamps. */
export interface ArrivalStamps {
  /** The receiver's listener ran. */
  readonly at: number;
  /** MIMI receiver: the hub's accepted timestamp. */
  readonly hubTs?: number;
  /** Matrix receiver: origin_server_ts of the event it got. */
  readonly originTs?: number;
}

/**
 * Keys of messages on their way (the bridge benches): `wait(key)` resolves with the arrival time
 * (performance.now()) when a receiver reports a text carrying that key, and fails with `fail()`
 * when none came within `stallMs` (a lost message is a failed bench, not a slow one).
 */
export class Arrivals {
  readonly #waiting = new Map<string, (at: number) => void>();
  readonly wall = new Map<string, ArrivalStamps>();
  readonly #o: { readonly stallMs: number; readonly keyOf: (text: string) => string | undefined; readonly fail: (message: string) => Error };

  constructor(o: { readonly stallMs: number; readonly keyOf: (text: string) => string | undefined; readonly fail: (message: string) => Error }) {
    this.#o = o;
  }

  wait(key: string): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(this.#o.fail(`message ${key} did not arrive within ${this.#o.stallMs} ms`));
      }, this.#o.stallMs);
      this.#waiting.set(key, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  arrived(text: string, stamps: Omit<ArrivalStamps, "at"> = {}): void {
    const at = performance.now();
    const key = this.#o.keyOf(text);
    const done = key === undefined ? undefined : this.#waiting.get(key);
    if (key === undefined || done === undefined) return;
    this.#waiting.delete(key);
    this.wall.set(key, { at: Date.now(), ...stamps });
    done(at);
  }
}
