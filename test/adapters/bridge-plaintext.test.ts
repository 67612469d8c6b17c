// MIMI-E2E-02: a bridge in the hub's process does not make the hub see plaintext. a.example hosts
// the room (hub) and runs the loopback adapter; its platform user alice and bob, a native client
// on b.example, exchange distinctive texts both ways (with an edit and a reply). Then a.example
// is stopped and every key and value of its store is searched for every text (UTF-8, base64 at
// each alignment, hex). The hub's namespaces must hold none. The bridge's namespaces (`adapters`:
// portals, ID maps and submission answers; `bridge_clients`: the MLS state of alice's client)
// belong to the legacy user's endpoint, where plaintext would be allowed; today they keep IDs and
// keys only (a platform event is acknowledged once the hub accepted its MLS message, and a
// resubmission rebuilds the same message ID from a keyed salt), and the test pins that too.
// Control: the room ID (not secret) is found in the hub's `rooms` namespace.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { test } from "node:test";
import { loopbackPlatform, resetLoopbackPlatform, type LoopbackAdapter } from "../../adapters/loopback/index.ts";
import { platformEventId, platformRoomId, platformUserId } from "../../src/adapter/index.ts";
import { closeAll, collect, testClient, until, waitForEvent, type MessageEventOf } from "../helpers/acceptance.ts";
import { scanStore } from "../helpers/plaintext.ts";
import { startNetwork } from "../helpers/providers.ts";

const A = "a.example";
const B = "b.example";

test("MIMI-E2E-02 a bridge in the hub's process: the hub's namespaces hold no message text, nor do the bridge's", async () => {
  resetLoopbackPlatform(A);
  const net = await startNetwork([A, B], { storage: "level", extraConfig: (d) => (d === A ? { adapters: { loopback: {} } } : {}) });
  const bob = await testClient(net.providers[B]!.clientApiUrl);
  const tag = randomBytes(4).toString("hex");
  const fromAlice = `alice-plaintext-${tag} ünïcödé`;
  const aliceEdit = `alice-edited-${tag}`;
  const fromBob = `bob-plaintext-${tag} 🦊`;
  const bobReply = `bob-reply-${tag}`;
  let roomId: string;
  try {
    await bob.client.register("bob");
    collect(bob);
    const adapter = net.providers[A]!.bridge!.adapter("loopback") as LoopbackAdapter;
    const platform = loopbackPlatform(A);
    const room = platformRoomId("#e2e");
    const created = await adapter.act({ type: "room.create", platformEventId: platformEventId("c"), sender: platformUserId("alice"), room, kind: "group", invite: [`mimi://${B}/u/bob`] });
    assert.equal(created.status, "accepted");
    roomId = created.status === "accepted" ? created.roomId! : "";
    await until(() => bob.events.some((e) => e.type === "joined"), "bob joined");
    assert.equal((await adapter.act({ type: "message", platformEventId: platformEventId("m1"), sender: platformUserId("alice"), room, text: fromAlice })).status, "accepted");
    const m1 = (await waitForEvent(bob, (e) => e.type === "message" && e.text === fromAlice, "alice's message at bob")) as MessageEventOf;
    assert.equal((await adapter.act({ type: "message.edit", platformEventId: platformEventId("m2"), sender: platformUserId("alice"), room, target: platformEventId("m1"), text: aliceEdit })).status, "accepted");
    await waitForEvent(bob, (e) => e.type === "message" && e.text === aliceEdit, "the edit at bob");
    await bob.client.send(roomId, fromBob);
    await bob.client.reply(roomId, m1.messageId, bobReply);
    await platform.waitFor(() => platform.transcript(room).find((e) => e.kind === "message" && e.text === bobReply), "bob's reply on the platform");
    assert.ok(platform.transcript(room).some((e) => e.kind === "message" && e.text === fromBob));
  } catch (err) {
    await closeAll([bob]);
    await net.stop();
    throw err;
  }
  await closeAll([bob]);
  await net.providers[A]!.stop();
  const secrets = [fromAlice, aliceEdit, fromBob, bobReply];
  const { hubHits, bridgeHits, roomIdIn } = await scanStore(join(net.dir, `data-${A}`), secrets, roomId).finally(() => net.stop());
  assert.deepEqual(hubHits, [], "no message text in the hub's namespaces");
  assert.deepEqual(bridgeHits, [], "the bridge keeps IDs and keys, not message text");
  assert.ok(roomIdIn.has("rooms"), `the room ID is found in the hub's namespaces (${[...roomIdIn].join(", ")})`);
});
