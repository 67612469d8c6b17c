// The hub's and the follower's rules, proved on real providers talking over mutual TLS
// (test/helpers/providers.ts) with real handshakes made by the SDK. Where a test needs a
// handshake or request the SDK would not send on its own path, it taps the SDK's transport: the
// bytes are the SDK's, only where they go (or what the client sees) is changed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { MimiClient, HttpTransport, openClientStore } from "../../src/client-api/sdk/index.ts";
import type { ClientTransport, MimiEvent } from "../../src/client-api/sdk/index.ts";
import { signedKeyMaterialRequest } from "../../src/client-api/sdk/requests.ts";
import { decodeExact, encode } from "../../src/codec/index.ts";
import { MimiError } from "../../src/errors.ts";
import type { InboxEvent } from "../../src/inbox/inbox.ts";
import { createLogger } from "../../src/log.ts";
import { createClient, keyPackageSummary, welcomeKeyPackageRefs } from "../../src/mls/index.ts";
import { mlsMessageToWelcome } from "../../src/mls/wire.ts";
import { startProvider } from "../../src/provider.ts";
import type { Provider } from "../../src/provider.ts";
import {
  FanoutMessage,
  KeyMaterialClientCode,
  KeyMaterialRequest,
  KeyMaterialResponse,
  KeyMaterialUserCode,
  UpdateResponseCode,
  UpdateRoomResponse,
} from "../../src/protocol/index.ts";
import type { Store } from "../../src/storage/index.ts";
import { startNetwork } from "../helpers/providers.ts";
import type { TestNetwork } from "../helpers/providers.ts";

const logger = createLogger({ level: "silent" });
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const json = (body: Uint8Array) => JSON.parse(Buffer.from(body).toString("utf8")) as { code: string };
/** Room IDs in server-to-server paths: the URI without mimi:// (docs/CONFORMANCE.md). */
const path = (uri: string) => uri.replace(/^mimi:\/\//, "");

// ---- a tap on the SDK's transport ------------------------------------------------------------------

interface Hooks {
  /** Replaces POST /rooms/{id}/update; `send` does what the SDK would have done. */
  update?: ((roomId: string, bundle: Uint8Array, send: () => Promise<Uint8Array>) => Promise<Uint8Array>) | undefined;
  keyMaterial?: ((roomId: string, request: Uint8Array, send: () => Promise<Uint8Array>) => Promise<Uint8Array>) | undefined;
  /** The client sees no events while set (as if its provider had nothing for it). */
  holdEvents?: boolean;
}

function tapped(inner: ClientTransport, hooks: Hooks): ClientTransport {
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === "update" && hooks.update !== undefined) {
        const h = hooks.update;
        return (roomId: string, bundle: Uint8Array) => h(roomId, bundle, () => target.update(roomId, bundle));
      }
      if (prop === "keyMaterial" && hooks.keyMaterial !== undefined) {
        const h = hooks.keyMaterial;
        return (roomId: string, request: Uint8Array) => h(roomId, request, () => target.keyMaterial(roomId, request));
      }
      if (prop === "events" && hooks.holdEvents === true) {
        return async (_after: number, waitMs: number) => {
          await new Promise((r) => setTimeout(r, Math.min(waitMs, 50)));
          return [];
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

interface Client {
  sdk: MimiClient;
  hooks: Hooks;
  events: MimiEvent[];
  state: Store;
}

const opened: MimiClient[] = [];

async function client(provider: Provider, options: { autoCommit?: false | readonly [number, number]; state?: Store } = {}): Promise<Client> {
  const hooks: Hooks = {};
  const state = options.state ?? (await openClientStore({ memory: true }));
  const sdk = new MimiClient({
    apiUrl: provider.clientApiUrl,
    state,
    logger,
    pollWaitMs: 500,
    autoCommit: options.autoCommit ?? [20, 120],
    transport: tapped(new HttpTransport({ apiUrl: provider.clientApiUrl }), hooks),
  });
  opened.push(sdk);
  return { sdk, hooks, events: [], state };
}

/** Starts collecting a client's events (its event loop needs a registered device). */
function listen(c: Client): void {
  c.sdk.on("*", (e) => {
    c.events.push(e);
  });
}

/** Registers the user on the client's provider and starts collecting its events. */
async function register(c: Client, name: string): Promise<{ userUri: string; clientUri: string }> {
  const account = await c.sdk.register(name);
  listen(c);
  return account;
}

async function closeAll(): Promise<void> {
  for (const c of opened.splice(0)) await c.close().catch(() => undefined);
}

async function waitFor(c: Client, pred: (e: MimiEvent) => boolean, what: string, timeoutMs = 20_000): Promise<MimiEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = c.events.find(pred);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}; got ${c.events.map((e) => e.type).join(", ")}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function providersOf<const D extends readonly string[]>(net: TestNetwork, ...domains: D): { [K in keyof D]: Provider } {
  return domains.map((d) => {
    const p = net.providers[d];
    if (p === undefined) assert.fail(`no provider ${d}`);
    return p;
  }) as { [K in keyof D]: Provider };
}

async function rejectsWithCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof MimiError && e.code === code);
}

const decodeUpdate = (bytes: Uint8Array) => decodeExact(UpdateRoomResponse, bytes);
const joined = (roomId: string) => (e: MimiEvent) => e.type === "joined" && e.roomId === roomId;
const messageText = (text: string) => (e: MimiEvent) => e.type === "message" && e.text === text;

/** The room's events in a user's inbox at a provider. */
async function inboxOf(p: Provider, user: string, roomId: string): Promise<InboxEvent[]> {
  return (await p.services.inbox.read(user, 0, 10_000)).filter((e) => e.roomId === roomId);
}

/** What the hub has accepted so far for a room: epoch, count of accepted handshakes and messages, pending proposals. */
async function hubState(a: Provider, roomId: string): Promise<{ epoch: number; accepted: number; pending: string[] }> {
  const r = await a.services.hub.record(roomId);
  if (r === undefined) assert.fail(`the hub does not host ${roomId}`);
  return { epoch: r.epoch, accepted: r.accepted, pending: r.pending.map((p) => hex(p.ref)) };
}

// ---- MIMI-PROTO-HUB-02 -----------------------------------------------------------------------------

test("MIMI-PROTO-HUB-02: a provider relays only its own users' handshakes (a commit of alice@a relayed by b or c, a proposal of bob@b relayed by c or a: notAllowed)", async () => {
  const net = await startNetwork(["a.example", "b.example", "c.example"]);
  try {
    const [A, B, C] = providersOf(net, "a.example", "b.example", "c.example");
    const alice = await client(A, { autoCommit: false });
    const bob = await client(B, { autoCommit: false });
    await register(alice, "alice");
    const b = await register(bob, "bob");
    const roomId = await alice.sdk.createRoom("group", { participants: [b.userUri] });
    await waitFor(bob, joined(roomId), "bob joined");

    // alice's commit (a room_metadata change), relayed by b.example and by c.example first.
    const foreign: { relay: string; status: number; code?: number; description?: string }[] = [];
    alice.hooks.update = async (room, bundle, send) => {
      const before = await hubState(A, room);
      for (const relay of [B, C]) {
        const res = await relay.peerClient.request("a.example", "update", { roomId: path(room) }, { body: bundle });
        const r = res.status === 200 ? decodeUpdate(res.body) : undefined;
        foreign.push({ relay: relay.config.provider.domain, status: res.status, ...(r ? { code: r.responseCode, description: r.errorDescription } : {}) });
      }
      assert.deepEqual(await hubState(A, room), before, "a refused relay changes nothing at the hub");
      return send(); // the same bytes through alice's own provider
    };
    const before = await hubState(A, roomId);
    await alice.sdk.updateMetadata(roomId, { name: "relayed by a.example" });
    alice.hooks.update = undefined;
    assert.deepEqual(foreign.map((f) => [f.relay, f.status, f.code]), [
      ["b.example", 200, UpdateResponseCode.notAllowed],
      ["c.example", 200, UpdateResponseCode.notAllowed],
    ]);
    for (const f of foreign) assert.match(f.description ?? "", /not a user of the relaying provider/);
    assert.equal((await hubState(A, roomId)).epoch, before.epoch + 1, "the same commit relayed by alice's provider is accepted");
    await waitFor(bob, (e) => e.type === "roomMetadata" && e.name === "relayed by a.example", "bob sees the rename");

    // bob's leave proposals, relayed by c.example (over mTLS) and by a.example (its own hub, as
    // it would for one of its clients) first; then by bob's provider.
    const refused: { relay: string; code: number }[] = [];
    bob.hooks.update = async (room, bundle, send) => {
      const state = await hubState(A, room);
      const viaC = await C.peerClient.request("a.example", "update", { roomId: path(room) }, { body: bundle });
      assert.equal(viaC.status, 200);
      refused.push({ relay: "c.example", code: decodeUpdate(viaC.body).responseCode });
      refused.push({ relay: "a.example", code: decodeUpdate(await A.services.hub.update(room, bundle, "a.example")).responseCode });
      assert.deepEqual(await hubState(A, room), state, "a refused relay caches no proposal");
      return send();
    };
    await bob.sdk.leave(roomId);
    bob.hooks.update = undefined;
    assert.deepEqual(refused, [
      { relay: "c.example", code: UpdateResponseCode.notAllowed },
      { relay: "a.example", code: UpdateResponseCode.notAllowed },
    ]);
    assert.ok((await hubState(A, roomId)).pending.length > 0, "bob's proposals relayed by b.example are accepted");
  } finally {
    await closeAll();
    await net.stop();
  }
});

// ---- MIMI-PROTO-HUB-05 -----------------------------------------------------------------------------

test("MIMI-PROTO-HUB-05: after a member's leave proposals are accepted, a commit without them is invalidProposal; one with them is accepted", async () => {
  const net = await startNetwork(["a.example", "b.example"]);
  try {
    const [A, B] = providersOf(net, "a.example", "b.example");
    const alice = await client(A, { autoCommit: false });
    const bob = await client(B, { autoCommit: false });
    const a = await register(alice, "alice");
    const b = await register(bob, "bob");
    const roomId = await alice.sdk.createRoom("group", { participants: [b.userUri] });
    await waitFor(bob, joined(roomId), "bob joined");
    await alice.sdk.sync();
    // From now on alice sees no events: she will not learn of bob's proposals. (A poll already
    // under way when the hold begins ends within pollWaitMs, before bob leaves.)
    alice.hooks.holdEvents = true;
    await new Promise((r) => setTimeout(r, 700));

    await bob.sdk.leave(roomId);
    const cached = await A.services.hub.record(roomId);
    assert.ok(cached);
    const leaveRefs = new Set(cached.pending.filter((p) => p.mustInclude && p.sender === b.userUri).map((p) => hex(p.ref)));
    assert.ok(leaveRefs.size >= 2, "bob's participant-list removal and his own Remove are cached as must-include");
    const before = await hubState(A, roomId);

    // alice has not seen bob's proposals (her events are held back): her commit leaves them out.
    const answers: ReturnType<typeof decodeUpdate>[] = [];
    alice.hooks.update = async (_room, bundle, send) => {
      const res = await send();
      answers.push(decodeUpdate(res));
      return res;
    };
    await rejectsWithCode(alice.sdk.updateMetadata(roomId, { name: "without the leave" }), "MIMI_ERR_SDK_NOT_ALLOWED");
    assert.ok(answers.length >= 1);
    for (const r of answers) {
      assert.equal(r.responseCode, UpdateResponseCode.invalidProposal);
      const missing = (r as { invalidProposals: Uint8Array[] }).invalidProposals.map(hex);
      assert.ok(missing.length > 0, "the answer names the missing proposals");
      for (const m of missing) assert.ok(leaveRefs.has(m), "…and they are bob's cached leave proposals");
    }
    assert.deepEqual(await hubState(A, roomId), before, "nothing accepted, the proposals stay cached");

    // alice sees the proposals now: her next commit includes them by reference and is accepted.
    alice.hooks.holdEvents = false;
    answers.length = 0;
    await alice.sdk.updateMetadata(roomId, { name: "with the leave" });
    assert.deepEqual(answers.map((r) => r.responseCode), [UpdateResponseCode.success]);
    const after = await hubState(A, roomId);
    assert.equal(after.epoch, before.epoch + 1);
    assert.deepEqual(after.pending, [], "the commit included every cached proposal");
    const left = await waitFor(bob, (e) => e.type === "left" && e.roomId === roomId, "bob left");
    assert.ok(left.type === "left" && left.reason === "left");
    assert.deepEqual((await alice.sdk.room(roomId)).participants.map((p) => p.user), [a.userUri]);
  } finally {
    await closeAll();
    await net.stop();
  }
});

// ---- MIMI-PROTO-HUB-06 -----------------------------------------------------------------------------

test("MIMI-PROTO-HUB-06: a commit adding a KeyPackage that was not claimed through this hub is refused; claimed through the hub it is accepted", async () => {
  const net = await startNetwork(["a.example", "b.example"]);
  try {
    const [A, B] = providersOf(net, "a.example", "b.example");
    const alice = await client(A);
    const bob = await client(B);
    await register(alice, "alice");
    const b = await register(bob, "bob");
    const roomId = await alice.sdk.createRoom("group");
    const bobCount = async () => (await B.services.keyPackages.counts("bob")).get(b.clientUri)?.available ?? 0;
    const countBefore = await bobCount();

    // alice's signed KeyMaterialRequest goes from a.example straight to b.example, not through
    // the room's hub: a real claim, but the hub never sees it.
    alice.hooks.keyMaterial = async (_room, request) => {
      const res = await A.peerClient.request("b.example", "keyMaterial", { targetUser: path(b.userUri) }, { body: request });
      assert.equal(res.status, 200);
      return res.body;
    };
    const answers: ReturnType<typeof decodeUpdate>[] = [];
    alice.hooks.update = async (_room, bundle, send) => {
      const res = await send();
      answers.push(decodeUpdate(res));
      return res;
    };
    const before = await hubState(A, roomId);
    await rejectsWithCode(alice.sdk.addUser(roomId, b.userUri), "MIMI_ERR_SDK_NOT_ALLOWED");
    assert.equal(await bobCount(), countBefore - 1, "the KeyPackage was claimed at b.example");
    assert.equal(answers.length, 1);
    assert.equal(answers[0]?.responseCode, UpdateResponseCode.notAllowed);
    assert.match(answers[0]?.errorDescription ?? "", /was not claimed through this hub/);
    assert.deepEqual(await hubState(A, roomId), before);
    assert.equal(await A.services.outbox.pending("b.example"), 0, "no Welcome queued");
    assert.deepEqual(await inboxOf(B, "bob", roomId), [], "bob got nothing");

    // Claimed through the hub (the SDK's own path): accepted, and the hub routes the Welcome.
    alice.hooks.keyMaterial = undefined;
    answers.length = 0;
    await alice.sdk.addUser(roomId, b.userUri);
    assert.deepEqual(answers.map((r) => r.responseCode), [UpdateResponseCode.success]);
    await waitFor(bob, joined(roomId), "bob joined");
    const welcome = (await inboxOf(B, "bob", roomId)).find((e) => e.type === "welcome");
    assert.ok(welcome?.type === "welcome");
    for (const ref of welcome.keyPackageRefs) {
      const route = await A.services.keyPackages.hubRouteOf(ref);
      assert.equal(route?.provider, "b.example", "the hub learnt KeyPackageRef → b.example from the claim");
    }
  } finally {
    await closeAll();
    await net.stop();
  }
});

// ---- MIMI-PROTO-KM-13 ------------------------------------------------------------------------------

test("MIMI-PROTO-KM-13: a KeyMaterialRequest whose signature does not verify is refused and claims nothing", async () => {
  const net = await startNetwork(["a.example", "b.example"]);
  try {
    const [A, B] = providersOf(net, "a.example", "b.example");
    const alice = await client(A);
    const a = await register(alice, "alice");
    const counts = async () => Object.fromEntries(await A.services.keyPackages.counts("alice"));
    const initial = await counts();
    assert.ok((initial[a.clientUri]?.available ?? 0) > 0, "alice has KeyPackages");

    const bobClient = await createClient("mimi://b.example/d/bob/phone");
    const mallory = await createClient("mimi://b.example/d/mallory/phone");
    const r = { requestingUser: "mimi://b.example/u/bob", targetUser: a.userUri, roomId: "" };
    const valid = await signedKeyMaterialRequest(bobClient, r);
    const parsed = decodeExact(KeyMaterialRequest, valid);
    const malloryParsed = decodeExact(KeyMaterialRequest, await signedKeyMaterialRequest(mallory, r));
    const flipped = Uint8Array.from(parsed.keyMaterialRequestSignature);
    flipped[0] = (flipped[0] ?? 0) ^ 0x01;
    const bad: [string, Uint8Array][] = [
      ["a flipped signature bit", encode(KeyMaterialRequest, { ...parsed, keyMaterialRequestSignature: flipped })],
      ["an empty signature", encode(KeyMaterialRequest, { ...parsed, keyMaterialRequestSignature: new Uint8Array(0) })],
      ["a signature by another key", encode(KeyMaterialRequest, { ...parsed, keyMaterialRequestSignature: malloryParsed.keyMaterialRequestSignature })],
      ["another key than the signer's", encode(KeyMaterialRequest, { ...parsed, requesterSignatureKey: malloryParsed.requesterSignatureKey })],
      ["a requesting user changed after signing", encode(KeyMaterialRequest, { ...parsed, requestingUser: { uri: "mimi://b.example/u/eve" } })],
      ["a credential changed after signing", encode(KeyMaterialRequest, { ...parsed, requesterCredential: malloryParsed.requesterCredential })],
      ["capabilities changed after signing", encode(KeyMaterialRequest, { ...parsed, requiredCapabilities: { ...parsed.requiredCapabilities, proposalTypes: [] } })],
    ];
    for (const [what, body] of bad) {
      const res = await B.peerClient.request("a.example", "keyMaterial", { targetUser: path(a.userUri) }, { body });
      assert.equal(res.status, 400, what);
      assert.equal(json(res.body).code, "MIMI_ERR_HTTP_BAD_REQUEST", what);
      assert.deepEqual(await counts(), initial, `${what}: nothing claimed`);
    }

    // The correctly signed request claims one KeyPackage of each of alice's clients.
    const ok = await B.peerClient.request("a.example", "keyMaterial", { targetUser: path(a.userUri) }, { body: valid });
    assert.equal(ok.status, 200);
    const response = decodeExact(KeyMaterialResponse, ok.body);
    assert.equal(response.userStatus, KeyMaterialUserCode.success);
    assert.deepEqual(response.clients.map((c) => [c.clientStatus, c.clientUri.uri]), [[KeyMaterialClientCode.success, a.clientUri]]);
    const kp = (response.clients[0] as { keyPackage: { bytes: Uint8Array } }).keyPackage.bytes;
    assert.equal(keyPackageSummary(kp).clientUri, a.clientUri);
    assert.equal((await counts())[a.clientUri]?.available, (initial[a.clientUri]?.available ?? 0) - 1);
  } finally {
    await closeAll();
    await net.stop();
  }
});

// ---- MIMI-PROTO-FANOUT-22 --------------------------------------------------------------------------

test("MIMI-PROTO-FANOUT-22: a Welcome reaches only the local users whose KeyPackages it names", async () => {
  const net = await startNetwork(["a.example", "b.example"]);
  try {
    const [A, B] = providersOf(net, "a.example", "b.example");
    const alice = await client(A);
    const carol = await client(A); // on the hub's provider, never added
    const bob = await client(B);
    const dave = await client(B);
    const erin = await client(B); // on the follower, never added
    await register(alice, "alice");
    await register(carol, "carol");
    const b = await register(bob, "bob");
    const d = await register(dave, "dave");
    await register(erin, "erin");
    // bob has two devices: the Welcome names a KeyPackage of each.
    const bob2 = await client(B);
    const token = await bob.sdk.token();
    assert.ok(token !== undefined);
    const b2 = await bob2.sdk.login(token);
    listen(bob2);

    const roomId = await alice.sdk.createRoom("group");
    await alice.sdk.addUser(roomId, b.userUri);
    await waitFor(bob, joined(roomId), "bob joined");
    await waitFor(bob2, joined(roomId), "bob's second device joined");

    /** The refs a welcome event lists, checked against the Welcome it carries. */
    const welcomeRefs = (e: InboxEvent): string[] => {
      assert.ok(e.type === "welcome");
      const m = decodeExact(FanoutMessage, e.fanout);
      const inWelcome = welcomeKeyPackageRefs(mlsMessageToWelcome(m.message).bytes).map(hex).sort();
      const listed = e.keyPackageRefs.map(hex).sort();
      for (const ref of listed) assert.ok(inWelcome.includes(ref), "a listed ref is one the Welcome names");
      return listed;
    };
    const routeUser = async (ref: string) => (await B.services.keyPackages.routeOf(Buffer.from(ref, "hex")))?.clientUri;

    const bobWelcomes = (await inboxOf(B, "bob", roomId)).filter((e) => e.type === "welcome");
    assert.equal(bobWelcomes.length, 1, "one welcome event for bob");
    const bobRefs = welcomeRefs(bobWelcomes[0]!);
    assert.equal(bobRefs.length, 2);
    assert.deepEqual((await Promise.all(bobRefs.map(routeUser))).sort(), [b.clientUri, b2.clientUri].sort());
    for (const [p, user] of [[B, "dave"], [B, "erin"], [A, "carol"]] as const) assert.deepEqual(await inboxOf(p, user, roomId), [], `${user} got nothing`);
    assert.ok((await inboxOf(A, "alice", roomId)).every((e) => e.type !== "welcome"), "the committer is not welcomed");

    // Adding dave: b.example receives the commit (bob is in the room) and the Welcome (for dave)
    // together; bob gets the commit only, dave the Welcome only.
    const bobSeen = (await inboxOf(B, "bob", roomId)).length;
    await alice.sdk.addUser(roomId, d.userUri);
    await waitFor(dave, joined(roomId), "dave joined");
    await waitFor(bob, (e) => e.type === "participantAdded" && e.user === d.userUri, "bob sees dave added");
    const bobNew = (await inboxOf(B, "bob", roomId)).slice(bobSeen);
    assert.ok(bobNew.length > 0 && bobNew.every((e) => e.type === "fanout"), "bob: the commit, no Welcome");
    const daveEvents = await inboxOf(B, "dave", roomId);
    const daveWelcome = daveEvents[0];
    assert.ok(daveWelcome?.type === "welcome", "dave's first event is his Welcome");
    assert.equal(daveEvents.filter((e) => e.type === "welcome").length, 1);
    assert.deepEqual(await Promise.all(welcomeRefs(daveWelcome).map(routeUser)), [d.clientUri]);
    assert.deepEqual(await inboxOf(B, "erin", roomId), [], "erin still got nothing");
    assert.deepEqual(await inboxOf(A, "carol", roomId), [], "carol still got nothing");
  } finally {
    await closeAll();
    await net.stop();
  }
});

// ---- MIMI-PROTO-FANOUT-23 --------------------------------------------------------------------------

test("MIMI-PROTO-FANOUT-23: only the room's hub may notify: a real FanoutMessage from c.example is refused and stores nothing; from the hub it is delivered", async () => {
  const net = await startNetwork(["a.example", "b.example", "c.example"]);
  try {
    const [A, B, C] = providersOf(net, "a.example", "b.example", "c.example");
    const alice = await client(A);
    const bob = await client(B);
    await register(alice, "alice");
    const b = await register(bob, "bob");
    const roomId = await alice.sdk.createRoom("group", { participants: [b.userUri] });
    await waitFor(bob, joined(roomId), "bob joined");
    await alice.sdk.send(roomId, "hello bob");
    await waitFor(bob, messageText("hello bob"), "bob gets the message");
    // A real application FanoutMessage of the room, as the hub sent it (read before the client
    // closes: its acknowledgement lets the provider drop the events).
    const delivered = (await inboxOf(B, "bob", roomId)).filter((e) => e.type === "fanout").map((e) => decodeExact(FanoutMessage, e.fanout));
    await closeAll(); // the raw requests below are not for the SDK

    // With a new accepted time: bytes b.example has never seen.
    const app = delivered.find((m) => m.kind === "application");
    assert.ok(app);
    const body = encode(FanoutMessage, { ...app, timestamp: app.timestamp + 1n });
    const bodyKey = `notify/${createHash("sha256").update(body).digest("hex")}`;
    const seq = await B.services.inbox.lastSeq("bob");

    // c.example is not the hub of an a.example room.
    const fromC = await C.peerClient.request("b.example", "notify", { roomId: path(roomId) }, { body });
    assert.equal(fromC.status, 403);
    assert.equal(json(fromC.body).code, "MIMI_ERR_CLIENT_FORBIDDEN");
    // a.example is not the hub of a c.example room either.
    const otherRoom = await A.peerClient.request("b.example", "notify", { roomId: "c.example/r/elsewhere" }, { body });
    assert.equal(otherRoom.status, 403);
    assert.equal(json(otherRoom.body).code, "MIMI_ERR_CLIENT_FORBIDDEN");
    assert.equal(await B.services.inbox.lastSeq("bob"), seq, "nothing delivered");
    assert.equal(await B.store.namespace("inbound").has(bodyKey), false, "nothing recorded");

    // The hub: 201, delivered once.
    const fromA = await A.peerClient.request("b.example", "notify", { roomId: path(roomId) }, { body });
    assert.equal(fromA.status, 201);
    assert.equal(await B.services.inbox.lastSeq("bob"), seq + 1);
    const [last] = await B.services.inbox.read("bob", seq);
    assert.ok(last?.type === "fanout" && last.roomId === roomId);
    assert.deepEqual(Buffer.from(last.fanout), Buffer.from(body));
    assert.equal(await B.store.namespace("inbound").has(bodyKey), true);
  } finally {
    await closeAll();
    await net.stop();
  }
});

// ---- MIMI-PROTO-FANOUT-10 / -11 ----------------------------------------------------------------------

test("MIMI-PROTO-FANOUT-10/11: while the follower is down the hub keeps the fanout and retries; a new follower process on the same store and port receives it all, in order", async () => {
  const net = await startNetwork(["a.example", "b.example"], { storage: "level" });
  try {
    const [A, B] = providersOf(net, "a.example", "b.example");
    const alice = await client(A);
    const bobState = await openClientStore({ memory: true });
    const bob = await client(B, { state: bobState });
    await register(alice, "alice");
    const b = await register(bob, "bob");
    const roomId = await alice.sdk.createRoom("group", { participants: [b.userUri] });
    await waitFor(bob, joined(roomId), "bob joined");
    await alice.sdk.send(roomId, "before");
    await waitFor(bob, messageText("before"), "bob gets the first message");
    await until("an empty outbox", async () => (await A.services.outbox.pending("b.example")) === 0);

    // The follower goes away.
    await bob.sdk.close();
    const config = B.config;
    await B.stop();
    const failed = A.services.outbox.stats.failedAttempts;
    const sent = ["while down 1", "while down 2", "while down 3"];
    for (const text of sent) await alice.sdk.send(roomId, text);
    // Accepted by the hub, queued for b.example, retried, kept.
    await until("failed delivery attempts", () => A.services.outbox.stats.failedAttempts >= failed + 2);
    assert.equal(await A.services.outbox.pending("b.example"), sent.length, "every accepted message is queued until b.example answers 201");

    // A new follower process on the same data folder and the same server port.
    const B2 = await startProvider(config, logger);
    net.providers["b.example"] = B2;
    await until("the outbox drains", async () => (await A.services.outbox.pending("b.example")) === 0, 45_000);
    const bob2 = await client(B2, { state: bobState });
    listen(bob2);
    for (const text of sent) await waitFor(bob2, messageText(text), `bob gets "${text}"`);
    const texts = bob2.events.flatMap((e) => (e.type === "message" ? [e.text] : []));
    assert.deepEqual(texts, sent, "each once, in order, nothing from before the restart again");
  } finally {
    await closeAll();
    await net.stop();
  }
});
