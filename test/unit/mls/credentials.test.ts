// MIMI credentials and the authentication service that replaces ts-mls's accept-everything one.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  addMembers,
  allowExternalSenders,
  clientCredential,
  createAuthenticationService,
  createClient,
  generateKeyPackages,
  parseMimiCredential,
  processMessage,
  providerCredential,
  requireClientProvider,
  requireParticipant,
} from "../../../src/mls/index.ts";
import { addAndJoin, client, rejectsWith, room, te, throwsWith, userOf } from "./helpers.ts";

const KEY = new Uint8Array(32);

test("MIMI-MLS-03 a client credential is the canonical client URI and yields the user URI", () => {
  const id = parseMimiCredential(clientCredential("mimi://a.example/d/alice/phone"));
  assert.deepEqual(id, {
    kind: "client",
    clientUri: "mimi://a.example/d/alice/phone",
    userUri: "mimi://a.example/u/alice",
    provider: "a.example",
    user: "alice",
    device: "phone",
  });
  // clientCredential normalises what it is given; the credential bytes are the canonical form.
  const c = clientCredential("MIMI://A.Example/d/alice/phone");
  assert.ok(c.credentialType === "basic");
  assert.equal(new TextDecoder().decode(c.identity), "mimi://a.example/d/alice/phone");
  const p = parseMimiCredential(providerCredential("Hub.Example"));
  assert.deepEqual(p, { kind: "provider", providerUri: "mimi://hub.example", provider: "hub.example" });
});

test("MIMI-MLS-03 MIMI-MLS-04 the AS rejects credentials that are not MIMI client or provider URIs", async () => {
  const as = createAuthenticationService();
  const basic = (s: string | Uint8Array) => ({ credentialType: "basic" as const, identity: typeof s === "string" ? te.encode(s) : s });
  assert.equal(await as.validateCredential(basic("mimi://a.example/d/alice/phone"), KEY), true);
  assert.equal(await as.validateCredential(basic("mimi://hub.example"), KEY), true);
  const bad: [string, ReturnType<typeof basic> | { credentialType: "x509"; certificates: Uint8Array[] }][] = [
    ["x509", { credentialType: "x509", certificates: [new Uint8Array([1])] }],
    ["not UTF-8", basic(new Uint8Array([0xff, 0xfe]))],
    ["not a URI", basic("alice")],
    ["other scheme", basic("https://a.example/d/alice/phone")],
    ["not canonical (host case)", basic("mimi://A.example/d/alice/phone")],
    ["user URI", basic("mimi://a.example/u/alice")],
    ["room URI", basic("mimi://a.example/r/room")],
    ["device without user", basic("mimi://a.example/d/phone")],
    ["device with three segments", basic("mimi://a.example/d/alice/phone/x")],
  ];
  for (const [what, credential] of bad) {
    assert.equal(await as.validateCredential(credential, KEY), false, what);
    assert.ok(as.rejection !== undefined && as.rejection.length > 0, what);
  }
  throwsWith(() => clientCredential("mimi://a.example/u/alice"), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");
  throwsWith(() => parseMimiCredential(basic("mimi://a.example/d/phone")), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");
});

test("MIMI-MLS-03 pluggable checks: provider of the submitter, allowed external senders, participants", async () => {
  const as = createAuthenticationService([
    requireClientProvider("a.example"),
    allowExternalSenders(["hub.example"]),
    requireParticipant((u) => u === "mimi://a.example/u/alice"),
  ]);
  const basic = (s: string) => ({ credentialType: "basic" as const, identity: te.encode(s) });
  assert.equal(await as.validateCredential(basic("mimi://a.example/d/alice/phone"), KEY), true);
  assert.equal(await as.validateCredential(basic("mimi://b.example/d/alice/phone"), KEY), false);
  assert.match(as.rejection ?? "", /not from provider a\.example/);
  assert.equal(await as.validateCredential(basic("mimi://a.example/d/bob/phone"), KEY), false);
  assert.match(as.rejection ?? "", /not a participant/);
  assert.equal(await as.validateCredential(basic("mimi://hub.example"), KEY), true);
  assert.equal(await as.validateCredential(basic("mimi://evil.example"), KEY), false);
  assert.match(as.rejection ?? "", /not an allowed external sender/);
});

test("MIMI-MLS-03 a committer's AS check rejects adding a client of another provider", async () => {
  const alice = await createClient("mimi://a.example/d/alice/phone", { credentialChecks: [requireClientProvider("a.example")] });
  const mallory = await client("mallory", "laptop", { provider: "b.example" });
  const g = await room(alice, [userOf("alice"), "mimi://b.example/u/mallory"]);
  const kp = (await generateKeyPackages(mallory))[0];
  assert.ok(kp !== undefined);
  const err = await rejectsWith(addMembers(g, [kp.encoded]), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");
  assert.match(err.message, /not from provider a\.example/);
});

test("MIMI-MLS-03 a receiver's AS check rejects a commit that adds a client it does not accept", async () => {
  const alice = await client("alice");
  const bob = await createClient("mimi://a.example/d/bob/phone", { credentialChecks: [requireClientProvider("a.example")] });
  const carol = await client("carol", "phone", { provider: "b.example" });
  const g = await room(alice, [userOf("alice"), userOf("bob"), "mimi://b.example/u/carol"]);
  const { adder, joined } = await addAndJoin(g, [bob]);
  const b = joined[0];
  assert.ok(b !== undefined);
  const kp = (await generateKeyPackages(carol))[0];
  assert.ok(kp !== undefined);
  const r = await addMembers(adder, [kp.encoded]);
  await rejectsWith(processMessage(b, r.commit), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");
  // a per-operation check works the same way
  await rejectsWith(processMessage(b, r.commit, { credentialChecks: [requireClientProvider("a.example")] }), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");
});

test("MIMI-MLS-05 a client whose user is not a participant cannot be added", async () => {
  const alice = await client("alice");
  const eve = await client("eve");
  const g = await room(alice, [userOf("alice")]);
  const kp = (await generateKeyPackages(eve))[0];
  assert.ok(kp !== undefined);
  const err = await rejectsWith(addMembers(g, [kp.encoded]), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");
  assert.match(err.message, /not a participant/);
});
