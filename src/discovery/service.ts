// DiscoveryService: everything discovery does on one provider, for the client API
// (src/client-api/discoveryRoutes.ts), the protocol handler of identifierQuery
// (src/transport/protocolRoutes.ts) and the discovery service endpoints (s2sRoutes.ts).
//
//   answering side   identifierQuery about our users (identifierQuery.ts), the discovery service
//                    for other providers' mappings when enabled (discoveryService.ts)
//   account side     profiles and searchability; publishing and removing the SII → SSI mappings a
//                    local user opts in to (R1), signed with our discovery key (R4, MIMI-DISC-11)
//   querier side     search (identifierQuery through us to the target's provider), discover
//                    (SII → verified SSIs from the configured discovery providers, federated) and
//                    connect (discovery integrated with consent)
//
// The seed's discovery options (Question 2) are discovery.mode (MIMI-DISC-20..22):
//   ssiOnly     SII inputs are refused with MIMI_ERR_DISCOVERY_SSI_ONLY; SSIs work everywhere
//   separate    discover resolves an SII; the user then sends consent requests itself
//   integrated  connect resolves the SII and requests consent from each mapping the user picks
import { createHash } from "node:crypto";
import { decodeExact, encode } from "../codec/index.ts";
import type { Accounts, UserRecord } from "../accounts/accounts.ts";
import { MimiError, isMimiError } from "../errors.ts";
import { parseUserIdentifier, tryParseMimiUri } from "../ids/index.ts";
import type { Logger } from "../log.ts";
import { IdentifierQueryCode, IdentifierRequest, IdentifierResponse, SearchIdentifierType } from "../protocol/identifierQuery.ts";
import type { QueryElement } from "../protocol/identifierQuery.ts";
import { cborCodec } from "../storage/index.ts";
import type { Store, TypedNamespace } from "../storage/index.ts";
import type { PeerClient } from "../transport/peerClient.ts";
import { retryAfterMs } from "../transport/peerClient.ts";
import { isProviderDomain } from "../transport/peerIdentity.ts";
import { DiscoveryProviderService } from "./discoveryService.ts";
import { IdentifierQueryEngine } from "./identifierQuery.ts";
import type { IdentifierQuerySettings } from "./identifierQuery.ts";
import { PeerKeyCache, keyDocument, loadOrCreateDiscoveryKey } from "./keys.ts";
import type { DiscoveryKeyDocument } from "./keys.ts";
import {
  DiscoveryLookupRequest,
  SignedDiscoveryMapping,
  SignedDiscoveryRemoval,
  canonicalSii,
  checkTag,
  decodeLookupResponse,
  signMapping,
  signRemoval,
  verifyMapping,
} from "./mapping.ts";
import type { DiscoveryKeyPair, DiscoveryMapping } from "./mapping.ts";
import { searchTypeName } from "./match.ts";
import type { SearchTypeName } from "./match.ts";
import type { Profile, ProfileChange, Searchability } from "./profile.ts";
import { ProfileStore } from "./profiles.ts";
import { TokenBucketLimiter } from "./rateLimit.ts";
import type { RateLimitSettings } from "./rateLimit.ts";

export type DiscoveryMode = "ssiOnly" | "separate" | "integrated";

/** The `discovery` configuration section (src/config/schema.ts). */
export interface DiscoverySettings {
  readonly mode: DiscoveryMode;
  readonly defaultSearchability: Searchability;
  readonly identifierQuery: IdentifierQuerySettings;
  readonly service: { readonly enabled: boolean; readonly maxMappingsPerSii: number; readonly peerRateLimit: RateLimitSettings };
  readonly providers: readonly string[];
  readonly mappingTtlDays: number;
  readonly maxMappingsPerUser: number;
  readonly userRateLimit: RateLimitSettings;
  readonly keyCacheTtlMs: number;
}

/**
 * What integrated mode needs of the consent service (src/consent/, the other half of issue 4):
 * send a protocol-06 §5.7 consent request from a local user to a target user.
 */
export interface ConsentRequester {
  request(o: { requester: string; target: string; roomId?: string }): Promise<unknown>;
}

export interface DiscoveryServiceOptions {
  domain: string;
  store: Store;
  accounts: Accounts;
  peerClient: PeerClient;
  logger: Logger;
  settings: DiscoverySettings;
  /** Where the discovery signing key lives (mode 0600); undefined keeps it in memory. */
  keyFile?: string | undefined;
  /** The consent service, looked up when `connect` runs (it may be wired after discovery). */
  consent?: () => ConsentRequester | undefined;
  /**
   * Proof of possession of an SII is the provider's responsibility (discovery requirements:
   * "CSI proof-of-possession"; draft-peterson-mimi-idprover). A deployment plugs its check here
   * (an SMS or e-mail code); the default accepts the account holder's word (see the docs).
   */
  verifySiiPossession?: (user: UserRecord, sii: string) => Promise<boolean>;
  now?: () => number;
}

/** One verified mapping as the client API shows it. */
export interface FoundMapping {
  readonly ssi: string;
  readonly tag: string;
  /** The provider that holds the account and signed the mapping (= the SSI's provider). */
  readonly signer: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** The discovery providers that returned it. */
  readonly via: readonly string[];
}

export interface DiscoverResult {
  readonly input: string;
  readonly kind: "ssi" | "sii";
  /** The canonical identifier: the MIMI user URI of an SSI, or the tel:/mailto: URI of an SII. */
  readonly identifier: string;
  /** SII: every verified mapping (R3, R5: zero, one or many). SSI: empty. */
  readonly mappings: readonly FoundMapping[];
  /** Mappings that failed verification (R4): bad signature, a provider vouching for another's user, expired, … */
  readonly rejected: readonly { readonly via: string; readonly signer: string; readonly ssi: string; readonly reason: string }[];
  /** Discovery providers that could not be asked. */
  readonly unreachable: readonly { readonly provider: string; readonly code: string }[];
}

export interface ConnectResult extends DiscoverResult {
  readonly requests: readonly { readonly target: string; readonly tags: readonly string[]; readonly status: "requested" | "failed"; readonly code?: string }[];
}

export interface PublishedMapping {
  readonly sii: string;
  readonly ssi: string;
  readonly tag: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Per discovery provider: whether it accepted the mapping. */
  readonly providers: readonly { readonly provider: string; readonly ok: boolean; readonly code?: string }[];
}

export interface SearchElementInput {
  readonly type: SearchTypeName;
  readonly value: string;
  /** oidcStdClaim: the claim name; vcardField: the property name. */
  readonly field?: string;
}

export interface SearchResult {
  readonly domain: string;
  readonly code: keyof typeof IdentifierQueryCode;
  readonly uris: readonly string[];
  readonly profiles: readonly { readonly stableUri: string; readonly fields: readonly { readonly source: "oidcStdClaim" | "vcardField"; readonly name: string; readonly value: string }[] }[];
}

interface PublishedRecord {
  sii: string;
  tag: string;
  signed: Uint8Array;
  issuedAt: number;
  expiresAt: number;
  providers: { provider: string; ok: boolean; code?: string }[];
}

const DAY_MS = 86_400_000;
/** Longest validity a received mapping may claim (ours: discovery.mappingTtlDays ≤ 3650). */
const MAX_TTL_MS = 3650 * DAY_MS;
/** Most mappings of one discovery provider's answer that are verified (the rest are ignored). */
const MAX_MAPPINGS_PER_ANSWER = 64;
const sha = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");
const codeName = (code: number): keyof typeof IdentifierQueryCode =>
  (Object.entries(IdentifierQueryCode).find(([, v]) => v === code)?.[0] ?? "notFound") as keyof typeof IdentifierQueryCode;
const utf8Decoder = new TextDecoder();

export class DiscoveryService {
  readonly domain: string;
  readonly settings: DiscoverySettings;
  readonly profiles: ProfileStore;
  readonly identifierQuery: IdentifierQueryEngine;
  /** The discovery service for other providers' mappings (answers only when enabled). */
  readonly provider: DiscoveryProviderService;
  readonly keys: PeerKeyCache;
  readonly userLimiter: TokenBucketLimiter;
  readonly #signingKey: DiscoveryKeyPair;
  readonly #peerClient: PeerClient;
  readonly #log: Logger;
  readonly #ns: TypedNamespace<unknown>;
  readonly #consent: () => ConsentRequester | undefined;
  readonly #verifySii: (user: UserRecord, sii: string) => Promise<boolean>;
  readonly #now: () => number;

  private constructor(o: DiscoveryServiceOptions, key: DiscoveryKeyPair) {
    this.domain = o.domain;
    this.settings = o.settings;
    this.#signingKey = key;
    this.#peerClient = o.peerClient;
    this.#log = o.logger.child({ component: "discovery" });
    this.#ns = o.store.namespace("discovery").typed(cborCodec<unknown>());
    this.#consent = o.consent ?? (() => undefined);
    this.#verifySii = o.verifySiiPossession ?? (() => Promise.resolve(true));
    this.#now = o.now ?? Date.now;
    this.profiles = new ProfileStore({ store: o.store, accounts: o.accounts, domain: o.domain, defaultSearchability: o.settings.defaultSearchability });
    this.identifierQuery = new IdentifierQueryEngine({ domain: o.domain, profiles: this.profiles, settings: o.settings.identifierQuery, siiSearch: o.settings.mode !== "ssiOnly" });
    this.keys = new PeerKeyCache({ peerClient: o.peerClient, ttlMs: o.settings.keyCacheTtlMs, own: { domain: o.domain, publicKey: key.publicKey } });
    this.provider = new DiscoveryProviderService({
      store: o.store,
      settings: { ...o.settings.service, maxTtlMs: MAX_TTL_MS },
      keyOf: (d, opts) => this.keys.keyOf(d, opts),
      logger: o.logger,
      now: this.#now,
    });
    this.userLimiter = new TokenBucketLimiter(o.settings.userRateLimit);
  }

  static async create(o: DiscoveryServiceOptions): Promise<DiscoveryService> {
    return new DiscoveryService(o, await loadOrCreateDiscoveryKey(o.keyFile));
  }

  /** GET /v1/discovery/key: our discovery public key (MIMI-DISC-11). */
  keyDocument(): DiscoveryKeyDocument {
    return keyDocument(this.domain, this.#signingKey.publicKey);
  }

  /** The discovery providers this provider publishes to and queries: itself (service enabled) and discovery.providers. */
  discoveryProviders(): string[] {
    const out = this.provider.enabled ? [this.domain] : [];
    for (const p of this.settings.providers) if (!out.includes(p)) out.push(p);
    return out;
  }

  // ---- profiles ------------------------------------------------------------------------------------

  profile(user: UserRecord): Promise<Profile> {
    return this.profiles.get(user.name);
  }

  updateProfile(user: UserRecord, change: ProfileChange): Promise<Profile> {
    return this.profiles.update(user.name, change);
  }

  // ---- identifierQuery, querier side ------------------------------------------------------------------

  /** MIMI-DISC-09: one token of the user's bucket per search, discover or connect. */
  #limitUser(user: UserRecord): void {
    this.userLimiter.check(user.name, "discovery requests");
  }

  /** MIMI-DISC-21: in ssiOnly mode every SII input is refused with a clear error. */
  #requireSii(): void {
    if (this.settings.mode === "ssiOnly") throw new MimiError("MIMI_ERR_DISCOVERY_SSI_ONLY");
  }

  /**
   * identifierQuery (protocol-06 §5.8) from a local user through this provider to the provider of
   * `domain` (directly, no hub); our own users are searched without a request.
   */
  async search(user: UserRecord, domain: string, elements: readonly SearchElementInput[]): Promise<SearchResult> {
    this.#limitUser(user);
    const queryElements = elements.map(toQueryElement);
    if (elements.some(isSiiSearch)) this.#requireSii();
    const request: IdentifierRequest = { queryElements, idRequestExtensions: { componentData: [] } };
    const target = typeof domain === "string" ? domain.toLowerCase() : "";
    if (!isProviderDomain(target)) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "domain must be a provider domain, e.g. b.example");
    let response: IdentifierResponse;
    if (target === this.domain) response = await this.identifierQuery.queryPadded(request);
    else {
      const res = await this.#peerClient.request(target, "identifierQuery", { domain: target }, { body: encode(IdentifierRequest, request) });
      if (res.status === 429) throw rateLimitedBy(target, res.headers);
      if (res.status !== 200) throw new MimiError("MIMI_ERR_PEER_REFUSED", `${target} answered ${res.status} to identifierQuery`, { details: { peer: target, status: res.status, body: utf8Decoder.decode(res.body.slice(0, 300)) } });
      response = decodeExact(IdentifierResponse, res.body);
    }
    return {
      domain: target,
      code: codeName(response.responseCode),
      uris: response.uri.map((u) => u.uri),
      profiles: response.foundProfiles.map((p) => ({
        stableUri: p.stableUri.uri,
        fields: p.fields.map((f) => ({ source: f.fieldSource === 7 ? "oidcStdClaim" : "vcardField", name: f.fieldName, value: utf8Decoder.decode(f.fieldValue) })),
      })),
    };
  }

  // ---- mappings, account side (R1, R2, R9, R10) ------------------------------------------------------

  async #published(user: UserRecord): Promise<PublishedRecord[]> {
    const out: PublishedRecord[] = [];
    for await (const { value } of this.#ns.iterate({ prefix: `pub/${user.name}/` })) out.push(value as PublishedRecord);
    return out;
  }

  async mappings(user: UserRecord): Promise<PublishedMapping[]> {
    return (await this.#published(user)).map((r) => ({ sii: r.sii, ssi: user.userUri, tag: r.tag, issuedAt: r.issuedAt, expiresAt: r.expiresAt, providers: r.providers }));
  }

  /**
   * MIMI-DISC-10 (R1): a mapping exists only because the user asked for it, for its own account:
   * signed by this provider (MIMI-DISC-11) and published to every discovery provider. Publishing
   * the same SII and tag again renews it.
   */
  async publish(user: UserRecord, siiInput: string, tagInput = "Personal"): Promise<PublishedMapping> {
    this.#requireSii();
    const sii = canonicalSii(siiInput);
    const tag = checkTag(tagInput);
    if (!(await this.#verifySii(user, sii))) throw new MimiError("MIMI_ERR_CLIENT_FORBIDDEN", `this provider has not verified that ${user.userUri} holds ${sii}`);
    const key = `pub/${user.name}/${sha(sii)}/${sha(tag)}`;
    const existing = await this.#published(user);
    if (!existing.some((r) => r.sii === sii && r.tag === tag) && existing.length >= this.settings.maxMappingsPerUser) {
      throw new MimiError("MIMI_ERR_DISCOVERY_TOO_MANY_MAPPINGS", `at most ${this.settings.maxMappingsPerUser} mappings per user`);
    }
    const now = this.#now();
    const mapping: DiscoveryMapping = { sii: { uri: sii }, ssi: { uri: user.userUri }, tag, signer: this.domain, issuedAt: BigInt(now), expiresAt: BigInt(now + this.settings.mappingTtlDays * DAY_MS) };
    const signed = signMapping(this.#signingKey, mapping);
    const providers = await this.#toProviders(signed, "publish", (self) => this.provider.publish(signed, self));
    const record: PublishedRecord = { sii, tag, signed: encode(SignedDiscoveryMapping, signed), issuedAt: now, expiresAt: Number(mapping.expiresAt), providers };
    await this.#ns.put(key, record, { sync: true });
    this.#log.info({ user: user.userUri, tag, providers: providers.map((p) => `${p.provider}:${p.ok ? "ok" : p.code}`) }, "discovery mapping published");
    return { sii, ssi: user.userUri, tag, issuedAt: now, expiresAt: record.expiresAt, providers };
  }

  /** MIMI-DISC-17 (R9, R10): the user removes its mapping (one tag, or every tag of the SII). */
  async remove(user: UserRecord, siiInput: string, tagInput?: string): Promise<{ sii: string; removed: number; providers: PublishedMapping["providers"] }> {
    const sii = canonicalSii(siiInput);
    const tag = tagInput === undefined || tagInput === "" ? "" : checkTag(tagInput);
    const signed = signRemoval(this.#signingKey, { sii: { uri: sii }, ssi: { uri: user.userUri }, tag, signer: this.domain, removedAt: BigInt(this.#now()) });
    const providers = await this.#toProviders(signed, "remove", (self) => this.provider.remove(signed, self));
    let removed = 0;
    for (const r of await this.#published(user)) {
      if (r.sii === sii && (tag === "" || r.tag === tag)) {
        await this.#ns.del(`pub/${user.name}/${sha(r.sii)}/${sha(r.tag)}`, { sync: true });
        removed++;
      }
    }
    return { sii, removed, providers };
  }

  async #toProviders(
    signed: SignedDiscoveryMapping | SignedDiscoveryRemoval,
    action: "publish" | "remove",
    local: (self: string) => Promise<void>,
  ): Promise<{ provider: string; ok: boolean; code?: string }[]> {
    const body = "mapping" in signed ? encode(SignedDiscoveryMapping, signed) : encode(SignedDiscoveryRemoval, signed);
    return Promise.all(
      this.discoveryProviders().map(async (provider) => {
        try {
          if (provider === this.domain) await local(provider);
          else {
            const res = await this.#peerClient.requestUrl(provider, "POST", `${this.#peerClient.baseUrl(provider)}/v1/discovery/${action}`, { body });
            if (res.status !== 201) return { provider, ok: false, code: errorCodeOf(res.body) ?? `HTTP_${res.status}` };
          }
          return { provider, ok: true };
        } catch (err) {
          return { provider, ok: false, code: isMimiError(err) ? err.code : "MIMI_ERR_INTERNAL" };
        }
      }),
    );
  }

  // ---- discover and connect, querier side -------------------------------------------------------------

  /** Resolves what a user typed: an SSI as it is (MIMI-DISC-20), an SII through the discovery providers. */
  async discover(user: UserRecord, input: string): Promise<DiscoverResult> {
    this.#limitUser(user);
    return this.#discover(input);
  }

  async #discover(input: string): Promise<DiscoverResult> {
    const id = parseUserIdentifier(input);
    if (id.kind === "ssi") return { input, kind: "ssi", identifier: id.uri, mappings: [], rejected: [], unreachable: [] };
    this.#requireSii();
    const sii = id.uri;
    const body = encode(DiscoveryLookupRequest, { sii: { uri: sii } });
    const unreachable: { provider: string; code: string }[] = [];
    const answers = await Promise.all(
      this.discoveryProviders().map(async (provider) => {
        try {
          if (provider === this.domain) return { provider, mappings: await this.provider.lookup(sii) };
          const res = await this.#peerClient.requestUrl(provider, "POST", `${this.#peerClient.baseUrl(provider)}/v1/discovery/lookup`, { body });
          if (res.status !== 200) {
            unreachable.push({ provider, code: errorCodeOf(res.body) ?? `HTTP_${res.status}` });
            return { provider, mappings: [] };
          }
          // A discovery provider may not make us check (and fetch keys for) unbounded numbers of mappings.
          return { provider, mappings: decodeLookupResponse(res.body).mappings.slice(0, MAX_MAPPINGS_PER_ANSWER) };
        } catch (err) {
          unreachable.push({ provider, code: isMimiError(err) ? err.code : "MIMI_ERR_INTERNAL" });
          return { provider, mappings: [] };
        }
      }),
    );
    const found = new Map<string, { m: DiscoveryMapping; via: string[] }>();
    const rejected: { via: string; signer: string; ssi: string; reason: string }[] = [];
    const now = this.#now();
    for (const { provider, mappings } of answers) {
      for (const signed of mappings) {
        // MIMI-DISC-12, MIMI-DISC-13: every mapping is verified by us, the querier, whoever served it.
        const v = await verifyMapping(signed, { sii, now, maxTtlMs: MAX_TTL_MS, keyOf: (d, o) => this.keys.keyOf(d, o) });
        if (!v.ok) {
          rejected.push({ via: provider, signer: signed.mapping.signer.slice(0, 255), ssi: signed.mapping.ssi.uri.slice(0, 300), reason: v.reason });
          this.#log.warn({ via: provider, signer: signed.mapping.signer.slice(0, 255), reason: v.reason }, "discovery mapping rejected");
          continue;
        }
        const k = `${v.mapping.ssi.uri}\n${v.mapping.tag}`;
        const prev = found.get(k);
        if (prev === undefined) found.set(k, { m: v.mapping, via: [provider] });
        else {
          if (!prev.via.includes(provider)) prev.via.push(provider);
          if (v.mapping.issuedAt > prev.m.issuedAt) prev.m = v.mapping;
        }
      }
    }
    const mappings = [...found.values()]
      .map(({ m, via }) => ({ ssi: m.ssi.uri, tag: m.tag, signer: m.signer, issuedAt: Number(m.issuedAt), expiresAt: Number(m.expiresAt), via }))
      .sort((a, b) => (a.tag === b.tag ? (a.ssi < b.ssi ? -1 : 1) : a.tag < b.tag ? -1 : 1));
    return { input, kind: "sii", identifier: sii, mappings, rejected, unreachable };
  }

  /**
   * Discovery integrated with consent (seed Q2 option 3; MIMI-DISC-22): one call resolves the SII
   * and sends a consent request to each mapping the user picks (by tag or SSI; all when none is
   * given). An SSI is requested directly, in every mode.
   */
  async connect(
    user: UserRecord,
    input: string,
    pick: { tags?: readonly string[]; ssis?: readonly string[]; roomId?: string } = {},
    consentService: ConsentRequester | undefined = this.#consent(),
  ): Promise<ConnectResult> {
    this.#limitUser(user);
    const id = parseUserIdentifier(input);
    if (id.kind === "sii") {
      this.#requireSii();
      // MIMI-DISC-21: in separate mode discovery is its own step; the user sends consent requests.
      if (this.settings.mode !== "integrated") {
        throw new MimiError("MIMI_ERR_DISCOVERY_MODE", "discovery.mode is separate: discover the SII first, then send consent requests to the SSIs you pick");
      }
    }
    const consent = consentService;
    if (consent === undefined) throw new MimiError("MIMI_ERR_DISCOVERY_CONSENT_UNAVAILABLE");
    const found = await this.#discover(input);
    let targets: { target: string; tags: string[] }[];
    if (found.kind === "ssi") targets = [{ target: found.identifier, tags: [] }];
    else {
      const tags = (pick.tags ?? []).map((t) => t.normalize("NFC").trim().toLowerCase());
      const ssis = (pick.ssis ?? []).map((s) => tryParseMimiUri(s)?.uri ?? s);
      const picked = found.mappings.filter((m) => (tags.length === 0 && ssis.length === 0) || tags.includes(m.tag.toLowerCase()) || ssis.includes(m.ssi));
      const bySsi = new Map<string, string[]>();
      for (const m of picked) bySsi.set(m.ssi, [...(bySsi.get(m.ssi) ?? []), m.tag]);
      targets = [...bySsi].map(([target, t]) => ({ target, tags: t }));
    }
    const requests: ConnectResult["requests"][number][] = [];
    for (const { target, tags } of targets) {
      try {
        await consent.request({ requester: user.userUri, target, ...(pick.roomId === undefined ? {} : { roomId: pick.roomId }) });
        requests.push({ target, tags, status: "requested" });
      } catch (err) {
        requests.push({ target, tags, status: "failed", code: isMimiError(err) ? err.code : "MIMI_ERR_INTERNAL" });
      }
    }
    return { ...found, requests };
  }

}

/** Whether a search element asks for an SII (e-mail address or phone number). */
function isSiiSearch(e: SearchElementInput): boolean {
  const field = (e.field ?? "").toLowerCase();
  return e.type === "email" || e.type === "phone" || (e.type === "oidcStdClaim" && (field === "email" || field === "phone_number")) || (e.type === "vcardField" && (field === "email" || field === "tel"));
}

/** Client API JSON → QueryElement. */
function toQueryElement(e: SearchElementInput, i: number): QueryElement {
  const bad = (m: string) => new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `elements[${i}]: ${m}`);
  if (e === null || typeof e !== "object") throw bad("must be an object");
  if (typeof e.value !== "string" || e.value.length > 1024) throw bad("value must be a string of at most 1024 characters");
  const code = Object.entries(SearchIdentifierType).find(([name, v]) => name === e.type && v !== 0)?.[1];
  if (code === undefined || searchTypeName(code) === undefined) throw bad(`type must be one of handle, nick, email, phone, partialName, wholeProfile, oidcStdClaim, vcardField`);
  if (code === SearchIdentifierType.oidcStdClaim || code === SearchIdentifierType.vcardField) {
    if (typeof e.field !== "string" || e.field.length === 0 || e.field.length > 64) throw bad(`${e.type} needs field (the claim or property name)`);
    return code === SearchIdentifierType.oidcStdClaim ? { searchType: code, claimName: e.field, searchValue: e.value } : { searchType: code, propertyName: e.field, searchValue: e.value };
  }
  return { searchType: code, searchValue: e.value } as QueryElement;
}

function rateLimitedBy(peer: string, headers: Record<string, string | string[] | undefined>): MimiError {
  const ms = retryAfterMs(headers);
  const retryAfterSeconds = ms === undefined ? 1 : Math.max(1, Math.ceil(ms / 1000));
  return new MimiError("MIMI_ERR_DISCOVERY_RATE_LIMITED", `${peer} limits our queries; try again in ${retryAfterSeconds} s`, { details: { peer, retryAfterSeconds } });
}

/** The `code` of a JSON error answer, if the body is one. */
function errorCodeOf(body: Uint8Array): string | undefined {
  try {
    const o = JSON.parse(utf8Decoder.decode(body)) as { code?: unknown };
    return typeof o.code === "string" && /^MIMI_ERR_[A-Z0-9_]+$/.test(o.code) ? o.code : undefined;
  } catch {
    return undefined;
  }
}

