// Matrix adapter features of issue 6 items 4, 6, 7 against a real Synapse, with the adapter inside
// provider a.example and native MIMI users on b.example (one network for the file; each test uses
// its own rooms):
//   MIMI-MATRIX-08 room upgrades: POST /upgrade → m.room.tombstone; the bot (invited into the
//                  private replacement after its notice) and the ghosts follow, the portal moves,
//                  messages flow both ways in the new room, an old event's redaction in the old
//                  room and a MIMI edit of a message shown before the upgrade still resolve; messages sent in the new room while the
//                  portal moves reach MIMI; a tombstone naming a room that is not the upgrade
//                  (m.room.create `predecessor`) moves nothing;
//   MIMI-MATRIX-09 knocks: a knock gets the bot's notice and stays off MIMI, accepting it (an
//                  invite) adds the user in MIMI, rejecting it is no MIMI kick; a ghost MIMI adds
//                  joins the knock room on the bot's invite;
//   MIMI-MATRIX-10 avatars both ways (mxc ⇄ authenticated media URL; a foreign URL is not shown);
//   MIMI-MATRIX-11 `!mimi invite <handle>` resolves through discovery (identifier.query);
//                  `!mimi consent list|grant|revoke` in a DM with the bot, refused elsewhere;
//   MIMI-MATRIX-07 /metrics of a real run: counts change (events in/out, latency histograms,
//                  typing handed to the core and answered `ignored`), connection gauge, /health.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { closeAll, collect, testClient, until, waitForEvent, type TestClient } from "../../helpers/acceptance.ts";
import type { MatrixEvent } from "../../helpers/matrixClient.ts";
import { startNetwork, type TestNetwork } from "../../helpers/providers.ts";
import { BRIDGED, REMOTE } from "../conformance.ts";
import { BOT_LOCALPART, MATRIX_SERVER_NAME, matrixAdapterOf, matrixDriver, type MatrixDriver } from "./driver.ts";

const botId = `@${BOT_LOCALPART}:${MATRIX_SERVER_NAME}`;
const bobUri = `mimi://${REMOTE}/u/bob`;
const erinUri = `mimi://${REMOTE}/u/erin`;
const ERIN_TEL = "tel:+15551230077";
const enc = encodeURIComponent;
const LONG = 60_000;

let net: TestNetwork;
let driver: MatrixDriver;
let bob: TestClient;
let erin: TestClient;

before(async () => {
  driver = matrixDriver();
  const extra = (await driver.providerConfig()) as { adapters: { matrix: Record<string, unknown> } };
  // The metrics listener of the adapter config (a free port).
  extra.adapters.matrix.metrics = { listen: { host: "127.0.0.1", port: 0 } };
  // a.example runs the discovery service (SII → SSI); b.example's users publish their phone numbers to it.
  net = await startNetwork([BRIDGED, REMOTE], {
    storage: "level",
    extraConfig: (d) => (d === BRIDGED ? { ...extra, discovery: { service: { enabled: true } } } : { discovery: { providers: [BRIDGED] } }),
  });
  await driver.connect(net.providers[BRIDGED]!, ["alice", "carol", "dave", "frank"]);
  bob = await testClient(net.providers[REMOTE]!.clientApiUrl);
  await bob.client.register("bob");
  collect(bob);
  erin = await testClient(net.providers[REMOTE]!.clientApiUrl);
  await erin.client.register("erin");
  collect(erin);
  await erin.client.publishMapping(ERIN_TEL);
});

after(async () => {
  await closeAll([bob, erin].filter((c) => c !== undefined));
  await driver?.close().catch(() => undefined);
  await net?.stop();
});

const adapter = () => matrixAdapterOf(net.providers[BRIDGED]!);
const isBot = (e: MatrixEvent, prefix: string | RegExp) => e.sender === botId && typeof e.content.body === "string" && (typeof prefix === "string" ? e.content.body.startsWith(prefix) : prefix.test(e.content.body));

/** The MIMI room bob was added to most recently after `count` earlier joins. */
async function bobJoins(c: TestClient, n: number): Promise<string> {
  await until(() => c.events.filter((e) => e.type === "joined").length >= n, `join number ${n}`, LONG);
  const joined = c.events.filter((e) => e.type === "joined")[n - 1];
  assert.ok(joined?.type === "joined");
  return joined.roomId;
}

/** Uploads bytes to Synapse's content repository as a fresh user; the mxc URI and a token that may download it. */
async function upload(bytes: Uint8Array): Promise<{ mxc: string; token: string }> {
  const s = driver.synapse();
  const u = await s.registerUser(`uploader${Math.random().toString(36).slice(2, 8)}`);
  const res = await fetch(`${s.url}/_matrix/media/v3/upload?filename=a.png`, { method: "POST", headers: { authorization: `Bearer ${u.accessToken}`, "content-type": "image/png" }, body: bytes });
  assert.equal(res.status, 200, await res.clone().text());
  const { content_uri } = (await res.json()) as { content_uri: string };
  return { mxc: content_uri, token: u.accessToken };
}

async function scrape(): Promise<string> {
  const url = adapter().metricsUrl;
  assert.ok(url !== undefined, "the metrics listener is configured");
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** A sample's value in Prometheus text (0 when absent). */
function sample(text: string, name: string, labels = ""): number {
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}${labels} `)) return Number(line.slice(name.length + labels.length + 1));
  }
  return 0;
}

let metricsBefore = "";

test("MIMI-MATRIX-07 the metrics endpoint answers from the start (per-adapter registry) and /health reports the connection", async () => {
  metricsBefore = await scrape();
  assert.equal(sample(metricsBefore, "mimi_matrix_homeserver_connected"), 1);
  assert.match(metricsBefore, /# TYPE mimi_matrix_inbound_queue_depth gauge/);
  assert.match(metricsBefore, /# TYPE mimi_matrix_transaction_processing_seconds histogram/);
  const health = await fetch(`${adapter().metricsUrl ?? ""}/health`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: "ok", state: "connected" });
});

test("MIMI-MATRIX-08 a room upgrade: the bot and the ghost follow, the portal moves, messages flow both ways, old events still resolve", async () => {
  const alice = driver.client("alice");
  const joinsBefore = bob.events.filter((e) => e.type === "joined").length;
  const room = await driver.bridgeGroup("alice", "upgrade me", [bobUri]);
  const mimiRoom = await bobJoins(bob, joinsBefore + 1);
  const ghost = adapter().ghostFor(bobUri);
  await alice.waitForMembership(room, ghost, "join", LONG);
  const before = await driver.send("alice", room, "before the upgrade");
  await waitForEvent(bob, (e) => e.type === "message" && e.text === "before the upgrade", "bob reads alice before the upgrade", LONG);
  const bobOld = await bob.client.send(mimiRoom, "bob before the upgrade");
  const bobOldEvent = await alice.waitForEvent(room, (e) => e.sender === ghost && e.content.body === "bob before the upgrade", "alice reads bob before the upgrade", LONG);

  // alice (the room's creator) upgrades it; the new room is private, so the bot asks to be invited.
  const { replacement_room: newRoom } = await alice.request<{ replacement_room: string }>("POST", `/_matrix/client/v3/rooms/${enc(room)}/upgrade`, { new_version: "12" });
  assert.ok(newRoom.startsWith("!") && newRoom !== room);
  await alice.waitForEvent(room, (e) => isBot(e, "This room was upgraded"), "the bot asks to be invited into the new room", LONG);
  await alice.invite(newRoom, botId);
  await until(async () => (await adapter().matrixRoomOf(room)) === newRoom, "the portal moves to the replacement room", LONG);
  assert.deepEqual(await adapter().matrixRoomsOf(room), [room, newRoom]);
  await alice.waitForMembership(newRoom, botId, "join", LONG);
  await alice.waitForMembership(newRoom, ghost, "join", LONG);
  // The MIMI room is the same one: still linked to the platform room, which now shows through newRoom.
  assert.equal((await adapter().portalOf(room))?.roomId, mimiRoom);

  // Matrix → MIMI through the new room, MIMI → Matrix into the new room.
  await alice.sendMessage(newRoom, "after the upgrade");
  await waitForEvent(bob, (e) => e.type === "message" && e.roomId === mimiRoom && e.text === "after the upgrade", "bob reads alice in the new room", LONG);
  await bob.client.send(mimiRoom, "bob after the upgrade");
  await alice.waitForEvent(newRoom, (e) => e.sender === ghost && e.content.body === "bob after the upgrade", "alice reads bob in the new room", LONG);

  // Late events of the old room: alice redacts her message from before the upgrade.
  await alice.redact(room, before);
  await waitForEvent(bob, (e) => e.type === "message" && e.kind === "delete" && e.roomId === mimiRoom, "the old message's redaction reaches MIMI", LONG);
  // bob edits his message from before the upgrade: the old room is read-only now (Synapse raised
  // events_default there), so the new room shows the edit's fallback text.
  await bob.client.edit(mimiRoom, bobOld, "bob before the upgrade (edited)");
  const edit = await alice.waitForEvent(newRoom, (e) => e.sender === ghost && e.content.body === "* bob before the upgrade (edited)", "bob's edit of an old message shows in the new room", LONG);
  assert.equal(edit.content["m.relates_to"], undefined, "no relation to an event of another room");
  assert.ok(bobOldEvent.event_id !== undefined);
  // Leaving the old room (as clients offer after an upgrade) is not leaving MIMI.
  await alice.leave(room);
  await alice.sendMessage(newRoom, "still here");
  await waitForEvent(bob, (e) => e.type === "message" && e.text === "still here", "alice is still in the MIMI room", LONG);
  const info = await bob.client.room(mimiRoom);
  assert.ok(info.participants.some((p) => p.user === `mimi://${BRIDGED}/u/alice`), "alice is still a participant");
});

test("MIMI-MATRIX-08 an upgrade the bot joins at once: messages sent in the new room while the portal moves all reach MIMI", async () => {
  const alice = driver.client("alice");
  const joinsBefore = bob.events.filter((e) => e.type === "joined").length;
  // A public room: the replacement copies the join rule, so the bot joins it straight from the
  // tombstone's lane, while the new room's events have a lane of their own.
  const room = await alice.createRoom({ name: "upgrade race", preset: "public_chat", invite: [botId], power_level_content_override: { users: { [botId]: 100 } } });
  await alice.waitForMembership(room, botId, "join", LONG);
  await alice.sendMessage(room, "!mimi bridge");
  await alice.waitForEvent(room, (e) => isBot(e, "Bridged"), "the room is bridged", LONG);
  await alice.invite(room, adapter().ghostFor(bobUri));
  const mimiRoom = await bobJoins(bob, joinsBefore + 1);
  const ghost = adapter().ghostFor(bobUri);
  await alice.waitForMembership(room, ghost, "join", LONG);
  // MIMI deliveries queued for the portal hold the move back (it waits behind them).
  await Promise.all(Array.from({ length: 5 }, (_, i) => bob.client.send(mimiRoom, `bob queued ${i}`)));
  const { replacement_room: newRoom } = await alice.request<{ replacement_room: string }>("POST", `/_matrix/client/v3/rooms/${enc(room)}/upgrade`, { new_version: "12" });
  // alice writes as soon as the bot is in the new room, before the move has been seen to finish.
  await alice.waitForMembership(newRoom, botId, "join", LONG);
  const texts = Array.from({ length: 5 }, (_, i) => `right after the upgrade ${i}`);
  for (const t of texts) await alice.sendMessage(newRoom, t);
  for (const t of texts) await waitForEvent(bob, (e) => e.type === "message" && e.roomId === mimiRoom && e.text === t, `bob reads "${t}"`, LONG);
  await until(async () => (await adapter().matrixRoomOf(room)) === newRoom, "the portal moves to the replacement room", LONG);
  await alice.waitForMembership(newRoom, ghost, "join", LONG);
});

test("MIMI-MATRIX-08 a tombstone naming a room that is not the room's upgrade (no predecessor) is refused: the portal stays, the bot says so and leaves that room", async () => {
  const alice = driver.client("alice");
  const joinsBefore = bob.events.filter((e) => e.type === "joined").length;
  const room = await driver.bridgeGroup("alice", "fake upgrade", [bobUri]);
  const mimiRoom = await bobJoins(bob, joinsBefore + 1);
  await alice.waitForMembership(room, adapter().ghostFor(bobUri), "join", LONG);
  // An admin of the portal points its tombstone at a public room of theirs that the bot can join.
  const other = await alice.createRoom({ name: "not an upgrade", preset: "public_chat" });
  await alice.sendState(room, "m.room.tombstone", "", { body: "moved", replacement_room: other });
  await alice.waitForEvent(room, (e) => isBot(e, `This room names ${other} as its replacement, but that room is not its upgrade`), "the bot refuses the move", LONG);
  assert.equal(await adapter().matrixRoomOf(room), room, "the portal stays");
  assert.deepEqual(await adapter().matrixRoomsOf(room), [room]);
  await until(async () => !(await alice.joinedMembers(other)).includes(botId), "the bot is not in the other room", LONG);
  // The room still carries the MIMI room.
  await alice.sendMessage(room, "still bridged");
  await waitForEvent(bob, (e) => e.type === "message" && e.roomId === mimiRoom && e.text === "still bridged", "bob reads alice in the old room", LONG);
});

test("MIMI-MATRIX-09 / MIMI-MATRIX-11 knocks and `!mimi invite`: a knock stays on Matrix, accepting it adds in MIMI, rejecting it is no kick; a looked-up ghost joins on the bot's invite", async () => {
  const alice = driver.client("alice");
  const carol = driver.client("carol");
  const dave = driver.client("dave");
  const joinsBefore = bob.events.filter((e) => e.type === "joined").length;
  const room = await alice.createRoom({
    name: "knock knock",
    preset: "private_chat",
    invite: [botId],
    power_level_content_override: { users: { [botId]: 100 } },
    initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }],
  });
  await alice.waitForMembership(room, botId, "join", LONG);
  await alice.sendMessage(room, "!mimi bridge");
  await alice.waitForEvent(room, (e) => isBot(e, "Bridged"), "the room is bridged", LONG);
  await alice.invite(room, adapter().ghostFor(bobUri));
  const mimiRoom = await bobJoins(bob, joinsBefore + 1);

  // carol knocks: the bot tells the room; nothing reaches MIMI until alice accepts (invites) her.
  await carol.knock(room, "let me in");
  await alice.waitForEvent(room, (e) => isBot(e, `${carol.userId} asks to join`), "the bot's knock notice", LONG);
  assert.ok(!(await bob.client.room(mimiRoom)).participants.some((p) => p.user === `mimi://${BRIDGED}/u/carol`), "a knock is no MIMI membership");
  await alice.invite(room, carol.userId);
  await alice.waitForMembership(room, carol.userId, "join", LONG);
  await until(async () => (await bob.client.room(mimiRoom)).participants.some((p) => p.user === `mimi://${BRIDGED}/u/carol`), "carol is a participant in MIMI", LONG);

  // dave knocks and alice rejects the knock (a kick of a knocking user): no MIMI kick, no refusal notice.
  await dave.knock(room);
  await alice.waitForMembership(room, dave.userId, "knock", LONG);
  await alice.kick(room, dave.userId, "not today");
  await alice.sendMessage(room, "after the rejected knock");
  await waitForEvent(bob, (e) => e.type === "message" && e.text === "after the rejected knock", "the events after the rejection were handled", LONG);
  const recent = await alice.request<{ chunk: MatrixEvent[] }>("GET", `/_matrix/client/v3/rooms/${enc(room)}/messages`, undefined, { dir: "b", limit: "50" });
  assert.ok(!recent.chunk.some((e) => isBot(e, /refused the kick/)), "no MIMI kick was attempted for a rejected knock");

  // `!mimi invite +1 555 123 0077`: discovery resolves erin's phone number (an SII, published to
  // a.example's discovery service), MIMI adds erin, and her ghost (not invited on Matrix, in a
  // knock room) joins on the bot's invite.
  const erinJoins = erin.events.filter((e) => e.type === "joined").length;
  await alice.sendMessage(room, "!mimi invite +1 555 123 0077");
  const erinGhost = adapter().ghostFor(erinUri);
  await alice.waitForEvent(room, (e) => isBot(e, `Invited ${erinUri} (${erinGhost})`), "the bot confirms the invite", LONG);
  assert.equal(await bobJoins(erin, erinJoins + 1), mimiRoom);
  await alice.waitForMembership(room, erinGhost, "join", LONG);
  const invite = alice.room(room).timeline.find((e) => e.type === "m.room.member" && e.state_key === erinGhost && e.content.membership === "invite");
  assert.equal(invite?.sender, botId, "the bot invited the ghost into the knock room");
  // A user MIMI cannot add is answered with the core's reason, not invited.
  await alice.sendMessage(room, "!mimi invite nobody@nowhere.invalid");
  await alice.waitForEvent(room, (e) => isBot(e, /^(No MIMI user found|Looking up nobody@nowhere\.invalid failed|MIMI did not add mimi:\/\/nowhere\.invalid\/u\/nobody)/), "an unknown user is reported", LONG);
  assert.equal(alice.membership(room, adapter().ghostFor("mimi://nowhere.invalid/u/nobody")), undefined, "no ghost was invited");
  // help names the new commands
  await alice.sendMessage(room, "!mimi help");
  await alice.waitForEvent(room, (e) => isBot(e, /!mimi invite .*!mimi consent list\|grant/s), "help lists invite and consent", LONG);
});

test("MIMI-MATRIX-10 avatars: an mxc room avatar reaches MIMI as the homeserver's authenticated media URL; MIMI's avatar of this homeserver's media comes back as mxc, a foreign URL is not shown", async () => {
  const alice = driver.client("alice");
  const joinsBefore = bob.events.filter((e) => e.type === "joined").length;
  const room = await driver.bridgeGroup("alice", "avatars", [bobUri]);
  const mimiRoom = await bobJoins(bob, joinsBefore + 1);
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);
  const first = await upload(png);
  await alice.sendState(room, "m.room.avatar", "", { url: first.mxc });
  const [server, mediaId] = first.mxc.slice("mxc://".length).split("/");
  const expected = `${driver.synapse().url}/_matrix/client/v1/media/download/${enc(server ?? "")}/${mediaId ?? ""}`;
  await waitForEvent(bob, (e) => e.type === "roomMetadata" && e.roomId === mimiRoom && e.avatar === expected, "bob sees the room avatar as an authenticated media URL", LONG);
  // The URL is real: the homeserver serves the bytes to a token holder (CS-API v1.11 authenticated media).
  const got = await fetch(expected, { headers: { authorization: `Bearer ${first.token}` } });
  assert.equal(got.status, 200);
  assert.deepEqual(new Uint8Array(await got.arrayBuffer()), png);

  // bob sets another avatar of this homeserver's media in MIMI: it comes back as mxc.
  const second = await upload(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 9, 9, 9]));
  const [s2, m2] = second.mxc.slice("mxc://".length).split("/");
  await bob.client.updateMetadata(mimiRoom, { avatar: `${driver.synapse().url}/_matrix/client/v1/media/download/${enc(s2 ?? "")}/${m2 ?? ""}` });
  await alice.waitForEvent(room, (e) => e.type === "m.room.avatar" && e.content.url === second.mxc, "alice sees MIMI's avatar as mxc", LONG);
  // A URL elsewhere is not shown (Matrix clients fetch avatars only from the content repository).
  await bob.client.updateMetadata(mimiRoom, { avatar: "https://cdn.example/cat.png" });
  await bob.client.updateMetadata(mimiRoom, { name: "avatars renamed" });
  await alice.waitForEvent(room, (e) => e.type === "m.room.name" && e.content.name === "avatars renamed", "the later rename arrives", LONG);
  const avatar = await alice.getState<{ url?: string }>(room, "m.room.avatar");
  assert.equal(avatar.url, second.mxc, "the foreign avatar URL was not set");
});

test("MIMI-MATRIX-11 `!mimi consent list|grant|revoke` in a DM with the bot; refused in a shared room", async () => {
  const dave = driver.client("dave");
  const daveUri = `mimi://${BRIDGED}/u/dave`;
  const dm = await dave.createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [botId] });
  await dave.waitForMembership(dm, botId, "join", LONG);
  // dave's first bridge gesture (a lookup) makes him a MIMI user; bob then asks for his consent.
  await dave.sendMessage(dm, `!mimi invite bob@${REMOTE}`);
  await dave.waitForEvent(dm, (e) => isBot(e, `${bobUri} is ${adapter().ghostFor(bobUri)} here`), "the lookup answer in an unbridged room", LONG);
  await bob.client.consentRequest(daveUri);
  await dave.sendMessage(dm, "!mimi consent list");
  await dave.waitForEvent(dm, (e) => isBot(e, /Your MIMI consent policy: .*from mimi:\/\/b\.example\/u\/bob: requested/s), "the list shows bob's request", LONG);
  await dave.sendMessage(dm, `!mimi consent grant bob@${REMOTE}`);
  await dave.waitForEvent(dm, (e) => isBot(e, `${bobUri} may now contact you.`), "the grant is confirmed", LONG);
  await until(async () => (await bob.client.consentList()).outgoing.some((r) => r.target === daveUri && r.state === "granted"), "bob sees the grant", LONG);
  await dave.sendMessage(dm, `!mimi consent revoke ${bobUri}`);
  await dave.waitForEvent(dm, (e) => isBot(e, `Consent for ${bobUri} revoked.`), "the revoke is confirmed", LONG);
  // Revocations are not announced to the requester by default (consent.announceRevocations): dave's list shows it.
  await dave.sendMessage(dm, "!mimi consent list");
  await dave.waitForEvent(dm, (e) => isBot(e, /from mimi:\/\/b\.example\/u\/bob: revoked/), "the list shows the revoke", LONG);
  // In a room with others the bot does not list anyone's consents.
  const frank = driver.client("frank");
  const shared = await dave.createRoom({ preset: "private_chat", invite: [botId, frank.userId] });
  await dave.waitForMembership(shared, botId, "join", LONG);
  await dave.waitForMembership(shared, frank.userId, "join", LONG);
  await dave.sendMessage(shared, "!mimi consent list");
  await dave.waitForEvent(shared, (e) => isBot(e, "Consent commands are answered only in a direct chat"), "refused in a shared room", LONG);
});

test("MIMI-MATRIX-07 / MIMI-MATRIX-29 a scrape after real traffic: counts changed; typing reached the core and was answered `ignored`", async () => {
  const alice = driver.client("alice");
  const joinsBefore = bob.events.filter((e) => e.type === "joined").length;
  const room = await driver.bridgeGroup("alice", "metrics", [bobUri]);
  await bobJoins(bob, joinsBefore + 1);
  const typingBefore = sample(await scrape(), "mimi_matrix_core_submissions_total", '{type="typing",status="ignored"}');
  await alice.setTyping(room, true);
  await until(async () => sample(await scrape(), "mimi_matrix_core_submissions_total", '{type="typing",status="ignored"}') > typingBefore, "typing reaches the core, which ignores it", LONG);
  const after = await scrape();
  const grew = (name: string, labels = "") => assert.ok(sample(after, name, labels) > sample(metricsBefore, name, labels), `${name}${labels} grew`);
  grew("mimi_matrix_events_in_total", '{type="m.room.message"}');
  grew("mimi_matrix_events_in_total", '{type="m.typing"}');
  grew("mimi_matrix_events_out_total", '{type="m.room.message"}');
  grew("mimi_matrix_core_submissions_total", '{type="message",status="accepted"}');
  grew("mimi_matrix_transaction_processing_seconds_count", '{kind="event"}');
  grew("mimi_matrix_delivery_seconds_count", '{kind="mimi"}');
  grew("mimi_matrix_room_upgrades_total");
  assert.equal(sample(after, "mimi_matrix_homeserver_connected"), 1);
  // The queue-depth gauge follows the queue: back to 0 once the events counted above went through
  // it (polled: a later typing or receipt transaction may be queued at the moment of a scrape; a
  // gauge stuck above 0 fails at the deadline).
  await until(async () => sample(await scrape(), "mimi_matrix_inbound_queue_depth") === 0, "the inbound queue depth gauge returns to 0", LONG);
  assert.match(after, /mimi_matrix_errors_total\{code="[A-Z0-9_]+"\} \d+/, "errors are counted by code (e.g. the join refused before the upgrade invite)");
});
