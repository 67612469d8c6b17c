// A ts-mls CryptoProvider on Node's native `crypto` (DESIGN.md §5 "Speed").
//
// Suites 1 (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519) and 3 (the same with
// ChaCha20Poly1305) are native: Ed25519 sign/verify with cached KeyObjects, X25519, AES-128-GCM
// or ChaCha20-Poly1305, SHA-256, HMAC-SHA256 and HKDF-SHA256, and HPKE (RFC 9180) base mode with
// DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 built on those primitives. Every other suite is
// delegated to ts-mls's default provider.
//
// Every operation is synchronous underneath and returns an already-settled promise: the default
// provider's WebCrypto calls hop to the libuv thread pool, and re-import the Ed25519 key as
// PKCS#8 for every signature, which is where its time went (dependency-trial §2.5).
//
// Key formats are those of the default provider, so states and keys move freely between the two:
// signature private keys are accepted as a raw 32-byte seed or PKCS#8 (48 bytes, what WebCrypto
// exports) and generated as raw seeds; public keys are raw (RFC 8032, RFC 7748); HPKE private
// keys serialise to the raw 32-byte scalar (RFC 9180 §7.1.2 SerializePrivateKey).
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  randomFillSync,
  sign as nodeSign,
  timingSafeEqual,
  verify as nodeVerify,
} from "node:crypto";
import type { KeyObject } from "node:crypto";
import { defaultCryptoProvider } from "ts-mls";
import type { Ciphersuite, CiphersuiteImpl, CryptoProvider, Hash, Hpke, Kdf, Rng, Signature } from "ts-mls";

const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519_SPKI_PREFIX = Buffer.from("302a300506032b656e032100", "hex");

/** A small map that forgets its oldest entries; caches KeyObjects by key bytes. */
class KeyCache<V> {
  private readonly map = new Map<string, V>();
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  get(key: string, make: () => V): V {
    const hit = this.map.get(key);
    if (hit !== undefined) return hit;
    const value = make();
    if (this.map.size >= this.limit) {
      const oldest = this.map.keys().next();
      if (oldest.done !== true) this.map.delete(oldest.value);
    }
    this.map.set(key, value);
    return value;
  }
}

function buf(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A view of a Buffer that Node allocated on its own (digest, sign, Buffer.alloc): never pooled. */
function bytes(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * A fresh copy, for Buffers that may live in Node's shared allocation pool (Buffer.concat,
 * cipher output): ts-mls zeroises key material in place and callers may keep `.buffer`, so what
 * we hand out must own its memory.
 */
function owned(b: Buffer): Uint8Array {
  return new Uint8Array(b);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return owned(Buffer.concat(parts.map(buf)));
}

function i2osp(n: number, w: number): Uint8Array {
  const out = new Uint8Array(w);
  for (let i = w - 1, v = n; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  return out;
}

// ---- Ed25519 (RFC 8032) ---------------------------------------------------------------------

const signingKeys = new KeyCache<KeyObject>(4096);
const verifyingKeys = new KeyCache<KeyObject>(16384);

function ed25519PrivateKey(signKey: Uint8Array): KeyObject {
  return signingKeys.get(buf(signKey).toString("base64"), () => {
    let der: Buffer;
    if (signKey.length === 32) der = Buffer.concat([ED25519_PKCS8_PREFIX, buf(signKey)]);
    else if (signKey.length === 48) der = Buffer.from(signKey);
    else throw new RangeError(`Ed25519 private key must be 32 bytes (seed) or 48 bytes (PKCS#8), got ${signKey.length}`);
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  });
}

function ed25519PublicKey(publicKey: Uint8Array): KeyObject {
  if (publicKey.length !== 32) throw new RangeError(`Ed25519 public key must be 32 bytes, got ${publicKey.length}`);
  return verifyingKeys.get(buf(publicKey).toString("base64"), () =>
    createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, buf(publicKey)]), format: "der", type: "spki" }),
  );
}

const nativeEd25519: Signature = {
  sign(signKey, message) {
    try {
      return Promise.resolve(bytes(nodeSign(null, message, ed25519PrivateKey(signKey))));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  },
  verify(publicKey, message, signature) {
    try {
      return Promise.resolve(nodeVerify(null, message, ed25519PublicKey(publicKey), signature));
    } catch {
      // A malformed public key or signature is simply not a valid signature.
      return Promise.resolve(false);
    }
  },
  keygen() {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const seed = privateKey.export({ format: "der", type: "pkcs8" }).subarray(ED25519_PKCS8_PREFIX.length);
    const pub = publicKey.export({ format: "der", type: "spki" }).subarray(ED25519_SPKI_PREFIX.length);
    return Promise.resolve({ signKey: new Uint8Array(seed), publicKey: new Uint8Array(pub) });
  },
};

// ---- SHA-256, HMAC, HKDF (RFC 6234, RFC 2104, RFC 5869) ---------------------------------------

const HASH_LEN = 32;

const ZERO_KEY = new Uint8Array(HASH_LEN);
const ONE = Uint8Array.of(1);

/**
 * A KeyObject for a raw secret. Passing raw bytes to createHmac/createCipheriv makes Node probe
 * them for KeyObject/CryptoKey brands on every call, which costs more than the HMAC itself;
 * createSecretKey does not. An empty HMAC key equals HashLen zero bytes (RFC 2104 §2 pads keys
 * with zeros; RFC 5869 §2.2 uses that for an absent salt), and Node refuses empty secret keys.
 */
function secretKey(raw: Uint8Array): KeyObject {
  return createSecretKey(raw.length === 0 ? ZERO_KEY : raw);
}

function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return bytes(createHmac("sha256", secretKey(key)).update(data).digest());
}

const nativeHash: Hash = {
  digest: (data) => Promise.resolve(bytes(createHash("sha256").update(data).digest())),
  mac: (key, data) => Promise.resolve(hmac(key, data)),
  verifyMac(key, mac, data) {
    const expected = hmac(key, data);
    return Promise.resolve(expected.length === mac.length && timingSafeEqual(expected, mac));
  },
};

function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  // RFC 5869 §2.2: an absent salt is HashLen zero bytes; HMAC pads a short key with zeros, so an
  // empty key gives the same result.
  return hmac(salt, ikm);
}

function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (length > 255 * HASH_LEN) throw new RangeError("HKDF-Expand length too large");
  const key = secretKey(prk);
  if (length <= HASH_LEN) {
    // one block, the common case (MLS keys, nonces and secrets): T(1) = HMAC(PRK, info || 0x01)
    const t = createHmac("sha256", key).update(info).update(ONE).digest();
    return length === HASH_LEN ? bytes(t) : new Uint8Array(t.subarray(0, length));
  }
  const out = Buffer.alloc(length);
  let t: Buffer = Buffer.alloc(0);
  for (let i = 1, done = 0; done < length; i++) {
    t = createHmac("sha256", key).update(t).update(info).update(Uint8Array.of(i)).digest();
    t.copy(out, done);
    done += t.length;
  }
  return bytes(out);
}

const nativeKdf: Kdf = {
  extract: (salt, ikm) => Promise.resolve(hkdfExtract(salt, ikm)),
  expand: (prk, info, len) => Promise.resolve(hkdfExpand(prk, info, len)),
  size: HASH_LEN,
};

// ---- AEAD (RFC 5116: AES-128-GCM, RFC 8439: ChaCha20-Poly1305) -------------------------------

type AeadName = "aes-128-gcm" | "chacha20-poly1305";
const TAG_LEN = 16;

function aeadSeal(alg: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const k = secretKey(key);
  const cipher = alg === "aes-128-gcm" ? createCipheriv(alg, k, nonce) : createCipheriv(alg, k, nonce, { authTagLength: TAG_LEN });
  cipher.setAAD(aad);
  return owned(Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]));
}

/** Named like ts-mls's CryptoError, which is how decryption failures are reported to callers. */
class CryptoError extends Error {
  override name = "CryptoError";
}

function aeadOpen(alg: AeadName, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  if (ciphertext.length < TAG_LEN) throw new CryptoError("ciphertext shorter than the tag");
  try {
    const k = secretKey(key);
    const decipher = alg === "aes-128-gcm" ? createDecipheriv(alg, k, nonce) : createDecipheriv(alg, k, nonce, { authTagLength: TAG_LEN });
    decipher.setAAD(aad);
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - TAG_LEN));
    return owned(Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - TAG_LEN)), decipher.final()]));
  } catch (cause) {
    throw new CryptoError("AEAD decryption failed", { cause });
  }
}

// ---- X25519 (RFC 7748) and HPKE (RFC 9180) ---------------------------------------------------

/** The opaque key objects ts-mls hands back to us (it never looks inside). */
interface X25519Private {
  readonly type: "private";
  readonly raw: Uint8Array;
  readonly key: KeyObject;
}
interface X25519Public {
  readonly type: "public";
  readonly raw: Uint8Array;
  readonly key: KeyObject;
}

const x25519PrivateKeys = new KeyCache<X25519Private>(4096);
const x25519PublicKeys = new KeyCache<X25519Public>(16384);

function x25519Private(raw: Uint8Array): X25519Private {
  if (raw.length !== 32) throw new RangeError(`X25519 private key must be 32 bytes, got ${raw.length}`);
  return x25519PrivateKeys.get(buf(raw).toString("base64"), () => ({
    type: "private",
    raw: new Uint8Array(raw),
    key: createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, buf(raw)]), format: "der", type: "pkcs8" }),
  }));
}

function x25519Public(raw: Uint8Array): X25519Public {
  if (raw.length !== 32) throw new RangeError(`X25519 public key must be 32 bytes, got ${raw.length}`);
  return x25519PublicKeys.get(buf(raw).toString("base64"), () => ({
    type: "public",
    raw: new Uint8Array(raw),
    key: createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, buf(raw)]), format: "der", type: "spki" }),
  }));
}

const publicOfPrivate = new WeakMap<X25519Private, X25519Public>();

function x25519PublicOf(priv: X25519Private): X25519Public {
  let pub = publicOfPrivate.get(priv);
  if (pub === undefined) {
    const spki = createPublicKey(priv.key).export({ format: "der", type: "spki" });
    pub = x25519Public(new Uint8Array(spki.subarray(X25519_SPKI_PREFIX.length)));
    publicOfPrivate.set(priv, pub);
  }
  return pub;
}

function dh(priv: X25519Private, pub: X25519Public): Uint8Array {
  const shared = bytes(diffieHellman({ privateKey: priv.key, publicKey: pub.key }));
  // RFC 9180 §7.1.4: DH output that is all zeros (a small-order public key) MUST be rejected.
  if (shared.every((b) => b === 0)) throw new CryptoError("X25519 produced the all-zero shared secret");
  return shared;
}

const HPKE_V1 = new TextEncoder().encode("HPKE-v1");
const label = (s: string): Uint8Array => new TextEncoder().encode(s);

interface HpkeSuite {
  readonly kemSuiteId: Uint8Array;
  readonly suiteId: Uint8Array;
  readonly aead: AeadName;
  readonly nk: number;
  readonly nn: number;
}

function makeSuite(aeadId: number, aead: AeadName): HpkeSuite {
  // RFC 9180 §7.1: DHKEM(X25519, HKDF-SHA256) = 0x0020, HKDF-SHA256 = 0x0001.
  return {
    kemSuiteId: concat(label("KEM"), i2osp(0x0020, 2)),
    suiteId: concat(label("HPKE"), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(aeadId, 2)),
    aead,
    nk: aead === "aes-128-gcm" ? 16 : 32,
    nn: 12,
  };
}

function labeledExtract(suiteId: Uint8Array, salt: Uint8Array, lbl: string, ikm: Uint8Array): Uint8Array {
  return hkdfExtract(salt, concat(HPKE_V1, suiteId, label(lbl), ikm));
}

function labeledExpand(suiteId: Uint8Array, prk: Uint8Array, lbl: string, info: Uint8Array, length: number): Uint8Array {
  return hkdfExpand(prk, concat(i2osp(length, 2), HPKE_V1, suiteId, label(lbl), info), length);
}

const EMPTY = new Uint8Array(0);

function extractAndExpand(s: HpkeSuite, dhValue: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(s.kemSuiteId, EMPTY, "eae_prk", dhValue);
  return labeledExpand(s.kemSuiteId, eaePrk, "shared_secret", kemContext, HASH_LEN);
}

function generateX25519(): X25519Private {
  // Fresh (mostly ephemeral, RFC 9180 Encap) keys: use the generated KeyObjects directly and keep
  // them out of the import caches.
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const raw = new Uint8Array(privateKey.export({ format: "der", type: "pkcs8" }).subarray(X25519_PKCS8_PREFIX.length));
  const priv: X25519Private = { type: "private", raw, key: privateKey };
  const pubRaw = new Uint8Array(publicKey.export({ format: "der", type: "spki" }).subarray(X25519_SPKI_PREFIX.length));
  publicOfPrivate.set(priv, { type: "public", raw: pubRaw, key: publicKey });
  return priv;
}

/**
 * RFC 9180 §4.1 Encap / Decap for DHKEM(X25519, HKDF-SHA256). MIMI-MLS-20: every HPKE output must
 * equal what any other RFC 9180 implementation computes (other members use other stacks).
 */
function encap(s: HpkeSuite, pkR: X25519Public): { sharedSecret: Uint8Array; enc: Uint8Array } {
  const skE = generateX25519();
  const enc = x25519PublicOf(skE).raw;
  return { sharedSecret: extractAndExpand(s, dh(skE, pkR), concat(enc, pkR.raw)), enc };
}

function decap(s: HpkeSuite, enc: Uint8Array, skR: X25519Private): Uint8Array {
  const pkE = x25519Public(enc);
  return extractAndExpand(s, dh(skR, pkE), concat(enc, x25519PublicOf(skR).raw));
}

/** RFC 9180 §5.1 KeySchedule for mode_base (no PSK). */
function keySchedule(s: HpkeSuite, sharedSecret: Uint8Array, info: Uint8Array): { key: Uint8Array; baseNonce: Uint8Array; exporterSecret: Uint8Array } {
  const pskIdHash = labeledExtract(s.suiteId, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = labeledExtract(s.suiteId, EMPTY, "info_hash", info);
  const context = concat(Uint8Array.of(0x00), pskIdHash, infoHash);
  const secret = labeledExtract(s.suiteId, sharedSecret, "secret", EMPTY);
  return {
    key: labeledExpand(s.suiteId, secret, "key", context, s.nk),
    baseNonce: labeledExpand(s.suiteId, secret, "base_nonce", context, s.nn),
    exporterSecret: labeledExpand(s.suiteId, secret, "exp", context, HASH_LEN),
  };
}

/** RFC 9180 §7.1.3 DeriveKeyPair for X25519. */
function deriveX25519(s: HpkeSuite, ikm: Uint8Array): X25519Private {
  const dkpPrk = labeledExtract(s.kemSuiteId, EMPTY, "dkp_prk", ikm);
  return x25519Private(labeledExpand(s.kemSuiteId, dkpPrk, "sk", EMPTY, 32));
}

function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

// ts-mls types its HPKE keys as CryptoKeys but only ever hands them back to this object, so the
// native keys are plain objects checked at run time.
function asPriv(k: unknown): X25519Private {
  if (typeof k !== "object" || k === null || (k as { type?: unknown }).type !== "private" || !((k as { key?: unknown }).key instanceof Object)) {
    throw new TypeError("not a native X25519 private key");
  }
  return k as X25519Private;
}
function asPub(k: unknown): X25519Public {
  if (typeof k !== "object" || k === null || (k as { type?: unknown }).type !== "public" || !((k as { key?: unknown }).key instanceof Object)) {
    throw new TypeError("not a native X25519 public key");
  }
  return k as X25519Public;
}

function makeNativeHpke(s: HpkeSuite): Hpke {
  const hpke = {
    open: (privateKey: unknown, kemOutput: Uint8Array, ciphertext: Uint8Array, info: Uint8Array, aad?: Uint8Array) =>
      settle(() => {
        const ks = keySchedule(s, decap(s, kemOutput, asPriv(privateKey)), info);
        return aeadOpen(s.aead, ks.key, ks.baseNonce, aad ?? EMPTY, ciphertext);
      }),
    seal: (publicKey: unknown, plaintext: Uint8Array, info: Uint8Array, aad?: Uint8Array) =>
      settle(() => {
        const { sharedSecret, enc } = encap(s, asPub(publicKey));
        const ks = keySchedule(s, sharedSecret, info);
        return { ct: aeadSeal(s.aead, ks.key, ks.baseNonce, aad ?? EMPTY, plaintext), enc };
      }),
    importPrivateKey: (k: Uint8Array) => settle(() => x25519Private(k)),
    importPublicKey: (k: Uint8Array) => settle(() => x25519Public(k)),
    exportPublicKey: (k: unknown) => settle(() => new Uint8Array(asPub(k).raw)),
    exportPrivateKey: (k: unknown) => settle(() => new Uint8Array(asPriv(k).raw)),
    encryptAead: (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, plaintext: Uint8Array) =>
      settle(() => aeadSeal(s.aead, key, nonce, aad ?? EMPTY, plaintext)),
    decryptAead: (key: Uint8Array, nonce: Uint8Array, aad: Uint8Array | undefined, ciphertext: Uint8Array) =>
      settle(() => aeadOpen(s.aead, key, nonce, aad ?? EMPTY, ciphertext)),
    exportSecret: (publicKey: unknown, exporterContext: Uint8Array, length: number, info: Uint8Array) =>
      settle(() => {
        const { sharedSecret, enc } = encap(s, asPub(publicKey));
        const ks = keySchedule(s, sharedSecret, info);
        // RFC 9180 §5.3 Export: LabeledExpand(exporter_secret, "sec", exporter_context, L)
        return { enc, secret: labeledExpand(s.suiteId, ks.exporterSecret, "sec", exporterContext, length) };
      }),
    importSecret: (privateKey: unknown, exporterContext: Uint8Array, kemOutput: Uint8Array, length: number, info: Uint8Array) =>
      settle(() => {
        const ks = keySchedule(s, decap(s, kemOutput, asPriv(privateKey)), info);
        return labeledExpand(s.suiteId, ks.exporterSecret, "sec", exporterContext, length);
      }),
    deriveKeyPair: (ikm: Uint8Array) =>
      settle(() => {
        const priv = deriveX25519(s, ikm);
        return { privateKey: priv, publicKey: x25519PublicOf(priv) };
      }),
    generateKeyPair: () =>
      settle(() => {
        const priv = generateX25519();
        return { privateKey: priv, publicKey: x25519PublicOf(priv) };
      }),
    keyLength: s.nk,
    nonceLength: s.nn,
  };
  return hpke;
}

// ts-mls asks for many tiny random values (4-byte reuse guards, one per message); filling them
// one by one from the OS CSPRNG costs more than the AEAD. Small requests are served from a pool
// refilled 4 KiB at a time (as crypto.randomBytes does internally); each byte is handed out once.
const POOL_SIZE = 4096;
const pool = Buffer.alloc(POOL_SIZE);
let poolOffset = POOL_SIZE;

const nativeRng: Rng = {
  randomBytes(n) {
    if (n > 256) return bytes(randomFillSync(Buffer.alloc(n)));
    if (poolOffset + n > POOL_SIZE) {
      randomFillSync(pool);
      poolOffset = 0;
    }
    const out = new Uint8Array(n);
    out.set(pool.subarray(poolOffset, poolOffset + n));
    pool.fill(0, poolOffset, poolOffset + n);
    poolOffset += n;
    return out;
  },
};

const SUITE_1 = makeSuite(0x0001, "aes-128-gcm");
const SUITE_3 = makeSuite(0x0003, "chacha20-poly1305");

/** Suites this provider implements natively; others go to ts-mls's default provider. */
export const NATIVE_CIPHERSUITES = [
  "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
] as const;

/** The native provider: implements ts-mls's CryptoProvider. */
export const nativeCryptoProvider: CryptoProvider = {
  async getCiphersuiteImpl(cs: Ciphersuite): Promise<CiphersuiteImpl> {
    const suite =
      cs.name === "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" ? SUITE_1 : cs.name === "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519" ? SUITE_3 : undefined;
    if (suite === undefined) return defaultCryptoProvider.getCiphersuiteImpl(cs);
    return { hash: nativeHash, hpke: makeNativeHpke(suite), signature: nativeEd25519, kdf: nativeKdf, rng: nativeRng, name: cs.name };
  },
};
