// Acceptance: the hub never sees plaintext (MIMI-E2E-01). Three providers as SEPARATE PROCESSES
// (startProcessNetwork, LevelDB stores, debug logging); a room hosted on a.example with users on
// b.example and c.example (and the creator on a.example) who exchange distinctive texts, with
// replies, edits, a reaction and a markdown message. Then a.example is stopped and everything it
// kept is searched for every plaintext, in UTF-8 and in base64 (each alignment) and hex:
//   - every file of its data folder, raw bytes, as it left them;
//   - every key and value of every namespace of its Store (LevelDB compresses table files, so the
//     decoded store is searched too);
//   - its log file.
// Controls: the room ID (not secret) IS found by each scan, so the scans do look at the data.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { startProcessNetwork, type ProcessNetwork } from "../../src/demo/processNetwork.ts";
import { openStore } from "../../src/storage/index.ts";
import { findings } from "../helpers/plaintext.ts";
import { tempDir } from "../helpers/processes.ts";
import { closeAll, collect, testClient, waitForEvent, waitForMessage, type TestClient } from "../helpers/acceptance.ts";

const DOMAINS = ["a.example", "b.example", "c.example"] as const;

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(join(entry.parentPath, entry.name));
  }
  return out;
}

test("MIMI-E2E-01 the hub never sees plaintext: after a conversation between users on b.example and c.example in a room on a.example, no plaintext is in a.example's data folder, store or log", async () => {
  const tmp = await tempDir("acc-e2e");
  let net: ProcessNetwork | undefined;
  const clients: TestClient[] = [];
  try {
    net = await startProcessNetwork({ domains: DOMAINS, dir: tmp.path, logLevel: "debug" });
    const A = net.providers["a.example"]!;
    const B = net.providers["b.example"]!;
    const C = net.providers["c.example"]!;
    const alice = await testClient(A.clientApiUrl);
    const bob = await testClient(B.clientApiUrl);
    const carol = await testClient(C.clientApiUrl);
    clients.push(alice, bob, carol);
    await alice.client.register("alice");
    const b = await bob.client.register("bob");
    const c = await carol.client.register("carol");
    for (const x of clients) collect(x);

    const roomId = await alice.client.createRoom("group", { participants: [b.userUri, c.userUri] });
    await waitForEvent(bob, (e) => e.type === "joined" && e.roomId === roomId, "bob joined");
    await waitForEvent(carol, (e) => e.type === "joined" && e.roomId === roomId, "carol joined");
    assert.equal((await bob.client.room(roomId)).members.length, 3, "bob's group has alice, bob and carol");

    // ---- the conversation: every text is distinctive (a random tag) --------------------------------
    const tag = randomBytes(6).toString("hex");
    const t = (s: string) => `${s} [${tag}]`;
    const secrets: string[] = [];
    const say = <T>(text: string, p: (text: string) => Promise<T>) => {
      secrets.push(text);
      return p(text);
    };
    const m1 = await say(t("Bob to Carol: the vault code is under the blue lamp"), (x) => bob.client.send(roomId, x));
    await waitForMessage(carol, m1, "carol gets bob's message");
    const m2 = await say(t("Carol replies: thanks, I will fetch the ledger tonight"), (x) => carol.client.reply(roomId, m1, x));
    await waitForMessage(bob, m2, "bob gets carol's reply");
    const m3 = await say(t("Bob, edited: the vault code is under the green lamp"), (x) => bob.client.edit(roomId, m1, x));
    await waitForMessage(carol, m3, "carol gets bob's edit");
    const m4 = await say(t("unicorn-reaction"), (x) => carol.client.react(roomId, m3, x));
    await waitForMessage(bob, m4, "bob gets carol's reaction");
    const m5 = await say(t("Carol, edited reply: thanks, I will fetch the ledger at dawn"), (x) => carol.client.edit(roomId, m2, x));
    await waitForMessage(bob, m5, "bob gets carol's edited reply");
    const m6 = await say(t("Bob in markdown: **meet at the old mill** at _nine_"), (x) => bob.client.send(roomId, x, { markdown: true }));
    await waitForMessage(carol, m6, "carol gets bob's markdown message");
    const m7 = await say(t("Carol replies to the plan: the mill it is, bring the map"), (x) => carol.client.reply(roomId, m6, x));
    await waitForMessage(bob, m7, "bob gets carol's second reply");
    const m8 = await say(t("Alice on the hub's own provider: I read everything and the hub did not"), (x) => alice.client.send(roomId, x));
    await waitForMessage(bob, m8, "bob gets alice's message");
    await waitForMessage(carol, m8, "carol gets alice's message");
    for (const id of [m1, m2, m3, m4, m5, m6, m7]) await waitForMessage(alice, id, "alice, on the hub's provider, gets everything too");

    await closeAll(clients);
    const stopped = await A.stop("SIGTERM");
    assert.deepEqual(stopped, { code: 0, signal: null }, "a.example stopped cleanly");

    // ---- 1. every file of the data folder, raw, as the hub left it -----------------------------------
    const files = await filesUnder(A.dataDir);
    assert.ok(files.some((f) => f.includes(join("level", ""))), "the data folder holds the LevelDB files");
    let fileHits: string[] = [];
    let roomIdInFiles = false;
    let bytesScanned = 0;
    for (const f of files) {
      const data = await readFile(f);
      bytesScanned += data.length;
      fileHits = fileHits.concat(findings(data, secrets, f));
      if (data.includes(Buffer.from(roomId, "utf8"))) roomIdInFiles = true;
    }
    assert.deepEqual(fileHits, [], "no plaintext in any file of a.example's data folder");
    assert.ok(roomIdInFiles, `control: the room ID is found in the raw files (${files.length} files, ${bytesScanned} bytes)`);

    // ---- 2. the log ------------------------------------------------------------------------------------
    const log = await readFile(A.logFile);
    assert.ok(log.length > 0);
    assert.deepEqual(findings(log, secrets, A.logFile), [], "no plaintext in a.example's log");
    assert.ok(log.includes(Buffer.from(roomId, "utf8")), "control: the room ID is in the log");
    assert.ok(log.includes(Buffer.from('"level":"debug"', "utf8")), "the log was written at debug level");

    // ---- 3. the store, decoded: every key and value of every namespace ---------------------------------
    const store = await openStore({ kind: "level", dataDir: A.dataDir });
    let storeHits: string[] = [];
    let roomIdInStore = 0;
    let entries = 0;
    const perNamespace: Record<string, number> = {};
    try {
      for (const ns of store.namespaces) {
        for await (const { key, value } of store.namespace(ns).iterate()) {
          entries += 1;
          perNamespace[ns] = (perNamespace[ns] ?? 0) + 1;
          storeHits = storeHits.concat(findings(Buffer.from(key, "utf8"), secrets, `${ns} key ${key}`), findings(value, secrets, `${ns}/${key}`));
          if (key.includes(roomId) || Buffer.from(value).includes(Buffer.from(roomId, "utf8"))) roomIdInStore += 1;
        }
      }
    } finally {
      await store.close();
    }
    assert.deepEqual(storeHits, [], "no plaintext in any key or value of a.example's store");
    assert.ok(roomIdInStore > 0, "control: the room ID is found in the store");
    assert.ok((perNamespace["rooms"] ?? 0) > 0 && (perNamespace["submissions"] ?? 0) > 0, `the hub's rooms and accepted submissions are in the scanned store: ${JSON.stringify(perNamespace)}`);

    // The scan would find plaintext if it were there: a store value holding one is flagged.
    assert.equal(findings(Buffer.from(`x${secrets[0]}y`, "utf8"), secrets, "probe").length, 1);
    assert.equal(findings(Buffer.from(`{"b":"${Buffer.from(`ab${secrets[2]}`).toString("base64")}"}`), secrets, "probe").length > 0, true);
    console.log(`acceptance-plaintext: ${secrets.length} texts, ${files.length} files (${bytesScanned} bytes), ${entries} store entries, log ${log.length} bytes: no plaintext`);

    // The other providers are still up; nothing else to check there (they are followers).
    assert.ok(B.running && C.running);
  } finally {
    await closeAll(clients);
    await net?.stop();
    await tmp.remove();
  }
});
