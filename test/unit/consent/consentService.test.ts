// The consent service between providers (protocol-06 §5.7): requestConsent / updateConsent
// bodies as the real codec writes them, the inbound rules (scope, privacy), request, cancel,
// grant (with KeyPackages), revoke, the connection request, pending caps, expiry. Providers are
// linked by a fake PeerClient that calls the other provider's handlers with the caller's domain as
// the authenticated peer (consentFixture.ts); test/integration/consent.test.ts does it over mTLS.
import { test } from "node:test";
import assert from "node:assert/strict";
import { encode } from "../../../src/codec/index.ts";
import { MimiError } from "../../../src/errors.ts";
import { asKeyPackage } from "../../../src/mls/wire.ts";
import { ConsentOperation, KeyMaterialUserCode, RequestConsentBody, UpdateConsentBody } from "../../../src/protocol/index.ts";
import type { ConsentEntry } from "../../../src/protocol/index.ts";
import { keyPackagesOf, rejectsWith } from "../services/helpers.ts";
import { claim, consentNet } from "./consentFixture.ts";

const ROOM = "mimi://a.example/r/clubhouse";
const ROOM_B = "mimi://b.example/r/lounge";

function entry(op: ConsentOperation, requester: string, target: string, roomId?: string, keyPackages: Uint8Array[] = []): ConsentEntry {
  const base = { requesterUri: { uri: requester }, targetUri: { uri: target }, roomId: roomId === undefined ? undefined : { uri: roomId }, consentExtensions: { componentData: [] } };
  return op === ConsentOperation.grant ? { consentOperation: op, ...base, clientKeyPackages: keyPackages.map(asKeyPackage) } : { consentOperation: op, ...base };
}

async function twoProviders(b: Parameters<typeof consentNet>[0][string] = { preConsent: "none" }) {
  const net = await consentNet({ "a.example": {}, "b.example": b });
  const A = net.providers["a.example"]!;
  const B = net.providers["b.example"]!;
  const alice = await A.user("alice");
  const bob = await B.user("bob");
  return { net, A, B, alice, bob };
}

test("MIMI-PROTO-CONSENT-02/03/04: requestConsent takes only request/cancel, for a target of the receiver from a requester of the sender; updateConsent the mirror image", async () => {
  const { net, B, alice, bob } = await twoProviders();
  try {
    const req = encode(RequestConsentBody, entry(ConsentOperation.request, alice, bob));
    await rejectsWith(B.consent.onRequestConsent(req, "c.example"), "MIMI_ERR_CONSENT_SCOPE_MISMATCH");
    await rejectsWith(B.consent.onRequestConsent(encode(RequestConsentBody, entry(ConsentOperation.request, alice, "mimi://c.example/u/bob")), "a.example"), "MIMI_ERR_CONSENT_SCOPE_MISMATCH");
    await rejectsWith(B.consent.onRequestConsent(encode(UpdateConsentBody, entry(ConsentOperation.grant, alice, bob)), "a.example"), "MIMI_ERR_CODEC_CONSTRAINT");
    await rejectsWith(B.consent.onRequestConsent(encode(RequestConsentBody, entry(ConsentOperation.request, "mimi://a.example/r/notauser", bob)), "a.example"), "MIMI_ERR_CONSENT_INVALID");
    // updateConsent at the requester's provider (a.example) from the target's (b.example)
    const A = net.providers["a.example"]!;
    await rejectsWith(A.consent.onUpdateConsent(encode(UpdateConsentBody, entry(ConsentOperation.grant, alice, bob)), "c.example"), "MIMI_ERR_CONSENT_SCOPE_MISMATCH");
    await rejectsWith(A.consent.onUpdateConsent(encode(UpdateConsentBody, entry(ConsentOperation.grant, "mimi://c.example/u/x", bob)), "b.example"), "MIMI_ERR_CONSENT_SCOPE_MISMATCH");
    await rejectsWith(A.consent.onUpdateConsent(encode(RequestConsentBody, entry(ConsentOperation.request, alice, bob)), "b.example"), "MIMI_ERR_CODEC_CONSTRAINT");
    assert.deepEqual(await B.consent.list(bob).then((l) => l.incoming), [], "nothing was recorded");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-05: a request for an unknown user is answered like one for a known user (received), and stores nothing there", async () => {
  const { net, A, B, alice } = await twoProviders();
  try {
    const known = await A.consent.request({ requester: alice, target: "mimi://b.example/u/bob" });
    const unknown = await A.consent.request({ requester: alice, target: "mimi://b.example/u/nobody" });
    assert.equal(known.delivered, true);
    assert.equal(unknown.delivered, true);
    assert.deepEqual([known.record.state, unknown.record.state], ["requested", "requested"]);
    assert.deepEqual(await B.consent.consentStore.incoming("mimi://b.example/u/nobody"), []);
    assert.equal((await B.consent.consentStore.incoming("mimi://b.example/u/bob")).length, 1);
  } finally {
    await net.close();
  }
});

test("a user without an account whom a bridged platform has (the bridge's onUnknownLocalUser says so): a request or a claim creates the account first and proceeds as for anyone; users no platform has stay unknown; a platform that cannot tell fails the request", async () => {
  const { net, A, B, alice } = await twoProviders({ preConsent: "keypackages" });
  try {
    const [carol, dave, erin, nobody, down] = ["carol", "dave", "erin", "nobody", "down"].map((n) => `mimi://b.example/u/${n}`) as [string, string, string, string, string];
    const asked: string[] = [];
    const notices: string[] = [];
    B.consent.onNotice((n) => notices.push(`${n.kind} ${n.target}`));
    // What the bridge host does (src/bridge/host.ts #provisionLocalUser): ask the platform, then
    // create the account with a device and KeyPackages.
    B.consent.onUnknownLocalUser(async (uri) => {
      asked.push(uri);
      if (uri === down) throw new MimiError("MIMI_ERR_BRIDGE_PLATFORM_UNAVAILABLE");
      if (uri !== carol && uri !== dave && uri !== erin) return false;
      const name = uri.slice(uri.lastIndexOf("/") + 1);
      await B.user(name);
      await B.upload(name, "phone", 3);
      return true;
    });
    // A consent request: the account is created, the request stored and the bridge notified.
    const r = await A.consent.request({ requester: alice, target: carol });
    assert.equal(r.delivered, true);
    assert.ok((await B.accounts.getUser("carol")) !== undefined, "carol's account was created on the request");
    assert.deepEqual((await B.consent.list(carol)).pending.map((p) => p.requester), [alice]);
    assert.deepEqual(notices, [`request ${carol}`]);
    // A user the platform does not have: the answer of any unknown user (MIMI-PROTO-CONSENT-05).
    assert.equal((await A.consent.request({ requester: alice, target: nobody })).delivered, true);
    assert.equal(await B.accounts.getUser("nobody"), undefined);
    assert.deepEqual(await B.consent.consentStore.incoming(nobody), []);
    // A cancel never creates an account.
    await B.consent.onRequestConsent(encode(RequestConsentBody, entry(ConsentOperation.cancel, alice, erin)), "a.example");
    assert.equal(await B.accounts.getUser("erin"), undefined);
    assert.ok(!asked.includes(erin));
    // A claim (a room add) under `keypackages`: the account and its KeyPackages first, then the
    // pre-consent claim as for any user; for a user no platform has, the answer of a refusal.
    const c = await claim(B, alice, dave);
    assert.equal(c.userStatus, KeyMaterialUserCode.success);
    assert.equal(c.refs.length, 1);
    assert.equal((await claim(B, alice, nobody)).userStatus, KeyMaterialUserCode.noConsent, "MIMI-PROTO-CONSENT-08: unknown looks like no consent");
    // A name the platform denied is remembered: the claim after the request did not ask again.
    assert.equal(asked.filter((u) => u === nobody).length, 1, "one platform lookup for a denied name");
    // The platform cannot tell now: the requester sees a failure (to retry), not a silent drop.
    await rejectsWith(A.consent.request({ requester: alice, target: down }), "MIMI_ERR_PEER_REFUSED");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-01/06: a cancel must repeat the request's ConsentScope; one that matches nothing is answered 201 and changes nothing", async () => {
  const { net, A, B, alice, bob } = await twoProviders();
  try {
    await A.consent.request({ requester: alice, target: bob, roomId: ROOM });
    // A connection-wide cancel does not cancel the room request (byte-for-byte scopes).
    await B.consent.onRequestConsent(encode(RequestConsentBody, entry(ConsentOperation.cancel, alice, bob)), "a.example");
    assert.equal((await B.consent.consentStore.get("incoming", alice, bob, ROOM))?.state, "requested");
    // The requester's own provider refuses a cancel without a pending request.
    await rejectsWith(A.consent.cancel({ requester: alice, target: bob }), "MIMI_ERR_CONSENT_NOT_FOUND");
    const c = await A.consent.cancel({ requester: alice, target: bob, roomId: ROOM });
    assert.equal(c.record.state, "cancelled");
    assert.equal((await B.consent.consentStore.get("incoming", alice, bob, ROOM))?.state, "cancelled");
    assert.deepEqual((await B.consent.list(bob)).pending, []);
  } finally {
    await net.close();
  }
});

test("request → the target sees it pending → grant: the requester's provider learns the grant (updateConsent) and keyMaterial answers success", async () => {
  const { net, A, B, alice, bob } = await twoProviders();
  try {
    await B.upload("bob", "phone", 2);
    await A.consent.request({ requester: alice, target: bob });
    assert.equal((await claim(B, alice, bob, ROOM)).userStatus, KeyMaterialUserCode.noConsent, "a request alone is no consent");
    const pending = (await B.consent.list(bob)).pending;
    assert.deepEqual(pending.map((p) => [p.requester, p.state, p.origin]), [[alice, "requested", "request"]]);
    const g = await B.consent.grant({ target: bob, requester: alice });
    assert.equal(g.notified, true);
    assert.deepEqual(B.sent.at(-1), ["updateConsent", "a.example"]);
    const out = (await A.consent.list(alice)).outgoing;
    assert.deepEqual(out.map((r) => [r.target, r.state]), [[bob, "granted"]]);
    assert.equal((await claim(B, alice, bob, ROOM)).userStatus, KeyMaterialUserCode.success);
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-16: a grant may carry the target's KeyPackages (claimed once); the requester's hub learns their routes and hands them out once, for its own rooms", async () => {
  const { net, A, B, alice, bob } = await twoProviders();
  try {
    const items = await B.upload("bob", "phone", 2);
    // Unsolicited (no request before), connection-wide, with KeyPackages.
    const g = await B.consent.grant({ target: bob, requester: alice, withKeyPackages: true });
    assert.equal(g.keyPackages, 1, "one per client");
    assert.equal((await B.keyPackages.counts("bob")).get("mimi://b.example/d/bob/phone")?.available, 1, "claimed from bob's store");
    const out = await A.consent.consentStore.get("outgoing", alice, bob, undefined);
    assert.equal(out?.state, "granted");
    assert.equal(out?.origin, "grant");
    assert.equal(out?.keyPackages?.length, 1);
    const ref = items.find((i) => Buffer.from(out.keyPackages![0]!).equals(Buffer.from(i.bytes)))?.facts.keyPackageRef;
    assert.ok(ref !== undefined, "one of bob's KeyPackages");
    assert.equal((await A.keyPackages.hubRouteOf(ref))?.provider, "b.example", "the hub routes the Welcome to b.example");
    assert.deepEqual(await A.consent.takeGrantedKeyPackages(alice, bob, ROOM_B), [], "a room hosted elsewhere never saw them");
    assert.equal((await A.consent.takeGrantedKeyPackages(alice, bob, ROOM)).length, 1);
    assert.deepEqual(await A.consent.takeGrantedKeyPackages(alice, bob, ROOM), [], "handed out once");
    // A KeyPackage that is not the target's is refused.
    const [foreign] = await keyPackagesOf("mimi://b.example/d/mallory/phone");
    await rejectsWith(A.consent.onUpdateConsent(encode(UpdateConsentBody, entry(ConsentOperation.grant, alice, bob, undefined, [foreign!.bytes])), "b.example"), "MIMI_ERR_CONSENT_INVALID");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-10: a revoke is not reported by default (the requester's record stays as it was), a new request stays refused and still looks received; with notify the requester's provider learns it", async () => {
  const { net, A, B, alice, bob } = await twoProviders();
  try {
    await B.upload("bob", "phone", 3);
    await B.consent.grant({ target: bob, requester: alice, withKeyPackages: true });
    net.clock.now += 1;
    const sentBefore = B.sent.length;
    const r = await B.consent.revoke({ target: bob, requester: alice });
    assert.equal(r.notified, false);
    assert.equal(B.sent.length, sentBefore, "nothing sent");
    assert.equal((await A.consent.consentStore.get("outgoing", alice, bob, undefined))?.state, "granted", "not leaked");
    assert.equal((await claim(B, alice, bob, ROOM)).userStatus, KeyMaterialUserCode.noConsent);
    const again = await A.consent.request({ requester: alice, target: bob });
    assert.equal(again.delivered, true);
    assert.equal((await B.consent.consentStore.get("incoming", alice, bob, undefined))?.state, "revoked", "the refusal stays");
    assert.deepEqual((await B.consent.list(bob)).pending, []);
    net.clock.now += 1;
    const n = await B.consent.revoke({ target: bob, requester: alice, notify: true });
    assert.equal(n.notified, true);
    const out = await A.consent.consentStore.get("outgoing", alice, bob, undefined);
    assert.equal(out?.state, "revoked");
    assert.equal(out?.keyPackages, undefined, "granted KeyPackages are forgotten");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-25: the connection request is a request plus an unsolicited grant back; either side may then add the other", async () => {
  const { net, A, B, alice, bob } = await twoProviders();
  try {
    await A.upload("alice", "phone", 1);
    const r = await A.consent.request({ requester: alice, target: bob, bilateral: true });
    assert.equal(r.bilateral?.record.state, "granted");
    assert.equal(r.bilateral?.notified, true);
    assert.deepEqual(A.sent, [
      ["requestConsent", "b.example"],
      ["updateConsent", "b.example"],
    ]);
    assert.equal((await B.consent.consentStore.get("incoming", alice, bob, undefined))?.state, "requested", "bob is asked");
    assert.equal((await B.consent.consentStore.get("outgoing", bob, alice, undefined))?.state, "granted", "bob may add alice");
    assert.equal((await A.consent.consentStore.get("incoming", bob, alice, undefined))?.state, "granted");
  } finally {
    await net.close();
  }
});

test("a request between users of the same provider is handled in-process: both sides' records in one store", async () => {
  const net = await consentNet({ "a.example": { preConsent: "none" } });
  try {
    const A = net.providers["a.example"]!;
    const alice = await A.user("alice");
    const amy = await A.user("amy");
    await A.upload("amy", "phone", 1);
    await A.consent.request({ requester: alice, target: amy, roomId: ROOM });
    assert.deepEqual(A.sent, [], "no peer request");
    assert.equal((await A.consent.list(amy)).pending[0]?.requester, alice);
    await A.consent.grant({ target: amy, requester: alice, roomId: ROOM });
    assert.equal((await A.consent.list(alice)).outgoing[0]?.state, "granted");
    assert.equal((await claim(A, alice, amy, ROOM)).userStatus, KeyMaterialUserCode.success);
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-24: pending requests are capped per requester and per target; more are answered like the others and dropped", async () => {
  const { net, A, B, alice, bob } = await twoProviders({ preConsent: "none", maxPendingPerRequester: 2, maxPendingPerTarget: 3 });
  try {
    for (const room of ["r1", "r2", "r3"]) assert.equal((await A.consent.request({ requester: alice, target: bob, roomId: `mimi://a.example/r/${room}` })).delivered, true);
    assert.equal((await B.consent.list(bob)).pending.length, 2, "two from alice");
    for (const who of ["carl", "cleo"]) {
      const u = `mimi://c.example/u/${who}`;
      await B.consent.onRequestConsent(encode(RequestConsentBody, entry(ConsentOperation.request, u, bob)), "c.example");
    }
    assert.equal((await B.consent.list(bob)).pending.length, 3, "three in all");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-22: the sweep expires pending requests after requestTtlSeconds and grants after grantTtlSeconds; an expired grant no longer opens keyMaterial", async () => {
  const { net, A, B, alice, bob } = await twoProviders({ preConsent: "none", requestTtlSeconds: 60, grantTtlSeconds: 120 });
  try {
    await B.upload("bob", "phone", 2);
    await A.consent.request({ requester: alice, target: bob, roomId: ROOM });
    await B.consent.grant({ target: bob, requester: alice, roomId: ROOM_B });
    net.clock.now += 61_000;
    assert.equal((await B.consent.list(bob)).incoming.find((r) => r.roomId === ROOM)?.state, "expired", "expired when read, before any sweep");
    const s1 = await B.consent.sweep();
    assert.equal(s1.expired, 1);
    assert.equal((await B.consent.consentStore.get("incoming", alice, bob, ROOM))?.state, "expired");
    assert.equal((await claim(B, alice, bob, ROOM_B)).userStatus, KeyMaterialUserCode.success, "the grant still holds");
    net.clock.now += 60_000;
    await B.consent.sweep();
    assert.equal((await B.consent.consentStore.get("incoming", alice, bob, ROOM_B))?.state, "expired");
    assert.equal((await claim(B, alice, bob, ROOM_B)).userStatus, KeyMaterialUserCode.noConsent);
  } finally {
    await net.close();
  }
});

test("platform lookups for never-seen users are rate-limited per requesting provider (each guess costs the platform a lookup and each hit an account)", async () => {
  const { net, A, B, alice } = await twoProviders({ preConsent: "none" });
  try {
    const asked: string[] = [];
    B.consent.onUnknownLocalUser((uri) => {
      asked.push(uri);
      return Promise.resolve(false);
    });
    // keyPackages.perProvider is the budget (burst 30 by default): 40 guesses from one provider.
    for (let i = 0; i < 40; i++) assert.equal((await A.consent.request({ requester: alice, target: `mimi://b.example/u/guess${i}` })).delivered, true);
    assert.equal(asked.length, 30, "the platform was asked for the first 30 guesses only; the rest answered like unknown users");
  } finally {
    await net.close();
  }
});

