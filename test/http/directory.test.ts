import { test } from "node:test";
import assert from "node:assert/strict";
import { buildHttpServer } from "../../src/transport/httpServer.ts";
import { mimiEndpoints, buildDirectory, expandTemplate } from "../../src/protocol/directory.ts";
import { silentLogger } from "../../src/log.ts";

async function server(opts: { healthy?: boolean; publicUrl?: string; bodyLimitBytes?: number; guard?: boolean } = {}) {
  return buildHttpServer({
    requirePeerAuthentication: opts.guard ?? false,
    logger: silentLogger(),
    domain: "a.example",
    publicUrl: () => opts.publicUrl ?? "https://mimi.a.example",
    bodyLimitBytes: opts.bodyLimitBytes ?? 4096,
    version: "0.0.0-test",
    health: { check: () => Promise.resolve({ ok: opts.healthy ?? true, details: { storage: { kind: "memory" } } }) },
  });
}

// MIMI-PROTO-DIR-01: draft-ietf-mimi-protocol-06 §Directory: GET /.well-known/mimi-protocol-directory
// returns a JSON document with the URL of every endpoint.
test("MIMI-PROTO-DIR-01 the directory lists every protocol-06 endpoint as an absolute URL", async () => {
  const app = await server();
  const res = await app.inject({ method: "GET", url: "/.well-known/mimi-protocol-directory" });
  assert.equal(res.statusCode, 200);
  assert.match(res.headers["content-type"] ?? "", /^application\/json/);
  const dir = res.json<Record<string, string>>();
  const expected = ["keyMaterial", "update", "notify", "submitMessage", "groupInfo", "requestConsent", "updateConsent", "identifierQuery", "reportAbuse", "proxyDownload"];
  assert.deepEqual(Object.keys(dir).sort(), [...expected].sort());
  for (const [name, url] of Object.entries(dir)) {
    const parsed = new URL(url); // throws if not absolute
    assert.equal(parsed.origin, "https://mimi.a.example", name);
    assert.ok(parsed.pathname.startsWith("/v1/"), `${name}: ${url}`);
  }
  // The draft's example misses the slash after "update" (digest §2.14 item 1); ours must not.
  assert.equal(dir.update, "https://mimi.a.example/v1/update/{roomId}");
  await app.close();
});

test("directory URLs keep a path prefix of the public URL", () => {
  const dir = buildDirectory("https://example.net/mimi/");
  assert.equal(dir.notify, "https://example.net/mimi/v1/notify/{roomId}");
  assert.equal(dir.keyMaterial, "https://example.net/mimi/v1/keyMaterial/{targetUser}");
});

test("templates expand with each path segment percent-encoded", () => {
  assert.equal(expandTemplate(mimiEndpoints.notify.template, { roomId: "a.example/r/club house" }), "/v1/notify/a.example/r/club%20house");
  assert.throws(() => expandTemplate(mimiEndpoints.notify.template, {}), { code: "MIMI_ERR_INTERNAL" });
});

test("health answers 200 when healthy and 503 when not", async () => {
  const up = await server();
  const ok = await up.inject({ method: "GET", url: "/health" });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(ok.json(), { status: "ok", provider: "a.example", version: "0.0.0-test", storage: { kind: "memory" } });
  await up.close();
  const down = await server({ healthy: false });
  const bad = await down.inject({ method: "GET", url: "/health" });
  assert.equal(bad.statusCode, 503);
  assert.equal(bad.json<{ status: string }>().status, "unavailable");
  await down.close();
});

test("MIMI-PROTO-TLS-01 without TLS the protocol endpoints refuse every peer with 403", async () => {
  const app = await server({ guard: true });
  const res = await app.inject({ method: "POST", url: "/v1/notify/a.example/r/x", headers: { "content-type": "application/octet-stream", from: "mimi@b.example" }, payload: Buffer.alloc(10) });
  assert.equal(res.statusCode, 403);
  assert.equal(res.json<{ code: string }>().code, "MIMI_ERR_PEER_UNAUTHENTICATED");
  // The directory and health stay reachable.
  assert.equal((await app.inject({ method: "GET", url: "/.well-known/mimi-protocol-directory" })).statusCode, 200);
  await app.close();
});

test("errors have a stable code: unknown path, not-yet-implemented endpoint, oversized body, wrong media type", async () => {
  const app = await server({ bodyLimitBytes: 1024 });
  const missing = await app.inject({ method: "GET", url: "/nope" });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json<{ code: string }>().code, "MIMI_ERR_HTTP_NOT_FOUND");

  const notYet = await app.inject({ method: "POST", url: "/v1/notify/a.example/r/x", headers: { "content-type": "application/octet-stream" }, payload: Buffer.alloc(10) });
  assert.equal(notYet.statusCode, 501);
  assert.equal(notYet.json<{ code: string }>().code, "MIMI_ERR_HTTP_NOT_IMPLEMENTED");

  const big = await app.inject({ method: "POST", url: "/v1/notify/a.example/r/x", headers: { "content-type": "application/octet-stream" }, payload: Buffer.alloc(2048) });
  assert.equal(big.statusCode, 413);
  assert.equal(big.json<{ code: string }>().code, "MIMI_ERR_HTTP_BODY_TOO_LARGE");

  const wrongType = await app.inject({ method: "POST", url: "/v1/notify/a.example/r/x", headers: { "content-type": "text/plain" }, payload: "hi" });
  assert.equal(wrongType.statusCode, 415);
  assert.equal(wrongType.json<{ code: string }>().code, "MIMI_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE");
  await app.close();
});
