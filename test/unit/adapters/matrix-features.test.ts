// Unit checks of the Matrix adapter's issue 6 items 4, 6, 7 pieces that need no homeserver:
//   MIMI-MATRIX-29 inbound typing/receipts go through content.ts platformEventsFromEphemeral
//                  (EphemeralMapper keeps each room's typing set: sets become on/off changes);
//   MIMI-MATRIX-10 avatars: mxc ⇄ the homeserver's authenticated media URL, other URLs ignored;
//   MIMI-MATRIX-07 the `metrics` config section (off when absent, port clash refused) and the
//                  per-adapter Registry served on its own listener.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { register } from "prom-client";
import { resolveMatrixConfig } from "../../../adapters/matrix/config.ts";
import { EphemeralMapper, avatarToMatrix, avatarToMimi, inboundEvents } from "../../../adapters/matrix/mapping.ts";
import { MatrixMetrics, MetricsServer, codeLabel, typeLabel } from "../../../adapters/matrix/metrics.ts";
import { generateRegistration, writeRegistrationFile } from "../../../adapters/matrix/registration.ts";
import { platformRoomId } from "../../../src/adapter/index.ts";
import { isMimiError } from "../../../src/errors.ts";
import { createLogger } from "../../../src/log.ts";

const HS = "http://127.0.0.1:8008";
const room = platformRoomId("!r:hs.example");
const local = (u: string) => u.endsWith(":hs.example") && !u.startsWith("@_mimi_");

test("MIMI-MATRIX-29 m.typing sets become typing on/off events of local users only; receipts become receipt.read", () => {
  let now = 1_000;
  const m = new EphemeralMapper(local, () => now);
  const t1 = m.map({ type: "m.typing", room_id: "!r:hs.example", content: { user_ids: ["@alice:hs.example", "@_mimi_bob=40b.example:hs.example", "@x:other.example"] } }, room);
  assert.deepEqual(t1.problems, []);
  assert.deepEqual(
    t1.events.map((e) => (e.type === "typing" ? [e.sender, e.active] : e.type)),
    [["@alice:hs.example", true]],
  );
  // The same set again: nothing new; alice stops and carol starts: one off, one on.
  now += 1;
  assert.equal(m.map({ type: "m.typing", room_id: "!r:hs.example", content: { user_ids: ["@alice:hs.example"] } }, room).events.length, 0);
  now += 1;
  const t3 = m.map({ type: "m.typing", room_id: "!r:hs.example", content: { user_ids: ["@carol:hs.example"] } }, room);
  assert.deepEqual(
    t3.events.map((e) => (e.type === "typing" ? [e.sender, e.active] : e.type)),
    [
      ["@carol:hs.example", true],
      ["@alice:hs.example", false],
    ],
  );
  // Event IDs are unique (the core deduplicates on them).
  const ids = [...t1.events, ...t3.events].map((e) => e.platformEventId);
  assert.equal(new Set(ids).size, ids.length);
  // Another room keeps its own set.
  assert.equal(m.map({ type: "m.typing", room_id: "!s:hs.example", content: { user_ids: ["@carol:hs.example"] } }, platformRoomId("!s:hs.example")).events.length, 1);
  const r = m.map({ type: "m.receipt", room_id: "!r:hs.example", content: { $ev1: { "m.read": { "@alice:hs.example": { ts: 5 }, "@_mimi_bob=40b.example:hs.example": { ts: 6 } } } } }, room);
  assert.deepEqual(
    r.events.map((e) => (e.type === "receipt.read" ? [e.sender, e.target, e.timestamp] : e.type)),
    [["@alice:hs.example", "$ev1", 5]],
  );
  const bad = m.map({ type: "m.typing", room_id: "!r:hs.example", content: { user_ids: "alice" } }, room);
  assert.equal(bad.events.length, 0);
  assert.ok(bad.problems.length > 0);
  assert.match(m.map({ type: "m.presence", content: {} }, room).ignored ?? "", /not mapped/);
});

test("MIMI-MATRIX-10 avatars: mxc ⇄ authenticated media URL of this homeserver; other URLs are ignored with a reason", () => {
  const out = avatarToMimi("mxc://hs.example/AbC_123", HS);
  assert.deepEqual(out, { avatar: `${HS}/_matrix/client/v1/media/download/hs.example/AbC_123` });
  assert.deepEqual(avatarToMimi(undefined, HS), { avatar: "" }, "a removed avatar");
  assert.ok("ignored" in avatarToMimi("https://evil.example/a.png", HS));
  assert.ok("ignored" in avatarToMimi(42, HS));
  assert.deepEqual(avatarToMatrix(`${HS}/_matrix/client/v1/media/download/hs.example/AbC_123`, HS), { content: { url: "mxc://hs.example/AbC_123" } });
  assert.deepEqual(avatarToMatrix(`${HS}/_matrix/media/v3/download/hs.example/AbC_123`, HS), { content: { url: "mxc://hs.example/AbC_123" } }, "the legacy download path");
  assert.deepEqual(avatarToMatrix("", HS), { content: {} });
  const other = avatarToMatrix("https://cdn.example/cat.png", HS);
  assert.ok("ignored" in other && /not media of this homeserver/.test(other.ignored));
  assert.ok("ignored" in avatarToMatrix("http://127.0.0.1:8009/_matrix/client/v1/media/download/hs.example/x", HS), "another server's media");
  // The inbound mapping: m.room.avatar → room.metadata with `avatar`.
  const ctx = { homeserverUrl: HS, maxBodyBytes: 65536, mimiUserOf: () => undefined, matrixIdOf: () => undefined };
  const ev = { event_id: "$a", room_id: "!r:hs.example", sender: "@alice:hs.example", type: "m.room.avatar", state_key: "", content: { url: "mxc://hs.example/AbC_123" }, origin_server_ts: 1 };
  const r = inboundEvents(ev, room, ctx);
  assert.equal(r.events.length, 1);
  const e = r.events[0];
  assert.ok(e?.type === "room.metadata" && e.avatar === `${HS}/_matrix/client/v1/media/download/hs.example/AbC_123`);
  const ignored = inboundEvents({ ...ev, content: { url: "https://x.example/a.png" } }, room, ctx);
  assert.equal(ignored.events.length, 0);
  assert.match(ignored.ignored ?? "", /not an mxc URI/);
});

async function withRegistration<T>(fn: (file: string) => T | Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "matrix-metrics-"));
  try {
    const file = join(dir, "registration.yaml");
    await writeRegistrationFile(file, generateRegistration({ url: "http://127.0.0.1:29330", domain: "hs.example", ghostPrefix: "_mimi_", botLocalpart: "mimi-bridge" }));
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("MIMI-MATRIX-07 the metrics section: off when absent, host defaulted, same port as the transaction endpoint refused", async () => {
  await withRegistration((file) => {
    const base = { homeserverUrl: HS, domain: "hs.example", registrationFile: file };
    assert.equal(resolveMatrixConfig(base).metrics, undefined);
    assert.deepEqual(resolveMatrixConfig({ ...base, metrics: { listen: { port: 9100 } } }).metrics, { listen: { host: "127.0.0.1", port: 9100 } });
    assert.throws(
      () => resolveMatrixConfig({ ...base, listen: { port: 29330 }, metrics: { listen: { port: 29330 } } }),
      (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID") && /metrics\/listen\/port/.test(err.message),
    );
    assert.throws(
      () => resolveMatrixConfig({ ...base, metrics: { listen: { port: 70000 } } }),
      (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID"),
    );
    assert.throws(
      () => resolveMatrixConfig({ ...base, metrics: { listen: { port: 9100, extra: 1 } } } as never),
      (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID"),
    );
  });
});

test("MIMI-MATRIX-07 a per-adapter Registry on its own listener: /metrics, /health, bounded labels, never the global registry", async () => {
  const a = new MatrixMetrics();
  const b = new MatrixMetrics(); // two adapters in one process do not collide
  let depth = 3;
  a.attach({ queueDepth: () => depth });
  a.eventsIn.inc({ type: typeLabel("m.room.message") });
  a.eventsIn.inc({ type: typeLabel("com.example.custom") });
  a.error("M_FORBIDDEN");
  a.error("not a code");
  a.connected.set(1);
  b.eventsIn.inc({ type: "m.room.message" });
  assert.equal(codeLabel("MIMI_ERR_CONSENT_REQUIRED"), "MIMI_ERR_CONSENT_REQUIRED");
  assert.equal(codeLabel('x"}'), "other");
  assert.equal((await register.getSingleMetricAsString("mimi_matrix_events_in_total").catch(() => "")) === "", true, "nothing in the global registry");
  let ok = true;
  const server = new MetricsServer({ metrics: a, log: createLogger({ level: "silent" }), health: () => ({ ok, state: ok ? "connected" : "transient_disconnect" }) });
  const { url } = await server.start("127.0.0.1", 0);
  try {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await res.text();
    assert.match(text, /mimi_matrix_events_in_total\{type="m.room.message"\} 1/);
    assert.match(text, /mimi_matrix_events_in_total\{type="other"\} 1/);
    assert.match(text, /mimi_matrix_errors_total\{code="M_FORBIDDEN"\} 1/);
    assert.match(text, /mimi_matrix_errors_total\{code="other"\} 1/);
    assert.match(text, /mimi_matrix_inbound_queue_depth 3/);
    assert.match(text, /mimi_matrix_homeserver_connected 1/);
    depth = 0;
    assert.match(await (await fetch(`${url}/metrics`)).text(), /mimi_matrix_inbound_queue_depth 0/, "the gauge is read at scrape time");
    assert.equal((await fetch(`${url}/health`)).status, 200);
    ok = false;
    const h = await fetch(`${url}/health`);
    assert.equal(h.status, 503);
    assert.deepEqual(await h.json(), { status: "unavailable", state: "transient_disconnect" });
    assert.equal((await fetch(`${url}/nope`)).status, 404);
    assert.equal((await fetch(`${url}/metrics`, { method: "POST" })).status, 405);
  } finally {
    await server.stop();
  }
});
