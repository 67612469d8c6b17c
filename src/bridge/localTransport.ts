// The SDK's ClientTransport in-process, for the MLS clients the bridge hosts for its legacy users:
// the same operations as the HTTP client API (src/client-api/operations.ts), bound to one local
// user, without tokens (the bridge is the provider).
import type { Accounts } from "../accounts/accounts.ts";
import { ClientOperations, roomKindOf } from "../client-api/operations.ts";
import type { ClientTransport, MeInfo, ProviderInfo, RoomKind, RoomSummary, RoomTemplate, ServerEvent } from "../client-api/sdk/transport.ts";
import { MimiError } from "../errors.ts";
import type { Services } from "../services.ts";

export class LocalTransport implements ClientTransport {
  readonly #s: Services;
  readonly #user: string;
  #ops: ClientOperations | undefined;

  constructor(services: Services, userName: string) {
    this.#s = services;
    this.#user = userName;
  }

  async #o(): Promise<ClientOperations> {
    if (this.#ops) return this.#ops;
    const accounts: Accounts = this.#s.accounts;
    const user = await accounts.getUser(this.#user);
    if (!user) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED", `no local user ${this.#user}`);
    this.#ops = new ClientOperations(this.#s, user);
    return this.#ops;
  }

  setToken(): void {
    // No token in-process: the transport is bound to its user.
  }

  register(): Promise<{ userUri: string; token: string }> {
    return Promise.reject(new MimiError("MIMI_ERR_INTERNAL", "hosted clients are registered by the bridge, not through the transport"));
  }

  async me(): Promise<MeInfo> {
    return (await this.#o()).me();
  }

  async provider(): Promise<ProviderInfo> {
    const p = (await this.#o()).provider();
    return { domain: p.domain, hubExternalSender: { signatureKey: p.hubSignatureKey, credential: p.hubCredential }, cipherSuites: p.cipherSuites, roomKinds: p.roomKinds };
  }

  async registerDevice(deviceId?: string): Promise<{ clientUri: string }> {
    return (await this.#o()).addDevice(deviceId);
  }

  async uploadKeyPackages(keyPackages: readonly Uint8Array[]): Promise<{ stored: number }> {
    return (await this.#o()).uploadKeyPackages(keyPackages);
  }

  async keyPackageCount(clientUri: string): Promise<{ available: number; lastResort: number }> {
    return (await (await this.#o()).keyPackageCounts())[clientUri] ?? { available: 0, lastResort: 0 };
  }

  async roomTemplate(kind: RoomKind, participants: readonly string[] = []): Promise<RoomTemplate> {
    const t = await (await this.#o()).template(roomKindOf(kind), participants);
    return {
      roomId: t.roomId,
      groupId: t.groupId,
      hubExternalSender: { signatureKey: this.#s.hubSender.signaturePublicKey, credential: this.#s.hubIdentity.credential },
      components: { participantList: t.participantList, rolesList: t.rolesList, baseRoomPolicy: t.baseRoomPolicy },
    };
  }

  async createRoom(roomId: string, groupInfo: Uint8Array, ratchetTree: Uint8Array, clientUri: string): Promise<{ roomId: string; epoch: number }> {
    return (await this.#o()).createRoom(roomId, clientUri, groupInfo, ratchetTree);
  }

  async rooms(): Promise<RoomSummary[]> {
    return (await this.#o()).rooms();
  }

  async keyMaterial(roomId: string, request: Uint8Array): Promise<Uint8Array> {
    return (await this.#o()).keyMaterial(roomId, request);
  }

  async update(roomId: string, bundle: Uint8Array): Promise<Uint8Array> {
    return (await this.#o()).update(roomId, bundle);
  }

  async submit(roomId: string, message: Uint8Array): Promise<Uint8Array> {
    return (await this.#o()).submit(roomId, message);
  }

  async groupInfo(roomId: string, request: Uint8Array): Promise<Uint8Array> {
    return (await this.#o()).groupInfo(roomId, request);
  }

  async events(after: number, waitMs: number, signal?: AbortSignal): Promise<ServerEvent[]> {
    const events = await (await this.#o()).events(after, waitMs, signal);
    return events.map((e) =>
      e.type === "welcome"
        ? { seq: e.seq, type: e.type, roomId: e.roomId, timestamp: e.timestamp, fanout: e.fanout, keyPackageRefs: e.keyPackageRefs }
        : { seq: e.seq, type: e.type, roomId: e.roomId, timestamp: e.timestamp, fanout: e.fanout },
    );
  }

  async ack(clientUri: string, seq: number): Promise<void> {
    await (await this.#o()).ack(clientUri, seq);
  }
}
