// The native crypto provider: primitive-level agreement with ts-mls's default provider and a
// mixed group where members use different providers.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  NATIVE_CIPHERSUITES,
  createCommit,
  decodeGroupState,
  encodeGroupState,
  encryptApplication,
  epoch,
  processMessage,
  suiteImpl,
} from "../../../src/mls/index.ts";
import type { CipherSuiteName } from "../../../src/mls/index.ts";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { addAndJoin, client, expectApplication, expectCommit, rejectsWith, room, td, te, toHex, userOf } from "./helpers.ts";

// Suite 3 on the default provider needs the optional @hpke/chacha20poly1305, which is not
// installed; its native AEAD is checked against @noble/ciphers below instead.
for (const name of NATIVE_CIPHERSUITES.filter((n) => n === "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519") as readonly CipherSuiteName[]) {
  test(`MIMI-MLS-20 native primitives agree with the default provider (${name})`, async () => {
    const native = await suiteImpl(name, "native");
    const dflt = await suiteImpl(name, "default");
    const data = te.encode("the quick brown fox");
    const key = new Uint8Array(32).fill(7);

    assert.equal(toHex(await native.hash.digest(data)), toHex(await dflt.hash.digest(data)));
    assert.equal(toHex(await native.hash.mac(key, data)), toHex(await dflt.hash.mac(key, data)));
    assert.equal(await native.hash.verifyMac(key, await dflt.hash.mac(key, data), data), true);
    assert.equal(await native.hash.verifyMac(key, new Uint8Array(32), data), false);
    const prk = await native.kdf.extract(new Uint8Array(0), data);
    assert.equal(toHex(prk), toHex(await dflt.kdf.extract(new Uint8Array(0), data)));
    assert.equal(toHex(await native.kdf.expand(prk, te.encode("info"), 77)), toHex(await dflt.kdf.expand(prk, te.encode("info"), 77)));

    // AEAD with the suite's key and nonce sizes
    const k = new Uint8Array(native.hpke.keyLength).fill(1);
    const n = new Uint8Array(native.hpke.nonceLength).fill(2);
    const ct = await native.hpke.encryptAead(k, n, te.encode("aad"), data);
    assert.equal(toHex(ct), toHex(await dflt.hpke.encryptAead(k, n, te.encode("aad"), data)));
    assert.equal(td.decode(await dflt.hpke.decryptAead(k, n, te.encode("aad"), ct)), "the quick brown fox");

    // Ed25519 both ways; the default provider's PKCS#8 keys sign natively too
    const nk = await native.signature.keygen();
    const dk = await dflt.signature.keygen();
    assert.equal(nk.signKey.length, 32);
    assert.equal(await dflt.signature.verify(nk.publicKey, data, await native.signature.sign(nk.signKey, data)), true);
    assert.equal(await native.signature.verify(dk.publicKey, data, await dflt.signature.sign(dk.signKey, data)), true);
    assert.equal(await native.signature.verify(dk.publicKey, data, await native.signature.sign(dk.signKey, data)), true);
    assert.equal(await native.signature.verify(dk.publicKey, te.encode("other"), await native.signature.sign(dk.signKey, data)), false);
    assert.equal(await native.signature.verify(new Uint8Array(5), data, new Uint8Array(64)), false);

    // HPKE (RFC 9180): DeriveKeyPair gives the same keys; seal/open and export/import across providers
    const ikm = new Uint8Array(32).fill(9);
    const nkp = await native.hpke.deriveKeyPair(ikm);
    const dkp = await dflt.hpke.deriveKeyPair(ikm);
    assert.equal(toHex(await native.hpke.exportPublicKey(nkp.publicKey)), toHex(await dflt.hpke.exportPublicKey(dkp.publicKey)));
    assert.equal(toHex(await native.hpke.exportPrivateKey(nkp.privateKey)), toHex(await dflt.hpke.exportPrivateKey(dkp.privateKey)));
    const info = te.encode("MLS 1.0 test");
    const s1 = await native.hpke.seal(nkp.publicKey, data, info, te.encode("x"));
    assert.equal(td.decode(await dflt.hpke.open(dkp.privateKey, s1.enc, s1.ct, info, te.encode("x"))), "the quick brown fox");
    const s2 = await dflt.hpke.seal(dkp.publicKey, data, info);
    assert.equal(td.decode(await native.hpke.open(nkp.privateKey, s2.enc, s2.ct, info)), "the quick brown fox");
    await assert.rejects(native.hpke.open(nkp.privateKey, s2.enc, s2.ct, te.encode("wrong info")));
    const e1 = await native.hpke.exportSecret(nkp.publicKey, te.encode("ctx"), 32, info);
    assert.equal(toHex(await dflt.hpke.importSecret(dkp.privateKey, te.encode("ctx"), e1.enc, 32, info)), toHex(e1.secret));
    const e2 = await dflt.hpke.exportSecret(dkp.publicKey, te.encode("ctx"), 32, info);
    assert.equal(toHex(await native.hpke.importSecret(nkp.privateKey, te.encode("ctx"), e2.enc, 32, info)), toHex(e2.secret));
    // serialised keys move between providers
    const gen = await native.hpke.generateKeyPair();
    const s3 = await native.hpke.seal(gen.publicKey, data, info);
    const raw = await native.hpke.exportPrivateKey(gen.privateKey);
    assert.equal(td.decode(await dflt.hpke.open(await dflt.hpke.importPrivateKey(raw), s3.enc, s3.ct, info)), "the quick brown fox");
  });
}

test("MIMI-MLS-20 suite 3 natively: ChaCha20-Poly1305 agrees with @noble/ciphers, HPKE round trips, a group works", async () => {
  const name: CipherSuiteName = "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519";
  const native = await suiteImpl(name, "native");
  await rejectsWith(suiteImpl(name, "default"), "MIMI_ERR_MLS_UNSUPPORTED_CIPHERSUITE");
  const k = new Uint8Array(32).fill(1);
  const n = new Uint8Array(12).fill(2);
  const data = te.encode("chacha");
  const ct = await native.hpke.encryptAead(k, n, te.encode("aad"), data);
  assert.equal(toHex(ct), toHex(chacha20poly1305(k, n, te.encode("aad")).encrypt(data)));
  const kp = await native.hpke.generateKeyPair();
  const s = await native.hpke.seal(kp.publicKey, data, te.encode("info"));
  assert.equal(td.decode(await native.hpke.open(kp.privateKey, s.enc, s.ct, te.encode("info"))), "chacha");
  const alice = await client("alice", "phone", { cipherSuite: name });
  const bob = await client("bob", "phone", { cipherSuite: name });
  const { adder, joined } = await addAndJoin(await room(alice, [userOf("alice"), userOf("bob")]), [bob]);
  assert.ok(joined[0] !== undefined);
  const m = await encryptApplication(adder, data);
  assert.equal(td.decode(expectApplication(await processMessage(joined[0], m.message)).plaintext), "chacha");
});

test("MIMI-MLS-20 native/default interop: a group whose members use different providers", async () => {
  const alice = await client("alice", "phone", { cryptoProvider: "native" });
  const bob = await client("bob", "phone", { cryptoProvider: "default" });
  const carol = await client("carol", "phone", { cryptoProvider: "default" });
  const g0 = await room(alice, ["alice", "bob", "carol"].map((u) => userOf(u)));
  const { adder, joined } = await addAndJoin(g0, [bob]);
  let a = adder;
  let b = joined[0];
  assert.ok(b !== undefined);
  // messages both ways
  const m1 = await encryptApplication(a, te.encode("native to default"));
  a = m1.group;
  const r1 = expectApplication(await processMessage(b, m1.message));
  b = r1.group;
  assert.equal(td.decode(r1.plaintext), "native to default");
  const m2 = await encryptApplication(b, te.encode("default to native"));
  b = m2.group;
  const r2 = expectApplication(await processMessage(a, m2.message));
  a = r2.group;
  assert.equal(td.decode(r2.plaintext), "default to native");
  // the default-provider member adds another default-provider member; the native one follows
  const added = await addAndJoin(b, [carol], [a]);
  b = added.adder;
  a = added.others[0] ?? a;
  let c = added.joined[0];
  assert.ok(c !== undefined);
  // an update commit from the native member (fresh path secrets, HPKE to both others)
  const u = await createCommit(a);
  a = u.group;
  b = expectCommit(await processMessage(b, u.commit)).group;
  c = expectCommit(await processMessage(c, u.commit)).group;
  assert.equal(epoch(a), epoch(c));
  assert.equal(toHex(a.state.groupContext.confirmedTranscriptHash), toHex(c.state.groupContext.confirmedTranscriptHash));
  const m3 = await encryptApplication(c, te.encode("from carol"));
  assert.equal(td.decode(expectApplication(await processMessage(a, m3.message)).plaintext), "from carol");
  assert.equal(td.decode(expectApplication(await processMessage(b, m3.message)).plaintext), "from carol");
  // a state saved by one provider's client works when the client moves to the other provider
  const bobNative = { ...bob, cryptoProvider: "native" as const };
  const moved = decodeGroupState(bobNative, encodeGroupState(b));
  const m4 = await encryptApplication(moved, te.encode("bob, now native"));
  assert.equal(td.decode(expectApplication(await processMessage(a, m4.message)).plaintext), "bob, now native");
});
