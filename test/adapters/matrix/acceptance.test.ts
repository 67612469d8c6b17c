// Acceptance of issue 6 (Matrix), end to end: a real Synapse with real Matrix users (plain
// client-server API, test/helpers/matrixClient.ts), the Matrix adapter inside provider a.example
// (the bridge host, real MLS clients for the Matrix users), and native MIMI SDK users on b.example
// and c.example, all over mutual TLS.
//
//   MIMI-MATRIX-30 a DM after invite-and-accept under the consent policy `none`, from either side:
//                  a Matrix user invites a ghost into an is_direct room (= consent request); a
//                  MIMI user's consent request, also to a Matrix user who never used the bridge,
//                  is a DM from the ghost, joined (= grant);
//   MIMI-MATRIX-31 a Matrix room bridged (`!mimi bridge`) to a MIMI group with native users of two
//                  other providers: messages, replies, edits, reactions and redactions both ways,
//                  each shown once; and a MIMI room that adds a Matrix user who never used the
//                  bridge shows on Matrix;
//   MIMI-MATRIX-32 threads both ways (m.thread ⇄ MIMI topicId, draft-ietf-mimi-content §4.1);
//   MIMI-MATRIX-33 a ban on either side takes effect on the other.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isMimiError } from "../../../src/errors.ts";
import { messagesOf, until, waitForEvent } from "../../helpers/acceptance.ts";
import { MatrixHttpError } from "../../helpers/matrixClient.ts";
import { A, BOT_ID, isMessage, startMatrixWorld } from "./world.ts";

const B = "b.example";
const C = "c.example";

// ---- a. a DM after invite-and-accept, from either side --------------------------------------------------

test("MIMI-MATRIX-30 acceptance: a Matrix user and a native MIMI user on b.example hold a DM after invite-and-accept under the consent policy none, started from either side", async () => {
  const w = await startMatrixWorld({ matrixUsers: ["alice", "carol"], consent: { preConsent: "none" } });
  try {
    const alice = w.matrix("alice");
    const carol = w.matrix("carol");
    const aliceUri = w.uriOf("alice");
    const carolUri = w.uriOf("carol");
    const bob = await w.native(B, "bob");
    const bobGhost = w.ghost(bob.uri);

    // Matrix → MIMI: inviting the ghost into an is_direct room (m.direct, Matrix spec "Direct
    // Messaging") asks bob for consent; under `none` nothing reaches him before he grants.
    const dmA = await alice.createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [bobGhost] });
    await until(async () => (await bob.client.consentList()).pending.some((p) => p.requester === aliceUri), "bob is asked for consent by alice", 60_000);
    await alice.waitForMembership(dmA, bobGhost, "invite", 60_000);
    await alice.sendMessage(dmA, "before the grant");
    await w.settled("alice");
    assert.equal(alice.membership(dmA, bobGhost), "invite", "the ghost waits for the grant before it joins");
    await bob.client.consentGrant(aliceUri);
    await alice.waitForMembership(dmA, bobGhost, "join", 60_000);
    await alice.sendMessage(dmA, "hello bob, from Matrix");
    const joined = await waitForEvent(bob, (e) => e.type === "joined", "bob is in the direct room alice opened", 60_000);
    const first = await isMessage(bob, (m) => m.text === "hello bob, from Matrix", "bob reads alice");
    assert.equal(first.sender.user, aliceUri);
    assert.equal(first.roomId, joined.roomId);
    const info = await bob.client.room(joined.roomId);
    assert.equal(info.kind, "direct");
    assert.deepEqual(info.participants.map((p) => p.user).sort(), [aliceUri, bob.uri].sort(), "a room of the two of them");
    await bob.client.send(joined.roomId, "hello alice, from MIMI");
    const back = await w.sees("alice", dmA, "message", (s) => s.text === "hello alice, from MIMI", "bob's answer from his ghost");
    assert.equal(back.from, bob.uri);
    await alice.sendMessage(dmA, "one more from Matrix");
    await isMessage(bob, (m) => m.text === "one more from Matrix", "bob reads alice again");
    assert.deepEqual(
      messagesOf(bob, joined.roomId).map((m) => m.text),
      ["hello bob, from Matrix", "one more from Matrix"],
      "what alice wrote before the grant never reached bob; the rest once each",
    );
    assert.deepEqual(
      w.seen("alice", dmA).flatMap((s) => (s.kind === "message" && s.from === bob.uri ? [s.text] : [])),
      ["hello alice, from MIMI"],
    );

    // MIMI → Matrix: bob's consent request is a DM invite from his ghost; carol joining it grants.
    // carol never used the bridge (no account on a.example): the homeserver has her, so the bridge
    // creates her account and hosted client on the request (UserDirectoryAdapter) and prompts her.
    assert.equal(await w.a.services.accounts.getUser("carol"), undefined, "carol never used the bridge");
    // A user the homeserver does not have gets the answer of any unknown user: received (201,
    // MIMI-PROTO-CONSENT-05, so requesters cannot enumerate users) and nothing created.
    const nobody = `mimi://${A}/u/nobody`;
    assert.equal((await bob.client.consentRequest(nobody)).delivered, true);
    assert.equal(await w.a.services.accounts.getUser("nobody"), undefined, "no account for a user Synapse does not have");
    const asked = await bob.client.consentRequest(carolUri);
    assert.equal(asked.delivered, true);
    await until(() => w.driver.consentSeen("carol").some((c) => c.from === bob.uri && c.kind === "request"), "carol is prompted by bob's ghost", 60_000, () => JSON.stringify(w.driver.consentSeen("carol")));
    assert.equal((await bob.client.consentList()).outgoing.find((o) => o.target === carolUri)?.state, "requested");
    await w.driver.grantConsent("carol", bob.uri);
    await until(async () => (await bob.client.consentList()).outgoing.some((o) => o.target === carolUri && o.state === "granted"), "bob sees carol's grant", 60_000);
    const dm = await bob.client.createRoom("direct", { participants: [carolUri] });
    await bob.client.send(dm, "hi carol, bob here");
    const portal = await w.driver.roomOf("carol", dm);
    const dmC = await w.driver.matrixRoom(portal);
    const fromBob = await w.sees("carol", dmC, "message", (s) => s.text === "hi carol, bob here", "bob's message");
    assert.equal(fromBob.from, bob.uri);
    await w.driver.send("carol", portal, "hi bob, carol on Matrix");
    const answer = await isMessage(bob, (m) => m.text === "hi bob, carol on Matrix", "bob reads carol");
    assert.equal(answer.roomId, dm);
    assert.equal(answer.sender.user, carolUri);
    assert.equal(messagesOf(bob, dm).filter((m) => m.sender.user === carolUri).length, 1);
    // One DM with bob's ghost, not two: the MIMI direct room went into the consent DM carol joined.
    const { joined_rooms: carolRooms } = await carol.request<{ joined_rooms: string[] }>("GET", "/_matrix/client/v3/joined_rooms");
    const withBob: string[] = [];
    for (const r of carolRooms) if ((await carol.joinedMembers(r)).includes(bobGhost)) withBob.push(r);
    assert.deepEqual(withBob, [dmC], "carol has one Matrix DM with bob's ghost");
    // A DM on Matrix (spec "Direct Messaging"): the invite carries is_direct, so carol's client
    // lists the room in her m.direct.
    const invite = carol.room(dmC).timeline.find((e) => e.type === "m.room.member" && e.state_key === carol.userId && e.content.membership === "invite");
    assert.deepEqual({ sender: invite?.sender, isDirect: invite?.content.is_direct }, { sender: bobGhost, isDirect: true }, "bob's ghost invites carol into a Matrix DM");
  } finally {
    await w.stop();
  }
});

// ---- b. a bridged Matrix room and native users on two providers --------------------------------------------

test("MIMI-MATRIX-31 acceptance: a Matrix room bridged to a MIMI group with native users of two other providers: messages, replies, edits, reactions and redactions both ways, each shown once; a MIMI room adding a Matrix user who never used the bridge shows on Matrix", async () => {
  const w = await startMatrixWorld({ matrixUsers: ["alice", "dave"] });
  try {
    const aliceUri = w.uriOf("alice");
    const bob = await w.native(B, "bob");
    const carl = await w.native(C, "carl");
    const room = await w.driver.bridgeGroup("alice", "The Lounge", [bob.uri, carl.uri]);
    const roomId = (await waitForEvent(bob, (e) => e.type === "joined", "bob is added", 60_000)).roomId;
    assert.equal((await waitForEvent(carl, (e) => e.type === "joined", "carl is added", 60_000)).roomId, roomId);
    await until(async () => (await bob.client.room(roomId)).participants.some((p) => p.user === aliceUri), "alice is a participant of the MIMI room");
    await w.sees("alice", room, "participant", (s) => s.user === bob.uri && s.change === "added", "bob's ghost join");
    await w.sees("alice", room, "participant", (s) => s.user === carl.uri && s.change === "added", "carl's ghost join");

    // Messages: Matrix → MIMI and MIMI → Matrix.
    const a1 = await w.driver.send("alice", room, "hello from Matrix");
    const a1b = await isMessage(bob, (m) => m.text === "hello from Matrix", "bob reads alice");
    const a1c = await isMessage(carl, (m) => m.text === "hello from Matrix", "carl reads alice");
    assert.equal(a1b.sender.user, aliceUri);
    assert.equal(a1b.messageId, a1c.messageId);
    const b1 = await bob.client.send(roomId, "hi from b.example");
    const b1a = await w.sees("alice", room, "message", (s) => s.text === "hi from b.example", "bob's message");
    assert.equal(b1a.from, bob.uri);
    await isMessage(carl, (m) => m.messageId === b1, "carl reads bob");

    // Replies both ways (m.in_reply_to ⇄ inReplyTo).
    await carl.client.reply(roomId, a1b.messageId, "carl answers alice");
    const c1a = await w.sees("alice", room, "message", (s) => s.text === "carl answers alice", "carl's reply");
    assert.equal(c1a.from, carl.uri);
    assert.equal(c1a.replyTo, a1, "the reply names alice's event");
    const a2 = await w.driver.send("alice", room, "alice answers bob", { replyTo: b1a.id });
    const a2b = await isMessage(bob, (m) => m.text === "alice answers bob", "bob reads alice's reply");
    assert.equal(a2b.inReplyTo, b1);
    assert.equal((await isMessage(carl, (m) => m.text === "alice answers bob", "carl reads alice's reply")).inReplyTo, b1);

    // Edits both ways (m.replace ⇄ replaces).
    await w.driver.edit("alice", room, a1, "hello from Matrix (edited)");
    const e1 = await isMessage(bob, (m) => m.kind === "edit" && m.text === "hello from Matrix (edited)", "bob sees alice's edit");
    assert.equal(e1.replaces, a1b.messageId);
    assert.equal((await isMessage(carl, (m) => m.kind === "edit" && m.text === "hello from Matrix (edited)", "carl sees alice's edit")).replaces, a1b.messageId);
    await bob.client.edit(roomId, b1, "hi from b.example (edited)");
    const e2 = await w.sees("alice", room, "edit", (s) => s.text === "hi from b.example (edited)", "bob's edit");
    assert.equal(e2.target, b1a.id);
    assert.equal(e2.from, bob.uri);

    // Reactions both ways (m.annotation ⇄ reaction).
    await w.driver.react("alice", room, b1a.id, "👍");
    const r1 = await isMessage(bob, (m) => m.kind === "reaction" && m.sender.user === aliceUri, "bob sees alice's reaction");
    assert.equal(r1.inReplyTo, b1);
    assert.equal(r1.reaction ?? r1.text, "👍");
    await isMessage(carl, (m) => m.kind === "reaction" && m.inReplyTo === b1, "carl sees alice's reaction");
    await carl.client.react(roomId, a1b.messageId, "🎉");
    const r2 = await w.sees("alice", room, "reaction", (s) => s.reaction === "🎉", "carl's reaction");
    assert.equal(r2.target, a1);
    assert.equal(r2.from, carl.uri);

    // Redactions both ways (m.room.redaction ⇄ delete).
    await w.driver.retract("alice", room, a2);
    const d1 = await isMessage(bob, (m) => m.kind === "delete", "bob sees alice's redaction");
    assert.equal(d1.replaces, a2b.messageId);
    await isMessage(carl, (m) => m.kind === "delete" && m.replaces === a2b.messageId, "carl sees alice's redaction");
    await bob.client.delete(roomId, b1);
    const d2 = await w.sees("alice", room, "retract", (s) => s.target === b1a.id, "bob's redaction");
    assert.equal(d2.from, bob.uri);

    // Once each, both ways.
    await bob.client.send(roomId, "last one");
    await w.sees("alice", room, "message", (s) => s.text === "last one", "the last message");
    await isMessage(carl, (m) => m.text === "last one", "carl reads the last message");
    await w.driver.send("alice", room, "last from Matrix");
    await isMessage(bob, (m) => m.text === "last from Matrix", "bob reads alice's last message");
    await isMessage(carl, (m) => m.text === "last from Matrix", "carl reads alice's last message");
    const shown = w.seen("alice", room);
    assert.deepEqual(
      shown.flatMap((s) => (s.kind === "message" && s.from !== aliceUri && s.from !== BOT_ID ? [`${s.from} ${s.text}`] : [])),
      [`${bob.uri} hi from b.example`, `${carl.uri} carl answers alice`, `${bob.uri} last one`],
    );
    assert.deepEqual(
      shown.flatMap((s) => (s.kind === "edit" || s.kind === "reaction" || s.kind === "retract" ? [`${s.kind} ${s.from}`] : [])),
      [`edit ${aliceUri}`, `edit ${bob.uri}`, `reaction ${aliceUri}`, `reaction ${carl.uri}`, `retract ${aliceUri}`, `retract ${bob.uri}`],
      "each edit, reaction and redaction once (alice's own and the ghosts')",
    );
    const fromAlice = ["text hello from Matrix", "text alice answers bob", "edit hello from Matrix (edited)", "reaction 👍", "delete ", "text last from Matrix"];
    for (const n of [bob, carl]) {
      assert.deepEqual(
        messagesOf(n, roomId)
          .filter((m) => m.sender.user === aliceUri)
          .map((m) => `${m.kind} ${m.text}`),
        fromAlice,
        `${n.uri} got each of alice's events once`,
      );
    }
    assert.deepEqual(
      messagesOf(carl, roomId)
        .filter((m) => m.sender.user === bob.uri)
        .map((m) => `${m.kind} ${m.text}`),
      ["text hi from b.example", "edit hi from b.example (edited)", "delete ", "text last one"],
    );

    // A MIMI room created elsewhere with a Matrix user who never used the bridge: the claim of
    // dave's KeyPackages creates his account and hosted client first (the homeserver has him),
    // so carl's room shows on Matrix with carl's message.
    const daveUri = w.uriOf("dave");
    assert.equal(await w.a.services.accounts.getUser("dave"), undefined, "dave never used the bridge");
    const carlsRoom = await carl.client.createRoom("group", { name: "carl's room", participants: [daveUri] });
    assert.ok((await carl.client.room(carlsRoom)).participants.some((p) => p.user === daveUri), "dave is a participant");
    await carl.client.send(carlsRoom, "hello dave");
    const davePortal = await w.driver.roomOf("dave", carlsRoom);
    const fromCarl = await w.sees("dave", davePortal, "message", (s) => s.text === "hello dave", "carl's message");
    assert.equal(fromCarl.from, carl.uri);
  } finally {
    await w.stop();
  }
});

// ---- b. threads both ways ----------------------------------------------------------------------------------

/** The m.thread relation of the Matrix event `user` saw with this body (undefined: not threaded). */
function threadRootOf(view: { timeline: readonly { type: string; content: Record<string, unknown> }[] }, body: string): string | undefined {
  const ev = view.timeline.find((e) => e.type === "m.room.message" && e.content.body === body);
  const rel = ev?.content["m.relates_to"] as { rel_type?: unknown; event_id?: unknown } | undefined;
  return rel?.rel_type === "m.thread" && typeof rel.event_id === "string" ? rel.event_id : undefined;
}

test("MIMI-MATRIX-32 acceptance: threads both ways in a bridged room: an m.thread under a Matrix root is a MIMI topicId naming the root's message, and MIMI thread messages show in the Matrix thread of their root", async () => {
  const w = await startMatrixWorld({ matrixUsers: ["alice"] });
  try {
    const alice = w.matrix("alice");
    const aliceUri = w.uriOf("alice");
    const bob = await w.native(B, "bob");
    const carl = await w.native(C, "carl");
    const room = await w.driver.bridgeGroup("alice", "threads", [bob.uri, carl.uri]);
    const roomId = (await waitForEvent(bob, (e) => e.type === "joined", "bob is added", 60_000)).roomId;
    await waitForEvent(carl, (e) => e.type === "joined" && e.roomId === roomId, "carl is added", 60_000);

    // A thread started on Matrix: the topicId is the root's MIMI message ID (docs/MAPPING.md
    // "Threads and media"), the same on every provider.
    const root = await w.driver.send("alice", room, "a Matrix root");
    const rootB = await isMessage(bob, (m) => m.text === "a Matrix root", "bob reads the root");
    assert.equal(rootB.topicId, undefined, "a message outside any thread has no topicId");
    await alice.thread(room, root, "in the thread, from Matrix");
    const t1b = await isMessage(bob, (m) => m.text === "in the thread, from Matrix", "bob reads alice's thread message");
    const t1c = await isMessage(carl, (m) => m.text === "in the thread, from Matrix", "carl reads alice's thread message");
    assert.equal(t1b.sender.user, aliceUri);
    assert.equal(t1b.topicId, rootB.messageId, "the topicId names the root message");
    assert.equal(t1c.topicId, rootB.messageId);
    assert.equal(t1b.inReplyTo, undefined, "the thread's fallback reply is not a MIMI reply");
    // A native user answers in that thread: it shows in the Matrix thread of the root.
    await bob.client.send(roomId, "in the thread, from b.example", { topicId: t1b.topicId });
    await w.sees("alice", room, "message", (s) => s.text === "in the thread, from b.example", "bob's thread message");
    assert.equal(threadRootOf(alice.room(room), "in the thread, from b.example"), root, "bob's message is in alice's thread");
    assert.equal((await isMessage(carl, (m) => m.text === "in the thread, from b.example", "carl reads bob's thread message")).topicId, rootB.messageId);

    // A thread started in MIMI under carl's message: Matrix shows it as a thread of that message.
    const carlRoot = await carl.client.send(roomId, "a MIMI root");
    const carlRootA = await w.sees("alice", room, "message", (s) => s.text === "a MIMI root", "carl's root");
    await bob.client.send(roomId, "bob starts a thread under carl's message", { topicId: carlRoot });
    await w.sees("alice", room, "message", (s) => s.text === "bob starts a thread under carl's message", "bob's thread under carl's message");
    assert.equal(threadRootOf(alice.room(room), "bob starts a thread under carl's message"), carlRootA.id);
    await alice.thread(room, carlRootA.id, "alice answers in carl's thread");
    const t2b = await isMessage(bob, (m) => m.text === "alice answers in carl's thread", "bob reads alice in carl's thread");
    assert.equal(t2b.topicId, carlRoot);
    assert.equal((await isMessage(carl, (m) => m.text === "alice answers in carl's thread", "carl reads alice in his thread")).topicId, carlRoot);

    // Once each.
    assert.deepEqual(
      messagesOf(carl, roomId).map((m) => `${m.text} ${m.topicId ?? "-"}`),
      [`a Matrix root -`, `in the thread, from Matrix ${rootB.messageId}`, `in the thread, from b.example ${rootB.messageId}`, `bob starts a thread under carl's message ${carlRoot}`, `alice answers in carl's thread ${carlRoot}`],
    );
    assert.deepEqual(
      w.seen("alice", room).flatMap((s) => (s.kind === "message" && s.from !== aliceUri && s.from !== BOT_ID ? [s.text] : [])),
      ["in the thread, from b.example", "a MIMI root", "bob starts a thread under carl's message"],
    );
  } finally {
    await w.stop();
  }
});

// ---- c. a ban on either side ----------------------------------------------------------------------------

test("MIMI-MATRIX-33 acceptance: a ban on either side takes effect on the other: a Matrix ban of a ghost removes the MIMI user, who cannot come back; a MIMI ban of a Matrix user is a Matrix ban", async () => {
  const w = await startMatrixWorld({ matrixUsers: ["alice"] });
  try {
    const alice = w.matrix("alice");
    const aliceUri = w.uriOf("alice");
    const bob = await w.native(B, "bob");
    const carl = await w.native(C, "carl");
    const bobGhost = w.ghost(bob.uri);

    // Matrix → MIMI: alice (the room's creator) bans bob's ghost from a bridged room.
    const room = await w.driver.bridgeGroup("alice", "moderated", [bob.uri, carl.uri]);
    const roomId = (await waitForEvent(bob, (e) => e.type === "joined", "bob is added", 60_000)).roomId;
    await waitForEvent(carl, (e) => e.type === "joined" && e.roomId === roomId, "carl is added", 60_000);
    await alice.waitForMembership(room, bobGhost, "join", 60_000);
    await w.driver.moderate("alice", room, bob.uri, "ban");
    const left = await waitForEvent(bob, (e) => e.type === "left" && e.roomId === roomId, "bob is removed from the MIMI room", 60_000);
    assert.deepEqual(left.type === "left" ? { reason: left.reason, by: left.by } : undefined, { reason: "banned", by: aliceUri }, "bob's client learns it was banned, by alice");
    await waitForEvent(carl, (e) => e.type === "participantBanned" && e.roomId === roomId && e.user === bob.uri, "carl sees bob banned", 60_000);
    const afterBan = await carl.client.room(roomId);
    assert.equal(afterBan.participants.find((p) => p.user === bob.uri)?.roleName, "banned");
    assert.ok(!afterBan.members.some((m) => m.startsWith(`mimi://${B}/d/bob/`)), "bob's client left the MLS group");
    // bob cannot come back: the hub refuses his external join (a banned participant).
    await assert.rejects(bob.client.join(roomId), (err: unknown) => isMimiError(err), "a banned user cannot join again");
    await w.driver.send("alice", room, "after the ban");
    await isMessage(carl, (m) => m.text === "after the ban", "carl still reads alice");
    assert.equal(messagesOf(bob, roomId).filter((m) => m.text === "after the ban").length, 0, "bob, out of the group, reads nothing more");
    await alice.waitForMembership(room, bobGhost, "ban", 60_000);

    // MIMI → Matrix: bob's own room on b.example; alice joins it through the portal; bob (its
    // admin) bans her: Synapse shows the ban, and what she sends no longer reaches MIMI.
    const club = await bob.client.createRoom("group", { name: "bob's club", participants: [aliceUri] });
    const portal = await w.driver.roomOf("alice", club);
    const clubMx = await w.driver.matrixRoom(portal);
    await w.driver.send("alice", portal, "hello club");
    await isMessage(bob, (m) => m.text === "hello club" && m.roomId === club, "bob reads alice in his club");
    await bob.client.ban(club, aliceUri);
    await alice.waitFor(() => (alice.membership(clubMx, alice.userId) ?? "join") !== "join" || undefined, "alice is out of bob's club on Matrix", 60_000);
    // What she sends no longer reaches MIMI: Synapse refuses it.
    await assert.rejects(alice.sendMessage(clubMx, "let me in"), (err: unknown) => err instanceof MatrixHttpError && err.status === 403, "Synapse refuses the message of a user out of the room");
    const clubInfo = await bob.client.room(club);
    assert.equal(clubInfo.participants.find((p) => p.user === aliceUri)?.roleName, "banned");
    assert.ok(!clubInfo.members.some((m) => m.startsWith(`mimi://${A}/d/alice/`)), "alice's hosted client left the MLS group");
    await w.settled("alice");
    assert.deepEqual(
      messagesOf(bob, club).map((m) => m.text),
      ["hello club"],
      "nothing of alice's after the ban",
    );
    // And Synapse shows a ban (not a kick), by the bridge bot (the portal's admin): a ban keeps
    // her out of the room even when she is invited again (spec "Room membership": ban).
    await alice.waitForMembership(clubMx, alice.userId, "ban", 30_000).catch(() => undefined);
    const ban = alice.room(clubMx).state.get(`m.room.member\u0000${alice.userId}`);
    assert.deepEqual({ membership: ban?.content.membership, sender: ban?.sender }, { membership: "ban", sender: BOT_ID }, `Synapse shows alice banned by the bridge bot (reason: ${String(ban?.content.reason)})`);
    assert.match(String(ban?.content.reason), /^banned in MIMI/);
    await assert.rejects(alice.join(clubMx), (err: unknown) => err instanceof MatrixHttpError && err.status === 403, "Synapse refuses a banned user's join");
  } finally {
    await w.stop();
  }
});
