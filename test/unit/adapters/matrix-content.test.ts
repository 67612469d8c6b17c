// The pure Matrix ↔ adapter-SDK event mapping (adapters/matrix/content.ts, format.ts): messages
// (20), formatting (21), mentions (22), edits (23), replies (24), reactions (25), redactions
// (26), threads (27), media (28) and ephemeral events (29), both directions.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import {
  authenticatedMediaUrl,
  matrixEditContent,
  matrixMessageContent,
  matrixReactionContent,
  matrixRedaction,
  mxcFromMediaUrl,
  platformEventsFromEphemeral,
  platformEventsFromMatrix,
  txnIdFor,
  type MatrixEphemeralContext,
  type MatrixEvent,
  type MatrixInboundContext,
  type MatrixInboundResult,
  type MatrixOutboundContext,
} from "../../../adapters/matrix/content.ts";
import { htmlToMarkdown, markdownToHtml, matrixUserOfLink, stripBodyReplyFallback } from "../../../adapters/matrix/format.ts";
import {
  matrixGhostFor,
  parseMatrixGhost,
  platformEventId,
  platformRoomId,
  platformUserId,
  type Attachment,
  type MimiEdit,
  type MimiMessage,
  type MimiReaction,
  type PlatformEvent,
  type PlatformMessage,
} from "../../../src/adapter/index.ts";

const HS = "hs.example";
const HS_URL = "https://matrix.hs.example";
const ROOM = "!room:hs.example";
const ALICE = "@alice:hs.example";
const ghostOpts = { serverName: HS };
const BOB_MIMI = "mimi://b.example/u/bob";
const BOB_GHOST = matrixGhostFor(BOB_MIMI, ghostOpts) as string;

/** Local users are mimi://hs.example/u/<localpart>; ghosts parse back to their MIMI users. */
function mimiUserOf(mxid: string): string | undefined {
  const ghost = parseMatrixGhost(mxid, ghostOpts);
  if (ghost !== undefined) return ghost;
  const m = /^@([a-z0-9._=\-/+]+):hs\.example$/.exec(mxid);
  return m === null ? undefined : `mimi://${HS}/u/${m[1]}`;
}

function matrixIdOf(uri: string): string | undefined {
  const local = /^mimi:\/\/hs\.example\/u\/([a-z0-9._=\-/+]+)$/.exec(uri);
  if (local !== null) return `@${local[1]}:${HS}`;
  try {
    return matrixGhostFor(uri, ghostOpts);
  } catch {
    return undefined;
  }
}

const ictx = (extra: Partial<MatrixInboundContext> = {}): MatrixInboundContext => ({
  sender: platformUserId(ALICE),
  room: platformRoomId(ROOM),
  homeserverUrl: HS_URL,
  mimiUserOf,
  limits: { maxBodyBytes: 4096 },
  ...extra,
});
const octx = (extra: Partial<MatrixOutboundContext> = {}): MatrixOutboundContext => ({ matrixIdOf, homeserverUrl: HS_URL, ...extra });

let seq = 0;
function ev(type: string, content: Record<string, unknown>, extra: Partial<MatrixEvent> = {}): MatrixEvent {
  seq++;
  return { event_id: `$ev${seq}`, room_id: ROOM, sender: ALICE, type, content, origin_server_ts: 1_700_000_000_000 + seq, ...extra };
}
const text = (body: string, extra: Record<string, unknown> = {}) => ev("m.room.message", { msgtype: "m.text", body, ...extra });
const html = (body: string, formatted: string, extra: Record<string, unknown> = {}) => text(body, { format: "org.matrix.custom.html", formatted_body: formatted, ...extra });

function one(r: MatrixInboundResult): PlatformEvent {
  assert.deepEqual(r.problems, []);
  assert.equal(r.events.length, 1, `expected one event, got ${JSON.stringify(r)}`);
  const e = r.events[0];
  assert.ok(e !== undefined);
  return e;
}
function message(r: MatrixInboundResult): PlatformMessage {
  const e = one(r);
  assert.equal(e.type, "message");
  return e;
}
function refused(r: MatrixInboundResult, pattern: RegExp): void {
  assert.deepEqual(r.events, []);
  assert.ok(
    r.problems.some((p) => pattern.test(p)),
    `expected a problem matching ${pattern}, got ${JSON.stringify(r.problems)}`,
  );
}
const markdownOf = (formatted: string) => message(platformEventsFromMatrix(html("x", formatted), ictx())).markdown;

const base = { room: platformRoomId(ROOM), roomId: "mimi://hub.example/r/eng", timestamp: 1_700_000_000_000, messageId: "01aa" };
const bob = { mimiUri: BOB_MIMI, platformUser: platformUserId(BOB_GHOST), local: false };
const mimiMsg = (m: Partial<MimiMessage> & { text: string }): MimiMessage => ({ ...base, sender: bob, ...m });
const content = (m: Partial<MimiMessage> & { text: string }, ctx: MatrixOutboundContext = octx()) => matrixMessageContent(mimiMsg(m), ctx).content;

// ---- 20 messages --------------------------------------------------------------------------------

test("MIMI-MATRIX-20 m.text maps to a message keyed by the Matrix event ID, with sender, room and time", () => {
  const e = text("hello world");
  const m = message(platformEventsFromMatrix(e, ictx()));
  assert.equal(m.platformEventId, e.event_id);
  assert.equal(m.sender, ALICE);
  assert.equal(m.room, ROOM);
  assert.equal(m.timestamp, e.origin_server_ts);
  assert.equal(m.text, "hello world");
  assert.equal(m.markdown, undefined);
  assert.equal(m.style, undefined);
  // Deterministic: the same event maps to the same PlatformEvent.
  assert.deepEqual(platformEventsFromMatrix(e, ictx()), platformEventsFromMatrix(e, ictx()));
});

test("MIMI-MATRIX-20 m.notice and m.emote keep their style hint; unknown msgtypes fall back to the body", () => {
  assert.equal(message(platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.notice", body: "bot says" }), ictx())).style, "notice");
  const emote = message(platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.emote", body: "waves" }), ictx()));
  assert.equal(emote.style, "emote");
  assert.equal(emote.text, "waves");
  for (const msgtype of ["m.server_notice", "com.example.custom", 42, undefined]) {
    const m = message(platformEventsFromMatrix(ev("m.room.message", { msgtype, body: "fallback text" }), ictx()));
    assert.equal(m.text, "fallback text");
    assert.equal(m.style, undefined);
  }
});

test("MIMI-MATRIX-20 m.location becomes text with its geo URI", () => {
  const m = message(platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.location", body: "Big Ben", geo_uri: "geo:51.5008,0.1247;u=35" }), ictx()));
  assert.equal(m.text, "Big Ben\ngeo:51.5008,0.1247;u=35");
  const bad = message(platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.location", body: "Somewhere", geo_uri: "javascript:alert(1)" }), ictx()));
  assert.equal(bad.text, "Somewhere");
});

test("MIMI-MATRIX-20 bodies over the size limit are problems, not messages", () => {
  const ctx = ictx({ limits: { maxBodyBytes: 100 } });
  refused(platformEventsFromMatrix(text("x".repeat(101)), ctx), /body is larger than 100 bytes/);
  // Bytes, not characters: 40 four-byte emoji are 160 bytes.
  refused(platformEventsFromMatrix(text("😀".repeat(40)), ctx), /larger than 100 bytes/);
  refused(platformEventsFromMatrix(html("short", `<p>${"y".repeat(200)}</p>`), ctx), /formatted_body is larger/);
  assert.equal(message(platformEventsFromMatrix(text("x".repeat(100)), ctx)).text.length, 100);
  // A huge body at the real default scale is refused quickly.
  const t0 = Date.now();
  refused(platformEventsFromMatrix(text("z".repeat(10_000_000)), ictx({ limits: { maxBodyBytes: 65_536 } })), /larger than 65536/);
  assert.ok(Date.now() - t0 < 1000);
});

test("MIMI-MATRIX-20 malformed events are problems and never throw", () => {
  const cases: [unknown, RegExp][] = [
    [null, /not an object/],
    ["a string", /not an object/],
    [{ ...text("x"), event_id: undefined }, /event_id/],
    [{ ...text("x"), event_id: "no-dollar" }, /event_id/],
    [{ ...text("x"), event_id: `$${"a".repeat(300)}` }, /event_id/],
    [{ ...text("x"), type: 7 }, /type/],
    [{ ...text("x"), content: "body" }, /content is not an object/],
    [{ ...text("x"), content: null }, /content is not an object/],
    [{ ...text("x"), content: ["body"] }, /content is not an object/],
    [ev("m.room.message", { msgtype: "m.text" }), /body is missing/],
    [ev("m.room.message", { msgtype: "m.text", body: 12 }), /body is missing/],
    [text("x", { format: "org.matrix.custom.html", formatted_body: { evil: true } }), /formatted_body is not a string/],
    [text("x", { "m.relates_to": "garbage" }), /m.relates_to is not an object/],
    [text("x", { "m.relates_to": ["garbage"] }), /m.relates_to is not an object/],
    [text("x", { "m.relates_to": { rel_type: 5 } }), /rel_type is not a string/],
    [text("x", { "m.relates_to": { "m.in_reply_to": "$x" } }), /m.in_reply_to has no valid event_id/],
    [text("x", { "m.relates_to": { "m.in_reply_to": { event_id: 3 } } }), /m.in_reply_to has no valid event_id/],
  ];
  for (const [input, pattern] of cases) refused(platformEventsFromMatrix(input as MatrixEvent, ictx()), pattern);
});

test("MIMI-MATRIX-20 arbitrary content and relations never throw (property)", () => {
  const types = fc.constantFrom("m.room.message", "m.reaction", "m.room.redaction", "m.sticker", "m.room.member", "x");
  fc.assert(
    fc.property(types, fc.anything(), fc.anything(), fc.anything(), (type, c, rel, newContent) => {
      const contentObj = typeof c === "object" && c !== null && !Array.isArray(c) ? { ...(c as Record<string, unknown>) } : { body: c };
      const variants = [
        { ...ev(type, contentObj), content: c },
        ev(type, { ...contentObj, "m.relates_to": rel, "m.new_content": newContent }),
        ev(type, { msgtype: "m.text", body: "b", "m.relates_to": { rel_type: "m.replace", event_id: "$t", "m.new_content": newContent }, "m.new_content": newContent }),
        ev(type, { msgtype: "m.image", body: "b", url: rel, info: newContent }),
        ev(type, { msgtype: "m.text", body: "b", format: "org.matrix.custom.html", formatted_body: rel }),
      ] as MatrixEvent[];
      for (const v of variants) {
        const r = platformEventsFromMatrix(v, ictx({ kindOf: () => "reaction", reactionOf: () => ({ target: "$t", key: "👍" }) }));
        assert.ok(Array.isArray(r.events) && Array.isArray(r.problems));
        if (r.problems.length > 0) assert.equal(r.events.length, 0);
      }
    }),
    { numRuns: 300 },
  );
});

test("MIMI-MATRIX-20 state events, unknown types, redacted and empty events are ignored without problems", () => {
  for (const e of [
    ev("m.room.topic", { topic: "t" }, { state_key: "" }),
    ev("m.call.invite", { call_id: "1" }),
    { ...text("x"), unsigned: { redacted_because: {} } },
    ev("m.room.message", {}, { unsigned: { redacted_because: { type: "m.room.redaction" } } }),
    text("   "),
  ]) {
    const r = platformEventsFromMatrix(e, ictx());
    assert.deepEqual(r.events, []);
    assert.deepEqual(r.problems, []);
    assert.ok(r.ignored !== undefined && r.ignored.length > 0);
  }
});

test("MIMI-MATRIX-20 a context callback that throws is reported as a problem", () => {
  const r = platformEventsFromMatrix(ev("m.room.redaction", {}, { redacts: "$x" }), ictx({ kindOf: () => { throw new Error("store down"); } }));
  refused(r, /store down/);
});

test("MIMI-MATRIX-20 outbound: plain text is m.text without formatting; /me is m.emote; the bot can force m.notice", () => {
  assert.deepEqual(matrixMessageContent(mimiMsg({ text: "hi there" }), octx()), { type: "m.room.message", content: { msgtype: "m.text", body: "hi there", "m.mentions": {} } });
  // Markdown that is only a paragraph of the same text adds no formatted_body.
  assert.deepEqual(content({ text: "hi there", markdown: "hi there" }), { msgtype: "m.text", body: "hi there", "m.mentions": {} });
  const emote = content({ text: "/me waves", markdown: "/me waves *happily*" });
  assert.equal(emote["msgtype"], "m.emote");
  assert.equal(emote["body"], "waves");
  assert.equal(emote["formatted_body"], "<p>waves <em>happily</em></p>");
  const notice = content({ text: "/me is not an emote here" }, octx({ msgtype: "m.notice" }));
  assert.equal(notice["msgtype"], "m.notice");
  assert.equal(notice["body"], "/me is not an emote here");
});

test("MIMI-MATRIX-20 txnIdFor: deterministic, URL-safe, per kind, at most 255 characters", () => {
  const id = "01" + "ab".repeat(31);
  assert.equal(txnIdFor(id, "message"), `mimi-message-${id}`);
  assert.equal(txnIdFor(id, "message"), txnIdFor(id, "message"));
  assert.notEqual(txnIdFor(id, "message"), txnIdFor(id, "edit"));
  assert.notEqual(txnIdFor(id, "message"), txnIdFor(`${id}0`, "message"));
  for (const weird of ["a/b?c#d", "x".repeat(1000), "ünïcödé", "", "a-b", "mimi:${x}"]) {
    const t = txnIdFor(weird, "redact");
    assert.match(t, /^[A-Za-z0-9_-]+$/);
    assert.ok(t.length <= 255);
    assert.equal(t, txnIdFor(weird, "redact"));
  }
  assert.notEqual(txnIdFor("a-b", "x"), txnIdFor("a_b", "x"));
  assert.throws(() => txnIdFor(id, "Bad-Kind"), /kind/);
  assert.throws(() => txnIdFor(id, ""), /kind/);
});

// ---- 21 formatting ---------------------------------------------------------------------------

test("MIMI-MATRIX-21 formatted bodies become GFM-MIMI Markdown for the kept tags", () => {
  assert.equal(markdownOf("<b>b</b> <strong>s</strong> <i>i</i> <em>e</em> <code>c</code> <del>d</del> <s>s2</s>"), "**b** **s** *i* *e* `c` ~~d~~ ~~s2~~");
  assert.equal(markdownOf("<h1>T</h1><h3>sub</h3><p>para<br>line</p>"), "# T\n\n### sub\n\npara  \nline");
  assert.equal(markdownOf("<ul><li>one</li><li>two<ol><li>n</li></ol></li></ul>"), "- one\n- two\n  1. n");
  assert.equal(markdownOf('<ol start="3"><li>c</li><li>d</li></ol>'), "3. c\n4. d");
  assert.equal(markdownOf("<blockquote><p>quoted</p></blockquote><p>after</p>"), "> quoted\n\nafter");
  assert.equal(markdownOf('<pre><code class="language-ts">const a = 1 &lt; 2;\n</code></pre>'), "```ts\nconst a = 1 < 2;\n```");
  assert.equal(markdownOf('<a href="https://example.org/a b(c)">site</a>'), "[site](https://example.org/a%20b%28c%29)");
  assert.equal(markdownOf('<a href="mailto:x@example.org">mail</a>'), "[mail](mailto:x@example.org)");
  // Markdown characters in text are escaped, so text stays text.
  assert.equal(markdownOf("<p>1*2*3 _x_</p>"), "1\\*2\\*3 \\_x\\_");
  // Other tags keep their text only.
  assert.equal(markdownOf('<font color="red">red</font> <span data-mx-spoiler>spoiler</span> <u>u</u> <sup>2</sup>'), "red spoiler u 2");
  assert.equal(markdownOf("<table><tr><td>cell</td></tr></table>"), "cell");
  // Inline images (mxc custom emoji) are their alt text.
  assert.equal(markdownOf('<img src="mxc://hs.example/emoji" alt=":party:"> yay'), ":party: yay");
});

test("MIMI-MATRIX-21 hostile HTML is sanitised: scripts, frames, styles, handlers and script links vanish", () => {
  const hostile = [
    "<script>alert('x')</script>",
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    '<p onclick="steal()">click <b onmouseover="x()">me</b></p>',
    '<a href="javascript:alert(1)">js link</a>',
    '<a href="JaVaScRiPt:alert(1)">js2</a>',
    '<a href="data:text/html,<script>alert(1)</script>">data</a>',
    '<a href="vbscript:msgbox">vb</a>',
    '<a href="/relative">rel</a>',
    '<img src="x" onerror="alert(1)">',
    '<object data="x"></object><embed src="y"><form><input value="z"><button>b</button></form>',
    "<svg><script>alert(2)</script></svg><math><mi>x</mi></math>",
    "<noscript>ns</noscript><template><p>t</p></template>",
  ].join("");
  const md = markdownOf(hostile) ?? "";
  for (const bad of ["<script", "alert", "javascript", "vbscript", "data:", "onclick", "onerror", "iframe", "steal", "evil.example", "display:none", "/relative", "msgbox"]) {
    assert.ok(!md.toLowerCase().includes(bad.toLowerCase()), `${bad} survived in ${JSON.stringify(md)}`);
  }
  assert.match(md, /click \*\*me\*\*/);
  assert.match(md, /js link/);
  // Escaped markup in the text is text: it stays text (GFM-MIMI has no HTML), and going back out it is escaped.
  const escaped = markdownOf("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>") ?? "";
  const out = markdownToHtml(escaped, { matrixIdOf }).html;
  assert.ok(!out.includes("<script"), out);
  assert.match(out, /&lt;script&gt;/);
});

test("MIMI-MATRIX-21 outbound rendering: raw HTML is text, links are checked, no autolinks, task lists and tables", () => {
  const r = (md: string) => markdownToHtml(md, { matrixIdOf }).html;
  assert.equal(r("<b>x</b> <img src=x onerror=alert(1)>"), "<p>&lt;b&gt;x&lt;/b&gt; &lt;img src=x onerror=alert(1)&gt;</p>");
  assert.equal(r("<script>\nalert(1)\n</script>"), "<p>&lt;script&gt;<br>alert(1)<br>&lt;/script&gt;</p>");
  assert.equal(r("[x](javascript:alert(1))"), "<p>x</p>");
  assert.equal(r("[x](https://example.org/?a=1&b=2)"), '<p><a href="https://example.org/?a=1&amp;b=2">x</a></p>');
  assert.equal(r('[x](https://example.org/"onclick="y)'), '<p><a href="https://example.org/%22onclick=%22y">x</a></p>');
  assert.equal(r('[x](https://example.org/" onclick="y)'), "<p>[x](https://example.org/&quot; onclick=&quot;y)</p>");
  assert.equal(r("see https://example.org and <https://example.net>"), "<p>see https://example.org and &lt;https://example.net&gt;</p>");
  assert.equal(r("![pic](https://example.org/p.png)"), '<p><a href="https://example.org/p.png">pic</a></p>');
  assert.equal(r("![pic](mxc://hs.example/abc)"), '<p><img src="mxc://hs.example/abc" alt="pic"></p>');
  assert.equal(r("- [ ] todo\n- [x] done"), "<ul>\n<li>[ ] todo</li>\n<li>[x] done</li>\n</ul>");
  assert.match(r("| a | b |\n|---|---|\n| 1 | 2 |"), /^<table>[\s\S]*<td>1<\/td>[\s\S]*<\/table>$/);
  assert.equal(r("```js\nlet a = 1 < 2;\n```"), '<pre><code class="language-js">let a = 1 &lt; 2;\n</code></pre>');
  assert.equal(r("~~gone~~"), "<p><del>gone</del></p>");
});

test("MIMI-MATRIX-21 round trip: Markdown → formatted body → Markdown for the supported subset", () => {
  const samples = [
    "**bold** and *italic* and `code`",
    "~~struck~~ text",
    "# Title\n\n## Sub\n\nparagraph",
    "- one\n- two\n- three",
    "1. first\n2. second",
    "> quoted\n\nreply",
    "```python\nprint('hi')\n```",
    "[a link](https://example.org/path)",
    "[@Bob](mimi://b.example/u/bob) hello [@alice](mimi://hs.example/u/alice)",
    "line one  \nline two",
    "---",
  ];
  for (const md of samples) {
    const { html: h } = markdownToHtml(md, { matrixIdOf });
    const back = htmlToMarkdown(h, { mimiUserOf });
    assert.equal(back, md, `round trip of ${JSON.stringify(md)} via ${JSON.stringify(h)}`);
  }
});

test("MIMI-MATRIX-21 a formatted body that equals the body adds no Markdown; other formats are ignored", () => {
  assert.equal(message(platformEventsFromMatrix(html("plain", "plain"), ictx())).markdown, undefined);
  assert.equal(message(platformEventsFromMatrix(text("plain", { format: "org.example.other", formatted_body: "<b>x</b>" }), ictx())).markdown, undefined);
  assert.equal(message(platformEventsFromMatrix(html("only script", "<script>x</script>"), ictx())).markdown, undefined);
  const m = message(platformEventsFromMatrix(html("**hi**", "<strong>hi</strong>"), ictx()));
  assert.equal(m.text, "**hi**");
  assert.equal(m.markdown, undefined);
  const m2 = message(platformEventsFromMatrix(html("hi there", "<em>hi</em> there"), ictx()));
  assert.equal(m2.text, "hi there");
  assert.equal(m2.markdown, "*hi* there");
});

test("MIMI-MATRIX-21 absurdly nested HTML does not throw: the plain body stands", () => {
  const t0 = Date.now();
  const deep = "<div>".repeat(50_000) + "x" + "</div>".repeat(50_000);
  const m = message(platformEventsFromMatrix(html("x", deep), ictx({ limits: { maxBodyBytes: 1_000_000 } })));
  assert.equal(m.text, "x");
  assert.equal(m.markdown, undefined);
  // Unclosed tags count as nesting; very many tags are not converted either.
  assert.equal(message(platformEventsFromMatrix(html("y", "<b>".repeat(200) + "y"), ictx())).markdown, undefined);
  assert.equal(message(platformEventsFromMatrix(html("z", "<i>z</i>".repeat(6000)), ictx({ limits: { maxBodyBytes: 1_000_000 } }))).markdown, undefined);
  assert.ok(Date.now() - t0 < 2000, "the guard answers without parsing");
  // 100 levels (the Matrix spec's suggested client limit) still convert.
  assert.equal(markdownOf("<blockquote>".repeat(3) + "deep" + "</blockquote>".repeat(3)), "> > > deep");
  assert.equal(markdownOf("<b>".repeat(99) + "ok" + "</b>".repeat(99))?.includes("ok"), true);
});

// ---- 22 mentions ---------------------------------------------------------------------------------

test("MIMI-MATRIX-22 matrix.to pills become MIMI user links (ghosts and local users)", () => {
  const pills = `<a href="https://matrix.to/#/${BOB_GHOST}">Bob</a> and <a href="https://matrix.to/#/%40alice%3Ahs.example?via=hs.example">@alice</a>: hi`;
  const m = message(platformEventsFromMatrix(html("Bob and @alice: hi", pills), ictx()));
  assert.equal(m.markdown, "[@Bob](mimi://b.example/u/bob) and [@alice](mimi://hs.example/u/alice): hi");
  assert.equal(m.text, "Bob and @alice: hi");
  // matrix: URIs (MSC2312) too.
  assert.equal(markdownOf('<a href="matrix:u/alice:hs.example?action=chat">Alice</a>'), "[@Alice](mimi://hs.example/u/alice)");
  // A Matrix user the bridge does not know stays an ordinary https link; rooms are not mentions.
  assert.equal(markdownOf('<a href="https://matrix.to/#/@carol:other.example">Carol</a>'), "[Carol](https://matrix.to/#/@carol:other.example)");
  assert.equal(markdownOf('<a href="https://matrix.to/#/#room:hs.example">room</a>'), "[room](https://matrix.to/#/#room:hs.example)");
  assert.equal(matrixUserOfLink("https://matrix.to/#/@bad"), undefined);
  assert.equal(matrixUserOfLink("https://matrix.to/#/%E0%A4%A"), undefined);
});

test("MIMI-MATRIX-22 MIMI user links become matrix.to pills and m.mentions; unknown MIMI users are text", () => {
  const c = content({ text: "Bob: hi", markdown: "[@Bob](mimi://b.example/u/bob) and [@Zed](mimi://nowhere.example/u/zed!!) hi" }, octx({ matrixIdOf: (u) => (u === BOB_MIMI ? BOB_GHOST : undefined) }));
  assert.equal(c["formatted_body"], `<p><a href="https://matrix.to/#/${BOB_GHOST}">@Bob</a> and @Zed hi</p>`);
  assert.deepEqual(c["m.mentions"], { user_ids: [BOB_GHOST] });
  assert.equal(c["format"], "org.matrix.custom.html");
  assert.equal(c["body"], "Bob: hi");
});

test("MIMI-MATRIX-22 the draft's mention vector survives MIMI → Matrix → MIMI", () => {
  const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../shared/vectors/mimi-content");
  const fromEdn = (file: string, contentType: string): string | undefined => {
    const p = path.join(dir, file);
    if (!existsSync(p)) return undefined;
    const edn = readFileSync(p, "utf8");
    const after = edn.slice(edn.indexOf(contentType));
    return [...after.matchAll(/'([^']*)'/g)].map((m) => m[1]).join("");
  };
  const markdown = fromEdn("mention.edn", "text/markdown;variant=GFM-MIMI") ?? "Kudos to [@Alice Smith](mimi://example.com/u/alice-smith) for making the release happen!";
  const mimiHtml = fromEdn("mention-html.edn", "text/html;charset=utf-8") ?? '<p>Kudos to <a href="mimi://example.com/u/alice-smith">@Alice Smith</a> for making the release happen!</p>';
  assert.equal(markdown, "Kudos to [@Alice Smith](mimi://example.com/u/alice-smith) for making the release happen!");
  const ghost = matrixGhostFor("mimi://example.com/u/alice-smith", ghostOpts) as string;
  const out = matrixMessageContent(mimiMsg({ text: "Kudos to @Alice Smith for making the release happen!", markdown }), octx()).content;
  assert.equal(out["formatted_body"], `<p>Kudos to <a href="https://matrix.to/#/${ghost}">@Alice Smith</a> for making the release happen!</p>`);
  assert.deepEqual(out["m.mentions"], { user_ids: [ghost] });
  // Back in: the pill is the MIMI user link of the vector.
  const back = message(platformEventsFromMatrix(html(String(out["body"]), String(out["formatted_body"])), ictx()));
  assert.equal(back.markdown, markdown);
  // The vector's HTML form (a mimi: link) read as a Matrix formatted body gives the Markdown form.
  assert.equal(htmlToMarkdown(mimiHtml, { mimiUserOf }), markdown);
});

// ---- 23 edits ----------------------------------------------------------------------------------------

test("MIMI-MATRIX-23 m.replace maps to message.edit of the original, from m.new_content", () => {
  const e = ev("m.room.message", {
    msgtype: "m.text",
    body: "* fixed typo",
    "m.new_content": { msgtype: "m.text", body: "fixed typo", format: "org.matrix.custom.html", formatted_body: "fixed <strong>typo</strong>" },
    "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
  });
  const edit = one(platformEventsFromMatrix(e, ictx()));
  assert.deepEqual(edit, {
    type: "message.edit",
    platformEventId: e.event_id,
    sender: ALICE,
    room: ROOM,
    timestamp: e.origin_server_ts,
    target: "$orig",
    text: "fixed typo",
    markdown: "fixed **typo**",
  });
  const emote = one(platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.emote", body: "* dances", "m.new_content": { msgtype: "m.emote", body: "dances" }, "m.relates_to": { rel_type: "m.replace", event_id: "$o" } }), ictx()));
  assert.equal((emote as { text: string }).text, "/me dances");
});

test("MIMI-MATRIX-23 malformed edits are problems", () => {
  refused(platformEventsFromMatrix(text("* x", { "m.relates_to": { rel_type: "m.replace", event_id: "$o" } }), ictx()), /without m.new_content/);
  refused(platformEventsFromMatrix(text("* x", { "m.relates_to": { rel_type: "m.replace" }, "m.new_content": { body: "x" } }), ictx()), /valid event_id/);
  refused(platformEventsFromMatrix(text("* x", { "m.relates_to": { rel_type: "m.replace", event_id: "$o" }, "m.new_content": "x" }), ictx()), /without m.new_content/);
  refused(platformEventsFromMatrix(text("* x", { "m.relates_to": { rel_type: "m.replace", event_id: "$o" }, "m.new_content": { msgtype: "m.text" } }), ictx()), /body is missing/);
  refused(
    platformEventsFromMatrix(text("* x", { "m.relates_to": { rel_type: "m.replace", event_id: "$o" }, "m.new_content": { body: "y".repeat(5000) } }), ictx()),
    /larger than 4096/,
  );
});

test("MIMI-MATRIX-23 outbound edits: '* ' fallback, m.new_content and an m.replace relation", () => {
  const edit: MimiEdit = { ...base, sender: bob, target: platformEventId("$orig"), text: "better", markdown: "**better** [@alice](mimi://hs.example/u/alice)" };
  const c = matrixEditContent(edit, "$orig", octx());
  assert.equal(c.type, "m.room.message");
  assert.deepEqual(c.content, {
    msgtype: "m.text",
    body: "* better",
    format: "org.matrix.custom.html",
    formatted_body: '* <p><strong>better</strong> <a href="https://matrix.to/#/@alice:hs.example">@alice</a></p>',
    "m.new_content": {
      msgtype: "m.text",
      body: "better",
      format: "org.matrix.custom.html",
      formatted_body: '<p><strong>better</strong> <a href="https://matrix.to/#/@alice:hs.example">@alice</a></p>',
      "m.mentions": { user_ids: ["@alice:hs.example"] },
    },
    "m.mentions": {},
    "m.relates_to": { rel_type: "m.replace", event_id: "$orig" },
  });
  const plain = matrixEditContent({ ...edit, text: "/me corrects", markdown: undefined } as unknown as MimiEdit, "$orig").content;
  assert.equal(plain["msgtype"], "m.emote");
  assert.equal(plain["body"], "* corrects");
});

// ---- 24 replies ------------------------------------------------------------------------------------

test("MIMI-MATRIX-24 replies: replyTo is the in_reply_to event; fallbacks are stripped from body and HTML", () => {
  const e = text("> <@bob:hs.example> original line\n> second line\n\nmy answer", {
    format: "org.matrix.custom.html",
    formatted_body: '<mx-reply><blockquote><a href="https://matrix.to/#/!r/$orig">In reply to</a> <a href="https://matrix.to/#/@bob:hs.example">@bob</a><br>original</blockquote></mx-reply>my <b>answer</b>',
    "m.relates_to": { "m.in_reply_to": { event_id: "$orig" } },
  });
  const m = message(platformEventsFromMatrix(e, ictx()));
  assert.equal(m.replyTo, "$orig");
  assert.equal(m.text, "my answer");
  assert.equal(m.markdown, "my **answer**");
  assert.equal(m.thread, undefined);
  // Spec v1.13 replies carry no fallback: the body stays whole, and a quote the user wrote stays too.
  const noFallback = message(platformEventsFromMatrix(text("> a real quote\n\nmine", { "m.relates_to": { "m.in_reply_to": { event_id: "$o" } } }), ictx()));
  assert.equal(noFallback.text, "> a real quote\n\nmine");
  // Without a reply, nothing is stripped.
  assert.equal(message(platformEventsFromMatrix(text("> <@bob:hs.example> looks like one\n\nx"), ictx())).text, "> <@bob:hs.example> looks like one\n\nx");
  assert.equal(stripBodyReplyFallback("> <@a:b> q\n> q2\n\nanswer\n> kept"), "answer\n> kept");
});

test("MIMI-MATRIX-24 outbound replies: m.in_reply_to without fallback; the replied-to user is mentioned", () => {
  const c = content({ text: "answer", replyTo: platformEventId("$orig") }, octx({ replyToSender: "@alice:hs.example" }));
  assert.deepEqual(c, { msgtype: "m.text", body: "answer", "m.mentions": { user_ids: ["@alice:hs.example"] }, "m.relates_to": { "m.in_reply_to": { event_id: "$orig" } } });
  // A reply target that is not a Matrix event ID (e.g. the core's "mimi:<id>" marker) is dropped.
  assert.equal(content({ text: "answer", replyTo: platformEventId("mimi:0123") })["m.relates_to"], undefined);
});

// ---- 25 reactions ----------------------------------------------------------------------------------

test("MIMI-MATRIX-25 m.reaction annotations map to reaction.add", () => {
  const e = ev("m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: "$target", key: "👍" } });
  assert.deepEqual(one(platformEventsFromMatrix(e, ictx())), {
    type: "reaction.add",
    platformEventId: e.event_id,
    sender: ALICE,
    room: ROOM,
    timestamp: e.origin_server_ts,
    target: "$target",
    reaction: "👍",
  });
  refused(platformEventsFromMatrix(ev("m.reaction", {}), ictx()), /m.annotation/);
  refused(platformEventsFromMatrix(ev("m.reaction", { "m.relates_to": { rel_type: "m.reference", event_id: "$t", key: "x" } }), ictx()), /m.annotation/);
  refused(platformEventsFromMatrix(ev("m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: "$t" } }), ictx()), /without a key/);
  refused(platformEventsFromMatrix(ev("m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: "$t", key: " " } }), ictx()), /without a key/);
  refused(platformEventsFromMatrix(ev("m.reaction", { "m.relates_to": { rel_type: "m.annotation", key: "x" } }), ictx()), /valid event_id/);
  refused(platformEventsFromMatrix(ev("m.reaction", { "m.relates_to": { rel_type: "m.annotation", event_id: "$t", key: "k".repeat(300) } }), ictx()), /longer than 256 bytes/);
});

test("MIMI-MATRIX-25 outbound reactions are m.annotation relations", () => {
  const r: MimiReaction = { ...base, sender: bob, target: platformEventId("$t"), reaction: "🎉" };
  assert.deepEqual(matrixReactionContent(r, "$t"), { type: "m.reaction", content: { "m.relates_to": { rel_type: "m.annotation", event_id: "$t", key: "🎉" } } });
});

// ---- 26 redactions ---------------------------------------------------------------------------------

test("MIMI-MATRIX-26 redactions of messages map to message.retract (redacts at the top or in content for v11)", () => {
  const old = ev("m.room.redaction", { reason: "oops" }, { redacts: "$m1" });
  assert.deepEqual(one(platformEventsFromMatrix(old, ictx({ kindOf: () => "message", senderOf: () => ALICE }))), {
    type: "message.retract",
    platformEventId: old.event_id,
    sender: ALICE,
    room: ROOM,
    timestamp: old.origin_server_ts,
    target: "$m1",
    reason: "oops",
  });
  const v11 = ev("m.room.redaction", { redacts: "$m2" });
  const r = one(platformEventsFromMatrix(v11, ictx()));
  assert.equal(r.type, "message.retract");
  assert.equal((r as { target: string }).target, "$m2");
  refused(platformEventsFromMatrix(ev("m.room.redaction", {}), ictx()), /redacts/);
  refused(platformEventsFromMatrix(ev("m.room.redaction", { redacts: 5 }), ictx()), /redacts/);
});

test("MIMI-MATRIX-26 a redaction of someone else's message is a moderation", () => {
  const r = one(platformEventsFromMatrix(ev("m.room.redaction", { redacts: "$m" }), ictx({ kindOf: () => "message", senderOf: () => BOB_GHOST })));
  assert.equal((r as { moderation?: boolean }).moderation, true);
});

test("MIMI-MATRIX-26 redactions of reactions map to reaction.remove of the reaction's target and key", () => {
  const ctx = ictx({
    kindOf: (id) => (id === "$react" ? "reaction" : "message"),
    reactionOf: (id) => (id === "$react" ? { target: "$msg", key: "👍", sender: ALICE } : undefined),
  });
  const e = ev("m.room.redaction", {}, { redacts: "$react" });
  assert.deepEqual(one(platformEventsFromMatrix(e, ctx)), { type: "reaction.remove", platformEventId: e.event_id, sender: ALICE, room: ROOM, timestamp: e.origin_server_ts, target: "$msg", reaction: "👍" });
  // Someone else's reaction, or one the bridge never saw: nothing to unreact.
  const other = platformEventsFromMatrix(e, ictx({ kindOf: () => "reaction", reactionOf: () => ({ target: "$msg", key: "👍", sender: BOB_GHOST }) }));
  assert.deepEqual(other.events, []);
  assert.match(other.ignored ?? "", /someone else/);
  const unknown = platformEventsFromMatrix(e, ictx({ kindOf: () => "reaction" }));
  assert.deepEqual(unknown.events, []);
  assert.deepEqual(unknown.problems, []);
});

test("MIMI-MATRIX-26 outbound redactions carry the target and an optional reason", () => {
  assert.deepEqual(matrixRedaction("$t"), { eventId: "$t", content: {} });
  assert.deepEqual(matrixRedaction(platformEventId("$t"), "spam"), { eventId: "$t", content: { reason: "spam" } });
  assert.equal(matrixRedaction("$t", "r".repeat(5000)).content.reason?.length, 1024);
});

// ---- 27 threads ------------------------------------------------------------------------------------

test("MIMI-MATRIX-27 m.thread maps to the thread (topicId) of its root; a falling-back reply is not a reply", () => {
  const inThread = message(
    platformEventsFromMatrix(text("in thread", { "m.relates_to": { rel_type: "m.thread", event_id: "$root", is_falling_back: true, "m.in_reply_to": { event_id: "$latest" } } }), ictx()),
  );
  assert.equal(inThread.thread, "$root");
  assert.equal(inThread.replyTo, undefined);
  const reply = message(
    platformEventsFromMatrix(text("reply in thread", { "m.relates_to": { rel_type: "m.thread", event_id: "$root", is_falling_back: false, "m.in_reply_to": { event_id: "$x" } } }), ictx()),
  );
  assert.equal(reply.thread, "$root");
  assert.equal(reply.replyTo, "$x");
  refused(platformEventsFromMatrix(text("t", { "m.relates_to": { rel_type: "m.thread" } }), ictx()), /m.thread without a valid event_id/);
  // Relation types we do not map leave a plain message.
  const ref = message(platformEventsFromMatrix(text("r", { "m.relates_to": { rel_type: "m.reference", event_id: "$y" } }), ictx()));
  assert.equal(ref.thread, undefined);
  assert.equal(ref.replyTo, undefined);
});

test("MIMI-MATRIX-27 outbound threads: m.thread with a fallback reply; topicIds are mapped to roots", () => {
  assert.deepEqual(content({ text: "t", thread: "$root" })["m.relates_to"], { rel_type: "m.thread", event_id: "$root", is_falling_back: true, "m.in_reply_to": { event_id: "$root" } });
  assert.deepEqual(content({ text: "t", thread: "$root", replyTo: platformEventId("$r") })["m.relates_to"], {
    rel_type: "m.thread",
    event_id: "$root",
    is_falling_back: false,
    "m.in_reply_to": { event_id: "$r" },
  });
  assert.deepEqual(content({ text: "t", thread: "xmpp-thread-1" }, octx({ threadRootOf: (t) => (t === "xmpp-thread-1" ? "$mapped" : undefined) }))["m.relates_to"], {
    rel_type: "m.thread",
    event_id: "$mapped",
    is_falling_back: true,
    "m.in_reply_to": { event_id: "$mapped" },
  });
  // An unknown topicId that is no Matrix event: no thread relation (a reply still goes through).
  assert.equal(content({ text: "t", thread: "opaque" })["m.relates_to"], undefined);
  assert.deepEqual(content({ text: "t", thread: "opaque", replyTo: platformEventId("$r") })["m.relates_to"], { "m.in_reply_to": { event_id: "$r" } });
});

// ---- 28 media ----------------------------------------------------------------------------------------

test("MIMI-MATRIX-28 media msgtypes become attachments on the homeserver's authenticated media URL", () => {
  const e = ev("m.room.message", { msgtype: "m.image", body: "cat.png", url: "mxc://hs.example/AbC123_-", info: { mimetype: "image/png", size: 1234, w: 10, h: 10 } });
  const m = message(platformEventsFromMatrix(e, ictx()));
  assert.equal(m.text, "cat.png");
  assert.deepEqual(m.attachments, [{ url: `${HS_URL}/_matrix/client/v1/media/download/hs.example/AbC123_-`, contentType: "image/png", size: 1234, filename: "cat.png" }]);
  for (const msgtype of ["m.file", "m.audio", "m.video"]) {
    const a = message(platformEventsFromMatrix(ev("m.room.message", { msgtype, body: "f", url: "mxc://other.example:8448/id" }), ictx({ homeserverUrl: `${HS_URL}/` }))).attachments?.[0];
    assert.equal(a?.url, `${HS_URL}/_matrix/client/v1/media/download/other.example%3A8448/id`);
    assert.equal(a?.contentType, "application/octet-stream");
  }
});

test("MIMI-MATRIX-28 captions (filename differs from body) are the text and the description", () => {
  const m = message(
    platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.image", body: "look at *this*", filename: "dog.jpg", url: "mxc://hs.example/d", info: { mimetype: "image/jpeg", size: -1 } }), ictx()),
  );
  assert.equal(m.text, "look at *this*");
  assert.deepEqual(m.attachments, [{ url: `${HS_URL}/_matrix/client/v1/media/download/hs.example/d`, contentType: "image/jpeg", filename: "dog.jpg", description: "look at *this*" }]);
});

test("MIMI-MATRIX-28 stickers are images; encrypted media stays text; bad mxc URIs and mimetypes are handled", () => {
  const s = message(platformEventsFromMatrix(ev("m.sticker", { body: "wave", url: "mxc://hs.example/st", info: { mimetype: "image/webp" } }), ictx()));
  assert.equal(s.attachments?.[0]?.contentType, "image/webp");
  const enc = message(platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.file", body: "secret.pdf", file: { url: "mxc://hs.example/e", key: {} } }), ictx()));
  assert.equal(enc.text, "secret.pdf");
  assert.equal(enc.attachments, undefined);
  for (const url of ["https://evil.example/x", "mxc://hs.example/../../etc", "mxc://hs.example/", 42]) {
    refused(platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.image", body: "x", url }), ictx()), /mxc/);
  }
  const weird = message(platformEventsFromMatrix(ev("m.room.message", { msgtype: "m.file", body: "x", url: "mxc://hs.example/m", info: { mimetype: "text/html\r\nX-Evil: 1" } }), ictx()));
  assert.equal(weird.attachments?.[0]?.contentType, "application/octet-stream");
});

test("MIMI-MATRIX-28 media URLs go back to mxc:// for this homeserver", () => {
  const url = authenticatedMediaUrl(HS_URL, "mxc://hs.example/abc") ?? "";
  assert.equal(mxcFromMediaUrl(HS_URL, url), "mxc://hs.example/abc");
  assert.equal(mxcFromMediaUrl(HS_URL, `${HS_URL}/_matrix/media/v3/download/hs.example/abc?allow_redirect=true`), "mxc://hs.example/abc");
  assert.equal(mxcFromMediaUrl(HS_URL, "https://elsewhere.example/_matrix/client/v1/media/download/hs.example/abc"), undefined);
  assert.equal(authenticatedMediaUrl(HS_URL, "https://x"), undefined);
});

test("MIMI-MATRIX-28 outbound: one Matrix-hosted attachment is a media event; others are links in the text", () => {
  const img: Attachment = { url: "mxc://hs.example/pic", contentType: "image/png", size: 99, filename: "pic.png" };
  assert.deepEqual(content({ text: "", attachments: [img] }), { msgtype: "m.image", body: "pic.png", filename: "pic.png", url: "mxc://hs.example/pic", info: { mimetype: "image/png", size: 99 }, "m.mentions": {} });
  const own: Attachment = { url: `${HS_URL}/_matrix/client/v1/media/download/hs.example/vid`, contentType: "video/mp4", filename: "v.mp4" };
  const captioned = content({ text: "watch", markdown: "**watch**", attachments: [own] });
  assert.equal(captioned["msgtype"], "m.video");
  assert.equal(captioned["url"], "mxc://hs.example/vid");
  assert.equal(captioned["body"], "watch");
  assert.equal(captioned["filename"], "v.mp4");
  assert.equal(captioned["formatted_body"], "<p><strong>watch</strong></p>");
  const ext: Attachment = { url: "https://files.example/doc.pdf", contentType: "application/pdf", filename: "doc.pdf" };
  const linked = content({ text: "see", attachments: [ext] });
  assert.equal(linked["msgtype"], "m.text");
  assert.equal(linked["body"], "see\ndoc.pdf: https://files.example/doc.pdf");
  assert.equal(linked["formatted_body"], '<p>see</p><p><a href="https://files.example/doc.pdf">doc.pdf</a></p>');
  const hostile: Attachment = { url: "javascript:alert(1)", contentType: "text/plain", filename: "<b>x</b>" };
  const two = content({ text: "", attachments: [img, hostile] });
  assert.equal(two["msgtype"], "m.text");
  assert.ok(!String(two["formatted_body"]).includes("javascript"));
  assert.ok(String(two["formatted_body"]).includes("&lt;b&gt;x&lt;/b&gt;"));
});

// ---- 29 ephemeral ------------------------------------------------------------------------------------

const ectx = (extra: Partial<MatrixEphemeralContext> = {}): MatrixEphemeralContext => ({
  room: platformRoomId(ROOM),
  isLocalUser: (u) => u.endsWith(":hs.example") && parseMatrixGhost(u, ghostOpts) === undefined,
  typingBefore: [],
  key: "txn1:0",
  now: 1_700_000_000_000,
  ...extra,
});

test("MIMI-MATRIX-29 m.typing: typing on and off per local user, ghosts and remote users left out", () => {
  const r = platformEventsFromEphemeral({ type: "m.typing", room_id: ROOM, content: { user_ids: [ALICE, BOB_GHOST, "@carol:other.example", "@dan:hs.example", 5] } }, ectx({ typingBefore: ["@dan:hs.example", "@erin:hs.example"] }));
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.typing, [ALICE, "@dan:hs.example"]);
  assert.deepEqual(r.events, [
    { type: "typing", platformEventId: `typing:txn1:0:${ALICE}:on`, sender: ALICE, room: ROOM, active: true, timestamp: 1_700_000_000_000 },
    { type: "typing", platformEventId: "typing:txn1:0:@erin:hs.example:off", sender: "@erin:hs.example", room: ROOM, active: false, timestamp: 1_700_000_000_000 },
  ]);
  refused(platformEventsFromEphemeral({ type: "m.typing", content: { user_ids: "x" } }, ectx()), /user_ids/);
});

test("MIMI-MATRIX-29 m.receipt: public read receipts of local users become receipt.read", () => {
  const r = platformEventsFromEphemeral(
    {
      type: "m.receipt",
      room_id: ROOM,
      content: {
        $e1: { "m.read": { [ALICE]: { ts: 1_700_000_000_123 }, [BOB_GHOST]: { ts: 1 } }, "m.read.private": { "@dan:hs.example": { ts: 2 } } },
        $e2: { "m.read": { "@dan:hs.example": {} } },
        "not-an-event": { "m.read": { [ALICE]: { ts: 3 } } },
        $e3: "garbage",
      },
    },
    ectx(),
  );
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.events, [
    { type: "receipt.read", platformEventId: `receipt:${ALICE}:$e1`, sender: ALICE, room: ROOM, target: "$e1", timestamp: 1_700_000_000_123 },
    { type: "receipt.read", platformEventId: "receipt:@dan:hs.example:$e2", sender: "@dan:hs.example", room: ROOM, target: "$e2", timestamp: 1_700_000_000_000 },
  ]);
  const many: Record<string, unknown> = {};
  for (let i = 0; i < 1001; i++) many[`$e${i}`] = { "m.read": { [ALICE]: { ts: i } } };
  refused(platformEventsFromEphemeral({ type: "m.receipt", content: many }, ectx()), /more than 1000/);
  refused(platformEventsFromEphemeral({ type: "m.receipt", content: "x" } as never, ectx()), /content is not an object/);
  const other = platformEventsFromEphemeral({ type: "m.presence", content: {} }, ectx());
  assert.deepEqual(other.events, []);
  assert.ok(other.ignored !== undefined);
});
