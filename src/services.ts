// The provider's services, wired together: accounts and KeyPackages of local users, the hub
// (rooms hosted here), the follower (rooms hosted elsewhere), the per-user inbox of the client
// API and the durable fanout outbox. startProvider (provider.ts) builds one of these per
// process; tests can build one around a memory store.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { Accounts } from "./accounts/accounts.ts";
import { ConsentService, type ConsentConfig } from "./consent/index.ts";
import { defaultConfig } from "./config/index.ts";
import { DiscoveryService, type DiscoverySettings } from "./discovery/index.ts";
import { MimiError } from "./errors.ts";
import { Outbox } from "./fanout/outbox.ts";
import { Follower } from "./follower/follower.ts";
import { Hub, type FanoutPort, type FanoutTarget, type HubIdentity } from "./hub/hub.ts";
import { Inbox } from "./inbox/inbox.ts";
import { KeyMaterialService, type ConsentGate } from "./keymaterial/keyMaterialService.ts";
import { KeyPackageStore } from "./keymaterial/keyPackageStore.ts";
import type { Logger } from "./log.ts";
import { createExternalSender, encodeCredential, encryptWithLabel, signWithLabel, cipherSuiteId, type MlsExternalSender } from "./mls/index.ts";
import { encodeNotifyBody } from "./protocol/index.ts";
import type { BatchOp, Store } from "./storage/index.ts";
import type { PeerClient } from "./transport/peerClient.ts";

export interface ServicesOptions {
  domain: string;
  store: Store;
  logger: Logger;
  peerClient: PeerClient;
  /** Where the hub's signing key lives (mode 0600); undefined keeps it in memory (memory store). */
  hubKeyFile?: string | undefined;
  consent?: ConsentGate;
  /** The `consent` configuration section (defaults when absent: consent not enforced). */
  consentConfig?: ConsentConfig;
  /** The `discovery` configuration section (defaults when absent). */
  discovery?: DiscoverySettings;
  /** Where the discovery signing key lives (mode 0600); undefined keeps it in memory. */
  discoveryKeyFile?: string | undefined;
}

export interface Services {
  readonly domain: string;
  readonly store: Store;
  readonly accounts: Accounts;
  readonly keyPackages: KeyPackageStore;
  readonly keyMaterial: KeyMaterialService;
  readonly inbox: Inbox;
  readonly outbox: Outbox;
  readonly hub: Hub;
  readonly follower: Follower;
  readonly hubSender: MlsExternalSender;
  readonly hubIdentity: HubIdentity;
  /** Consent: requests, grants, enforcement, quarantine (src/consent/). */
  readonly consent: ConsentService;
  /** Profiles, identifierQuery and the SII → SSI discovery service (src/discovery/). */
  readonly discovery: DiscoveryService;
  stop(): Promise<void>;
}

interface StoredKey {
  publicKey: string;
  privateKey: string;
}

/** Loads the hub's signature key pair, or creates it (file mode 0600, folder 0700). */
async function hubSenderFor(domain: string, keyFile: string | undefined): Promise<MlsExternalSender> {
  if (keyFile === undefined) return createExternalSender(domain);
  let stored: StoredKey | undefined;
  try {
    stored = JSON.parse(await readFile(keyFile, "utf8")) as StoredKey;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new MimiError("MIMI_ERR_STORAGE_IO", `cannot read the hub key ${keyFile}`, { cause: err });
  }
  if (stored) {
    return createExternalSender(domain, {
      signatureKeyPair: { publicKey: new Uint8Array(Buffer.from(stored.publicKey, "base64")), privateKey: new Uint8Array(Buffer.from(stored.privateKey, "base64")) },
    });
  }
  const sender = await createExternalSender(domain);
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  const key: StoredKey = { publicKey: Buffer.from(sender.signaturePublicKey).toString("base64"), privateKey: Buffer.from(sender.signaturePrivateKey).toString("base64") };
  await writeFile(keyFile, JSON.stringify(key), { mode: 0o600, flag: "wx" });
  await chmod(keyFile, 0o600);
  return sender;
}

export async function createServices(o: ServicesOptions): Promise<Services> {
  const accounts = new Accounts(o.store, o.domain);
  const keyPackages = new KeyPackageStore(o.store, o.domain);
  const consent = new ConsentService({ domain: o.domain, store: o.store, config: o.consentConfig ?? defaultConfig().consent, logger: o.logger, peerClient: o.peerClient, accounts, keyPackages });
  const keyMaterial = new KeyMaterialService({ domain: o.domain, accounts, keyPackages, logger: o.logger, consent: o.consent ?? consent.gate() });
  const inbox = new Inbox(o.store);
  const outbox = new Outbox({ store: o.store, logger: o.logger, peerClient: o.peerClient });
  const hubSender = await hubSenderFor(o.domain, o.hubKeyFile);
  const suite = cipherSuiteId(hubSender.cipherSuite);
  const identity: HubIdentity = {
    providerUri: `mimi://${o.domain}`,
    cipherSuite: suite,
    signatureKey: hubSender.signaturePublicKey,
    credential: encodeCredential(hubSender.credential),
    sign: (label, content) => signWithLabel(suite, hubSender.signaturePrivateKey, label, content),
    encryptWithLabel: (publicKey, label, context, plaintext) => encryptWithLabel(suite, publicKey, label, context, plaintext),
  };

  // Late-bound: the hub and the follower call each other for rooms hosted here.
  const late: { follower?: Follower } = {};
  const fanout: FanoutPort = {
    async lockKeys(roomId: string, targets: readonly FanoutTarget[]): Promise<string[]> {
      const keys: string[] = [];
      for (const t of targets) {
        if (t.provider === o.domain) {
          keys.push(...(await late.follower!.lockKeys(roomId, t.messages)));
          keys.push(...Inbox.lockKeys(await late.follower!.welcomeUsers(t.messages)));
        } else keys.push(Outbox.lockKey(t.provider));
      }
      return [...new Set(keys)];
    },
    async ops(roomId: string, targets: readonly FanoutTarget[]): Promise<{ ops: BatchOp[]; done: () => void }> {
      // One outbox entry (or one inbox delivery) per provider, its messages in order.
      const byProvider = new Map<string, FanoutTarget["messages"][number][]>();
      for (const t of targets) byProvider.set(t.provider, [...(byProvider.get(t.provider) ?? []), ...t.messages]);
      const ops: BatchOp[] = [];
      const peers: string[] = [];
      let users: string[] = [];
      for (const [provider, messages] of byProvider) {
        if (messages.length === 0) continue;
        if (provider === o.domain) {
          const local = await late.follower!.localDeliveryOps(roomId, messages);
          ops.push(...local.ops);
          users = local.users;
        } else {
          ops.push(...(await outbox.enqueueOps(provider, roomId, encodeNotifyBody(messages))));
          peers.push(provider);
        }
      }
      return {
        ops,
        done: () => {
          for (const p of peers) outbox.kick(p);
          inbox.notify(users);
        },
      };
    },
  };
  const hub = new Hub({
    domain: o.domain,
    store: o.store,
    logger: o.logger,
    identity,
    fanout,
    keyMaterialForTarget: (target, body) => late.follower!.forwardKeyMaterial(target, body),
    consent: consent.hubCheck(),
  });
  const follower = new Follower({
    domain: o.domain,
    store: o.store,
    logger: o.logger,
    inbox,
    keyPackages,
    peerClient: o.peerClient,
    hub,
    localKeyMaterial: (body) => keyMaterial.answer(body),
    deliveryGate: consent.deliveryGate(),
  });
  late.follower = follower;
  consent.attachFollower(follower);
  consent.start();
  const discovery = await DiscoveryService.create({ domain: o.domain, store: o.store, accounts, peerClient: o.peerClient, logger: o.logger, settings: o.discovery ?? defaultConfig().discovery, keyFile: o.discoveryKeyFile });
  await outbox.resume();
  return {
    domain: o.domain,
    store: o.store,
    accounts,
    keyPackages,
    keyMaterial,
    inbox,
    outbox,
    hub,
    follower,
    hubSender,
    hubIdentity: identity,
    consent,
    discovery,
    stop: async () => {
      await consent.stop();
      await outbox.stop();
    },
  };
}
