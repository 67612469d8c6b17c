// Acceptance of issue 6 ("Wrong hs_token, events for rooms and users outside the namespace,
// malformed events and huge bodies get the right errors and change nothing"), end to end: the
// Matrix bridge as a real process (provider a.example, LevelDB) next to a real Synapse, bob a native
// MIMI user on b.example in a bridged room (processWorld.ts). Hostile requests are made to the
// bridge's transaction endpoint directly, as a homeserver (or an attacker who can reach the port)
// would; the real hs_token is read from the registration both sides use.
//
// "Changed nothing" is checked with a barrier: after the hostile input alice sends a real message
// through Synapse into the bridged room. The bridge hands events over per room (one lane per room,
// in the order stored), so when bob has that message, everything stored before it FOR THE BRIDGED
// ROOM was handled — bob's new messages must then be exactly the good ones. Events for other rooms
// have lanes of their own: MIMI-MATRIX-51 puts a second barrier (a bot command answered by the
// bot) into the real unbridged room it uses; a room that does not exist has no lane a real event
// could follow, and nothing of it could reach bob's room.
//
//   MIMI-MATRIX-50 hs_token: missing → 401 M_UNAUTHORIZED, wrong (Authorization header, legacy
//                  access_token query, the as_token, another scheme) → 403 M_FORBIDDEN, on every
//                  route, before the body is read; the right token in the legacy query works.
//   MIMI-MATRIX-51 events for rooms that are not bridged and from users outside the namespace
//                  (remote users, spoofed ghosts, the bot, look-alike server names; a `!mimi
//                  unbridge` from a spoofed sender): 200, ignored; user queries outside → 404.
//   MIMI-MATRIX-52 malformed transactions (not JSON, empty, no events array) → 400 M_NOT_JSON /
//                  M_BAD_JSON without using up the txnId; malformed events inside a transaction are
//                  dropped one by one, the good events beside them still arrive.
//   MIMI-MATRIX-53 size: a transaction over maxTransactionBytes → 413 M_TOO_LARGE; a message whose
//                  body or formatted_body is over maxBodyBytes (real through Synapse, and pushed
//                  within the transaction limit) is refused with a notice in the Matrix room (the
//                  adapter's documented rule) and never reaches MIMI.
//   MIMI-MATRIX-54 a barrage of bad requests while Synapse pushes good events loses none of them.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { TRANSACTION_PATH_PREFIX } from "../../../adapters/matrix/appservice.ts";
import { messagesOf, waitForEvent } from "../../helpers/acceptance.ts";
import type { MatrixEvent } from "../../helpers/matrixClient.ts";
import { MATRIX_SERVER_NAME } from "./driver.ts";
import { BOT_ID, GHOST_PREFIX, bridgeRoom, pushTransaction, startProcessWorld, syntheticEvent, type ProcessWorld, type PushOptions, type PushResult } from "./processWorld.ts";

const MAX_BODY_BYTES = 4096;
const MAX_TRANSACTION_BYTES = 256 * 1024;
const DEADLINE_MS = 120_000;

let w: ProcessWorld | undefined;
let room: { matrixRoomId: string; mimiRoomId: string } | undefined;
let barriers = 0;

const world = (): ProcessWorld => {
  assert.ok(w !== undefined && room !== undefined, "the world started");
  return w;
};
const rooms = (): { matrixRoomId: string; mimiRoomId: string } => {
  assert.ok(room !== undefined, "the bridged room exists");
  return room;
};

before(async () => {
  w = await startProcessWorld({ limits: { maxBodyBytes: MAX_BODY_BYTES, maxTransactionBytes: MAX_TRANSACTION_BYTES } });
  room = await bridgeRoom(w, "hostile");
});

after(async () => {
  await w?.stop();
});

const tag = (): string => randomBytes(5).toString("hex");
const bobTexts = (): string[] => messagesOf(world().bob, rooms().mimiRoomId).map((m) => m.text);

/** A real message of alice through Synapse, awaited at bob: everything stored before it was handled. */
async function barrier(): Promise<string> {
  const text = `barrier ${++barriers}`;
  await world().alice.sendMessage(rooms().matrixRoomId, text);
  await waitForEvent(world().bob, (e) => e.type === "message" && e.roomId === rooms().mimiRoomId && e.text === text, `bob to get "${text}"`, DEADLINE_MS);
  return text;
}

/** A message event of alice in the bridged room, as Synapse would push it. */
function aliceSays(body: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return syntheticEvent({ eventId: `$hostile-${tag()}`, roomId: rooms().matrixRoomId, sender: world().alice.userId, content: { msgtype: "m.text", body, ...extra } });
}

function expectError(r: PushResult, status: number, errcode: string, what: string): void {
  assert.equal(r.status, status, `${what}: HTTP status (${JSON.stringify(r.body)})`);
  assert.equal(r.body.errcode, errcode, `${what}: errcode`);
  assert.equal(typeof r.body.error, "string", `${what}: an error text`);
}

const push = (txnId: string, body: unknown, o?: PushOptions): Promise<PushResult> => pushTransaction(world(), txnId, body, o);

/** A request to another route of the transaction endpoint. */
async function call(method: string, path: string, token: string | null): Promise<PushResult> {
  const res = await fetch(`${world().asUrl}${path}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(method === "POST" ? { "content-type": "application/json" } : {}) },
    ...(method === "POST" ? { body: "{}" } : {}),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Bob's messages since `from`, after a barrier. */
async function bobGotSince(from: number): Promise<string[]> {
  await barrier();
  return bobTexts().slice(from);
}

test("MIMI-MATRIX-50 a missing or wrong hs_token is refused (401 M_UNAUTHORIZED / 403 M_FORBIDDEN, header and legacy query) and changes nothing", { timeout: 600_000 }, async () => {
  const { registration } = world();
  const from = bobTexts().length;
  const events = { events: [aliceSays("auth: must not arrive")] };
  const ghost = encodeURIComponent(`@${GHOST_PREFIX}x=40b.example:${MATRIX_SERVER_NAME}`);
  // Spec, Application Service API, "Authorization" and PUT /transactions: no credentials → 401;
  // credentials rejected → 403 M_FORBIDDEN.
  expectError(await push(`auth-${tag()}`, events, { token: null }), 401, "M_UNAUTHORIZED", "no token");
  expectError(await push(`auth-${tag()}`, events, { token: "0".repeat(64) }), 403, "M_FORBIDDEN", "a wrong token in the Authorization header");
  expectError(await push(`auth-${tag()}`, events, { token: "0".repeat(64), via: "query" }), 403, "M_FORBIDDEN", "a wrong token in the legacy access_token query");
  expectError(await push(`auth-${tag()}`, events, { token: registration.as_token }), 403, "M_FORBIDDEN", "the as_token (the bridge's own token) instead of the hs_token");
  expectError(await push(`auth-${tag()}`, events, { token: `${registration.hs_token}x` }), 403, "M_FORBIDDEN", "the hs_token with a suffix");
  expectError(await push(`auth-${tag()}`, events, { token: registration.hs_token.slice(0, -1) }), 403, "M_FORBIDDEN", "a prefix of the hs_token");
  const basic = await fetch(`${world().asUrl}${TRANSACTION_PATH_PREFIX}/transactions/auth-${tag()}`, {
    method: "PUT",
    headers: { authorization: `Basic ${Buffer.from(`x:${registration.hs_token}`).toString("base64")}`, "content-type": "application/json" },
    body: JSON.stringify(events),
  });
  expectError({ status: basic.status, body: (await basic.json()) as Record<string, unknown> }, 403, "M_FORBIDDEN", "another authorization scheme");
  // Auth comes before the body is read: an oversized body with a wrong token is a 403, not a 413.
  expectError(await push(`auth-${tag()}`, null, { token: "0".repeat(64), raw: Buffer.alloc(MAX_TRANSACTION_BYTES + 1024, 0x20) }), 403, "M_FORBIDDEN", "a wrong token with an oversized body");
  // The other routes are guarded the same way.
  expectError(await call("GET", `${TRANSACTION_PATH_PREFIX}/users/${ghost}`, null), 401, "M_UNAUTHORIZED", "user query without a token");
  expectError(await call("GET", `${TRANSACTION_PATH_PREFIX}/users/${ghost}`, "0".repeat(64)), 403, "M_FORBIDDEN", "user query with a wrong token");
  expectError(await call("GET", `${TRANSACTION_PATH_PREFIX}/rooms/${encodeURIComponent(`#x:${MATRIX_SERVER_NAME}`)}`, "0".repeat(64)), 403, "M_FORBIDDEN", "alias query with a wrong token");
  expectError(await call("POST", `${TRANSACTION_PATH_PREFIX}/ping`, "0".repeat(64)), 403, "M_FORBIDDEN", "ping with a wrong token");
  expectError(await call("PUT", `/transactions/legacy-${tag()}`, "0".repeat(64)), 403, "M_FORBIDDEN", "the unprefixed legacy path with a wrong token");
  assert.deepEqual(await call("POST", `${TRANSACTION_PATH_PREFIX}/ping`, registration.hs_token), { status: 200, body: {} }, "ping with the hs_token");
  // The right token in the legacy query parameter (homeservers before spec v1.4) is accepted.
  assert.deepEqual(await push(`auth-${tag()}`, { events: [aliceSays("auth: legacy query token")] }, { via: "query" }), { status: 200, body: {} });
  assert.deepEqual(await bobGotSince(from), ["auth: legacy query token", `barrier ${barriers}`], "only the authenticated push reached bob");
});

test("MIMI-MATRIX-51 events for rooms that are not bridged and from users outside the namespace are ignored: 200, nothing reaches MIMI, the room stays bridged", { timeout: 600_000 }, async () => {
  const { alice } = world();
  const { matrixRoomId } = rooms();
  const from = bobTexts().length;
  // The bot is in the unbridged room too, so a command there can serve as that room's barrier.
  const notBridged = await alice.createRoom({ name: "not bridged", preset: "private_chat", invite: [BOT_ID] });
  await alice.waitForMembership(notBridged, BOT_ID, "join", DEADLINE_MS);
  const say = (sender: string, roomId: string, body: string) => syntheticEvent({ eventId: `$hostile-${tag()}`, roomId, sender, content: { msgtype: "m.text", body } });
  const spoofed = [
    say(alice.userId, notBridged, "outside: a real room that is not bridged"),
    say(alice.userId, `!nowhere-${tag()}:${MATRIX_SERVER_NAME}`, "outside: a room that does not exist"),
    say("@mallory:evil.example", matrixRoomId, "outside: a user of another server"),
    say(`@mallory:${MATRIX_SERVER_NAME}.evil`, matrixRoomId, "outside: a look-alike server name"),
    say(world().ghostOf(world().bobUri), matrixRoomId, "outside: bob's ghost, spoofed"),
    say(`@${GHOST_PREFIX}eve=40b.example:${MATRIX_SERVER_NAME}`, matrixRoomId, "outside: a ghost of nobody"),
    say(BOT_ID, matrixRoomId, "outside: the bot, spoofed"),
    // Bot commands from senders the bridge does not serve must not unbridge the room.
    say("@mallory:evil.example", matrixRoomId, "!mimi unbridge"),
    say(world().ghostOf(world().bobUri), matrixRoomId, "!mimi unbridge"),
    // A membership change of a remote user in the bridged room.
    syntheticEvent({ eventId: `$hostile-${tag()}`, roomId: matrixRoomId, sender: "@mallory:evil.example", type: "m.room.member", content: { membership: "join" } }),
  ];
  assert.deepEqual(await push(`outside-${tag()}`, { events: spoofed }), { status: 200, body: {} }, "accepted (the homeserver's word), then ignored");
  // User queries (spec "Querying", GET /users/{userId}) outside the ghost namespace: 404 without asking the adapter.
  for (const user of ["@mallory:evil.example", alice.userId, `@${GHOST_PREFIX}x:${MATRIX_SERVER_NAME}.evil`]) {
    expectError(await call("GET", `${TRANSACTION_PATH_PREFIX}/users/${encodeURIComponent(user)}`, world().registration.hs_token), 404, "M_NOT_FOUND", `user query for ${user}`);
  }
  // The barrier passing through the bridged room also shows it is still bridged; it covers that
  // room's lane only. The unbridged room's lane: the bot answering a later command there means the
  // spoofed event before it was handled (and, as the answer says, did not bridge the room).
  assert.deepEqual(await bobGotSince(from), [`barrier ${barriers}`], "nothing of the spoofed events reached bob");
  await alice.sendMessage(notBridged, "!mimi status");
  await alice.waitForEvent(notBridged, (e) => e.sender === BOT_ID && typeof e.content.body === "string" && e.content.body.includes("This room is not bridged."), "the bot's status answer in the unbridged room", DEADLINE_MS);
  assert.deepEqual(bobTexts().slice(from), [`barrier ${barriers}`], "still nothing of the spoofed events at bob after the unbridged room's lane went past them");
  const botSaid = alice.room(matrixRoomId).timeline.filter((e: MatrixEvent) => e.sender === BOT_ID && typeof e.content.body === "string" && /Unbridged/.test(e.content.body));
  assert.deepEqual(botSaid, [], "the bot did not unbridge the room");
});

test("MIMI-MATRIX-52 malformed transactions get 400 M_NOT_JSON / M_BAD_JSON; malformed events are dropped one by one while good events beside them arrive", { timeout: 600_000 }, async () => {
  const { matrixRoomId } = rooms();
  const { alice } = world();
  const from = bobTexts().length;
  const txnId = `malformed-${tag()}`;
  expectError(await push(txnId, null, { raw: "{not json" }), 400, "M_NOT_JSON", "a body that is not JSON");
  expectError(await push(txnId, null, { raw: "" }), 400, "M_NOT_JSON", "an empty body");
  expectError(await push(txnId, null, { raw: Buffer.from([0xff, 0xfe, 0x00, 0x7b]) }), 400, "M_NOT_JSON", "binary garbage");
  expectError(await push(txnId, [aliceSays("malformed: in an array")]), 400, "M_BAD_JSON", "a JSON array");
  expectError(await push(txnId, {}), 400, "M_BAD_JSON", "no events");
  expectError(await push(txnId, { events: "x" }), 400, "M_BAD_JSON", "events is a string");
  expectError(await push(txnId, { events: { 0: aliceSays("malformed: events is an object") } }), 400, "M_BAD_JSON", "events is an object");
  expectError(await push(txnId, "events"), 400, "M_BAD_JSON", "a JSON string");

  const good = aliceSays("malformed: the good one beside them");
  const base = aliceSays("malformed: must not arrive");
  const without = (key: string): Record<string, unknown> => Object.fromEntries(Object.entries({ ...base, event_id: `$hostile-${tag()}` }).filter(([k]) => k !== key));
  let deep: unknown = "bottom";
  for (let i = 0; i < 200; i++) deep = { d: deep };
  const bad: unknown[] = [
    null,
    42,
    "an event",
    [],
    without("event_id"),
    without("room_id"),
    without("sender"),
    without("type"),
    without("content"),
    without("origin_server_ts"),
    { ...base, event_id: 12345 },
    { ...base, event_id: "no-sigil" },
    { ...base, event_id: `$${"x".repeat(300)}` },
    { ...base, event_id: `$hostile-${tag()}`, room_id: ["!a:b"] },
    { ...base, event_id: `$hostile-${tag()}`, sender: { user: "@alice" } },
    { ...base, event_id: `$hostile-${tag()}`, sender: "@alice\u0000:hs.localhost" },
    { ...base, event_id: `$hostile-${tag()}`, content: "a string" },
    { ...base, event_id: `$hostile-${tag()}`, content: [1, 2] },
    { ...base, event_id: `$hostile-${tag()}`, origin_server_ts: "yesterday" },
    { ...base, event_id: `$hostile-${tag()}`, type: "" },
    { ...base, event_id: `$hostile-${tag()}`, state_key: 7 },
    { ...base, event_id: `$hostile-${tag()}`, unsigned: "x" },
    { ...base, event_id: `$hostile-${tag()}`, content: { msgtype: "m.text", body: "malformed: too deep", deep } },
  ];
  // One transaction: malformed events are dropped one by one, the good one is kept; malformed
  // ephemeral events (MSC2409) too.
  const first = await push(txnId, { events: [...bad.slice(0, 12), good, ...bad.slice(12)], ephemeral: [42, { type: "" }, { type: "m.typing", room_id: 5, content: {} }] });
  assert.deepEqual(first, { status: 200, body: {} }, "the transaction is accepted; its malformed events are dropped (400s did not use up the txnId)");
  // Well-formed events whose content the mapping refuses: a notice in the room, nothing to MIMI.
  const badBody = aliceSays("x");
  const refused = { ...badBody, content: { msgtype: "m.text", body: 42 } };
  assert.deepEqual(await push(`malformed-${tag()}`, { events: [refused] }), { status: 200, body: {} });
  await alice.waitForEvent(matrixRoomId, (e) => (e.sender === BOT_ID || e.sender.startsWith(`@${GHOST_PREFIX}`)) && typeof e.content.body === "string" && e.content.body.startsWith("Not delivered to MIMI: body is missing or not a string"), "the bridge's notice about the refused body", DEADLINE_MS);
  assert.deepEqual(await bobGotSince(from), ["malformed: the good one beside them", `barrier ${barriers}`], "only the good event reached bob");
});

test("MIMI-MATRIX-53 a transaction over maxTransactionBytes gets 413 M_TOO_LARGE; a body or formatted_body over maxBodyBytes is refused with a notice and never reaches MIMI", { timeout: 600_000 }, async () => {
  const { alice } = world();
  const { matrixRoomId } = rooms();
  const from = bobTexts().length;
  const txnId = `size-${tag()}`;
  const huge = { events: [aliceSays(`size: huge ${"x".repeat(MAX_TRANSACTION_BYTES)}`)] };
  expectError(await push(txnId, huge), 413, "M_TOO_LARGE", "a transaction over the limit");
  expectError(await push(`size-${tag()}`, null, { raw: Buffer.alloc(4 * MAX_TRANSACTION_BYTES, 0x7b) }), 413, "M_TOO_LARGE", "4× the limit, not JSON either");
  // The refused txnId is not used up: the homeserver's retry (after splitting, or a fixed body) goes through.
  assert.deepEqual(await push(txnId, { events: [aliceSays("size: the retry after a 413")] }), { status: 200, body: {} });

  // Through Synapse (a real event): body and formatted_body over maxBodyBytes.
  const notice = (what: RegExp) =>
    alice.waitForEvent(matrixRoomId, (e) => (e.sender === BOT_ID || e.sender.startsWith(`@${GHOST_PREFIX}`)) && typeof e.content.body === "string" && what.test(e.content.body), `a notice matching ${what}`, DEADLINE_MS);
  const bigBody = `size: big body ${"b".repeat(MAX_BODY_BYTES)}`;
  await alice.sendMessage(matrixRoomId, bigBody);
  await notice(new RegExp(`^Not delivered to MIMI: body is larger than ${MAX_BODY_BYTES} bytes`));
  await alice.sendMessage(matrixRoomId, { msgtype: "m.text", body: "size: big formatted", format: "org.matrix.custom.html", formatted_body: `<p>${"<b>f</b>".repeat(MAX_BODY_BYTES / 4)}</p>` });
  await notice(new RegExp(`^Not delivered to MIMI: formatted_body is larger than ${MAX_BODY_BYTES} bytes`));
  // Pushed directly: a formatted_body 25× maxBodyBytes, the transaction still within its limit.
  const pushedFormatted = aliceSays("size: pushed formatted", { format: "org.matrix.custom.html", formatted_body: `<p>${"<i>g</i>".repeat((25 * MAX_BODY_BYTES) / 8)}</p>` });
  assert.ok(JSON.stringify({ events: [pushedFormatted] }).length < MAX_TRANSACTION_BYTES);
  const before = alice.room(matrixRoomId).timeline.filter((e) => typeof e.content.body === "string" && e.content.body.includes("formatted_body is larger")).length;
  assert.deepEqual(await push(`size-${tag()}`, { events: [pushedFormatted] }), { status: 200, body: {} });
  await alice.waitFor(() => alice.room(matrixRoomId).timeline.filter((e) => typeof e.content.body === "string" && e.content.body.includes("formatted_body is larger")).length > before || undefined, "the notice about the pushed formatted body", DEADLINE_MS);
  assert.deepEqual(await bobGotSince(from), ["size: the retry after a 413", `barrier ${barriers}`], "no oversized message reached bob");
});

test("MIMI-MATRIX-54 a barrage of bad requests while Synapse pushes good events loses none of them and duplicates none", { timeout: 600_000 }, async () => {
  const { alice, registration } = world();
  const { matrixRoomId } = rooms();
  const from = bobTexts().length;
  const good = Array.from({ length: 20 }, (_, i) => `barrage good ${i + 1}`);
  const bad = (i: number): Promise<PushResult> => {
    const id = `barrage-${i}-${tag()}`;
    switch (i % 6) {
      case 0:
        return push(id, { events: [aliceSays("barrage: wrong token")] }, { token: "f".repeat(64) });
      case 1:
        return push(id, { events: [aliceSays("barrage: no token")] }, { token: null });
      case 2:
        return push(id, null, { raw: "{\"events\": [" });
      case 3:
        return push(id, { events: [aliceSays(`barrage: huge ${"h".repeat(MAX_TRANSACTION_BYTES)}`)] });
      case 4:
        return push(id, { events: [{ event_id: 1 }, syntheticEvent({ eventId: `$hostile-${tag()}`, roomId: matrixRoomId, sender: "@mallory:evil.example", content: { msgtype: "m.text", body: "barrage: outsider" } })] });
      default:
        return push(id, { events: "nope" }, { token: registration.hs_token, via: "query" });
    }
  };
  const expected: Record<number, number> = { 0: 403, 1: 401, 2: 400, 3: 413, 4: 200, 5: 400 };
  const badResults: Promise<{ i: number; r: PushResult }>[] = [];
  for (const [i, text] of good.entries()) {
    await alice.sendMessage(matrixRoomId, text);
    for (let k = 0; k < 3; k++) {
      const n = i * 3 + k;
      badResults.push(bad(n).then((r) => ({ i: n, r })));
    }
  }
  for (const { i, r } of await Promise.all(badResults)) assert.equal(r.status, expected[i % 6], `bad request ${i} (kind ${i % 6}): ${JSON.stringify(r.body)}`);
  assert.deepEqual(await bobGotSince(from), [...good, `barrier ${barriers}`], "every good message once, in order, and nothing else");
});
