// Realistic values of every draft-ietf-mimi-protocol-06 struct, built around real MLS bytes from
// src/mls/wireFixtures.ts (tests outside src/mls may not import ts-mls), plus small helpers.
import assert from "node:assert/strict";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import type { Codec } from "../../../src/codec/index.ts";
import {
  asCredential,
  asGroupInfo,
  asKeyPackage,
  asMlsMessage,
  asRatchetTree,
  asWelcome,
} from "../../../src/mls/wire.ts";
import type { Capabilities, CredentialBytes, GroupInfoBytes, KeyPackageBytes, MlsMessageBytes, RatchetTreeBytes, WelcomeBytes } from "../../../src/mls/wire.ts";
import { makeWireFixtures } from "../../../src/mls/wireFixtures.ts";
import type { WireFixtures } from "../../../src/mls/wireFixtures.ts";
import {
  AbuseType,
  ConsentOperation,
  FieldSource,
  GroupInfoCode,
  GroupInfoRepresentation,
  IdentifierQueryCode,
  KeyMaterialClientCode,
  KeyMaterialUserCode,
  MimiComponentId,
  Protocol,
  RatchetTreePresence,
  RatchetTreeRepresentation,
  SearchIdentifierType,
  SubmitResponseCode,
  UpdateResponseCode,
  fanoutFromHandshakeBundle,
  fanoutWelcome,
} from "../../../src/protocol/index.ts";
import type {
  AbuseReport,
  ConsentEntry,
  FanoutMessage,
  Frank,
  GroupInfoRatchetTreeTBE,
  GroupInfoRequest,
  GroupInfoResponse,
  HandshakeBundle,
  IdentifierRequest,
  IdentifierResponse,
  KeyMaterialRequest,
  KeyMaterialResponse,
  RatchetTreeOption,
  SubmitMessageRequest,
  SubmitMessageResponse,
  UpdateRequest,
  UpdateRoomResponse,
} from "../../../src/protocol/index.ts";

export { expectCodecError, hex, toHex } from "../codec/helpers.ts";

/** UTF-8 bytes of `s` as hex (for writing expected encodings by hand). */
export function utf8hex(s: string): string {
  return Buffer.from(s, "utf8").toString("hex");
}

/** `n` bytes of value `b` as hex. */
export function fill(b: number, n: number): string {
  return b.toString(16).padStart(2, "0").repeat(n);
}

/** encode() then decodeExact() gives the value back, and the bytes are stable. */
export function roundTrip<T>(codec: Codec<T>, value: T): Uint8Array {
  const bytes = encode(codec, value);
  const back = decodeExact(codec, bytes);
  assert.deepEqual(back, value, `${codec.name} round trip`);
  assert.deepEqual(encode(codec, back), bytes, `${codec.name} re-encode`);
  return bytes;
}

export const ALICE = "mimi://a.example/u/alice";
export const BOB = "mimi://b.example/u/bob";
export const CATHY = "mimi://c.example/u/cathy";
export const ROOM = "mimi://a.example/r/clubhouse";
export const BOB_CLIENT = "mimi://b.example/d/ClientB1";

/** The fixtures as branded wire values. */
export interface Mls {
  readonly raw: WireFixtures;
  readonly credential: CredentialBytes;
  readonly keyPackage: KeyPackageBytes;
  readonly keyPackage2: KeyPackageBytes;
  readonly welcome: WelcomeBytes;
  readonly groupInfo: GroupInfoBytes;
  readonly ratchetTree: RatchetTreeBytes;
  readonly commit: MlsMessageBytes;
  readonly proposal: MlsMessageBytes;
  readonly proposal2: MlsMessageBytes;
  readonly application: MlsMessageBytes;
  readonly privateCommit: MlsMessageBytes;
  readonly welcomeMessage: MlsMessageBytes;
  readonly groupInfoMessage: MlsMessageBytes;
  readonly keyPackageMessage: MlsMessageBytes;
  readonly capabilities: Capabilities;
}

export async function loadMls(): Promise<Mls> {
  const raw = await makeWireFixtures();
  return {
    raw,
    credential: asCredential(raw.credential),
    keyPackage: asKeyPackage(raw.keyPackage),
    keyPackage2: asKeyPackage(raw.keyPackage2),
    welcome: asWelcome(raw.welcome),
    groupInfo: asGroupInfo(raw.groupInfo),
    ratchetTree: asRatchetTree(raw.ratchetTree),
    commit: asMlsMessage(raw.commitPublicMessage),
    proposal: asMlsMessage(raw.proposalPublicMessage),
    proposal2: asMlsMessage(raw.proposalPublicMessage2),
    application: asMlsMessage(raw.applicationPrivateMessage),
    privateCommit: asMlsMessage(raw.commitPrivateMessage),
    welcomeMessage: asMlsMessage(raw.welcomeMessage),
    groupInfoMessage: asMlsMessage(raw.groupInfoMessage),
    keyPackageMessage: asMlsMessage(raw.keyPackageMessage),
    capabilities: {
      versions: [1],
      cipherSuites: [1, 2, 3, 0x0a0a],
      extensions: [0x0006, 0xf0a1],
      proposals: [0x0008],
      credentials: [1, 2],
    },
  };
}

const bytes = (b: number, n: number): Uint8Array => new Uint8Array(n).fill(b);

export function frank(seed = 0x5a): Frank {
  return { serverFrank: bytes(seed, 32), frankingSignatureCiphersuite: 1, frankingIntegritySignature: bytes(seed ^ 0xff, 64) };
}

/** Every kind of RatchetTreeOption. */
export function ratchetTreeOptions(m: Mls): RatchetTreeOption[] {
  return [
    { representation: RatchetTreeRepresentation.full, ratchetTree: m.ratchetTree },
    { representation: RatchetTreeRepresentation.httpsUri, ratchetTreeUrl: "https://a.example/trees/clubhouse/7", treeSignature: bytes(0x11, 64) },
    { representation: RatchetTreeRepresentation.outOfBand, treeSignature: bytes(0x22, 64) },
    { representation: RatchetTreeRepresentation.distributionService },
  ];
}

export function keyMaterialRequest(m: Mls, roomId = ROOM): KeyMaterialRequest {
  return {
    protocol: Protocol.mls10,
    requestingUser: { uri: ALICE },
    targetUser: { uri: BOB },
    roomId: { uri: roomId },
    acceptableCiphersuites: [1, 3],
    requiredCapabilities: { extensionTypes: [0x0006], proposalTypes: [0x0008], credentialTypes: [1] },
    requesterSignatureKey: m.raw.signaturePublicKey,
    requesterCredential: m.credential,
    keyMaterialRequestSignature: bytes(0x77, 64),
  };
}

export function keyMaterialResponses(m: Mls): KeyMaterialResponse[] {
  return [
    {
      protocol: Protocol.mls10,
      userStatus: KeyMaterialUserCode.success,
      userUri: { uri: BOB },
      clients: [{ clientStatus: KeyMaterialClientCode.success, clientUri: { uri: BOB_CLIENT }, keyPackage: m.keyPackage }],
    },
    {
      protocol: Protocol.mls10,
      userStatus: KeyMaterialUserCode.partialSuccess,
      userUri: { uri: BOB },
      clients: [
        { clientStatus: KeyMaterialClientCode.success, clientUri: { uri: BOB_CLIENT }, keyPackage: m.keyPackage },
        { clientStatus: KeyMaterialClientCode.keyMaterialExhausted, clientUri: { uri: "mimi://b.example/d/ClientB2" } },
        { clientStatus: KeyMaterialClientCode.nothingCompatible, clientUri: { uri: "mimi://b.example/d/ClientB3" }, clientCapabilities: m.capabilities },
        { clientStatus: KeyMaterialClientCode.nothingCompatible, clientUri: { uri: "mimi://b.example/d/ClientB4" }, clientCapabilities: undefined },
      ],
    },
    {
      protocol: Protocol.mls10,
      userStatus: KeyMaterialUserCode.noCompatibleMaterial,
      userUri: { uri: BOB },
      clients: [{ clientStatus: KeyMaterialClientCode.nothingCompatible, clientUri: { uri: BOB_CLIENT }, clientCapabilities: m.capabilities }],
    },
    { protocol: Protocol.mls10, userStatus: KeyMaterialUserCode.noConsent, userUri: { uri: BOB }, clients: [] },
  ];
}

export function handshakeBundles(m: Mls): HandshakeBundle[] {
  const [full, https] = ratchetTreeOptions(m);
  return [
    {
      kind: "commit",
      proposalOrCommit: m.commit,
      welcome: m.welcome,
      groupInfoOption: { representation: GroupInfoRepresentation.full, groupInfo: m.groupInfo },
      ratchetTreeOption: full!,
    },
    {
      kind: "commit",
      proposalOrCommit: m.commit,
      welcome: undefined,
      groupInfoOption: {
        representation: GroupInfoRepresentation.partial,
        partialGroupInfo: {
          ratchetTreePresence: RatchetTreePresence.no_ratchet_tree,
          groupInfoExtensions: [{ extensionType: 0x0004, extensionData: bytes(0x33, 32) }],
          signature: bytes(0x44, 64),
        },
      },
      ratchetTreeOption: https!,
    },
    { kind: "proposal", proposalOrCommit: m.proposal, moreProposals: [m.proposal2] },
    { kind: "proposal", proposalOrCommit: m.proposal2, moreProposals: [] },
  ];
}

export function updateRequests(m: Mls): UpdateRequest[] {
  return handshakeBundles(m).map((bundle) => ({ bundle }));
}

export function updateRoomResponses(): UpdateRoomResponse[] {
  return [
    { responseCode: UpdateResponseCode.success, errorDescription: "", acceptedTimestamp: 1_767_225_600_123n },
    { responseCode: UpdateResponseCode.wrongEpoch, errorDescription: "epoch is 8", currentEpoch: 8n },
    { responseCode: UpdateResponseCode.notAllowed, errorDescription: "bob may not add users (rôle)" },
    { responseCode: UpdateResponseCode.invalidProposal, errorDescription: "", invalidProposals: [bytes(0xaa, 32), bytes(0xbb, 32)] },
  ];
}

export function submitMessageRequest(m: Mls): SubmitMessageRequest {
  return { protocol: Protocol.mls10, appMessage: m.application, sendingUri: { uri: CATHY } };
}

export function submitMessageResponses(): SubmitMessageResponse[] {
  return [
    { protocol: Protocol.mls10, statusCode: SubmitResponseCode.accepted, acceptedTimestamp: 1_767_225_600_456n, frank: frank() },
    { protocol: Protocol.mls10, statusCode: SubmitResponseCode.accepted, acceptedTimestamp: 1_767_225_600_457n, frank: undefined },
    { protocol: Protocol.mls10, statusCode: SubmitResponseCode.notAllowed },
    { protocol: Protocol.mls10, statusCode: SubmitResponseCode.epochTooOld, currentEpoch: 12n },
  ];
}

export function fanoutMessages(m: Mls): FanoutMessage[] {
  const [commitBundle, , proposalBundle] = handshakeBundles(m);
  return [
    { kind: "application", timestamp: 1_767_225_600_001n, message: m.application, frank: frank() },
    { kind: "application", timestamp: 1_767_225_600_002n, message: m.application, frank: undefined },
    fanoutWelcome(m.welcome, ratchetTreeOptions(m)[0]!, 1_767_225_600_003n),
    fanoutFromHandshakeBundle(proposalBundle!, 1_767_225_600_004n),
    fanoutFromHandshakeBundle(commitBundle!, 1_767_225_600_005n, [m.proposal2]),
  ];
}

export function groupInfoRequest(m: Mls, joiningCode = new Uint8Array()): GroupInfoRequest {
  return {
    protocol: Protocol.mls10,
    cipherSuite: 1,
    requestingSignatureKey: m.raw.signaturePublicKey,
    requestingCredential: m.credential,
    groupInfoPublicKey: m.raw.hpkePublicKey,
    joiningCode,
    signature: bytes(0x66, 64),
  };
}

export function groupInfoResponses(m: Mls): GroupInfoResponse[] {
  const roomId = new TextEncoder().encode(ROOM);
  return [
    {
      protocol: Protocol.mls10,
      roomId,
      status: GroupInfoCode.success,
      cipherSuite: 1,
      hubSender: { signatureKey: m.raw.signaturePublicKey, credential: m.credential },
      encryptedGroupinfoAndTree: { kemOutput: bytes(0x01, 32), ciphertext: bytes(0x02, 700) },
      signature: bytes(0x03, 64),
    },
    { protocol: Protocol.mls10, roomId, status: GroupInfoCode.notAuthorized },
    { protocol: Protocol.mls10, roomId, status: GroupInfoCode.noSuchRoom },
  ];
}

export function groupInfoTbe(m: Mls): GroupInfoRatchetTreeTBE {
  return {
    groupInfo: m.groupInfo,
    ratchetTreeOption: ratchetTreeOptions(m)[0]!,
    pendingProposals: [
      { proposal: m.proposal, hubAcceptedTime: 1_767_225_600_010n },
      { proposal: m.proposal2, hubAcceptedTime: 1_767_225_600_011n },
    ],
  };
}

export function consentEntries(m: Mls): ConsentEntry[] {
  const ext = { componentData: [{ componentId: 0xf000, data: bytes(0x01, 3) }] };
  return [
    { consentOperation: ConsentOperation.request, requesterUri: { uri: ALICE }, targetUri: { uri: BOB }, roomId: { uri: ROOM }, consentExtensions: { componentData: [] } },
    { consentOperation: ConsentOperation.cancel, requesterUri: { uri: ALICE }, targetUri: { uri: BOB }, roomId: { uri: ROOM }, consentExtensions: { componentData: [] } },
    {
      consentOperation: ConsentOperation.grant,
      requesterUri: { uri: ALICE },
      targetUri: { uri: BOB },
      roomId: undefined,
      clientKeyPackages: [m.keyPackage, m.keyPackage2],
      consentExtensions: ext,
    },
    { consentOperation: ConsentOperation.grant, requesterUri: { uri: BOB }, targetUri: { uri: ALICE }, roomId: undefined, clientKeyPackages: [], consentExtensions: { componentData: [] } },
    { consentOperation: ConsentOperation.revoke, requesterUri: { uri: ALICE }, targetUri: { uri: BOB }, roomId: undefined, consentExtensions: { componentData: [] } },
  ];
}

export function identifierRequests(): IdentifierRequest[] {
  return [
    {
      queryElements: [
        { searchType: SearchIdentifierType.oidcStdClaim, claimName: "given_name", searchValue: "Xavier" },
        { searchType: SearchIdentifierType.vcardField, propertyName: "ORG", searchValue: "XYZ Sales" },
      ],
      idRequestExtensions: { componentData: [] },
    },
    { queryElements: [{ searchType: SearchIdentifierType.handle, searchValue: "im:yolanda@xyz.example" }], idRequestExtensions: { componentData: [] } },
    {
      queryElements: [
        { searchType: SearchIdentifierType.nick, searchValue: "alice.smith" },
        { searchType: SearchIdentifierType.email, searchValue: "asmith@a.example" },
        { searchType: SearchIdentifierType.phone, searchValue: "+12125551212" },
        { searchType: SearchIdentifierType.partialName, searchValue: "mat" },
        { searchType: SearchIdentifierType.wholeProfile, searchValue: "Zürich" },
      ],
      idRequestExtensions: { componentData: [{ componentId: 0x8001, data: new Uint8Array([1]) }] },
    },
  ];
}

export function identifierResponses(): IdentifierResponse[] {
  return [
    {
      responseCode: IdentifierQueryCode.success,
      uri: [{ uri: "mimi://xyz.example/u/xavier" }],
      foundProfiles: [
        {
          stableUri: { uri: "mimi://xyz.example/u/xavier" },
          fields: [
            { fieldSource: FieldSource.oidcStdClaim, fieldName: "given_name", fieldValue: new TextEncoder().encode("Xavier") },
            { fieldSource: FieldSource.vcardField, fieldName: "ORG", fieldValue: new TextEncoder().encode("XYZ Sales") },
          ],
        },
      ],
      idResponseExtensions: { componentData: [] },
    },
    { responseCode: IdentifierQueryCode.notFound, uri: [], foundProfiles: [], idResponseExtensions: { componentData: [] } },
    { responseCode: IdentifierQueryCode.unsupportedField, uri: [], foundProfiles: [], idResponseExtensions: { componentData: [] } },
  ];
}

export function abuseReports(): AbuseReport[] {
  return [
    {
      reportingUser: { uri: ALICE },
      allegedAbuserUri: { uri: CATHY },
      reasonCode: AbuseType.reserved,
      note: "spam links, three times today",
      messages: [
        { messageContent: bytes(0xa1, 120), frank: frank(0x10), acceptedTimestamp: 1_767_225_600_100n },
        { messageContent: bytes(0xa2, 80), frank: frank(0x20), acceptedTimestamp: 1_767_225_600_200n },
      ],
      abuseExtensions: { componentData: [{ componentId: MimiComponentId.frank_aad, data: bytes(0x30, 32) }] },
    },
    { reportingUser: { uri: "" }, allegedAbuserUri: { uri: CATHY }, reasonCode: AbuseType.reserved, note: "", messages: [], abuseExtensions: { componentData: [] } },
  ];
}
