// Every enum of draft-ietf-mimi-protocol-06 (and ratchet-tree-options-03) rejects values it does
// not declare, on decode and on encode; reserved(0) values are rejected too (MIMI-PROTO-CHOICE-19).
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import type { EnumCodec } from "../../../src/codec/index.ts";
import {
  AbuseTypeCodec,
  ConsentEntry,
  ConsentOperationCodec,
  FieldSourceCodec,
  GroupInfoCodeCodec,
  GroupInfoRepresentationCodec,
  IdentifierQueryCodeCodec,
  KeyMaterialClientCodeCodec,
  KeyMaterialResponse,
  KeyMaterialUserCodeCodec,
  ProtocolCodec,
  RatchetTreePresenceCodec,
  RatchetTreeRepresentationCodec,
  SearchIdentifierTypeCodec,
  SubmitResponseCodeCodec,
  UpdateResponseCodeCodec,
} from "../../../src/protocol/index.ts";
import { expectCodecError, hex } from "./samples.ts";

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, i) => a + i);

const enums: [EnumCodec<number>, number[]][] = [
  [ProtocolCodec, [1]],
  [KeyMaterialUserCodeCodec, range(0, 7)],
  [KeyMaterialClientCodeCodec, range(0, 2)],
  [UpdateResponseCodeCodec, range(0, 3)],
  [SubmitResponseCodeCodec, range(0, 2)],
  [GroupInfoCodeCodec, range(1, 3)],
  [GroupInfoRepresentationCodec, [1, 2]],
  [RatchetTreeRepresentationCodec, range(1, 4)],
  [RatchetTreePresenceCodec, range(0, 3)],
  [ConsentOperationCodec, range(0, 3)],
  [SearchIdentifierTypeCodec, range(1, 8)],
  [IdentifierQueryCodeCodec, range(0, 4)],
  [FieldSourceCodec, [7, 8]],
  [AbuseTypeCodec, [0]],
];

test("MIMI-PROTO-ENUM-01 every protocol enum accepts exactly its declared values (all 256 uint8 values tried)", () => {
  for (const [codec, allowed] of enums) {
    for (let v = 0; v <= 0xff; v++) {
      const byte = new Uint8Array([v]);
      if (allowed.includes(v)) {
        assert.equal(decodeExact(codec, byte), v, `${codec.name} ${v}`);
        assert.deepEqual(encode(codec, v), byte);
      } else {
        expectCodecError(() => decodeExact(codec, byte), "MIMI_ERR_CODEC_INVALID_ENUM", { enum: codec.name, value: v, offset: 0 });
        expectCodecError(() => encode(codec, v), "MIMI_ERR_CODEC_INVALID_ENUM");
      }
    }
  }
});

test("MIMI-PROTO-CHOICE-19 reserved(0) is refused wherever it is only a placeholder", () => {
  for (const codec of [ProtocolCodec, GroupInfoCodeCodec, GroupInfoRepresentationCodec, RatchetTreeRepresentationCodec, SearchIdentifierTypeCodec, FieldSourceCodec]) {
    expectCodecError(() => decodeExact(codec, hex("00")), "MIMI_ERR_CODEC_INVALID_ENUM", { enum: codec.name });
  }
});

test("MIMI-PROTO-ENUM-01 an unknown enum value inside a struct is refused with its offset and path", () => {
  const err = expectCodecError(() => decodeExact(KeyMaterialResponse, hex("01 08 00 00")), "MIMI_ERR_CODEC_INVALID_ENUM", { offset: 1, value: 8 });
  assert.equal(err.details?.["path"], "KeyMaterialResponse.userStatus");
  expectCodecError(() => decodeExact(ConsentEntry, hex("04 00 00 00 00")), "MIMI_ERR_CODEC_INVALID_ENUM", { offset: 0 });
  expectCodecError(() => decodeExact(KeyMaterialResponse, hex("00 00 00 00")), "MIMI_ERR_CODEC_INVALID_ENUM", { enum: "Protocol" });
});
