// `Protocol` (draft-ietf-mimi-protocol-06 §5): which end-to-end protocol a MIMI body carries.
import { enumOf, uint8 } from "../codec/index.ts";

/** `enum { reserved(0), mls10(1), (255) } Protocol;` (protocol-06 §5). */
export const Protocol = { reserved: 0, mls10: 1 } as const;
export type Protocol = (typeof Protocol)[keyof typeof Protocol];

// MIMI-PROTO-CHOICE-19: a `reserved(0)` value is never valid on the wire (RFC 8446 §3.5 reserves
// it; no select has an arm for it), so the codec declares only mls10: reserved(0) and every
// undeclared value are MIMI_ERR_CODEC_INVALID_ENUM on decode and on encode (MIMI-PROTO-ENUM-01).
/** The codec of a `Protocol` field: mls10 only. */
export const ProtocolCodec = enumOf("Protocol", { mls10: Protocol.mls10 }, uint8);
