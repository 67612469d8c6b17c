// The consent store and its decision rules (src/consent/store.ts), and the token buckets
// (src/consent/limits.ts): protocol-06 §5.7 ConsentScope semantics, expiry, the per-target budget.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConsentStore, TokenBuckets, coverage, effective } from "../../../src/consent/index.ts";
import type { ConsentRecord } from "../../../src/consent/index.ts";
import { openStore } from "../../../src/storage/index.ts";

const A = "mimi://a.example/u/alice";
const B = "mimi://b.example/u/bob";
const R1 = "mimi://a.example/r/one";
const R2 = "mimi://a.example/r/two";
const T0 = 1_000_000;

function rec(state: ConsentRecord["state"], updatedAt: number, roomId?: string, expiresAt?: number): ConsentRecord {
  return {
    direction: "incoming",
    requester: A,
    target: B,
    ...(roomId === undefined ? {} : { roomId }),
    state,
    origin: "request",
    createdAt: updatedAt,
    updatedAt,
    ...(expiresAt === undefined ? {} : { expiresAt }),
  };
}

test("MIMI-PROTO-CONSENT-07: a room grant covers that room only; a connection-wide grant covers every room and requests without a room", () => {
  assert.equal(coverage([rec("granted", T0, R1)], R1, T0), "granted");
  assert.equal(coverage([rec("granted", T0, R1)], R2, T0), "otherRoom", "another room: noConsentForThisRoom");
  assert.equal(coverage([rec("granted", T0, R1)], undefined, T0), "otherRoom", "no room named: a room grant does not cover it");
  assert.equal(coverage([rec("granted", T0)], R2, T0), "granted");
  assert.equal(coverage([rec("granted", T0)], undefined, T0), "granted");
  assert.equal(coverage([rec("requested", T0)], R1, T0), "none", "a request is no consent");
  assert.equal(coverage([], R1, T0), "none");
});

test("MIMI-PROTO-CONSENT-09: the newest applicable grant or revoke wins; a connection-wide revoke overrides older room grants", () => {
  assert.equal(coverage([rec("granted", T0, R1), rec("revoked", T0 + 1)], R1, T0 + 2), "denied");
  assert.equal(coverage([rec("revoked", T0), rec("granted", T0 + 1, R1)], R1, T0 + 2), "granted", "a newer room grant after a connection-wide revoke");
  assert.equal(coverage([rec("revoked", T0), rec("granted", T0 + 1, R1)], R2, T0 + 2), "denied");
  assert.equal(coverage([rec("cancelled", T0 + 5), rec("granted", T0)], R1, T0 + 6), "granted", "cancel and expiry are no decisions");
});

test("MIMI-PROTO-CONSENT-22: pending requests and grants past their expiry are expired, and an expired grant covers nothing", () => {
  const g = rec("granted", T0, undefined, T0 + 10);
  assert.equal(effective(g, T0 + 9).state, "granted");
  assert.equal(effective(g, T0 + 10).state, "expired");
  assert.equal(effective(g, T0 + 10).endedAt, T0 + 10);
  assert.equal(coverage([g], R1, T0 + 9), "granted");
  assert.equal(coverage([g], R1, T0 + 10), "none");
  assert.equal(effective(rec("revoked", T0, undefined, T0 + 1), T0 + 5).state, "revoked", "only requested and granted expire");
});

test("MIMI-PROTO-CONSENT-01: records are keyed by the exact ConsentScope; a room-scoped record is not the connection-wide one", async () => {
  const store = await openStore({ kind: "memory" });
  try {
    const s = new ConsentStore(store);
    await s.put(rec("requested", T0, R1));
    await s.put(rec("granted", T0));
    assert.equal((await s.get("incoming", A, B, R1))?.state, "requested");
    assert.equal((await s.get("incoming", A, B, undefined))?.state, "granted");
    assert.equal(await s.get("incoming", A, B, R2), undefined);
    assert.equal(await s.get("outgoing", A, B, R1), undefined, "the other direction is another record");
    assert.equal((await s.incoming(B)).length, 2);
    assert.equal((await s.incoming(B, A)).length, 2);
    assert.equal((await s.incoming(B, "mimi://c.example/u/carol")).length, 0);
    assert.equal((await s.outgoing(A)).length, 0);
    assert.equal(await s.coverage(A, B, R2, T0), "granted");
    // per-user policy
    assert.equal(await s.userPolicy(B), undefined);
    await s.setUserPolicy(B, "quarantine");
    assert.equal(await s.userPolicy(B), "quarantine");
    await s.setUserPolicy(B, undefined);
    assert.equal(await s.userPolicy(B), undefined);
  } finally {
    await store.close();
  }
});

test("MIMI-PROTO-CONSENT-11: the per-target budget allows `claims` per period, then refuses until the period is over", async () => {
  const store = await openStore({ kind: "memory" });
  try {
    const s = new ConsentStore(store);
    const got: boolean[] = [];
    for (let i = 0; i < 4; i++) got.push(await s.takeBudget(B, 3, 1000, T0 + i));
    assert.deepEqual(got, [true, true, true, false]);
    assert.equal(await s.takeBudget("mimi://b.example/u/other", 3, 1000, T0), true, "budgets are per target");
    assert.equal(await s.takeBudget(B, 3, 1000, T0 + 999), false);
    assert.equal(await s.takeBudget(B, 3, 1000, T0 + 1000), true, "a new period");
  } finally {
    await store.close();
  }
});

test("MIMI-PROTO-CONSENT-11: token buckets give `burst` at once, refill at perMinute, and are per key", () => {
  const b = new TokenBuckets({ burst: 2, perMinute: 1 });
  assert.deepEqual([b.take("x", T0), b.take("x", T0), b.take("x", T0)], [true, true, false]);
  assert.equal(b.take("y", T0), true, "another key has its own bucket");
  assert.equal(b.take("x", T0 + 59_000), false, "not yet a whole token");
  assert.equal(b.take("x", T0 + 60_000), true, "one token a minute");
  assert.equal(b.take("x", T0 + 60_001), false);
  assert.equal(b.available("x", T0 + 10 * 60_000), 2, "never above burst");
  // bounded memory: the least recently used key is forgotten
  const small = new TokenBuckets({ burst: 1, perMinute: 1 }, 2);
  small.take("a", T0);
  small.take("b", T0);
  small.take("c", T0);
  assert.equal(small.available("a", T0), 1, "a was evicted (a fresh bucket)");
  assert.equal(small.available("c", T0), 0);
});
