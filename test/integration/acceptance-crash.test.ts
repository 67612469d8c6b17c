// Acceptance: kill -9 a follower while the hub fans out. Providers a.example (hub) and
// b.example (follower) run as SEPARATE PROCESSES with LevelDB stores (startProcessNetwork, mutual
// TLS on loopback). alice on a.example sends 1,000 messages one after the other; after about 300
// were accepted the test kills b.example with SIGKILL, lets alice send 100 more while it is down,
// and restarts it on the same data folder; then once more after about 650. bob on b.example must
// then get every message exactly once and in order: the hub's durable outbox retries, the
// follower stores before it answers 201 and deduplicates what it already stored.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startProcessNetwork, type ProcessNetwork } from "../../src/demo/processNetwork.ts";
import { tempDir } from "../helpers/processes.ts";
import { closeAll, collect, messagesOf, sleep, testClient, until, waitForEvent, type TestClient } from "../helpers/acceptance.ts";

const TOTAL = 1_000;
/** After how many accepted messages b.example is killed (and restarted). */
const KILL_AFTER = [300, 650];
/** Messages alice sends while b.example is down before it is restarted. */
const SENT_WHILE_DOWN = 100;

test("MIMI-PROTO-HUB-07 MIMI-PROTO-FANOUT-20 kill -9 the follower while the hub fans out 1,000 messages: after a restart on the same data folder the receiver gets every message exactly once, in order", async () => {
  const tmp = await tempDir("acc-crash");
  let net: ProcessNetwork | undefined;
  const clients: TestClient[] = [];
  try {
    net = await startProcessNetwork({ domains: ["a.example", "b.example"], dir: tmp.path });
    const A = net.providers["a.example"]!;
    const B = net.providers["b.example"]!;
    const alice = await testClient(A.clientApiUrl);
    const bob = await testClient(B.clientApiUrl, { pollWaitMs: 2_000 });
    clients.push(alice, bob);
    await alice.client.register("alice");
    const b = await bob.client.register("bob");
    collect(alice);
    collect(bob);
    const roomId = await alice.client.createRoom("group", { participants: [b.userUri] });
    await waitForEvent(bob, (e) => e.type === "joined" && e.roomId === roomId, "bob (b.example) joined");

    const texts = Array.from({ length: TOTAL }, (_, i) => `message ${String(i).padStart(4, "0")} of ${TOTAL}`);
    let accepted = 0;
    let sendError: unknown;
    const sender = (async () => {
      for (const text of texts) {
        await alice.client.send(roomId, text);
        accepted += 1;
      }
    })().catch((err: unknown) => {
      sendError = err;
    });

    // ---- kill -9 b.example partway (twice), restart it on the same data folder each time -------------
    const kills: { acceptedAtKill: number; bobHad: number; acceptedAtRestart: number }[] = [];
    for (const killAfter of KILL_AFTER) {
      await until(() => accepted >= killAfter || sendError !== undefined, `${killAfter} messages accepted`, 60_000);
      assert.equal(sendError, undefined, "alice's sends go on");
      const oldPid = B.pid();
      const killed = await B.stop("SIGKILL");
      const acceptedAtKill = accepted;
      const bobHad = messagesOf(bob, roomId).length;
      assert.deepEqual(killed, { code: null, signal: "SIGKILL" }, "b.example died of SIGKILL");
      assert.ok(acceptedAtKill < TOTAL, "killed partway through the sending");
      // The hub keeps accepting while the follower is down; its outbox holds the fanout.
      await until(() => accepted >= acceptedAtKill + SENT_WHILE_DOWN || sendError !== undefined, "alice sends on while b.example is down", 60_000);
      const acceptedAtRestart = accepted;
      await B.restart();
      assert.ok(B.running);
      assert.notEqual(B.pid(), oldPid, "b.example runs as a new process");
      kills.push({ acceptedAtKill, bobHad, acceptedAtRestart });
    }

    await sender;
    assert.equal(sendError, undefined, `every send accepted: ${String(sendError)}`);
    assert.equal(accepted, TOTAL);

    // ---- bob gets everything, once, in order ------------------------------------------------------------
    // (bounded: fails when bob makes no progress for 20 s)
    let progress = { count: -1, at: Date.now() };
    await until(
      () => {
        const count = messagesOf(bob, roomId).length;
        if (count !== progress.count) progress = { count, at: Date.now() };
        else if (Date.now() - progress.at > 20_000) assert.fail(`bob got no further message for 20 s; he has ${count} of ${TOTAL}`);
        return count >= TOTAL;
      },
      `bob to get ${TOTAL} messages`,
      120_000,
      () => `bob has ${messagesOf(bob, roomId).length}`,
    );
    await sleep(500); // anything extra (a duplicate) would arrive right behind
    await bob.client.sync();
    const got = messagesOf(bob, roomId).map((m) => m.text);
    const dupes = got.filter((t, i) => got.indexOf(t) !== i);
    assert.deepEqual(dupes, [], "no message twice");
    const missing = texts.filter((t) => !got.includes(t));
    assert.deepEqual(missing, [], "no message missing");
    assert.deepEqual(got, texts, "every message exactly once and in the order sent");

    // ---- and at the provider level: each accepted message is in bob's inbox exactly once ----------------
    const appEvents = bob.tap.rawEvents().filter((e) => e.fanout.kind === "application" && e.event.roomId === roomId);
    const hashes = appEvents.map((e) => createHash("sha256").update(e.fanout.message.bytes).digest("hex"));
    assert.equal(new Set(hashes).size, hashes.length, "b.example's inbox held no FanoutMessage twice");
    assert.equal(hashes.length, TOTAL, "b.example's inbox held every accepted message");
    const seqs = appEvents.map((e) => e.seq);
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), "in seq order");
    const stamps = appEvents.map((e) => Number(e.fanout.timestamp));
    assert.deepEqual(stamps, [...stamps].sort((x, y) => x - y), "in the hub's order (accepted timestamps never go back)");
    console.log(`acceptance-crash: ${kills.map((k) => `killed b.example at ${k.acceptedAtKill} accepted (bob had ${k.bobHad}), restarted at ${k.acceptedAtRestart}`).join("; ")}; ${TOTAL} delivered once each`);
  } finally {
    await closeAll(clients);
    await net?.stop();
    await tmp.remove();
  }
});
