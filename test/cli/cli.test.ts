// The CLI, run in-process with captured input and output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { run } from "../../src/cli/main.ts";
import type { CliIo } from "../../src/cli/io.ts";
import { repoRoot, tempDir, vectorsDir } from "../helpers/processes.ts";

const contentDir = join(vectorsDir, "mimi-content");

interface Result {
  code: number;
  stdout: Buffer;
  stderr: string;
}

async function cli(args: string[], stdin: Buffer | string = ""): Promise<Result> {
  const out: Buffer[] = [];
  const err: string[] = [];
  const sink = (push: (b: Buffer) => void) =>
    new Writable({
      write(chunk: Buffer | string, _enc, cb) {
        push(Buffer.from(chunk));
        cb();
      },
    });
  const io: CliIo = {
    stdout: sink((b) => out.push(b)),
    stderr: sink((b) => err.push(b.toString("utf8"))),
    stdin: Readable.from([Buffer.from(stdin)]),
    env: {},
    cwd: repoRoot,
  };
  const code = await run(args, io);
  return { code, stdout: Buffer.concat(out), stderr: err.join("") };
}

function ednMessageId(edn: string): string {
  const m = /message ID = h'([0-9a-f]+)\s*\n#\s+([0-9a-f]+)'/.exec(edn);
  assert.ok(m, "no message ID in .edn header");
  return `${m[1]}${m[2]}`;
}

test("content inspect prints the message ID of the .edn header and roundTrip true (reply.cbor)", async () => {
  const res = await cli(["content", "inspect", join(contentDir, "reply.cbor")]);
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(res.stdout.toString("utf8")) as { messageId: string; roundTrip: boolean; content: { salt: string } };
  assert.equal(report.messageId, ednMessageId(await readFile(join(contentDir, "reply.edn"), "utf8")));
  assert.equal(report.roundTrip, true);
  assert.equal(report.content.salt, "11a458c73b8dd2cf404db4b378b8fe4d");
});

test("content inspect --formula -07 computes the draft -07 message ID", async () => {
  const res = await cli(["content", "inspect", "--formula", "-07", join(contentDir, "original.cbor")]);
  assert.equal(res.code, 0, res.stderr);
  const report = JSON.parse(res.stdout.toString("utf8")) as { messageId: string; formula: string };
  assert.equal(report.formula, "-07");
  // The -07 ID of original.cbor is the one the draft's -07 text (and implied-original.cbor) carries.
  assert.ok(report.messageId.startsWith("01b00844"), report.messageId);
});

test("content inspect: a truncated file exits 1 with a typed error; a missing file too", async () => {
  const tmp = await tempDir("cli");
  try {
    const bytes = await readFile(join(contentDir, "reply.cbor"));
    const truncated = join(tmp.path, "truncated.cbor");
    await writeFile(truncated, bytes.subarray(0, bytes.length - 7));
    const res = await cli(["content", "inspect", truncated]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^mimi-bridge: MIMI_ERR_CONTENT_CBOR_MALFORMED: /);
    assert.equal(res.stdout.length, 0);

    const missing = await cli(["content", "inspect", join(tmp.path, "nope.cbor")]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /MIMI_ERR_FILE_NOT_FOUND/);
  } finally {
    await tmp.remove();
  }
});

test("content encode turns inspect's JSON back into the identical CBOR, for every vector", async () => {
  const names = (await readdir(contentDir)).filter((n) => n.endsWith(".cbor") && !n.startsWith("implied"));
  assert.ok(names.length >= 14, `expected the 14 content vectors, found ${names.length}`);
  for (const name of names) {
    const original = await readFile(join(contentDir, name));
    const inspected = await cli(["content", "inspect", join(contentDir, name)]);
    assert.equal(inspected.code, 0, `${name}: ${inspected.stderr}`);
    const json = JSON.stringify((JSON.parse(inspected.stdout.toString("utf8")) as { content: unknown }).content);
    const encoded = await cli(["content", "encode"], json);
    assert.equal(encoded.code, 0, `${name}: ${encoded.stderr}`);
    assert.ok(encoded.stdout.equals(original), `${name}: re-encoded bytes differ`);
    const hex = await cli(["content", "encode", "--hex"], json);
    assert.equal(hex.stdout.toString("utf8").trim(), original.toString("hex"));
  }
});

test("content encode rejects invalid JSON with a path", async () => {
  const res = await cli(["content", "encode"], JSON.stringify({ salt: "zz" }));
  assert.equal(res.code, 1);
  assert.match(res.stderr, /MIMI_ERR_CONTENT_(JSON_INVALID|BAD_SALT)/);
  const notJson = await cli(["content", "encode"], "{nope");
  assert.equal(notJson.code, 1);
  assert.match(notJson.stderr, /MIMI_ERR_CONTENT_JSON_INVALID/);
});

test("config check: the sample is ok; a bad file lists every problem and exits 1", async () => {
  const ok = await cli(["config", "check", "config.sample.yaml"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout.toString("utf8"), /config\.sample\.yaml: ok/);
  const tmp = await tempDir("cli-config");
  try {
    const bad = join(tmp.path, "bad.yaml");
    await writeFile(bad, "server:\n  port: abc\nstorage:\n  kind: redis\n");
    const res = await cli(["config", "check", bad]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /MIMI_ERR_CONFIG_INVALID/);
    assert.match(res.stderr, /server\.port: must be integer/);
    assert.match(res.stderr, /storage\.kind: must be one of "level", "memory"/);
  } finally {
    await tmp.remove();
  }
  const sample = await cli(["config", "sample"]);
  assert.equal(sample.stdout.toString("utf8"), await readFile(join(repoRoot, "config.sample.yaml"), "utf8"));
});

test("--help works on every command and wrong use exits 2", async () => {
  for (const args of [["--help"], ["serve", "--help"], ["config", "--help"], ["config", "check", "--help"], ["config", "sample", "--help"], ["content", "--help"], ["content", "inspect", "--help"], ["content", "encode", "--help"]]) {
    const res = await cli(args);
    assert.equal(res.code, 0, args.join(" "));
    assert.match(res.stdout.toString("utf8"), /^Usage: mimi-bridge/m, args.join(" "));
  }
  assert.equal((await cli(["frobnicate"])).code, 2);
  assert.equal((await cli(["content", "inspect"])).code, 2);
  assert.equal((await cli(["content", "inspect", "--formula", "-06", "x.cbor"])).code, 2);
  const version = await cli(["--version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout.toString("utf8"), /^\d+\.\d+\.\d+/);
});
