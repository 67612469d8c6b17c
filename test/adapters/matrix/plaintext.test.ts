// MIMI-E2E-03 (non-negotiable 5): the Matrix bridge running in the hub's process does not make
// the hub see plaintext, in its store or its logs. a.example runs the Matrix adapter and hosts
// the room (hub); alice (Matrix, real Synapse) and bob (native client on b.example) exchange
// distinctive texts both ways: plain, formatted (HTML → Markdown), an edit, a reply, a thread
// reply, and a body over the adapter's limit (refused with a notice). The providers log at
// `debug`. Then both providers are stopped and
//   - every key and value of a.example's store is searched for every text (UTF-8, base64 at each
//     alignment, hex): the hub's namespaces hold none; the bridge's namespaces (`adapters`: the
//     transaction queue, portals and ID maps; `bridge_clients`: alice's MLS state) hold none
//     either once the queue has been handed over (the legacy user's endpoint, where plaintext
//     would be allowed, keeps IDs and keys only);
//   - both providers' log files hold none of the texts.
// Control: the MIMI room ID (not secret) is found in the hub's `rooms` namespace, and the texts
// did reach the other side (so the search looked for something that existed).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { waitForEvent, type MessageEventOf } from "../../helpers/acceptance.ts";
import { findings, scanStore } from "../../helpers/plaintext.ts";
import { bridgeRoom, startProcessWorld } from "./processWorld.ts";

test("MIMI-E2E-03 the Matrix bridge in the hub's process: no message text in the hub's store, the bridge's store or either provider's debug log", async () => {
  const w = await startProcessWorld({ logLevel: "debug", limits: { maxBodyBytes: 2048 } });
  const tag = randomBytes(4).toString("hex");
  const plain = `alice-plain-${tag} ünïcödé`;
  const formatted = `alice-formatted-${tag}`;
  const edited = `alice-edited-${tag}`;
  const threaded = `alice-thread-${tag}`;
  const tooLong = `alice-too-long-${tag}-${"x".repeat(3000)}`;
  const fromBob = `bob-plain-${tag} 🦊`;
  const bobReply = `bob-reply-${tag}`;
  try {
    const { alice, bob } = w;
    const room = await bridgeRoom(w, "plaintext");
    const roomId = room.mimiRoomId;
    const seenByBob = (text: string, what: string) => waitForEvent(bob, (e) => e.type === "message" && e.text.includes(text), what, 120_000) as Promise<MessageEventOf>;

    const first = await alice.sendMessage(room.matrixRoomId, plain);
    const m1 = await seenByBob(plain, "alice's plain message at bob");
    await alice.sendMessage(room.matrixRoomId, { msgtype: "m.text", body: `**${formatted}**`, format: "org.matrix.custom.html", formatted_body: `<strong>${formatted}</strong>` });
    await seenByBob(formatted, "alice's formatted message at bob");
    await alice.edit(room.matrixRoomId, first, edited);
    await seenByBob(edited, "alice's edit at bob");
    await alice.thread(room.matrixRoomId, first, threaded);
    await seenByBob(threaded, "alice's thread reply at bob");
    // Refused by the adapter (limits.maxBodyBytes) with a notice in the room: the refusal is logged,
    // the text must not be.
    await alice.sendMessage(room.matrixRoomId, tooLong);
    await alice.waitForEvent(room.matrixRoomId, (e) => e.content.msgtype === "m.notice" && typeof e.content.body === "string" && e.content.body.startsWith("Not delivered to MIMI"), "the bot's refusal notice", 120_000);

    await bob.client.send(roomId, fromBob);
    await bob.client.reply(roomId, m1.messageId, bobReply);
    await alice.waitForEvent(room.matrixRoomId, (e) => typeof e.content.body === "string" && e.content.body.includes(fromBob), "bob's message on Matrix", 120_000);
    await alice.waitForEvent(room.matrixRoomId, (e) => typeof e.content.body === "string" && e.content.body.includes(bobReply), "bob's reply on Matrix", 120_000);
    // The oversized message never reached MIMI.
    assert.equal(bob.events.some((e) => e.type === "message" && e.text.includes(`alice-too-long-${tag}`)), false);

    await w.native.stop();
    await w.bridge.stop();
    const secrets = [plain, formatted, edited, threaded, `alice-too-long-${tag}`, fromBob, bobReply];
    const { hubHits, bridgeHits, roomIdIn } = await scanStore(w.bridge.dataDir, secrets, roomId);
    assert.deepEqual(hubHits, [], "no message text in the hub's namespaces");
    assert.deepEqual(bridgeHits, [], "the bridge's namespaces keep IDs and keys, not message text, once the queue is handed over");
    assert.ok(roomIdIn.has("rooms"), `the room ID is found in the hub's namespaces (${[...roomIdIn].join(", ")})`);

    for (const p of [w.bridge, w.native]) {
      const log = await readFile(p.logFile);
      assert.ok(log.includes(Buffer.from('"level":"debug"')), `${p.domain} logged at debug`);
      assert.deepEqual(findings(log, secrets, `${p.domain} log`), [], `no message text in ${p.domain}'s log`);
    }
    // Control: the bridge's log did follow these events: the refusal of the oversized message and
    // the MIMI room are in it (without the text).
    const bridgeLog = await readFile(w.bridge.logFile, "utf8");
    assert.match(bridgeLog, /body is larger than 2048 bytes/, "the bridge logged the refusal");
    assert.ok(bridgeLog.includes(roomId), "the bridge's log names the MIMI room");
  } finally {
    await w.stop();
  }
});
