// Helpers for tests that run real processes. Every process a test starts is tracked by PID and
// stopped by that PID only; nothing else on the machine is touched.
import { createServer } from "node:net";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const vectorsDir = resolve(repoRoot, "../shared/vectors");

/** The first `node` on PATH that is not the one this project provisioned (.tools/node). */
export function systemNode(): string {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir.includes(`${join(".tools", "node")}`)) continue;
    const candidate = join(dir, "node");
    if (existsSync(candidate)) return candidate;
  }
  return process.execPath;
}

export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `mimi-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first stdout JSON log line for which `match` is true. */
  waitForLog: (match: (line: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop: (signal?: NodeJS.Signals) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function startProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const waiters: { match: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] = [];
  const seen: Record<string, unknown>[] = [];
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    const start = out.lastIndexOf("\n") + 1;
    out += chunk;
    for (const line of out.slice(start).split("\n").slice(0, -1)) {
      try {
        const obj = JSON.parse(line) as Record<string, unknown>;
        seen.push(obj);
        for (const w of [...waiters]) if (w.match(obj)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(obj); }
      } catch {
        // not a JSON log line
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on("exit", (code, signal) => res({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLog: (match, timeoutMs = 60_000) =>
      new Promise((res, rej) => {
        const hit = seen.find(match);
        if (hit) return res(hit);
        const timer = setTimeout(() => rej(new Error(`timed out waiting for a log line; stdout:\n${out}\nstderr:\n${err}`)), timeoutMs);
        waiters.push({ match, resolve: (l) => { clearTimeout(timer); res(l); } });
        void exited.then(({ code }) => { clearTimeout(timer); rej(new Error(`process exited (${code}) before the log line; stdout:\n${out}\nstderr:\n${err}`)); });
      }),
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, signal);
      return exited;
    },
  };
}

/** Runs a command to completion and returns its output. */
export async function runProcess(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: Buffer | string } = {}): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, env: { ...process.env, ...opts.env }, stdio: ["pipe", "pipe", "pipe"] });
  const out: Buffer[] = [];
  let err = "";
  child.stdout.on("data", (c: Buffer) => out.push(c));
  child.stderr.setEncoding("utf8").on("data", (c: string) => (err += c));
  child.stdin.end(opts.input ?? "");
  const code = await new Promise<number | null>((res) => child.on("exit", (c) => res(c)));
  return { code, stdout: Buffer.concat(out), stderr: err };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Stops a child we started, by its PID: SIGTERM, then SIGKILL after `graceMs`; waits for `exited`. */
export async function stopChild(c: ChildProcess | undefined, exited: Promise<void> | undefined, graceMs: number): Promise<void> {
  if (c?.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
  c.kill("SIGTERM");
  const timer = setTimeout(() => c.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
