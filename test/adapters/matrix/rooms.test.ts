// Matrix-specific room behaviour beyond the conformance suite, against a real Synapse with the
// adapter inside provider a.example and a native MIMI user (bob) on b.example:
//   MIMI-MATRIX-04 bot commands: `!mimi bridge` from a non-admin is refused; `status`; `unbridge`
//                  stops the room carrying messages;
//   MIMI-MATRIX-04 power levels → MIMI roles (a room admin raising a ghost to 50 makes the MIMI
//                  user an admin of the group).
import assert from "node:assert/strict";
import { test } from "node:test";
import { closeAll, collect, messagesOf, testClient, until, waitForEvent, type TestClient } from "../../helpers/acceptance.ts";
import { startNetwork, type TestNetwork } from "../../helpers/providers.ts";
import { BRIDGED, REMOTE } from "../conformance.ts";
import { loadRegistration } from "../../../adapters/matrix/registration.ts";
import { BOT_LOCALPART, MATRIX_SERVER_NAME, matrixDriver, type MatrixDriver } from "./driver.ts";

const botId = `@${BOT_LOCALPART}:${MATRIX_SERVER_NAME}`;

async function setup(users: readonly string[]): Promise<{ net: TestNetwork; driver: MatrixDriver; bob: TestClient; asToken: string }> {
  const driver = matrixDriver();
  const extra = (await driver.providerConfig()) as { adapters: { matrix: { registrationFile: string } } };
  // The bridge's as_token, to read a ghost's account data as the application service would.
  const asToken = loadRegistration(extra.adapters.matrix.registrationFile).as_token;
  const net = await startNetwork([BRIDGED, REMOTE], { storage: "level", extraConfig: (d) => (d === BRIDGED ? extra : {}) });
  await driver.connect(net.providers[BRIDGED]!, users);
  const bob = await testClient(net.providers[REMOTE]!.clientApiUrl);
  await bob.client.register("bob");
  collect(bob);
  return { net, driver, bob, asToken };
}

async function teardown(w: { net: TestNetwork; driver: MatrixDriver; bob: TestClient } | undefined): Promise<void> {
  if (w === undefined) return;
  await closeAll([w.bob]);
  await w.driver.close().catch(() => undefined);
  await w.net.stop();
}

const botSaid = (body: unknown, prefix: string) => typeof body === "string" && body.startsWith(prefix);

test("MIMI-MATRIX-04 bot commands: bridge needs a room admin; status; unbridge stops the room carrying messages", async () => {
  let w: Awaited<ReturnType<typeof setup>> | undefined;
  try {
    w = await setup(["alice", "carol"]);
    const { driver, bob } = w;
    const alice = driver.client("alice");
    const carol = driver.client("carol");
    // carol (power level 0) may not bridge alice's room.
    const roomId = await alice.createRoom({ name: "commands", preset: "public_chat", invite: [botId], power_level_content_override: { users: { [botId]: 100 } } });
    await alice.waitForMembership(roomId, botId, "join", 60_000);
    await carol.join(roomId);
    await carol.sendMessage(roomId, "!mimi bridge");
    await alice.waitForEvent(roomId, (e) => e.sender === botId && botSaid(e.content.body, "Only a room admin"), "the bot refuses carol", 60_000);
    await alice.sendMessage(roomId, "!mimi status");
    await alice.waitForEvent(roomId, (e) => e.sender === botId && typeof e.content.body === "string" && e.content.body.includes("not bridged"), "status: not bridged", 60_000);
    // alice bridges a room of hers (as its creator) with bob; a second bridge is refused.
    const room = await driver.bridgeGroup("alice", "commands2", [`mimi://${REMOTE}/u/bob`]);
    await alice.sendMessage(room, "!mimi bridge");
    await alice.waitForEvent(room, (e) => e.sender === botId && botSaid(e.content.body, "This room is already bridged"), "a second bridge is refused", 60_000);
    const joined = await waitForEvent(bob, (e) => e.type === "joined", "bob is added");
    await driver.send("alice", room, "before unbridge");
    await waitForEvent(bob, (e) => e.type === "message" && e.text === "before unbridge", "bob reads alice");
    await alice.sendMessage(room, "!mimi unbridge");
    await alice.waitForEvent(room, (e) => e.sender === botId && botSaid(e.content.body, "Unbridged"), "the bot confirms the unbridge", 60_000);
    await driver.send("alice", room, "after unbridge");
    await alice.sendMessage(room, "!mimi status");
    await alice.waitForEvent(room, (e) => e.sender === botId && typeof e.content.body === "string" && e.content.body.includes("not bridged"), "status after unbridge", 60_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(messagesOf(bob, joined.roomId).filter((m) => m.text === "after unbridge").length, 0, "an unbridged room carries nothing");
  } finally {
    await teardown(w);
  }
});

test("MIMI-MATRIX-04 power levels → roles: a room admin raising a ghost to 50 makes the MIMI user an admin", async () => {
  let w: Awaited<ReturnType<typeof setup>> | undefined;
  try {
    w = await setup(["alice"]);
    const { driver, bob } = w;
    const bobUri = `mimi://${REMOTE}/u/bob`;
    const room = await driver.bridgeGroup("alice", "roles", [bobUri]);
    const joined = await waitForEvent(bob, (e) => e.type === "joined", "bob is added");
    const alice = driver.client("alice");
    const ghost = driver.adapter(w.net.providers[BRIDGED]!).ghostFor(bobUri);
    await alice.waitForMembership(room, ghost, "join", 60_000);
    await alice.setUserPowerLevel(room, ghost, 50);
    await until(async () => (await bob.client.room(joined.roomId)).participants.some((p) => p.user === bobUri && p.roleName === "admin"), "bob is an admin in MIMI", 30_000);
  } finally {
    await teardown(w);
  }
});

test("MIMI-MATRIX-30 a MIMI direct room reaches a Matrix user as a DM: the ghost's invite carries is_direct (CS API §Direct Messaging) and the ghost files it in its m.direct", async () => {
  let w: Awaited<ReturnType<typeof setup>> | undefined;
  try {
    w = await setup(["alice"]);
    const { driver, bob, asToken } = w;
    const aliceUri = `mimi://${BRIDGED}/u/alice`;
    const bobUri = `mimi://${REMOTE}/u/bob`;
    const dm = await bob.client.createRoom("direct", { participants: [aliceUri] });
    await bob.client.send(dm, "hello alice");
    const room = await driver.matrixRoom(await driver.roomOf("alice", dm));
    const alice = driver.client("alice");
    const ghost = driver.adapter(w.net.providers[BRIDGED]!).ghostFor(bobUri);
    const invite = await alice.waitForEvent(room, (e) => e.type === "m.room.member" && e.state_key === alice.userId && e.content.membership === "invite", "the ghost's invite", 60_000);
    assert.deepEqual({ sender: invite.sender, isDirect: invite.content.is_direct }, { sender: ghost, isDirect: true });
    await alice.waitForEvent(room, (e) => e.type === "m.room.message" && e.content.body === "hello alice", "bob's message", 60_000);
    // The ghost's m.direct (CS API §Direct Messaging: account data, user ID → rooms) lists the DM
    // under alice: read as the application service, masquerading as the ghost (AS API §Identity assertion).
    const url = `${driver.synapse().url}/_matrix/client/v3/user/${encodeURIComponent(ghost)}/account_data/m.direct?user_id=${encodeURIComponent(ghost)}`;
    let direct: Record<string, unknown> = {};
    await until(async () => {
      const res = await fetch(url, { headers: { authorization: `Bearer ${asToken}` }, signal: AbortSignal.timeout(30_000) });
      direct = res.ok ? ((await res.json()) as Record<string, unknown>) : {};
      return Array.isArray(direct[alice.userId]) && (direct[alice.userId] as unknown[]).includes(room);
    }, "the ghost's m.direct lists the DM under alice", 60_000, () => JSON.stringify(direct));
  } finally {
    await teardown(w);
  }
});
