// MIMI-MATRIX-01: `mimi-bridge matrix registration`, run in-process with captured output.
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { test } from "node:test";
import { resolveMatrixConfig } from "../../adapters/matrix/config.ts";
import { loadRegistration } from "../../adapters/matrix/registration.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { run } from "../../src/cli/main.ts";
import { tempDir } from "../helpers/processes.ts";

async function cli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (push: (s: string) => void) =>
    new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        push(chunk.toString());
        cb();
      },
    });
  const io: CliIo = { stdout: sink((s) => out.push(s)), stderr: sink((s) => err.push(s)), stdin: Readable.from([]), env: {}, cwd };
  const code = await run(args, io);
  return { code, stdout: out.join(""), stderr: err.join("") };
}

test("MIMI-MATRIX-01: matrix registration writes a fresh registration (mode 0600), prints where it goes and never the tokens", async () => {
  const tmp = await tempDir("matrix-cli");
  try {
    const res = await cli(["matrix", "registration", "--domain", "hs.example", "--out", "conf/registration.yaml"], tmp.path);
    assert.equal(res.code, 0, res.stderr);
    const file = join(tmp.path, "conf", "registration.yaml");
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const reg = loadRegistration(file);
    assert.equal(reg.url, "http://127.0.0.1:29330");
    assert.equal(reg.sender_localpart, "mimi-bridge");
    assert.deepEqual(reg.namespaces.users, [{ exclusive: true, regex: "^@_mimi_.*:hs\\.example$" }]);
    assert.match(res.stdout, /app_service_config_files/);
    assert.ok(res.stdout.includes(file));
    assert.ok(!res.stdout.includes(reg.as_token) && !res.stdout.includes(reg.hs_token), "tokens are not printed");
    assert.match(await readFile(file, "utf8"), /^# Matrix application service registration/);

    // No overwrite without --force; with it, new tokens.
    const again = await cli(["matrix", "registration", "--domain", "hs.example", "--out", "conf/registration.yaml"], tmp.path);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /MIMI_ERR_CLI_USAGE: .*already exists; use --force/);
    assert.equal(loadRegistration(file).hs_token, reg.hs_token);
    const forced = await cli(["matrix", "registration", "--domain", "hs.example", "--out", "conf/registration.yaml", "--url", "http://10.0.0.5:9000", "--force", "--id", "mimi-test"], tmp.path);
    assert.equal(forced.code, 0, forced.stderr);
    const reg2 = loadRegistration(file);
    assert.notEqual(reg2.hs_token, reg.hs_token);
    assert.notEqual(reg2.as_token, reg.as_token);
    assert.equal(reg2.url, "http://10.0.0.5:9000");
    assert.equal(reg2.id, "mimi-test");
  } finally {
    await tmp.remove();
  }
});

test("MIMI-MATRIX-01: matrix registration --config takes adapters.matrix (domain, prefixes, listen, file) and the bridge then accepts it", async () => {
  const tmp = await tempDir("matrix-cli");
  try {
    const config = [
      "adapters:",
      "  matrix:",
      "    homeserverUrl: http://127.0.0.1:8008",
      "    domain: localhost:8448",
      "    registrationFile: reg/matrix.yaml",
      "    ghostPrefix: mimi.",
      "    botLocalpart: bridgebot",
      "    listen: { host: 0.0.0.0, port: 29999 }",
      "",
    ].join("\n");
    await writeFile(join(tmp.path, "config.yaml"), config);
    const res = await cli(["matrix", "registration", "--config", "config.yaml"], tmp.path);
    assert.equal(res.code, 0, res.stderr);
    const file = join(tmp.path, "reg", "matrix.yaml");
    const reg = loadRegistration(file);
    assert.equal(reg.url, "http://127.0.0.1:29999");
    assert.equal(reg.sender_localpart, "bridgebot");
    assert.deepEqual(reg.namespaces.users, [{ exclusive: true, regex: "^@mimi\\..*:localhost:8448$" }]);
    const cfg = resolveMatrixConfig({ homeserverUrl: "http://127.0.0.1:8008", domain: "localhost:8448", registrationFile: file, ghostPrefix: "mimi.", botLocalpart: "bridgebot" });
    assert.equal(cfg.registration.hs_token, reg.hs_token);
  } finally {
    await tmp.remove();
  }
});

test("MIMI-MATRIX-01: matrix registration: wrong use exits non-zero with a typed error; --help works", async () => {
  const tmp = await tempDir("matrix-cli");
  try {
    const noDomain = await cli(["matrix", "registration", "--out", "r.yaml"], tmp.path);
    assert.equal(noDomain.code, 1);
    assert.match(noDomain.stderr, /MIMI_ERR_CLI_USAGE: give --domain/);
    const noOut = await cli(["matrix", "registration", "--domain", "hs.example"], tmp.path);
    assert.equal(noOut.code, 1);
    assert.match(noOut.stderr, /--out/);
    const badPrefix = await cli(["matrix", "registration", "--domain", "hs.example", "--out", "r.yaml", "--ghost-prefix", "BAD"], tmp.path);
    assert.equal(badPrefix.code, 1);
    assert.match(badPrefix.stderr, /ghostPrefix/);
    await writeFile(join(tmp.path, "empty.yaml"), "adapters: {}\n");
    const noSection = await cli(["matrix", "registration", "--config", "empty.yaml"], tmp.path);
    assert.equal(noSection.code, 1);
    assert.match(noSection.stderr, /no adapters\.matrix/);
    const help = await cli(["matrix", "registration", "--help"], tmp.path);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /app_service_config_files/);
    assert.equal((await cli(["matrix", "nope"], tmp.path)).code, 2);
  } finally {
    await tmp.remove();
  }
});
