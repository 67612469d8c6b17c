// MimiClient against an in-memory fake of the client API (fakeProvider.ts): the whole SDK logic
// (rooms, adds, messages, references, removes, bans, leave, second device, restart, races)
// without HTTP. The real provider is exercised in test/integration/client.test.ts.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { MimiError } from "../../../src/errors.ts";
import { FakeProvider } from "./fakeProvider.ts";
import { closeAll, collect, isMessage, memoryState, newClient, waitFor } from "./helpers.ts";
import { MimiClient } from "../../../src/client-api/sdk/index.ts";
import type { MimiEvent } from "../../../src/client-api/sdk/index.ts";

afterEach(closeAll);

async function registered(p: FakeProvider, name: string) {
  const t = p.transport();
  const { client, store } = await newClient(t);
  const account = await client.register(name);
  return { client, store, account, transport: t };
}

test("MimiClient.register(apiUrl, user) makes a client and an account in one call", async () => {
  const p = new FakeProvider();
  const { client, account } = await MimiClient.register("http://fake.invalid", "zoe", { state: await memoryState(), transport: p.transport() });
  assert.equal(account.userUri, "mimi://a.example/u/zoe");
  assert.equal(await client.token(), account.token);
  await client.close();
});

test("register, login: a device, a stable client URI, KeyPackages and one last-resort KeyPackage uploaded", async () => {
  const p = new FakeProvider();
  const { client, account, transport } = await registered(p, "alice");
  assert.equal(account.userUri, "mimi://a.example/u/alice");
  assert.match(account.clientUri, /^mimi:\/\/a\.example\/d\/alice\/[0-9a-f]{16}$/);
  assert.ok(account.token.length > 0);
  assert.deepEqual(transport.calls.filter((c) => c.startsWith("keyPackages")), ["keyPackages:10:false", "keyPackages:1:true"]);
  const again = await client.account();
  assert.deepEqual(again, { userUri: account.userUri, provider: "a.example", deviceId: account.deviceId, clientUri: account.clientUri });
  await client.close();
});

test("group room: create, add a user, messages both ways; edit, reply, react, unreact and delete arrive with their references", async () => {
  const p = new FakeProvider();
  const alice = await registered(p, "alice");
  const bob = await registered(p, "bob");
  const ca = collect(alice.client);
  const cb = collect(bob.client);
  const roomId = await alice.client.createRoom("group", { name: "Clubhouse" });
  await waitFor(ca.events, (e) => e.type === "joined" && e.roomId === roomId);
  await alice.client.addUser(roomId, bob.account.userUri);
  await waitFor(cb.events, (e) => e.type === "joined" && e.roomId === roomId);
  const added = await waitFor(ca.events, (e) => e.type === "participantAdded");
  assert.ok(added.type === "participantAdded" && added.user === bob.account.userUri && added.role === 2 && added.by === alice.account.userUri);

  const info = await bob.client.room(roomId);
  assert.equal(info.name, "Clubhouse");
  assert.deepEqual(
    info.participants.map((x) => [x.user, x.roleName]),
    [
      [alice.account.userUri, "admin"],
      [bob.account.userUri, "member"],
    ],
  );
  assert.equal(info.members.length, 2);

  const m1 = await alice.client.send(roomId, "hello bob");
  const got1 = await waitFor(cb.events, isMessage("hello bob"));
  assert.equal(got1.messageId, m1);
  assert.deepEqual(got1.sender, { user: alice.account.userUri, client: alice.account.clientUri });
  assert.equal(got1.kind, "text");
  assert.ok(got1.timestamp > 1_700_000_000_000);

  const m2 = await bob.client.reply(roomId, m1, "hi alice", { markdown: true });
  const got2 = await waitFor(ca.events, isMessage("hi alice"));
  assert.equal(got2.inReplyTo, m1);
  assert.equal(got2.messageId, m2);

  const e1 = await alice.client.edit(roomId, m1, "hello bob (edited)");
  const gotEdit = await waitFor(cb.events, isMessage("hello bob (edited)"));
  assert.equal(gotEdit.kind, "edit");
  assert.equal(gotEdit.replaces, m1);
  // a second edit still replaces the first version (content §5.5)
  await alice.client.edit(roomId, e1, "hello bob (edited twice)");
  const gotEdit2 = await waitFor(cb.events, isMessage("hello bob (edited twice)"));
  assert.equal(gotEdit2.replaces, m1);

  const r = await bob.client.react(roomId, m1, "\u{1F44D}");
  const gotReact = await waitFor(ca.events, (e) => e.type === "message" && e.kind === "reaction");
  assert.ok(gotReact.type === "message" && gotReact.reaction === "\u{1F44D}" && gotReact.inReplyTo === m1 && gotReact.messageId === r);
  await bob.client.unreact(roomId, m1);
  const gotUnreact = await waitFor(ca.events, (e) => e.type === "message" && e.kind === "unreact");
  assert.ok(gotUnreact.type === "message" && gotUnreact.replaces === r && gotUnreact.deleted === true);
  assert.equal(gotUnreact.type === "message" && gotUnreact.reaction, "\u{1F44D}", "the unreact says which reaction it withdraws");

  await bob.client.delete(roomId, m2);
  const gotDelete = await waitFor(ca.events, (e) => e.type === "message" && e.kind === "delete");
  assert.ok(gotDelete.type === "message" && gotDelete.replaces === m2 && gotDelete.deleted === true && gotDelete.inReplyTo === m1);

  // editing another user's message is refused locally
  await assert.rejects(alice.client.edit(roomId, m2, "nope"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_NOT_ALLOWED");
  // own messages are not delivered back as events
  assert.equal(ca.events.filter((e) => e.type === "message" && e.sender.client === alice.account.clientUri).length, 0);
  await Promise.all([alice.client.close(), bob.client.close()]);
});

test("remove and ban: the removed client gets left (reason removed), the banned one left (reason banned), the ban shows as participantBanned, and neither reads later messages", async () => {
  const p = new FakeProvider();
  const [alice, bob, carol] = [await registered(p, "alice"), await registered(p, "bob"), await registered(p, "carol")];
  const [ca, cb, cc] = [collect(alice.client), collect(bob.client), collect(carol.client)];
  const roomId = await alice.client.createRoom("group", { participants: [bob.account.userUri, carol.account.userUri] });
  await waitFor(cb.events, (e) => e.type === "joined");
  await waitFor(cc.events, (e) => e.type === "joined");

  await alice.client.removeUser(roomId, bob.account.userUri);
  const left = await waitFor(cb.events, (e) => e.type === "left");
  assert.ok(left.type === "left" && left.reason === "removed" && left.by === alice.account.userUri);
  await waitFor(cc.events, (e) => e.type === "participantRemoved" && e.user === bob.account.userUri);
  await waitFor(ca.events, (e) => e.type === "participantRemoved" && e.user === bob.account.userUri);

  await alice.client.ban(roomId, carol.account.userUri);
  // The banned client learns it was banned (not merely removed): a bridge shows it as a ban.
  const banned = await waitFor(cc.events, (e) => e.type === "left");
  assert.deepEqual(banned.type === "left" ? { reason: banned.reason, by: banned.by } : undefined, { reason: "banned", by: alice.account.userUri });
  await waitFor(ca.events, (e) => e.type === "participantBanned" && e.user === carol.account.userUri);
  const info = await alice.client.room(roomId);
  assert.deepEqual(
    info.participants.map((x) => [x.user, x.roleName]),
    [
      [alice.account.userUri, "admin"],
      [carol.account.userUri, "banned"],
    ],
  );
  assert.equal(info.members.length, 1);
  await alice.client.send(roomId, "after the ban");
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(cb.events.filter(isMessage("after the ban")).length + cc.events.filter(isMessage("after the ban")).length, 0);
  await assert.rejects(bob.client.send(roomId, "still here?"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_UNKNOWN_ROOM");
  await Promise.all([alice.client.close(), bob.client.close(), carol.client.close()]);
});

test("leave: proposals go to the hub, another member commits them after a small delay, the leaver gets left", async () => {
  const p = new FakeProvider();
  const [alice, bob] = [await registered(p, "alice"), await registered(p, "bob")];
  const [ca, cb] = [collect(alice.client), collect(bob.client)];
  const roomId = await alice.client.createRoom("group", { participants: [bob.account.userUri] });
  await waitFor(cb.events, (e) => e.type === "joined");
  const epochBefore = p.roomEpoch(roomId) ?? 0n;
  await bob.client.leave(roomId);
  const left = await waitFor(cb.events, (e) => e.type === "left");
  assert.ok(left.type === "left" && left.reason === "left");
  await waitFor(ca.events, (e) => e.type === "participantRemoved" && e.user === bob.account.userUri);
  assert.equal(p.roomEpoch(roomId), epochBefore + 1n);
  assert.deepEqual((await alice.client.room(roomId)).participants.map((x) => x.user), [alice.account.userUri]);
  await Promise.all([alice.client.close(), bob.client.close()]);
});

test("a second device joins by external commit and receives later messages", async () => {
  const p = new FakeProvider();
  const alice = await registered(p, "alice");
  const bob = await registered(p, "bob");
  const roomId = await alice.client.createRoom("group", { participants: [bob.account.userUri] });
  const cb = collect(bob.client);
  await waitFor(cb.events, (e) => e.type === "joined");
  // bob's second device: same token, another state
  const t2 = p.transport();
  const { client: bob2 } = await newClient(t2);
  const acct2 = await bob2.login(bob.account.token);
  assert.notEqual(acct2.clientUri, bob.account.clientUri);
  assert.equal(acct2.userUri, bob.account.userUri);
  const c2 = collect(bob2);
  const joined = await bob2.addDevice();
  assert.deepEqual(joined, [roomId]);
  await waitFor(c2.events, (e) => e.type === "joined" && e.via === "externalJoin");
  const ca = collect(alice.client);
  await waitFor(ca.events, (e) => e.type === "membersChanged" && e.added.includes(acct2.clientUri));
  await alice.client.send(roomId, "to both of bob's devices");
  await waitFor(cb.events, isMessage("to both of bob's devices"));
  await waitFor(c2.events, isMessage("to both of bob's devices"));
  // bob's devices see each other's messages
  await bob2.send(roomId, "from bob's second device");
  const own = await waitFor(cb.events, isMessage("from bob's second device"));
  assert.equal(own.sender.client, acct2.clientUri);
  await Promise.all([alice.client.close(), bob.client.close(), bob2.close()]);
});

test("restart: a new MimiClient on the same state resumes without duplicates, in order", async () => {
  const p = new FakeProvider();
  const alice = await registered(p, "alice");
  const bob = await registered(p, "bob");
  const roomId = await alice.client.createRoom("group", { participants: [bob.account.userUri] });
  const cb = collect(bob.client);
  await waitFor(cb.events, (e) => e.type === "joined");
  await alice.client.send(roomId, "one");
  await waitFor(cb.events, isMessage("one"));
  cb.stop();
  await bob.client.close();
  // messages while bob is away
  await alice.client.send(roomId, "two");
  await alice.client.send(roomId, "three");
  const { client: bobAgain } = await newClient(p.transport(), { state: bob.store });
  const seen: MimiEvent[] = [];
  for await (const e of bobAgain.events()) {
    seen.push(e);
    if (e.type === "message" && e.text === "three") break;
  }
  assert.deepEqual(
    seen.filter((e) => e.type === "message").map((e) => (e.type === "message" ? e.text : "")),
    ["two", "three"],
  );
  // and the restarted client can still send
  await bobAgain.send(roomId, "back");
  const ca = collect(alice.client);
  await waitFor(ca.events, isMessage("back"));
  // yet another restart: nothing is delivered twice
  await bobAgain.close();
  const { client: bobThird } = await newClient(p.transport(), { state: bob.store });
  const c3 = collect(bobThird);
  await alice.client.send(roomId, "four");
  await waitFor(c3.events, isMessage("four"));
  assert.deepEqual(
    c3.events.filter((e) => e.type === "message").map((e) => (e.type === "message" ? e.text : "")),
    ["four"],
  );
  await Promise.all([alice.client.close(), bobThird.close()]);
});

test("a commit that loses the race (wrongEpoch) is dropped; the client catches up and retries", async () => {
  const p = new FakeProvider();
  const [alice, bob, carol, dave] = [await registered(p, "alice"), await registered(p, "bob"), await registered(p, "carol"), await registered(p, "dave")];
  const roomId = await alice.client.createRoom("group", { participants: [bob.account.userUri] });
  const cb = collect(bob.client);
  await waitFor(cb.events, (e) => e.type === "joined");
  const wrongBefore = p.stats.wrongEpoch;
  p.gateUpdates(2);
  await Promise.all([alice.client.addUser(roomId, carol.account.userUri), bob.client.addUser(roomId, dave.account.userUri)]);
  assert.equal(p.stats.wrongEpoch, wrongBefore + 1, "exactly one commit lost the race");
  const info = await alice.client.room(roomId);
  await alice.client.sync();
  const after = await alice.client.room(roomId);
  assert.deepEqual(new Set(after.participants.map((x) => x.user)), new Set([alice.account.userUri, bob.account.userUri, carol.account.userUri, dave.account.userUri]));
  assert.ok(info.members.length >= 3);
  // everyone can still talk
  const cc = collect(carol.client);
  const cd = collect(dave.client);
  await alice.client.send(roomId, "all four");
  await waitFor(cc.events, isMessage("all four"));
  await waitFor(cd.events, isMessage("all four"));
  await Promise.all([alice.client.close(), bob.client.close(), carol.client.close(), dave.client.close()]);
});

test("operations on unknown rooms and without an account fail with SDK errors", async () => {
  const p = new FakeProvider();
  const { client } = await newClient(p.transport());
  await assert.rejects(client.send("mimi://a.example/r/none", "x"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_NOT_REGISTERED");
  await client.register("erin");
  await assert.rejects(client.send("mimi://a.example/r/none", "x"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_UNKNOWN_ROOM");
  const roomId = await client.createRoom("group");
  await assert.rejects(client.addUser(roomId, "mimi://a.example/u/nobody"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_NO_KEY_MATERIAL");
  await client.close();
  await assert.rejects(client.send(roomId, "x"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_CLOSED");
});

test("direct room: both users are listed from the start, the creator brings in the other's client (MIMI-POLICY-29); a second create returns the same room", async () => {
  const p = new FakeProvider();
  const [alice, bob] = [await registered(p, "alice"), await registered(p, "bob")];
  const cb = collect(bob.client);
  const roomId = await alice.client.createRoom("direct", { participants: [bob.account.userUri] });
  const info = await alice.client.room(roomId);
  assert.deepEqual(info.participants.map((x) => [x.user, x.roleName]), [
    [alice.account.userUri, "participant"],
    [bob.account.userUri, "participant"],
  ]);
  assert.equal(info.members.length, 2, "the creator adds the other participant's client");
  await waitFor(cb.events, (e) => e.type === "joined" && e.roomId === roomId && e.via === "welcome");
  assert.deepEqual(await bob.client.addDevice(), [], "bob is in already");
  assert.equal(await bob.client.createRoom("direct", { participants: [alice.account.userUri] }), roomId);
  await bob.client.join(roomId); // already a member: nothing happens
  await alice.client.send(roomId, "just us");
  await waitFor(cb.events, isMessage("just us"));
});
