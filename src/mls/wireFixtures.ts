// Real MLS objects, made with ts-mls, for the wire-codec tests of src/protocol and src/mls/wire.ts.
//
// Tests outside src/mls may not import ts-mls (the lint rule that keeps MLS behind src/mls), so
// this file does the MLS work and hands out plain bytes only. It is test support: nothing in the
// running bridge imports it.
//
// The story behind the bytes: Alice (a.example) creates the MLS group of the room
// mimi://a.example/r/clubhouse, commits an Add of Bob's client (PublicMessage, with a Welcome),
// publishes a GroupInfo with external_pub, sends an application message (PrivateMessage), then
// proposes to add Carol and to remove Bob (PublicMessage proposals), and finally commits those
// proposals as a PrivateMessage (a handshake MIMI does not accept; used in negative tests).
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createProposal,
  defaultCapabilities,
  defaultLifetime,
  encodeMlsMessage,
  generateKeyPackage,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
} from "ts-mls";
import type { CiphersuiteImpl, ClientState, Credential, MLSMessage } from "ts-mls";
import { encodeCapabilities } from "ts-mls/capabilities.js";
import { encodeCredential } from "ts-mls/credential.js";
import { encodeGroupInfo } from "ts-mls/groupInfo.js";
import { encodeKeyPackage } from "ts-mls/keyPackage.js";
import { encodeRatchetTree } from "ts-mls/ratchetTree.js";
import { encodeWelcome } from "ts-mls/welcome.js";

/** Plain bytes of real MLS structures (RFC 9420), bare unless the name ends in `Message`. */
export interface WireFixtures {
  /** The cipher suite of everything below: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (1). */
  readonly cipherSuite: number;
  /** Bob's client credential (basic), RFC 9420 §5.3. */
  readonly credential: Uint8Array;
  /** Bob's signature public key (SignaturePublicKey content, without the <V> length). */
  readonly signaturePublicKey: Uint8Array;
  /** Bob's KeyPackage init_key (HPKEPublicKey content, without the <V> length). */
  readonly hpkePublicKey: Uint8Array;
  /** Bob's leaf Capabilities. */
  readonly capabilities: Uint8Array;
  /** Bob's KeyPackage (bare struct). */
  readonly keyPackage: Uint8Array;
  /** Carol's KeyPackage (bare struct). */
  readonly keyPackage2: Uint8Array;
  /** Bob's KeyPackage as MLSMessage (wire_format mls_key_package). */
  readonly keyPackageMessage: Uint8Array;
  /** The Welcome for Bob (bare struct, no ratchet_tree in its GroupInfo). */
  readonly welcome: Uint8Array;
  /** The same Welcome as MLSMessage (wire_format mls_welcome). */
  readonly welcomeMessage: Uint8Array;
  /** GroupInfo after Bob's add, with external_pub, without ratchet_tree (bare struct). */
  readonly groupInfo: Uint8Array;
  /** The same GroupInfo as MLSMessage (wire_format mls_group_info). */
  readonly groupInfoMessage: Uint8Array;
  /** The ratchet tree after Bob's add: `optional<Node> ratchet_tree<V>` including its length. */
  readonly ratchetTree: Uint8Array;
  /** MLSMessage(PublicMessage) carrying Alice's commit that adds Bob. */
  readonly commitPublicMessage: Uint8Array;
  /** MLSMessage(PublicMessage) carrying an Add proposal for Carol. */
  readonly proposalPublicMessage: Uint8Array;
  /** MLSMessage(PublicMessage) carrying a Remove proposal for Bob. */
  readonly proposalPublicMessage2: Uint8Array;
  /** MLSMessage(PrivateMessage) carrying an application message. */
  readonly applicationPrivateMessage: Uint8Array;
  /** MLSMessage(PrivateMessage) carrying a commit (not acceptable as a MIMI handshake). */
  readonly commitPrivateMessage: Uint8Array;
}

const enc = new TextEncoder();

function basic(identity: string): Credential {
  return { credentialType: "basic", identity: enc.encode(identity) };
}

function bytesOf(message: MLSMessage): Uint8Array {
  return encodeMlsMessage(message);
}

async function build(): Promise<WireFixtures> {
  const impl: CiphersuiteImpl = await getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"));
  const alice = await generateKeyPackage(basic("mimi://a.example/d/ClientA1"), defaultCapabilities(), defaultLifetime, [], impl);
  const bob = await generateKeyPackage(basic("mimi://b.example/d/ClientB1"), defaultCapabilities(), defaultLifetime, [], impl);
  const carol = await generateKeyPackage(basic("mimi://c.example/d/ClientC1"), defaultCapabilities(), defaultLifetime, [], impl);

  let state: ClientState = await createGroup(enc.encode("mimi://a.example/g/clubhouse"), alice.publicPackage, alice.privatePackage, [], impl);

  const addBob = await createCommit(
    { state, cipherSuite: impl },
    { wireAsPublicMessage: true, extraProposals: [{ proposalType: "add", add: { keyPackage: bob.publicPackage } }] },
  );
  state = addBob.newState;
  if (addBob.welcome === undefined) throw new Error("wireFixtures: the commit adding Bob produced no Welcome");

  const groupInfo = await createGroupInfoWithExternalPub(state, [], impl);

  const app = await createApplicationMessage(state, enc.encode("Hello, clubhouse"), impl);
  state = app.newState;

  const addCarol = await createProposal(state, true, { proposalType: "add", add: { keyPackage: carol.publicPackage } }, impl);
  state = addCarol.newState;
  const removeBob = await createProposal(state, true, { proposalType: "remove", remove: { removed: 1 } }, impl);
  state = removeBob.newState;
  const privateCommit = await createCommit({ state, cipherSuite: impl }, { wireAsPublicMessage: false });

  const leaf = bob.publicPackage.leafNode;
  return {
    cipherSuite: 1,
    credential: encodeCredential(leaf.credential),
    signaturePublicKey: leaf.signaturePublicKey.slice(),
    hpkePublicKey: bob.publicPackage.initKey.slice(),
    capabilities: encodeCapabilities(leaf.capabilities),
    keyPackage: encodeKeyPackage(bob.publicPackage),
    keyPackage2: encodeKeyPackage(carol.publicPackage),
    keyPackageMessage: bytesOf({ version: "mls10", wireformat: "mls_key_package", keyPackage: bob.publicPackage }),
    welcome: encodeWelcome(addBob.welcome),
    welcomeMessage: bytesOf({ version: "mls10", wireformat: "mls_welcome", welcome: addBob.welcome }),
    groupInfo: encodeGroupInfo(groupInfo),
    groupInfoMessage: bytesOf({ version: "mls10", wireformat: "mls_group_info", groupInfo }),
    ratchetTree: encodeRatchetTree(state.ratchetTree),
    commitPublicMessage: bytesOf(addBob.commit),
    proposalPublicMessage: bytesOf(addCarol.message),
    proposalPublicMessage2: bytesOf(removeBob.message),
    applicationPrivateMessage: bytesOf({ version: "mls10", wireformat: "mls_private_message", privateMessage: app.privateMessage }),
    commitPrivateMessage: bytesOf(privateCommit.commit),
  };
}

let cached: Promise<WireFixtures> | undefined;

/**
 * The fixtures, built once per process (KeyPackage generation and commits take milliseconds each;
 * several test files share one set). The byte arrays are shared between callers: never mutate them.
 */
export function makeWireFixtures(): Promise<WireFixtures> {
  cached ??= build();
  return cached;
}
