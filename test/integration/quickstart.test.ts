// The README's promises, checked the way a user meets them: on the system Node (20 here), with
// the project-provided Node off the PATH.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cp, mkdir, readFile, stat } from "node:fs/promises";
import { delimiter, dirname, join } from "node:path";
import { repoRoot, runProcess, startProcess, tempDir, vectorsDir } from "../helpers/processes.ts";

/** PATH without the project's provisioned Node, as on a machine that only has the system one. */
const systemPath = (process.env.PATH ?? "").split(delimiter).filter((d) => !d.includes(join(".tools", "node"))).join(delimiter);
const env = { PATH: systemPath };

test("npx mimi-bridge content inspect works on the system Node (acceptance command)", async () => {
  const reply = join(vectorsDir, "mimi-content", "reply.cbor");
  const res = await runProcess("npx", ["mimi-bridge", "content", "inspect", reply], { env });
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(res.stdout.toString("utf8")) as { messageId: string; roundTrip: boolean };
  const edn = await readFile(join(vectorsDir, "mimi-content", "reply.edn"), "utf8");
  const m = /message ID = h'([0-9a-f]+)\s*\n#\s+([0-9a-f]+)'/.exec(edn);
  assert.ok(m);
  assert.equal(report.messageId, `${m[1]}${m[2]}`);
  assert.equal(report.roundTrip, true);

  const version = await runProcess("npx", ["mimi-bridge", "--version"], { env });
  assert.equal(version.code, 0, version.stderr);
});

test("a fresh checkout: scripts/serve provides Node, installs dependencies and serves", async () => {
  const tmp = await tempDir("fresh");
  try {
    // Copy what a clone has: the tracked files and the new, not-ignored ones.
    const files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repoRoot })
      .toString("utf8")
      .split("\0")
      .filter(Boolean);
    const checkout = join(tmp.path, "mimi-bridge");
    for (const f of files) {
      try {
        await stat(join(repoRoot, f));
      } catch {
        continue; // deleted in the working tree
      }
      await mkdir(dirname(join(checkout, f)), { recursive: true });
      await cp(join(repoRoot, f), join(checkout, f));
    }
    // The vectors sit next to the checkout, as ../shared does for the real one.
    const proc = startProcess(join(checkout, "scripts", "serve"), ["--port", "0", "--client-api-port", "0", "--data-dir", join(tmp.path, "data")], { cwd: checkout, env });
    const started = await proc.waitForLog((l) => l.msg === "mimi-bridge provider started", 300_000);
    const url = String(started.url);
    const dir = (await (await fetch(`${url}/.well-known/mimi-protocol-directory`)).json()) as Record<string, string>;
    assert.equal(Object.keys(dir).length, 10);
    assert.equal((await fetch(`${url}/health`)).status, 200);
    const exit = await proc.stop("SIGINT");
    assert.equal(exit.code, 0, proc.stderr());
    const systemMajor = Number(execFileSync("node", ["-p", "process.versions.node"], { env: { ...process.env, PATH: systemPath } }).toString().split(".")[0]);
    if (systemMajor < 22) {
      // The old system Node was not good enough: the checkout must have provided its own.
      await stat(join(checkout, ".tools", "node", (await readFile(join(checkout, ".node-version"), "utf8")).trim(), "installed"));
    }
    // npm ci ran in the checkout and left its stamp.
    await stat(join(checkout, "node_modules", ".mimi-bridge-installed"));
  } finally {
    await tmp.remove();
  }
});
