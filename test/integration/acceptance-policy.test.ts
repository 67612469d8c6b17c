// Acceptance: room policy at the hub. Providers in-process (test/helpers/providers.ts), hub
// a.example and follower b.example over real mutual TLS; clients use the real HTTP client API.
//
//  - A banned (or removed) user's submissions are refused: the SDK send fails with
//    MIMI_ERR_SDK_NOT_ALLOWED, and a message made from the client's kept MLS state and posted to
//    the client API by hand gets the hub's SubmitMessageResponse notAllowed. The banned client's
//    event stream is held back, so its SDK still believes it is a member (as a client that missed
//    the ban, or a malicious one that ignores it, would).
//  - A user without the capability cannot add or remove: an attendee of a moderated channel, and a
//    member of a group, get notAllowed for their commit and the room's epoch does not change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isMimiError } from "../../src/errors.ts";
import { inspectMessage } from "../../src/mls/index.ts";
import { startNetwork, type TestNetwork } from "../helpers/providers.ts";
import { closeAll, collect, encryptWithKeptState, holdEvents, messagesOf, rawSubmit, testClient, until, waitForEvent, waitForMessage, type TestClient } from "../helpers/acceptance.ts";

const notAllowed = (e: unknown) => isMimiError(e, "MIMI_ERR_SDK_NOT_ALLOWED");

test("MIMI-PROTO-HUB-04 a banned user's and a removed user's messages are refused by the hub: SDK NOT_ALLOWED, raw SubmitMessageResponse notAllowed, nothing delivered", async () => {
  let net: TestNetwork | undefined;
  const clients: TestClient[] = [];
  try {
    net = await startNetwork(["a.example", "b.example"]);
    const A = net.providers["a.example"]!;
    const B = net.providers["b.example"]!;
    const alice = await testClient(A.clientApiUrl);
    const carol = await testClient(A.clientApiUrl);
    const bob = await testClient(B.clientApiUrl);
    const dave = await testClient(B.clientApiUrl);
    clients.push(alice, carol, bob, dave);
    const a = await alice.client.register("alice");
    const c = await carol.client.register("carol");
    const b = await bob.client.register("bob");
    const d = await dave.client.register("dave");
    for (const x of clients) collect(x);
    const roomId = await alice.client.createRoom("group", { participants: [b.userUri, c.userUri, d.userUri] });
    for (const x of [bob, carol, dave]) await waitForEvent(x, (e) => e.type === "joined" && e.roomId === roomId, "joined");
    // The room record (epoch, accepted handshakes) plus the count of accepted messages.
    const hub = async () => ({ ...(await A.services.hub.record(roomId))!, messages: await A.services.hub.acceptedMessages(roomId) });
    await until(async () => {
      const epoch = String((await hub()).epoch);
      for (const x of [alice, bob, carol, dave]) if ((await x.client.room(roomId)).epoch !== epoch) return false;
      return true;
    }, "every member at the hub's epoch");

    // Control: before the ban, bob's messages are accepted and delivered.
    const before = await bob.client.send(roomId, "bob, before the ban");
    await waitForMessage(alice, before, "alice gets bob's message from before the ban");
    await waitForMessage(carol, before, "carol gets bob's message from before the ban");

    // ---- ban bob; his device does not hear of it -------------------------------------------------
    await holdEvents(bob);
    await alice.client.ban(roomId, b.userUri);
    await waitForEvent(carol, (e) => e.type === "participantBanned" && e.user === b.userUri && e.by === a.userUri, "carol sees bob banned by alice");
    assert.equal((await bob.client.room(roomId)).status, "active", "bob's SDK still believes it is a member");
    const afterBan = await hub();
    const banned = afterBan.epoch;

    await assert.rejects(bob.client.send(roomId, "bob, after the ban (SDK)"), notAllowed, "the SDK send of a banned user fails with MIMI_ERR_SDK_NOT_ALLOWED");
    const sdkSubmit = bob.tap.submits.at(-1)!;
    assert.equal(sdkSubmit.code, "notAllowed", "the hub answered SubmitMessageResponse notAllowed");
    const sdkEpoch = inspectMessage(sdkSubmit.message);
    assert.ok(sdkEpoch.wireFormat === "private_message");
    assert.equal(sdkEpoch.epoch, BigInt(banned - 1), "the message is of the previous epoch, which the hub still accepts from members: the refusal is the policy's");

    const raw = await rawSubmit(bob, roomId, await encryptWithKeptState(bob, roomId, "bob, after the ban (raw)"));
    assert.equal(raw.status, 200, JSON.stringify(raw.body));
    assert.equal(raw.code, "notAllowed", "a fresh message from bob's kept MLS state, posted by hand: notAllowed");
    const afterRefusals = await hub();
    assert.equal(afterRefusals.accepted, afterBan.accepted, "the hub accepted no handshake from bob");
    assert.equal(afterRefusals.messages, afterBan.messages, "the hub accepted no message from bob");
    assert.equal(afterRefusals.epoch, banned);

    // ---- remove dave; his device does not hear of it either -------------------------------------
    await holdEvents(dave);
    await alice.client.removeUser(roomId, d.userUri);
    await waitForEvent(carol, (e) => e.type === "participantRemoved" && e.user === d.userUri, "carol sees dave removed");
    const afterRemove = await hub();
    await assert.rejects(dave.client.send(roomId, "dave, after the removal (SDK)"), notAllowed, "the SDK send of a removed user fails with MIMI_ERR_SDK_NOT_ALLOWED");
    assert.equal(dave.tap.submits.at(-1)!.code, "notAllowed");
    const rawDave = await rawSubmit(dave, roomId, await encryptWithKeptState(dave, roomId, "dave, after the removal (raw)"));
    assert.equal(rawDave.code, "notAllowed");
    assert.equal((await hub()).accepted, afterRemove.accepted, "the hub accepted no handshake from dave");
    assert.equal((await hub()).messages, afterRemove.messages, "the hub accepted no message from dave");

    // ---- nothing of it was delivered: a later message arrives, the refused ones never did -------------
    const sentinel = await carol.client.send(roomId, "carol, after everything");
    await waitForMessage(alice, sentinel, "alice gets carol's later message");
    for (const x of [alice, carol]) {
      const texts = messagesOf(x, roomId).map((m) => m.text);
      for (const refused of ["bob, after the ban (SDK)", "bob, after the ban (raw)", "dave, after the removal (SDK)", "dave, after the removal (raw)"]) {
        assert.ok(!texts.includes(refused), `"${refused}" was not delivered`);
      }
    }
  } finally {
    await closeAll(clients);
    await net?.stop();
  }
});

test("MIMI-PROTO-HUB-03 without the capability a user cannot add or remove: an attendee of a moderated channel and a member of a group get notAllowed and the epoch does not change", async () => {
  let net: TestNetwork | undefined;
  const clients: TestClient[] = [];
  try {
    net = await startNetwork(["a.example", "b.example"]);
    const A = net.providers["a.example"]!;
    const B = net.providers["b.example"]!;
    const alice = await testClient(A.clientApiUrl);
    const bob = await testClient(B.clientApiUrl);
    const carol = await testClient(B.clientApiUrl);
    const dave = await testClient(B.clientApiUrl);
    clients.push(alice, bob, carol, dave);
    const a = await alice.client.register("alice");
    const b = await bob.client.register("bob");
    const c = await carol.client.register("carol");
    const d = await dave.client.register("dave");
    for (const x of clients) collect(x);
    const epochOf = async (roomId: string) => (await A.services.hub.record(roomId))!.epoch;
    const participants = async (roomId: string) => {
      await alice.client.sync();
      return new Map((await alice.client.room(roomId)).participants.map((p) => [p.user, p.roleName]));
    };
    /** The commits bob sent during `fn`, with the hub's answers. */
    const bobCommits = async (fn: () => Promise<unknown>) => {
      const n = bob.tap.updates.length;
      await fn();
      return bob.tap.updates.slice(n);
    };

    // ---- moderated channel: bob and carol are attendees ------------------------------------------
    const channel = await alice.client.createRoom("channel", { participants: [b.userUri, c.userUri] });
    await waitForEvent(bob, (e) => e.type === "joined" && e.roomId === channel, "bob joined the channel");
    await waitForEvent(carol, (e) => e.type === "joined" && e.roomId === channel, "carol joined the channel");
    await until(async () => (await bob.client.room(channel)).epoch === String(await epochOf(channel)), "bob at the channel's epoch");
    const before = await participants(channel);
    assert.equal(before.get(a.userUri), "super_admin");
    assert.equal(before.get(b.userUri), "attendee");
    assert.equal(before.get(c.userUri), "attendee");
    const E = await epochOf(channel);
    const daveInbox = await B.services.inbox.lastSeq("dave");

    // an attendee adds someone
    const add = await bobCommits(() => assert.rejects(bob.client.addUser(channel, d.userUri), notAllowed, "an attendee's add fails with MIMI_ERR_SDK_NOT_ALLOWED"));
    assert.deepEqual(add.map((u) => [u.handshakeKind, u.code]), [["commit", "notAllowed"]], "one commit, refused notAllowed (not retried)");
    assert.equal(add[0]!.handshakeEpoch, BigInt(E), "the refused commit was for the current epoch");
    assert.equal(await epochOf(channel), E, "the channel's epoch did not change");
    assert.equal(await B.services.inbox.lastSeq("dave"), daveInbox, "no Welcome reached dave");
    assert.ok(!(await participants(channel)).has(d.userUri));

    // an attendee removes someone
    const remove = await bobCommits(() => assert.rejects(bob.client.removeUser(channel, c.userUri), notAllowed, "an attendee's remove fails with MIMI_ERR_SDK_NOT_ALLOWED"));
    assert.deepEqual(remove.map((u) => [u.handshakeKind, u.code]), [["commit", "notAllowed"]]);
    assert.equal(remove[0]!.handshakeEpoch, BigInt(E));
    assert.equal(await epochOf(channel), E, "the channel's epoch did not change");
    assert.equal((await participants(channel)).get(c.userUri), "attendee", "carol is still an attendee");

    // control: the super_admin may remove carol
    await alice.client.removeUser(channel, c.userUri);
    assert.equal(await epochOf(channel), E + 1);
    await waitForEvent(carol, (e) => e.type === "left" && e.roomId === channel, "carol is removed by the super_admin");

    // ---- group: bob is a member (may add, may not remove) -----------------------------------------
    const group = await alice.client.createRoom("group", { participants: [b.userUri] });
    await waitForEvent(bob, (e) => e.type === "joined" && e.roomId === group, "bob joined the group");
    await until(async () => (await bob.client.room(group)).epoch === String(await epochOf(group)), "bob at the group's epoch");
    const G = await epochOf(group);
    const added = await bobCommits(() => bob.client.addUser(group, d.userUri));
    assert.deepEqual(added.map((u) => u.code), ["success"], "control: a member may add");
    assert.equal(await epochOf(group), G + 1);
    await waitForEvent(dave, (e) => e.type === "joined" && e.roomId === group, "dave joined the group");
    const removed = await bobCommits(() => assert.rejects(bob.client.removeUser(group, d.userUri), notAllowed, "a member's remove fails with MIMI_ERR_SDK_NOT_ALLOWED"));
    assert.deepEqual(removed.map((u) => [u.handshakeKind, u.code]), [["commit", "notAllowed"]]);
    assert.equal(removed[0]!.handshakeEpoch, BigInt(G + 1));
    assert.equal(await epochOf(group), G + 1, "the group's epoch did not change");
    assert.equal((await participants(group)).get(d.userUri), "member", "dave is still a member");
    assert.ok(!dave.events.some((e) => e.type === "left" && e.roomId === group));

    // bob's SDK dropped its refused commit: its next message decrypts at the others
    const m = await bob.client.send(group, "bob, after the refused removal");
    assert.equal((await waitForMessage(alice, m, "alice decrypts bob's later message")).text, "bob, after the refused removal");
    await waitForMessage(dave, m, "dave decrypts bob's later message");
    // control: the admin may remove dave
    await alice.client.removeUser(group, d.userUri);
    await waitForEvent(dave, (e) => e.type === "left" && e.roomId === group, "dave removed by the admin");
  } finally {
    await closeAll(clients);
    await net?.stop();
  }
});
