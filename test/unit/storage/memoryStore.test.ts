import { test } from "node:test";
import assert from "node:assert/strict";
import { isMimiError } from "../../../src/errors.ts";
import { MemoryDatabase, openStore } from "../../../src/storage/index.ts";
import { runStoreSuite } from "./storeSuite.ts";

runStoreSuite("memory store", () => {
  // The MemoryDatabase plays the data folder: reopening it sees what earlier stores wrote.
  const database = new MemoryDatabase();
  return Promise.resolve({
    open: (options = {}) => openStore({ kind: "memory", memoryDatabase: database, ...options }),
    dispose: () => Promise.resolve(),
  });
});

test("memory store: one open store per MemoryDatabase, like LevelDB's LOCK", async () => {
  const database = new MemoryDatabase();
  const first = await openStore({ kind: "memory", memoryDatabase: database });
  await assert.rejects(openStore({ kind: "memory", memoryDatabase: database }), (err) => isMimiError(err, "MIMI_ERR_STORAGE_LOCKED"));
  await first.namespace("rooms").put("r", Uint8Array.of(1));
  await first.close();
  const second = await openStore({ kind: "memory", memoryDatabase: database });
  assert.deepEqual(await second.namespace("rooms").get("r"), Uint8Array.of(1));
  await second.close();
});

test("memory store: openStore without a database starts empty and ignores dataDir", async () => {
  const store = await openStore({ kind: "memory", dataDir: "/nonexistent/never-created" });
  assert.equal(store.kind, "memory");
  assert.deepEqual(await store.namespace("rooms").getMany(["r"]), [undefined]);
  await store.close();
});
