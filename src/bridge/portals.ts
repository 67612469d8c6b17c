// Portals and message-ID maps of one adapter (namespace `adapters`, keys prefixed with the
// adapter ID), plus the adapter's private key-value store.
//
//   <id>/portal/room/<roomId>                         → Portal
//   <id>/portal/platform/<platformRoom>               → roomId
//   <id>/msg/p2m/<platformRoom>\n<platformEventId>     → MIMI message ID (an edit: the first version)
//   <id>/msg/m2p/<platformRoom>\n<messageId>           → platform event ID
//   <id>/evt/<platformRoom>\n<platformEventId>         → SubmitResult (dedupe of submitted events)
//   <id>/kv/<key>                                     → adapter data
//
// Threads (docs/MAPPING.md "Threads and media"): a MIMI topicId means the same thread on every
// provider, so it is derived from what all of them know. A platform thread whose root is a
// message the bridge knows has that root's MIMI message ID (32 bytes) as its topicId; any other
// platform thread string its UTF-8 octets. Back on the platform, a 32-byte topicId that names a
// known message is that message's platform event ID (Matrix gets a real root event ID), another
// topicId the UTF-8 string it spells, or `mimi-topic:<hex>` when it spells none (binary), which
// maps back to the same bytes.
import { topicIdOfText, topicText } from "../client-api/sdk/content.ts";
import type { AdapterStore, AdapterStoreOp, Portal, PortalApi } from "../adapter/adapter.ts";
import type { RoomKindName, SubmitResult } from "../adapter/events.ts";
import type { AdapterId, PlatformEventId, PlatformRoomId } from "../adapter/types.ts";
import { cborCodec, type BatchOp, type Store, type TypedNamespace } from "../storage/index.ts";

const SEP = "\n";
/** A topicId that spells no thread string, as `threadOf` writes it for the platform. */
const BINARY_TOPIC = /^mimi-topic:((?:[0-9a-fA-F]{2}){1,4096})$/;
/** Keys hold platform IDs; encodeURIComponent keeps them within the key grammar and separable. */
const k = (s: string) => encodeURIComponent(s);

export class PortalStore implements PortalApi {
  readonly #store: Store;
  readonly #ns: TypedNamespace<unknown>;
  readonly #p: string;

  constructor(store: Store, adapter: AdapterId) {
    this.#store = store;
    this.#ns = store.namespace("adapters").typed(cborCodec<unknown>());
    this.#p = `${adapter}/`;
  }

  async byRoom(roomId: string): Promise<Portal | undefined> {
    return (await this.#ns.get(`${this.#p}portal/room/${k(roomId)}`)) as Portal | undefined;
  }

  async byPlatformRoom(platformRoom: PlatformRoomId): Promise<Portal | undefined> {
    const roomId = (await this.#ns.get(`${this.#p}portal/platform/${k(platformRoom)}`)) as string | undefined;
    return roomId === undefined ? undefined : this.byRoom(roomId);
  }

  async list(): Promise<Portal[]> {
    const out: Portal[] = [];
    for await (const { value } of this.#ns.iterate({ prefix: `${this.#p}portal/room/` })) out.push(value as Portal);
    return out;
  }

  /** Links a MIMI room and a platform room (both directions in one batch). Idempotent. */
  async link(roomId: string, platformRoom: PlatformRoomId, kind: RoomKindName, data?: Record<string, unknown>): Promise<Portal> {
    return this.#store.withLock(`portal:${this.#p}${roomId}`, async () => {
      const existing = await this.byRoom(roomId);
      if (existing) return existing;
      const portal: Portal = { roomId, platformRoom, kind, createdAt: Date.now(), ...(data === undefined ? {} : { data }) };
      await this.#store.batch([this.#ns.putOp(`${this.#p}portal/room/${k(roomId)}`, portal), this.#ns.putOp(`${this.#p}portal/platform/${k(platformRoom)}`, roomId)]);
      return portal;
    });
  }

  async setData(platformRoom: PlatformRoomId, data: Record<string, unknown>): Promise<void> {
    const portal = await this.byPlatformRoom(platformRoom);
    if (!portal) return;
    await this.#ns.put(`${this.#p}portal/room/${k(portal.roomId)}`, { ...portal, data }, { sync: true });
  }

  async unlink(platformRoom: PlatformRoomId): Promise<boolean> {
    const portal = await this.byPlatformRoom(platformRoom);
    if (!portal) return false;
    await this.#store.batch([this.#ns.delOp(`${this.#p}portal/room/${k(portal.roomId)}`), this.#ns.delOp(`${this.#p}portal/platform/${k(platformRoom)}`)]);
    return true;
  }

  async messageIdOf(platformRoom: PlatformRoomId, platformEventId: PlatformEventId): Promise<string | undefined> {
    return (await this.#ns.get(`${this.#p}msg/p2m/${k(platformRoom)}${SEP}${k(platformEventId)}`)) as string | undefined;
  }

  async platformEventOf(platformRoom: PlatformRoomId, messageId: string): Promise<PlatformEventId | undefined> {
    return (await this.#ns.get(`${this.#p}msg/m2p/${k(platformRoom)}${SEP}${messageId}`)) as PlatformEventId | undefined;
  }

  /** The MIMI topicId (hex, as the SDK writes it) of a platform thread in `platformRoom`. */
  async topicIdOf(platformRoom: PlatformRoomId, thread: string): Promise<string> {
    const root = await this.messageIdOf(platformRoom, thread as PlatformEventId);
    if (root !== undefined) return root;
    // `mimi-topic:<hex>` stands for bytes only where threadOf wrote it: bytes that spell no thread
    // string. A platform thread ID that merely looks like it (a user may choose an XMPP <thread>)
    // is a string like any other, so no one can pick arbitrary binary topics through a platform.
    const binary = BINARY_TOPIC.exec(thread)?.[1]?.toLowerCase();
    return binary !== undefined && topicText(binary) === undefined ? binary : topicIdOfText(thread);
  }

  /** The platform thread of a MIMI topicId (hex) in `platformRoom`: the root's platform event ID, or the topic as a string. */
  async threadOf(platformRoom: PlatformRoomId, topicId: string): Promise<string> {
    if (topicId.length === 64) {
      const root = await this.platformEventOf(platformRoom, topicId);
      if (root !== undefined) return root;
    }
    return topicText(topicId) ?? `mimi-topic:${topicId}`;
  }

  /**
   * Ops that record a platform event for a MIMI message. `first` is the message the platform
   * event stands for when looked up (an edit's platform ID maps to the first version), `messageId`
   * the exact MIMI message that was created for it.
   */
  mapOps(platformRoom: PlatformRoomId, platformEventId: PlatformEventId, first: string, messageId: string): BatchOp[] {
    return [
      this.#ns.putOp(`${this.#p}msg/p2m/${k(platformRoom)}${SEP}${k(platformEventId)}`, first),
      this.#ns.putOp(`${this.#p}msg/m2p/${k(platformRoom)}${SEP}${messageId}`, platformEventId),
    ];
  }

  async submitted(platformRoom: string, platformEventId: string): Promise<SubmitResult | undefined> {
    return (await this.#ns.get(`${this.#p}evt/${k(platformRoom)}${SEP}${k(platformEventId)}`)) as SubmitResult | undefined;
  }

  submittedOp(platformRoom: string, platformEventId: string, result: SubmitResult): BatchOp {
    return this.#ns.putOp(`${this.#p}evt/${k(platformRoom)}${SEP}${k(platformEventId)}`, result);
  }

  batch(ops: readonly BatchOp[]): Promise<void> {
    return this.#store.batch(ops);
  }
}

/** The adapter's private key-value store (JSON-like values, CBOR-encoded). */
export function adapterStore(store: Store, adapter: AdapterId): AdapterStore {
  const ns = store.namespace("adapters").typed(cborCodec<unknown>());
  const p = `${adapter}/kv/`;
  return {
    get: async <T>(key: string) => (await ns.get(p + key)) as T | undefined,
    put: async <T>(key: string, value: T) => ns.put(p + key, value, { sync: true }),
    del: (key: string) => ns.del(p + key, { sync: true }),
    list: async <T>(prefix: string) => {
      const out: { key: string; value: T }[] = [];
      for await (const { key, value } of ns.iterate({ prefix: p + prefix })) out.push({ key: key.slice(p.length), value: value as T });
      return out;
    },
    // One Store.batch: atomic and synced (Store.batch defaults to sync: true).
    batch: (ops: readonly AdapterStoreOp[]) => store.batch(ops.map((op) => (op.type === "put" ? ns.putOp(p + op.key, op.value) : ns.delOp(p + op.key)))),
  };
}
