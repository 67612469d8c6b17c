// The provider's KeyPackage store for its local users' clients (draft-ietf-mimi-protocol-06
// §"Fetch Key Material", digest §2.4):
// - MIMI-PROTO-KM-10: a KeyPackage returned once is never returned again (claimed atomically:
//   read and delete happen under one lock and in one batch);
// - MIMI-PROTO-KM-11: expired KeyPackages (LeafNode lifetime not_after) are never returned and
//   are dropped when found;
// - last-resort KeyPackages (mls-extensions last_resort_key_package) are reusable and handed out
//   only when a client has nothing else, and only when policy allows it;
// - the provider remembers KeyPackageRef → client, to route the Welcome later (MIMI-PROTO-KM-12).
//
// Key layout in `key_packages`: `<user>/<clientKey>/<0|1 lastResort>/<refHex>` → StoredKeyPackage.
// In `routes`: `kp/<refHex>` → KeyPackageRoute (local clients) .
import { MimiError } from "../errors.ts";
import { cborCodec, type BatchOp, type Store, type TypedNamespace } from "../storage/index.ts";

/** What the provider needs to know of a KeyPackage (computed by the MLS layer). */
export interface KeyPackageFacts {
  keyPackageRef: Uint8Array;
  clientUri: string;
  userUri: string;
  cipherSuite: number;
  /** LeafNode lifetime not_after, seconds since the epoch. */
  notAfter: number;
  lastResort: boolean;
}

interface StoredKeyPackage {
  keyPackage: Uint8Array;
  ref: Uint8Array;
  clientUri: string;
  cipherSuite: number;
  notAfter: number;
  lastResort: boolean;
  storedAt: number;
}

export interface KeyPackageRoute {
  /** For a local client: its URI. For a hub route: the provider domain that issued it. */
  clientUri?: string;
  userUri?: string;
  provider: string;
  roomId?: string;
  expiresAt: number;
}

export interface ClaimedKeyPackage {
  clientUri: string;
  /** undefined when the client has nothing left (keyMaterialExhausted) or nothing compatible. */
  keyPackage?: Uint8Array;
  /** The client has usable KeyPackages, but none of an acceptable cipher suite (nothingCompatible). */
  incompatible?: boolean;
  /** Nothing was handed out because the client's remaining KeyPackages are reserved (ClaimOptions.reserve). */
  reserved?: boolean;
  keyPackageRef?: Uint8Array;
  lastResort?: boolean;
}

export interface ClaimOptions {
  cipherSuites: readonly number[];
  /** Whether a last-resort KeyPackage may be handed out when a client has no other. */
  allowLastResort: boolean;
  /**
   * Ordinary KeyPackages of each client this claim must leave in place (default 0). Consent
   * (MIMI-PROTO-CONSENT-12): claims before consent never take a client's last N, so consented
   * contacts always keep a usable KeyPackage path.
   */
  reserve?: number;
  now?: number;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const clientKey = (clientUri: string) => encodeURIComponent(clientUri);

export class KeyPackageStore {
  readonly #store: Store;
  readonly #kps: TypedNamespace<StoredKeyPackage>;
  readonly #routes: TypedNamespace<KeyPackageRoute>;
  readonly #domain: string;

  constructor(store: Store, domain: string) {
    this.#store = store;
    this.#domain = domain;
    this.#kps = store.namespace("key_packages").typed(cborCodec<StoredKeyPackage>());
    this.#routes = store.namespace("routes").typed(cborCodec<KeyPackageRoute>());
  }

  /** Stores KeyPackages uploaded by a local user's clients (already validated by the caller). */
  async upload(userName: string, items: readonly { bytes: Uint8Array; facts: KeyPackageFacts }[], now = Date.now()): Promise<number> {
    const ops: BatchOp[] = [];
    for (const { bytes, facts } of items) {
      if (facts.notAfter * 1000 <= now) {
        throw new MimiError("MIMI_ERR_CLIENT_BAD_KEY_PACKAGE", "KeyPackage has expired", { details: { clientUri: facts.clientUri } });
      }
      const refHex = hex(facts.keyPackageRef);
      const record: StoredKeyPackage = {
        keyPackage: bytes,
        ref: facts.keyPackageRef,
        clientUri: facts.clientUri,
        cipherSuite: facts.cipherSuite,
        notAfter: facts.notAfter,
        lastResort: facts.lastResort,
        storedAt: now,
      };
      ops.push(this.#kps.putOp(`${userName}/${clientKey(facts.clientUri)}/${facts.lastResort ? 1 : 0}/${refHex}`, record));
      ops.push(this.#routes.putOp(`kp/${refHex}`, { clientUri: facts.clientUri, userUri: facts.userUri, provider: this.#domain, expiresAt: facts.notAfter * 1000 }));
    }
    await this.#store.withLock(`kp:${userName}`, () => this.#store.batch(ops));
    return items.length;
  }

  /** Counts of usable KeyPackages per client (for the client API and replenishment). */
  async counts(userName: string, now = Date.now()): Promise<Map<string, { available: number; lastResort: number }>> {
    const out = new Map<string, { available: number; lastResort: number }>();
    for await (const { value } of this.#kps.iterate({ prefix: `${userName}/` })) {
      if (value.notAfter * 1000 <= now) continue;
      const c = out.get(value.clientUri) ?? { available: 0, lastResort: 0 };
      if (value.lastResort) c.lastResort += 1;
      else c.available += 1;
      out.set(value.clientUri, c);
    }
    return out;
  }

  /**
   * Claims one KeyPackage per client of the user (protocol-06 keyMaterial). Ordinary KeyPackages
   * are deleted in the same batch that returns them; expired ones are dropped on the way.
   */
  async claim(userName: string, clientUris: readonly string[], options: ClaimOptions): Promise<ClaimedKeyPackage[]> {
    const now = options.now ?? Date.now();
    return this.#store.withLock(`kp:${userName}`, async () => {
      const ops: BatchOp[] = [];
      const out: ClaimedKeyPackage[] = [];
      const reserve = options.reserve ?? 0;
      for (const clientUri of clientUris) {
        let chosen: StoredKeyPackage | undefined;
        let lastResort: StoredKeyPackage | undefined;
        let otherSuites = false;
        let reserved = false;
        const ordinary: { key: string; value: StoredKeyPackage }[] = [];
        for await (const { key, value } of this.#kps.iterate({ prefix: `${userName}/${clientKey(clientUri)}/` })) {
          if (value.notAfter * 1000 <= now) {
            // MIMI-PROTO-KM-11: never return an expired KeyPackage; drop it.
            ops.push(this.#kps.delOp(key), this.#routes.delOp(`kp/${hex(value.ref)}`));
            continue;
          }
          if (!options.cipherSuites.includes(value.cipherSuite)) {
            otherSuites = true;
            continue;
          }
          if (value.lastResort) {
            lastResort ??= value;
            continue;
          }
          ordinary.push({ key, value });
          // Without a reserve the first one will do (no need to count the others).
          if (ordinary.length > reserve) break;
        }
        const first = ordinary[0];
        if (first !== undefined && ordinary.length > reserve) {
          // MIMI-PROTO-KM-10: claimed once, removed in the same batch.
          chosen = first.value;
          ops.push(this.#kps.delOp(first.key));
        } else if (first !== undefined) {
          // MIMI-PROTO-CONSENT-12: the client's last `reserve` KeyPackages stay for consented contacts.
          reserved = true;
        }
        if (chosen) out.push({ clientUri, keyPackage: chosen.keyPackage, keyPackageRef: chosen.ref, lastResort: false });
        else if (lastResort && options.allowLastResort) out.push({ clientUri, keyPackage: lastResort.keyPackage, keyPackageRef: lastResort.ref, lastResort: true });
        else if (reserved) out.push({ clientUri, reserved: true });
        else out.push(otherSuites && !lastResort ? { clientUri, incompatible: true } : { clientUri });
      }
      if (ops.length) await this.#store.batch(ops);
      return out;
    });
  }

  /** The local client a KeyPackageRef was issued for (routes a Welcome), if known and current. */
  async routeOf(ref: Uint8Array, now = Date.now()): Promise<KeyPackageRoute | undefined> {
    const route = await this.#routes.get(`kp/${hex(ref)}`);
    return route && route.expiresAt > now ? route : undefined;
  }

  /** Hub side: remembers which provider issued a KeyPackage (MIMI-PROTO-KM-12). */
  hubRouteOp(ref: Uint8Array, route: KeyPackageRoute): BatchOp {
    return this.#routes.putOp(`hub/${hex(ref)}`, route);
  }

  async hubRouteOf(ref: Uint8Array, now = Date.now()): Promise<KeyPackageRoute | undefined> {
    const route = await this.#routes.get(`hub/${hex(ref)}`);
    return route && route.expiresAt > now ? route : undefined;
  }

  hubRouteDelOp(ref: Uint8Array): BatchOp {
    return this.#routes.delOp(`hub/${hex(ref)}`);
  }
}
