// The client SDK against REAL providers started in-process with startProvider (port 0, memory
// store): one provider hosting everything, and two providers (hub a.example, follower
// b.example) talking server-to-server over mutual TLS. Clients use the real HTTP client API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { Readable, Writable } from "node:stream";
import { join } from "node:path";
import { run } from "../../src/cli/main.ts";
import { MimiClient, openClientStore } from "../../src/client-api/sdk/index.ts";
import type { MimiEvent } from "../../src/client-api/sdk/index.ts";
import { validateConfig } from "../../src/config/index.ts";
import type { Config } from "../../src/config/index.ts";
import { MimiError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { startProvider } from "../../src/provider.ts";
import type { Provider } from "../../src/provider.ts";
import { tempDir } from "../helpers/processes.ts";
import { startNetwork } from "../helpers/providers.ts";

const logger = createLogger({ level: "silent" });

function providerConfig(domain: string, extra: Record<string, unknown> = {}): Config {
  return validateConfig({
    provider: { domain },
    server: { host: "127.0.0.1", port: 0 },
    storage: { kind: "memory" },
    clientApi: { port: 0, registration: "open", maxWaitMs: 2_000 },
    // These tests are about rooms; consent is not enforced (the product default is `none`).
    consent: { preConsent: "off" },
    ...extra,
  });
}

/** A client on `provider` with a memory state (or the given data folder). */
async function client(provider: Provider, state?: string): Promise<MimiClient> {
  return new MimiClient({ apiUrl: provider.clientApiUrl, state: state ?? (await openClientStore({ memory: true })), logger, pollWaitMs: 1_000, autoCommit: [20, 120] });
}

interface Watched {
  readonly events: MimiEvent[];
  stop(): void;
}

function watch(c: MimiClient): Watched {
  const events: MimiEvent[] = [];
  const stop = c.on("*", (e) => {
    events.push(e);
  });
  return { events, stop };
}

async function waitFor(w: Watched, pred: (e: MimiEvent) => boolean, what: string, timeoutMs = 20_000): Promise<MimiEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = w.events.find(pred);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; got ${w.events.map((e) => e.type).join(", ")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const message = (text: string) => (e: MimiEvent) => e.type === "message" && e.text === text;
const texts = (w: Watched) => w.events.flatMap((e) => (e.type === "message" ? [e.text] : []));

test("one provider: group room, adds, messages both ways, edit/reply/react/delete references, restart, remove, ban", async () => {
  const provider = await startProvider(providerConfig("a.example"), logger);
  const tmp = await tempDir("sdk-client");
  const clients: MimiClient[] = [];
  try {
    const alice = await client(provider);
    const bobDir = join(tmp.path, "bob");
    let bob = await client(provider, bobDir);
    const carol = await client(provider);
    clients.push(alice, bob, carol);
    const [a, b, c] = [await alice.register("alice"), await bob.register("bob"), await carol.register("carol")];
    assert.equal((await stat(bobDir)).mode & 0o777, 0o700, "the state folder is private");
    const [wa, wb, wc] = [watch(alice), watch(bob), watch(carol)];

    // ---- create, add ------------------------------------------------------------------------------
    const roomId = await alice.createRoom("group", { name: "Clubhouse" });
    assert.match(roomId, /^mimi:\/\/a\.example\/r\//);
    await alice.addUser(roomId, b.userUri);
    await alice.addUser(roomId, c.userUri);
    await waitFor(wb, (e) => e.type === "joined" && e.roomId === roomId, "bob joined");
    await waitFor(wc, (e) => e.type === "joined" && e.roomId === roomId, "carol joined");
    await waitFor(wb, (e) => e.type === "participantAdded" && e.user === c.userUri, "bob sees carol added");
    const info = await bob.room(roomId);
    assert.equal(info.name, "Clubhouse");
    assert.deepEqual(info.participants.map((p) => [p.user, p.roleName]), [
      [a.userUri, "admin"],
      [b.userUri, "member"],
      [c.userUri, "member"],
    ]);
    assert.ok((await alice.providerRooms()).some((r) => r.roomId === roomId));

    // ---- messages both ways and references ---------------------------------------------------------
    const m1 = await alice.send(roomId, "hello all");
    const got = await waitFor(wb, message("hello all"), "bob gets hello");
    assert.ok(got.type === "message" && got.messageId === m1 && got.sender.user === a.userUri && got.sender.client === a.clientUri && got.timestamp > 0);
    await waitFor(wc, message("hello all"), "carol gets hello");
    const m2 = await bob.reply(roomId, m1, "hi alice");
    const reply = await waitFor(wa, message("hi alice"), "alice gets the reply");
    assert.ok(reply.type === "message" && reply.inReplyTo === m1 && reply.messageId === m2);
    await alice.edit(roomId, m1, "hello everyone");
    const edit = await waitFor(wc, message("hello everyone"), "carol gets the edit");
    assert.ok(edit.type === "message" && edit.kind === "edit" && edit.replaces === m1);
    const r = await carol.react(roomId, m2, "\u{1F389}");
    const react = await waitFor(wb, (e) => e.type === "message" && e.kind === "reaction", "bob gets the reaction");
    assert.ok(react.type === "message" && react.reaction === "\u{1F389}" && react.inReplyTo === m2 && react.messageId === r);
    await bob.delete(roomId, m2);
    const del = await waitFor(wa, (e) => e.type === "message" && e.kind === "delete", "alice gets the delete");
    assert.ok(del.type === "message" && del.replaces === m2 && del.deleted === true);

    // ---- restart bob: resumes after the last event, nothing twice ---------------------------------
    wb.stop();
    const before = texts(wb);
    await bob.close();
    await alice.send(roomId, "while bob was away");
    bob = await client(provider, bobDir);
    clients.push(bob);
    const wb2 = watch(bob);
    await waitFor(wb2, message("while bob was away"), "restarted bob gets the missed message");
    await alice.send(roomId, "after the restart");
    await waitFor(wb2, message("after the restart"), "restarted bob gets a new message");
    assert.deepEqual(texts(wb2), ["while bob was away", "after the restart"]);
    assert.ok(!before.includes("while bob was away"));

    // ---- remove carol (both devices), ban bob ----------------------------------------------------------
    await alice.removeUser(roomId, c.userUri);
    const left = await waitFor(wc, (e) => e.type === "left", "carol is removed");
    assert.ok(left.type === "left" && left.reason === "removed");
    await waitFor(wb2, (e) => e.type === "participantRemoved" && e.user === c.userUri, "bob sees carol removed");
    await alice.ban(roomId, b.userUri);
    await waitFor(wb2, (e) => e.type === "left", "bob is banned out");
    await waitFor(wa, (e) => e.type === "participantBanned" && e.user === b.userUri, "alice sees the ban");
    const after = await alice.room(roomId);
    assert.deepEqual(after.participants.map((p) => [p.user, p.roleName]), [
      [a.userUri, "admin"],
      [b.userUri, "banned"],
    ]);
    await assert.rejects(bob.send(roomId, "am I still here?"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_UNKNOWN_ROOM");
  } finally {
    for (const cl of clients) await cl.close().catch(() => undefined);
    await provider.stop();
    await tmp.remove();
  }
});

test("one provider: a second device joins by external commit and receives later messages; the user's devices see each other", async () => {
  const provider = await startProvider(providerConfig("a.example"), logger);
  const clients: MimiClient[] = [];
  try {
    const alice = await client(provider);
    const carol = await client(provider);
    clients.push(alice, carol);
    const a = await alice.register("alice");
    const c = await carol.register("carol");
    const [wa, wc] = [watch(alice), watch(carol)];
    const roomId = await alice.createRoom("group", { participants: [c.userUri] });
    await waitFor(wc, (e) => e.type === "joined" && e.roomId === roomId, "carol joined");

    const carol2 = await client(provider);
    clients.push(carol2);
    const c2 = await carol2.login(await tokenOf(carol));
    assert.equal(c2.userUri, c.userUri);
    assert.notEqual(c2.clientUri, c.clientUri);
    const wc2 = watch(carol2);
    assert.deepEqual(await carol2.addDevice(), [roomId]);
    await waitFor(wc2, (e) => e.type === "joined" && e.via === "externalJoin", "carol's second device joined");
    await waitFor(wa, (e) => e.type === "membersChanged" && e.added.includes(c2.clientUri), "alice sees carol's second device");
    await alice.send(roomId, "for both carols");
    await waitFor(wc2, message("for both carols"), "carol's second device gets a later message");
    await waitFor(wc, message("for both carols"), "carol's first device too");
    await carol2.send(roomId, "from carol's phone");
    const own = await waitFor(wc, message("from carol's phone"), "carol's first device sees the second one's message");
    assert.ok(own.type === "message" && own.sender.client === c2.clientUri);
    assert.equal((await alice.room(roomId)).members.length, 3);
    assert.equal(a.userUri, "mimi://a.example/u/alice");
  } finally {
    for (const cl of clients) await cl.close().catch(() => undefined);
    await provider.stop();
  }
});

test("one provider: a direct room lists both users from the start, the creator brings in the other's client, a later device joins by itself, it is unique per pair and cannot be left", async () => {
  const provider = await startProvider(providerConfig("a.example"), logger);
  const clients: MimiClient[] = [];
  try {
    const alice = await client(provider);
    const bob = await client(provider);
    clients.push(alice, bob);
    const a = await alice.register("alice");
    const b = await bob.register("bob");
    const wb = watch(bob);
    const roomId = await alice.createRoom("direct", { participants: [b.userUri] });
    // fixed membership: the creator adds bob's existing client (MIMI-POLICY-29) …
    await waitFor(wb, (e) => e.type === "joined" && e.roomId === roomId, "bob joined the direct room");
    await bob.join(roomId); // a no-op for a member
    // … and a device bob adds later joins by itself (canAddOwnClient)
    const bob2 = await client(provider);
    clients.push(bob2);
    await bob2.login(await tokenOf(bob));
    assert.deepEqual(await bob2.join(roomId), undefined);
    const wb2 = watch(bob2);
    assert.deepEqual((await bob.room(roomId)).participants.map((p) => [p.user, p.roleName]), [
      [a.userUri, "participant"],
      [b.userUri, "participant"],
    ]);
    await alice.send(roomId, "just us");
    await waitFor(wb, message("just us"), "bob gets the direct message");
    await waitFor(wb2, message("just us"), "so does bob's later device");
    assert.equal(await bob.createRoom("direct", { participants: [a.userUri] }), roomId, "one direct room per pair");
    await assert.rejects(bob.leave(roomId), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_NOT_ALLOWED");
  } finally {
    for (const cl of clients) await cl.close().catch(() => undefined);
    await provider.stop();
  }
});

test("one provider: concurrent commits from two members both land (the loser of the race catches up and retries)", async () => {
  const provider = await startProvider(providerConfig("a.example"), logger);
  const clients: MimiClient[] = [];
  try {
    const [alice, bob, carol, dave] = [await client(provider), await client(provider), await client(provider), await client(provider)];
    clients.push(alice, bob, carol, dave);
    const [a, b, c, d] = [await alice.register("alice"), await bob.register("bob"), await carol.register("carol"), await dave.register("dave")];
    const wb = watch(bob);
    const roomId = await alice.createRoom("group", { participants: [b.userUri] });
    await waitFor(wb, (e) => e.type === "joined" && e.roomId === roomId, "bob joined");
    await bob.sync();
    await Promise.all([alice.addUser(roomId, c.userUri), bob.addUser(roomId, d.userUri), alice.send(roomId, "during the race")]);
    const [wc, wd] = [watch(carol), watch(dave)];
    await waitFor(wc, (e) => e.type === "joined", "carol joined");
    await waitFor(wd, (e) => e.type === "joined", "dave joined");
    await alice.sync();
    assert.deepEqual(new Set((await alice.room(roomId)).participants.map((p) => p.user)), new Set([a.userUri, b.userUri, c.userUri, d.userUri]));
    await bob.send(roomId, "all four of us");
    await waitFor(wc, message("all four of us"), "carol reads bob");
    await waitFor(wd, message("all four of us"), "dave reads bob");
    await waitFor(wb, message("during the race"), "bob reads the message sent during the race");
  } finally {
    for (const cl of clients) await cl.close().catch(() => undefined);
    await provider.stop();
  }
});

/** Carol's token: the first client kept it in its state (persistToken default). */
async function tokenOf(c: MimiClient): Promise<string> {
  const t = await c.token();
  if (t === undefined) assert.fail("no token in the state");
  return t;
}

/** Providers a.example (hub of the rooms in these tests) and b.example, peers over mutual TLS (test/helpers/providers.ts). */
async function twoProviders(): Promise<{ A: Provider; B: Provider; stop: () => Promise<void> }> {
  const net = await startNetwork(["a.example", "b.example"]);
  const A = net.providers["a.example"];
  const B = net.providers["b.example"];
  if (A === undefined || B === undefined) {
    await net.stop();
    assert.fail("the network did not start both providers");
  }
  return { A, B, stop: () => net.stop() };
}

test("two providers over mutual TLS: hub a.example, follower b.example; messages both ways, leave committed by the hub side", async () => {
  const { A, B, stop } = await twoProviders();
  const clients: MimiClient[] = [];
  try {
    const alice = await client(A);
    const bob = await client(B);
    clients.push(alice, bob);
    const a = await alice.register("alice");
    const b = await bob.register("bob");
    const [wa, wb] = [watch(alice), watch(bob)];

    const roomId = await alice.createRoom("group", { participants: [b.userUri] });
    await waitFor(wb, (e) => e.type === "joined" && e.roomId === roomId, "bob (on b.example) joined");
    await alice.send(roomId, "hello from a.example");
    await waitFor(wb, message("hello from a.example"), "bob gets alice's message");
    const m = await bob.send(roomId, "hello from b.example");
    const got = await waitFor(wa, message("hello from b.example"), "alice gets bob's message");
    assert.ok(got.type === "message" && got.messageId === m && got.sender.user === b.userUri);

    // bob leaves: proposals through the follower, alice commits them
    await bob.leave(roomId);
    const left = await waitFor(wb, (e) => e.type === "left", "bob left");
    assert.ok(left.type === "left" && left.reason === "left");
    await waitFor(wa, (e) => e.type === "participantRemoved" && e.user === b.userUri, "alice sees bob leave");
    assert.deepEqual((await alice.room(roomId)).participants.map((p) => p.user), [a.userUri]);
  } finally {
    for (const cl of clients) await cl.close().catch(() => undefined);
    await stop();
  }
});

test("two providers over mutual TLS: a second device on the follower joins by external commit and receives later messages", async () => {
  const { A, B, stop } = await twoProviders();
  const clients: MimiClient[] = [];
  try {
    const alice = await client(A);
    const bob = await client(B);
    clients.push(alice, bob);
    await alice.register("alice");
    const b = await bob.register("bob");
    const [wa, wb] = [watch(alice), watch(bob)];
    const roomId = await alice.createRoom("group", { participants: [b.userUri] });
    await waitFor(wb, (e) => e.type === "joined" && e.roomId === roomId, "bob (on b.example) joined");

    // bob's second device, on the follower, joins by external commit through b.example
    const bob2 = await client(B);
    clients.push(bob2);
    const token = await bob.token();
    assert.ok(token !== undefined);
    const b2 = await bob2.login(token);
    const wb2 = watch(bob2);
    assert.deepEqual(await bob2.addDevice(), [roomId]);
    await waitFor(wa, (e) => e.type === "membersChanged" && e.added.includes(b2.clientUri), "alice sees bob's second device");
    await alice.send(roomId, "to both of bob's devices");
    await waitFor(wb2, message("to both of bob's devices"), "bob's second device gets it");
    await waitFor(wb, message("to both of bob's devices"), "bob's first device gets it");

  } finally {
    for (const cl of clients) await cl.close().catch(() => undefined);
    await stop();
  }
});

/** Runs `mimi-bridge …` in-process in `cwd`. */
async function cli(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (a: string[]) =>
    new Writable({
      write(chunk: Buffer | string, _e, cb) {
        a.push(String(chunk));
        cb();
      },
    });
  const code = await run(args, { stdout: sink(out), stderr: sink(err), stdin: Readable.from([]), env: {}, cwd });
  return { code, stdout: out.join(""), stderr: err.join("") };
}

test("the client CLI against a real provider: register, create, invite, send, react, reply, listen --json, rooms, role, remove", async () => {
  const provider = await startProvider(providerConfig("a.example"), logger);
  const tmp = await tempDir("sdk-cli");
  try {
    const ok = async (...args: string[]) => {
      const r = await cli(tmp.path, "client", ...args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const alice = JSON.parse(await ok("register", "--api", provider.clientApiUrl, "--user", "alice", "--json")) as { userUri: string; clientUri: string; tokenFile: string };
    assert.equal(alice.userUri, "mimi://a.example/u/alice");
    assert.equal((await stat(join(tmp.path, ".mimi-client"))).mode & 0o777, 0o700, "default state folder, 0700");
    assert.equal((await stat(alice.tokenFile)).mode & 0o777, 0o600, "token file 0600");
    const bob = JSON.parse(await ok("register", "--api", provider.clientApiUrl, "--user", "bob", "--state", "bob", "--json")) as { userUri: string };

    const { roomId } = JSON.parse(await ok("create", "--kind", "group", "--name", "CLI room", "--json")) as { roomId: string };
    await ok("invite", roomId, bob.userUri);
    const { messageId } = JSON.parse(await ok("send", roomId, "hello from the CLI", "--json")) as { messageId: string };
    assert.match(messageId, /^01[0-9a-f]{62}$/);
    await ok("react", roomId, messageId, "\u{1F44B}", "--state", "bob");
    await ok("reply", roomId, messageId, "hi alice", "--state", "bob");

    const lines = (await ok("listen", "--state", "bob", "--json", "--count", "2", "--timeout", "15000")).trim().split("\n").map((l) => JSON.parse(l) as { type: string; text?: string; roomId: string; content?: unknown });
    assert.deepEqual(lines.map((l) => l.type), ["joined", "message"]);
    assert.equal(lines[1]?.text, "hello from the CLI");
    assert.ok(lines[1]?.content !== undefined, "message events carry the content in JSON form");

    const text = await ok("listen", roomId, "--count", "6", "--timeout", "15000");
    assert.match(text, /reacted \u{1F44B} to/u);
    assert.match(text, /\(reply to [0-9a-f]{12}\): hi alice/);

    const rooms = JSON.parse(await ok("rooms", "--state", "bob", "--json")) as { roomId: string; name?: string; participants: { user: string; roleName: string }[] }[];
    assert.equal(rooms[0]?.roomId, roomId);
    assert.equal(rooms[0]?.name, "CLI room");
    await ok("role", roomId, bob.userUri, "admin");
    await ok("remove", roomId, bob.userUri);
    const left = await ok("listen", "--state", "bob", "--timeout", "15000", "--count", "2");
    assert.match(left, /removed from the room by mimi:\/\/a\.example\/u\/alice/);
    const whoami = await ok("whoami", "--state", "bob");
    assert.match(whoami, /mimi:\/\/a\.example\/u\/bob on mimi:\/\/a\.example\/d\/bob\//);
  } finally {
    await provider.stop();
    await tmp.remove();
  }
});
