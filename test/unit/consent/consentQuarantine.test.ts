// The quarantine at the target's provider (src/consent/quarantine.ts) and the Welcome decision of
// the consent service: what is held, dropped, released in order, the caps, the preview. Events
// are stand-ins (the quarantine never reads them); release goes through the real Follower into
// the real Inbox. test/integration/consent.test.ts runs the same with real MLS traffic.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { PendingDelivery } from "../../../src/follower/follower.ts";
import type { FanoutKind } from "../../../src/protocol/fanout.ts";
import { claim, consentNet } from "./consentFixture.ts";
import type { TestProvider } from "./consentFixture.ts";

const ALICE = "mimi://a.example/u/alice";
const CAROL = "mimi://c.example/u/carol";
const ROOM = "mimi://a.example/r/clubhouse";
const ROOM2 = "mimi://a.example/r/second";

let counter = 0;
/** A stand-in event of `size` bytes (its first byte numbers it). */
function item(user: string, kind: FanoutKind, size: number, hold?: PendingDelivery["hold"]): PendingDelivery {
  const fanout = new Uint8Array(size).fill(++counter % 256);
  const event = kind === "welcome" ? { type: "welcome" as const, roomId: ROOM, timestamp: counter, fanout, keyPackageRefs: [] } : { type: "fanout" as const, roomId: ROOM, timestamp: counter, fanout };
  return { user, event, kind, size, ...(hold === undefined ? {} : { hold }) };
}

async function hold(p: TestProvider, roomId: string, items: PendingDelivery[]): Promise<void> {
  const fixed = items.map((i) => ({ ...i, event: { ...i.event, roomId } }));
  await p.store.batch(await p.consent.quarantine.holdOps(roomId, fixed, Date.now()));
}

const stamps = async (p: TestProvider, user: string) => (await p.inbox.read(user, 0)).map((e) => [e.type, e.timestamp, e.roomId]);

test("MIMI-PROTO-CONSENT-20/21 quarantine: a room's events for a pending user are held, not delivered; on grant they reach the inbox in order and the user is subscribed", async () => {
  const net = await consentNet({ "b.example": { preConsent: "quarantine" } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    const items = [item("bob", "welcome", 500, { requester: ALICE, policy: "quarantine" }), item("bob", "commit", 300), item("bob", "application", 200), item("bob", "application", 100)];
    await hold(B, ROOM, items);
    assert.deepEqual(await B.consent.quarantine.pendingUsers(ROOM), ["bob"]);
    assert.deepEqual(await B.inbox.read("bob", 0), [], "nothing shown");
    const heldRoom = await B.consent.quarantine.room("bob", ROOM);
    assert.deepEqual([heldRoom?.count, heldRoom?.bytes, heldRoom?.dropped], [4, 1100, 0]);
    assert.deepEqual(await B.consent.quarantine.totals("target", "bob"), { events: 4, bytes: 1100 });
    const g = await B.consent.grant({ target: bob, requester: ALICE, roomId: ROOM });
    assert.equal(g.released, 4);
    assert.deepEqual(await stamps(B, "bob"), items.map((i) => [i.event.type, i.event.timestamp, ROOM]), "in their order");
    assert.deepEqual((await B.follower.room(ROOM))?.users, ["bob"], "bob now receives the room directly");
    assert.deepEqual(await B.consent.quarantine.pendingUsers(ROOM), []);
    assert.deepEqual(await B.consent.quarantine.totals("target", "bob"), { events: 0, bytes: 0 });
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-17 keypackages: only the invitation is held (Welcome, handshakes); application messages are dropped and counted", async () => {
  const net = await consentNet({ "b.example": { preConsent: "keypackages" } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    const items = [item("bob", "welcome", 50, { requester: ALICE, policy: "keypackages" }), item("bob", "application", 10), item("bob", "proposal", 20), item("bob", "application", 10)];
    await hold(B, ROOM, items);
    const r = await B.consent.quarantine.room("bob", ROOM);
    assert.deepEqual([r?.count, r?.dropped], [2, 2]);
    await B.consent.grant({ target: bob, requester: ALICE });
    assert.deepEqual((await B.inbox.read("bob", 0)).map((e) => e.timestamp), [items[0]!.event.timestamp, items[2]!.event.timestamp]);
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-18: caps per target and per requester: an application message over a cap is dropped; a handshake over a cap voids the held room (nothing delivered on grant)", async () => {
  const net = await consentNet({ "b.example": { preConsent: "quarantine", quarantine: { perRequester: { messages: 4, bytes: 1_000_000 }, perTarget: { messages: 1000, bytes: 2048 } } } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await B.user("bea");
    // bytes per target: 2048
    await hold(B, ROOM, [item("bob", "welcome", 1024, { requester: CAROL, policy: "quarantine" }), item("bob", "application", 1000), item("bob", "application", 100)]);
    let r = await B.consent.quarantine.room("bob", ROOM);
    assert.deepEqual([r?.count, r?.dropped, r?.void], [2, 1, false], "the message that would pass 2048 bytes is dropped");
    await hold(B, ROOM, [item("bob", "commit", 100)]);
    r = await B.consent.quarantine.room("bob", ROOM);
    assert.deepEqual([r?.count, r?.dropped, r?.void], [0, 4, true], "a commit over the cap voids the room");
    assert.deepEqual(await B.consent.quarantine.events("bob", ROOM), []);
    await hold(B, ROOM, [item("bob", "application", 10)]);
    assert.equal((await B.consent.quarantine.room("bob", ROOM))?.dropped, 5, "a void room holds nothing more");
    const g = await B.consent.grant({ target: bob, requester: CAROL });
    assert.equal(g.released, 0);
    assert.deepEqual(await B.inbox.read("bob", 0), []);
    assert.equal((await B.follower.room(ROOM))?.users.includes("bob") ?? false, false, "not subscribed: the user joins by external commit if it wants");
    // messages per requester: 4, over two targets and two rooms
    await hold(B, ROOM2, [item("bob", "welcome", 10, { requester: ALICE, policy: "quarantine" }), item("bob", "application", 10), item("bob", "application", 10)]);
    await hold(B, ROOM, [item("bea", "welcome", 10, { requester: ALICE, policy: "quarantine" }), item("bea", "application", 10), item("bea", "application", 10)]);
    assert.deepEqual(await B.consent.quarantine.totals("requester", ALICE), { events: 4, bytes: 40 });
    assert.equal((await B.consent.quarantine.room("bea", ROOM))?.dropped, 2, "bea gets the Welcome (the 4th event of alice), both messages are over alice's cap");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-22: revoke and cancel drop held rooms (the user stays unsubscribed); MIMI-PROTO-CONSENT-19 held rooms older than maxAgeSeconds are swept", async () => {
  const net = await consentNet({ "b.example": { preConsent: "quarantine", quarantine: { maxAgeSeconds: 60 } } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await hold(B, ROOM, [item("bob", "welcome", 10, { requester: ALICE, policy: "quarantine" }), item("bob", "application", 10)]);
    await hold(B, ROOM2, [item("bob", "welcome", 10, { requester: CAROL, policy: "quarantine" })]);
    const r = await B.consent.revoke({ target: bob, requester: ALICE });
    assert.equal(r.dropped, 2);
    assert.deepEqual(await B.consent.quarantine.pendingUsers(ROOM), []);
    assert.deepEqual(await B.consent.quarantine.events("bob", ROOM), []);
    assert.deepEqual(await B.inbox.read("bob", 0), []);
    assert.equal((await B.follower.room(ROOM))?.users.includes("bob") ?? false, false);
    assert.deepEqual((await B.consent.quarantine.rooms("bob")).map((h) => h.requester), [CAROL], "carol's room is untouched");
    // age: held rooms are stamped with the real clock in holdOps above; sweep an hour later
    await B.consent.sweep(Date.now() + 3600_000);
    assert.deepEqual(await B.consent.quarantine.rooms("bob"), []);
    assert.deepEqual(await B.consent.quarantine.totals("target", "bob"), { events: 0, bytes: 0 });
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-23: the target lists pending requests with a preview of what is held, limited to the configured fields (metadata only)", async () => {
  for (const [preview, expected] of [
    [["requester", "room", "count", "bytes", "firstAt", "lastAt", "dropped"], ["bytes", "count", "dropped", "firstAt", "lastAt", "policy", "requester", "roomId", "void"]],
    [["count"], ["count", "policy", "void"]],
  ] as const) {
    const net = await consentNet({ "b.example": { preConsent: "quarantine", keyPackages: { reserve: 0 }, quarantine: { preview: [...preview] } } });
    try {
      const B = net.providers["b.example"]!;
      const bob = await B.user("bob");
      await B.upload("bob", "phone", 2);
      await claim(B, ALICE, bob, ROOM); // the claim makes the pending request
      await hold(B, ROOM, [item("bob", "welcome", 10, { requester: ALICE, policy: "quarantine" }), item("bob", "application", 32)]);
      const l = await B.consent.list(bob);
      assert.equal(l.pending.length, 1);
      const held = l.pending[0]?.held ?? [];
      assert.equal(held.length, 1);
      assert.deepEqual(Object.keys(held[0] ?? {}).sort(), [...expected]);
      assert.equal(held[0]?.count, 2);
      assert.deepEqual(l.policy, { effective: "quarantine", user: null, providerDefault: "quarantine", userOverride: true });
    } finally {
      await net.close();
    }
  }
});

test("MIMI-PROTO-CONSENT-20/22: the Welcome decision: a KeyPackage claimed before consent is held under keypackages/quarantine, dropped under none, after a revoke or after the window; delivered once granted or when not claimed before consent", async () => {
  const net = await consentNet({ "b.example": { preConsent: "quarantine", requestTtlSeconds: 600, keyPackages: { reserve: 0, perRequester: { burst: 10 } } } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await B.upload("bob", "phone", 10);
    const gate = B.consent.deliveryGate();
    const now = () => net.clock.now;
    const c1 = await claim(B, ALICE, bob, ROOM);
    assert.deepEqual(await gate.welcome("bob", ROOM, c1.refs, now()), { action: "hold", hold: { requester: ALICE, policy: "quarantine" } });
    assert.deepEqual(await gate.welcome("bob", ROOM, [new Uint8Array(32)], now()), { action: "deliver" }, "not a pre-consent claim");
    await B.consent.setUserPolicy(bob, "keypackages");
    assert.deepEqual(await gate.welcome("bob", ROOM, c1.refs, now()), { action: "hold", hold: { requester: ALICE, policy: "keypackages" } });
    await B.consent.setUserPolicy(bob, "none");
    assert.deepEqual(await gate.welcome("bob", ROOM, c1.refs, now()), { action: "drop" });
    await B.consent.setUserPolicy(bob, "default");
    net.clock.now += 600_000;
    assert.deepEqual(await gate.welcome("bob", ROOM, c1.refs, now()), { action: "drop" }, "the pre-consent window is over");
    const c2 = await claim(B, ALICE, bob, ROOM);
    await B.consent.grant({ target: bob, requester: ALICE, roomId: ROOM });
    assert.deepEqual(await gate.welcome("bob", ROOM, c2.refs, now()), { action: "deliver" });
    net.clock.now += 1;
    const c3 = await claim(B, CAROL, bob, ROOM);
    await B.consent.revoke({ target: bob, requester: CAROL });
    assert.deepEqual(await gate.welcome("bob", ROOM, c3.refs, now()), { action: "drop" });
  } finally {
    await net.close();
  }
});
