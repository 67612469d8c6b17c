// Fanout Messages and Room Events (draft-ietf-mimi-protocol-06 §5.5): FanoutMessage and /notify bodies.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { isMimiError } from "../../../src/errors.ts";
import { FanoutMessage, decodeNotifyBody, encodeNotifyBody, fanoutFromHandshakeBundle, fanoutWelcome } from "../../../src/protocol/index.ts";
import type { FanoutMessage as FanoutMessageValue } from "../../../src/protocol/index.ts";
import { expectCodecError, fanoutMessages, fill, handshakeBundles, hex, loadMls, ratchetTreeOptions, roundTrip, toHex } from "./samples.ts";

const m = await loadMls();
const fx = m.raw;
const cat = (...parts: (string | Uint8Array)[]): Uint8Array => hex(parts.map((p) => (typeof p === "string" ? p : toHex(p))).join(""));
const vlen = (n: number): string => (n < 64 ? n.toString(16).padStart(2, "0") : (0x4000 | n).toString(16));

test("MIMI-PROTO-CHOICE-01 FanoutMessage: uint64 timestamp, the MLSMessage, the arm; no protocol byte on the wire", () => {
  // application arm, optional<Frank> absent
  const app = cat("0000019b00000001", fx.applicationPrivateMessage, "00");
  const appValue: FanoutMessageValue = { kind: "application", timestamp: 0x19b_0000_0001n, message: m.application, frank: undefined };
  assert.equal(toHex(encode(FanoutMessage, appValue)), toHex(app));
  assert.deepEqual(decodeExact(FanoutMessage, app), appValue);
  // application arm, Frank present (MIMI-PROTO-CHOICE-03: optional<Frank>)
  const franked = cat("0000000000000002", fx.applicationPrivateMessage, `01 ${fill(0x5a, 32)} 0001 4040 ${fill(0xa5, 64)}`);
  assert.equal(decodeExact(FanoutMessage, franked).kind, "application");
  // welcome arm: the Welcome as MLSMessage, then RatchetTreeOption (full)
  const welcome = cat("0000000000000003", fx.welcomeMessage, "01", fx.ratchetTree);
  assert.equal(toHex(encode(FanoutMessage, fanoutWelcome(m.welcome, ratchetTreeOptions(m)[0]!, 3n))), toHex(welcome));
  // proposal arm: moreProposals<V>
  const proposal = cat("0000000000000004", fx.proposalPublicMessage, vlen(fx.proposalPublicMessage2.length), fx.proposalPublicMessage2);
  assert.deepEqual(decodeExact(FanoutMessage, proposal), { kind: "proposal", timestamp: 4n, message: m.proposal, moreProposals: [m.proposal2] });
  // commit arm: externalProposals<V>, empty
  const commit = cat("0000000000000005", fx.commitPublicMessage, "00");
  assert.deepEqual(decodeExact(FanoutMessage, commit), { kind: "commit", timestamp: 5n, message: m.commit, externalProposals: [] });
});

test("MIMI-PROTO-CHOICE-02 the arm is chosen by the MLSMessage: mls_welcome, else its content type; `kind` must agree on encode", () => {
  const kinds = fanoutMessages(m).map((f) => decodeExact(FanoutMessage, encode(FanoutMessage, f)).kind);
  assert.deepEqual(kinds, ["application", "application", "welcome", "proposal", "commit"]);
  for (const f of fanoutMessages(m)) roundTrip(FanoutMessage, f);
  const lying = { kind: "commit", timestamp: 1n, message: m.proposal, externalProposals: [] } as FanoutMessageValue;
  expectCodecError(() => encode(FanoutMessage, lying), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-CHOICE-02" });
});

test("MIMI-PROTO-FANOUT-03 only an application PrivateMessage, a PublicMessage proposal/commit or a Welcome is fanned out", () => {
  for (const wrong of [fx.commitPrivateMessage, fx.groupInfoMessage, fx.keyPackageMessage]) {
    expectCodecError(() => decodeExact(FanoutMessage, cat("0000000000000001", wrong, "00")), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-FANOUT-03", offset: 8 });
  }
  // stapled external proposals must be proposals (MIMI-PROTO-UPDATE-02)
  const stapledCommit = cat("0000000000000001", fx.commitPublicMessage, vlen(fx.commitPublicMessage.length), fx.commitPublicMessage);
  expectCodecError(() => decodeExact(FanoutMessage, stapledCommit), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-UPDATE-02" });
});

test("MIMI-PROTO-FANOUT-01 the FanoutMessage of a proposal bundle carries the HandshakeBundle's moreProposals unchanged", () => {
  const [commitBundle, , proposalBundle] = handshakeBundles(m);
  assert.ok(proposalBundle !== undefined && commitBundle !== undefined);
  const fan = fanoutFromHandshakeBundle(proposalBundle, 42n);
  assert.ok(fan.kind === "proposal" && proposalBundle.kind === "proposal");
  assert.deepEqual(
    fan.moreProposals.map((p) => toHex(p.bytes)),
    proposalBundle.moreProposals.map((p) => toHex(p.bytes)),
  );
  assert.equal(toHex(fan.message.bytes), toHex(proposalBundle.proposalOrCommit.bytes));
  // On the wire the list is the same byte string in both.
  const bundleTail = encode(FanoutMessage, fan).subarray(8 + fx.proposalPublicMessage.length);
  assert.equal(toHex(bundleTail), toHex(cat(vlen(fx.proposalPublicMessage2.length), fx.proposalPublicMessage2)));
  const stapled = fanoutFromHandshakeBundle(commitBundle, 43n, [m.proposal2]);
  assert.ok(stapled.kind === "commit");
  assert.equal(stapled.externalProposals.length, 1);
});

test("MIMI-PROTO-FANOUT-02 a /notify body of 1, 2 or 5 concatenated FanoutMessages decodes to all of them, in order", () => {
  const all = fanoutMessages(m);
  for (const n of [1, 2, 5]) {
    const msgs = all.slice(0, n);
    const body = encodeNotifyBody(msgs);
    const concatenated = msgs.map((f) => toHex(encode(FanoutMessage, f))).join("");
    assert.equal(toHex(body), concatenated, `${n} messages are plain concatenation`);
    assert.deepEqual(decodeNotifyBody(body), msgs);
  }
});

test("MIMI-PROTO-CHOICE-26 a /notify body whose last FanoutMessage is cut short, an empty body, or trailing junk is an error", () => {
  const msgs = fanoutMessages(m);
  const body = encodeNotifyBody(msgs);
  const lastLen = encode(FanoutMessage, msgs[4]!).length;
  for (const cut of [1, 2, lastLen - 9, lastLen - 1]) {
    let caught: unknown;
    try {
      decodeNotifyBody(body.subarray(0, body.length - cut));
    } catch (err) {
      caught = err;
    }
    assert.ok(isMimiError(caught), `cut ${cut}: a MimiError`);
    assert.match(caught.code, /^MIMI_ERR_CODEC_/);
    assert.match(String(caught.details?.["path"]), /^notify\[4\]\.FanoutMessage/, `cut ${cut}`);
  }
  expectCodecError(() => decodeNotifyBody(new Uint8Array()), "MIMI_ERR_CODEC_TRUNCATED", { offset: 0 });
  expectCodecError(() => encodeNotifyBody([]), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE");
  // One stray byte after two whole messages is a third, truncated message.
  const two = encodeNotifyBody(msgs.slice(0, 2));
  assert.throws(() => decodeNotifyBody(new Uint8Array([...two, 0x00])), (err: unknown) => isMimiError(err) && String(err.details?.["path"]).startsWith("notify[2]"));
});
