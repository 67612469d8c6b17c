// The SDK's persistent state, in one namespace ("sdk") of a Store (src/storage): the account and
// device keys, unused KeyPackages with their private keys, each room's MLS group state, the event
// cursor, a message index (for edits, replies and reactions), hashes of what this client sent
// (to recognise its echoes), and the queue of SDK events not yet delivered to the application.
//
// Everything that one incoming event changes is written in ONE batch together with the new
// cursor, so a restarted client resumes exactly after the last event it fully processed.
//
// Keys:
//   account                     AccountRecord
//   cursor                      { seq }        last server event processed
//   acked                       { seq }        last seq acknowledged to the provider
//   kp/<KeyPackageRef hex>      StoredKeyPackage
//   room/<roomId>               RoomRecord
//   group/<roomId>              the facade's encodeGroupState bytes (raw)
//   msg/<roomId>/<id hex>       MessageIndexEntry
//   own/<sha256 hex>            OwnMessageRecord (handshakes and messages we sent)
//   pend/<roomId>/<seq>         ServerEvent held for a room we have not joined yet
//   evq/<seq>                   StoredSdkEvent (to deliver)
//   evmeta                      { next, delivered }
import { resolve } from "node:path";
import { MimiError, isMimiError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { openStore } from "../../storage/index.ts";
import type { BatchOp, Namespace, Store } from "../../storage/index.ts";
import { stateJsonDecode, stateJsonEncode } from "./util.ts";

export const SDK_NAMESPACE = "sdk";
/** The namespaces a Store given to MimiClient must have been opened with. */
export const CLIENT_STATE_NAMESPACES: readonly string[] = [SDK_NAMESPACE];

/** Opens the SDK's own store: a LevelDB folder (created with mode 0700), or memory. */
export function openClientStore(location: string | { readonly memory: true }, logger?: Logger): Promise<Store> {
  if (typeof location === "string") {
    return openStore({ kind: "level", dataDir: resolve(location), namespaces: CLIENT_STATE_NAMESPACES, migrations: [], ...(logger === undefined ? {} : { logger }) });
  }
  return openStore({ kind: "memory", namespaces: CLIENT_STATE_NAMESPACES, migrations: [], ...(logger === undefined ? {} : { logger }) });
}

export interface AccountRecord {
  readonly apiUrl: string;
  readonly userUri: string;
  readonly provider: string;
  /** Absent when the application keeps the token elsewhere (persistToken: false). */
  readonly token?: string;
  readonly deviceId?: string;
  readonly clientUri?: string;
  readonly cipherSuite?: string;
  readonly signaturePublicKey?: Uint8Array;
  /** Secret. */
  readonly signaturePrivateKey?: Uint8Array;
}

export interface StoredKeyPackage {
  /** The KeyPackage as MLSMessage. */
  readonly encoded: Uint8Array;
  readonly lastResort: boolean;
  /** Seconds since the Unix epoch. */
  readonly notAfter: number;
  /** Secrets: init, leaf HPKE and signature private keys (ts-mls PrivateKeyPackage). */
  readonly privateKeys: { readonly initPrivateKey: Uint8Array; readonly hpkePrivateKey: Uint8Array; readonly signaturePrivateKey: Uint8Array };
}

export type RoomStatus = "active" | "left" | "removed";

export interface RoomRecord {
  readonly roomId: string;
  readonly status: RoomStatus;
  readonly kind?: string;
  /** This client proposed to leave; the room is "left" (not "removed") when the commit arrives. */
  readonly leaving?: boolean;
  /** ms since the Unix epoch when this client joined. */
  readonly joinedAt: number;
}

/** What the SDK remembers of each message, to resolve edits, deletes and reactions. */
export interface MessageIndexEntry {
  /** The first version (what `replaces` must name, content §5.5). */
  readonly first: string;
  readonly sender: string;
  readonly kind: string;
  readonly inReplyTo?: string;
  readonly reaction?: string;
  /** The message's thread (content §4.1 topicId, hex): edits and deletes keep it. */
  readonly topicId?: string;
}

export interface OwnMessageRecord {
  readonly at: number;
  readonly roomId: string;
}

/** The persisted form of an SDK event (bytes as base64 via the state JSON codec). */
export type StoredSdkEvent = Record<string, unknown> & { readonly type: string };

const pad = (n: number): string => String(n).padStart(16, "0");

/** Batched writes against the "sdk" namespace. */
export class StateBatch {
  readonly ops: BatchOp[] = [];
  readonly #ns: Namespace;

  constructor(ns: Namespace) {
    this.#ns = ns;
  }

  put(key: string, value: unknown): this {
    this.ops.push(this.#ns.putOp(key, stateJsonEncode(value)));
    return this;
  }

  putRaw(key: string, value: Uint8Array): this {
    this.ops.push(this.#ns.putOp(key, value));
    return this;
  }

  del(key: string): this {
    this.ops.push(this.#ns.delOp(key));
    return this;
  }
}

export class ClientStateStore {
  readonly store: Store;
  readonly #ns: Namespace;

  constructor(store: Store) {
    this.store = store;
    try {
      this.#ns = store.namespace(SDK_NAMESPACE);
    } catch (cause) {
      if (isMimiError(cause, "MIMI_ERR_STORAGE_INVALID_KEY")) {
        throw new MimiError("MIMI_ERR_SDK_STATE_INVALID", `the store given as client state has no "${SDK_NAMESPACE}" namespace: open it with openClientStore() or with CLIENT_STATE_NAMESPACES`, { cause });
      }
      throw cause;
    }
  }

  batch(): StateBatch {
    return new StateBatch(this.#ns);
  }

  async commit(b: StateBatch): Promise<void> {
    if (b.ops.length > 0) await this.store.batch(b.ops, { sync: true });
  }

  async get<T>(key: string): Promise<T | undefined> {
    const v = await this.#ns.get(key);
    return v === undefined ? undefined : stateJsonDecode<T>(v);
  }

  getRaw(key: string): Promise<Uint8Array | undefined> {
    return this.#ns.get(key);
  }

  async *entries<T>(prefix: string): AsyncGenerator<{ key: string; value: T }> {
    for await (const e of this.#ns.iterate({ prefix })) yield { key: e.key, value: stateJsonDecode<T>(e.value) };
  }

  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of this.#ns.keys({ prefix })) out.push(k);
    return out;
  }

  // ---- typed accessors -----------------------------------------------------------------------

  account(): Promise<AccountRecord | undefined> {
    return this.get<AccountRecord>("account");
  }

  async cursor(): Promise<number> {
    return (await this.get<{ seq: number }>("cursor"))?.seq ?? 0;
  }

  async acked(): Promise<number> {
    return (await this.get<{ seq: number }>("acked"))?.seq ?? 0;
  }

  room(roomId: string): Promise<RoomRecord | undefined> {
    return this.get<RoomRecord>(`room/${roomId}`);
  }

  async rooms(): Promise<RoomRecord[]> {
    const out: RoomRecord[] = [];
    for await (const e of this.entries<RoomRecord>("room/")) out.push(e.value);
    return out;
  }

  groupState(roomId: string): Promise<Uint8Array | undefined> {
    return this.getRaw(`group/${roomId}`);
  }

  keyPackage(refHex: string): Promise<StoredKeyPackage | undefined> {
    return this.get<StoredKeyPackage>(`kp/${refHex}`);
  }

  message(roomId: string, idHex: string): Promise<MessageIndexEntry | undefined> {
    return this.get<MessageIndexEntry>(`msg/${roomId}/${idHex}`);
  }

  async *messages(roomId: string): AsyncGenerator<{ id: string; entry: MessageIndexEntry }> {
    const prefix = `msg/${roomId}/`;
    for await (const e of this.entries<MessageIndexEntry>(prefix)) yield { id: e.key.slice(prefix.length), entry: e.value };
  }

  own(hashHex: string): Promise<OwnMessageRecord | undefined> {
    return this.get<OwnMessageRecord>(`own/${hashHex}`);
  }

  async eventMeta(): Promise<{ next: number; delivered: number }> {
    return (await this.get<{ next: number; delivered: number }>("evmeta")) ?? { next: 1, delivered: 0 };
  }

  async queuedEvents(after: number, limit: number): Promise<{ seq: number; event: StoredSdkEvent }[]> {
    const out: { seq: number; event: StoredSdkEvent }[] = [];
    for await (const e of this.#ns.iterate({ gt: `evq/${pad(after)}`, lt: "evq/~", limit })) {
      out.push({ seq: Number(e.key.slice(4)), event: stateJsonDecode<StoredSdkEvent>(e.value) });
    }
    return out;
  }

  static eventKey(seq: number): string {
    return `evq/${pad(seq)}`;
  }

  static pendingKey(roomId: string, seq: number): string {
    return `pend/${roomId}/${pad(seq)}`;
  }
}
