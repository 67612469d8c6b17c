// Acceptance: messaging across three providers, each a SEPARATE PROCESS (startProcessNetwork:
// fresh CA, mutual TLS on loopback, LevelDB stores). A group room hosted on a.example with a user
// on each of a.example, b.example and c.example: messages in every direction decrypt, and edits,
// replies, reactions and deletes arrive at the others with the right references.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startProcessNetwork, type ProcessNetwork } from "../../src/demo/processNetwork.ts";
import { tempDir } from "../helpers/processes.ts";
import { closeAll, collect, messagesOf, testClient, waitForEvent, waitForMessage, type TestClient } from "../helpers/acceptance.ts";

const DOMAINS = ["a.example", "b.example", "c.example"] as const;

test("MIMI-PROTO-HUB-07 three providers as processes: a group room on a.example with users on a, b and c; messages in every direction; edits, replies, reactions and deletes carry the right references", async () => {
  const tmp = await tempDir("acc-msg");
  let net: ProcessNetwork | undefined;
  const clients: TestClient[] = [];
  try {
    net = await startProcessNetwork({ domains: DOMAINS, dir: tmp.path });
    const [A, B, C] = DOMAINS.map((d) => net!.providers[d]!);
    assert.ok(A && B && C);
    for (const p of [A, B, C]) assert.ok(p.running && p.pid() !== undefined, `${p.domain} runs as its own process`);
    assert.equal(new Set([A.pid(), B.pid(), C.pid(), process.pid]).size, 4, "three separate processes");

    const alice = await testClient(A.clientApiUrl);
    const bob = await testClient(B.clientApiUrl);
    const carol = await testClient(C.clientApiUrl);
    clients.push(alice, bob, carol);
    const a = await alice.client.register("alice");
    const b = await bob.client.register("bob");
    const c = await carol.client.register("carol");
    for (const x of clients) collect(x);
    assert.equal(b.userUri, "mimi://b.example/u/bob");
    assert.equal(c.userUri, "mimi://c.example/u/carol");

    const roomId = await alice.client.createRoom("group", { name: "Three providers", participants: [b.userUri, c.userUri] });
    assert.match(roomId, /^mimi:\/\/a\.example\/r\//);
    await waitForEvent(bob, (e) => e.type === "joined" && e.roomId === roomId, "bob (b.example) joined");
    await waitForEvent(carol, (e) => e.type === "joined" && e.roomId === roomId, "carol (c.example) joined");
    // Both see the whole room (the name is set by the last commit of createRoom).
    await waitForEvent(bob, (e) => e.type === "roomMetadata" && e.name === "Three providers", "bob sees the room name");
    await waitForEvent(carol, (e) => e.type === "roomMetadata" && e.name === "Three providers", "carol sees the room name");
    for (const x of [alice, bob, carol]) {
      const info = await x.client.room(roomId);
      assert.deepEqual(new Set(info.participants.map((p) => p.user)), new Set([a.userUri, b.userUri, c.userUri]));
      assert.equal(info.members.length, 3);
    }
    const epochs = await Promise.all([alice, bob, carol].map(async (x) => (await x.client.room(roomId)).epoch));
    assert.equal(new Set(epochs).size, 1, `every member at the same epoch: ${epochs.join(", ")}`);

    const users = [
      { name: "alice", tc: alice, uri: a.userUri, client: a.clientUri },
      { name: "bob", tc: bob, uri: b.userUri, client: b.clientUri },
      { name: "carol", tc: carol, uri: c.userUri, client: c.clientUri },
    ];
    /** Waits until every user but the sender has the message, and checks what they got. */
    const arrivesAtOthers = async (senderName: string, messageId: string, check: (m: ReturnType<typeof messagesOf>[number]) => void) => {
      const sender = users.find((u) => u.name === senderName)!;
      for (const u of users) {
        if (u === sender) continue;
        const m = await waitForMessage(u.tc, messageId, `${u.name} gets ${senderName}'s message ${messageId.slice(0, 12)}`);
        assert.equal(m.roomId, roomId);
        assert.equal(m.sender.user, sender.uri, `${u.name}: sender user`);
        assert.equal(m.sender.client, sender.client, `${u.name}: sender client`);
        assert.ok(m.timestamp > 0);
        check(m);
      }
    };

    // ---- messages in every direction (a→b,c; b→a,c; c→a,b) -----------------------------------
    const ids: Record<string, string> = {};
    for (const u of users) {
      const text = `plain hello from ${u.name} on ${u.uri.split("/")[2]}`;
      ids[u.name] = await u.tc.client.send(roomId, text);
      await arrivesAtOthers(u.name, ids[u.name]!, (m) => {
        assert.equal(m.kind, "text");
        assert.equal(m.text, text);
        assert.equal(m.replaces, undefined);
        assert.equal(m.inReplyTo, undefined);
      });
    }
    // Markdown also crosses providers intact.
    const md = await carol.client.send(roomId, "some **bold** words", { markdown: true });
    await arrivesAtOthers("carol", md, (m) => assert.equal(m.text, "some **bold** words"));

    // ---- replies: b replies to a (follower to hub's user), c replies to b (follower to follower) ----
    const replyBA = await bob.client.reply(roomId, ids["alice"]!, "bob answers alice");
    await arrivesAtOthers("bob", replyBA, (m) => {
      assert.equal(m.kind, "text");
      assert.equal(m.text, "bob answers alice");
      assert.equal(m.inReplyTo, ids["alice"]);
      assert.equal(m.replaces, undefined);
    });
    const replyCB = await carol.client.reply(roomId, replyBA, "carol answers bob's answer");
    await arrivesAtOthers("carol", replyCB, (m) => {
      assert.equal(m.inReplyTo, replyBA);
      assert.equal(m.text, "carol answers bob's answer");
    });

    // ---- edits: replaces names the first version, also for an edit of an edit ---------------------
    const edit1 = await carol.client.edit(roomId, ids["carol"]!, "carol's hello, edited once");
    await arrivesAtOthers("carol", edit1, (m) => {
      assert.equal(m.kind, "edit");
      assert.equal(m.text, "carol's hello, edited once");
      assert.equal(m.replaces, ids["carol"]);
    });
    const edit2 = await carol.client.edit(roomId, edit1, "carol's hello, edited twice");
    await arrivesAtOthers("carol", edit2, (m) => {
      assert.equal(m.kind, "edit");
      assert.equal(m.replaces, ids["carol"], "an edit of an edit replaces the first version");
    });
    const editReply = await bob.client.edit(roomId, replyBA, "bob answers alice (edited)");
    await arrivesAtOthers("bob", editReply, (m) => {
      assert.equal(m.kind, "edit");
      assert.equal(m.replaces, replyBA);
      assert.equal(m.inReplyTo, ids["alice"], "an edited reply still replies to the same message");
    });

    // ---- reactions: a reacts to b's message, b reacts to c's ------------------------------------------
    const reactA = await alice.client.react(roomId, ids["bob"]!, "\u{1F44D}");
    await arrivesAtOthers("alice", reactA, (m) => {
      assert.equal(m.kind, "reaction");
      assert.equal(m.reaction, "\u{1F44D}");
      assert.equal(m.inReplyTo, ids["bob"]);
    });
    const reactB = await bob.client.react(roomId, ids["carol"]!, "\u{1F389}");
    await arrivesAtOthers("bob", reactB, (m) => {
      assert.equal(m.kind, "reaction");
      assert.equal(m.reaction, "\u{1F389}");
      assert.equal(m.inReplyTo, ids["carol"]);
    });

    // ---- deletes: b deletes its reply (to a), a deletes its own first message -------------------------
    const delB = await bob.client.delete(roomId, replyBA);
    await arrivesAtOthers("bob", delB, (m) => {
      assert.equal(m.kind, "delete");
      assert.equal(m.deleted, true);
      assert.equal(m.replaces, replyBA, "a delete replaces the first version of the message");
    });
    const delA = await alice.client.delete(roomId, ids["alice"]!);
    await arrivesAtOthers("alice", delA, (m) => {
      assert.equal(m.kind, "delete");
      assert.equal(m.deleted, true);
      assert.equal(m.replaces, ids["alice"]);
    });

    // ---- every message exactly once, in the hub's order, at every member -----------------------------
    const sentBy: Record<string, string[]> = {
      alice: [ids["alice"]!, reactA, delA],
      bob: [ids["bob"]!, replyBA, editReply, reactB, delB],
      carol: [ids["carol"]!, md, replyCB, edit1, edit2],
    };
    const all = Object.values(sentBy).flat();
    for (const u of users) {
      const got = messagesOf(u.tc, roomId).map((m) => m.messageId);
      assert.equal(new Set(got).size, got.length, `${u.name} got no message twice`);
      assert.deepEqual(new Set(got), new Set(all.filter((id) => !sentBy[u.name]!.includes(id))), `${u.name} got every message of the others and none of its own`);
    }
    // The hub's order is one order: the common messages appear in the same order everywhere.
    const order = (tc: TestClient) => messagesOf(tc, roomId).map((m) => m.messageId);
    const common = (x: string[], y: string[]) => x.filter((id) => y.includes(id));
    assert.deepEqual(common(order(bob), order(carol)), common(order(carol), order(bob)));
    assert.deepEqual(common(order(alice), order(bob)), common(order(bob), order(alice)));
    assert.deepEqual(common(order(alice), order(carol)), common(order(carol), order(alice)));
  } finally {
    await closeAll(clients);
    await net?.stop();
    await tmp.remove();
  }
});
