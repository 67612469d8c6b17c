// Re-runs the current script under a Node that can run mimi-bridge (22+ with TypeScript type
// stripping) when the running one cannot. Plain JavaScript on purpose: it runs on old Node.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ensureNode, isSuitable } from "./ensure-node.mjs";

/**
 * Returns normally when this process is suitable. Otherwise starts the same script with the
 * provided Node, forwards signals to it, and exits with its exit code (never returns).
 */
export function reexecIfNeeded() {
  if (isSuitable()) return;
  let bin;
  try {
    bin = ensureNode();
  } catch (err) {
    process.stderr.write(`mimi-bridge: cannot provide a suitable Node.js: ${err.message}\n`);
    process.exit(1);
  }
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` };
  const child = spawn(join(bin, "node"), [...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit", env });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(signal, () => child.kill(signal));
  }
  child.on("exit", (code, signal) => {
    if (signal) process.kill(process.pid, signal);
    process.exit(code ?? 1);
  });
  // Keep this process alive until the child exits.
  return new Promise(() => {});
}
