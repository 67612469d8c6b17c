// The quarantine at the target's provider (the seed's Question 3, option 3; digest §4): events of
// a room for a local user who has not consented to the requester are held here, not shown,
// until the user grants (delivered in order), revokes or lets the request expire (dropped).
// Under `keypackages` only the invitation is held (the Welcome and the handshakes the user's
// client needs to follow the group); application messages are dropped.
//
// Caps (MIMI-PROTO-CONSENT-18): per requester (over all local targets) and per target (over all
// requesters), in events and bytes. An application message over a cap is dropped and counted; a
// Welcome or handshake over a cap voids the whole held room (its events are dropped, later ones
// too), since a partial handshake stream could not be processed by the target's client; after a
// grant the target can still join such a room by external commit (it is in the participant list).
// Age (MIMI-PROTO-CONSENT-19): held rooms older than quarantine.maxAgeSeconds are dropped.
//
// Key layout in `consent`:
//   qu/<user>/<room>          HeldRoom (user = the local user's name)
//   qr/<room>/<user>          the requester (index: pending users of a room)
//   qe/<user>/<room>/<seq>    HeldEvent, seq 12 digits, in arrival order
//   qt/t/<user>, qt/r/<requester>   running totals { events, bytes }
//
// Every write happens with the room's follower lock and QUARANTINE_LOCK held (follower.ts).
import type { DeliveryGate, PendingDelivery, WelcomeHold } from "../follower/follower.ts";
import type { NewInboxEvent } from "../inbox/inbox.ts";
import type { Logger } from "../log.ts";
import { cborCodec, type BatchOp, type Store, type TypedNamespace } from "../storage/index.ts";
import type { ConsentConfig } from "./types.ts";

/** Sorts after "follower:…", "inbox:…" and "outbox:…" (the order deliveries take locks in). */
export const QUARANTINE_LOCK = "quarantine:consent";

export interface HeldRoom {
  user: string;
  roomId: string;
  requester: string;
  policy: "keypackages" | "quarantine";
  createdAt: number;
  firstAt: number;
  lastAt: number;
  /** Events held now. */
  count: number;
  bytes: number;
  /** Events dropped (application messages under keypackages, or over a cap). */
  dropped: number;
  /** A Welcome or handshake went over a cap: nothing of this room is held any more. */
  void: boolean;
  nextSeq: number;
}

interface HeldEvent {
  event: NewInboxEvent;
  kind: string;
  size: number;
  heldAt: number;
}

interface Totals {
  events: number;
  bytes: number;
}

/** What the target may see of a held room (metadata only: the provider cannot read ciphertext). */
export interface HeldPreview {
  roomId?: string;
  requester?: string;
  count?: number;
  bytes?: number;
  firstAt?: number;
  lastAt?: number;
  dropped?: number;
  policy: "keypackages" | "quarantine";
  void: boolean;
}

/** The follower's side of releasing and dropping (follower.ts). */
export interface QuarantineFollower {
  withDeliveryLock<T>(roomId: string, fn: () => Promise<T>): Promise<T>;
  deliverHeld(roomId: string, user: string, take: () => Promise<{ events: NewInboxEvent[]; ops: BatchOp[] }>): Promise<number>;
}

const enc = encodeURIComponent;
const pad = (n: number) => String(n).padStart(12, "0");
const roomKey = (user: string, roomId: string) => `qu/${enc(user)}/${enc(roomId)}`;
const indexKey = (roomId: string, user: string) => `qr/${enc(roomId)}/${enc(user)}`;
const eventPrefix = (user: string, roomId: string) => `qe/${enc(user)}/${enc(roomId)}/`;

export interface QuarantineOptions {
  store: Store;
  config: ConsentConfig["quarantine"];
  logger: Logger;
}

export class Quarantine {
  readonly #store: Store;
  readonly #config: ConsentConfig["quarantine"];
  readonly #log: Logger;
  readonly #rooms: TypedNamespace<HeldRoom>;
  readonly #index: TypedNamespace<string>;
  readonly #events: TypedNamespace<HeldEvent>;
  readonly #totals: TypedNamespace<Totals>;
  #follower: QuarantineFollower | undefined;
  /**
   * Whether any room may be held (undefined: not known yet): spares every delivery an index scan on
   * providers that never held anything. Once true it stays true (a reset could race a hold).
   */
  #anyHeld: boolean | undefined;

  constructor(o: QuarantineOptions) {
    this.#store = o.store;
    this.#config = o.config;
    this.#log = o.logger.child({ component: "quarantine" });
    const ns = o.store.namespace("consent");
    this.#rooms = ns.typed(cborCodec<HeldRoom>());
    this.#index = ns.typed(cborCodec<string>());
    this.#events = ns.typed(cborCodec<HeldEvent>());
    this.#totals = ns.typed(cborCodec<Totals>());
  }

  /** Late binding: the follower is built after the consent service. */
  attach(follower: QuarantineFollower): void {
    this.#follower = follower;
  }

  #fol(): QuarantineFollower {
    if (this.#follower === undefined) throw new Error("the quarantine has no follower attached");
    return this.#follower;
  }

  /** The held room of a local user, if any. */
  room(user: string, roomId: string): Promise<HeldRoom | undefined> {
    return this.#rooms.get(roomKey(user, roomId));
  }

  /** Held rooms of a local user (all, or those of one requester). */
  async rooms(user: string, requester?: string): Promise<HeldRoom[]> {
    const out: HeldRoom[] = [];
    for await (const { value } of this.#rooms.iterate({ prefix: `qu/${enc(user)}/` })) if (requester === undefined || value.requester === requester) out.push(value);
    return out;
  }

  /** Every held room (for the sweep). */
  async allRooms(): Promise<HeldRoom[]> {
    const out: HeldRoom[] = [];
    for await (const { value } of this.#rooms.iterate({ prefix: "qu/" })) out.push(value);
    return out;
  }

  /** Users (names) with a held room for this room. */
  async pendingUsers(roomId: string): Promise<string[]> {
    if (this.#anyHeld === undefined) {
      let any = false;
      for await (const _ of this.#index.keys({ prefix: "qr/", limit: 1 })) any = true;
      this.#anyHeld ??= any;
    }
    if (!this.#anyHeld) return [];
    const out: string[] = [];
    for await (const key of this.#index.keys({ prefix: `qr/${enc(roomId)}/` })) out.push(decodeURIComponent(key.slice(key.lastIndexOf("/") + 1)));
    return out;
  }

  /** Running totals of a target (user name) or of a requester (URI). */
  async totals(kind: "target" | "requester", id: string): Promise<Totals> {
    return (await this.#totals.get(`qt/${kind === "target" ? "t" : "r"}/${enc(id)}`)) ?? { events: 0, bytes: 0 };
  }

  /** The held events of a room for a user, in order (tests, inspection). */
  async events(user: string, roomId: string): Promise<NewInboxEvent[]> {
    const out: NewInboxEvent[] = [];
    for await (const { value } of this.#events.iterate({ prefix: eventPrefix(user, roomId) })) out.push(value.event);
    return out;
  }

  /**
   * Batch ops that hold `items` (in order) for pending users; caps applied. Caller: the follower,
   * with the room's follower lock and QUARANTINE_LOCK held.
   */
  async holdOps(roomId: string, items: readonly PendingDelivery[], now: number): Promise<BatchOp[]> {
    const rooms = new Map<string, HeldRoom>();
    const totals = new Map<string, Totals>();
    const total = async (key: string): Promise<Totals> => {
      let t = totals.get(key);
      if (t === undefined) {
        t = (await this.#totals.get(key)) ?? { events: 0, bytes: 0 };
        totals.set(key, t);
      }
      return t;
    };
    const ops: BatchOp[] = [];
    const voided: HeldRoom[] = [];
    for (const item of items) {
      let room = rooms.get(item.user) ?? (await this.room(item.user, roomId));
      if (room === undefined) {
        if (item.hold === undefined) continue; // not pending (any more): nothing to hold
        room = this.#newRoom(item.user, roomId, item.hold, now);
        ops.push(this.#index.putOp(indexKey(roomId, item.user), item.hold.requester));
        this.#anyHeld = true;
      }
      rooms.set(item.user, room);
      if (room.void) {
        room.dropped += 1;
        continue;
      }
      // MIMI-PROTO-CONSENT-17: under keypackages only the invitation is held.
      if (room.policy === "keypackages" && item.kind === "application") {
        room.dropped += 1;
        continue;
      }
      const t = await total(`qt/t/${enc(item.user)}`);
      const r = await total(`qt/r/${enc(room.requester)}`);
      const caps = this.#config;
      const over =
        t.events + 1 > caps.perTarget.messages || t.bytes + item.size > caps.perTarget.bytes || r.events + 1 > caps.perRequester.messages || r.bytes + item.size > caps.perRequester.bytes;
      if (over) {
        // MIMI-PROTO-CONSENT-18
        room.dropped += 1;
        if (item.kind !== "application") {
          room.void = true;
          voided.push(room);
        }
        continue;
      }
      const seq = room.nextSeq++;
      ops.push(this.#events.putOp(`${eventPrefix(item.user, roomId)}${pad(seq)}`, { event: item.event, kind: item.kind, size: item.size, heldAt: now }));
      room.count += 1;
      room.bytes += item.size;
      room.lastAt = now;
      t.events += 1;
      t.bytes += item.size;
      r.events += 1;
      r.bytes += item.size;
    }
    for (const room of voided) {
      // Drop what this room held (the ones stored earlier and the ones queued in this batch).
      const keys: string[] = [];
      for await (const key of this.#events.keys({ prefix: eventPrefix(room.user, roomId) })) keys.push(key);
      for (const key of keys) ops.push(this.#events.delOp(key));
      const queued = new Set(keys);
      for (let i = ops.length - 1; i >= 0; i--) {
        const op = ops[i];
        if (op?.type === "put" && op.key.startsWith(eventPrefix(room.user, roomId)) && !queued.has(op.key)) ops.splice(i, 1);
      }
      const t = await total(`qt/t/${enc(room.user)}`);
      const r = await total(`qt/r/${enc(room.requester)}`);
      t.events = Math.max(0, t.events - room.count);
      t.bytes = Math.max(0, t.bytes - room.bytes);
      r.events = Math.max(0, r.events - room.count);
      r.bytes = Math.max(0, r.bytes - room.bytes);
      room.dropped += room.count;
      room.count = 0;
      room.bytes = 0;
      this.#log.info({ roomId, requester: room.requester }, "held room voided: over the quarantine caps");
    }
    for (const room of rooms.values()) ops.push(this.#rooms.putOp(roomKey(room.user, roomId), room));
    for (const [key, t] of totals) ops.push(this.#totals.putOp(key, t));
    return ops;
  }

  #newRoom(user: string, roomId: string, hold: WelcomeHold, now: number): HeldRoom {
    return { user, roomId, requester: hold.requester, policy: hold.policy, createdAt: now, firstAt: now, lastAt: now, count: 0, bytes: 0, dropped: 0, void: false, nextSeq: 1 };
  }

  /** Ops that end a held room (its events, index entry, record) and take it off the totals. */
  async #endOps(room: HeldRoom): Promise<BatchOp[]> {
    const ops: BatchOp[] = [];
    for await (const key of this.#events.keys({ prefix: eventPrefix(room.user, room.roomId) })) ops.push(this.#events.delOp(key));
    ops.push(this.#rooms.delOp(roomKey(room.user, room.roomId)), this.#index.delOp(indexKey(room.roomId, room.user)));
    for (const key of [`qt/t/${enc(room.user)}`, `qt/r/${enc(room.requester)}`]) {
      const t = (await this.#totals.get(key)) ?? { events: 0, bytes: 0 };
      const next = { events: Math.max(0, t.events - room.count), bytes: Math.max(0, t.bytes - room.bytes) };
      ops.push(next.events === 0 && next.bytes === 0 ? this.#totals.delOp(key) : this.#totals.putOp(key, next));
    }
    return ops;
  }

  /**
   * Consent granted (MIMI-PROTO-CONSENT-21): delivers the held rooms of `user` from `requester`
   * (one room, or all when `roomId` is undefined), each in its order. Returns events delivered.
   */
  async release(user: string, requester: string, roomId: string | undefined): Promise<number> {
    let delivered = 0;
    for (const held of await this.rooms(user, requester)) {
      if (roomId !== undefined && held.roomId !== roomId) continue;
      delivered += await this.#fol().deliverHeld(held.roomId, user, async () => {
        const room = await this.room(user, held.roomId);
        if (room === undefined) return { events: [], ops: [] };
        const events: NewInboxEvent[] = [];
        for await (const { value } of this.#events.iterate({ prefix: eventPrefix(user, held.roomId) })) events.push(value.event);
        return { events: room.void ? [] : events, ops: await this.#endOps(room) };
      });
      this.#log.info({ roomId: held.roomId, requester }, "held room released on consent");
    }
    return delivered;
  }

  /**
   * Revoke, cancel, expiry or age (MIMI-PROTO-CONSENT-22): drops held rooms of `user` (from one
   * requester or any; one room or all). Returns the number of events dropped.
   */
  async drop(user: string, requester: string | undefined, roomId: string | undefined, why: string): Promise<number> {
    let dropped = 0;
    for (const held of await this.rooms(user, requester)) {
      if (roomId !== undefined && held.roomId !== roomId) continue;
      dropped += await this.#fol().withDeliveryLock(held.roomId, async () => {
        const room = await this.room(user, held.roomId);
        if (room === undefined) return 0;
        await this.#store.batch(await this.#endOps(room));
        return room.count;
      });
      this.#log.info({ roomId: held.roomId, requester: held.requester, why }, "held room dropped");
    }
    return dropped;
  }

  /** Drops held rooms older than quarantine.maxAgeSeconds (MIMI-PROTO-CONSENT-19). */
  async sweep(now: number): Promise<number> {
    let n = 0;
    for (const room of await this.allRooms()) {
      if (room.createdAt + this.#config.maxAgeSeconds * 1000 <= now) n += await this.drop(room.user, room.requester, room.roomId, "age");
    }
    return n;
  }

  /** A held room as the target may see it: only the configured preview fields (MIMI-PROTO-CONSENT-23). */
  preview(room: HeldRoom): HeldPreview {
    const f = new Set<string>(this.#config.preview);
    return {
      policy: room.policy,
      void: room.void,
      ...(f.has("room") ? { roomId: room.roomId } : {}),
      ...(f.has("requester") ? { requester: room.requester } : {}),
      ...(f.has("count") ? { count: room.count } : {}),
      ...(f.has("bytes") ? { bytes: room.bytes } : {}),
      ...(f.has("firstAt") ? { firstAt: room.firstAt } : {}),
      ...(f.has("lastAt") ? { lastAt: room.lastAt } : {}),
      ...(f.has("dropped") ? { dropped: room.dropped } : {}),
    };
  }

  /** The follower's DeliveryGate, with the Welcome decision supplied by the consent service. */
  deliveryGate(welcome: DeliveryGate["welcome"]): DeliveryGate {
    return {
      lockKey: QUARANTINE_LOCK,
      pendingUsers: (roomId) => this.pendingUsers(roomId),
      welcome,
      holdOps: (roomId, items, now) => this.holdOps(roomId, items, now),
    };
  }
}
