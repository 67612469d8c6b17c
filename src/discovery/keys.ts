// The provider's discovery signing key and the peers' keys.
//
// Ours: Ed25519, persisted like the hub key beside the store (`<dataDir>/keys/discovery-signature.json`,
// file mode 0600 in a 0700 folder; MIMI-DISC-11); a memory store keeps it in memory. A key file
// readable by group or others stops the start (MIMI_ERR_CONFIG_KEY_PERMISSIONS, as
// MIMI-PROTO-TLS-05 does for the TLS key).
//
// Theirs: published at `GET /v1/discovery/key` (our extension) and fetched over mutual TLS from
// the signer's domain itself, so the TLS certificate that names the domain authenticates the key
// (MIMI-DISC-12). Cached for discovery.keyCacheTtlMs; failures are not cached.
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { MimiError } from "../errors.ts";
import type { PeerClient } from "../transport/peerClient.ts";
import { discoveryKeyFromPkcs8, generateDiscoveryKey, pkcs8Of } from "./mapping.ts";
import type { DiscoveryKeyPair } from "./mapping.ts";

export const DISCOVERY_KEY_PATH = "/v1/discovery/key";

/** The JSON document at GET /v1/discovery/key. */
export interface DiscoveryKeyDocument {
  readonly domain: string;
  readonly alg: "Ed25519";
  readonly publicKeyB64: string;
  /** Hex of the first 16 bytes of SHA-256(public key): for logs and humans. */
  readonly keyId: string;
}

export function keyId(publicKey: Uint8Array): string {
  return createHash("sha256").update(publicKey).digest("hex").slice(0, 32);
}

export function keyDocument(domain: string, publicKey: Uint8Array): DiscoveryKeyDocument {
  return { domain, alg: "Ed25519", publicKeyB64: Buffer.from(publicKey).toString("base64"), keyId: keyId(publicKey) };
}

interface StoredKey {
  alg: "Ed25519";
  publicKey: string;
  privateKeyPkcs8: string;
}

/** Loads the discovery signing key from `file`, or creates it (0600). Undefined file: in memory. */
export async function loadOrCreateDiscoveryKey(file: string | undefined): Promise<DiscoveryKeyPair> {
  if (file === undefined) return generateDiscoveryKey();
  let text: string | undefined;
  try {
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) {
      throw new MimiError("MIMI_ERR_CONFIG_KEY_PERMISSIONS", `the discovery signing key ${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`, { details: { file } });
    }
    text = await readFile(file, "utf8");
  } catch (err) {
    if (err instanceof MimiError) throw err;
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new MimiError("MIMI_ERR_STORAGE_IO", `cannot read the discovery key ${file}`, { cause: err });
  }
  if (text !== undefined) {
    let stored: StoredKey;
    try {
      stored = JSON.parse(text) as StoredKey;
    } catch (cause) {
      throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", `${file} is not a discovery key file`, { cause });
    }
    if (stored.alg !== "Ed25519" || typeof stored.privateKeyPkcs8 !== "string") throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", `${file} is not an Ed25519 discovery key file`);
    return discoveryKeyFromPkcs8(new Uint8Array(Buffer.from(stored.privateKeyPkcs8, "base64")));
  }
  const key = generateDiscoveryKey();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const stored: StoredKey = { alg: "Ed25519", publicKey: Buffer.from(key.publicKey).toString("base64"), privateKeyPkcs8: Buffer.from(pkcs8Of(key)).toString("base64") };
  await writeFile(file, JSON.stringify(stored), { mode: 0o600, flag: "wx" });
  await chmod(file, 0o600);
  return key;
}

/** Parses and checks a peer's key document: it must name the domain it was fetched from. */
export function parseKeyDocument(domain: string, body: Uint8Array): Uint8Array {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch (cause) {
    throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", `${domain}'s discovery key document is not JSON`, { cause, details: { peer: domain } });
  }
  const o = (doc ?? {}) as Record<string, unknown>;
  if (o["domain"] !== domain || o["alg"] !== "Ed25519" || typeof o["publicKeyB64"] !== "string") {
    throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", `${domain}'s discovery key document does not name ${domain} with an Ed25519 key`, { details: { peer: domain } });
  }
  const key = new Uint8Array(Buffer.from(o["publicKeyB64"], "base64"));
  if (key.length !== 32) throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", `${domain}'s discovery key is not 32 bytes`, { details: { peer: domain } });
  return key;
}

/** Peers' discovery keys, fetched over mutual TLS and cached. */
export class PeerKeyCache {
  readonly #peerClient: PeerClient;
  readonly #ttlMs: number;
  readonly #own: { domain: string; publicKey: Uint8Array };
  readonly #now: () => number;
  readonly #cache = new Map<string, { expires: number; key: Promise<Uint8Array> }>();

  constructor(o: { peerClient: PeerClient; ttlMs: number; own: { domain: string; publicKey: Uint8Array }; now?: () => number }) {
    this.#peerClient = o.peerClient;
    this.#ttlMs = o.ttlMs;
    this.#own = o.own;
    this.#now = o.now ?? Date.now;
  }

  /** The discovery key of `domain` (our own without any request). */
  keyOf(domain: string, opts: { refresh?: boolean } = {}): Promise<Uint8Array> {
    if (domain === this.#own.domain) return Promise.resolve(this.#own.publicKey);
    const now = this.#now();
    const cached = this.#cache.get(domain);
    if (cached !== undefined && cached.expires > now && opts.refresh !== true) return cached.key;
    const entry = { expires: now + this.#ttlMs, key: this.#fetch(domain) };
    this.#cache.set(domain, entry);
    entry.key.catch(() => {
      if (this.#cache.get(domain) === entry) this.#cache.delete(domain);
    });
    return entry.key;
  }

  async #fetch(domain: string): Promise<Uint8Array> {
    // MIMI-DISC-12: the answer comes over mutual TLS from `domain` itself, whose certificate the
    // PeerClient checks against the domain (MIMI-PROTO-TLS-02).
    const res = await this.#peerClient.requestUrl(domain, "GET", `${this.#peerClient.baseUrl(domain)}${DISCOVERY_KEY_PATH}`, { headers: { accept: "application/json" } });
    if (res.status !== 200) throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", `${domain} answered ${res.status} for its discovery key`, { details: { peer: domain, status: res.status } });
    return parseKeyDocument(domain, res.body);
  }
}
