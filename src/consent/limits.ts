// Token buckets for claims before consent (digest §4, "Relation to KeyPackage exhaustion": rate-
// limit keyMaterial per requester, because each claim burns KeyPackages). One bucket per key
// (a requesting user, a requesting provider): `burst` claims at once, refilled at `perMinute`.
// In memory: a restart refills every bucket, which the per-target budget (persisted, store.ts)
// and the reserve (keyPackageStore.ts) bound.

export interface RateLimit {
  readonly burst: number;
  readonly perMinute: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  readonly #limit: RateLimit;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  /** `maxKeys` bounds memory; the least recently used bucket is forgotten beyond it. */
  constructor(limit: RateLimit, maxKeys = 100_000) {
    this.#limit = limit;
    this.#maxKeys = maxKeys;
  }

  #refilled(key: string, now: number): Bucket {
    const b = this.#buckets.get(key);
    if (b === undefined) return { tokens: this.#limit.burst, at: now };
    const elapsed = Math.max(0, now - b.at);
    return { tokens: Math.min(this.#limit.burst, b.tokens + (elapsed * this.#limit.perMinute) / 60_000), at: now };
  }

  /** Takes one token for `key`; false (nothing taken) when the bucket is empty. */
  take(key: string, now: number): boolean {
    const b = this.#refilled(key, now);
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    // re-insert: Map order is the LRU order
    this.#buckets.delete(key);
    this.#buckets.set(key, b);
    if (this.#buckets.size > this.#maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done !== true) this.#buckets.delete(oldest.value);
    }
    return ok;
  }

  /** Tokens left for `key` now (for tests and logs). */
  available(key: string, now: number): number {
    return Math.floor(this.#refilled(key, now).tokens);
  }
}
