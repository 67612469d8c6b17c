import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { openStore } from "../../../src/storage/index.ts";
import { prefixedStore } from "../../../src/storage/prefixedStore.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

async function collect(it: AsyncIterable<{ key: string; value: Uint8Array }>): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const e of it) out.push([e.key, dec(e.value)]);
  return out;
}

test("views under different prefixes are isolated and share the backing store's batches", async () => {
  const backing = await openStore({ kind: "memory", namespaces: ["clients"] });
  const a = prefixedStore(backing, "clients", "alice", ["sdk"]);
  const b = prefixedStore(backing, "clients", "bob", ["sdk"]);
  await a.namespace("sdk").put("k", enc("from alice"));
  await b.namespace("sdk").put("k", enc("from bob"));
  assert.equal(dec((await a.namespace("sdk").get("k"))!), "from alice");
  assert.equal(dec((await b.namespace("sdk").get("k"))!), "from bob");
  assert.deepEqual(await collect(a.namespace("sdk").iterate()), [["k", "from alice"]]);
  // A batch from a view is a batch of the backing store: all or nothing.
  const ns = a.namespace("sdk");
  await a.batch([ns.putOp("x", enc("1")), ns.putOp("y", enc("2")), ns.delOp("k")]);
  assert.deepEqual(await collect(a.namespace("sdk").iterate()), [["x", "1"], ["y", "2"]]);
  assert.deepEqual(await collect(b.namespace("sdk").iterate()), [["k", "from bob"]]);
  // compareAndSet goes to the prefixed key.
  assert.deepEqual(await a.compareAndSet("sdk", "x", enc("1"), enc("one")), { ok: true });
  assert.equal(dec((await a.namespace("sdk").get("x"))!), "one");
  assert.throws(() => a.namespace("other"), { code: "MIMI_ERR_STORAGE_INVALID_KEY" });
  await a.close();
  assert.equal(a.isOpen, false);
  assert.equal(backing.isOpen, true, "closing a view leaves the backing store open");
  await backing.close();
});

test("ranges in a view behave exactly like ranges in a plain namespace (property)", async () => {
  const key = fc.string({ unit: fc.constantFrom("a", "b", "c", "/", "~", "é", "\u{1F600}"), minLength: 1, maxLength: 4 });
  await fc.assert(
    fc.asyncProperty(
      fc.uniqueArray(key, { maxLength: 12 }),
      fc.record({ gt: fc.option(key, { nil: undefined }), lte: fc.option(key, { nil: undefined }), prefix: fc.option(key, { nil: undefined }), limit: fc.option(fc.nat(5), { nil: undefined }), reverse: fc.boolean() }, { requiredKeys: ["reverse"] }),
      async (keys, range) => {
        const plain = await openStore({ kind: "memory", namespaces: ["sdk"] });
        const backing = await openStore({ kind: "memory", namespaces: ["clients"] });
        const view = prefixedStore(backing, "clients", "u", ["sdk"]);
        // A neighbour under another prefix must never leak into the view.
        await prefixedStore(backing, "clients", "t", ["sdk"]).namespace("sdk").put("a", enc("neighbour"));
        await prefixedStore(backing, "clients", "v", ["sdk"]).namespace("sdk").put("a", enc("neighbour"));
        for (const k of keys) {
          await plain.namespace("sdk").put(k, enc(k));
          await view.namespace("sdk").put(k, enc(k));
        }
        const r = Object.fromEntries(Object.entries(range).filter(([, v]) => v !== undefined));
        assert.deepEqual(await collect(view.namespace("sdk").iterate(r)), await collect(plain.namespace("sdk").iterate(r)));
        await plain.close();
        await backing.close();
      },
    ),
    { numRuns: 300 },
  );
});
