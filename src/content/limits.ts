// Every limit of draft-ietf-mimi-content (editor's copy "-08") and draft-mahy-mimi-message-status-01
// that mimi-bridge enforces, in one place. Each entry cites the section it comes from; entries
// marked "local policy" are ours, where the draft leaves the value to the implementation.

const YEAR_SECONDS = 366 * 24 * 60 * 60;

export const MimiContentLimits = {
  /** §4.1 `salt: bstr .size 16` (also C.9: "the salt is always 16 octets"). */
  saltBytes: 16,
  /** §4.1 / A.1 `MessageId = bstr .size 32`; status-01 §4 uses the same type. */
  messageIdBytes: 32,
  /** §3.3: the first octet of a message ID is an IANA named-information hash ID; MIMI uses sha-256 (1). */
  knownHashAlgs: [1] as readonly number[],
  /** §3.3: the URI lengths are big-endian unsigned 16-bit integers, so a URI is at most 65535 octets. */
  maxUriBytes: 0xffff,
  /** §9.1: discard a topicId "greater than 4096 octets". */
  maxTopicIdBytes: 4096,
  /** §6.3 and §9.1: NestedParts MUST NOT be nested more than 4 levels deep (the body is level 1). */
  maxNestedPartDepth: 4,
  /** §9.1: discard a body with "too many body parts (more than 1024)"; every NestedPart counts, as the part index does. */
  maxParts: 1024,
  /** §6.3: tags, maps and arrays at most 4 levels deep in the extensions, the extensions map being level 1. */
  maxExtensionDepth: 4,
  /** §4.3 and §6.2: a text-string extension key holds 1 to 255 octets of UTF-8. */
  minExtensionTextKeyBytes: 1,
  maxExtensionTextKeyBytes: 255,
  /** §6.2: integer map keys must be representable as a double: -(2^53 - 1) .. 2^53 - 1. */
  maxIntegerKey: Number.MAX_SAFE_INTEGER,
  /** §4.4 and §8.2.2: a disposition is an integer 0..255; 9..255 are unknown and treated as render. */
  maxDisposition: 255,
  /** §9.1: an expiry "more than a year" in the past or future is discarded. We take the longest
   * calendar year (366 days), so no expiry a client computes as "one year from now" is rejected. */
  maxExpiryDistanceSeconds: YEAR_SECONDS,
  /** §9.1: timestamps "received more than a few minutes in the future" are discarded; we allow 5 minutes of clock skew. */
  maxClockSkewMs: 5 * 60 * 1000,
  /** §4.1 `time: uint .size 4`, §4.4 ExternalPart `expires: uint .size 4`, A.2 `senderLeafIndex: uint .size 4`. */
  maxUint32: 0xffffffff,
  /** §4.4 ExternalPart `encAlg: uint .size 2`. */
  maxUint16: 0xffff,
  /** §4.4 ExternalPart `hashAlg: uint .size 1`. */
  maxUint8: 0xff,
  /** §4.4 ExternalPart `size: uint .size 8`, A.2 `MsecsSinceEpoch = uint .size 8`. */
  maxUint64: 0xffffffffffffffffn,
  /** §9.1: a body that "is too large (according to local policy)". Local policy: 1 MiB, larger
   * content belongs in an ExternalPart (§4.5). Callers may pass another value. */
  maxContentBytes: 1024 * 1024,
  /** Local policy for application/mimi-message-status (status-01 sets no limit): 1 MiB. */
  maxStatusReportBytes: 1024 * 1024,
  /** Local policy: the generic CBOR reader refuses nesting deeper than this before any schema check,
   * so hostile input cannot exhaust the stack. Valid content nests at most 10 levels (§6.3). */
  maxCborNesting: 16,
  /** Local policy: how many message IDs a MessageIdRegistry remembers for duplicate detection (§9.1). */
  defaultSeenMessageIds: 100_000,
} as const;
