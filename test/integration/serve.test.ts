// The provider as a user runs it: `mimi-bridge serve` in its own process, started through the
// npm bin launcher with the SYSTEM Node (20 on this machine), which must re-execute itself on
// the provisioned Node 22+.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { repoRoot, startProcess, systemNode, tempDir } from "../helpers/processes.ts";

const launcher = join(repoRoot, "bin", "mimi-bridge.mjs");
const isStarted = (l: Record<string, unknown>) => l.msg === "mimi-bridge provider started";

test("serve: directory and health over real HTTP, data in a 0700 folder, clean shutdown on SIGTERM and SIGINT", async () => {
  const tmp = await tempDir("serve");
  try {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const dataDir = join(tmp.path, `data-${signal}`);
      const proc = startProcess(systemNode(), [launcher, "serve", "--port", "0", "--client-api-port", "0", "--data-dir", dataDir, "--domain", "a.example"]);
      const started = await proc.waitForLog(isStarted);
      const url = String(started.url);
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);

      const dir = (await (await fetch(`${url}/.well-known/mimi-protocol-directory`)).json()) as Record<string, string>;
      assert.equal(Object.keys(dir).length, 10);
      for (const v of Object.values(dir)) assert.ok(v.startsWith(`${url}/v1/`), v);

      const health = await fetch(`${url}/health`);
      assert.equal(health.status, 200);
      const body = (await health.json()) as { status: string; provider: string; storage: { kind: string; schemaVersion: number } };
      assert.equal(body.status, "ok");
      assert.equal(body.provider, "a.example");
      assert.equal(body.storage.kind, "level");
      assert.ok(body.storage.schemaVersion >= 1);

      assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
      const exit = await proc.stop(signal);
      assert.deepEqual(exit, { code: 0, signal: null }, proc.stderr());
      await proc.waitForLog((l) => l.msg === "stopped");
    }
  } finally {
    await tmp.remove();
  }
});

test("serve: a second provider on the same data folder refuses to start with MIMI_ERR_STORAGE_LOCKED", async () => {
  const tmp = await tempDir("serve-lock");
  const first = startProcess(systemNode(), [launcher, "serve", "--port", "0", "--client-api-port", "0", "--data-dir", tmp.path]);
  try {
    await first.waitForLog(isStarted);
    const second = startProcess(systemNode(), [launcher, "serve", "--port", "0", "--client-api-port", "0", "--data-dir", tmp.path]);
    const exit = await second.exited;
    assert.equal(exit.code, 1);
    assert.match(second.stderr(), /MIMI_ERR_STORAGE_LOCKED/);
  } finally {
    await first.stop();
    await tmp.remove();
  }
});

test("serve: an invalid configuration is reported with every problem and exit code 1", async () => {
  const proc = startProcess(systemNode(), [launcher, "serve", "--port", "99999", "--domain", "Bad Domain"]);
  const exit = await proc.exited;
  assert.equal(exit.code, 1);
  assert.match(proc.stderr(), /MIMI_ERR_CONFIG_INVALID/);
  assert.match(proc.stderr(), /server\.port: must be <= 65535/);
  assert.match(proc.stderr(), /provider\.domain: must be a lowercase DNS name/);
});
