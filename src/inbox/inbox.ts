// Per-user ordered event logs for native clients (docs/CLIENT-API.md, "Events").
//
// The follower appends a room's FanoutMessages (and Welcomes) for each local user in the same
// atomic batch in which it records that it received them, so an acknowledged /notify is never
// lost and never delivered twice. Sequence numbers are per user, dense and increasing.
//
// Key layout in `inbox`: `seq/<user>` → last seq; `ev/<user>/<seq, 16 digits>` → InboxEvent.
import { EventEmitter } from "node:events";
import { cborCodec, type BatchOp, type Store, type TypedNamespace } from "../storage/index.ts";

export type InboxEvent =
  | { seq: number; type: "fanout"; roomId: string; timestamp: number; fanout: Uint8Array }
  | { seq: number; type: "welcome"; roomId: string; timestamp: number; fanout: Uint8Array; keyPackageRefs: Uint8Array[] };

export type NewInboxEvent = InboxEvent extends infer E ? (E extends InboxEvent ? Omit<E, "seq"> : never) : never;

const pad = (n: number) => String(n).padStart(16, "0");

export class Inbox {
  readonly #store: Store;
  readonly #ns: TypedNamespace<unknown>;
  readonly #emitter = new EventEmitter();

  constructor(store: Store) {
    this.#store = store;
    this.#ns = store.namespace("inbox").typed(cborCodec<unknown>());
    this.#emitter.setMaxListeners(0);
  }

  /** The lock keys to hold while building append ops for these users. */
  static lockKeys(users: Iterable<string>): string[] {
    return [...new Set(users)].map((u) => `inbox:${u}`);
  }

  /**
   * Batch operations that append events to users' logs. The caller must hold
   * `Inbox.lockKeys(users)` until the batch is written, then call `notify(users)`.
   */
  async appendOps(entries: readonly { user: string; event: NewInboxEvent }[]): Promise<BatchOp[]> {
    const next = new Map<string, number>();
    const ops: BatchOp[] = [];
    for (const { user, event } of entries) {
      let seq = next.get(user);
      if (seq === undefined) seq = ((await this.#ns.get(`seq/${user}`)) as number | undefined) ?? 0;
      seq += 1;
      next.set(user, seq);
      ops.push(this.#ns.putOp(`ev/${user}/${pad(seq)}`, { ...event, seq }));
    }
    for (const [user, seq] of next) ops.push(this.#ns.putOp(`seq/${user}`, seq));
    return ops;
  }

  /** Wakes long-polling readers of these users after their appended batch is written. */
  notify(users: Iterable<string>): void {
    for (const u of new Set(users)) this.#emitter.emit(u);
  }

  async lastSeq(user: string): Promise<number> {
    return ((await this.#ns.get(`seq/${user}`)) as number | undefined) ?? 0;
  }

  /** Events after `after`, up to `limit`. */
  async read(user: string, after: number, limit = 500): Promise<InboxEvent[]> {
    const out: InboxEvent[] = [];
    for await (const { value } of this.#ns.iterate({ gt: `ev/${user}/${pad(after)}`, lt: `ev/${user}/~`, limit })) out.push(value as InboxEvent);
    return out;
  }

  /** Like read, but waits up to `waitMs` for the first event when there is none yet. */
  async wait(user: string, after: number, waitMs: number, signal?: AbortSignal, limit = 500): Promise<InboxEvent[]> {
    // (A function, so the check after the wait is not narrowed by the one before it.)
    const aborted = (): boolean => signal?.aborted === true;
    if (waitMs <= 0 || aborted()) return this.read(user, after, limit);
    // Listen BEFORE reading: an append that lands between the read and the listener would
    // otherwise wake nobody, and the reader would sleep through its own event until waitMs.
    let woken = false;
    let wake: () => void = () => {
      woken = true;
    };
    const onEvent = () => wake();
    this.#emitter.on(user, onEvent);
    signal?.addEventListener("abort", onEvent);
    try {
      const now = await this.read(user, after, limit);
      if (now.length > 0 || aborted()) return now;
      if (!woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      this.#emitter.off(user, onEvent);
      signal?.removeEventListener("abort", onEvent);
    }
    // A reader woken by shutdown finds the store closed: nothing more to give.
    if (!this.#store.isOpen || aborted()) return [];
    return this.read(user, after, limit);
  }

  /** Subscribes to "something new for this user"; returns the unsubscribe function. */
  subscribe(user: string, fn: () => void): () => void {
    this.#emitter.on(user, fn);
    return () => this.#emitter.off(user, fn);
  }

  /**
   * Records that one device processed everything up to `seq`; events every registered device
   * has acknowledged are dropped. Devices that never acknowledge keep events for the others.
   */
  async acknowledge(user: string, clientUri: string, seq: number, devices: readonly string[]): Promise<void> {
    await this.#store.withLock(`inbox-ack:${user}`, async () => {
      await this.#ns.put(`ack/${user}/${encodeURIComponent(clientUri)}`, seq, { sync: false });
      let min = Infinity;
      for (const d of devices) {
        const acked = (await this.#ns.get(`ack/${user}/${encodeURIComponent(d)}`)) as number | undefined;
        min = Math.min(min, acked ?? 0);
      }
      if (Number.isFinite(min) && min > 0) await this.prune(user, min);
    });
  }

  /** Drops events up to and including `upTo` (after every device acknowledged them). */
  async prune(user: string, upTo: number): Promise<void> {
    const ops: BatchOp[] = [];
    for await (const key of this.#ns.keys({ gt: `ev/${user}/`, lte: `ev/${user}/${pad(upTo)}` })) ops.push(this.#ns.delOp(key));
    if (ops.length) await this.#store.batch(ops, { sync: false });
  }
}
