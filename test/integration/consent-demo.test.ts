// `npx mimi-bridge demo --json --consent-policy none|keypackages|quarantine`, as issue 4's
// acceptance states it: the demo scenario under each policy, with a `consent` object saying what
// the targets' providers held and showed before the grant, what was delivered after it and what
// was dropped on revoke.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ConsentDemoResult } from "../../src/demo/consentDemo.ts";
import { repoRoot, runProcess, systemNode } from "../helpers/processes.ts";

for (const policy of ["none", "keypackages", "quarantine"] as const) {
  test(`MIMI-PROTO-CONSENT-20/21/22 demo --json --consent-policy ${policy}: the scenario passes and the consent object tells what was held, shown, delivered and dropped`, async () => {
    const res = await runProcess(systemNode(), [join(repoRoot, "bin", "mimi-bridge.mjs"), "demo", "--json", "--consent-policy", policy]);
    assert.equal(res.code, 0, `demo failed:\n${res.stdout.toString("utf8").slice(-4000)}\n${res.stderr.slice(-4000)}`);
    const out = JSON.parse(res.stdout.toString("utf8")) as { ok: boolean; messagesSent: number; messagesDelivered: number; unexpected: string[]; consent: ConsentDemoResult };
    assert.equal(out.ok, true);
    assert.deepEqual(out.unexpected, []);
    assert.equal(out.messagesDelivered, out.messagesSent, "the main scenario runs once both targets consented");
    const c = out.consent;
    assert.equal(c.policy, policy);
    assert.deepEqual(c.problems, []);
    assert.equal(c.requester.requestReceived, true);
    const held = (who: "bob" | "carol") => c.beforeGrant[who].held.reduce((n, h) => n + (h.count ?? 0), 0);
    const dropped = (who: "bob" | "carol") => c.beforeGrant[who].held.reduce((n, h) => n + (h.dropped ?? 0), 0);
    assert.equal(c.beforeGrant.bob.messagesShown, 0, "nothing shown before the grant");
    assert.equal(c.beforeGrant.carol.messagesShown, 0);
    assert.equal(c.shownToCarolAfterRevoke, 0);
    assert.ok(c.beforeGrant.bob.pendingRequests >= 1, "the target sees the request");
    if (policy === "none") {
      assert.match(c.requester.addBeforeConsent, /^refused: MIMI_ERR_CONSENT_REQUIRED \(noConsent\)$/);
      assert.deepEqual([held("bob"), held("carol")], [0, 0], "nothing reached the targets' providers");
      assert.deepEqual(c.deliveredAfterGrant, ["after consent"]);
      assert.equal(c.droppedOnRevoke, 0);
    } else {
      assert.equal(c.requester.addBeforeConsent, "accepted");
      assert.equal(c.beforeGrant.carol.held[0]?.policy, policy);
      if (policy === "keypackages") {
        assert.deepEqual([held("carol"), dropped("carol")], [1, 2], "the Welcome held, the two messages dropped");
        assert.deepEqual(c.deliveredAfterGrant, ["after consent"]);
        assert.equal(c.droppedOnRevoke, 1);
      } else {
        assert.deepEqual([held("carol"), dropped("carol")], [3, 0], "the Welcome and both messages held");
        assert.deepEqual(c.deliveredAfterGrant, ["before consent 1", "before consent 2", "after consent"], "held messages delivered in order");
        assert.equal(c.droppedOnRevoke, 3);
      }
    }
  });
}
