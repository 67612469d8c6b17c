// Enforcement at the target's provider (protocol-06 §5.7: consent is enforced when keyMaterial is
// answered): the real ConsentService gate inside the real KeyMaterialService, with real
// KeyPackages, for each pre-consent policy; exhaustion protection (rate limits, target budget,
// reserve, last-resort policy); implicit consent; privacy of the answers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { KeyMaterialClientCode, KeyMaterialUserCode } from "../../../src/protocol/index.ts";
import { rejectsWith } from "../services/helpers.ts";
import { claim, consentNet } from "./consentFixture.ts";
import type { TestProvider } from "./consentFixture.ts";

const ALICE = "mimi://a.example/u/alice";
const ALBERT = "mimi://a.example/u/albert";
const CAROL = "mimi://c.example/u/carol";
const ROOM = "mimi://a.example/r/clubhouse";
const ROOM2 = "mimi://a.example/r/other";
const { success, partialSuccess, noCompatibleMaterial, userUnknown, noConsent, noConsentForThisRoom } = KeyMaterialUserCode;

async function available(p: TestProvider, user: string): Promise<{ available: number; lastResort: number }> {
  return (await p.keyPackages.counts(user)).get(`mimi://${p.domain}/d/${user}/phone`) ?? { available: 0, lastResort: 0 };
}

test("MIMI-PROTO-CONSENT-07 policy off: every request gets KeyPackages, an unknown user is userUnknown; MIMI-PROTO-CONSENT-09 a requester the user revoked (blocked) gets noConsent", async () => {
  const net = await consentNet({ "b.example": { preConsent: "off" } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await B.upload("bob", "phone", 2);
    assert.equal((await claim(B, ALICE, bob, ROOM)).userStatus, success);
    assert.equal((await claim(B, ALICE, "mimi://b.example/u/nobody", ROOM)).userStatus, userUnknown);
    await B.consent.revoke({ target: bob, requester: CAROL });
    assert.equal((await claim(B, CAROL, bob, ROOM)).userStatus, noConsent, "blocked");
    assert.equal((await claim(B, ALICE, bob, ROOM)).userStatus, success, "everyone else still");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-08 policy none: no consent, a declined (revoked) requester and an unknown user all get the same answer, noConsent with no clients, and nothing is claimed", async () => {
  const net = await consentNet({ "b.example": { preConsent: "none" } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await B.upload("bob", "phone", 3);
    const unknown = await claim(B, ALICE, "mimi://b.example/u/nobody", ROOM);
    const never = await claim(B, ALICE, bob, ROOM);
    await B.consent.revoke({ target: bob, requester: CAROL });
    const declined = await claim(B, CAROL, bob, ROOM);
    for (const r of [unknown, never, declined]) assert.deepEqual(r, { userStatus: noConsent, clients: [], refs: [] });
    assert.equal((await available(B, "bob")).available, 3, "nothing claimed");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-07 policy none: a room grant opens that room only (noConsentForThisRoom elsewhere), a connection-wide grant every room; MIMI-PROTO-CONSENT-09 a revoke closes it again", async () => {
  const net = await consentNet({ "b.example": { preConsent: "none" } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await B.upload("bob", "phone", 5);
    await B.consent.grant({ target: bob, requester: ALICE, roomId: ROOM });
    assert.equal((await claim(B, ALICE, bob, ROOM)).userStatus, success);
    assert.equal((await claim(B, ALICE, bob, ROOM2)).userStatus, noConsentForThisRoom);
    assert.equal((await claim(B, ALICE, bob, "")).userStatus, noConsent, "no room named: a room grant does not cover it");
    await B.consent.grant({ target: bob, requester: ALICE });
    assert.equal((await claim(B, ALICE, bob, ROOM2)).userStatus, success);
    net.clock.now += 1;
    await B.consent.revoke({ target: bob, requester: ALICE });
    assert.equal((await claim(B, ALICE, bob, ROOM)).userStatus, noConsent, "the newer connection-wide revoke wins over the room grant");
    assert.equal((await available(B, "bob")).available, 3);
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-14: implicit consent is off by default; by configuration it covers requesters of the same provider and of allow-listed domains", async () => {
  const strict = await consentNet({ "a.example": { preConsent: "none" } });
  const lax = await consentNet({ "a.example": { preConsent: "none", implicit: { sameProvider: true, domains: ["c.example"] } } });
  try {
    for (const [net, expected] of [
      [strict, noConsent],
      [lax, success],
    ] as const) {
      const A = net.providers["a.example"]!;
      const amy = await A.user("amy");
      await A.upload("amy", "phone", 4);
      assert.equal((await claim(A, ALICE, amy, ROOM)).userStatus, expected, "same provider");
      assert.equal((await claim(A, CAROL, amy, ROOM)).userStatus, expected, "allow-listed domain");
      assert.equal((await claim(A, "mimi://d.example/u/dan", amy, ROOM)).userStatus, noConsent, "any other domain");
      await A.consent.revoke({ target: amy, requester: CAROL });
      assert.equal((await claim(A, CAROL, amy, ROOM)).userStatus, noConsent, "a revoke beats implicit consent");
    }
  } finally {
    await strict.close();
    await lax.close();
  }
});

test("MIMI-PROTO-CONSENT-11 policy keypackages: claims before consent are rate-limited per requesting user and per requesting provider; the throttled answer is noConsent", async () => {
  const net = await consentNet({
    "b.example": { preConsent: "keypackages", keyPackages: { perRequester: { burst: 2, perMinute: 1 }, perProvider: { burst: 3, perMinute: 1 }, reserve: 0, targetBudget: { claims: 100 } } },
  });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await B.upload("bob", "phone", 20);
    const codes = async (who: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await claim(B, who, bob, ROOM)).userStatus);
      return out;
    };
    assert.deepEqual(await codes(ALICE, 3), [success, success, noConsent], "alice: a burst of 2");
    assert.deepEqual(await codes(ALBERT, 2), [success, noConsent], "a.example's provider bucket (3) is spent");
    assert.deepEqual(await codes(CAROL, 1), [success], "another provider has its own bucket");
    assert.equal((await available(B, "bob")).available, 16, "only admitted claims took KeyPackages");
    net.clock.now += 60_000;
    assert.deepEqual(await codes(ALICE, 2), [success, noConsent], "one token a minute");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-11 policy keypackages: the per-target budget bounds claims before consent from everyone together; consented requesters are not counted", async () => {
  const net = await consentNet({ "b.example": { preConsent: "keypackages", keyPackages: { targetBudget: { claims: 2, periodSeconds: 3600 }, reserve: 0 } } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await B.upload("bob", "phone", 10);
    assert.equal((await claim(B, ALICE, bob, ROOM)).userStatus, success);
    assert.equal((await claim(B, CAROL, bob, ROOM)).userStatus, success);
    assert.equal((await claim(B, "mimi://d.example/u/dan", bob, ROOM)).userStatus, noConsent, "budget spent");
    await B.consent.grant({ target: bob, requester: "mimi://e.example/u/eve" });
    assert.equal((await claim(B, "mimi://e.example/u/eve", bob, ROOM)).userStatus, success, "a consented contact is not limited by the budget");
    net.clock.now += 3600_000;
    assert.equal((await claim(B, "mimi://d.example/u/dan", bob, ROOM)).userStatus, success, "the next period");
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-12/13: claims before consent never take a client's last `reserve` KeyPackages nor its last-resort one (keyMaterialExhausted); a consented contact still gets them", async () => {
  const net = await consentNet({ "b.example": { preConsent: "quarantine", keyPackages: { reserve: 2, perRequester: { burst: 100 }, perProvider: { burst: 100 }, targetBudget: { claims: 100 } } } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob", ["phone", "laptop"]);
    await B.upload("bob", "phone", 3);
    await B.upload("bob", "phone", 1, { lastResort: true });
    await B.upload("bob", "laptop", 2);
    const first = await claim(B, ALICE, bob, ROOM);
    assert.equal(first.userStatus, partialSuccess, "the phone gives one, the laptop is at its reserve");
    assert.equal(first.clients.find((c) => c.clientUri.endsWith("/laptop"))?.status, KeyMaterialClientCode.keyMaterialExhausted);
    const second = await claim(B, ALICE, bob, ROOM);
    assert.equal(second.userStatus, noCompatibleMaterial);
    assert.ok(second.clients.every((c) => c.status === KeyMaterialClientCode.keyMaterialExhausted), "keyMaterialExhausted for every client: nothing for this requester");
    assert.deepEqual(await available(B, "bob"), { available: 2, lastResort: 1 });
    // A consented contact gets the reserved KeyPackages, then the last-resort one (policy `consented`).
    await B.consent.grant({ target: bob, requester: CAROL });
    const got: number[] = [];
    for (let i = 0; i < 4; i++) got.push((await claim(B, CAROL, bob, ROOM)).clients.find((c) => c.clientUri.endsWith("/phone"))?.status ?? -1);
    assert.deepEqual(got, [KeyMaterialClientCode.success, KeyMaterialClientCode.success, KeyMaterialClientCode.success, KeyMaterialClientCode.success], "2 ordinary, then the reusable last-resort");
    assert.deepEqual(await available(B, "bob"), { available: 0, lastResort: 1 });
  } finally {
    await net.close();
  }
});

test("MIMI-PROTO-CONSENT-13: lastResort `never` keeps last-resort KeyPackages from consented contacts too; `always` gives them before consent", async () => {
  for (const [mode, before, after] of [
    ["never", KeyMaterialClientCode.keyMaterialExhausted, KeyMaterialClientCode.keyMaterialExhausted],
    ["always", KeyMaterialClientCode.success, KeyMaterialClientCode.success],
  ] as const) {
    const net = await consentNet({ "b.example": { preConsent: "keypackages", keyPackages: { lastResort: mode, reserve: 0 } } });
    try {
      const B = net.providers["b.example"]!;
      const bob = await B.user("bob");
      await B.upload("bob", "phone", 1, { lastResort: true });
      assert.equal((await claim(B, ALICE, bob, ROOM)).clients[0]?.status, before, `${mode}: before consent`);
      await B.consent.grant({ target: bob, requester: CAROL });
      assert.equal((await claim(B, CAROL, bob, ROOM)).clients[0]?.status, after, `${mode}: consented`);
    } finally {
      await net.close();
    }
  }
});

test("MIMI-PROTO-CONSENT-20: a claim before consent becomes a pending request the target sees (origin keyMaterial), and refreshes it rather than adding more", async () => {
  const net = await consentNet({ "b.example": { preConsent: "quarantine", keyPackages: { reserve: 0 } } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    await B.upload("bob", "phone", 3);
    await claim(B, ALICE, bob, ROOM);
    net.clock.now += 5;
    await claim(B, ALICE, bob, ROOM);
    const l = await B.consent.list(bob);
    assert.equal(l.pending.length, 1);
    assert.deepEqual([l.pending[0]?.requester, l.pending[0]?.roomId, l.pending[0]?.origin, l.pending[0]?.state], [ALICE, ROOM, "keyMaterial", "requested"]);
    assert.equal(l.pending[0]?.updatedAt, net.clock.now);
  } finally {
    await net.close();
  }
});

test("per-user pre-consent policy: a user overrides the provider's default (both ways); with userOverride false the provider's policy holds", async () => {
  const net = await consentNet({ "b.example": { preConsent: "none", keyPackages: { reserve: 0 } }, "c.example": { preConsent: "none", userOverride: false } });
  try {
    const B = net.providers["b.example"]!;
    const bob = await B.user("bob");
    const bea = await B.user("bea");
    await B.upload("bob", "phone", 2);
    await B.upload("bea", "phone", 2);
    assert.equal((await claim(B, ALICE, bob, ROOM)).userStatus, noConsent);
    assert.deepEqual(await B.consent.setUserPolicy(bob, "keypackages"), { effective: "keypackages", user: "keypackages" });
    assert.equal((await claim(B, ALICE, bob, ROOM)).userStatus, success, "bob allows claims before consent");
    assert.equal((await claim(B, ALICE, bea, ROOM)).userStatus, noConsent, "bea keeps the provider's none");
    await B.consent.setUserPolicy(bea, "off");
    assert.equal((await claim(B, ALICE, bea, ROOM)).userStatus, success, "bea opted out of consent");
    assert.deepEqual(await B.consent.setUserPolicy(bob, "default"), { effective: "none", user: null });
    assert.equal((await claim(B, ALICE, bob, ROOM)).userStatus, noConsent);
    const C = net.providers["c.example"]!;
    const cid = await C.user("cid");
    await rejectsWith(C.consent.setUserPolicy(cid, "off"), "MIMI_ERR_CONSENT_OVERRIDE_DISABLED");
  } finally {
    await net.close();
  }
});
