// Acceptance of issue 6 ("Kill -9 the bridge while Synapse pushes 500 events, restart: none lost,
// none duplicated in any room. Replay an already acknowledged transaction: nothing happens twice."),
// end to end: a real Synapse, the Matrix bridge (provider a.example) and bob's provider b.example as
// separate `mimi-bridge serve` processes with LevelDB stores (processWorld.ts). The bridge's
// transaction endpoint is on a port fixed in the registration, so Synapse keeps retrying the
// transactions the killed bridge never acknowledged (its appservice recoverer backs off 2, 4, 8 …
// seconds) and reaches the restarted bridge there.
//
//   MIMI-MATRIX-40 Matrix → MIMI: alice sends 500 numbered messages into a bridged room (hub
//                  a.example); a.example is SIGKILLed after bob has seen ~100 and restarted while
//                  alice goes on; bob gets each exactly once, in order; the bridge posts nothing in
//                  the Matrix room (no notice, no ghost echo).
//   MIMI-MATRIX-41 MIMI → Matrix: bob sends 500 into his MIMI room (hub b.example) whose portal alice
//                  joined; a.example is SIGKILLed after alice has seen ~100 and restarted; the Matrix
//                  room holds each exactly once, in order (outbound txnIds derived from MIMI IDs).
//   MIMI-MATRIX-42 replay: an event Synapse pushed, pushed again under a new txnId and under one of
//                  Synapse's own (already used) txnIds; a transaction pushed twice with the same
//                  txnId, and its events under a new txnId, also after a SIGKILL and restart: each
//                  200, nothing reaches MIMI twice; a reused txnId with NEW events is processed.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { readLog } from "../../../src/demo/processNetwork.ts";
import { messagesOf, until, waitForEvent } from "../../helpers/acceptance.ts";
import type { MatrixEvent } from "../../helpers/matrixClient.ts";
import { BOT_ID, bridgeRoom, endpointUp, portalRoom, pushTransaction, roomTimeline, startProcessWorld, syntheticEvent, untilCount, type ProcessWorld } from "./processWorld.ts";

const TOTAL = 500;
/** The bridge is killed once the receiving side has seen this many. */
const KILL_AFTER = 100;
/** Messages sent while the bridge is down, before it is restarted. */
const SENT_WHILE_DOWN = 50;
/** Synapse's appservice backoff and a cold start of the bridge process on a loaded machine. */
const DEADLINE_MS = 400_000;
const STALL_MS = 150_000;
/** Concurrent sends of the Matrix user in MIMI-MATRIX-40. */
const IN_FLIGHT = 8;

const numbered = (prefix: string): string[] => Array.from({ length: TOTAL }, (_, i) => `${prefix} ${String(i + 1).padStart(3, "0")}/${TOTAL}`);
const bodyOf = (e: MatrixEvent): string | undefined => (e.type === "m.room.message" && typeof e.content.body === "string" ? e.content.body : undefined);
const dupesOf = (xs: readonly string[]): string[] => [...new Set(xs.filter((x, i) => xs.indexOf(x) !== i))];

let w: ProcessWorld | undefined;
/** The bridged room of MIMI-MATRIX-40 (reused by the replay test). */
let bridged: { matrixRoomId: string; mimiRoomId: string } | undefined;

const world = (): ProcessWorld => {
  assert.ok(w !== undefined, "the world started");
  return w;
};

before(async () => {
  w = await startProcessWorld();
});

after(async () => {
  await w?.stop();
});

/** SIGKILLs the bridge, waits until `moreSent()` is true (or the senders are done), restarts it. */
async function killAndRestart(moreSent: () => boolean, what: string): Promise<void> {
  const { bridge } = world();
  const oldPid = bridge.pid();
  const killed = await bridge.stop("SIGKILL");
  assert.deepEqual(killed, { code: null, signal: "SIGKILL" }, "the bridge died of SIGKILL");
  await until(moreSent, what, 120_000);
  await bridge.restart();
  await endpointUp(world());
  assert.ok(bridge.running, "the bridge runs again");
  assert.notEqual(bridge.pid(), oldPid, "as a new process");
}

test("MIMI-MATRIX-40 kill -9 the bridge while Synapse pushes 500 events (Matrix → MIMI): after a restart bob gets each exactly once, in order, and the Matrix room has no bridge echo", { timeout: 900_000 }, async (t) => {
  const { alice, bob } = world();
  bridged = await bridgeRoom(world(), "crash-in");
  const { matrixRoomId, mimiRoomId } = bridged;
  const texts = numbered("in");
  let sent = 0;
  let sendError: unknown;
  // Several sends in flight, so Synapse batches events into transactions and the bridge lags
  // behind: the kill then finds transactions acknowledged but not yet handed over. The order that
  // counts is then the room's (Synapse's), not the numbering.
  let next = 0;
  const sender = Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      for (let i = next++; i < TOTAL; i = next++) {
        await alice.sendMessage(matrixRoomId, texts[i]!);
        sent++;
      }
    }),
  ).catch((err: unknown) => (sendError = err));
  const bobCount = () => messagesOf(bob, mimiRoomId).length;

  await until(() => bobCount() >= KILL_AFTER || sendError !== undefined, `bob to see ${KILL_AFTER} messages`, DEADLINE_MS, () => `bob has ${bobCount()}, alice sent ${sent}`);
  assert.equal(sendError, undefined, "alice's sends go on");
  const bobHad = bobCount();
  const sentAtKill = sent;
  await killAndRestart(() => sent >= Math.min(TOTAL, sentAtKill + SENT_WHILE_DOWN) || sendError !== undefined, "alice sends on while the bridge is down");
  const sentAtRestart = sent;
  assert.ok(bobHad < TOTAL, "killed while events were still flowing");

  await sender;
  assert.equal(sendError, undefined, `every send accepted by Synapse: ${String(sendError)}`);
  await untilCount(bobCount, TOTAL, `bob to get ${TOTAL} messages`, { timeoutMs: DEADLINE_MS, stallMs: STALL_MS });
  // A message sent afterwards is handed over after everything before it (the queue is ordered):
  // a duplicate of an earlier event would have reached bob before it.
  await alice.sendMessage(matrixRoomId, "in: after");
  await waitForEvent(bob, (e) => e.type === "message" && e.roomId === mimiRoomId && e.text === "in: after", "the message after the 500", DEADLINE_MS);
  await bob.client.sync();

  // The Matrix side: alice's messages once each, in the room's order; nothing posted by the bot or a
  // ghost after "Bridged".
  const timeline = await roomTimeline(alice, matrixRoomId);
  const inRoom = timeline.filter((e) => e.sender === alice.userId).map(bodyOf).filter((b): b is string => b !== undefined && b.startsWith("in"));
  assert.deepEqual([...inRoom].sort(), [...texts, "in: after"].sort(), "the Matrix room holds alice's messages once each");
  assert.equal(inRoom.at(-1), "in: after");
  const bridgedAt = timeline.findIndex((e) => e.sender === BOT_ID && bodyOf(e)?.startsWith("Bridged") === true);
  assert.ok(bridgedAt >= 0, "the bot's Bridged answer is in the room");
  const echoes = timeline.slice(bridgedAt + 1).filter((e) => e.sender !== alice.userId && (e.type === "m.room.message" || e.type === "m.reaction" || e.type === "m.room.redaction"));
  assert.deepEqual(
    echoes.map((e) => `${e.sender}: ${bodyOf(e) ?? e.type}`),
    [],
    "no notice, echo or duplicate from the bridge in the Matrix room",
  );

  const got = messagesOf(bob, mimiRoomId).map((m) => m.text);
  assert.deepEqual(dupesOf(got), [], "no message twice at bob");
  assert.deepEqual(
    texts.filter((x) => !got.includes(x)),
    [],
    "no message lost",
  );
  assert.deepEqual(got, inRoom, "each exactly once and in the room's order");
  assert.ok(messagesOf(bob, mimiRoomId).every((m) => m.sender.user === world().aliceUri), "all from alice");
  const log = await readLog(world().bridge);
  const resumed = log.includes("resuming Matrix events stored before the last stop");
  t.diagnostic(`killed a.example when bob had ${bobHad} and alice had sent ${sentAtKill}; restarted after ${sentAtRestart} sent; the restarted bridge ${resumed ? "resumed events it had stored before the kill" : "had no stored events left (Synapse retried everything)"}`);
});

test("MIMI-MATRIX-41 kill -9 the bridge while MIMI messages flow into Matrix: after a restart the Matrix room holds each of 500 exactly once, in order", { timeout: 900_000 }, async (t) => {
  const { alice, bob } = world();
  // alice's hosted MIMI client exists once she acted on Matrix (MIMI-MATRIX-40's room, or here).
  if (bridged === undefined) bridged = await bridgeRoom(world(), "warmup");
  const { matrixRoomId, mimiRoomId } = await portalRoom(world(), "crash-out");
  const ghost = world().ghostOf(world().bobUri);
  const texts = numbered("out");
  let sent = 0;
  let sendError: unknown;
  const sender = (async () => {
    for (const text of texts) {
      await bob.client.send(mimiRoomId, text);
      sent++;
    }
  })().catch((err: unknown) => (sendError = err));
  // alice's /sync view (cheap, may lag) to decide when to kill; the full timeline to check.
  const seenBySync = () => alice.room(matrixRoomId).timeline.filter((e) => e.sender === ghost && bodyOf(e)?.startsWith("out ") === true).length;

  await until(() => seenBySync() >= KILL_AFTER || sendError !== undefined, `alice to see ${KILL_AFTER} of bob's messages`, DEADLINE_MS, () => `alice saw ${seenBySync()}, bob sent ${sent}`);
  assert.equal(sendError, undefined, "bob's sends go on");
  const aliceHad = seenBySync();
  const sentAtKill = sent;
  // b.example (the hub) keeps accepting bob's messages; its outbox holds a.example's copies.
  await killAndRestart(() => sent >= Math.min(TOTAL, sentAtKill + SENT_WHILE_DOWN) || sendError !== undefined, "bob sends on while the bridge is down");
  const sentAtRestart = sent;
  assert.ok(aliceHad < TOTAL, "killed while events were still flowing");

  await sender;
  assert.equal(sendError, undefined, `every send of bob accepted: ${String(sendError)}`);
  let last = { at: 0, n: 0 };
  const ghostBodies = async (): Promise<string[]> =>
    (await roomTimeline(alice, matrixRoomId))
      .filter((e) => e.sender === ghost)
      .map(bodyOf)
      .filter((b): b is string => b !== undefined && b.startsWith("out"));
  // The full timeline is read at most every 2 s (500+ events per read).
  const count = async (): Promise<number> => {
    if (Date.now() - last.at > 2_000) last = { at: Date.now(), n: (await ghostBodies()).length };
    return last.n;
  };
  await untilCount(count, TOTAL, `the Matrix room to hold bob's ${TOTAL} messages`, { timeoutMs: DEADLINE_MS, stallMs: STALL_MS });
  await bob.client.send(mimiRoomId, "out: after");
  await alice.waitForEvent(matrixRoomId, (e) => e.sender === ghost && bodyOf(e) === "out: after", "the message after the 500", DEADLINE_MS);

  const got = await ghostBodies();
  assert.deepEqual(dupesOf(got), [], "no message twice in the Matrix room");
  assert.deepEqual(
    texts.filter((x) => !got.includes(x)),
    [],
    "no message lost",
  );
  assert.deepEqual(got, [...texts, "out: after"], "each exactly once and in the order sent");
  t.diagnostic(`killed a.example when alice had seen ${aliceHad} and bob had sent ${sentAtKill}; restarted after ${sentAtRestart} sent`);
});

test("MIMI-MATRIX-42 replaying acknowledged transactions (same txnId; same events under a new txnId; after a kill -9 and restart) answers 200 and changes nothing; a reused txnId with new events is processed", { timeout: 600_000 }, async () => {
  const { alice, bob } = world();
  if (bridged === undefined) bridged = await bridgeRoom(world(), "replay");
  const { matrixRoomId, mimiRoomId } = bridged;
  const count = (text: string) => messagesOf(bob, mimiRoomId).filter((m) => m.text === text).length;
  /** A real message through Synapse, seen by bob: everything pushed before it was handled (ordered queue). */
  let barriers = 0;
  const barrier = async () => {
    const text = `replay barrier ${++barriers}`;
    await alice.sendMessage(matrixRoomId, text);
    await waitForEvent(bob, (e) => e.type === "message" && e.roomId === mimiRoomId && e.text === text, text, DEADLINE_MS);
  };
  const ok = (r: { status: number; body: Record<string, unknown> }, what: string) => assert.deepEqual(r, { status: 200, body: {} }, what);

  // 1. An event Synapse pushed and the bridge acknowledged, captured as Synapse pushes it (client format).
  const realId = await alice.sendMessage(matrixRoomId, "replay: real");
  await waitForEvent(bob, (e) => e.type === "message" && e.roomId === mimiRoomId && e.text === "replay: real", "the real message", DEADLINE_MS);
  const real = await alice.request<Record<string, unknown>>("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(matrixRoomId)}/event/${encodeURIComponent(realId)}`);
  assert.equal(real.event_id, realId);
  ok(await pushTransaction(world(), `replay-${randomBytes(4).toString("hex")}`, { events: [real] }), "the pushed event under a new txnId");
  // Synapse numbers its appservice transactions 1, 2, 3 …: these were acknowledged already.
  for (const txnId of ["1", "2", "3"]) ok(await pushTransaction(world(), txnId, { events: [real], ephemeral: [] }), `the pushed event under Synapse's used txnId ${txnId}`);

  // 2. A transaction of ours (the hs_token is the homeserver's word), then the same again.
  const tag = randomBytes(4).toString("hex");
  const synthetic = syntheticEvent({ eventId: `$replay-${tag}-1`, roomId: matrixRoomId, sender: alice.userId, content: { msgtype: "m.text", body: "replay: pushed once" } });
  const txnId = `replay-${tag}`;
  ok(await pushTransaction(world(), txnId, { events: [synthetic] }), "first push");
  await waitForEvent(bob, (e) => e.type === "message" && e.roomId === mimiRoomId && e.text === "replay: pushed once", "the pushed message", DEADLINE_MS);
  ok(await pushTransaction(world(), txnId, { events: [synthetic] }), "the same transaction again");
  ok(await pushTransaction(world(), txnId, { events: [{ ...synthetic, unsigned: { age: 99_999 } }] }), "the same transaction again, as a later retry (other unsigned.age)");
  ok(await pushTransaction(world(), `${txnId}-b`, { events: [synthetic] }), "its events under a new txnId");
  await barrier();

  // 3. After a SIGKILL and a restart the markers are still there.
  const { bridge } = world();
  assert.deepEqual(await bridge.stop("SIGKILL"), { code: null, signal: "SIGKILL" });
  await bridge.restart();
  await endpointUp(world());
  ok(await pushTransaction(world(), txnId, { events: [synthetic] }), "the same transaction after a restart");
  ok(await pushTransaction(world(), `${txnId}-c`, { events: [synthetic, real] }), "the same events under a new txnId after a restart");

  // 4. A reused txnId with NEW events (a homeserver whose counter was reset) is processed.
  const fresh = syntheticEvent({ eventId: `$replay-${tag}-2`, roomId: matrixRoomId, sender: alice.userId, content: { msgtype: "m.text", body: "replay: reused txnId, new event" } });
  ok(await pushTransaction(world(), txnId, { events: [fresh] }), "a reused txnId with other events");
  await barrier();

  assert.equal(count("replay: real"), 1, "the real event reached bob once");
  assert.equal(count("replay: pushed once"), 1, "the replayed transaction reached bob once");
  assert.equal(count("replay: reused txnId, new event"), 1, "the new event under a reused txnId reached bob");
  const texts = messagesOf(bob, mimiRoomId).map((m) => m.text);
  const start = texts.indexOf("replay: real");
  assert.deepEqual(texts.slice(start), ["replay: real", "replay: pushed once", "replay barrier 1", "replay: reused txnId, new event", "replay barrier 2"], "nothing else, in order");
});
