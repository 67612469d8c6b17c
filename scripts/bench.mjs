#!/usr/bin/env node
// `npm run bench [names…]`: runs bench/run.ts on a Node that can run TypeScript (see reexec.mjs).
import { spawnSync } from "node:child_process";
import { reexecIfNeeded } from "./reexec.mjs";

await reexecIfNeeded();
const res = spawnSync(process.execPath, [new URL("../bench/run.ts", import.meta.url).pathname, ...process.argv.slice(2)], { stdio: "inherit" });
process.exit(res.status ?? 1);
