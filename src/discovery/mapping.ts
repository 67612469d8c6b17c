// Signed SII → SSI mappings of the discovery service (our extension; not part of protocol-06,
// which has no cross-provider discovery). Follows the User Discovery Requirements (digest §5):
//   R1 only the recipient authorises a mapping: the provider holding the account signs it, and only
//      on its user's own request through the client API;
//   R2 every mapping carries a preference tag ("Personal", "Business", …);
//   R4 senders verify authenticity: the querier checks the signature with the signer's discovery
//      key, fetched from the signer over mutual TLS, and that the signer holds the account;
//   R9/R10 removal is a statement signed by the same provider.
//
// Wire form (TLS presentation language on src/codec, like the protocol-06 structs):
//
//   struct {
//     IdentifierUri sii;        /* tel:+<E.164> or mailto:<addr-spec>, canonical */
//     IdentifierUri ssi;        /* mimi://<signer>/u/<name> */
//     opaque tag<V>;            /* UTF-8 preference tag, 1..32 characters */
//     opaque signer<V>;         /* the signing provider's domain */
//     uint64 issued_at;         /* ms since the Unix epoch */
//     uint64 expires_at;
//   } DiscoveryMapping;
//   struct { DiscoveryMapping mapping; opaque signature<V>; } SignedDiscoveryMapping;
//   struct { IdentifierUri sii; IdentifierUri ssi; opaque tag<V>; /* "" = every tag */
//            opaque signer<V>; uint64 removed_at; } DiscoveryRemoval;
//   struct { DiscoveryRemoval removal; opaque signature<V>; } SignedDiscoveryRemoval;
//   struct { IdentifierUri sii; } DiscoveryLookupRequest;
//   struct { SignedDiscoveryMapping mappings<V>; opaque padding<V>; } DiscoveryLookupResponse;
//
// signature = Ed25519 over SignContent { opaque label<V>; opaque content<V>; } with label
// "MIMI-bridge discovery 1.0 " + ("DiscoveryMapping" | "DiscoveryRemoval") and content the encoded
// struct: the RFC 9420 §5.1.2 SignWithLabel construction with our own label prefix, so these
// signatures can never be mistaken for MLS ones.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, verify as edVerify } from "node:crypto";
import type { KeyObject } from "node:crypto";
import { decodeExact, encode, opaqueV, struct, uint64, utf8V, varintSize, vectorV } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import { parseMailtoUri, parseTelUri, tryParseMimiUri } from "../ids/index.ts";
import { IdentifierUri } from "../protocol/identifierUri.ts";
import { isProviderDomain } from "../transport/peerIdentity.ts";

export const DiscoveryMapping = struct("DiscoveryMapping", [
  ["sii", IdentifierUri],
  ["ssi", IdentifierUri],
  ["tag", utf8V],
  ["signer", utf8V],
  ["issuedAt", uint64],
  ["expiresAt", uint64],
]);
export type DiscoveryMapping = Infer<typeof DiscoveryMapping>;

export const SignedDiscoveryMapping = struct("SignedDiscoveryMapping", [
  ["mapping", DiscoveryMapping],
  ["signature", opaqueV],
]);
export type SignedDiscoveryMapping = Infer<typeof SignedDiscoveryMapping>;

export const DiscoveryRemoval = struct("DiscoveryRemoval", [
  ["sii", IdentifierUri],
  ["ssi", IdentifierUri],
  ["tag", utf8V],
  ["signer", utf8V],
  ["removedAt", uint64],
]);
export type DiscoveryRemoval = Infer<typeof DiscoveryRemoval>;

export const SignedDiscoveryRemoval = struct("SignedDiscoveryRemoval", [
  ["removal", DiscoveryRemoval],
  ["signature", opaqueV],
]);
export type SignedDiscoveryRemoval = Infer<typeof SignedDiscoveryRemoval>;

export const DiscoveryLookupRequest = struct("DiscoveryLookupRequest", [["sii", IdentifierUri]]);
export type DiscoveryLookupRequest = Infer<typeof DiscoveryLookupRequest>;

export const DiscoveryLookupResponse = struct("DiscoveryLookupResponse", [
  ["mappings", vectorV(SignedDiscoveryMapping)],
  ["padding", opaqueV],
]);
export type DiscoveryLookupResponse = Infer<typeof DiscoveryLookupResponse>;

const SignContent = struct("DiscoverySignContent", [
  ["label", opaqueV],
  ["content", opaqueV],
]);

export const SIGNATURE_LABEL_PREFIX = "MIMI-bridge discovery 1.0 ";
const utf8 = new TextEncoder();

function signContent(label: "DiscoveryMapping" | "DiscoveryRemoval", content: Uint8Array): Uint8Array {
  return encode(SignContent, { label: utf8.encode(SIGNATURE_LABEL_PREFIX + label), content });
}

// ---- keys ------------------------------------------------------------------------------------------

/** A provider's discovery signing key (Ed25519, RFC 8032). */
export interface DiscoveryKeyPair {
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

export function generateDiscoveryKey(): DiscoveryKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, publicKey: rawPublicKey(publicKey) };
}

function rawPublicKey(k: KeyObject): Uint8Array {
  const x = k.export({ format: "jwk" }).x;
  if (typeof x !== "string") throw new MimiError("MIMI_ERR_INTERNAL", "Ed25519 key without x");
  return new Uint8Array(Buffer.from(x, "base64url"));
}

/** The key pair from a PKCS#8 DER private key. */
export function discoveryKeyFromPkcs8(der: Uint8Array): DiscoveryKeyPair {
  const privateKey = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
  if (privateKey.asymmetricKeyType !== "ed25519") throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", "the discovery key is not an Ed25519 key");
  return { privateKey, publicKey: rawPublicKey(createPublicKey(privateKey)) };
}

export function pkcs8Of(key: DiscoveryKeyPair): Uint8Array {
  return new Uint8Array(key.privateKey.export({ format: "der", type: "pkcs8" }));
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", `an Ed25519 public key is 32 bytes, not ${raw.length}`);
  return createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(raw).toString("base64url") }, format: "jwk" });
}

// ---- validation --------------------------------------------------------------------------------

export const MAX_TAG_CHARS = 32;
/** Tags a user may pick from (R2); any other 1..32-character tag is accepted as well. */
export const SUGGESTED_TAGS = ["Personal", "Business", "Work", "Home", "Mobile"] as const;

/** The canonical SII (tel: E.164 or mailto: addr-spec), or a MimiError of the ids parsers. */
export function canonicalSii(input: string): string {
  const v = input.trim();
  if (/^tel:/i.test(v)) return parseTelUri(v).uri;
  if (/^mailto:/i.test(v)) return parseMailtoUri(v).uri;
  throw new MimiError("MIMI_ERR_ID_UNSUPPORTED", "an SII is a tel: (E.164) or mailto: URI");
}

/** A preference tag: 1..32 characters, letters, digits, space, "-", "_", "." (R2). */
export function checkTag(tag: string): string {
  const t = tag.normalize("NFC").trim();
  if (t.length === 0 || [...t].length > MAX_TAG_CHARS || !/^[\p{L}\p{N}][\p{L}\p{N} ._-]*$/u.test(t)) {
    throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `a preference tag is 1 to ${MAX_TAG_CHARS} letters, digits, spaces, ".", "_" or "-", e.g. ${SUGGESTED_TAGS.join(", ")}`);
  }
  return t;
}

/**
 * Who and what a mapping or removal is about: MIMI-DISC-13, the SSI is a MIMI user URI on the
 * signer's own domain (a provider vouches only for its own users); the SII is canonical; the tag
 * is valid (a removal may leave it empty: every tag). Returns the reason it fails, or undefined.
 */
export function subjectProblem(s: { sii: IdentifierUri; ssi: IdentifierUri; tag: string; signer: string }, allowEmptyTag = false): string | undefined {
  if (!isProviderDomain(s.signer)) return "the signer is not a provider domain";
  const ssi = tryParseMimiUri(s.ssi.uri);
  if (ssi?.kind !== "user" || ssi.uri !== s.ssi.uri) return "the SSI is not a canonical MIMI user URI";
  if (ssi.host !== s.signer) return `the signer ${s.signer} does not hold ${s.ssi.uri}: a provider vouches only for its own users`;
  try {
    if (canonicalSii(s.sii.uri) !== s.sii.uri) return "the SII is not canonical";
  } catch {
    return "the SII is not a tel: or mailto: URI";
  }
  if (allowEmptyTag && s.tag === "") return undefined;
  try {
    if (checkTag(s.tag) !== s.tag) return "the tag is not canonical";
  } catch {
    return "the tag is not valid";
  }
  return undefined;
}

/** True when subjectProblem's reason is MIMI-DISC-13 (a provider vouching for another's user). */
export function isNotAuthoritative(reason: string): boolean {
  return reason.includes("vouches only");
}

/**
 * The rules every mapping must follow, whoever checks it (the discovery service when it is
 * published, the querier when it is received): subjectProblem, and a sane validity period that is
 * not over. Returns the reason it fails, or undefined.
 */
export function mappingProblem(m: DiscoveryMapping, now: number, maxTtlMs: number): string | undefined {
  const subject = subjectProblem(m);
  if (subject !== undefined) return subject;
  const issued = Number(m.issuedAt);
  const expires = Number(m.expiresAt);
  if (issued > now + CLOCK_SKEW_MS) return "issued in the future";
  if (expires <= now) return "expired";
  if (expires <= issued || expires - issued > maxTtlMs) return "the validity period is not sane";
  return undefined;
}

/** The rules of a removal: subjectProblem (the tag may be empty) and a date not in the future. */
export function removalProblem(r: DiscoveryRemoval, now: number): string | undefined {
  const subject = subjectProblem(r, true);
  if (subject !== undefined) return subject;
  if (Number(r.removedAt) > now + CLOCK_SKEW_MS) return "removal dated in the future";
  return undefined;
}

/** Tolerated difference between providers' clocks. */
export const CLOCK_SKEW_MS = 5 * 60_000;

// ---- sign and verify -------------------------------------------------------------------------------

export function signMapping(key: DiscoveryKeyPair, mapping: DiscoveryMapping): SignedDiscoveryMapping {
  const signature = new Uint8Array(edSign(null, signContent("DiscoveryMapping", encode(DiscoveryMapping, mapping)), key.privateKey));
  return { mapping, signature };
}

export function signRemoval(key: DiscoveryKeyPair, removal: DiscoveryRemoval): SignedDiscoveryRemoval {
  const signature = new Uint8Array(edSign(null, signContent("DiscoveryRemoval", encode(DiscoveryRemoval, removal)), key.privateKey));
  return { removal, signature };
}

/** MIMI-DISC-12: whether the mapping's signature verifies with the signer's public key. */
export function mappingSignatureValid(publicKey: Uint8Array, signed: SignedDiscoveryMapping): boolean {
  try {
    return edVerify(null, signContent("DiscoveryMapping", encode(DiscoveryMapping, signed.mapping)), publicKeyObject(publicKey), signed.signature);
  } catch {
    return false;
  }
}

export function removalSignatureValid(publicKey: Uint8Array, signed: SignedDiscoveryRemoval): boolean {
  try {
    return edVerify(null, signContent("DiscoveryRemoval", encode(DiscoveryRemoval, signed.removal)), publicKeyObject(publicKey), signed.signature);
  } catch {
    return false;
  }
}

export interface VerifyContext {
  /** The SII that was asked for. */
  readonly sii: string;
  readonly now: number;
  readonly maxTtlMs: number;
  /** The signer's discovery public key (fetched over mutual TLS from the signer; cached). */
  keyOf(domain: string, opts?: { refresh?: boolean }): Promise<Uint8Array>;
}

export type VerifyResult = { readonly ok: true; readonly mapping: DiscoveryMapping } | { readonly ok: false; readonly reason: string };

/**
 * The querier's check of one received mapping (R4): the SII is the one asked for, the rules of
 * mappingProblem hold (MIMI-DISC-13: signer = the SSI's provider), and the signature verifies with
 * the signer's key (MIMI-DISC-12). A failed signature is tried once more with a freshly fetched
 * key (the signer may have rotated it).
 */
export async function verifyMapping(signed: SignedDiscoveryMapping, ctx: VerifyContext): Promise<VerifyResult> {
  const m = signed.mapping;
  if (m.sii.uri !== ctx.sii) return { ok: false, reason: "the mapping is for another SII" };
  const problem = mappingProblem(m, ctx.now, ctx.maxTtlMs);
  if (problem !== undefined) return { ok: false, reason: problem };
  let key: Uint8Array;
  try {
    key = await ctx.keyOf(m.signer);
  } catch (err) {
    return { ok: false, reason: `no discovery key from ${m.signer}: ${err instanceof MimiError ? err.code : "error"}` };
  }
  if (mappingSignatureValid(key, signed)) return { ok: true, mapping: m };
  try {
    key = await ctx.keyOf(m.signer, { refresh: true });
  } catch {
    return { ok: false, reason: "the signature does not verify" };
  }
  return mappingSignatureValid(key, signed) ? { ok: true, mapping: m } : { ok: false, reason: "the signature does not verify" };
}

// ---- lookup answers ------------------------------------------------------------------------------

/** Lookup answers are padded to a multiple of this many bytes (R8: uniform answers). */
export const LOOKUP_PADDING_BLOCK = 1024;

/** A DiscoveryLookupResponse padded to a multiple of LOOKUP_PADDING_BLOCK bytes. */
export function encodeLookupResponse(mappings: readonly SignedDiscoveryMapping[]): Uint8Array {
  const bare = encode(DiscoveryLookupResponse, { mappings: [...mappings], padding: new Uint8Array(0) }).length - 1;
  for (let target = Math.ceil((bare + 1) / LOOKUP_PADDING_BLOCK) * LOOKUP_PADDING_BLOCK; ; target += LOOKUP_PADDING_BLOCK) {
    for (const prefix of [1, 2, 4]) {
      const pad = target - bare - prefix;
      if (pad >= 0 && varintSize(pad) === prefix) return encode(DiscoveryLookupResponse, { mappings: [...mappings], padding: new Uint8Array(pad) });
    }
  }
}

export function decodeLookupResponse(bytes: Uint8Array): DiscoveryLookupResponse {
  return decodeExact(DiscoveryLookupResponse, bytes);
}
