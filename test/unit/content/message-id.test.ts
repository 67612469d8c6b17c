// Message IDs (draft-ietf-mimi-content -08 §3.3) and salts (§4.1, §9.2). The vector tests prove
// the formula against the draft's examples; these tests pin the details around it, using
// node:crypto directly as the oracle.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import {
  checkMessageId,
  computeMessageId,
  deriveSalt,
  encodeContent,
  messageIdOfBytes,
  messageIdOfContent,
  newSalt,
  resolveMessageIdUris,
  toHex,
} from "../../../src/content/index.ts";
import { ALICE, MINIMAL, ROOM, SALT, sampleContent, throwsCode } from "./helpers.ts";

const utf8 = (s: string): Buffer => Buffer.from(s, "utf8");
const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);

test("MIMI-CONTENT-25 -08: 0x01 || SHA-256(u16be(len s) || s || u16be(len r) || r || message || salt)[0..30]", () => {
  const message = encodeContent(sampleContent());
  const digest = createHash("sha256")
    .update(Buffer.concat([u16(utf8(ALICE).length), utf8(ALICE), u16(utf8(ROOM).length), utf8(ROOM), message, SALT]))
    .digest();
  const id = computeMessageId({ senderUri: ALICE, roomUri: ROOM, message, salt: SALT });
  assert.equal(id.byteLength, 32);
  assert.equal(id[0], 0x01);
  assert.equal(toHex(id), `01${digest.subarray(0, 31).toString("hex")}`);
  assert.deepEqual(messageIdOfContent(sampleContent()), id);
  assert.deepEqual(messageIdOfBytes(message), id);
});

test("MIMI-CONTENT-26 -07: no length prefixes, so only -08 tells sender 'ab' + room 'c' from 'a' + 'bc' (C.10)", () => {
  const message = MINIMAL;
  const digest07 = createHash("sha256").update(Buffer.concat([utf8(ALICE), utf8(ROOM), message, SALT])).digest();
  assert.equal(toHex(computeMessageId({ senderUri: ALICE, roomUri: ROOM, message, salt: SALT, formula: "-07" })), `01${digest07.subarray(0, 31).toString("hex")}`);
  const split = (senderUri: string, roomUri: string, formula: "-07" | "-08"): string => toHex(computeMessageId({ senderUri, roomUri, message, salt: SALT, formula }));
  assert.equal(split("mimi://x/u/ab", "c", "-07"), split("mimi://x/u/a", "bc", "-07"));
  assert.notEqual(split("mimi://x/u/ab", "c", "-08"), split("mimi://x/u/a", "bc", "-08"));
  throwsCode(() => computeMessageId({ senderUri: ALICE, roomUri: ROOM, message, salt: SALT, formula: "-09" as "-08" }), "MIMI_ERR_CONTENT_SCHEMA", /formula/);
});

test("MIMI-CONTENT-27 URIs come from extensions 1 and 2 unless given; neither gives MIMI_ERR_CONTENT_MISSING_URIS", () => {
  assert.deepEqual(resolveMessageIdUris(sampleContent()), { senderUri: ALICE, roomUri: ROOM });
  assert.deepEqual(resolveMessageIdUris(sampleContent(), { senderUri: "mimi://b.example/u/bob" }), { senderUri: "mimi://b.example/u/bob", roomUri: ROOM });
  // MINIMAL has no extensions: explicit URIs are required.
  throwsCode(() => messageIdOfBytes(MINIMAL), "MIMI_ERR_CONTENT_MISSING_URIS", /senderUri \(extension 1\) and no roomUri/);
  throwsCode(() => messageIdOfBytes(MINIMAL, { senderUri: ALICE }), "MIMI_ERR_CONTENT_MISSING_URIS", /roomUri/);
  assert.deepEqual(messageIdOfBytes(MINIMAL, { senderUri: ALICE, roomUri: ROOM }), computeMessageId({ senderUri: ALICE, roomUri: ROOM, message: MINIMAL, salt: SALT }));
  // An explicit URI overrides the extension and changes the ID.
  const bob = messageIdOfContent(sampleContent(), { senderUri: "mimi://b.example/u/bob" });
  assert.notDeepEqual(bob, messageIdOfContent(sampleContent()));
});

test("MIMI-CONTENT-25 a URI longer than 65535 octets cannot be length-prefixed", () => {
  const long = `mimi://example.com/u/${"x".repeat(65535)}`;
  throwsCode(() => computeMessageId({ senderUri: long, roomUri: ROOM, message: MINIMAL, salt: SALT }), "MIMI_ERR_CONTENT_SCHEMA", /65535/);
  throwsCode(() => computeMessageId({ senderUri: ALICE, roomUri: ROOM, message: MINIMAL, salt: new Uint8Array(8) }), "MIMI_ERR_CONTENT_BAD_SALT");
});

test("MIMI-CONTENT-16 MIMI-CONTENT-17 a message ID is 32 bytes and starts with a known hash algorithm (1 = sha-256)", () => {
  const id = computeMessageId({ senderUri: ALICE, roomUri: ROOM, message: MINIMAL, salt: SALT });
  checkMessageId(id);
  throwsCode(() => checkMessageId(id.subarray(0, 31)), "MIMI_ERR_CONTENT_BAD_MESSAGE_ID");
  const other = Uint8Array.from(id);
  other[0] = 0x07; // sha-384 in the named-information registry: not a MIMI message ID algorithm
  const err = throwsCode(() => checkMessageId(other, "inReplyTo"), "MIMI_ERR_CONTENT_UNKNOWN_HASH_ALG", /^inReplyTo: /);
  assert.equal(err.details?.hashAlg, 7);
});

test("MIMI-CONTENT-35 salts: 16 random bytes each time, or the §9.2 HMAC derivation", () => {
  const a = newSalt();
  const b = newSalt();
  assert.equal(a.byteLength, 16);
  assert.notDeepEqual(a, b);
  const secret = Buffer.from("salt_base_secret exported from the MLS key schedule");
  const nonce = Buffer.from("local nonce 42");
  const expected = createHmac("sha256", secret).update(nonce).digest().subarray(0, 16);
  assert.equal(toHex(deriveSalt(secret, nonce)), expected.toString("hex"));
});
