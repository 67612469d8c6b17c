// Signed SII → SSI mappings (src/discovery/mapping.ts, keys.ts), the discovery service's checks
// (discoveryService.ts) and the token bucket (rateLimit.ts). No network: keys are handed over
// directly, clocks are fake.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stat, chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { DiscoveryProviderService } from "../../../src/discovery/discoveryService.ts";
import { keyDocument, loadOrCreateDiscoveryKey, parseKeyDocument } from "../../../src/discovery/keys.ts";
import {
  DiscoveryLookupRequest,
  LOOKUP_PADDING_BLOCK,
  SignedDiscoveryMapping,
  canonicalSii,
  checkTag,
  decodeLookupResponse,
  encodeLookupResponse,
  generateDiscoveryKey,
  mappingSignatureValid,
  signMapping,
  signRemoval,
  verifyMapping,
} from "../../../src/discovery/mapping.ts";
import type { DiscoveryKeyPair, DiscoveryMapping, SignedDiscoveryRemoval } from "../../../src/discovery/mapping.ts";
import { TokenBucketLimiter } from "../../../src/discovery/rateLimit.ts";
import { isMimiError } from "../../../src/errors.ts";
import { silentLogger } from "../../../src/log.ts";
import { tempDir } from "../../helpers/processes.ts";
import { rejectsWith, withStore } from "../services/helpers.ts";

const NOW = 1_800_000_000_000;
const DAY = 86_400_000;
const MAX_TTL = 3650 * DAY;
const keys: Record<string, DiscoveryKeyPair> = { "b.example": generateDiscoveryKey(), "c.example": generateDiscoveryKey() };
const keyOf = (d: string) => {
  const k = keys[d];
  return k === undefined ? Promise.reject(new Error(`no key for ${d}`)) : Promise.resolve(k.publicKey);
};

function mapping(over: Partial<DiscoveryMapping> = {}): DiscoveryMapping {
  return { sii: { uri: "tel:+15551234567" }, ssi: { uri: "mimi://b.example/u/bob" }, tag: "Personal", signer: "b.example", issuedAt: BigInt(NOW - DAY), expiresAt: BigInt(NOW + 29 * DAY), ...over };
}
const signedBy = (domain: string, m: DiscoveryMapping = mapping()) => signMapping(keys[domain]!, m);
const ctx = { sii: "tel:+15551234567", now: NOW, maxTtlMs: MAX_TTL, keyOf };

test("MIMI-DISC-12 a mapping signed by the provider of its SSI verifies; the signature covers every field", async () => {
  const signed = signedBy("b.example");
  assert.deepEqual(await verifyMapping(signed, ctx), { ok: true, mapping: signed.mapping });
  // Round trip on the wire.
  assert.deepEqual(decodeExact(SignedDiscoveryMapping, encode(SignedDiscoveryMapping, signed)), signed);
  const tampered: [string, DiscoveryMapping][] = [
    ["ssi", mapping({ ssi: { uri: "mimi://b.example/u/mallory" } })],
    ["tag", mapping({ tag: "Business" })],
    ["expiresAt", mapping({ expiresAt: BigInt(NOW + 300 * DAY) })],
    ["issuedAt", mapping({ issuedAt: BigInt(NOW - 2 * DAY) })],
  ];
  for (const [field, m] of tampered) {
    const r = await verifyMapping({ mapping: m, signature: signed.signature }, ctx);
    assert.equal(r.ok, false, `a changed ${field} breaks the signature`);
    assert.match(r.ok ? "" : r.reason, /signature/);
  }
  const flipped = Uint8Array.from(signed.signature);
  flipped[10] = (flipped[10] ?? 0) ^ 1;
  assert.equal((await verifyMapping({ mapping: signed.mapping, signature: flipped }, ctx)).ok, false, "a bad signature is rejected");
  assert.equal((await verifyMapping({ mapping: signed.mapping, signature: new Uint8Array(0) }, ctx)).ok, false);
});

test("MIMI-DISC-13 a provider vouching for another provider's user is rejected, even with a valid signature of its own", async () => {
  // c.example signs, with its real key, that tel:+1555… is mimi://b.example/u/bob.
  const forged = signedBy("c.example", mapping({ signer: "c.example" }));
  assert.ok(mappingSignatureValid(keys["c.example"]!.publicKey, forged), "the signature itself is fine");
  const r = await verifyMapping(forged, ctx);
  assert.equal(r.ok, false);
  assert.match(r.ok ? "" : r.reason, /vouches only for its own users/);
  // … and a mapping claiming b.example signed it, signed with c.example's key.
  const impostor = signMapping(keys["c.example"]!, mapping());
  const r2 = await verifyMapping(impostor, ctx);
  assert.equal(r2.ok, false);
  assert.match(r2.ok ? "" : r2.reason, /signature does not verify/);
});

test("MIMI-DISC-12 a failed signature is retried once with a freshly fetched key (rotation), then rejected", async () => {
  const signed = signedBy("b.example");
  const old = generateDiscoveryKey();
  const calls: boolean[] = [];
  const rotating = { ...ctx, keyOf: (_d: string, o?: { refresh?: boolean }) => (calls.push(o?.refresh === true), Promise.resolve(o?.refresh === true ? keys["b.example"]!.publicKey : old.publicKey)) };
  assert.equal((await verifyMapping(signed, rotating)).ok, true);
  assert.deepEqual(calls, [false, true]);
  const unreachable = { ...ctx, keyOf: () => Promise.reject(new Error("down")) };
  assert.equal((await verifyMapping(signed, unreachable)).ok, false, "no key, no trust");
});

test("querier checks: the SII asked for, canonical values, validity period", async () => {
  const cases: [string, DiscoveryMapping, typeof ctx?][] = [
    ["another SII", mapping({ sii: { uri: "tel:+15550000000" } })],
    ["expired", mapping({ expiresAt: BigInt(NOW - 1) })],
    ["issued in the future", mapping({ issuedAt: BigInt(NOW + DAY) })],
    ["validity too long", mapping({ expiresAt: BigInt(NOW + 4000 * DAY) })],
    ["SSI not canonical", mapping({ ssi: { uri: "mimi://B.example/u/bob" } })],
    ["SSI is a room", mapping({ ssi: { uri: "mimi://b.example/r/bob" } })],
    ["bad tag", mapping({ tag: "" })],
    ["SII not canonical", mapping({ sii: { uri: "tel:+1-555-123-4567" } }), { ...ctx, sii: "tel:+1-555-123-4567" }],
  ];
  for (const [what, m, c] of cases) assert.equal((await verifyMapping(signedBy("b.example", m), c ?? ctx)).ok, false, what);
});

test("SIIs and tags: canonical tel:/mailto: only; tags are short words", () => {
  assert.equal(canonicalSii("TEL:+1-555-123-4567"), "tel:+15551234567");
  assert.equal(canonicalSii("mailto:Bob@B.Example"), "mailto:Bob@b.example");
  for (const bad of ["+15551234567", "bob@b.example", "tel:5551234567", "mimi://b.example/u/bob"]) assert.throws(() => canonicalSii(bad), (e: unknown) => isMimiError(e));
  assert.equal(checkTag(" Business "), "Business");
  assert.equal(checkTag("Büro"), "Büro");
  for (const bad of ["", "x".repeat(33), "a/b", "-lead", "line\nbreak"]) assert.throws(() => checkTag(bad), (e: unknown) => isMimiError(e, "MIMI_ERR_CLIENT_BAD_REQUEST"), bad);
});

test("MIMI-DISC-16 lookup answers are padded to 1024-byte blocks; no mappings is one byte string", () => {
  const empty = encodeLookupResponse([]);
  assert.equal(empty.length, LOOKUP_PADDING_BLOCK);
  assert.deepEqual(encodeLookupResponse([]), empty);
  for (const n of [1, 2, 5, 9, 20]) {
    const list = Array.from({ length: n }, (_, i) => signedBy("b.example", mapping({ tag: `Tag${i}` })));
    const bytes = encodeLookupResponse(list);
    assert.equal(bytes.length % LOOKUP_PADDING_BLOCK, 0, `${n} mappings`);
    assert.deepEqual(decodeLookupResponse(bytes).mappings, list);
  }
});

test("MIMI-DISC-11 the discovery key is persisted with mode 0600 and reloaded; a readable key file is refused", async () => {
  const tmp = await tempDir("disc-key");
  try {
    const file = join(tmp.path, "keys", "discovery-signature.json");
    const k1 = await loadOrCreateDiscoveryKey(file);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(tmp.path, "keys"))).mode & 0o777, 0o700);
    const k2 = await loadOrCreateDiscoveryKey(file);
    assert.deepEqual(k2.publicKey, k1.publicKey, "the same key after a restart");
    const signed = signMapping(k1, mapping());
    assert.ok(mappingSignatureValid(k2.publicKey, signed));
    assert.ok(!(await readFile(file, "utf8")).includes("BEGIN"), "stored as base64 DER in JSON");
    await chmod(file, 0o644);
    await assert.rejects(loadOrCreateDiscoveryKey(file), (e: unknown) => isMimiError(e, "MIMI_ERR_CONFIG_KEY_PERMISSIONS"));
    await chmod(file, 0o600);
    await writeFile(file, "{", { mode: 0o600 });
    await assert.rejects(loadOrCreateDiscoveryKey(file), (e: unknown) => isMimiError(e, "MIMI_ERR_DISCOVERY_BAD_KEY"));
  } finally {
    await tmp.remove();
  }
});

test("key documents must name the domain they come from", () => {
  const doc = keyDocument("b.example", keys["b.example"]!.publicKey);
  const bytes = new TextEncoder().encode(JSON.stringify(doc));
  assert.deepEqual(parseKeyDocument("b.example", bytes), keys["b.example"]!.publicKey);
  assert.throws(() => parseKeyDocument("c.example", bytes), (e: unknown) => isMimiError(e, "MIMI_ERR_DISCOVERY_BAD_KEY"));
  assert.throws(() => parseKeyDocument("b.example", new TextEncoder().encode("nope")), (e: unknown) => isMimiError(e, "MIMI_ERR_DISCOVERY_BAD_KEY"));
});

function dp(store: Parameters<Parameters<typeof withStore>[0]>[0], clock = { now: NOW }) {
  return new DiscoveryProviderService({
    store,
    settings: { enabled: true, maxMappingsPerSii: 3, peerRateLimit: { burst: 100, perMinute: 60 }, maxTtlMs: MAX_TTL },
    keyOf,
    logger: silentLogger(),
    now: () => clock.now,
    limiterNow: () => clock.now,
  });
}

test("MIMI-DISC-14 the discovery service stores only mappings published by their signer, for its own users, with a valid signature", async () => {
  await withStore(async (store) => {
    const s = dp(store);
    await s.publish(signedBy("b.example"), "b.example");
    assert.equal((await s.lookup("tel:+15551234567")).length, 1);
    // c.example relays b.example's (valid) mapping: not its own to publish.
    await rejectsWith(s.publish(signedBy("b.example", mapping({ tag: "Business" })), "c.example"), "MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE");
    // c.example signs for b.example's user.
    await rejectsWith(s.publish(signedBy("c.example", mapping({ signer: "c.example" })), "c.example"), "MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE");
    // A broken signature.
    const bad = signedBy("b.example", mapping({ tag: "Work" }));
    await rejectsWith(s.publish({ mapping: { ...bad.mapping, tag: "Home" }, signature: bad.signature }, "b.example"), "MIMI_ERR_DISCOVERY_MAPPING_INVALID");
    await rejectsWith(s.publish(signedBy("b.example", mapping({ expiresAt: BigInt(NOW - 1) })), "b.example"), "MIMI_ERR_DISCOVERY_MAPPING_INVALID");
    assert.deepEqual((await s.lookup("tel:+15551234567")).map((m) => m.mapping.tag), ["Personal"]);
  });
});

test("R5 / R2 several mappings per SII with preference tags, bounded; an older copy never replaces a newer one", async () => {
  await withStore(async (store) => {
    const s = dp(store);
    await s.publish(signedBy("b.example"), "b.example");
    await s.publish(signedBy("b.example", mapping({ tag: "Business" })), "b.example");
    await s.publish(signedBy("c.example", mapping({ signer: "c.example", ssi: { uri: "mimi://c.example/u/robert" } })), "c.example");
    assert.equal((await s.lookup("tel:+15551234567")).length, 3);
    await rejectsWith(s.publish(signedBy("b.example", mapping({ tag: "Home" })), "b.example"), "MIMI_ERR_DISCOVERY_TOO_MANY_MAPPINGS");
    const newer = signedBy("b.example", mapping({ issuedAt: BigInt(NOW), expiresAt: BigInt(NOW + 60 * DAY) }));
    await s.publish(newer, "b.example");
    await s.publish(signedBy("b.example"), "b.example"); // the older copy again
    const personal = (await s.lookup("tel:+15551234567")).find((m) => m.mapping.tag === "Personal" && m.mapping.ssi.uri === "mimi://b.example/u/bob");
    assert.equal(personal?.mapping.issuedAt, BigInt(NOW), "the newer mapping stays");
  });
});

test("MIMI-DISC-17 removal: signed by the same provider; removes mappings issued before it; the answer looks like never published", async () => {
  await withStore(async (store) => {
    const clock = { now: NOW };
    const s = dp(store, clock);
    const neverBytes = await s.lookupBody(encode(DiscoveryLookupRequest, { sii: { uri: "tel:+15551234567" } }), "a.example");
    await s.publish(signedBy("b.example"), "b.example");
    await s.publish(signedBy("b.example", mapping({ tag: "Business" })), "b.example");
    const removal = (tag: string, by = "b.example"): SignedDiscoveryRemoval =>
      signRemoval(keys[by]!, { sii: { uri: "tel:+15551234567" }, ssi: { uri: "mimi://b.example/u/bob" }, tag, signer: by, removedAt: BigInt(clock.now) });
    await rejectsWith(s.remove(removal("Personal", "c.example"), "c.example"), "MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE");
    const forged = removal("Personal");
    await rejectsWith(s.remove({ removal: forged.removal, signature: removal("Business").signature }, "b.example"), "MIMI_ERR_DISCOVERY_MAPPING_INVALID");
    await s.remove(removal("Personal"), "b.example");
    assert.deepEqual((await s.lookup("tel:+15551234567")).map((m) => m.mapping.tag), ["Business"]);
    await s.remove(removal(""), "b.example"); // every tag
    assert.equal((await s.lookup("tel:+15551234567")).length, 0);
    await s.remove(removal(""), "b.example"); // nothing left: the same answer
    const afterBytes = await s.lookupBody(encode(DiscoveryLookupRequest, { sii: { uri: "tel:+15551234567" } }), "a.example");
    assert.deepEqual(afterBytes, neverBytes, "removed looks exactly like never published");
  });
});

test("MIMI-DISC-15 discovery service requests are rate-limited per requesting provider", async () => {
  await withStore(async (store) => {
    const clock = { now: NOW };
    const s = new DiscoveryProviderService({
      store,
      settings: { enabled: true, maxMappingsPerSii: 3, peerRateLimit: { burst: 3, perMinute: 60 }, maxTtlMs: MAX_TTL },
      keyOf,
      logger: silentLogger(),
      now: () => clock.now,
      limiterNow: () => clock.now,
    });
    const body = encode(DiscoveryLookupRequest, { sii: { uri: "tel:+15550000000" } });
    for (let i = 0; i < 3; i++) await s.lookupBody(body, "a.example");
    await rejectsWith(s.lookupBody(body, "a.example"), "MIMI_ERR_DISCOVERY_RATE_LIMITED");
    await s.lookupBody(body, "c.example");
    clock.now += 1000;
    await s.lookupBody(body, "a.example");
  });
});

test("a disabled discovery service answers MIMI_ERR_DISCOVERY_SERVICE_DISABLED", async () => {
  await withStore(async (store) => {
    const s = new DiscoveryProviderService({ store, settings: { enabled: false, maxMappingsPerSii: 3, peerRateLimit: { burst: 3, perMinute: 60 }, maxTtlMs: MAX_TTL }, keyOf, logger: silentLogger() });
    await rejectsWith(s.lookupBody(encode(DiscoveryLookupRequest, { sii: { uri: "tel:+15550000000" } }), "a.example"), "MIMI_ERR_DISCOVERY_SERVICE_DISABLED");
  });
});

test("MIMI-DISC-08 / MIMI-DISC-09 token bucket: burst, refill per minute, separate keys, retry time, bounded memory", () => {
  const clock = { now: 0 };
  const b = new TokenBucketLimiter({ burst: 3, perMinute: 30 }, { now: () => clock.now, maxKeys: 2 });
  assert.deepEqual([1, 2, 3, 4].map(() => b.take("x").allowed), [true, true, true, false]);
  assert.equal(b.take("x").retryAfterMs, 2000, "30/minute: one token every 2 s");
  clock.now += 1999;
  assert.equal(b.take("x").allowed, false);
  clock.now += 1;
  assert.equal(b.take("x").allowed, true);
  assert.equal(b.take("y").allowed, true, "another key has its own bucket");
  clock.now += 60_000;
  assert.deepEqual([1, 2, 3, 4].map(() => b.take("x").allowed), [true, true, true, false], "refill stops at burst");
  b.take("z"); // evicts the least recently used key (y)
  assert.throws(() => b.check("x", "things"), (e: unknown) => isMimiError(e, "MIMI_ERR_DISCOVERY_RATE_LIMITED") && e.details?.["retryAfterSeconds"] === 2);
});
