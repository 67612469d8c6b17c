// Providers for the consent unit tests: each a memory store with accounts, KeyPackages, the real
// ConsentService and KeyMaterialService (with the service's gate) and a real Follower (for the
// quarantine's release and drop). Providers reach each other through a fake PeerClient that calls
// the other provider's consent handlers directly, as the protocol routes would after mTLS
// (src/transport/protocolRoutes.ts), with the caller's domain as the authenticated peer.
import { Accounts } from "../../../src/accounts/accounts.ts";
import { signedKeyMaterialRequest } from "../../../src/client-api/sdk/requests.ts";
import { decodeExact } from "../../../src/codec/index.ts";
import { defaultConfig } from "../../../src/config/index.ts";
import { ConsentService } from "../../../src/consent/index.ts";
import type { ConsentConfig } from "../../../src/consent/index.ts";
import { isMimiError } from "../../../src/errors.ts";
import { Follower } from "../../../src/follower/follower.ts";
import type { LocalHub } from "../../../src/follower/follower.ts";
import { Inbox } from "../../../src/inbox/inbox.ts";
import { KeyMaterialService } from "../../../src/keymaterial/keyMaterialService.ts";
import { KeyPackageStore } from "../../../src/keymaterial/keyPackageStore.ts";
import { silentLogger } from "../../../src/log.ts";
import { keyPackageSummary } from "../../../src/mls/index.ts";
import { KeyMaterialClientCode, KeyMaterialResponse } from "../../../src/protocol/index.ts";
import { openStore } from "../../../src/storage/index.ts";
import type { Store } from "../../../src/storage/index.ts";
import type { PeerClient } from "../../../src/transport/peerClient.ts";
import { keyPackagesOf, mlsClient } from "../services/helpers.ts";
import type { UploadItem } from "../services/helpers.ts";

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends readonly unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (over === null || typeof over !== "object" || Array.isArray(over) || base === null || typeof base !== "object") return over;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) out[k] = merge(out[k], v);
  return out;
}

/** The default `consent` section with overrides (merged at any depth). */
export function consentConfig(over: DeepPartial<ConsentConfig> = {}): ConsentConfig {
  return merge(defaultConfig().consent, over) as ConsentConfig;
}

export interface TestProvider {
  domain: string;
  store: Store;
  accounts: Accounts;
  keyPackages: KeyPackageStore;
  consent: ConsentService;
  keyMaterial: KeyMaterialService;
  inbox: Inbox;
  follower: Follower;
  /** Requests this provider sent to others: [endpoint, domain]. */
  sent: [string, string][];
  user(name: string, devices?: readonly string[]): Promise<string>;
  upload(user: string, device: string, count: number, options?: { lastResort?: boolean }): Promise<UploadItem[]>;
}

export interface Clock {
  now: number;
}

export interface TestNet {
  providers: Record<string, TestProvider>;
  clock: Clock;
  close(): Promise<void>;
}

/** Providers of `domains`, each with its `consent` section. */
export async function consentNet(domains: Record<string, DeepPartial<ConsentConfig>>, clock: Clock = { now: Date.now() }): Promise<TestNet> {
  const providers: Record<string, TestProvider> = {};
  const peerFor = (from: string, sent: [string, string][]): PeerClient =>
    ({
      request: async (peer: string, endpoint: string, _params: Record<string, string>, opts: { body?: Uint8Array } = {}) => {
        sent.push([endpoint, peer]);
        const p = providers[peer];
        if (p === undefined) return { status: 502, headers: {}, body: new Uint8Array() };
        try {
          if (endpoint === "requestConsent") await p.consent.onRequestConsent(opts.body ?? new Uint8Array(), from);
          else if (endpoint === "updateConsent") await p.consent.onUpdateConsent(opts.body ?? new Uint8Array(), from);
          else return { status: 501, headers: {}, body: new Uint8Array() };
          return { status: 201, headers: {}, body: new Uint8Array() };
        } catch (err) {
          if (isMimiError(err)) return { status: err.statusCode, headers: {}, body: new TextEncoder().encode(JSON.stringify(err.toJSON())) };
          throw err;
        }
      },
    }) as unknown as PeerClient;
  for (const [domain, over] of Object.entries(domains)) {
    const store = await openStore({ kind: "memory" });
    const accounts = new Accounts(store, domain);
    const keyPackages = new KeyPackageStore(store, domain);
    const sent: [string, string][] = [];
    const logger = silentLogger();
    const consent = new ConsentService({ domain, store, config: consentConfig(over), logger, peerClient: peerFor(domain, sent), accounts, keyPackages, now: () => clock.now });
    const keyMaterial = new KeyMaterialService({ domain, accounts, keyPackages, logger, consent: consent.gate() });
    const inbox = new Inbox(store);
    const follower = new Follower({
      domain,
      store,
      logger,
      inbox,
      keyPackages,
      peerClient: peerFor(domain, sent),
      hub: {} as LocalHub,
      localKeyMaterial: (body) => keyMaterial.answer(body),
      deliveryGate: consent.deliveryGate(),
    });
    consent.attachFollower(follower);
    providers[domain] = {
      domain,
      store,
      accounts,
      keyPackages,
      consent,
      keyMaterial,
      inbox,
      follower,
      sent,
      async user(name, devices = ["phone"]) {
        const { userUri } = await accounts.createUser(name);
        for (const d of devices) await accounts.addDevice(name, d);
        return userUri;
      },
      async upload(user, device, count, options = {}) {
        const items = await keyPackagesOf(`mimi://${domain}/d/${user}/${device}`, { count, ...(options.lastResort === undefined ? {} : { lastResort: options.lastResort }) });
        await keyPackages.upload(user, items, clock.now);
        return items;
      },
    };
  }
  return {
    providers,
    clock,
    async close() {
      for (const p of Object.values(providers)) {
        await p.consent.stop();
        await p.store.close();
      }
    },
  };
}

/** A keyMaterial request of `requester` (signed by its client `device`) for `target`, answered by `p`. */
export async function claim(p: TestProvider, requester: string, target: string, roomId = ""): Promise<{ userStatus: number; clients: { status: number; clientUri: string }[]; refs: Uint8Array[] }> {
  const client = `${requester.replace("/u/", "/d/")}/phone`;
  const body = await signedKeyMaterialRequest(await mlsClient(client), { requestingUser: requester, targetUser: target, roomId });
  const r = decodeExact(KeyMaterialResponse, await p.keyMaterial.answer(body));
  const refs = r.clients.flatMap((c) => (c.clientStatus === KeyMaterialClientCode.success ? [keyPackageSummary((c as { keyPackage: { bytes: Uint8Array } }).keyPackage.bytes).keyPackageRef] : []));
  return { userStatus: r.userStatus, clients: r.clients.map((c) => ({ status: c.clientStatus, clientUri: c.clientUri.uri })), refs };
}
