// Acceptance of issue 4 (consent half): three providers, each a SEPARATE PROCESS
// (startProcessNetwork: fresh CA, mutual TLS on loopback, LevelDB stores), each with its own
// pre-consent policy from its configuration:
//   a.example  keypackages   (amy)        also the hub of the rooms of alice
//   b.example  none          (bob)        requesters mallory, eve
//   c.example  quarantine    (cody)       requester carol, hub of carol's rooms
// For each policy: what the target and the requester observe before and after grant, revoke and
// expiry, through the SDK and the client API only. Then a requester claiming KeyPackages in a loop
// is throttled while a consented contact can still add the target.
import { test } from "node:test";
import assert from "node:assert/strict";
import { signedKeyMaterialRequest } from "../../src/client-api/sdk/requests.ts";
import { ClientStateStore } from "../../src/client-api/sdk/state.ts";
import { decodeExact } from "../../src/codec/index.ts";
import { startProcessNetwork, type ProcessNetwork, type ProviderProcess } from "../../src/demo/processNetwork.ts";
import { MimiError } from "../../src/errors.ts";
import { createClient } from "../../src/mls/index.ts";
import { KeyMaterialResponse, KeyMaterialUserCode } from "../../src/protocol/index.ts";
import { closeAll, collect, messagesOf, testClient, until, waitForEvent, type TestClient } from "../helpers/acceptance.ts";
import { tempDir } from "../helpers/processes.ts";

const TTL = { a: 4, b: 3, c: 4 };
const CONSENT: Record<string, Record<string, unknown>> = {
  "a.example": { preConsent: "keypackages", requestTtlSeconds: TTL.a, sweepIntervalSeconds: 1, keyPackages: { reserve: 1 } },
  "b.example": { preConsent: "none", requestTtlSeconds: TTL.b, sweepIntervalSeconds: 1 },
  "c.example": { preConsent: "quarantine", requestTtlSeconds: TTL.c, sweepIntervalSeconds: 1, keyPackages: { reserve: 2, perRequester: { burst: 10, perMinute: 1 }, targetBudget: { claims: 10 } } },
};

interface User {
  readonly c: TestClient;
  readonly uri: string;
}

const consentRequired = (status?: string) => (e: unknown) =>
  e instanceof MimiError && e.code === "MIMI_ERR_CONSENT_REQUIRED" && (status === undefined || e.details?.["userStatus"] === status);
const joined = (roomId: string) => (e: { type: string; roomId: string }) => e.type === "joined" && e.roomId === roomId;
/** Raw provider events of a room a client has received. */
const rawOf = (u: User, roomId: string) => u.c.tap.rawEvents().filter((e) => e.event.roomId === roomId);

async function heldFor(u: User, roomId: string) {
  return (await u.c.client.consentList()).held.find((h) => h.roomId === roomId);
}

test("issue 4 acceptance, consent: three providers as processes with the policies none, keypackages and quarantine; grant, revoke, expiry; a looping claimer is throttled while a contact still adds the target", async (t) => {
  const tmp = await tempDir("acc-consent");
  let net: ProcessNetwork | undefined;
  const clients: TestClient[] = [];
  try {
    net = await startProcessNetwork({ domains: ["a.example", "b.example", "c.example"], dir: tmp.path, logLevel: "warn", extraConfig: (d) => ({ consent: CONSENT[d] ?? {} }) });
    const [A, B, C] = ["a.example", "b.example", "c.example"].map((d) => net!.providers[d]!) as [ProviderProcess, ProviderProcess, ProviderProcess];
    assert.equal(new Set([A.pid(), B.pid(), C.pid(), process.pid]).size, 4, "three separate processes");
    const user = async (p: ProviderProcess, name: string): Promise<User> => {
      const c = await testClient(p.clientApiUrl);
      clients.push(c);
      const account = await c.client.register(name);
      collect(c);
      return { c, uri: account.userUri };
    };
    const alice = await user(A, "alice");
    const amy = await user(A, "amy");
    const bob = await user(B, "bob");
    const mallory = await user(B, "mallory");
    const eve = await user(B, "eve");
    const cody = await user(C, "cody");
    const carol = await user(C, "carol");

    await t.test("MIMI-PROTO-CONSENT-08/05/10/22 none (bob@b): nothing reaches bob before consent; the requester learns only that its request was received; grant opens, revoke closes without telling, a request expires", async () => {
      assert.equal((await bob.c.client.consentList()).policy.effective, "none");
      const room = await alice.c.client.createRoom("group");
      // before: noConsent, and an unknown user looks exactly the same
      await assert.rejects(alice.c.client.addUser(room, bob.uri), consentRequired("noConsent"));
      await assert.rejects(alice.c.client.addUser(room, "mimi://b.example/u/nobody"), consentRequired("noConsent"));
      const req = await alice.c.client.consentRequest(bob.uri);
      const ghost = await alice.c.client.consentRequest("mimi://b.example/u/nobody");
      assert.deepEqual([req.delivered, req.record.state], [true, "requested"]);
      assert.deepEqual([ghost.delivered, ghost.record.state], [true, "requested"], "the same answer for an unknown user");
      const seen = await bob.c.client.consentList();
      assert.deepEqual(seen.pending.map((p) => [p.requester, p.roomId ?? null]), [[alice.uri, null]], "bob sees the request, nothing else");
      assert.deepEqual(seen.held, []);
      assert.deepEqual(rawOf(bob, room), []);
      // grant
      await bob.c.client.consentGrant(alice.uri);
      await until(async () => (await alice.c.client.consentList()).outgoing.some((o) => o.target === bob.uri && o.state === "granted"), "alice sees the grant");
      await alice.c.client.addUser(room, bob.uri);
      await waitForEvent(bob.c, joined(room), "bob joined");
      const id = await alice.c.client.send(room, "hello bob");
      await waitForEvent(bob.c, (e) => e.type === "message" && e.messageId === id, "bob reads alice");
      // revoke: not announced; alice's record still says granted, but a new add is refused
      const rv = await bob.c.client.consentRevoke(alice.uri);
      assert.equal(rv.notified, false);
      assert.equal((await alice.c.client.consentList()).outgoing.find((o) => o.target === bob.uri)?.state, "granted", "the revocation is not leaked");
      const room2 = await alice.c.client.createRoom("group");
      await assert.rejects(alice.c.client.addUser(room2, bob.uri), consentRequired("noConsent"));
      assert.deepEqual(rawOf(bob, room2), []);
      // expiry: mallory's request for one room runs out after b.example's requestTtlSeconds
      const mRoom = await mallory.c.client.createRoom("group");
      await mallory.c.client.consentRequest(bob.uri, { roomId: mRoom });
      assert.ok((await bob.c.client.consentList()).pending.some((p) => p.requester === mallory.uri));
      await until(async () => (await bob.c.client.consentList()).incoming.some((i) => i.requester === mallory.uri && i.state === "expired"), "mallory's request expired", 30_000);
      assert.ok(!(await bob.c.client.consentList()).pending.some((p) => p.requester === mallory.uri));
      await assert.rejects(mallory.c.client.addUser(mRoom, bob.uri), consentRequired("noConsent"));
    });

    await t.test("MIMI-PROTO-CONSENT-17/20/22 keypackages (amy@a): the requester claims and adds before consent; a.example holds the invitation, drops messages and shows amy a pending request; grant delivers the invitation, revoke and expiry drop it", async () => {
      assert.equal((await amy.c.client.consentList()).policy.effective, "keypackages");
      // carol@c adds amy@a to a room on c.example: keyMaterial c → a before consent, Welcome c → a
      const room = await carol.c.client.createRoom("group");
      await carol.c.client.addUser(room, amy.uri);
      assert.ok((await carol.c.client.room(room)).participants.some((p) => p.user === amy.uri), "the requester sees amy added");
      await until(async () => (await heldFor(amy, room))?.count === 1, "a.example holds amy's Welcome");
      await carol.c.client.send(room, "before consent");
      await until(async () => (await heldFor(amy, room))?.dropped === 1, "the message before consent is dropped");
      const list = await amy.c.client.consentList();
      assert.deepEqual(list.pending.map((p) => [p.requester, p.roomId, p.origin]), [[carol.uri, room, "keyMaterial"]]);
      assert.deepEqual(rawOf(amy, room), [], "amy's client got nothing");
      // grant
      const g = await amy.c.client.consentGrant(carol.uri, { roomId: room });
      assert.equal(g.released, 1);
      await waitForEvent(amy.c, joined(room), "amy joined from the held Welcome");
      const after = await carol.c.client.send(room, "after consent");
      await waitForEvent(amy.c, (e) => e.type === "message" && e.messageId === after, "amy reads what follows");
      assert.deepEqual(messagesOf(amy.c, room).map((m) => m.text), ["after consent"]);
      await until(async () => (await carol.c.client.consentList()).outgoing.some((o) => o.target === amy.uri && o.state === "granted"), "carol sees the grant");
      // revoke (of a room that was never granted: a preemptive denial)
      const room2 = await carol.c.client.createRoom("group");
      await amy.c.client.consentRevoke(carol.uri, { roomId: room2 });
      await assert.rejects(carol.c.client.addUser(room2, amy.uri), consentRequired("noConsent"), "no claims before consent after a refusal");
      // expiry: eve@b adds amy before consent; when the request expires the invitation is dropped
      const eRoom = await eve.c.client.createRoom("group");
      await eve.c.client.addUser(eRoom, amy.uri);
      await until(async () => (await heldFor(amy, eRoom)) !== undefined, "amy's invitation from eve held");
      await until(async () => (await heldFor(amy, eRoom)) === undefined, "dropped at expiry", 30_000);
      assert.equal((await amy.c.client.consentList()).incoming.find((i) => i.requester === eve.uri)?.state, "expired");
      assert.deepEqual(rawOf(amy, eRoom), []);
    });

    await t.test("MIMI-PROTO-CONSENT-21/20/22/23 quarantine (cody@c): messages before consent are held at c.example, not shown, previewed as metadata; grant delivers them in order; revoke and expiry drop them", async () => {
      assert.equal((await cody.c.client.consentList()).policy.effective, "quarantine");
      const room = await alice.c.client.createRoom("group", { participants: [cody.uri] });
      const ids = [await alice.c.client.send(room, "one"), await alice.c.client.send(room, "two")];
      await until(async () => (await heldFor(cody, room))?.count === 3, "c.example holds the Welcome and two messages");
      const held = await heldFor(cody, room);
      assert.deepEqual([held?.requester, held?.policy, held?.dropped], [alice.uri, "quarantine", 0]);
      assert.ok((held?.bytes ?? 0) > 0 && (held?.firstAt ?? 0) > 0 && (held?.lastAt ?? 0) >= (held?.firstAt ?? 0));
      assert.deepEqual(rawOf(cody, room), [], "nothing shown");
      const g = await cody.c.client.consentGrant(alice.uri);
      assert.equal(g.released, 3);
      await waitForEvent(cody.c, (e) => e.type === "message" && e.messageId === ids[1], "cody reads the held messages");
      const three = await alice.c.client.send(room, "three");
      await waitForEvent(cody.c, (e) => e.type === "message" && e.messageId === three, "and then the next");
      assert.deepEqual(messagesOf(cody.c, room).map((m) => m.text), ["one", "two", "three"]);
      // revoke: mallory@b adds cody and writes; cody revokes; everything held is gone
      const mRoom = await mallory.c.client.createRoom("group", { participants: [cody.uri] });
      await mallory.c.client.send(mRoom, "spam");
      await until(async () => (await heldFor(cody, mRoom))?.count === 2, "mallory's room held");
      const rv = await cody.c.client.consentRevoke(mallory.uri);
      assert.equal(rv.dropped, 2);
      assert.equal(await heldFor(cody, mRoom), undefined);
      await mallory.c.client.send(mRoom, "more spam");
      const mRoom2 = await mallory.c.client.createRoom("group");
      await assert.rejects(mallory.c.client.addUser(mRoom2, cody.uri), consentRequired("noConsent"));
      assert.deepEqual(rawOf(cody, mRoom), []);
      // expiry: amy@a's room for cody is dropped when the request runs out
      const aRoom = await amy.c.client.createRoom("group", { participants: [cody.uri] });
      await amy.c.client.send(aRoom, "will expire");
      await until(async () => (await heldFor(cody, aRoom))?.count === 2, "amy's room held");
      await until(async () => (await heldFor(cody, aRoom)) === undefined, "dropped at expiry", 30_000);
      assert.deepEqual(rawOf(cody, aRoom), []);
    });

    await t.test("MIMI-PROTO-CONSENT-11/12: eve@b claiming cody's KeyPackages in a loop gets no more than the reserve allows (keyMaterialExhausted), then is throttled (noConsent); cody keeps the reserve and its last-resort KeyPackage; alice (consented) still adds cody", async () => {
      const eRoom = await eve.c.client.createRoom("group");
      const codyDevice = (await cody.c.client.account())!.clientUri;
      const before = await cody.c.tap.inner.keyPackageCount(codyDevice);
      const state = new ClientStateStore(eve.c.store);
      const account = (await state.account())!;
      const mls = await createClient(account.clientUri!, { signatureKeyPair: { publicKey: account.signaturePublicKey!, privateKey: account.signaturePrivateKey! } });
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) {
        const request = await signedKeyMaterialRequest(mls, { requestingUser: eve.uri, targetUser: cody.uri, roomId: eRoom });
        statuses.push(decodeExact(KeyMaterialResponse, await eve.c.tap.inner.keyMaterial(eRoom, request)).userStatus);
      }
      const got = statuses.filter((s) => s === KeyMaterialUserCode.success).length;
      const firstRefusal = statuses.findIndex((s) => s !== KeyMaterialUserCode.success);
      assert.ok(firstRefusal >= 0 && statuses.slice(firstRefusal).every((s) => s !== KeyMaterialUserCode.success), `no success after the first refusal (${statuses.join(",")})`);
      assert.ok(statuses.includes(KeyMaterialUserCode.noCompatibleMaterial), `the reserve stops the drain: noCompatibleMaterial with keyMaterialExhausted (${statuses.join(",")})`);
      assert.deepEqual(statuses.slice(-5), Array(5).fill(KeyMaterialUserCode.noConsent), "then throttled: noConsent");
      const count = await cody.c.tap.inner.keyPackageCount(codyDevice);
      assert.equal(count.available, before.available - got, "only the successful claims took KeyPackages");
      assert.equal(count.available, 2, "the reserve of 2 is kept");
      assert.equal(count.lastResort, 1, "and the last-resort KeyPackage");
      const room = await alice.c.client.createRoom("group");
      await alice.c.client.addUser(room, cody.uri);
      await waitForEvent(cody.c, joined(room), "cody joined alice's new room");
    });
  } finally {
    await closeAll(clients);
    await net?.stop();
    await tmp.remove();
  }
});
