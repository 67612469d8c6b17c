// The consent store (draft-ietf-mimi-protocol-06 §5.7, digest §4): one record per ConsentScope
// (requesterUri, targetUri, optional roomId) and direction, the users' own pre-consent policies,
// the KeyPackages claimed before consent (KeyPackageRef → requester, room) and the per-target
// budget of such claims. Everything lives in the `consent` namespace.
//
// Key layout (URIs percent-encoded with encodeURIComponent, so "/" only separates parts):
//   rec/in/<target>/<requester>/<room or ->    ConsentRecord, incoming (we serve the target)
//   rec/out/<requester>/<target>/<room or ->   ConsentRecord, outgoing (we serve the requester)
//   user/<userUri>                             { preConsent } chosen by the user
//   claim/<KeyPackageRef hex>                  PreConsentClaim
//   budget/<target>                            { windowStart, used }
//
// Scopes are equal only when all three parts are (MIMI-PROTO-CONSENT-01): the room part of the
// key is the exact room URI, "-" for connection-wide.
import { cborCodec, type BatchOp, type Store, type TypedNamespace } from "../storage/index.ts";
import type { ConsentDirection, ConsentRecord, Coverage, PreConsentClaim, PreConsentPolicy } from "./types.ts";

const enc = encodeURIComponent;
const roomPart = (roomId: string | undefined) => (roomId === undefined ? "-" : enc(roomId));
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/** The storage key of a record. */
export function recordKey(direction: ConsentDirection, requester: string, target: string, roomId: string | undefined): string {
  return direction === "incoming" ? `rec/in/${enc(target)}/${enc(requester)}/${roomPart(roomId)}` : `rec/out/${enc(requester)}/${enc(target)}/${roomPart(roomId)}`;
}

/** A record as it stands at `now`: a pending request or a grant past its expiry is expired. */
export function effective(record: ConsentRecord, now: number): ConsentRecord {
  if ((record.state === "requested" || record.state === "granted") && record.expiresAt !== undefined && record.expiresAt <= now) {
    return { ...record, state: "expired", endedAt: record.expiresAt };
  }
  return record;
}

/** Whether a record applies to `roomId` (connection-wide records apply to every room). */
export function appliesTo(record: ConsentRecord, roomId: string | undefined): boolean {
  return record.roomId === undefined || record.roomId === roomId;
}

/**
 * The consent decision for (requester → target, room) from the records of that pair: the newest
 * grant or revoke that applies wins (a connection-wide one applies to every room); grants for
 * other rooms only give `otherRoom` (noConsentForThisRoom).
 */
export function coverage(records: readonly ConsentRecord[], roomId: string | undefined, now: number): Coverage {
  let newest: ConsentRecord | undefined;
  let otherRoom = false;
  for (const r0 of records) {
    const r = effective(r0, now);
    if (r.state !== "granted" && r.state !== "revoked") continue;
    if (!appliesTo(r, roomId)) {
      if (r.state === "granted") otherRoom = true;
      continue;
    }
    if (newest === undefined || r.updatedAt > newest.updatedAt || (r.updatedAt === newest.updatedAt && r.state === "revoked")) newest = r;
  }
  if (newest !== undefined) return newest.state === "granted" ? "granted" : "denied";
  return otherRoom ? "otherRoom" : "none";
}

export class ConsentStore {
  readonly #store: Store;
  readonly #records: TypedNamespace<ConsentRecord>;
  readonly #users: TypedNamespace<{ preConsent: PreConsentPolicy }>;
  readonly #claims: TypedNamespace<PreConsentClaim>;
  readonly #budget: TypedNamespace<{ windowStart: number; used: number }>;

  constructor(store: Store) {
    this.#store = store;
    const ns = store.namespace("consent");
    this.#records = ns.typed(cborCodec<ConsentRecord>());
    this.#users = ns.typed(cborCodec<{ preConsent: PreConsentPolicy }>());
    this.#claims = ns.typed(cborCodec<PreConsentClaim>());
    this.#budget = ns.typed(cborCodec<{ windowStart: number; used: number }>());
  }

  get store(): Store {
    return this.#store;
  }

  /**
   * The lock key that serialises read-modify-write of one pair's records in one direction (the two
   * directions have their own keys: a local pair updates both in one call chain).
   */
  static lockKey(direction: "in" | "out", requester: string, target: string): string {
    return `consent:${direction}:${requester} ${target}`;
  }

  async get(direction: ConsentDirection, requester: string, target: string, roomId: string | undefined): Promise<ConsentRecord | undefined> {
    return this.#records.get(recordKey(direction, requester, target, roomId));
  }

  putOp(record: ConsentRecord): BatchOp {
    return this.#records.putOp(recordKey(record.direction, record.requester, record.target, record.roomId), record);
  }

  delOp(record: ConsentRecord): BatchOp {
    return this.#records.delOp(recordKey(record.direction, record.requester, record.target, record.roomId));
  }

  async put(record: ConsentRecord): Promise<void> {
    await this.#store.batch([this.putOp(record)]);
  }

  async #list(prefix: string): Promise<ConsentRecord[]> {
    const out: ConsentRecord[] = [];
    for await (const { value } of this.#records.iterate({ prefix })) out.push(value);
    return out;
  }

  /** Records where `target` (a local user) is the target; with `requester`, only that pair. */
  incoming(target: string, requester?: string): Promise<ConsentRecord[]> {
    return this.#list(`rec/in/${enc(target)}/${requester === undefined ? "" : `${enc(requester)}/`}`);
  }

  /** Records where `requester` (a local user) is the requester; with `target`, only that pair. */
  outgoing(requester: string, target?: string): Promise<ConsentRecord[]> {
    return this.#list(`rec/out/${enc(requester)}/${target === undefined ? "" : `${enc(target)}/`}`);
  }

  /** Every record (for the sweep). */
  all(): Promise<ConsentRecord[]> {
    return this.#list("rec/");
  }

  /** The consent decision at the target's provider for (requester → target, room). */
  async coverage(requester: string, target: string, roomId: string | undefined, now: number): Promise<Coverage> {
    return coverage(await this.incoming(target, requester), roomId, now);
  }

  // ---- per-user policy ----------------------------------------------------------------------------

  async userPolicy(userUri: string): Promise<PreConsentPolicy | undefined> {
    return (await this.#users.get(`user/${enc(userUri)}`))?.preConsent;
  }

  async setUserPolicy(userUri: string, policy: PreConsentPolicy | undefined): Promise<void> {
    if (policy === undefined) await this.#users.del(`user/${enc(userUri)}`, { sync: true });
    else await this.#users.put(`user/${enc(userUri)}`, { preConsent: policy }, { sync: true });
  }

  // ---- KeyPackages claimed before consent ---------------------------------------------------------

  claimOp(ref: Uint8Array, claim: PreConsentClaim): BatchOp {
    return this.#claims.putOp(`claim/${hex(ref)}`, claim);
  }

  /** The claim of a KeyPackage, also after its pre-consent window (`expiresAt`) is over. */
  async claimOf(ref: Uint8Array): Promise<PreConsentClaim | undefined> {
    return this.#claims.get(`claim/${hex(ref)}`);
  }

  /** Deletes claims once neither the window nor the KeyPackage's lifetime is left; returns how many. */
  async sweepClaims(now: number): Promise<number> {
    const ops: BatchOp[] = [];
    for await (const { key, value } of this.#claims.iterate({ prefix: "claim/" })) if (value.keepUntil <= now) ops.push(this.#claims.delOp(key));
    if (ops.length > 0) await this.#store.batch(ops, { sync: false });
    return ops.length;
  }

  // ---- per-target budget of pre-consent claims (MIMI-PROTO-CONSENT-11) ----------------------------

  /** Takes one claim from the target's budget for the current period; false when it is spent. */
  async takeBudget(target: string, claims: number, periodMs: number, now: number): Promise<boolean> {
    const key = `budget/${enc(target)}`;
    return this.#store.withLock(`consent-budget:${target}`, async () => {
      const cur = await this.#budget.get(key);
      const window = cur === undefined || now - cur.windowStart >= periodMs ? { windowStart: now, used: 0 } : cur;
      if (window.used >= claims) return false;
      await this.#budget.put(key, { windowStart: window.windowStart, used: window.used + 1 }, { sync: true });
      return true;
    });
  }
}
