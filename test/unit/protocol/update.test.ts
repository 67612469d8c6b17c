// Update Room State (draft-ietf-mimi-protocol-06 §5.3) and the RatchetTreeOption/PartialGroupInfo
// structs of draft-mahy-mls-ratchet-tree-options-03.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import {
  GroupInfoOption,
  GroupInfoRepresentation,
  HandshakeBundle,
  PartialGroupInfo,
  RatchetTreeOption,
  RatchetTreePresence,
  RatchetTreeRepresentation,
  UpdateRequest,
  UpdateResponseCode,
  UpdateRoomResponse,
} from "../../../src/protocol/index.ts";
import type { HandshakeBundle as HandshakeBundleValue, UpdateRoomResponse as UpdateRoomResponseValue } from "../../../src/protocol/index.ts";
import { expectCodecError, fill, handshakeBundles, hex, loadMls, ratchetTreeOptions, roundTrip, toHex, updateRequests, updateRoomResponses, utf8hex } from "./samples.ts";

const m = await loadMls();
const fx = m.raw;
const vlen = (n: number): string => (n < 64 ? n.toString(16).padStart(2, "0") : (0x4000 | n).toString(16));
const cat = (...parts: (string | Uint8Array)[]): Uint8Array => hex(parts.map((p) => (typeof p === "string" ? p : toHex(p))).join(""));

test("MIMI-PROTO-CHOICE-08 / MIMI-PROTO-CHOICE-20 UpdateRoomResponse encodes byte for byte as written out from §5.3, every arm", () => {
  const cases: [UpdateRoomResponseValue, string][] = [
    // success(0), errorDescription "" (opaque<V>), uint64 accepted_timestamp
    [{ responseCode: UpdateResponseCode.success, errorDescription: "", acceptedTimestamp: 0x0000_019b_1234_5678n }, "00 00 0000019b12345678"],
    // wrongEpoch(1), "stale", uint64 currentEpoch = 7
    [{ responseCode: UpdateResponseCode.wrongEpoch, errorDescription: "stale", currentEpoch: 7n }, `01 05 ${utf8hex("stale")} 0000000000000007`],
    // notAllowed(2), "policy", no arm
    [{ responseCode: UpdateResponseCode.notAllowed, errorDescription: "policy" }, `02 06 ${utf8hex("policy")}`],
    // invalidProposal(3), "", ProposalRef invalidProposals<V> = two 32-byte refs: 66 bytes, 2-byte length
    [
      { responseCode: UpdateResponseCode.invalidProposal, errorDescription: "", invalidProposals: [new Uint8Array(32).fill(0xaa), new Uint8Array(32).fill(0xbb)] },
      `03 00 4042 20 ${fill(0xaa, 32)} 20 ${fill(0xbb, 32)}`,
    ],
  ];
  for (const [value, bytes] of cases) {
    assert.equal(toHex(encode(UpdateRoomResponse, value)), toHex(hex(bytes)), bytes);
    assert.deepEqual(decodeExact(UpdateRoomResponse, hex(bytes)), value);
  }
  for (const v of updateRoomResponses()) roundTrip(UpdateRoomResponse, v);
  // errorDescription is UTF-8 text: invalid UTF-8 is refused (MIMI-PROTO-CHOICE-08).
  expectCodecError(() => decodeExact(UpdateRoomResponse, hex("02 01 ff")), "MIMI_ERR_CODEC_INVALID_UTF8");
});

test("MIMI-PROTO-CHOICE-21 HandshakeBundle of a commit: the commit, optional<Welcome>, GroupInfoOption, RatchetTreeOption, back to back", () => {
  const [full, partial] = handshakeBundles(m);
  const fullBytes = cat(fx.commitPublicMessage, "01", fx.welcome, "01", fx.groupInfo, "01", fx.ratchetTree);
  assert.equal(toHex(encode(HandshakeBundle, full!)), toHex(fullBytes));
  assert.deepEqual(decodeExact(HandshakeBundle, fullBytes), full);
  const url = "https://a.example/trees/clubhouse/7";
  const partialBytes = cat(
    fx.commitPublicMessage,
    "00", // no Welcome
    `02 00 23 0004 20 ${fill(0x33, 32)} 4040 ${fill(0x44, 64)}`, // partial: no_ratchet_tree, one extension, signature
    `02 ${vlen(url.length)} ${utf8hex(url)} 4040 ${fill(0x11, 64)}`, // httpsUri, URL, tree_signature
  );
  assert.equal(toHex(encode(HandshakeBundle, partial!)), toHex(partialBytes));
  assert.deepEqual(decodeExact(HandshakeBundle, partialBytes), partial);
});

test("HandshakeBundle of a proposal: the proposal, then MLSMessage moreProposals<V>", () => {
  const [, , withMore, alone] = handshakeBundles(m);
  const bytes = cat(fx.proposalPublicMessage, vlen(fx.proposalPublicMessage2.length), fx.proposalPublicMessage2);
  assert.equal(toHex(encode(HandshakeBundle, withMore!)), toHex(bytes));
  assert.deepEqual(decodeExact(HandshakeBundle, bytes), withMore);
  assert.equal(toHex(encode(HandshakeBundle, alone!)), toHex(cat(fx.proposalPublicMessage2, "00")));
});

test("MIMI-PROTO-CHOICE-10 an UpdateRequest is exactly one HandshakeBundle (no protocol byte on the wire)", () => {
  for (const req of updateRequests(m)) {
    const bytes = roundTrip(UpdateRequest, req);
    assert.equal(toHex(bytes), toHex(encode(HandshakeBundle, req.bundle)));
  }
});

test("MIMI-PROTO-UPDATE-01 proposalOrCommit must be a PublicMessage proposal or commit (not application, PrivateMessage or Welcome)", () => {
  for (const wrong of [fx.applicationPrivateMessage, fx.commitPrivateMessage, fx.welcomeMessage, fx.keyPackageMessage]) {
    expectCodecError(() => decodeExact(HandshakeBundle, cat(wrong, "00")), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-UPDATE-01", offset: 0 });
  }
  const bad = { kind: "proposal", proposalOrCommit: m.privateCommit, moreProposals: [] } as HandshakeBundleValue;
  expectCodecError(() => encode(HandshakeBundle, bad), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-UPDATE-01" });
});

test("MIMI-PROTO-UPDATE-02 moreProposals may hold only PublicMessage proposals", () => {
  const bytes = cat(fx.proposalPublicMessage, vlen(fx.commitPublicMessage.length), fx.commitPublicMessage);
  expectCodecError(() => decodeExact(HandshakeBundle, bytes), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-UPDATE-02" });
  const bad = { kind: "proposal", proposalOrCommit: m.proposal, moreProposals: [m.application] } as HandshakeBundleValue;
  expectCodecError(() => encode(HandshakeBundle, bad), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-UPDATE-02" });
});

test("MIMI-PROTO-CHOICE-09 the HandshakeBundle arm follows the content type of proposalOrCommit; a wrong `kind` is refused", () => {
  const [full, , withMore] = handshakeBundles(m);
  assert.equal(decodeExact(HandshakeBundle, encode(HandshakeBundle, full!)).kind, "commit");
  assert.equal(decodeExact(HandshakeBundle, encode(HandshakeBundle, withMore!)).kind, "proposal");
  const lying = { ...withMore!, kind: "commit" } as unknown as HandshakeBundleValue;
  expectCodecError(() => encode(HandshakeBundle, lying), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-CHOICE-09" });
  // A commit followed by proposal-arm bytes does not parse as a commit bundle.
  expectCodecError(() => decodeExact(HandshakeBundle, cat(fx.commitPublicMessage, "00")), "MIMI_ERR_CODEC_TRUNCATED");
});

test("MIMI-PROTO-CHOICE-11 RatchetTreeOption: every representation, written out; the full tree is RFC 9420's optional<Node> ratchet_tree<V>", () => {
  const [full, https, oob, ds] = ratchetTreeOptions(m);
  const url = "https://a.example/trees/clubhouse/7";
  const cases: [typeof full, Uint8Array][] = [
    [full, cat("01", fx.ratchetTree)],
    [https, cat(`02 ${vlen(url.length)} ${utf8hex(url)} 4040 ${fill(0x11, 64)}`)],
    [oob, cat(`03 4040 ${fill(0x22, 64)}`)],
    [ds, cat("04")],
  ];
  for (const [value, bytes] of cases) {
    assert.equal(toHex(encode(RatchetTreeOption, value!)), toHex(bytes));
    assert.deepEqual(decodeExact(RatchetTreeOption, bytes), value);
  }
  assert.equal(RatchetTreeRepresentation.httpsUri, 2);
});

test("GroupInfoOption and PartialGroupInfo follow §5.3 and ratchet-tree-options-03 §4", () => {
  const fullBytes = cat("01", fx.groupInfo);
  assert.deepEqual(decodeExact(GroupInfoOption, fullBytes), { representation: GroupInfoRepresentation.full, groupInfo: m.groupInfo });
  const pgi = { ratchetTreePresence: RatchetTreePresence.added, groupInfoExtensions: [], signature: new Uint8Array([9]) };
  assert.equal(toHex(encode(PartialGroupInfo, pgi)), "03000109");
  assert.deepEqual(decodeExact(PartialGroupInfo, hex("03000109")), pgi);
  assert.deepEqual(decodeExact(GroupInfoOption, hex("02 00 00 00")), {
    representation: GroupInfoRepresentation.partial,
    partialGroupInfo: { ratchetTreePresence: RatchetTreePresence.no_ratchet_tree, groupInfoExtensions: [], signature: new Uint8Array() },
  });
});
