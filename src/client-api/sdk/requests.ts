// The signed requests a client makes through its provider (draft-ietf-mimi-protocol-06):
// KeyMaterialRequest (§5.2) and GroupInfoRequest (§5.6), and opening the hub's GroupInfoResponse.
import { decodeExact, encode } from "../../codec/index.ts";
import { MimiError } from "../../errors.ts";
import { parseMimiUri } from "../../ids/index.ts";
import { cipherSuiteId, decryptWithLabel, generateHpkeKeyPair, groupInfoToMessage, parseMimiCredential, signWithLabel, verifyWithLabel } from "../../mls/index.ts";
import type { MlsClient } from "../../mls/index.ts";
import {
  GROUP_INFO_ENCRYPTION_LABEL,
  GROUP_INFO_REQUEST_TBS_LABEL,
  GROUP_INFO_RESPONSE_TBS_LABEL,
  GroupInfoCode,
  GroupInfoCodeCodec,
  GroupInfoRatchetTreeTBE,
  GroupInfoRequest,
  GroupInfoResponse,
  KEY_MATERIAL_REQUEST_TBS_LABEL,
  KeyMaterialRequest,
  Protocol,
  RatchetTreeRepresentation,
  encodeGroupInfoRequestTBS,
  encodeGroupInfoResponseTBS,
  encodeKeyMaterialRequestTBS,
} from "../../protocol/index.ts";
import type { GroupInfoRequest as GroupInfoRequestValue, KeyMaterialRequestTBS } from "../../protocol/index.ts";
import { utf8Decode } from "./util.ts";
import { basicCredential, basicCredentialIdentity } from "./wire.ts";

/** ExtensionType app_data_dictionary and ProposalType app_data_update (mls-extensions-09), credential type basic. */
const REQUIRED_CAPABILITIES = { extensionTypes: [0x0006], proposalTypes: [0x0008], credentialTypes: [1] };

/** The client's credential in its TLS encoding. */
function credentialOf(client: MlsClient): ReturnType<typeof basicCredential> {
  if (client.credential.credentialType !== "basic") throw new MimiError("MIMI_ERR_INTERNAL", "MIMI clients use basic credentials");
  return basicCredential(client.credential.identity);
}

/**
 * A KeyMaterialRequest (protocol-06 §5.2) signed by the client:
 * key_material_request_signature = SignWithLabel(key, "KeyMaterialRequestTBS", KeyMaterialRequestTBS).
 */
export async function signedKeyMaterialRequest(client: MlsClient, r: { readonly requestingUser: string; readonly targetUser: string; readonly roomId: string }): Promise<Uint8Array> {
  const tbs: KeyMaterialRequestTBS = {
    protocol: Protocol.mls10,
    requestingUser: { uri: r.requestingUser },
    targetUser: { uri: r.targetUser },
    roomId: { uri: r.roomId },
    acceptableCiphersuites: [cipherSuiteId(client.cipherSuite)],
    requiredCapabilities: REQUIRED_CAPABILITIES,
    requesterSignatureKey: client.signaturePublicKey,
    requesterCredential: credentialOf(client),
  };
  const signature = await signWithLabel(client.cipherSuite, client, KEY_MATERIAL_REQUEST_TBS_LABEL, encodeKeyMaterialRequestTBS(tbs), { cryptoProvider: client.cryptoProvider });
  return encode(KeyMaterialRequest, { ...tbs, keyMaterialRequestSignature: signature });
}

/** What opens the GroupInfoResponse of a request: the HPKE private key (secret). */
export interface GroupInfoRequestSecret {
  readonly privateKey: Uint8Array;
  readonly client: MlsClient;
}

/** A GroupInfoRequest (protocol-06 §5.6) with a fresh HPKE key, signed by the client (no joining code). */
export async function groupInfoRequest(client: MlsClient): Promise<{ request: Uint8Array; open: GroupInfoRequestSecret }> {
  const hpke = await generateHpkeKeyPair(client.cipherSuite, { cryptoProvider: client.cryptoProvider });
  const unsigned = {
    protocol: Protocol.mls10,
    cipherSuite: cipherSuiteId(client.cipherSuite),
    requestingSignatureKey: client.signaturePublicKey,
    requestingCredential: credentialOf(client),
    groupInfoPublicKey: hpke.publicKey,
    joiningCode: new Uint8Array(0),
  } as const;
  const signature = await signWithLabel(client.cipherSuite, client, GROUP_INFO_REQUEST_TBS_LABEL, encodeGroupInfoRequestTBS(unsigned), { cryptoProvider: client.cryptoProvider });
  const request: GroupInfoRequestValue = { ...unsigned, signature };
  return { request: encode(GroupInfoRequest, request), open: { privateKey: hpke.privateKey, client } };
}

/** The room's GroupInfo (MLSMessage) and ratchet tree, from a GroupInfoResponse. */
export interface OpenedGroupInfo {
  readonly groupInfo: Uint8Array;
  readonly ratchetTree?: Uint8Array;
  /** Proposals the hub accepted in the current epoch (protocol-06 §5.6). */
  readonly pendingProposals: number;
}

/**
 * Checks and decrypts a GroupInfoResponse: status success, the hub's signature over
 * GroupInfoResponseTBS with hub_sender's key, hub_sender a provider credential of the room's
 * domain, then DecryptWithLabel(key, "GroupInfo and ratchet_tree encryption", room_id, …).
 */
export async function openGroupInfoResponse(bytes: Uint8Array, secret: GroupInfoRequestSecret, roomId: string): Promise<OpenedGroupInfo> {
  let r;
  try {
    r = decodeExact(GroupInfoResponse, bytes);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "the GroupInfoResponse does not decode", { cause });
  }
  if (r.status !== GroupInfoCode.success) {
    const name = GroupInfoCodeCodec.nameOf(r.status) ?? String(r.status);
    throw new MimiError(r.status === GroupInfoCode.noSuchRoom ? "MIMI_ERR_ROOM_NOT_FOUND" : "MIMI_ERR_SDK_NOT_ALLOWED", `the hub answered the GroupInfoRequest with ${name}`, { details: { status: name } });
  }
  const suite = secret.client.cipherSuite;
  const options = { cryptoProvider: secret.client.cryptoProvider };
  if (!(await verifyWithLabel(suite, r.hubSender.signatureKey, GROUP_INFO_RESPONSE_TBS_LABEL, encodeGroupInfoResponseTBS(r), r.signature, options))) {
    throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "the GroupInfoResponse signature does not verify");
  }
  const identity = basicCredentialIdentity(r.hubSender.credential.bytes);
  const hub = identity === undefined ? undefined : parseMimiCredential({ credentialType: "basic", identity });
  if (hub?.kind !== "provider" || hub.provider !== parseMimiUri(roomId).host) {
    throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "the GroupInfoResponse is not signed by the room's hub");
  }
  const roomIdText = (() => {
    try {
      return utf8Decode(r.roomId);
    } catch {
      return "";
    }
  })();
  if (roomIdText !== roomId && roomIdText !== roomId.replace(/^mimi:\/\//, "")) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "the GroupInfoResponse is for another room");
  const plaintext = await decryptWithLabel(suite, secret.privateKey, GROUP_INFO_ENCRYPTION_LABEL, r.roomId, r.encryptedGroupinfoAndTree.kemOutput, r.encryptedGroupinfoAndTree.ciphertext, options);
  let tbe;
  try {
    tbe = decodeExact(GroupInfoRatchetTreeTBE, plaintext);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "the decrypted GroupInfo and ratchet tree do not decode", { cause });
  }
  const tree = tbe.ratchetTreeOption.representation === RatchetTreeRepresentation.full ? tbe.ratchetTreeOption.ratchetTree.bytes : undefined;
  return { groupInfo: groupInfoToMessage(tbe.groupInfo.bytes), ...(tree === undefined ? {} : { ratchetTree: tree }), pendingProposals: tbe.pendingProposals.length };
}

