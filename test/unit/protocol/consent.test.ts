// Convey explicit consent (draft-ietf-mimi-protocol-06 §5.7): ConsentEntry, ConsentScope.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import {
  ConsentEntry,
  ConsentOperation,
  ConsentScope,
  RequestConsentBody,
  UpdateConsentBody,
  consentScope,
  consentScopeKey,
  consentScopeOf,
  decodeRequestConsentBody,
  decodeUpdateConsentBody,
  sameConsentScope,
} from "../../../src/protocol/index.ts";
import type { ConsentEntry as ConsentEntryValue } from "../../../src/protocol/index.ts";
import { ALICE, BOB, ROOM, consentEntries, expectCodecError, hex, loadMls, roundTrip, toHex, utf8hex } from "./samples.ts";

const m = await loadMls();
const fx = m.raw;

// Written out from the struct definition of §5.7 (not produced by the code under test).
const A = `18 ${utf8hex(ALICE)}`; // IdentifierUri, 24 bytes
const B = `16 ${utf8hex(BOB)}`; // IdentifierUri, 22 bytes
const R = `1c ${utf8hex(ROOM)}`; // IdentifierUri, 28 bytes

test("MIMI-PROTO-CHOICE-12 ConsentEntry request for a room, byte for byte: operation, requester, target, optional<RoomId> present, empty extensions", () => {
  const bytes = hex(`01 ${A} ${B} 01 ${R} 00`);
  const value: ConsentEntryValue = { consentOperation: ConsentOperation.request, requesterUri: { uri: ALICE }, targetUri: { uri: BOB }, roomId: { uri: ROOM }, consentExtensions: { componentData: [] } };
  assert.equal(toHex(encode(ConsentEntry, value)), toHex(bytes));
  assert.deepEqual(decodeExact(ConsentEntry, bytes), value);
});

test("MIMI-PROTO-CHOICE-20 ConsentEntry revoke without a room, and cancel (empty arms), byte for byte", () => {
  const revoke = hex(`03 ${A} ${B} 00 00`);
  assert.deepEqual(decodeExact(ConsentEntry, revoke), { consentOperation: 3, requesterUri: { uri: ALICE }, targetUri: { uri: BOB }, roomId: undefined, consentExtensions: { componentData: [] } });
  const cancel = hex(`00 ${A} ${B} 01 ${R} 00`);
  assert.equal(decodeExact(ConsentEntry, cancel).consentOperation, ConsentOperation.cancel);
  assert.equal(toHex(encode(ConsentEntry, decodeExact(ConsentEntry, cancel))), toHex(cancel));
});

test("ConsentEntry grant carries KeyPackage clientKeyPackages<V> (bare KeyPackages, back to back) before the extensions", () => {
  const kps = toHex(fx.keyPackage) + toHex(fx.keyPackage2);
  const len = (fx.keyPackage.length + fx.keyPackage2.length) | 0x4000;
  const bytes = hex(`02 ${A} ${B} 00 ${len.toString(16)} ${kps} 06 f000 03 010101`);
  const grant = consentEntries(m)[2]!;
  assert.equal(toHex(encode(ConsentEntry, grant)), toHex(bytes));
  assert.deepEqual(decodeExact(ConsentEntry, bytes), grant);
  // An empty grant (connection request answered without KeyPackages).
  assert.equal(toHex(encode(ConsentEntry, consentEntries(m)[3]!)), toHex(hex(`02 16 ${utf8hex(BOB)} 18 ${utf8hex(ALICE)} 00 00 00`)));
  for (const e of consentEntries(m)) roundTrip(ConsentEntry, e);
  // optional<RoomId> presence octet must be 0 or 1.
  expectCodecError(() => decodeExact(ConsentEntry, hex(`03 ${A} ${B} 02 00`)), "MIMI_ERR_CODEC_INVALID_OPTIONAL");
});

test("MIMI-PROTO-CHOICE-22 IdentifierUri is UTF-8 text: invalid UTF-8 in a URI is refused", () => {
  expectCodecError(() => decodeExact(ConsentEntry, hex(`03 02 c328 ${B} 00 00`)), "MIMI_ERR_CODEC_INVALID_UTF8", { offset: 2 });
  assert.deepEqual(decodeExact(ConsentScope, hex(`06 ${utf8hex("mimi:/")} 04 ${utf8hex("tél")} 00`)).targetUri, { uri: "tél" });
});

test("MIMI-PROTO-CONSENT-01 ConsentScope (requesterUri, targetUri, optional roomId): a cancel matches its request's scope exactly", () => {
  const [request, cancel, grant] = consentEntries(m);
  assert.ok(sameConsentScope(request!, cancel!));
  assert.equal(consentScopeKey(request!), consentScopeKey(consentScope(ALICE, BOB, ROOM)));
  assert.equal(consentScopeKey(consentScope(ALICE, BOB, ROOM)), toHex(hex(`${A} ${B} 01 ${R}`)));
  // A different room, no room, or swapped parties are other scopes.
  assert.ok(!sameConsentScope(request!, consentScope(ALICE, BOB)));
  assert.ok(!sameConsentScope(request!, consentScope(ALICE, BOB, "mimi://a.example/r/other")));
  assert.ok(!sameConsentScope(consentScope(ALICE, BOB), consentScope(BOB, ALICE)));
  assert.ok(sameConsentScope(grant!, consentScope(ALICE, BOB)));
  assert.deepEqual(consentScopeOf(request!), { requesterUri: { uri: ALICE }, targetUri: { uri: BOB }, roomId: { uri: ROOM } });
  roundTrip(ConsentScope, consentScope(ALICE, BOB, ROOM));
  roundTrip(ConsentScope, consentScope(ALICE, BOB));
});

test("MIMI-PROTO-CONSENT-02 requestConsent takes request/cancel only, updateConsent grant/revoke only (decode and encode)", () => {
  const [request, cancel, grant, , revoke] = consentEntries(m);
  for (const e of [request!, cancel!]) {
    assert.deepEqual(decodeRequestConsentBody(encode(ConsentEntry, e)), e);
    expectCodecError(() => decodeUpdateConsentBody(encode(ConsentEntry, e)), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-CONSENT-02", offset: 0 });
    expectCodecError(() => encode(UpdateConsentBody, e), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-CONSENT-02" });
  }
  for (const e of [grant!, revoke!]) {
    assert.deepEqual(decodeUpdateConsentBody(encode(ConsentEntry, e)), e);
    expectCodecError(() => decodeRequestConsentBody(encode(ConsentEntry, e)), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-CONSENT-02" });
    expectCodecError(() => encode(RequestConsentBody, e), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-CONSENT-02" });
  }
});
