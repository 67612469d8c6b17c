// Shared helpers for benchmarks. Every benchmark prints one JSON line per figure:
//   {"bench": "...", "figure": "...", "value": ..., "unit": "...", "baseline": "...",
//    "baselineValue": ..., "ratio": value / baselineValue, "runs": n}
// The baseline is measured in the same process and run, interleaved with the subject, because
// absolute times on these shared 2-core machines mean little (docs/PERFORMANCE.md).

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
