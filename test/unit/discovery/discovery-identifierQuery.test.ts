// identifierQuery on the answering provider (src/discovery/identifierQuery.ts) over a memory store:
// response codes, searchability, uniform answers for unknown and unsearchable users (same code,
// same bytes, same storage work), and the per-peer rate limit.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Accounts } from "../../../src/accounts/accounts.ts";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { IdentifierQueryEngine } from "../../../src/discovery/identifierQuery.ts";
import type { IdentifierQuerySettings } from "../../../src/discovery/identifierQuery.ts";
import { ProfileStore } from "../../../src/discovery/profiles.ts";
import type { ProfileChange } from "../../../src/discovery/profile.ts";
import { IdentifierQueryCode, IdentifierRequest, IdentifierResponse, SearchIdentifierType } from "../../../src/protocol/identifierQuery.ts";
import type { QueryElement } from "../../../src/protocol/identifierQuery.ts";
import type { Namespace, Store, TypedNamespace, ValueCodec } from "../../../src/storage/index.ts";
import { rejectsWith, withStore } from "../services/helpers.ts";

const DOMAIN = "b.example";
const SETTINGS: IdentifierQuerySettings = { enabled: true, maxResults: 3, minSubstringLength: 3, maxElements: 8, minAnswerMs: 0, peerRateLimit: { burst: 5, perMinute: 60 } };

/** Records every storage operation (namespace and method, not keys): the "work" a query does. */
function tracing(store: Store, trace: string[]): Store {
  const wrapNs = (raw: Namespace): Namespace => {
    const ns: Namespace = new Proxy(raw, {
      get(target, prop, receiver) {
        if (prop === "typed") return <T>(codec: ValueCodec<T>) => typedOver(ns, codec);
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          trace.push(`${raw.name}.${String(prop)}`);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    return ns;
  };
  function typedOver<T>(ns: Namespace, codec: ValueCodec<T>): TypedNamespace<T> {
    const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : codec.decode(b));
    return {
      name: ns.name,
      codec,
      get: async (k) => dec(await ns.get(k)),
      getMany: async (ks) => (await ns.getMany(ks)).map(dec),
      has: (k) => ns.has(k),
      put: (k, v, o) => ns.put(k, codec.encode(v), o),
      del: (k, o) => ns.del(k, o),
      async *iterate(r) {
        for await (const { key, value } of ns.iterate(r)) yield { key, value: codec.decode(value) };
      },
      keys: (r) => ns.keys(r),
      putOp: (k, v) => ns.putOp(k, codec.encode(v)),
      delOp: (k) => ns.delOp(k),
      encode: (v) => codec.encode(v),
    };
  }
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "namespace") return (name: string) => wrapNs(target.namespace(name));
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

interface World {
  engine: IdentifierQueryEngine;
  profiles: ProfileStore;
  trace: string[];
  clock: { now: number };
}

async function world(store: Store, settings: IdentifierQuerySettings = SETTINGS, timer: { clock?: () => number; sleep?: (ms: number) => Promise<void> } = {}): Promise<World> {
  const trace: string[] = [];
  const traced = tracing(store, trace);
  const accounts = new Accounts(traced, DOMAIN);
  const profiles = new ProfileStore({ store: traced, accounts, domain: DOMAIN, defaultSearchability: "handle" });
  const clock = { now: 1_000_000 };
  const engine = new IdentifierQueryEngine({ domain: DOMAIN, profiles, settings, siiSearch: true, now: () => clock.now, ...timer });
  const users: [string, ProfileChange][] = [
    // The draft's three: Xavier by name, Yolanda only by exact handle, Zach not at all.
    ["xavier", { displayNames: ["Xavier Sales"], email: "xavier@b.example", phone: "+15550000001", vcard: { ORG: "XYZ" }, searchability: "name" }],
    ["yolanda", { displayNames: ["Yolanda Cards"], email: "yolanda@b.example", phone: "+15550000002", nicks: ["yoyo"], searchability: "handle" }],
    ["zach", { displayNames: ["Zach Private"], email: "zach@b.example", phone: "+15550000003", nicks: ["zed"], searchability: "none" }],
    ["sam1", { displayNames: ["Sam One"], nicks: ["sam"], searchability: "name" }],
    ["sam2", { displayNames: ["Sam Two"], nicks: ["sam"], searchability: "name" }],
    ["sam3", { displayNames: ["Sam Three"], nicks: ["sam"], searchability: "name" }],
    ["sam4", { displayNames: ["Sam Four"], nicks: ["sam"], searchability: "name" }],
  ];
  for (const [name, change] of users) {
    await accounts.createUser(name);
    await profiles.update(name, change);
  }
  return { engine, profiles, trace, clock };
}

const q = (...queryElements: QueryElement[]): IdentifierRequest => ({ queryElements, idRequestExtensions: { componentData: [] } });
const e = (type: "handle" | "nick" | "email" | "phone" | "partialName" | "wholeProfile", searchValue: string): QueryElement => ({ searchType: SearchIdentifierType[type], searchValue });

test("MIMI-DISC-01 / MIMI-DISC-03 the draft's Xavier, Yolanda and Zach: searchable by name, only by handle, not at all", async () => {
  await withStore(async (store) => {
    const { engine } = await world(store);
    const code = async (...els: QueryElement[]) => (await engine.query(q(...els))).responseCode;
    assert.equal(await code(e("partialName", "xav")), IdentifierQueryCode.success);
    assert.equal(await code(e("email", "xavier@b.example")), IdentifierQueryCode.success);
    assert.equal(await code(e("handle", "mimi://b.example/u/xavier")), IdentifierQueryCode.success);
    assert.equal(await code(e("handle", "mimi://b.example/u/yolanda")), IdentifierQueryCode.success);
    assert.equal(await code(e("handle", "im:yolanda@b.example")), IdentifierQueryCode.success);
    assert.equal(await code(e("partialName", "yolanda")), IdentifierQueryCode.notFound);
    assert.equal(await code(e("email", "yolanda@b.example")), IdentifierQueryCode.notFound);
    assert.equal(await code(e("nick", "yoyo")), IdentifierQueryCode.notFound);
    assert.equal(await code(e("handle", "mimi://b.example/u/zach")), IdentifierQueryCode.notFound, "even an exact handle search finds no Zach");
    assert.equal(await code(e("phone", "+15550000003")), IdentifierQueryCode.notFound);
  });
});

test("MIMI-DISC-01 success carries the stable URI and the public profile fields", async () => {
  await withStore(async (store) => {
    const { engine } = await world(store);
    const r = await engine.query(q(e("email", "xavier@B.EXAMPLE")));
    assert.equal(r.responseCode, IdentifierQueryCode.success);
    assert.deepEqual(r.uri, [{ uri: "mimi://b.example/u/xavier" }]);
    assert.equal(r.foundProfiles[0]?.stableUri.uri, "mimi://b.example/u/xavier");
    const fields = Object.fromEntries((r.foundProfiles[0]?.fields ?? []).map((f) => [f.fieldName, Buffer.from(f.fieldValue).toString("utf8")]));
    assert.equal(fields["name"], "Xavier Sales");
    assert.equal(fields["ORG"], "XYZ");
    assert.ok(!Object.values(fields).some((v) => v.includes("xavier@") || v.includes("5550000001")), "e-mail and phone are never returned");
    // The answer is a valid protocol-06 IdentifierResponse on the wire.
    assert.deepEqual(decodeExact(IdentifierResponse, encode(IdentifierResponse, r)), r);
  });
});

test("MIMI-DISC-02 / MIMI-DISC-05 AND across elements; more matches than maxResults answer ambiguous", async () => {
  await withStore(async (store) => {
    const { engine } = await world(store);
    assert.equal((await engine.query(q(e("nick", "sam")))).responseCode, IdentifierQueryCode.ambiguous, "4 users share the nick; maxResults is 3");
    const r = await engine.query(q(e("nick", "sam"), e("partialName", "two")));
    assert.equal(r.responseCode, IdentifierQueryCode.success);
    assert.deepEqual(r.uri.map((u) => u.uri), ["mimi://b.example/u/sam2"]);
    const three = await engine.query(q(e("wholeProfile", "sam"), e("partialName", "t")));
    assert.equal(three.responseCode, IdentifierQueryCode.ambiguous, "a one-letter substring must be more exact");
    const both = await engine.query(q(e("partialName", "sam t")));
    assert.deepEqual(both.uri.map((u) => u.uri), ["mimi://b.example/u/sam2", "mimi://b.example/u/sam3"]);
    assert.equal((await engine.query(q(e("email", "xavier@b.example"), e("nick", "yoyo")))).responseCode, IdentifierQueryCode.notFound);
  });
});

test("MIMI-DISC-06 / MIMI-DISC-07 an existing unsearchable user and an unknown one: same code, same bytes, same storage work", async () => {
  await withStore(async (store) => {
    const { engine, trace } = await world(store);
    const answer = async (req: IdentifierRequest) => {
      trace.length = 0;
      const bytes = await engine.answerPeer(encode(IdentifierRequest, req), `peer${Math.random()}.example`);
      return { bytes: Buffer.from(bytes).toString("hex"), work: [...trace] };
    };
    const pairs: [string, IdentifierRequest, IdentifierRequest][] = [
      ["handle, none", q(e("handle", "mimi://b.example/u/zach")), q(e("handle", "mimi://b.example/u/nobody"))],
      ["handle, other domain", q(e("handle", "mimi://b.example/u/zach")), q(e("handle", "mimi://c.example/u/zach"))],
      ["email, none", q(e("email", "zach@b.example")), q(e("email", "nobody@b.example"))],
      ["email, handle-only", q(e("email", "yolanda@b.example")), q(e("email", "nobody@b.example"))],
      ["phone, none", q(e("phone", "+15550000003")), q(e("phone", "+15559999999"))],
      ["phone, handle-only", q(e("phone", "+15550000002")), q(e("phone", "+15559999999"))],
      ["nick, none (user part)", q(e("nick", "zach")), q(e("nick", "nobody"))],
      ["nick, none (nickname)", q(e("nick", "zed")), q(e("nick", "nobody"))],
    ];
    const notFound = Buffer.from(encode(IdentifierResponse, { responseCode: IdentifierQueryCode.notFound, uri: [], foundProfiles: [], idResponseExtensions: { componentData: [] } })).toString("hex");
    for (const [what, existing, unknown] of pairs) {
      const a = await answer(existing);
      const b = await answer(unknown);
      assert.equal(a.bytes, notFound, `${what}: notFound`);
      assert.equal(a.bytes, b.bytes, `${what}: identical bytes`);
      assert.deepEqual(a.work, b.work, `${what}: the same storage operations`);
      assert.ok(a.work.length >= 2, `${what}: candidates are read (${a.work.join(", ")})`);
    }
  });
});

test("MIMI-DISC-08 identifierQuery is rate-limited per requesting provider (token bucket), before decoding", async () => {
  await withStore(async (store) => {
    const { engine, clock } = await world(store);
    const body = encode(IdentifierRequest, q(e("handle", "mimi://b.example/u/xavier")));
    for (let i = 0; i < 5; i++) await engine.answerPeer(body, "a.example");
    const err = await rejectsWith(engine.answerPeer(body, "a.example"), "MIMI_ERR_DISCOVERY_RATE_LIMITED");
    assert.equal(err.statusCode, 429);
    assert.equal(err.details?.["retryAfterSeconds"], 1);
    await rejectsWith(engine.answerPeer(new Uint8Array([0xff]), "a.example"), "MIMI_ERR_DISCOVERY_RATE_LIMITED");
    // Another provider has its own bucket.
    assert.equal(decodeExact(IdentifierResponse, await engine.answerPeer(body, "c.example")).responseCode, IdentifierQueryCode.success);
    clock.now += 1000; // 60/minute: one token per second
    await engine.answerPeer(body, "a.example");
    await rejectsWith(engine.answerPeer(body, "a.example"), "MIMI_ERR_DISCOVERY_RATE_LIMITED");
  });
});

test("MIMI-DISC-07 every answer to a peer takes at least identifierQuery.minAnswerMs (fake clock and timer)", async () => {
  await withStore(async (store) => {
    let t = 0;
    const waits: number[] = [];
    const timer = {
      clock: () => (t += 3), // each look at the clock: 3 ms of work
      sleep: (ms: number) => {
        waits.push(ms);
        t += ms;
        return Promise.resolve();
      },
    };
    const { engine } = await world(store, { ...SETTINGS, minAnswerMs: 20 }, timer);
    for (const v of ["mimi://b.example/u/zach", "mimi://b.example/u/nobody", "mimi://b.example/u/xavier"]) {
      await engine.answerPeer(encode(IdentifierRequest, q(e("handle", v))), "a.example");
    }
    assert.deepEqual(waits, [17, 17, 17], "the rest of the 20 ms after 3 ms of work, whoever was asked for");
  });
});

test("identifierQuery.enabled false answers forbidden to everything", async () => {
  await withStore(async (store) => {
    const { engine } = await world(store, { ...SETTINGS, enabled: false });
    assert.equal((await engine.query(q(e("handle", "mimi://b.example/u/xavier")))).responseCode, IdentifierQueryCode.forbidden);
  });
});

test("profiles: index entries follow changes (an old e-mail no longer finds the user)", async () => {
  await withStore(async (store) => {
    const { engine, profiles } = await world(store);
    await profiles.update("xavier", { email: "x2@b.example" });
    assert.equal((await engine.query(q(e("email", "xavier@b.example")))).responseCode, IdentifierQueryCode.notFound);
    assert.equal((await engine.query(q(e("email", "x2@b.example")))).responseCode, IdentifierQueryCode.success);
    await profiles.update("xavier", { searchability: "none" });
    assert.equal((await engine.query(q(e("email", "x2@b.example")))).responseCode, IdentifierQueryCode.notFound);
    assert.equal((await profiles.get("xavier")).searchability, "none");
  });
});
