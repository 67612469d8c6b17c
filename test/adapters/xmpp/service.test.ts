// The component as a service, against a real Prosody: XEP-0030 discovery on the component, on
// ghosts and on room JIDs (MIMI-XMPP-25); XEP-0100 gateway interaction through the core's
// identifier.query (MIMI-XMPP-26); XEP-0092 version and XEP-0199 ping.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { platformRoomId, platformUserId, type ResolvedIdentifier } from "../../../src/adapter/index.ts";
import { ADAPTER_VERSION, GHOST_FEATURES } from "../../../adapters/xmpp/service.ts";
import type { Bridge } from "./harness.ts";
import { PROVIDER, REMOTE, remote, startBridge, xml, type Element, type TestClient } from "./harness.ts";

const INFO = "http://jabber.org/protocol/disco#info";
const ITEMS = "http://jabber.org/protocol/disco#items";
const GATEWAY = "jabber:iq:gateway";
const COMMANDS = "http://jabber.org/protocol/commands";

const identities = (el: Element) => (el.getChild("query", INFO)?.getChildren("identity") ?? []).map((i) => `${i.attrs.category as string}/${i.attrs.type as string}`);
const features = (el: Element) => (el.getChild("query", INFO)?.getChildren("feature") ?? []).map((f) => f.attrs.var as string);
const items = (el: Element) => (el.getChild("query", ITEMS)?.getChildren("item") ?? []).map((i) => ({ jid: i.attrs.jid as string, node: i.attrs.node as string | undefined }));

/** The condition and type of an IQ request that must fail. */
async function iqError(p: Promise<Element>): Promise<{ condition: string; type: string; text: string }> {
  try {
    const el = await p;
    return assert.fail(`expected a stanza error, got ${el.toString()}`);
  } catch (err) {
    const e = err as { condition?: string; type?: string; text?: string; name?: string };
    if (e.name !== "StanzaError") throw err;
    return { condition: e.condition ?? "", type: e.type ?? "", text: e.text ?? "" };
  }
}

describe("XMPP adapter: the component as a service (real Prosody)", () => {
  let bridge: Bridge;
  let alice: TestClient;
  let bob: TestClient;
  let admin: TestClient;
  let component: string;
  let roomJid: string;
  const roomId = `mimi://${REMOTE}/r/Service`;
  const query = (xmlns: string, node: string | undefined) => xml("query", node === undefined ? { xmlns } : { xmlns, node });
  const info = (c: TestClient, to: string, node?: string) => c.iq(xml("iq", { type: "get", to }, query(INFO, node)));
  const discoItems = (c: TestClient, to: string, node?: string) => c.iq(xml("iq", { type: "get", to }, query(ITEMS, node)));
  const gatewaySet = (c: TestClient, prompt: string | undefined) =>
    c.iq(xml("iq", { type: "set", to: component }, prompt === undefined ? xml("query", { xmlns: GATEWAY }) : xml("query", { xmlns: GATEWAY }, xml("prompt", {}, prompt))));

  // The core's answers to identifier.query (what the user typed → MIMI users).
  const directory: Record<string, string> = {
    "mimi://b.example/u/bob": remote("bob"),
    "bob@b.example": remote("bob"),
    "tel:+15551234567": remote("phone-user"),
    "mailto:carol@b.example": remote("carol"),
    "dave@a.example": `mimi://${PROVIDER}/u/dave`,
    // A core answer that is not a user: the gateway must not fail on it.
    "a-room@b.example": `mimi://${REMOTE}/r/a-room`,
  };

  before(async () => {
    bridge = await startBridge();
    component = bridge.server.componentDomain;
    alice = await bridge.client("alice");
    bob = await bridge.client("bob");
    admin = await bridge.client("admin");
    bridge.core.resolver = (query: string): ResolvedIdentifier[] => {
      const uri = directory[query];
      return uri === undefined ? [] : [{ mimiUri: uri, ghost: platformUserId(uri.includes("/u/") ? bridge.ghost(uri) : "") }];
    };
    // A MIMI room alice is a member of (bob is not).
    roomJid = bridge.adapter.roomJidFor(roomId);
    bridge.core.portals.link(roomId, platformRoomId(roomJid), "group");
    await bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(roomJid), roomId, change: "added", user: `mimi://${PROVIDER}/u/alice`, platformUser: platformUserId(alice.bare), role: "member", timestamp: Date.now() });
    await bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(roomJid), roomId, change: "added", user: remote("carol"), platformUser: platformUserId(bridge.ghost(remote("carol"))), role: "admin", timestamp: Date.now() });
    await bridge.adapter.handleMimiRoomMetadata({ room: platformRoomId(roomJid), roomId, name: "Service room", by: remote("carol") });
  });
  after(async () => {
    await bridge.close();
  });

  it("MIMI-XMPP-25: disco#info on the component: gateway and conference identities; MUC, gateway, commands, ping, version features", async () => {
    const res = await info(alice, component);
    assert.deepEqual(identities(res).sort(), ["conference/text", "gateway/mimi"]);
    const f = features(res);
    for (const want of [INFO, ITEMS, "http://jabber.org/protocol/muc", GATEWAY, COMMANDS, "urn:xmpp:ping", "jabber:iq:version", "urn:xmpp:sid:0", "urn:xmpp:reactions:0", "urn:xmpp:message-correct:0"]) {
      assert.ok(f.includes(want), `feature ${want}`);
    }
    assert.equal(new Set(f).size, f.length, "no duplicate features (XEP-0030 §3.1)");
  });

  it("MIMI-XMPP-25: disco nodes: the command list for everyone, command nodes and their items for admins only; unknown nodes are item-not-found", async () => {
    const list = await info(alice, component, COMMANDS);
    assert.deepEqual(identities(list), ["automation/command-list"]);
    assert.equal(list.getChild("query", INFO)?.attrs.node, COMMANDS);
    assert.deepEqual(items(await discoItems(alice, component, COMMANDS)), [], "non-admins see no commands");
    const adminItems = items(await discoItems(admin, component, COMMANDS));
    assert.deepEqual(adminItems.map((i) => i.node).sort(), ["bridge-muc", "list-portals", "unbridge"]);
    assert.ok(adminItems.every((i) => i.jid === component));
    const node = await info(admin, component, "bridge-muc");
    assert.deepEqual(identities(node), ["automation/command-node"]);
    assert.ok(features(node).includes(COMMANDS) && features(node).includes("jabber:x:data"));
    assert.equal((await iqError(info(alice, component, "bridge-muc"))).condition, "item-not-found", "a command node is hidden from non-admins");
    assert.equal((await iqError(info(alice, component, "urn:example:no-such-node"))).condition, "item-not-found");
    assert.equal((await iqError(discoItems(alice, component, "urn:example:no-such-node"))).condition, "item-not-found");
  });

  it("MIMI-XMPP-25: disco#items on the component lists the MIMI rooms the user is a member of, and only those", async () => {
    const mine = items(await discoItems(alice, component));
    assert.deepEqual(mine.map((i) => i.jid), [roomJid]);
    const res = await discoItems(alice, component);
    assert.equal(res.getChild("query", ITEMS)?.getChild("item")?.attrs.name, "Service room");
    assert.deepEqual(items(await discoItems(bob, component)), [], "bob is in no room");
  });

  it("MIMI-XMPP-25: disco#info on a ghost: an account with the ghost features; its full JID is a client; nodes are item-not-found", async () => {
    const bobUri = remote("bob");
    const ghost = bridge.ghost(bobUri);
    const bare = await info(alice, ghost);
    assert.deepEqual(identities(bare), ["account/registered"]);
    assert.equal(bare.getChild("query", INFO)?.getChild("identity")?.attrs.name, bobUri);
    assert.deepEqual(features(bare), [...GHOST_FEATURES]);
    for (const want of [INFO, "urn:xmpp:ping", "urn:xmpp:message-correct:0", "urn:xmpp:reply:0", "urn:xmpp:reactions:0", "urn:xmpp:message-retract:1", "urn:xmpp:chat-markers:0", "http://jabber.org/protocol/chatstates", "jabber:x:oob"]) {
      assert.ok(features(bare).includes(want), `ghost feature ${want}`);
    }
    assert.ok(!features(bare).includes("http://jabber.org/protocol/muc"), "a ghost is not a MUC service");
    const full = await info(alice, `${ghost}/mimi`);
    assert.deepEqual(identities(full), ["client/pc"]);
    assert.equal((await iqError(info(alice, ghost, "http://jabber.org/protocol/commands"))).condition, "item-not-found");
    const itemsErr = await iqError(discoItems(alice, ghost));
    assert.equal(itemsErr.condition, "service-unavailable", "ghosts do not support disco#items");
    assert.equal(itemsErr.type, "cancel");
    // XEP-0199 ping of a ghost.
    const pong = await alice.iq(xml("iq", { type: "get", to: ghost }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    assert.equal(pong.attrs.type, "result");
  });

  it("MIMI-XMPP-25: disco on a room JID: members get the room (conference identity, MUC features, roominfo), non-members and unknown rooms item-not-found", async () => {
    const res = await info(alice, roomJid);
    assert.deepEqual(identities(res), ["conference/text"]);
    assert.equal(res.getChild("query", INFO)?.getChild("identity")?.attrs.name, "Service room");
    const f = features(res);
    for (const want of ["http://jabber.org/protocol/muc", "muc_membersonly", "muc_persistent", "muc_nonanonymous", "muc_hidden"]) assert.ok(f.includes(want), `room feature ${want}`);
    const form = res.getChild("query", INFO)?.getChild("x", "jabber:x:data");
    assert.equal(form?.getChildren("field").find((x) => x.attrs.var === "FORM_TYPE")?.getChildText("value"), "http://jabber.org/protocol/muc#roominfo");
    assert.equal(form?.getChildren("field").find((x) => x.attrs.var === "muc#roominfo_description")?.getChildText("value"), `MIMI group ${roomId}`);
    const its = await discoItems(alice, roomJid);
    assert.deepEqual(items(its), [], "occupants are not listed (XEP-0045 §6.5)");

    for (const [who, to] of [
      [bob, roomJid],
      [alice, bridge.adapter.roomJidFor(`mimi://${REMOTE}/r/nope`)],
      [alice, `xmpp-made-room@${component}`],
    ] as const) {
      assert.equal((await iqError(info(who, to))).condition, "item-not-found", `${who.name} disco#info ${to}`);
      assert.equal((await iqError(discoItems(who, to))).condition, "item-not-found", `${who.name} disco#items ${to}`);
    }
  });

  it("MIMI-XMPP-26: XEP-0100 gateway: get returns the description and prompt", async () => {
    const res = await alice.iq(xml("iq", { type: "get", to: component }, xml("query", { xmlns: GATEWAY })));
    const q = res.getChild("query", GATEWAY);
    assert.match(q?.getChildText("desc") ?? "", /MIMI address/);
    assert.match(q?.getChildText("desc") ?? "", /phone number/);
    assert.ok((q?.getChildText("prompt") ?? "").length > 0);
  });

  it("MIMI-XMPP-26: XEP-0100 gateway: a MIMI URI, a handle, a phone number or a mailto: resolve through identifier.query to the JID to write to", async () => {
    for (const [typed, query, uri] of [
      ["mimi://b.example/u/bob", "mimi://b.example/u/bob", remote("bob")],
      ["  bob@b.example  ", "bob@b.example", remote("bob")],
      ["+1 (555) 123-4567", "tel:+15551234567", remote("phone-user")],
      ["mailto:carol@b.example", "mailto:carol@b.example", remote("carol")],
    ] as const) {
      const since = bridge.core.submissions.length;
      const res = await gatewaySet(alice, typed);
      const q = res.getChild("query", GATEWAY);
      const ghost = bridge.ghost(uri);
      assert.equal(q?.getChildText("jid"), ghost, `${typed} → ${ghost}`);
      assert.equal(q?.getChildText("prompt"), ghost, "XEP-0100 §6.3.2: <prompt/> too, for older clients");
      const submitted = bridge.core.submissions.slice(since).filter((s) => s.event.type === "identifier.query");
      assert.equal(submitted.length, 1);
      const ev = submitted[0]?.event;
      assert.ok(ev?.type === "identifier.query");
      assert.equal(ev.query, query, "what the core is asked");
      assert.equal(ev.sender, alice.bare);
    }
    // A user of this bridge's own provider resolves to their real JID, not a ghost.
    const local = await gatewaySet(alice, "dave@a.example");
    assert.equal(local.getChild("query", GATEWAY)?.getChildText("jid"), `dave@${bridge.server.domain}`);
    // The JID it gave works: a message to it opens a direct portal.
    await alice.send(xml("message", { to: bridge.ghost(remote("phone-user")), type: "chat", id: "gw-1" }, xml("body", {}, "found you")));
    const created = await bridge.core.waitFor((e) => e.type === "room.create", 10000, "room.create");
    assert.ok(created.event.type === "room.create");
    assert.deepEqual(created.event.invite, [remote("phone-user")]);
  });

  it("MIMI-XMPP-26: XEP-0100 gateway: unknown → item-not-found; empty, missing or over-long prompts → bad-request; core refusals map to stanza errors", async () => {
    const unknown = await iqError(gatewaySet(alice, "nobody@nowhere.example"));
    assert.equal(unknown.condition, "item-not-found");
    assert.equal(unknown.type, "cancel");
    assert.match(unknown.text, /nobody@nowhere\.example/);
    const notAUser = await iqError(gatewaySet(alice, "a-room@b.example"));
    assert.equal(notAUser.condition, "item-not-found", "a resolved URI without an XMPP address");
    const since = bridge.core.submissions.length;
    for (const prompt of [undefined, "", "   ", "x".repeat(513)]) {
      const err = await iqError(gatewaySet(alice, prompt));
      assert.equal(err.condition, "bad-request", `prompt ${JSON.stringify(prompt?.slice(0, 10))}`);
      assert.equal(err.type, "modify");
    }
    assert.equal(bridge.core.submissions.length, since, "bad requests never reach the core");
    bridge.core.answer = (e) => (e.type === "identifier.query" ? { status: "rejected", code: "MIMI_ERR_RATE_LIMITED", message: "slow down" } : undefined);
    try {
      const limited = await iqError(gatewaySet(alice, "bob@b.example"));
      assert.equal(limited.condition, "resource-constraint");
      assert.match(limited.text, /MIMI_ERR_RATE_LIMITED/);
    } finally {
      bridge.core.answer = undefined;
    }
  });

  it("MIMI-XMPP-25: XEP-0092 version and XEP-0199 ping of the component (both advertised in its disco#info)", async () => {
    const v = await alice.iq(xml("iq", { type: "get", to: component }, xml("query", { xmlns: "jabber:iq:version" })));
    const q = v.getChild("query", "jabber:iq:version");
    assert.equal(q?.getChildText("name"), "mimi-bridge XMPP adapter");
    assert.equal(q?.getChildText("version"), ADAPTER_VERSION);
    assert.equal(q?.getChild("os"), undefined, "the host OS is not disclosed");
    const pong = await alice.iq(xml("iq", { type: "get", to: component }, xml("ping", { xmlns: "urn:xmpp:ping" })));
    assert.equal(pong.attrs.type, "result");
    assert.equal(pong.attrs.from, component);
  });
});
