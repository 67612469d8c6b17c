// The TLS settings when the provider starts: files read and checked, every problem at once
// (src/transport/tlsMaterial.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Writable } from "node:stream";
import { validateConfig } from "../../../src/config/index.ts";
import { isMimiError } from "../../../src/errors.ts";
import { createLogger, REDACTED } from "../../../src/log.ts";
import { defaultRootCertificates, keyModeProblem, loadTransportSecurity } from "../../../src/transport/tlsMaterial.ts";
import { tempDir } from "../../helpers/processes.ts";
import { makeDevCertificates, makeProviderCertificate, type DevCertificates } from "../../helpers/tls.ts";

function tlsConfig(certs: DevCertificates, domain: string, extra: Record<string, unknown> = {}) {
  const p = certs.providers[domain];
  assert.ok(p);
  return validateConfig({
    provider: { domain },
    server: { tls: { cert: p.cert, key: p.key, ca: certs.ca.cert } },
    storage: { kind: "memory" },
    ...extra,
  });
}

async function problemsOf(promise: Promise<unknown>, code: string): Promise<{ path: string; message: string }[]> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isMimiError(err), String(err));
    assert.equal(err.code, code, err.message);
    return (err.details?.problems ?? []) as { path: string; message: string }[];
  }
  assert.fail("expected an error");
}

test("valid TLS settings load: our certificate and key, the CA for client certificates, the peer map", async () => {
  const tmp = await tempDir("tls-ok");
  try {
    const certs = await makeDevCertificates(tmp.path, ["a.example", "b.example"]);
    const cfg = tlsConfig(certs, "a.example", { peers: { "b.example": { url: "https://127.0.0.1:8481" }, "c.example": { url: "https://127.0.0.1:8482/base", ca: certs.ca.cert } } });
    const sec = await loadTransportSecurity(cfg);
    assert.ok(sec.server);
    assert.equal(sec.server.privateKey, await readFile(certs.providers["a.example"]?.key ?? "", "utf8"));
    assert.deepEqual(sec.server.clientCa, [certs.ca.pair.certPem]);
    assert.deepEqual(sec.defaultServerCa, [certs.ca.pair.certPem]);
    assert.deepEqual([...sec.peers.keys()], ["b.example", "c.example"]);
    assert.equal(sec.peers.get("c.example")?.url, "https://127.0.0.1:8482/base");

    // trustSystemRoots adds Node's default CAs, on each side separately.
    const roots = defaultRootCertificates().length;
    assert.ok(roots > 0);
    const both = await loadTransportSecurity(tlsConfig(certs, "a.example", { server: { tls: { cert: certs.providers["a.example"]?.cert, key: certs.providers["a.example"]?.key, ca: certs.ca.cert, trustSystemRoots: true } }, outbound: { trustSystemRoots: true } }));
    assert.equal(both.server?.clientCa.length, 1 + roots);
    assert.equal(both.defaultServerCa.length, 1 + roots);

    // Without server.tls: no server material, nothing read.
    const plain = await loadTransportSecurity(validateConfig({ storage: { kind: "memory" } }));
    assert.equal(plain.server, undefined);
    assert.equal(plain.peers.size, 0);
  } finally {
    await tmp.remove();
  }
});

test("MIMI-PROTO-TLS-05 key material never reaches a log line; paths may", async () => {
  const tmp = await tempDir("tls-log");
  try {
    const certs = await makeDevCertificates(tmp.path, ["a.example"]);
    const sec = await loadTransportSecurity(tlsConfig(certs, "a.example"));
    let out = "";
    const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => { out += chunk.toString(); cb(); } });
    const log = createLogger({ destination: sink });
    log.info({ tls: sec.server }, "material");
    log.info({ nested: { deeper: { server: sec.server } } }, "nested");
    log.flush();
    assert.doesNotMatch(out, /PRIVATE KEY/);
    assert.match(out, new RegExp(REDACTED.replace(/[[\]]/g, "\\$&")));
    assert.match(out, /a\.example\.key/); // the path is fine
  } finally {
    await tmp.remove();
  }
});

// MIMI-PROTO-TLS-05: a private key readable by group or others stops the start.
test("MIMI-PROTO-TLS-05 a key file readable by group or others is refused with MIMI_ERR_CONFIG_KEY_PERMISSIONS", async () => {
  assert.equal(keyModeProblem(0o100600), undefined);
  assert.equal(keyModeProblem(0o100400), undefined);
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o606, 0o610]) assert.match(keyModeProblem(mode) ?? "", /0600 or stricter/, mode.toString(8));

  const tmp = await tempDir("tls-perm");
  try {
    const certs = await makeDevCertificates(tmp.path, ["a.example"]);
    const key = certs.providers["a.example"]?.key ?? "";
    for (const mode of [0o644, 0o640]) {
      await chmod(key, mode);
      const problems = await problemsOf(loadTransportSecurity(tlsConfig(certs, "a.example")), "MIMI_ERR_CONFIG_KEY_PERMISSIONS");
      assert.deepEqual(problems.map((p) => p.path), ["server.tls.key"]);
      assert.match(problems[0]?.message ?? "", new RegExp(`mode 0${mode.toString(8)}`));
    }
    // Reported together with the other problems, and still under the permission code.
    const cfg = validateConfig({ provider: { domain: "a.example" }, server: { tls: { cert: join(tmp.path, "missing.crt"), key, ca: join(tmp.path, "missing-ca.crt") } } });
    const problems = await problemsOf(loadTransportSecurity(cfg), "MIMI_ERR_CONFIG_KEY_PERMISSIONS");
    assert.deepEqual(problems.map((p) => p.path), ["server.tls.ca", "server.tls.cert", "server.tls.key"]);
    await chmod(key, 0o400);
    await loadTransportSecurity(tlsConfig(certs, "a.example"));
  } finally {
    await tmp.remove();
  }
});

test("every file problem is reported at once: missing files, no PEM, unusable key (its content never quoted)", async () => {
  const tmp = await tempDir("tls-files");
  try {
    const junkKey = join(tmp.path, "junk.key");
    await writeFile(junkKey, "SECRET-LOOKING-CONTENT\n", { mode: 0o600 });
    const junkCert = join(tmp.path, "junk.crt");
    await writeFile(junkCert, "not a certificate\n");
    const cfg = validateConfig({
      provider: { domain: "a.example" },
      server: { tls: { cert: junkCert, key: junkKey, ca: join(tmp.path, "nope", "ca.crt") } },
      peers: { "b.example": { url: "https://127.0.0.1:1", ca: join(tmp.path, "nope.crt") } },
    });
    const problems = await problemsOf(loadTransportSecurity(cfg), "MIMI_ERR_CONFIG_INVALID");
    assert.deepEqual(problems.map((p) => p.path), ['peers["b.example"].ca', "server.tls.ca", "server.tls.cert", "server.tls.key"]);
    assert.match(problems.find((p) => p.path === "server.tls.key")?.message ?? "", /no usable PEM private key/);
    assert.match(problems.find((p) => p.path === "server.tls.cert")?.message ?? "", /no PEM certificate/);
    assert.match(problems.find((p) => p.path === "server.tls.ca")?.message ?? "", /ENOENT/);
    assert.doesNotMatch(JSON.stringify(problems), /SECRET-LOOKING-CONTENT/);
  } finally {
    await tmp.remove();
  }
});

test("MIMI-PROTO-TLS-02 our certificate must name provider.domain, match the key, be valid now and allow serverAuth and clientAuth", async () => {
  const tmp = await tempDir("tls-leaf");
  try {
    const certs = await makeDevCertificates(tmp.path, ["a.example", "b.example"]);
    const a = certs.providers["a.example"];
    const b = certs.providers["b.example"];
    assert.ok(a && b);
    // b's certificate configured for provider a.example.
    let problems = await problemsOf(loadTransportSecurity(tlsConfig(certs, "b.example", { provider: { domain: "a.example" } })), "MIMI_ERR_CONFIG_INVALID");
    assert.deepEqual(problems.map((p) => p.path), ["server.tls.cert"]);
    assert.match(problems[0]?.message ?? "", /does not name provider\.domain a\.example/);
    // a's certificate with b's key.
    const mixed = validateConfig({ provider: { domain: "a.example" }, server: { tls: { cert: a.cert, key: b.key, ca: certs.ca.cert } } });
    problems = await problemsOf(loadTransportSecurity(mixed), "MIMI_ERR_CONFIG_INVALID");
    assert.match(problems[0]?.message ?? "", /does not match server\.tls\.key/);
    // Expired (seen from two years ahead) and not yet valid (seen from the past).
    problems = await problemsOf(loadTransportSecurity(tlsConfig(certs, "a.example"), { now: new Date(Date.now() + 2 * 366 * 86_400_000) }), "MIMI_ERR_CONFIG_INVALID");
    assert.match(problems[0]?.message ?? "", /expired/);
    problems = await problemsOf(loadTransportSecurity(tlsConfig(certs, "a.example"), { now: new Date(Date.now() - 86_400_000) }), "MIMI_ERR_CONFIG_INVALID");
    assert.match(problems[0]?.message ?? "", /not valid before/);
    // A server-only certificate cannot be our client certificate.
    const serverOnly = await makeProviderCertificate(tmp.path, "server-only", certs.ca.pair, { domain: "a.example", usages: ["serverAuth"] });
    const cfg = validateConfig({ provider: { domain: "a.example" }, server: { tls: { cert: serverOnly.cert, key: serverOnly.key, ca: certs.ca.cert } } });
    problems = await problemsOf(loadTransportSecurity(cfg), "MIMI_ERR_CONFIG_INVALID");
    assert.match(problems[0]?.message ?? "", /serverAuth and clientAuth/);
  } finally {
    await tmp.remove();
  }
});

test("peers need server.tls (our client certificate); with server.tls the public URL is https", async () => {
  const cfg = validateConfig({ peers: { "b.example": { url: "https://127.0.0.1:8481" } } });
  let problems = await problemsOf(loadTransportSecurity(cfg), "MIMI_ERR_CONFIG_INVALID");
  assert.deepEqual(problems.map((p) => p.path), ["peers"]);
  const tmp = await tempDir("tls-url");
  try {
    const certs = await makeDevCertificates(tmp.path, ["a.example"]);
    const a = certs.providers["a.example"];
    assert.ok(a);
    const http = validateConfig({ provider: { domain: "a.example" }, server: { publicUrl: "http://mimi.a.example", tls: { cert: a.cert, key: a.key, ca: certs.ca.cert } } });
    problems = await problemsOf(loadTransportSecurity(http), "MIMI_ERR_CONFIG_INVALID");
    assert.deepEqual(problems.map((p) => p.path), ["server.publicUrl"]);
  } finally {
    await tmp.remove();
  }
});
