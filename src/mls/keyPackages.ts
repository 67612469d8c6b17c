// KeyPackages (RFC 9420 §10): generation with MIMI capabilities, KeyPackageRef (§5.2),
// lifetime checks (§7.2, §10.1) and last-resort KeyPackages (draft-ietf-mls-extensions-09 §6.4).
import { decodeMlsMessage, encodeMlsMessage, generateKeyPackageWithKey } from "ts-mls";
import type { Capabilities, CiphersuiteImpl, Extension, KeyPackage, PrivateKeyPackage } from "ts-mls";
import { decodeKeyPackage as tsDecodeBareKeyPackage, makeKeyPackageRef, verifyKeyPackage } from "ts-mls/keyPackage.js";
import { verifyLeafNodeSignatureKeyPackage } from "ts-mls/leafNode.js";
import { MimiError } from "../errors.ts";
import { ExtensionTypeId, ProposalTypeId, decodeAppDataDictionary, encodeAppDataDictionary } from "./appData.ts";
import { bytesEqual } from "./codecUtil.ts";
import { MlsComponentId } from "./components.ts";
import { createAuthenticationService, parseClientCredential } from "./credentials.ts";
import type { CredentialCheck, MimiClientIdentity } from "./credentials.ts";
import { mlsCall, mlsCallSync } from "./mlsErrors.ts";
import { suiteImpl, type CipherSuiteName } from "./suites.ts";

/** Default KeyPackage lifetime: 28 days. */
export const DEFAULT_KEY_PACKAGE_LIFETIME_SECONDS = 28 * 24 * 3600;
/** notBefore is set this far in the past, so peers with a slightly slow clock accept it. */
export const KEY_PACKAGE_CLOCK_SKEW_SECONDS = 300;

/**
 * The LeafNode capabilities every MIMI client advertises (RFC 9420 §7.2): the suite, BasicCredentials,
 * the app_data_dictionary extension and the app_data_update proposal, so that it can be added to
 * MIMI rooms (MIMI-MLS-17: RFC 9420 §12.2, a non-default proposal type is only valid if every
 * member supports it; §12.1.7/§11.1, GroupContext extensions must be supported by joiners).
 */
export function mimiCapabilities(cipherSuite: CipherSuiteName): Capabilities {
  return {
    versions: ["mls10"],
    ciphersuites: [cipherSuite],
    extensions: [ExtensionTypeId.app_data_dictionary],
    proposals: [ProposalTypeId.app_data_update],
    credentials: ["basic"],
  };
}

/** The KeyPackage extension that marks a last-resort KeyPackage (mls-extensions-09 §6.4.2). */
export function lastResortExtension(): Extension {
  return {
    extensionType: ExtensionTypeId.app_data_dictionary,
    extensionData: encodeAppDataDictionary({ componentData: [{ componentId: MlsComponentId.last_resort_key_package, data: new Uint8Array(0) }] }),
  };
}

/**
 * MIMI-MLS-07: mls-extensions-09 §6.4 a last-resort KeyPackage carries the
 * last_resort_key_package component (empty data) in its app_data_dictionary extension.
 */
export function isLastResortKeyPackage(kp: KeyPackage): boolean {
  const ext = kp.extensions.find((e) => e.extensionType === ExtensionTypeId.app_data_dictionary);
  if (ext === undefined) return false;
  try {
    return decodeAppDataDictionary(ext.extensionData).componentData.some((c) => c.componentId === MlsComponentId.last_resort_key_package);
  } catch {
    return false;
  }
}

export interface KeyPackageLifetime {
  /** Seconds since the Unix epoch. */
  readonly notBefore: bigint;
  readonly notAfter: bigint;
}

export function keyPackageLifetime(kp: KeyPackage): KeyPackageLifetime {
  return { notBefore: kp.leafNode.lifetime.notBefore, notAfter: kp.leafNode.lifetime.notAfter };
}

function nowSeconds(now: Date = new Date()): bigint {
  return BigInt(Math.floor(now.getTime() / 1000));
}

/** MIMI-MLS-06: RFC 9420 §7.2 the current time must be within [not_before, not_after]. */
export function isKeyPackageExpired(kp: KeyPackage, now: Date = new Date()): boolean {
  const t = nowSeconds(now);
  const { notBefore, notAfter } = keyPackageLifetime(kp);
  return t < notBefore || t > notAfter;
}

/** Throws MIMI_ERR_MLS_KEY_PACKAGE_EXPIRED unless the KeyPackage is within its lifetime. */
export function assertKeyPackageCurrent(kp: KeyPackage, now: Date = new Date()): void {
  if (isKeyPackageExpired(kp, now)) {
    const { notBefore, notAfter } = keyPackageLifetime(kp);
    throw new MimiError("MIMI_ERR_MLS_KEY_PACKAGE_EXPIRED", undefined, {
      details: { notBefore: notBefore.toString(), notAfter: notAfter.toString(), now: nowSeconds(now).toString() },
    });
  }
}

/** MIMI-MLS-08: RFC 9420 §5.2 KeyPackageRef = RefHash("MLS 1.0 KeyPackage Reference", KeyPackage). */
export function keyPackageRef(kp: KeyPackage, cs: CiphersuiteImpl): Promise<Uint8Array> {
  return mlsCall("KeyPackageRef", "MIMI_ERR_MLS_KEY_PACKAGE_INVALID", () => makeKeyPackageRef(kp, cs.hash));
}

/** KeyPackage as an MLSMessage (wire_format mls_key_package), as MIMI carries it. */
export function encodeKeyPackage(kp: KeyPackage): Uint8Array {
  return mlsCallSync("encode KeyPackage", "MIMI_ERR_MLS_KEY_PACKAGE_INVALID", () =>
    encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp }),
  );
}

/** Decodes an MLSMessage holding a KeyPackage; the message must span `bytes` exactly. */
export function decodeKeyPackage(bytes: Uint8Array): KeyPackage {
  return mlsCallSync("decode KeyPackage", "MIMI_ERR_MLS_KEY_PACKAGE_INVALID", () => {
    const decoded = decodeMlsMessage(bytes, 0);
    if (decoded === undefined || decoded[1] !== bytes.length || decoded[0].wireformat !== "mls_key_package") {
      throw new MimiError("MIMI_ERR_MLS_KEY_PACKAGE_INVALID", "not an MLSMessage holding exactly one KeyPackage");
    }
    return decoded[0].keyPackage;
  });
}

export interface GenerateKeyPackageOptions {
  /** Lifetime in seconds from now (default 28 days). */
  readonly lifetimeSeconds?: number;
  /** Mark as last resort (mls-extensions-09 §6.4). */
  readonly lastResort?: boolean;
  readonly now?: Date;
}

export interface GeneratedKeyPackage {
  readonly keyPackage: KeyPackage;
  /** The KeyPackage as an MLSMessage. */
  readonly encoded: Uint8Array;
  readonly keyPackageRef: Uint8Array;
  readonly lastResort: boolean;
  readonly notAfter: bigint;
  /** Secrets: init and leaf HPKE private keys and the signature key. Store encrypted, mode 0600. */
  readonly privateKeys: PrivateKeyPackage;
}

/** One KeyPackage for a client with a given signature key pair. */
export async function generateMimiKeyPackage(
  cs: CiphersuiteImpl,
  credentialIdentity: MimiClientIdentity,
  credential: Parameters<typeof generateKeyPackageWithKey>[0],
  signatureKeyPair: { signKey: Uint8Array; publicKey: Uint8Array },
  options: GenerateKeyPackageOptions = {},
): Promise<GeneratedKeyPackage> {
  const lifetimeSeconds = options.lifetimeSeconds ?? DEFAULT_KEY_PACKAGE_LIFETIME_SECONDS;
  if (!Number.isSafeInteger(lifetimeSeconds) || lifetimeSeconds <= 0) {
    throw new MimiError("MIMI_ERR_MLS_KEY_PACKAGE_INVALID", "lifetimeSeconds must be a positive integer", { details: { lifetimeSeconds } });
  }
  const now = nowSeconds(options.now);
  const lifetime = { notBefore: now - BigInt(KEY_PACKAGE_CLOCK_SKEW_SECONDS), notAfter: now + BigInt(lifetimeSeconds) };
  const lastResort = options.lastResort === true;
  const { publicPackage, privatePackage } = await mlsCall(`generate KeyPackage for ${credentialIdentity.clientUri}`, "MIMI_ERR_INTERNAL", () =>
    generateKeyPackageWithKey(credential, mimiCapabilities(cs.name), lifetime, lastResort ? [lastResortExtension()] : [], signatureKeyPair, cs),
  );
  return {
    keyPackage: publicPackage,
    encoded: encodeKeyPackage(publicPackage),
    keyPackageRef: await keyPackageRef(publicPackage, cs),
    lastResort,
    notAfter: lifetime.notAfter,
    privateKeys: privatePackage,
  };
}

export interface KeyPackageInfo {
  readonly identity: MimiClientIdentity;
  readonly cipherSuite: CipherSuiteName;
  readonly keyPackageRef: Uint8Array;
  readonly lastResort: boolean;
  readonly lifetime: KeyPackageLifetime;
  readonly signaturePublicKey: Uint8Array;
}

/**
 * Validates a KeyPackage received from a peer (RFC 9420 §10.1): suite, signatures of the
 * KeyPackage and its LeafNode, init_key differs from the encryption key, MIMI credential form and
 * caller checks (MIMI-MLS-03), lifetime (MIMI-MLS-06), and the MIMI capabilities (MIMI-MLS-17).
 */
export async function validateKeyPackage(
  kp: KeyPackage,
  cs: CiphersuiteImpl,
  options: { readonly checks?: readonly CredentialCheck[]; readonly now?: Date } = {},
): Promise<KeyPackageInfo> {
  const invalid = (reason: string): MimiError => new MimiError("MIMI_ERR_MLS_KEY_PACKAGE_INVALID", `KeyPackage is invalid: ${reason}`, { details: { reason } });
  if (kp.version !== "mls10") throw invalid("version is not mls10");
  if (kp.cipherSuite !== cs.name) throw invalid(`cipher suite ${kp.cipherSuite} is not ${cs.name}`);
  if (kp.leafNode.leafNodeSource !== "key_package") throw invalid("leaf node source is not key_package");
  const sigOk = await mlsCall("verify KeyPackage", "MIMI_ERR_MLS_KEY_PACKAGE_INVALID", async () =>
    (await verifyKeyPackage(kp, cs.signature)) && (await verifyLeafNodeSignatureKeyPackage(kp.leafNode, cs.signature)),
  );
  if (!sigOk) throw invalid("signature does not verify");
  if (bytesEqual(kp.initKey, kp.leafNode.hpkePublicKey)) throw invalid("init_key equals the leaf encryption key");
  const identity = parseClientCredential(kp.leafNode.credential);
  const as = createAuthenticationService(options.checks ?? []);
  if (!(await as.validateCredential(kp.leafNode.credential, kp.leafNode.signaturePublicKey))) {
    throw new MimiError("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `MLS credential rejected: ${as.rejection ?? "rejected"}`, { details: { reason: as.rejection } });
  }
  assertKeyPackageCurrent(kp, options.now);
  const caps = kp.leafNode.capabilities;
  if (!caps.extensions.includes(ExtensionTypeId.app_data_dictionary) || !caps.proposals.includes(ProposalTypeId.app_data_update)) {
    throw invalid("capabilities lack app_data_dictionary or app_data_update");
  }
  return {
    identity,
    cipherSuite: kp.cipherSuite,
    keyPackageRef: await keyPackageRef(kp, cs),
    lastResort: isLastResortKeyPackage(kp),
    lifetime: keyPackageLifetime(kp),
    signaturePublicKey: kp.leafNode.signaturePublicKey,
  };
}

/**
 * Verifies an encoded KeyPackage (bare, as clients upload and peers return it) with
 * validateKeyPackage, for a provider that stores or forwards it. Throws
 * MIMI_ERR_MLS_KEY_PACKAGE_INVALID (or _EXPIRED, _UNSUPPORTED_CIPHERSUITE).
 */
export async function verifyKeyPackageBytes(bytes: Uint8Array, options: { readonly checks?: readonly CredentialCheck[]; readonly now?: Date } = {}): Promise<KeyPackageInfo> {
  const kp = mlsCallSync("decode KeyPackage", "MIMI_ERR_MLS_KEY_PACKAGE_INVALID", () => {
    const decoded = tsDecodeBareKeyPackage(bytes, 0);
    if (decoded === undefined || decoded[1] !== bytes.length) throw new MimiError("MIMI_ERR_MLS_KEY_PACKAGE_INVALID", "not exactly one KeyPackage");
    return decoded[0];
  });
  return validateKeyPackage(kp, await suiteImpl(kp.cipherSuite), options);
}
