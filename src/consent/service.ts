// The consent service (draft-ietf-mimi-protocol-06 §5.7 "Convey explicit consent", digest §4):
// - outbound, for local users: request / cancel (POST /requestConsent/{targetDomain} to the
//   target's provider) and grant / revoke (POST /updateConsent/{requesterDomain} to the
//   requester's provider); a local counterpart is handled in-process, as if it were a peer;
// - inbound: the handlers of both endpoints;
// - enforcement: the ConsentGate of keyMaterial (target side), the hub's check of participant
//   additions, and the Welcome decision of the follower's quarantine;
// - the pre-consent policies of the seed's Question 3 (none, keypackages, quarantine; `off` keeps
//   consent unenforced), per provider with a per-user override;
// - the sweep of expired requests, grants and held rooms.
//
// Traceability IDs MIMI-PROTO-CONSENT-NN are listed in docs/CONFORMANCE.md ("Consent").
import { encode } from "../codec/index.ts";
import type { Accounts } from "../accounts/accounts.ts";
import { MimiError } from "../errors.ts";
import type { DeliveryGate } from "../follower/follower.ts";
import type { HubConsentCheck } from "../hub/hub.ts";
import { parseMimiUri, parseUserUri, providerOf, userUri } from "../ids/index.ts";
import type { ClaimAdmission, ConsentGate } from "../keymaterial/keyMaterialService.ts";
import type { ClaimedKeyPackage, KeyPackageStore } from "../keymaterial/keyPackageStore.ts";
import type { Logger } from "../log.ts";
import { keyPackageSummary, verifyKeyPackageBytes } from "../mls/index.ts";
import { asKeyPackage } from "../mls/wire.ts";
import { ConsentOperation, RequestConsentBody, UpdateConsentBody, decodeRequestConsentBody, decodeUpdateConsentBody } from "../protocol/index.ts";
import type { ConsentEntry } from "../protocol/index.ts";
import type { BatchOp, Store } from "../storage/index.ts";
import type { PeerClient } from "../transport/peerClient.ts";
import { TokenBuckets } from "./limits.ts";
import { Quarantine, type HeldPreview, type QuarantineFollower } from "./quarantine.ts";
import { ConsentStore, appliesTo, coverage, effective } from "./store.ts";
import type { ConsentConfig, ConsentRecord, PreConsentPolicy } from "./types.ts";

/** MLS cipher suites a grant's KeyPackages may be of (RFC 9420 §17.1, 1..7). */
const ANY_SUITE = [1, 2, 3, 4, 5, 6, 7];

export interface ConsentServiceOptions {
  domain: string;
  store: Store;
  config: ConsentConfig;
  logger: Logger;
  peerClient: PeerClient;
  accounts: Accounts;
  keyPackages: KeyPackageStore;
  now?: () => number;
}

/** A consent record as the client API shows it. */
export interface ConsentView {
  direction: "incoming" | "outgoing";
  requester: string;
  target: string;
  roomId?: string;
  state: ConsentRecord["state"];
  origin: ConsentRecord["origin"];
  createdAt: number;
  updatedAt: number;
  requestedAt?: number;
  grantedAt?: number;
  endedAt?: number;
  expiresAt?: number;
  /** Outgoing: KeyPackages received with the grant and not used yet; incoming: sent with our grant. */
  keyPackages: number;
}

export interface PendingView extends ConsentView {
  /** What is held for the target from this requester (quarantine, keypackages), per room. */
  held: HeldPreview[];
}

export interface ConsentListing {
  policy: { effective: PreConsentPolicy; user: PreConsentPolicy | null; providerDefault: PreConsentPolicy; userOverride: boolean };
  incoming: ConsentView[];
  outgoing: ConsentView[];
  /** Incoming requests waiting for the user's answer, with what is held for each. */
  pending: PendingView[];
  /** Every held room of the user (preview fields per consent.quarantine.preview). */
  held: HeldPreview[];
}

/** What a consent request answers: the requester learns only whether it was received (MIMI-PROTO-CONSENT-05). */
export interface RequestResult {
  record: ConsentView;
  delivered: boolean;
  /** With `bilateral`: the unsolicited grant back (the "connection request"). */
  bilateral?: { record: ConsentView; notified: boolean };
}

/** A ConsentScope as the service takes it: user URIs, and a room URI or nothing (connection-wide). */
export interface ScopeInput {
  readonly requester: string;
  readonly target: string;
  readonly roomId?: string | undefined;
}

function view(r: ConsentRecord): ConsentView {
  return {
    direction: r.direction,
    requester: r.requester,
    target: r.target,
    ...(r.roomId === undefined ? {} : { roomId: r.roomId }),
    state: r.state,
    origin: r.origin,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    ...(r.requestedAt === undefined ? {} : { requestedAt: r.requestedAt }),
    ...(r.grantedAt === undefined ? {} : { grantedAt: r.grantedAt }),
    ...(r.endedAt === undefined ? {} : { endedAt: r.endedAt }),
    ...(r.expiresAt === undefined ? {} : { expiresAt: r.expiresAt }),
    keyPackages: r.direction === "outgoing" ? (r.keyPackages?.length ?? 0) : (r.keyPackagesSent ?? 0),
  };
}

/** Parses a user URI (MimiError MIMI_ERR_CONSENT_INVALID otherwise). */
function userOf(uri: string, what: string): string {
  try {
    const parsed = parseMimiUri(uri);
    if (parsed.kind !== "user") throw new Error("not a user URI");
    return parsed.uri;
  } catch (cause) {
    throw new MimiError("MIMI_ERR_CONSENT_INVALID", `${what} must be a user URI (mimi://<domain>/u/<name>): ${uri}`, { cause });
  }
}

function roomOf(uri: string | undefined): string | undefined {
  if (uri === undefined) return undefined;
  try {
    const parsed = parseMimiUri(uri);
    if (parsed.kind !== "room") throw new Error("not a room URI");
    return parsed.uri;
  } catch (cause) {
    throw new MimiError("MIMI_ERR_CONSENT_INVALID", `roomId must be a room URI (mimi://<domain>/r/<id>): ${uri}`, { cause });
  }
}

/** A record with its optional fields set or removed (exactOptionalPropertyTypes). */
function withFields(r: ConsentRecord, set: Partial<ConsentRecord>, remove: readonly (keyof ConsentRecord)[] = []): ConsentRecord {
  const out: Record<string, unknown> = { ...r, ...set };
  for (const k of remove) delete out[k];
  return out as unknown as ConsentRecord;
}

/** Something that happened to a local user's consent, for bridges that show it on their platform. */
export type ConsentNotice =
  | { readonly kind: "request" | "cancel"; readonly requester: string; readonly target: string; readonly roomId: string | undefined }
  | { readonly kind: "grant" | "revoke"; readonly requester: string; readonly target: string; readonly roomId: string | undefined };

/**
 * Creates the account of a local user who has none yet but whom a platform behind this provider
 * has (a bridged user who never used the bridge); resolves true once the account exists, false
 * for a user no platform knows. May throw when a platform cannot say (it is down).
 */
export type LocalUserProvisioner = (userUri: string) => Promise<boolean>;

/** How long a "no such platform user" answer is remembered, and for how many users at most. */
const PROVISION_NEGATIVE_TTL_MS = 10 * 60 * 1000;
const PROVISION_NEGATIVE_MAX = 10_000;

export class ConsentService {
  readonly #listeners = new Set<(notice: ConsentNotice) => void>();
  readonly #provisioners = new Set<LocalUserProvisioner>();
  readonly #o: ConsentServiceOptions;
  readonly #log: Logger;
  readonly consentStore: ConsentStore;
  readonly quarantine: Quarantine;
  readonly #perRequester: TokenBuckets;
  readonly #perProvider: TokenBuckets;
  /** Platform lookups for never-seen bridged users, per requesting provider (#provisioned). */
  readonly #provisionPerProvider: TokenBuckets;
  /** Local user URIs no platform has, remembered for PROVISION_NEGATIVE_TTL_MS (bounded, oldest first out). */
  readonly #notOnPlatform = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;

  constructor(o: ConsentServiceOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: "consent" });
    this.consentStore = new ConsentStore(o.store);
    this.quarantine = new Quarantine({ store: o.store, config: o.config.quarantine, logger: o.logger });
    this.#perRequester = new TokenBuckets(o.config.keyPackages.perRequester);
    this.#perProvider = new TokenBuckets(o.config.keyPackages.perProvider);
    this.#provisionPerProvider = new TokenBuckets(o.config.keyPackages.perProvider);
  }

  get config(): ConsentConfig {
    return this.#o.config;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** Late binding: the follower (for releasing and dropping held rooms) is built after us. */
  attachFollower(follower: QuarantineFollower): void {
    this.quarantine.attach(follower);
  }

  /** Starts the periodic sweep (consent.sweepIntervalSeconds). */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.#sweeping ??= this.sweep()
        .then(() => undefined)
        .catch((err: unknown) => this.#log.warn({ err }, "consent sweep failed"))
        .finally(() => {
          this.#sweeping = undefined;
        });
    }, this.#o.config.sweepIntervalSeconds * 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping;
  }

  // ---- policy ---------------------------------------------------------------------------------------

  /** The pre-consent policy that applies to a local user (their own choice, else the provider's). */
  async policyOf(target: string): Promise<PreConsentPolicy> {
    if (!this.#o.config.userOverride) return this.#o.config.preConsent;
    return (await this.consentStore.userPolicy(target)) ?? this.#o.config.preConsent;
  }

  /** A user's own choice; `default` (or undefined) falls back to the provider's policy. */
  async setUserPolicy(user: string, policy: PreConsentPolicy | "default"): Promise<{ effective: PreConsentPolicy; user: PreConsentPolicy | null }> {
    if (!this.#o.config.userOverride) throw new MimiError("MIMI_ERR_CONSENT_OVERRIDE_DISABLED");
    await this.consentStore.setUserPolicy(user, policy === "default" ? undefined : policy);
    return { effective: await this.policyOf(user), user: policy === "default" ? null : policy };
  }

  /** MIMI-PROTO-CONSENT-14: implicit consent by configuration (same provider, allow-listed domains). */
  #implicit(requester: string): boolean {
    const domain = providerOf(requester);
    return (this.#o.config.implicit.sameProvider && domain === this.#o.domain) || this.#o.config.implicit.domains.includes(domain);
  }

  #consented(): ClaimAdmission {
    // MIMI-PROTO-CONSENT-13: last-resort KeyPackages by policy (consented requesters by default).
    return { kind: "admit", preConsent: false, allowLastResort: this.#o.config.keyPackages.lastResort !== "never", reserve: 0 };
  }

  #isLocalUser(uri: string): boolean {
    return providerOf(uri) === this.#o.domain;
  }

  async #userExists(uri: string): Promise<boolean> {
    if (!this.#isLocalUser(uri)) return false;
    return (await this.#o.accounts.getUser(parseUserUri(uri).user)) !== undefined;
  }

  /**
   * Lets a bridge create, on demand, the account of a local user its platform has (the bridge
   * host: a legacy user can be asked, or added to a room, before it ever used the bridge).
   * Returns the unsubscribe function.
   */
  onUnknownLocalUser(fn: LocalUserProvisioner): () => void {
    this.#provisioners.add(fn);
    return () => this.#provisioners.delete(fn);
  }

  /**
   * Whether a local user exists, creating the account of a platform user who has none yet (the
   * provisioners). Errors of a provisioner (its platform is down) propagate: the peer is told to
   * try again instead of the request being dropped silently.
   */
  async #provisioned(uri: string, requester: string): Promise<boolean> {
    if (await this.#userExists(uri)) return true;
    if (!this.#isLocalUser(uri) || this.#provisioners.size === 0) return false;
    // Each guess costs the platform a lookup (Matrix: GET /profile) and each hit creates an account
    // and a hosted client: a peer may not make them at will. Over its budget (the keyPackages
    // per-provider rate) or for a name a platform denied lately, the user is unknown, as any
    // unknown user is (MIMI-PROTO-CONSENT-05/08).
    const now = this.#now();
    const denied = this.#notOnPlatform.get(uri);
    if (denied !== undefined && denied > now) return false;
    if (!this.#provisionPerProvider.take(providerOf(requester), now)) {
      this.#log.info({ requesterDomain: providerOf(requester) }, "platform lookup of a never-seen user refused: over the requesting provider's rate");
      return false;
    }
    for (const provision of this.#provisioners) {
      if (await provision(uri)) return this.#userExists(uri);
    }
    this.#notOnPlatform.delete(uri);
    this.#notOnPlatform.set(uri, now + PROVISION_NEGATIVE_TTL_MS);
    if (this.#notOnPlatform.size > PROVISION_NEGATIVE_MAX) this.#notOnPlatform.delete(this.#notOnPlatform.keys().next().value ?? "");
    return false;
  }

  // ---- enforcement: keyMaterial (target side) ------------------------------------------------------

  /** The ConsentGate of KeyMaterialService (protocol-06 §5.7: enforced when answering keyMaterial). */
  gate(): ConsentGate {
    return {
      keyMaterial: (requester, target, roomId) => this.#keyMaterialDecision(requester, target, roomId),
      // A room add of a bridged user who never used the bridge claims its KeyPackages: its account
      // and hosted client are created first (with KeyPackages), then consent decides as for anyone.
      provision: (target, requester) => this.#provisioned(target, requester),
      // MIMI-PROTO-CONSENT-08: with consent enforced, an unknown user answers like one who declined.
      unknownTarget: () => (this.#o.config.preConsent === "off" ? "userUnknown" : "noConsent"),
    };
  }

  async #keyMaterialDecision(requester: string, target: string, roomId: string | undefined): Promise<"granted" | "noConsent" | "noConsentForThisRoom" | ClaimAdmission> {
    const now = this.#now();
    const policy = await this.policyOf(target);
    if (requester === target) return policy === "off" ? "granted" : this.#consented();
    // MIMI-PROTO-CONSENT-07: a grant covers its room; a connection-wide grant covers every room.
    const cov = await this.consentStore.coverage(requester, target, roomId, now);
    // Consent not enforced: everyone but a requester the user revoked (blocked).
    if (policy === "off") return cov === "denied" ? "noConsent" : "granted";
    if (cov === "granted") return this.#consented();
    // MIMI-PROTO-CONSENT-09: a revoke (or preemptive denial) answers like no consent at all, also
    // where implicit consent would apply.
    if (cov === "denied") return "noConsent";
    if (this.#implicit(requester)) return this.#consented();
    if (policy === "none") return cov === "otherRoom" && roomId !== undefined ? "noConsentForThisRoom" : "noConsent";
    // keypackages, quarantine: a claim before consent, if the requester, its provider and the
    // target's budget allow it (MIMI-PROTO-CONSENT-11).
    const k = this.#o.config.keyPackages;
    if (!this.#perRequester.take(requester, now) || !this.#perProvider.take(providerOf(requester), now)) {
      this.#log.info({ requester: providerOf(requester), policy }, "pre-consent claim throttled (rate limit)");
      return "noConsent";
    }
    if (!(await this.consentStore.takeBudget(target, k.targetBudget.claims, k.targetBudget.periodSeconds * 1000, now))) {
      this.#log.info({ requester: providerOf(requester), policy }, "pre-consent claim refused (target budget spent)");
      return "noConsent";
    }
    return {
      kind: "admit",
      preConsent: true,
      // MIMI-PROTO-CONSENT-13: last-resort KeyPackages only for consented requesters (unless `always`).
      allowLastResort: k.lastResort === "always",
      // MIMI-PROTO-CONSENT-12: the last `reserve` KeyPackages of each client stay for consented contacts.
      reserve: k.reserve,
      claimed: (claimed) => this.#recordClaims(requester, target, roomId, claimed, now),
    };
  }

  /**
   * After a pre-consent claim: KeyPackageRef → (requester, room), so the Welcome that uses the
   * KeyPackage is held (MIMI-PROTO-CONSENT-20); and an incoming request the target sees.
   */
  async #recordClaims(requester: string, target: string, roomId: string | undefined, claimed: readonly ClaimedKeyPackage[], now: number): Promise<void> {
    const ops: BatchOp[] = [];
    const window = now + this.#o.config.requestTtlSeconds * 1000;
    for (const c of claimed) {
      if (c.keyPackage === undefined || c.keyPackageRef === undefined) continue;
      const notAfter = Number(keyPackageSummary(c.keyPackage).notAfter) * 1000;
      ops.push(
        this.consentStore.claimOp(c.keyPackageRef, {
          requester,
          target,
          ...(roomId === undefined ? {} : { roomId }),
          clientUri: c.clientUri,
          claimedAt: now,
          expiresAt: window,
          keepUntil: Math.max(window, notAfter),
        }),
      );
    }
    if (ops.length === 0) return;
    const created = await this.#o.store.withLock(ConsentStore.lockKey("in", requester, target), async () => {
      const existing = await this.consentStore.get("incoming", requester, target, roomId);
      const cur = existing === undefined ? undefined : effective(existing, now);
      let isNew = false;
      if (cur?.state === "requested") {
        ops.push(this.consentStore.putOp(withFields(cur, { updatedAt: now, expiresAt: window })));
      } else if ((cur === undefined || cur.state === "cancelled" || cur.state === "expired") && (await this.#roomForPending(requester, target, now))) {
        ops.push(this.consentStore.putOp(this.#newRecord("incoming", requester, target, roomId, "keyMaterial", now)));
        isNew = true;
      }
      await this.#o.store.batch(ops);
      return isNew;
    });
    // A claim before consent is an implicit request (keypackages, quarantine): listeners (the
    // bridge) prompt the target as for an explicit one.
    if (created) this.#notify({ kind: "request", requester, target, roomId });
  }

  /** Whether another pending request from `requester` to `target` may be kept (MIMI-PROTO-CONSENT-24). */
  async #roomForPending(requester: string, target: string, now: number): Promise<boolean> {
    const all = (await this.consentStore.incoming(target)).map((r) => effective(r, now)).filter((r) => r.state === "requested");
    return all.length < this.#o.config.maxPendingPerTarget && all.filter((r) => r.requester === requester).length < this.#o.config.maxPendingPerRequester;
  }

  #newRecord(direction: "incoming" | "outgoing", requester: string, target: string, roomId: string | undefined, origin: ConsentRecord["origin"], now: number): ConsentRecord {
    return {
      direction,
      requester,
      target,
      ...(roomId === undefined ? {} : { roomId }),
      state: "requested",
      origin,
      createdAt: now,
      updatedAt: now,
      requestedAt: now,
      expiresAt: now + this.#o.config.requestTtlSeconds * 1000,
    };
  }

  // ---- enforcement: the hub ---------------------------------------------------------------------------

  /**
   * MIMI-PROTO-CONSENT-15: what this provider knows of consent for a participant addition whose
   * Adds were not claimed through the hub: a local target with consent not enforced, implicit
   * consent or a grant in our store; or a local requester holding the target provider's grant.
   */
  hubCheck(): HubConsentCheck {
    return {
      admitsAdd: async (requester, target, roomId) => {
        const now = this.#now();
        if (this.#isLocalUser(target)) {
          const cov = await this.consentStore.coverage(requester, target, roomId, now);
          if (cov === "granted") return true;
          if (cov !== "denied" && ((await this.policyOf(target)) === "off" || this.#implicit(requester))) return true;
        }
        if (this.#isLocalUser(requester)) {
          if (coverage(await this.consentStore.outgoing(requester, target), roomId, now) === "granted") return true;
        }
        return false;
      },
    };
  }

  // ---- enforcement: the follower (quarantine) --------------------------------------------------------

  /** The follower's DeliveryGate: holds or drops a Welcome that uses a KeyPackage claimed before consent. */
  deliveryGate(): DeliveryGate {
    return this.quarantine.deliveryGate(async (user, roomId, refs, now) => {
      const target = userUri(this.#o.domain, user);
      let claim;
      for (const ref of refs) {
        claim = await this.consentStore.claimOf(ref);
        if (claim !== undefined) break;
      }
      // Not claimed before consent (consented, implicit, policy off, a grant's KeyPackages).
      if (claim === undefined) return { action: "deliver" };
      const cov = await this.consentStore.coverage(claim.requester, target, roomId, now);
      if (cov === "granted") return { action: "deliver" };
      // MIMI-PROTO-CONSENT-22: revoked, or the pre-consent window is over: dropped.
      if (cov === "denied" || claim.expiresAt <= now) return { action: "drop" };
      if (this.#implicit(claim.requester)) return { action: "deliver" };
      const policy = await this.policyOf(target);
      if (policy === "off") return { action: "deliver" };
      if (policy === "none") return { action: "drop" };
      // MIMI-PROTO-CONSENT-20: held at the target's provider, not shown.
      return { action: "hold", hold: { requester: claim.requester, policy } };
    });
  }

  // ---- outbound ------------------------------------------------------------------------------------

  #entry(op: ConsentOperation, requester: string, target: string, roomId: string | undefined, keyPackages: Uint8Array[] = []): ConsentEntry {
    const base = { requesterUri: { uri: requester }, targetUri: { uri: target }, roomId: roomId === undefined ? undefined : { uri: roomId }, consentExtensions: { componentData: [] } };
    const entry: ConsentEntry = op === ConsentOperation.grant ? { consentOperation: op, ...base, clientKeyPackages: keyPackages.map(asKeyPackage) } : { consentOperation: op, ...base };
    return entry;
  }

  /** Sends a requestConsent or updateConsent body to a provider (in-process for ourselves). */
  async #send(endpoint: "requestConsent" | "updateConsent", domain: string, body: Uint8Array): Promise<{ status: number }> {
    if (domain === this.#o.domain) {
      if (endpoint === "requestConsent") await this.onRequestConsent(body, this.#o.domain);
      else await this.onUpdateConsent(body, this.#o.domain);
      return { status: 201 };
    }
    const res = await this.#o.peerClient.request(domain, endpoint, endpoint === "requestConsent" ? { targetDomain: domain } : { requesterDomain: domain }, { body });
    if (res.status === 201 || res.status === 200 || res.status === 404) return { status: res.status };
    throw new MimiError("MIMI_ERR_PEER_REFUSED", `${domain} answered ${res.status} to ${endpoint}`, { details: { provider: domain, status: res.status } });
  }

  /**
   * A local user asks `target` for consent (connection-wide, or for one room). With `bilateral`,
   * also grants the target consent to add the requester (the "connection request"). The answer
   * says only whether the target's provider received it (MIMI-PROTO-CONSENT-05).
   */
  request(o: ScopeInput & { readonly bilateral?: boolean }): Promise<RequestResult>;
  request(requester: string, target: string, options?: { readonly roomId?: string | undefined; readonly bilateral?: boolean }): Promise<RequestResult>;
  async request(
    a: string | (ScopeInput & { readonly bilateral?: boolean }),
    target?: string,
    options: { readonly roomId?: string | undefined; readonly bilateral?: boolean } = {},
  ): Promise<RequestResult> {
    const o = typeof a === "string" ? { requester: a, target: target ?? "", roomId: options.roomId, bilateral: options.bilateral } : a;
    const requester = userOf(o.requester, "requester");
    const t = userOf(o.target, "target");
    const roomId = roomOf(o.roomId);
    if (t === requester) throw new MimiError("MIMI_ERR_CONSENT_INVALID", "a user does not ask itself for consent");
    const sent = await this.#send("requestConsent", providerOf(t), encode(RequestConsentBody, this.#entry(ConsentOperation.request, requester, t, roomId)));
    const now = this.#now();
    const record = await this.#o.store.withLock(ConsentStore.lockKey("out", requester, t), async () => {
      const existing = await this.consentStore.get("outgoing", requester, t, roomId);
      const cur = existing === undefined ? undefined : effective(existing, now);
      const next =
        cur?.state === "granted"
          ? cur
          : cur === undefined
            ? this.#newRecord("outgoing", requester, t, roomId, "request", now)
            : withFields(cur, { state: "requested", updatedAt: now, requestedAt: now, expiresAt: now + this.#o.config.requestTtlSeconds * 1000 }, ["endedAt"]);
      await this.consentStore.put(next);
      return next;
    });
    const out: RequestResult = { record: view(record), delivered: sent.status !== 404 };
    if (o.bilateral === true) {
      // MIMI-PROTO-CONSENT-25: the connection request = request + unsolicited grant back.
      const g = await this.grant({ target: requester, requester: t, roomId });
      out.bilateral = { record: g.record, notified: g.notified };
    }
    return out;
  }

  /** Cancels a local user's pending request; the cancel repeats its ConsentScope (MIMI-PROTO-CONSENT-01). */
  async cancel(o: ScopeInput): Promise<{ record: ConsentView }> {
    const requester = userOf(o.requester, "requester");
    const t = userOf(o.target, "target");
    const roomId = roomOf(o.roomId);
    const now = this.#now();
    const existing = await this.consentStore.get("outgoing", requester, t, roomId);
    if (existing === undefined || effective(existing, now).state !== "requested") throw new MimiError("MIMI_ERR_CONSENT_NOT_FOUND", `no pending request to ${t}${roomId === undefined ? "" : ` for ${roomId}`}`);
    await this.#send("requestConsent", providerOf(t), encode(RequestConsentBody, this.#entry(ConsentOperation.cancel, requester, t, roomId)));
    const next = withFields(existing, { state: "cancelled", updatedAt: now, endedAt: now }, ["expiresAt"]);
    await this.consentStore.put(next);
    return { record: view(next) };
  }

  /**
   * A local user (the target) grants `requester` consent, solicited or not; optionally with
   * KeyPackages claimed from the user's store (one per client). Held rooms of that requester are
   * delivered (MIMI-PROTO-CONSENT-21).
   */
  async grant(o: ScopeInput & { readonly withKeyPackages?: boolean }): Promise<{ record: ConsentView; keyPackages: number; notified: boolean; released: number }> {
    const target = userOf(o.target, "target");
    const r = userOf(o.requester, "requester");
    const roomId = roomOf(o.roomId);
    if (r === target) throw new MimiError("MIMI_ERR_CONSENT_INVALID", "a user does not grant itself consent");
    const now = this.#now();
    let keyPackages: Uint8Array[] = [];
    if (o.withKeyPackages === true) {
      // MIMI-PROTO-CONSENT-16: a grant may carry the target's KeyPackages (claimed once, as keyMaterial would).
      const name = parseUserUri(target).user;
      const devices = await this.#o.accounts.devices(name);
      const claimed = await this.#o.keyPackages.claim(name, devices.map((d) => d.clientUri), { cipherSuites: ANY_SUITE, allowLastResort: false });
      keyPackages = claimed.flatMap((c) => (c.keyPackage === undefined ? [] : [c.keyPackage]));
    }
    const record = await this.#o.store.withLock(ConsentStore.lockKey("in", r, target), async () => {
      const existing = await this.consentStore.get("incoming", r, target, roomId);
      const base = existing ?? { ...this.#newRecord("incoming", r, target, roomId, "grant", now) };
      const ttl = this.#o.config.grantTtlSeconds;
      const next = withFields(
        base,
        { state: "granted", updatedAt: now, grantedAt: now, keyPackagesSent: keyPackages.length, ...(ttl > 0 ? { expiresAt: now + ttl * 1000 } : {}) },
        ttl > 0 ? ["endedAt"] : ["endedAt", "expiresAt"],
      );
      await this.consentStore.put(next);
      return next;
    });
    let notified = true;
    try {
      await this.#send("updateConsent", providerOf(r), encode(UpdateConsentBody, this.#entry(ConsentOperation.grant, r, target, roomId, keyPackages)));
    } catch (err) {
      notified = false;
      this.#log.warn({ err, requesterDomain: providerOf(r) }, "the grant is in force here, but the requester's provider was not told");
    }
    const released = await this.quarantine.release(parseUserUri(target).user, r, roomId);
    return { record: view(record), keyPackages: keyPackages.length, notified, released };
  }

  /**
   * A local user (the target) revokes `requester`'s consent, or denies it preemptively. Held rooms
   * are dropped. The requester's provider is told only with `notify` (default:
   * consent.announceRevocations), since revocations are usually not reported (MIMI-PROTO-CONSENT-10).
   */
  async revoke(o: ScopeInput & { readonly notify?: boolean }): Promise<{ record: ConsentView; notified: boolean; dropped: number }> {
    const target = userOf(o.target, "target");
    const r = userOf(o.requester, "requester");
    const roomId = roomOf(o.roomId);
    const now = this.#now();
    const record = await this.#o.store.withLock(ConsentStore.lockKey("in", r, target), async () => {
      const existing = await this.consentStore.get("incoming", r, target, roomId);
      const base = existing ?? { ...this.#newRecord("incoming", r, target, roomId, "revoke", now) };
      const next = withFields(base, { state: "revoked", updatedAt: now, endedAt: now }, ["expiresAt"]);
      await this.consentStore.put(next);
      return next;
    });
    const dropped = await this.quarantine.drop(parseUserUri(target).user, r, roomId, "revoke");
    let notified = false;
    if (o.notify ?? this.#o.config.announceRevocations) {
      try {
        await this.#send("updateConsent", providerOf(r), encode(UpdateConsentBody, this.#entry(ConsentOperation.revoke, r, target, roomId)));
        notified = true;
      } catch (err) {
        this.#log.warn({ err, requesterDomain: providerOf(r) }, "revocation not delivered to the requester's provider");
      }
    }
    return { record: view(record), notified, dropped };
  }

  /**
   * KeyPackages a grant carried, for a local requester adding the target to a room hosted here
   * (the hub learnt their routes when the grant arrived). Each is handed out once.
   */
  async takeGrantedKeyPackages(requester: string, target: string, roomId: string): Promise<Uint8Array[]> {
    if (providerOf(roomId) !== this.#o.domain) return [];
    const now = this.#now();
    return this.#o.store.withLock(ConsentStore.lockKey("out", requester, target), async () => {
      const candidates = (await this.consentStore.outgoing(requester, target))
        .map((r) => effective(r, now))
        .filter((r) => r.state === "granted" && appliesTo(r, roomId) && (r.keyPackages?.length ?? 0) > 0)
        .sort((a, b) => (a.roomId === undefined ? 1 : 0) - (b.roomId === undefined ? 1 : 0));
      const chosen = candidates[0];
      if (chosen === undefined) return [];
      await this.consentStore.put(withFields(chosen, { updatedAt: now }, ["keyPackages"]));
      const fresh = (chosen.keyPackages ?? []).filter((kp) => Number(keyPackageSummary(kp).notAfter) * 1000 > now);
      return fresh;
    });
  }

  // ---- inbound (protocol-06 §5.7) ------------------------------------------------------------------------

  /**
   * POST /requestConsent/{targetDomain} (request or cancel) from `peer` (the mTLS-authenticated
   * provider). Resolves for 201; throws MimiError for a request that breaks the rules.
   */
  /**
   * Listens to consent arriving from other providers: requests and cancels for local targets,
   * grants and revokes for local requesters (called after they are stored). Returns the
   * unsubscribe function.
   */
  onNotice(fn: (notice: ConsentNotice) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #notify(notice: ConsentNotice): void {
    for (const fn of this.#listeners) {
      try {
        fn(notice);
      } catch (err) {
        this.#log.error({ err }, "a consent listener failed");
      }
    }
  }

  async onRequestConsent(body: Uint8Array, peer: string): Promise<void> {
    const entry = decodeRequestConsentBody(body);
    const requester = userOf(entry.requesterUri.uri, "requesterUri");
    const target = userOf(entry.targetUri.uri, "targetUri");
    const roomId = roomOf(entry.roomId?.uri);
    // MIMI-PROTO-CONSENT-03: the target must be ours, MIMI-PROTO-CONSENT-04: the requester the sender's.
    if (providerOf(target) !== this.#o.domain) throw new MimiError("MIMI_ERR_CONSENT_SCOPE_MISMATCH", `targetUri ${target} is not a user of ${this.#o.domain}`);
    if (providerOf(requester) !== peer) throw new MimiError("MIMI_ERR_CONSENT_SCOPE_MISMATCH", `requesterUri ${requester} is not a user of ${peer}`);
    // MIMI-PROTO-CONSENT-05: an unknown target is answered 201 like any other (privacy: the
    // requester cannot tell who exists, so its `delivered` stays true). A request (not a cancel)
    // to a platform user behind a bridge who has no account yet creates it first: a bridged user
    // is reachable before its first gesture, and is then prompted on its platform (onNotice).
    const exists = entry.consentOperation === ConsentOperation.request ? await this.#provisioned(target, requester) : await this.#userExists(target);
    if (!exists) return;
    const now = this.#now();
    await this.#o.store.withLock(ConsentStore.lockKey("in", requester, target), async () => {
      const existing = await this.consentStore.get("incoming", requester, target, roomId);
      const cur = existing === undefined ? undefined : effective(existing, now);
      if (entry.consentOperation === ConsentOperation.cancel) {
        // MIMI-PROTO-CONSENT-01, MIMI-PROTO-CONSENT-06: a cancel must repeat the scope of a request; one that
        // matches nothing is answered 201 too, and changes nothing.
        if (cur?.state !== "requested") return;
        await this.consentStore.put(withFields(cur, { state: "cancelled", updatedAt: now, endedAt: now }, ["expiresAt"]));
        await this.quarantine.drop(parseUserUri(target).user, requester, roomId, "cancel");
        this.#notify({ kind: "cancel", requester, target, roomId });
        return;
      }
      // request. Granted stays granted; a revoke (a refusal) stays in force and is not revealed
      // (MIMI-PROTO-CONSENT-10); a pending request is refreshed.
      if (cur?.state === "granted" || cur?.state === "revoked") return;
      if (cur?.state === "requested") {
        await this.consentStore.put(withFields(cur, { updatedAt: now, expiresAt: now + this.#o.config.requestTtlSeconds * 1000 }));
        return;
      }
      if (!(await this.#roomForPending(requester, target, now))) {
        this.#log.info({ requesterDomain: peer }, "consent request dropped: too many pending requests");
        return;
      }
      await this.consentStore.put(this.#newRecord("incoming", requester, target, roomId, "request", now));
      this.#notify({ kind: "request", requester, target, roomId });
    });
  }

  /** POST /updateConsent/{requesterDomain} (grant or revoke) from the target's provider `peer`. */
  async onUpdateConsent(body: Uint8Array, peer: string): Promise<void> {
    const entry = decodeUpdateConsentBody(body);
    const requester = userOf(entry.requesterUri.uri, "requesterUri");
    const target = userOf(entry.targetUri.uri, "targetUri");
    const roomId = roomOf(entry.roomId?.uri);
    // MIMI-PROTO-CONSENT-03/-04 for updateConsent: the requester is ours, the target the sender's.
    if (providerOf(requester) !== this.#o.domain) throw new MimiError("MIMI_ERR_CONSENT_SCOPE_MISMATCH", `requesterUri ${requester} is not a user of ${this.#o.domain}`);
    if (providerOf(target) !== peer) throw new MimiError("MIMI_ERR_CONSENT_SCOPE_MISMATCH", `targetUri ${target} is not a user of ${peer}`);
    if (!(await this.#userExists(requester))) return;
    const now = this.#now();
    const keyPackages: Uint8Array[] = [];
    const routeOps: BatchOp[] = [];
    if (entry.consentOperation === ConsentOperation.grant) {
      const grant = entry as ConsentEntry & { clientKeyPackages: { bytes: Uint8Array }[] };
      for (const [i, kp] of grant.clientKeyPackages.entries()) {
        // MIMI-PROTO-CONSENT-16: a granted KeyPackage must be valid and belong to the target.
        let facts;
        try {
          await verifyKeyPackageBytes(kp.bytes);
          facts = keyPackageSummary(kp.bytes);
        } catch (cause) {
          throw new MimiError("MIMI_ERR_CONSENT_INVALID", `clientKeyPackages[${i}] is not a valid KeyPackage`, { cause });
        }
        if (facts.userUri !== target) throw new MimiError("MIMI_ERR_CONSENT_INVALID", `clientKeyPackages[${i}] belongs to ${facts.userUri}, not ${target}`);
        keyPackages.push(kp.bytes);
        // The hub here routes the Welcome for it to the target's provider, and counts it as claimed
        // through this hub for the grant's room (hub.ts, MIMI-PROTO-CONSENT-15).
        routeOps.push(this.#o.keyPackages.hubRouteOp(facts.keyPackageRef, { provider: peer, ...(roomId === undefined ? {} : { roomId }), expiresAt: Number(facts.notAfter) * 1000 }));
      }
    }
    await this.#o.store.withLock(ConsentStore.lockKey("out", requester, target), async () => {
      const existing = await this.consentStore.get("outgoing", requester, target, roomId);
      const origin = entry.consentOperation === ConsentOperation.grant ? "grant" : "revoke";
      const base = existing ?? this.#newRecord("outgoing", requester, target, roomId, origin, now);
      const ops: BatchOp[] = [...routeOps];
      if (entry.consentOperation === ConsentOperation.grant) {
        ops.push(this.consentStore.putOp(withFields(base, { state: "granted", updatedAt: now, grantedAt: now, ...(keyPackages.length > 0 ? { keyPackages } : {}) }, ["endedAt", "expiresAt", ...(keyPackages.length > 0 ? [] : (["keyPackages"] as const))])));
      } else {
        for (const kp of base.keyPackages ?? []) ops.push(this.#o.keyPackages.hubRouteDelOp(keyPackageSummary(kp).keyPackageRef));
        ops.push(this.consentStore.putOp(withFields(base, { state: "revoked", updatedAt: now, endedAt: now }, ["expiresAt", "keyPackages"])));
      }
      await this.#o.store.batch(ops);
    });
    this.#notify({ kind: entry.consentOperation === ConsentOperation.grant ? "grant" : "revoke", requester, target, roomId });
  }

  // ---- listing and sweep ------------------------------------------------------------------------------

  /** What a local user sees: its policy, incoming and outgoing records, pending requests with what is held. */
  async list(user: string): Promise<ConsentListing> {
    const now = this.#now();
    const incoming = (await this.consentStore.incoming(user)).map((r) => effective(r, now));
    const outgoing = (await this.consentStore.outgoing(user)).map((r) => effective(r, now));
    const heldRooms = await this.quarantine.rooms(parseUserUri(user).user);
    const pending: PendingView[] = incoming
      .filter((r) => r.state === "requested")
      .map((r) => ({ ...view(r), held: heldRooms.filter((h) => h.requester === r.requester && appliesTo(r, h.roomId)).map((h) => this.quarantine.preview(h)) }));
    const userPolicy = await this.consentStore.userPolicy(user);
    return {
      policy: { effective: await this.policyOf(user), user: userPolicy ?? null, providerDefault: this.#o.config.preConsent, userOverride: this.#o.config.userOverride },
      incoming: incoming.map(view),
      outgoing: outgoing.map(view),
      pending,
      held: heldRooms.map((h) => this.quarantine.preview(h)),
    };
  }

  /**
   * Expiry (MIMI-PROTO-CONSENT-22): pending requests and grants past their time become expired;
   * held rooms whose request expired, or that are older than quarantine.maxAgeSeconds, are
   * dropped; stale claim records go.
   */
  async sweep(now = this.#now()): Promise<{ expired: number; dropped: number }> {
    let expired = 0;
    let dropped = 0;
    for (const r of await this.consentStore.all()) {
      const e = effective(r, now);
      if (e.state === r.state) continue;
      await this.#o.store.withLock(ConsentStore.lockKey(r.direction === "incoming" ? "in" : "out", r.requester, r.target), async () => {
        const again = await this.consentStore.get(r.direction, r.requester, r.target, r.roomId);
        if (again === undefined || effective(again, now).state !== "expired" || again.state === "expired") return;
        await this.consentStore.put(withFields(again, { state: "expired", updatedAt: now, endedAt: again.expiresAt ?? now }, ["keyPackages"]));
        expired += 1;
      });
      if (r.direction === "incoming" && r.state === "requested" && this.#isLocalUser(r.target)) {
        const cov = await this.consentStore.coverage(r.requester, r.target, r.roomId, now);
        if (cov !== "granted") dropped += await this.quarantine.drop(parseUserUri(r.target).user, r.requester, r.roomId, "expiry");
      }
    }
    // Held rooms whose pre-consent window is over without a pending request (e.g. capped).
    for (const h of await this.quarantine.allRooms()) {
      if (h.createdAt + this.#o.config.requestTtlSeconds * 1000 > now) continue;
      const target = userUri(this.#o.domain, h.user);
      const pendingReq = (await this.consentStore.incoming(target, h.requester)).map((r) => effective(r, now)).some((r) => r.state === "requested" && appliesTo(r, h.roomId));
      if (!pendingReq) dropped += await this.quarantine.drop(h.user, h.requester, h.roomId, "expiry");
    }
    dropped += await this.quarantine.sweep(now);
    await this.consentStore.sweepClaims(now);
    return { expired, dropped };
  }
}
