// The discovery service (a "discovery provider", DP, in the User Discovery Requirements): it keeps
// signed SII → SSI mappings that other providers publish for their own users and answers lookups.
// Enabled with discovery.service.enabled; its endpoints are our extension on the server-to-server
// listener, behind mutual TLS and peer authentication (s2sRoutes.ts):
//
//   POST /v1/discovery/publish  SignedDiscoveryMapping  → 201   only the signer itself may publish
//   POST /v1/discovery/remove   SignedDiscoveryRemoval  → 201   (also when nothing matched)
//   POST /v1/discovery/lookup   DiscoveryLookupRequest  → 200 DiscoveryLookupResponse (padded)
//
// Storage (`discovery` namespace): dp/<sha256(sii)>/<sha256(ssi "\n" tag)> → the signed mapping.
import { createHash } from "node:crypto";
import { decodeExact, encode } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Namespace, Store } from "../storage/index.ts";
import {
  DiscoveryLookupRequest,
  SignedDiscoveryMapping,
  SignedDiscoveryRemoval,
  canonicalSii,
  encodeLookupResponse,
  isNotAuthoritative,
  mappingProblem,
  mappingSignatureValid,
  removalProblem,
  removalSignatureValid,
} from "./mapping.ts";
import { TokenBucketLimiter } from "./rateLimit.ts";
import type { RateLimitSettings } from "./rateLimit.ts";

const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

/** The storage key prefix of an SII's mappings at a discovery service. */
export function siiPrefix(sii: string): string {
  return `dp/${sha(sii)}/`;
}
export function mappingKey(sii: string, ssi: string, tag: string): string {
  return `${siiPrefix(sii)}${sha(`${ssi}\n${tag}`)}`;
}

/**
 * The mapping records of a discovery service, without any checks: what the service writes after
 * verifying a publication, and what tests use to play a compromised discovery service.
 */
export class MappingRecords {
  readonly #ns: Namespace;

  constructor(store: Store) {
    this.#ns = store.namespace("discovery");
  }

  async put(signed: SignedDiscoveryMapping): Promise<void> {
    const m = signed.mapping;
    await this.#ns.put(mappingKey(m.sii.uri, m.ssi.uri, m.tag), encode(SignedDiscoveryMapping, signed), { sync: true });
  }

  async get(sii: string, ssi: string, tag: string): Promise<SignedDiscoveryMapping | undefined> {
    const bytes = await this.#ns.get(mappingKey(sii, ssi, tag));
    return bytes === undefined ? undefined : decodeExact(SignedDiscoveryMapping, bytes);
  }

  /** The mappings of an SII (at most `limit`), in key order. */
  async list(sii: string, limit: number): Promise<{ key: string; signed: SignedDiscoveryMapping }[]> {
    const out: { key: string; signed: SignedDiscoveryMapping }[] = [];
    for await (const { key, value } of this.#ns.iterate({ prefix: siiPrefix(sii), limit })) {
      try {
        out.push({ key, signed: decodeExact(SignedDiscoveryMapping, value) });
      } catch {
        // A record we cannot read is dropped from answers; it was checked when written.
      }
    }
    return out;
  }

  async count(sii: string): Promise<number> {
    let n = 0;
    for await (const _ of this.#ns.keys({ prefix: siiPrefix(sii) })) n++;
    return n;
  }

  async delete(key: string): Promise<void> {
    await this.#ns.del(key, { sync: true });
  }
}

export interface DiscoveryServiceSettings {
  readonly enabled: boolean;
  readonly maxMappingsPerSii: number;
  readonly peerRateLimit: RateLimitSettings;
  /** Longest validity a mapping may claim. */
  readonly maxTtlMs: number;
}

export class DiscoveryProviderService {
  readonly records: MappingRecords;
  readonly peerLimiter: TokenBucketLimiter;
  readonly #settings: DiscoveryServiceSettings;
  readonly #store: Store;
  readonly #keyOf: (domain: string, opts?: { refresh?: boolean }) => Promise<Uint8Array>;
  readonly #log: Logger;
  readonly #now: () => number;

  constructor(o: {
    store: Store;
    settings: DiscoveryServiceSettings;
    keyOf: (domain: string, opts?: { refresh?: boolean }) => Promise<Uint8Array>;
    logger: Logger;
    now?: () => number;
    limiterNow?: () => number;
  }) {
    this.#store = o.store;
    this.records = new MappingRecords(o.store);
    this.#settings = o.settings;
    this.#keyOf = o.keyOf;
    this.#log = o.logger.child({ component: "discovery-service" });
    this.#now = o.now ?? Date.now;
    this.peerLimiter = new TokenBucketLimiter(o.settings.peerRateLimit, o.limiterNow === undefined ? {} : { now: o.limiterNow });
  }

  get enabled(): boolean {
    return this.#settings.enabled;
  }

  #requireEnabled(): void {
    if (!this.#settings.enabled) throw new MimiError("MIMI_ERR_DISCOVERY_SERVICE_DISABLED");
  }

  async #verifiedKey(domain: string, valid: (key: Uint8Array) => boolean): Promise<boolean> {
    let key: Uint8Array;
    try {
      key = await this.#keyOf(domain);
    } catch (cause) {
      throw new MimiError("MIMI_ERR_DISCOVERY_BAD_KEY", `cannot get ${domain}'s discovery key`, { cause, details: { peer: domain } });
    }
    if (valid(key)) return true;
    return valid(await this.#keyOf(domain, { refresh: true }));
  }

  /**
   * A mapping published by `peer` (the requesting provider, authenticated by mutual TLS).
   * MIMI-DISC-14: only the provider that signed it may publish it; MIMI-DISC-13: it signs only for
   * its own users; MIMI-DISC-12: the signature verifies with its published key.
   */
  async publish(signed: SignedDiscoveryMapping, peer: string): Promise<void> {
    this.#requireEnabled();
    const m = signed.mapping;
    if (m.signer !== peer) throw new MimiError("MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE", `${peer} may publish only mappings it signed itself, not ones signed by ${m.signer.slice(0, 255)}`);
    const problem = mappingProblem(m, this.#now(), this.#settings.maxTtlMs);
    if (problem !== undefined) throw new MimiError(isNotAuthoritative(problem) ? "MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE" : "MIMI_ERR_DISCOVERY_MAPPING_INVALID", problem);
    if (!(await this.#verifiedKey(peer, (k) => mappingSignatureValid(k, signed)))) throw new MimiError("MIMI_ERR_DISCOVERY_MAPPING_INVALID", "the mapping's signature does not verify");
    await this.#store.withLock(`discovery:sii:${m.sii.uri}`, async () => {
      const existing = await this.records.get(m.sii.uri, m.ssi.uri, m.tag);
      // A replayed older copy never replaces a newer one.
      if (existing !== undefined && existing.mapping.issuedAt >= m.issuedAt) return;
      if (existing === undefined && (await this.records.count(m.sii.uri)) >= this.#settings.maxMappingsPerSii) {
        throw new MimiError("MIMI_ERR_DISCOVERY_TOO_MANY_MAPPINGS", `at most ${this.#settings.maxMappingsPerSii} mappings per SII`);
      }
      await this.records.put(signed);
    });
    this.#log.debug({ signer: peer, tag: m.tag }, "mapping published");
  }

  /**
   * A removal (R9) sent by `peer`: the same checks as publish; it deletes the SSI's mappings of
   * the SII (one tag, or every tag when the tag is empty) issued before the removal. Answers the
   * same whether anything was there (R8).
   */
  async remove(signed: SignedDiscoveryRemoval, peer: string): Promise<void> {
    this.#requireEnabled();
    const r = signed.removal;
    if (r.signer !== peer) throw new MimiError("MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE", `${peer} may remove only mappings it signed itself`);
    const problem = removalProblem(r, this.#now());
    if (problem !== undefined) throw new MimiError(isNotAuthoritative(problem) ? "MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE" : "MIMI_ERR_DISCOVERY_MAPPING_INVALID", problem);
    if (!(await this.#verifiedKey(peer, (k) => removalSignatureValid(k, signed)))) throw new MimiError("MIMI_ERR_DISCOVERY_MAPPING_INVALID", "the removal's signature does not verify");
    await this.#store.withLock(`discovery:sii:${r.sii.uri}`, async () => {
      for (const { key, signed: s } of await this.records.list(r.sii.uri, this.#settings.maxMappingsPerSii * 4)) {
        const m = s.mapping;
        if (m.ssi.uri === r.ssi.uri && (r.tag === "" || m.tag === r.tag) && m.issuedAt <= r.removedAt) await this.records.delete(key);
      }
    });
  }

  /** The signed mappings of an SII that are still valid (R3, R5: zero, one or many). */
  async lookup(sii: string): Promise<SignedDiscoveryMapping[]> {
    this.#requireEnabled();
    const now = this.#now();
    return (await this.records.list(sii, this.#settings.maxMappingsPerSii)).map((e) => e.signed).filter((s) => Number(s.mapping.expiresAt) > now);
  }

  // ---- the endpoints' bodies (s2sRoutes.ts) --------------------------------------------------------

  /** MIMI-DISC-15: one token of the peer's bucket per request, taken before anything is decoded. */
  limit(peer: string): void {
    this.#requireEnabled();
    this.peerLimiter.check(peer, "discovery requests");
  }

  async publishBody(body: Uint8Array, peer: string): Promise<void> {
    this.limit(peer);
    await this.publish(decodeExact(SignedDiscoveryMapping, body), peer);
  }

  async removeBody(body: Uint8Array, peer: string): Promise<void> {
    this.limit(peer);
    await this.remove(decodeExact(SignedDiscoveryRemoval, body), peer);
  }

  /**
   * MIMI-DISC-16: an SII without mappings (never published, removed, expired) gets one answer,
   * byte for byte; every answer is padded to a multiple of 1024 bytes.
   */
  async lookupBody(body: Uint8Array, peer: string): Promise<Uint8Array> {
    this.limit(peer);
    const request = decodeExact(DiscoveryLookupRequest, body);
    let sii: string;
    try {
      sii = canonicalSii(request.sii.uri);
    } catch (cause) {
      throw new MimiError("MIMI_ERR_HTTP_BAD_REQUEST", "the lookup names no tel: or mailto: SII", { cause });
    }
    return encodeLookupResponse(await this.lookup(sii));
  }
}
