// The follower role (draft-ietf-mimi-protocol-06 §3, §5): relays this provider's users'
// submissions and handshakes to the room's hub, receives the hub's /notify and delivers to the
// local users (the per-user inbox of the client API).
//
// /notify is stored before it is acknowledged (MIMI-PROTO-FANOUT-20): the 201 is sent only after
// the batch holding the dedupe markers and every inbox append is written. A byte-identical body
// gets 201 again and is processed once (MIMI-PROTO-FANOUT-21); each FanoutMessage is also
// deduplicated on its own, so a hub that regroups messages on retry duplicates nothing either.
//
// Who receives a room's events: local users who created the room, were welcomed into it (their
// KeyPackage was in a Welcome) or joined it by external commit through us. Followers cannot read
// the participant list (it lives in the encrypted group state and changes by index), so this
// subscription is the follower's view; the hub stops fanning out to us when we have no
// participants left, and a client that was removed unsubscribes itself.
//
// Consent (protocol-06 §5.7, src/consent/): an optional DeliveryGate decides for each Welcome to a
// local user whether it is delivered, held until the user consents (pre-consent policies
// keypackages and quarantine) or dropped; the room's later events for such a pending user are
// held (or dropped) by the gate too, in the same batch as everything else (MIMI-PROTO-CONSENT-20).
import { createHash } from "node:crypto";
import { decodeExact, encode } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import { providerOf } from "../ids/index.ts";
import { Inbox, type NewInboxEvent } from "../inbox/inbox.ts";
import type { Logger } from "../log.ts";
import { welcomeKeyPackageRefs } from "../mls/index.ts";
import { mlsMessageToWelcome } from "../mls/wire.ts";
import { FanoutMessage, decodeNotifyBody, KeyMaterialRequest } from "../protocol/index.ts";
import type { KeyPackageStore } from "../keymaterial/keyPackageStore.ts";
import { cborCodec, type BatchOp, type Store, type TypedNamespace } from "../storage/index.ts";
import type { PeerClient } from "../transport/peerClient.ts";
import type { MimiEndpointName } from "../protocol/directory.ts";
import type { FanoutKind } from "../protocol/fanout.ts";

export interface FollowerRoom {
  roomId: string;
  hub: string;
  users: string[];
}

/** A Welcome held for a local user until consent: who claimed the KeyPackage, under which policy. */
export interface WelcomeHold {
  readonly requester: string;
  readonly policy: "keypackages" | "quarantine";
}

/** One event for a local user whose delivery of the room waits for consent. */
export interface PendingDelivery {
  /** The local user's name. */
  readonly user: string;
  readonly event: NewInboxEvent;
  readonly kind: FanoutKind;
  /** Bytes of the FanoutMessage. */
  readonly size: number;
  /** For the Welcome that starts a hold. */
  readonly hold?: WelcomeHold;
}

/**
 * The consent layer's say in delivery (src/consent/quarantine.ts). Its methods run with the
 * room's follower lock and `lockKey` held; `lockKey` sorts after the follower and inbox keys.
 */
export interface DeliveryGate {
  readonly lockKey: string;
  /** Local users (names) whose delivery of the room is held until they consent. */
  pendingUsers(roomId: string): Promise<string[]>;
  /** A Welcome for a local user's KeyPackages: delivered, held until consent, or dropped. */
  welcome(user: string, roomId: string, keyPackageRefs: readonly Uint8Array[], now: number): Promise<{ action: "deliver" | "drop" } | { action: "hold"; hold: WelcomeHold }>;
  /** Batch ops that hold these events, in order, for pending users (caps applied). */
  holdOps(roomId: string, items: readonly PendingDelivery[], now: number): Promise<BatchOp[]>;
}

/** What the follower calls on this provider's own hub (rooms hosted here). */
export interface LocalHub {
  isHubOf(roomId: string): boolean;
  update(roomId: string, body: Uint8Array, from: string): Promise<Uint8Array>;
  submitMessage(roomId: string, body: Uint8Array, from: string): Promise<Uint8Array>;
  keyMaterial(targetUser: string, body: Uint8Array, from: string): Promise<Uint8Array>;
  groupInfo(roomId: string, body: Uint8Array, from: string): Promise<Uint8Array>;
}

export interface FollowerOptions {
  domain: string;
  store: Store;
  logger: Logger;
  inbox: Inbox;
  keyPackages: KeyPackageStore;
  peerClient: PeerClient;
  hub: LocalHub;
  /** Answers keyMaterial for our own users (target provider role). */
  localKeyMaterial(body: Uint8Array): Promise<Uint8Array>;
  /** Consent: holds or drops deliveries to users who have not consented (absent: deliver all). */
  deliveryGate?: DeliveryGate;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest();
const userName = (userUri: string) => decodeURIComponent(userUri.slice(userUri.lastIndexOf("/") + 1));
/** Room IDs in S2S paths: the URI without "mimi://" (docs/CONFORMANCE.md). */
export const roomPath = (roomId: string) => roomId.replace(/^mimi:\/\//, "");

export class Follower {
  readonly #o: FollowerOptions;
  readonly #log: Logger;
  readonly #rooms: TypedNamespace<FollowerRoom>;
  readonly #inbound: TypedNamespace<number>;

  constructor(options: FollowerOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "follower" });
    this.#rooms = options.store.namespace("rooms").typed(cborCodec<FollowerRoom>());
    this.#inbound = options.store.namespace("inbound").typed(cborCodec<number>());
  }

  // ---- relaying to the hub --------------------------------------------------------------------

  async #toHub(roomId: string, endpoint: MimiEndpointName, body: Uint8Array, local: () => Promise<Uint8Array>): Promise<Uint8Array> {
    if (this.#o.hub.isHubOf(roomId)) return local();
    const hub = providerOf(roomId);
    const res = await this.#o.peerClient.request(hub, endpoint, { roomId: roomPath(roomId) }, { body });
    if (res.status !== 200) {
      throw new MimiError("MIMI_ERR_PEER_REFUSED", `the hub ${hub} answered ${res.status} to ${endpoint}`, { details: { hub, status: res.status, body: Buffer.from(res.body).toString("utf8").slice(0, 300) } });
    }
    return res.body;
  }

  /** A HandshakeBundle (UpdateRequest) from one of our clients. */
  relayUpdate(roomId: string, body: Uint8Array): Promise<Uint8Array> {
    return this.#toHub(roomId, "update", body, () => this.#o.hub.update(roomId, body, this.#o.domain));
  }

  /** A SubmitMessageRequest from one of our clients (sendingUri already set by us). */
  relaySubmit(roomId: string, body: Uint8Array): Promise<Uint8Array> {
    return this.#toHub(roomId, "submitMessage", body, () => this.#o.hub.submitMessage(roomId, body, this.#o.domain));
  }

  relayGroupInfo(roomId: string, body: Uint8Array): Promise<Uint8Array> {
    return this.#toHub(roomId, "groupInfo", body, () => this.#o.hub.groupInfo(roomId, body, this.#o.domain));
  }

  /**
   * A KeyMaterialRequest from one of our clients: through the hub of the room it names
   * (protocol-06 §5.2 "MUST be sent via the hub provider"), or straight to the target's
   * provider when it names no room.
   */
  async relayKeyMaterial(body: Uint8Array): Promise<Uint8Array> {
    const request = decodeExact(KeyMaterialRequest, body);
    const target = request.targetUser.uri;
    const roomId = request.roomId.uri;
    const via = roomId !== "" ? providerOf(roomId) : providerOf(target);
    if (via === this.#o.domain) return this.#o.hub.keyMaterial(target, body, this.#o.domain);
    const res = await this.#o.peerClient.request(via, "keyMaterial", { targetUser: roomPath(target) }, { body });
    if (res.status !== 200) throw new MimiError("MIMI_ERR_PEER_REFUSED", `${via} answered ${res.status} to keyMaterial`, { details: { via, status: res.status } });
    return res.body;
  }

  /** keyMaterial for a user elsewhere, relayed by our hub to the target's provider. */
  async forwardKeyMaterial(targetUser: string, body: Uint8Array): Promise<Uint8Array> {
    const provider = providerOf(targetUser);
    if (provider === this.#o.domain) return this.#o.localKeyMaterial(body);
    const res = await this.#o.peerClient.request(provider, "keyMaterial", { targetUser: roomPath(targetUser) }, { body });
    if (res.status !== 200) throw new MimiError("MIMI_ERR_PEER_REFUSED", `${provider} answered ${res.status} to keyMaterial`, { details: { provider, status: res.status } });
    return res.body;
  }

  // ---- subscriptions ----------------------------------------------------------------------------

  async room(roomId: string): Promise<FollowerRoom | undefined> {
    return this.#rooms.get(`follower/${roomId}`);
  }

  async subscribe(roomId: string, user: string): Promise<void> {
    await this.#o.store.withLock(`follower:${roomId}`, async () => {
      const room = (await this.room(roomId)) ?? { roomId, hub: providerOf(roomId), users: [] };
      if (!room.users.includes(user)) await this.#rooms.put(`follower/${roomId}`, { ...room, users: [...room.users, user] }, { sync: true });
    });
  }

  async unsubscribe(roomId: string, user: string): Promise<void> {
    await this.#o.store.withLock(`follower:${roomId}`, async () => {
      const room = await this.room(roomId);
      if (room?.users.includes(user)) await this.#rooms.put(`follower/${roomId}`, { ...room, users: room.users.filter((u) => u !== user) }, { sync: true });
    });
  }

  async roomsOf(user: string): Promise<FollowerRoom[]> {
    const out: FollowerRoom[] = [];
    for await (const { value } of this.#rooms.iterate({ prefix: "follower/" })) if (value.users.includes(user)) out.push(value);
    return out;
  }

  // ---- delivery ----------------------------------------------------------------------------------

  /**
   * Inbox ops for FanoutMessages of one room, and the users they reach. The caller holds the
   * follower lock of the room and the inbox locks of `lockUsers()`.
   */
  async #deliveryOps(roomId: string, messages: readonly FanoutMessage[], now: number): Promise<{ ops: BatchOp[]; users: string[] }> {
    const room = (await this.room(roomId)) ?? { roomId, hub: providerOf(roomId), users: [] };
    const entries: { user: string; event: NewInboxEvent }[] = [];
    let users = [...room.users];
    const gate = this.#o.deliveryGate;
    // MIMI-PROTO-CONSENT-20: users whose delivery of this room waits for consent.
    const pending = new Set(gate === undefined ? [] : (await gate.pendingUsers(roomId)).filter((u) => !users.includes(u)));
    const held: PendingDelivery[] = [];
    for (const m of messages) {
      const fanout = encode(FanoutMessage, m);
      if (m.kind !== "welcome") {
        for (const user of pending) held.push({ user, event: { type: "fanout", roomId, timestamp: Number(m.timestamp), fanout }, kind: m.kind, size: fanout.length });
      }
      if (m.kind === "welcome") {
        // MIMI-PROTO-FANOUT-22: a Welcome goes to the local users whose KeyPackages it names.
        const refs = welcomeKeyPackageRefs(mlsMessageToWelcome(m.message).bytes);
        const byUser = new Map<string, Uint8Array[]>();
        for (const ref of refs) {
          const route = await this.#o.keyPackages.routeOf(ref, now);
          if (route?.userUri === undefined || providerOf(route.userUri) !== this.#o.domain) continue;
          const name = userName(route.userUri);
          byUser.set(name, [...(byUser.get(name) ?? []), ref]);
        }
        for (const [user, keyPackageRefs] of byUser) {
          const event: NewInboxEvent = { type: "welcome", roomId, timestamp: Number(m.timestamp), fanout, keyPackageRefs };
          const decision = gate === undefined || users.includes(user) ? { action: "deliver" as const } : await gate.welcome(user, roomId, keyPackageRefs, now);
          if (decision.action === "hold") {
            held.push({ user, event, kind: "welcome", size: fanout.length, hold: decision.hold });
            pending.add(user);
            continue;
          }
          if (decision.action === "drop") continue;
          pending.delete(user);
          entries.push({ user, event });
          if (!users.includes(user)) users = [...users, user];
        }
      } else {
        for (const user of users) entries.push({ user, event: { type: "fanout", roomId, timestamp: Number(m.timestamp), fanout } });
      }
    }
    const ops = await this.#o.inbox.appendOps(entries);
    if (users.length !== room.users.length) ops.push(this.#rooms.putOp(`follower/${roomId}`, { ...room, users }));
    if (gate !== undefined && held.length > 0) ops.push(...(await gate.holdOps(roomId, held, now)));
    return { ops, users: [...new Set(entries.map((e) => e.user))] };
  }

  /** The consent gate's lock key, when a delivery of these messages to the room may hold events. */
  async #gateLockKeys(roomId: string, messages: readonly FanoutMessage[]): Promise<string[]> {
    const gate = this.#o.deliveryGate;
    if (gate === undefined) return [];
    if (messages.some((m) => m.kind === "welcome") || (await gate.pendingUsers(roomId)).length > 0) return [gate.lockKey];
    return [];
  }

  /** The users a delivery to `roomId` may append to (for locking before building ops). */
  async lockKeys(roomId: string, messages: readonly FanoutMessage[] = []): Promise<string[]> {
    const room = await this.room(roomId);
    return [`follower:${roomId}`, ...Inbox.lockKeys(room?.users ?? []), ...(await this.#gateLockKeys(roomId, messages))];
  }

  /**
   * Runs `fn` with the room's follower lock and then the consent gate's lock held (the order every
   * delivery takes them in), e.g. to drop held events.
   */
  async withDeliveryLock<T>(roomId: string, fn: () => Promise<T>): Promise<T> {
    const gate = this.#o.deliveryGate;
    return this.#o.store.withLock(`follower:${roomId}`, () => (gate === undefined ? fn() : this.#o.store.withLock(gate.lockKey, fn)));
  }

  /**
   * Consent granted (MIMI-PROTO-CONSENT-21): appends a user's held events of a room to its inbox,
   * in their order, subscribes the user to the room, and writes `take().ops` (the release of the
   * hold) in the same batch. Returns how many events were delivered.
   */
  async deliverHeld(roomId: string, user: string, take: () => Promise<{ events: NewInboxEvent[]; ops: BatchOp[] }>): Promise<number> {
    const gate = this.#o.deliveryGate;
    return this.#o.store.withLock(`follower:${roomId}`, () =>
      this.#o.store.withLock([...Inbox.lockKeys([user]), ...(gate === undefined ? [] : [gate.lockKey])], async () => {
        const { events, ops } = await take();
        if (events.length === 0 && ops.length === 0) return 0;
        const room = (await this.room(roomId)) ?? { roomId, hub: providerOf(roomId), users: [] };
        const append = await this.#o.inbox.appendOps(events.map((event) => ({ user, event })));
        const subscribe = room.users.includes(user) || events.length === 0 ? [] : [this.#rooms.putOp(`follower/${roomId}`, { ...room, users: [...room.users, user] })];
        await this.#o.store.batch([...ops, ...append, ...subscribe]);
        if (events.length > 0) this.#o.inbox.notify([user]);
        return events.length;
      }),
    );
  }

  /**
   * Local delivery for our own hub: ops to add to the hub's accepting batch. Welcomes may add
   * users; their inbox locks are taken inside (a user's inbox lock is only ever taken after the
   * room locks, so this cannot deadlock).
   */
  async localDeliveryOps(roomId: string, messages: readonly FanoutMessage[]): Promise<{ ops: BatchOp[]; users: string[] }> {
    return this.#deliveryOps(roomId, messages, Date.now());
  }

  /** POST /notify/{roomId} from the room's hub. Resolves once everything is stored. */
  async notify(roomId: string, body: Uint8Array, from: string): Promise<void> {
    // MIMI-PROTO-FANOUT-23: only the room's hub may notify (the hub is the host of the room URI).
    if (providerOf(roomId) !== from) throw new MimiError("MIMI_ERR_CLIENT_FORBIDDEN", `${from} is not the hub of ${roomId}`);
    const bodyKey = `notify/${hex(sha256(body))}`;
    if (await this.#inbound.has(bodyKey)) {
      this.#log.debug({ roomId, from }, "duplicate notify body");
      return; // MIMI-PROTO-FANOUT-21
    }
    const messages = decodeNotifyBody(body);
    const now = Date.now();
    await this.#o.store.withLock(`follower:${roomId}`, async () => {
      if (await this.#inbound.has(bodyKey)) return;
      const fresh: FanoutMessage[] = [];
      const markers: BatchOp[] = [this.#inbound.putOp(bodyKey, now)];
      for (const m of messages) {
        const key = `fanout/${hex(sha256(encode(FanoutMessage, m)))}`;
        if (await this.#inbound.has(key)) continue;
        fresh.push(m);
        markers.push(this.#inbound.putOp(key, now));
      }
      const room = await this.room(roomId);
      const lockUsers = [...Inbox.lockKeys([...(room?.users ?? []), ...(await this.#welcomeUsers(fresh, now))]), ...(await this.#gateLockKeys(roomId, fresh))];
      const deliver = async () => {
        const { ops, users } = await this.#deliveryOps(roomId, fresh, now);
        await this.#o.store.batch([...markers, ...ops]);
        this.#o.inbox.notify(users);
      };
      // Nobody here receives the room (e.g. its participant here has not consented, or left):
      // no inbox to lock, but the notify is still acknowledged (and deduplicated).
      if (lockUsers.length === 0) await deliver();
      else await this.#o.store.withLock(lockUsers, deliver);
    });
  }

  async #welcomeUsers(messages: readonly FanoutMessage[], now: number): Promise<string[]> {
    const out: string[] = [];
    for (const m of messages) {
      if (m.kind !== "welcome") continue;
      for (const ref of welcomeKeyPackageRefs(mlsMessageToWelcome(m.message).bytes)) {
        const route = await this.#o.keyPackages.routeOf(ref, now);
        if (route?.userUri !== undefined && providerOf(route.userUri) === this.#o.domain) out.push(userName(route.userUri));
      }
    }
    return out;
  }

  /** For a welcome the follower has to know whom to lock before building ops. */
  async welcomeUsers(messages: readonly FanoutMessage[]): Promise<string[]> {
    return this.#welcomeUsers(messages, Date.now());
  }
}
