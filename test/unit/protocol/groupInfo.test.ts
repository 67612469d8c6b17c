// Claim group key information (draft-ietf-mimi-protocol-06 §5.6).
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import {
  GroupInfoCode,
  GroupInfoRatchetTreeTBE,
  GroupInfoRequest,
  GroupInfoRequestTBS,
  GroupInfoResponse,
  GroupInfoResponseTBS,
  encodeGroupInfoRequestTBS,
  encodeGroupInfoResponseTBS,
} from "../../../src/protocol/index.ts";
import type { SuccessfulGroupInfoResponse } from "../../../src/protocol/index.ts";
import { ROOM, expectCodecError, fill, groupInfoRequest, groupInfoResponses, groupInfoTbe, hex, loadMls, roundTrip, toHex, utf8hex } from "./samples.ts";

const m = await loadMls();
const fx = m.raw;
const cat = (...parts: (string | Uint8Array)[]): Uint8Array => hex(parts.map((p) => (typeof p === "string" ? p : toHex(p))).join(""));

// protocol mls10, cipher_suite 1, requestingSignatureKey<V> (32 bytes), Credential, groupInfoPublicKey<V> (32 bytes)
const head = (): Uint8Array => cat("01 0001 20", fx.signaturePublicKey, fx.credential, "20", fx.hpkePublicKey);

test("GroupInfoRequest, written out from §5.6, with and without a joining code", () => {
  const noCode = cat(head(), "00", `4040 ${fill(0x66, 64)}`);
  assert.equal(toHex(encode(GroupInfoRequest, groupInfoRequest(m))), toHex(noCode));
  assert.deepEqual(decodeExact(GroupInfoRequest, noCode), groupInfoRequest(m));
  const code = new TextEncoder().encode("JOIN-7Q2K");
  const withCode = cat(head(), `09 ${utf8hex("JOIN-7Q2K")}`, `4040 ${fill(0x66, 64)}`);
  assert.equal(toHex(encode(GroupInfoRequest, groupInfoRequest(m, code))), toHex(withCode));
  roundTrip(GroupInfoRequest, groupInfoRequest(m, code));
});

test("MIMI-PROTO-GI-01 / MIMI-PROTO-CHOICE-07 GroupInfoRequestTBS: optional<opaque<V>> joiningCode, present exactly when the request has a code", () => {
  assert.equal(toHex(encodeGroupInfoRequestTBS(groupInfoRequest(m))), toHex(cat(head(), "00")));
  const code = new TextEncoder().encode("JOIN-7Q2K");
  const tbs = cat(head(), `01 09 ${utf8hex("JOIN-7Q2K")}`);
  assert.equal(toHex(encodeGroupInfoRequestTBS(groupInfoRequest(m, code))), toHex(tbs));
  const { signature: _s, ...unsigned } = groupInfoRequest(m, code);
  assert.equal(toHex(encodeGroupInfoRequestTBS(unsigned)), toHex(tbs));
  assert.deepEqual(decodeExact(GroupInfoRequestTBS, tbs).joiningCode, code);
});

test("MIMI-PROTO-CHOICE-05 / MIMI-PROTO-CHOICE-06 / MIMI-PROTO-CHOICE-22 GroupInfoResponse: success carries the hub's ExternalSender, the HPKE ciphertext and a signature; other statuses nothing", () => {
  for (const res of groupInfoResponses(m)) roundTrip(GroupInfoResponse, res);
  const room = `1c ${utf8hex(ROOM)}`; // opaque room_id<V>
  assert.deepEqual(decodeExact(GroupInfoResponse, hex(`01 ${room} 02`)), groupInfoResponses(m)[1]);
  assert.deepEqual(decodeExact(GroupInfoResponse, hex(`01 ${room} 03`)), groupInfoResponses(m)[2]);
  const success = cat(
    `01 ${room} 01 0001`, // version/protocol (MIMI-PROTO-CHOICE-05), room_id, status success, cipher_suite
    "20", fx.signaturePublicKey, fx.credential, // ExternalSender hub_sender
    `20 ${fill(0x01, 32)} 42bc ${fill(0x02, 700)}`, // HPKECiphertext: kem_output<V>, ciphertext<V> (700 bytes)
    `4040 ${fill(0x03, 64)}`, // signature<V>
  );
  assert.equal(toHex(encode(GroupInfoResponse, groupInfoResponses(m)[0]!)), toHex(success));
});

test("MIMI-PROTO-GI-01 / MIMI-PROTO-CHOICE-25 GroupInfoResponseTBS is the success response without its signature; other statuses have none", () => {
  const res = groupInfoResponses(m)[0] as SuccessfulGroupInfoResponse;
  const full = encode(GroupInfoResponse, res);
  const tbs = encodeGroupInfoResponseTBS(res);
  assert.equal(toHex(tbs), toHex(full.subarray(0, full.length - 66)));
  const { signature: _s, ...unsigned } = res;
  assert.equal(toHex(encodeGroupInfoResponseTBS(unsigned)), toHex(tbs));
  assert.deepEqual(decodeExact(GroupInfoResponseTBS, tbs), unsigned);
  expectCodecError(() => encodeGroupInfoResponseTBS({ ...unsigned, status: GroupInfoCode.notAuthorized }), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-CHOICE-25" });
});

test("GroupInfoRatchetTreeTBE: the bare GroupInfo, a RatchetTreeOption and the pending proposals with their hub times", () => {
  const tbe = groupInfoTbe(m);
  const bytes = roundTrip(GroupInfoRatchetTreeTBE, tbe);
  const pendingLen = fx.proposalPublicMessage.length + 8 + fx.proposalPublicMessage2.length + 8;
  const expected = cat(
    fx.groupInfo,
    "01", fx.ratchetTree,
    (0x4000 | pendingLen).toString(16),
    fx.proposalPublicMessage, "0000019b76daa80a",
    fx.proposalPublicMessage2, "0000019b76daa80b",
  );
  assert.equal(tbe.pendingProposals[0]!.hubAcceptedTime, 0x19b76daa80an);
  assert.equal(toHex(bytes), toHex(expected));
  // MIMI-PROTO-UPDATE-02: a pending proposal must be a proposal.
  expectCodecError(
    () => encode(GroupInfoRatchetTreeTBE, { ...tbe, pendingProposals: [{ proposal: m.commit, hubAcceptedTime: 1n }] }),
    "MIMI_ERR_CODEC_CONSTRAINT",
    { rule: "MIMI-PROTO-UPDATE-02" },
  );
});
