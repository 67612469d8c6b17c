// Storage: what durability costs. Atomic batches of 10 puts (about 200-byte values) on the
// LevelDB store, synced (as used before an acknowledgement) and unsynced, against the same
// batches on the in-memory store, measured in the same run.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../src/storage/index.ts";
import { compare } from "./lib.ts";

const dir = await mkdtemp(join(tmpdir(), "mimi-bench-storage-"));
try {
  const level = await openStore({ kind: "level", dataDir: dir });
  const memory = await openStore({ kind: "memory" });
  const value = new Uint8Array(200).fill(7);
  let i = 0;
  const batch = (store: typeof level, sync: boolean) => () => {
    const ns = store.namespace("room_log");
    const ops = Array.from({ length: 10 }, () => ns.putOp(`room1!${String(i++).padStart(12, "0")}`, value));
    return store.batch(ops, { sync });
  };
  await compare({ bench: "storage", figure: "level_batch10_sync", unit: "batches/s", subject: batch(level, true), baselineName: "memory store", baseline: batch(memory, true), runs: 3 });
  await compare({ bench: "storage", figure: "level_batch10_nosync", unit: "batches/s", subject: batch(level, false), baselineName: "memory store", baseline: batch(memory, false), runs: 3 });
  await level.close();
  await memory.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
