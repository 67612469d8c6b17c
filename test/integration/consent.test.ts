// Consent (protocol-06 §5.7) end to end on real providers in this process talking over mutual TLS
// (test/helpers/providers.ts), with SDK clients on the real client API: each pre-consent policy,
// the hub's refusal of an addition without consent, grants with KeyPackages, the connection
// request, revoke and expiry. The same flows with providers as separate processes:
// test/integration/acceptance-consent.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { run } from "../../src/cli/main.ts";
import { encode } from "../../src/codec/index.ts";
import { ConsentOperation, RequestConsentBody, UpdateConsentBody } from "../../src/protocol/index.ts";
import type { ConsentEntry } from "../../src/protocol/index.ts";
import { tempDir } from "../helpers/processes.ts";
import { signedKeyMaterialRequest } from "../../src/client-api/sdk/requests.ts";
import { ClientStateStore } from "../../src/client-api/sdk/state.ts";
import { MimiError } from "../../src/errors.ts";
import { createClient } from "../../src/mls/index.ts";
import type { Provider } from "../../src/provider.ts";
import { closeAll, collect, messagesOf, testClient, until, waitForEvent, type TestClient } from "../helpers/acceptance.ts";
import { startNetwork, type TestNetwork } from "../helpers/providers.ts";

const consentRequired = (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_CONSENT_REQUIRED";

/** a.example (policy off: the hub and the requesters' provider), b.example with `b`, c.example off. */
async function network(b: Record<string, unknown>): Promise<{ net: TestNetwork; A: Provider; B: Provider; C: Provider }> {
  const net = await startNetwork(["a.example", "b.example", "c.example"], { extraConfig: (d) => (d === "b.example" ? { consent: b } : {}) });
  return { net, A: net.providers["a.example"]!, B: net.providers["b.example"]!, C: net.providers["c.example"]! };
}

async function client(p: Provider, name: string): Promise<{ c: TestClient; uri: string }> {
  const c = await testClient(p.clientApiUrl);
  const account = await c.client.register(name);
  collect(c);
  return { c, uri: account.userUri };
}

const joinedRoom = (roomId: string) => (e: { type: string; roomId: string }) => e.type === "joined" && e.roomId === roomId;

test("MIMI-PROTO-CONSENT-08/07 policy none: addUser fails with MIMI_ERR_CONSENT_REQUIRED and nothing reaches the target; request → pending at the target → grant → the requester sees the grant and the add works", async () => {
  const { net, A, B } = await network({ preConsent: "none" });
  const clients: TestClient[] = [];
  try {
    const alice = await client(A, "alice");
    const bob = await client(B, "bob");
    clients.push(alice.c, bob.c);
    const roomId = await alice.c.client.createRoom("group");
    const bobKps = async () => (await B.services.keyPackages.counts("bob")).get((await bob.c.client.account())!.clientUri)?.available ?? 0;
    const before = await bobKps();
    await assert.rejects(alice.c.client.addUser(roomId, bob.uri), (e: unknown) => consentRequired(e) && /consentRequest/.test((e as Error).message));
    assert.equal(await bobKps(), before, "no KeyPackage was claimed");
    assert.deepEqual(await B.services.inbox.read("bob", 0), [], "nothing reached bob");
    // The request: the requester learns only that it was received.
    const r = await alice.c.client.consentRequest(bob.uri, { roomId });
    assert.equal(r.delivered, true);
    assert.equal(r.record.state, "requested");
    const pending = (await bob.c.client.consentList()).pending;
    assert.deepEqual(pending.map((p) => [p.requester, p.roomId, p.state]), [[alice.uri, roomId, "requested"]]);
    await assert.rejects(alice.c.client.addUser(roomId, bob.uri), consentRequired, "a request is not consent");
    // The grant, for this room only.
    const g = await bob.c.client.consentGrant(alice.uri, { roomId });
    assert.equal(g.notified, true);
    assert.deepEqual((await alice.c.client.consentList()).outgoing.map((o) => [o.target, o.roomId, o.state]), [[bob.uri, roomId, "granted"]]);
    await alice.c.client.addUser(roomId, bob.uri);
    await waitForEvent(bob.c, joinedRoom(roomId), "bob joined after his grant");
    const id = await alice.c.client.send(roomId, "hello bob");
    await waitForEvent(bob.c, (e) => e.type === "message" && e.messageId === id, "bob reads alice");
    // Another room is not covered: noConsentForThisRoom.
    const other = await alice.c.client.createRoom("group");
    await assert.rejects(alice.c.client.addUser(other, bob.uri), (e: unknown) => consentRequired(e) && (e as MimiError).details?.["userStatus"] === "noConsentForThisRoom");
  } finally {
    await closeAll(clients);
    await net.stop();
  }
});

test("MIMI-PROTO-CONSENT-15: the hub refuses a participant addition whose KeyPackages were claimed through it for another room (no consent for this room), and accepts it once consent covers the room", async () => {
  const { net, A, B } = await network({ preConsent: "none" });
  const clients: TestClient[] = [];
  try {
    const alice = await client(A, "alice");
    const bob = await client(B, "bob");
    clients.push(alice.c, bob.c);
    const granted = await alice.c.client.createRoom("group");
    const target = await alice.c.client.createRoom("group");
    await bob.c.client.consentGrant(alice.uri, { roomId: granted });
    // alice's own client signs a KeyMaterialRequest for the GRANTED room and sends it through the
    // hub, then uses the KeyPackages to add bob to the OTHER room.
    const state = new ClientStateStore(alice.c.store);
    const account = (await state.account())!;
    const mls = await createClient(account.clientUri!, { signatureKeyPair: { publicKey: account.signaturePublicKey!, privateKey: account.signaturePrivateKey! } });
    const inner = alice.c.tap.inner;
    const original = inner.keyMaterial.bind(inner);
    inner.keyMaterial = async (roomId, request) => {
      if (roomId !== target) return original(roomId, request);
      const forged = await signedKeyMaterialRequest(mls, { requestingUser: alice.uri, targetUser: bob.uri, roomId: granted });
      return original(granted, forged);
    };
    const epoch = (await A.services.hub.record(target))!.epoch;
    await assert.rejects(alice.c.client.addUser(target, bob.uri), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_NOT_ALLOWED" && /MIMI-PROTO-CONSENT-15/.test(e.message));
    assert.equal((await A.services.hub.record(target))!.epoch, epoch, "the commit was not accepted");
    assert.deepEqual((await B.services.inbox.read("bob", 0)).filter((e) => e.roomId === target), [], "no Welcome for bob");
    // With consent for every room the same forged claim is fine: the hub's provider holds bob's grant.
    await bob.c.client.consentGrant(alice.uri);
    await alice.c.client.addUser(target, bob.uri);
    await waitForEvent(bob.c, joinedRoom(target), "bob joined the room");
  } finally {
    await closeAll(clients);
    await net.stop();
  }
});

test("MIMI-PROTO-CONSENT-17/20 policy keypackages: the requester can claim and add before consent; the target's provider holds the invitation and drops messages; after the grant the target joins and reads what follows", async () => {
  const { net, A, B } = await network({ preConsent: "keypackages", keyPackages: { reserve: 1 } });
  const clients: TestClient[] = [];
  try {
    const alice = await client(A, "alice");
    const bob = await client(B, "bob");
    clients.push(alice.c, bob.c);
    const roomId = await alice.c.client.createRoom("group");
    await alice.c.client.addUser(roomId, bob.uri);
    const quarantine = B.services.consent.quarantine;
    await until(async () => (await quarantine.room("bob", roomId)) !== undefined, "b.example holds bob's invitation");
    await alice.c.client.send(roomId, "before consent");
    await until(async () => (await quarantine.room("bob", roomId))?.dropped === 1, "the message before consent is dropped");
    assert.deepEqual(await B.services.inbox.read("bob", 0), [], "bob was shown nothing");
    const list = await bob.c.client.consentList();
    assert.deepEqual(list.pending.map((p) => [p.requester, p.roomId, p.origin]), [[alice.uri, roomId, "keyMaterial"]]);
    assert.deepEqual(list.pending[0]?.held.map((h) => [h.roomId, h.requester, h.count, h.dropped, h.policy]), [[roomId, alice.uri, 1, 1, "keypackages"]]);
    await bob.c.client.consentGrant(alice.uri, { roomId });
    await waitForEvent(bob.c, joinedRoom(roomId), "bob joined from the held Welcome");
    const id = await alice.c.client.send(roomId, "after consent");
    await waitForEvent(bob.c, (e) => e.type === "message" && e.messageId === id, "bob reads the message after the grant");
    assert.deepEqual(messagesOf(bob.c, roomId).map((m) => m.text), ["after consent"], "the message before consent never reached bob");
  } finally {
    await closeAll(clients);
    await net.stop();
  }
});

test("MIMI-PROTO-CONSENT-21/20/23 policy quarantine: messages before consent are held, not shown, previewed; on grant they arrive in order, then the rest", async () => {
  const { net, A, B } = await network({ preConsent: "quarantine" });
  const clients: TestClient[] = [];
  try {
    const alice = await client(A, "alice");
    const bob = await client(B, "bob");
    clients.push(alice.c, bob.c);
    const roomId = await alice.c.client.createRoom("group", { name: "Before", participants: [bob.uri] });
    const ids = [await alice.c.client.send(roomId, "one"), await alice.c.client.send(roomId, "two")];
    const quarantine = B.services.consent.quarantine;
    // the Welcome, the name commit, two messages
    await until(async () => (await quarantine.room("bob", roomId))?.count === 4, "b.example holds four events for bob");
    assert.deepEqual(await B.services.inbox.read("bob", 0), []);
    assert.equal(bob.c.events.length, 0, "bob's client saw nothing");
    const held = (await bob.c.client.consentList()).held;
    assert.equal(held[0]?.count, 4);
    assert.ok((held[0]?.bytes ?? 0) > 0 && held[0]?.firstAt !== undefined && held[0]?.lastAt !== undefined);
    const g = await bob.c.client.consentGrant(alice.uri);
    assert.equal(g.released, 4);
    await waitForEvent(bob.c, (e) => e.type === "message" && e.messageId === ids[1], "bob reads the held messages");
    const three = await alice.c.client.send(roomId, "three");
    await waitForEvent(bob.c, (e) => e.type === "message" && e.messageId === three, "and what follows");
    assert.deepEqual(messagesOf(bob.c, roomId).map((m) => m.text), ["one", "two", "three"], "in order");
    assert.equal((await bob.c.client.room(roomId)).name, "Before", "the held commit was applied too");
  } finally {
    await closeAll(clients);
    await net.stop();
  }
});

test("MIMI-PROTO-CONSENT-22/10 policy quarantine: revoke drops what is held (not announced) and closes keyMaterial; an expired request drops it too", async () => {
  const { net, A, B } = await network({ preConsent: "quarantine", requestTtlSeconds: 2, sweepIntervalSeconds: 1 });
  const clients: TestClient[] = [];
  try {
    const alice = await client(A, "alice");
    const carol = await client(A, "carol");
    const bob = await client(B, "bob");
    clients.push(alice.c, carol.c, bob.c);
    const quarantine = B.services.consent.quarantine;
    // revoke
    const r1 = await alice.c.client.createRoom("group", { participants: [bob.uri] });
    await alice.c.client.send(r1, "unwanted");
    await until(async () => (await quarantine.room("bob", r1))?.count === 2, "held");
    const rv = await bob.c.client.consentRevoke(alice.uri);
    assert.equal(rv.dropped, 2);
    assert.equal(rv.notified, false, "not announced (privacy)");
    assert.equal(await quarantine.room("bob", r1), undefined);
    await alice.c.client.send(r1, "still unwanted");
    // bob is in the participant list but nobody at b.example receives the room: the notify is
    // still acknowledged (and dropped), so the outbox queue to b.example does not stall.
    await until(async () => (await A.services.outbox.pending("b.example")) === 0, "b.example acknowledged the notify");
    const r2 = await alice.c.client.createRoom("group");
    await assert.rejects(alice.c.client.addUser(r2, bob.uri), consentRequired, "a revoked requester gets noConsent, no claims before consent");
    assert.deepEqual(await B.services.inbox.read("bob", 0), [], "nothing of alice's ever shown");
    // expiry: carol's pending request (made by her claim) runs out after 2 s; the sweep drops the room
    const r3 = await carol.c.client.createRoom("group", { participants: [bob.uri] });
    await until(async () => (await quarantine.room("bob", r3)) !== undefined, "carol's room held");
    await until(async () => (await quarantine.room("bob", r3)) === undefined, "dropped when carol's request expired", 30_000);
    const list = await bob.c.client.consentList();
    assert.equal(list.incoming.find((i) => i.requester === carol.uri)?.state, "expired");
    assert.deepEqual(list.pending, []);
    assert.deepEqual(await B.services.inbox.read("bob", 0), []);
  } finally {
    await closeAll(clients);
    await net.stop();
  }
});

test("MIMI-PROTO-CONSENT-16/25: a connection request (request + grant back) and a grant carrying KeyPackages: the requester adds the target without keyMaterial", async () => {
  const { net, A, B } = await network({ preConsent: "none" });
  const clients: TestClient[] = [];
  try {
    const alice = await client(A, "alice");
    const bob = await client(B, "bob");
    clients.push(alice.c, bob.c);
    // bob asks alice to connect: alice is asked, and bob grants alice at once
    const r = await bob.c.client.consentRequest(alice.uri, { bilateral: true });
    assert.equal(r.delivered, true);
    assert.deepEqual((await alice.c.client.consentList()).pending.map((p) => p.requester), [bob.uri]);
    assert.deepEqual((await alice.c.client.consentList()).outgoing.map((o) => [o.target, o.state]), [[bob.uri, "granted"]]);
    // …this time with KeyPackages
    const g = await bob.c.client.consentGrant(alice.uri, { withKeyPackages: true });
    assert.equal(g.keyPackages, 1);
    assert.equal((await alice.c.client.consentList()).outgoing[0]?.keyPackages, 1);
    const roomId = await alice.c.client.createRoom("group");
    const claimsBefore = alice.c.tap.updates.length;
    let keyMaterialCalls = 0;
    const inner = alice.c.tap.inner;
    const original = inner.keyMaterial.bind(inner);
    inner.keyMaterial = (room, request) => {
      keyMaterialCalls++;
      return original(room, request);
    };
    await alice.c.client.addUser(roomId, bob.uri, { grantedKeyPackages: true });
    assert.equal(keyMaterialCalls, 0, "no keyMaterial round trip");
    assert.equal(alice.c.tap.updates.length, claimsBefore + 1);
    await waitForEvent(bob.c, joinedRoom(roomId), "bob joined with the granted KeyPackage");
    assert.equal((await alice.c.client.consentList()).outgoing[0]?.keyPackages, 0, "used once");
  } finally {
    await closeAll(clients);
    await net.stop();
  }
});

test("MIMI-PROTO-CONSENT-12: a requester claiming in a loop is throttled, the target keeps its reserve, and a consented contact still adds the target", async () => {
  const { net, A, B } = await network({ preConsent: "keypackages", keyPackages: { reserve: 2, perRequester: { burst: 3, perMinute: 1 }, targetBudget: { claims: 50 } } });
  const clients: TestClient[] = [];
  try {
    const mallory = await client(A, "mallory");
    const carol = await client(A, "carol");
    const bob = await client(B, "bob");
    clients.push(mallory.c, carol.c, bob.c);
    const bobDevice = (await bob.c.client.account())!.clientUri;
    const roomId = await mallory.c.client.createRoom("group");
    const state = new ClientStateStore(mallory.c.store);
    const account = (await state.account())!;
    const mls = await createClient(account.clientUri!, { signatureKeyPair: { publicKey: account.signaturePublicKey!, privateKey: account.signaturePrivateKey! } });
    const { KeyMaterialResponse } = await import("../../src/protocol/index.ts");
    const { decodeExact } = await import("../../src/codec/index.ts");
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) {
      const request = await signedKeyMaterialRequest(mls, { requestingUser: mallory.uri, targetUser: bob.uri, roomId });
      statuses.push(decodeExact(KeyMaterialResponse, await mallory.c.tap.inner.keyMaterial(roomId, request)).userStatus);
    }
    const successes = statuses.filter((s) => s === 0).length;
    assert.ok(successes <= 3, `at most the burst succeeds (got ${statuses.join(",")})`);
    assert.equal(statuses.at(-1), 5, "then noConsent");
    const left = (await B.services.keyPackages.counts("bob")).get(bobDevice);
    assert.ok((left?.available ?? 0) >= 2 && left?.lastResort === 1, "the reserve and the last-resort KeyPackage are untouched");
    await bob.c.client.consentGrant(carol.uri);
    const carolRoom = await carol.c.client.createRoom("group");
    await carol.c.client.addUser(carolRoom, bob.uri);
    await waitForEvent(bob.c, joinedRoom(carolRoom), "bob joined carol's room");
  } finally {
    await closeAll(clients);
    await net.stop();
  }
});

function entry(op: ConsentOperation, requester: string, target: string, roomId?: string): ConsentEntry {
  const base = { requesterUri: { uri: requester }, targetUri: { uri: target }, roomId: roomId === undefined ? undefined : { uri: roomId }, consentExtensions: { componentData: [] } };
  return op === ConsentOperation.grant ? { consentOperation: op, ...base, clientKeyPackages: [] } : { consentOperation: op, ...base };
}

test("MIMI-PROTO-CONSENT-03/04/05/06 on the wire (mutual TLS): 201 for a known user, an unknown user and an unmatched cancel alike; 403 for a target outside the receiver or a requester outside the sender; 400 for the other endpoint's operations", async () => {
  const { net, A, B } = await network({ preConsent: "none" });
  const clients: TestClient[] = [];
  try {
    const bob = await client(B, "bob");
    clients.push(bob.c);
    const alice = "mimi://a.example/u/alice";
    const send = async (endpoint: "requestConsent" | "updateConsent", body: Uint8Array, to = "b.example") =>
      (await A.peerClient.request(to, endpoint, endpoint === "requestConsent" ? { targetDomain: to } : { requesterDomain: to }, { body })).status;
    const rc = (e: ConsentEntry) => encode(RequestConsentBody, e);
    assert.equal(await send("requestConsent", rc(entry(ConsentOperation.request, alice, bob.uri))), 201);
    assert.equal(await send("requestConsent", rc(entry(ConsentOperation.request, alice, "mimi://b.example/u/nobody"))), 201, "unknown user: the same answer");
    assert.equal(await send("requestConsent", rc(entry(ConsentOperation.cancel, alice, bob.uri, "mimi://a.example/r/never"))), 201, "a cancel matching no request");
    assert.equal(await send("requestConsent", rc(entry(ConsentOperation.request, alice, "mimi://c.example/u/carol"))), 403, "target not at b.example");
    assert.equal(await send("requestConsent", rc(entry(ConsentOperation.request, "mimi://c.example/u/carol", bob.uri))), 403, "requester not of the sender (a.example)");
    assert.equal(await send("requestConsent", encode(UpdateConsentBody, entry(ConsentOperation.grant, alice, bob.uri))), 400, "grant does not belong on requestConsent");
    assert.equal(await send("updateConsent", rc(entry(ConsentOperation.request, alice, bob.uri))), 400, "request does not belong on updateConsent");
    const pending = (await bob.c.client.consentList()).pending;
    assert.deepEqual(pending.map((p) => [p.requester, p.state]), [[alice, "requested"]], "only the valid request was recorded");
  } finally {
    await closeAll(clients);
    await net.stop();
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

test("mimi-bridge client consent request|list|grant|revoke|cancel|policy, and invite failing with MIMI_ERR_CONSENT_REQUIRED", async () => {
  const { net, A, B } = await network({ preConsent: "none" });
  const tmp = await tempDir("consent-cli");
  try {
    const ok = async (...args: string[]) => {
      const r = await cli(tmp.path, "client", ...args);
      assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
      return r.stdout;
    };
    const alice = JSON.parse(await ok("register", "--api", A.clientApiUrl, "--user", "alice", "--state", "alice", "--json")) as { userUri: string };
    const bob = JSON.parse(await ok("register", "--api", B.clientApiUrl, "--user", "bob", "--state", "bob", "--json")) as { userUri: string };
    const { roomId } = JSON.parse(await ok("create", "--state", "alice", "--json")) as { roomId: string };
    const refused = await cli(tmp.path, "client", "invite", roomId, bob.userUri, "--state", "alice");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /MIMI_ERR_CONSENT_REQUIRED: .*consentRequest/);
    assert.match(await ok("consent", "request", bob.userUri, "--room", roomId, "--state", "alice"), /request received by mimi:\/\/b\.example\/u\/bob's provider/);
    const listed = JSON.parse(await ok("consent", "list", "--state", "bob", "--json")) as { pending: { requester: string; roomId: string }[]; policy: { effective: string } };
    assert.deepEqual(listed.pending.map((p) => [p.requester, p.roomId]), [[alice.userUri, roomId]]);
    assert.equal(listed.policy.effective, "none");
    assert.match(await ok("consent", "list", "--state", "bob"), /pending:\n {2}mimi:\/\/a\.example\/u\/alice mimi:\/\/a\.example\/r\//);
    assert.match(await ok("consent", "grant", alice.userUri, "--room", roomId, "--state", "bob"), /^granted mimi:\/\/a\.example\/u\/alice/);
    await ok("invite", roomId, bob.userUri, "--state", "alice");
    assert.match(await ok("consent", "revoke", alice.userUri, "--state", "bob"), /^revoked/);
    const other = JSON.parse(await ok("create", "--state", "alice", "--json")) as { roomId: string };
    await ok("consent", "request", bob.userUri, "--room", other.roomId, "--state", "alice");
    assert.match(await ok("consent", "cancel", bob.userUri, "--room", other.roomId, "--state", "alice"), /cancelled the request/);
    const policy = JSON.parse(await ok("consent", "policy", "quarantine", "--state", "bob", "--json")) as { effective: string };
    assert.equal(policy.effective, "quarantine");
    const bad = await cli(tmp.path, "client", "consent", "policy", "sometimes", "--state", "bob");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /MIMI_ERR_CLI_USAGE/);
  } finally {
    await net.stop();
    await tmp.remove();
  }
});
