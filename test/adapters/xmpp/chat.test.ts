// One-to-one chat, presence subscription as consent, and rich messages in both directions,
// against a real Prosody with real @xmpp/client users.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { platformEventId, platformRoomId, platformUserId, type MimiSender, type PlatformEvent } from "../../../src/adapter/index.ts";
import type { Bridge} from "./harness.ts";
import { PROVIDER, hexId, remote, startBridge, text, xml, type Element, type TestClient } from "./harness.ts";

const NS_SID = "urn:xmpp:sid:0";

describe("XMPP adapter: one-to-one chat and consent (real Prosody)", () => {
  let bridge: Bridge;
  let alice: TestClient;
  let bobGhost: string;
  let room: string;
  const bobUri = remote("bob");

  const sender = (): MimiSender => ({ mimiUri: bobUri, platformUser: platformUserId(bobGhost), local: false });
  const chatFromGhost = (after: number, match: (el: Element) => boolean, what: string) =>
    alice.waitFor((el) => el.is("message") && el.attrs.from === `${bobGhost}/mimi` && match(el), what, { after });
  const ofType = <T extends PlatformEvent["type"]>(type: T) => (e: PlatformEvent): e is Extract<PlatformEvent, { type: T }> => e.type === type;

  before(async () => {
    bridge = await startBridge();
    alice = await bridge.client("alice");
    bobGhost = bridge.ghost(bobUri);
    room = `chat:${alice.bare}|${bobGhost}`;
  });
  after(async () => {
    await bridge.close();
  });

  it("MIMI-XMPP-03: maps identities (local users on the provider domain, ghosts XEP-0106 escaped)", () => {
    assert.equal(bobGhost, `bob\\40b.example@${bridge.server.componentDomain}`);
    assert.equal(bridge.adapter.toMimiUri(platformUserId(alice.bare)), `mimi://${PROVIDER}/u/alice`);
    assert.equal(bridge.adapter.toMimiUri(platformUserId(bobGhost)), undefined);
    assert.equal(bridge.adapter.parseGhost(platformUserId(bobGhost)), bobUri);
    assert.equal(bridge.adapter.parseGhost(platformUserId(alice.bare)), undefined);
    assert.equal(bridge.adapter.platformRoomFor({ roomId: "mimi://b.example/r/x", kind: "direct", localUsers: [platformUserId(alice.bare)], remoteUsers: [bobUri] }), room);
  });

  it("MIMI-XMPP-03: a first message to a ghost opens a direct portal (room.create with the ghost invited), then a message", async () => {
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "a-1" }, xml("body", {}, "hello bob"), xml("origin-id", { xmlns: NS_SID, id: "a-1" })));
    const created = await bridge.core.waitFor((e) => e.type === "room.create", 10000, "room.create");
    assert.equal(created.event.type, "room.create");
    if (created.event.type !== "room.create") return;
    assert.equal(created.event.kind, "direct");
    assert.equal(created.event.room, room);
    assert.equal(created.event.sender, alice.bare);
    assert.deepEqual(created.event.invite, [bobUri]);
    const msg = await bridge.core.waitFor((e) => e.type === "message" && e.platformEventId === "a-1", 10000, "message a-1");
    assert.ok(msg.event.type === "message");
    assert.equal(msg.event.text, "hello bob");
    assert.equal(msg.event.room, room);
    assert.equal(msg.event.sender, alice.bare);
    assert.ok(bridge.core.submissions.indexOf(created) < bridge.core.submissions.indexOf(msg), "room.create is submitted before the message");

    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "a-2" }, xml("body", {}, "second")));
    await bridge.core.waitFor((e) => e.type === "message" && e.platformEventId === "a-2", 10000, "message a-2");
    assert.equal(bridge.core.events.filter(ofType("room.create")).length, 1, "one portal only");
  });

  it("MIMI-XMPP-05: a resent stanza (same id) is submitted with the same platformEventId and deduplicated", async () => {
    const before = bridge.core.events.length;
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "a-1" }, xml("body", {}, "hello bob"), xml("origin-id", { xmlns: NS_SID, id: "a-1" })));
    await bridge.adapter.idle();
    await new Promise((r) => setTimeout(r, 200));
    await bridge.adapter.idle();
    assert.equal(bridge.core.events.length, before, "no new unique event");
    assert.ok(bridge.core.submissions.some((s) => s.duplicate && s.event.platformEventId === "a-1"), "the resubmission reached the core's dedupe");
  });

  it("MIMI-XMPP-03 / MIMI-XMPP-05: a MIMI message arrives from the ghost with a deterministic id and origin-id, once", async () => {
    const messageId = hexId();
    const mark = alice.mark();
    const result = await bridge.adapter.handleMimiMessage({ room: platformRoomId(room), roomId: "mimi://b.example/r/dm", sender: sender(), timestamp: Date.now(), messageId, text: "hi alice" });
    const expectedId = `mimi-${messageId.slice(0, 16)}`;
    assert.equal(result.platformEventId, expectedId);
    const got = await chatFromGhost(mark, (el) => text(el, "body") === "hi alice", "hi alice");
    assert.equal(got.attrs.type, "chat");
    assert.equal(got.attrs.id, expectedId);
    assert.equal(got.getChild("origin-id", NS_SID)?.attrs.id, expectedId);
    // A repeated delivery (the core retries after a crash) shows nothing twice.
    const again = await bridge.adapter.handleMimiMessage({ room: platformRoomId(room), roomId: "mimi://b.example/r/dm", sender: sender(), timestamp: Date.now(), messageId, text: "hi alice" });
    assert.equal(again.platformEventId, expectedId);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(alice.all((el) => el.is("message") && el.attrs.id === expectedId, mark).length, 1);
  });

  it("MIMI-XMPP-16: a late MIMI message carries an XEP-0203 delay with the MIMI time", async () => {
    const mark = alice.mark();
    const ts = Date.now() - 3_600_000;
    await bridge.adapter.handleMimiMessage({ room: platformRoomId(room), roomId: "r", sender: sender(), timestamp: ts, messageId: hexId(), text: "from an hour ago" });
    const got = await chatFromGhost(mark, (el) => text(el, "body") === "from an hour ago", "delayed message");
    const stamp = got.getChild("delay", "urn:xmpp:delay")?.attrs.stamp as string | undefined;
    assert.ok(stamp !== undefined);
    assert.equal(Math.floor(Date.parse(stamp) / 1000), Math.floor(ts / 1000));
  });

  it("MIMI-XMPP-10/11/12/13/14/15/16/17: rich XMPP messages become the matching PlatformEvents with mapped targets", async () => {
    const core = bridge.core;
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-orig" }, xml("body", {}, "original text")));
    const orig = await core.waitFor((e) => e.platformEventId === "r-orig", 10000, "r-orig");
    const origMessageId = orig.result.status === "accepted" ? orig.result.messageId : undefined;
    assert.ok(origMessageId !== undefined);

    // XEP-0308 correction.
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-edit" }, xml("body", {}, "corrected text"), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "r-orig" })));
    const edit = await core.waitFor((e) => e.platformEventId === "r-edit", 10000, "edit");
    assert.ok(edit.event.type === "message.edit");
    assert.equal(edit.event.target, "r-orig");
    assert.equal(edit.event.text, "corrected text");
    assert.equal(edit.targetMessageId, origMessageId);

    // XEP-0461 reply with an XEP-0428 fallback quote that must be stripped.
    const quote = "> original text\n";
    await alice.send(
      xml(
        "message",
        { to: bobGhost, type: "chat", id: "r-reply" },
        xml("body", {}, `${quote}my answer 🎉`),
        xml("reply", { xmlns: "urn:xmpp:reply:0", to: `${bobGhost}/mimi`, id: "r-orig" }),
        xml("fallback", { xmlns: "urn:xmpp:fallback:0", for: "urn:xmpp:reply:0" }, xml("body", { start: "0", end: String(Array.from(quote).length) })),
      ),
    );
    const reply = await core.waitFor((e) => e.platformEventId === "r-reply", 10000, "reply");
    assert.ok(reply.event.type === "message");
    assert.equal(reply.event.text, "my answer 🎉");
    assert.equal(reply.event.replyTo, "r-orig");
    assert.equal(reply.replyToMessageId, origMessageId);

    // XEP-0444 reactions: the full set each time → adds and removes.
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-re1" }, xml("reactions", { xmlns: "urn:xmpp:reactions:0", id: "r-orig" }, xml("reaction", {}, "👍"), xml("reaction", {}, "❤️"))));
    await core.waitFor((e) => e.type === "reaction.add" && e.reaction === "❤️", 10000, "reaction ❤️");
    const thumbs = await core.waitFor((e) => e.type === "reaction.add" && e.reaction === "👍", 10000, "reaction 👍");
    assert.equal(thumbs.targetMessageId, origMessageId);
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-re2" }, xml("reactions", { xmlns: "urn:xmpp:reactions:0", id: "r-orig" }, xml("reaction", {}, "❤️"))));
    const removed = await core.waitFor((e) => e.type === "reaction.remove", 10000, "reaction.remove");
    assert.ok(removed.event.type === "reaction.remove");
    assert.equal(removed.event.reaction, "👍");

    // XEP-0333 displayed marker → receipt.read.
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-mk" }, xml("displayed", { xmlns: "urn:xmpp:chat-markers:0", id: "r-orig" })));
    const receipt = await core.waitFor((e) => e.type === "receipt.read", 10000, "receipt.read");
    assert.ok(receipt.event.type === "receipt.read");
    assert.equal(receipt.event.target, "r-orig");

    // XEP-0085 chat states → typing.
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-cs1" }, xml("composing", { xmlns: "http://jabber.org/protocol/chatstates" })));
    const typing = await core.waitFor((e) => e.type === "typing" && e.active, 10000, "typing on");
    assert.ok(typing.event.type === "typing");
    assert.equal(typing.event.room, room);
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-cs2" }, xml("paused", { xmlns: "http://jabber.org/protocol/chatstates" })));
    await core.waitFor((e) => e.type === "typing" && !e.active, 10000, "typing off");

    // XEP-0066 file link and XEP-0203 delay.
    const stamp = "2024-01-02T03:04:05Z";
    await alice.send(
      xml(
        "message",
        { to: bobGhost, type: "chat", id: "r-oob" },
        xml("body", {}, "https://files.example/u/cat.png"),
        xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, "https://files.example/u/cat.png"), xml("desc", {}, "a cat")),
        xml("delay", { xmlns: "urn:xmpp:delay", stamp }),
      ),
    );
    const file = await core.waitFor((e) => e.platformEventId === "r-oob", 10000, "oob");
    assert.ok(file.event.type === "message");
    assert.deepEqual(file.event.attachments, [{ url: "https://files.example/u/cat.png", contentType: "image/png", filename: "cat.png", description: "a cat" }]);
    assert.equal(file.event.timestamp, Date.parse(stamp));

    // XEP-0424 retraction; the target given as the origin-id of a message whose id differs.
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-x" }, xml("body", {}, "oops"), xml("origin-id", { xmlns: NS_SID, id: "origin-x" })));
    const oops = await core.waitFor((e) => e.platformEventId === "r-x", 10000, "oops");
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: "r-retract" }, xml("retract", { xmlns: "urn:xmpp:message-retract:1", id: "origin-x" }), xml("body", {}, "fallback")));
    const retract = await core.waitFor((e) => e.type === "message.retract", 10000, "retract");
    assert.ok(retract.event.type === "message.retract");
    assert.equal(retract.event.target, "r-x", "MIMI-XMPP-05: the origin-id alias maps to the platform event id");
    assert.equal(retract.targetMessageId, oops.result.status === "accepted" ? oops.result.messageId : "?");
  });

  it("MIMI-XMPP-10/11/12/13/14/15/17: MIMI edits, replies, reactions, retractions, markers, typing and files reach the XMPP user", async () => {
    const a = bridge.adapter;
    const r = platformRoomId(room);
    const base = { room: r, roomId: "r", sender: sender(), timestamp: Date.now() };
    const firstId = hexId();
    let mark = alice.mark();
    const first = await a.handleMimiMessage({ ...base, messageId: firstId, text: "version 1" });
    await chatFromGhost(mark, (el) => text(el, "body") === "version 1", "v1");
    const target = first.platformEventId ?? platformEventId("?");

    mark = alice.mark();
    const edit = await a.handleMimiEdit({ ...base, messageId: hexId(), target, text: "version 2" });
    const editEl = await chatFromGhost(mark, (el) => text(el, "body") === "version 2", "correction");
    assert.equal(editEl.getChild("replace", "urn:xmpp:message-correct:0")?.attrs.id, target);
    assert.equal(editEl.attrs.id, edit.platformEventId);

    mark = alice.mark();
    await a.handleMimiMessage({ ...base, messageId: hexId(), text: "a reply", replyTo: platformEventId("r-orig") });
    const replyEl = await chatFromGhost(mark, (el) => text(el, "body") === "a reply", "reply");
    assert.equal(replyEl.getChild("reply", "urn:xmpp:reply:0")?.attrs.id, "r-orig");

    mark = alice.mark();
    await a.handleMimiReaction({ ...base, messageId: hexId(), target, reaction: "👍" });
    await a.handleMimiReaction({ ...base, messageId: hexId(), target, reaction: "🎉" });
    const both = await chatFromGhost(mark, (el) => (el.getChild("reactions", "urn:xmpp:reactions:0")?.getChildren("reaction").length ?? 0) === 2, "two reactions");
    assert.deepEqual(both.getChild("reactions", "urn:xmpp:reactions:0")?.getChildren("reaction").map((c) => c.text()), ["👍", "🎉"]);
    mark = alice.mark();
    await a.handleMimiReactionRemove({ ...base, messageId: hexId(), target, reaction: "👍" });
    const one = await chatFromGhost(mark, (el) => el.getChild("reactions", "urn:xmpp:reactions:0") !== undefined, "reaction set after removal");
    assert.deepEqual(one.getChild("reactions", "urn:xmpp:reactions:0")?.getChildren("reaction").map((c) => c.text()), ["🎉"]);
    assert.equal(one.getChild("reactions", "urn:xmpp:reactions:0")?.attrs.id, target);

    mark = alice.mark();
    await a.handleMimiRetraction({ ...base, messageId: hexId(), target });
    const retract = await chatFromGhost(mark, (el) => el.getChild("retract", "urn:xmpp:message-retract:1") !== undefined, "retraction");
    assert.equal(retract.getChild("retract", "urn:xmpp:message-retract:1")?.attrs.id, target);
    assert.equal(retract.getChild("fallback", "urn:xmpp:fallback:0")?.attrs.for, "urn:xmpp:message-retract:1");

    mark = alice.mark();
    await a.handleMimiTyping({ room: r, sender: sender(), active: true });
    await chatFromGhost(mark, (el) => el.getChild("composing", "http://jabber.org/protocol/chatstates") !== undefined, "composing");
    await a.handleMimiReadReceipt({ room: r, sender: sender(), target: platformEventId("r-orig") });
    const marker = await chatFromGhost(mark, (el) => el.getChild("displayed", "urn:xmpp:chat-markers:0") !== undefined, "displayed marker");
    assert.equal(marker.getChild("displayed", "urn:xmpp:chat-markers:0")?.attrs.id, "r-orig");

    mark = alice.mark();
    await a.handleMimiMessage({ ...base, messageId: hexId(), text: "", attachments: [{ url: "https://b.example/f/report.pdf", contentType: "application/pdf", description: "Q3" }] });
    const fileEl = await chatFromGhost(mark, (el) => el.getChild("x", "jabber:x:oob") !== undefined, "oob");
    assert.equal(text(fileEl, "body"), "https://b.example/f/report.pdf", "XEP-0066: the body is the URL so clients show the file");
    assert.equal(fileEl.getChild("x", "jabber:x:oob")?.getChildText("url"), "https://b.example/f/report.pdf");
  });

  it("MIMI-XMPP-04: subscribe is a consent request; a MIMI grant answers subscribed and the ghost comes online", async () => {
    const carolUri = remote("carol");
    const carolGhost = bridge.ghost(carolUri);
    const mark = alice.mark();
    await alice.send(xml("presence", { to: carolGhost, type: "subscribe", id: "sub-1" }));
    const req = await bridge.core.waitFor((e) => e.type === "consent.request", 10000, "consent.request");
    assert.ok(req.event.type === "consent.request");
    assert.equal(req.event.peer, carolGhost);
    assert.equal(req.event.sender, alice.bare);
    await bridge.adapter.handleMimiConsentChange({ target: platformUserId(alice.bare), peer: carolUri, peerGhost: platformUserId(carolGhost), change: "granted" });
    await alice.waitFor((el) => el.is("presence") && el.attrs.from === carolGhost && el.attrs.type === "subscribed", "subscribed", { after: mark });
    await alice.waitFor((el) => el.is("presence") && el.attrs.from === `${carolGhost}/mimi` && el.attrs.type === undefined, "ghost available", { after: mark });
    // A new session of alice makes the server probe the ghost, which answers available.
    const second = await bridge.client("alice", "second");
    await second.waitFor((el) => el.is("presence") && el.attrs.from === `${carolGhost}/mimi` && el.attrs.type === undefined, "ghost presence on probe");
    await second.stop();
    // Cancelling her own subscription is consent.cancel.
    await alice.send(xml("presence", { to: carolGhost, type: "unsubscribe", id: "unsub-1" }));
    await bridge.core.waitFor((e) => e.type === "consent.cancel" && e.peer === carolGhost, 10000, "consent.cancel");
  });

  it("MIMI-XMPP-04: a MIMI consent request is a subscription request from the ghost; subscribed grants, unsubscribed revokes", async () => {
    const daveUri = remote("dave");
    const daveGhost = bridge.ghost(daveUri);
    const mark = alice.mark();
    await bridge.adapter.handleMimiConsentRequest({ target: platformUserId(alice.bare), requester: daveUri, requesterGhost: platformUserId(daveGhost) });
    const sub = await alice.waitFor((el) => el.is("presence") && el.attrs.type === "subscribe" && el.attrs.from === daveGhost, "subscribe from ghost", { after: mark });
    assert.equal(sub.getChildText("nick", "http://jabber.org/protocol/nick"), "dave@b.example");
    await alice.send(xml("presence", { to: daveGhost, type: "subscribed", id: "grant-1" }));
    const grant = await bridge.core.waitFor((e) => e.type === "consent.grant" && e.peer === daveGhost, 10000, "consent.grant");
    assert.equal(grant.event.sender, alice.bare);
    await alice.send(xml("presence", { to: daveGhost, type: "unsubscribed", id: "revoke-1" }));
    await bridge.core.waitFor((e) => e.type === "consent.revoke" && e.peer === daveGhost, 10000, "consent.revoke");
  });

  it("MIMI-XMPP-03: a core rejection (no consent) comes back as a stanza error with the MIMI code", async () => {
    const eveGhost = bridge.ghost(remote("eve"));
    bridge.core.answer = (e) => (e.type === "room.create" && e.room.includes("eve") ? { status: "rejected", code: "MIMI_ERR_CONSENT_REQUIRED", message: "ask eve first" } : undefined);
    try {
      const mark = alice.mark();
      await alice.send(xml("message", { to: eveGhost, type: "chat", id: "to-eve" }, xml("body", {}, "hi eve")));
      const err = await alice.waitFor((el) => el.is("message") && el.attrs.type === "error" && el.attrs.id === "to-eve", "error reply", { after: mark });
      const error = err.getChild("error");
      assert.ok(error?.getChild("subscription-required", "urn:ietf:params:xml:ns:xmpp-stanzas") !== undefined);
      assert.match(error?.getChildText("text", "urn:ietf:params:xml:ns:xmpp-stanzas") ?? "", /MIMI_ERR_CONSENT_REQUIRED/);
      assert.equal(bridge.core.events.some((e) => e.platformEventId === "to-eve"), false);
    } finally {
      bridge.core.answer = undefined;
    }
  });
});
