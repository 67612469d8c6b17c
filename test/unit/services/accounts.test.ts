// Accounts (src/accounts/accounts.ts): local users of the client API, their bearer tokens (kept
// only as SHA-256) and their devices. Memory store; every assertion reads what was stored.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Accounts } from "../../../src/accounts/accounts.ts";
import { MimiError } from "../../../src/errors.ts";
import { cborCodec } from "../../../src/storage/index.ts";
import type { Store } from "../../../src/storage/index.ts";
import { rejectsWith, withStore } from "./helpers.ts";

const DOMAIN = "a.example";

function withAccounts(fn: (accounts: Accounts, store: Store) => Promise<void>): Promise<void> {
  return withStore((store) => fn(new Accounts(store, DOMAIN), store));
}

/** Every key and value of every namespace, raw. */
async function dump(store: Store): Promise<{ ns: string; key: string; value: Uint8Array }[]> {
  const out: { ns: string; key: string; value: Uint8Array }[] = [];
  for (const ns of store.namespaces) for await (const { key, value } of store.namespace(ns).iterate()) out.push({ ns, key, value });
  return out;
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();

test("accounts: a token is shown once and stored only as its SHA-256", async () => {
  await withAccounts(async (accounts, store) => {
    const { userUri, token } = await accounts.createUser("alice");
    assert.equal(userUri, `mimi://${DOMAIN}/u/alice`);
    assert.ok(token.length >= 40, "a token carries enough randomness");
    const tokenBytes = Buffer.from(token, "utf8");
    const secret = Buffer.from(token.slice(token.indexOf("_") + 1), "utf8");
    const entries = await dump(store);
    assert.ok(entries.length > 0);
    for (const { ns, key, value } of entries) {
      assert.ok(!key.includes(token) && !key.includes(secret.toString()), `${ns}/${key}: the token is in a key`);
      assert.equal(Buffer.from(value).indexOf(tokenBytes), -1, `${ns}/${key}: the token is in a value`);
      assert.equal(Buffer.from(value).indexOf(secret), -1, `${ns}/${key}: the token's random part is in a value`);
    }
    // What is stored instead: the hash, as the user's tokenHash and as the lookup key.
    const hash = sha256(token);
    const user = await accounts.getUser("alice");
    assert.ok(user);
    assert.deepEqual(Buffer.from(user.tokenHash), hash);
    assert.ok(entries.some((e) => e.ns === "accounts" && e.key === `token/${hash.toString("hex")}`));

    // Two users get different tokens.
    const bob = await accounts.createUser("bob");
    assert.notEqual(bob.token, token);
  });
});

test("accounts: authenticate accepts the right token and nothing else", async () => {
  await withAccounts(async (accounts, store) => {
    const alice = await accounts.createUser("alice");
    const bob = await accounts.createUser("bob");
    assert.equal((await accounts.authenticate(alice.token))?.userUri, alice.userUri);
    assert.equal((await accounts.authenticate(bob.token))?.userUri, bob.userUri);

    const flip = (t: string, i: number) => t.slice(0, i) + (t[i] === "A" ? "B" : "A") + t.slice(i + 1);
    const wrong = [
      undefined,
      "",
      alice.token.slice(0, -1),
      `${alice.token}x`,
      flip(alice.token, alice.token.length - 1),
      flip(alice.token, 10),
      alice.token.toUpperCase(),
      alice.token.slice("mimi_".length), // without its prefix
      ` ${alice.token}`,
      `Bearer ${alice.token}`,
      "mimi_",
      `mimi_${"A".repeat(300)}`,
      Buffer.from(sha256(alice.token)).toString("hex"), // the stored hash is not a token
      `mimi_${Buffer.from(sha256(alice.token)).toString("hex")}`,
    ];
    for (const t of wrong) assert.equal(await accounts.authenticate(t), undefined, `accepted ${JSON.stringify(t)}`);

    // A token index entry pointing at a user whose hash differs is not trusted (defence in depth:
    // the user record's hash is compared too).
    const forged = "mimi_forged-token-value-0123456789";
    await store.namespace("accounts").typed(cborCodec<string>()).put(`token/${sha256(forged).toString("hex")}`, "alice");
    assert.equal(await accounts.authenticate(forged), undefined);
    // …and the real tokens still work.
    assert.equal((await accounts.authenticate(alice.token))?.name, "alice");
  });
});

test("accounts: a duplicate user is MIMI_ERR_CLIENT_USER_EXISTS, even when created concurrently, and the first token keeps working", async () => {
  await withAccounts(async (accounts) => {
    const first = await accounts.createUser("alice");
    await rejectsWith(accounts.createUser("alice"), "MIMI_ERR_CLIENT_USER_EXISTS");
    assert.equal((await accounts.authenticate(first.token))?.name, "alice");

    const results = await Promise.allSettled(Array.from({ length: 8 }, () => accounts.createUser("bob")));
    const ok = results.filter((r) => r.status === "fulfilled");
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(ok.length, 1, "exactly one concurrent creation wins");
    for (const f of failed) assert.ok(f.reason instanceof MimiError && f.reason.code === "MIMI_ERR_CLIENT_USER_EXISTS");
    const winner = ok[0];
    assert.ok(winner?.status === "fulfilled");
    assert.equal((await accounts.authenticate(winner.value.token))?.name, "bob");
    assert.deepEqual((await accounts.listUsers()).map((u) => u.name).sort(), ["alice", "bob"]);
  });
});

test("accounts: bad user names are refused and nothing is stored", async () => {
  await withAccounts(async (accounts, store) => {
    const bad = ["", "Alice", "-bob", ".bob", "_bob", "bo b", "bo/b", "bo%2fb", "bób", "a".repeat(65), "bob\n", "bob:x", "../bob"];
    for (const name of bad) {
      assert.equal(Accounts.validName(name), false, name);
      await rejectsWith(accounts.createUser(name), "MIMI_ERR_CLIENT_BAD_REQUEST");
    }
    assert.deepEqual(await dump(store).then((e) => e.filter((x) => x.ns === "accounts")), []);
    // The edges of the alphabet are accepted.
    for (const name of ["a", "0", "a".repeat(64), "a.b_c-d9"]) {
      assert.equal(Accounts.validName(name), true, name);
      const { userUri } = await accounts.createUser(name);
      assert.equal(userUri, `mimi://${DOMAIN}/u/${name}`);
    }
  });
});

test("accounts: devices are idempotent per ID, generated when absent, and validated", async () => {
  await withAccounts(async (accounts) => {
    await accounts.createUser("alice");
    const phone = await accounts.addDevice("alice", "phone");
    assert.equal(phone.clientUri, `mimi://${DOMAIN}/d/alice/phone`);
    const again = await accounts.addDevice("alice", "phone");
    assert.deepEqual(again, phone, "the same record, not a new one");
    const concurrent = await Promise.all(Array.from({ length: 5 }, () => accounts.addDevice("alice", "laptop")));
    assert.equal(new Set(concurrent.map((d) => d.clientUri)).size, 1);
    const generated = await accounts.addDevice("alice");
    const generated2 = await accounts.addDevice("alice");
    assert.notEqual(generated.deviceId, generated2.deviceId);
    assert.match(generated.clientUri, /^mimi:\/\/a\.example\/d\/alice\/[0-9a-f]{16}$/);
    const devices = await accounts.devices("alice");
    assert.deepEqual(devices.map((d) => d.clientUri).sort(), [phone.clientUri, concurrent[0]?.clientUri, generated.clientUri, generated2.clientUri].sort());
    assert.equal(await accounts.hasDevice("alice", phone.clientUri), true);
    assert.equal(await accounts.hasDevice("alice", `mimi://${DOMAIN}/d/bob/phone`), false);
    // A device needs an existing user.
    await rejectsWith(accounts.addDevice("bob", "phone"), "MIMI_ERR_CLIENT_UNAUTHENTICATED");
    // Another user's devices are separate, even with the same device ID.
    await accounts.createUser("bob");
    const bobPhone = await accounts.addDevice("bob", "phone");
    assert.notEqual(bobPhone.clientUri, phone.clientUri);
    assert.equal(await accounts.hasDevice("alice", bobPhone.clientUri), false);
    assert.equal((await accounts.devices("alice")).length, 4);

    for (const id of ["", "a/b", "a b", "-x", "x".repeat(65), "ü"]) await rejectsWith(accounts.addDevice("alice", id), "MIMI_ERR_CLIENT_BAD_REQUEST");
    assert.equal((await accounts.devices("alice")).length, 4);
  });
});
