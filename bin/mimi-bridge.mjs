#!/usr/bin/env node
// Launcher for `npx mimi-bridge`: runs the TypeScript CLI on Node 22+ (type stripping). On an
// older system Node it provides the pinned Node first (scripts/ensure-node.mjs) and re-executes.
import { reexecIfNeeded } from "../scripts/reexec.mjs";

await reexecIfNeeded();
const { main } = await import("../src/cli/main.ts");
await main(process.argv.slice(2));
