import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { isMimiError } from "../../../src/errors.ts";
import { compareKeys, KeyedLock } from "../../../src/storage/index.ts";

test("compareKeys agrees with UTF-8 byte order for any well-formed strings", () => {
  // The memory store sorts with compareKeys; LevelDB and PostgreSQL (COLLATE "C") sort bytes.
  const sign = (n: number): number => Math.sign(n);
  fc.assert(
    fc.property(fc.string({ unit: "binary" }), fc.string({ unit: "binary" }), (a, b) => {
      assert.equal(sign(compareKeys(a, b)), sign(Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"))));
    }),
    { numRuns: 2_000 },
  );
  // The case plain `<` gets wrong: U+E000 sorts before U+1F600 in UTF-8.
  assert.ok(compareKeys("\uE000", "\u{1F600}") < 0);
  assert.ok("\uE000" > "\u{1F600}");
});

test("KeyedLock leaves no state behind after use, errors and timeouts", async () => {
  const lock = new KeyedLock();
  await Promise.all(Array.from({ length: 20 }, (_, i) => lock.run([`k${i % 3}`, "shared"], () => sleep(i % 2))));
  await assert.rejects(lock.run("x", () => Promise.reject(new Error("fn failed"))), /fn failed/);
  const release = await lock.acquire(["a", "b"]);
  assert.equal(lock.activeKeys, 2);
  await assert.rejects(lock.acquire(["b", "c"], { timeoutMs: 10 }), (err) => isMimiError(err, "MIMI_ERR_STORAGE_LOCK_TIMEOUT"));
  await assert.rejects(lock.acquire(["0", "a"], { timeoutMs: 10 }), (err) => isMimiError(err, "MIMI_ERR_STORAGE_LOCK_TIMEOUT"));
  assert.equal(lock.activeKeys, 2, "timed-out waiters gave back what they took and left the queues");
  release();
  release(); // a second call is harmless
  assert.equal(lock.activeKeys, 0);
  await assert.rejects(lock.acquire("k", { timeoutMs: -1 }), (err) => isMimiError(err, "MIMI_ERR_INTERNAL"));
});

test("KeyedLock hands a released key to the next waiter before any newcomer", async () => {
  const lock = new KeyedLock();
  const order: string[] = [];
  const release = await lock.acquire("k");
  const waiter = lock.run("k", () => {
    order.push("waiter");
    return Promise.resolve();
  });
  release();
  // A newcomer arriving right after the release must queue behind the waiter.
  const newcomer = lock.run("k", () => {
    order.push("newcomer");
    return Promise.resolve();
  });
  await Promise.all([waiter, newcomer]);
  assert.deepEqual(order, ["waiter", "newcomer"]);
});
