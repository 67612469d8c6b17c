// Acceptance: replayed and regrouped /notify at a follower. Providers in-process
// (test/helpers/providers.ts) with LevelDB stores, hub a.example and follower b.example over real
// mutual TLS. The test holds back a.example's outbox and acts as the hub itself: a PeerClient
// with a.example's certificate posts the very bodies a.example queued for b.example.
//
//  - the same body twice: 201 both times, stored before the first 201, delivered once;
//  - a body that concatenates an already-delivered FanoutMessage with a new one: only the new one;
//  - a client certificate for another domain than `From`: 403, and b.example's store is unchanged
//    (so a later genuine delivery of the same message still happens).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { OutboxEntry } from "../../src/fanout/outbox.ts";
import { createLogger } from "../../src/log.ts";
import { decodeNotifyBody } from "../../src/protocol/index.ts";
import { cborCodec, type Store } from "../../src/storage/index.ts";
import { PeerClient } from "../../src/transport/peerClient.ts";
import { startNetwork, type TestNetwork } from "../helpers/providers.ts";
import { makeProviderCertificate } from "../helpers/tls.ts";
import { closeAll, collect, holdEvents, messagesOf, sleep, testClient, until, waitForEvent, waitForMessage, type TestClient } from "../helpers/acceptance.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Every key and value of every namespace of a store, as text (for "nothing changed"). */
async function dump(store: Store): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const ns of store.namespaces) {
    for await (const { key, value } of store.namespace(ns).iterate()) out.set(`${ns}\u0000${key}`, Buffer.from(value).toString("hex"));
  }
  return out;
}

test("MIMI-PROTO-FANOUT-20 MIMI-PROTO-FANOUT-21 replayed and regrouped /notify: stored before 201, a byte-identical body twice is processed once, a regrouped body delivers only what is new; a certificate for another domain than From is refused and changes nothing", async () => {
  let net: TestNetwork | undefined;
  const clients: TestClient[] = [];
  const peerClients: PeerClient[] = [];
  try {
    net = await startNetwork(["a.example", "b.example"], { storage: "level" });
    const A = net.providers["a.example"]!;
    const B = net.providers["b.example"]!;
    const caPem = await readFile(net.certs.ca.cert, "utf8");
    const peerClientWith = async (files: { cert: string; key: string }) => {
      const pc = new PeerClient({
        domain: "a.example", // From: mimi@a.example
        logger: createLogger({ level: "silent" }),
        tls: { certPem: await readFile(files.cert, "utf8"), privateKey: await readFile(files.key, "utf8") },
        peers: new Map([["b.example", { url: B.url, serverCa: [caPem] }]]),
        defaultServerCa: [caPem],
        connectTimeoutMs: 5_000,
        requestTimeoutMs: 10_000,
        directoryTtlMs: 60_000,
        maxResponseBytes: 1024 * 1024,
      });
      peerClients.push(pc);
      return pc;
    };
    // acting as the hub a.example: a.example's own certificate
    const asHub = await peerClientWith(net.certs.providers["a.example"]!);
    // a certificate of the same CA for c.example, presented with From: mimi@a.example
    const cFiles = await makeProviderCertificate(net.dir, "c.example", net.certs.ca.pair, { domain: "c.example", ips: ["127.0.0.1"] });
    const asImpostor = await peerClientWith(cFiles);

    const alice = await testClient(A.clientApiUrl);
    const bob = await testClient(B.clientApiUrl);
    clients.push(alice, bob);
    await alice.client.register("alice");
    const b = await bob.client.register("bob");
    collect(alice);
    collect(bob);
    const roomId = await alice.client.createRoom("group", { participants: [b.userUri] });
    const roomPath = roomId.replace(/^mimi:\/\//, "");
    await waitForEvent(bob, (e) => e.type === "joined" && e.roomId === roomId, "bob joined");
    const m1 = await alice.client.send(roomId, "one: delivered by the hub itself");
    await waitForMessage(bob, m1, "bob gets the first message from the hub");
    await bob.client.sync();
    const m1Event = bob.tap.rawEvents().filter((e) => e.fanout.kind === "application").at(-1)!;
    const m1Fanout = m1Event.event.fanout; // one encoded FanoutMessage, as b.example stored it

    // ---- from here a.example's outbox is held; the test delivers in its place ------------------------
    await A.services.outbox.stop();
    const m2 = await alice.client.send(roomId, "two: posted twice");
    const m3 = await alice.client.send(roomId, "three: posted behind an old one");
    const outbox = A.store.namespace("outbox").typed(cborCodec<OutboxEntry>());
    const queued: OutboxEntry[] = [];
    for await (const { value } of outbox.iterate({ prefix: "q/b.example/" })) queued.push(value);
    assert.equal(queued.length, 2, "a.example queued the two messages for b.example (and did not send them)");
    const [body2, body3] = queued.map((e) => e.body) as [Uint8Array, Uint8Array];
    for (const body of [body2, body3]) assert.equal(decodeNotifyBody(body).length, 1);

    /** bob's inbox at b.example: events after `after`. */
    const inbox = (after = 0) => B.services.inbox.read("bob", after, 10_000);
    const inboxCount = async (fanout: Uint8Array) => (await inbox()).filter((e) => sha(e.fanout) === sha(fanout)).length;
    const notify = async (pc: PeerClient, body: Uint8Array) => {
      const res = await pc.request("b.example", "notify", { roomId: roomPath }, { body });
      return { status: res.status, code: res.body.length > 0 ? (JSON.parse(Buffer.from(res.body).toString("utf8")) as { code?: string }).code : undefined };
    };

    // ---- the same body twice ---------------------------------------------------------------------------
    const seqBefore = await B.services.inbox.lastSeq("bob");
    // b.example's store writes are slowed down for this one request, and each write's completion
    // is recorded: the 201 must come after the write that holds the message, however slow it is.
    const realBatch = B.store.batch.bind(B.store);
    const writes: { done: number; ops: number }[] = [];
    let order = 0;
    B.store.batch = async (ops, options) => {
      await sleep(300);
      await realBatch(ops, options);
      writes.push({ done: ++order, ops: ops.length });
    };
    let answered: number;
    try {
      assert.equal((await notify(asHub, body2)).status, 201);
      answered = ++order;
    } finally {
      B.store.batch = realBatch;
    }
    assert.ok(writes.length > 0 && writes.every((w) => w.done < answered), `every store write of the notify finished before the 201 (writes ${JSON.stringify(writes)}, answer #${answered})`);
    // MIMI-PROTO-FANOUT-20: when the 201 is in our hands, the event is already in b.example's store
    const stored = (await inbox(seqBefore)).map((e) => sha(e.fanout));
    assert.deepEqual(stored, [sha(body2)], "stored before the 201: bob's inbox holds the message");
    assert.equal(await B.store.namespace("inbound").has(`notify/${sha(body2)}`), true, "the body's dedupe marker is stored too");
    // MIMI-PROTO-FANOUT-21: byte-identical again: 201, nothing new
    assert.equal((await notify(asHub, body2)).status, 201, "a byte-identical duplicate gets 201 too");
    assert.equal(await B.services.inbox.lastSeq("bob"), seqBefore + 1, "processed once");
    assert.equal(await inboxCount(body2), 1);

    // ---- a regrouped body: an already-delivered FanoutMessage followed by a new one --------------------
    const regrouped = Buffer.concat([m1Fanout, body3]);
    assert.equal(decodeNotifyBody(regrouped).length, 2);
    assert.equal((await notify(asHub, regrouped)).status, 201);
    assert.deepEqual((await inbox(seqBefore + 1)).map((e) => sha(e.fanout)), [sha(body3)], "only the new message was delivered");
    assert.equal(await inboxCount(m1Fanout), 1, "the old message is not delivered again");
    // and every other regrouping of what is already there delivers nothing
    assert.equal((await notify(asHub, Buffer.concat([body2, body3]))).status, 201);
    assert.equal((await notify(asHub, Buffer.concat([body3, m1Fanout, body2]))).status, 201);
    assert.equal(await B.services.inbox.lastSeq("bob"), seqBefore + 2, "nothing new from re-grouped duplicates");

    // bob's client sees each message once
    await waitForMessage(bob, m2, "bob gets message two");
    await waitForMessage(bob, m3, "bob gets message three");
    await bob.client.sync();
    await sleep(300);
    const ids = messagesOf(bob, roomId).map((m) => m.messageId);
    assert.deepEqual(ids, [m1, m2, m3], "bob saw one, two and three, once each, in order");
    const appEvents = bob.tap.rawEvents().filter((e) => e.fanout.kind === "application");
    assert.deepEqual(appEvents.map((e) => sha(e.event.fanout)), [sha(m1Fanout), sha(body2), sha(body3)], "bob's event stream carried each FanoutMessage once");

    // ---- a certificate for another domain than From: 403, nothing stored -------------------------------
    const m4 = await alice.client.send(roomId, "four: first from an impostor");
    const fresh: OutboxEntry[] = [];
    for await (const { value } of outbox.iterate({ prefix: "q/b.example/" })) fresh.push(value);
    const body4 = fresh.at(-1)!.body;
    assert.equal(decodeNotifyBody(body4).length, 1);
    await holdEvents(bob); // bob's client changes nothing at b.example meanwhile (no acks)
    await sleep(200);
    const beforeImpostor = await dump(B.store);
    const refused = await notify(asImpostor, body4);
    assert.deepEqual(refused, { status: 403, code: "MIMI_ERR_PEER_CERT_MISMATCH" }, "a client certificate naming c.example with From a.example is refused");
    // also a replay of an already-delivered body, and a regrouped one, through the impostor
    assert.equal((await notify(asImpostor, body2)).status, 403);
    assert.equal((await notify(asImpostor, Buffer.concat([m1Fanout, body4]))).status, 403);
    const afterImpostor = await dump(B.store);
    assert.deepEqual(afterImpostor, beforeImpostor, "b.example's store (inbox, rooms, inbound markers, everything) is unchanged");
    assert.equal(await B.store.namespace("inbound").has(`notify/${sha(body4)}`), false);

    // the genuine hub then delivers the same message: it was not marked as seen
    bob.tap.holdEvents = false;
    assert.equal((await notify(asHub, body4)).status, 201);
    assert.equal(await inboxCount(body4), 1);
    await waitForMessage(bob, m4, "bob gets message four from the genuine hub");
    assert.deepEqual(messagesOf(bob, roomId).map((m) => m.messageId), [m1, m2, m3, m4]);

    // The follower's room subscription did not change through any of this.
    assert.deepEqual((await B.services.follower.room(roomId))?.users, ["bob"]);
    await until(async () => (await B.services.inbox.lastSeq("bob")) === seqBefore + 3, "exactly three new events at b.example");
    const events = (await inbox()).map((e) => sha(e.fanout));
    for (const f of [m1Fanout, body2, body3, body4]) assert.equal(events.filter((h) => h === sha(f)).length <= 1, true, "no FanoutMessage twice in bob's inbox");
  } finally {
    for (const pc of peerClients) await pc.close();
    await closeAll(clients);
    await net?.stop();
  }
});
