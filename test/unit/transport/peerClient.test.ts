// PeerClient against in-process HTTPS servers on loopback: mutual TLS, identity checked against
// the peer DOMAIN although the URL is an IP, directory caching, and typed failures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import { createServer as createTlsServer, type Server as TlsServer } from "node:tls";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import type { IncomingMessage } from "node:http";
import type { FastifyInstance } from "fastify";
import { isMimiError, type MimiErrorCode } from "../../../src/errors.ts";
import { silentLogger } from "../../../src/log.ts";
import { buildHttpServer } from "../../../src/transport/httpServer.ts";
import { PeerClient, classifyNetworkError, type PeerClientOptions } from "../../../src/transport/peerClient.ts";
import { tempDir } from "../../helpers/processes.ts";
import { makeDevCertificates, type DevCertificates } from "../../helpers/tls.ts";

interface World {
  certs: DevCertificates;
  rogue: DevCertificates;
  b: FastifyInstance;
  bUrl: string;
  seen: IncomingMessage[];
  cleanup: () => Promise<void>;
}

async function world(): Promise<World> {
  const tmp = await tempDir("peer-client");
  const certs = await makeDevCertificates(`${tmp.path}/dev`, ["a.example", "b.example", "c.example"]);
  const rogue = await makeDevCertificates(`${tmp.path}/rogue`, ["a.example", "b.example"]);
  const bPair = certs.providers["b.example"]?.pair;
  assert.ok(bPair);
  let bUrl = "";
  const b = await buildHttpServer({
    logger: silentLogger(),
    domain: "b.example",
    publicUrl: () => bUrl,
    bodyLimitBytes: 4096,
    version: "0.0.0-test",
    health: { check: () => Promise.resolve({ ok: true, details: {} }) },
    tls: { certPem: bPair.certPem, privateKey: bPair.privateKey, clientCa: [certs.ca.pair.certPem] },
  });
  await b.listen({ host: "127.0.0.1", port: 0 });
  bUrl = `https://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
  const seen: IncomingMessage[] = [];
  b.server.on("request", (req: IncomingMessage) => seen.push(req));
  return { certs, rogue, b, bUrl, seen, cleanup: async () => { await b.close(); await tmp.remove(); } };
}

function client(w: World, overrides: Partial<PeerClientOptions> = {}, as: DevCertificates = w.certs): PeerClient {
  const a = as.providers["a.example"]?.pair;
  assert.ok(a);
  return new PeerClient({
    domain: "a.example",
    logger: silentLogger(),
    tls: { certPem: a.certPem, privateKey: a.privateKey },
    peers: new Map([["b.example", { url: w.bUrl, serverCa: [w.certs.ca.pair.certPem] }]]),
    defaultServerCa: [w.certs.ca.pair.certPem],
    connectTimeoutMs: 5000,
    requestTimeoutMs: 5000,
    directoryTtlMs: 60_000,
    maxResponseBytes: 1 << 20,
    ...overrides,
  });
}

async function rejectsWith(promise: Promise<unknown>, code: MimiErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isMimiError(err), String(err));
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

async function listen(server: HttpsServer | TlsServer): Promise<string> {
  await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test("MIMI-PROTO-TLS-01 MIMI-PROTO-TLS-02 the PeerClient fetches a peer's directory over mutual TLS at an IP URL, verified against the DOMAIN", async () => {
  const w = await world();
  let now = 1_000_000;
  const peers = client(w, { now: () => now });
  try {
    const dir = await peers.directory("b.example");
    assert.equal(dir.notify, `${w.bUrl}/v1/notify/{roomId}`);
    // Cached: no second request within the TTL, a new one after it.
    await peers.directory("b.example");
    assert.equal(w.seen.length, 1);
    now += 60_001;
    await peers.directory("b.example");
    assert.equal(w.seen.length, 2);
    // MIMI-PROTO-TLS-03, MIMI-PROTO-TLS-04: Host names the target, From the source.
    const req = w.seen[0];
    assert.equal(req?.headers.host, "b.example");
    assert.equal(req?.headers.from, "mimi@a.example");
    assert.equal(req?.headers["content-type"], "application/octet-stream");
  } finally {
    await peers.close();
    await w.cleanup();
  }
});

test("MIMI-PROTO-TLS-03 MIMI-PROTO-TLS-04 the PeerClient reaches a protocol route of the peer (501 until issue 3) with its body", async () => {
  const w = await world();
  const peers = client(w);
  try {
    const res = await peers.request("b.example", "notify", { roomId: "a.example/r/club house" }, { body: new Uint8Array([1, 2, 3]) });
    assert.equal(res.status, 501);
    assert.ok(res.body instanceof Uint8Array);
    assert.equal((JSON.parse(new TextDecoder().decode(res.body)) as { code: string }).code, "MIMI_ERR_HTTP_NOT_IMPLEMENTED");
    assert.match(String(res.headers["content-type"]), /application\/json/);
    const notify = w.seen.at(-1);
    assert.equal(notify?.method, "POST");
    assert.equal(notify?.url, "/v1/notify/a.example/r/club%20house");
    assert.equal(notify?.headers["content-length"], "3");
    // Keep-alive: connections are reused (the pool may open a second one while the first is
    // still finishing its answer, no more).
    for (let i = 0; i < 5; i++) assert.equal((await peers.request("b.example", "notify", { roomId: "a.example/r/x" }, { body: new Uint8Array([1]) })).status, 501);
    assert.ok(new Set(w.seen.map((r) => r.socket)).size <= 2);
  } finally {
    await peers.close();
    await w.cleanup();
  }
});

test("MIMI-PROTO-TLS-01 MIMI-PROTO-TLS-02 the PeerClient's TLS failures are MIMI_ERR_PEER_TLS: wrong CA for the peer, a certificate for another domain, our certificate refused", async () => {
  const w = await world();
  try {
    // We do not trust the CA of b's certificate.
    const distrustful = client(w, { peers: new Map([["b.example", { url: w.bUrl, serverCa: [w.rogue.ca.pair.certPem] }]]) });
    await rejectsWith(distrustful.directory("b.example"), "MIMI_ERR_PEER_TLS");
    await distrustful.close();
    // The server at that address is b.example, but we asked for c.example: the name check fails.
    const confused = client(w, { peers: new Map([["c.example", { url: w.bUrl, serverCa: [w.certs.ca.pair.certPem] }]]) });
    await rejectsWith(confused.directory("c.example"), "MIMI_ERR_PEER_TLS", /c\.example/);
    await confused.close();
    // Our client certificate comes from a CA that b does not trust.
    const stranger = client(w, {}, w.rogue);
    await rejectsWith(stranger.directory("b.example"), "MIMI_ERR_PEER_TLS", /client certificate/);
    await stranger.close();
  } finally {
    await w.cleanup();
  }
});

test("the PeerClient: MIMI_ERR_PEER_UNREACHABLE for a closed port, MIMI_ERR_PEER_TIMEOUT for a silent peer", async () => {
  const w = await world();
  // A port that was free a moment ago and is closed now.
  const probe = createNetServer();
  await new Promise<void>((res) => probe.listen(0, "127.0.0.1", res));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((res) => probe.close(() => res()));
  // A TLS server with b's certificate that accepts our certificate and then never answers.
  const bPair = w.certs.providers["b.example"]?.pair;
  assert.ok(bPair);
  const silent = createTlsServer({ cert: bPair.certPem, key: bPair.privateKey, ca: [w.certs.ca.pair.certPem], requestCert: true, rejectUnauthorized: true }, () => {});
  const silentUrl = await listen(silent);
  const peers = client(w, {
    requestTimeoutMs: 300,
    peers: new Map([
      ["b.example", { url: `https://127.0.0.1:${closedPort}`, serverCa: [w.certs.ca.pair.certPem] }],
      ["c.example", { url: silentUrl, serverCa: [w.certs.ca.pair.certPem] }],
    ]),
  });
  try {
    await rejectsWith(peers.directory("b.example"), "MIMI_ERR_PEER_UNREACHABLE", /ECONNREFUSED/);
    // The silent server presents b's certificate, so ask for b there: use its URL under b's name.
    const silentB = client(w, { requestTimeoutMs: 300, peers: new Map([["b.example", { url: silentUrl, serverCa: [w.certs.ca.pair.certPem] }]]) });
    const started = Date.now();
    await rejectsWith(silentB.directory("b.example"), "MIMI_ERR_PEER_TIMEOUT");
    assert.ok(Date.now() - started < 5000);
    await silentB.close();
    // Failures are not cached: the next call asks again (and fails again).
    await rejectsWith(peers.directory("b.example"), "MIMI_ERR_PEER_UNREACHABLE");
  } finally {
    await peers.close();
    silent.close();
    await w.cleanup();
  }
});

test("the PeerClient refuses directories that are not JSON, not 200, or point outside the peer", async () => {
  const w = await world();
  const bPair = w.certs.providers["b.example"]?.pair;
  assert.ok(bPair);
  let answer: { status: number; body: string } = { status: 200, body: "{}" };
  const fake = createHttpsServer({ cert: bPair.certPem, key: bPair.privateKey, ca: [w.certs.ca.pair.certPem], requestCert: true, rejectUnauthorized: true }, (_req, res) => {
    res.writeHead(answer.status, { "content-type": "application/json" }).end(answer.body);
  });
  const url = await listen(fake);
  const peers = client(w, { directoryTtlMs: 0, peers: new Map([["b.example", { url, serverCa: [w.certs.ca.pair.certPem] }]]) });
  try {
    const cases: [typeof answer, RegExp][] = [
      [{ status: 404, body: "{}" }, /HTTP status 404/],
      [{ status: 200, body: "<html>" }, /not JSON/],
      [{ status: 200, body: "[]" }, /not a JSON object/],
      [{ status: 200, body: JSON.stringify({ notify: 7 }) }, /notify is not a string/],
      [{ status: 200, body: JSON.stringify({ notify: "/v1/notify/{roomId}" }) }, /not an absolute URL/],
      [{ status: 200, body: JSON.stringify({ notify: "http://b.example/v1/notify/{roomId}" }) }, /not an https URL/],
      [{ status: 200, body: JSON.stringify({ notify: "https://evil.example/v1/notify/{roomId}" }) }, /evil\.example/],
      [{ status: 200, body: JSON.stringify({ notify: "https://b.example.evil/v1/notify/{roomId}" }) }, /b\.example\.evil/],
    ];
    for (const [a, why] of cases) {
      answer = a;
      await rejectsWith(peers.directory("b.example"), "MIMI_ERR_PEER_BAD_DIRECTORY", why);
    }
    // Subdomains of the peer are fine; a missing endpoint is refused when used.
    answer = { status: 200, body: JSON.stringify({ notify: "https://mimi.b.example/v1/notify/{roomId}" }) };
    assert.equal(await peers.endpointUrl("b.example", "notify", { roomId: "a.example/r/x" }), "https://mimi.b.example/v1/notify/a.example/r/x");
    await rejectsWith(peers.endpointUrl("b.example", "update", { roomId: "a.example/r/x" }), "MIMI_ERR_PEER_BAD_DIRECTORY", /no update endpoint/);
  } finally {
    await peers.close();
    fake.close();
    await w.cleanup();
  }
});

test("MIMI-PROTO-TLS-01 without our certificate there are no outbound requests; peer names must be provider domains", async () => {
  const w = await world();
  const noTls = client(w, { tls: undefined });
  try {
    await rejectsWith(noTls.directory("b.example"), "MIMI_ERR_PEER_UNAUTHENTICATED");
    await rejectsWith(noTls.directory("127.0.0.1"), "MIMI_ERR_PEER_UNREACHABLE", /not a provider domain/);
    assert.equal(noTls.baseUrl("z.example"), "https://z.example");
    assert.equal(noTls.baseUrl("b.example"), w.bUrl);
    await noTls.close();
    await rejectsWith(noTls.directory("b.example"), "MIMI_ERR_PEER_UNREACHABLE", /closed/);
  } finally {
    await w.cleanup();
  }
});

test("network errors are classified by their code chain", () => {
  const tls = Object.assign(new Error("x"), { code: "UND_ERR_SOCKET", cause: Object.assign(new Error("y"), { code: "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED" }) });
  assert.equal(classifyNetworkError(tls, false), "MIMI_ERR_PEER_TLS");
  assert.equal(classifyNetworkError(Object.assign(new Error(), { code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }), false), "MIMI_ERR_PEER_TLS");
  assert.equal(classifyNetworkError(Object.assign(new Error(), { code: "ERR_TLS_CERT_ALTNAME_INVALID" }), false), "MIMI_ERR_PEER_TLS");
  assert.equal(classifyNetworkError(Object.assign(new Error(), { code: "UND_ERR_CONNECT_TIMEOUT" }), false), "MIMI_ERR_PEER_TIMEOUT");
  assert.equal(classifyNetworkError(Object.assign(new Error(), { name: "AbortError" }), true), "MIMI_ERR_PEER_TIMEOUT");
  assert.equal(classifyNetworkError(Object.assign(new Error(), { code: "ECONNREFUSED" }), false), "MIMI_ERR_PEER_UNREACHABLE");
  assert.equal(classifyNetworkError("weird", false), "MIMI_ERR_PEER_UNREACHABLE");
});
