// Matrix users and who may ask the bridge for what, against a real Synapse (the adapter inside
// provider a.example, bob a native MIMI user on b.example):
//   MIMI-MATRIX-60 a local Matrix user without a display name or avatar exists for MIMI: Synapse
//                  answers GET /profile with 404 for such a user, and the adapter then asks
//                  GET /register/available (M_USER_IN_USE; this Synapse has registration enabled,
//                  without it the endpoint answers 403 and the 404 stands); a user who was never
//                  registered does not exist;
//   MIMI-MATRIX-61 `!mimi invite` honours the room's `invite` power level (m.room.power_levels):
//                  a user below it is refused with a notice and MIMI adds nobody; a user at it may;
//   MIMI-MATRIX-62 `!mimi consent` counts invited members too: refused in a room where someone
//                  besides the sender and the bot is only invited (not yet joined).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { closeAll, collect, testClient, until, type TestClient } from "../../helpers/acceptance.ts";
import { MatrixHttpError, type MatrixEvent } from "../../helpers/matrixClient.ts";
import { startNetwork, type TestNetwork } from "../../helpers/providers.ts";
import { platformUserId } from "../../../src/adapter/index.ts";
import { BRIDGED, REMOTE } from "../conformance.ts";
import { BOT_LOCALPART, MATRIX_SERVER_NAME, matrixAdapterOf, matrixDriver, type MatrixDriver } from "./driver.ts";

const botId = `@${BOT_LOCALPART}:${MATRIX_SERVER_NAME}`;
const bobUri = `mimi://${REMOTE}/u/bob`;
const LONG = 60_000;

let net: TestNetwork;
let driver: MatrixDriver;
let bob: TestClient;

before(async () => {
  // /register/available (the adapter's fallback for profile-less users) answers only while
  // registration is enabled (else 403; docs/MATRIX.md §6).
  driver = matrixDriver({ synapseConfig: { enable_registration: true, enable_registration_without_verification: true } });
  const extra = await driver.providerConfig();
  net = await startNetwork([BRIDGED, REMOTE], { storage: "level", extraConfig: (d) => (d === BRIDGED ? extra : {}) });
  await driver.connect(net.providers[BRIDGED]!, ["alice", "carol", "gina"]);
  bob = await testClient(net.providers[REMOTE]!.clientApiUrl);
  await bob.client.register("bob");
  collect(bob);
});

after(async () => {
  await closeAll([bob].filter((c) => c !== undefined));
  await driver?.close().catch(() => undefined);
  await net?.stop();
});

const adapter = () => matrixAdapterOf(net.providers[BRIDGED]!);
const isBot = (e: MatrixEvent, text: string) => e.sender === botId && typeof e.content.body === "string" && e.content.body.startsWith(text);

test("MIMI-MATRIX-60 a Matrix user without display name or avatar exists (GET /profile 404 → /register/available); an unregistered one does not", async () => {
  const gina = driver.client("gina");
  // Synapse sets the localpart as display name at registration: gina clears it ("" is stored as none).
  await gina.request("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(gina.userId)}/displayname`, { displayname: "" });
  // The situation of the finding: the profile lookup alone says "no such user".
  const status = await gina.request("GET", `/_matrix/client/v3/profile/${encodeURIComponent(gina.userId)}`).then(
    () => 200,
    (err: unknown) => (err instanceof MatrixHttpError ? err.status : -1),
  );
  assert.equal(status, 404, "Synapse answers 404 for a profile without display name and avatar");
  assert.equal(await adapter().platformUserExists(platformUserId(gina.userId)), true, "gina exists");
  assert.equal(await adapter().platformUserExists(platformUserId(`@nobody-${Date.now()}:${MATRIX_SERVER_NAME}`)), false, "a user never registered does not exist");
  assert.equal(await adapter().platformUserExists(platformUserId(driver.client("alice").userId)), true, "a user with a display name exists");
});

test("MIMI-MATRIX-61 `!mimi invite` needs the room's invite power level: carol (0) is refused where invite is 50, alice (100) may", async () => {
  const alice = driver.client("alice");
  const carol = driver.client("carol");
  const joinedBefore = bob.events.filter((e) => e.type === "joined").length;
  const room = await driver.bridgeGroup("alice", "invite levels", []);
  // invite: 50 (Synapse's private_chat preset gives 0); carol joins at level 0.
  const pl = await alice.request<Record<string, unknown>>("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/state/m.room.power_levels/`);
  await alice.request("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(room)}/state/m.room.power_levels/`, { ...pl, invite: 50 });
  await alice.invite(room, carol.userId);
  await alice.waitForMembership(room, carol.userId, "join", LONG);
  await carol.sendMessage(room, `!mimi invite ${bobUri}`);
  await carol.waitForEvent(room, (e) => isBot(e, "You cannot invite in this room: inviting needs power level 50, yours is 0."), "the bot refuses carol", LONG);
  // MIMI added nobody: bob has no room yet.
  assert.equal(bob.events.filter((e) => e.type === "joined").length, joinedBefore, "bob was not added");
  await alice.sendMessage(room, `!mimi invite ${bobUri}`);
  await alice.waitForEvent(room, (e) => isBot(e, `Invited ${bobUri}`), "alice's invite is accepted", LONG);
  await until(() => bob.events.filter((e) => e.type === "joined").length > joinedBefore, "bob is added to the room", LONG);
});

test("MIMI-MATRIX-62 `!mimi consent list` is refused while someone else is only invited to the room (joined and invited members count)", async () => {
  const alice = driver.client("alice");
  // hank has no client running, so he never answers the invite: he stays invited.
  const hank = await driver.synapse().registerUser(`hank${Date.now()}`);
  const room = await alice.createRoom({ preset: "private_chat", invite: [botId] });
  await alice.waitForMembership(room, botId, "join", LONG);
  await alice.invite(room, hank.userId);
  await alice.waitForMembership(room, hank.userId, "invite", LONG);
  await alice.sendMessage(room, "!mimi consent list");
  await alice.waitForEvent(room, (e) => isBot(e, "Consent commands are answered only in a direct chat"), "refused with hank invited", LONG);
  assert.equal(alice.room(room).timeline.some((e) => isBot(e, "Your MIMI consent policy")), false, "no consent listing in that room");
});
