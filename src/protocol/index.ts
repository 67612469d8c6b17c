// draft-ietf-mimi-protocol-06 wire structs (§5), one module per struct family, named after the
// draft. Codecs are constants named like the struct (`KeyMaterialRequest`), with the value type of
// the same name; enums are `as const` value objects (`KeyMaterialUserCode`) with a `…Codec`.
// Decode with decodeExact(codec, bytes) and encode with encode(codec, value) from src/codec.
// Where the draft is broken or silent, the choice is tagged MIMI-PROTO-CHOICE-NN at the one
// place that implements it and listed in docs/CONFORMANCE.md (section "Protocol structs").
export * from "./protocol.ts";
export * from "./identifierUri.ts";
export * from "./appDataDictionary.ts";
export * from "./keyMaterial.ts";
export * from "./update.ts";
export * from "./submitMessage.ts";
export * from "./fanout.ts";
export * from "./groupInfo.ts";
export * from "./consent.ts";
export * from "./identifierQuery.ts";
export * from "./reportAbuse.ts";
export { constrained, mlsMessageWhere, selectOnDerived } from "./framing.ts";
export type { DerivedValue } from "./framing.ts";
export * from "./directory.ts";
