// The adapter conformance suite against the loopback adapter (in-memory platform), plus the
// bridge host behaviours that are easiest to provoke there: delivery retries and consent prompts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { loopbackPlatform, resetLoopbackPlatform, type LoopbackAdapter, type LoopbackEntry } from "../../adapters/loopback/index.ts";
import { platformEventId, platformRoomId, platformUserId, type PlatformEventId, type PlatformRoomId } from "../../src/adapter/index.ts";
import { topicIdOfText } from "../../src/client-api/sdk/content.ts";
import type { Provider } from "../../src/provider.ts";
import { closeAll, collect, testClient, until, waitForEvent, type TestClient } from "../helpers/acceptance.ts";
import { startNetwork, type TestNetwork } from "../helpers/providers.ts";
import { BRIDGED, adapterConformance, type PlatformDriver, type Seen } from "./conformance.ts";

function loopbackOf(provider: Provider): LoopbackAdapter {
  const a = provider.bridge?.adapter("loopback");
  if (!a) throw new Error("the loopback adapter is not running");
  return a as LoopbackAdapter;
}

interface LoopbackWorld {
  readonly net: TestNetwork;
  readonly bob: TestClient;
  readonly bobUri: string;
}

/**
 * a.example runs the loopback adapter; bob is a registered native client on b.example (his events
 * collected). `extra` is more configuration for both providers. Everything is stopped after `fn`.
 */
async function withLoopbackWorld(fn: (w: LoopbackWorld) => Promise<void>, extra: Record<string, unknown> = {}): Promise<void> {
  resetLoopbackPlatform(BRIDGED);
  const net = await startNetwork([BRIDGED, "b.example"], { extraConfig: (d) => (d === BRIDGED ? { adapters: { loopback: {} }, ...extra } : extra) });
  const bob = await testClient(net.providers["b.example"]!.clientApiUrl);
  try {
    const { userUri } = await bob.client.register("bob");
    collect(bob);
    await fn({ net, bob, bobUri: userUri });
  } finally {
    await closeAll([bob]);
    await net.stop();
  }
}

const mimiOf = (user: string): string => (user.startsWith("~") ? user.slice(1) : `mimi://${BRIDGED}/u/${user}`);

function toSeen(e: LoopbackEntry): Seen[] {
  switch (e.kind) {
    case "message":
      return [
        {
          kind: "message",
          id: e.id,
          from: mimiOf(e.from),
          text: e.text,
          ...(e.replyTo === undefined ? {} : { replyTo: e.replyTo }),
          ...(e.thread === undefined ? {} : { thread: e.thread }),
          ...(e.attachments === undefined ? {} : { attachments: e.attachments.map((a) => ({ url: a.url, contentType: a.contentType, ...(a.filename === undefined ? {} : { filename: a.filename }) })) }),
        },
      ];
    case "edit":
      return [{ kind: "edit", target: e.target, from: mimiOf(e.from), text: e.text }];
    case "reaction":
      return [{ kind: "reaction", target: e.target, from: mimiOf(e.from), reaction: e.reaction }];
    case "unreact":
      return [{ kind: "unreact", target: e.target, from: mimiOf(e.from), reaction: e.reaction }];
    case "retract":
      return [{ kind: "retract", target: e.target, from: mimiOf(e.from) }];
    case "participant":
      return [{ kind: "participant", change: e.change, user: e.mimiUri }];
    case "receipt":
      return [{ kind: "receipt", target: e.target, from: mimiOf(e.from) }];
    case "metadata":
      return [{ kind: "metadata", ...(e.subject === undefined ? {} : { topic: e.subject }), ...(e.name === undefined ? {} : { name: e.name }) }];
    default:
      return [];
  }
}

export function loopbackDriver(): PlatformDriver {
  resetLoopbackPlatform(BRIDGED);
  let provider: Provider | undefined;
  const adapter = () => {
    if (!provider) throw new Error("not connected");
    return loopbackOf(provider);
  };
  const act = async (event: Parameters<LoopbackAdapter["act"]>[0]) => {
    const r = await adapter().act(event);
    assert.equal(r.status, "accepted", `the core accepts ${event.type}: ${JSON.stringify(r)}`);
    return r;
  };
  const platform = loopbackPlatform(BRIDGED);
  return {
    providerConfig: () => Promise.resolve({ adapters: { loopback: {} } }),
    connect: (p) => {
      provider = p;
      return Promise.resolve();
    },
    adapter: (p) => loopbackOf(p),
    async bridgeGroup(user, name, invite) {
      const room = platformRoomId(`#${name}`);
      await act({ type: "room.create", platformEventId: platform.nextId(), sender: platformUserId(user), room, kind: "group", name, invite });
      return room;
    },
    async roomOf(_user, roomId) {
      let room: PlatformRoomId | undefined;
      await until(async () => {
        room = (await provider?.bridge?.portals("loopback")?.byRoom(roomId))?.platformRoom;
        return room !== undefined;
      }, `a portal for ${roomId}`);
      return room!;
    },
    async send(user, room, text, options = {}) {
      const id = platform.nextId();
      await act({ type: "message", platformEventId: id, sender: platformUserId(user), room, text, ...(options.replyTo === undefined ? {} : { replyTo: options.replyTo }) });
      return id;
    },
    async sendThreaded(user, room, root, text) {
      const id = platform.nextId();
      await act({ type: "message", platformEventId: id, sender: platformUserId(user), room, text, thread: root });
      return id;
    },
    async sendAttachment(user, room, file) {
      // The in-memory platform keeps files on an (imaginary) https file host.
      const id = platform.nextId();
      const url = `https://files.${BRIDGED}/${id}/${encodeURIComponent(file.filename)}`;
      await act({
        type: "message",
        platformEventId: id,
        sender: platformUserId(user),
        room,
        text: file.caption ?? "",
        attachments: [{ url, contentType: file.contentType, size: file.data.byteLength, filename: file.filename }],
      });
      return { id, platformUrl: url, mimiUrl: url };
    },
    async resend(user, room, id, text) {
      const r = await adapter().act({ type: "message", platformEventId: id, sender: platformUserId(user), room, text });
      assert.equal(r.status, "accepted", "a resend gets the first answer again");
    },
    async edit(user, room, target, text) {
      await act({ type: "message.edit", platformEventId: platform.nextId(), sender: platformUserId(user), room, target, text });
    },
    async react(user, room, target, reaction) {
      await act({ type: "reaction.add", platformEventId: platform.nextId(), sender: platformUserId(user), room, target, reaction });
    },
    async retract(user, room, target) {
      await act({ type: "message.retract", platformEventId: platform.nextId(), sender: platformUserId(user), room, target });
    },
    async moderate(user, room, target, action) {
      const a = adapter();
      const who = a.localUserFor(target) ?? a.ghostFor(target);
      await act({ type: "room.membership", platformEventId: platform.nextId(), sender: platformUserId(user), room, action, target: who });
    },
    async markRead(user, room, target) {
      await act({ type: "receipt.read", platformEventId: platform.nextId(), sender: platformUserId(user), room, target });
    },
    async setTopic(user, room, topic) {
      await act({ type: "room.metadata", platformEventId: platform.nextId(), sender: platformUserId(user), room, topic });
    },
    async requestConsent(user, peer) {
      await act({ type: "consent.request", platformEventId: platform.nextId(), sender: platformUserId(user), peer: adapter().ghostFor(peer) });
    },
    async grantConsent(user, peer) {
      await act({ type: "consent.grant", platformEventId: platform.nextId(), sender: platformUserId(user), peer: adapter().ghostFor(peer) });
    },
    async revokeConsent(user, peer) {
      await act({ type: "consent.revoke", platformEventId: platform.nextId(), sender: platformUserId(user), peer: adapter().ghostFor(peer) });
    },
    consentSeen: (user) => [
      ...platform.consentPrompts.filter((p) => p.target === user).map((p) => ({ from: p.requester, kind: "request" as const })),
      ...platform.consentChanges.filter((c) => c.target === user).map((c) => ({ from: c.peer, kind: c.change === "granted" ? ("grant" as const) : ("revoke" as const) })),
    ],
    seen: (_user, room) => platform.transcript(room).flatMap(toSeen),
    close: () => Promise.resolve(),
  };
}

adapterConformance("loopback", loopbackDriver);

test("MIMI-ADAPTER-03 loopback: a delivery the platform refuses is retried until it lands, and shown once", async () => {
  await withLoopbackWorld(async ({ net, bob }) => {
    const adapter = loopbackOf(net.providers[BRIDGED]!);
    const platform = adapter.platform;
    const room = platformRoomId("#retry");
    const created = await adapter.act({ type: "room.create", platformEventId: platformEventId("c1"), sender: platformUserId("alice"), room, kind: "group", invite: ["mimi://b.example/u/bob"] });
    assert.equal(created.status, "accepted");
    await until(() => bob.events.some((e) => e.type === "joined"), "bob joined");
    const roomId = created.status === "accepted" ? created.roomId! : "";
    platform.failNext = 2;
    await bob.client.send(roomId, "try again");
    const shown = await platform.waitFor(() => platform.transcript(room).find((e) => e.kind === "message" && e.text === "try again"), "the retried delivery");
    assert.equal(shown.kind === "message" && shown.from, "~mimi://b.example/u/bob");
    assert.equal(platform.failNext, 0, "both injected failures were hit");
    assert.equal(platform.transcript(room).filter((e) => e.kind === "message" && e.text === "try again").length, 1);
    // Unknown rooms and strangers are refused with typed codes, and nothing is recorded.
    const noPortal = await adapter.act({ type: "message", platformEventId: platformEventId("x1"), sender: platformUserId("alice"), room: platformRoomId("#nowhere"), text: "lost?" });
    assert.deepEqual(noPortal.status === "rejected" && noPortal.code, "MIMI_ERR_BRIDGE_NO_PORTAL");
    const ghost = await adapter.act({ type: "message", platformEventId: platformEventId("x2"), sender: platformUserId("~mimi://b.example/u/bob"), room, text: "spoofed" });
    assert.deepEqual(ghost.status === "rejected" && ghost.code, "MIMI_ERR_BRIDGE_NOT_LOCAL");
    const unknownTarget: PlatformEventId = platformEventId("never-sent");
    const edit = await adapter.act({ type: "message.edit", platformEventId: platformEventId("x3"), sender: platformUserId("alice"), room, target: unknownTarget, text: "edit of nothing" });
    assert.equal(edit.status, "ignored");
  });
});

test("MIMI-ADAPTER-07 loopback: consent both ways through the platform (prompt, grant, request) and identifier resolution", async () => {
  const consent = { consent: { preConsent: "none" } };
  await withLoopbackWorld(async ({ net, bob, bobUri }) => {
    const adapter = loopbackOf(net.providers[BRIDGED]!);
    const platform = adapter.platform;
    const alice = platformUserId("alice");
    const bobGhost = adapter.ghostFor(bobUri);
    // alice's first gesture on the platform makes her a MIMI user (and resolves bob's address).
    const q = await adapter.act({ type: "identifier.query", platformEventId: platformEventId("q1"), sender: alice, query: bobUri });
    assert.deepEqual(q.status === "accepted" && q.resolved, [{ mimiUri: bobUri, ghost: bobGhost }]);
    // MIMI → platform: bob asks alice; the platform prompts her.
    await bob.client.consentRequest("mimi://a.example/u/alice");
    const prompt = await platform.waitFor(() => platform.consentPrompts.find((p) => p.requester === bobUri), "alice is prompted");
    assert.equal(prompt.target, alice);
    assert.equal(prompt.requesterGhost, bobGhost);
    // platform → MIMI: she accepts; bob learns it and can add her.
    const granted = await adapter.act({ type: "consent.grant", platformEventId: platformEventId("g1"), sender: alice, peer: bobGhost });
    assert.equal(granted.status, "accepted");
    await until(async () => (await bob.client.consentList()).outgoing.some((r) => r.state === "granted"), "bob sees the grant");
    const roomId = await bob.client.createRoom("group", { participants: ["mimi://a.example/u/alice"] });
    const portals = net.providers[BRIDGED]!.bridge!.portals("loopback")!;
    await until(async () => (await portals.byRoom(roomId)) !== undefined, "the room bob made with alice gets a portal");
    // platform → MIMI: alice asks bob; bob's provider records the request.
    const asked = await adapter.act({ type: "consent.request", platformEventId: platformEventId("r1"), sender: alice, peer: adapter.ghostFor("mimi://b.example/u/carol") });
    assert.equal(asked.status, "accepted", "a request to an unknown user looks like any other (MIMI-PROTO-CONSENT-05)");
    // A consent gesture towards a local user (not a ghost) is refused with a typed code.
    const wrong = await adapter.act({ type: "consent.request", platformEventId: platformEventId("r2"), sender: alice, peer: platformUserId("dave") });
    assert.equal(wrong.status === "rejected" && wrong.code, "MIMI_ERR_BRIDGE_NOT_LOCAL");
  }, consent);
});

test("MIMI-ADAPTER-08 loopback: two local users in one room: each MIMI message is decrypted once (by one designated member) and shown once; Markdown reaches the adapter as Markdown", async () => {
  await withLoopbackWorld(async ({ net, bob }) => {
    const bridge = net.providers[BRIDGED]!.bridge!;
    const adapter = loopbackOf(net.providers[BRIDGED]!);
    const platform = adapter.platform;
    const room = platformRoomId("#two-locals");
    const created = await adapter.act({
      type: "room.create",
      platformEventId: platformEventId("c2"),
      sender: platformUserId("alice"),
      room,
      kind: "group",
      invite: ["mimi://a.example/u/carol", "mimi://b.example/u/bob"],
    });
    assert.equal(created.status, "accepted");
    const roomId = created.status === "accepted" ? created.roomId! : "";
    await until(() => bob.events.some((e) => e.type === "joined" && e.roomId === roomId), "bob joined");
    // carol's hosted client must have joined too before the count starts.
    await until(async () => (await bob.client.room(roomId)).members.some((m) => m.startsWith("mimi://a.example/d/carol/")), "carol's client is a member");
    const before = bridge.decryptStats();
    const texts = ["one", "two", "three"].map((t) => `${t} for both locals`);
    for (const t of texts) await bob.client.send(roomId, t);
    for (const t of texts) await platform.waitFor(() => platform.transcript(room).find((e) => e.kind === "message" && e.text === t), `"${t}" on the platform`);
    // Both hosted clients process every message (MLS state); only the designated one decrypts it.
    await until(() => bridge.decryptStats().skipped - before.skipped >= texts.length, "carol's client saw the messages");
    const after = bridge.decryptStats();
    assert.equal(after.decrypted - before.decrypted, texts.length, "one decryption per message for both local recipients");
    assert.equal(after.skipped - before.skipped, texts.length, "the other local member skipped each");
    for (const t of texts) assert.equal(platform.transcript(room).filter((e) => e.kind === "message" && e.text === t).length, 1, `"${t}" shown once`);
    // GFM-MIMI Markdown reaches the adapter as Markdown; plain text does not claim to be.
    await bob.client.send(roomId, "**both** of _you_", { markdown: true });
    const md = await platform.waitFor(() => platform.transcript(room).find((e) => e.kind === "message" && e.text === "**both** of _you_"), "the Markdown message");
    assert.equal(md.kind === "message" && md.markdown, "**both** of _you_");
    assert.ok(platform.transcript(room).every((e) => e.kind !== "message" || !texts.includes(e.text) || e.markdown === undefined));
  });
});

test("MIMI-ADAPTER-12 loopback: thread identity without a known root (the string's UTF-8, both ways; a binary topic as mimi-topic:<hex>), edits keep the thread, and attachments MIMI or the platform cannot use", async () => {
  await withLoopbackWorld(async ({ net, bob }) => {
    const adapter = loopbackOf(net.providers[BRIDGED]!);
    const platform = adapter.platform;
    const alice = platformUserId("alice");
    const room = platformRoomId("#side");
    const created = await adapter.act({ type: "room.create", platformEventId: platformEventId("c3"), sender: alice, room, kind: "group", invite: ["mimi://b.example/u/bob"] });
    assert.equal(created.status, "accepted");
    const roomId = created.status === "accepted" ? created.roomId! : "";
    await until(() => bob.events.some((e) => e.type === "joined" && e.roomId === roomId), "bob joined");
    const shown = (text: string) => platform.waitFor(() => platform.transcript(room).find((e) => e.kind === "message" && e.text === text), `"${text}" on the platform`);

    // A platform thread whose root the bridge never saw: the topicId is the thread string's UTF-8.
    const sent = await adapter.act({ type: "message", platformEventId: platformEventId("t1"), sender: alice, room, text: "on the side", thread: "side-chat" });
    assert.equal(sent.status, "accepted");
    const side = await waitForEvent(bob, (e) => e.type === "message" && e.text === "on the side", "bob reads the side thread");
    assert.equal(side.type === "message" && side.topicId, topicIdOfText("side-chat"));
    await bob.client.send(roomId, "me too", { topicId: topicIdOfText("side-chat") });
    const back = await shown("me too");
    assert.equal(back.kind === "message" && back.thread, "side-chat", "the same string on the platform");

    // An edit on the platform stays in the thread of the first version (the SDK keeps its topicId).
    await adapter.act({ type: "message.edit", platformEventId: platformEventId("t2"), sender: alice, room, target: platformEventId("t1"), text: "on the side (edited)" });
    const edit = await waitForEvent(bob, (e) => e.type === "message" && e.kind === "edit", "bob sees the edit");
    assert.equal(edit.type === "message" && edit.topicId, topicIdOfText("side-chat"));

    // A topicId that spells no string (binary) is mimi-topic:<hex> on the platform, and back.
    const binary = "ff00".repeat(8);
    await bob.client.send(roomId, "binary topic", { topicId: binary });
    const b = await shown("binary topic");
    assert.equal(b.kind === "message" && b.thread, `mimi-topic:${binary}`);
    await adapter.act({ type: "message", platformEventId: platformEventId("t3"), sender: alice, room, text: "answer in the binary topic", thread: `mimi-topic:${binary}` });
    const answer = await waitForEvent(bob, (e) => e.type === "message" && e.text === "answer in the binary topic", "bob reads the answer");
    assert.equal(answer.type === "message" && answer.topicId, binary);
    // A platform thread that only looks like that form but spells a string is that string: no
    // one picks arbitrary binary topics through a platform.
    const lookalike = `mimi-topic:${topicIdOfText("plain words")}`;
    await adapter.act({ type: "message", platformEventId: platformEventId("t3b"), sender: alice, room, text: "look-alike thread", thread: lookalike });
    const spoof = await waitForEvent(bob, (e) => e.type === "message" && e.text === "look-alike thread", "bob reads the look-alike");
    assert.equal(spoof.type === "message" && spoof.topicId, topicIdOfText(lookalike));

    // Platform attachments MIMI cannot carry: dropped next to text; alone, the message is refused.
    const mixed = await adapter.act({ type: "message", platformEventId: platformEventId("t4"), sender: alice, room, text: "see attached", attachments: [{ url: "ftp://files.a.example/x.bin", contentType: "application/octet-stream" }] });
    assert.equal(mixed.status, "accepted");
    const plain = await waitForEvent(bob, (e) => e.type === "message" && e.text === "see attached", "bob reads the text");
    assert.equal(plain.type === "message" && plain.attachments, undefined);
    const alone = await adapter.act({ type: "message", platformEventId: platformEventId("t5"), sender: alice, room, text: "", attachments: [{ url: "mxc://hs.example/abc", contentType: "image/png" }] });
    assert.equal(alone.status === "rejected" && alone.code, "MIMI_ERR_CONTENT_BAD_URL");
    // A body that only repeats the attachment's URL (the XEP-0066 fallback) is not sent as text.
    const url = "https://files.a.example/t6/photo.png";
    await adapter.act({ type: "message", platformEventId: platformEventId("t6"), sender: alice, room, text: url, attachments: [{ url, contentType: "image/png" }] });
    const photo = await waitForEvent(bob, (e) => e.type === "message" && (e.attachments ?? []).some((a) => a.url === url), "bob gets the photo");
    assert.ok(photo.type === "message");
    assert.equal(photo.text, "");
    assert.equal(photo.content.nestedPart.cardinality, "external", "a lone ExternalPart, no text part");

    // MIMI → platform: an encrypted file (content §4.5 encAlg 1) is not handed to the platform;
    // the user is told a file was withheld (alone, the message would be empty).
    const sealedFile = { url: "https://files.b.example/sealed.bin", contentType: "application/octet-stream", encAlg: 1, key: "00".repeat(16), nonce: "00".repeat(12) };
    await bob.client.send(roomId, "sealed", { attachments: [sealedFile] });
    const sealed = await shown("sealed\n[a file that cannot be shown through the bridge]");
    assert.equal(sealed.kind === "message" && sealed.attachments, undefined);
    await bob.client.send(roomId, "", { attachments: [sealedFile, sealedFile] });
    const onlySealed = await shown("[2 files that cannot be shown through the bridge]");
    assert.equal(onlySealed.kind === "message" && onlySealed.attachments, undefined);
  });
});

test("MIMI-ADAPTER-03 loopback: when the room's hub cannot be reached, a platform message is refused as retryable and nothing is recorded for it, so a resend is tried again", async () => {
  await withLoopbackWorld(async ({ net, bob }) => {
    const adapter = loopbackOf(net.providers[BRIDGED]!);
    const alice = platformUserId("alice");
    // alice's first gesture makes her a MIMI user; bob's room (hub b.example) then brings her in.
    await adapter.act({ type: "identifier.query", platformEventId: platformEventId("q0"), sender: alice, query: "mimi://b.example/u/bob" });
    const roomId = await bob.client.createRoom("group", { participants: [`mimi://${BRIDGED}/u/alice`] });
    const portals = net.providers[BRIDGED]!.bridge!.portals("loopback")!;
    let room: PlatformRoomId | undefined;
    await until(async () => (room = (await portals.byRoom(roomId))?.platformRoom) !== undefined, "alice's portal of bob's room");
    await net.providers["b.example"]!.stop();
    const event = { type: "message", platformEventId: platformEventId("outage-1"), sender: alice, room: room!, text: "while the hub is down" } as const;
    const first = await adapter.act(event);
    assert.equal(first.status === "rejected" && first.retryable, true, `a retryable refusal, not an answer: ${JSON.stringify(first)}`);
    // Not recorded: the resend is tried again (a recorded refusal would come back without `retryable`).
    const again = await adapter.act(event);
    assert.equal(again.status === "rejected" && again.retryable, true, `tried again: ${JSON.stringify(again)}`);
  });
});

