import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { isMimiError } from "../../../src/errors.ts";
import { LEVEL_SUBDIR, openStore, type Store } from "../../../src/storage/index.ts";
import { runStoreSuite } from "./storeSuite.ts";

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "mimi-store-"));
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

runStoreSuite("level store", async () => {
  const root = await tempDir();
  const dataDir = join(root, "data");
  return {
    open: (options = {}) => openStore({ kind: "level", dataDir, ...options }),
    dispose: () => rm(root, { recursive: true, force: true }),
  };
});

test("level store: a second open of the same folder in this process fails with STORAGE_LOCKED", () =>
  withTempDir(async (dir) => {
    const first = await openStore({ kind: "level", dataDir: dir });
    try {
      await assert.rejects(openStore({ kind: "level", dataDir: dir }), (err: unknown) => {
        assert.ok(isMimiError(err, "MIMI_ERR_STORAGE_LOCKED"), String(err));
        assert.ok(err.cause instanceof Error, "the LevelDB error is kept as the cause");
        return true;
      });
      assert.equal(first.isOpen, true, "the failed open does not disturb the first store");
      await first.namespace("rooms").put("r", Uint8Array.of(7));
    } finally {
      await first.close();
    }
    // Once closed, the folder opens again.
    const second = await openStore({ kind: "level", dataDir: dir });
    assert.deepEqual(await second.namespace("rooms").get("r"), Uint8Array.of(7));
    await second.close();
  }));

test("level store: another process cannot open a folder this process holds", () =>
  withTempDir(async (dir) => {
    const store = await openStore({ kind: "level", dataDir: dir });
    try {
      const moduleUrl = pathToFileURL(join(import.meta.dirname, "../../../src/storage/index.ts")).href;
      const script = `
        const { openStore } = await import(${JSON.stringify(moduleUrl)});
        try { const s = await openStore({ kind: "level", dataDir: process.argv[1] }); await s.close(); console.log("OPENED"); }
        catch (err) { console.log(err.code); }`;
      const output = await new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ["--input-type=module", "-e", script, dir], { stdio: ["ignore", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString("utf8")));
        child.on("error", reject);
        child.on("close", () => resolve(out.trim()));
      });
      assert.equal(output, "MIMI_ERR_STORAGE_LOCKED");
    } finally {
      await store.close();
    }
  }));

test("level store: creates the data folder (and parents) with mode 0700 and LevelDB under level/", () =>
  withTempDir(async (dir) => {
    const dataDir = join(dir, "nested", "data");
    const store = await openStore({ kind: "level", dataDir });
    try {
      assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
      assert.equal((await stat(join(dataDir, LEVEL_SUBDIR))).mode & 0o777, 0o700);
      assert.ok((await readdir(join(dataDir, LEVEL_SUBDIR))).includes("LOCK"));
    } finally {
      await store.close();
    }
  }));

test("level store: an existing data folder readable by others is restricted to 0700", () =>
  withTempDir(async (dir) => {
    const dataDir = join(dir, "data");
    await mkdir(dataDir);
    await chmod(dataDir, 0o755);
    const store = await openStore({ kind: "level", dataDir });
    await store.close();
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
  }));

test("level store: a data folder that cannot be created is MIMI_ERR_STORAGE_IO", () =>
  withTempDir(async (dir) => {
    const file = join(dir, "a-file");
    await writeFile(file, "not a folder");
    await assert.rejects(openStore({ kind: "level", dataDir: file }), (err: unknown) => {
      assert.ok(isMimiError(err, "MIMI_ERR_STORAGE_IO"), String(err));
      assert.ok(err.cause instanceof Error);
      return true;
    });
  }));

test("openStore: the level kind needs a dataDir and unknown kinds are config errors", async () => {
  await assert.rejects(openStore({ kind: "level" }), (err) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID"));
  await assert.rejects(openStore({ kind: "sqlite" as "level", dataDir: "/tmp" }), (err) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID"));
});

test("level store: the store reports its kind and LevelDB keeps namespaces apart on disk", () =>
  withTempDir(async (dir) => {
    let store: Store = await openStore({ kind: "level", dataDir: dir, namespaces: ["a", "ab"] });
    assert.equal(store.kind, "level");
    // "a" + key "b!x" and "ab" + key "x" must not collide (sublevel prefixes are delimited).
    await store.namespace("a").put("b!x", Uint8Array.of(1));
    await store.namespace("ab").put("x", Uint8Array.of(2));
    await store.close();
    store = await openStore({ kind: "level", dataDir: dir, namespaces: ["a", "ab"] });
    assert.deepEqual(await store.namespace("a").get("b!x"), Uint8Array.of(1));
    assert.deepEqual(await store.namespace("ab").get("x"), Uint8Array.of(2));
    const keysOfA: string[] = [];
    for await (const key of store.namespace("a").keys()) keysOfA.push(key);
    assert.deepEqual(keysOfA, ["b!x"]);
    await store.close();
  }));
