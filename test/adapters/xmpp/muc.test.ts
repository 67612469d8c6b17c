// MIMI groups as MUCs on the component (XEP-0045), against a real Prosody: invitations, join with
// roster, self-presence, affiliations and subject; history on join; messages both ways with
// reflection and stanza-ids; corrections, reactions, retractions and XEP-0425 moderation; nick
// changes; kick and ban both ways; disco; room creation by joining.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { platformEventId, platformRoomId, platformUserId, type MimiSender, type PlatformEvent } from "../../../src/adapter/index.ts";
import type { Bridge} from "./harness.ts";
import { REMOTE, hexId, remote, startBridge, text, xml, type Element, type TestClient } from "./harness.ts";

const MUC_USER = "http://jabber.org/protocol/muc#user";
const MUC_ADMIN = "http://jabber.org/protocol/muc#admin";
const SID = "urn:xmpp:sid:0";

const statuses = (el: Element) => (el.getChild("x", MUC_USER)?.getChildren("status") ?? []).map((s) => s.attrs.code as string);
const item = (el: Element) => el.getChild("x", MUC_USER)?.getChild("item");

async function join(c: TestClient, roomJid: string, nick: string, history?: Record<string, string>): Promise<Element> {
  const mark = c.mark();
  const x = xml("x", { xmlns: "http://jabber.org/protocol/muc" });
  if (history !== undefined) x.append(xml("history", history));
  await c.send(xml("presence", { to: `${roomJid}/${nick}` }, x));
  return c.waitFor((el) => el.is("presence") && (el.attrs.from as string).startsWith(`${roomJid}/`) && (el.attrs.type === "error" || statuses(el).includes("110")), `join ${roomJid}`, { after: mark });
}

describe("XMPP adapter: MIMI rooms as MUCs on the component (real Prosody)", () => {
  let bridge: Bridge;
  let alice: TestClient;
  let bob: TestClient;
  let roomJid: string;
  const roomId = `mimi://${REMOTE}/r/Team1`;
  const carol = remote("carol");
  const dave = remote("dave");
  let carolGhost: string;
  let daveGhost: string;
  const ghostSender = (uri: string): MimiSender => ({ mimiUri: uri, platformUser: platformUserId(bridge.ghost(uri)), local: false });
  const fromNick = (nick: string) => (el: Element) => el.attrs.from === `${roomJid}/${nick}`;
  const ofType = <T extends PlatformEvent["type"]>(type: T) => (e: PlatformEvent): e is Extract<PlatformEvent, { type: T }> => e.type === type;

  before(async () => {
    bridge = await startBridge();
    alice = await bridge.client("alice");
    bob = await bridge.client("bob");
    carolGhost = bridge.ghost(carol);
    daveGhost = bridge.ghost(dave);
    roomJid = bridge.adapter.platformRoomFor({ roomId, kind: "group", localUsers: [platformUserId(alice.bare)], remoteUsers: [carol, dave] });
    // The core links the portal of a room created elsewhere, then reports its participants.
    bridge.core.portals.link(roomId, platformRoomId(roomJid), "group");
    const change = (user: string, platformUser: string, role: string) =>
      bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(roomJid), roomId, change: "added", user, platformUser: platformUserId(platformUser), role, timestamp: Date.now() });
    await change("mimi://a.example/u/alice", alice.bare, "admin");
    await change(carol, carolGhost, "member");
    await change(dave, daveGhost, "admin");
  });
  after(async () => {
    await bridge.close();
  });

  it("MIMI-XMPP-20: platformRoomFor maps the MIMI room to an escaped room JID on the component, reversibly", () => {
    assert.equal(roomJid, `_team1#${REMOTE}@${bridge.server.componentDomain}`);
  });

  it("MIMI-XMPP-22: a local user added in MIMI gets a XEP-0045 mediated invitation", async () => {
    const inv = await alice.waitFor((el) => el.is("message") && el.attrs.from === roomJid && el.getChild("x", MUC_USER)?.getChild("invite") !== undefined, "invitation");
    assert.equal(inv.getChild("x", "jabber:x:conference")?.attrs.jid, roomJid);
  });

  it("MIMI-XMPP-20: join gives the occupant roster (ghosts with affiliations from MIMI roles), self-presence 110 and the subject", async () => {
    const mark = alice.mark();
    const self = await join(alice, roomJid, "Alice");
    assert.deepEqual(statuses(self).sort(), ["100", "110"]);
    assert.equal(item(self)?.attrs.affiliation, "admin");
    assert.equal(item(self)?.attrs.role, "moderator");
    const carolP = alice.all((el) => el.is("presence") && el.attrs.from === `${roomJid}/carol@b.example`, mark)[0];
    assert.ok(carolP !== undefined, "ghost carol is in the roster");
    assert.equal(item(carolP)?.attrs.affiliation, "member");
    assert.equal(item(carolP)?.attrs.role, "participant");
    assert.equal(item(carolP)?.attrs.jid, carolGhost);
    const daveP = alice.all((el) => el.is("presence") && el.attrs.from === `${roomJid}/dave@b.example`, mark)[0];
    assert.ok(daveP !== undefined, "ghost dave is in the roster");
    assert.equal(item(daveP)?.attrs.affiliation, "admin");
    const idx = (el: Element | undefined) => (el === undefined ? -1 : alice.inbox.indexOf(el));
    assert.ok(idx(carolP) < idx(self), "§7.2.3: others' presence comes before self-presence");
    const subject = await alice.waitFor((el) => el.is("message") && el.getChild("subject") !== undefined && (el.attrs.from as string).startsWith(roomJid), "subject", { after: mark });
    assert.ok(idx(subject) > idx(self), "§7.2.15: the subject comes last");
  });

  it("MIMI-XMPP-20: a MIMI message is reflected from the ghost's nick with a stanza-id; history on join replays it with a delay", async () => {
    const messageId = hexId();
    const mark = alice.mark();
    const res = await bridge.adapter.handleMimiMessage({ room: platformRoomId(roomJid), roomId, sender: ghostSender(carol), timestamp: Date.now(), messageId, text: "hello room" });
    const got = await alice.waitFor((el) => el.is("message") && fromNick("carol@b.example")(el) && text(el, "body") === "hello room", "groupchat from carol", { after: mark });
    assert.equal(got.attrs.type, "groupchat");
    assert.equal(got.getChild("stanza-id", SID)?.attrs.id, res.platformEventId);
    assert.equal(got.getChild("stanza-id", SID)?.attrs.by, roomJid);
    // bob is a member (non-member joins are asked of the core), joins later and gets the history.
    await bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(roomJid), roomId, change: "added", user: "mimi://a.example/u/bob", platformUser: platformUserId(bob.bare), role: "member", timestamp: Date.now() });
    const bmark = bob.mark();
    const self = await join(bob, roomJid, "Bob");
    assert.ok(statuses(self).includes("110"));
    const hist = await bob.waitFor((el) => el.is("message") && text(el, "body") === "hello room", "history", { after: bmark });
    assert.equal(hist.getChild("delay", "urn:xmpp:delay")?.attrs.from, roomJid);
    // alice saw bob arrive.
    await alice.waitFor((el) => el.is("presence") && fromNick("Bob")(el) && el.attrs.type === undefined, "bob's join");
  });

  it("MIMI-XMPP-20 / MIMI-XMPP-05: an occupant's message is submitted, then reflected to every occupant with the same stanza-id", async () => {
    const am = alice.mark();
    const bm = bob.mark();
    await alice.send(xml("message", { to: roomJid, type: "groupchat", id: "al-1" }, xml("body", {}, "hi all")));
    const sub = await bridge.core.waitFor((e) => e.type === "message" && e.room === roomJid && e.text === "hi all", 10000, "groupchat event");
    assert.equal(sub.event.sender, alice.bare);
    const mine = await alice.waitFor((el) => el.is("message") && fromNick("Alice")(el) && text(el, "body") === "hi all", "own reflection", { after: am });
    const theirs = await bob.waitFor((el) => el.is("message") && fromNick("Alice")(el) && text(el, "body") === "hi all", "bob's copy", { after: bm });
    assert.equal(mine.attrs.id, "al-1", "the reflection keeps the sender's id");
    assert.equal(mine.getChild("stanza-id", SID)?.attrs.id, sub.event.platformEventId);
    assert.equal(theirs.getChild("stanza-id", SID)?.attrs.id, sub.event.platformEventId);
  });

  it("MIMI-XMPP-10/12/13: corrections, reactions and retractions in the MUC map to the original message", async () => {
    const core = bridge.core;
    await alice.send(xml("message", { to: roomJid, type: "groupchat", id: "al-2" }, xml("body", {}, "tpyo")));
    const orig = await core.waitFor((e) => e.type === "message" && e.room === roomJid && e.text === "tpyo", 10000, "tpyo");
    const sid = orig.event.platformEventId;
    const origMessageId = orig.result.status === "accepted" ? orig.result.messageId : undefined;
    await alice.send(xml("message", { to: roomJid, type: "groupchat", id: "al-3" }, xml("body", {}, "typo"), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "al-2" })));
    const edit = await core.waitFor((e) => e.type === "message.edit" && e.room === roomJid, 10000, "edit");
    assert.ok(edit.event.type === "message.edit");
    assert.equal(edit.event.target, sid, "XEP-0308 names the sender's id; the adapter maps it to the room's stanza-id");
    assert.equal(edit.targetMessageId, origMessageId);
    await bob.send(xml("message", { to: roomJid, type: "groupchat", id: "bo-1" }, xml("reactions", { xmlns: "urn:xmpp:reactions:0", id: sid }, xml("reaction", {}, "😂"))));
    const react = await core.waitFor((e) => e.type === "reaction.add" && e.room === roomJid, 10000, "reaction");
    assert.equal(react.event.sender, bob.bare);
    assert.equal(react.targetMessageId, origMessageId);
    await alice.waitFor((el) => el.is("message") && fromNick("Bob")(el) && el.getChild("reactions", "urn:xmpp:reactions:0") !== undefined, "reflected reaction");
    await alice.send(xml("message", { to: roomJid, type: "groupchat", id: "al-4" }, xml("retract", { xmlns: "urn:xmpp:message-retract:1", id: sid }), xml("body", {}, "retracted")));
    const retract = await core.waitFor((e) => e.type === "message.retract" && e.room === roomJid, 10000, "retract");
    assert.equal(retract.targetMessageId, origMessageId);
  });

  it("MIMI-XMPP-10/12/13: MIMI corrections, reactions and retractions come from the ghost's nick", async () => {
    const a = bridge.adapter;
    const base = { room: platformRoomId(roomJid), roomId, sender: ghostSender(carol), timestamp: Date.now() };
    const mark = bob.mark();
    const first = await a.handleMimiMessage({ ...base, messageId: hexId(), text: "carol v1" });
    const target = first.platformEventId ?? platformEventId("?");
    await a.handleMimiEdit({ ...base, messageId: hexId(), target, text: "carol v2" });
    const edit = await bob.waitFor((el) => el.is("message") && text(el, "body") === "carol v2", "correction", { after: mark });
    assert.equal(edit.getChild("replace", "urn:xmpp:message-correct:0")?.attrs.id, target);
    await a.handleMimiReaction({ ...base, messageId: hexId(), target: platformEventId("x-000000000000000000000000"), reaction: "🔥" });
    await bob.waitFor((el) => el.is("message") && fromNick("carol@b.example")(el) && el.getChild("reactions", "urn:xmpp:reactions:0")?.getChildText("reaction") === "🔥", "reaction", { after: mark });
    await a.handleMimiRetraction({ ...base, messageId: hexId(), target });
    const r = await bob.waitFor((el) => el.is("message") && el.getChild("retract", "urn:xmpp:message-retract:1")?.attrs.id === target, "self retraction", { after: mark });
    assert.equal(r.attrs.from, `${roomJid}/carol@b.example`);
    assert.equal(r.getChild("retract", "urn:xmpp:message-retract:1")?.getChild("moderated", "urn:xmpp:message-moderate:1"), undefined);
  });

  it("MIMI-XMPP-13: XEP-0425 moderation by an admin retracts someone else's message (moderation: true)", async () => {
    const res = await bridge.adapter.handleMimiMessage({ room: platformRoomId(roomJid), roomId, sender: ghostSender(carol), timestamp: Date.now(), messageId: hexId(), text: "spam" });
    const target = res.platformEventId ?? "?";
    const mark = bob.mark();
    await alice.iq(xml("iq", { type: "set", to: roomJid }, xml("moderate", { xmlns: "urn:xmpp:message-moderate:1", id: target }, xml("retract", { xmlns: "urn:xmpp:message-retract:1" }), xml("reason", {}, "spam"))));
    const ev = await bridge.core.waitFor((e) => e.type === "message.retract" && e.moderation === true, 10000, "moderation");
    assert.ok(ev.event.type === "message.retract");
    assert.equal(ev.event.target, target);
    assert.equal(ev.event.reason, "spam");
    const ann = await bob.waitFor((el) => el.is("message") && el.attrs.from === roomJid && el.getChild("retract", "urn:xmpp:message-retract:1") !== undefined, "moderation announcement", { after: mark });
    assert.equal(ann.getChild("retract", "urn:xmpp:message-retract:1")?.getChild("moderated", "urn:xmpp:message-moderate:1")?.attrs.by, `${roomJid}/Alice`);
  });

  it("MIMI-XMPP-20: subject changes both ways (room.metadata ↔ <subject/>)", async () => {
    const mark = bob.mark();
    await alice.send(xml("message", { to: roomJid, type: "groupchat", id: "subj-1" }, xml("subject", {}, "Planning")));
    const md = await bridge.core.waitFor((e) => e.type === "room.metadata", 10000, "room.metadata");
    assert.ok(md.event.type === "room.metadata");
    assert.equal(md.event.topic, "Planning");
    await bob.waitFor((el) => el.is("message") && fromNick("Alice")(el) && text(el, "subject") === "Planning", "subject to bob", { after: mark });
    await bridge.adapter.handleMimiRoomMetadata({ room: platformRoomId(roomJid), roomId, subject: "Release", by: dave });
    const s = await bob.waitFor((el) => el.is("message") && text(el, "subject") === "Release", "MIMI subject", { after: mark });
    assert.equal(s.attrs.from, `${roomJid}/dave@b.example`);
  });

  it("MIMI-XMPP-20: nick changes (303), conflicts with ghost nicks (409) and self-ping (XEP-0410)", async () => {
    const mark = alice.mark();
    await bob.send(xml("presence", { to: `${roomJid}/Robert` }));
    const gone = await alice.waitFor((el) => el.is("presence") && fromNick("Bob")(el) && el.attrs.type === "unavailable", "303", { after: mark });
    assert.ok(statuses(gone).includes("303"));
    assert.equal(item(gone)?.attrs.nick, "Robert");
    await alice.waitFor((el) => el.is("presence") && fromNick("Robert")(el) && el.attrs.type === undefined, "new nick", { after: mark });
    const conflict = await join(alice, roomJid, "carol@b.example");
    // alice is already in as Alice: that is a nick change attempt to a ghost's nick → conflict.
    assert.equal(conflict.attrs.type, "error");
    assert.ok(conflict.getChild("error")?.getChild("conflict", "urn:ietf:params:xml:ns:xmpp-stanzas") !== undefined);
    await bob.iq(xml("iq", { type: "get", to: `${roomJid}/Robert` }, xml("ping", { xmlns: "urn:xmpp:ping" })));
  });

  it("MIMI-XMPP-20: disco#info on the room for members (muc features, roominfo); non-members learn nothing", async () => {
    const info = await alice.iq(xml("iq", { type: "get", to: roomJid }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
    const q = info.getChild("query", "http://jabber.org/protocol/disco#info");
    assert.equal(q?.getChild("identity")?.attrs.category, "conference");
    const features = (q?.getChildren("feature") ?? []).map((f) => f.attrs.var as string);
    for (const f of ["http://jabber.org/protocol/muc", "muc_membersonly", "muc_nonanonymous", "urn:xmpp:sid:0", "urn:xmpp:message-moderate:1"]) assert.ok(features.includes(f), f);
    const carolClient = await bridge.client("carol");
    await assert.rejects(carolClient.iq(xml("iq", { type: "get", to: roomJid }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }))), /item-not-found/);
    // A non-member's join asks the core, which refuses here: registration-required (§7.2.7).
    bridge.core.answer = (e) => (e.type === "room.membership" && e.action === "join" ? { status: "rejected", code: "MIMI_ERR_POLICY_DENIED", message: "members only" } : undefined);
    try {
      const err = await join(carolClient, roomJid, "Carol");
      assert.equal(err.attrs.type, "error");
      assert.ok(err.getChild("error")?.getChild("registration-required", "urn:ietf:params:xml:ns:xmpp-stanzas") !== undefined);
    } finally {
      bridge.core.answer = undefined;
    }
  });

  it("MIMI-XMPP-21: a moderator's kick IQ becomes room.membership kick, and the occupant leaves with 307", async () => {
    const am = alice.mark();
    const bm = bob.mark();
    await alice.iq(xml("iq", { type: "set", to: roomJid }, xml("query", { xmlns: MUC_ADMIN }, xml("item", { nick: "Robert", role: "none" }, xml("reason", {}, "be nice")))));
    const kick = await bridge.core.waitFor((e) => e.type === "room.membership" && e.action === "kick", 10000, "kick");
    assert.ok(kick.event.type === "room.membership");
    assert.equal(kick.event.target, bob.bare);
    assert.equal(kick.event.sender, alice.bare);
    assert.equal(kick.event.reason, "be nice");
    const self = await bob.waitFor((el) => el.is("presence") && el.attrs.type === "unavailable" && statuses(el).includes("307"), "kicked", { after: bm });
    assert.ok(statuses(self).includes("110"));
    assert.equal(item(self)?.getChild("actor")?.attrs.nick, "Alice");
    await alice.waitFor((el) => el.is("presence") && fromNick("Robert")(el) && statuses(el).includes("307"), "kick seen by alice", { after: am });
  });

  it("MIMI-XMPP-21: a ban IQ on a ghost becomes room.membership ban and everyone sees 301", async () => {
    const am = alice.mark();
    await alice.iq(xml("iq", { type: "set", to: roomJid }, xml("query", { xmlns: MUC_ADMIN }, xml("item", { jid: carolGhost, affiliation: "outcast" }))));
    const ban = await bridge.core.waitFor((e) => e.type === "room.membership" && e.action === "ban", 10000, "ban");
    assert.ok(ban.event.type === "room.membership");
    assert.equal(ban.event.target, carolGhost);
    await alice.waitFor((el) => el.is("presence") && fromNick("carol@b.example")(el) && el.attrs.type === "unavailable" && statuses(el).includes("301"), "301", { after: am });
    const list = await alice.iq(xml("iq", { type: "get", to: roomJid }, xml("query", { xmlns: MUC_ADMIN }, xml("item", { affiliation: "outcast" }))));
    assert.deepEqual(list.getChild("query", MUC_ADMIN)?.getChildren("item").map((i) => i.attrs.jid as string), [carolGhost]);
  });

  it("MIMI-XMPP-21 / MIMI-XMPP-22: a MIMI ban of a local occupant is a 301; a MIMI removal of a ghost is a 307", async () => {
    await join(bob, roomJid, "Bob");
    const bm = bob.mark();
    await bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(roomJid), roomId, change: "removed", user: dave, platformUser: platformUserId(daveGhost), by: "mimi://a.example/u/alice", timestamp: Date.now() });
    const daveGone = await bob.waitFor((el) => el.is("presence") && fromNick("dave@b.example")(el) && el.attrs.type === "unavailable", "dave removed", { after: bm });
    assert.ok(statuses(daveGone).includes("307"));
    await bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(roomJid), roomId, change: "banned", user: "mimi://a.example/u/bob", platformUser: platformUserId(bob.bare), by: dave, timestamp: Date.now() });
    const banned = await bob.waitFor((el) => el.is("presence") && el.attrs.type === "unavailable" && statuses(el).includes("301"), "bob banned", { after: bm });
    assert.ok(statuses(banned).includes("110"));
    const again = await join(bob, roomJid, "Bob");
    assert.equal(again.attrs.type, "error");
    assert.ok(again.getChild("error")?.getChild("forbidden", "urn:ietf:params:xml:ns:xmpp-stanzas") !== undefined, "§7.2.8: banned users cannot enter");
  });

  it("MIMI-XMPP-20: leaving sends self-presence 110 and tells the others", async () => {
    const mark = alice.mark();
    await alice.send(xml("presence", { to: `${roomJid}/Alice`, type: "unavailable" }));
    const self = await alice.waitFor((el) => el.is("presence") && fromNick("Alice")(el) && el.attrs.type === "unavailable", "left", { after: mark });
    assert.ok(statuses(self).includes("110"));
    // A message now is refused: not an occupant (§7.4).
    await alice.send(xml("message", { to: roomJid, type: "groupchat", id: "after-leave" }, xml("body", {}, "ghost text")));
    const err = await alice.waitFor((el) => el.is("message") && el.attrs.type === "error" && el.attrs.id === "after-leave", "not-acceptable", { after: mark });
    assert.ok(err.getChild("error")?.getChild("not-acceptable", "urn:ietf:params:xml:ns:xmpp-stanzas") !== undefined);
  });

  it("MIMI-XMPP-20: joining a room that does not exist creates a MIMI group (XEP-0045 §10.1, status 201)", async () => {
    const newRoom = `planning@${bridge.server.componentDomain}`;
    const self = await join(alice, newRoom, "Alice");
    assert.deepEqual(statuses(self).sort(), ["100", "110", "201"]);
    const created = bridge.core.events.filter(ofType("room.create")).find((e) => e.room === newRoom);
    assert.equal(created?.kind, "group");
    assert.equal(created?.sender, alice.bare);
    const items = await alice.iq(xml("iq", { type: "get", to: bridge.server.componentDomain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items" })));
    const jids = (items.getChild("query", "http://jabber.org/protocol/disco#items")?.getChildren("item") ?? []).map((i) => i.attrs.jid as string);
    assert.ok(jids.includes(newRoom), "XEP-0045 §6.3: the user's rooms are listed");
  });
});
