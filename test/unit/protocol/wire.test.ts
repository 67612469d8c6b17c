// src/mls/wire.ts: MLS structures inside MIMI structs. Raw ones keep their exact bytes and are
// delimited by walking them with ts-mls; small ones are structural codecs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode, opaqueV, struct, vectorV } from "../../../src/codec/index.ts";
import type { Codec } from "../../../src/codec/index.ts";
import {
  Capabilities,
  ContentType,
  Credential,
  ExternalSender,
  Extension,
  ExtensionList,
  GroupInfo,
  HPKECiphertext,
  KeyPackage,
  MLSMessage,
  RatchetTree,
  RequiredCapabilities,
  SenderType,
  Welcome,
  WireFormat,
  asCredential,
  asKeyPackage,
  asMlsMessage,
  groupInfoToMlsMessage,
  keyPackageToMlsMessage,
  mlsMessageInfo,
  mlsMessageToGroupInfo,
  mlsMessageToKeyPackage,
  mlsMessageToWelcome,
  welcomeToMlsMessage,
} from "../../../src/mls/wire.ts";
import type { MlsMessageBytes } from "../../../src/mls/wire.ts";
import { expectCodecError, fill, hex, loadMls, toHex, utf8hex } from "./samples.ts";

const m = await loadMls();
const fx = m.raw;

test("MIMI-PROTO-MLS-01 every raw MLS structure decodes to its exact bytes and encodes back to them", () => {
  const cases = [
    [MLSMessage, fx.commitPublicMessage],
    [MLSMessage, fx.proposalPublicMessage],
    [MLSMessage, fx.proposalPublicMessage2],
    [MLSMessage, fx.applicationPrivateMessage],
    [MLSMessage, fx.commitPrivateMessage],
    [MLSMessage, fx.welcomeMessage],
    [MLSMessage, fx.groupInfoMessage],
    [MLSMessage, fx.keyPackageMessage],
    [KeyPackage, fx.keyPackage],
    [Welcome, fx.welcome],
    [GroupInfo, fx.groupInfo],
    [Credential, fx.credential],
    [RatchetTree, fx.ratchetTree],
  ] as [Codec<{ readonly bytes: Uint8Array }>, Uint8Array][];
  for (const [codec, bytes] of cases) {
    const value = decodeExact(codec, bytes);
    assert.equal(toHex(value.bytes), toHex(bytes), codec.name);
    assert.equal(toHex(encode(codec, value)), toHex(bytes), codec.name);
  }
});

test("MIMI-PROTO-MLS-01 a KeyPackage ends where its structure ends: two in a vector, a field after", () => {
  const Pair = struct("Pair", [
    ["keyPackages", vectorV(KeyPackage)],
    ["after", opaqueV],
  ]);
  const body = new Uint8Array([...fx.keyPackage, ...fx.keyPackage2]);
  assert.ok(body.length >= 64 && body.length < 16384);
  const bytes = hex(`${(0x4000 | body.length).toString(16)} ${toHex(body)} 03 aabbcc`);
  const value = decodeExact(Pair, bytes);
  assert.equal(value.keyPackages.length, 2);
  assert.equal(toHex(value.keyPackages[0]!.bytes), toHex(fx.keyPackage));
  assert.equal(toHex(value.keyPackages[1]!.bytes), toHex(fx.keyPackage2));
  assert.equal(toHex(value.after), "aabbcc");
  assert.equal(toHex(encode(Pair, value)), toHex(bytes));
});

test("MIMI-PROTO-MLS-01 an MLS structure may not run past its enclosing vector, even if the input goes on", () => {
  // The vector claims one byte less than the KeyPackage; the missing byte follows the vector.
  const len = fx.keyPackage.length - 1;
  const bytes = hex(`${(0x4000 | len).toString(16)} ${toHex(fx.keyPackage)}`);
  const err = expectCodecError(() => decodeExact(vectorV(KeyPackage), bytes), "MIMI_ERR_CODEC_MLS_MALFORMED", { offset: 2, type: "KeyPackage" });
  assert.equal(err.details?.["path"], "KeyPackage<V>[0]");
});

test("MIMI-PROTO-MLS-01 / MIMI-PROTO-CHOICE-24 truncated, empty, unknown (SemiPrivateMessage) or garbage MLS input is MIMI_ERR_CODEC_MLS_MALFORMED, never a crash", () => {
  for (const cut of [0, 1, 3, 4, 10, 100, fx.commitPublicMessage.length - 1]) {
    expectCodecError(() => decodeExact(MLSMessage, fx.commitPublicMessage.subarray(0, cut)), "MIMI_ERR_CODEC_MLS_MALFORMED", { offset: 0 });
  }
  // Unknown protocol version, unknown wire format (e.g. a SemiPrivateMessage), garbage.
  expectCodecError(() => decodeExact(MLSMessage, hex("0002 0001")), "MIMI_ERR_CODEC_MLS_MALFORMED");
  expectCodecError(() => decodeExact(MLSMessage, hex("0001 0006 00")), "MIMI_ERR_CODEC_MLS_MALFORMED");
  expectCodecError(() => decodeExact(KeyPackage, hex("ffffffff")), "MIMI_ERR_CODEC_MLS_MALFORMED");
  // A GroupInfo's first bytes happen to form a tiny Welcome (cipher suite, no secrets, 1 byte):
  // what follows it is then trailing.
  expectCodecError(() => decodeExact(Welcome, fx.groupInfo), "MIMI_ERR_CODEC_TRAILING_BYTES", { offset: 5 });
});

test("MIMI-PROTO-MLS-02 only the canonical encoding is accepted: a non-minimal length inside an MLSMessage is refused", () => {
  // group_id<V> of the PublicMessage starts at offset 4 with a 1-byte length; write it as 2 bytes.
  const groupIdLen = fx.commitPublicMessage[4]!;
  assert.ok(groupIdLen < 64);
  const bytes = new Uint8Array([...fx.commitPublicMessage.subarray(0, 4), 0x40, groupIdLen, ...fx.commitPublicMessage.subarray(5)]);
  const err = expectCodecError(() => decodeExact(MLSMessage, bytes), "MIMI_ERR_CODEC_MLS_MALFORMED", { offset: 0, type: "MLSMessage" });
  assert.equal(err.details?.["reason"], "not the canonical encoding");
});

test("MIMI-PROTO-MLS-02 an optional<Node> presence octet other than 0 or 1 in a ratchet tree is refused", () => {
  // ratchet_tree<V>: a 2-byte length, then optional<Node> entries; the first is present (01).
  assert.equal(fx.ratchetTree[2], 0x01);
  const bytes = fx.ratchetTree.slice();
  bytes[2] = 0x02;
  expectCodecError(() => decodeExact(RatchetTree, bytes), "MIMI_ERR_CODEC_MLS_MALFORMED", { offset: 0 });
});

test("MIMI-PROTO-MLS-01 asX() constructors take exactly one structure; trailing bytes are refused", () => {
  expectCodecError(() => asKeyPackage(new Uint8Array([...fx.keyPackage, 0])), "MIMI_ERR_CODEC_TRAILING_BYTES", { offset: fx.keyPackage.length, trailing: 1 });
  expectCodecError(() => asMlsMessage(new Uint8Array()), "MIMI_ERR_CODEC_MLS_MALFORMED");
  const kp = asKeyPackage(fx.keyPackage);
  assert.notEqual(kp.bytes, fx.keyPackage, "the constructor keeps a private copy");
  assert.equal(toHex(kp.bytes), toHex(fx.keyPackage));
});

test("MIMI-PROTO-MLS-01 a forged (cast) raw value is checked before it is encoded", () => {
  const forged = { bytes: hex("00010001") } as unknown as MlsMessageBytes;
  expectCodecError(() => encode(MLSMessage, forged), "MIMI_ERR_CODEC_MLS_MALFORMED");
  const genuineButCast = { bytes: fx.applicationPrivateMessage } as unknown as MlsMessageBytes;
  assert.equal(toHex(encode(MLSMessage, genuineButCast)), toHex(fx.applicationPrivateMessage));
  assert.equal(mlsMessageInfo(genuineButCast).contentType, ContentType.application);
  // A KeyPackage is not a Welcome, whatever the brand says.
  expectCodecError(() => encode(Welcome, m.keyPackage as never), "MIMI_ERR_CODEC_TRAILING_BYTES");
  expectCodecError(() => encode(MLSMessage, "nope" as never), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE");
});

test("decoded raw bytes are copies by default and views with aliasInput", () => {
  const input = fx.keyPackage.slice();
  const copy = decodeExact(KeyPackage, input);
  const view = decodeExact(KeyPackage, input, { aliasInput: true });
  input[10] = input[10]! ^ 0xff;
  assert.equal(toHex(copy.bytes), toHex(fx.keyPackage));
  assert.notEqual(toHex(view.bytes), toHex(fx.keyPackage));
});

test("mlsMessageInfo: wire format, and for Public/PrivateMessage content type, sender type, group and epoch", () => {
  const group = toHex(new TextEncoder().encode("mimi://a.example/g/clubhouse"));
  const expect = (msg: MlsMessageBytes, wireFormat: number, contentType?: number, senderType?: number, epoch?: bigint) => {
    const info = mlsMessageInfo(msg);
    assert.equal(info.wireFormat, wireFormat);
    assert.equal(info.contentType, contentType);
    assert.equal(info.senderType, senderType);
    assert.equal(info.epoch, epoch);
    assert.equal(info.groupId === undefined ? undefined : toHex(info.groupId), epoch === undefined ? undefined : group);
  };
  expect(m.commit, WireFormat.mls_public_message, ContentType.commit, SenderType.member, 0n);
  expect(m.proposal, WireFormat.mls_public_message, ContentType.proposal, SenderType.member, 1n);
  expect(m.application, WireFormat.mls_private_message, ContentType.application, undefined, 1n);
  expect(m.privateCommit, WireFormat.mls_private_message, ContentType.commit, undefined, 1n);
  expect(m.welcomeMessage, WireFormat.mls_welcome);
  expect(m.groupInfoMessage, WireFormat.mls_group_info);
  expect(m.keyPackageMessage, WireFormat.mls_key_package);
});

test("MIMI-PROTO-CHOICE-21 bare Welcome, GroupInfo and KeyPackage convert to and from MLSMessage (version mls10, wire format)", () => {
  assert.equal(toHex(welcomeToMlsMessage(m.welcome).bytes), toHex(fx.welcomeMessage));
  assert.equal(toHex(welcomeToMlsMessage(m.welcome).bytes.subarray(0, 4)), "00010003");
  assert.equal(toHex(mlsMessageToWelcome(m.welcomeMessage).bytes), toHex(fx.welcome));
  assert.equal(toHex(groupInfoToMlsMessage(m.groupInfo).bytes), toHex(fx.groupInfoMessage));
  assert.equal(toHex(mlsMessageToGroupInfo(m.groupInfoMessage).bytes), toHex(fx.groupInfo));
  assert.equal(toHex(keyPackageToMlsMessage(m.keyPackage).bytes), toHex(fx.keyPackageMessage));
  assert.equal(toHex(mlsMessageToKeyPackage(m.keyPackageMessage).bytes), toHex(fx.keyPackage));
  expectCodecError(() => mlsMessageToWelcome(m.commit), "MIMI_ERR_CODEC_CONSTRAINT", { wireFormat: 1, expected: 3 });
});

test("Credential: basic and x509 are delimited; other credential types cannot be and are refused", () => {
  const basic = `0001 1b ${utf8hex("mimi://a.example/d/ClientA1")}`;
  assert.equal(toHex(asCredential(hex(basic)).bytes), toHex(hex(basic)));
  const x509 = "0002 07 03aabbcc 02ddee";
  assert.equal(toHex(decodeExact(Credential, hex(x509)).bytes), toHex(hex(x509)));
  expectCodecError(() => decodeExact(Credential, hex("0a0a 01 00")), "MIMI_ERR_CODEC_MLS_MALFORMED", { type: "Credential" });
  assert.equal(toHex(decodeExact(Credential, fx.credential).bytes), toHex(fx.credential));
});

test("small MLS structs are structural and byte-exact: HPKECiphertext, Extension, Capabilities, RequiredCapabilities, ExternalSender", () => {
  function kat<T>(codec: Codec<T>, value: T, bytes: string): void {
    assert.equal(toHex(encode(codec, value)), toHex(hex(bytes)), codec.name);
    assert.deepEqual(decodeExact(codec, hex(bytes)), value, codec.name);
  }
  kat(HPKECiphertext, { kemOutput: hex("0102"), ciphertext: new Uint8Array(64).fill(0xcc) }, `02 0102 4040 ${fill(0xcc, 64)}`);
  kat(Extension, { extensionType: 0x0006, extensionData: hex("00") }, "0006 01 00");
  kat(ExtensionList, [{ extensionType: 2, extensionData: hex("") }, { extensionType: 0xf0a1, extensionData: hex("ab") }], "07 0002 00 f0a1 01ab");
  kat(Capabilities, { versions: [1], cipherSuites: [1, 3], extensions: [], proposals: [8], credentials: [1] }, "02 0001 04 0001 0003 00 02 0008 02 0001");
  kat(RequiredCapabilities, { extensionTypes: [6], proposalTypes: [8], credentialTypes: [1, 2] }, "02 0006 02 0008 04 0001 0002");
  const hub = asCredential(hex(`0001 03 ${utf8hex("hub")}`));
  kat(ExternalSender, { signatureKey: new Uint8Array(32).fill(0x11), credential: hub }, `20 ${fill(0x11, 32)} 0001 03 687562`);
  // The Capabilities ts-mls wrote in Bob's LeafNode (GREASE included) read back byte for byte.
  const caps = decodeExact(Capabilities, fx.capabilities);
  assert.equal(toHex(encode(Capabilities, caps)), toHex(fx.capabilities));
  assert.deepEqual(caps.versions, [1]);
});
