// Message IDs (draft-ietf-mimi-content -08 §3.3) and salts (§4.1, §9.2).
//
//   -08: hash_output = SHA-256(u16be(len(senderUri)) || senderUri || u16be(len(roomUri)) || roomUri || message || salt)
//   -07: hash_output = SHA-256(senderUri || roomUri || message || salt)      (C.10: the length prefixes are new in -08)
//   messageId = hashAlg (0x01 = sha-256) || hash_output[0..30]
//
// `message` is the entire MIMI content as it was encoded (salt included); the salt is hashed a
// second time to prevent a SHA-256 length-extension attack (§3.3). Peers still on -07 (for
// example phnx-im/mimi-content) compute the old formula, hence the `formula` option.

import { createHash, createHmac, randomBytes } from "node:crypto";
import { MimiError } from "../errors.ts";
import { utf8Bytes } from "./bytes.ts";
import { decodeContent, encodeContent, roomUriOf, senderUriOf } from "./codec.ts";
import type { DecodeContentOptions } from "./codec.ts";
import { MimiContentLimits as L } from "./limits.ts";
import type { MessageId, MimiContent } from "./types.ts";

export type MessageIdFormula = "-08" | "-07";
export const messageIdFormulas: readonly MessageIdFormula[] = ["-08", "-07"];

/** IANA named-information hash algorithm IDs that mimi-bridge can compute (§3.3). */
export const HashAlg = { sha256: 1 } as const;

export interface MessageIdOptions {
  /** Default "-08" (the editor's copy); "-07" for peers on the older formula. */
  formula?: MessageIdFormula;
  /** Overrides extension 1 (senderUri). */
  senderUri?: string;
  /** Overrides extension 2 (roomUri). */
  roomUri?: string;
}

export interface MessageIdInput {
  senderUri: string;
  roomUri: string;
  /** The encoded MIMI content, exactly as sent or received. */
  message: Uint8Array;
  /** The 16-byte salt of that content. */
  salt: Uint8Array;
  formula?: MessageIdFormula;
}

function u16be(n: number): Uint8Array {
  return new Uint8Array([n >> 8, n & 0xff]);
}

function uriBytes(uri: string, what: string): Uint8Array {
  if (typeof uri !== "string" || !uri.isWellFormed()) {
    throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", `${what} must be a text string`, { details: { path: what } });
  }
  const bytes = utf8Bytes(uri);
  // MIMI-CONTENT-25: §3.3 the URI lengths are u16be, so a longer URI has no message ID.
  if (bytes.byteLength > L.maxUriBytes) {
    throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", `${what} is ${bytes.byteLength} octets; a message ID needs at most ${L.maxUriBytes} (§3.3)`, { details: { path: what, limit: L.maxUriBytes } });
  }
  return bytes;
}

/**
 * MIMI-CONTENT-25: §3.3 message ID, -08 formula (u16be length prefixes).
 * MIMI-CONTENT-26: C.10 the -07 formula (no length prefixes) behind `formula: "-07"`.
 */
export function computeMessageId(input: MessageIdInput): MessageId {
  const formula = input.formula ?? "-08";
  if (!messageIdFormulas.includes(formula)) {
    throw new MimiError("MIMI_ERR_CONTENT_SCHEMA", `unknown message ID formula ${String(formula)}; use "-08" or "-07"`);
  }
  if (!(input.salt instanceof Uint8Array) || input.salt.byteLength !== L.saltBytes) {
    throw new MimiError("MIMI_ERR_CONTENT_BAD_SALT", `salt must be ${L.saltBytes} bytes`);
  }
  const sender = uriBytes(input.senderUri, "senderUri");
  const room = uriBytes(input.roomUri, "roomUri");
  const hash = createHash("sha256");
  if (formula === "-08") {
    hash.update(u16be(sender.byteLength)).update(sender).update(u16be(room.byteLength)).update(room);
  } else {
    hash.update(sender).update(room);
  }
  const digest = hash.update(input.message).update(input.salt).digest();
  const id = new Uint8Array(L.messageIdBytes);
  id[0] = HashAlg.sha256;
  id.set(digest.subarray(0, L.messageIdBytes - 1), 1);
  return id;
}

/**
 * The sender and room URIs for the message ID: explicit options first, then extensions 1 and 2
 * (§8.2.1, "both needed for franking and message IDs"). MIMI-CONTENT-27: neither → MISSING_URIS.
 */
export function resolveMessageIdUris(content: MimiContent, options: MessageIdOptions = {}): { senderUri: string; roomUri: string } {
  const senderUri = options.senderUri ?? senderUriOf(content);
  const roomUri = options.roomUri ?? roomUriOf(content);
  if (senderUri === undefined || roomUri === undefined) {
    const missing = [senderUri === undefined ? "senderUri (extension 1)" : "", roomUri === undefined ? "roomUri (extension 2)" : ""].filter(Boolean);
    throw new MimiError("MIMI_ERR_CONTENT_MISSING_URIS", `cannot compute the message ID: no ${missing.join(" and no ")} in the content and none given`, { details: { missing } });
  }
  return { senderUri, roomUri };
}

/** The message ID of content we are about to send: encodes it, then hashes the encoding. */
export function messageIdOfContent(content: MimiContent, options: MessageIdOptions = {}): MessageId {
  const message = encodeContent(content);
  const { senderUri, roomUri } = resolveMessageIdUris(content, options);
  return computeMessageId({ senderUri, roomUri, message, salt: content.salt, formula: options.formula ?? "-08" });
}

/** The message ID of received content: decodes it strictly, then hashes the bytes as received. */
export function messageIdOfBytes(bytes: Uint8Array, options: MessageIdOptions & DecodeContentOptions = {}): MessageId {
  const content = decodeContent(bytes, options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes });
  const { senderUri, roomUri } = resolveMessageIdUris(content, options);
  return computeMessageId({ senderUri, roomUri, message: bytes, salt: content.salt, formula: options.formula ?? "-08" });
}

/**
 * MIMI-CONTENT-16: §4.1 a MessageId is 32 bytes.
 * MIMI-CONTENT-17: §9.1 discard a message ID whose first octet is an unknown hash algorithm.
 */
export function checkMessageId(id: unknown, path = "messageId"): asserts id is MessageId {
  if (!(id instanceof Uint8Array) || id.byteLength !== L.messageIdBytes) {
    throw new MimiError("MIMI_ERR_CONTENT_BAD_MESSAGE_ID", `${path}: message ID must be ${L.messageIdBytes} bytes`, { details: { path } });
  }
  const alg = id[0] ?? -1;
  if (!L.knownHashAlgs.includes(alg)) {
    throw new MimiError("MIMI_ERR_CONTENT_UNKNOWN_HASH_ALG", `${path}: first octet ${alg} is not a known hash algorithm (§3.3, §9.1)`, { details: { path, hashAlg: alg } });
  }
}

/** MIMI-CONTENT-35: §4.1 the salt MUST be cryptographically random. */
export function newSalt(): Uint8Array {
  return new Uint8Array(randomBytes(L.saltBytes));
}

/** §9.2 example derivation: HMAC-SHA256(salt_base_secret, nonce)[0..15], the secret exported from MLS. */
export function deriveSalt(saltBaseSecret: Uint8Array, nonce: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", saltBaseSecret).update(nonce).digest().subarray(0, L.saltBytes));
}
