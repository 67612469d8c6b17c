// MimiClient: the TypeScript SDK for native MIMI users (docs/SDK.md). It holds the user's MLS keys,
// talks to its own provider's client API (docs/CLIENT-API.md), and turns the provider's ordered
// event stream into typed events.
//
// Concurrency model: one mutex serialises everything that reads or changes the client state:
// processing of incoming events and every operation. The long poll for events runs outside it.
// Operations that commit first catch up with pending events, then build the commit on the newest
// state; a commit the hub answers wrongEpoch is dropped, the client processes events up to the
// hub's epoch and builds the operation again (bounded retries, retry.ts).
//
// Durability: everything one incoming event changes (group state, room records, message index,
// derived SDK events) is written in one batch with the new cursor (state.ts). A commit of our own
// is recorded as pending before it is sent, so a crash between the hub's acceptance and our write
// is repaired when the commit comes back in the event stream.
import { randomBytes, randomInt } from "node:crypto";
import { MimiError, isMimiError } from "../../errors.ts";
import { silentLogger } from "../../log.ts";
import type { Logger } from "../../log.ts";
import {
  addMembers,
  createClient,
  createCommit,
  createRoomGroup,
  decodeGroupState,
  decodeKeyPackage,
  encodeGroupState,
  epoch,
  exportHubGroupInfo,
  externalJoin,
  generateKeyPackages,
  getParticipantList,
  getBaseRoomPolicy,
  getRolesList,
  getRoomMetadata,
  inspectMessage,
  isActive,
  joinFromWelcome,
  leafIndexesOfUser,
  members,
  MimiComponentId,
  ownLeafIndex,
  participantListUpdateProposal,
  processMessage,
  propose,
  proposeSelfRemove,
  roomMetadataUpdateProposal,
  encryptApplication,
  parseMimiCredential,
} from "../../mls/index.ts";
import type { CryptoProviderName, ExternalSenderEntry, MlsClient, MlsGroup, ParticipantListUpdate, ProposalInput } from "../../mls/index.ts";
import { parseMimiUri } from "../../ids/index.ts";
import { asMlsMessage, mlsMessageToKeyPackage } from "../../mls/wire.ts";
import type { Store } from "../../storage/index.ts";
import { buildMessage, interpretMessage } from "./content.ts";
import type { ExternalAttachment } from "./content.ts";
import type { MessageOperation, MessageStatusEntry } from "./content.ts";
import { MIMI_EVENT_TYPES, fromStored, memberEvents, metadataEvents, participantEvents, removalReason, toStored } from "./events.ts";
import type { MimiEvent, MimiEventOf, MimiEventType } from "./events.ts";
import { groupInfoRequest, openGroupInfoResponse, signedKeyMaterialRequest } from "./requests.ts";
import { retryOnWrongEpoch } from "./retry.ts";
import type { AttemptOutcome } from "./retry.ts";
import { addedRole, resolveRole, roleName, roleOf } from "./roles.ts";
import { ClientStateStore, openClientStore } from "./state.ts";
import type { AccountRecord, MessageIndexEntry, RoomRecord, StateBatch, StoredKeyPackage } from "./state.ts";
import { HttpTransport } from "./transport.ts";
import { DiscoveryClient } from "./discovery.ts";
import type { ConnectOptions, ConnectResult, DiscoverResult, DiscoveryInfo, Profile, ProfileChange, PublishedMapping, RemoveMappingResult, SearchElementInput, SearchResult, Searchability } from "./discovery.ts";
import type { ClientTransport, RoomKind, ServerEvent } from "./transport.ts";
import { ConsentApi, keyMaterialRefusal } from "./consent.ts";
import type { ConsentList, ConsentRecordInfo, PreConsentPolicy } from "./consent.ts";
import { Mutex, sha256Hex, sleep, toHex } from "./util.ts";
import { basicCredentialIdentity, commitBundle, parseFanout, parseKeyMaterialResponse, parseSubmitResponse, parseUpdateResponse, proposalBundle } from "./wire.ts";

export interface MimiClientOptions {
  /** The provider's client API, e.g. http://127.0.0.1:8481 (docs/CLIENT-API.md). */
  readonly apiUrl: string;
  /** The bearer token; otherwise the one kept in the state (register/login store it). */
  readonly token?: string;
  /** Where the client keeps its state: a Store opened with CLIENT_STATE_NAMESPACES, or a data folder. */
  readonly state: Store | string;
  readonly logger?: Logger;
  /** The MLS crypto provider (default "native"). */
  readonly cryptoProvider?: CryptoProviderName;
  /** Replaces the HTTP transport (tests). */
  readonly transport?: ClientTransport;
  /** Keep the token in the state (default true). */
  readonly persistToken?: boolean;
  /** KeyPackages kept on the provider (default 10); more are uploaded when fewer than `keyPackageLowWater` (default 3) remain. */
  readonly keyPackageTarget?: number;
  readonly keyPackageLowWater?: number;
  /** Attempts for an operation that loses commit races (default 5). */
  readonly maxAttempts?: number;
  /** Commit other members' proposals (e.g. a leave) after a random delay in this range, ms (default [50, 400]); false: never. */
  readonly autoCommit?: false | readonly [number, number];
  /** Long-poll wait for events, ms (default 20 000). */
  readonly pollWaitMs?: number;
  /** How long an operation waits for events up to the hub's epoch after losing a race, ms (default 10 000). */
  readonly catchUpTimeoutMs?: number;
  /**
   * Whether to decrypt a room's application messages (default: always). A bridge that hosts
   * several users of one room decrypts each message with one of them only and passes the
   * plaintext to all (DESIGN.md §2); the others skip it and keep processing handshakes.
   */
  readonly decryptApplication?: (roomId: string) => boolean | Promise<boolean>;
}

export interface AccountInfo {
  readonly userUri: string;
  readonly provider: string;
  readonly deviceId: string;
  readonly clientUri: string;
}

export interface RoomInfo {
  readonly roomId: string;
  readonly status: RoomRecord["status"];
  readonly kind?: string;
  readonly epoch?: string;
  readonly name?: string;
  readonly participants: readonly { readonly user: string; readonly role: number; readonly roleName: string }[];
  /** Client URIs of the group's members. */
  readonly members: readonly string[];
}

export interface SendOptions {
  /** Send as text/markdown;variant=GFM-MIMI instead of text/plain. */
  readonly markdown?: boolean;
  /**
   * The content's salt (16 bytes; default random). A bridge derives it from the platform event
   * (draft-ietf-mimi-content §9.2 allows an HMAC derivation), so a resend after a crash has the
   * same message ID and receivers drop the duplicate.
   */
  readonly salt?: Uint8Array;
  /**
   * The thread (content §4.1 topicId) as hex, at most 4096 bytes. Replying in a thread: the
   * `topicId` of a message event of it; starting one under a message: that message's ID (the
   * convention docs/MAPPING.md "Threads and media" describes). Ignored by edits, which keep the
   * first version's.
   */
  readonly topicId?: string;
  /** Files sent as ExternalParts (content §4.5) after the text; http(s) URLs only. Not for edits. */
  readonly attachments?: readonly ExternalAttachment[];
}

export interface RoomMetadataChange {
  readonly name?: string;
  readonly subject?: string;
  readonly mood?: string;
  readonly avatar?: string;
}

type Listener = (event: MimiEvent) => unknown;

interface Subscriber {
  deliver(event: MimiEvent): Promise<void>;
  end(): void;
}

/** Changes of one unit of work, written in one batch. */
class Tx {
  readonly batch: StateBatch;
  readonly groups = new Map<string, MlsGroup | null>();
  readonly rooms = new Map<string, RoomRecord>();
  readonly events: { event: MimiEvent; contentBytes?: Uint8Array }[] = [];
  readonly after: (() => void)[] = [];

  constructor(batch: StateBatch) {
    this.batch = batch;
  }

  emit(event: MimiEvent, contentBytes?: Uint8Array): void {
    this.events.push(contentBytes === undefined ? { event } : { event, contentBytes });
  }
}

const DEFAULT_KEY_PACKAGES = 10;
const DEFAULT_LOW_WATER = 3;
const PENDING_PER_ROOM = 64;
const OWN_RECORD_TTL_MS = 7 * 24 * 3600 * 1000;
const ACK_EVERY = 20;
const REPLENISH_CHECK_MS = 10 * 60 * 1000;

/** A native MIMI client: one device of one user. */
export class MimiClient {
  readonly #options: MimiClientOptions;
  readonly #log: Logger;
  readonly #transport: ClientTransport;
  readonly #mutex = new Mutex();
  #storeOpen: Promise<ClientStateStore> | undefined;
  #ownsStore = false;
  #state: ClientStateStore | undefined;
  #account: AccountRecord | undefined;
  #mls: MlsClient | undefined;
  readonly #groups = new Map<string, MlsGroup>();
  readonly #rooms = new Map<string, RoomRecord>();
  #cursor = 0;
  #acked = 0;
  #evNext = 1;
  #delivered = 0;
  #loaded = false;
  #closed = false;
  #loop: Promise<void> | undefined;
  readonly #abort = new AbortController();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #subscribers = new Set<Subscriber>();
  #dispatching = false;
  #dispatchWake: (() => void) | undefined;
  #hasNew = false;
  #replenishing: Promise<void> | undefined;
  #discoveryClient: DiscoveryClient | undefined;
  #consentClient: ConsentApi | undefined;

  constructor(options: MimiClientOptions) {
    this.#options = options;
    this.#log = (options.logger ?? silentLogger()).child({ component: "client-sdk" });
    this.#transport = options.transport ?? new HttpTransport({ apiUrl: options.apiUrl, ...(options.token === undefined ? {} : { token: options.token }) });
  }

  // ---- state ---------------------------------------------------------------------------------------

  async #store(): Promise<ClientStateStore> {
    if (this.#closed) throw new MimiError("MIMI_ERR_SDK_CLOSED");
    this.#storeOpen ??= (async () => {
      const s = this.#options.state;
      let store: Store;
      if (typeof s === "string") {
        store = await openClientStore(s, this.#log);
        this.#ownsStore = true;
      } else {
        store = s;
      }
      const state = new ClientStateStore(store);
      this.#state = state;
      return state;
    })();
    return this.#storeOpen;
  }

  /** Loads the account, keys and counters (once). */
  async #load(): Promise<ClientStateStore> {
    const state = await this.#store();
    if (this.#loaded) return state;
    this.#account = await state.account();
    this.#cursor = await state.cursor();
    this.#acked = await state.acked();
    this.#evNext = (await state.get<{ next: number }>("evnext"))?.next ?? 1;
    this.#delivered = (await state.get<{ seq: number }>("evdelivered"))?.seq ?? 0;
    for (const r of await state.rooms()) this.#rooms.set(r.roomId, r);
    const token = this.#options.token ?? this.#account?.token;
    if (token !== undefined) this.#transport.setToken(token);
    if (this.#account?.clientUri !== undefined) await this.#restoreMls(this.#account);
    this.#loaded = true;
    return state;
  }

  async #restoreMls(a: AccountRecord): Promise<void> {
    if (a.clientUri === undefined || a.signaturePublicKey === undefined || a.signaturePrivateKey === undefined) return;
    this.#mls = await createClient(a.clientUri, {
      signatureKeyPair: { publicKey: a.signaturePublicKey, privateKey: a.signaturePrivateKey },
      ...(this.#options.cryptoProvider === undefined ? {} : { cryptoProvider: this.#options.cryptoProvider }),
    });
  }

  /** Everything an operation needs: loaded state, an account with a device, the MLS client. */
  async #ready(): Promise<{ state: ClientStateStore; account: AccountRecord & { clientUri: string }; mls: MlsClient }> {
    const state = await this.#load();
    const account = this.#account;
    if (account?.clientUri === undefined || this.#mls === undefined) throw new MimiError("MIMI_ERR_SDK_NOT_REGISTERED");
    return { state, account: account as AccountRecord & { clientUri: string }, mls: this.#mls };
  }

  async #groupOf(roomId: string, tx?: Tx): Promise<MlsGroup | undefined> {
    if (tx?.groups.has(roomId) === true) return tx.groups.get(roomId) ?? undefined;
    const cached = this.#groups.get(roomId);
    if (cached !== undefined) return cached;
    const room = tx?.rooms.get(roomId) ?? this.#rooms.get(roomId);
    if (room?.status !== "active" || this.#mls === undefined || this.#state === undefined) return undefined;
    const bytes = await this.#state.groupState(roomId);
    if (bytes === undefined) return undefined;
    const g = decodeGroupState(this.#mls, bytes);
    this.#groups.set(roomId, g);
    return g;
  }

  async #requireGroup(roomId: string): Promise<MlsGroup> {
    const g = await this.#groupOf(roomId);
    if (g === undefined || !isActive(g)) throw new MimiError("MIMI_ERR_SDK_UNKNOWN_ROOM", `this client is not a member of ${roomId}`, { details: { roomId } });
    return g;
  }

  #newTx(state: ClientStateStore): Tx {
    return new Tx(state.batch());
  }

  async #commitTx(state: ClientStateStore, tx: Tx, cursor?: number): Promise<void> {
    for (const [roomId, g] of tx.groups) {
      if (g === null || !isActive(g)) tx.batch.del(`group/${roomId}`);
      else tx.batch.putRaw(`group/${roomId}`, encodeGroupState(g));
    }
    for (const [roomId, r] of tx.rooms) tx.batch.put(`room/${roomId}`, r);
    let next = this.#evNext;
    for (const e of tx.events) {
      tx.batch.put(ClientStateStore.eventKey(next), toStored(e.event, e.contentBytes));
      next++;
    }
    if (tx.events.length > 0) tx.batch.put("evnext", { next });
    if (cursor !== undefined) tx.batch.put("cursor", { seq: cursor });
    await state.commit(tx.batch);
    this.#evNext = next;
    if (cursor !== undefined) this.#cursor = cursor;
    for (const [roomId, g] of tx.groups) {
      if (g === null || !isActive(g)) this.#groups.delete(roomId);
      else this.#groups.set(roomId, g);
    }
    for (const [roomId, r] of tx.rooms) this.#rooms.set(roomId, r);
    if (tx.events.length > 0) this.#notifyDispatcher();
    for (const f of tx.after) f();
  }

  // ---- account and device --------------------------------------------------------------------------

  /** The account and device in the state, if any. */
  async account(): Promise<AccountInfo | undefined> {
    await this.#load();
    const a = this.#account;
    if (a?.clientUri === undefined || a.deviceId === undefined) return undefined;
    return { userUri: a.userUri, provider: a.provider, deviceId: a.deviceId, clientUri: a.clientUri };
  }

  /** The token kept in the state (undefined with persistToken: false). Secret: never log it. */
  async token(): Promise<string | undefined> {
    await this.#load();
    return this.#account?.token;
  }

  /**
   * Open registration on the provider at `apiUrl` (POST /register) with a new client: the
   * client, its account and the token (shown once; also kept in the state unless persistToken is false).
   */
  static async register(apiUrl: string, user: string, options: Omit<MimiClientOptions, "apiUrl"> & { readonly deviceId?: string }): Promise<{ client: MimiClient; account: AccountInfo & { readonly token: string } }> {
    const { deviceId, ...rest } = options;
    const client = new MimiClient({ ...rest, apiUrl });
    try {
      return { client, account: await client.register(user, deviceId === undefined ? {} : { deviceId }) };
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  /** Open registration (POST /register), then login with the new token. Returns the token (shown once). */
  async register(user: string, options: { readonly deviceId?: string } = {}): Promise<AccountInfo & { readonly token: string }> {
    await this.#load();
    const { token } = await this.#transport.register(user);
    const account = await this.login(token, options);
    return { ...account, token };
  }

  /**
   * Logs in with a token: registers this device (a stable device ID kept in the state), creates or
   * restores its MLS signature key, and uploads KeyPackages (and one last-resort KeyPackage).
   */
  async login(token: string, options: { readonly deviceId?: string } = {}): Promise<AccountInfo> {
    const state = await this.#load();
    return this.#mutex.run(async () => {
      this.#transport.setToken(token);
      const me = await this.#transport.me();
      const prev = this.#account;
      const sameUser = prev?.userUri === me.userUri;
      const deviceId = options.deviceId ?? (sameUser ? prev.deviceId : undefined) ?? randomBytes(8).toString("hex");
      const { clientUri } = await this.#transport.registerDevice(deviceId);
      const identity = parseMimiUri(clientUri);
      if (identity.kind !== "device") throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `the provider named the device ${clientUri}, not a client URI`);
      let keys = sameUser && prev.clientUri === clientUri && prev.signaturePublicKey !== undefined && prev.signaturePrivateKey !== undefined ? { publicKey: prev.signaturePublicKey, privateKey: prev.signaturePrivateKey } : undefined;
      const mls = await createClient(clientUri, { ...(keys === undefined ? {} : { signatureKeyPair: keys }), ...(this.#options.cryptoProvider === undefined ? {} : { cryptoProvider: this.#options.cryptoProvider }) });
      keys = { publicKey: mls.signaturePublicKey, privateKey: mls.signaturePrivateKey };
      const account: AccountRecord = {
        apiUrl: this.#options.apiUrl,
        userUri: me.userUri,
        provider: me.provider,
        ...(this.#options.persistToken === false ? {} : { token }),
        deviceId,
        clientUri,
        cipherSuite: mls.cipherSuite,
        signaturePublicKey: keys.publicKey,
        signaturePrivateKey: keys.privateKey,
      };
      const b = state.batch().put("account", account);
      if (!sameUser || prev.clientUri !== clientUri) {
        // another account or device: nothing of the old one applies
        for (const k of await state.keys("")) if (k !== "account") b.del(k);
        this.#groups.clear();
        this.#rooms.clear();
        this.#cursor = 0;
        this.#acked = 0;
        this.#evNext = 1;
        this.#delivered = 0;
      }
      await state.commit(b);
      this.#account = account;
      this.#mls = mls;
      this.#log.info({ userUri: me.userUri, clientUri }, "logged in");
      await this.#replenishKeyPackages(true);
      return { userUri: me.userUri, provider: me.provider, deviceId, clientUri };
    });
  }

  /** Uploads KeyPackages when the provider holds fewer than the low-water mark, and a last-resort one if none. */
  async #replenishKeyPackages(force = false): Promise<void> {
    const { state, account, mls } = await this.#ready();
    const count = await this.#transport.keyPackageCount(account.clientUri);
    const target = this.#options.keyPackageTarget ?? DEFAULT_KEY_PACKAGES;
    const low = this.#options.keyPackageLowWater ?? DEFAULT_LOW_WATER;
    const uploads: { lastResort: boolean; n: number }[] = [];
    if (count.available < low || (force && count.available < target)) uploads.push({ lastResort: false, n: target - count.available });
    if (count.lastResort === 0) uploads.push({ lastResort: true, n: 1 });
    for (const u of uploads) {
      if (u.n <= 0) continue;
      const kps = await generateKeyPackages(mls, { count: u.n, lastResort: u.lastResort });
      // private keys first: a KeyPackage the provider hands out must always be joinable
      const b = state.batch();
      for (const kp of kps) {
        const stored: StoredKeyPackage = { encoded: kp.encoded, lastResort: kp.lastResort, notAfter: Number(kp.notAfter), privateKeys: kp.privateKeys };
        b.put(`kp/${toHex(kp.keyPackageRef)}`, stored);
      }
      await state.commit(b);
      const r = await this.#transport.uploadKeyPackages(
        kps.map((k) => mlsMessageToKeyPackage(asMlsMessage(k.encoded)).bytes),
        u.lastResort,
      );
      this.#log.debug({ stored: r.stored, lastResort: u.lastResort }, "uploaded KeyPackages");
    }
    // forget expired KeyPackages
    const now = Math.floor(Date.now() / 1000);
    const expired = state.batch();
    for await (const e of state.entries<StoredKeyPackage>("kp/")) if (e.value.notAfter < now) expired.del(e.key);
    await state.commit(expired);
  }

  #scheduleReplenish(): void {
    if (this.#replenishing !== undefined || this.#closed) return;
    this.#replenishing = this.#replenishKeyPackages()
      .catch((err: unknown) => this.#log.warn({ err }, "KeyPackage replenishment failed"))
      .finally(() => {
        this.#replenishing = undefined;
      });
  }

  // ---- rooms ---------------------------------------------------------------------------------------

  /** Rooms this client knows, with their participants (from the group's participant_list). */
  async rooms(): Promise<RoomInfo[]> {
    await this.#load();
    const out: RoomInfo[] = [];
    for (const r of this.#rooms.values()) out.push(await this.room(r.roomId));
    return out;
  }

  async room(roomId: string): Promise<RoomInfo> {
    await this.#load();
    const r = this.#rooms.get(roomId);
    if (r === undefined) throw new MimiError("MIMI_ERR_SDK_UNKNOWN_ROOM", `this client does not know ${roomId}`, { details: { roomId } });
    const g = await this.#groupOf(roomId);
    if (g === undefined) return { roomId, status: r.status, ...(r.kind === undefined ? {} : { kind: r.kind }), participants: [], members: [] };
    const roles = getRolesList(g);
    const meta = getRoomMetadata(g);
    // A member that joined by Welcome was not told the kind; a fixed-membership room is a direct
    // room (room-policy-03 §5, MIMI-POLICY-29).
    const kind = r.kind ?? (getBaseRoomPolicy(g)?.fixedMembership === true ? "direct" : undefined);
    return {
      roomId,
      status: r.status,
      ...(kind === undefined ? {} : { kind }),
      epoch: epoch(g).toString(),
      ...(meta === undefined || meta.roomName === "" ? {} : { name: meta.roomName }),
      participants: (getParticipantList(g)?.participants ?? []).map((p) => ({ user: p.user, role: p.roleIndex, roleName: roleName(roles, p.roleIndex) })),
      members: members(g).flatMap((m) => (m.identity?.kind === "client" ? [m.identity.clientUri] : [])),
    };
  }

  /** Rooms in which the user is a participant, as the provider knows them (GET /rooms). */
  async providerRooms(): Promise<{ roomId: string; hub: string; kind?: string; epoch?: number }[]> {
    await this.#ready();
    return this.#transport.rooms();
  }

  /**
   * Creates a room hosted by this provider: gets the template, creates the MLS group with the
   * template's components and the hub as external sender, registers it (POST /rooms), then adds
   * `participants` (direct rooms: their clients; other rooms: the users) and sets the name.
   */
  async createRoom(kind: RoomKind, options: { readonly name?: string; readonly participants?: readonly string[] } = {}): Promise<string> {
    const { state, mls } = await this.#ready();
    const participants = options.participants ?? [];
    const { roomId, created } = await this.#mutex.run(async () => {
      try {
        return { roomId: await this.#createRoomLocked(state, mls, kind, participants), created: true };
      } catch (err) {
        // room-policy-03 §5: one direct room per participant set; the hub names the existing one
        const existing = existingRoomOf(err);
        if (kind === "direct" && existing !== undefined) {
          this.#log.info({ roomId: existing }, "a direct room for these participants exists already");
          return { roomId: existing, created: false };
        }
        throw err;
      }
    });
    if (!created) return roomId;
    const others = participants.filter((p) => p !== mls.identity.userUri);
    if (kind !== "direct" && others.length > 0 && this.#rooms.get(roomId)?.status === "active") await this.#addUsers(roomId, others, {});
    if (kind === "direct" && this.#rooms.get(roomId)?.status === "active") {
      // Direct rooms list every participant from the start (fixed membership, room-policy-03 §5):
      // the creator brings in the clients the others have now (MIMI-POLICY-29); who has none, or
      // has not consented, joins later with its own client (join(roomId) / addDevice()).
      for (const other of others) {
        await this.#addUsers(roomId, [other], {}).catch((err: unknown) => {
          if (!isMimiError(err)) throw err;
          this.#log.info({ roomId, user: other, code: err.code }, "the other participant's clients were not added; it can join by itself");
        });
      }
    }
    if (options.name !== undefined && options.name !== "") await this.updateMetadata(roomId, { name: options.name });
    return roomId;
  }

  async #createRoomLocked(state: ClientStateStore, mls: MlsClient, kind: RoomKind, participants: readonly string[]): Promise<string> {
    const tpl = await this.#transport.roomTemplate(kind, kind === "direct" ? participants : undefined);
    const identity = basicCredentialIdentity(tpl.hubExternalSender.credential);
    if (identity === undefined) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "the hub's external sender credential is not a basic credential");
    const hub: ExternalSenderEntry = { signaturePublicKey: tpl.hubExternalSender.signatureKey, credential: { credentialType: "basic", identity } };
    const hubIdentity = parseMimiCredential(hub.credential);
    if (hubIdentity.kind !== "provider" || hubIdentity.provider !== parseMimiUri(tpl.roomId).host) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "the hub's external sender is not the room's provider");
    const c = tpl.components;
    const other = [
      { componentId: MimiComponentId.participant_list, data: c.participantList },
      { componentId: MimiComponentId.roles_list, data: c.rolesList },
      { componentId: MimiComponentId.base_room_policy, data: c.baseRoomPolicy },
      ...(c.roomMetadata === undefined ? [] : [{ componentId: MimiComponentId.room_metadata, data: c.roomMetadata }]),
    ];
    const group = await createRoomGroup(mls, { groupId: tpl.groupId, hubExternalSender: hub, components: { other } });
    const forHub = await exportHubGroupInfo(group);
    const created = await this.#transport.createRoom(tpl.roomId, forHub.groupInfo, forHub.ratchetTree, mls.identity.clientUri);
    const tx = this.#newTx(state);
    tx.groups.set(created.roomId, group);
    tx.rooms.set(created.roomId, { roomId: created.roomId, status: "active", kind, joinedAt: Date.now() });
    tx.emit({ type: "joined", roomId: created.roomId, timestamp: Date.now(), via: "create", by: mls.identity.userUri });
    await this.#commitTx(state, tx);
    return created.roomId;
  }

  /**
   * Adds a user: claims KeyPackages for the user's clients through the room's hub (a signed
   * KeyMaterialRequest), then commits the participant_list addition (role per policy, or
   * `options.role`) together with an Add for every claimed KeyPackage; the HandshakeBundle carries
   * the Welcome, the GroupInfo and the ratchet tree. A user who is already a participant (e.g. in a
   * direct room) only gets its clients added.
   */
  addUser(roomId: string, userUri: string, options: { readonly role?: number | string; readonly grantedKeyPackages?: boolean } = {}): Promise<void> {
    return this.#addUsers(roomId, [userUri], options);
  }

  async #addUsers(roomId: string, users: readonly string[], options: { readonly role?: number | string; readonly grantedKeyPackages?: boolean }): Promise<void> {
    const { mls } = await this.#ready();
    for (const u of users) if (parseMimiUri(u).kind !== "user") throw new MimiError("MIMI_ERR_ID_WRONG_KIND", `${u} is not a user URI`);
    // KeyPackages are claimed once: a claimed KeyPackage is never handed out again (protocol-06 §5.2).
    const claimed: Uint8Array[] = [];
    for (const user of users) {
      // KeyPackages a consent grant carried (protocol-06 §5.7) save the keyMaterial round trip; by
      // default only with the SDK's own HTTP transport (docs/SDK.md "Consent").
      if (options.grantedKeyPackages ?? this.#options.transport === undefined) {
        const granted = await this.#consent.takeKeyPackages(user, roomId).catch(() => []);
        if (granted.length > 0) {
          claimed.push(...granted);
          continue;
        }
      }
      const request = await signedKeyMaterialRequest(mls, { requestingUser: mls.identity.userUri, targetUser: user, roomId });
      const outcome = parseKeyMaterialResponse(await this.#transport.keyMaterial(roomId, request), user);
      if (!outcome.ok) throw keyMaterialRefusal(user, roomId, outcome.userStatus);
      if (outcome.keyPackages.length === 0) throw new MimiError("MIMI_ERR_SDK_NO_KEY_MATERIAL", `no KeyPackages for ${user}: every client's key material is exhausted`, { details: { user } });
      claimed.push(...outcome.keyPackages.map((k) => k.keyPackage));
    }
    await this.#commitOperation(roomId, "add users", (group) => {
      const list = getParticipantList(group);
      const roles = getRolesList(group);
      const myRole = roleOf(list, mls.identity.userUri);
      const role = options.role === undefined ? addedRole(roles, myRole) : resolveRole(roles, options.role);
      const additions = users.filter((u) => roleOf(list, u) === 0).map((user) => ({ user, roleIndex: role }));
      const proposals: ProposalInput[] = additions.length === 0 ? [] : [participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [], addedParticipants: additions })];
      return { proposals, keyPackages: claimed };
    });
  }

  /** Removes a user: the participant_list removal and a Remove of each of the user's clients, in one commit. */
  removeUser(roomId: string, userUri: string): Promise<void> {
    return this.#commitOperation(roomId, "remove user", (group) => {
      const index = this.#participantIndex(group, userUri);
      return {
        proposals: [
          participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [index], addedParticipants: [] }),
          ...leafIndexesOfUser(group, userUri).map((leafIndex) => ({ kind: "remove" as const, leafIndex })),
        ],
      };
    });
  }

  /** Bans a user: role change to the banned role (1) and a Remove of each of the user's clients, in one commit. */
  ban(roomId: string, userUri: string): Promise<void> {
    return this.#commitOperation(roomId, "ban user", (group) => {
      const list = getParticipantList(group);
      const index = list?.participants.findIndex((p) => p.user === userUri) ?? -1;
      const update: ParticipantListUpdate =
        index < 0 ? { changedRoleParticipants: [], removedIndices: [], addedParticipants: [{ user: userUri, roleIndex: 1 }] } : { changedRoleParticipants: [{ userIndex: index, roleIndex: 1 }], removedIndices: [], addedParticipants: [] };
      return { proposals: [participantListUpdateProposal(update), ...leafIndexesOfUser(group, userUri).map((leafIndex) => ({ kind: "remove" as const, leafIndex }))] };
    });
  }

  /** Changes a participant's role (by index or name, e.g. "admin"). */
  setRole(roomId: string, userUri: string, role: number | string): Promise<void> {
    return this.#commitOperation(roomId, "change role", (group) => {
      const index = this.#participantIndex(group, userUri);
      const roleIndex = resolveRole(getRolesList(group), role);
      return { proposals: [participantListUpdateProposal({ changedRoleParticipants: [{ userIndex: index, roleIndex }], removedIndices: [], addedParticipants: [] })] };
    });
  }

  /** Changes the room metadata (protocol-06 room_metadata; one update per commit). */
  updateMetadata(roomId: string, change: RoomMetadataChange): Promise<void> {
    return this.#commitOperation(roomId, "update room metadata", (group) => {
      const cur = getRoomMetadata(group);
      return {
        proposals: [
          roomMetadataUpdateProposal({
            roomUri: cur?.roomUri ?? roomId,
            roomName: change.name ?? cur?.roomName ?? "",
            roomDescriptions: cur?.roomDescriptions ?? [],
            roomAvatar: change.avatar ?? cur?.roomAvatar ?? "",
            roomSubject: change.subject ?? cur?.roomSubject ?? "",
            roomMood: change.mood ?? cur?.roomMood ?? "",
          }),
        ],
      };
    });
  }

  #participantIndex(group: MlsGroup, userUri: string): number {
    const index = getParticipantList(group)?.participants.findIndex((p) => p.user === userUri) ?? -1;
    if (index < 0) throw new MimiError("MIMI_ERR_SDK_NOT_ALLOWED", `${userUri} is not a participant of the room`, { details: { user: userUri } });
    return index;
  }

  /**
   * Leaves a room: proposals removing this user's other clients, its participant_list entry and
   * this client (protocol-06 "Leaving"); the hub caches them and the next committer includes
   * them. The room is left when that commit arrives (a "left" event).
   */
  async leave(roomId: string): Promise<void> {
    const { state, mls } = await this.#ready();
    await retryOnWrongEpoch<undefined>(
      () =>
        this.#mutex.run(async (): Promise<AttemptOutcome<undefined>> => {
          await this.#drainLocked();
          let group = await this.#requireGroup(roomId);
          const me = mls.identity.userUri;
          const messages: Uint8Array[] = [];
          const own = ownLeafIndex(group);
          for (const leafIndex of leafIndexesOfUser(group, me)) {
            if (leafIndex === own) continue;
            const p = await propose(group, { kind: "remove", leafIndex });
            group = p.group;
            messages.push(p.message);
          }
          const index = getParticipantList(group)?.participants.findIndex((p) => p.user === me) ?? -1;
          if (index >= 0) {
            const p = await propose(group, participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [index], addedParticipants: [] }));
            group = p.group;
            messages.push(p.message);
          }
          const self = await proposeSelfRemove(group);
          group = self.group;
          messages.push(self.message);
          const hashes = messages.map(sha256Hex);
          const pre = state.batch();
          for (const h of hashes) pre.put(`own/${h}`, { at: Date.now(), roomId });
          await state.commit(pre);
          const outcome = parseUpdateResponse(await this.#transport.update(roomId, proposalBundle(messages)));
          if (outcome.code !== "success") {
            const undo = state.batch();
            for (const h of hashes) undo.del(`own/${h}`);
            await state.commit(undo);
            if (outcome.code === "wrongEpoch") return { kind: "retry", epoch: outcome.currentEpoch, reason: "wrongEpoch" };
            throw new MimiError("MIMI_ERR_SDK_NOT_ALLOWED", `the hub refused to let ${me} leave: ${outcome.code}${outcome.description === "" ? "" : ` (${outcome.description})`}`, { details: { code: outcome.code } });
          }
          const tx = this.#newTx(state);
          tx.groups.set(roomId, group);
          const room = this.#rooms.get(roomId);
          if (room !== undefined) tx.rooms.set(roomId, { ...room, leaving: true });
          await this.#commitTx(state, tx);
          return { kind: "done", value: undefined };
        }),
      { what: "leave", ...this.#retryOptions(roomId) },
    );
  }

  /**
   * A second device of the same user joins rooms by external commit (protocol-06 §5.6): a signed
   * GroupInfoRequest, the hub's GroupInfoResponse decrypted, then the external commit through
   * /update. Without `roomId`, every room the provider lists for the user (GET /rooms) that this
   * device is not in; rooms it cannot join are skipped. Returns the rooms joined.
   */
  async addDevice(roomId?: string): Promise<string[]> {
    await this.#ready();
    await this.sync();
    if (roomId !== undefined) {
      await this.join(roomId);
      return [roomId];
    }
    const joined: string[] = [];
    for (const { roomId: id } of await this.#transport.rooms()) {
      if (this.#rooms.get(id)?.status === "active") continue;
      try {
        await this.#externalJoin(id);
        joined.push(id);
      } catch (err) {
        this.#log.warn({ err, roomId: id }, "could not join a room the provider lists");
      }
    }
    return joined;
  }

  /**
   * Joins a room in which this user is a participant with this client, by external commit: a new
   * device, or the other participant of a direct room (which adds its own clients). Does nothing
   * if this client is a member already.
   */
  async join(roomId: string): Promise<void> {
    await this.#ready();
    if (this.#rooms.get(roomId)?.status === "active" && (await this.#groupOf(roomId)) !== undefined) return;
    await this.#externalJoin(roomId);
  }

  async #externalJoin(roomId: string): Promise<void> {
    const { state, mls } = await this.#ready();
    await retryOnWrongEpoch<undefined>(
      () =>
        this.#mutex.run(async (): Promise<AttemptOutcome<undefined>> => {
          await this.#drainLocked();
          const { request, open } = await groupInfoRequest(mls);
          const opened = await openGroupInfoResponse(await this.#transport.groupInfo(roomId, request), open, roomId);
          const j = await externalJoin(mls, opened.groupInfo, opened.ratchetTree === undefined ? {} : { ratchetTree: opened.ratchetTree });
          const outcome = await this.#sendCommit(state, roomId, j.group, { commit: j.commit, hubGroupInfo: j.hubGroupInfo, ratchetTree: j.ratchetTree }, "externalJoin");
          if (outcome.code === "success") return { kind: "done", value: undefined };
          if (outcome.code === "wrongEpoch") return { kind: "retry", epoch: undefined, reason: "wrongEpoch" };
          throw new MimiError("MIMI_ERR_SDK_JOIN_FAILED", `the hub refused the external join of ${roomId}: ${outcome.code}`, { details: { code: outcome.code } });
        }),
      { what: "external join", maxAttempts: this.#options.maxAttempts ?? 5, catchUp: () => sleep(randomInt(20, 200)) },
    );
  }

  #retryOptions(roomId: string): { maxAttempts: number; catchUp: (epoch: bigint | undefined) => Promise<void> } {
    return {
      maxAttempts: this.#options.maxAttempts ?? 5,
      catchUp: (target) => this.#mutex.run(() => this.#drainLocked(target === undefined ? undefined : { roomId, epoch: target })),
    };
  }

  /**
   * Builds a commit on the newest state and sends it; on wrongEpoch catches up and builds it
   * again. `build` may throw to abort (e.g. the user is no participant).
   */
  async #commitOperation(
    roomId: string,
    what: string,
    build: (group: MlsGroup) => { proposals: ProposalInput[]; keyPackages?: Uint8Array[] },
  ): Promise<void> {
    const { state } = await this.#ready();
    await retryOnWrongEpoch<undefined>(
      (n) =>
        this.#mutex.run(async (): Promise<AttemptOutcome<undefined>> => {
          await this.#drainLocked();
          const group = await this.#requireGroup(roomId);
          const spec = build(group);
          const result =
            spec.keyPackages !== undefined && spec.keyPackages.length > 0 ? await addMembers(group, spec.keyPackages, { proposals: spec.proposals }) : await createCommit(group, { proposals: spec.proposals });
          const outcome = await this.#sendCommit(state, roomId, result.group, result, "commit");
          switch (outcome.code) {
            case "success":
              return { kind: "done", value: undefined };
            case "wrongEpoch":
              this.#log.debug({ roomId, what, hubEpoch: outcome.currentEpoch.toString(), attempt: n }, "lost a commit race; catching up");
              return { kind: "retry", epoch: outcome.currentEpoch, reason: "wrongEpoch" };
            case "invalidProposal":
              // usually proposals the hub holds that we have not processed yet: catch up once
              if (n === 1) return { kind: "retry", epoch: undefined, reason: "invalidProposal" };
              break;
            default:
              break;
          }
          throw new MimiError("MIMI_ERR_SDK_NOT_ALLOWED", `the hub refused to ${what}: ${outcome.code}${outcome.description === "" ? "" : ` (${outcome.description})`}`, { details: { code: outcome.code } });
        }),
      { what, ...this.#retryOptions(roomId) },
    );
  }

  /**
   * Sends one of our commits (lock held). The new state is recorded as pending first; on success
   * it becomes the room's state and the derived events are queued.
   */
  async #sendCommit(
    state: ClientStateStore,
    roomId: string,
    next: MlsGroup,
    result: { readonly commit: Uint8Array; readonly welcome?: Uint8Array | undefined; readonly hubGroupInfo: Uint8Array; readonly ratchetTree: Uint8Array },
    via: "commit" | "externalJoin",
  ): Promise<ReturnType<typeof parseUpdateResponse>> {
    const hash = sha256Hex(result.commit);
    await state.commit(state.batch().put(`pc/${roomId}`, { hash, via }).putRaw(`pcstate/${roomId}`, encodeGroupState(next)));
    const outcome = parseUpdateResponse(await this.#transport.update(roomId, commitBundle(result)));
    if (outcome.code === "success") {
      await this.#adoptOwnCommit(state, roomId, next, Number(outcome.acceptedTimestamp), via);
    } else {
      await state.commit(state.batch().del(`pc/${roomId}`).del(`pcstate/${roomId}`));
    }
    return outcome;
  }

  async #adoptOwnCommit(state: ClientStateStore, roomId: string, next: MlsGroup, timestamp: number, via: "commit" | "externalJoin", cursor?: number, tx?: Tx): Promise<void> {
    const t = tx ?? this.#newTx(state);
    const before = await this.#groupOf(roomId, t);
    const me = next.client.identity.userUri;
    t.batch.del(`pc/${roomId}`).del(`pcstate/${roomId}`);
    t.groups.set(roomId, next);
    if (via === "externalJoin") {
      const room = t.rooms.get(roomId) ?? this.#rooms.get(roomId);
      t.rooms.set(roomId, { roomId, status: "active", ...(room?.kind === undefined ? {} : { kind: room.kind }), joinedAt: Date.now() });
      t.emit({ type: "joined", roomId, timestamp, via: "externalJoin", by: me });
      for (const k of await state.keys(`pend/${roomId}/`)) t.batch.del(k);
    } else if (before !== undefined) {
      for (const e of this.#commitEvents(before, next, { roomId, timestamp, by: me })) t.emit(e);
    }
    if (tx === undefined) await this.#commitTx(state, t, cursor);
  }

  #commitEvents(before: MlsGroup, after: MlsGroup, base: { roomId: string; timestamp: number; by?: string }): MimiEvent[] {
    return [
      ...participantEvents(getParticipantList(before), getParticipantList(after), base),
      ...memberEvents(members(before), members(after), base),
      ...metadataEvents(getRoomMetadata(before), getRoomMetadata(after), base),
    ];
  }

  // ---- messages ------------------------------------------------------------------------------------

  /** Sends a text message (with attachments and in a thread, as `options` say); returns its message ID (hex). */
  send(roomId: string, text: string, options: SendOptions = {}): Promise<string> {
    return this.#sendMessage(roomId, options, () => Promise.resolve({ kind: "text", text, ...textOptions(options) }));
  }

  /** Replies to a message (inReplyTo names that exact version). */
  reply(roomId: string, inReplyTo: string, text: string, options: SendOptions = {}): Promise<string> {
    return this.#sendMessage(roomId, options, () => Promise.resolve({ kind: "text", text, inReplyTo: inReplyTo.toLowerCase(), ...textOptions(options) }));
  }

  /** Edits one of this user's messages: replaces names the first version (content §5.5). */
  edit(roomId: string, messageId: string, text: string, options: SendOptions = {}): Promise<string> {
    return this.#sendMessage(roomId, options, async (me) => {
      const { first, entry } = await this.#firstVersion(roomId, messageId);
      if (entry !== undefined && entry.sender !== me) throw new MimiError("MIMI_ERR_SDK_NOT_ALLOWED", "only the sender may edit a message", { details: { messageId } });
      // An edit stays in the thread of the first version (content §5.5 replaces that version).
      const topicId = await this.#topicOf(roomId, first, entry);
      return {
        kind: "edit",
        replaces: first,
        text,
        ...(entry?.inReplyTo === undefined ? {} : { inReplyTo: entry.inReplyTo }),
        ...(topicId === undefined ? {} : { topicId }),
        ...(options.markdown === undefined ? {} : { markdown: options.markdown }),
      };
    });
  }

  /** Deletes a message: replaces (the first version) with a NullPart (content §5.6). */
  delete(roomId: string, messageId: string, options: Pick<SendOptions, "salt"> = {}): Promise<string> {
    return this.#sendMessage(roomId, options, async () => {
      const { first, entry } = await this.#firstVersion(roomId, messageId);
      const topicId = await this.#topicOf(roomId, first, entry);
      return { kind: "delete", replaces: first, ...(entry?.inReplyTo === undefined ? {} : { inReplyTo: entry.inReplyTo }), ...(topicId === undefined ? {} : { topicId }) };
    });
  }

  /** Reacts to a message (reaction disposition, inReplyTo = the message). */
  react(roomId: string, messageId: string, reaction: string, options: Pick<SendOptions, "salt"> = {}): Promise<string> {
    return this.#sendMessage(roomId, options, () => Promise.resolve({ kind: "reaction", inReplyTo: messageId.toLowerCase(), reaction }));
  }

  /**
   * Withdraws a reaction: `messageId` is the reaction's ID, or the reacted-to message (then this
   * user's reaction to it, with `reaction` if given, is withdrawn).
   */
  unreact(roomId: string, messageId: string, reaction?: string, options: Pick<SendOptions, "salt"> = {}): Promise<string> {
    return this.#sendMessage(roomId, options, async (me) => {
      const id = messageId.toLowerCase();
      const state = await this.#load();
      const direct = await state.message(roomId, id);
      if (direct?.kind === "reaction" && direct.sender === me) return { kind: "unreact", replaces: id, ...(direct.inReplyTo === undefined ? {} : { inReplyTo: direct.inReplyTo }) };
      let found: string | undefined;
      for await (const m of state.messages(roomId)) {
        if (m.entry.kind === "reaction" && m.entry.sender === me && m.entry.inReplyTo === id && (reaction === undefined || m.entry.reaction === reaction) && m.entry.first === m.id) found = m.id;
      }
      if (found === undefined) throw new MimiError("MIMI_ERR_SDK_UNKNOWN_MESSAGE", "no reaction of this user to withdraw", { details: { messageId: id } });
      return { kind: "unreact", replaces: found, inReplyTo: id };
    });
  }

  /**
   * Reports message status to the room (draft-mahy-mimi-message-status-01): by default that this
   * user has read the given messages. Other members see a message event of kind "status".
   */
  markRead(roomId: string, messageIds: readonly string[], options: Pick<SendOptions, "salt"> & { readonly status?: Exclude<MessageStatusEntry["status"], "unknown"> } = {}): Promise<string> {
    const status = options.status ?? "read";
    return this.#sendMessage(roomId, options, () => Promise.resolve({ kind: "status", statuses: messageIds.map((id) => ({ messageId: id.toLowerCase(), status })) }));
  }

  /** The thread of a message's first version (or of the version named, when the first is not known). */
  async #topicOf(roomId: string, first: string, entry: MessageIndexEntry | undefined): Promise<string | undefined> {
    const firstEntry = await (await this.#load()).message(roomId, first);
    return firstEntry?.topicId ?? entry?.topicId;
  }

  async #firstVersion(roomId: string, messageId: string): Promise<{ first: string; entry: MessageIndexEntry | undefined }> {
    const id = messageId.toLowerCase();
    const entry = await (await this.#load()).message(roomId, id);
    return { first: entry?.first ?? id, entry };
  }

  async #sendMessage(roomId: string, options: Pick<SendOptions, "salt">, build: (me: string) => Promise<MessageOperation>): Promise<string> {
    const { state, mls } = await this.#ready();
    const me = mls.identity.userUri;
    const op = await build(me);
    // The content (and so the message ID) is built once; a retry re-encrypts the same content.
    const built = buildMessage({ senderUri: me, roomUri: roomId, ...(options.salt === undefined ? {} : { salt: options.salt }) }, op);
    return retryOnWrongEpoch<string>(
      () =>
        this.#mutex.run(async (): Promise<AttemptOutcome<string>> => {
          await this.#drainLocked();
          const group = await this.#requireGroup(roomId);
          const enc = await encryptApplication(group, built.bytes);
          const hash = sha256Hex(enc.message);
          // The new state is written before sending: the message key is used up (RFC 9420 §9.2).
          const tx = this.#newTx(state);
          tx.groups.set(roomId, enc.group);
          tx.batch.put(`own/${hash}`, { at: Date.now(), roomId });
          tx.batch.put(`msg/${roomId}/${built.messageId}`, indexEntry(op, built.messageId, me, await this.#firstOf(state, roomId, op)));
          await this.#commitTx(state, tx);
          let answer: Uint8Array;
          try {
            answer = await this.#transport.submit(roomId, enc.message);
          } catch (err) {
            if (!isMimiError(err, "MIMI_ERR_SDK_UNREACHABLE")) throw err;
            // "a retry of the same bytes gets the same answer" (docs/CLIENT-API.md)
            answer = await this.#transport.submit(roomId, enc.message);
          }
          const outcome = parseSubmitResponse(answer);
          if (outcome.code === "accepted") return { kind: "done", value: built.messageId };
          await state.commit(state.batch().del(`own/${hash}`));
          if (outcome.code === "epochTooOld") return { kind: "retry", epoch: outcome.currentEpoch, reason: "epochTooOld" };
          throw new MimiError("MIMI_ERR_SDK_NOT_ALLOWED", "the hub refused the message (notAllowed)", { details: { roomId } });
        }),
      { what: "send", ...this.#retryOptions(roomId) },
    );
  }

  async #firstOf(state: ClientStateStore, roomId: string, op: MessageOperation): Promise<string | undefined> {
    if (op.kind === "text" || op.kind === "reaction" || op.kind === "status") return undefined;
    return (await state.message(roomId, op.replaces))?.first ?? op.replaces;
  }

  // ---- receiving -----------------------------------------------------------------------------------

  /** Processes every event the provider has for this user now (no waiting). */
  async sync(): Promise<void> {
    await this.#ready();
    await this.#mutex.run(() => this.#drainLocked());
  }

  /**
   * Fetches and processes events (lock held). With `until`, keeps long-polling until the room's
   * group reaches that epoch or the catch-up timeout passes.
   */
  async #drainLocked(until?: { roomId: string; epoch: bigint }): Promise<void> {
    const deadline = Date.now() + (this.#options.catchUpTimeoutMs ?? 10_000);
    for (;;) {
      const g = until === undefined ? undefined : await this.#groupOf(until.roomId);
      const reached = until === undefined || g === undefined || epoch(g) >= until.epoch;
      const wait = reached ? 0 : Math.max(0, Math.min(2_000, deadline - Date.now()));
      const events = await this.#transport.events(this.#cursor, wait);
      for (const ev of events) await this.#processServerEvent(ev);
      if (events.length === 0 && (reached || Date.now() >= deadline)) break;
    }
    void this.#maybeAck();
  }

  /** Starts the background event loop (long poll). Called by events() and on(). */
  start(): void {
    if (this.#loop !== undefined || this.#closed) return;
    this.#loop = this.#runLoop();
  }

  async #runLoop(): Promise<void> {
    let backoff = 250;
    try {
      await this.#ready();
      await this.#mutex.run(async () => {
        await this.#drainLocked();
        await this.#resumeAutoCommits();
      });
      this.#scheduleReplenish();
    } catch (err) {
      if (!this.#closed) this.#log.error({ err }, "the client could not start its event loop");
      return;
    }
    let replenishedAt = Date.now();
    while (!this.#closed) {
      try {
        // KeyPackages are claimed by others without us hearing of it: check the provider's count now and then.
        if (Date.now() - replenishedAt > REPLENISH_CHECK_MS) {
          replenishedAt = Date.now();
          this.#scheduleReplenish();
        }
        const events = await this.#transport.events(this.#cursor, this.#options.pollWaitMs ?? 20_000, this.#abort.signal);
        if (events.length > 0) {
          await this.#mutex.run(async () => {
            for (const ev of events) if (ev.seq > this.#cursor) await this.#processServerEvent(ev);
          });
          void this.#maybeAck();
        }
        backoff = 250;
      } catch (err) {
        if (this.#closed) break;
        this.#log.warn({ err }, "event poll failed; retrying");
        await sleep(backoff, this.#abort.signal);
        backoff = Math.min(backoff * 2, 10_000);
      }
    }
  }

  /** Acknowledges processed events (POST /events/ack) every ACK_EVERY events, or now with `force`; best effort. */
  #maybeAck(force = false): Promise<void> {
    const account = this.#account;
    if (account?.clientUri === undefined || this.#cursor <= this.#acked || (!force && this.#cursor - this.#acked < ACK_EVERY)) return Promise.resolve();
    const seq = this.#cursor;
    return this.#transport
      .ack(account.clientUri, seq)
      .then(async () => {
        this.#acked = Math.max(this.#acked, seq);
        if (this.#state !== undefined && !this.#closed) await this.#state.commit(this.#state.batch().put("acked", { seq: this.#acked }));
      })
      .catch((err: unknown) => this.#log.debug({ err }, "event ack failed"));
  }

  /** Processes one server event (lock held); effects and the cursor are written in one batch. */
  async #processServerEvent(ev: ServerEvent): Promise<void> {
    if (ev.seq <= this.#cursor) return;
    const state = this.#state;
    if (state === undefined) return;
    const tx = this.#newTx(state);
    try {
      await this.#handleEvent(state, ev, tx);
    } catch (err) {
      // A message that cannot be processed is skipped (logged without its content), so one bad
      // message cannot stop the stream.
      this.#log.warn({ err, seq: ev.seq, roomId: ev.roomId, type: ev.type }, "skipped an event that could not be processed");
      const fresh = this.#newTx(state);
      await this.#commitTx(state, fresh, ev.seq);
      return;
    }
    await this.#commitTx(state, tx, ev.seq);
  }

  async #handleEvent(state: ClientStateStore, ev: ServerEvent, tx: Tx): Promise<void> {
    const fm = parseFanout(ev.fanout);
    if (fm.kind === "welcome") {
      await this.#handleWelcome(state, ev, fm.message.bytes, tx);
      return;
    }
    const room = tx.rooms.get(ev.roomId) ?? this.#rooms.get(ev.roomId);
    const group = await this.#groupOf(ev.roomId, tx);
    if (room?.status !== "active" || group === undefined) {
      if (room === undefined) await this.#holdForLater(state, ev, tx);
      return;
    }
    const timestamp = Number(fm.timestamp);
    const bytes = fm.message.bytes;
    const hash = sha256Hex(bytes);
    if (fm.kind === "application") {
      if ((await state.own(hash)) !== undefined) {
        tx.batch.del(`own/${hash}`);
        return;
      }
      if (this.#options.decryptApplication !== undefined && !(await this.#options.decryptApplication(ev.roomId))) return;
      await this.#handleApplication(state, ev.roomId, group, bytes, timestamp, tx);
      return;
    }
    if (fm.kind === "proposal") {
      let g = group;
      let fromOthers = false;
      for (const m of [fm.message, ...fm.moreProposals]) {
        const h = sha256Hex(m.bytes);
        if ((await state.own(h)) !== undefined) {
          tx.batch.del(`own/${h}`);
          continue;
        }
        const r = await processMessage(g, m.bytes);
        if (r.kind !== "proposal") throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "a proposal fanout held another kind of message");
        g = r.group;
        fromOthers = true;
      }
      tx.groups.set(ev.roomId, g);
      if (fromOthers) tx.after.push(() => this.#scheduleAutoCommit(ev.roomId));
      return;
    }
    // commit
    const info = inspectMessage(bytes);
    const pending = await state.get<{ hash: string; via: "commit" | "externalJoin" }>(`pc/${ev.roomId}`);
    if (pending !== undefined && pending.hash === hash) {
      // our own commit, accepted while we did not hear the answer: adopt the recorded state
      const saved = await state.getRaw(`pcstate/${ev.roomId}`);
      if (saved !== undefined && this.#mls !== undefined) {
        const next = decodeGroupState(this.#mls, saved);
        if (epoch(next) > epoch(group)) await this.#adoptOwnCommit(state, ev.roomId, next, timestamp, pending.via, undefined, tx);
      }
      return;
    }
    if (info.wireFormat === "public_message" && info.epoch < epoch(group)) return; // ours (already applied) or stale
    if (pending !== undefined) tx.batch.del(`pc/${ev.roomId}`).del(`pcstate/${ev.roomId}`);
    const r = await processMessage(group, bytes);
    if (r.kind !== "commit") throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "a commit fanout held another kind of message");
    const by = r.sender.identity?.kind === "client" ? r.sender.identity.userUri : undefined;
    const base = { roomId: ev.roomId, timestamp, ...(by === undefined ? {} : { by }) };
    if (r.removedSelf) {
      tx.groups.set(ev.roomId, null);
      const leaving = room.leaving === true;
      tx.rooms.set(ev.roomId, { roomId: ev.roomId, status: leaving ? "left" : "removed", ...(room.kind === undefined ? {} : { kind: room.kind }), joinedAt: room.joinedAt });
      // A ban (the commit's participant list keeps the user with the ban role) even over our own
      // pending leave; else our leave, or a removal. A bridge shows a ban as a ban (Matrix
      // membership "ban", XMPP MUC status 301), not as a kick.
      const removal = removalReason(r.participantsAfter, group.client.identity.userUri);
      const reason = removal === "banned" ? "banned" : leaving ? "left" : "removed";
      tx.emit({ ...base, type: "left", reason });
      return;
    }
    for (const e of this.#commitEvents(group, r.group, base)) tx.emit(e);
    let g = r.group;
    for (const p of fm.externalProposals) {
      const pr = await processMessage(g, p.bytes);
      g = pr.group;
      tx.after.push(() => this.#scheduleAutoCommit(ev.roomId));
    }
    tx.groups.set(ev.roomId, g);
  }

  async #handleApplication(state: ClientStateStore, roomId: string, group: MlsGroup, bytes: Uint8Array, timestamp: number, tx: Tx): Promise<void> {
    let r;
    try {
      r = await processMessage(group, bytes);
    } catch (err) {
      // e.g. a message of an epoch before this client joined: not for us to read
      if (isMimiError(err) && (err.code === "MIMI_ERR_MLS_WRONG_EPOCH" || err.code === "MIMI_ERR_MLS_DECRYPT_FAILED" || err.code === "MIMI_ERR_MLS_INVALID_MESSAGE")) {
        this.#log.debug({ roomId, code: err.code }, "an application message could not be decrypted");
        return;
      }
      throw err;
    }
    if (r.kind !== "application") throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "an application fanout held a handshake");
    tx.groups.set(roomId, r.group);
    const sender = r.sender.identity;
    if (sender?.kind !== "client") return;
    let m;
    try {
      m = interpretMessage(r.plaintext);
    } catch (err) {
      this.#log.warn({ roomId, err }, "dropped a message whose MIMI content is invalid");
      return;
    }
    // The content's senderUri and roomUri must match the MLS sender and the room (content §8.2.1).
    if (m.senderUri !== sender.userUri || m.roomUri !== roomId) {
      this.#log.warn({ roomId, sender: sender.clientUri }, "dropped a message whose senderUri or roomUri does not match");
      return;
    }
    const key = `msg/${roomId}/${m.messageId}`;
    if ((await state.get(key)) !== undefined) return; // duplicate (content §9.1)
    let first = m.messageId;
    // An unreact names the reaction it withdraws (content §5.7: replaces + NullPart); which
    // reaction it was is known from that message, and receivers need it (a bridge removes
    // exactly that reaction on its platform).
    let withdrawn: string | undefined;
    if (m.replaces !== undefined) {
      const target = await state.message(roomId, m.replaces);
      first = target?.first ?? m.replaces;
      if (m.kind === "unreact" && target?.kind === "reaction") withdrawn = target.reaction;
      if (m.kind === "edit" && target !== undefined && target.sender !== sender.userUri) {
        this.#log.warn({ roomId }, "dropped an edit of another user's message");
        return;
      }
    }
    tx.batch.put(key, {
      first: m.replaces === undefined ? m.messageId : first,
      sender: sender.userUri,
      kind: m.kind,
      ...(m.inReplyTo === undefined ? {} : { inReplyTo: m.inReplyTo }),
      ...(m.reaction === undefined ? {} : { reaction: m.reaction }),
      ...(m.topicId === undefined ? {} : { topicId: m.topicId }),
    } satisfies MessageIndexEntry);
    tx.emit(
      {
        type: "message",
        roomId,
        messageId: m.messageId,
        sender: { user: sender.userUri, client: sender.clientUri },
        timestamp,
        content: m.content,
        kind: m.kind,
        text: m.text,
        ...(m.replaces === undefined ? {} : { replaces: m.replaces }),
        ...(m.inReplyTo === undefined ? {} : { inReplyTo: m.inReplyTo }),
        ...(m.reaction === undefined ? (withdrawn === undefined ? {} : { reaction: withdrawn }) : { reaction: m.reaction }),
        ...(m.deleted === true ? { deleted: true } : {}),
        ...(m.statuses === undefined ? {} : { statuses: m.statuses }),
        ...(m.topicId === undefined ? {} : { topicId: m.topicId }),
        ...(m.attachments === undefined ? {} : { attachments: m.attachments }),
        ...(m.droppedAttachments === undefined ? {} : { droppedAttachments: m.droppedAttachments }),
      },
      r.plaintext,
    );
  }

  async #handleWelcome(state: ClientStateStore, ev: ServerEvent, welcome: Uint8Array, tx: Tx): Promise<void> {
    const mls = this.#mls;
    if (mls === undefined) return;
    const existing = await this.#groupOf(ev.roomId, tx);
    if (existing !== undefined && isActive(existing)) return;
    const info = inspectMessage(welcome);
    const refs = new Set([...(ev.keyPackageRefs ?? []), ...(info.wireFormat === "welcome" ? info.newMembers : [])].map(toHex));
    for (const ref of refs) {
      const kp = await state.keyPackage(ref);
      if (kp === undefined) continue;
      const group = await joinFromWelcome(mls, welcome, { keyPackage: decodeKeyPackage(kp.encoded), privateKeys: kp.privateKeys });
      if (!kp.lastResort) tx.batch.del(`kp/${ref}`);
      tx.groups.set(ev.roomId, group);
      const prev = tx.rooms.get(ev.roomId) ?? this.#rooms.get(ev.roomId);
      tx.rooms.set(ev.roomId, { roomId: ev.roomId, status: "active", ...(prev?.kind === undefined ? {} : { kind: prev.kind }), joinedAt: Date.now() });
      tx.emit({ type: "joined", roomId: ev.roomId, timestamp: ev.timestamp, via: "welcome" });
      tx.after.push(() => this.#scheduleReplenish());
      // events of this room that arrived before the Welcome
      for await (const e of state.entries<ServerEvent>(`pend/${ev.roomId}/`)) {
        tx.batch.del(e.key);
        try {
          await this.#handleEvent(state, e.value, tx);
        } catch (err) {
          this.#log.debug({ err, roomId: ev.roomId }, "a held event could not be processed after joining");
        }
      }
      return;
    }
  }

  /** Keeps a few events of a room this device has not joined (yet): a Welcome may follow. */
  async #holdForLater(state: ClientStateStore, ev: ServerEvent, tx: Tx): Promise<void> {
    const prefix = `pend/${ev.roomId}/`;
    const keys = await state.keys(prefix);
    for (const k of keys.slice(0, Math.max(0, keys.length - PENDING_PER_ROOM + 1))) tx.batch.del(k);
    tx.batch.put(ClientStateStore.pendingKey(ev.roomId, ev.seq), ev);
  }

  // ---- committing other members' proposals -------------------------------------------------------------

  async #resumeAutoCommits(): Promise<void> {
    for (const [roomId, r] of this.#rooms) {
      if (r.status !== "active") continue;
      const g = await this.#groupOf(roomId);
      if (g !== undefined && this.#othersProposals(g)) this.#scheduleAutoCommit(roomId);
    }
    // forget old records of sent messages whose echo never came
    const state = this.#state;
    if (state === undefined) return;
    const b = state.batch();
    for await (const e of state.entries<{ at: number }>("own/")) if (Date.now() - e.value.at > OWN_RECORD_TTL_MS) b.del(e.key);
    await state.commit(b);
  }

  /** Whether the group holds proposals of other members and none of ours. */
  #othersProposals(group: MlsGroup): boolean {
    const pending = Object.values(group.state.unappliedProposals);
    if (pending.length === 0) return false;
    const own = ownLeafIndex(group);
    return !pending.some((p) => p.senderLeafIndex === own);
  }

  #scheduleAutoCommit(roomId: string): void {
    const range = this.#options.autoCommit ?? [50, 400];
    if (range === false || this.#closed) return;
    const delay = randomInt(range[0], Math.max(range[0] + 1, range[1]));
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (this.#closed) return;
      void this.#mutex
        .run(async () => {
          await this.#drainLocked();
          const group = await this.#groupOf(roomId);
          // a commit for them arrived meanwhile, or we have proposals of our own (we are leaving)
          if (group === undefined || !isActive(group) || !this.#othersProposals(group)) return;
          const state = this.#state;
          if (state === undefined) return;
          const result = await createCommit(group);
          const outcome = await this.#sendCommit(state, roomId, result.group, result, "commit");
          this.#log.debug({ roomId, outcome: outcome.code, ...(outcome.code === "success" ? {} : { description: outcome.description }) }, "committed pending proposals of other members");
        })
        .catch((err: unknown) => this.#log.debug({ err, roomId }, "committing pending proposals failed"));
    }, delay);
    this.#timers.add(timer);
  }

  // ---- delivering SDK events ---------------------------------------------------------------------------

  /**
   * The SDK events in order, as an async iterator. Each event is delivered once: it counts as
   * handled when the loop asks for the next one (or ends). Starts the event loop.
   */
  events(): AsyncIterableIterator<MimiEvent> {
    const queue: { event: MimiEvent; done: () => void }[] = [];
    let waiting: ((r: IteratorResult<MimiEvent>) => void) | undefined;
    let handled: (() => void) | undefined;
    let ended = false;
    const finish = (): void => {
      if (ended) return;
      ended = true;
      handled?.();
      handled = undefined;
      for (const q of queue.splice(0)) q.done();
      this.#subscribers.delete(sub);
      waiting?.({ value: undefined, done: true });
      waiting = undefined;
      this.#wakeDispatcher();
    };
    const sub: Subscriber = {
      deliver: (event) =>
        new Promise<void>((resolve) => {
          if (ended) {
            resolve();
            return;
          }
          if (waiting !== undefined) {
            const w = waiting;
            waiting = undefined;
            handled = resolve;
            w({ value: event, done: false });
          } else queue.push({ event, done: resolve });
        }),
      end: finish,
    };
    this.#subscribers.add(sub);
    this.start();
    this.#notifyDispatcher();
    const iterator: AsyncIterableIterator<MimiEvent> = {
      next: () => {
        handled?.();
        handled = undefined;
        if (ended) return Promise.resolve({ value: undefined, done: true });
        const q = queue.shift();
        if (q !== undefined) {
          handled = q.done;
          return Promise.resolve({ value: q.event, done: false });
        }
        return new Promise((resolve) => {
          waiting = resolve;
        });
      },
      return: () => {
        finish();
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  /** Calls `listener` for every event of `type` ("*" for all), in order; returns the unsubscribe function. Starts the event loop. */
  on<T extends MimiEventType>(type: T, listener: (event: MimiEventOf<T>) => unknown): () => void;
  on(type: "*", listener: Listener): () => void;
  on(type: string, listener: Listener): () => void {
    if (type !== "*" && !MIMI_EVENT_TYPES.includes(type as MimiEventType)) throw new MimiError("MIMI_ERR_CLI_USAGE", `unknown event type ${type}`);
    const sub: Subscriber = {
      deliver: async (event) => {
        if (type !== "*" && event.type !== type) return;
        try {
          await listener(event);
        } catch (err) {
          this.#log.warn({ err, type: event.type }, "an event listener threw");
        }
      },
      end: () => undefined,
    };
    this.#subscribers.add(sub);
    this.start();
    this.#notifyDispatcher();
    return () => {
      this.#subscribers.delete(sub);
      this.#wakeDispatcher();
    };
  }

  #wakeDispatcher(): void {
    const w = this.#dispatchWake;
    this.#dispatchWake = undefined;
    w?.();
  }

  #notifyDispatcher(): void {
    this.#hasNew = true;
    this.#wakeDispatcher();
    if (!this.#dispatching && this.#subscribers.size > 0 && !this.#closed) void this.#dispatch();
  }

  async #dispatch(): Promise<void> {
    this.#dispatching = true;
    try {
      const state = await this.#load();
      while (!this.#closed && this.#subscribers.size > 0) {
        this.#hasNew = false;
        const batch = await state.queuedEvents(this.#delivered, 64);
        if (batch.length === 0) {
          if (!this.#hasNew) {
            await new Promise<void>((resolve) => {
              this.#dispatchWake = resolve;
            });
          }
          continue;
        }
        for (const { seq, event } of batch) {
          if (this.#closed || this.#subscribers.size === 0) break;
          let ev: MimiEvent;
          try {
            ev = fromStored(event);
          } catch (err) {
            this.#log.warn({ err, seq }, "a queued event could not be read; skipped");
            ev = undefined as unknown as MimiEvent;
          }
          if (ev !== undefined) for (const s of [...this.#subscribers]) await s.deliver(ev);
          if (this.#closed) break;
          this.#delivered = seq;
          await state.commit(state.batch().del(ClientStateStore.eventKey(seq)).put("evdelivered", { seq }));
        }
      }
    } catch (err) {
      if (!this.#closed) this.#log.error({ err }, "event delivery stopped");
    } finally {
      this.#dispatching = false;
    }
  }

  // ---- discovery (docs/SDK.md "Discovery"; the calls are in discovery.ts) ----------------------------

  get #discovery(): DiscoveryClient {
    return (this.#discoveryClient ??= new DiscoveryClient({ apiUrl: this.#options.apiUrl, token: async () => this.#options.token ?? (await this.token()) }));
  }
  discoveryInfo(): Promise<DiscoveryInfo> {
    return this.#discovery.info();
  }
  profile(): Promise<Profile> {
    return this.#discovery.profile();
  }
  updateProfile(change: ProfileChange): Promise<Profile> {
    return this.#discovery.updateProfile(change);
  }
  setSearchability(searchability: Searchability): Promise<Profile> {
    return this.#discovery.setSearchability(searchability);
  }
  publishMapping(sii: string, tag?: string): Promise<PublishedMapping> {
    return this.#discovery.publishMapping(sii, tag);
  }
  removeMapping(sii: string, tag?: string): Promise<RemoveMappingResult> {
    return this.#discovery.removeMapping(sii, tag);
  }
  mappings(): Promise<PublishedMapping[]> {
    return this.#discovery.mappings();
  }
  search(domain: string, elements: readonly SearchElementInput[]): Promise<SearchResult> {
    return this.#discovery.search(domain, elements);
  }
  discover(identifier: string): Promise<DiscoverResult> {
    return this.#discovery.discover(identifier);
  }
  connect(identifier: string, options?: ConnectOptions): Promise<ConnectResult> {
    return this.#discovery.connect(identifier, options);
  }

  // ---- consent (docs/SDK.md "Consent"; the calls are in consent.ts) ----------------------------------

  get #consent(): ConsentApi {
    return (this.#consentClient ??= new ConsentApi({ apiUrl: this.#options.apiUrl, token: async () => this.#options.token ?? (await this.token()) }));
  }
  /** Asks `target` for consent (protocol-06 §5.7): connection-wide, or for `roomId`; `bilateral` also grants it back. */
  consentRequest(target: string, options: { readonly roomId?: string; readonly bilateral?: boolean } = {}): Promise<{ record: ConsentRecordInfo; delivered: boolean }> {
    return this.#consent.request(target, options);
  }
  consentCancel(target: string, options: { readonly roomId?: string } = {}): Promise<{ record: ConsentRecordInfo }> {
    return this.#consent.cancel(target, options);
  }
  /** Grants `requester` consent (solicited or not), optionally with KeyPackages of this user's clients. */
  consentGrant(requester: string, options: { readonly roomId?: string; readonly withKeyPackages?: boolean } = {}): Promise<{ record: ConsentRecordInfo; keyPackages: number; notified: boolean; released: number }> {
    return this.#consent.grant(requester, options);
  }
  consentRevoke(requester: string, options: { readonly roomId?: string; readonly notify?: boolean } = {}): Promise<{ record: ConsentRecordInfo; notified: boolean; dropped: number }> {
    return this.#consent.revoke(requester, options);
  }
  consentList(): Promise<ConsentList> {
    return this.#consent.list();
  }
  setPreConsentPolicy(policy: PreConsentPolicy | "default"): Promise<{ effective: PreConsentPolicy; user: PreConsentPolicy | null }> {
    return this.#consent.setPolicy(policy);
  }

  /** Stops the event loop and timers, ends iterators, and closes the state store if this client opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    if (this.#loaded) {
      // The final ack gets at most 2 s; the timer is cancelled as soon as the ack is done.
      const stop = new AbortController();
      await Promise.race([this.#maybeAck(true), sleep(2_000, stop.signal)]);
      stop.abort();
    }
    this.#closed = true;
    this.#abort.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const s of [...this.#subscribers]) s.end();
    this.#subscribers.clear();
    this.#wakeDispatcher();
    await this.#loop?.catch(() => undefined);
    await this.#replenishing;
    // wait for work in progress, then close
    await this.#mutex.run(() => Promise.resolve());
    if (this.#ownsStore && this.#state !== undefined) await this.#state.store.close();
  }
}

/** The room a MIMI_ERR_ROOM_EXISTS answer names (details.roomId, as the provider sends it). */
function existingRoomOf(err: unknown): string | undefined {
  if (!isMimiError(err, "MIMI_ERR_ROOM_EXISTS")) return undefined;
  const d = err.details ?? {};
  const provider = d["provider"];
  const id = d["roomId"] ?? (typeof provider === "object" && provider !== null ? (provider as Record<string, unknown>)["roomId"] : undefined);
  return typeof id === "string" ? id : undefined;
}

function indexEntry(op: MessageOperation, id: string, me: string, first: string | undefined): MessageIndexEntry {
  const inReplyTo = op.kind === "status" ? undefined : op.inReplyTo;
  const topicId = op.kind === "text" || op.kind === "edit" || op.kind === "delete" ? op.topicId : undefined;
  return {
    first: first ?? id,
    sender: me,
    kind: op.kind,
    ...(inReplyTo === undefined ? {} : { inReplyTo }),
    ...(op.kind === "reaction" ? { reaction: op.reaction } : {}),
    ...(topicId === undefined || topicId === "" ? {} : { topicId: topicId.toLowerCase() }),
  };
}

/** The text-message fields of SendOptions (Markdown, thread, attachments). */
function textOptions(o: SendOptions): { markdown?: boolean; topicId?: string; attachments?: readonly ExternalAttachment[] } {
  return {
    ...(o.markdown === undefined ? {} : { markdown: o.markdown }),
    ...(o.topicId === undefined || o.topicId === "" ? {} : { topicId: o.topicId.toLowerCase() }),
    ...(o.attachments === undefined || o.attachments.length === 0 ? {} : { attachments: o.attachments }),
  };
}

