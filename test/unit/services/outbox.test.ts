// The hub's durable fanout outbox (src/fanout/outbox.ts) against a PeerClient stub: entries are
// deleted only after the follower answered 201 (MIMI-PROTO-FANOUT-11), everything else is retried
// with backoff honouring Retry-After (MIMI-PROTO-FANOUT-10), entries survive a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MimiError } from "../../../src/errors.ts";
import { Outbox } from "../../../src/fanout/outbox.ts";
import { silentLogger } from "../../../src/log.ts";
import type { Store } from "../../../src/storage/index.ts";
import type { PeerClient, PeerHeaders, PeerResponse } from "../../../src/transport/peerClient.ts";
import { withStore } from "./helpers.ts";

const PEER = "b.example";
const ROOM1 = "mimi://a.example/r/one";
const ROOM2 = "mimi://a.example/r/two";

interface Call {
  at: number;
  peer: string;
  endpoint: string;
  roomId: string | undefined;
  body: Buffer;
  /** Entries still queued for the peer when the request went out. */
  pending: number;
}

type Answer = { status: number; headers?: PeerHeaders } | "unreachable";

/** A PeerClient whose answers are scripted; the last answer repeats. */
function stubPeer(answers: Answer[], pendingOf: () => Promise<number>): { client: PeerClient; calls: Call[] } {
  const calls: Call[] = [];
  const client = {
    async request(peer: string, endpoint: string, params: Record<string, string>, opts: { body?: Uint8Array } = {}): Promise<PeerResponse> {
      // Like real network I/O, an answer comes in a later turn of the event loop.
      await new Promise((r) => setImmediate(r));
      calls.push({ at: Date.now(), peer, endpoint, roomId: params["roomId"], body: Buffer.from(opts.body ?? new Uint8Array(0)), pending: await pendingOf() });
      const a = answers[Math.min(calls.length - 1, answers.length - 1)] ?? { status: 201 };
      if (a === "unreachable") throw new MimiError("MIMI_ERR_PEER_UNREACHABLE", `${peer} is down`);
      return { status: a.status, headers: a.headers ?? {}, body: new Uint8Array(0) };
    },
  };
  return { client: client as unknown as PeerClient, calls };
}

/** Enqueues as the hub does: under Outbox.lockKey, one batch, then kick. */
async function enqueue(store: Store, outbox: Outbox, roomId: string, body: string): Promise<void> {
  await store.withLock(Outbox.lockKey(PEER), async () => {
    await store.batch(await outbox.enqueueOps(PEER, roomId, Buffer.from(body)));
  });
  outbox.kick(PEER);
}

async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("MIMI-PROTO-FANOUT-11: entries stay queued until the follower answers 201, and are retried until then", async () => {
  await withStore(async (store) => {
    const answers: Answer[] = [{ status: 500 }, { status: 200 }, { status: 202 }, { status: 204 }, { status: 400 }, { status: 503 }, "unreachable", { status: 201 }];
    const { client, calls } = stubPeer(answers, () => outbox.pending(PEER));
    const outbox = new Outbox({ store, logger: silentLogger(), peerClient: client, initialBackoffMs: 2, maxBackoffMs: 10 });
    try {
      // Three entries before the worker starts: one body for all three.
      const bodies = ["first", "second", "third"];
      await store.withLock(Outbox.lockKey(PEER), async () => {
        for (const b of bodies) await store.batch(await outbox.enqueueOps(PEER, ROOM1, Buffer.from(b)));
      });
      assert.equal(await outbox.pending(PEER), 3);
      outbox.kick(PEER);
      await until("delivery", () => outbox.stats.delivered === 3);
      assert.equal(calls.length, answers.length, "one attempt per answer, none after the 201");
      for (const [i, c] of calls.entries()) {
        assert.equal(c.peer, PEER);
        assert.equal(c.endpoint, "notify");
        assert.equal(c.roomId, "a.example/r/one", "the room path is the room URI without mimi://");
        assert.equal(c.body.toString(), bodies.join(""), `attempt ${i + 1} sends the same concatenated body`);
        assert.equal(c.pending, 3, `attempt ${i + 1}: nothing was dropped before the 201`);
      }
      assert.equal(await outbox.pending(PEER), 0, "dropped after the 201");
      assert.equal(outbox.stats.failedAttempts, answers.length - 1);
    } finally {
      await outbox.stop();
    }
  });
});

test("MIMI-PROTO-FANOUT-10: the queue keeps its order, one /notify per run of one room's entries", async () => {
  await withStore(async (store) => {
    const { client, calls } = stubPeer([{ status: 503 }, { status: 201 }], () => outbox.pending(PEER));
    const outbox = new Outbox({ store, logger: silentLogger(), peerClient: client, initialBackoffMs: 2, maxBackoffMs: 10 });
    try {
      await store.withLock(Outbox.lockKey(PEER), async () => {
        for (const [room, body] of [[ROOM1, "a"], [ROOM1, "b"], [ROOM2, "c"], [ROOM1, "d"]] as const) await store.batch(await outbox.enqueueOps(PEER, room, Buffer.from(body)));
      });
      outbox.kick(PEER);
      await until("delivery", () => outbox.stats.delivered === 4);
      assert.deepEqual(calls.map((c) => [c.roomId, c.body.toString()]), [
        ["a.example/r/one", "ab"], // refused, retried in place: nothing overtakes it
        ["a.example/r/one", "ab"],
        ["a.example/r/two", "c"],
        ["a.example/r/one", "d"],
      ]);
    } finally {
      await outbox.stop();
    }
  });
});

test("MIMI-PROTO-FANOUT-10: a 503 with Retry-After (seconds or HTTP-date) delays the retry; without it the backoff is short", async () => {
  await withStore(async (store) => {
    const gap = async (headers: PeerHeaders | undefined): Promise<number> => {
      const { client, calls } = stubPeer([headers === undefined ? { status: 503 } : { status: 503, headers }, { status: 201 }], () => outbox.pending(PEER));
      const outbox = new Outbox({ store, logger: silentLogger(), peerClient: client, initialBackoffMs: 5, maxBackoffMs: 20 });
      try {
        const before = outbox.stats.delivered;
        await enqueue(store, outbox, ROOM1, "x");
        await until("delivery", () => outbox.stats.delivered === before + 1);
        assert.equal(calls.length, 2);
        return calls[1]!.at - calls[0]!.at;
      } finally {
        await outbox.stop();
      }
    };
    const plain = await gap(undefined);
    assert.ok(plain < 500, `retry without Retry-After after ${plain} ms`);
    const seconds = await gap({ "retry-after": "1" });
    assert.ok(seconds >= 990, `Retry-After: 1 honoured? retried after ${seconds} ms`);
    // An HTTP-date two seconds ahead (whole seconds: at least one second from now).
    const date = new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000).toUTCString();
    const dated = await gap({ "retry-after": date });
    assert.ok(dated >= 990, `Retry-After: ${date} honoured? retried after ${dated} ms`);
  });
});

test("MIMI-PROTO-FANOUT-10: Retry-After: 0 (or a past date) does not turn retries into a busy loop", async () => {
  await withStore(async (store) => {
    for (const value of ["0", new Date(Date.now() - 60_000).toUTCString()]) {
      const { client, calls } = stubPeer([{ status: 503, headers: { "retry-after": value } }], () => outbox.pending(PEER));
      const outbox = new Outbox({ store, logger: silentLogger(), peerClient: client, initialBackoffMs: 100, maxBackoffMs: 400 });
      try {
        await enqueue(store, outbox, ROOM1, "x");
        await new Promise((r) => setTimeout(r, 500));
        // Backoff of 50-100, 100-200, 200-400 ms: at most 4 attempts in 500 ms.
        assert.ok(calls.length <= 5, `Retry-After: ${value}: ${calls.length} attempts in 500 ms`);
        assert.ok(calls.length >= 2, "it is retried");
        assert.equal(await outbox.pending(PEER), 1, "still queued: the follower never answered 201");
        assert.equal(outbox.stats.delivered, 0);
      } finally {
        await outbox.stop();
      }
      // Clean the queue for the next round.
      const ns = store.namespace("outbox");
      for await (const k of ns.keys()) await ns.del(k);
    }
  });
});

test("MIMI-PROTO-FANOUT-10: queued entries survive a restart of the hub and are delivered after resume()", async () => {
  await withStore(async (store) => {
    const down = stubPeer(["unreachable"], () => first.pending(PEER));
    const first = new Outbox({ store, logger: silentLogger(), peerClient: down.client, initialBackoffMs: 5, maxBackoffMs: 20 });
    await enqueue(store, first, ROOM1, "one");
    await enqueue(store, first, ROOM2, "two");
    await until("a failed attempt", () => down.calls.length >= 2);
    await first.stop();
    const attempts = down.calls.length;
    assert.equal(await first.pending(PEER), 2);

    const up = stubPeer([{ status: 201 }], () => second.pending(PEER));
    const second = new Outbox({ store, logger: silentLogger(), peerClient: up.client, initialBackoffMs: 5, maxBackoffMs: 20 });
    try {
      await second.resume();
      await until("delivery after resume", () => second.stats.delivered === 2);
      assert.deepEqual(up.calls.map((c) => c.body.toString()), ["one", "two"]);
      assert.equal(await second.pending(PEER), 0);
      assert.equal(down.calls.length, attempts, "the stopped outbox sends nothing more");
    } finally {
      await second.stop();
    }
  });
});
