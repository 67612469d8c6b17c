// MIMI-XMPP-30: hostile input from the XMPP side, against a real Prosody. Every case asserts that
// the sender got the right stanza error (type + condition) or that the stanza was dropped with a
// log line and the drop counter moved; that nothing reached the core; and that the bridge still
// bridges a normal message afterwards. An error is never answered with an error.
//
// Who can send what:
//  - c2s users (real @xmpp/client): Prosody stamps `from` with the session's full JID, answers
//    malformed `to`, IQs without an id / with a bad type / with != 1 child itself, and closes a
//    stream whose stanza exceeds c2s_stanza_size_limit (256 KiB) — such stanzas never reach us.
//  - a second XEP-0114 component ("strict", Prosody's default validate_from_addresses = true) can
//    only send from its own domain: Prosody closes its stream on a spoofed `from`.
//  - a component the server lets send from any address ("lax", validate_from_addresses = false;
//    a misconfigured or compromised server) reaches the adapter with spoofed ghost / service /
//    room / foreign senders. (A server that lets a component speak as its own users is outside
//    the XEP-0114 trust model: the adapter trusts the server's `from` for its users.)
//  - what no server routes to us (no `to`, no `from`, not a stanza, another domain) goes through
//    the adapter's stanza entry point (`injectStanza`), as if the link had received it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { component, type Component } from "@xmpp/component";
import { platformRoomId, platformUserId } from "../../../src/adapter/index.ts";
import { xml as cxml, type XmlElement } from "../../../adapters/xmpp/xml.ts";
import type { Bridge } from "./harness.ts";
import { REMOTE, remote, startBridge, xml, type Element, type TestClient } from "./harness.ts";

const STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
const NS_SID = "urn:xmpp:sid:0";
const PING = "urn:xmpp:ping";
const DISCO_INFO = "http://jabber.org/protocol/disco#info";
const LAX_SECRET = "lax-component-secret";
const STRICT_SECRET = "strict-component-secret";

/** The condition, type and text of a stanza's <error/>. */
function stanzaError(el: Element): { type: string | undefined; condition: string | undefined; text: string | undefined } {
  const e = el.getChild("error");
  const cond = e?.getChildElements().find((c) => c.attrs.xmlns === STANZAS && c.name !== "text");
  return { type: e?.attrs.type as string | undefined, condition: cond?.name, text: e?.getChildText("text", STANZAS) ?? undefined };
}

/** A raw second XEP-0114 component connection to Prosody (no reconnect, every stanza kept). */
class RawComponent {
  readonly domain: string;
  readonly entity: Component;
  readonly inbox: Element[] = [];
  streamError: string | undefined;
  #seq = 0;

  constructor(service: string, domain: string, password: string) {
    this.domain = domain;
    this.entity = component({ service, domain, password });
    this.entity.reconnect.stop();
    this.entity.on("error", (err: unknown) => {
      const condition = (err as { condition?: unknown }).condition;
      if (typeof condition === "string") this.streamError = condition;
    });
    this.entity.on("stanza", (el: Element) => this.inbox.push(el));
  }

  async start(): Promise<void> {
    await this.entity.start();
  }

  mark(): number {
    return this.inbox.length;
  }

  async send(el: Element | string): Promise<void> {
    await this.entity.write(typeof el === "string" ? el : el.toString());
  }

  async waitFor(match: (el: Element) => boolean, what: string, after = 0, timeoutMs = 10000): Promise<Element> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.inbox.slice(after).find(match);
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`${this.domain}: timed out waiting for ${what}; last: ${this.inbox.slice(-3).map((e) => e.toString()).join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * A round trip through the adapter that is answered only after everything this connection sent
   * before it was routed (a ping to the component's service); `from` is the sender to ping as.
   */
  async barrier(from: string, to: string): Promise<void> {
    const id = `barrier-${++this.#seq}`;
    const mark = this.mark();
    await this.send(xml("iq", { type: "get", id, from, to }, xml("ping", { xmlns: PING })));
    await this.waitFor((el) => el.is("iq") && el.attrs.id === id, `barrier ${id}`, mark);
  }

  async stop(): Promise<void> {
    try {
      await this.entity.stop();
    } catch {
      // already closed
    }
  }
}

describe("XMPP adapter: hostile input (MIMI-XMPP-30, real Prosody)", () => {
  let bridge: Bridge;
  let alice: TestClient;
  let lax: RawComponent;
  let bobGhost: string;
  let chatRoom: string;
  let component: string;
  const laxDomain = (b: Bridge) => `lax.${b.server.domain}`;
  const strictDomain = (b: Bridge) => `strict.${b.server.domain}`;
  let seq = 0;
  const nextId = (prefix: string) => `${prefix}-${++seq}`;

  const submittedCount = () => bridge.core.submissions.length;
  const dropLines = (since: number, reason?: string | RegExp) =>
    bridge.logs.slice(since).filter((l) => l.msg === "xmpp: stanza dropped" && (reason === undefined || (typeof reason === "string" ? l.reason === reason : reason.test(String(l.reason)))));

  /** A normal message to the ghost is still bridged (and, chat being serial, everything before it was handled). */
  async function stillWorks(): Promise<void> {
    const id = nextId("ok");
    await alice.send(xml("message", { to: bobGhost, type: "chat", id }, xml("body", {}, `still fine ${id}`)));
    const s = await bridge.core.waitFor((e) => e.type === "message" && e.platformEventId === id, 10000, `message ${id}`);
    assert.ok(s.event.type === "message");
    assert.equal(s.event.text, `still fine ${id}`);
    assert.equal(s.event.sender, alice.bare);
    assert.equal(bridge.adapter.health().state, "connected");
  }

  /** alice sends a message to the ghost and gets a message error back. */
  async function refused(children: Element[], attrs: Record<string, string> = {}, to = bobGhost): Promise<ReturnType<typeof stanzaError> & { el: Element }> {
    const id = attrs.id ?? nextId("bad");
    const mark = alice.mark();
    await alice.send(xml("message", { to, type: "chat", ...attrs, id }, ...children));
    const el = await alice.waitFor((e) => e.is("message") && e.attrs.type === "error" && e.attrs.id === id, `error for ${id.slice(0, 40)}`, { after: mark });
    assert.equal(el.attrs.from, to, "the error comes from the addressee");
    assert.equal(el.attrs.to, alice.full);
    return { ...stanzaError(el), el };
  }

  before(async () => {
    const extraGlobal = [
      `Component "lax.xmpp.localhost"`,
      `  component_secret = "${LAX_SECRET}"`,
      "  validate_from_addresses = false",
      `Component "strict.xmpp.localhost"`,
      `  component_secret = "${STRICT_SECRET}"`,
    ].join("\n");
    bridge = await startBridge({ extraGlobal });
    assert.equal(laxDomain(bridge), "lax.xmpp.localhost");
    component = bridge.server.componentDomain;
    alice = await bridge.client("alice");
    bobGhost = bridge.ghost(remote("bob"));
    chatRoom = `chat:${alice.bare}|${bobGhost}`;
    lax = new RawComponent(bridge.server.componentService, laxDomain(bridge), LAX_SECRET);
    await lax.start();
    // Open the direct portal first so later cases compare single submissions.
    await stillWorks();
  });
  after(async () => {
    await lax.stop();
    await bridge.close();
  });

  it("MIMI-XMPP-30: malformed rich payloads (missing or over-long ids, too many reactions, non-http oob) get bad-request; nothing reaches the core", async () => {
    const { maxIdLength, maxReactions } = bridge.config.limits;
    const long = "x".repeat(maxIdLength + 1);
    const cases: { what: string; children: Element[]; attrs?: Record<string, string>; problem: RegExp }[] = [
      { what: "stanza id over maxIdLength", children: [xml("body", {}, "long id")], attrs: { id: `L${long}` }, problem: /^id is empty or longer than/ },
      { what: "origin-id over maxIdLength", children: [xml("body", {}, "long origin"), xml("origin-id", { xmlns: NS_SID, id: long })], problem: /origin-id/ },
      { what: "correction without id", children: [xml("body", {}, "fixed"), xml("replace", { xmlns: "urn:xmpp:message-correct:0" })], problem: /replace without id/ },
      { what: "correction id over maxIdLength", children: [xml("body", {}, "fixed"), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: long })], problem: /replace id/ },
      { what: "reply without id", children: [xml("body", {}, "answer"), xml("reply", { xmlns: "urn:xmpp:reply:0", to: bobGhost })], problem: /reply without id/ },
      { what: "reactions without id", children: [xml("reactions", { xmlns: "urn:xmpp:reactions:0" }, xml("reaction", {}, "👍"))], problem: /reactions without id/ },
      {
        what: "too many reactions",
        children: [xml("reactions", { xmlns: "urn:xmpp:reactions:0", id: "ok-1" }, ...Array.from({ length: maxReactions + 1 }, (_, i) => xml("reaction", {}, String.fromCodePoint(0x1f600 + i))))],
        problem: new RegExp(`more than ${maxReactions} reactions`),
      },
      { what: "retraction without id", children: [xml("retract", { xmlns: "urn:xmpp:message-retract:1" }), xml("body", {}, "fallback")], problem: /retract without id/ },
      { what: "displayed marker without id", children: [xml("displayed", { xmlns: "urn:xmpp:chat-markers:0" })], problem: /displayed without id/ },
      { what: "oob with a javascript: URL", children: [xml("body", {}, "click"), xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, "javascript:alert(1)"))], problem: /oob/ },
      { what: "oob with a file: URL", children: [xml("body", {}, "file"), xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, "file:///etc/passwd"))], problem: /oob/ },
      { what: "oob without a URL", children: [xml("body", {}, "nothing"), xml("x", { xmlns: "jabber:x:oob" }, xml("desc", {}, "no url"))], problem: /oob/ },
    ];
    for (const c of cases) {
      const before = submittedCount();
      const dropped = bridge.adapter.dropped;
      const logMark = bridge.logs.length;
      const err = await refused(c.children, c.attrs);
      assert.equal(err.type, "modify", c.what);
      assert.equal(err.condition, "bad-request", c.what);
      assert.match(err.text ?? "", c.problem, c.what);
      assert.equal(bridge.adapter.dropped, dropped + 1, `${c.what}: counted`);
      const lines = dropLines(logMark, "malformed message");
      assert.equal(lines.length, 1, `${c.what}: one log line`);
      assert.equal(lines[0]?.from, alice.full);
      assert.equal(submittedCount(), before, `${c.what}: nothing submitted`);
    }
    await stillWorks();
  });

  it("MIMI-XMPP-30: a bad or future XEP-0203 delay stamp is ignored (the message is bridged with the receive time)", async () => {
    for (const stamp of ["yesterday", "2024-13-45T99:99:99Z", "2999-01-01T00:00:00Z", "1".repeat(100)]) {
      const id = nextId("delay");
      const t0 = Date.now();
      await alice.send(xml("message", { to: bobGhost, type: "chat", id }, xml("body", {}, "late?"), xml("delay", { xmlns: "urn:xmpp:delay", stamp })));
      const s = await bridge.core.waitFor((e) => e.platformEventId === id, 10000, id);
      assert.ok(s.event.type === "message");
      const ts = s.event.timestamp ?? -1;
      assert.ok(ts >= t0 && ts <= Date.now(), `stamp ${stamp} was ignored`);
    }
  });

  it("MIMI-XMPP-30: huge bodies over limits.maxBodyBytes get policy-violation (counted in UTF-8 bytes); the limit itself passes", async () => {
    const max = bridge.config.limits.maxBodyBytes;
    for (const body of ["x".repeat(max + 1), "é".repeat(Math.floor(max / 2) + 1)]) {
      const before = submittedCount();
      const dropped = bridge.adapter.dropped;
      const logMark = bridge.logs.length;
      const err = await refused([xml("body", {}, body)]);
      assert.equal(err.condition, "policy-violation");
      assert.equal(err.type, "modify");
      assert.match(err.text ?? "", new RegExp(`larger than ${max} bytes`));
      assert.equal(err.el.getChild("body"), undefined, "the huge payload is not echoed back");
      assert.equal(bridge.adapter.dropped, dropped + 1);
      assert.equal(dropLines(logMark, "body too large").length, 1);
      assert.equal(submittedCount(), before, "nothing submitted");
    }
    const id = nextId("limit");
    await alice.send(xml("message", { to: bobGhost, type: "chat", id }, xml("body", {}, "y".repeat(max))));
    const s = await bridge.core.waitFor((e) => e.platformEventId === id, 10000, "body at the limit");
    assert.ok(s.event.type === "message");
    assert.equal(s.event.text.length, max);
    await stillWorks();
  });

  it("MIMI-XMPP-30: a stanza over Prosody's c2s_stanza_size_limit never reaches the bridge (the server closes that stream)", async () => {
    const carol = await bridge.client("carol");
    const before = submittedCount();
    const disconnected = new Promise<void>((resolve) => carol.xmpp.once("disconnect", () => resolve()));
    await carol.send(xml("message", { to: bobGhost, type: "chat", id: "too-big" }, xml("body", {}, "z".repeat(300 * 1024)))).catch(() => undefined);
    await disconnected;
    await carol.stop();
    await stillWorks();
    assert.equal(
      bridge.core.submissions.slice(before).some((s) => s.event.platformEventId === "too-big"),
      false,
    );
  });

  it("MIMI-XMPP-30: unknown message extensions are ignored, the body is bridged; a message with only unknown payloads is dropped with a log line", async () => {
    const id = nextId("ext");
    const mark = alice.mark();
    await alice.send(
      xml("message", { to: bobGhost, type: "chat", id }, xml("body", {}, "with extras"), xml("secret", { xmlns: "urn:example:unknown:0" }, xml("payload", {}, "ignored")), xml("x", { xmlns: "jabber:x:encrypted" }, "AAAA")),
    );
    const s = await bridge.core.waitFor((e) => e.platformEventId === id, 10000, id);
    assert.ok(s.event.type === "message");
    assert.equal(s.event.text, "with extras");
    assert.equal(s.event.attachments, undefined);

    const only = nextId("only-unknown");
    const dropped = bridge.adapter.dropped;
    const logMark = bridge.logs.length;
    const before = submittedCount();
    await alice.send(xml("message", { to: bobGhost, type: "chat", id: only }, xml("secret", { xmlns: "urn:example:unknown:0" })));
    await stillWorks();
    assert.equal(bridge.core.submissions.slice(before).some((x) => x.event.platformEventId === only), false);
    const lines = dropLines(logMark, "only unknown payloads");
    assert.equal(lines.length, 1);
    assert.deepEqual(lines[0]?.namespaces, ["urn:example:unknown:0"]);
    assert.equal(bridge.adapter.dropped, dropped + 1);
    assert.equal(alice.all((e) => e.attrs.type === "error" && (e.attrs.id === id || e.attrs.id === only), mark).length, 0, "no error for ignored payloads");
  });

  it("MIMI-XMPP-30: unknown IQ namespaces get service-unavailable (service, ghost, room); non-members learn nothing about rooms", async () => {
    const q = (to: string, type: "get" | "set", ns = "urn:example:unknown:0") => alice.iq(xml("iq", { type, to }, xml("query", { xmlns: ns })));
    const before = submittedCount();
    for (const [to, type] of [
      [component, "get"],
      [component, "set"],
      [bobGhost, "get"],
      [bobGhost, "set"],
      [`${bobGhost}/mimi`, "get"],
    ] as const) {
      const err = (await q(to, type).then(
        () => assert.fail(`${to} ${type} answered with a result`),
        (e: unknown) => e,
      )) as { condition?: string; type?: string };
      assert.equal(err.condition, "service-unavailable", `${to} ${type}`);
      assert.equal(err.type, "cancel");
    }
    // vCard and last-activity are not implemented by ghosts either.
    await assert.rejects(q(bobGhost, "get", "vcard-temp"), (e: { condition?: string }) => e.condition === "service-unavailable");
    // A room that does not exist, and an XMPP-created room name nobody made: item-not-found.
    for (const room of [bridge.adapter.roomJidFor(`mimi://${REMOTE}/r/secret`), `lounge@${component}`]) {
      await assert.rejects(q(room, "get", DISCO_INFO), (e: { condition?: string }) => e.condition === "item-not-found", room);
      await assert.rejects(q(room, "get"), (e: { condition?: string }) => e.condition === "item-not-found", room);
    }
    assert.equal(submittedCount(), before);
    await stillWorks();
  });

  it("MIMI-XMPP-30: IQ results and errors that answer nothing are dropped with a log line, never answered", async () => {
    const dropped = bridge.adapter.dropped;
    const logMark = bridge.logs.length;
    const mark = alice.mark();
    await alice.send(xml("iq", { type: "result", id: "nomatch-1", to: component }));
    await alice.send(xml("iq", { type: "result", id: "nomatch-2", to: bobGhost }, xml("query", { xmlns: DISCO_INFO })));
    await alice.send(xml("iq", { type: "error", id: "nomatch-3", to: component }, xml("error", { type: "cancel" }, xml("service-unavailable", { xmlns: STANZAS }))));
    await alice.send(xml("message", { type: "error", id: "nomatch-4", to: bobGhost }, xml("error", { type: "cancel" }, xml("item-not-found", { xmlns: STANZAS }))));
    // A ping to the service is answered after the stanzas before it were routed.
    await alice.iq(xml("iq", { type: "get", to: component }, xml("ping", { xmlns: PING })));
    await stillWorks();
    assert.equal(alice.all((e) => String(e.attrs.id ?? "").startsWith("nomatch-"), mark).length, 0, "no answer to a result or an error");
    assert.equal(dropLines(logMark, /answers no request|answers nothing/).length, 4);
    assert.equal(bridge.adapter.dropped, dropped + 4);
  });

  it("MIMI-XMPP-30: a c2s client cannot spoof `from` (Prosody stamps it) and cannot send malformed addresses or IQs to the bridge", async () => {
    const before = submittedCount();
    // Claiming to be bob (a local user) or a ghost: the bridge sees alice.
    for (const claimed of [`bob@${bridge.server.domain}/x`, `${bridge.ghost(remote("mallory"))}/mimi`, `mallory@evil.example`]) {
      const id = nextId("spoof");
      await alice.send(xml("message", { to: bobGhost, type: "chat", id, from: claimed }, xml("body", {}, `as ${claimed}`)));
      const s = await bridge.core.waitFor((e) => e.platformEventId === id, 10000, id);
      assert.equal(s.event.sender, alice.bare, `from=${claimed} was restamped`);
      assert.ok(s.event.type === "message");
      assert.equal(s.event.room, chatRoom);
    }
    // Malformed `to`: Prosody answers jid-malformed itself.
    const id = nextId("badto");
    const mark = alice.mark();
    await alice.send(xml("message", { to: `bob@@${component}`, type: "chat", id }, xml("body", {}, "x")));
    const err = await alice.waitFor((e) => e.attrs.type === "error" && e.attrs.id === id, "jid-malformed", { after: mark });
    assert.equal(stanzaError(err).condition, "jid-malformed");
    // IQs without exactly one child: Prosody answers bad-request itself.
    await assert.rejects(alice.iq(xml("iq", { type: "get", to: component }, xml("query", { xmlns: DISCO_INFO }), xml("ping", { xmlns: PING }))), (e: { condition?: string }) => e.condition === "bad-request");
    assert.equal(submittedCount(), before + 3, "only the three restamped messages");
  });

  it("MIMI-XMPP-30: ghost JIDs that are not canonical escapes (no user, no provider, bad host) get item-not-found; nothing is created", async () => {
    const before = submittedCount();
    for (const local of ["bob\\40", "\\40b.example", "bob\\40-bad-.example", "bob\\40b_x.example"]) {
      const to = `${local}@${component}`;
      const dropped = bridge.adapter.dropped;
      const err = await refused([xml("body", {}, "hello?")], {}, to);
      assert.equal(err.condition, "item-not-found", to);
      assert.equal(err.type, "cancel");
      assert.equal(bridge.adapter.dropped, dropped + 1, to);
      await assert.rejects(alice.iq(xml("iq", { type: "get", to }, xml("query", { xmlns: DISCO_INFO }))), (e: { condition?: string }) => e.condition === "item-not-found", to);
      // Presence (a subscription request) to it: dropped with a log line, no consent request.
      const logMark = bridge.logs.length;
      await alice.send(xml("presence", { to, type: "subscribe", id: nextId("sub") }));
      await alice.iq(xml("iq", { type: "get", to: component }, xml("ping", { xmlns: PING })));
      assert.equal(dropLines(logMark, "addressed to an unknown JID on the component").length, 1, to);
    }
    assert.equal(submittedCount(), before);
    await stillWorks();
  });

  it("MIMI-XMPP-30: a \"ghost\" of this bridge's own provider's user is not a ghost: item-not-found, no portal, no consent request", async () => {
    const to = `bob\\40${bridge.core.domain}@${component}`;
    const before = submittedCount();
    const dropped = bridge.adapter.dropped;
    const err = await refused([xml("body", {}, "hi bob")], {}, to);
    assert.equal(err.condition, "item-not-found");
    await alice.send(xml("presence", { to, type: "subscribe", id: nextId("sub") }));
    await assert.rejects(alice.iq(xml("iq", { type: "get", to }, xml("query", { xmlns: DISCO_INFO }))), (e: { condition?: string }) => e.condition === "item-not-found");
    assert.equal(bridge.adapter.dropped, dropped + 3);
    assert.equal(submittedCount(), before, "no portal and no consent request with a local user's ghost");
    await stillWorks();
  });

  it("MIMI-XMPP-30: a server-side component that spoofs a ghost, the service or a room as sender is dropped without an answer", async () => {
    const before = submittedCount();
    const dropped = bridge.adapter.dropped;
    const logMark = bridge.logs.length;
    const mark = lax.mark();
    const carolGhost = bridge.ghost(remote("carol"));
    const roomJid = bridge.adapter.roomJidFor(`mimi://${REMOTE}/r/x`);
    const spoofs = [`${carolGhost}/mimi`, carolGhost, component, `${roomJid}/nick`];
    for (const from of spoofs) {
      await lax.send(xml("message", { from, to: bobGhost, type: "chat", id: nextId("spoofed") }, xml("body", {}, "I am someone else")));
      await lax.send(xml("presence", { from, to: bobGhost, type: "subscribe" }));
      await lax.send(xml("iq", { from, to: component, type: "get", id: nextId("spoofed-iq") }, xml("query", { xmlns: "jabber:iq:gateway" })));
    }
    await lax.barrier(`mallory@${lax.domain}/x`, component);
    assert.equal(bridge.adapter.dropped, dropped + spoofs.length * 3);
    const lines = dropLines(logMark, /^spoofed sender \((ghost|service|room)\)$/);
    assert.equal(lines.length, spoofs.length * 3);
    assert.deepEqual([...new Set(lines.map((l) => l.reason))].sort(), ["spoofed sender (ghost)", "spoofed sender (room)", "spoofed sender (service)"]);
    // Nothing was answered (the answers would have gone to the spoofed addresses, i.e. to the
    // bridge itself or nowhere), and the only thing the lax component got is its barrier result.
    assert.deepEqual(lax.inbox.slice(mark).map((e) => `${e.name}/${String(e.attrs.type)}`), ["iq/result"]);
    assert.equal(submittedCount(), before);
    await stillWorks();
  });

  it("MIMI-XMPP-30: senders of other domains get forbidden (disco#info and ping are public); their errors are never answered", async () => {
    const mallory = `mallory@${lax.domain}/x`;
    const before = submittedCount();
    let mark = lax.mark();
    const id = nextId("foreign");
    await lax.send(xml("message", { from: mallory, to: bobGhost, type: "chat", id }, xml("body", {}, "let me in")));
    const err = await lax.waitFor((e) => e.is("message") && e.attrs.id === id, "forbidden", mark);
    assert.equal(err.attrs.type, "error");
    assert.equal(err.attrs.from, bobGhost);
    assert.equal(err.attrs.to, mallory);
    assert.equal(stanzaError(err).condition, "forbidden");
    assert.equal(stanzaError(err).type, "auth");

    // IQs to the gateway, a ghost, version: forbidden; disco#info and ping of the service: answered.
    for (const [to, payload] of [
      [component, xml("query", { xmlns: "jabber:iq:gateway" })],
      [component, xml("query", { xmlns: "jabber:iq:version" })],
      [component, xml("query", { xmlns: "http://jabber.org/protocol/disco#items" })],
      [bobGhost, xml("query", { xmlns: DISCO_INFO })],
    ] as const) {
      const iqId = nextId("foreign-iq");
      mark = lax.mark();
      await lax.send(xml("iq", { from: mallory, to, type: "get", id: iqId }, payload));
      const answer = await lax.waitFor((e) => e.is("iq") && e.attrs.id === iqId, iqId, mark);
      assert.equal(answer.attrs.type, "error", `${to} ${payload.attrs.xmlns as string}`);
      assert.equal(stanzaError(answer).condition, "forbidden");
    }
    const infoId = nextId("foreign-info");
    mark = lax.mark();
    await lax.send(xml("iq", { from: mallory, to: component, type: "get", id: infoId }, xml("query", { xmlns: DISCO_INFO })));
    const info = await lax.waitFor((e) => e.is("iq") && e.attrs.id === infoId, "disco#info", mark);
    assert.equal(info.attrs.type, "result");
    assert.ok(info.getChild("query", DISCO_INFO)?.getChild("identity") !== undefined);

    // Errors, results and a bad IQ type are never answered.
    const dropped = bridge.adapter.dropped;
    mark = lax.mark();
    await lax.send(xml("message", { from: mallory, to: bobGhost, type: "error", id: nextId("err") }, xml("error", { type: "cancel" }, xml("forbidden", { xmlns: STANZAS }))));
    await lax.send(xml("iq", { from: mallory, to: component, type: "error", id: nextId("err") }, xml("error", { type: "cancel" }, xml("forbidden", { xmlns: STANZAS }))));
    await lax.send(xml("iq", { from: mallory, to: component, type: "result", id: nextId("res") }));
    await lax.send(xml("iq", { from: mallory, to: component, type: "bogus", id: nextId("bogus") }, xml("ping", { xmlns: PING })));
    await lax.send(xml("presence", { from: mallory, to: bobGhost, type: "error" }));
    await lax.barrier(mallory, component);
    assert.deepEqual(lax.inbox.slice(mark).map((e) => `${e.name}/${String(e.attrs.type)}`), ["iq/result"], "only the barrier was answered");
    assert.equal(bridge.adapter.dropped, dropped + 5);

    // A sender on a domain without a route (no s2s): dropped once; the forbidden answer cannot be
    // routed and, being an error, is not bounced back (no loop).
    const logMark = bridge.logs.length;
    await lax.send(xml("message", { from: "eve@elsewhere.example/r", to: bobGhost, type: "chat", id: nextId("remote") }, xml("body", {}, "hi")));
    await lax.barrier(mallory, component);
    await stillWorks();
    const fromElsewhere = dropLines(logMark).filter((l) => String(l.from).includes("elsewhere.example"));
    assert.equal(fromElsewhere.length, 1);
    assert.equal(fromElsewhere[0]?.reason, "sender is not a user of this XMPP domain");
    assert.equal(submittedCount(), before + 1, "only the still-works message");
  });

  it("MIMI-XMPP-30: IQs without an id or with two payloads (only a component can send them) get bad-request", async () => {
    const mallory = `mallory@${lax.domain}/x`;
    const dropped = bridge.adapter.dropped;
    let mark = lax.mark();
    await lax.send(xml("iq", { from: mallory, to: component, type: "get", id: "two-children" }, xml("query", { xmlns: DISCO_INFO }), xml("ping", { xmlns: PING })));
    const two = await lax.waitFor((e) => e.is("iq") && e.attrs.id === "two-children", "bad-request", mark);
    assert.equal(two.attrs.type, "error");
    assert.equal(stanzaError(two).condition, "bad-request");
    mark = lax.mark();
    await lax.send(xml("iq", { from: mallory, to: component, type: "get" }, xml("ping", { xmlns: PING })));
    const noId = await lax.waitFor((e) => e.is("iq") && e.attrs.type === "error" && e.attrs.id === undefined, "bad-request without id", mark);
    assert.equal(stanzaError(noId).condition, "bad-request");
    assert.equal(bridge.adapter.dropped, dropped + 2);
  });

  it("MIMI-XMPP-30: a component that may only speak for its own domain cannot impersonate users: Prosody closes its stream", async () => {
    const strict = new RawComponent(bridge.server.componentService, strictDomain(bridge), STRICT_SECRET);
    await strict.start();
    const before = submittedCount();
    const closed = new Promise<void>((resolve) => strict.entity.once("disconnect", () => resolve()));
    await strict.send(xml("message", { from: `bob@${bridge.server.domain}/x`, to: bobGhost, type: "chat", id: "impersonation" }, xml("body", {}, "I am bob")));
    await closed;
    assert.equal(strict.streamError, "invalid-from");
    await strict.stop();
    await stillWorks();
    assert.equal(bridge.core.submissions.slice(before).some((s) => s.event.platformEventId === "impersonation"), false);
  });

  it("MIMI-XMPP-30: what no server routes (no from/to, not a stanza, another domain, bad JIDs) is dropped at the entry point with a log line", async () => {
    const before = submittedCount();
    const cases: { el: XmlElement; reason: string }[] = [
      { el: cxml("message", { to: bobGhost, type: "chat", id: "x1" }, cxml("body", {}, "no from")), reason: "missing or malformed from/to" },
      { el: cxml("message", { from: alice.full, type: "chat", id: "x2" }, cxml("body", {}, "no to")), reason: "missing or malformed from/to" },
      { el: cxml("message", { from: alice.full, to: `a@b@${component}`, type: "chat", id: "x3" }, cxml("body", {}, "bad to")), reason: "missing or malformed from/to" },
      { el: cxml("message", { from: "@@", to: bobGhost, type: "chat", id: "x4" }, cxml("body", {}, "bad from")), reason: "missing or malformed from/to" },
      { el: cxml("message", { from: alice.full, to: `bob@${bridge.server.domain}`, type: "chat", id: "x5" }, cxml("body", {}, "elsewhere")), reason: "not addressed to the component" },
      { el: cxml("handshake", {}, "abc"), reason: "not a stanza" },
      { el: cxml("stream:features", {}), reason: "not a stanza" },
    ];
    for (const c of cases) {
      const dropped = bridge.adapter.dropped;
      const logMark = bridge.logs.length;
      bridge.adapter.injectStanza(c.el);
      assert.equal(bridge.adapter.dropped, dropped + 1, c.el.toString());
      assert.equal(dropLines(logMark, c.reason).length, 1, c.el.toString());
    }
    await bridge.adapter.idle();
    assert.equal(submittedCount(), before);
    await stillWorks();
  });

  it("MIMI-XMPP-30: a flood of good, malformed and unknown stanzas is answered one by one; the good messages are bridged once, in order", async () => {
    const N = 60;
    const before = submittedCount();
    const dropped = bridge.adapter.dropped;
    const mark = alice.mark();
    const good: string[] = [];
    const bad: string[] = [];
    const iqs: string[] = [];
    for (let i = 0; i < N; i++) {
      const g = `flood-ok-${i}`;
      const b = `flood-bad-${i}`;
      const q = `flood-iq-${i}`;
      good.push(g);
      bad.push(b);
      iqs.push(q);
      await alice.send(xml("message", { to: bobGhost, type: "chat", id: g }, xml("body", {}, `flood ${i}`)));
      await alice.send(xml("message", { to: bobGhost, type: "chat", id: b }, xml("reactions", { xmlns: "urn:xmpp:reactions:0" }, xml("reaction", {}, "💥"))));
      await alice.send(xml("iq", { to: component, type: "get", id: q }, xml("query", { xmlns: "urn:example:flood:0" })));
      await alice.send(xml("presence", { to: bobGhost }, xml("x", { xmlns: "urn:example:flood:0" })));
    }
    for (const id of good) await bridge.core.waitFor((e) => e.platformEventId === id, 20000, id);
    await alice.waitFor((e) => e.attrs.id === bad.at(-1), "last malformed error", { after: mark, timeoutMs: 20000 });
    await alice.waitFor((e) => e.attrs.id === iqs.at(-1), "last iq error", { after: mark, timeoutMs: 20000 });
    const errors = alice.all((e) => e.attrs.type === "error", mark);
    const idOf = (e: Element) => String(e.attrs.id);
    assert.deepEqual(errors.filter((e) => e.is("message")).map(idOf), bad, "one bad-request per malformed message");
    assert.ok(errors.filter((e) => e.is("message")).every((e) => stanzaError(e).condition === "bad-request"));
    assert.deepEqual(errors.filter((e) => e.is("iq")).map(idOf).sort(), [...iqs].sort(), "one error per unknown IQ");
    assert.ok(errors.filter((e) => e.is("iq")).every((e) => stanzaError(e).condition === "service-unavailable"));
    const submitted = bridge.core.submissions.slice(before);
    assert.deepEqual(
      submitted.map((s) => s.event.platformEventId),
      good,
      "exactly the good messages, once each, in the order sent",
    );
    assert.ok(submitted.every((s) => s.event.type === "message" && !s.duplicate));
    assert.equal(bridge.adapter.dropped, dropped + N, "each malformed message counted once");
    await stillWorks();
  });

  it("MIMI-XMPP-30: hostile groupchat input in a component MUC: bad-request, policy-violation, not-acceptable; nothing submitted", async () => {
    const roomId = `mimi://${REMOTE}/r/hostile`;
    const roomJid = bridge.adapter.roomJidFor(roomId);
    bridge.core.portals.link(roomId, platformRoomId(roomJid), "group");
    await bridge.adapter.handleMimiParticipantChange({ room: platformRoomId(roomJid), roomId, change: "added", user: `mimi://${bridge.core.domain}/u/alice`, platformUser: platformUserId(alice.bare), role: "member", timestamp: Date.now() });
    let mark = alice.mark();
    await alice.send(xml("presence", { to: `${roomJid}/Alice` }, xml("x", { xmlns: "http://jabber.org/protocol/muc" })));
    await alice.waitFor((e) => e.is("presence") && e.attrs.from === `${roomJid}/Alice`, "joined", { after: mark });
    const before = submittedCount();
    const send = async (children: Element[], attrs: Record<string, string> = {}) => {
      const id = nextId("gc");
      mark = alice.mark();
      await alice.send(xml("message", { to: roomJid, type: "groupchat", id, ...attrs }, ...children));
      return stanzaError(await alice.waitFor((e) => e.is("message") && e.attrs.type === "error" && e.attrs.id === id, `error ${id}`, { after: mark }));
    };
    assert.equal((await send([xml("body", {}, "x".repeat(bridge.config.limits.maxBodyBytes + 1))])).condition, "policy-violation");
    assert.equal((await send([xml("reactions", { xmlns: "urn:xmpp:reactions:0" }, xml("reaction", {}, "👍"))])).condition, "bad-request");
    assert.equal((await send([xml("body", {}, "x"), xml("replace", { xmlns: "urn:xmpp:message-correct:0", id: "y".repeat(bridge.config.limits.maxIdLength + 1) })])).condition, "bad-request");
    assert.equal((await send([xml("body", {}, "x"), xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, "ftp://example.org/f"))])).condition, "bad-request");
    // A private message to an occupant, and a groupchat to a room one has not joined.
    const pm = nextId("pm");
    mark = alice.mark();
    await alice.send(xml("message", { to: `${roomJid}/someone`, type: "chat", id: pm }, xml("body", {}, "psst")));
    assert.equal(stanzaError(await alice.waitFor((e) => e.attrs.id === pm && e.attrs.type === "error", "pm error", { after: mark })).condition, "not-acceptable");
    const other = bridge.adapter.roomJidFor(`mimi://${REMOTE}/r/other`);
    const gc = nextId("gc-other");
    mark = alice.mark();
    await alice.send(xml("message", { to: other, type: "groupchat", id: gc }, xml("body", {}, "hello?")));
    assert.equal(stanzaError(await alice.waitFor((e) => e.attrs.id === gc && e.attrs.type === "error", "not a room error", { after: mark })).condition, "item-not-found");
    await bridge.adapter.idle();
    assert.equal(submittedCount(), before, "nothing submitted");
    // The room still works.
    const ok = nextId("gc-ok");
    await alice.send(xml("message", { to: roomJid, type: "groupchat", id: ok }, xml("body", {}, "fine")));
    const s = await bridge.core.waitFor((e) => e.type === "message" && e.room === roomJid && e.text === "fine", 10000, "groupchat ok");
    assert.equal(s.event.sender, alice.bare);
  });
});
