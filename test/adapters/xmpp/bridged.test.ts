// An existing MUC of the XMPP server bridged into a MIMI room by the XEP-0050 admin command,
// against a real Prosody (muc_mam gives XEP-0359 stanza-ids): the bot joins, occupants' messages
// become PlatformEvents, ghosts post MIMI messages, kicks and bans take effect both ways, and the
// room can be listed and unbridged.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { platformEventId, platformRoomId, platformUserId, type MimiSender } from "../../../src/adapter/index.ts";
import type { Bridge} from "./harness.ts";
import { hexId, remote, startBridge, text, xml, type Element, type TestClient } from "./harness.ts";

const MUC_USER = "http://jabber.org/protocol/muc#user";
const COMMANDS = "http://jabber.org/protocol/commands";
const statuses = (el: Element) => (el.getChild("x", MUC_USER)?.getChildren("status") ?? []).map((s) => s.attrs.code as string);

function submitForm(fields: Record<string, string>): Element {
  return xml("x", { xmlns: "jabber:x:data", type: "submit" }, ...Object.entries(fields).map(([k, v]) => xml("field", { var: k }, xml("value", {}, v))));
}

describe("XMPP adapter: an existing MUC bridged by an admin command (real Prosody)", () => {
  let bridge: Bridge;
  let admin: TestClient;
  let alice: TestClient;
  let muc: string;
  const carol = remote("carol");
  let carolGhost: string;
  const carolSender = (): MimiSender => ({ mimiUri: carol, platformUser: platformUserId(carolGhost), local: false });
  let roomId = "";

  before(async () => {
    bridge = await startBridge();
    admin = await bridge.client("admin");
    alice = await bridge.client("alice");
    muc = `lounge@${bridge.server.mucDomain}`;
    carolGhost = bridge.ghost(carol);
    // The admin creates the MUC, makes it non-anonymous (the bridge must see real JIDs) and makes
    // the bridge's bot an admin (so MIMI bans can be applied); alice is an occupant.
    const mark = admin.mark();
    await admin.send(xml("presence", { to: `${muc}/Admin` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
    await admin.waitFor((el) => el.is("presence") && el.attrs.from === `${muc}/Admin` && statuses(el).includes("110"), "admin joined", { after: mark });
    await admin.iq(
      xml(
        "iq",
        { type: "set", to: muc },
        xml("query", { xmlns: "http://jabber.org/protocol/muc#owner" }, submitForm({ FORM_TYPE: "http://jabber.org/protocol/muc#roomconfig", "muc#roomconfig_whois": "anyone", "muc#roomconfig_persistentroom": "1", "muc#roomconfig_roomname": "The Lounge" })),
      ),
    );
    await admin.iq(xml("iq", { type: "set", to: muc }, xml("query", { xmlns: "http://jabber.org/protocol/muc#admin" }, xml("item", { jid: bridge.server.componentDomain, affiliation: "admin" }))));
    const am = alice.mark();
    await alice.send(xml("presence", { to: `${muc}/Alice` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
    await alice.waitFor((el) => el.is("presence") && el.attrs.from === `${muc}/Alice` && statuses(el).includes("110"), "alice joined", { after: am });
  });
  after(async () => {
    await bridge.close();
  });

  it("MIMI-XMPP-27: admins see the ad-hoc commands (XEP-0050 §2.2), others do not", async () => {
    const q = (c: TestClient) => c.iq(xml("iq", { type: "get", to: bridge.server.componentDomain }, xml("query", { xmlns: "http://jabber.org/protocol/disco#items", node: COMMANDS })));
    const nodes = (el: Element) => (el.getChild("query", "http://jabber.org/protocol/disco#items")?.getChildren("item") ?? []).map((i) => i.attrs.node as string);
    assert.deepEqual(nodes(await q(admin)).sort(), ["bridge-muc", "list-portals", "unbridge"]);
    assert.deepEqual(nodes(await q(alice)), []);
    await assert.rejects(alice.iq(xml("iq", { type: "set", to: bridge.server.componentDomain }, xml("command", { xmlns: COMMANDS, node: "list-portals", action: "execute" }))), /forbidden/);
  });

  it("MIMI-XMPP-23 / MIMI-XMPP-27: the bridge-muc command (form, then submit) joins the bot and creates the MIMI room", async () => {
    const dc = bridge.server.componentDomain;
    const first = await admin.iq(xml("iq", { type: "set", to: dc }, xml("command", { xmlns: COMMANDS, node: "bridge-muc", action: "execute" })));
    const cmd = first.getChild("command", COMMANDS);
    assert.equal(cmd?.attrs.status, "executing");
    const sessionid = cmd?.attrs.sessionid as string;
    assert.ok(cmd?.getChild("x", "jabber:x:data")?.getChildren("field").some((f) => f.attrs.var === "muc"));
    const am = alice.mark();
    const done = await admin.iq(xml("iq", { type: "set", to: dc }, xml("command", { xmlns: COMMANDS, node: "bridge-muc", sessionid, action: "complete" }, submitForm({ muc, kind: "group" }))), 20000);
    const result = done.getChild("command", COMMANDS);
    assert.equal(result?.attrs.status, "completed");
    assert.match(result?.getChildText("note") ?? "", /Bridged lounge@/);
    const created = await bridge.core.waitFor((e) => e.type === "room.create" && e.room === muc, 10000, "room.create");
    assert.ok(created.event.type === "room.create");
    assert.equal(created.event.kind, "group");
    assert.equal(created.event.sender, admin.bare);
    assert.equal(created.event.name, "The Lounge");
    roomId = created.result.status === "accepted" ? (created.result.roomId ?? "") : "";
    // The bot is in the room, and alice (a local occupant) is added to the MIMI room.
    await alice.waitFor((el) => el.is("presence") && el.attrs.from === `${muc}/MIMI bridge` && el.attrs.type === undefined, "bot joined", { after: am });
    const joined = await bridge.core.waitFor((e) => e.type === "room.membership" && e.action === "join" && e.target === alice.bare, 10000, "alice joins the MIMI room");
    assert.equal(joined.event.sender, alice.bare);
  });

  it("MIMI-XMPP-23: occupants' messages become PlatformEvents keyed by the MUC's stanza-id", async () => {
    const am = alice.mark();
    await alice.send(xml("message", { to: muc, type: "groupchat", id: "lo-1" }, xml("body", {}, "hello from the lounge")));
    const refl = await alice.waitFor((el) => el.is("message") && el.attrs.id === "lo-1" && el.attrs.type === "groupchat", "MUC reflection", { after: am });
    const sid = refl.getChildren("stanza-id", "urn:xmpp:sid:0").find((s) => s.attrs.by === muc)?.attrs.id as string | undefined;
    assert.ok(sid !== undefined, "Prosody's muc_mam gives a stanza-id");
    const ev = await bridge.core.waitFor((e) => e.type === "message" && e.room === muc, 10000, "message");
    assert.ok(ev.event.type === "message");
    assert.equal(ev.event.text, "hello from the lounge");
    assert.equal(ev.event.sender, alice.bare);
    assert.equal(ev.event.platformEventId, sid);
    // A correction names alice's own id; the adapter maps it to the stanza-id.
    await alice.send(xml("message", { to: muc, type: "groupchat", id: "lo-2" }, xml("body", {}, "hello from the Lounge"), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "lo-1" })));
    const edit = await bridge.core.waitFor((e) => e.type === "message.edit" && e.room === muc, 10000, "edit");
    assert.ok(edit.event.type === "message.edit");
    assert.equal(edit.event.target, sid);
  });

  it("MIMI-XMPP-23: a remote participant joins as a ghost occupant and posts MIMI messages; replies map back through the MUC's stanza-id", async () => {
    const am = alice.mark();
    await bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(muc), roomId, change: "added", user: carol, platformUser: platformUserId(carolGhost), role: "member", timestamp: Date.now() });
    await alice.waitFor((el) => el.is("presence") && el.attrs.from === `${muc}/carol@b.example` && el.attrs.type === undefined, "ghost occupant", { after: am });
    const res = await bridge.adapter.handleMimiMessage({ room: platformRoomId(muc), roomId, sender: carolSender(), timestamp: Date.now(), messageId: hexId(), text: "hi from MIMI" });
    const got = await alice.waitFor((el) => el.is("message") && el.attrs.from === `${muc}/carol@b.example` && text(el, "body") === "hi from MIMI", "ghost message", { after: am });
    assert.equal(got.attrs.id, res.platformEventId);
    const mucSid = got.getChildren("stanza-id", "urn:xmpp:sid:0").find((s) => s.attrs.by === muc)?.attrs.id as string | undefined;
    assert.ok(mucSid !== undefined);
    await bridge.adapter.idle();
    // alice replies the XEP-0461 way (groupchat: the MUC's stanza-id) and reacts.
    await alice.send(xml("message", { to: muc, type: "groupchat", id: "lo-3" }, xml("body", {}, "welcome"), xml("reply", { xmlns: "urn:xmpp:reply:0", id: mucSid, to: `${muc}/carol@b.example` })));
    const reply = await bridge.core.waitFor((e) => e.type === "message" && e.room === muc && e.text === "welcome", 10000, "reply");
    assert.ok(reply.event.type === "message");
    assert.equal(reply.event.replyTo, res.platformEventId, "the MUC stanza-id maps back to the ghost's message");
    await alice.send(xml("message", { to: muc, type: "groupchat", id: "lo-4" }, xml("reactions", { xmlns: "urn:xmpp:reactions:0", id: mucSid }, xml("reaction", {}, "👋"))));
    const react = await bridge.core.waitFor((e) => e.type === "reaction.add" && e.room === muc, 10000, "reaction");
    assert.ok(react.event.type === "reaction.add");
    assert.equal(react.event.target, res.platformEventId);
    // A MIMI reaction on alice's message names the MUC's stanza-id.
    const mark2 = alice.mark();
    const target = bridge.core.events.find((e) => e.type === "message" && e.room === muc && e.text === "welcome")?.platformEventId ?? platformEventId("?");
    await bridge.adapter.handleMimiReaction({ room: platformRoomId(muc), roomId, sender: carolSender(), timestamp: Date.now(), messageId: hexId(), target, reaction: "❤️" });
    const r = await alice.waitFor((el) => el.is("message") && el.getChild("reactions", "urn:xmpp:reactions:0") !== undefined && el.attrs.from === `${muc}/carol@b.example`, "MIMI reaction", { after: mark2 });
    assert.equal(r.getChild("reactions", "urn:xmpp:reactions:0")?.attrs.id, target);
  });

  it("MIMI-XMPP-23 / MIMI-XMPP-21: a kick in the MUC becomes room.membership kick; a MIMI ban is applied by the bot (301)", async () => {
    await admin.iq(xml("iq", { type: "set", to: muc }, xml("query", { xmlns: "http://jabber.org/protocol/muc#admin" }, xml("item", { nick: "carol@b.example", role: "none" }, xml("reason", {}, "off topic")))));
    const kick = await bridge.core.waitFor((e) => e.type === "room.membership" && e.action === "kick" && e.room === muc, 10000, "kick");
    assert.ok(kick.event.type === "room.membership");
    assert.equal(kick.event.target, carolGhost);
    assert.equal(kick.event.sender, admin.bare);
    assert.equal(kick.event.reason, "off topic");
    const am = alice.mark();
    await bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(muc), roomId, change: "banned", user: "mimi://a.example/u/alice", platformUser: platformUserId(alice.bare), timestamp: Date.now() });
    const banned = await alice.waitFor((el) => el.is("presence") && el.attrs.from === `${muc}/Alice` && el.attrs.type === "unavailable", "alice banned", { after: am });
    assert.ok(statuses(banned).includes("301"));
  });

  it("MIMI-XMPP-27: list-portals shows the bridged MUC; unbridge makes the bot leave and unlinks the portal", async () => {
    const dc = bridge.server.componentDomain;
    const list = await admin.iq(xml("iq", { type: "set", to: dc }, xml("command", { xmlns: COMMANDS, node: "list-portals", action: "execute" })));
    const items = list.getChild("command", COMMANDS)?.getChild("x", "jabber:x:data")?.getChildren("item") ?? [];
    const rooms = items.map((i) => i.getChildren("field").find((f) => f.attrs.var === "room")?.getChildText("value"));
    assert.ok(rooms.includes(muc));
    const mark = admin.mark();
    const form = await admin.iq(xml("iq", { type: "set", to: dc }, xml("command", { xmlns: COMMANDS, node: "unbridge", action: "execute" })));
    const sessionid = form.getChild("command", COMMANDS)?.attrs.sessionid as string;
    const done = await admin.iq(xml("iq", { type: "set", to: dc }, xml("command", { xmlns: COMMANDS, node: "unbridge", sessionid }, submitForm({ room: muc }))));
    assert.equal(done.getChild("command", COMMANDS)?.attrs.status, "completed");
    await admin.waitFor((el) => el.is("presence") && el.attrs.from === `${muc}/MIMI bridge` && el.attrs.type === "unavailable", "bot left", { after: mark });
    assert.equal(await bridge.core.portals.byPlatformRoom(platformRoomId(muc)), undefined);
    // A bad session id is refused (XEP-0050 §4.4).
    await assert.rejects(admin.iq(xml("iq", { type: "set", to: dc }, xml("command", { xmlns: COMMANDS, node: "unbridge", sessionid: "nope" }, submitForm({ room: muc })))), /bad-request/);
  });
});
