// What the SDK sends for each message operation, checked byte for byte against the
// draft-ietf-mimi-content examples (../shared/vectors/mimi-content), and how received content is
// interpreted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeContent, toHex } from "../../../src/content/index.ts";
import { buildMessage, interpretMessage, TEXT_MARKDOWN, TEXT_PLAIN } from "../../../src/client-api/sdk/content.ts";
import type { MessageOperation } from "../../../src/client-api/sdk/content.ts";
import { MimiError } from "../../../src/errors.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const vectorDir = path.resolve(repoRoot, "../shared/vectors/mimi-content");
const read = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(vectorDir, name)));

const ROOM = "mimi://example.com/r/engineering_team";
const ALICE = "mimi://example.com/u/alice-smith";
const BOB = "mimi://example.com/u/bob-jones";
const CATHY = "mimi://example.com/u/cathy-washington";
const ORIGINAL = "017ce54837404c3696e0c747b985cb172716d0ed0a3d249ca63ace7d82a096f4";
const REPLY = "015354973c2b65ca937bf1e035ae53a5ab80e947afa43d46920d4202e5cc0b27";
const REACTION = "0158c4288911e50a8f6be3f47746b6682f10fd91bc8c05557aa589a3157aff68";

/** The salt of a vector (its first field), so a build can reproduce it. */
function saltOf(name: string): Uint8Array {
  return decodeContent(read(name)).salt;
}

const cases: { name: string; sender: string; op: MessageOperation; id: string }[] = [
  { name: "original.cbor", sender: ALICE, op: { kind: "text", markdown: true, text: "Hi everyone, we just shipped release 2.0. __Good  work__!" }, id: ORIGINAL },
  { name: "reply.cbor", sender: BOB, op: { kind: "text", markdown: true, text: "Right on! _Congratulations_ 'all!", inReplyTo: ORIGINAL }, id: REPLY },
  { name: "edit.cbor", sender: BOB, op: { kind: "edit", markdown: true, text: "Right on! _Congratulations_ y'all!", replaces: REPLY, inReplyTo: ORIGINAL }, id: "014028c0deddbdea56bec26172f6ede953d11024cb82b8192b5e2aea62d7fb47" },
  { name: "reaction.cbor", sender: CATHY, op: { kind: "reaction", inReplyTo: ORIGINAL, reaction: "\u2764" }, id: REACTION },
  { name: "unlike.cbor", sender: CATHY, op: { kind: "unreact", replaces: REACTION, inReplyTo: ORIGINAL }, id: "013aadbb8f313253c8930f4e93c6ca54b2ed06d258185bdcec3870534c8a4ec4" },
  { name: "delete.cbor", sender: BOB, op: { kind: "delete", replaces: REPLY, inReplyTo: ORIGINAL }, id: "011d9efc78d04d4dcf4d82b07d5199bbef37011c1f0c7e004b6111c6dda504b4" },
];

for (const c of cases) {
  test(`buildMessage ${c.op.kind} reproduces ${c.name} byte for byte, with its -08 message ID`, () => {
    const built = buildMessage({ senderUri: c.sender, roomUri: ROOM, salt: saltOf(c.name) }, c.op);
    assert.equal(toHex(built.bytes), toHex(read(c.name)));
    assert.equal(built.messageId, c.id);
  });
}

test("interpretMessage says what each example is, with its references", () => {
  const original = interpretMessage(read("original.cbor"));
  assert.equal(original.kind, "text");
  assert.equal(original.messageId, ORIGINAL);
  assert.equal(original.text, "Hi everyone, we just shipped release 2.0. __Good  work__!");
  assert.equal(original.senderUri, ALICE);
  assert.equal(original.roomUri, ROOM);
  assert.equal(original.replaces, undefined);

  const reply = interpretMessage(read("reply.cbor"));
  assert.equal(reply.kind, "text");
  assert.equal(reply.inReplyTo, ORIGINAL);

  const edit = interpretMessage(read("edit.cbor"));
  assert.equal(edit.kind, "edit");
  assert.equal(edit.replaces, REPLY);
  assert.equal(edit.text, "Right on! _Congratulations_ y'all!");

  const reaction = interpretMessage(read("reaction.cbor"));
  assert.equal(reaction.kind, "reaction");
  assert.equal(reaction.reaction, "\u2764");
  assert.equal(reaction.inReplyTo, ORIGINAL);

  const unlike = interpretMessage(read("unlike.cbor"));
  assert.equal(unlike.kind, "unreact");
  assert.equal(unlike.replaces, REACTION);
  assert.equal(unlike.deleted, true);

  const del = interpretMessage(read("delete.cbor"));
  assert.equal(del.kind, "delete");
  assert.equal(del.replaces, REPLY);
  assert.equal(del.deleted, true);
  assert.equal(del.text, "");
});

test("every built message carries senderUri and roomUri, a fresh 16-byte salt, and plain text unless markdown", () => {
  const a = buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "hello" });
  const b = buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "hello" });
  assert.notEqual(a.messageId, b.messageId, "random salts give different message IDs");
  assert.equal(a.content.salt.length, 16);
  assert.equal(a.content.mimiExtensions.get(1), ALICE);
  assert.equal(a.content.mimiExtensions.get(2), ROOM);
  assert.ok(a.content.nestedPart.cardinality === "single" && a.content.nestedPart.contentType === TEXT_PLAIN);
  const md = buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "*hi*", markdown: true });
  assert.ok(md.content.nestedPart.cardinality === "single" && md.content.nestedPart.contentType === TEXT_MARKDOWN);
  // round trip through the receiver
  const back = interpretMessage(a.bytes);
  assert.equal(back.messageId, a.messageId);
  assert.equal(back.text, "hello");
});

test("bad references and empty reactions are refused", () => {
  assert.throws(() => buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "x", inReplyTo: "abcd" }), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_CONTENT_BAD_MESSAGE_ID");
  assert.throws(() => buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "reaction", inReplyTo: ORIGINAL, reaction: "" }), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_CONTENT_SCHEMA");
  assert.throws(() => interpretMessage(new Uint8Array([1, 2, 3])), (e: unknown) => e instanceof MimiError && e.code.startsWith("MIMI_ERR_CONTENT_"));
});
