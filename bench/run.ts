// `npm run bench`: runs every benchmark in bench/ (or those named on the command line) one after
// the other, each in its own process, passing their JSON lines through.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = resolve(fileURLToPath(new URL(".", import.meta.url)));
const wanted = process.argv.slice(2);
const all = readdirSync(here)
  .filter((f) => f.endsWith(".ts") && !["run.ts", "lib.ts"].includes(f))
  .map((f) => f.replace(/\.ts$/, ""))
  .sort();
const chosen = wanted.length ? wanted : all;
let failed = 0;
for (const name of chosen) {
  if (!all.includes(name)) {
    process.stderr.write(`no benchmark ${name}; have: ${all.join(", ")}\n`);
    process.exit(2);
  }
  const res = spawnSync(process.execPath, [join(here, `${name}.ts`)], { stdio: "inherit" });
  if (res.status !== 0) {
    process.stderr.write(`benchmark ${name} failed (exit ${res.status ?? res.signal})\n`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
