// AppDataDictionary (draft-ietf-mls-extensions §4.6), the extension point of protocol-06 §5.7–§5.9.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { AppDataDictionary, MimiComponentId, emptyAppDataDictionary, getComponent, withComponent, withoutComponent } from "../../../src/protocol/index.ts";
import { expectCodecError, hex, toHex } from "./samples.ts";

test("AppDataDictionary: component_data<V> of (uint16 component_id, opaque data<V>), written out", () => {
  const value = { componentData: [{ componentId: 0x0022, data: hex("01") }, { componentId: 0xf000, data: hex("") }] };
  const bytes = hex("07 0022 01 01 f000 00");
  assert.equal(toHex(encode(AppDataDictionary, value)), toHex(bytes));
  assert.deepEqual(decodeExact(AppDataDictionary, bytes), value);
  assert.equal(toHex(encode(AppDataDictionary, emptyAppDataDictionary())), "00");
});

test("MIMI-PROTO-APPDATA-01 entries MUST be sorted by component_id with at most one per id (decode and encode)", () => {
  expectCodecError(() => decodeExact(AppDataDictionary, hex("06 f000 00 0022 00")), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-APPDATA-01", offset: 0 });
  expectCodecError(() => decodeExact(AppDataDictionary, hex("06 0022 00 0022 00")), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-APPDATA-01" });
  const unsorted = { componentData: [{ componentId: 2, data: hex("") }, { componentId: 1, data: hex("") }] };
  expectCodecError(() => encode(AppDataDictionary, unsorted), "MIMI_ERR_CODEC_CONSTRAINT", { rule: "MIMI-PROTO-APPDATA-01" });
});

test("withComponent / withoutComponent / getComponent keep the dictionary sorted and unique", () => {
  let d = emptyAppDataDictionary();
  d = withComponent(d, MimiComponentId.room_metadata, hex("aa"));
  d = withComponent(d, MimiComponentId.frank_aad, hex("bb"));
  d = withComponent(d, MimiComponentId.room_metadata, hex("cc"));
  assert.deepEqual(d.componentData.map((c) => c.componentId), [0x20, 0x23]);
  assert.equal(toHex(getComponent(d, 0x23)!), "cc");
  assert.equal(getComponent(d, 0x22), undefined);
  assert.deepEqual(withoutComponent(d, 0x20).componentData.map((c) => c.componentId), [0x23]);
  assert.equal(toHex(encode(AppDataDictionary, d)), "08002001bb002301cc");
  expectCodecError(() => withComponent(d, 0x10000, hex("")), "MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE");
});
