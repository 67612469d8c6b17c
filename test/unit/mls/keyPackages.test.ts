// KeyPackages: generation with MIMI capabilities, KeyPackageRef, lifetime, last resort.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encode, opaqueV, struct } from "../../../src/codec/index.ts";
import {
  ExtensionTypeId,
  ProposalTypeId,
  addMembers,
  decodeKeyPackage,
  generateKeyPackages,
  inspectMessage,
  isKeyPackageExpired,
  isLastResortKeyPackage,
  joinFromWelcome,
  keyPackageLifetime,
  suiteImpl,
  validateKeyPackage,
} from "../../../src/mls/index.ts";
import { client, rejectsWith, room, te, throwsWith, toHex, userOf } from "./helpers.ts";

const RefHashInput = struct("RefHashInput", [
  ["label", opaqueV],
  ["value", opaqueV],
]);

test("KeyPackages use suite 1 by default and advertise the MIMI extension and proposal types", async () => {
  const alice = await client("alice");
  const kps = await generateKeyPackages(alice, { count: 3 });
  assert.equal(kps.length, 3);
  assert.equal(new Set(kps.map((k) => toHex(k.keyPackageRef))).size, 3);
  for (const k of kps) {
    assert.equal(k.keyPackage.cipherSuite, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    const caps = k.keyPackage.leafNode.capabilities;
    assert.ok(caps.extensions.includes(ExtensionTypeId.app_data_dictionary));
    assert.ok(caps.proposals.includes(ProposalTypeId.app_data_update));
    assert.deepEqual(caps.credentials, ["basic"]);
    const info = inspectMessage(k.encoded);
    assert.ok(info.wireFormat === "key_package" && info.identity?.kind === "client" && info.identity.clientUri === "mimi://a.example/d/alice/phone");
    // The same client signature key is reused across its KeyPackages (RFC 9420 §5.1.2).
    assert.equal(toHex(k.keyPackage.leafNode.signaturePublicKey), toHex(alice.signaturePublicKey));
  }
});

test("the cipher suite is a parameter (suite 3, ChaCha20-Poly1305)", async () => {
  const bob = await client("bob", "phone", { cipherSuite: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519" });
  const [kp] = await generateKeyPackages(bob);
  assert.ok(kp !== undefined);
  assert.equal(kp.keyPackage.cipherSuite, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519");
  const cs = await suiteImpl(bob.cipherSuite, bob.cryptoProvider);
  assert.equal((await validateKeyPackage(kp.keyPackage, cs)).cipherSuite, "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519");
});

test("MIMI-MLS-08 KeyPackageRef is RefHash(\"MLS 1.0 KeyPackage Reference\", KeyPackage)", async () => {
  const alice = await client("alice");
  const [kp] = await generateKeyPackages(alice);
  assert.ok(kp !== undefined);
  // MLSMessage header: version mls10 (0x0001), wire_format mls_key_package (0x0005).
  assert.equal(toHex(kp.encoded.subarray(0, 4)), "00010005");
  const keyPackageBytes = kp.encoded.subarray(4);
  const input = encode(RefHashInput, { label: te.encode("MLS 1.0 KeyPackage Reference"), value: keyPackageBytes });
  const expected = createHash("sha256").update(input).digest();
  assert.equal(toHex(kp.keyPackageRef), expected.toString("hex"));
  // the hub sees the same ref in the Welcome that adds this KeyPackage
  const g = await room(await client("carol"), [userOf("carol"), userOf("alice")]);
  const r = await addMembers(g, [kp.encoded]);
  const w = inspectMessage(r.welcome);
  assert.ok(w.wireFormat === "welcome");
  assert.deepEqual(w.newMembers.map(toHex), [toHex(kp.keyPackageRef)]);
});

test("MIMI-MLS-06 KeyPackage lifetime: expired or not-yet-valid KeyPackages are refused", async () => {
  const alice = await client("alice");
  const [short] = await generateKeyPackages(alice, { lifetimeSeconds: 60 });
  assert.ok(short !== undefined);
  const { notBefore, notAfter } = keyPackageLifetime(short.keyPackage);
  const now = BigInt(Math.floor(Date.now() / 1000));
  assert.ok(notAfter - now <= 61n && notAfter - now >= 59n);
  assert.ok(notBefore < now);
  assert.equal(isKeyPackageExpired(short.keyPackage), false);
  assert.equal(isKeyPackageExpired(short.keyPackage, new Date(Date.now() + 120_000)), true);
  assert.equal(isKeyPackageExpired(short.keyPackage, new Date(Date.now() - 3_600_000)), true);
  const cs = await suiteImpl(alice.cipherSuite, alice.cryptoProvider);
  await rejectsWith(validateKeyPackage(short.keyPackage, cs, { now: new Date(Date.now() + 120_000) }), "MIMI_ERR_MLS_KEY_PACKAGE_EXPIRED");

  // A KeyPackage that expired yesterday cannot be added.
  const bob = await client("bob");
  const [old] = await generateKeyPackages(bob, { lifetimeSeconds: 3600, now: new Date(Date.now() - 2 * 86_400_000) });
  assert.ok(old !== undefined);
  const g = await room(alice, [userOf("alice"), userOf("bob")]);
  await rejectsWith(addMembers(g, [old.encoded]), "MIMI_ERR_MLS_KEY_PACKAGE_EXPIRED");
  await rejectsWith(generateKeyPackages(bob, { lifetimeSeconds: 0 }), "MIMI_ERR_MLS_KEY_PACKAGE_INVALID");
});

test("MIMI-MLS-07 last-resort KeyPackages carry the last_resort_key_package component and can be used", async () => {
  const alice = await client("alice");
  const [plain] = await generateKeyPackages(alice);
  const [lastResort] = await generateKeyPackages(alice, { lastResort: true });
  assert.ok(plain !== undefined && lastResort !== undefined);
  assert.equal(isLastResortKeyPackage(plain.keyPackage), false);
  assert.equal(plain.lastResort, false);
  assert.equal(isLastResortKeyPackage(lastResort.keyPackage), true);
  assert.equal(lastResort.lastResort, true);
  // KeyPackage extension app_data_dictionary (0x0006) = AppDataDictionary { [ {component_id 0x0004, data ""} ] }
  assert.deepEqual(
    lastResort.keyPackage.extensions.map((e) => [e.extensionType, toHex(e.extensionData)]),
    [[0x0006, "03" + "0004" + "00"]],
  );
  const decoded = decodeKeyPackage(lastResort.encoded);
  assert.equal(isLastResortKeyPackage(decoded), true);
  const cs = await suiteImpl(alice.cipherSuite, alice.cryptoProvider);
  assert.equal((await validateKeyPackage(decoded, cs)).lastResort, true);
  // usable to join
  const g = await room(await client("carol"), [userOf("carol"), userOf("alice")]);
  const r = await addMembers(g, [lastResort.encoded]);
  await joinFromWelcome(alice, r.welcome, lastResort);
});

test("validateKeyPackage rejects a tampered or truncated KeyPackage", async () => {
  const alice = await client("alice");
  const [kp] = await generateKeyPackages(alice);
  assert.ok(kp !== undefined);
  const cs = await suiteImpl(alice.cipherSuite, alice.cryptoProvider);
  const tampered = kp.encoded.slice();
  tampered[tampered.length - 5] = (tampered[tampered.length - 5] ?? 0) ^ 1; // inside the signature
  await rejectsWith(validateKeyPackage(decodeKeyPackage(tampered), cs), "MIMI_ERR_MLS_KEY_PACKAGE_INVALID");
  throwsWith(() => decodeKeyPackage(kp.encoded.subarray(0, kp.encoded.length - 1)), "MIMI_ERR_MLS_KEY_PACKAGE_INVALID");
  throwsWith(() => decodeKeyPackage(new Uint8Array([...kp.encoded, 0])), "MIMI_ERR_MLS_KEY_PACKAGE_INVALID");
});
