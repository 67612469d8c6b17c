// The draft-ietf-mimi-content examples in ../shared/vectors/mimi-content (see its README.md):
// every content vector decodes strictly, re-encodes byte for byte and reproduces the message ID
// in the header of its .edn file. The list of vectors comes from the folder, so a new vector is
// picked up without editing this file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  bytesEqual,
  contentFromJson,
  contentToJson,
  decodeContent,
  decodeMessageDerivedValues,
  encodeContent,
  encodeMessageDerivedValues,
  inspectContent,
  messageIdOfBytes,
  messageIdOfContent,
  toHex,
} from "../../src/content/index.ts";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const vectorDir = path.resolve(repoRoot, "../shared/vectors/mimi-content");
const folderExists = existsSync(vectorDir);
const cborFiles = folderExists ? readdirSync(vectorDir).filter((n) => n.endsWith(".cbor")).sort() : [];
const impliedFiles = cborFiles.filter((n) => n.startsWith("implied-"));
const contentFiles = cborFiles.filter((n) => !n.startsWith("implied-"));

const read = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(vectorDir, name)));

/** The hex of `# message ID = h'…'` in an .edn header, which may continue on `#` lines. */
function ednMessageId(ednName: string): string {
  const text = readFileSync(path.join(vectorDir, ednName), "utf8");
  const match = /^# message ID = h'([^']*)'/m.exec(text);
  assert.ok(match?.[1] !== undefined, `${ednName} has no "# message ID = h'...'" header`);
  const hex = match[1].replace(/[#\s]/g, "");
  assert.match(hex, /^[0-9a-f]{64}$/, `${ednName}: message ID header is not 32 bytes of hex`);
  return hex;
}

/** The first h'…' literal in an .edn body (the messageId of an implied-fields file). */
function ednFirstBytes(ednName: string): string {
  const text = readFileSync(path.join(vectorDir, ednName), "utf8");
  const match = /h'([^']*)'/.exec(text);
  assert.ok(match?.[1] !== undefined, `${ednName} has no h'...' literal`);
  return match[1].replace(/\s/g, "");
}

test("vector folder ../shared/vectors/mimi-content exists and holds the 14 content examples", () => {
  assert.ok(folderExists, `MIMI content vectors are missing: expected them at ${vectorDir} (the shared vectors folder next to the repository)`);
  assert.ok(contentFiles.length >= 14, `expected at least 14 content vectors, found ${contentFiles.length}: ${contentFiles.join(", ")}`);
  assert.ok(impliedFiles.includes("implied-original.cbor"), "implied-original.cbor is missing");
});

for (const file of contentFiles) {
  const name = file.replace(/\.cbor$/, "");
  test(`MIMI-CONTENT-01 MIMI-CONTENT-25 vector ${name}: decodes strictly, re-encodes byte for byte, reproduces the .edn message ID (-08)`, () => {
    const bytes = read(file);
    const content = decodeContent(bytes);
    const reencoded = encodeContent(content);
    assert.ok(bytesEqual(reencoded, bytes), `${file} re-encodes differently:\n  in  ${toHex(bytes)}\n  out ${toHex(reencoded)}`);
    const expected = ednMessageId(`${name}.edn`);
    assert.equal(toHex(messageIdOfBytes(bytes)), expected);
    assert.equal(toHex(messageIdOfContent(content)), expected, "the ID of the re-encoded content is the same");
  });

  test(`vector ${name}: JSON form round-trips to the same bytes and inspect agrees`, () => {
    const bytes = read(file);
    const json = JSON.parse(JSON.stringify(contentToJson(decodeContent(bytes)))) as unknown;
    assert.ok(bytesEqual(encodeContent(contentFromJson(json)), bytes));
    const report = inspectContent(bytes);
    assert.equal(report.kind, "mimiContent");
    assert.ok(report.kind === "mimiContent" && report.roundTrip && report.messageId === ednMessageId(`${name}.edn`));
  });
}

test("MIMI-CONTENT-26 -07 formula: original.cbor gives the ID the draft's §5.2 hex dump still shows as inReplyTo (01b00844…)", () => {
  const bytes = read("original.cbor");
  // From the inline hex dump of the Reply example (§5.2) of the -08 text, which still carries
  // the -07 message ID of the original message (see the digest, section 7).
  const draft07Id = "01b0084467273cc43d6f0ebeac13eb84229c4fffe8f6c3594c905f47779e5a79";
  const id07 = toHex(messageIdOfBytes(bytes, { formula: "-07" }));
  assert.equal(id07, draft07Id);
  assert.notEqual(id07, ednMessageId("original.edn"));
});

for (const file of impliedFiles) {
  const name = file.replace(/\.cbor$/, "");
  const base = name.replace(/^implied-/, "");
  test(`MIMI-CONTENT-31 vector ${name}: implied fields round-trip byte for byte`, () => {
    const bytes = read(file);
    const values = decodeMessageDerivedValues(bytes);
    assert.ok(bytesEqual(encodeMessageDerivedValues(values), bytes));
    assert.equal(values.senderUserUrl, decodeContent(read(`${base}.cbor`)).mimiExtensions.get(1));
    assert.equal(values.roomUrl, decodeContent(read(`${base}.cbor`)).mimiExtensions.get(2));
    const report = inspectContent(bytes);
    assert.ok(report.kind === "impliedFields" && report.roundTrip);
  });

  test(`MIMI-CONTENT-26 MIMI-CONTENT-31 vector ${name}: its message ID is ${base}.cbor's ID — under the -07 formula (vector defect: the .edn shows the -08 ID)`, () => {
    const values = decodeMessageDerivedValues(read(file));
    const baseBytes = read(`${base}.cbor`);
    const id08 = toHex(messageIdOfBytes(baseBytes));
    const id07 = toHex(messageIdOfBytes(baseBytes, { formula: "-07" }));
    // The .edn of the implied fields agrees with the -08 header of the base message ...
    assert.equal(ednFirstBytes(`${name}.edn`), ednMessageId(`${base}.edn`));
    assert.equal(id08, ednMessageId(`${base}.edn`));
    // ... but the .cbor was not regenerated upstream after -07 (C.10 changed the formula):
    // it carries the ID of the same bytes under the -07 formula.
    assert.equal(toHex(values.messageId), id07);
    assert.notEqual(toHex(values.messageId), id08);
  });
}
