// The Synapse test harness itself (issue 6 §8): a real Synapse installed into the cached venv,
// started with a generated config and an application-service registration, two real users over
// the client-server API, messages, edits, replies, threads, reactions and redactions seen through
// /sync, the application service's token and masquerading accepted, transactions pushed to the
// application service with the hs_token, and a restart that keeps the database.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { MatrixClient, MatrixHttpError, clientFor, type JsonObject, type MatrixEvent } from "../../helpers/matrixClient.ts";
import { tempDir } from "../../helpers/processes.ts";
import { SYNAPSE_VERSION, ensureSynapse, startSynapse, type SynapseServer } from "../../helpers/synapse.ts";

const SERVER = "hs.localhost";

interface Transaction {
  txnId: string;
  authorization: string | undefined;
  events: MatrixEvent[];
  ephemeral: MatrixEvent[];
}

/** A minimal application-service endpoint that records every transaction Synapse pushes. */
async function appServiceEndpoint(): Promise<{ url: string; transactions: Transaction[]; close: () => Promise<void> }> {
  const transactions: Transaction[] = [];
  const readBody = async (req: IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const m = /^\/_matrix\/app\/v1\/transactions\/([^/?]+)/.exec(req.url ?? "");
      if (req.method === "PUT" && m?.[1] !== undefined) {
        const parsed = JSON.parse(body) as { events?: MatrixEvent[]; ephemeral?: MatrixEvent[]; "de.sorunome.msc2409.ephemeral"?: MatrixEvent[] };
        transactions.push({
          txnId: decodeURIComponent(m[1]),
          authorization: req.headers.authorization,
          events: parsed.events ?? [],
          ephemeral: parsed.ephemeral ?? parsed["de.sorunome.msc2409.ephemeral"] ?? [],
        });
      }
      // Users and rooms queries, pings: answer "nothing here" / ok.
      const status = req.method === "GET" && /^\/_matrix\/app\/v1\/(users|rooms)\//.test(req.url ?? "") ? 404 : 200;
      res.writeHead(status, { "content-type": "application/json" }).end(status === 200 ? "{}" : '{"errcode":"M_NOT_FOUND"}');
    })();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return { url: `http://127.0.0.1:${port}`, transactions, close: () => new Promise((r) => server.close(() => r())) };
}

const bodyOf = (e: MatrixEvent): unknown => e.content.body;
const relatesTo = (e: MatrixEvent): JsonObject | undefined => e.content["m.relates_to"] as JsonObject | undefined;

test("the Synapse harness: install cache, users, rooms, messages and an application service on a real Synapse", async (t) => {
  const installed = await ensureSynapse();
  t.diagnostic(`Synapse ${SYNAPSE_VERSION}: ${installed.installed ? "installed" : "cached"} in ${installed.ms} ms`);

  const tmp = await tempDir("synapse-as");
  const as = await appServiceEndpoint();
  const asToken = randomBytes(24).toString("hex");
  const hsToken = randomBytes(24).toString("hex");
  const registrationPath = join(tmp.path, "registration.yaml");
  await writeFile(
    registrationPath,
    stringify({
      id: "mimi-harness-test",
      url: as.url,
      as_token: asToken,
      hs_token: hsToken,
      sender_localpart: "_mimi_bot",
      rate_limited: false,
      receive_ephemeral: true,
      namespaces: { users: [{ exclusive: true, regex: `@_mimi_.*:${SERVER.replace(/\./g, "\\.")}` }], aliases: [], rooms: [] },
    }),
    { mode: 0o600 },
  );

  let hs: SynapseServer | undefined;
  const clients: MatrixClient[] = [];
  t.after(async () => {
    for (const c of clients) await c.stop();
    await hs?.dispose();
    await as.close();
    await tmp.remove();
  });

  let lap = Date.now();
  const mark = (what: string) => {
    t.diagnostic(`${what}: ${Date.now() - lap} ms`);
    lap = Date.now();
  };
  hs = await startSynapse({ serverName: SERVER, appServiceConfigFiles: [registrationPath] });
  mark(`Synapse started at ${hs.url}`);
  const pid = hs.pid();
  assert.ok(pid !== undefined && pid > 0);
  assert.equal(hs.serverName, SERVER);

  const versions = (await (await fetch(`${hs.url}/_matrix/client/versions`)).json()) as { versions: string[] };
  assert.ok(versions.versions.includes("v1.11"), `client API versions: ${versions.versions.join(", ")}`);

  // --- two users registered with the shared secret; a password login works too -----------------
  const aliceUser = await hs.registerUser("alice", undefined, true);
  const bobUser = await hs.registerUser("bob");
  assert.equal(aliceUser.userId, `@alice:${SERVER}`);
  assert.equal(bobUser.userId, `@bob:${SERVER}`);
  assert.ok(aliceUser.accessToken.length > 0 && aliceUser.deviceId.length > 0);
  mark("two users registered");
  const alice = clientFor(hs.url, aliceUser);
  const bob = await MatrixClient.login(hs.url, "bob", bobUser.password);
  clients.push(alice, bob);
  assert.equal((await alice.whoami()).user_id, aliceUser.userId);
  assert.equal((await bob.whoami()).user_id, bobUser.userId);
  await assert.rejects(hs.registerUser("alice"), /HTTP 400/, "a taken user ID is refused");
  mark("login");
  await Promise.all([alice.startSync(), bob.startSync()]);

  mark("first /sync");
  // --- a room: create with an invite, join, power levels, name and topic -------------------------
  const roomId = await alice.createRoom({ name: "harness", preset: "private_chat", invite: [bob.userId] });
  assert.equal(await bob.waitForInvite(roomId), roomId);
  await bob.join(roomId);
  await alice.waitForMembership(roomId, bob.userId, "join");
  assert.deepEqual((await alice.joinedMembers(roomId)).sort(), [alice.userId, bob.userId].sort());
  await alice.setUserPowerLevel(roomId, bob.userId, 50);
  await bob.waitFor(() => (bob.room(roomId).state.get("m.room.power_levels\u0000")?.content.users as Record<string, number> | undefined)?.[bob.userId] === 50 || undefined, "bob's power level 50");
  await alice.setRoomName(roomId, "renamed");
  await alice.setRoomTopic(roomId, "a topic");
  await bob.waitFor(() => bob.room(roomId).state.get("m.room.topic\u0000")?.content.topic === "a topic" || undefined, "the topic");
  assert.equal(bob.room(roomId).state.get("m.room.name\u0000")?.content.name, "renamed");

  mark("room set up");
  // --- messages, idempotent transaction IDs, edits, replies, threads, reactions, redactions --------
  const txnId = `harness-${randomBytes(4).toString("hex")}`;
  const first = await alice.sendMessage(roomId, "hello bob", txnId);
  assert.equal(await alice.sendMessage(roomId, "hello bob", txnId), first, "the same txnId is the same event");
  const seen = await bob.waitForEventId(roomId, first);
  assert.equal(bodyOf(seen), "hello bob");
  assert.equal(seen.sender, alice.userId);

  const edit = await alice.edit(roomId, first, "hello, bob");
  const seenEdit = await bob.waitForEventId(roomId, edit);
  assert.deepEqual(relatesTo(seenEdit), { rel_type: "m.replace", event_id: first });
  assert.equal((seenEdit.content["m.new_content"] as JsonObject).body, "hello, bob");

  const reply = await bob.reply(roomId, first, "hi alice");
  const seenReply = await alice.waitForEventId(roomId, reply);
  assert.deepEqual(relatesTo(seenReply), { "m.in_reply_to": { event_id: first } });

  const inThread = await bob.thread(roomId, first, "in a thread");
  const seenThread = await alice.waitForEventId(roomId, inThread);
  assert.equal(relatesTo(seenThread)?.rel_type, "m.thread");
  assert.equal(relatesTo(seenThread)?.event_id, first);

  const reaction = await bob.react(roomId, first, "👍");
  const seenReaction = await alice.waitForEventId(roomId, reaction);
  assert.deepEqual(relatesTo(seenReaction), { rel_type: "m.annotation", event_id: first, key: "👍" });

  const redaction = await alice.redact(roomId, first, "oops");
  const seenRedaction = await bob.waitForEventId(roomId, redaction);
  assert.equal(seenRedaction.type, "m.room.redaction");
  assert.equal(seenRedaction.redacts ?? seenRedaction.content.redacts, first);
  const redacted = await bob.getEvent(roomId, first);
  assert.equal(redacted.content.body, undefined, "the redacted event lost its body");

  mark("messages");
  // --- ephemeral events and account data (m.direct) ----------------------------------------------
  await bob.setTyping(roomId, true);
  await alice.waitForEphemeral(roomId, (e) => e.type === "m.typing" && (e.content.user_ids as string[]).includes(bob.userId), "bob typing");
  await bob.sendReceipt(roomId, reply);
  await alice.waitForEphemeral(roomId, (e) => e.type === "m.receipt" && JSON.stringify(e.content).includes(bob.userId), "bob's read receipt");
  const dm = await alice.createRoom({ is_direct: true, preset: "trusted_private_chat", invite: [bob.userId] });
  await alice.markDirect(bob.userId, dm);
  assert.deepEqual(await alice.getAccountData("m.direct"), { [bob.userId]: [dm] });
  await alice.waitFor(() => alice.accountData.get("m.direct"), "m.direct through /sync");
  const dmInvite = await bob.waitForInvite(dm);
  const dmMember = bob.invites.get(dmInvite)?.find((e) => e.type === "m.room.member" && e.state_key === bob.userId);
  assert.equal(dmMember?.content.is_direct, true, "the DM invite carries is_direct");

  mark("ephemeral and account data");
  // --- the application service: as_token, masquerading, exclusive namespace, pushes --------------
  const bot = new MatrixClient({ baseUrl: hs.url, userId: `@_mimi_bot:${SERVER}`, accessToken: asToken });
  assert.equal((await bot.whoami()).user_id, `@_mimi_bot:${SERVER}`, "the as_token is the sender_localpart user");
  const ghostId = `@_mimi_x:${SERVER}`;
  await bot.request("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "_mimi_x", inhibit_login: true });
  const ghost = new MatrixClient({ baseUrl: hs.url, userId: bot.userId, accessToken: asToken, asUserId: ghostId });
  assert.equal((await ghost.whoami()).user_id, ghostId, "masquerading as a registered ghost");
  const outside = new MatrixClient({ baseUrl: hs.url, userId: bot.userId, accessToken: asToken, asUserId: bob.userId });
  await assert.rejects(outside.whoami(), (err: unknown) => err instanceof MatrixHttpError && err.status === 403, "no masquerading outside the namespace");
  await assert.rejects(
    bot.request("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "carol" }),
    (err: unknown) => err instanceof MatrixHttpError && err.errcode === "M_EXCLUSIVE",
    "the application service registers only its own namespace",
  );
  await assert.rejects(
    bob.request("POST", "/_matrix/client/v3/register", { type: "m.login.application_service", username: "_mimi_y" }),
    (err: unknown) => err instanceof MatrixHttpError && err.status === 401,
    "a user token is not an application-service token",
  );
  await assert.rejects(
    new MatrixClient({ baseUrl: hs.url, userId: bot.userId, accessToken: hsToken }).whoami(),
    (err: unknown) => err instanceof MatrixHttpError && err.status === 401,
    "the hs_token is not a client token",
  );

  mark("application service auth");
  await alice.invite(roomId, ghostId);
  await ghost.join(roomId);
  await bob.waitForMembership(roomId, ghostId, "join");
  mark("ghost joined");
  const fromGhost = await ghost.sendMessage(roomId, "from the ghost");
  assert.equal((await bob.waitForEventId(roomId, fromGhost)).sender, ghostId);
  const toGhost = await bob.sendMessage(roomId, "to the ghost");
  const pushed = await bob.waitFor(
    () => as.transactions.find((tx) => tx.events.some((e) => e.event_id === toGhost)),
    "Synapse to push bob's message to the application service",
    120_000,
  );
  assert.equal(pushed.authorization, `Bearer ${hsToken}`, "Synapse authenticates pushes with the hs_token in the header");
  assert.ok(as.transactions.some((tx) => tx.events.some((e) => e.type === "m.room.member" && e.state_key === ghostId)), "the ghost's join was pushed");
  mark("message pushed");
  await alice.setTyping(roomId, true);
  const aliceTyping = (e: MatrixEvent) => e.type === "m.typing" && e.room_id === roomId && ((e.content.user_ids as string[] | undefined) ?? []).includes(alice.userId);
  await bob.waitFor(() => as.transactions.some((tx) => tx.ephemeral.some(aliceTyping)) || undefined, "alice's m.typing pushed to the application service (receive_ephemeral)", 120_000);

  mark("ghost and pushes");
  // --- moderation: kick and ban -------------------------------------------------------------------
  await alice.kick(roomId, ghostId, "test kick");
  await bob.waitForMembership(roomId, ghostId, "leave");
  await alice.ban(roomId, ghostId, "test ban");
  await bob.waitForMembership(roomId, ghostId, "ban");
  await assert.rejects(ghost.join(roomId), (err: unknown) => err instanceof MatrixHttpError && err.status === 403, "a banned ghost cannot join");
  await alice.kick(roomId, bob.userId);
  await bob.waitFor(() => bob.left.has(roomId) || undefined, "bob's kick to reach bob's /sync");

  mark("moderation");
  // --- a restart keeps the database and the port; only our child is stopped ----------------------
  const restarted = Date.now();
  await hs.restart();
  t.diagnostic(`Synapse restarted in ${Date.now() - restarted} ms`);
  const newPid = hs.pid();
  assert.ok(newPid !== undefined && newPid !== pid);
  assert.throws(() => process.kill(pid, 0), "the old Synapse process is gone");
  const afterRestart = await alice.sendMessage(roomId, "after the restart");
  await alice.waitForEventId(roomId, afterRestart);
  assert.equal((await alice.whoami()).user_id, alice.userId, "access tokens survive the restart");

  for (const c of clients.splice(0)) await c.stop();
  await hs.dispose();
  assert.equal(hs.pid(), undefined);
  assert.throws(() => process.kill(newPid, 0), "Synapse is stopped");
  hs = undefined;
});
