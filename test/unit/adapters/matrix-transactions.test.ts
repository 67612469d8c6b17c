// MIMI-MATRIX-02: the transaction endpoint (Matrix Application Service API, "Pushing events",
// "Authorization", "Querying", "Pinging"): a transaction is stored, deduplicated by txnId and by
// event_id, before its 200; the workers hand each event to the sink once, in order within its
// room, across replays and restarts; wrong tokens, malformed and huge bodies change nothing.
// MIMI-MATRIX-55: rooms are handed over concurrently (bounded), a slow or failing room holds up
// only itself, crash recovery keeps each room's order, handled entries are deleted in group commits.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  MAX_ACTIVE_LANES,
  TransactionServer,
  type MatrixEphemeral,
  type MatrixEvent,
  type TransactionServerOptions,
  type TransactionSink,
} from "../../../adapters/matrix/appservice.ts";
import { adapterId, type AdapterStore, type AdapterStoreOp } from "../../../src/adapter/index.ts";
import { adapterStore } from "../../../src/bridge/portals.ts";
import { MimiError } from "../../../src/errors.ts";
import { createLogger } from "../../../src/log.ts";
import { openStore } from "../../../src/storage/index.ts";
import { until } from "../../helpers/acceptance.ts";
import { MemoryStore } from "../../adapters/xmpp/fakeCore.ts";

const HS_TOKEN = "f".repeat(24) + "0123456789abcdef0123456789abcdef0123456789";
const NS = /^@_mimi_[a-z0-9._=\-/+]+:hs\.example$/;

/** Counts writes, so "nothing stored" can be checked. */
class CountingStore extends MemoryStore {
  writes = 0;
  failNextBatch = false;
  override put<T>(key: string, value: T): Promise<void> {
    this.writes++;
    return super.put(key, value);
  }
  override del(key: string): Promise<void> {
    this.writes++;
    return super.del(key);
  }
  override batch(ops: readonly AdapterStoreOp[]): Promise<void> {
    this.writes++;
    if (this.failNextBatch) {
      this.failNextBatch = false;
      return Promise.reject(new Error("disk full"));
    }
    return super.batch(ops);
  }
  keys(prefix: string): string[] {
    return [...this.data.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** A store without the optional batch (the fallback path). */
function storeWithoutBatch(inner: MemoryStore): AdapterStore {
  return { get: (k) => inner.get(k), put: (k, v) => inner.put(k, v), del: (k) => inner.del(k), list: (p) => inner.list(p) };
}

class Recorder implements TransactionSink {
  readonly events: MatrixEvent[] = [];
  readonly ephemeral: MatrixEphemeral[] = [];
  readonly order: string[] = [];
  readonly users: string[] = [];
  fail: (e: MatrixEvent) => boolean = () => false;
  gate: Promise<void> | undefined;
  knownUsers = new Set<string>();
  async onEvent(event: MatrixEvent): Promise<void> {
    if (this.gate) await this.gate;
    if (this.fail(event)) throw new Error(`sink refuses ${event.event_id}`);
    this.events.push(event);
    this.order.push(event.event_id);
  }
  onEphemeral(event: MatrixEphemeral): Promise<void> {
    this.ephemeral.push(event);
    this.order.push(`edu:${event.type}:${JSON.stringify(event.content["n"] ?? "")}`);
    return Promise.resolve();
  }
  onUserQuery(userId: string): Promise<boolean> {
    this.users.push(userId);
    return Promise.resolve(this.knownUsers.has(userId));
  }
  ids(): string[] {
    return this.events.map((e) => e.event_id);
  }
}

function logCapture(): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ level: "debug", destination: { write: (s: string) => void lines.push(s) } }) };
}

interface Running {
  srv: TransactionServer;
  url: string;
  lines: string[];
  put(txnId: string, body: unknown, o?: { token?: string | null; query?: string; raw?: string | Buffer; path?: string }): Promise<{ status: number; json: Record<string, unknown> }>;
  req(method: string, path: string, o?: { token?: string | null; body?: string }): Promise<{ status: number; json: Record<string, unknown> }>;
  stop(): Promise<void>;
}

async function start(store: AdapterStore, sink: TransactionSink, o: Partial<TransactionServerOptions> = {}): Promise<Running> {
  const { lines, log } = logCapture();
  const srv = new TransactionServer({
    hsToken: HS_TOKEN,
    host: "127.0.0.1",
    port: 0,
    store,
    log,
    sink,
    maxTransactionBytes: 64 * 1024,
    userNamespace: NS,
    retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 5 },
    ...o,
  });
  const { url } = await srv.start();
  const req: Running["req"] = async (method, path, ro = {}) => {
    const headers: Record<string, string> = {};
    if (ro.token !== null) headers["authorization"] = `Bearer ${ro.token ?? HS_TOKEN}`;
    if (ro.body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${url}${path}`, { method, headers, ...(ro.body === undefined ? {} : { body: ro.body }) });
    const text = await res.text();
    return { status: res.status, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
  };
  const put: Running["put"] = async (txnId, body, po = {}) => {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (po.token !== null) headers["authorization"] = `Bearer ${po.token ?? HS_TOKEN}`;
    if (po.query !== undefined) delete headers["authorization"];
    const path = `${po.path ?? "/_matrix/app/v1/transactions/"}${encodeURIComponent(txnId)}${po.query ?? ""}`;
    const res = await fetch(`${url}${path}`, { method: "PUT", headers, body: po.raw ?? JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
  };
  return { srv, url, lines, put, req, stop: () => srv.stop() };
}

let counter = 0;
function ev(n: number | string, extra: Partial<MatrixEvent> = {}): MatrixEvent {
  counter++;
  return {
    event_id: `$e${n}`,
    room_id: "!room:hs.example",
    sender: "@alice:hs.example",
    type: "m.room.message",
    content: { msgtype: "m.text", body: `message ${n}` },
    origin_server_ts: Date.now(),
    unsigned: { age: counter },
    ...extra,
  };
}

test("MIMI-MATRIX-02: a wrong hs_token gets 403 M_FORBIDDEN, a missing one 401 M_UNAUTHORIZED; nothing is stored and no token is logged", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  const r = await start(store, sink);
  try {
    const body = { events: [ev(1)] };
    const wrong = await r.put("t1", body, { token: "wrong-token-0123456789abcdef0123456789" });
    assert.equal(wrong.status, 403);
    assert.equal(wrong.json["errcode"], "M_FORBIDDEN");
    const missing = await r.put("t1", body, { token: null });
    assert.equal(missing.status, 401);
    assert.equal(missing.json["errcode"], "M_UNAUTHORIZED");
    const wrongQuery = await r.put("t1", body, { query: "?access_token=nope-nope-nope" });
    assert.equal(wrongQuery.status, 403);
    const badHeader = await r.put("t1", body, { token: "" });
    assert.equal(badHeader.status, 403);
    assert.equal(store.writes, 0, "nothing stored");
    // The same for the other endpoints.
    assert.equal((await r.req("GET", "/_matrix/app/v1/users/@_mimi_a:hs.example", { token: "x" })).status, 403);
    assert.equal((await r.req("GET", "/_matrix/app/v1/rooms/%23a:hs.example", { token: null })).status, 401);
    assert.equal((await r.req("POST", "/_matrix/app/v1/ping", { token: "x", body: "{}" })).status, 403);
    assert.deepEqual(sink.users, []);
    // The legacy ?access_token= with the right token is accepted.
    const legacy = await r.put("t1", body, { query: `?access_token=${HS_TOKEN}` });
    assert.equal(legacy.status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e1"]);
    assert.equal(r.srv.stats().authFailures, 7);
    const log = r.lines.join("");
    assert.ok(!log.includes(HS_TOKEN), "hs_token never logged");
    assert.ok(!log.includes("wrong-token-0123456789abcdef0123456789"));
    assert.ok(!log.includes("nope-nope-nope"));
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: malformed bodies get 400 M_NOT_JSON / M_BAD_JSON and a huge one 413 M_TOO_LARGE; nothing is stored", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  const r = await start(store, sink, { maxTransactionBytes: 4096 });
  try {
    const cases: [string | Buffer, number, string][] = [
      ["{not json", 400, "M_NOT_JSON"],
      ["", 400, "M_NOT_JSON"],
      [Buffer.from([0xff, 0xfe, 0x00]), 400, "M_NOT_JSON"],
      ["[]", 400, "M_BAD_JSON"],
      ["null", 400, "M_BAD_JSON"],
      ['{"ephemeral": []}', 400, "M_BAD_JSON"],
      ['{"events": {"0": {}}}', 400, "M_BAD_JSON"],
      [JSON.stringify({ events: [ev(1, { content: { body: "x".repeat(10_000) } })] }), 413, "M_TOO_LARGE"],
    ];
    for (const [raw, status, errcode] of cases) {
      const res = await r.put("bad", undefined, { raw });
      assert.equal(res.status, status, String(raw).slice(0, 40));
      assert.equal(res.json["errcode"], errcode, String(raw).slice(0, 40));
    }
    assert.equal(store.writes, 0, "nothing stored");
    // The txnId was not recorded: the same ID with a good body is processed.
    assert.equal((await r.put("bad", { events: [ev(2)] })).status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e2"]);
    assert.equal(r.srv.stats().rejectedTransactions, cases.length);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: the transaction is stored (queue, event markers, txn marker) before its 200", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  let release: () => void = () => undefined;
  sink.gate = new Promise((resolve) => (release = resolve));
  const r = await start(store, sink);
  try {
    const res = await r.put("t1", { events: [ev(1), ev(2)], ephemeral: [{ type: "m.typing", room_id: "!room:hs.example", content: { user_ids: [] } }] });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, {});
    // The sink has not finished anything yet, but everything is on "disk".
    assert.deepEqual(store.keys("q/").length, 3);
    assert.deepEqual(store.keys("evt/"), ["evt/%24e1", "evt/%24e2"]);
    assert.deepEqual(store.keys("txn/"), ["txn/t1"]);
    assert.equal(store.writes, 1, "one atomic batch");
    release();
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e1", "$e2"]);
    assert.equal(sink.ephemeral.length, 1);
    assert.deepEqual(store.keys("q/"), [], "handled entries are deleted");
    assert.equal(store.keys("evt/").length, 2, "event markers are kept for dedupe");
  } finally {
    release();
    await r.stop();
  }
});

test("MIMI-MATRIX-02: a replayed transaction is acknowledged and changes nothing; the sink sees each event once", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  const r = await start(store, sink);
  try {
    const body = { events: [ev(1), ev(2), ev(3)] };
    assert.equal((await r.put("7", body)).status, 200);
    await r.srv.idle();
    const writes = store.writes;
    // Synapse recomputes unsigned.age on a retry: the replay is still recognised.
    for (let i = 0; i < 3; i++) {
      const replay = await r.put("7", { events: body.events.map((e) => ({ ...e, unsigned: { age: 1000 + i } })) });
      assert.equal(replay.status, 200);
      assert.deepEqual(replay.json, {});
    }
    await r.srv.idle();
    assert.equal(store.writes, writes, "a replay writes nothing");
    assert.deepEqual(sink.ids(), ["$e1", "$e2", "$e3"]);
    assert.equal(r.srv.stats().replayedTransactions, 3);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: the same event in two transactions (or twice in one) is handed over once; a reused txnId with new content is processed", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  const r = await start(store, sink);
  try {
    assert.equal((await r.put("1", { events: [ev(1), ev(2), ev(1)] })).status, 200);
    assert.equal((await r.put("2", { events: [ev(2), ev(3)] })).status, 200);
    // The homeserver's txn counter was reset (matrix-appservice-discord#852): "1" again, new events.
    assert.equal((await r.put("1", { events: [ev(3), ev(4)] })).status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e1", "$e2", "$e3", "$e4"]);
    const s = r.srv.stats();
    assert.equal(s.duplicateEvents, 3);
    assert.equal(s.reusedTxnIds, 1);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: events are handed over in the order received, ephemeral events in their place", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  const slow = sink.onEvent.bind(sink);
  // Random delays in the sink must not reorder anything.
  sink.onEvent = async (e) => {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
    await slow(e);
  };
  const r = await start(store, sink);
  try {
    const expected: string[] = [];
    for (let t = 0; t < 6; t++) {
      const events = Array.from({ length: 5 }, (_, i) => ev(`${t}-${i}`));
      expected.push(...events.map((e) => e.event_id), `edu:m.receipt:${t}`);
      const key = t % 2 === 0 ? "ephemeral" : "de.sorunome.msc2409.ephemeral";
      assert.equal((await r.put(`o${t}`, { events, [key]: [{ type: "m.receipt", room_id: "!room:hs.example", content: { n: t } }] })).status, 200);
    }
    await r.srv.idle();
    assert.deepEqual(sink.order, expected);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: crash recovery: what was stored but not handed over is handed over by the next instance, once, in order", async () => {
  const store = new CountingStore();
  const first = new Recorder();
  // The first process never manages to hand anything over (e.g. the core is down), then dies.
  first.fail = () => true;
  const a = await start(store, first, { retry: { attempts: 100, initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  const events = Array.from({ length: 10 }, (_, i) => ev(`c${i}`));
  assert.equal((await a.put("100", { events: events.slice(0, 5) })).status, 200);
  assert.equal((await a.put("101", { events: events.slice(5) })).status, 200);
  await a.stop();
  assert.equal(store.keys("q/").length, 10);

  const second = new Recorder();
  const b = await start(store, second);
  try {
    await b.srv.idle();
    assert.deepEqual(second.ids(), events.map((e) => e.event_id));
    // The homeserver did not get (or did not keep) the 200 and retries: nothing happens twice.
    assert.equal((await b.put("101", { events: events.slice(5) })).status, 200);
    assert.equal((await b.put("102", { events: [events[9] as MatrixEvent, ev("new")] })).status, 200);
    await b.srv.idle();
    assert.deepEqual(second.ids(), [...events.map((e) => e.event_id), "$enew"]);
    assert.deepEqual(store.keys("q/"), []);
  } finally {
    await b.stop();
  }
});

test("MIMI-MATRIX-02: crash recovery on the bridge's real store (one Store.batch per transaction)", async () => {
  const db = await openStore({ kind: "memory" });
  try {
    const store = adapterStore(db, adapterId("matrix"));
    assert.equal(typeof store.batch, "function");
    const first = new Recorder();
    first.fail = () => true;
    const a = await start(store, first, { retry: { attempts: 100, initialDelayMs: 60_000, maxDelayMs: 60_000 } });
    const events = Array.from({ length: 4 }, (_, i) => ev(`s${i}`));
    assert.equal((await a.put("a", { events })).status, 200);
    await a.stop();
    const second = new Recorder();
    const b = await start(store, second);
    await b.srv.idle();
    assert.equal((await b.put("a", { events })).status, 200);
    await b.srv.idle();
    await b.stop();
    assert.deepEqual(second.ids(), events.map((e) => e.event_id));
    assert.deepEqual(await store.list("q/"), []);
  } finally {
    await db.close();
  }
});

test("MIMI-MATRIX-02: a failing event is retried with backoff; a poison event is dropped after N attempts and does not block the rest", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  let transient = 2;
  sink.fail = (e) => e.event_id === "$epoison" || (e.event_id === "$eflaky" && transient-- > 0);
  const r = await start(store, sink, { retry: { attempts: 4, initialDelayMs: 1, maxDelayMs: 4 } });
  try {
    assert.equal((await r.put("p", { events: [ev(1), ev("flaky"), ev("poison"), ev(2)] })).status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e1", "$eflaky", "$e2"]);
    const s = r.srv.stats();
    assert.equal(s.poisonedEntries, 1);
    assert.equal(s.failedAttempts, 2 + 4);
    assert.deepEqual(store.keys("q/"), []);
    assert.match(r.lines.join(""), /dropped after repeated failures/);
    // A dropped event is still known: a replay does not bring it back.
    assert.equal((await r.put("p2", { events: [ev("poison")] })).status, 200);
    await r.srv.idle();
    assert.equal(r.srv.stats().poisonedEntries, 1);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: a failure the core marks retryable (hub unreachable) is waited out, never dropped as poison", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  let outage = 10;
  const unavailable = new MimiError("MIMI_ERR_BRIDGE_CORE_UNAVAILABLE", "the hub is unreachable", { details: { retryable: true } });
  const onEvent = sink.onEvent.bind(sink);
  sink.onEvent = async (e) => {
    if (e.event_id === "$eoutage" && outage-- > 0) throw unavailable;
    await onEvent(e);
  };
  // 10 retryable failures against a poison threshold of 3: the event still arrives, once.
  const r = await start(store, sink, { retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 2 } });
  try {
    assert.equal((await r.put("o", { events: [ev("outage"), ev(1)] })).status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$eoutage", "$e1"]);
    assert.equal(r.srv.stats().poisonedEntries, 0);
    assert.equal(r.srv.stats().failedAttempts, 10);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: the attempt count survives a restart, so a crash-looping poison event is still dropped", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  sink.fail = (e) => e.event_id === "$epoison";
  const a = await start(store, sink, { retry: { attempts: 3, initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  assert.equal((await a.put("x", { events: [ev("poison"), ev(1)] })).status, 200);
  // Wait for the first failure to be recorded.
  for (let i = 0; i < 100 && a.srv.stats().failedAttempts === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  await a.stop();
  const stored = await store.list<{ attempts?: number }>("q/");
  assert.equal(stored[0]?.value.attempts, 1);
  const b = await start(store, sink, { retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 1 } });
  try {
    await b.srv.idle();
    assert.equal(b.srv.stats().failedAttempts, 2, "two more attempts, not three");
    assert.deepEqual(sink.ids(), ["$e1"]);
  } finally {
    await b.stop();
  }
});

test("MIMI-MATRIX-02: events without event_id, room_id, sender, type or content (or nested too deeply) are dropped and counted; the rest of the transaction is queued", async () => {
  const db = await openStore({ kind: "memory" });
  const store = adapterStore(db, adapterId("matrix"));
  const sink = new Recorder();
  const r = await start(store, sink);
  try {
    const good = ev(1);
    const { event_id: _a, ...noId } = ev(2);
    const { room_id: _b, ...noRoom } = ev(3);
    const { sender: _c, ...noSender } = ev(4);
    const { type: _d, ...noType } = ev(5);
    // Nesting the store's CBOR encoder could not take (it would fail the transaction forever).
    const deep = `{"a":${"[".repeat(20_000)}${"]".repeat(20_000)}}`;
    const events = [noId, good, noRoom, noSender, noType, { ...ev(6), content: "x" }, { ...ev(7), event_id: `$${"a".repeat(300)}` }, { ...ev(8), state_key: 5 }, "string", null, 42, { ...ev(10), content: "DEEP" }, ev(9)];
    const body = { events, ephemeral: [{ type: "m.typing" }, { content: {} }, 7, { type: "m.presence", content: { presence: "online" } }] };
    const res = await r.put("m", undefined, { raw: JSON.stringify(body).replace('"DEEP"', deep) });
    assert.equal(res.status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e1", "$e9"]);
    assert.deepEqual(sink.ephemeral.map((e) => e.type), ["m.presence"]);
    assert.equal(r.srv.stats().malformedEvents, 11 + 3);
    assert.match(r.lines.join(""), /malformed Matrix event dropped/);
  } finally {
    await r.stop();
    await db.close();
  }
});

test("MIMI-MATRIX-02: a store failure answers 500 M_UNKNOWN (the homeserver retries) and acknowledges nothing", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  const r = await start(store, sink);
  try {
    store.failNextBatch = true;
    const res = await r.put("f", { events: [ev(1)] });
    assert.equal(res.status, 500);
    assert.equal(res.json["errcode"], "M_UNKNOWN");
    assert.deepEqual(store.keys(""), []);
    assert.equal((await r.put("f", { events: [ev(1)] })).status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e1"]);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: user and alias queries, ping, legacy paths and unknown endpoints", async () => {
  const store = new CountingStore();
  const sink = new Recorder();
  sink.knownUsers.add("@_mimi_alice=40b.example:hs.example");
  const r = await start(store, sink);
  try {
    const user = await r.req("GET", `/_matrix/app/v1/users/${encodeURIComponent("@_mimi_alice=40b.example:hs.example")}`);
    assert.equal(user.status, 200);
    assert.deepEqual(user.json, {});
    const unknown = await r.req("GET", `/_matrix/app/v1/users/${encodeURIComponent("@_mimi_nobody:hs.example")}`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json["errcode"], "M_NOT_FOUND");
    const outside = await r.req("GET", `/_matrix/app/v1/users/${encodeURIComponent("@bob:hs.example")}`);
    assert.equal(outside.status, 404);
    assert.deepEqual(sink.users, ["@_mimi_alice=40b.example:hs.example", "@_mimi_nobody:hs.example"], "outside the namespace: the sink is not asked");
    const alias = await r.req("GET", `/_matrix/app/v1/rooms/${encodeURIComponent("#_mimi_x:hs.example")}`);
    assert.equal(alias.status, 404);
    assert.equal(alias.json["errcode"], "M_NOT_FOUND");
    const ping = await r.req("POST", "/_matrix/app/v1/ping", { body: JSON.stringify({ transaction_id: "p1" }) });
    assert.equal(ping.status, 200);
    assert.deepEqual(ping.json, {});
    const nowhere = await r.req("GET", "/_matrix/app/v1/thirdparty/protocol/x");
    assert.equal(nowhere.status, 404);
    assert.equal(nowhere.json["errcode"], "M_UNRECOGNIZED");
    assert.equal((await r.req("GET", "/nothing", { token: null })).json["errcode"], "M_UNRECOGNIZED");
    // Legacy unprefixed paths reach the same handlers.
    assert.equal((await r.put("legacy", { events: [ev(1)] }, { path: "/transactions/" })).status, 200);
    assert.equal((await r.req("GET", `/users/${encodeURIComponent("@_mimi_alice=40b.example:hs.example")}`)).status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e1"]);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-02: staleEventMaxAgeMs skips old messages first seen in a new transaction, never state events; off by default", async () => {
  const now = 1_000_000_000;
  const store = new CountingStore();
  const sink = new Recorder();
  const r = await start(store, sink, { staleEventMaxAgeMs: 60_000, now: () => now });
  try {
    const old = now - 120_000;
    const events = [ev("old", { origin_server_ts: old }), ev("oldstate", { origin_server_ts: old, type: "m.room.member", state_key: "@bob:hs.example", content: { membership: "join" } }), ev("fresh", { origin_server_ts: now - 1000 })];
    assert.equal((await r.put("s", { events })).status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$eoldstate", "$efresh"]);
    assert.equal(r.srv.stats().staleEvents, 1);
  } finally {
    await r.stop();
  }
  // Default: nothing is skipped for age (a homeserver retrying after our downtime loses nothing).
  const sink2 = new Recorder();
  const r2 = await start(new CountingStore(), sink2, { now: () => now });
  try {
    assert.equal((await r2.put("s", { events: [ev("old", { origin_server_ts: 1 })] })).status, 200);
    await r2.srv.idle();
    assert.deepEqual(sink2.ids(), ["$eold"]);
  } finally {
    await r2.stop();
  }
});

test("MIMI-MATRIX-02: without an atomic batch the store is written queue first, markers after, txn last, and still deduplicates", async () => {
  const inner = new MemoryStore();
  const store = storeWithoutBatch(inner);
  const sink = new Recorder();
  const r = await start(store, sink);
  try {
    assert.equal((await r.put("1", { events: [ev(1), ev(2)] })).status, 200);
    assert.equal((await r.put("1", { events: [ev(1), ev(2)] })).status, 200);
    assert.equal((await r.put("2", { events: [ev(2), ev(3)] })).status, 200);
    await r.srv.idle();
    assert.deepEqual(sink.ids(), ["$e1", "$e2", "$e3"]);
  } finally {
    await r.stop();
  }
  // A crash between the queue entry and its marker, then the homeserver's retry: one hand-over.
  const inner2 = new MemoryStore();
  await inner2.put("q/0000000000000000", { seq: 0, kind: "event", event: ev(5) });
  const sink2 = new Recorder();
  const r2 = await start(storeWithoutBatch(inner2), sink2, { retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 1 } });
  try {
    // Whichever comes first: the worker hands the orphan over and marks it (the retry is then a
    // duplicate), or the retry queues the event again (seq 1) and the orphan, whose marker names
    // seq 1, is skipped.
    sink2.gate = new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal((await r2.put("9", { events: [ev(5)] })).status, 200);
    await r2.srv.idle();
    assert.deepEqual(sink2.ids(), ["$e5"]);
  } finally {
    await r2.stop();
  }
});

test("MIMI-MATRIX-02: dedupe markers older than the retention are pruned at start; younger ones are kept", async () => {
  const now = 50 * 24 * 3600 * 1000;
  const store = new CountingStore();
  await store.put("evt/%24old", { seq: 1, at: now - 8 * 24 * 3600 * 1000 });
  await store.put("txn/old", { at: now - 8 * 24 * 3600 * 1000, fp: "x" });
  await store.put("evt/%24young", { seq: 2, at: now - 3600 * 1000 });
  await store.put("txn/young", { at: now - 3600 * 1000, fp: "y" });
  const r = await start(store, new Recorder(), { now: () => now });
  try {
    for (let i = 0; i < 100 && store.keys("evt/").length > 1; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(store.keys("evt/"), ["evt/%24young"]);
    assert.deepEqual(store.keys("txn/"), ["txn/young"]);
  } finally {
    await r.stop();
  }
});

// ---- MIMI-MATRIX-55: per-room lanes --------------------------------------------------------------------

const room = (r: string): string => `!${r}:hs.example`;
/** An event `<room>-<n>` of room `!<room>:hs.example`. */
const rev = (r: string, n: number): MatrixEvent => ev(`${r}-${n}`, { room_id: room(r) });

/** A sink that records per room, tracks concurrency, and can hold or fail rooms. */
class RoomSink implements TransactionSink {
  readonly order: string[] = [];
  readonly byRoom = new Map<string, string[]>();
  active = 0;
  maxActive = 0;
  readonly activeRooms = new Set<string>();
  /** A room handed two entries at once (must never happen). */
  overlap: string | undefined;
  readonly holds = new Map<string, Promise<void>>();
  fail: (id: string) => boolean = () => false;
  /** Random delays (ms, up to this) inside the sink, so completions interleave across rooms. */
  jitterMs = 0;

  async #take(roomId: string, id: string): Promise<void> {
    if (this.activeRooms.has(roomId)) this.overlap = roomId;
    this.activeRooms.add(roomId);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      const hold = this.holds.get(id);
      if (hold) await hold;
      if (this.jitterMs > 0) await new Promise((resolve) => setTimeout(resolve, Math.random() * this.jitterMs));
      if (this.fail(id)) throw new Error(`sink refuses ${id}`);
      this.order.push(id);
      const list = this.byRoom.get(roomId) ?? [];
      list.push(id);
      this.byRoom.set(roomId, list);
    } finally {
      this.active--;
      this.activeRooms.delete(roomId);
    }
  }
  onEvent(event: MatrixEvent): Promise<void> {
    return this.#take(event.room_id, event.event_id);
  }
  onEphemeral(event: MatrixEphemeral): Promise<void> {
    return this.#take(event.room_id ?? "(none)", `edu:${event.type}:${JSON.stringify(event.content["n"] ?? "")}`);
  }
  onUserQuery(): Promise<boolean> {
    return Promise.resolve(false);
  }
  room(r: string): string[] {
    return this.byRoom.get(room(r)) ?? [];
  }
}

/** A held promise and its release. */
function gate(): { promise: Promise<void>; release: () => void } {
  let release: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => (release = resolve));
  return { promise, release };
}

/** Delete batches are counted and can be held (a slow disk), so the group commit can be observed. */
class DeleteCountingStore extends CountingStore {
  deleteBatches: string[][] = [];
  hold: Promise<void> | undefined;
  override async batch(ops: readonly AdapterStoreOp[]): Promise<void> {
    if (ops.length > 0 && ops.every((op) => op.type === "del" && op.key.startsWith("q/"))) {
      this.deleteBatches.push(ops.map((op) => op.key));
      if (this.hold) await this.hold;
    }
    return super.batch(ops);
  }
  /** What a process killed right now leaves on disk. */
  snapshot(): MemoryStore {
    const copy = new MemoryStore();
    for (const [k, v] of this.data) copy.data.set(k, structuredClone(v));
    return copy;
  }
}

test("MIMI-MATRIX-55: rooms are handed over concurrently (at most MAX_ACTIVE_LANES at once), each room strictly in order, never two entries of one room at once", async () => {
  const store = new CountingStore();
  const sink = new RoomSink();
  sink.jitterMs = 4;
  const r = await start(store, sink);
  try {
    const rooms = Array.from({ length: 12 }, (_, i) => `r${i}`);
    const expected = new Map<string, string[]>(rooms.map((x) => [room(x), []]));
    // Transactions mixing rooms, as Synapse batches them; receipts of a room go with that room.
    for (let t = 0; t < 8; t++) {
      const events: MatrixEvent[] = [];
      for (let i = 0; i < 6; i++) {
        const x = rooms[(t * 5 + i * 7) % rooms.length] as string;
        const e = rev(x, t * 10 + i);
        events.push(e);
        expected.get(room(x))?.push(e.event_id);
      }
      const receiptRoom = rooms[t % rooms.length] as string;
      expected.get(room(receiptRoom))?.push(`edu:m.receipt:${t}`);
      assert.equal((await r.put(`m${t}`, { events, ephemeral: [{ type: "m.receipt", room_id: room(receiptRoom), content: { n: t } }, { type: "m.presence", content: { n: t, presence: "online" } }] })).status, 200);
    }
    await r.srv.idle();
    for (const [roomId, ids] of expected) assert.deepEqual(sink.byRoom.get(roomId) ?? [], ids, `order of ${roomId}`);
    // Ephemeral events without a room_id have a lane of their own, in order too.
    assert.deepEqual(sink.byRoom.get("(none)"), Array.from({ length: 8 }, (_, t) => `edu:m.presence:${t}`));
    assert.equal(sink.overlap, undefined, "a room is never handed two entries at once");
    assert.ok(sink.maxActive > 1, `rooms ran concurrently (max ${sink.maxActive})`);
    assert.ok(sink.maxActive <= MAX_ACTIVE_LANES, `bounded (max ${sink.maxActive})`);
    assert.deepEqual(store.keys("q/"), []);
    const s = r.srv.stats();
    assert.equal(s.delivered, 8 * 6 + 8 * 2);
    assert.equal(s.queueDepth, 0);
    assert.equal(s.inFlight, 0);
  } finally {
    await r.stop();
  }
});

test("MIMI-MATRIX-55: a slow room does not hold up another; a failing room waits for its retry alone; each keeps its order", async () => {
  const store = new CountingStore();
  const sink = new RoomSink();
  const slow = gate();
  sink.holds.set("$eslow-1", slow.promise);
  let failures = 0;
  sink.fail = (id) => id === "$efail-1" && failures++ < 1;
  // The failing room's retry comes after a minute: the other rooms must not wait for it.
  const r = await start(store, sink, { retry: { attempts: 5, initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  try {
    const events = [rev("slow", 1), rev("fail", 1), rev("fast", 1), rev("slow", 2), rev("fail", 2), rev("fast", 2), rev("fast", 3)];
    assert.equal((await r.put("s1", { events })).status, 200);
    assert.equal((await r.put("s2", { events: [rev("fast", 4), rev("slow", 3)] })).status, 200);
    await until(() => sink.room("fast").length === 4, "the fast room is handed over while the slow one hangs and the failing one waits");
    assert.deepEqual(sink.room("fast"), ["$efast-1", "$efast-2", "$efast-3", "$efast-4"]);
    assert.deepEqual(sink.room("slow"), [], "the slow room is still on its first event");
    assert.deepEqual(sink.room("fail"), [], "nothing of the failing room after its failed first event");
    // Only the slow room holds a worker: the failing one gave its slot back while it waits.
    await until(() => r.srv.stats().retryingRooms === 1 && r.srv.stats().inFlight === 1, "the failing room waits for its retry without a worker", 30_000, () => JSON.stringify(r.srv.stats()));
    assert.equal(r.srv.stats().queueDepth, 3 + 2, "slow-1..3 and fail-1..2 still queued");
    slow.release();
    await until(() => sink.room("slow").length === 3 && r.srv.stats().queueDepth === 2, "the slow room goes on once its event returns", 30_000, () => JSON.stringify(r.srv.stats()));
    assert.deepEqual(sink.room("slow"), ["$eslow-1", "$eslow-2", "$eslow-3"]);
  } finally {
    slow.release();
    await r.stop();
  }
  // The failing room's events are still stored, in order, for the next start.
  const second = new RoomSink();
  const b = await start(store, second);
  try {
    await b.srv.idle();
    assert.deepEqual(second.room("fail"), ["$efail-1", "$efail-2"]);
    assert.deepEqual([...second.byRoom.keys()], [room("fail")], "nothing else handed over again after a clean stop");
  } finally {
    await b.stop();
  }
});

test("MIMI-MATRIX-55: crash recovery with rooms interleaved and partly done: each room resumes where it stopped, in order; nothing lost", async () => {
  const store = new DeleteCountingStore();
  const first = new RoomSink();
  const hold = gate();
  // Room a hangs on its second event; room b finishes; room c's first event keeps failing.
  first.holds.set("$ea-2", hold.promise);
  first.fail = (id) => id.startsWith("$ec-");
  const a = await start(store, first, { retry: { attempts: 100, initialDelayMs: 60_000, maxDelayMs: 60_000 } });
  const t1 = [rev("a", 1), rev("b", 1), rev("c", 1), rev("a", 2)];
  const t2 = [rev("b", 2), rev("c", 2), rev("a", 3), rev("b", 3)];
  let disk: MemoryStore;
  try {
    assert.equal((await a.put("x1", { events: t1 })).status, 200);
    assert.equal((await a.put("x2", { events: t2, ephemeral: [{ type: "m.receipt", room_id: room("a"), content: { n: 1 } }] })).status, 200);
    await until(() => first.room("b").length === 3 && first.room("a").length === 1 && a.srv.stats().retryingRooms === 1, "a-1 and room b handed over, room c failing");
    // Their deletes are written (group commits), so the snapshot below is exact: a-2, a-3, the receipt, c-1, c-2 remain.
    await until(() => store.keys("q/").length === 5, "handled entries deleted", 30_000, () => store.keys("q/").join(" "));
    // kill -9: the disk as it is now; the first instance's later work never reaches it.
    disk = store.snapshot();
  } finally {
    hold.release();
    await a.stop();
  }

  const second = new RoomSink();
  const b = await start(disk, second);
  try {
    await b.srv.idle();
    assert.deepEqual(second.room("a"), ["$ea-2", "$ea-3", "edu:m.receipt:1"]);
    assert.deepEqual(second.room("c"), ["$ec-1", "$ec-2"]);
    assert.deepEqual(second.room("b"), [], "room b was done");
    // The homeserver retries the transactions it may not have seen acknowledged: nothing twice.
    assert.equal((await b.put("x1", { events: t1 })).status, 200);
    assert.equal((await b.put("x2-retry", { events: t2 })).status, 200);
    await b.srv.idle();
    assert.equal(second.order.length, 5);
    assert.deepEqual(await disk.list("q/"), []);
  } finally {
    await b.stop();
  }
});

test("MIMI-MATRIX-55: handled entries are deleted in group commits, never before the sink finished; a crash before the commit hands them over again (never loses them); a clean stop commits", async () => {
  const store = new DeleteCountingStore();
  const disk = gate();
  store.hold = disk.promise;
  const sink = new RoomSink();
  const r = await start(store, sink);
  const events = Array.from({ length: 40 }, (_, i) => rev(`g${i % 4}`, i));
  try {
    assert.equal((await r.put("g", { events })).status, 200);
    await until(() => sink.order.length === 40, "all handed over while the first delete is still being written");
    // The first delete started a commit at once; the other 39 wait for the next one.
    assert.equal(store.deleteBatches.length, 1);
    assert.equal(store.keys("q/").length, 40, "nothing deleted yet");
    // A crash now: every event is still on disk and is handed over again, each room in order.
    const crashed = store.snapshot();
    const again = new RoomSink();
    const c = await start(crashed, again);
    try {
      await c.srv.idle();
      for (let k = 0; k < 4; k++) assert.deepEqual(again.room(`g${k}`), sink.room(`g${k}`), `room g${k} again, in order`);
    } finally {
      await c.stop();
    }
    disk.release();
    await r.srv.idle();
    assert.equal(store.deleteBatches.length, 2, "39 deletes in one batch");
    assert.deepEqual(store.deleteBatches.map((b) => b.length).sort((x, y) => x - y), [1, 39]);
    assert.deepEqual(store.keys("q/"), []);
  } finally {
    disk.release();
    await r.stop();
  }
  // stop() waits for the commit: after a clean stop nothing is handed over twice.
  const store2 = new DeleteCountingStore();
  const disk2 = gate();
  store2.hold = disk2.promise;
  const sink2 = new RoomSink();
  const r2 = await start(store2, sink2);
  assert.equal((await r2.put("h", { events: events.slice(0, 5) })).status, 200);
  await until(() => sink2.order.length === 5, "handed over");
  const stopping = r2.stop();
  disk2.release();
  await stopping;
  assert.deepEqual(store2.keys("q/"), []);
  const after = new RoomSink();
  const r3 = await start(store2, after);
  try {
    await r3.srv.idle();
    assert.deepEqual(after.order, []);
  } finally {
    await r3.stop();
  }
});

test("MIMI-MATRIX-55: dedupe holds while rooms run concurrently: replays and the same events in other transactions reach the sink once", async () => {
  const db = await openStore({ kind: "memory" });
  try {
    const store = adapterStore(db, adapterId("matrix"));
    const sink = new RoomSink();
    sink.jitterMs = 3;
    const r = await start(store, sink);
    try {
      const all = Array.from({ length: 30 }, (_, i) => rev(`d${i % 5}`, i));
      // Overlapping transactions, replays with a new unsigned.age, duplicates within one transaction.
      const puts: Promise<{ status: number }>[] = [];
      for (let t = 0; t < 6; t++) {
        const slice = all.slice(t * 4, t * 4 + 10);
        puts.push(r.put(`d${t}`, { events: [...slice, ...slice.slice(0, 2)] }));
        puts.push(r.put(`d${t}`, { events: slice.map((e) => ({ ...e, unsigned: { age: 99 } })) }));
      }
      for (const res of await Promise.all(puts)) assert.equal(res.status, 200);
      await r.srv.idle();
      const got = sink.order.filter((x) => x.startsWith("$"));
      assert.equal(new Set(got).size, got.length, "no event twice");
      assert.deepEqual([...got].sort(), all.map((e) => e.event_id).sort(), "every event once");
      for (let k = 0; k < 5; k++) {
        const ids = sink.room(`d${k}`);
        assert.deepEqual(ids, all.filter((e) => e.room_id === room(`d${k}`)).map((e) => e.event_id), `order of d${k}`);
      }
    } finally {
      await r.stop();
    }
  } finally {
    await db.close();
  }
});
