#!/usr/bin/env node
// Provides a Node.js that is new enough for mimi-bridge (see package.json "engines").
//
// This file must stay plain JavaScript that runs on old Node versions (it is what runs
// *before* we know we have Node 22+). If the running Node is too old, it installs the
// pinned version (.node-version) from the npm registry's platform package
// (node-<platform>-<arch>, the package the `node` meta-package itself installs) into
// .tools/node, an ignored folder, and reuses it on later runs.
//
//   node scripts/ensure-node.mjs            prints the bin folder of a suitable Node
//   import { ensureNode } from "./ensure-node.mjs"   same, as a function
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, mkdirSync, writeFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const MIN_MAJOR = 22;
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export function pinnedVersion() {
  return readFileSync(join(root, ".node-version"), "utf8").trim();
}

/** True when this Node can run the project's TypeScript sources (type stripping). */
export function isSuitable(versions = process.versions, features = process.features) {
  const major = Number(versions.node.split(".")[0]);
  return major >= MIN_MAJOR && Boolean(features && features.typescript);
}

function platformPackage() {
  const arch = { x64: "x64", arm64: "arm64", ppc64: "ppc64", s390x: "s390x" }[process.arch];
  if (process.platform !== "linux" && process.platform !== "darwin") {
    throw new Error(`no Node package for platform ${process.platform}; install Node ${MIN_MAJOR}+ yourself`);
  }
  if (!arch) throw new Error(`no Node package for architecture ${process.arch}; install Node ${MIN_MAJOR}+ yourself`);
  return `node-${process.platform}-${arch}`;
}

/** Returns the folder holding a `node` binary of version >= MIN_MAJOR, installing it if needed. */
export function ensureNode({ quiet = false } = {}) {
  if (isSuitable()) return dirname(process.execPath);
  const version = pinnedVersion();
  const pkg = platformPackage();
  const base = join(root, ".tools", "node", version);
  const bin = join(base, "node_modules", pkg, "bin");
  const stamp = join(base, "installed");
  if (existsSync(stamp) && existsSync(join(bin, "node"))) return bin;
  if (!quiet) process.stderr.write(`mimi-bridge: Node ${process.versions.node} is too old; installing Node ${version} (${pkg}) into .tools/node\n`);
  const tmp = `${base}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(tmp, "package.json"), JSON.stringify({ name: "mimi-bridge-node-runtime", private: true }));
  // npm as configured on this machine (registry, proxy, CA); never a hard-coded address.
  execFileSync("npm", ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund",
    "--ignore-scripts", "--loglevel=error", `${pkg}@${version}`], { cwd: tmp, stdio: quiet ? "ignore" : ["ignore", "ignore", "inherit"] });
  writeFileSync(join(tmp, "installed"), `${pkg}@${version}\n`);
  rmSync(base, { recursive: true, force: true });
  mkdirSync(dirname(base), { recursive: true });
  renameSync(tmp, base);
  return bin;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.stdout.write(ensureNode() + "\n");
  } catch (err) {
    process.stderr.write(`mimi-bridge: cannot provide Node ${MIN_MAJOR}+: ${err.message}\n`);
    process.exit(1);
  }
}
