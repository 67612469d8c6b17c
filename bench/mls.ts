// MLS: the native crypto provider (src/mls/nativeCrypto.ts) against ts-mls's default provider
// (WebCrypto + @hpke/core), measured in the same run, alternating, medians over repetitions.
//
// One JSON line per figure:
//   throughput: {"bench":"mls","figure":"app_msg_1KiB_encrypt_decrypt","provider":"native",
//                "msgPerSec":…,"baseline":"default","baselineMsgPerSec":…,"ratio":native/default,"runs":n}
//   timings:    {"bench":"mls","figure":"commit_add_100","provider":"native","ms":…,
//                "baseline":"default","baselineMs":…,"ratio":default/native,"runs":n}
// `ratio` > 1 always means the native provider is faster. Suite 1
// (MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519). A full run takes well under a minute.
import {
  addMembers,
  createClient,
  createCommit,
  createExternalSender,
  createRoomGroup,
  encryptApplication,
  generateKeyPackages,
  joinFromWelcome,
  processMessage,
} from "../src/mls/index.ts";
import type { CryptoProviderName, GeneratedKeyPackage, MlsClient, MlsExternalSender, MlsGroup } from "../src/mls/index.ts";
import { median, opsPerSecond } from "./lib.ts";

const PROVIDERS: readonly CryptoProviderName[] = ["native", "default"];

function out(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + "\n");
}

function userUri(i: number): string {
  return `mimi://a.example/u/user${i}`;
}

async function makeClients(n: number, provider: CryptoProviderName): Promise<MlsClient[]> {
  const clients: MlsClient[] = [];
  for (let i = 0; i < n; i++) clients.push(await createClient(`mimi://a.example/d/user${i}/dev`, { cryptoProvider: provider }));
  return clients;
}

async function newRoom(creator: MlsClient, hub: MlsExternalSender, n: number): Promise<MlsGroup> {
  return createRoomGroup(creator, {
    groupId: `mimi://hub.example/g/bench-${Math.random().toString(36).slice(2)}`,
    hubExternalSender: hub,
    components: { participantList: { participants: Array.from({ length: n }, (_, i) => ({ user: userUri(i), roleIndex: 2 })) } },
  });
}

// ---- 1 KiB application messages, encrypt at A + wire + decrypt at B, 2 members ---------------

async function pair(provider: CryptoProviderName, hub: MlsExternalSender): Promise<() => Promise<void>> {
  const [alice, bob] = await makeClients(2, provider);
  if (alice === undefined || bob === undefined) throw new Error("no clients");
  const [kp] = await generateKeyPackages(bob);
  if (kp === undefined) throw new Error("no KeyPackage");
  const added = await addMembers(await newRoom(alice, hub, 2), [kp.encoded]);
  let a = added.group;
  let b = await joinFromWelcome(bob, added.welcome, kp);
  const payload = new Uint8Array(1024).fill(0x61);
  return async () => {
    const m = await encryptApplication(a, payload);
    a = m.group;
    const r = await processMessage(b, m.message);
    if (r.kind !== "application") throw new Error("expected an application message");
    b = r.group;
  };
}

async function throughput(hub: MlsExternalSender): Promise<void> {
  const runs = 5;
  const fns = new Map<CryptoProviderName, () => Promise<void>>();
  for (const p of PROVIDERS) fns.set(p, await pair(p, hub));
  const results = new Map<CryptoProviderName, number[]>(PROVIDERS.map((p) => [p, []]));
  for (let i = 0; i < runs; i++) {
    for (const p of PROVIDERS) {
      const fn = fns.get(p);
      if (fn !== undefined) results.get(p)?.push(await opsPerSecond(fn, 500));
    }
  }
  const native = median(results.get("native") ?? []);
  const dflt = median(results.get("default") ?? []);
  out({
    bench: "mls",
    figure: "app_msg_1KiB_encrypt_decrypt",
    provider: "native",
    msgPerSec: Math.round(native),
    baseline: "default",
    baselineMsgPerSec: Math.round(dflt),
    ratio: Number((native / dflt).toFixed(2)),
    runs,
  });
}

// ---- commit and join timings for N members ------------------------------------------------------

interface Timings {
  commitAdd: number;
  joinWelcome: number;
  updateCreate: number;
  updateProcess: number;
}

async function timeOnce<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const v = await fn();
  return [v, performance.now() - start];
}

/** Creator adds N-1 members in one commit; one joiner processes the Welcome; a member's update commit (with path) is created and processed. */
async function groupRound(provider: CryptoProviderName, hub: MlsExternalSender, n: number, clients: MlsClient[], kps: GeneratedKeyPackage[]): Promise<Timings> {
  const [creator, first, second] = clients;
  const kpFirst = kps[0];
  if (creator === undefined || first === undefined || second === undefined || kpFirst === undefined) throw new Error(`bad fixture for ${provider}`);
  const g = await newRoom(creator, hub, n);
  const [added, commitAdd] = await timeOnce(() => addMembers(g, kps.map((k) => k.keyPackage)));
  const [joined, joinWelcome] = await timeOnce(() => joinFromWelcome(first, added.welcome, kpFirst));
  const kpSecond = kps[1];
  if (kpSecond === undefined) throw new Error("no second KeyPackage");
  const other = await joinFromWelcome(second, added.welcome, kpSecond);
  const [update, updateCreate] = await timeOnce(() => createCommit(joined));
  const [, updateProcess] = await timeOnce(() => processMessage(other, update.commit));
  return { commitAdd, joinWelcome, updateCreate, updateProcess };
}

async function groupTimings(hub: MlsExternalSender, n: number, runs: number): Promise<void> {
  const fixtures = new Map<CryptoProviderName, { clients: MlsClient[]; kps: GeneratedKeyPackage[][] }>();
  for (const p of PROVIDERS) {
    const clients = await makeClients(n, p);
    // fresh KeyPackages per run (a KeyPackage is used once); generation is not timed
    const kps: GeneratedKeyPackage[][] = [];
    for (let r = 0; r < runs; r++) {
      const list: GeneratedKeyPackage[] = [];
      for (const c of clients.slice(1)) list.push(...(await generateKeyPackages(c)));
      kps.push(list);
    }
    fixtures.set(p, { clients, kps });
  }
  const samples = new Map<CryptoProviderName, Timings[]>(PROVIDERS.map((p) => [p, []]));
  for (let r = 0; r < runs; r++) {
    for (const p of PROVIDERS) {
      const f = fixtures.get(p);
      if (f === undefined) continue;
      samples.get(p)?.push(await groupRound(p, hub, n, f.clients, f.kps[r] ?? []));
    }
  }
  const figures: [keyof Timings, string][] = [
    ["commitAdd", `commit_add_${n}`],
    ["joinWelcome", `join_welcome_${n}`],
    ["updateCreate", `update_commit_create_${n}`],
    ["updateProcess", `update_commit_process_${n}`],
  ];
  for (const [key, figure] of figures) {
    const native = median((samples.get("native") ?? []).map((t) => t[key]));
    const dflt = median((samples.get("default") ?? []).map((t) => t[key]));
    out({
      bench: "mls",
      figure,
      provider: "native",
      ms: Number(native.toFixed(1)),
      baseline: "default",
      baselineMs: Number(dflt.toFixed(1)),
      ratio: Number((dflt / native).toFixed(2)),
      runs,
    });
  }
}

const hub = await createExternalSender("hub.example", { cryptoProvider: "native" });
// warm-up (JIT, suite caches) for both providers
for (const p of PROVIDERS) {
  const fn = await pair(p, hub);
  for (let i = 0; i < 50; i++) await fn();
}
await throughput(hub);
await groupTimings(hub, 10, 5);
await groupTimings(hub, 100, 3);
