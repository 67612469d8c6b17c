// Matrix adapter start-up and room-upgrade edge cases against a real Synapse, with the adapter
// inside provider a.example and bob a native MIMI user on b.example (one network for the file; the
// first test starts the adapter again, the second uses it):
//   MIMI-MATRIX-07 start() with the metrics port taken: the metrics listener starts before the
//                  transaction server (adapter.ts start()), so a metrics port in use fails the
//                  start before the homeserver can push transactions, and nothing stays
//                  listening (the transaction port refuses connections); the status says why.
//                  Once the port is free, start() again brings the adapter up: connected,
//                  /metrics and /health answer, and the homeserver's transactions are handled;
//   MIMI-MATRIX-08 a tombstone naming ANOTHER portal's room (CS-API "Room Upgrades": any room admin
//                  may send m.room.tombstone, no real upgrade needed): two MIMI rooms must not
//                  share one Matrix room, so nothing moves. The bot says so in the tombstoned
//                  room, both portals keep their rooms (messages flow both ways in each), and the
//                  bot stays in the other portal's room.
import assert from "node:assert/strict";
import { connect, createServer, type Server } from "node:net";
import { after, before, test } from "node:test";
import { closeAll, collect, testClient, until, waitForEvent, type TestClient } from "../../helpers/acceptance.ts";
import type { MatrixEvent } from "../../helpers/matrixClient.ts";
import { startNetwork, type TestNetwork } from "../../helpers/providers.ts";
import { BRIDGED, REMOTE } from "../conformance.ts";
import { BOT_LOCALPART, MATRIX_SERVER_NAME, matrixAdapterOf, matrixDriver, type MatrixDriver } from "./driver.ts";

const botId = `@${BOT_LOCALPART}:${MATRIX_SERVER_NAME}`;
const bobUri = `mimi://${REMOTE}/u/bob`;
const HOST = "127.0.0.1";
const LONG = 60_000;

let net: TestNetwork;
let driver: MatrixDriver;
let bob: TestClient;
/** Holds the metrics port while the adapter starts (a listener of this test, closed by it). */
let blocker: Server | undefined;
let metricsPort = 0;
/** The transaction endpoint's port (`listen.port`, chosen free by the driver before the start). */
let transactionPort = 0;

/** Listens on a free loopback port, so that nobody else can bind it until closed. */
async function occupyPort(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: HOST, port: 0 }, () => resolve());
  });
  const address = server.address();
  assert.ok(address !== null && typeof address === "object");
  return { server, port: address.port };
}

async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve, reject) => server.close((err) => (err === undefined ? resolve() : reject(err))));
}

/** A TCP connect to the loopback port: "connected", or the error code (ECONNREFUSED when nothing listens). */
async function tcpConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

before(async () => {
  driver = matrixDriver();
  const extra = (await driver.providerConfig()) as { adapters: { matrix: { listen: { port: number }; [key: string]: unknown } } };
  transactionPort = extra.adapters.matrix.listen.port;
  const held = await occupyPort();
  blocker = held.server;
  metricsPort = held.port;
  extra.adapters.matrix.metrics = { listen: { host: HOST, port: metricsPort } };
  // The bridge host catches an adapter's failed start (the provider comes up, the adapter reports
  // unknown_error), so the network starts although the Matrix adapter does not.
  net = await startNetwork([BRIDGED, REMOTE], { storage: "level", extraConfig: (d) => (d === BRIDGED ? extra : {}) });
  bob = await testClient(net.providers[REMOTE]!.clientApiUrl);
  await bob.client.register("bob");
  collect(bob);
});

after(async () => {
  if (blocker?.listening === true) await closeServer(blocker);
  await closeAll([bob].filter((c) => c !== undefined));
  await driver?.close().catch(() => undefined);
  await net?.stop();
});

const adapter = () => matrixAdapterOf(net.providers[BRIDGED]!);
const isBot = (e: MatrixEvent, text: string) => e.sender === botId && typeof e.content.body === "string" && e.content.body.startsWith(text);

test("MIMI-MATRIX-07 start() with the metrics port taken fails and leaves nothing listening (the transaction port refuses connections); with the port free, start() again connects and serves /metrics", async () => {
  const provider = net.providers[BRIDGED]!;
  // The failed start is reported, with the cause (the metrics listener's EADDRINUSE).
  assert.equal(provider.bridge?.status()["matrix"], "unknown_error");
  const health = adapter().health();
  assert.equal(health.state, "unknown_error");
  assert.match(health.message ?? "", new RegExp(`${HOST}:${metricsPort}.*EADDRINUSE`), "the status names the metrics address in use");
  assert.equal(adapter().metricsUrl, undefined, "no metrics endpoint");
  // The transaction server never listened: the homeserver cannot push events into an adapter
  // that is not running (they wait in Synapse's queue for the AS instead).
  assert.equal(await tcpConnect(transactionPort), "ECONNREFUSED", "the transaction endpoint is not listening");
  assert.equal(await tcpConnect(metricsPort), "connected", "the metrics port is still the blocker's");

  // The operator frees the port; start() is allowed again after a failed one.
  assert.ok(blocker !== undefined);
  await closeServer(blocker);
  blocker = undefined;
  await adapter().start();
  // driver.connect waits for `connected` (whoami answered) and registers the Matrix users.
  await driver.connect(provider, ["alice"]);
  assert.equal(provider.bridge?.status()["matrix"], "connected");
  assert.equal(adapter().health().state, "connected");
  const url = adapter().metricsUrl;
  assert.ok(url !== undefined, "the metrics endpoint listens");
  assert.equal(new URL(url).port, String(metricsPort), "on the configured port");
  const metrics = await fetch(`${url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^mimi_matrix_homeserver_connected 1$/m);
  const h = await fetch(`${url}/health`);
  assert.equal(h.status, 200);
  assert.deepEqual(await h.json(), { status: "ok", state: "connected" });
  assert.equal(await tcpConnect(transactionPort), "connected", "the transaction endpoint listens");
  // The homeserver's transactions are handled: the bot joins on alice's invite and answers `!mimi bridge`.
  await driver.bridgeGroup("alice", "after the restart", []);
});

test("MIMI-MATRIX-08 a tombstone naming another portal's room: the bot says so, both portals keep their rooms (messages flow both ways), the bot stays in the other room", async () => {
  // Needs the adapter brought up by the test above (node:test runs a file's tests in order).
  await until(() => net.providers[BRIDGED]!.bridge?.status()["matrix"] === "connected", "the Matrix adapter is connected", LONG);
  await driver.connect(net.providers[BRIDGED]!, ["alice"]);
  const alice = driver.client("alice");
  const ghost = adapter().ghostFor(bobUri);
  const roomA = await driver.bridgeGroup("alice", "portal A", [bobUri]);
  const roomB = await driver.bridgeGroup("alice", "portal B", [bobUri]);
  let mimiA: string | undefined;
  let mimiB: string | undefined;
  await until(async () => {
    mimiA = (await adapter().portalOf(roomA))?.roomId;
    mimiB = (await adapter().portalOf(roomB))?.roomId;
    return mimiA !== undefined && mimiB !== undefined;
  }, "both rooms are portals", LONG);
  assert.ok(mimiA !== undefined && mimiB !== undefined && mimiA !== mimiB);
  await until(() => bob.events.some((e) => e.type === "joined" && e.roomId === mimiA) && bob.events.some((e) => e.type === "joined" && e.roomId === mimiB), "bob is in both MIMI rooms", LONG);
  await alice.waitForMembership(roomA, ghost, "join", LONG);
  await alice.waitForMembership(roomB, ghost, "join", LONG);

  // alice (creator of A, so a room admin) points A's tombstone at B: a plain state event, no upgrade.
  await alice.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomA)}/state/m.room.tombstone/`, { body: "moved", replacement_room: roomB });
  await alice.waitForEvent(roomA, (e) => isBot(e, `This room was replaced by ${roomB}, which is bridged to another MIMI room: this room stays bridged, nothing moves.`), "the bot's notice in A", LONG);

  // Nothing moved: each portal still maps to its own room.
  assert.equal(await adapter().matrixRoomOf(roomA), roomA);
  assert.deepEqual(await adapter().matrixRoomsOf(roomA), [roomA]);
  assert.equal(await adapter().matrixRoomOf(roomB), roomB);
  assert.deepEqual(await adapter().matrixRoomsOf(roomB), [roomB]);
  assert.equal((await adapter().portalOf(roomA))?.roomId, mimiA);
  assert.equal((await adapter().portalOf(roomB))?.roomId, mimiB);

  // Matrix → MIMI: A's messages reach A's MIMI room, B's reach B's.
  await alice.sendMessage(roomA, "from A after the tombstone");
  await alice.sendMessage(roomB, "from B after the tombstone");
  const fromA = await waitForEvent(bob, (e) => e.type === "message" && e.text === "from A after the tombstone", "bob reads A's message", LONG);
  const fromB = await waitForEvent(bob, (e) => e.type === "message" && e.text === "from B after the tombstone", "bob reads B's message", LONG);
  assert.ok(fromA.type === "message" && fromB.type === "message");
  assert.equal(fromA.roomId, mimiA, "A's message is in A's MIMI room");
  assert.equal(fromB.roomId, mimiB, "B's message is in B's MIMI room");
  // MIMI → Matrix: each MIMI room still shows in its own Matrix room.
  await bob.client.send(mimiA, "bob to A after the tombstone");
  await bob.client.send(mimiB, "bob to B after the tombstone");
  await alice.waitForEvent(roomA, (e) => e.sender === ghost && e.content.body === "bob to A after the tombstone", "alice reads bob in A", LONG);
  await alice.waitForEvent(roomB, (e) => e.sender === ghost && e.content.body === "bob to B after the tombstone", "alice reads bob in B", LONG);
  assert.ok(!alice.room(roomB).timeline.some((e) => e.content.body === "bob to A after the tombstone"), "A's message did not go to B");
  assert.ok(!alice.room(roomA).timeline.some((e) => e.content.body === "bob to B after the tombstone"), "B's message did not go to A");

  // The bot stays in B (it neither treated B as a room to leave nor as A's new room); the
  // homeserver's member list is the word, after every event above was handled.
  await adapter().idle();
  assert.ok((await alice.joinedMembers(roomB)).includes(botId), "the bot is still in B");
  assert.ok((await alice.joinedMembers(roomA)).includes(botId), "the bot is still in A");
});
