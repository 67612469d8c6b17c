// keyMaterial as the target provider (src/keymaterial/keyMaterialService.ts): real signed
// KeyMaterialRequests in, real KeyMaterialResponses out (decoded with the protocol codec), on a
// memory store with real KeyPackages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Accounts } from "../../../src/accounts/accounts.ts";
import { signedKeyMaterialRequest } from "../../../src/client-api/sdk/requests.ts";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { KeyMaterialService } from "../../../src/keymaterial/keyMaterialService.ts";
import type { ConsentDecision, ConsentGate } from "../../../src/keymaterial/keyMaterialService.ts";
import { KeyPackageStore } from "../../../src/keymaterial/keyPackageStore.ts";
import { silentLogger } from "../../../src/log.ts";
import { keyPackageSummary, verifyKeyPackageBytes } from "../../../src/mls/index.ts";
import { KeyMaterialClientCode, KeyMaterialRequest, KeyMaterialResponse, KeyMaterialUserCode } from "../../../src/protocol/index.ts";
import type { Store } from "../../../src/storage/index.ts";
import { hexOf, keyPackagesOf, mlsClient, withStore } from "./helpers.ts";
import type { UploadItem } from "./helpers.ts";

const DOMAIN = "a.example";
const ALICE = `mimi://${DOMAIN}/u/alice`;
const PHONE = `mimi://${DOMAIN}/d/alice/phone`;
const LAPTOP = `mimi://${DOMAIN}/d/alice/laptop`;
const BOB_CLIENT = "mimi://b.example/d/bob/phone";
const BOB = "mimi://b.example/u/bob";
const ROOM = "mimi://b.example/r/clubhouse";

interface Fixture {
  store: Store;
  accounts: Accounts;
  keyPackages: KeyPackageStore;
  service(options?: { allowLastResort?: boolean; consent?: ConsentGate }): KeyMaterialService;
}

async function withFixture(fn: (f: Fixture) => Promise<void>): Promise<void> {
  await withStore(async (store) => {
    const accounts = new Accounts(store, DOMAIN);
    const keyPackages = new KeyPackageStore(store, DOMAIN);
    await accounts.createUser("alice");
    await accounts.addDevice("alice", "phone");
    await accounts.addDevice("alice", "laptop");
    await fn({
      store,
      accounts,
      keyPackages,
      service: (o = {}) =>
        new KeyMaterialService({
          domain: DOMAIN,
          accounts,
          keyPackages,
          logger: silentLogger(),
          ...(o.allowLastResort === undefined ? {} : { allowLastResort: o.allowLastResort }),
          ...(o.consent === undefined ? {} : { consent: o.consent }),
        }),
    });
  });
}

/** A KeyMaterialRequest signed by bob's client, for `target`. */
async function request(target: string, roomId = ROOM): Promise<Uint8Array> {
  return signedKeyMaterialRequest(await mlsClient(BOB_CLIENT), { requestingUser: BOB, targetUser: target, roomId });
}

interface Decoded {
  userStatus: number;
  userUri: string;
  clients: { status: number; clientUri: string; refHex?: string; keyPackage?: Uint8Array }[];
}

/** Decodes the KeyMaterialResponse and checks each returned KeyPackage is a valid one of that client. */
async function decode(bytes: Uint8Array): Promise<Decoded> {
  const r = decodeExact(KeyMaterialResponse, bytes);
  const clients: Decoded["clients"] = [];
  for (const c of r.clients) {
    if (c.clientStatus === KeyMaterialClientCode.success) {
      const kp = (c as { keyPackage: { bytes: Uint8Array } }).keyPackage.bytes;
      await verifyKeyPackageBytes(kp);
      const s = keyPackageSummary(kp);
      assert.equal(s.clientUri, c.clientUri.uri, "a KeyPackage is listed under its own client");
      clients.push({ status: c.clientStatus, clientUri: c.clientUri.uri, refHex: hexOf(s.keyPackageRef), keyPackage: kp });
    } else clients.push({ status: c.clientStatus, clientUri: c.clientUri.uri });
  }
  return { userStatus: r.userStatus, userUri: r.userUri.uri, clients };
}

async function available(f: Fixture): Promise<Record<string, number>> {
  const counts = await f.keyPackages.counts("alice");
  return { phone: counts.get(PHONE)?.available ?? 0, laptop: counts.get(LAPTOP)?.available ?? 0 };
}

const refs = (items: UploadItem[]) => new Set(items.map((i) => i.refHex));

test("keyMaterial answers success, then partialSuccess, then noCompatibleMaterial with keyMaterialExhausted clients", async () => {
  await withFixture(async (f) => {
    const phone = await keyPackagesOf(PHONE, { count: 2 });
    const laptop = await keyPackagesOf(LAPTOP, { count: 1 });
    await f.keyPackages.upload("alice", [...phone, ...laptop]);
    const service = f.service();

    // Both clients have KeyPackages: success, one KeyPackage per client.
    const first = await decode(await service.answer(await request(ALICE)));
    assert.equal(first.userStatus, KeyMaterialUserCode.success);
    assert.equal(first.userUri, ALICE);
    assert.deepEqual(first.clients.map((c) => [c.clientUri, c.status]).sort(), [
      [LAPTOP, KeyMaterialClientCode.success],
      [PHONE, KeyMaterialClientCode.success],
    ]);
    const p1 = first.clients.find((c) => c.clientUri === PHONE)?.refHex;
    assert.ok(p1 !== undefined && refs(phone).has(p1));
    assert.ok(refs(laptop).has(first.clients.find((c) => c.clientUri === LAPTOP)?.refHex ?? ""));
    assert.deepEqual(await available(f), { phone: 1, laptop: 0 });

    // The laptop is exhausted: partialSuccess, the laptop listed as keyMaterialExhausted.
    const second = await decode(await service.answer(await request(ALICE)));
    assert.equal(second.userStatus, KeyMaterialUserCode.partialSuccess);
    assert.deepEqual(second.clients.find((c) => c.clientUri === LAPTOP), { status: KeyMaterialClientCode.keyMaterialExhausted, clientUri: LAPTOP });
    const p2 = second.clients.find((c) => c.clientUri === PHONE)?.refHex;
    assert.ok(p2 !== undefined && refs(phone).has(p2) && p2 !== p1, "the phone's other KeyPackage");

    // Nothing left: noCompatibleMaterial, every client listed as exhausted.
    const third = await decode(await service.answer(await request(ALICE)));
    assert.equal(third.userStatus, KeyMaterialUserCode.noCompatibleMaterial);
    assert.deepEqual(third.clients.sort((a, b) => a.clientUri.localeCompare(b.clientUri)), [
      { status: KeyMaterialClientCode.keyMaterialExhausted, clientUri: LAPTOP },
      { status: KeyMaterialClientCode.keyMaterialExhausted, clientUri: PHONE },
    ]);
  });
});

test("keyMaterial answers userUnknown for an unknown user and for a user of another domain, and claims nothing", async () => {
  await withFixture(async (f) => {
    await f.keyPackages.upload("alice", [...(await keyPackagesOf(PHONE, { count: 1 })), ...(await keyPackagesOf(LAPTOP, { count: 1 }))]);
    const service = f.service();
    for (const target of [`mimi://${DOMAIN}/u/nobody`, "mimi://b.example/u/alice", "mimi://c.example/u/alice"]) {
      const r = await decode(await service.answer(await request(target)));
      assert.equal(r.userStatus, KeyMaterialUserCode.userUnknown, target);
      assert.equal(r.userUri, target);
      assert.deepEqual(r.clients, [], "userUnknown lists no clients");
    }
    assert.deepEqual(await available(f), { phone: 1, laptop: 1 });
  });
});

test("keyMaterial: a request that accepts none of the stored suites gets noCompatibleMaterial and consumes nothing", async () => {
  await withFixture(async (f) => {
    await f.keyPackages.upload("alice", await keyPackagesOf(PHONE, { count: 1 }));
    // The same request with only suite 3 acceptable (the service does not verify signatures; the
    // hub does, MIMI-PROTO-KM-13).
    const signed = decodeExact(KeyMaterialRequest, await request(ALICE));
    const other = encode(KeyMaterialRequest, { ...signed, acceptableCiphersuites: [3] });
    const r = await decode(await f.service().answer(other));
    assert.equal(r.userStatus, KeyMaterialUserCode.noCompatibleMaterial);
    assert.ok(r.clients.every((c) => c.status !== KeyMaterialClientCode.success && c.keyPackage === undefined));
    // protocol-06 §5.2: the phone has KeyPackages, none compatible (nothingCompatible); the laptop
    // has none at all (keyMaterialExhausted).
    assert.equal(r.clients.find((c) => c.clientUri === PHONE)?.status, KeyMaterialClientCode.nothingCompatible);
    assert.equal(r.clients.find((c) => c.clientUri === LAPTOP)?.status, KeyMaterialClientCode.keyMaterialExhausted);
    assert.deepEqual(await available(f), { phone: 1, laptop: 0 });
  });
});

test("keyMaterial hands out a last-resort KeyPackage only when policy allows it", async () => {
  await withFixture(async (f) => {
    const [lastResort] = await keyPackagesOf(PHONE, { count: 1, lastResort: true });
    assert.ok(lastResort);
    await f.keyPackages.upload("alice", [lastResort]);
    const refused = await decode(await f.service({ allowLastResort: false }).answer(await request(ALICE)));
    assert.equal(refused.userStatus, KeyMaterialUserCode.noCompatibleMaterial);
    for (let i = 0; i < 2; i++) {
      const allowed = await decode(await f.service().answer(await request(ALICE)));
      assert.equal(allowed.userStatus, KeyMaterialUserCode.partialSuccess, "the laptop has nothing");
      assert.equal(allowed.clients.find((c) => c.clientUri === PHONE)?.refHex, lastResort.refHex);
    }
  });
});

test("keyMaterial asks the consent gate, and a refusal claims nothing", async () => {
  await withFixture(async (f) => {
    await f.keyPackages.upload("alice", [...(await keyPackagesOf(PHONE, { count: 1 })), ...(await keyPackagesOf(LAPTOP, { count: 1 }))]);
    const asked: [string, string, string | undefined][] = [];
    const gate = (decision: ConsentDecision): ConsentGate => ({
      keyMaterial: (requester, target, roomId) => {
        asked.push([requester, target, roomId]);
        return Promise.resolve(decision);
      },
    });
    const noConsent = await decode(await f.service({ consent: gate("noConsent") }).answer(await request(ALICE)));
    assert.equal(noConsent.userStatus, KeyMaterialUserCode.noConsent);
    assert.deepEqual(noConsent.clients, []);
    const noRoom = await decode(await f.service({ consent: gate("noConsentForThisRoom") }).answer(await request(ALICE, "")));
    assert.equal(noRoom.userStatus, KeyMaterialUserCode.noConsentForThisRoom);
    assert.deepEqual(asked, [
      [BOB, ALICE, ROOM],
      [BOB, ALICE, undefined],
    ]);
    assert.deepEqual(await available(f), { phone: 1, laptop: 1 });
    const granted = await decode(await f.service({ consent: gate("granted") }).answer(await request(ALICE)));
    assert.equal(granted.userStatus, KeyMaterialUserCode.success);
    assert.deepEqual(await available(f), { phone: 0, laptop: 0 });
  });
});
