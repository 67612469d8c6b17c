// Fetch Key Material (draft-ietf-mimi-protocol-06 §5.2).
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { asCredential } from "../../../src/mls/wire.ts";
import {
  ClientKeyMaterial,
  KeyMaterialClientCode,
  KeyMaterialRequest,
  KeyMaterialRequestTBS,
  KeyMaterialResponse,
  KeyMaterialUserCode,
  KeyMaterialUserCodeCodec,
  NO_URI,
  Protocol,
  USER_CODES_WITH_CLIENTS,
  encodeKeyMaterialRequestTBS,
} from "../../../src/protocol/index.ts";
import type { KeyMaterialRequest as KeyMaterialRequestValue, KeyMaterialResponse as KeyMaterialResponseValue } from "../../../src/protocol/index.ts";
import { ALICE, BOB, BOB_CLIENT, ROOM, expectCodecError, fill, hex, keyMaterialRequest, keyMaterialResponses, loadMls, roundTrip, toHex, utf8hex } from "./samples.ts";

const m = await loadMls();

// Written out from the struct definitions of §5.2 (not produced by the code under test):
const uri = (s: string): string => `${s.length.toString(16).padStart(2, "0")} ${utf8hex(s)}`;
const CREDENTIAL = `0001 1b ${utf8hex("mimi://a.example/d/ClientA1")}`; // basic, identity<V> of 27 bytes
const TBS_HEX = [
  "01", // Protocol protocol = mls10
  uri(ALICE), // IdentifierUri requestingUser (24 bytes)
  uri(BOB), // IdentifierUri targetUser (22 bytes)
  uri(ROOM), // IdentifierUri roomId (28 bytes)
  "04 0001 0003", // CipherSuite acceptableCiphersuites<V> = [1, 3]
  "02 0006 02 0008 02 0001", // RequiredCapabilities: extension_types [6], proposal_types [8], credential_types [1]
  `20 ${fill(0x11, 32)}`, // SignaturePublicKey requesterSignatureKey (opaque<V>, 32 bytes)
  CREDENTIAL, // Credential requesterCredential
].join(" ");
const REQUEST_HEX = `${TBS_HEX} 4040 ${fill(0x77, 64)}`; // opaque key_material_request_signature<V>: 64 bytes needs a 2-byte length

function handRequest(): KeyMaterialRequestValue {
  return {
    protocol: Protocol.mls10,
    requestingUser: { uri: ALICE },
    targetUser: { uri: BOB },
    roomId: { uri: ROOM },
    acceptableCiphersuites: [1, 3],
    requiredCapabilities: { extensionTypes: [6], proposalTypes: [8], credentialTypes: [1] },
    requesterSignatureKey: new Uint8Array(32).fill(0x11),
    requesterCredential: asCredential(hex(CREDENTIAL)),
    keyMaterialRequestSignature: new Uint8Array(64).fill(0x77),
  };
}

test("KeyMaterialRequest encodes byte for byte as written out from §5.2, and decodes back", () => {
  const value = handRequest();
  assert.equal(toHex(encode(KeyMaterialRequest, value)), toHex(hex(REQUEST_HEX)));
  assert.deepEqual(decodeExact(KeyMaterialRequest, hex(REQUEST_HEX)), value);
});

test("KeyMaterialRequestTBS is the request without its signature; encodeKeyMaterialRequestTBS gives exactly those bytes", () => {
  const value = handRequest();
  assert.equal(toHex(encodeKeyMaterialRequestTBS(value)), toHex(hex(TBS_HEX)));
  const { keyMaterialRequestSignature: _sig, ...tbs } = value;
  assert.equal(toHex(encodeKeyMaterialRequestTBS(tbs)), toHex(hex(TBS_HEX)));
  assert.deepEqual(decodeExact(KeyMaterialRequestTBS, hex(TBS_HEX)), tbs);
});

test("MIMI-PROTO-CHOICE-13 KeyMaterialRequest round-trips with a real credential; a request outside a room carries the empty roomId", () => {
  roundTrip(KeyMaterialRequest, keyMaterialRequest(m));
  const bytes = roundTrip(KeyMaterialRequest, keyMaterialRequest(m, NO_URI.uri));
  assert.equal(decodeExact(KeyMaterialRequest, bytes).roomId.uri, "");
});

test("MIMI-PROTO-KM-01 an empty acceptableCiphersuites list is refused on decode and on encode", () => {
  const empty = hex(REQUEST_HEX.replace("04 0001 0003", "00"));
  expectCodecError(() => decodeExact(KeyMaterialRequest, empty), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-KM-01" });
  expectCodecError(() => encode(KeyMaterialRequest, { ...handRequest(), acceptableCiphersuites: [] }), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-KM-01" });
});

test("KeyMaterialResponse round-trips for every client status and every user status that lists clients", () => {
  for (const res of keyMaterialResponses(m)) roundTrip(KeyMaterialResponse, res);
});

test("MIMI-PROTO-CHOICE-18 / MIMI-PROTO-CHOICE-20 KeyMaterialResponse / ClientKeyMaterial bytes follow §5.2 (clients inside the mls10 arm; exhausted client has an empty arm), written out", () => {
  const bytes = hex(`01 01 ${uri(BOB)} ${(1 + 1 + BOB_CLIENT.length).toString(16)} 01 ${uri(BOB_CLIENT)}`);
  const value: KeyMaterialResponseValue = {
    protocol: Protocol.mls10,
    userStatus: KeyMaterialUserCode.partialSuccess,
    userUri: { uri: BOB },
    clients: [{ clientStatus: KeyMaterialClientCode.keyMaterialExhausted, clientUri: { uri: BOB_CLIENT } }],
  };
  assert.equal(toHex(encode(KeyMaterialResponse, value)), toHex(bytes));
  assert.deepEqual(decodeExact(KeyMaterialResponse, bytes), value);
  // nothingCompatible with capabilities withheld: optional<Capabilities> absent (00).
  const withheld = hex(`02 ${uri(BOB_CLIENT)} 00`);
  assert.deepEqual(decodeExact(ClientKeyMaterial, withheld), { clientStatus: 2, clientUri: { uri: BOB_CLIENT }, clientCapabilities: undefined });
  // success carries a KeyPackage right after the URI, no length of its own.
  const success = new Uint8Array([...hex(`00 ${uri(BOB_CLIENT)}`), ...m.raw.keyPackage]);
  const decoded = decodeExact(ClientKeyMaterial, success);
  assert.ok(decoded.clientStatus === KeyMaterialClientCode.success);
  assert.equal(toHex(decoded.keyPackage.bytes), toHex(m.raw.keyPackage));
  assert.equal(toHex(encode(ClientKeyMaterial, decoded)), toHex(success));
});

test("MIMI-PROTO-KM-02 / MIMI-PROTO-CHOICE-27 for user codes other than success, partialSuccess and noCompatibleMaterial `clients` MUST be empty (decode and encode)", () => {
  const client = { clientStatus: KeyMaterialClientCode.keyMaterialExhausted, clientUri: { uri: BOB_CLIENT } } as const;
  for (const [name, code] of Object.entries(KeyMaterialUserCode)) {
    const withClient: KeyMaterialResponseValue = { protocol: Protocol.mls10, userStatus: code, userUri: { uri: BOB }, clients: [client] };
    const without: KeyMaterialResponseValue = { protocol: Protocol.mls10, userStatus: code, userUri: { uri: BOB }, clients: [] };
    roundTrip(KeyMaterialResponse, without);
    // The same bytes written out: protocol, user code, URI, then a vector with the client.
    const bytes = hex(`01 ${code.toString(16).padStart(2, "0")} ${uri(BOB)} ${(2 + BOB_CLIENT.length).toString(16)} 01 ${uri(BOB_CLIENT)}`);
    if (USER_CODES_WITH_CLIENTS.has(code)) {
      assert.ok(["success", "partialSuccess", "noCompatibleMaterial"].includes(name));
      roundTrip(KeyMaterialResponse, withClient);
      assert.deepEqual(decodeExact(KeyMaterialResponse, bytes), withClient);
    } else {
      expectCodecError(() => decodeExact(KeyMaterialResponse, bytes), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-KM-02", offset: 0 });
      expectCodecError(() => encode(KeyMaterialResponse, withClient), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-KM-02" });
    }
  }
  assert.deepEqual([...USER_CODES_WITH_CLIENTS].sort(), [0, 1, 3]);
  assert.equal(KeyMaterialUserCodeCodec.nameOf(6), "noConsentForThisRoom");
});
