// The adapter conformance suite (docs/ADAPTERS.md "Conformance"): the same scenarios, run for
// every adapter against the real core — two providers over mutual TLS, the adapter on provider
// a.example behind the bridge host, a native SDK user on b.example. Each adapter supplies a
// PlatformDriver: how its platform's users act and what they see (loopback: in memory; XMPP:
// real clients on a real Prosody).
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMimiUri, type PlatformEventId, type PlatformRoomId } from "../../src/adapter/index.ts";
import { capabilityMismatches, type Adapter } from "../../src/adapter/adapter.ts";
import { isMimiError } from "../../src/errors.ts";
import type { Provider } from "../../src/provider.ts";
import { closeAll, collect, messagesOf, testClient, until, waitForEvent, type TestClient } from "../helpers/acceptance.ts";
import { startNetwork, type TestNetwork } from "../helpers/providers.ts";

export const BRIDGED = "a.example";
export const REMOTE = "b.example";

/** A file a platform message shows (its URL as the platform has it: Matrix mxc://, else http(s)). */
export interface SeenAttachment {
  readonly url: string;
  readonly contentType?: string;
  readonly filename?: string;
}

/** What a platform user sees in a room, normalised across platforms. */
export type Seen =
  | { kind: "message"; id: PlatformEventId; from: string; text: string; replyTo?: PlatformEventId; thread?: string; attachments?: readonly SeenAttachment[] }
  | { kind: "edit"; target: PlatformEventId; from: string; text: string }
  | { kind: "reaction"; target: PlatformEventId; from: string; reaction: string }
  | { kind: "unreact"; target: PlatformEventId; from: string; reaction: string }
  | { kind: "retract"; target: PlatformEventId; from: string }
  | { kind: "participant"; change: "added" | "removed" | "banned" | "left" | "role"; user: string }
  | { kind: "metadata"; topic?: string; name?: string }
  | { kind: "receipt"; target: PlatformEventId; from: string };

/** A small file a platform user shares (see PlatformDriver.sendAttachment). */
export interface PlatformFile {
  readonly filename: string;
  readonly contentType: string;
  readonly data: Uint8Array;
  /** Text shown with the file (Matrix caption, XMPP body), if any. */
  readonly caption?: string;
}

/** A file shared on the platform: its message, and its URL on the platform and as MIMI sees it. */
export interface SharedFile {
  readonly id: PlatformEventId;
  /** The URL the platform holds the file by (Matrix: the mxc:// URI). */
  readonly platformUrl: string;
  /** The http(s) URL a MIMI user gets in the ExternalPart (Matrix: the authenticated media URL). */
  readonly mimiUrl: string;
}

/** What a platform user was shown about consent by a MIMI user (outside any room). */
export interface ConsentSeen {
  readonly from: string;
  readonly kind: "request" | "grant" | "revoke";
}

export interface PlatformDriver {
  /** Config section(s) for provider a.example (`{ adapters: { <id>: … } }`). */
  providerConfig(): Promise<Record<string, unknown>>;
  /** After a.example started: connect the platform's test users (names without domain). */
  connect(provider: Provider, users: readonly string[]): Promise<void>;
  /** The adapter instance running in the provider. */
  adapter(provider: Provider): Adapter;
  /** `user` (a local platform user name) opens a group on the platform bridged into MIMI with `invite` (MIMI URIs). */
  bridgeGroup(user: string, name: string, invite: readonly string[]): Promise<PlatformRoomId>;
  /** The platform room that shows MIMI room `roomId` to `user` (after it was brought in from MIMI). */
  roomOf(user: string, roomId: string): Promise<PlatformRoomId>;
  send(user: string, room: PlatformRoomId, text: string, options?: { replyTo?: PlatformEventId }): Promise<PlatformEventId>;
  /** `user` replies in the thread under `root` (a message `user` saw) the platform's way (Matrix m.thread, XMPP <thread>). */
  sendThreaded(user: string, room: PlatformRoomId, root: PlatformEventId, text: string): Promise<PlatformEventId>;
  /** `user` shares a file the platform's way (Matrix: upload to the media repository + m.file; XMPP: XEP-0066 OOB). */
  sendAttachment(user: string, room: PlatformRoomId, file: PlatformFile): Promise<SharedFile>;
  /** Sends the platform event with the same ID again (a client resending after a reconnect). */
  resend(user: string, room: PlatformRoomId, id: PlatformEventId, text: string): Promise<void>;
  edit(user: string, room: PlatformRoomId, target: PlatformEventId, text: string): Promise<void>;
  react(user: string, room: PlatformRoomId, target: PlatformEventId, reaction: string): Promise<void>;
  retract(user: string, room: PlatformRoomId, target: PlatformEventId): Promise<void>;
  /** A platform moderator removes (`kick`) or bans `target` (a MIMI URI: a ghost or a local user). */
  moderate(user: string, room: PlatformRoomId, target: string, action: "kick" | "ban"): Promise<void>;
  /** `user` marks `target` in `room` as read/displayed on the platform. */
  markRead(user: string, room: PlatformRoomId, target: PlatformEventId): Promise<void>;
  /** `user` changes the topic (subject) of `room` on the platform. */
  setTopic(user: string, room: PlatformRoomId, topic: string): Promise<void>;
  /** `user` asks MIMI user `peer` for consent the platform's way (XMPP: subscribe). */
  requestConsent(user: string, peer: string): Promise<void>;
  /** `user` accepts the consent request of MIMI user `peer` (XMPP: subscribed). */
  grantConsent(user: string, peer: string): Promise<void>;
  /** `user` withdraws consent from MIMI user `peer` (XMPP: unsubscribed). */
  revokeConsent(user: string, peer: string): Promise<void>;
  /** Consent requests and answers of MIMI users that `user` has been shown. */
  consentSeen(user: string): readonly ConsentSeen[];
  /** Everything `user` has seen in `room` so far. */
  seen(user: string, room: PlatformRoomId): readonly Seen[];
  /** Stops the platform side (clients, servers the driver started). */
  close(): Promise<void>;
}

const userAt = (domain: string, name: string) => `mimi://${domain}/u/${name}`;

type SeenMessage = Extract<Seen, { kind: "message" }>;
function asMessage(s: Seen): SeenMessage {
  assert.equal(s.kind, "message");
  return s;
}

async function seenMatching(driver: PlatformDriver, user: string, room: PlatformRoomId, pred: (s: Seen) => boolean, what: string): Promise<Seen> {
  let hit: Seen | undefined;
  await until(
    () => {
      hit = driver.seen(user, room).find(pred);
      return hit !== undefined;
    },
    what,
    30_000,
    () => `${user} saw ${JSON.stringify(driver.seen(user, room)).slice(0, 600)}`,
  );
  return hit!;
}

interface World {
  net: TestNetwork;
  a: Provider;
  bob: TestClient;
  driver: PlatformDriver;
}

async function world(makeDriver: () => PlatformDriver, users: readonly string[], config: Record<string, unknown> = {}): Promise<World> {
  const driver = makeDriver();
  const extra = await driver.providerConfig();
  const net = await startNetwork([BRIDGED, REMOTE], { storage: "level", extraConfig: (d) => (d === BRIDGED ? { ...extra, ...config } : config) });
  const a = net.providers[BRIDGED]!;
  await driver.connect(a, users);
  const bob = await testClient(net.providers[REMOTE]!.clientApiUrl);
  await bob.client.register("bob");
  collect(bob);
  return { net, a, bob, driver };
}

async function endWorld(w: World | undefined): Promise<void> {
  if (!w) return;
  await closeAll([w.bob]);
  await w.driver.close().catch(() => undefined);
  await w.net.stop();
}

/** Registers the conformance tests for one adapter. */
export function adapterConformance(name: string, makeDriver: () => PlatformDriver): void {
  test(`MIMI-ADAPTER-01 ${name} conformance: declared capabilities match the handlers; identity mapping is pure and reversible`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const adapter = w.driver.adapter(w.a);
      assert.deepEqual(capabilityMismatches(adapter), []);
      for (const uri of ["mimi://b.example/u/bob", "mimi://c.example/u/Zoë.Ünïcode", "mimi://d.example/u/with%20space", "mimi://e.example/u/a_b-c"]) {
        const ghost = adapter.ghostFor(uri);
        // The round trip gives the URI's canonical spelling (an IRI comes back percent-encoded,
        // src/ids/mimiUri.ts), and every spelling of one user has the same ghost.
        const canonical = parseMimiUri(uri).uri;
        assert.equal(adapter.parseGhost(ghost), canonical, `ghost of ${uri} round-trips`);
        assert.equal(adapter.ghostFor(canonical), ghost, `${uri} and ${canonical} have one ghost`);
        assert.equal(adapter.ghostFor(uri), ghost, "ghostFor is pure");
        assert.equal(adapter.toMimiUri(ghost), undefined, "a ghost is not a local user");
      }
      const alice = adapter.localUserFor(userAt(BRIDGED, "alice"));
      assert.ok(alice !== undefined);
      assert.equal(adapter.toMimiUri(alice), userAt(BRIDGED, "alice"));
      assert.equal(adapter.parseGhost(alice), undefined, "a local user is not a ghost");
      assert.equal(adapter.localUserFor(userAt(REMOTE, "bob")), undefined, "a remote user has no local platform user");
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-02 ${name} conformance: a platform group bridged into MIMI: messages, replies, edits, reactions and retractions both ways, each shown once`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const { driver, bob } = w;
      const bobUri = userAt(REMOTE, "bob");
      const room = await driver.bridgeGroup("alice", "lounge", [bobUri]);
      const joined = await waitForEvent(bob, (e) => e.type === "joined", "bob is added to the bridged room");
      const roomId = joined.roomId;

      // platform → MIMI
      const p1 = await driver.send("alice", room, "hello from the platform");
      const m1 = await waitForEvent(bob, (e) => e.type === "message" && e.text === "hello from the platform", "bob reads alice");
      assert.equal(m1.type === "message" && m1.sender.user, userAt(BRIDGED, "alice"));
      // MIMI → platform, replying to alice's message
      assert.equal(m1.type, "message");
      const reply = await bob.client.reply(roomId, m1.type === "message" ? m1.messageId : "", "hello from MIMI");
      const seenReply = asMessage(await seenMatching(driver, "alice", room, (s) => s.kind === "message" && s.text === "hello from MIMI", "alice sees bob's reply"));
      assert.equal(seenReply.from, bobUri);
      assert.equal(seenReply.replyTo, p1, "the reply points at alice's platform message");
      // platform reply to bob's message
      const p2 = await driver.send("alice", room, "answer on the platform", { replyTo: seenReply.id });
      const m2 = await waitForEvent(bob, (e) => e.type === "message" && e.text === "answer on the platform", "bob reads alice's reply");
      assert.equal(m2.type === "message" && m2.inReplyTo, reply, "in MIMI it replies to bob's message");
      // edits both ways
      await driver.edit("alice", room, p2, "answer on the platform (edited)");
      const e1 = await waitForEvent(bob, (e) => e.type === "message" && e.kind === "edit", "bob sees alice's edit");
      assert.equal(e1.type === "message" && e1.replaces, m2.type === "message" ? m2.messageId : "", "the edit replaces the first version");
      assert.equal(e1.type === "message" && e1.text, "answer on the platform (edited)");
      await bob.client.edit(roomId, reply, "hello from MIMI (edited)");
      await seenMatching(driver, "alice", room, (s) => s.kind === "edit" && s.text === "hello from MIMI (edited)" && s.target === seenReply.id, "alice sees bob's edit");
      // reactions both ways
      await driver.react("alice", room, seenReply.id, "👍");
      const r1 = await waitForEvent(bob, (e) => e.type === "message" && e.kind === "reaction", "bob sees alice's reaction");
      assert.equal(r1.type === "message" && r1.inReplyTo, reply);
      assert.equal(r1.type === "message" && (r1.reaction ?? r1.text), "👍");
      await bob.client.react(roomId, m1.type === "message" ? m1.messageId : "", "🎉");
      await seenMatching(driver, "alice", room, (s) => s.kind === "reaction" && s.reaction === "🎉" && s.target === p1, "alice sees bob's reaction on her message");
      // A MIMI unreact removes exactly that reaction on the platform (the SDK says which one).
      await bob.client.unreact(roomId, m1.type === "message" ? m1.messageId : "", "🎉");
      await seenMatching(driver, "alice", room, (s) => s.kind === "unreact" && s.reaction === "🎉" && s.target === p1, "alice sees bob's reaction withdrawn");
      // retractions both ways
      await driver.retract("alice", room, p2);
      const d1 = await waitForEvent(bob, (e) => e.type === "message" && e.kind === "delete", "bob sees alice's retraction");
      assert.equal(d1.type === "message" && d1.replaces, m2.type === "message" ? m2.messageId : "");
      await bob.client.delete(roomId, reply);
      await seenMatching(driver, "alice", room, (s) => s.kind === "retract" && s.target === seenReply.id, "alice sees bob's retraction");

      // Each platform event became one MIMI message, each MIMI message one platform event.
      await bob.client.send(roomId, "last one");
      await seenMatching(driver, "alice", room, (s) => s.kind === "message" && s.text === "last one", "alice sees the last message");
      const texts = driver.seen("alice", room).filter((s): s is Extract<Seen, { kind: "message" }> => s.kind === "message" && s.from === bobUri).map((s) => s.text);
      assert.deepEqual(texts, ["hello from MIMI", "last one"], "bob's messages are shown once each, in order");
      const fromAlice = messagesOf(bob, roomId).filter((m) => m.sender.user === userAt(BRIDGED, "alice") && m.kind === "text").map((m) => m.text);
      assert.deepEqual(fromAlice, ["hello from the platform", "answer on the platform"]);
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-03 ${name} conformance: a platform event submitted twice (a resend) is one MIMI message`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const { driver, bob } = w;
      const room = await driver.bridgeGroup("alice", "resend", [userAt(REMOTE, "bob")]);
      const joined = await waitForEvent(bob, (e) => e.type === "joined", "bob is added");
      const id = await driver.send("alice", room, "only once");
      await driver.resend("alice", room, id, "only once");
      await driver.send("alice", room, "marker");
      await waitForEvent(bob, (e) => e.type === "message" && e.text === "marker", "bob reads the marker");
      assert.equal(messagesOf(bob, joined.roomId).filter((m) => m.text === "only once").length, 1);
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-04 ${name} conformance: a MIMI room created elsewhere appears on the platform, with its members, and carries messages both ways`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const { driver, bob } = w;
      // alice has a hosted client (and KeyPackages) once she has acted on the platform.
      await driver.bridgeGroup("alice", "warmup", []);
      const roomId = await bob.client.createRoom("group", { name: "bob's room", participants: [userAt(BRIDGED, "alice")] });
      const room = await driver.roomOf("alice", roomId);
      await bob.client.send(roomId, "welcome alice");
      await seenMatching(driver, "alice", room, (s) => s.kind === "message" && s.text === "welcome alice" && s.from === userAt(REMOTE, "bob"), "alice reads bob in the room he made");
      await driver.send("alice", room, "thanks bob");
      await waitForEvent(bob, (e) => e.type === "message" && e.text === "thanks bob" && e.roomId === roomId, "bob reads alice");
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-04 ${name} conformance: a direct room from a MIMI user becomes a one-to-one chat`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const { driver, bob } = w;
      await driver.bridgeGroup("alice", "warmup", []);
      const roomId = await bob.client.createRoom("direct", { participants: [userAt(BRIDGED, "alice")] });
      const room = await driver.roomOf("alice", roomId);
      await bob.client.send(roomId, "just between us");
      await seenMatching(driver, "alice", room, (s) => s.kind === "message" && s.text === "just between us", "alice reads bob's direct message");
      await driver.send("alice", room, "agreed");
      await waitForEvent(bob, (e) => e.type === "message" && e.text === "agreed" && e.roomId === roomId, "bob reads alice's answer");
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-05 ${name} conformance: membership both ways: a platform kick removes the MIMI user, a MIMI ban removes the platform user`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice", "carol"]);
      const { driver, bob } = w;
      const bobUri = userAt(REMOTE, "bob");
      const carolUri = userAt(BRIDGED, "carol");
      // platform → MIMI: alice (the room's creator) kicks bob's ghost.
      const room = await driver.bridgeGroup("alice", "moderated", [bobUri]);
      const joined = await waitForEvent(bob, (e) => e.type === "joined", "bob is added");
      await driver.moderate("alice", room, bobUri, "kick");
      const left = await waitForEvent(bob, (e) => e.type === "left" && e.roomId === joined.roomId, "bob is removed from the MIMI room");
      assert.equal(left.type === "left" && left.reason, "removed");
      // MIMI → platform: in bob's own room, bob bans carol (a local user of the bridge).
      await driver.bridgeGroup("carol", "warmup-carol", []);
      const roomId = await bob.client.createRoom("group", { participants: [userAt(BRIDGED, "alice"), carolUri] });
      const mimiRoom = await driver.roomOf("alice", roomId);
      await seenMatching(driver, "alice", mimiRoom, (s) => s.kind === "participant" && s.change === "added" && s.user === carolUri, "alice sees carol in bob's room");
      await bob.client.ban(roomId, carolUri);
      await seenMatching(driver, "alice", mimiRoom, (s) => s.kind === "participant" && s.change === "banned" && s.user === carolUri, "the platform shows carol banned");
      assert.ok((await bob.client.room(roomId)).participants.some((p) => p.user === carolUri && p.roleName === "banned"));
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-07 ${name} conformance: consent both ways under the policy none: a platform user's request reaches the MIMI user and the grant comes back; a MIMI user's request is a platform prompt, accepted, then revoked`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice", "carol"], { consent: { preConsent: "none" } });
      const { driver, bob } = w;
      const bobUri = userAt(REMOTE, "bob");
      const aliceUri = userAt(BRIDGED, "alice");
      const carolUri = userAt(BRIDGED, "carol");
      // Platform users become MIMI users with their first gesture on the platform.
      await driver.bridgeGroup("alice", "warmup", []);
      await driver.bridgeGroup("carol", "warmup2", []);
      // platform → MIMI
      await driver.requestConsent("alice", bobUri);
      await until(async () => (await bob.client.consentList()).pending.some((r) => r.requester === aliceUri), "bob is asked by alice");
      await bob.client.consentGrant(aliceUri);
      await until(() => driver.consentSeen("alice").some((c) => c.from === bobUri && c.kind === "grant"), "alice is shown bob's grant", 30_000, () => JSON.stringify(driver.consentSeen("alice")));
      // MIMI → platform
      await bob.client.consentRequest(carolUri);
      await until(() => driver.consentSeen("carol").some((c) => c.from === bobUri && c.kind === "request"), "carol is prompted by bob", 30_000, () => JSON.stringify(driver.consentSeen("carol")));
      await driver.grantConsent("carol", bobUri);
      await until(async () => (await bob.client.consentList()).outgoing.some((r) => r.target === carolUri && r.state === "granted"), "bob's request to carol is granted");
      // With consent bob can add carol; after she revokes it (which bob is not told, protocol-06
      // §5.7), he cannot.
      const before = await bob.client.createRoom("group", { participants: [carolUri] });
      assert.ok((await bob.client.room(before)).participants.some((p) => p.user === carolUri), "carol was added while consent held");
      await driver.revokeConsent("carol", bobUri);
      await until(
        async () => {
          try {
            const r = await bob.client.createRoom("group", { participants: [carolUri] });
            return !(await bob.client.room(r)).participants.some((p) => p.user === carolUri);
          } catch (err) {
            return isMimiError(err) && /CONSENT/.test(err.code);
          }
        },
        "bob can no longer add carol",
      );
    } finally {
      await endWorld(w);
    }
  });

  for (const policy of ["keypackages", "quarantine"] as const) {
    test(`MIMI-ADAPTER-10 ${name} conformance: pre-consent policy ${policy}: a MIMI user adds a platform user before consent; the platform shows a prompt and no room; the grant brings the room (${policy === "quarantine" ? "with the held messages" : "held invitation only, earlier messages dropped"})`, async () => {
      let w: World | undefined;
      try {
        w = await world(makeDriver, ["carol"], { consent: { preConsent: policy } });
        const { driver, bob, a } = w;
        const bobUri = userAt(REMOTE, "bob");
        await driver.bridgeGroup("carol", "warmup", []);
        const roomId = await bob.client.createRoom("group", { name: "before consent", participants: [userAt(BRIDGED, "carol")] });
        await bob.client.send(roomId, "sent before consent");
        await until(() => driver.consentSeen("carol").some((c) => c.from === bobUri && c.kind === "request"), "carol is prompted", 30_000, () => JSON.stringify(driver.consentSeen("carol")));
        const portals = a.bridge!.portals(driver.adapter(a).info.id)!;
        assert.equal(await portals.byRoom(roomId), undefined, "no room on the platform before consent");
        await driver.grantConsent("carol", bobUri);
        const room = await driver.roomOf("carol", roomId);
        await bob.client.send(roomId, "sent after consent");
        await seenMatching(driver, "carol", room, (x) => x.kind === "message" && x.text === "sent after consent", "carol reads what follows the grant");
        const early = driver.seen("carol", room).filter((x) => x.kind === "message" && x.text === "sent before consent");
        if (policy === "quarantine") {
          assert.equal(early.length, 1, "the held message is delivered once, at the grant");
        } else {
          assert.equal(early.length, 0, "keypackages drops what was sent before consent");
        }
      } finally {
        await endWorld(w);
      }
    });
  }

  test(`MIMI-ADAPTER-11 ${name} conformance: read markers both ways as MIMI message status (draft-mahy-mimi-message-status-01)`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const { driver, bob } = w;
      const room = await driver.bridgeGroup("alice", "receipts", [userAt(REMOTE, "bob")]);
      const roomId = (await waitForEvent(bob, (e) => e.type === "joined", "bob is added")).roomId;
      // MIMI → platform → MIMI: alice reads bob's message; bob gets a status report naming it.
      const bobsId = await bob.client.send(roomId, "please read this");
      const seenByAlice = asMessage(await seenMatching(driver, "alice", room, (x) => x.kind === "message" && x.text === "please read this", "alice sees bob's message"));
      await driver.markRead("alice", room, seenByAlice.id);
      const report = await waitForEvent(bob, (e) => e.type === "message" && e.kind === "status" && e.roomId === roomId, "bob gets alice's read report");
      assert.ok(report.type === "message");
      assert.equal(report.sender.user, userAt(BRIDGED, "alice"));
      assert.deepEqual(report.statuses, [{ messageId: bobsId, status: "read" }]);
      // platform → MIMI → platform: bob reads alice's message; the platform shows bob's marker on it.
      const alicesId = await driver.send("alice", room, "and you read mine");
      const atBob = await waitForEvent(bob, (e) => e.type === "message" && e.kind === "text" && e.text === "and you read mine", "bob reads alice");
      await bob.client.markRead(roomId, [atBob.type === "message" ? atBob.messageId : ""]);
      await seenMatching(driver, "alice", room, (x) => x.kind === "receipt" && x.target === alicesId && x.from === userAt(REMOTE, "bob"), "alice sees bob's read marker on her message");
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-12 ${name} conformance: threads and media both ways`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const { driver, bob } = w;
      const room = await driver.bridgeGroup("alice", "threads", [userAt(REMOTE, "bob")]);
      const roomId = (await waitForEvent(bob, (e) => e.type === "joined", "bob is added")).roomId;
      const mimiMessage = async (text: string, what: string) => {
        const e = await waitForEvent(bob, (x) => x.type === "message" && x.roomId === roomId && x.kind === "text" && x.text === text, what);
        assert.ok(e.type === "message");
        return e;
      };

      // The thread's root: a MIMI message, shown on the platform.
      const rootId = await bob.client.send(roomId, "thread root");
      const root = asMessage(await seenMatching(driver, "alice", room, (x) => x.kind === "message" && x.text === "thread root", "alice sees the root"));

      // platform → MIMI: a thread reply; its topicId is the root's MIMI message ID, so every provider
      // names the thread alike (docs/MAPPING.md "Threads and media").
      await driver.sendThreaded("alice", room, root.id, "first in the thread");
      const threaded = await mimiMessage("first in the thread", "bob reads alice's thread reply");
      assert.equal(threaded.topicId, rootId, "the topicId is the root's message ID");

      // platform → MIMI: a file, an http(s) ExternalPart.
      const file = await driver.sendAttachment("alice", room, { filename: "notes.txt", contentType: "text/plain", data: new TextEncoder().encode("notes of the meeting\n") });
      assert.match(file.mimiUrl, /^https?:\/\//);
      const withFile = await waitForEvent(bob, (x) => x.type === "message" && x.roomId === roomId && (x.attachments?.length ?? 0) > 0, "bob gets alice's file");
      assert.ok(withFile.type === "message");
      assert.equal(withFile.sender.user, userAt(BRIDGED, "alice"));
      assert.equal(withFile.attachments?.length, 1);
      const part = withFile.attachments?.[0];
      assert.ok(part !== undefined);
      assert.equal(part.url, file.mimiUrl, "the external part names the file's http(s) URL");
      assert.equal(part.filename, "notes.txt");
      assert.match(part.contentType, /^[a-z]+\/[a-z0-9.+-]+/i);
      assert.equal(withFile.droppedAttachments, undefined);

      // MIMI → platform: bob answers in the same thread; the platform shows it under the root.
      const topicId = threaded.topicId;
      assert.ok(topicId !== undefined);
      await bob.client.send(roomId, "second in the thread", { topicId });
      const answer = asMessage(await seenMatching(driver, "alice", room, (x) => x.kind === "message" && x.text === "second in the thread", "alice sees bob's thread reply"));
      assert.equal(answer.thread, root.id, "in the thread of the root");
      // MIMI → platform: bob shares alice's file back in the thread: the platform shows its own media.
      await bob.client.send(roomId, "this file?", { topicId: rootId, attachments: [{ url: file.mimiUrl, contentType: "text/plain", filename: "notes.txt" }] });
      const media = asMessage(
        await seenMatching(driver, "alice", room, (x) => x.kind === "message" && (x.attachments ?? []).some((a) => a.url === file.platformUrl) && x.from === userAt(REMOTE, "bob"), "alice sees the file as media"),
      );
      assert.equal(media.thread, root.id, "the file is in the thread too");
      // MIMI → platform: a file on another server is shown as media or as a link.
      const foreign = "https://files.b.example/reports/q3-report.pdf";
      await bob.client.send(roomId, "", { attachments: [{ url: foreign, contentType: "application/pdf", filename: "q3-report.pdf", size: 48_213 }] });
      await seenMatching(driver, "alice", room, (x) => x.kind === "message" && (x.text.includes(foreign) || (x.attachments ?? []).some((a) => a.url === foreign)), "alice sees the foreign file");
      // Nothing arrived twice.
      const fromBob = driver.seen("alice", room).filter((x) => x.kind === "message" && x.from === userAt(REMOTE, "bob"));
      assert.equal(fromBob.length, 4, `bob's four messages, once each: ${JSON.stringify(fromBob)}`);
      assert.equal(messagesOf(bob, roomId).filter((m) => m.sender.user === userAt(BRIDGED, "alice") && m.kind === "text").length, 2, "alice's two messages, once each");
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-09 ${name} conformance: room metadata both ways: a platform topic change reaches MIMI, a MIMI subject change reaches the platform`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const { driver, bob } = w;
      const room = await driver.bridgeGroup("alice", "topics", [userAt(REMOTE, "bob")]);
      const joined = await waitForEvent(bob, (e) => e.type === "joined", "bob is added");
      const roomId = joined.roomId;
      await driver.setTopic("alice", room, "a topic set on the platform");
      await waitForEvent(bob, (e) => e.type === "roomMetadata" && e.roomId === roomId && e.subject === "a topic set on the platform", "bob sees the platform's topic");
      await bob.client.updateMetadata(roomId, { subject: "a subject set in MIMI" });
      await seenMatching(driver, "alice", room, (s) => s.kind === "metadata" && s.topic === "a subject set in MIMI", "alice sees the MIMI subject");
    } finally {
      await endWorld(w);
    }
  });

  test(`MIMI-ADAPTER-06 ${name} conformance: the bridge restarts while MIMI users keep talking; everything arrives once`, async () => {
    let w: World | undefined;
    try {
      w = await world(makeDriver, ["alice"]);
      const { driver, bob } = w;
      // The room lives on b.example (its hub), so bob keeps talking while a.example is down;
      // b.example's outbox holds the fanout until a.example is back.
      await driver.bridgeGroup("alice", "warmup", []);
      const roomId = await bob.client.createRoom("group", { participants: [userAt(BRIDGED, "alice")] });
      const room = await driver.roomOf("alice", roomId);
      const joined = { roomId };
      await bob.client.send(joined.roomId, "before the restart");
      await seenMatching(driver, "alice", room, (s) => s.kind === "message" && s.text === "before the restart", "alice reads the first message");
      const restarted = await restartBridged(w);
      await bob.client.send(joined.roomId, "while down 1");
      await bob.client.send(joined.roomId, "while down 2");
      await restarted();
      await seenMatching(driver, "alice", room, (s) => s.kind === "message" && s.text === "while down 2", "alice reads what was sent while the bridge was down");
      await driver.send("alice", room, "after the restart");
      await waitForEvent(bob, (e) => e.type === "message" && e.text === "after the restart", "bob reads alice after the restart");
      const texts = driver.seen("alice", room).flatMap((s) => (s.kind === "message" && s.from === userAt(REMOTE, "bob") ? [s.text] : []));
      assert.deepEqual(texts, ["before the restart", "while down 1", "while down 2"]);
    } finally {
      await endWorld(w);
    }
  });
}

/**
 * Stops provider a.example (the bridge with it); returns a function that starts it again on the
 * same data and reconnects the platform users.
 */
async function restartBridged(w: World): Promise<() => Promise<void>> {
  const { startProvider } = await import("../../src/provider.ts");
  const { createLogger } = await import("../../src/log.ts");
  const config = w.a.config;
  const port = w.a.http.server.address();
  await w.a.stop();
  return async () => {
    const fixed = { ...config, server: { ...config.server, port: typeof port === "object" && port ? port.port : config.server.port } };
    w.a = await startProvider(fixed, createLogger({ level: "silent" }));
    w.net.providers[BRIDGED] = w.a;
    await w.driver.connect(w.a, ["alice"]);
  };
}
