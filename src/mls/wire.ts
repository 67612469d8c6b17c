// MLS structures (RFC 9420) as they appear inside MIMI wire structs (draft-ietf-mimi-protocol-06
// §5), as codecs of our TLS presentation language codec (src/codec).
//
// Two kinds of codec live here:
//
// 1. Big, self-delimiting MLS structures (MLSMessage, KeyPackage, Welcome, GroupInfo, Credential,
//    the ratchet tree) are carried as their EXACT raw bytes in branded `{ bytes }` objects. The
//    MIMI layer never needs their insides, the MLS layer needs exactly the bytes that were signed,
//    and the hub forwards them unchanged. They are not length-prefixed inside MIMI structs, so
//    finding where one ends means walking it: that is done by ts-mls 1.6.4's own decoders (so the
//    MLS layer and the wire layer agree on what one of these is), and then the decoded value is
//    encoded again with ts-mls and must give back the very same bytes (MIMI-PROTO-MLS-02). The
//    second step turns ts-mls's lenient decoders (it accepts non-minimal varints and optional<T>
//    presence octets other than 0/1, RFC 9420 §2.1.1/§2.1.2) into strict ones, and keeps the
//    wire form canonical, as the rest of src/codec is.
// 2. Small MLS structures made of integers and opaque vectors (CipherSuite, keys, references,
//    HPKECiphertext, Extension, Capabilities, RequiredCapabilities, ExternalSender) are plain
//    structural codecs of src/codec: strict, canonical, and their values are readable fields.
//
// Everything throws only MimiError. A structure ts-mls cannot decode, or whose bytes are not the
// canonical encoding, is MIMI_ERR_CODEC_MLS_MALFORMED with details { offset, type, reason }.
//
// Limits that come from ts-mls 1.6.4 (documented in docs/CONFORMANCE.md, section "Protocol structs"):
// - SemiPrivateMessage (draft-mahy-mls-semiprivatemessage) is not a known wire format: rejected.
// - Credentials of types other than basic(1) and x509(2) cannot be delimited: rejected.
// - Capabilities inside LeafNodes must list only protocol version mls10(1).
import { decodeMlsMessage, encodeMlsMessage } from "ts-mls";
import type { MLSMessage as TsMlsMessage } from "ts-mls";
import { decodeCredential, encodeCredential } from "ts-mls/credential.js";
import { decodeGroupInfo, encodeGroupInfo } from "ts-mls/groupInfo.js";
import { decodeKeyPackage, encodeKeyPackage } from "ts-mls/keyPackage.js";
import { decodeRatchetTree, encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { decodeWelcome, encodeWelcome } from "ts-mls/welcome.js";
import { Reader, opaqueV, struct, uint16, vectorV } from "../codec/index.ts";
import type { Codec, Infer, Writer } from "../codec/index.ts";
import { MimiError } from "../errors.ts";

// ---- small structures (RFC 9420 §5.1, §5.2, §7.2, §7.6, §11.1, §12.1.8.1) -------------------

/** `uint16 CipherSuite` (RFC 9420 §5.1); any value, registered or GREASE. */
export const CipherSuite: Codec<number> = { ...uint16, name: "CipherSuite" };
export type CipherSuite = number;

/** `opaque SignaturePublicKey<V>` (RFC 9420 §5.1.1). */
export const SignaturePublicKey: Codec<Uint8Array> = { ...opaqueV, name: "SignaturePublicKey" };
/** `opaque HPKEPublicKey<V>` (RFC 9420 §5.1.1). */
export const HPKEPublicKey: Codec<Uint8Array> = { ...opaqueV, name: "HPKEPublicKey" };
/** `opaque HashReference<V>` (RFC 9420 §5.2). */
export const HashReference: Codec<Uint8Array> = { ...opaqueV, name: "HashReference" };
/** `HashReference KeyPackageRef` (RFC 9420 §5.2). */
export const KeyPackageRef: Codec<Uint8Array> = { ...opaqueV, name: "KeyPackageRef" };
/** `HashReference ProposalRef` (RFC 9420 §5.2). */
export const ProposalRef: Codec<Uint8Array> = { ...opaqueV, name: "ProposalRef" };

/** `struct { opaque kem_output<V>; opaque ciphertext<V>; } HPKECiphertext` (RFC 9420 §7.6). */
export const HPKECiphertext = struct("HPKECiphertext", [
  ["kemOutput", opaqueV],
  ["ciphertext", opaqueV],
]);
export type HPKECiphertext = Infer<typeof HPKECiphertext>;

/** `struct { ExtensionType extension_type; opaque extension_data<V>; } Extension` (RFC 9420 §7.2). */
export const Extension = struct("Extension", [
  ["extensionType", uint16],
  ["extensionData", opaqueV],
]);
export type Extension = Infer<typeof Extension>;

/** `Extension extensions<V>`, as in GroupInfo, KeyPackage and PartialGroupInfo. */
export const ExtensionList: Codec<Extension[]> = { ...vectorV(Extension), name: "Extension<V>" };
export type ExtensionList = Extension[];

/** Capabilities (RFC 9420 §7.2): five uint16 vectors. GREASE values are kept as they are. */
export const Capabilities = struct("Capabilities", [
  ["versions", vectorV(uint16)],
  ["cipherSuites", vectorV(uint16)],
  ["extensions", vectorV(uint16)],
  ["proposals", vectorV(uint16)],
  ["credentials", vectorV(uint16)],
]);
export type Capabilities = Infer<typeof Capabilities>;

/** RequiredCapabilities (RFC 9420 §11.1): the body of the required_capabilities extension. */
export const RequiredCapabilities = struct("RequiredCapabilities", [
  ["extensionTypes", vectorV(uint16)],
  ["proposalTypes", vectorV(uint16)],
  ["credentialTypes", vectorV(uint16)],
]);
export type RequiredCapabilities = Infer<typeof RequiredCapabilities>;

// ---- raw-byte structures --------------------------------------------------------------------

declare const rawBrand: unique symbol;

/** The exact bytes of one MLS structure of kind `K`, checked when it was decoded or built. */
export type RawMls<K extends string> = { readonly bytes: Uint8Array } & { readonly [rawBrand]: K };

/** `MLSMessage` (RFC 9420 §6): version, wire_format, and the message. */
export type MlsMessageBytes = RawMls<"MLSMessage">;
/** A bare `KeyPackage` (RFC 9420 §10), not wrapped in MLSMessage. */
export type KeyPackageBytes = RawMls<"KeyPackage">;
/** A bare `Welcome` (RFC 9420 §12.4.3.1), not wrapped in MLSMessage. */
export type WelcomeBytes = RawMls<"Welcome">;
/** A bare `GroupInfo` (RFC 9420 §12.4.3), not wrapped in MLSMessage. */
export type GroupInfoBytes = RawMls<"GroupInfo">;
/** A `Credential` (RFC 9420 §5.3). */
export type CredentialBytes = RawMls<"Credential">;
/** The ratchet tree, `optional<Node> ratchet_tree<V>` (RFC 9420 §12.4.3.3), length included. */
export type RatchetTreeBytes = RawMls<"RatchetTree">;

/** WireFormat (RFC 9420 §6, IANA "MLS Wire Formats"). */
export const WireFormat = {
  mls_public_message: 1,
  mls_private_message: 2,
  mls_welcome: 3,
  mls_group_info: 4,
  mls_key_package: 5,
} as const;
export type WireFormat = (typeof WireFormat)[keyof typeof WireFormat];

/** ContentType (RFC 9420 §6). */
export const ContentType = { application: 1, proposal: 2, commit: 3 } as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

/** SenderType (RFC 9420 §6). */
export const SenderType = { member: 1, external: 2, new_member_proposal: 3, new_member_commit: 4 } as const;
export type SenderType = (typeof SenderType)[keyof typeof SenderType];

/**
 * What the wire layer can see of an MLSMessage without keys: its wire format and, for
 * PublicMessage and PrivateMessage, the group, epoch and content type (both carry them in
 * clear, RFC 9420 §6.2 and §6.3), and for PublicMessage the sender type.
 */
export interface MlsMessageInfo {
  readonly wireFormat: WireFormat;
  readonly contentType: ContentType | undefined;
  readonly senderType: SenderType | undefined;
  readonly groupId: Uint8Array | undefined;
  readonly epoch: bigint | undefined;
}

type TsDecoder<T> = (b: Uint8Array, offset: number) => [T, number] | undefined;

interface RawKind<K extends string, T> {
  readonly kind: K;
  readonly decode: TsDecoder<T>;
  readonly encode: (value: T) => Uint8Array;
}

/** Every checked raw object and its kind, so encoders can trust what they were given. */
const checked = new WeakMap<object, string>();
/** MLSMessage summaries, computed once from the ts-mls value. */
const infos = new WeakMap<object, MlsMessageInfo>();

function malformed(kind: string, offset: number, reason: string, cause?: unknown): MimiError {
  const details = { offset, type: kind, reason, path: "" };
  return new MimiError("MIMI_ERR_CODEC_MLS_MALFORMED", `${kind} at offset ${offset} is malformed: ${reason}`, cause === undefined ? { details } : { details, cause });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Walks one `kind` structure at the reader's offset with ts-mls, checks that ts-mls encodes the
 * decoded value back to the same bytes, and consumes those bytes. Returns them and the value.
 */
function walk<K extends string, T>(spec: RawKind<K, T>, r: Reader): { bytes: Uint8Array; value: T } {
  const start = r.offset;
  const end = start + r.remaining;
  // ts-mls decoders read from `offset` up to the end of the array they are given: bound them by
  // the enclosing vector (or input) end, keeping absolute offsets.
  const view = r.bytes.subarray(0, end);
  let result: [T, number] | undefined;
  try {
    result = spec.decode(view, start);
  } catch (cause) {
    // MIMI-PROTO-FUZZ-01 (DESIGN.md §7, MIMI-CODEC-15): ts-mls throws CodecError (and, for some
    // inputs such as unknown credential types, TypeError) instead of returning undefined; every
    // one of those becomes a typed MimiError here.
    throw malformed(spec.kind, start, "ts-mls cannot decode it", cause);
  }
  if (result === undefined) throw malformed(spec.kind, start, "ts-mls cannot decode it");
  const [value, length] = result;
  // ts-mls reads an absent optional<T> presence octet past the end as "absent": a length that
  // runs past the bound means the input was cut short.
  if (!Number.isSafeInteger(length) || length <= 0 || length > end - start) {
    throw malformed(spec.kind, start, `ts-mls reports ${String(length)} bytes but ${end - start} remain`);
  }
  const raw = r.readView(length);
  let again: Uint8Array;
  try {
    again = spec.encode(value);
  } catch (cause) {
    throw malformed(spec.kind, start, "ts-mls cannot encode the decoded value", cause);
  }
  // MIMI-PROTO-MLS-02: RFC 9420 §2.1.1/§2.1.2 (minimal varints, presence octets 0 or 1): only the
  // canonical encoding is accepted, so a hub relays exactly what every member parses alike.
  if (!sameBytes(again, raw)) throw malformed(spec.kind, start, "not the canonical encoding");
  return { bytes: r.aliasInput ? raw : raw.slice(), value };
}

function rawCodec<K extends string, T>(spec: RawKind<K, T>, remember?: (obj: RawMls<K>, value: T) => void): Codec<RawMls<K>> {
  return {
    name: spec.kind,
    encode(w: Writer, v: RawMls<K>) {
      if (typeof v !== "object" || v === null || !(v.bytes instanceof Uint8Array)) {
        throw new MimiError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `value does not fit ${spec.kind}`, { details: { type: spec.kind } });
      }
      // A value made by a decoder or a constructor here is known good; anything else (a cast) is
      // checked now, so we never send what we would refuse ourselves.
      if (checked.get(v) !== spec.kind) fromBytes(spec, v.bytes, remember, v);
      w.writeBytes(v.bytes);
    },
    decode(r: Reader) {
      const { bytes, value } = walk(spec, r);
      const obj = { bytes } as RawMls<K>;
      checked.set(obj, spec.kind);
      remember?.(obj, value);
      return obj;
    },
  };
}

/**
 * Checks that `bytes` is exactly one `kind` structure and brands a private copy of it (or, given
 * `target`, an object that already holds these bytes).
 */
function fromBytes<K extends string, T>(
  spec: RawKind<K, T>,
  bytes: Uint8Array,
  remember?: (obj: RawMls<K>, value: T) => void,
  target?: RawMls<K>,
): RawMls<K> {
  if (!(bytes instanceof Uint8Array)) {
    throw new MimiError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `${spec.kind} bytes must be a Uint8Array`, { details: { type: spec.kind } });
  }
  const r = new Reader(bytes);
  const { bytes: copy, value } = walk(spec, r);
  if (!r.atEnd) {
    throw new MimiError("MIMI_ERR_CODEC_TRAILING_BYTES", `${r.remaining} bytes follow the end of ${spec.kind} at offset ${r.offset}`, {
      details: { offset: r.offset, trailing: r.remaining, path: spec.kind },
    });
  }
  const obj = target ?? ({ bytes: copy } as RawMls<K>);
  checked.set(obj, spec.kind);
  remember?.(obj, value);
  return obj;
}

function infoOf(m: TsMlsMessage): MlsMessageInfo {
  switch (m.wireformat) {
    case "mls_public_message": {
      const c = m.publicMessage.content;
      return {
        wireFormat: WireFormat.mls_public_message,
        contentType: ContentType[c.contentType],
        senderType: SenderType[c.sender.senderType],
        groupId: c.groupId.slice(),
        epoch: c.epoch,
      };
    }
    case "mls_private_message": {
      const p = m.privateMessage;
      return {
        wireFormat: WireFormat.mls_private_message,
        contentType: ContentType[p.contentType],
        senderType: undefined,
        groupId: p.groupId.slice(),
        epoch: p.epoch,
      };
    }
    default:
      return { wireFormat: WireFormat[m.wireformat], contentType: undefined, senderType: undefined, groupId: undefined, epoch: undefined };
  }
}

const rememberInfo = (obj: object, value: TsMlsMessage): void => {
  infos.set(obj, Object.freeze(infoOf(value)));
};

const mlsMessageSpec: RawKind<"MLSMessage", TsMlsMessage> = { kind: "MLSMessage", decode: decodeMlsMessage, encode: encodeMlsMessage };
const keyPackageSpec = { kind: "KeyPackage", decode: decodeKeyPackage, encode: encodeKeyPackage } as const;
const welcomeSpec = { kind: "Welcome", decode: decodeWelcome, encode: encodeWelcome } as const;
const groupInfoSpec = { kind: "GroupInfo", decode: decodeGroupInfo, encode: encodeGroupInfo } as const;
const credentialSpec = { kind: "Credential", decode: decodeCredential, encode: encodeCredential } as const;
const ratchetTreeSpec = { kind: "RatchetTree", decode: decodeRatchetTree, encode: encodeRatchetTree } as const;

/** `MLSMessage` (RFC 9420 §6), any wire format ts-mls knows. MIMI-PROTO-MLS-01. */
export const MLSMessage: Codec<MlsMessageBytes> = rawCodec(mlsMessageSpec, rememberInfo);
/** A bare `KeyPackage` (RFC 9420 §10). */
export const KeyPackage: Codec<KeyPackageBytes> = rawCodec(keyPackageSpec);
/** A bare `Welcome` (RFC 9420 §12.4.3.1). */
export const Welcome: Codec<WelcomeBytes> = rawCodec(welcomeSpec);
/** A bare `GroupInfo` (RFC 9420 §12.4.3). */
export const GroupInfo: Codec<GroupInfoBytes> = rawCodec(groupInfoSpec);
/** `Credential` (RFC 9420 §5.3): basic or x509. */
export const Credential: Codec<CredentialBytes> = rawCodec(credentialSpec);
/** `optional<Node> ratchet_tree<V>` (RFC 9420 §12.4.3.3). */
export const RatchetTree: Codec<RatchetTreeBytes> = rawCodec(ratchetTreeSpec);

/** `struct { SignaturePublicKey signature_key; Credential credential; } ExternalSender` (RFC 9420 §12.1.8.1). */
export const ExternalSender = struct("ExternalSender", [
  ["signatureKey", SignaturePublicKey],
  ["credential", Credential],
]);
export type ExternalSender = Infer<typeof ExternalSender>;

// ---- constructors and accessors ---------------------------------------------------------------

/** Checks that `bytes` is exactly one MLSMessage and wraps a copy. Throws MimiError. */
export function asMlsMessage(bytes: Uint8Array): MlsMessageBytes {
  return fromBytes(mlsMessageSpec, bytes, rememberInfo);
}
/** Checks that `bytes` is exactly one bare KeyPackage and wraps a copy. Throws MimiError. */
export function asKeyPackage(bytes: Uint8Array): KeyPackageBytes {
  return fromBytes(keyPackageSpec, bytes);
}
/** Checks that `bytes` is exactly one bare Welcome and wraps a copy. Throws MimiError. */
export function asWelcome(bytes: Uint8Array): WelcomeBytes {
  return fromBytes(welcomeSpec, bytes);
}
/** Checks that `bytes` is exactly one bare GroupInfo and wraps a copy. Throws MimiError. */
export function asGroupInfo(bytes: Uint8Array): GroupInfoBytes {
  return fromBytes(groupInfoSpec, bytes);
}
/** Checks that `bytes` is exactly one Credential and wraps a copy. Throws MimiError. */
export function asCredential(bytes: Uint8Array): CredentialBytes {
  return fromBytes(credentialSpec, bytes);
}
/** Checks that `bytes` is exactly one ratchet tree (with its <V> length) and wraps a copy. */
export function asRatchetTree(bytes: Uint8Array): RatchetTreeBytes {
  return fromBytes(ratchetTreeSpec, bytes);
}

/** Wire format, content type, sender type, group and epoch of an MLSMessage (what is in clear). */
export function mlsMessageInfo(m: MlsMessageBytes): MlsMessageInfo {
  if (typeof m !== "object" || m === null || !(m.bytes instanceof Uint8Array)) {
    throw new MimiError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", "value does not fit MLSMessage", { details: { type: "MLSMessage" } });
  }
  const known = infos.get(m);
  if (known !== undefined) return known;
  // Not made here (a cast): check it now, which also records its summary.
  fromBytes(mlsMessageSpec, m.bytes, rememberInfo, m);
  const info = infos.get(m);
  if (info === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "MLSMessage summary missing after decode");
  return info;
}

// MLSMessage header: ProtocolVersion version = mls10 (0x0001), then WireFormat (RFC 9420 §6).
const MLS10 = 0x0001;

function wrap(wireFormat: WireFormat, body: Uint8Array): MlsMessageBytes {
  const out = new Uint8Array(4 + body.length);
  out[0] = MLS10 >> 8;
  out[1] = MLS10 & 0xff;
  out[2] = wireFormat >> 8;
  out[3] = wireFormat & 0xff;
  out.set(body, 4);
  return asMlsMessage(out);
}

function unwrap(m: MlsMessageBytes, wireFormat: WireFormat, kind: string): Uint8Array {
  const info = mlsMessageInfo(m);
  if (info.wireFormat !== wireFormat) {
    throw new MimiError("MIMI_ERR_CODEC_CONSTRAINT", `MLSMessage has wire format ${info.wireFormat}, not ${kind} (${wireFormat})`, {
      details: { wireFormat: info.wireFormat, expected: wireFormat },
    });
  }
  return m.bytes.subarray(4);
}

/** A bare Welcome as `MLSMessage` (wire_format mls_welcome), e.g. for a FanoutMessage. */
export function welcomeToMlsMessage(w: WelcomeBytes): MlsMessageBytes {
  return wrap(WireFormat.mls_welcome, w.bytes);
}
/** The bare Welcome inside an `MLSMessage` of wire_format mls_welcome. */
export function mlsMessageToWelcome(m: MlsMessageBytes): WelcomeBytes {
  return asWelcome(unwrap(m, WireFormat.mls_welcome, "mls_welcome"));
}
/** A bare GroupInfo as `MLSMessage` (wire_format mls_group_info). */
export function groupInfoToMlsMessage(g: GroupInfoBytes): MlsMessageBytes {
  return wrap(WireFormat.mls_group_info, g.bytes);
}
/** The bare GroupInfo inside an `MLSMessage` of wire_format mls_group_info. */
export function mlsMessageToGroupInfo(m: MlsMessageBytes): GroupInfoBytes {
  return asGroupInfo(unwrap(m, WireFormat.mls_group_info, "mls_group_info"));
}
/** A bare KeyPackage as `MLSMessage` (wire_format mls_key_package). */
export function keyPackageToMlsMessage(k: KeyPackageBytes): MlsMessageBytes {
  return wrap(WireFormat.mls_key_package, k.bytes);
}
/** The bare KeyPackage inside an `MLSMessage` of wire_format mls_key_package. */
export function mlsMessageToKeyPackage(m: MlsMessageBytes): KeyPackageBytes {
  return asKeyPackage(unwrap(m, WireFormat.mls_key_package, "mls_key_package"));
}
