// Find internal address (draft-ietf-mimi-protocol-06 §5.8).
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { IdentifierRequest, IdentifierResponse, ProfileField, QueryElement, SearchIdentifierType } from "../../../src/protocol/index.ts";
import { expectCodecError, hex, identifierRequests, identifierResponses, roundTrip, toHex, utf8hex } from "./samples.ts";

test("MIMI-PROTO-CHOICE-16 / MIMI-PROTO-CHOICE-23 QueryElement selects on searchType: only oidcStdClaim and vcardField carry a name", () => {
  const claim = hex(`07 0a ${utf8hex("given_name")} 06 ${utf8hex("Xavier")}`);
  assert.deepEqual(decodeExact(QueryElement, claim), { searchType: SearchIdentifierType.oidcStdClaim, claimName: "given_name", searchValue: "Xavier" });
  const vcard = hex(`08 03 ${utf8hex("ORG")} 09 ${utf8hex("XYZ Sales")}`);
  assert.deepEqual(decodeExact(QueryElement, vcard), { searchType: SearchIdentifierType.vcardField, propertyName: "ORG", searchValue: "XYZ Sales" });
  const phone = hex(`04 0c ${utf8hex("+12125551212")}`);
  assert.deepEqual(decodeExact(QueryElement, phone), { searchType: SearchIdentifierType.phone, searchValue: "+12125551212" });
  assert.equal(toHex(encode(QueryElement, { searchType: 4, searchValue: "+12125551212" })), toHex(phone));
  // searchValue is "a UTF8 string" (MIMI-PROTO-CHOICE-23).
  expectCodecError(() => decodeExact(QueryElement, hex("01 02 c328")), "MIMI_ERR_CODEC_INVALID_UTF8");
});

test("IdentifierRequest: query_elements<V> then the id_request_extensions AppDataDictionary, written out", () => {
  const bytes = hex(`${(1 + 1 + 22).toString(16)} 01 16 ${utf8hex("im:yolanda@xyz.example")} 00`);
  assert.equal(toHex(encode(IdentifierRequest, identifierRequests()[1]!)), toHex(bytes));
  for (const r of identifierRequests()) roundTrip(IdentifierRequest, r);
});

test("MIMI-PROTO-CHOICE-08 IdentifierResponse and UserProfile / ProfileField (string fieldName as UTF-8) round-trip; a notFound response written out", () => {
  for (const r of identifierResponses()) roundTrip(IdentifierResponse, r);
  assert.deepEqual(decodeExact(IdentifierResponse, hex("01 00 00 00")), identifierResponses()[1]);
  const field = hex(`07 0a ${utf8hex("given_name")} 06 ${utf8hex("Xavier")}`);
  assert.deepEqual(decodeExact(ProfileField, field), { fieldSource: 7, fieldName: "given_name", fieldValue: new TextEncoder().encode("Xavier") });
});
