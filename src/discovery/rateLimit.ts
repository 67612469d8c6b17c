// Token-bucket rate limits for discovery (User Discovery Requirements R8, "protection against
// enumeration"; digest §5 advice: rate-limit identifierQuery per peer and per requester).
//
// One bucket per key (a requesting provider domain, or a local user): `burst` tokens at most,
// refilled continuously at `perMinute` per minute. A request takes one token or is refused with
// the time until the next token. The limiter is in memory (per process, like the store's
// withLock) and bounded: at most `maxKeys` buckets. A full bucket carries no information, and the
// least recently used buckets have refilled the most, so those are forgotten first.
//
// MIMI-DISC-08 (per requesting provider) and MIMI-DISC-09 (per requesting user) are built on this.
import { MimiError } from "../errors.ts";

export interface RateLimitSettings {
  /** Tokens a new or idle key starts with (requests allowed at once). */
  readonly burst: number;
  /** Tokens added per minute. */
  readonly perMinute: number;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  /** Milliseconds until one token is available (0 when allowed). */
  readonly retryAfterMs: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

export class TokenBucketLimiter {
  readonly #settings: RateLimitSettings;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(settings: RateLimitSettings, options: { now?: () => number; maxKeys?: number } = {}) {
    if (!(settings.burst >= 1) || !(settings.perMinute > 0)) throw new MimiError("MIMI_ERR_INTERNAL", "rate limit needs burst >= 1 and perMinute > 0");
    this.#settings = settings;
    this.#now = options.now ?? (() => performance.timeOrigin + performance.now());
    this.#maxKeys = options.maxKeys ?? 100_000;
  }

  get settings(): RateLimitSettings {
    return this.#settings;
  }

  /** Takes one token for `key` if there is one. */
  take(key: string): RateLimitDecision {
    const now = this.#now();
    const perMs = this.#settings.perMinute / 60_000;
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = { tokens: this.#settings.burst, updated: now };
      this.#evictIfFull();
    } else {
      // Map order is insertion order: re-inserting keeps the most recently used last.
      this.#buckets.delete(key);
      bucket.tokens = Math.min(this.#settings.burst, bucket.tokens + Math.max(0, now - bucket.updated) * perMs);
      bucket.updated = now;
    }
    this.#buckets.set(key, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { allowed: true, retryAfterMs: 0 };
    }
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / perMs) };
  }

  /** Takes a token or throws MIMI_ERR_DISCOVERY_RATE_LIMITED (HTTP 429 with Retry-After). */
  check(key: string, what: string): void {
    const d = this.take(key);
    if (!d.allowed) {
      const retryAfterSeconds = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
      throw new MimiError("MIMI_ERR_DISCOVERY_RATE_LIMITED", `too many ${what}; try again in ${retryAfterSeconds} s`, { details: { retryAfterSeconds } });
    }
  }

  #evictIfFull(): void {
    while (this.#buckets.size >= this.#maxKeys) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done === true) return;
      this.#buckets.delete(oldest.value);
    }
  }
}
