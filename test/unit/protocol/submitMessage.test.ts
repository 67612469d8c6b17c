// Submit a Message (draft-ietf-mimi-protocol-06 §5.4) and the franking structs of §5.4.1.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import {
  Frank,
  FrankingIntegrityTBS,
  Protocol,
  SubmitMessageRequest,
  SubmitMessageResponse,
  SubmitResponseCode,
  encodeFrankingIntegrityTBS,
  encodeServerFrankingContext,
} from "../../../src/protocol/index.ts";
import type { SubmitMessageRequest as SubmitMessageRequestValue, SubmitMessageResponse as SubmitMessageResponseValue } from "../../../src/protocol/index.ts";
import { CATHY, ROOM, expectCodecError, fill, frank, hex, loadMls, roundTrip, submitMessageRequest, submitMessageResponses, toHex, utf8hex } from "./samples.ts";

const m = await loadMls();
const fx = m.raw;
const cat = (...parts: (string | Uint8Array)[]): Uint8Array => hex(parts.map((p) => (typeof p === "string" ? p : toHex(p))).join(""));
const FRANK_HEX = `${fill(0x5a, 32)} 0001 4040 ${fill(0xa5, 64)}`; // server_frank[32], CipherSuite, franking_integrity_signature<V>

test("MIMI-PROTO-CHOICE-17 SubmitMessageRequest: protocol, the PrivateMessage, then sendingUri (an IdentifierUri, §5.4), written out", () => {
  const bytes = cat("01", fx.applicationPrivateMessage, `18 ${utf8hex(CATHY)}`);
  assert.equal(CATHY.length, 0x18);
  assert.equal(toHex(encode(SubmitMessageRequest, submitMessageRequest(m))), toHex(bytes));
  assert.deepEqual(decodeExact(SubmitMessageRequest, bytes), submitMessageRequest(m));
});

test("MIMI-PROTO-SUBMIT-01 appMessage must be a PrivateMessage with content type application", () => {
  for (const wrong of [fx.commitPublicMessage, fx.commitPrivateMessage, fx.proposalPublicMessage, fx.welcomeMessage, fx.groupInfoMessage]) {
    expectCodecError(() => decodeExact(SubmitMessageRequest, cat("01", wrong, "00")), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-SUBMIT-01", offset: 1 });
  }
  const bad: SubmitMessageRequestValue = { protocol: Protocol.mls10, appMessage: m.privateCommit, sendingUri: { uri: CATHY } };
  expectCodecError(() => encode(SubmitMessageRequest, bad), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-SUBMIT-01" });
});

test("MIMI-PROTO-CHOICE-03 / MIMI-PROTO-CHOICE-04 SubmitMessageResponse: the `success` arm is accepted(0); every arm written out", () => {
  const cases: [SubmitMessageResponseValue, string][] = [
    // protocol, accepted(0), accepted_timestamp, optional<Frank> present (MIMI-PROTO-CHOICE-03)
    [{ protocol: 1, statusCode: SubmitResponseCode.accepted, acceptedTimestamp: 0x19b_0000_0001n, frank: frank() }, `01 00 0000019b00000001 01 ${FRANK_HEX}`],
    [{ protocol: 1, statusCode: SubmitResponseCode.accepted, acceptedTimestamp: 2n, frank: undefined }, "01 00 0000000000000002 00"],
    [{ protocol: 1, statusCode: SubmitResponseCode.notAllowed }, "01 01"],
    [{ protocol: 1, statusCode: SubmitResponseCode.epochTooOld, currentEpoch: 0x1234n }, "01 02 0000000000001234"],
  ];
  for (const [value, bytes] of cases) {
    assert.equal(toHex(encode(SubmitMessageResponse, value)), toHex(hex(bytes)), bytes);
    assert.deepEqual(decodeExact(SubmitMessageResponse, hex(bytes)), value);
  }
  for (const v of submitMessageResponses()) roundTrip(SubmitMessageResponse, v);
  expectCodecError(() => decodeExact(SubmitMessageResponse, hex("01 00 0000000000000002 02")), "MIMI_ERR_CODEC_INVALID_OPTIONAL");
});

test("Frank is 32 bytes of server_frank, a cipher suite and a signature; a short server_frank is refused", () => {
  assert.deepEqual(decodeExact(Frank, hex(FRANK_HEX)), frank());
  expectCodecError(() => encode(Frank, { ...frank(), serverFrank: new Uint8Array(31) }), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE");
});

test("FrankingIntegrityTBS and ServerFrankingContext (§5.4.1.2), written out", () => {
  const context = { senderUri: { uri: CATHY }, roomUri: { uri: ROOM }, acceptedTimestamp: 5n };
  const contextHex = `18 ${utf8hex(CATHY)} 1c ${utf8hex(ROOM)} 0000000000000005`;
  assert.equal(toHex(encodeServerFrankingContext(context)), toHex(hex(contextHex)));
  const tbs = { serverFrank: new Uint8Array(32).fill(0x5a), frankingSignatureCiphersuite: 1, context };
  assert.equal(toHex(encodeFrankingIntegrityTBS(tbs)), toHex(hex(`${fill(0x5a, 32)} 0001 ${contextHex}`)));
  assert.deepEqual(decodeExact(FrankingIntegrityTBS, encodeFrankingIntegrityTBS(tbs)), tbs);
});
