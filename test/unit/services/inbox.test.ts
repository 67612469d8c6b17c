// Per-user event logs of the client API (src/inbox/inbox.ts), on a memory store: dense per-user
// sequence numbers, read / wait / notify, concurrent appends under the documented locks, and
// acknowledgement that drops only what every device acknowledged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Inbox } from "../../../src/inbox/inbox.ts";
import type { InboxEvent, NewInboxEvent } from "../../../src/inbox/inbox.ts";
import type { Store } from "../../../src/storage/index.ts";
import { withStore } from "./helpers.ts";

const ROOM = "mimi://a.example/r/room";
let counter = 0;

/** A distinct event (its payload names it, so a lost or overwritten event is noticed). */
function event(tag: string): NewInboxEvent {
  counter += 1;
  return { type: "fanout", roomId: ROOM, timestamp: counter, fanout: new TextEncoder().encode(tag) };
}
const tagOf = (e: InboxEvent) => new TextDecoder().decode(e.fanout);

/** Appends as the follower does: under Inbox.lockKeys, one batch, then notify. */
async function append(store: Store, inbox: Inbox, entries: { user: string; tag: string }[]): Promise<void> {
  const users = entries.map((e) => e.user);
  await store.withLock(Inbox.lockKeys(users), async () => {
    const ops = await inbox.appendOps(entries.map((e) => ({ user: e.user, event: event(e.tag) })));
    await store.batch(ops);
  });
  inbox.notify(users);
}

test("inbox: sequence numbers are per user, dense and increasing; read pages after a cursor", async () => {
  await withStore(async (store) => {
    const inbox = new Inbox(store);
    assert.equal(await inbox.lastSeq("alice"), 0);
    assert.deepEqual(await inbox.read("alice", 0), []);
    await append(store, inbox, [{ user: "alice", tag: "a1" }, { user: "bob", tag: "b1" }, { user: "alice", tag: "a2" }]);
    await append(store, inbox, [{ user: "bob", tag: "b2" }]);
    await append(store, inbox, [{ user: "alice", tag: "a3" }, { user: "alice", tag: "a4" }, { user: "bob", tag: "b3" }]);

    const alice = await inbox.read("alice", 0);
    assert.deepEqual(alice.map((e) => [e.seq, tagOf(e)]), [[1, "a1"], [2, "a2"], [3, "a3"], [4, "a4"]]);
    const bob = await inbox.read("bob", 0);
    assert.deepEqual(bob.map((e) => [e.seq, tagOf(e)]), [[1, "b1"], [2, "b2"], [3, "b3"]]);
    assert.equal(await inbox.lastSeq("alice"), 4);
    assert.equal(await inbox.lastSeq("bob"), 3);
    // After a cursor, with a limit.
    assert.deepEqual((await inbox.read("alice", 2)).map((e) => e.seq), [3, 4]);
    assert.deepEqual((await inbox.read("alice", 1, 2)).map((e) => e.seq), [2, 3]);
    assert.deepEqual(await inbox.read("alice", 4), []);
    // A user whose name is a prefix of another's does not see the other's events.
    await append(store, inbox, [{ user: "al", tag: "x" }]);
    assert.deepEqual((await inbox.read("al", 0)).map(tagOf), ["x"]);
    assert.equal((await inbox.read("alice", 0)).length, 4);
    // Events keep what was appended.
    const first = alice[0];
    assert.ok(first?.type === "fanout" && first.roomId === ROOM);
  });
});

test("inbox: wait answers at once when there is something, wakes on notify, times out and stops on abort", async () => {
  await withStore(async (store) => {
    const inbox = new Inbox(store);
    await append(store, inbox, [{ user: "alice", tag: "a1" }]);
    // Something there already: at once, even with a long wait.
    const t0 = Date.now();
    assert.deepEqual((await inbox.wait("alice", 0, 10_000)).map(tagOf), ["a1"]);
    assert.ok(Date.now() - t0 < 1_000);

    // Nothing after seq 1: the reader waits, and the append + notify wakes it.
    const waiting = inbox.wait("alice", 1, 10_000);
    let settled = false;
    void waiting.then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(settled, false, "the reader waits");
    // An event for another user does not wake it with someone else's events.
    await append(store, inbox, [{ user: "bob", tag: "b1" }]);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(settled, false, "bob's event does not answer alice's wait");
    const t1 = Date.now();
    await append(store, inbox, [{ user: "alice", tag: "a2" }]);
    assert.deepEqual((await waiting).map((e) => [e.seq, tagOf(e)]), [[2, "a2"]]);
    assert.ok(Date.now() - t1 < 1_000, "woken by notify, not by the timeout");

    // Nothing comes: [] after the wait.
    const t2 = Date.now();
    assert.deepEqual(await inbox.wait("alice", 2, 80), []);
    assert.ok(Date.now() - t2 >= 70);
    // Aborted while waiting: [] at once.
    const controller = new AbortController();
    const aborted = inbox.wait("alice", 2, 10_000, controller.signal);
    await new Promise((r) => setTimeout(r, 30));
    const t3 = Date.now();
    controller.abort();
    assert.deepEqual(await aborted, []);
    assert.ok(Date.now() - t3 < 1_000);
    // Aborted before the wait begins (the client went away during the first read): [] at once,
    // not after the full wait.
    const early = new AbortController();
    const t4 = Date.now();
    const racing = inbox.wait("alice", 2, 10_000, early.signal);
    early.abort();
    assert.deepEqual(await racing, []);
    assert.ok(Date.now() - t4 < 1_000, `an abort during the first read was ignored for ${Date.now() - t4} ms`);

    // subscribe / unsubscribe.
    let calls = 0;
    const off = inbox.subscribe("alice", () => {
      calls += 1;
    });
    await append(store, inbox, [{ user: "alice", tag: "a3" }, { user: "alice", tag: "a4" }]);
    assert.equal(calls, 1, "one notify per batch");
    off();
    await append(store, inbox, [{ user: "alice", tag: "a5" }]);
    assert.equal(calls, 1);
  });
});

test("inbox: concurrent appends under the documented locks never collide", async () => {
  await withStore(async (store) => {
    const inbox = new Inbox(store);
    const users = ["alice", "bob", "carol"];
    // Batches touching overlapping sets of users, all at once.
    const tasks: Promise<void>[] = [];
    const expected = new Map<string, Set<string>>(users.map((u) => [u, new Set()]));
    for (let i = 0; i < 60; i++) {
      const picked = users.filter((_, j) => (i + j) % 3 !== 0 || i % 5 === 0);
      const entries = picked.flatMap((user) => [{ user, tag: `${user}-${i}-a` }, ...(i % 4 === 0 ? [{ user, tag: `${user}-${i}-b` }] : [])]);
      for (const e of entries) expected.get(e.user)?.add(e.tag);
      tasks.push(append(store, inbox, entries));
    }
    await Promise.all(tasks);
    for (const user of users) {
      const events = await inbox.read(user, 0, 10_000);
      const want = expected.get(user) ?? new Set();
      assert.deepEqual(events.map((e) => e.seq), Array.from({ length: want.size }, (_, k) => k + 1), `${user}: dense 1..n`);
      assert.deepEqual(new Set(events.map(tagOf)), want, `${user}: every event once, none overwritten`);
      assert.equal(await inbox.lastSeq(user), want.size);
      // The two events of one batch are adjacent and in order.
      for (const [k, e] of events.entries()) {
        const tag = tagOf(e);
        if (tag.endsWith("-b")) assert.equal(tagOf(events[k - 1]!), tag.replace(/-b$/, "-a"));
      }
    }
  });
});

test("inbox: acknowledge drops only what every device acknowledged; sequence numbers continue after pruning", async () => {
  await withStore(async (store) => {
    const inbox = new Inbox(store);
    const phone = "mimi://a.example/d/alice/phone";
    const laptop = "mimi://a.example/d/alice/laptop";
    const tablet = "mimi://a.example/d/alice/tablet";
    for (let i = 1; i <= 10; i++) await append(store, inbox, [{ user: "alice", tag: `a${i}` }, { user: "bob", tag: `b${i}` }]);
    const seqs = async (user: string) => (await inbox.read(user, 0)).map((e) => e.seq);
    const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

    // One device of two acknowledged: nothing dropped.
    await inbox.acknowledge("alice", phone, 7, [phone, laptop]);
    assert.deepEqual(await seqs("alice"), range(1, 10));
    // The other acknowledges less: up to the smaller one.
    await inbox.acknowledge("alice", laptop, 4, [phone, laptop]);
    assert.deepEqual(await seqs("alice"), range(5, 10));
    // The laptop catches up past the phone: up to the phone's 7.
    await inbox.acknowledge("alice", laptop, 9, [phone, laptop]);
    assert.deepEqual(await seqs("alice"), range(8, 10));
    // A new device that never acknowledged keeps everything that is left for it.
    await inbox.acknowledge("alice", phone, 10, [phone, laptop, tablet]);
    await inbox.acknowledge("alice", laptop, 10, [phone, laptop, tablet]);
    assert.deepEqual(await seqs("alice"), range(8, 10));
    // Another user's log is untouched throughout.
    assert.deepEqual(await seqs("bob"), range(1, 10));

    // Pruning does not reset the sequence: the next event is 11.
    await inbox.acknowledge("alice", tablet, 10, [phone, laptop, tablet]);
    assert.deepEqual(await seqs("alice"), []);
    assert.equal(await inbox.lastSeq("alice"), 10);
    await append(store, inbox, [{ user: "alice", tag: "a11" }]);
    assert.deepEqual((await inbox.read("alice", 10)).map((e) => [e.seq, tagOf(e)]), [[11, "a11"]]);
  });
});
