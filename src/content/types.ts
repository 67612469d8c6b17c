// MIMI content types (draft-ietf-mimi-content -08 §4, Appendix A), named after the CDDL.

import type { CborKey, CborMap, CborValue } from "./cbor.ts";

/** §4.1 `MessageId = bstr .size 32`: hash algorithm octet followed by 31 octets of hash output (§3.3). */
export type MessageId = Uint8Array;

/** §4.4 and §8.2.2 baseDispos. Values 9..255 are unknown and treated as render (§9.1). */
export const Disposition = {
  unspecified: 0,
  render: 1,
  reaction: 2,
  profile: 3,
  inline: 4,
  icon: 5,
  attachment: 6,
  session: 7,
  preview: 8,
} as const;
export type DispositionName = keyof typeof Disposition;

/** §4.4 cardinality, the wire value that selects the NestedPart variant. */
export const Cardinality = {
  nullpart: 0,
  single: 1,
  external: 2,
  multi: 3,
} as const;
export type CardinalityName = keyof typeof Cardinality;

/** §4.4 part semantics {9} of a MultiPart. */
export const PartSemantics = {
  chooseOne: 0,
  singleUnit: 1,
  processAll: 2,
} as const;
export type PartSemanticsName = keyof typeof PartSemantics;

/** §8.2.1 MIMI Content Extension Keys registry (initial contents). */
export const ExtensionKey = {
  senderUri: 1,
  roomUri: 2,
} as const;

/** §4.1 `Expiration = [relative: bool, time: uint .size 4]`. */
export interface Expiration {
  /** true: seconds after the receiver reads the message; false: seconds since the UNIX epoch. */
  relative: boolean;
  time: number;
}

/**
 * §4.3 `extensions`: keys are integers or text strings of 1..255 octets, values are any CBOR.
 * Unknown extensions are kept so that re-encoding is byte-exact.
 */
export type MimiExtensions = Map<number | string, CborValue>;

interface PartCommon {
  /** 0..255; see `Disposition`. Unknown values are kept as they are. */
  disposition: number;
  /** "" or a comma-separated list of BCP 47 language tags (§4.4). */
  language: string;
}

/** §4.4 NullPart: an empty body, used by deletes and unlikes (§5.6, §5.7). */
export interface NullPart extends PartCommon {
  cardinality: "nullpart";
}

/** §4.4 SinglePart: one inline body part. */
export interface SinglePart extends PartCommon {
  cardinality: "single";
  contentType: string;
  content: Uint8Array;
}

/** §4.4 and §4.5 ExternalPart: a reference to content fetched from `url`. */
export interface ExternalPart extends PartCommon {
  cardinality: "external";
  contentType: string;
  url: string;
  /** Seconds since the UNIX epoch after which the content is invalid, 0 = never (uint .size 4). */
  expires: number;
  /** Size in octets, 0 = unknown (uint .size 8); a bigint only above Number.MAX_SAFE_INTEGER. */
  size: number | bigint;
  /** IANA AEAD algorithm number, 0 = not encrypted (uint .size 2). */
  encAlg: number;
  key: Uint8Array;
  nonce: Uint8Array;
  aad: Uint8Array;
  /** IANA named-information hash algorithm (uint .size 1). */
  hashAlg: number;
  contentHash: Uint8Array;
  description: string;
  filename: string;
}

/** §4.4 MultiPart: two or more nested parts with the given semantics. */
export interface MultiPart extends PartCommon {
  cardinality: "multi";
  partSemantics: PartSemanticsName;
  parts: NestedPart[];
}

export type NestedPart = NullPart | SinglePart | ExternalPart | MultiPart;

/** §4.1 / A.1 mimiContent: the seven-element top-level array. */
export interface MimiContent {
  salt: Uint8Array;
  replaces: MessageId | null;
  topicId: Uint8Array;
  expires: Expiration | null;
  inReplyTo: MessageId | null;
  mimiExtensions: MimiExtensions;
  nestedPart: NestedPart;
}

/** A.2 `ExtendedTime = #6.1001({* name => value})` (RFC 9581 §3). */
export interface ExtendedTime {
  extendedTime: Map<CborKey, CborValue>;
}

/** A.2 `Timestamp = MsecsSinceEpoch / ExtendedTime`; MsecsSinceEpoch is `uint .size 8`. */
export type Timestamp = number | bigint | ExtendedTime;

/** §4.6 / A.2 MessageDerivedValues: what a receiver derives for a message rather than reads from it. */
export interface MessageDerivedValues {
  messageId: MessageId;
  hubAcceptedTimestamp: Timestamp;
  mlsGroupId: Uint8Array;
  senderLeafIndex: number;
  senderClientUrl: string;
  senderUserUrl: string;
  roomUrl: string;
}

/** draft-mahy-mimi-message-status-01 §3 and §4 baseStatus; 7..255 are unknown. */
export const MessageStatus = {
  unread: 0,
  delivered: 1,
  read: 2,
  expired: 3,
  deleted: 4,
  hidden: 5,
  error: 6,
} as const;
export type MessageStatusName = keyof typeof MessageStatus;

/** status-01 §4 PerMessageStatus. */
export interface PerMessageStatus {
  messageId: MessageId;
  /** 0..255; see `MessageStatus`. */
  status: number;
}

/** status-01 §4 `MessageStatusReport = [* PerMessageStatus]`. */
export type MessageStatusReport = PerMessageStatus[];

export type { CborMap };
