// What a native client may do at its provider (docs/CLIENT-API.md), for one authenticated user.
// The HTTP client API (server.ts) and the bridge's in-process transport (src/bridge/) both go
// through these functions, so a bridged legacy user's MLS client and a native client follow
// exactly the same rules.
import { decodeExact, encode } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import { parseMimiUri } from "../ids/index.ts";
import type { InboxEvent } from "../inbox/inbox.ts";
import { cipherSuiteId, keyPackageSummary, verifyKeyPackageBytes } from "../mls/index.ts";
import { asMlsMessage } from "../mls/wire.ts";
import type { RoomKind } from "../policy/index.ts";
import { KeyMaterialRequest, Protocol, SubmitMessageRequest } from "../protocol/index.ts";
import type { UserRecord } from "../accounts/accounts.ts";
import type { Services } from "../services.ts";
import type { RoomTemplate } from "../hub/records.ts";

/** Client API room kinds (`channel` is the moderated-channel preset). */
export const ROOM_KINDS: Readonly<Record<string, RoomKind>> = { direct: "direct", group: "group", channel: "moderatedChannel", moderatedChannel: "moderatedChannel" };

export function roomKindOf(kind: unknown): RoomKind {
  const k = ROOM_KINDS[String(kind)];
  if (!k) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "kind must be direct, group or channel");
  return k;
}

/** A room URI (canonical), or MIMI_ERR_CLIENT_BAD_REQUEST. */
export function roomUriOf(value: string): string {
  try {
    const parsed = parseMimiUri(value.startsWith("mimi://") ? value : `mimi://${value}`);
    if (parsed.kind !== "room") throw new Error("not a room");
    return parsed.uri;
  } catch (cause) {
    throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `not a room: ${value}`, { cause });
  }
}

export class ClientOperations {
  readonly #s: Services;
  readonly user: UserRecord;

  constructor(services: Services, user: UserRecord) {
    this.#s = services;
    this.user = user;
  }

  async me(): Promise<{ userUri: string; provider: string; devices: string[] }> {
    return { userUri: this.user.userUri, provider: this.#s.domain, devices: (await this.#s.accounts.devices(this.user.name)).map((d) => d.clientUri) };
  }

  provider(): { domain: string; hubSignatureKey: Uint8Array; hubCredential: Uint8Array; cipherSuites: number[]; roomKinds: string[] } {
    return {
      domain: this.#s.domain,
      hubSignatureKey: this.#s.hubSender.signaturePublicKey,
      hubCredential: this.#s.hubIdentity.credential,
      cipherSuites: [cipherSuiteId(this.#s.hubSender.cipherSuite)],
      roomKinds: ["direct", "group", "channel"],
    };
  }

  async addDevice(deviceId: string | undefined): Promise<{ clientUri: string }> {
    const d = await this.#s.accounts.addDevice(this.user.name, deviceId);
    return { clientUri: d.clientUri };
  }

  /** Verifies each KeyPackage (signatures, lifetime, MIMI capabilities, one of the user's devices) and stores them. */
  async uploadKeyPackages(keyPackages: readonly Uint8Array[]): Promise<{ stored: number }> {
    if (keyPackages.length === 0 || keyPackages.length > 100) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "upload 1 to 100 KeyPackages at a time");
    const devices = new Set((await this.#s.accounts.devices(this.user.name)).map((d) => d.clientUri));
    const items = [];
    for (const [i, bytes] of keyPackages.entries()) {
      let facts;
      try {
        // The whole KeyPackage is verified before it is stored: the provider hands it out later.
        await verifyKeyPackageBytes(bytes);
        facts = keyPackageSummary(bytes);
      } catch (cause) {
        throw new MimiError("MIMI_ERR_CLIENT_BAD_KEY_PACKAGE", `KeyPackage ${i} is not valid`, { cause });
      }
      if (!devices.has(facts.clientUri)) throw new MimiError("MIMI_ERR_CLIENT_BAD_KEY_PACKAGE", `KeyPackage ${i} names ${facts.clientUri}, not a device of ${this.user.userUri}`);
      items.push({ bytes, facts: { ...facts, notAfter: Number(facts.notAfter) } });
    }
    return { stored: await this.#s.keyPackages.upload(this.user.name, items) };
  }

  async keyPackageCounts(): Promise<Record<string, { available: number; lastResort: number }>> {
    return Object.fromEntries(await this.#s.keyPackages.counts(this.user.name));
  }

  template(kind: RoomKind, participants: readonly string[]): Promise<RoomTemplate> {
    return this.#s.hub.template(this.user.userUri, kind, participants.map((p) => parseMimiUri(p).uri));
  }

  async createRoom(roomId: string, clientUri: string, groupInfo: Uint8Array, ratchetTree: Uint8Array): Promise<{ roomId: string; epoch: number }> {
    if (!(await this.#s.accounts.hasDevice(this.user.name, clientUri))) throw new MimiError("MIMI_ERR_CLIENT_FORBIDDEN", `${clientUri} is not a device of ${this.user.userUri}`);
    const record = await this.#s.hub.createRoom(this.user.userUri, clientUri, roomUriOf(roomId), groupInfo, ratchetTree);
    await this.#s.follower.subscribe(record.roomId, this.user.name);
    return { roomId: record.roomId, epoch: record.epoch };
  }

  async rooms(): Promise<{ roomId: string; hub: string }[]> {
    return (await this.#s.follower.roomsOf(this.user.name)).map((r) => ({ roomId: r.roomId, hub: r.hub }));
  }

  /** A KeyMaterialRequest signed by one of the caller's clients, relayed through the room's hub. */
  keyMaterial(roomId: string, request: Uint8Array): Promise<Uint8Array> {
    const parsed = decodeExact(KeyMaterialRequest, request);
    // The requester must be the caller (the provider vouches for its users).
    if (parsed.requestingUser.uri !== this.user.userUri || parsed.roomId.uri !== roomUriOf(roomId)) {
      throw new MimiError("MIMI_ERR_CLIENT_FORBIDDEN", "the request must name the caller and this room");
    }
    return this.#s.follower.relayKeyMaterial(request);
  }

  async update(roomId: string, bundle: Uint8Array): Promise<Uint8Array> {
    const room = roomUriOf(roomId);
    const response = await this.#s.follower.relayUpdate(room, bundle);
    await this.#s.follower.subscribe(room, this.user.name);
    return response;
  }

  submit(roomId: string, message: Uint8Array): Promise<Uint8Array> {
    // sendingUri is the authenticated caller, never what the client says.
    const submit = encode(SubmitMessageRequest, { protocol: Protocol.mls10, appMessage: asMlsMessage(message), sendingUri: { uri: this.user.userUri } });
    return this.#s.follower.relaySubmit(roomUriOf(roomId), submit);
  }

  groupInfo(roomId: string, request: Uint8Array): Promise<Uint8Array> {
    return this.#s.follower.relayGroupInfo(roomUriOf(roomId), request);
  }

  unsubscribe(roomId: string): Promise<void> {
    return this.#s.follower.unsubscribe(roomUriOf(roomId), this.user.name);
  }

  events(after: number, waitMs: number, signal?: AbortSignal): Promise<InboxEvent[]> {
    if (!Number.isInteger(after) || after < 0) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "after must be a non-negative integer");
    return this.#s.inbox.wait(this.user.name, after, waitMs, signal);
  }

  async ack(clientUri: string, seq: number): Promise<void> {
    if (!Number.isInteger(seq) || seq < 0) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "seq must be a non-negative integer");
    const devices = (await this.#s.accounts.devices(this.user.name)).map((d) => d.clientUri);
    if (!devices.includes(clientUri)) throw new MimiError("MIMI_ERR_CLIENT_FORBIDDEN", `${clientUri} is not a device of ${this.user.userUri}`);
    if (seq > (await this.#s.inbox.lastSeq(this.user.name))) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "seq is beyond the last event");
    await this.#s.inbox.acknowledge(this.user.name, clientUri, seq, devices);
  }
}
