// `npx mimi-bridge demo --json`, as the acceptance of the protocol issue states it: three
// provider processes, mutual TLS, the scripted scenario, exactly-once delivery, no plaintext at
// the hub, and the operations that must fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot, runProcess, systemNode } from "../helpers/processes.ts";

test("MIMI-E2E-01 demo --json: every message delivered once, no plaintext at the hub, refusals as expected", async () => {
  const res = await runProcess(systemNode(), [join(repoRoot, "bin", "mimi-bridge.mjs"), "demo", "--json"]);
  assert.equal(res.code, 0, `demo failed:\n${res.stdout.toString("utf8").slice(-4000)}\n${res.stderr.slice(-4000)}`);
  const out = JSON.parse(res.stdout.toString("utf8")) as {
    ok: boolean;
    providers: { domain: string; role: string }[];
    messagesSent: number;
    messagesDelivered: number;
    duplicatesDelivered: number;
    plaintextFoundAtHub: boolean;
    rejectedAsExpected: string[];
    unexpected: string[];
  };
  assert.deepEqual(out.providers.map((p) => [p.domain, p.role]), [["a.example", "hub"], ["b.example", "follower"], ["c.example", "follower"]]);
  assert.ok(out.messagesSent >= 8, `only ${out.messagesSent} messages sent`);
  assert.equal(out.messagesDelivered, out.messagesSent);
  assert.equal(out.duplicatesDelivered, 0);
  assert.equal(out.plaintextFoundAtHub, false);
  assert.equal(out.rejectedAsExpected.length, 2, out.rejectedAsExpected.join("; "));
  assert.deepEqual(out.unexpected, []);
  assert.equal(out.ok, true);
});
