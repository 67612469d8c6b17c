// TLS presentation language codec (RFC 8446 §3 as extended by RFC 9420 §2.1) for the MIMI
// server-to-server bodies. Import from here: `import { struct, opaqueV, … } from "../codec/index.ts"`.
export type { Codec, Infer } from "./codec.ts";
export { decodeExact, encode } from "./codec.ts";
export type { DecodeOptions } from "./reader.ts";
export { DEFAULT_MAX_DEPTH, DEFAULT_MAX_VECTOR_LENGTH, MAX_VARINT, Reader } from "./reader.ts";
export type { EncodeOptions } from "./writer.ts";
export { Writer, varintSize } from "./writer.ts";
export { opaque, opaqueV, uint16, uint32, uint64, uint8, utf8V, varint } from "./primitives.ts";
export type { EnumCodec, EnumOptions } from "./combinators.ts";
export { enumOf, lazy, optional, vectorV } from "./combinators.ts";
export type { FieldEntry, SelectCases, SelectEntry, SelectValue, StructCodec, StructEntry, StructValue } from "./struct.ts";
export { empty, selectOn, struct, variant } from "./struct.ts";
