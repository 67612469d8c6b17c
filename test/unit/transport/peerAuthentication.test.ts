// The peerAuthentication plugin on the /v1/ routes, without sockets: the client certificate is
// supplied by the test (fastify.inject). Real sockets: test/integration/mtls.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import Fastify from "fastify";
import { silentLogger } from "../../../src/log.ts";
import { MimiError } from "../../../src/errors.ts";
import { buildHttpServer } from "../../../src/transport/httpServer.ts";
import { peerAuthentication } from "../../../src/transport/peerAuthentication.ts";
import type { CertificateNames } from "../../../src/transport/peerIdentity.ts";
import { tempDir } from "../../helpers/processes.ts";
import { makeDevCertificates } from "../../helpers/tls.ts";

const certFor = (domain: string): CertificateNames => ({ subjectaltname: `DNS:${domain}, IP Address:127.0.0.1` });
/** The test's stand-in for the TLS socket: the certificate named by the x-test-cert header. */
const fromTestHeader = (req: { headers: Record<string, string | string[] | undefined> }) => {
  const h = req.headers["x-test-cert"];
  return typeof h === "string" ? certFor(h) : undefined;
};

async function tlsServer() {
  const tmp = await tempDir("peer-auth");
  const certs = await makeDevCertificates(tmp.path, ["a.example"]);
  const a = certs.providers["a.example"];
  assert.ok(a);
  const app = await buildHttpServer({
    logger: silentLogger(),
    domain: "a.example",
    publicUrl: () => "https://a.example",
    bodyLimitBytes: 4096,
    version: "0.0.0-test",
    health: { check: () => Promise.resolve({ ok: true, details: {} }) },
    tls: { certPem: a.pair.certPem, privateKey: a.pair.privateKey, clientCa: [certs.ca.pair.certPem] },
    peerCertificate: fromTestHeader,
  });
  return { app, cleanup: async () => { await app.close(); await tmp.remove(); } };
}

const post = (headers: Record<string, string>) => ({
  method: "POST" as const,
  url: "/v1/notify/a.example/r/clubhouse",
  headers: { host: "a.example", "content-type": "application/octet-stream", ...headers },
  payload: Buffer.from([1, 2, 3]),
});

function expectCode(res: { statusCode: number; json: <T>() => T }, status: number, code: string): void {
  assert.equal(res.statusCode, status);
  assert.equal(res.json<{ code: string }>().code, code);
}

// MIMI-PROTO-TLS-01: without TLS there is no peer authentication, so the protocol routes refuse.
test("MIMI-PROTO-TLS-01 without server.tls every /v1/ route answers 403 MIMI_ERR_PEER_UNAUTHENTICATED; directory and /health still answer", async () => {
  const app = await buildHttpServer({
    logger: silentLogger(),
    domain: "a.example",
    publicUrl: () => "http://127.0.0.1:8480",
    bodyLimitBytes: 4096,
    version: "0.0.0-test",
    health: { check: () => Promise.resolve({ ok: true, details: {} }) },
    requirePeerAuthentication: true,
    peerCertificate: fromTestHeader, // even a "certificate" does not help without TLS
  });
  try {
    expectCode(await app.inject(post({ from: "mimi@b.example", "x-test-cert": "b.example" })), 403, "MIMI_ERR_PEER_UNAUTHENTICATED");
    expectCode(await app.inject({ method: "GET", url: "/v1/proxyDownload/x" }), 403, "MIMI_ERR_PEER_UNAUTHENTICATED");
    assert.equal((await app.inject({ method: "GET", url: "/.well-known/mimi-protocol-directory" })).statusCode, 200);
    assert.equal((await app.inject({ method: "GET", url: "/health" })).statusCode, 200);
    expectCode(await app.inject({ method: "GET", url: "/v1/nope" }), 404, "MIMI_ERR_HTTP_NOT_FOUND");
  } finally {
    await app.close();
  }
});

test("MIMI-PROTO-TLS-01 with TLS, a request without a verified client certificate is 403 MIMI_ERR_PEER_UNAUTHENTICATED", async () => {
  const { app, cleanup } = await tlsServer();
  try {
    expectCode(await app.inject(post({ from: "mimi@b.example" })), 403, "MIMI_ERR_PEER_UNAUTHENTICATED");
  } finally {
    await cleanup();
  }
});

test("MIMI-PROTO-TLS-02 MIMI-PROTO-TLS-03 MIMI-PROTO-TLS-04 a matching certificate, From and Host reach the route", async () => {
  const { app, cleanup } = await tlsServer();
  try {
    expectCode(await app.inject(post({ from: "mimi@b.example", "x-test-cert": "b.example" })), 501, "MIMI_ERR_HTTP_NOT_IMPLEMENTED");
    expectCode(await app.inject(post({ from: "mimi@b.example", "x-test-cert": "b.example", host: "a.example:8443" })), 501, "MIMI_ERR_HTTP_NOT_IMPLEMENTED");
    // The directory and /health are outside the plugin.
    assert.equal((await app.inject({ method: "GET", url: "/.well-known/mimi-protocol-directory" })).statusCode, 200);
    assert.equal((await app.inject({ method: "GET", url: "/health" })).statusCode, 200);
  } finally {
    await cleanup();
  }
});

test("MIMI-PROTO-TLS-04 a missing or malformed From is 400 MIMI_ERR_PEER_BAD_FROM", async () => {
  const { app, cleanup } = await tlsServer();
  try {
    expectCode(await app.inject(post({ "x-test-cert": "b.example" })), 400, "MIMI_ERR_PEER_BAD_FROM");
    for (const from of ["b.example", "alice@b.example", "mimi@B.example", "mimi@", "mimi@127.0.0.1"]) {
      expectCode(await app.inject(post({ from, "x-test-cert": "b.example" })), 400, "MIMI_ERR_PEER_BAD_FROM");
    }
  } finally {
    await cleanup();
  }
});

test("MIMI-PROTO-TLS-02 a certificate for another domain than From is 403 MIMI_ERR_PEER_CERT_MISMATCH", async () => {
  const { app, cleanup } = await tlsServer();
  try {
    const res = await app.inject(post({ from: "mimi@c.example", "x-test-cert": "b.example" }));
    expectCode(res, 403, "MIMI_ERR_PEER_CERT_MISMATCH");
    assert.deepEqual(res.json<{ details: unknown }>().details, { from: "c.example", certificateNames: "DNS:b.example, IP Address:127.0.0.1" });
    // Our own domain cannot be claimed with someone else's certificate either.
    expectCode(await app.inject(post({ from: "mimi@a.example", "x-test-cert": "b.example" })), 403, "MIMI_ERR_PEER_CERT_MISMATCH");
  } finally {
    await cleanup();
  }
});

test("MIMI-PROTO-TLS-03 a Host that does not name this provider is 421 MIMI_ERR_PEER_WRONG_HOST", async () => {
  const { app, cleanup } = await tlsServer();
  try {
    for (const host of ["b.example", "127.0.0.1:8443", "x.a.example"]) {
      expectCode(await app.inject(post({ from: "mimi@b.example", "x-test-cert": "b.example", host })), 421, "MIMI_ERR_PEER_WRONG_HOST");
    }
  } finally {
    await cleanup();
  }
});

test("the plugin decorates the request with the authenticated peerDomain and guards only its own context", async () => {
  const app = Fastify();
  app.setErrorHandler((err, _req, reply) => (err instanceof MimiError ? reply.status(err.statusCode).send(err.toJSON()) : reply.status(500).send()));
  await app.register(async (v1) => {
    await v1.register(peerAuthentication, { domain: "a.example", tls: true, peerCertificate: fromTestHeader });
    v1.get("/v1/whoami", (req) => ({ peer: req.peerDomain }));
  });
  app.get("/open", () => ({ open: true }));
  try {
    const ok = await app.inject({ method: "GET", url: "/v1/whoami", headers: { host: "a.example", from: "mimi@b.example", "x-test-cert": "b.example" } });
    assert.deepEqual(ok.json(), { peer: "b.example" });
    assert.equal((await app.inject({ method: "GET", url: "/v1/whoami", headers: { host: "a.example" } })).statusCode, 403);
    assert.equal((await app.inject({ method: "GET", url: "/open" })).statusCode, 200);
  } finally {
    await app.close();
  }
});
