// The hub's durable fanout outbox (DESIGN.md §6; draft-ietf-mimi-protocol-06 §5.5 /notify).
//
// Fanout is written to the outbox in the same atomic batch that accepts a handshake or message,
// so an acknowledged submission is never lost. One worker per follower provider then sends the
// entries in order: consecutive entries of the same room go in one /notify POST (the draft
// allows concatenated FanoutMessages), the entries are deleted only after the follower answered
// 201, and anything else is retried with exponential backoff, honouring Retry-After
// (MIMI-PROTO-FANOUT-10). The follower deduplicates, so a retry after a crash duplicates nothing.
//
// Key layout in `outbox`: `seq/<peer>` → last seq; `q/<peer>/<seq, 16 digits>` → OutboxEntry.
import type { Logger } from "../log.ts";
import { isMimiError } from "../errors.ts";
import { cborCodec, type BatchOp, type Store, type TypedNamespace } from "../storage/index.ts";
import { retryAfterMs, type PeerClient } from "../transport/peerClient.ts";

export interface OutboxEntry {
  roomId: string;
  /** One or more encoded FanoutMessages (a /notify body fragment). */
  body: Uint8Array;
  enqueuedAt: number;
}

export interface OutboxOptions {
  store: Store;
  logger: Logger;
  peerClient: PeerClient;
  /** Largest /notify body assembled from consecutive entries. */
  maxBatchBytes?: number;
  maxBatchEntries?: number;
  /** Backoff: first delay and cap, in milliseconds. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

const pad = (n: number) => String(n).padStart(16, "0");

/** Sends one peer's queue; one instance per peer, started on demand. */
class PeerWorker {
  readonly #peer: string;
  readonly #outbox: Outbox;
  #running = false;
  #wake: (() => void) | undefined;
  #stopped = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #loop: Promise<void> | undefined;

  constructor(peer: string, outbox: Outbox) {
    this.#peer = peer;
    this.#outbox = outbox;
  }

  kick(): void {
    if (this.#stopped) return;
    if (this.#wake) {
      const w = this.#wake;
      this.#wake = undefined;
      if (this.#timer) clearTimeout(this.#timer);
      w();
    }
    if (!this.#running) {
      this.#running = true;
      this.#loop = this.#run().finally(() => {
        this.#running = false;
      });
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    if (this.#timer) clearTimeout(this.#timer);
    await this.#loop;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#timer.unref();
    });
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const batch = await this.#outbox.nextBatch(this.#peer);
      if (batch.entries.length === 0) {
        // Idle: wait for a kick (new entries) rather than polling.
        await this.#sleep(60_000);
        continue;
      }
      const delay = await this.#outbox.deliver(this.#peer, batch);
      if (delay === 0) {
        this.#failures = 0;
        continue;
      }
      this.#failures += 1;
      await this.#sleep(delay === undefined ? this.#outbox.backoff(this.#failures) : Math.max(delay, this.#outbox.backoff(this.#failures)));
    }
  }
}

export class Outbox {
  readonly #store: Store;
  readonly #ns: TypedNamespace<unknown>;
  readonly #log: Logger;
  readonly #peerClient: PeerClient;
  readonly #workers = new Map<string, PeerWorker>();
  readonly #maxBatchBytes: number;
  readonly #maxBatchEntries: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  /** Counters for health and tests. */
  readonly stats = { delivered: 0, failedAttempts: 0 };

  constructor(options: OutboxOptions) {
    this.#store = options.store;
    this.#ns = options.store.namespace("outbox").typed(cborCodec<unknown>());
    this.#log = options.logger.child({ component: "outbox" });
    this.#peerClient = options.peerClient;
    this.#maxBatchBytes = options.maxBatchBytes ?? 1024 * 1024;
    this.#maxBatchEntries = options.maxBatchEntries ?? 200;
    this.#initialBackoffMs = options.initialBackoffMs ?? 250;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  static lockKey(peer: string): string {
    return `outbox:${peer}`;
  }

  /**
   * Batch ops that append `body` for `peer`. The caller holds Outbox.lockKey(peer) until the
   * batch is written, then calls kick(peer).
   */
  async enqueueOps(peer: string, roomId: string, body: Uint8Array, now = Date.now()): Promise<BatchOp[]> {
    const seq = (((await this.#ns.get(`seq/${peer}`)) as number | undefined) ?? 0) + 1;
    const entry: OutboxEntry = { roomId, body, enqueuedAt: now };
    return [this.#ns.putOp(`q/${peer}/${pad(seq)}`, entry), this.#ns.putOp(`seq/${peer}`, seq)];
  }

  /** Starts (or wakes) the worker of `peer`. */
  kick(peer: string): void {
    let w = this.#workers.get(peer);
    if (!w) {
      w = new PeerWorker(peer, this);
      this.#workers.set(peer, w);
    }
    w.kick();
  }

  /** Starts workers for every peer with queued entries (after a restart). */
  async resume(): Promise<void> {
    const peers = new Set<string>();
    for await (const key of this.#ns.keys({ prefix: "q/" })) peers.add(key.split("/")[1] ?? "");
    for (const p of peers) if (p) this.kick(p);
  }

  async pending(peer?: string): Promise<number> {
    let n = 0;
    for await (const _ of this.#ns.keys({ prefix: peer === undefined ? "q/" : `q/${peer}/` })) n++;
    return n;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#workers.values()].map((w) => w.stop()));
  }

  backoff(failures: number): number {
    const base = Math.min(this.#maxBackoffMs, this.#initialBackoffMs * 2 ** Math.min(failures - 1, 16));
    return Math.round(base / 2 + (Math.random() * base) / 2);
  }

  /** The oldest entries of one room, as one /notify body. */
  async nextBatch(peer: string): Promise<{ roomId: string; keys: string[]; entries: OutboxEntry[] }> {
    const keys: string[] = [];
    const entries: OutboxEntry[] = [];
    let roomId = "";
    let bytes = 0;
    for await (const { key, value } of this.#ns.iterate({ prefix: `q/${peer}/`, limit: this.#maxBatchEntries })) {
      const e = value as OutboxEntry;
      if (entries.length === 0) roomId = e.roomId;
      else if (e.roomId !== roomId || bytes + e.body.length > this.#maxBatchBytes) break;
      keys.push(key);
      entries.push(e);
      bytes += e.body.length;
    }
    return { roomId, keys, entries };
  }

  /**
   * POSTs one batch to the peer's notify endpoint. Returns 0 when delivered (and deleted), a
   * Retry-After delay in milliseconds, or undefined for "retry with backoff".
   */
  async deliver(peer: string, batch: { roomId: string; keys: string[]; entries: OutboxEntry[] }): Promise<number | undefined> {
    const body = Buffer.concat(batch.entries.map((e) => e.body));
    const roomPath = batch.roomId.replace(/^mimi:\/\//, "");
    try {
      const res = await this.#peerClient.request(peer, "notify", { roomId: roomPath }, { body });
      // MIMI-PROTO-FANOUT-11: only 201 means the follower has it (protocol-06 §5.5).
      if (res.status === 201) {
        await this.#store.withLock(Outbox.lockKey(peer), () => this.#store.batch(batch.keys.map((k) => this.#ns.delOp(k)), { sync: false }));
        this.stats.delivered += batch.entries.length;
        return 0;
      }
      this.stats.failedAttempts += 1;
      this.#log.warn({ peer, roomId: batch.roomId, status: res.status, entries: batch.entries.length }, "notify not accepted; will retry");
      // 0 means "delivered" to the worker: a Retry-After of 0 (or a past date) is a retry with backoff.
      const after = retryAfterMs(res.headers);
      return after === undefined || after <= 0 ? undefined : after;
    } catch (err) {
      this.stats.failedAttempts += 1;
      const code = isMimiError(err) ? err.code : "MIMI_ERR_INTERNAL";
      this.#log.warn({ peer, roomId: batch.roomId, code, entries: batch.entries.length }, "notify failed; will retry");
      if (!isMimiError(err)) this.#log.error({ err }, "unexpected error delivering notify");
      return undefined;
    }
  }
}

