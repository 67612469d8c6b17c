// Ciphersuites (RFC 9420 §17.1) and crypto provider selection.
import { MimiError } from "../errors.ts";
import { ciphersuites, defaultCryptoProvider, getCiphersuiteFromName, getCiphersuiteImpl } from "ts-mls";
import type { CiphersuiteImpl, CiphersuiteName } from "ts-mls";
import { mlsCall } from "./mlsErrors.ts";
import { nativeCryptoProvider } from "./nativeCrypto.ts";

export type CipherSuiteName = CiphersuiteName;

/** Which CryptoProvider implements the suite: Node's native crypto, or ts-mls's default (WebCrypto + @hpke/core). */
export type CryptoProviderName = "native" | "default";

/** RFC 9420 §17.1 mandatory-to-implement suite, our default. */
export const DEFAULT_CIPHERSUITE: CipherSuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
export const DEFAULT_CRYPTO_PROVIDER: CryptoProviderName = "native";

/** The suite name of an RFC 9420 CipherSuite number, or undefined. */
export function cipherSuiteName(id: number): CipherSuiteName | undefined {
  for (const [name, value] of Object.entries(ciphersuites)) if (value === id) return name as CipherSuiteName;
  return undefined;
}

/** The RFC 9420 CipherSuite number of a suite name. */
export function cipherSuiteId(name: CipherSuiteName): number {
  return ciphersuites[name];
}

export function isCipherSuiteName(name: string): name is CipherSuiteName {
  return Object.hasOwn(ciphersuites, name);
}

const cache = new Map<string, Promise<CiphersuiteImpl>>();

/** The (cached) ts-mls implementation of a suite on the chosen provider. */
export function suiteImpl(name: CipherSuiteName, provider: CryptoProviderName = DEFAULT_CRYPTO_PROVIDER): Promise<CiphersuiteImpl> {
  if (!isCipherSuiteName(name)) {
    return Promise.reject(new MimiError("MIMI_ERR_MLS_UNSUPPORTED_CIPHERSUITE", `unknown MLS ciphersuite ${String(name)}`, { details: { cipherSuite: String(name) } }));
  }
  const key = `${provider}:${name}`;
  let p = cache.get(key);
  if (p === undefined) {
    p = mlsCall(`ciphersuite ${name} (${provider})`, "MIMI_ERR_MLS_UNSUPPORTED_CIPHERSUITE", () =>
      getCiphersuiteImpl(getCiphersuiteFromName(name), provider === "native" ? nativeCryptoProvider : defaultCryptoProvider),
    );
    cache.set(key, p);
    p.catch(() => cache.delete(key));
  }
  return p;
}
