// What the SDK sends for each message operation, checked byte for byte against the
// draft-ietf-mimi-content examples (../shared/vectors/mimi-content), and how received content is
// interpreted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { decodeContent, encodeContent, toHex } from "../../../src/content/index.ts";
import { buildMessage, interpretMessage, TEXT_MARKDOWN, TEXT_PLAIN, topicIdOfText, topicText } from "../../../src/client-api/sdk/content.ts";
import type { ExternalAttachment, MessageOperation } from "../../../src/client-api/sdk/content.ts";
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

// ---- threads (topicId, content §4.1) and attachments (ExternalPart §4.5) ----------------------------

const SALT = new Uint8Array(16).fill(7);
const FILE: ExternalAttachment = { url: "https://files.example.com/a/notes.txt", contentType: "text/plain", size: 21, filename: "notes.txt", description: "meeting notes" };
const isCode = (code: string) => (e: unknown) => e instanceof MimiError && e.code === code;

test("an attachment without text reproduces the draft's attachment.cbor byte for byte (a lone ExternalPart, disposition attachment)", () => {
  const vector = decodeContent(read("attachment.cbor"));
  const p = vector.nestedPart;
  assert.ok(p.cardinality === "external");
  const attachment: ExternalAttachment = {
    url: p.url,
    contentType: p.contentType,
    size: Number(p.size),
    filename: p.filename,
    description: p.description,
    language: p.language,
    encAlg: p.encAlg,
    key: toHex(p.key),
    nonce: toHex(p.nonce),
    hashAlg: p.hashAlg,
    contentHash: toHex(p.contentHash),
  };
  const built = buildMessage({ senderUri: BOB, roomUri: ROOM, salt: vector.salt }, { kind: "text", text: "", attachments: [attachment] });
  assert.equal(toHex(built.bytes), toHex(read("attachment.cbor")));
  assert.equal(built.messageId, "0176180c7d19a925021fe446d241134d05c38e0d999cdc0f39c391d2377ed9d1");
  const back = interpretMessage(built.bytes);
  assert.equal(back.kind, "text");
  assert.equal(back.text, "");
  assert.deepEqual(back.attachments, [{ ...attachment, aad: "" }], "every field comes back (encryption and hash in hex)");
});

test("text with attachments is a processAll MultiPart: the text part first, then one ExternalPart each; it round-trips", () => {
  const other: ExternalAttachment = { url: "http://media.example.org/cat.png", contentType: "image/png" };
  const built = buildMessage({ senderUri: ALICE, roomUri: ROOM, salt: SALT }, { kind: "text", text: "*two* files", markdown: true, attachments: [FILE, other] });
  const part = built.content.nestedPart;
  assert.ok(part.cardinality === "multi");
  assert.equal(part.partSemantics, "processAll");
  assert.deepEqual(
    part.parts.map((x) => [x.cardinality, x.disposition]),
    [
      ["single", 1],
      ["external", 6],
      ["external", 6],
    ],
  );
  assert.ok(part.parts[0]?.cardinality === "single" && part.parts[0].contentType === TEXT_MARKDOWN);
  const back = interpretMessage(built.bytes);
  assert.equal(back.messageId, built.messageId);
  assert.equal(back.text, "*two* files");
  assert.deepEqual(back.attachments, [FILE, other]);
  assert.equal(back.droppedAttachments, undefined);
  assert.equal(back.topicId, undefined, "no thread: no topicId");
});

test("topicId: sent as hex, carried as bytes, reported as hex; the same salt gives the same message ID, another topic another", () => {
  const root = ORIGINAL;
  const a = buildMessage({ senderUri: ALICE, roomUri: ROOM, salt: SALT }, { kind: "text", text: "in the thread", topicId: root, attachments: [FILE] });
  const b = buildMessage({ senderUri: ALICE, roomUri: ROOM, salt: SALT }, { kind: "text", text: "in the thread", topicId: root.toUpperCase(), attachments: [FILE] });
  assert.equal(toHex(a.content.topicId), root);
  assert.equal(a.messageId, b.messageId, "deterministic for a given salt (and hex case does not matter)");
  assert.equal(toHex(a.bytes), toHex(b.bytes));
  const c = buildMessage({ senderUri: ALICE, roomUri: ROOM, salt: SALT }, { kind: "text", text: "in the thread", topicId: topicIdOfText("xmpp-thread-1"), attachments: [FILE] });
  assert.notEqual(c.messageId, a.messageId, "the topicId is part of the content the ID hashes");
  const back = interpretMessage(a.bytes);
  assert.equal(back.topicId, root);
  assert.equal(interpretMessage(c.bytes).topicId, topicIdOfText("xmpp-thread-1"));
  // edits and deletes carry a topicId too (the SDK passes the first version's)
  const edit = interpretMessage(buildMessage({ senderUri: ALICE, roomUri: ROOM, salt: SALT }, { kind: "edit", replaces: a.messageId, text: "fixed", topicId: root }).bytes);
  assert.equal(edit.kind, "edit");
  assert.equal(edit.topicId, root);
  const del = interpretMessage(buildMessage({ senderUri: ALICE, roomUri: ROOM, salt: SALT }, { kind: "delete", replaces: a.messageId, topicId: root }).bytes);
  assert.equal(del.topicId, root);
});

test("topicIdOfText and topicText: a platform's thread string is its UTF-8; binary topics spell no string", () => {
  assert.equal(topicIdOfText("Zoë's thread"), toHex(new TextEncoder().encode("Zoë's thread")));
  assert.equal(topicText(topicIdOfText("Zoë's thread")), "Zoë's thread");
  assert.equal(topicText("ff00"), undefined, "not UTF-8");
  assert.equal(topicText("0a"), undefined, "a control character");
  assert.equal(topicText(""), undefined);
});

test("limits: a topicId of 4096 bytes is sent, 4097 refused (§9.1); a topicId must be hex", () => {
  const max = "ab".repeat(4096);
  assert.equal(interpretMessage(buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "x", topicId: max }).bytes).topicId, max);
  assert.throws(() => buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "x", topicId: `${max}ab` }), isCode("MIMI_ERR_CONTENT_TOPIC_TOO_LARGE"));
  assert.throws(() => buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "x", topicId: "thread-1" }), isCode("MIMI_ERR_CONTENT_SCHEMA"));
  assert.throws(() => buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "x", topicId: "abc" }), isCode("MIMI_ERR_CONTENT_SCHEMA"), "odd length");
});

test("bad attachments are refused when sending: other URL schemes, relative URLs, bad field values", () => {
  const send = (a: ExternalAttachment) => () => buildMessage({ senderUri: ALICE, roomUri: ROOM }, { kind: "text", text: "x", attachments: [a] });
  for (const url of ["ftp://files.example.com/a.txt", "mxc://hs.example/abc", "javascript:alert(1)", "/relative/path.txt", "https://", "not a url", "data:text/plain,hi", "file:///etc/passwd"]) {
    assert.throws(send({ ...FILE, url }), isCode("MIMI_ERR_CONTENT_BAD_URL"), url);
  }
  assert.throws(send({ ...FILE, contentType: "" }), isCode("MIMI_ERR_CONTENT_SCHEMA"));
  assert.throws(send({ ...FILE, size: -1 }), isCode("MIMI_ERR_CONTENT_SCHEMA"));
  assert.throws(send({ ...FILE, size: 1.5 }), isCode("MIMI_ERR_CONTENT_SCHEMA"));
  assert.throws(send({ ...FILE, expires: 2 ** 32 }), isCode("MIMI_ERR_CONTENT_SCHEMA"), "expires is uint .size 4");
  assert.throws(send({ ...FILE, encAlg: 70_000 }), isCode("MIMI_ERR_CONTENT_SCHEMA"), "encAlg is uint .size 2");
  assert.throws(send({ ...FILE, key: "xyz" }), isCode("MIMI_ERR_CONTENT_SCHEMA"));
});

test("received external parts whose URL is not http(s) are dropped with a reason and their part index; the rest is reported", () => {
  const good = buildMessage({ senderUri: ALICE, roomUri: ROOM, salt: SALT }, { kind: "text", text: "three files", attachments: [FILE, FILE] });
  const content = decodeContent(good.bytes);
  const part = content.nestedPart;
  assert.ok(part.cardinality === "multi");
  const [text, first, second] = part.parts;
  assert.ok(first?.cardinality === "external" && second?.cardinality === "external" && text !== undefined);
  // A sender that is not this SDK: an ftp URL and an unparsable one.
  const crafted = encodeContent({ ...content, nestedPart: { ...part, parts: [text, { ...first, url: "ftp://files.example.com/x" }, second, { ...second, url: "::" }] } });
  const m = interpretMessage(crafted);
  assert.equal(m.text, "three files");
  assert.deepEqual(m.attachments, [FILE]);
  assert.deepEqual(
    m.droppedAttachments?.map((d) => d.partIndex),
    [2, 4],
  );
  assert.match(m.droppedAttachments?.[0]?.reason ?? "", /ftp/);
});
