// `mimi-bridge certs`, run in-process: a test CA and provider certificates usable as TLS server
// and client certificates, keys written 0600 in 0700 folders and never printed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import type { CliIo } from "../../../src/cli/io.ts";
import { run } from "../../../src/cli/main.ts";
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH } from "../../../src/transport/tlsMaterial.ts";
import { certificateNamesDomain } from "../../../src/transport/peerIdentity.ts";
import { tempDir } from "../../helpers/processes.ts";

async function cli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const sink = (push: (s: string) => void) => new Writable({ write: (chunk: Buffer | string, _enc, cb) => { push(chunk.toString()); cb(); } });
  const io: CliIo = { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), stdin: Readable.from([]), env: {}, cwd };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

const mode = async (p: string) => (await stat(p)).mode & 0o777;

test("MIMI-PROTO-TLS-05 certs dev: a CA and one certificate per domain, server AND client, keys 0600 in a 0700 folder, nothing secret printed", async () => {
  const tmp = await tempDir("certs-dev");
  try {
    const res = await cli(["certs", "dev", "--out", "pki", "--domains", "a.example,b.example", "--ip", "127.0.0.1"], tmp.path);
    assert.equal(res.code, 0, res.stderr);
    assert.doesNotMatch(res.stdout + res.stderr, /PRIVATE KEY|BEGIN/);
    const report = JSON.parse(res.stdout) as { ca: { cert: string; key: string }; providers: { domain: string; cert: string; key: string }[] };
    const dir = join(tmp.path, "pki");
    assert.equal(await mode(dir), 0o700);
    assert.deepEqual(report.ca, { cert: join(dir, "ca.crt"), key: join(dir, "ca.key") });
    assert.deepEqual(report.providers.map((p) => p.domain), ["a.example", "b.example"]);

    const ca = new X509Certificate(await readFile(report.ca.cert));
    assert.equal(ca.ca, true);
    assert.equal(await mode(report.ca.key), 0o600);
    for (const p of report.providers) {
      assert.equal(await mode(p.key), 0o600);
      assert.equal(await mode(p.cert), 0o644);
      const cert = new X509Certificate(await readFile(p.cert));
      assert.equal(cert.ca, false);
      assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), "signed by the CA");
      assert.equal(cert.subjectAltName, `DNS:${p.domain}, IP Address:127.0.0.1`);
      assert.deepEqual([...cert.keyUsage].sort(), [EKU_SERVER_AUTH, EKU_CLIENT_AUTH].sort());
      assert.equal(certificateNamesDomain(p.domain, { subjectaltname: cert.subjectAltName }), undefined);
      const key = createPrivateKey(await readFile(p.key));
      assert.equal(key.asymmetricKeyType, "ec");
      assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
      assert.ok(cert.checkPrivateKey(key));
    }

    // Existing files are not replaced without --force.
    const again = await cli(["certs", "dev", "--out", "pki", "--domains", "a.example"], tmp.path);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /MIMI_ERR_CLI_USAGE: .*already exists; use --force/);
    assert.equal((await cli(["certs", "dev", "--out", "pki", "--domains", "a.example", "--force"], tmp.path)).code, 0);
  } finally {
    await tmp.remove();
  }
});

test("certs ca + certs provider: a provider certificate from an existing CA", async () => {
  const tmp = await tempDir("certs-ca");
  try {
    assert.equal((await cli(["certs", "ca", "--out", "ca", "--name", "Example, Inc. test CA", "--days", "30"], tmp.path)).code, 0);
    const res = await cli(["certs", "provider", "--ca", "ca", "--domain", "c.example", "--ip", "127.0.0.1,::1", "--out", "c", "--days", "7"], tmp.path);
    assert.equal(res.code, 0, res.stderr);
    const cert = new X509Certificate(await readFile(join(tmp.path, "c", "c.example.crt")));
    const ca = new X509Certificate(await readFile(join(tmp.path, "ca", "ca.crt")));
    assert.match(ca.subject, /^O=mimi-bridge \(tests and private deployments\)\nCN=Example\\, Inc\. test CA$/); // the comma escaped (RFC 4514)
    assert.ok(cert.checkIssued(ca));
    assert.equal(cert.subjectAltName, "DNS:c.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1");
    const days = (cert.validToDate.getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 6.9 && days <= 7, String(days));
    assert.equal(await mode(join(tmp.path, "c")), 0o700);
  } finally {
    await tmp.remove();
  }
});

test("certs: bad input is refused (exit 1 with a code, or 2 for missing options); --help says tests and private deployments", async () => {
  const tmp = await tempDir("certs-bad");
  try {
    let res = await cli(["certs", "dev", "--out", "x", "--domains", "Not A Domain"], tmp.path);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /MIMI_ERR_CLI_USAGE: .*not a provider domain/);
    res = await cli(["certs", "dev", "--out", "x", "--domains", "127.0.0.1"], tmp.path);
    assert.equal(res.code, 1);
    res = await cli(["certs", "dev", "--out", "x", "--domains", "a.example", "--ip", "a.example"], tmp.path);
    assert.match(res.stderr, /not an IP address/);
    res = await cli(["certs", "dev", "--out", "x", "--domains", "a.example", "--days", "0"], tmp.path);
    assert.match(res.stderr, /--days/);
    res = await cli(["certs", "provider", "--ca", "nowhere", "--domain", "a.example", "--out", "x"], tmp.path);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /MIMI_ERR_FILE_NOT_FOUND/);
    assert.equal((await cli(["certs", "provider", "--domain", "a.example"], tmp.path)).code, 2);
    for (const sub of [[], ["ca"], ["provider"], ["dev"]]) {
      const help = await cli(["certs", ...sub, "--help"], tmp.path);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /TESTS and PRIVATE DEPLOYMENTS/);
    }
  } finally {
    await tmp.remove();
  }
});
