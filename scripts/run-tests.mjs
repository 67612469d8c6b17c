#!/usr/bin/env node
// The test command. `npm test` (all tiers) is what the README's quick start and .ci/run use.
//
//   node scripts/run-tests.mjs all            static checks, then every test file in one run
//   node scripts/run-tests.mjs static         type-check (tsc) and lint (eslint)
//   node scripts/run-tests.mjs unit           unit, vectors, http, cli tests (no external servers)
//   node scripts/run-tests.mjs integration    tests that start real processes and servers
//   node scripts/run-tests.mjs xmpp           the XMPP adapter against a real Prosody (issue 5)
//   node scripts/run-tests.mjs matrix         the Matrix adapter against a real Synapse (issue 6);
//                                             the first run installs Synapse into .tools/ with pip
//   ... [--] extra args                       passed to `node --test` (e.g. --test-name-pattern)
//
// All test files run in a single `node --test` invocation so its closing summary counts every
// test. No tier may be skipped silently: a missing tool fails the run.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { reexecIfNeeded } from "./reexec.mjs";

await reexecIfNeeded();

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tiers = {
  unit: ["test/unit", "test/vectors", "test/http", "test/cli"],
  integration: ["test/integration", "test/adapters/loopback.test.ts", "test/adapters/bridge-plaintext.test.ts"],
  xmpp: ["test/adapters/xmpp"],
  matrix: ["test/adapters/matrix"],
};
tiers.all = [...tiers.unit, ...tiers.integration, ...tiers.xmpp, ...tiers.matrix];

const [tier = "all", ...rest] = process.argv.slice(2);
const extra = rest[0] === "--" ? rest.slice(1) : rest;
if (!["all", "static", ...Object.keys(tiers)].includes(tier)) {
  process.stderr.write(`unknown tier ${tier}; use all, static, ${Object.keys(tiers).join(", ")}\n`);
  process.exit(2);
}

function run(label, cmd, args) {
  process.stdout.write(`\n== ${label}: ${cmd} ${args.join(" ")}\n`);
  const res = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: process.env });
  if (res.status !== 0) {
    process.stdout.write(`== ${label} failed (exit ${res.status ?? res.signal})\n`);
    process.exit(res.status || 1);
  }
}

function testFiles(dirs) {
  const out = [];
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".test.ts")) out.push(relative(root, p));
    }
  };
  for (const d of dirs) {
    const p = join(root, d);
    if (d.endsWith(".test.ts")) {
      if (!existsSync(p)) throw new Error(`test file ${d} is missing`);
      out.push(d);
    } else walk(p);
  }
  return out;
}

const bin = (name) => join(root, "node_modules", ".bin", name);
if (tier === "all" || tier === "static") {
  run("type-check", bin("tsc"), ["-p", "tsconfig.json"]);
  run("lint", bin("eslint"), ["--max-warnings=0", "."]);
  if (tier === "static") process.exit(0);
}

const files = testFiles(tiers[tier]);
if (files.length === 0) {
  process.stderr.write(`no test files found for tier ${tier}\n`);
  process.exit(1);
}
run(`tests (${tier}, ${files.length} files)`, process.execPath, [
  "--test",
  "--test-reporter=spec",
  "--test-concurrency=2",
  "--test-timeout=600000",
  ...extra,
  ...files,
]);
