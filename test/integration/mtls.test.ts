// Mutual TLS between providers over real sockets (draft-ietf-mimi-protocol-06 §Transport):
// certificates made by `mimi-bridge certs dev`, providers run as their own processes
// (`node bin/mimi-bridge.mjs serve --config …`), every process stopped by its PID in `finally`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { chmod, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadConfigFile } from "../../src/config/index.ts";
import { isMimiError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { startProvider, type Provider } from "../../src/provider.ts";
import { repoRoot, runProcess, startProcess, systemNode, tempDir, type Running } from "../helpers/processes.ts";
import { parseHttpAnswer, rawHttpsExchange, rawRequest, type RawHttpsResult } from "../helpers/tls.ts";

const launcher = join(repoRoot, "bin", "mimi-bridge.mjs");
const isStarted = (l: Record<string, unknown>) => l.msg === "mimi-bridge provider started";

interface Pem {
  cert: string;
  key: string;
}

/** `mimi-bridge certs dev` in its own process; returns the files it reports. */
async function certsDev(out: string, domains: string[]): Promise<{ ca: Pem; providers: Record<string, Pem> }> {
  const res = await runProcess(systemNode(), [launcher, "certs", "dev", "--out", out, "--domains", domains.join(",")]);
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(res.stdout.toString("utf8")) as { ca: Pem; providers: (Pem & { domain: string })[] };
  assert.doesNotMatch(res.stdout.toString("utf8") + res.stderr, /PRIVATE KEY/); // keys are written, never printed
  return { ca: report.ca, providers: Object.fromEntries(report.providers.map((p) => [p.domain, { cert: p.cert, key: p.key }])) };
}

async function writeConfig(path: string, domain: string, tls: { cert: string; key: string; ca: string } | undefined, peers: Record<string, { url: string }> = {}): Promise<string> {
  const config = {
    provider: { domain },
    server: { host: "127.0.0.1", port: 0, ...(tls ? { tls } : {}) },
    peers,
    clientApi: { enabled: false },
    storage: { kind: "memory" },
  };
  await writeFile(path, JSON.stringify(config, null, 2)); // JSON is YAML
  return path;
}

/** Starts `serve --config`; the process joins `running` at once, so `finally` stops it whatever happens next. */
async function serve(config: string, running: Running[]): Promise<{ proc: Running; url: string; port: number }> {
  const proc = startProcess(systemNode(), [launcher, "serve", "--config", config]);
  running.push(proc);
  const started = await proc.waitForLog(isStarted);
  const url = String(started.url);
  return { proc, url, port: Number(new URL(url).port) };
}

test("MIMI-PROTO-TLS-01 MIMI-PROTO-TLS-02 MIMI-PROTO-TLS-03 MIMI-PROTO-TLS-04 two providers as processes: mutual TLS, From, certificate names and Host over real sockets", async () => {
  const tmp = await tempDir("mtls");
  const running: Running[] = [];
  let inProcessA: Provider | undefined;
  try {
    // ---- certificates, made by the CLI ----------------------------------------------------
    const dev = await certsDev(join(tmp.path, "certs"), ["a.example", "b.example", "c.example"]);
    const rogue = await certsDev(join(tmp.path, "rogue"), ["b.example"]); // another CA, same name
    assert.equal((await stat(join(tmp.path, "certs"))).mode & 0o777, 0o700);
    for (const p of [dev.ca, ...Object.values(dev.providers)]) assert.equal((await stat(p.key)).mode & 0o777, 0o600, p.key);
    const a = dev.providers["a.example"];
    const b = dev.providers["b.example"];
    const c = dev.providers["c.example"];
    const rogueB = rogue.providers["b.example"];
    assert.ok(a && b && c && rogueB);
    const caPem = await readFile(dev.ca.cert, "utf8");
    const pem = async (p: Pem) => ({ cert: await readFile(p.cert, "utf8"), key: await readFile(p.key, "utf8") });

    // ---- B, then A (whose peer map points at B's loopback address) ------------------------
    const B = await serve(await writeConfig(join(tmp.path, "b.yaml"), "b.example", { cert: b.cert, key: b.key, ca: dev.ca.cert }), running);
    assert.match(B.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const aConfig = await writeConfig(join(tmp.path, "a.yaml"), "a.example", { cert: a.cert, key: a.key, ca: dev.ca.cert }, { "b.example": { url: B.url } });
    const A = await serve(aConfig, running);

    /** One exchange with provider A at 127.0.0.1, SNI a.example, verifying A's certificate against our CA. */
    const toA = async (client: { cert: string; key: string } | undefined, request: string, extra: object = {}): Promise<RawHttpsResult> =>
      rawHttpsExchange({ host: "127.0.0.1", port: A.port, servername: "a.example", ca: [caPem], ...(client ?? {}), ...extra }, request);
    const notify = (headers: Record<string, string | undefined>) =>
      rawRequest("POST", "/v1/notify/b.example/r/clubhouse", { host: "a.example", "content-type": "application/octet-stream", ...headers }, "\u0001\u0002");
    const answer = (r: RawHttpsResult) => {
      assert.ok(r.response !== undefined, `expected an HTTP answer, got ${r.error?.code ?? "nothing"}: ${r.error?.message ?? ""}`);
      const parsed = parseHttpAnswer(r.response);
      return { status: parsed.status, code: (JSON.parse(parsed.body || "{}") as { code?: string }).code, body: parsed.body };
    };
    const bPem = await pem(b);

    // MIMI-PROTO-TLS-01..04: a valid client certificate and a matching From reach the route: the
    // follower's /notify handler runs and refuses the two garbage bytes as a malformed
    // FanoutMessage (a 400 from the codec, not from peer authentication).
    const reachedRoute = (x: { status: number; code: string | undefined }) => x.status === 400 && /^MIMI_ERR_CODEC_/.test(x.code ?? "");
    let r = answer(await toA(bPem, notify({ from: "mimi@b.example" })));
    assert.ok(reachedRoute(r), `${r.status} ${r.code ?? ""}`);
    r = answer(await toA(bPem, notify({ from: "mimi@b.example", host: `a.example:${A.port}` }))); // the port is ignored
    assert.ok(reachedRoute(r), `${r.status} ${r.code ?? ""}`);

    // MIMI-PROTO-TLS-02: a client certificate for another domain than From.
    r = answer(await toA(await pem(c), notify({ from: "mimi@b.example" })));
    assert.deepEqual([r.status, r.code], [403, "MIMI_ERR_PEER_CERT_MISMATCH"]);

    // MIMI-PROTO-TLS-04: From missing or malformed.
    for (const from of [undefined, "b.example", "postmaster@b.example", "mimi@B.EXAMPLE", "mimi@127.0.0.1"]) {
      r = answer(await toA(bPem, notify({ from })));
      assert.deepEqual([r.status, r.code], [400, "MIMI_ERR_PEER_BAD_FROM"], String(from));
    }

    // MIMI-PROTO-TLS-03: Host must name the target provider.
    r = answer(await toA(bPem, notify({ from: "mimi@b.example", host: "b.example" })));
    assert.deepEqual([r.status, r.code], [421, "MIMI_ERR_PEER_WRONG_HOST"]);
    r = answer(await toA(bPem, notify({ from: "mimi@b.example", host: `127.0.0.1:${A.port}` })));
    assert.deepEqual([r.status, r.code], [421, "MIMI_ERR_PEER_WRONG_HOST"]);

    // MIMI-PROTO-TLS-01: no client certificate: the TLS handshake fails (TLS 1.3 "certificate
    // required" alert; with TLS 1.2 the handshake itself never completes). No HTTP answer.
    let t = await toA(undefined, rawRequest("GET", "/health", { host: "a.example" }));
    assert.equal(t.response, undefined);
    assert.equal(t.error?.code, "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
    t = await toA(undefined, rawRequest("GET", "/health", { host: "a.example" }), { maxVersion: "TLSv1.2" });
    assert.equal(t.handshake, false);
    assert.equal(t.response, undefined);
    assert.ok(t.error);

    // MIMI-PROTO-TLS-01: a certificate from another CA (even for the right name): no HTTP
    // answer; with TLS 1.2 the handshake does not complete.
    const roguePem = await pem(rogueB);
    t = await toA(roguePem, notify({ from: "mimi@b.example" }));
    assert.equal(t.response, undefined, "a certificate from another CA got an HTTP answer");
    t = await toA(roguePem, notify({ from: "mimi@b.example" }), { maxVersion: "TLSv1.2" });
    assert.equal(t.handshake, false);
    assert.equal(t.response, undefined);

    // The directory (and /health) answer any verified client, without From.
    const dirAnswer = answer(await toA(bPem, rawRequest("GET", "/.well-known/mimi-protocol-directory", { host: "a.example" })));
    assert.equal(dirAnswer.status, 200);
    const dir = JSON.parse(dirAnswer.body) as Record<string, string>;
    assert.equal(dir.notify, `${A.url}/v1/notify/{roomId}`);
    assert.equal(answer(await toA(bPem, rawRequest("GET", "/health", { host: "a.example" }))).status, 200);

    // ---- provider A's PeerClient -----------------------------------------------------------
    // A's configuration file is started once more in this process through the same composition
    // root (startProvider), to drive the PeerClient it builds directly.
    const aCfg = await loadConfigFile(aConfig);
    inProcessA = await startProvider(aCfg, createLogger({ level: "silent" }));
    assert.equal(inProcessA.tls, true);
    const peerDir = await inProcessA.peerClient.directory("b.example");
    assert.equal(peerDir.notify, `${B.url}/v1/notify/{roomId}`);
    const res = await inProcessA.peerClient.request("b.example", "notify", { roomId: "a.example/r/clubhouse" }, { body: new Uint8Array([1, 2, 3]) });
    // B's follower handled it: the room's hub (a.example) notified, the body is not a FanoutMessage.
    assert.equal(res.status, 400);
    assert.match((JSON.parse(new TextDecoder().decode(res.body)) as { code: string }).code, /^MIMI_ERR_CODEC_/);
    // A peer without an entry is looked for at https://<domain>, which does not resolve here.
    await assert.rejects(inProcessA.peerClient.directory("c.invalid"), (err: unknown) => isMimiError(err, "MIMI_ERR_PEER_UNREACHABLE"));

    // Both processes stop cleanly.
    for (const p of running.splice(0)) assert.deepEqual(await p.stop(), { code: 0, signal: null }, p.stderr());
  } finally {
    await inProcessA?.stop();
    for (const p of running) await p.stop();
    await tmp.remove();
  }
});

test("MIMI-PROTO-TLS-05 a provider whose key file is readable by others refuses to start, listing every TLS problem", async () => {
  const tmp = await tempDir("mtls-perm");
  try {
    const dev = await certsDev(join(tmp.path, "certs"), ["a.example"]);
    const a = dev.providers["a.example"];
    assert.ok(a);
    await chmod(a.key, 0o644);
    const config = await writeConfig(join(tmp.path, "a.yaml"), "a.example", { cert: a.cert, key: a.key, ca: join(tmp.path, "missing-ca.crt") });
    const proc = startProcess(systemNode(), [launcher, "serve", "--config", config]);
    try {
      const exit = await proc.exited;
      assert.equal(exit.code, 1);
      assert.match(proc.stderr(), /MIMI_ERR_CONFIG_KEY_PERMISSIONS/);
      assert.match(proc.stderr(), /server\.tls\.key: .*mode 0644/);
      assert.match(proc.stderr(), /server\.tls\.ca: cannot read/);
      assert.doesNotMatch(proc.stderr() + proc.stdout(), /PRIVATE KEY/);
    } finally {
      await proc.stop();
    }
  } finally {
    await tmp.remove();
  }
});

test("MIMI-PROTO-TLS-01 without server.tls the provider serves plain HTTP: directory and /health work, /v1/ answers 403 MIMI_ERR_PEER_UNAUTHENTICATED", async () => {
  const tmp = await tempDir("mtls-plain");
  const running: Running[] = [];
  try {
    const plain = await serve(await writeConfig(join(tmp.path, "p.yaml"), "a.example", undefined), running);
    assert.match(plain.url, /^http:\/\//);
    assert.equal((await fetch(`${plain.url}/.well-known/mimi-protocol-directory`)).status, 200);
    assert.equal((await fetch(`${plain.url}/health`)).status, 200);
    const res = await fetch(`${plain.url}/v1/notify/a.example/r/x`, { method: "POST", headers: { from: "mimi@b.example", "content-type": "application/octet-stream" }, body: new Uint8Array([1]) });
    assert.equal(res.status, 403);
    assert.equal(((await res.json()) as { code: string }).code, "MIMI_ERR_PEER_UNAUTHENTICATED");
  } finally {
    for (const p of running) await p.stop();
    await tmp.remove();
  }
});
