// The SDK's pure parts: event derivation and storage form, state persistence, the retry loop,
// role choice, and the HTTP transport (with a fake fetch).
import { test } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { buildMessage } from "../../../src/client-api/sdk/content.ts";
import { fromStored, memberEvents, metadataEvents, participantEvents, toStored } from "../../../src/client-api/sdk/events.ts";
import type { MimiEvent } from "../../../src/client-api/sdk/events.ts";
import { retryOnWrongEpoch } from "../../../src/client-api/sdk/retry.ts";
import { addedRole, resolveRole, roleName } from "../../../src/client-api/sdk/roles.ts";
import { ClientStateStore, openClientStore } from "../../../src/client-api/sdk/state.ts";
import { HttpTransport, parseKeyPackageCount, parseServerEvent, roomPath } from "../../../src/client-api/sdk/transport.ts";
import { stateJsonDecode, stateJsonEncode } from "../../../src/client-api/sdk/util.ts";
import { MimiError } from "../../../src/errors.ts";
import { directPreset, groupPreset, moderatedChannelPreset } from "../../../src/policy/index.ts";
import { openStore } from "../../../src/storage/index.ts";
import { tempDir } from "../../helpers/processes.ts";

const ROOM = "mimi://a.example/r/x";
const A = "mimi://a.example/u/alice";
const B = "mimi://b.example/u/bob";
const C = "mimi://a.example/u/carol";
const base = { roomId: ROOM, timestamp: 5, by: A };

test("participant events: added, removed, banned (as role change and as addition), role changed", () => {
  const before = { participants: [{ user: A, roleIndex: 3 }, { user: B, roleIndex: 2 }, { user: C, roleIndex: 2 }] };
  const after = { participants: [{ user: A, roleIndex: 3 }, { user: C, roleIndex: 1 }, { user: "mimi://a.example/u/dave", roleIndex: 2 }, { user: "mimi://a.example/u/eve", roleIndex: 1 }] };
  const events = participantEvents(before, after, base);
  assert.deepEqual(events, [
    { ...base, type: "participantRemoved", user: B },
    { ...base, type: "participantBanned", user: C },
    { ...base, type: "participantAdded", user: "mimi://a.example/u/dave", role: 2 },
    { ...base, type: "participantBanned", user: "mimi://a.example/u/eve" },
  ]);
  assert.deepEqual(participantEvents(after, { participants: [{ user: A, roleIndex: 2 }, ...after.participants.slice(1)] }, base), [{ ...base, type: "roleChanged", user: A, from: 3, to: 2 }]);
  assert.deepEqual(participantEvents(before, before, base), []);
});

test("member and metadata events only when something changed", () => {
  const m = (leafIndex: number, client: string, key: number) => ({ leafIndex, identity: { kind: "client" as const, clientUri: client as never, userUri: A as never, provider: "a.example", user: "alice", device: "1" }, signaturePublicKey: new Uint8Array([key]) });
  const x = [m(0, "mimi://a.example/d/alice/1", 1)];
  const y = [m(0, "mimi://a.example/d/alice/1", 1), m(1, "mimi://a.example/d/alice/2", 2)];
  assert.deepEqual(memberEvents(x, y, base), [{ ...base, type: "membersChanged", added: ["mimi://a.example/d/alice/2"], removed: [] }]);
  assert.deepEqual(memberEvents(y, y, base), []);
  const meta = { roomUri: ROOM, roomName: "A", roomDescriptions: [], roomAvatar: "", roomSubject: "", roomMood: "" };
  assert.deepEqual(metadataEvents(meta, meta, base), []);
  assert.deepEqual(metadataEvents(meta, { ...meta, roomName: "B" }, base), [{ ...base, type: "roomMetadata", name: "B", subject: "" }]);
});

test("a stored message event keeps its content as bytes and comes back equal", () => {
  const built = buildMessage({ senderUri: A, roomUri: ROOM }, { kind: "text", text: "hi" });
  const ev: MimiEvent = { type: "message", roomId: ROOM, messageId: built.messageId, sender: { user: A, client: "mimi://a.example/d/alice/1" }, timestamp: 7, content: built.content, kind: "text", text: "hi" };
  const stored = stateJsonDecode<ReturnType<typeof toStored>>(stateJsonEncode(toStored(ev, built.bytes)));
  assert.deepEqual(fromStored(stored), ev);
  const joined: MimiEvent = { type: "joined", roomId: ROOM, timestamp: 1, via: "welcome" };
  assert.deepEqual(fromStored(stateJsonDecode(stateJsonEncode(toStored(joined)))), joined);
});

test("state JSON keeps bytes and bigints; a corrupt record is MIMI_ERR_SDK_STATE_INVALID", () => {
  const v = { a: new Uint8Array([1, 2, 3]), b: 12345678901234567890n, c: [new Uint8Array(0)], d: "x" };
  assert.deepEqual(stateJsonDecode(stateJsonEncode(v)), v);
  assert.throws(() => stateJsonDecode(new TextEncoder().encode("{")), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_STATE_INVALID");
});

test("the client state persists in a LevelDB folder (mode 0700) across reopen; batches are atomic", async () => {
  const tmp = await tempDir("sdk-state");
  try {
    const dir = join(tmp.path, "state");
    let store = await openClientStore(dir);
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    let s = new ClientStateStore(store);
    await s.commit(s.batch().put("cursor", { seq: 42 }).put("room/mimi://a.example/r/x", { roomId: ROOM, status: "active", joinedAt: 1 }).putRaw("group/mimi://a.example/r/x", new Uint8Array([9, 9])));
    await store.close();
    store = await openClientStore(dir);
    s = new ClientStateStore(store);
    assert.equal(await s.cursor(), 42);
    assert.deepEqual(await s.rooms(), [{ roomId: ROOM, status: "active", joinedAt: 1 }]);
    assert.deepEqual(await s.groupState(ROOM), new Uint8Array([9, 9]));
    assert.deepEqual(await s.eventMeta(), { next: 1, delivered: 0 });
    await s.commit(s.batch().put(ClientStateStore.eventKey(1), { type: "joined" }).put(ClientStateStore.eventKey(2), { type: "left" }));
    assert.deepEqual((await s.queuedEvents(0, 10)).map((e) => [e.seq, e.event.type]), [
      [1, "joined"],
      [2, "left"],
    ]);
    assert.deepEqual((await s.queuedEvents(1, 10)).map((e) => e.seq), [2]);
    await store.close();
  } finally {
    await tmp.remove();
  }
});

test("a Store without the sdk namespace is refused with a clear error", async () => {
  const store = await openStore({ kind: "memory" });
  try {
    assert.throws(() => new ClientStateStore(store), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_STATE_INVALID");
  } finally {
    await store.close();
  }
});

test("retryOnWrongEpoch: catches up to the hub's epoch between attempts, gives up with MIMI_ERR_SDK_CONFLICT", async () => {
  const catchUps: (bigint | undefined)[] = [];
  let n = 0;
  const value = await retryOnWrongEpoch(
    () => {
      n++;
      return Promise.resolve(n < 3 ? { kind: "retry" as const, epoch: BigInt(10 + n), reason: "wrongEpoch" } : { kind: "done" as const, value: "ok" });
    },
    {
      what: "test",
      catchUp: (epoch) => {
        catchUps.push(epoch);
        return Promise.resolve();
      },
    },
  );
  assert.equal(value, "ok");
  assert.deepEqual(catchUps, [11n, 12n]);
  let attempts = 0;
  await assert.rejects(
    retryOnWrongEpoch(
      () => {
        attempts++;
        return Promise.resolve({ kind: "retry" as const, epoch: 1n, reason: "wrongEpoch" });
      },
      { what: "add user", maxAttempts: 3, catchUp: () => Promise.resolve() },
    ),
    (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_CONFLICT" && /add user/.test(e.message),
  );
  assert.equal(attempts, 3);
  // errors other than a lost race are not retried
  let calls = 0;
  await assert.rejects(
    retryOnWrongEpoch(
      () => {
        calls++;
        return Promise.reject(new MimiError("MIMI_ERR_SDK_NOT_ALLOWED"));
      },
      { what: "x", catchUp: () => Promise.resolve() },
    ),
    (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_NOT_ALLOWED",
  );
  assert.equal(calls, 1);
});

test("the role for an added user follows the actor's authorized role changes and the presets' ordinary roles", () => {
  const g = groupPreset().policy.roleData;
  assert.equal(addedRole(g, 3), 2, "group admin adds a member");
  assert.equal(addedRole(g, 2), 2, "group member adds a member");
  const ch = moderatedChannelPreset().policy.roleData;
  assert.equal(addedRole(ch, 5), 3, "channel moderator adds an attendee");
  assert.equal(addedRole(directPreset().policy.roleData, 2), 2);
  assert.equal(addedRole(undefined, 0), 2);
  assert.equal(resolveRole(g, "admin"), 3);
  assert.equal(resolveRole(g, "2"), 2);
  assert.equal(resolveRole(g, 1), 1);
  assert.throws(() => resolveRole(g, "emperor"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_CLI_USAGE");
  assert.equal(roleName(g, 1), "banned");
  assert.equal(roleName(g, 99), "99");
});

test("room paths drop mimi:// and percent-encode each segment", () => {
  assert.equal(roomPath("mimi://a.example/r/club house"), "a.example/r/club%20house");
  assert.equal(roomPath("mimi://a.example/r/x%2Fy"), "a.example/r/x%252Fy");
});

test("HttpTransport: base path, bearer token, JSON bodies with base64, catalogue errors, unreachable providers", async () => {
  const seen: { url: string; method: string; auth: string | undefined; body: unknown }[] = [];
  const answers: Response[] = [];
  const fakeFetch = ((url: string, init: RequestInit) => {
    const headers = init.headers as Record<string, string>;
    seen.push({ url, method: init.method ?? "GET", auth: headers["authorization"], body: typeof init.body === "string" ? JSON.parse(init.body) : undefined });
    const a = answers.shift();
    return a === undefined ? Promise.reject(new TypeError("fetch failed")) : Promise.resolve(a);
  }) as unknown as typeof fetch;
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
  const t = new HttpTransport({ apiUrl: "http://127.0.0.1:8481/", fetch: fakeFetch });
  assert.equal(t.baseUrl, "http://127.0.0.1:8481/client/v1");

  answers.push(json(201, { userUri: A, token: "T0K" }));
  assert.deepEqual(await t.register("alice"), { userUri: A, token: "T0K" });
  assert.equal(seen[0]?.auth, undefined, "register needs no token");
  await assert.rejects(t.me(), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_NOT_REGISTERED");
  t.setToken("T0K");

  answers.push(json(200, { responseB64: Buffer.from([1, 2, 3]).toString("base64") }));
  assert.deepEqual(await t.update(ROOM, new Uint8Array([7, 8])), new Uint8Array([1, 2, 3]));
  const upd = seen.at(-1);
  assert.equal(upd?.url, "http://127.0.0.1:8481/client/v1/rooms/a.example/r/x/update");
  assert.equal(upd?.auth, "Bearer T0K");
  assert.deepEqual(upd?.body, { bundleB64: Buffer.from([7, 8]).toString("base64") });

  answers.push(json(401, { code: "MIMI_ERR_CLIENT_UNAUTHENTICATED", message: "missing or invalid client token" }));
  await assert.rejects(t.me(), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_CLIENT_UNAUTHENTICATED" && e.details?.["status"] === 401);
  answers.push(json(409, { code: "MIMI_ERR_ROOM_EXISTS", message: "exists", details: { roomId: ROOM } }));
  await assert.rejects(t.createRoom(ROOM, new Uint8Array(1), new Uint8Array(1), "mimi://a.example/d/alice/1"), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_ROOM_EXISTS");
  answers.push(json(500, { code: "SOMETHING_ELSE", message: "?" }));
  await assert.rejects(t.me(), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_BAD_RESPONSE");
  answers.push(new Response("not json", { status: 200 }));
  await assert.rejects(t.me(), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_BAD_RESPONSE");
  await assert.rejects(t.me(), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_UNREACHABLE");

  answers.push(json(200, [{ seq: 1, type: "welcome", roomId: ROOM, timestamp: 9, fanoutB64: "AQI=", keyPackageRefsB64: ["AwQ="] }]));
  const evs = await t.events(0, 1000);
  assert.deepEqual(evs, [{ seq: 1, type: "welcome", roomId: ROOM, timestamp: 9, fanout: new Uint8Array([1, 2]), keyPackageRefs: [new Uint8Array([3, 4])] }]);
  assert.match(seen.at(-1)?.url ?? "", /\/events\?after=0&wait=1000$/);
});

test("event and count parsing reject malformed answers and accept both count shapes", () => {
  assert.throws(() => parseServerEvent({ seq: 0, type: "fanout", roomId: ROOM, timestamp: 1, fanoutB64: "" }), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_BAD_RESPONSE");
  assert.throws(() => parseServerEvent({ seq: 1, type: "other", roomId: ROOM, timestamp: 1, fanoutB64: "" }), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_BAD_RESPONSE");
  assert.throws(() => parseServerEvent({ seq: 1, type: "fanout", roomId: ROOM, timestamp: 1, fanoutB64: "!!" }), (e: unknown) => e instanceof MimiError && e.code === "MIMI_ERR_SDK_BAD_RESPONSE");
  assert.deepEqual(parseKeyPackageCount({ available: 3, lastResort: 1 }, "c"), { available: 3, lastResort: 1 });
  assert.deepEqual(parseKeyPackageCount({ c: { available: 2, lastResort: 0 }, d: { available: 9, lastResort: 1 } }, "c"), { available: 2, lastResort: 0 });
  assert.deepEqual(parseKeyPackageCount({}, "c"), { available: 0, lastResort: 0 });
});
