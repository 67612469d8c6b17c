import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { isMimiError } from "../../../src/errors.ts";
import { defaultConfig, loadConfigFile, parseConfigText, validateConfig } from "../../../src/config/index.ts";

const samplePath = new URL("../../../config.sample.yaml", import.meta.url);

function problems(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    assert.ok(isMimiError(err), `expected MimiError, got ${String(err)}`);
    return (err.details?.problems ?? []) as { path: string; message: string }[];
  }
  assert.fail("expected a configuration error");
}

test("the sample config validates and states every default", async () => {
  const sample = await loadConfigFile(samplePath.pathname);
  // The sample documents the defaults: loading it must give exactly the default configuration,
  // so the file cannot silently drift from the schema.
  assert.deepEqual(sample, defaultConfig());
  assert.match(await readFile(samplePath, "utf8"), /messageIdFormula/);
});

test("defaults fill every section and the result is frozen", () => {
  const cfg = validateConfig({ provider: { domain: "a.example" } });
  assert.equal(cfg.provider.domain, "a.example");
  assert.equal(cfg.server.port, 8480);
  assert.equal(cfg.storage.kind, "level");
  assert.equal(cfg.storage.dataDir, "./data");
  assert.ok(Object.isFrozen(cfg) && Object.isFrozen(cfg.server));
  assert.throws(() => {
    (cfg.server as { port: number }).port = 1;
  }, TypeError);
});

test("all problems are reported at once, with dotted paths", () => {
  const found = problems(() =>
    parseConfigText(
      ["server:", "  port: abc", "  prot: 1", "storage:", "  kind: redis", "provider:", "  domain: 'Not A Domain'", "logging: {level: loud}", "extra: 1"].join("\n"),
    ),
  );
  assert.deepEqual(
    found.map((p) => p.path),
    ["extra", "logging.level", "provider.domain", "server.port", "server.prot", "storage.kind"],
  );
  const byPath = Object.fromEntries(found.map((p) => [p.path, p.message]));
  assert.equal(byPath["server.port"], "must be integer");
  assert.equal(byPath["server.prot"], "unknown setting");
  assert.equal(byPath["extra"], "unknown setting");
  assert.equal(byPath["storage.kind"], 'must be one of "level", "memory"');
  assert.match(byPath["provider.domain"] ?? "", /DNS name/);
});

test("range limits are enforced", () => {
  const found = problems(() => validateConfig({ server: { port: 70000, bodyLimitBytes: 10 } }));
  assert.deepEqual(found.map((p) => p.path), ["server.bodyLimitBytes", "server.port"]);
  assert.match(found[1]?.message ?? "", /<= 65535/);
});

test("YAML syntax errors and duplicate keys are MIMI_ERR_CONFIG_PARSE with a line number", () => {
  for (const text of ["server: [\n", "server:\n  port: 1\n  port: 2\n"]) {
    assert.throws(() => parseConfigText(text), (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_PARSE") && /line \d+/.test(err.message));
  }
});

test("a missing file is MIMI_ERR_CONFIG_NOT_FOUND; a non-mapping top level is invalid", async () => {
  await assert.rejects(loadConfigFile("/nonexistent/mimi.yaml"), (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_NOT_FOUND"));
  assert.throws(() => parseConfigText("- 1\n- 2\n"), (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID"));
});

test("validation does not modify its input", () => {
  const input = { server: { port: 1234 } };
  validateConfig(input);
  assert.deepEqual(input, { server: { port: 1234 } });
});

test("transport settings: server.tls, peers and outbound, with every problem at once", () => {
  const cfg = validateConfig({
    provider: { domain: "a.example" },
    server: { tls: { cert: "certs/a.example.crt", key: "certs/a.example.key", ca: "certs/ca.crt" } },
    peers: { "b.example": { url: "https://127.0.0.1:8481" }, "c.example": { url: "https://mimi.c.example/base", ca: "certs/c-ca.crt" } },
  });
  assert.equal(cfg.server.tls?.trustSystemRoots, false);
  assert.equal(cfg.peers["b.example"]?.url, "https://127.0.0.1:8481");
  assert.deepEqual(cfg.outbound, { connectTimeoutMs: 10000, requestTimeoutMs: 30000, directoryTtlMs: 300000, maxResponseBytes: 16777216, trustSystemRoots: false });
  // Without them: no TLS, no peers.
  assert.equal(defaultConfig().server.tls, undefined);
  assert.deepEqual(defaultConfig().peers, {});

  const found = problems(() =>
    validateConfig({
      server: { tls: { cert: "", key: "k", extra: 1 } },
      peers: { "B@d": { url: "https://x" }, "b.example": { url: "http://127.0.0.1:8481" }, "c.example": { ca: "x" } },
      outbound: { requestTimeoutMs: 5, trustSystemRoots: "yes" },
    }),
  );
  const byPath = Object.fromEntries(found.map((p) => [p.path, p.message]));
  assert.deepEqual(Object.keys(byPath).sort(), [
    "outbound.requestTimeoutMs",
    "outbound.trustSystemRoots",
    "peers",
    'peers["b.example"].url',
    'peers["c.example"].url',
    "server.tls.ca",
    "server.tls.cert",
    "server.tls.extra",
  ]);
  assert.match(byPath["peers"] ?? "", /keyed by lowercase DNS names/);
  assert.match(byPath['peers["b.example"].url'] ?? "", /https URL/);
  assert.equal(byPath["server.tls.ca"], "is required");
});

test("the sample's commented-out transport example validates when uncommented", async () => {
  const text = await readFile(samplePath, "utf8");
  const uncommented = text
    .replace(/^ {2}# tls:\n((?: {2}# {3}.*\n)+)/m, (_m, body: string) => `  tls:\n${body.replace(/^ {2}# {3}/gm, "    ")}`)
    .replace(/^peers: \{\}\n((?:# {2}.*\n)+)/m, (_m, body: string) => `peers:\n${body.replace(/^# {2}/gm, "  ")}`);
  assert.notEqual(uncommented, text);
  const cfg = parseConfigText(uncommented);
  assert.equal(cfg.server.tls?.cert, "certs/a.example.crt");
  assert.equal(cfg.peers["b.example"]?.url, "https://127.0.0.1:8481");
});
