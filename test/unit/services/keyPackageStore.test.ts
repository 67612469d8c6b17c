// The provider's KeyPackage store (src/keymaterial/keyPackageStore.ts) with real KeyPackages on a
// memory store: claimed once (MIMI-PROTO-KM-10), expired ones never returned and dropped
// (MIMI-PROTO-KM-11), last resort only when nothing else is left and only when allowed,
// KeyPackageRef → client routes (MIMI-PROTO-KM-12).
import { test } from "node:test";
import assert from "node:assert/strict";
import { KeyPackageStore } from "../../../src/keymaterial/keyPackageStore.ts";
import type { ClaimedKeyPackage } from "../../../src/keymaterial/keyPackageStore.ts";
import type { Store } from "../../../src/storage/index.ts";
import { hexOf, keyPackagesOf, rejectsWith, withStore } from "./helpers.ts";

const DOMAIN = "a.example";
const ALICE_PHONE = `mimi://${DOMAIN}/d/alice/phone`;
const ALICE_LAPTOP = `mimi://${DOMAIN}/d/alice/laptop`;
const BOB_PHONE = `mimi://${DOMAIN}/d/bob/phone`;
const SUITE = 1;
const claimOpts = { cipherSuites: [SUITE], allowLastResort: true } as const;

/** Keys of the stored KeyPackages (namespace key_packages). */
async function storedKeys(store: Store): Promise<string[]> {
  const out: string[] = [];
  for await (const k of store.namespace("key_packages").keys()) out.push(k);
  return out;
}

async function hasLocalRoute(store: Store, refHex: string): Promise<boolean> {
  return store.namespace("routes").has(`kp/${refHex}`);
}

const refOf = (c: ClaimedKeyPackage | undefined) => (c?.keyPackageRef === undefined ? undefined : hexOf(c.keyPackageRef));

test("MIMI-PROTO-KM-10: a KeyPackage is returned once; an exhausted client gets none", async () => {
  await withStore(async (store) => {
    const kps = new KeyPackageStore(store, DOMAIN);
    const items = await keyPackagesOf(ALICE_PHONE, { count: 4 });
    assert.equal(await kps.upload("alice", items), 4);
    assert.deepEqual((await kps.counts("alice")).get(ALICE_PHONE), { available: 4, lastResort: 0 });

    const seen = new Set<string>();
    for (let i = 0; i < items.length; i++) {
      const [c] = await kps.claim("alice", [ALICE_PHONE], claimOpts);
      assert.equal(c?.clientUri, ALICE_PHONE);
      assert.ok(c?.keyPackage !== undefined && c.keyPackageRef !== undefined, `claim ${i + 1} got a KeyPackage`);
      const ref = hexOf(c.keyPackageRef);
      assert.ok(items.some((it) => it.refHex === ref && Buffer.from(it.bytes).equals(Buffer.from(c.keyPackage!))), "the bytes uploaded for that ref");
      assert.ok(!seen.has(ref), `KeyPackage ${ref} returned twice`);
      seen.add(ref);
      assert.equal(c.lastResort, false);
      assert.equal((await kps.counts("alice")).get(ALICE_PHONE)?.available ?? 0, items.length - i - 1);
    }
    // Exhausted: the client is listed, without a KeyPackage.
    const [none] = await kps.claim("alice", [ALICE_PHONE], claimOpts);
    assert.deepEqual(none, { clientUri: ALICE_PHONE });
    assert.deepEqual(await storedKeys(store), []);
  });
});

test("MIMI-PROTO-KM-10: concurrent claims for the same user never return the same KeyPackage", async () => {
  await withStore(async (store) => {
    // Two KeyPackageStore objects on one store, as two request handlers would have.
    const first = new KeyPackageStore(store, DOMAIN);
    const second = new KeyPackageStore(store, DOMAIN);
    const phone = await keyPackagesOf(ALICE_PHONE, { count: 5 });
    const laptop = await keyPackagesOf(ALICE_LAPTOP, { count: 3 });
    await first.upload("alice", [...phone, ...laptop]);

    const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? first : second).claim("alice", [ALICE_PHONE, ALICE_LAPTOP], claimOpts)));
    const phoneRefs = claims.map((c) => refOf(c.find((x) => x.clientUri === ALICE_PHONE))).filter((r): r is string => r !== undefined);
    const laptopRefs = claims.map((c) => refOf(c.find((x) => x.clientUri === ALICE_LAPTOP))).filter((r): r is string => r !== undefined);
    assert.equal(phoneRefs.length, phone.length, "every phone KeyPackage is handed out, none more");
    assert.equal(laptopRefs.length, laptop.length, "every laptop KeyPackage is handed out, none more");
    assert.equal(new Set(phoneRefs).size, phoneRefs.length, "no phone KeyPackage twice");
    assert.equal(new Set(laptopRefs).size, laptopRefs.length, "no laptop KeyPackage twice");
    assert.deepEqual(new Set(phoneRefs), new Set(phone.map((p) => p.refHex)));
    assert.deepEqual(new Set(laptopRefs), new Set(laptop.map((p) => p.refHex)));
    // Each claim answers for both clients, in the order asked.
    for (const c of claims) assert.deepEqual(c.map((x) => x.clientUri), [ALICE_PHONE, ALICE_LAPTOP]);
    assert.deepEqual(await storedKeys(store), []);
  });
});

test("MIMI-PROTO-KM-10: a claim only ever returns KeyPackages of the named user's own clients and acceptable suites", async () => {
  await withStore(async (store) => {
    const kps = new KeyPackageStore(store, DOMAIN);
    const bob = await keyPackagesOf(BOB_PHONE, { count: 1 });
    const alice = await keyPackagesOf(ALICE_PHONE, { count: 1 });
    await kps.upload("bob", bob);
    await kps.upload("alice", alice);
    // Bob's client asked for under alice's name: nothing, and bob keeps his KeyPackage.
    assert.deepEqual(await kps.claim("alice", [BOB_PHONE], claimOpts), [{ clientUri: BOB_PHONE }]);
    assert.equal((await kps.counts("bob")).get(BOB_PHONE)?.available, 1);
    // A suite the requester does not accept: nothing (reported as incompatible, which the
    // keyMaterial answer turns into nothingCompatible), nothing consumed.
    assert.deepEqual(await kps.claim("alice", [ALICE_PHONE], { cipherSuites: [SUITE + 1], allowLastResort: true }), [{ clientUri: ALICE_PHONE, incompatible: true }]);
    assert.equal((await kps.counts("alice")).get(ALICE_PHONE)?.available, 1);
    const [got] = await kps.claim("alice", [ALICE_PHONE], claimOpts);
    assert.equal(refOf(got), alice[0]?.refHex);
  });
});

test("MIMI-PROTO-KM-11: an expired KeyPackage is refused on upload, never returned, and dropped when found", async () => {
  await withStore(async (store) => {
    const kps = new KeyPackageStore(store, DOMAIN);
    const short = await keyPackagesOf(ALICE_PHONE, { count: 3, lifetimeSeconds: 60 });
    const long = await keyPackagesOf(ALICE_PHONE, { count: 2 });
    const shortLastResort = await keyPackagesOf(ALICE_LAPTOP, { count: 1, lifetimeSeconds: 60, lastResort: true });
    const expiry = Math.max(...short.map((s) => s.facts.notAfter), ...shortLastResort.map((s) => s.facts.notAfter));
    const later = (expiry + 1) * 1000;

    // Upload after expiry: refused, nothing stored.
    await rejectsWith(kps.upload("alice", short, later), "MIMI_ERR_CLIENT_BAD_KEY_PACKAGE");
    assert.deepEqual(await storedKeys(store), []);

    await kps.upload("alice", [...short, ...long, ...shortLastResort]);
    assert.deepEqual((await kps.counts("alice")).get(ALICE_PHONE), { available: 5, lastResort: 0 });
    // Counted as usable only while current.
    assert.deepEqual((await kps.counts("alice", later)).get(ALICE_PHONE), { available: 2, lastResort: 0 });
    assert.equal((await kps.counts("alice", later)).get(ALICE_LAPTOP), undefined);

    const shortRefs = new Set(short.map((s) => s.refHex));
    const returned: string[] = [];
    for (;;) {
      const [c] = await kps.claim("alice", [ALICE_PHONE], { ...claimOpts, now: later });
      const ref = refOf(c);
      if (ref === undefined) break;
      assert.ok(!shortRefs.has(ref), "an expired KeyPackage was returned");
      returned.push(ref);
      assert.ok(returned.length <= long.length, "more KeyPackages than were current");
    }
    assert.deepEqual(new Set(returned), new Set(long.map((l) => l.refHex)));
    // Expired last resort: not handed out even though last resort is allowed.
    assert.deepEqual(await kps.claim("alice", [ALICE_LAPTOP], { ...claimOpts, now: later }), [{ clientUri: ALICE_LAPTOP }]);
    // Everything expired is gone, with its route.
    assert.deepEqual(await storedKeys(store), []);
    for (const s of [...short, ...shortLastResort]) assert.equal(await hasLocalRoute(store, s.refHex), false, "the route of a dropped KeyPackage");
  });
});

test("last-resort KeyPackages: handed out only when nothing else is left, only when allowed, and reusable", async () => {
  await withStore(async (store) => {
    const kps = new KeyPackageStore(store, DOMAIN);
    const ordinary = await keyPackagesOf(ALICE_PHONE, { count: 2 });
    const [lastResort] = await keyPackagesOf(ALICE_PHONE, { count: 1, lastResort: true });
    assert.ok(lastResort?.facts.lastResort === true, "the facade marks it last resort");
    // Uploaded last resort first: order of upload does not matter.
    await kps.upload("alice", [lastResort]);
    await kps.upload("alice", ordinary);
    assert.deepEqual((await kps.counts("alice")).get(ALICE_PHONE), { available: 2, lastResort: 1 });

    // Not allowed and ordinary ones left: an ordinary one.
    const [a] = await kps.claim("alice", [ALICE_PHONE], { cipherSuites: [SUITE], allowLastResort: false });
    assert.equal(a?.lastResort, false);
    assert.ok(ordinary.some((o) => o.refHex === refOf(a)));
    // Allowed, but an ordinary one is left: the ordinary one.
    const [b] = await kps.claim("alice", [ALICE_PHONE], claimOpts);
    assert.equal(b?.lastResort, false);
    assert.ok(ordinary.some((o) => o.refHex === refOf(b)));
    assert.notEqual(refOf(a), refOf(b));

    // Only the last resort is left: refused when not allowed (and kept)…
    assert.deepEqual(await kps.claim("alice", [ALICE_PHONE], { cipherSuites: [SUITE], allowLastResort: false }), [{ clientUri: ALICE_PHONE }]);
    assert.deepEqual((await kps.counts("alice")).get(ALICE_PHONE), { available: 0, lastResort: 1 });
    // …handed out when allowed, again and again (reusable), and never deleted.
    for (let i = 0; i < 3; i++) {
      const [c] = await kps.claim("alice", [ALICE_PHONE], claimOpts);
      assert.equal(c?.lastResort, true);
      assert.equal(refOf(c), lastResort.refHex);
      assert.ok(c?.keyPackage !== undefined && Buffer.from(c.keyPackage).equals(Buffer.from(lastResort.bytes)));
    }
    assert.deepEqual((await kps.counts("alice")).get(ALICE_PHONE), { available: 0, lastResort: 1 });

    // New ordinary KeyPackages take precedence over the last resort again.
    const [fresh] = await keyPackagesOf(ALICE_PHONE, { count: 1 });
    assert.ok(fresh);
    await kps.upload("alice", [fresh]);
    const [d] = await kps.claim("alice", [ALICE_PHONE], claimOpts);
    assert.equal(d?.lastResort, false);
    assert.equal(refOf(d), fresh.refHex);
  });
});

test("MIMI-PROTO-KM-12: the provider remembers KeyPackageRef → client, through the claim, until the KeyPackage expires", async () => {
  await withStore(async (store) => {
    const kps = new KeyPackageStore(store, DOMAIN);
    const [kp] = await keyPackagesOf(ALICE_PHONE, { count: 1 });
    const [other] = await keyPackagesOf(BOB_PHONE, { count: 1 });
    assert.ok(kp && other);
    await kps.upload("alice", [kp]);
    const route = await kps.routeOf(kp.facts.keyPackageRef);
    assert.deepEqual(route, { clientUri: ALICE_PHONE, userUri: `mimi://${DOMAIN}/u/alice`, provider: DOMAIN, expiresAt: kp.facts.notAfter * 1000 });
    // Unknown refs have no route.
    assert.equal(await kps.routeOf(other.facts.keyPackageRef), undefined);
    // The claim consumes the KeyPackage but keeps the route: the Welcome comes later.
    const [c] = await kps.claim("alice", [ALICE_PHONE], claimOpts);
    assert.equal(refOf(c), kp.refHex);
    assert.deepEqual(await kps.routeOf(kp.facts.keyPackageRef), route);
    // Not after expiry.
    assert.equal(await kps.routeOf(kp.facts.keyPackageRef, kp.facts.notAfter * 1000), undefined);

    // Hub routes (KeyPackageRef → issuing provider) are kept apart from the local ones.
    const hubRoute = { provider: "b.example", roomId: "mimi://a.example/r/room", expiresAt: other.facts.notAfter * 1000 };
    await store.batch([kps.hubRouteOp(other.facts.keyPackageRef, hubRoute)]);
    assert.deepEqual(await kps.hubRouteOf(other.facts.keyPackageRef), hubRoute);
    assert.equal(await kps.routeOf(other.facts.keyPackageRef), undefined, "a hub route is not a local client");
    assert.equal(await kps.hubRouteOf(kp.facts.keyPackageRef), undefined, "a local route is not a hub route");
    assert.equal(await kps.hubRouteOf(other.facts.keyPackageRef, hubRoute.expiresAt), undefined);
    await store.batch([kps.hubRouteDelOp(other.facts.keyPackageRef)]);
    assert.equal(await kps.hubRouteOf(other.facts.keyPackageRef), undefined);
  });
});
