// An in-process async mutex keyed by string (DESIGN.md section 6: "a per-room lock").
//
// Each key has a FIFO queue whose head holds the lock. A request for several keys takes them one
// by one in sorted order, so two requests with overlapping key sets always contend on their
// smallest shared key first and cannot deadlock. Granting is synchronous (a release hands the
// key straight to the next waiter), which keeps FIFO order exact and the uncontended path cheap.
//
// This lock is per process. The level store needs nothing more, because LevelDB itself allows
// one process per data folder; a store shared between processes (PostgreSQL) must use row locks
// or compare-and-set for correctness between processes.
import { MimiError } from "../errors.ts";

export type Release = () => void;

export interface AcquireOptions {
  /** Give up after this many milliseconds (MIMI_ERR_STORAGE_LOCK_TIMEOUT). Infinity: never. */
  timeoutMs?: number;
}

interface Waiter {
  onGrant: () => void;
}

/** Sorted, de-duplicated, validated lock keys. */
export function normalizeLockKeys(keys: string | readonly string[]): string[] {
  const list = typeof keys === "string" ? [keys] : [...keys];
  if (list.length === 0) throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", "withLock needs at least one key");
  for (const key of list) {
    if (typeof key !== "string" || key.length === 0) {
      throw new MimiError("MIMI_ERR_STORAGE_INVALID_KEY", "lock keys must be non-empty strings");
    }
  }
  // Any fixed total order prevents deadlock; plain code-unit order is enough here.
  return [...new Set(list)].sort();
}

export class KeyedLock {
  // key -> queue; queue[0] holds the lock, the rest wait in arrival order.
  readonly #queues = new Map<string, Waiter[]>();

  /** Number of keys currently held or waited for (0 when idle: nothing leaks). */
  get activeKeys(): number {
    return this.#queues.size;
  }

  /** Resolves with a release function once every key is held. Call the release exactly once. */
  acquire(keys: string | readonly string[], options: AcquireOptions = {}): Promise<Release> {
    return new Promise<Release>((resolve, reject) => {
      // Throwing here rejects the promise rather than throwing at the call site.
      const sorted = normalizeLockKeys(keys);
      const timeoutMs = options.timeoutMs ?? Infinity;
      if (!(timeoutMs >= 0)) throw new MimiError("MIMI_ERR_INTERNAL", "lock timeout must be a non-negative number");
      const held: string[] = [];
      let pending: { key: string; waiter: Waiter } | undefined;
      let timer: NodeJS.Timeout | undefined;
      let settled = false;
      let released = false;

      const release: Release = () => {
        if (released) return;
        released = true;
        for (let i = held.length - 1; i >= 0; i--) this.#release(held[i] as string);
        held.length = 0;
      };

      const step = (): void => {
        while (held.length < sorted.length) {
          const key = sorted[held.length] as string;
          const waiter: Waiter = {
            onGrant: () => {
              pending = undefined;
              held.push(key);
              step();
            },
          };
          if (!this.#enqueue(key, waiter)) {
            pending = { key, waiter };
            return;
          }
          held.push(key);
        }
        settled = true;
        if (timer !== undefined) clearTimeout(timer);
        resolve(release);
      };

      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => {
          if (settled) return;
          settled = true;
          // Leave the queue we are waiting in and give back what we hold, so the keys stay usable.
          if (pending !== undefined) this.#cancel(pending.key, pending.waiter);
          pending = undefined;
          release();
          reject(
            new MimiError("MIMI_ERR_STORAGE_LOCK_TIMEOUT", `timed out after ${timeoutMs} ms waiting for a storage lock`, {
              details: { timeoutMs, keys: sorted.length },
            }),
          );
        }, timeoutMs);
        // A waiting lock must not keep the process alive on its own.
        timer.unref();
      }
      step();
    });
  }

  /** Runs `fn` while holding `keys`; releases them however `fn` ends. */
  async run<T>(keys: string | readonly string[], fn: () => Promise<T>, options: AcquireOptions = {}): Promise<T> {
    const release = await this.acquire(keys, options);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** True if the key was free and is now held by `waiter`. */
  #enqueue(key: string, waiter: Waiter): boolean {
    const queue = this.#queues.get(key);
    if (queue === undefined) {
      this.#queues.set(key, [waiter]);
      return true;
    }
    queue.push(waiter);
    return false;
  }

  #release(key: string): void {
    const queue = this.#queues.get(key);
    if (queue === undefined) return;
    queue.shift();
    const next = queue[0];
    if (next === undefined) this.#queues.delete(key);
    else next.onGrant();
  }

  #cancel(key: string, waiter: Waiter): void {
    const queue = this.#queues.get(key);
    if (queue === undefined) return;
    const index = queue.indexOf(waiter);
    // index 0 would mean the waiter holds the key, which cannot happen for a pending waiter.
    if (index > 0) queue.splice(index, 1);
  }
}
