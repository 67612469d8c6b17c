// Discovery across real providers started in-process (test/helpers/providers.ts): mutual TLS on
// loopback, LevelDB stores, the real client API and SDK.
//
//   a.example   alice's provider: the querier (discovery.mode integrated), uses dp.example
//   b.example   account provider of xavier, yolanda, zach (the draft's three) and bob
//   c.example   account provider of robert; also plays the forger
//   dp.example  runs the discovery service (discovery.service.enabled)
//   e.example   a peer whose operator enumerates (the acceptance's "one peer")
//
// Then single providers without TLS for the three modes and the per-user rate limit.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { run } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { DiscoveryClient, MimiClient, openClientStore } from "../../src/client-api/sdk/index.ts";
import { decodeExact, encode } from "../../src/codec/index.ts";
import { validateConfig } from "../../src/config/index.ts";
import { DiscoveryLookupRequest, MappingRecords, SignedDiscoveryMapping, decodeLookupResponse, loadOrCreateDiscoveryKey, signMapping } from "../../src/discovery/index.ts";
import { isMimiError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { IdentifierQueryCode, IdentifierRequest, IdentifierResponse, SearchIdentifierType } from "../../src/protocol/identifierQuery.ts";
import type { QueryElement } from "../../src/protocol/identifierQuery.ts";
import { startProvider } from "../../src/provider.ts";
import type { Provider } from "../../src/provider.ts";
import { tempDir } from "../helpers/processes.ts";
import { startNetwork } from "../helpers/providers.ts";
import type { TestNetwork } from "../helpers/providers.ts";

const logger = createLogger({ level: "silent" });
const DAY = 86_400_000;
/** The enumerating peer's limits at b.example (identifierQuery) and dp.example (lookups). */
const ENUM_LIMIT = { burst: 50, perMinute: 600 };

let net: TestNetwork;
const P = (d: string): Provider => {
  const p = net.providers[d];
  if (p === undefined) throw new Error(`no provider ${d}`);
  return p;
};
/** A DiscoveryClient for a new local user of `d` (token from the operator's account creation). */
async function user(d: string, name: string): Promise<{ uri: string; api: DiscoveryClient }> {
  const { userUri, token } = await P(d).services.accounts.createUser(name);
  return { uri: userUri, api: new DiscoveryClient({ apiUrl: P(d).clientApiUrl, token }) };
}

before(async () => {
  net = await startNetwork(["a.example", "b.example", "c.example", "dp.example", "e.example"], {
    storage: "level",
    extraConfig: (d) => ({
      discovery: {
        mode: d === "a.example" ? "integrated" : "separate",
        providers: d === "dp.example" ? [] : ["dp.example"],
        service: { enabled: d === "dp.example", peerRateLimit: ENUM_LIMIT },
        identifierQuery: { peerRateLimit: ENUM_LIMIT, maxResults: 5 },
        userRateLimit: { burst: 500, perMinute: 600 },
      },
    }),
  });
});

after(async () => {
  await net?.stop();
});

const q = (...queryElements: QueryElement[]) => encode(IdentifierRequest, { queryElements, idRequestExtensions: { componentData: [] } });
const el = (type: "handle" | "nick" | "email" | "phone" | "partialName", searchValue: string): QueryElement => ({ searchType: SearchIdentifierType[type], searchValue });

test("MIMI-DISC-01 / MIMI-DISC-02 / MIMI-DISC-03 / MIMI-DISC-04 / MIMI-DISC-05 identifierQuery through alice's provider to b.example: every search type, AND, searchability (SDK)", async () => {
  const xavier = await user("b.example", "xavier");
  const yolanda = await user("b.example", "yolanda");
  const zach = await user("b.example", "zach");
  await xavier.api.updateProfile({ displayNames: ["Xavier Sales"], nicks: ["xsales"], email: "xavier@b.example", phone: "+1 555 000 0101", oidc: { given_name: "Xavier", family_name: "Sales" }, vcard: { ORG: "XYZ Corp" } });
  const profile = await xavier.api.setSearchability("name");
  assert.equal(profile.searchability, "name");
  await yolanda.api.updateProfile({ displayNames: ["Yolanda Cards"], email: "yolanda@b.example", phone: "+15550000102", searchability: "handle" });
  await zach.api.updateProfile({ displayNames: ["Zach Quiet"], email: "zach@b.example", phone: "+15550000103", searchability: "none" });

  const alice = new MimiClient({ apiUrl: P("a.example").clientApiUrl, state: await openClientStore({ memory: true }), logger });
  try {
    await alice.register("alice");
    const search = async (...elements: Parameters<typeof alice.search>[1]) => alice.search("b.example", elements);
    const found = await search({ type: "partialName", value: "sales" });
    assert.equal(found.code, "success");
    assert.deepEqual(found.uris, [xavier.uri]);
    assert.ok(found.profiles[0]?.fields.some((f) => f.name === "ORG" && f.value === "XYZ Corp"));
    for (const e of [
      { type: "handle", value: xavier.uri },
      { type: "handle", value: "im:xavier@b.example" },
      { type: "nick", value: "xsales" },
      { type: "nick", value: "xavier" },
      { type: "email", value: "xavier@B.example" },
      { type: "phone", value: "+15550000101" },
      { type: "wholeProfile", value: "xyz corp" },
      { type: "oidcStdClaim", field: "family_name", value: "Sales" },
      { type: "vcardField", field: "org", value: "XYZ Corp" },
    ] as const) {
      assert.deepEqual((await search(e)).uris, [xavier.uri], JSON.stringify(e));
    }
    assert.equal((await search({ type: "partialName", value: "sales" }, { type: "email", value: "other@b.example" })).code, "notFound", "AND");
    assert.equal((await search({ type: "oidcStdClaim", field: "birthdate", value: "2000-01-01" })).code, "unsupportedField");
    assert.equal((await search({ type: "partialName", value: "xa" })).code, "ambiguous");
    // Yolanda: only her exact handle; Zach: nothing at all.
    assert.deepEqual((await search({ type: "handle", value: yolanda.uri })).uris, [yolanda.uri]);
    assert.equal((await search({ type: "email", value: "yolanda@b.example" })).code, "notFound");
    assert.equal((await search({ type: "partialName", value: "yolanda" })).code, "notFound");
    assert.equal((await search({ type: "handle", value: zach.uri })).code, "notFound");
    // Our own provider answers searches for its users without a request; alice kept the default
    // searchability (handle): her exact handle finds her, her name does not.
    assert.deepEqual((await alice.search("a.example", [{ type: "handle", value: "mimi://a.example/u/alice" }])).uris, ["mimi://a.example/u/alice"]);
    assert.equal((await alice.search("a.example", [{ type: "nick", value: "alice" }])).code, "notFound");
  } finally {
    await alice.close();
  }
});

test("MIMI-DISC-06 over mutual TLS an existing unsearchable user and an unknown one get the same status, code and bytes", async () => {
  const pc = P("a.example").peerClient;
  const ask = async (body: Uint8Array) => {
    const res = await pc.request("b.example", "identifierQuery", { domain: "b.example" }, { body });
    assert.equal(res.status, 200);
    return Buffer.from(res.body).toString("hex");
  };
  const pairs: [string, Uint8Array, Uint8Array][] = [
    ["zach (none) by handle", q(el("handle", "mimi://b.example/u/zach")), q(el("handle", "mimi://b.example/u/nosuchuser"))],
    ["zach (none) by phone", q(el("phone", "+15550000103")), q(el("phone", "+15559990103"))],
    ["yolanda (handle only) by phone", q(el("phone", "+15550000102")), q(el("phone", "+15559990102"))],
    ["zach (none) by e-mail", q(el("email", "zach@b.example")), q(el("email", "nosuchuser@b.example"))],
    ["zach (none) by nick", q(el("nick", "zach")), q(el("nick", "nosuchuser"))],
  ];
  for (const [what, existing, unknown] of pairs) {
    const a = await ask(existing);
    const b = await ask(unknown);
    assert.equal(a, b, what);
    assert.equal(decodeExact(IdentifierResponse, Buffer.from(a, "hex")).responseCode, IdentifierQueryCode.notFound, what);
  }
});

/** Publishes `sii` for a new user of `d` with `tag`. */
async function publisher(d: string, name: string, sii: string, tag: string): Promise<{ uri: string; api: DiscoveryClient }> {
  const u = await user(d, name);
  const r = await u.api.publishMapping(sii, tag);
  assert.deepEqual(r.providers, [{ provider: "dp.example", ok: true }], `${name}@${d} published to the discovery service`);
  return u;
}

test("MIMI-DISC-10 / MIMI-DISC-12 federated lookup: mappings published by b.example and c.example for the same number, verified by a.example", async () => {
  const sii = "tel:+15551230001";
  const bob = await publisher("b.example", "bob", "tel:+1-555-123-0001", "Personal");
  const robert = await publisher("c.example", "robert", sii, "Business");
  assert.deepEqual((await bob.api.mappings()).map((m) => [m.sii, m.tag]), [[sii, "Personal"]]);
  const alice = await user("a.example", "alice-fed");
  const r = await alice.api.discover("+1-555-123-0001");
  assert.equal(r.kind, "sii");
  assert.deepEqual(r.rejected, []);
  assert.deepEqual(r.unreachable, []);
  assert.deepEqual(
    r.mappings.map((m) => [m.ssi, m.tag, m.signer, m.via]),
    [
      [robert.uri, "Business", "c.example", ["dp.example"]],
      [bob.uri, "Personal", "b.example", ["dp.example"]],
    ],
  );
  for (const m of r.mappings) assert.ok(m.expiresAt > Date.now() + 29 * DAY);
  // The discovery service never learns who asked: a.example sends only the SII (R6).
  const e = await user("e.example", "eve-nobody");
  assert.equal((await e.api.discover("tel:+15551230001")).mappings.length, 2, "any provider's users see the same mappings");
});

test("MIMI-DISC-14 the discovery service refuses mappings a provider publishes for another provider's user", async () => {
  const cPeer = P("c.example").peerClient;
  // c.example replays b.example's genuine signed mapping (taken from the discovery service).
  const lookup = await cPeer.requestUrl("dp.example", "POST", `${cPeer.baseUrl("dp.example")}/v1/discovery/lookup`, { body: encode(DiscoveryLookupRequest, { sii: { uri: "tel:+15551230001" } }) });
  const genuine = decodeLookupResponse(lookup.body).mappings.find((m) => m.mapping.signer === "b.example");
  assert.ok(genuine);
  const replay = await cPeer.requestUrl("dp.example", "POST", `${cPeer.baseUrl("dp.example")}/v1/discovery/publish`, { body: encode(SignedDiscoveryMapping, genuine) });
  assert.equal(replay.status, 403);
  assert.equal((JSON.parse(Buffer.from(replay.body).toString("utf8")) as { code: string }).code, "MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE");
  // c.example signs with its own key that tel:+1555… is b.example's bob.
  const cKey = await loadOrCreateDiscoveryKey(join(net.dir, "data-c.example", "keys", "discovery-signature.json"));
  const now = Date.now();
  const vouch = signMapping(cKey, { sii: { uri: "tel:+15551230009" }, ssi: { uri: "mimi://b.example/u/bob" }, tag: "Personal", signer: "c.example", issuedAt: BigInt(now), expiresAt: BigInt(now + DAY) });
  const res = await cPeer.requestUrl("dp.example", "POST", `${cPeer.baseUrl("dp.example")}/v1/discovery/publish`, { body: encode(SignedDiscoveryMapping, vouch) });
  assert.equal(res.status, 403);
  assert.equal((JSON.parse(Buffer.from(res.body).toString("utf8")) as { code: string }).code, "MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE");
});

test("MIMI-DISC-12 / MIMI-DISC-13 forged mappings served by a compromised discovery service are rejected by the querier", async () => {
  const sii = "tel:+15551230002";
  const bob2 = await publisher("b.example", "bob2", sii, "Personal");
  const now = Date.now();
  const cKey = await loadOrCreateDiscoveryKey(join(net.dir, "data-c.example", "keys", "discovery-signature.json"));
  const records = new MappingRecords(P("dp.example").store);
  // (1) A bad signature: claims b.example signed it, but c.example's key did.
  await records.put(signMapping(cKey, { sii: { uri: sii }, ssi: { uri: "mimi://b.example/u/mallory" }, tag: "Business", signer: "b.example", issuedAt: BigInt(now), expiresAt: BigInt(now + DAY) }));
  // (2) A provider vouching for another provider's user, correctly signed by itself.
  await records.put(signMapping(cKey, { sii: { uri: sii }, ssi: { uri: "mimi://b.example/u/bob" }, tag: "Work", signer: "c.example", issuedAt: BigInt(now), expiresAt: BigInt(now + DAY) }));
  const alice = await user("a.example", "alice-forged");
  const r = await alice.api.discover(sii);
  assert.deepEqual(r.mappings.map((m) => [m.ssi, m.tag]), [[bob2.uri, "Personal"]], "only the genuine mapping survives");
  assert.equal(r.rejected.length, 2);
  const reasons = Object.fromEntries(r.rejected.map((x) => [x.ssi, x.reason]));
  assert.match(reasons["mimi://b.example/u/mallory"] ?? "", /signature does not verify/);
  assert.match(reasons["mimi://b.example/u/bob"] ?? "", /vouches only for its own users/);
  for (const x of r.rejected) assert.equal(x.via, "dp.example");
});

test("MIMI-DISC-17 / MIMI-DISC-16 removal: the user removes the mapping; the service's answer is then byte for byte that of a never-published number", async () => {
  const sii = "tel:+15551230003";
  const carl = await publisher("b.example", "carl", sii, "Personal");
  await carl.api.publishMapping(sii, "Business");
  const alice = await user("a.example", "alice-removal");
  assert.equal((await alice.api.discover(sii)).mappings.length, 2);
  assert.equal((await carl.api.removeMapping(sii, "Business")).removed, 1);
  assert.deepEqual((await alice.api.discover(sii)).mappings.map((m) => m.tag), ["Personal"]);
  const removal = await carl.api.removeMapping(sii);
  assert.deepEqual(removal.providers, [{ provider: "dp.example", ok: true }]);
  assert.deepEqual(await carl.api.mappings(), []);
  assert.equal((await alice.api.discover(sii)).mappings.length, 0);
  const pc = P("a.example").peerClient;
  const raw = async (s: string) => Buffer.from((await pc.requestUrl("dp.example", "POST", `${pc.baseUrl("dp.example")}/v1/discovery/lookup`, { body: encode(DiscoveryLookupRequest, { sii: { uri: s } }) })).body).toString("hex");
  assert.equal(await raw(sii), await raw("tel:+15551239999"));
});

test("MIMI-DISC-22 integrated mode: one call resolves the number and requests consent from the mappings picked", async () => {
  const sii = "tel:+15551230004";
  const dana = await publisher("b.example", "dana", sii, "Personal");
  const dora = await publisher("c.example", "dora", sii, "Business");
  const alice = await user("a.example", "alice-connect");
  const picked = await alice.api.connect(sii, { tags: ["business"] });
  assert.deepEqual(picked.requests, [{ target: dora.uri, tags: ["Business"], status: "requested" }]);
  assert.equal(picked.mappings.length, 2, "the caller sees what it could have picked");
  const incoming = async (d: string, u: string) => (await P(d).services.consent.list(u)).incoming.map((x) => x.requester);
  assert.deepEqual(await incoming("c.example", dora.uri), [alice.uri]);
  assert.deepEqual(await incoming("b.example", dana.uri), [], "dana was not picked");
  const all = await alice.api.connect(sii);
  assert.deepEqual(all.requests.map((x) => [x.target, x.status]).sort(), [
    [dana.uri, "requested"],
    [dora.uri, "requested"],
  ]);
  assert.deepEqual(await incoming("b.example", dana.uri), [alice.uri]);
});

interface Tally {
  answered: number;
  limited: number;
  other: number;
  answers: Set<string>;
  retryAfter: Set<string>;
  elapsedMs: number;
}

/** Sends `n` requests from e.example, `concurrency` at a time; counts 200s and 429s. */
async function enumerate(n: number, send: (i: number) => Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Uint8Array }>): Promise<Tally> {
  const t: Tally = { answered: 0, limited: 0, other: 0, answers: new Set(), retryAfter: new Set(), elapsedMs: 0 };
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await send(i);
      if (res.status === 200) {
        t.answered++;
        t.answers.add(Buffer.from(res.body).toString("hex"));
      } else if (res.status === 429) {
        t.limited++;
        t.retryAfter.add(String(res.headers["retry-after"]));
      } else t.other++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  t.elapsedMs = performance.now() - started;
  return t;
}

/** A random +1 555 01xx xxxx number: never one of the numbers the tests give users. */
const randomPhone = () => `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`;

test("MIMI-DISC-08 / MIMI-DISC-06 acceptance: 10,000 enumeration queries from one peer for random phone numbers are throttled (identifierQuery at b.example)", { timeout: 300_000 }, async () => {
  const pc = P("e.example").peerClient;
  const t = await enumerate(10_000, () => pc.request("b.example", "identifierQuery", { domain: "b.example" }, { body: q(el("phone", randomPhone())) }));
  const bound = ENUM_LIMIT.burst + (ENUM_LIMIT.perMinute / 60_000) * t.elapsedMs + 1;
  process.stderr.write(`identifierQuery enumeration: ${t.answered} answered, ${t.limited} refused (429) of 10000 in ${Math.round(t.elapsedMs)} ms; allowed at most ${Math.floor(bound)}\n`);
  assert.equal(t.other, 0);
  assert.equal(t.answered + t.limited, 10_000);
  assert.ok(t.answered >= ENUM_LIMIT.burst, `the first ${ENUM_LIMIT.burst} are answered`);
  assert.ok(t.answered <= bound, `${t.answered} answered; the token bucket allows ${bound}`);
  assert.ok(t.limited >= 10_000 - bound);
  assert.equal(t.answers.size, 1, "every answered query got the same bytes (notFound)");
  assert.ok([...t.retryAfter].every((v) => /^[1-9][0-9]*$/.test(v)), `Retry-After on every 429: ${[...t.retryAfter].join(",")}`);
});

test("MIMI-DISC-15 / MIMI-DISC-16 acceptance: 10,000 enumeration lookups from one peer for random phone numbers are throttled (discovery service)", { timeout: 300_000 }, async () => {
  const pc = P("e.example").peerClient;
  const url = `${pc.baseUrl("dp.example")}/v1/discovery/lookup`;
  const t = await enumerate(10_000, () => pc.requestUrl("dp.example", "POST", url, { body: encode(DiscoveryLookupRequest, { sii: { uri: `tel:${randomPhone()}` } }) }));
  const bound = ENUM_LIMIT.burst + (ENUM_LIMIT.perMinute / 60_000) * t.elapsedMs + 1;
  process.stderr.write(`discovery lookup enumeration: ${t.answered} answered, ${t.limited} refused (429) of 10000 in ${Math.round(t.elapsedMs)} ms; allowed at most ${Math.floor(bound)}\n`);
  assert.equal(t.other, 0);
  assert.ok(t.answered >= ENUM_LIMIT.burst - 1 && t.answered <= bound, `${t.answered} answered; the token bucket allows ${bound}`);
  assert.equal(t.answered + t.limited, 10_000);
  assert.equal(t.answers.size, 1, "every answered lookup got the same (empty, padded) bytes");
  assert.equal([...t.answers][0]?.length, 2 * 1024);
});

test("the command line: client profile, search, mapping publish|list, discover, discovery-info", async () => {
  const tmp = await tempDir("disc-cli");
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    stdout: new Writable({ write: (c: Buffer, _e, cb) => (out.push(c.toString("utf8")), cb()) }),
    stderr: new Writable({ write: (c: Buffer, _e, cb) => (err.push(c.toString("utf8")), cb()) }),
    stdin: Readable.from([]),
    env: {},
    cwd: tmp.path,
  };
  const cli = async (...args: string[]): Promise<unknown> => {
    out.length = 0;
    const code = await run(["client", ...args, "--state", join(tmp.path, "st"), "--json"], io);
    assert.equal(code, 0, `${args.join(" ")}: ${err.join("")}`);
    return JSON.parse(out.join(""));
  };
  try {
    await cli("register", "--api", P("b.example").clientApiUrl, "--user", "erin");
    const p = (await cli("profile", "--display-name", "Erin Example", "--email", "erin@b.example", "--vcard", "ORG=CLI Inc", "--searchable", "name")) as { searchability: string; vcard: Record<string, string> };
    assert.equal(p.searchability, "name");
    assert.deepEqual(p.vcard, { ORG: "CLI Inc" });
    const s = (await cli("search", "b.example", "partialName=erin", "vcard:ORG=CLI Inc")) as { code: string; uris: string[] };
    assert.deepEqual(s, { ...s, code: "success", uris: ["mimi://b.example/u/erin"] });
    const pub = (await cli("mapping", "publish", "mailto:erin@b.example", "--tag", "Work")) as { providers: { ok: boolean }[] };
    assert.deepEqual(pub.providers.map((x) => x.ok), [true]);
    assert.equal(((await cli("mapping", "list")) as unknown[]).length, 1);
    const d = (await cli("discover", "mailto:erin@B.EXAMPLE")) as { mappings: { ssi: string; tag: string }[] };
    assert.deepEqual(d.mappings.map((m) => [m.ssi, m.tag]), [["mimi://b.example/u/erin", "Work"]]);
    const info = (await cli("discovery-info")) as { mode: string; discoveryProviders: string[] };
    assert.deepEqual([info.mode, info.discoveryProviders], ["separate", ["dp.example"]]);
    err.length = 0;
    assert.equal(await run(["client", "search", "b.example", "bogus=1", "--state", join(tmp.path, "st")], io), 1);
    assert.match(err.join(""), /MIMI_ERR_CLI_USAGE: unknown search type bogus/);
  } finally {
    await tmp.remove();
  }
});

// ---- the three modes, and the per-user limit, on single providers -----------------------------------

async function single(domain: string, discovery: Record<string, unknown>): Promise<Provider> {
  return startProvider(
    validateConfig({ provider: { domain }, server: { host: "127.0.0.1", port: 0 }, storage: { kind: "memory" }, clientApi: { port: 0, registration: "open" }, logging: { level: "silent" }, discovery }),
    logger,
  );
}

async function local(p: Provider, name: string): Promise<{ uri: string; api: DiscoveryClient }> {
  const { userUri, token } = await p.services.accounts.createUser(name);
  return { uri: userUri, api: new DiscoveryClient({ apiUrl: p.clientApiUrl, token }) };
}

const rejectsCode = async (p: Promise<unknown>, code: string) =>
  assert.rejects(p, (e: unknown) => {
    assert.ok(isMimiError(e), String(e));
    assert.equal(e.code, code, e.message);
    return true;
  });

test("MIMI-DISC-20 / MIMI-DISC-21 ssiOnly: SII inputs are refused with a clear error; SSIs (MIMI, Matrix, XMPP forms) work directly", async () => {
  const p = await single("s.example", { mode: "ssiOnly" });
  try {
    const amy = await local(p, "amy");
    await rejectsCode(amy.api.discover("tel:+15551230001"), "MIMI_ERR_DISCOVERY_SSI_ONLY");
    await rejectsCode(amy.api.discover("mailto:bob@b.example"), "MIMI_ERR_DISCOVERY_SSI_ONLY");
    await rejectsCode(amy.api.publishMapping("tel:+15551230001"), "MIMI_ERR_DISCOVERY_SSI_ONLY");
    await rejectsCode(amy.api.search("s.example", [{ type: "email", value: "amy@s.example" }]), "MIMI_ERR_DISCOVERY_SSI_ONLY");
    await rejectsCode(amy.api.connect("tel:+15551230001"), "MIMI_ERR_DISCOVERY_SSI_ONLY");
    for (const [input, uri] of [
      ["mimi://b.example/u/bob", "mimi://b.example/u/bob"],
      ["@bob:b.example", "mimi://b.example/u/bob"],
      ["xmpp:bob@b.example", "mimi://b.example/u/bob"],
    ]) {
      const r = await amy.api.discover(input!);
      assert.deepEqual([r.kind, r.identifier, r.mappings], ["ssi", uri, []], input);
    }
    assert.equal((await amy.api.info()).mode, "ssiOnly");
    const err = await fetch(`${p.clientApiUrl}/client/v1/discovery/discover`, { method: "POST" }).then((r) => r.status);
    assert.equal(err, 401, "the discovery calls need a token");
  } finally {
    await p.stop();
  }
});

test("MIMI-DISC-21 separate: discover resolves; connect with an SII is refused (the user sends consent requests itself); an SSI connects", async () => {
  const p = await single("t.example", { mode: "separate", service: { enabled: true } });
  try {
    const amy = await local(p, "amy");
    const ben = await local(p, "ben");
    await ben.api.publishMapping("mailto:ben@t.example", "Personal");
    const r = await amy.api.discover("mailto:ben@t.example");
    assert.deepEqual(r.mappings.map((m) => [m.ssi, m.signer, m.via]), [[ben.uri, "t.example", ["t.example"]]]);
    await rejectsCode(amy.api.connect("mailto:ben@t.example"), "MIMI_ERR_DISCOVERY_MODE");
    const c = await amy.api.connect(ben.uri);
    assert.deepEqual(c.requests, [{ target: ben.uri, tags: [], status: "requested" }]);
    assert.deepEqual((await p.services.consent.list(ben.uri)).incoming.map((x) => x.requester), [amy.uri]);
  } finally {
    await p.stop();
  }
});

test("MIMI-DISC-09 search, discover and connect are rate-limited per local user (429 with Retry-After)", async () => {
  const p = await single("u.example", { userRateLimit: { burst: 3, perMinute: 1 } });
  try {
    const amy = await local(p, "amy");
    const ben = await local(p, "ben");
    for (let i = 0; i < 3; i++) await amy.api.search("u.example", [{ type: "nick", value: `n${i}` }]);
    const e = await amy.api.discover("mimi://u.example/u/ben").then(
      () => undefined,
      (x: unknown) => x,
    );
    assert.ok(isMimiError(e, "MIMI_ERR_DISCOVERY_RATE_LIMITED"));
    assert.equal(e.details?.["status"], 429);
    assert.ok(Number(e.details?.["retryAfterSeconds"]) >= 1);
    await ben.api.discover("mimi://u.example/u/amy"); // ben has his own bucket
  } finally {
    await p.stop();
  }
});
