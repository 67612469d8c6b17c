// MIMI-MATRIX-01: the `adapters.matrix` section: defaults, validation, and the registration file
// it points at (read, refused when a placeholder or readable by others, matched to the section).
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ghostNamespace, resolveMatrixConfig, type MatrixConfigInput } from "../../../adapters/matrix/config.ts";
import { generateRegistration, writeRegistrationFile } from "../../../adapters/matrix/registration.ts";
import { BUILT_IN_ADAPTERS } from "../../../src/bridge/registry.ts";
import { parseConfigText, validateConfig } from "../../../src/config/index.ts";
import { isMimiError } from "../../../src/errors.ts";
import { matrixGhostFor } from "../../../src/ids/index.ts";

const committed = new URL("../../../registration.yaml", import.meta.url).pathname;

async function withRegistration<T>(fn: (file: string, dir: string) => T | Promise<T>, o: { domain?: string; ghostPrefix?: string; botLocalpart?: string } = {}): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "matrix-cfg-"));
  try {
    const file = join(dir, "registration.yaml");
    await writeRegistrationFile(
      file,
      generateRegistration({ url: "http://127.0.0.1:29330", domain: o.domain ?? "hs.example", ghostPrefix: o.ghostPrefix ?? "_mimi_", botLocalpart: o.botLocalpart ?? "mimi-bridge" }),
    );
    return await fn(file, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const base = (registrationFile: string): MatrixConfigInput => ({ homeserverUrl: "http://127.0.0.1:8008", domain: "hs.example", registrationFile });

test("MIMI-MATRIX-01: resolveMatrixConfig fills the defaults and reads the registration's tokens", async () => {
  await withRegistration((file) => {
    const cfg = resolveMatrixConfig(base(file));
    assert.deepEqual(cfg.listen, { host: "127.0.0.1", port: 29330 });
    assert.equal(cfg.ghostPrefix, "_mimi_");
    assert.equal(cfg.botLocalpart, "mimi-bridge");
    assert.deepEqual(cfg.admins, []);
    assert.deepEqual(cfg.limits, { maxBodyBytes: 65536, maxTransactionBytes: 5 * 1024 * 1024 });
    assert.equal(cfg.staleEventMaxAgeMs, 0);
    assert.match(cfg.registration.hs_token, /^[0-9a-f]{64}$/);
    assert.equal(cfg.registration.sender_localpart, "mimi-bridge");
    const ns = ghostNamespace(cfg);
    assert.ok(ns.test(matrixGhostFor("mimi://b.example/u/alice", { serverName: "hs.example" })));
    assert.ok(!ns.test("@alice:hs.example"));
    // Partial sub-objects keep their other defaults.
    const partial = resolveMatrixConfig({ ...base(file), listen: { port: 0 }, limits: { maxBodyBytes: 1000 }, admins: ["@admin:hs.example"] });
    assert.deepEqual(partial.listen, { host: "127.0.0.1", port: 0 });
    assert.equal(partial.limits.maxTransactionBytes, 5 * 1024 * 1024);
  });
});

test("MIMI-MATRIX-01: invalid sections are refused with every problem's path", async () => {
  await withRegistration((file) => {
    const refuses = (input: unknown, pattern: RegExp) =>
      assert.throws(
        () => resolveMatrixConfig(input as MatrixConfigInput),
        (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID") && pattern.test(err.message),
        pattern.source,
      );
    refuses({ ...base(file), homeserverUrl: "hs.example" }, /\/homeserverUrl/);
    refuses({ ...base(file), domain: "hs example" }, /\/domain/);
    refuses({ ...base(file), domain: "300.1.1.1" }, /\/domain/); // passes the pattern, not the IPv4 grammar
    refuses({ ...base(file), ghostPrefix: "Mimi" }, /\/ghostPrefix/);
    refuses({ ...base(file), botLocalpart: "_mimi_bot" }, /botLocalpart/);
    refuses({ ...base(file), admins: ["admin"] }, /\/admins/);
    refuses({ ...base(file), listen: { port: 70000 } }, /\/listen\/port/);
    refuses({ ...base(file), limits: { maxTransactionBytes: 10 } }, /maxTransactionBytes/);
    refuses({ ...base(file), staleEventMaxAgeMs: -1 }, /staleEventMaxAgeMs/);
    refuses({ ...base(file), asToken: "x" }, /\//);
    refuses({ homeserverUrl: "http://x", domain: "hs.example" }, /registrationFile/);
  });
});

test("MIMI-MATRIX-01: the committed template, a file others can read and a registration for other names are refused", async () => {
  assert.throws(() => resolveMatrixConfig(base(committed)), (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_PLACEHOLDER"));
  await withRegistration(async (file) => {
    const token = /hs_token: (\S+)/.exec(await readFile(file, "utf8"))?.[1] ?? "";
    await chmod(file, 0o644);
    assert.throws(() => resolveMatrixConfig(base(file)), (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_INSECURE") && !err.message.includes(token));
    await chmod(file, 0o600);
    const mismatch = (input: MatrixConfigInput, pattern: RegExp) =>
      assert.throws(() => resolveMatrixConfig(input), (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_MISMATCH") && pattern.test(err.message) && !err.message.includes(token));
    mismatch({ ...base(file), botLocalpart: "other-bot" }, /sender_localpart/);
    mismatch({ ...base(file), ghostPrefix: "_other_" }, /namespace/);
    mismatch({ ...base(file), domain: "other.example" }, /namespace/);
  });
  await withRegistration(
    (file) => {
      const cfg = resolveMatrixConfig({ ...base(file), domain: "localhost:8448", ghostPrefix: "mimi.", botLocalpart: "bridge" });
      assert.equal(cfg.domain, "localhost:8448");
    },
    { domain: "localhost:8448", ghostPrefix: "mimi.", botLocalpart: "bridge" },
  );
});

test("MIMI-MATRIX-01: adapters.matrix is a built-in adapter whose schema the configuration validates (no file access at validation)", () => {
  const entry = BUILT_IN_ADAPTERS.find((a) => a.id === "matrix");
  assert.ok(entry);
  const cfg = validateConfig({ adapters: { matrix: { homeserverUrl: "https://matrix.hs.example", domain: "hs.example", registrationFile: "/etc/mimi-bridge/registration.yaml" } } });
  const m = (cfg.adapters as Record<string, Record<string, unknown>>)["matrix"];
  assert.equal(m?.["ghostPrefix"], "_mimi_");
  assert.deepEqual(m?.["listen"], { host: "127.0.0.1", port: 29330 });
  assert.throws(
    () => validateConfig({ adapters: { matrix: { homeserverUrl: "https://matrix.hs.example", domain: "hs.example", registrationFile: "/r.yaml", hsToken: "x" } } }),
    (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID"),
  );
});

test("MIMI-MATRIX-01: the sample's commented-out adapters.matrix example validates when uncommented, and resolves with a generated registration", async () => {
  const text = await readFile(new URL("../../../config.sample.yaml", import.meta.url), "utf8");
  const uncommented = text.replace(/^adapters: \{\}\n((?:# {2}.*\n)+)/m, (_m, body: string) => `adapters:\n${body.replace(/^# {2}/gm, "  ")}`);
  assert.notEqual(uncommented, text);
  const matrix = (parseConfigText(uncommented).adapters as { matrix?: MatrixConfigInput }).matrix;
  assert.equal(matrix?.domain, "hs.example");
  assert.equal(matrix.registrationFile, "/etc/mimi-bridge/registration.yaml");
  await withRegistration((file) => {
    const resolved = resolveMatrixConfig({ ...matrix, registrationFile: file });
    assert.equal(resolved.listen.port, 29330);
    assert.deepEqual(resolved.admins, ["@admin:hs.example"]);
    assert.deepEqual(resolved.metrics?.listen, { host: "127.0.0.1", port: 9330 });
  });
});
