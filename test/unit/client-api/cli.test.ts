// `mimi-bridge client …` without a provider: --help everywhere, usage errors, event formatting.
// (The commands against a real provider run in test/integration/client.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { run } from "../../../src/cli/main.ts";
import type { CliIo } from "../../../src/cli/io.ts";
import { eventJson, formatEvent } from "../../../src/cli/commands/client.ts";
import { buildMessage } from "../../../src/client-api/sdk/index.ts";
import type { MimiEvent } from "../../../src/client-api/sdk/index.ts";
import { tempDir } from "../../helpers/processes.ts";

async function cli(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const sink = (a: string[]) =>
    new Writable({
      write(chunk: Buffer | string, _e, cb) {
        a.push(String(chunk));
        cb();
      },
    });
  const io: CliIo = { stdout: sink(out), stderr: sink(err), stdin: Readable.from([]), env: {}, cwd };
  const code = await run(args, io);
  return { code, stdout: out.join(""), stderr: err.join("") };
}

const COMMANDS = ["register", "login", "whoami", "rooms", "create", "invite", "send", "reply", "edit", "react", "unreact", "delete", "leave", "remove", "ban", "role", "rename", "add-device", "join", "listen", "sync"];

test("client --help lists every command, and every command has --help with --state and --json", async () => {
  const top = await cli(["client", "--help"], process.cwd());
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(top.stdout, new RegExp(`\\n  ${c}\\b`), c);
  for (const c of COMMANDS) {
    const r = await cli(["client", c, "--help"], process.cwd());
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, new RegExp(`Usage: mimi-bridge client ${c}`), c);
    assert.match(r.stdout, /--state <dir>/, c);
    assert.match(r.stdout, /--json/, c);
  }
});

test("client commands without a registered state fail with MIMI_ERR_SDK_NOT_REGISTERED and create nothing; bad options are usage errors", async () => {
  const tmp = await tempDir("cli-client");
  try {
    const r = await cli(["client", "send", "mimi://a.example/r/x", "hi", "--state", "nowhere"], tmp.path);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /MIMI_ERR_SDK_NOT_REGISTERED/);
    assert.ok(!existsSync(join(tmp.path, "nowhere")));
    assert.equal((await cli(["client", "create", "--kind", "bogus"], tmp.path)).code, 2);
    assert.equal((await cli(["client", "register", "--user", "x"], tmp.path)).code, 2, "--api is required");
    const login = await cli(["client", "login", "--api", "http://127.0.0.1:9"], tmp.path);
    assert.equal(login.code, 1);
    assert.match(login.stderr, /MIMI_ERR_CLI_USAGE/);
  } finally {
    await tmp.remove();
  }
});

test("events print as one line of text, or one JSON object with the content in its JSON form", () => {
  const ROOM = "mimi://a.example/r/x";
  const built = buildMessage({ senderUri: "mimi://a.example/u/alice", roomUri: ROOM }, { kind: "text", text: "hello" });
  const msg: MimiEvent = {
    type: "message",
    roomId: ROOM,
    messageId: built.messageId,
    sender: { user: "mimi://a.example/u/alice", client: "mimi://a.example/d/alice/1" },
    timestamp: 1_764_150_000_000,
    content: built.content,
    kind: "text",
    text: "hello",
  };
  assert.equal(formatEvent(msg), `2025-11-26T09:40:00.000Z ${ROOM} mimi://a.example/u/alice [${built.messageId.slice(0, 12)}]: hello`);
  const json = JSON.parse(JSON.stringify(eventJson(msg))) as { content: { nestedPart: { content: string } }; text: string };
  assert.equal(json.text, "hello");
  assert.equal(json.content.nestedPart.content, Buffer.from("hello").toString("hex"));
  assert.match(formatEvent({ type: "participantBanned", roomId: ROOM, user: "mimi://a.example/u/eve", timestamp: 0, by: "mimi://a.example/u/alice" }), /eve banned by mimi:\/\/a\.example\/u\/alice$/);
  assert.match(formatEvent({ type: "left", roomId: ROOM, reason: "removed", timestamp: 0 }), /removed from the room$/);
  assert.match(formatEvent({ ...msg, kind: "reaction", text: "\u{1F44D}", reaction: "\u{1F44D}", inReplyTo: "01".repeat(32) }), /reacted \u{1F44D} to 010101010101$/u);
});
