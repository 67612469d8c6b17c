// Sample declarations shared by the codec tests, shaped like the draft-ietf-mimi-protocol structs
// the codec exists for: an enum discriminant, IdentifierUri, a vector of structs, optionals, a
// select on an earlier field, a standalone variant, and a recursive type.
import {
  empty,
  enumOf,
  lazy,
  opaque,
  opaqueV,
  optional,
  selectOn,
  struct,
  uint16,
  uint32,
  uint64,
  uint8,
  utf8V,
  variant,
  varint,
  vectorV,
} from "../../../src/codec/index.ts";
import type { Codec, Infer } from "../../../src/codec/index.ts";

export const Protocol = { reserved: 0, mls10: 1 } as const;
export const ProtocolCodec = enumOf("Protocol", Protocol, uint8);

export const Role = { member: 0, admin: 1, owner: 0x1234 } as const;
export const RoleCodec = enumOf("Role", Role, uint16);

export const BodyKind = { none: 0, text: 1, blob: 2 } as const;
export const BodyKindCodec = enumOf("BodyKind", BodyKind, uint8);

export const IdentifierUri = struct("IdentifierUri", [["uri", utf8V]]);

export const Participant = struct("Participant", [
  ["user", IdentifierUri],
  ["role", RoleCodec],
  ["nickname", optional(utf8V)],
]);

export const Body = variant("Body", "kind", BodyKindCodec, {
  [BodyKind.none]: empty,
  [BodyKind.text]: struct("text", [["text", utf8V]]),
  [BodyKind.blob]: struct("blob", [
    ["hash", opaque(32)],
    ["size", uint64],
  ]),
});

export const Sample = struct("Sample", [
  ["protocol", ProtocolCodec],
  ["roomId", IdentifierUri],
  ["epoch", uint64],
  ["participants", vectorV(Participant)],
  ["topic", optional(opaqueV)],
  ["body", Body],
  selectOn("protocol", {
    [Protocol.mls10]: struct("mls10", [
      ["cipherSuites", vectorV(uint16)],
      ["groupInfo", opaqueV],
    ]),
  }),
  ["flags", uint8],
  ["sequence", uint32],
  ["hops", varint],
]);
export type Sample = Infer<typeof Sample>;

/** A recursive type: only reachable through lazy(), which counts depth. */
export interface TreeNode {
  label: string;
  children: TreeNode[];
}
export const TreeNodeCodec: Codec<TreeNode> = struct("TreeNode", [
  ["label", utf8V],
  ["children", vectorV(lazy("TreeNode", () => TreeNodeCodec))],
]);

/** A recursive linked list, for depth tests: each link is one optional<Link> deeper. */
export interface Link {
  value: number;
  next: Link | undefined;
}
export const LinkCodec: Codec<Link> = struct("Link", [
  ["value", uint8],
  ["next", optional(lazy("Link", () => LinkCodec))],
]);
