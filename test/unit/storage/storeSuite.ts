// The one test suite every Store implementation must pass unchanged (DESIGN.md section 6).
//
// levelStore.test.ts and memoryStore.test.ts call runStoreSuite with a fixture; the PostgreSQL
// store will do the same with a fixture that creates and drops a scratch schema. Nothing here may
// assume a backend: behaviour that only one backend has (LevelDB's LOCK file, file modes) is
// tested in that backend's own file.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { isMimiError, type MimiErrorCode } from "../../../src/errors.ts";
import { createLogger } from "../../../src/log.ts";
import {
  jsonCodec,
  LATEST_SCHEMA_VERSION,
  MAX_KEY_BYTES,
  META_NAMESPACE,
  SCHEMA_VERSION_KEY,
  type BatchOp,
  type Migration,
  type Store,
  type StoreOptions,
} from "../../../src/storage/index.ts";

export type SuiteOpenOptions = Pick<StoreOptions, "namespaces" | "migrations" | "lockTimeoutMs" | "logger">;

/** One scratch location (a temp folder, an in-memory database, a scratch schema). */
export interface StoreFixture {
  /** Opens a store on this fixture's data; opening again after close() sees the same data. */
  open(options?: SuiteOpenOptions): Promise<Store>;
  /** Removes the data. Every store opened from the fixture is closed before this is called. */
  dispose(): Promise<void>;
}

export type MakeStoreFixture = () => Promise<StoreFixture>;

const NAMESPACES = ["alpha", "beta"];
const enc = (text: string): Uint8Array => new TextEncoder().encode(text);
const dec = (bytes: Uint8Array | undefined): string | undefined => (bytes === undefined ? undefined : new TextDecoder().decode(bytes));

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

function hasCode(code: MimiErrorCode): (err: unknown) => true {
  return (err: unknown) => {
    assert.ok(isMimiError(err), `expected MimiError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  };
}

/** Sorts like LevelDB and PostgreSQL COLLATE "C": by UTF-8 bytes. */
function byteOrder(keys: readonly string[]): string[] {
  return [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
}

function migration(version: number, name: string, up: Migration["up"]): Migration {
  return { version, name, up };
}

export function runStoreSuite(name: string, makeFixture: MakeStoreFixture): void {
  /** Runs `fn` with a fresh fixture, closes every store it opened and disposes of the fixture. */
  async function withFixture(fn: (open: (options?: SuiteOpenOptions) => Promise<Store>) => Promise<void>): Promise<void> {
    const fixture = await makeFixture();
    const opened: Store[] = [];
    const open = async (options: SuiteOpenOptions = {}): Promise<Store> => {
      const store = await fixture.open({ namespaces: NAMESPACES, ...options });
      opened.push(store);
      return store;
    };
    try {
      await fn(open);
    } finally {
      for (const store of opened) await store.close();
      await fixture.dispose();
    }
  }

  const withStore = (fn: (store: Store) => Promise<void>, options?: SuiteOpenOptions): Promise<void> =>
    withFixture(async (open) => fn(await open(options)));

  describe(`${name}: Store contract`, () => {
    // ---- basic operations ---------------------------------------------------------------------

    test("put, get, has and del round-trip; missing keys read as undefined", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        assert.equal(await ns.get("k"), undefined);
        assert.equal(await ns.has("k"), false);
        await ns.put("k", enc("v1"));
        assert.equal(dec(await ns.get("k")), "v1");
        assert.equal(await ns.has("k"), true);
        await ns.put("k", enc("v2"), { sync: true });
        assert.equal(dec(await ns.get("k")), "v2");
        await ns.del("k");
        assert.equal(await ns.get("k"), undefined);
        assert.equal(await ns.has("k"), false);
        await ns.del("never-written"); // deleting an absent key is not an error
      }));

    test("an empty value is stored and is distinct from an absent key", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        await ns.put("empty", new Uint8Array(0));
        assert.equal(await ns.has("empty"), true);
        assert.deepEqual(await ns.get("empty"), new Uint8Array(0));
        assert.deepEqual(await ns.getMany(["empty", "absent"]), [new Uint8Array(0), undefined]);
      }));

    test("getMany returns values in the order asked, undefined where absent", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        await store.batch([ns.putOp("a", enc("1")), ns.putOp("c", enc("3"))]);
        const values = await ns.getMany(["c", "b", "a", "c"]);
        assert.deepEqual(values.map(dec), ["3", undefined, "1", "3"]);
        assert.deepEqual(await ns.getMany([]), []);
      }));

    test("binary values round-trip exactly, as plain Uint8Array, copied in and out", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        const all = Uint8Array.from({ length: 256 }, (_, i) => i);
        const big = new Uint8Array(512 * 1024).map((_, i) => (i * 7919) & 0xff);
        await ns.put("all", all);
        await ns.put("big", big);
        const gotAll = await ns.get("all");
        assert.ok(gotAll !== undefined);
        assert.equal(Object.getPrototypeOf(gotAll), Uint8Array.prototype, "values are plain Uint8Array, not Buffer");
        assert.deepEqual(gotAll, all);
        assert.deepEqual(await ns.get("big"), big);
        const [viaIterate] = await collect(ns.iterate({ prefix: "all" }));
        assert.ok(viaIterate);
        assert.equal(Object.getPrototypeOf(viaIterate.value), Uint8Array.prototype);
        assert.deepEqual(viaIterate.value, all);
        // The store keeps its own copy: editing the caller's arrays changes nothing stored.
        all[0] = 0xaa;
        gotAll[1] = 0xbb;
        const again = await ns.get("all");
        assert.equal(again?.[0], 0);
        assert.equal(again?.[1], 1);
      }));

    test("namespaces are isolated from each other", () =>
      withStore(async (store) => {
        const alpha = store.namespace("alpha");
        const beta = store.namespace("beta");
        await alpha.put("same", enc("in alpha"));
        await beta.put("same", enc("in beta"));
        await beta.put("only-beta", enc("x"));
        assert.equal(dec(await alpha.get("same")), "in alpha");
        assert.equal(dec(await beta.get("same")), "in beta");
        assert.equal(await alpha.has("only-beta"), false);
        assert.deepEqual(await collect(alpha.keys()), ["same"]);
        assert.deepEqual(await collect(beta.keys()), ["only-beta", "same"]);
        assert.deepEqual([...store.namespaces], ["alpha", "beta", META_NAMESPACE].sort());
        assert.equal(store.namespace("alpha"), alpha, "namespace views are cached");
      }));

    test("unknown namespaces and invalid namespace names are refused", () =>
      withFixture(async (open) => {
        const store = await open();
        assert.throws(() => store.namespace("gamma"), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
        await assert.rejects(store.batch([{ type: "put", namespace: "gamma", key: "k", value: enc("v") }]), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
        await assert.rejects(store.compareAndSet("gamma", "k", undefined, enc("v")), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
        await store.close();
        for (const bad of ["", "Upper", "has space", "a!b", "9lives", "x".repeat(64)]) {
          await assert.rejects(open({ namespaces: [bad] }), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"), bad);
        }
      }));

    test("keys are validated: non-empty, well-formed, no U+0000, at most MAX_KEY_BYTES UTF-8 bytes", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        const longest = "x".repeat(MAX_KEY_BYTES);
        const longestMultiByte = "€".repeat(Math.floor(MAX_KEY_BYTES / 3)); // 3 bytes each
        await ns.put(longest, enc("ok"));
        await ns.put(longestMultiByte, enc("ok"));
        assert.equal(dec(await ns.get(longest)), "ok");
        const bad: unknown[] = ["", "x".repeat(MAX_KEY_BYTES + 1), "€".repeat(Math.floor(MAX_KEY_BYTES / 3) + 1), "lone\ud800", "\udc00", "nul\u0000", 42, undefined];
        for (const key of bad) {
          const k = key as string;
          await assert.rejects(ns.get(k), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
          await assert.rejects(ns.has(k), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
          await assert.rejects(ns.getMany(["fine", k]), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
          await assert.rejects(ns.put(k, enc("v")), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
          await assert.rejects(ns.del(k), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
          await assert.rejects(store.compareAndSet("alpha", k, undefined, enc("v")), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
        }
        await assert.rejects(ns.put("k", "not bytes" as unknown as Uint8Array), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
        await assert.rejects(collect(ns.iterate({ gte: "bad\ud800" })), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
        await assert.rejects(collect(ns.iterate({ limit: -1 })), hasCode("MIMI_ERR_INTERNAL"));
        assert.deepEqual(await collect(ns.keys()), byteOrder([longest, longestMultiByte]), "nothing invalid was written");
      }));

    // ---- ordering and ranges ------------------------------------------------------------------

    test("iteration is in UTF-8 byte order, including non-ASCII and astral keys", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        const keys = ["b", "a", "B", "ab", "aa", "a b", "é", "z", "~", "\uE000", "\u{1F600}", "\uFFFD", "日本", "a/1", "a/10", "a/2"];
        // Written in one batch in scrambled order.
        await store.batch(keys.map((k, i) => ns.putOp(k, Uint8Array.of(i))));
        const expected = byteOrder(keys);
        // JavaScript's own string order differs for these two; the store must follow the bytes.
        assert.ok(expected.indexOf("\uE000") < expected.indexOf("\u{1F600}"));
        assert.deepEqual(await collect(ns.keys()), expected);
        const entries = await collect(ns.iterate());
        assert.deepEqual(entries.map((e) => e.key), expected);
        for (const { key, value } of entries) assert.deepEqual(value, Uint8Array.of(keys.indexOf(key)));
        assert.deepEqual(await collect(ns.keys({ reverse: true })), [...expected].reverse());
      }));

    test("range bounds gt, gte, lt, lte, limit and reverse", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        const keys = ["k1", "k2", "k3", "k4", "k5"];
        await store.batch(keys.map((k) => ns.putOp(k, enc(k))));
        const range = (r: Parameters<typeof ns.keys>[0]) => collect(ns.keys(r));
        assert.deepEqual(await range({ gt: "k2" }), ["k3", "k4", "k5"]);
        assert.deepEqual(await range({ gte: "k2" }), ["k2", "k3", "k4", "k5"]);
        assert.deepEqual(await range({ lt: "k4" }), ["k1", "k2", "k3"]);
        assert.deepEqual(await range({ lte: "k4" }), ["k1", "k2", "k3", "k4"]);
        assert.deepEqual(await range({ gt: "k1", lt: "k5" }), ["k2", "k3", "k4"]);
        assert.deepEqual(await range({ gte: "k2", lte: "k4", reverse: true }), ["k4", "k3", "k2"]);
        assert.deepEqual(await range({ gt: "k0", limit: 2 }), ["k1", "k2"]);
        assert.deepEqual(await range({ reverse: true, limit: 1 }), ["k5"], "limit counts from the end when reversed");
        assert.deepEqual(await range({ limit: 0 }), []);
        assert.deepEqual(await range({ gt: "k4", lt: "k2" }), [], "an empty range is not an error");
        // Bounds between and beyond stored keys.
        assert.deepEqual(await range({ gt: "k2~", lte: "k9" }), ["k3", "k4", "k5"]);
        // When both gt and gte are given, both must hold.
        assert.deepEqual(await range({ gt: "k3", gte: "k2" }), ["k4", "k5"]);
        assert.deepEqual(await range({ lt: "k3", lte: "k4" }), ["k1", "k2"]);
        const values = await collect(ns.iterate({ gte: "k4" }));
        assert.deepEqual(values.map((e) => [e.key, dec(e.value)]), [["k4", "k4"], ["k5", "k5"]]);
      }));

    test("prefix scans, alone and combined with bounds, limit and reverse", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        const keys = ["room", "room/", "room/a/1", "room/a/2", "room/a/3", "room/b/1", "room0", "roon", "roo", "é/1", "é/2", "ê", "\u{1F600}/x", "\u{1F600}\u{1F600}"];
        await store.batch(keys.map((k) => ns.putOp(k, enc(k))));
        const range = (r: Parameters<typeof ns.keys>[0]) => collect(ns.keys(r));
        assert.deepEqual(await range({ prefix: "room/a/" }), ["room/a/1", "room/a/2", "room/a/3"]);
        assert.deepEqual(await range({ prefix: "room" }), byteOrder(["room", "room/", "room/a/1", "room/a/2", "room/a/3", "room/b/1", "room0"]));
        assert.deepEqual(await range({ prefix: "room/", reverse: true, limit: 2 }), ["room/b/1", "room/a/3"]);
        assert.deepEqual(await range({ prefix: "room/a/", gt: "room/a/1" }), ["room/a/2", "room/a/3"]);
        assert.deepEqual(await range({ prefix: "room/a/", lt: "room/a/3" }), ["room/a/1", "room/a/2"]);
        assert.deepEqual(await range({ prefix: "room/a/", gte: "room/a/2", reverse: true }), ["room/a/3", "room/a/2"]);
        assert.deepEqual(await range({ prefix: "room/a/", gte: "a", lte: "zzz" }), ["room/a/1", "room/a/2", "room/a/3"], "looser bounds do not widen the prefix");
        assert.deepEqual(await range({ prefix: "room/a/", gt: "room/b" }), []);
        assert.deepEqual(await range({ prefix: "é" }), ["é/1", "é/2"]);
        assert.deepEqual(await range({ prefix: "\u{1F600}" }), ["\u{1F600}/x", "\u{1F600}\u{1F600}"]);
        assert.deepEqual(await range({ prefix: "nothing" }), []);
        assert.deepEqual(await range({ prefix: "" }), byteOrder(keys), "an empty prefix selects everything");
      }));

    test("leaving a scan early releases it; the store keeps working", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        await store.batch(Array.from({ length: 100 }, (_, i) => ns.putOp(`k${String(i).padStart(3, "0")}`, enc(String(i)))));
        for (let round = 0; round < 5; round++) {
          let seen = 0;
          for await (const entry of ns.iterate()) {
            assert.equal(entry.key, "k000");
            seen++;
            break;
          }
          assert.equal(seen, 1);
        }
        await ns.put("k999", enc("after"));
        assert.equal((await collect(ns.keys())).length, 101);
      }));

    // ---- batches ------------------------------------------------------------------------------

    test("batch writes across namespaces atomically and applies ops in order", () =>
      withStore(async (store) => {
        const alpha = store.namespace("alpha");
        const beta = store.namespace("beta");
        await alpha.put("gone", enc("x"));
        await store.batch([
          alpha.putOp("a1", enc("1")),
          beta.putOp("b1", enc("2")),
          alpha.delOp("gone"),
          alpha.putOp("then-deleted", enc("x")),
          alpha.delOp("then-deleted"),
          beta.delOp("then-put"),
          beta.putOp("then-put", enc("last")),
          alpha.putOp("twice", enc("first")),
          alpha.putOp("twice", enc("second")),
        ]);
        assert.deepEqual(await collect(alpha.keys()), ["a1", "twice"]);
        assert.deepEqual(await collect(beta.keys()), ["b1", "then-put"]);
        assert.equal(dec(await alpha.get("twice")), "second");
        assert.equal(dec(await beta.get("then-put")), "last");
        await store.batch([]); // an empty batch is a no-op
        await store.batch([alpha.putOp("unsynced", enc("u"))], { sync: false });
        assert.equal(dec(await alpha.get("unsynced")), "u");
      }));

    test("a batch with one invalid op writes nothing", () =>
      withStore(async (store) => {
        const alpha = store.namespace("alpha");
        await alpha.put("existing", enc("before"));
        const good: BatchOp[] = [alpha.putOp("new", enc("n")), alpha.putOp("existing", enc("after")), alpha.delOp("existing")];
        const invalid: { op: BatchOp; code: MimiErrorCode }[] = [
          { op: alpha.putOp("", enc("x")), code: "MIMI_ERR_STORAGE_INVALID_KEY" },
          { op: alpha.putOp("bad\ud800", enc("x")), code: "MIMI_ERR_STORAGE_INVALID_KEY" },
          { op: { type: "put", namespace: "nope", key: "k", value: enc("x") }, code: "MIMI_ERR_STORAGE_INVALID_KEY" },
          { op: { type: "put", namespace: "beta", key: "k", value: "text" as unknown as Uint8Array }, code: "MIMI_ERR_STORAGE_INVALID_KEY" },
          { op: { type: "merge", namespace: "beta", key: "k" } as unknown as BatchOp, code: "MIMI_ERR_INTERNAL" },
        ];
        for (const { op, code } of invalid) {
          await assert.rejects(store.batch([...good, op]), hasCode(code));
          await assert.rejects(store.batch([op, ...good]), hasCode(code));
        }
        assert.deepEqual(await collect(alpha.keys()), ["existing"]);
        assert.equal(dec(await alpha.get("existing")), "before");
        assert.deepEqual(await collect(store.namespace("beta").keys()), []);
      }));

    // ---- typed values -------------------------------------------------------------------------

    test("typed JSON views encode, decode and check shapes", () =>
      withStore(async (store) => {
        interface Room {
          id: string;
          epoch: number;
        }
        const isRoom = (v: unknown): v is Room =>
          typeof v === "object" && v !== null && typeof (v as Room).id === "string" && typeof (v as Room).epoch === "number";
        const rooms = store.namespace("alpha").typed(jsonCodec(isRoom));
        await rooms.put("r1", { id: "r1", epoch: 3 });
        await store.batch([rooms.putOp("r2", { id: "r2", epoch: 0 }), rooms.delOp("r1")]);
        await rooms.put("r1", { id: "r1", epoch: 4 });
        assert.deepEqual(await rooms.get("r1"), { id: "r1", epoch: 4 });
        assert.equal(await rooms.get("r3"), undefined);
        assert.equal(await rooms.has("r2"), true);
        assert.deepEqual(await rooms.getMany(["r2", "r3"]), [{ id: "r2", epoch: 0 }, undefined]);
        assert.deepEqual(await collect(rooms.iterate()), [
          { key: "r1", value: { id: "r1", epoch: 4 } },
          { key: "r2", value: { id: "r2", epoch: 0 } },
        ]);
        assert.deepEqual(await collect(rooms.keys({ reverse: true })), ["r2", "r1"]);
        // The raw bytes are UTF-8 JSON, so the CAS `expected` can be built from a typed value.
        assert.deepEqual(await store.namespace("alpha").get("r2"), rooms.encode({ id: "r2", epoch: 0 }));
        await rooms.del("r2");
        assert.equal(await rooms.has("r2"), false);

        const raw = store.namespace("alpha");
        await raw.put("broken", enc("{not json"));
        await raw.put("wrong-shape", enc('{"id":1}'));
        await assert.rejects(rooms.get("broken"), hasCode("MIMI_ERR_STORAGE_IO"));
        await assert.rejects(rooms.get("wrong-shape"), hasCode("MIMI_ERR_STORAGE_IO"));
        const anything = raw.typed(jsonCodec<unknown>());
        assert.throws(() => anything.encode(undefined), hasCode("MIMI_ERR_INTERNAL"));
        assert.deepEqual(await anything.get("wrong-shape"), { id: 1 });
      }));

    // ---- locks --------------------------------------------------------------------------------

    test("withLock serializes read-modify-write: 50 concurrent increments end at 50", () =>
      withStore(async (store) => {
        const counters = store.namespace("alpha").typed(jsonCodec<number>());
        let active = 0;
        let maxActive = 0;
        const increment = () =>
          store.withLock("room:r1", async () => {
            active++;
            maxActive = Math.max(maxActive, active);
            const current = (await counters.get("count")) ?? 0;
            await sleep(0); // give other tasks every chance to interleave
            await counters.put("count", current + 1);
            active--;
          });
        await Promise.all(Array.from({ length: 50 }, increment));
        assert.equal(await counters.get("count"), 50);
        assert.equal(maxActive, 1);
      }));

    test("withLock returns fn's result, passes its error through and releases the lock either way", () =>
      withStore(async (store) => {
        assert.equal(await store.withLock(["a", "b"], () => Promise.resolve(42)), 42);
        const boom = new Error("boom");
        await assert.rejects(
          store.withLock("a", () => Promise.reject(boom)),
          (err) => err === boom,
        );
        // Both keys are free again: this would time out otherwise.
        assert.equal(await store.withLock(["b", "a"], () => Promise.resolve("free"), { timeoutMs: 500 }), "free");
        await assert.rejects(store.withLock([], () => Promise.resolve()), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
        await assert.rejects(store.withLock("", () => Promise.resolve()), hasCode("MIMI_ERR_STORAGE_INVALID_KEY"));
      }));

    test("withLock serves waiters first come, first served", () =>
      withStore(async (store) => {
        let open!: () => void;
        const gate = new Promise<void>((resolve) => (open = resolve));
        const holder = store.withLock("k", () => gate);
        const order: number[] = [];
        const waiters = Array.from({ length: 8 }, (_, i) =>
          store.withLock(i % 2 === 0 ? "k" : ["k", `other${i}`], async () => {
            order.push(i);
            await sleep(1);
          }),
        );
        await sleep(20);
        assert.deepEqual(order, [], "nobody runs while the key is held");
        open();
        await Promise.all([holder, ...waiters]);
        assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7]);
      }));

    test("withLock times out with MIMI_ERR_STORAGE_LOCK_TIMEOUT and gives back keys it had taken", () =>
      withStore(
        async (store) => {
          let open!: () => void;
          const gate = new Promise<void>((resolve) => (open = resolve));
          const holder = store.withLock("b", () => gate);
          let ran = false;
          const started = Date.now();
          // Takes "a" first (sorted order), then waits for "b".
          await assert.rejects(
            store.withLock(["b", "a"], () => {
              ran = true;
              return Promise.resolve();
            }, { timeoutMs: 40 }),
            hasCode("MIMI_ERR_STORAGE_LOCK_TIMEOUT"),
          );
          assert.ok(Date.now() - started >= 35, "waited about the timeout");
          assert.equal(ran, false);
          // "a" was released on timeout.
          assert.equal(await store.withLock("a", () => Promise.resolve("a is free"), { timeoutMs: 100 }), "a is free");
          // The store-wide default (lockTimeoutMs: 60 at open) applies without a per-call option.
          await assert.rejects(store.withLock("b", () => Promise.resolve()), hasCode("MIMI_ERR_STORAGE_LOCK_TIMEOUT"));
          open();
          await holder;
          // The timed-out waiters left the queue: "b" is free at once.
          assert.equal(await store.withLock("b", () => Promise.resolve("b is free"), { timeoutMs: 100 }), "b is free");
        },
        { lockTimeoutMs: 60 },
      ));

    test("overlapping key sets taken in any order do not deadlock", () =>
      withStore(async (store) => {
        const sets = [["a", "b"], ["b", "c"], ["c", "a"], ["c", "b", "a"], ["b", "a"], ["a", "c"]];
        const holders = new Map<string, number>();
        let runs = 0;
        const task = (keys: string[], i: number) =>
          store.withLock(
            keys,
            async () => {
              for (const k of keys) {
                assert.equal(holders.get(k), undefined, `key ${k} held twice`);
                holders.set(k, i);
              }
              await sleep(i % 3);
              for (const k of keys) holders.delete(k);
              runs++;
            },
            { timeoutMs: 5_000 },
          );
        await Promise.all(Array.from({ length: 60 }, (_, i) => task(sets[i % sets.length] as string[], i)));
        assert.equal(runs, 60);
      }));

    // ---- compareAndSet ------------------------------------------------------------------------

    test("compareAndSet writes only when the current value matches", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        // expected undefined: create only if absent.
        assert.deepEqual(await store.compareAndSet("alpha", "epoch", undefined, enc("1")), { ok: true });
        assert.deepEqual(await store.compareAndSet("alpha", "epoch", undefined, enc("x")), { ok: false, current: enc("1") });
        assert.deepEqual(await store.compareAndSet("alpha", "epoch", enc("0"), enc("x")), { ok: false, current: enc("1") });
        assert.equal(dec(await ns.get("epoch")), "1");
        assert.deepEqual(await store.compareAndSet("alpha", "epoch", enc("1"), enc("2"), [], { sync: false }), { ok: true });
        assert.equal(dec(await ns.get("epoch")), "2");
        // next undefined deletes.
        assert.deepEqual(await store.compareAndSet("alpha", "epoch", enc("2"), undefined), { ok: true });
        assert.equal(await ns.has("epoch"), false);
        assert.deepEqual(await store.compareAndSet("alpha", "epoch", enc("2"), enc("3")), { ok: false, current: undefined });
        // An empty value is present, not absent.
        await ns.put("empty", new Uint8Array(0));
        assert.deepEqual(await store.compareAndSet("alpha", "empty", undefined, enc("x")), { ok: false, current: new Uint8Array(0) });
        assert.deepEqual(await store.compareAndSet("alpha", "empty", new Uint8Array(0), enc("x")), { ok: true });
        assert.equal(dec(await ns.get("empty")), "x");
      }));

    test("compareAndSet writes its extra ops only when it wins, atomically", () =>
      withStore(async (store) => {
        const alpha = store.namespace("alpha");
        const beta = store.namespace("beta");
        await alpha.put("epoch", enc("5"));
        await beta.put("stale", enc("s"));
        const extra = [beta.putOp("commit/6", enc("c6")), beta.delOp("stale"), alpha.putOp("state", enc("after 6"))];
        assert.equal((await store.compareAndSet("alpha", "epoch", enc("4"), enc("5'"), extra)).ok, false);
        assert.deepEqual(await collect(beta.keys()), ["stale"], "a lost compareAndSet writes nothing");
        assert.equal(await alpha.has("state"), false);
        assert.equal((await store.compareAndSet("alpha", "epoch", enc("5"), enc("6"), extra)).ok, true);
        assert.deepEqual(await collect(beta.keys()), ["commit/6"]);
        assert.equal(dec(await alpha.get("state")), "after 6");
        // An invalid extra op fails the whole call before anything is written.
        await assert.rejects(
          store.compareAndSet("alpha", "epoch", enc("6"), enc("7"), [beta.putOp("commit/7", enc("c7")), beta.putOp("", enc("x"))]),
          hasCode("MIMI_ERR_STORAGE_INVALID_KEY"),
        );
        assert.equal(dec(await alpha.get("epoch")), "6");
        assert.equal(await beta.has("commit/7"), false);
      }));

    test("20 concurrent compareAndSet from the same expected value: exactly one wins", () =>
      withStore(async (store) => {
        const alpha = store.namespace("alpha");
        const beta = store.namespace("beta");
        await alpha.put("epoch", enc("7"));
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => store.compareAndSet("alpha", "epoch", enc("7"), enc(`8:${i}`), [beta.putOp(`commit/8/${i}`, enc(String(i)))])),
        );
        const winners = results.flatMap((r, i) => (r.ok ? [i] : []));
        assert.equal(winners.length, 1, `winners: ${winners.join(",")}`);
        const winner = winners[0] as number;
        assert.equal(dec(await alpha.get("epoch")), `8:${winner}`);
        assert.deepEqual(await collect(beta.keys()), [`commit/8/${winner}`], "only the winner's commit is stored");
        for (const r of results) if (!r.ok) assert.equal(dec(r.current), `8:${winner}`, "losers learn the winning value");
      }));

    test("a compareAndSet retry loop makes 50 concurrent increments end at 50", () =>
      withStore(async (store) => {
        const counters = store.namespace("alpha").typed(jsonCodec<number>());
        const increment = async (): Promise<number> => {
          for (let attempt = 1; ; attempt++) {
            const raw = await store.namespace("alpha").get("count");
            const current = raw === undefined ? 0 : counters.codec.decode(raw);
            const result = await store.compareAndSet("alpha", "count", raw, counters.encode(current + 1), [], { sync: false });
            if (result.ok) return attempt;
          }
        };
        const attempts = await Promise.all(Array.from({ length: 50 }, increment));
        assert.equal(await counters.get("count"), 50);
        assert.ok(attempts.every((n) => n >= 1));
      }));

    test("plain writes racing a compareAndSet on the same key are never lost", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        // Whatever the interleaving, the result must match a serial order: either the
        // compareAndSet ran first (ok, then the put overwrote it) or the put did (compareAndSet
        // fails). Both end with the put's value; ending with the compareAndSet's value means it
        // read the old value and then overwrote a newer write.
        for (let round = 0; round < 30; round++) {
          const key = `race${round}`;
          await ns.put(key, enc("A"));
          const [cas] = await Promise.all([
            store.compareAndSet("alpha", key, enc("A"), enc("C"), [], { sync: false }),
            ns.put(key, enc("B")),
            store.batch([ns.putOp(`${key}/other`, enc("x")), ns.putOp(key, enc("B"))], { sync: false }),
          ]);
          assert.equal(dec(await ns.get(key)), "B", `round ${round}: a write was lost (cas ok: ${cas.ok})`);
        }
      }));

    test("compareAndSet inside withLock on the same names does not wait for itself", () =>
      withStore(async (store) => {
        const result = await store.withLock(
          ["alpha", "epoch", "alpha\u0000epoch"],
          () => store.compareAndSet("alpha", "epoch", undefined, enc("1")),
          { timeoutMs: 1_000 },
        );
        assert.deepEqual(result, { ok: true });
      }));

    // ---- migrations ---------------------------------------------------------------------------

    test("a new store runs the registered migrations and records them", () =>
      withStore(async (store) => {
        assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
        const meta = store.namespace(META_NAMESPACE);
        assert.equal(dec(await meta.get(SCHEMA_VERSION_KEY)), String(LATEST_SCHEMA_VERSION));
        const history = await collect(meta.typed(jsonCodec<{ version: number; name: string }>()).iterate({ prefix: "migration/" }));
        assert.deepEqual(
          history.map((h) => h.value.version),
          Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => i + 1),
        );
        assert.equal(history[0]?.value.name, "initial");
      }));

    test("pending migrations run in order, once, and only the new ones on upgrade", () =>
      withFixture(async (open) => {
        const calls: string[] = [];
        const step = (version: number, name: string): Migration =>
          migration(version, name, async (store, batch) => {
            calls.push(name);
            // Each migration sees the previous one's committed writes.
            const seen = dec(await store.namespace("alpha").get("trail")) ?? "";
            batch.put("alpha", "trail", enc(`${seen}${name};`));
            batch.put("beta", `by/${name}`, enc(String(version)));
          });
        const v3 = [step(1, "one"), step(2, "two"), step(3, "three")];
        let store = await open({ migrations: v3 });
        assert.deepEqual(calls, ["one", "two", "three"]);
        assert.equal(await store.schemaVersion(), 3);
        assert.equal(dec(await store.namespace("alpha").get("trail")), "one;two;three;");
        await store.close();

        store = await open({ migrations: v3 });
        assert.deepEqual(calls, ["one", "two", "three"], "reopening runs nothing again");
        assert.equal(await store.schemaVersion(), 3);
        await store.close();

        store = await open({ migrations: [...v3, step(4, "four")] });
        assert.deepEqual(calls, ["one", "two", "three", "four"]);
        assert.equal(await store.schemaVersion(), 4);
        assert.equal(dec(await store.namespace("alpha").get("trail")), "one;two;three;four;");
        assert.deepEqual(await collect(store.namespace("beta").keys()), ["by/four", "by/one", "by/three", "by/two"]);
      }));

    test("data written by a newer schema is refused, and the refusal leaves it usable", () =>
      withFixture(async (open) => {
        const noop = (version: number): Migration => migration(version, `m${version}`, () => Promise.resolve());
        const store = await open({ migrations: [noop(1), noop(2), noop(3)] });
        await store.namespace("alpha").put("kept", enc("yes"));
        await store.close();
        await assert.rejects(open({ migrations: [noop(1), noop(2)] }), (err: unknown) => {
          hasCode("MIMI_ERR_STORAGE_SCHEMA_TOO_NEW")(err);
          assert.deepEqual((err as { details?: unknown }).details, { stored: 3, supported: 2 });
          return true;
        });
        // The refused open released the data: the right build opens it, untouched.
        const again = await open({ migrations: [noop(1), noop(2), noop(3)] });
        assert.equal(await again.schemaVersion(), 3);
        assert.equal(dec(await again.namespace("alpha").get("kept")), "yes");
      }));

    test("a failing migration raises MIGRATION_FAILED with its cause and leaves the previous version", () =>
      withFixture(async (open) => {
        const cause = new Error("disk says no");
        const one = migration(1, "one", (_store, batch) => {
          batch.put("alpha", "one", enc("1"));
          return Promise.resolve();
        });
        const failing = migration(2, "two", (_store, batch) => {
          batch.put("alpha", "two", enc("2")); // queued, must not be committed
          return Promise.reject(cause);
        });
        await assert.rejects(open({ migrations: [one, failing] }), (err: unknown) => {
          hasCode("MIMI_ERR_STORAGE_MIGRATION_FAILED")(err);
          assert.equal((err as Error).cause, cause);
          assert.deepEqual((err as { details?: unknown }).details, { version: 2, name: "two", recordedVersion: 1 });
          return true;
        });
        // A migration whose queued writes are invalid fails the same way.
        const invalidWrite = migration(2, "two", (_store, batch) => {
          batch.put("alpha", "", enc("x"));
          return Promise.resolve();
        });
        await assert.rejects(open({ migrations: [one, invalidWrite] }), (err: unknown) => {
          hasCode("MIMI_ERR_STORAGE_MIGRATION_FAILED")(err);
          assert.ok(isMimiError((err as Error).cause, "MIMI_ERR_STORAGE_INVALID_KEY"));
          return true;
        });
        let store = await open({ migrations: [one] });
        assert.equal(await store.schemaVersion(), 1);
        assert.equal(dec(await store.namespace("alpha").get("one")), "1");
        assert.equal(await store.namespace("alpha").has("two"), false);
        await store.close();
        // The fixed build picks up where the failed one stopped.
        const fixed = migration(2, "two", (_store, batch) => {
          batch.put("alpha", "two", enc("2"));
          return Promise.resolve();
        });
        store = await open({ migrations: [one, fixed] });
        assert.equal(await store.schemaVersion(), 2);
        assert.equal(dec(await store.namespace("alpha").get("two")), "2");
      }));

    test("a migration list with a gap or a duplicate version is refused", () =>
      withFixture(async (open) => {
        const noop = (version: number): Migration => migration(version, `m${version}`, () => Promise.resolve());
        await assert.rejects(open({ migrations: [noop(1), noop(3)] }), hasCode("MIMI_ERR_INTERNAL"));
        await assert.rejects(open({ migrations: [noop(1), noop(1)] }), hasCode("MIMI_ERR_INTERNAL"));
        await assert.rejects(open({ migrations: [noop(2)] }), hasCode("MIMI_ERR_INTERNAL"));
        const store = await open({ migrations: [noop(1)] });
        assert.equal(await store.schemaVersion(), 1);
      }));

    // ---- lifecycle ----------------------------------------------------------------------------

    test("data persists across close and reopen", () =>
      withFixture(async (open) => {
        let store = await open();
        const alpha = store.namespace("alpha");
        await alpha.put("plain", enc("p"));
        await store.batch([alpha.putOp("batched", Uint8Array.of(0, 255)), store.namespace("beta").putOp("other", enc("o"))]);
        await store.compareAndSet("alpha", "cas", undefined, enc("c"));
        await alpha.put("deleted", enc("d"));
        await alpha.del("deleted");
        await store.close();
        assert.equal(store.isOpen, false);

        store = await open();
        assert.equal(store.isOpen, true);
        assert.deepEqual(await collect(store.namespace("alpha").keys()), ["batched", "cas", "plain"]);
        assert.deepEqual(await store.namespace("alpha").get("batched"), Uint8Array.of(0, 255));
        assert.equal(dec(await store.namespace("beta").get("other")), "o");
        assert.equal(await store.schemaVersion(), LATEST_SCHEMA_VERSION);
      }));

    test("close is idempotent and every operation on a closed store raises MIMI_ERR_STORAGE_CLOSED", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        await ns.put("k", enc("v"));
        await Promise.all([store.close(), store.close()]);
        await store.close();
        assert.equal(store.isOpen, false);
        const closed = hasCode("MIMI_ERR_STORAGE_CLOSED");
        await assert.rejects(ns.get("k"), closed);
        await assert.rejects(ns.getMany(["k"]), closed);
        await assert.rejects(ns.getMany([]), closed);
        await assert.rejects(ns.has("k"), closed);
        await assert.rejects(ns.put("k", enc("v")), closed);
        await assert.rejects(ns.del("k"), closed);
        await assert.rejects(collect(ns.iterate()), closed);
        await assert.rejects(collect(ns.keys()), closed);
        await assert.rejects(ns.typed(jsonCodec<number>()).get("k"), closed);
        await assert.rejects(store.namespace("beta").get("k"), closed);
        await assert.rejects(store.batch([ns.putOp("k", enc("v"))]), closed);
        await assert.rejects(store.compareAndSet("alpha", "k", enc("v"), enc("w")), closed);
        await assert.rejects(store.withLock("k", () => Promise.resolve()), closed);
        await assert.rejects(store.schemaVersion(), closed);
      }));

    test("a scan that outlives close() ends with MIMI_ERR_STORAGE_CLOSED", () =>
      withStore(async (store) => {
        const ns = store.namespace("alpha");
        await store.batch(Array.from({ length: 500 }, (_, i) => ns.putOp(`k${String(i).padStart(4, "0")}`, new Uint8Array(64))));
        const iterator = ns.iterate();
        const first = await iterator.next();
        assert.equal(first.done, false);
        await store.close();
        await assert.rejects(iterator.next(), hasCode("MIMI_ERR_STORAGE_CLOSED"));
      }));

    test("logs carry component: storage and never contain keys' values", () =>
      withFixture(async (open) => {
        const chunks: string[] = [];
        const stream = new Writable({
          write(chunk: Buffer, _encoding, callback) {
            chunks.push(chunk.toString("utf8"));
            callback();
          },
        });
        const logger = createLogger({ destination: stream, level: "trace" });
        const failing = migration(2, "explodes", () => Promise.reject(new Error("nope")));
        const one = migration(1, "one", () => Promise.resolve());
        await assert.rejects(open({ logger, migrations: [one, failing] }), hasCode("MIMI_ERR_STORAGE_MIGRATION_FAILED"));
        const store = await open({ logger, migrations: [one] });
        await store.namespace("alpha").put("k", enc("SECRET-VALUE-123"));
        await store.close();
        await new Promise((resolve) => setImmediate(resolve));
        const lines = chunks.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
        assert.ok(lines.length >= 2, "open and the failed migration are logged");
        for (const line of lines) assert.equal(line.component, "storage");
        assert.ok(lines.some((l) => l.level === "error" && l.migration === "explodes"));
        assert.ok(!chunks.join("").includes("SECRET-VALUE-123"));
      }));
  });
}
