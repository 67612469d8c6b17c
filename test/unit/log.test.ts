import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { createLogger, REDACTED } from "../../src/log.ts";

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString("utf8"));
      cb();
    },
  });
  return { stream, lines: () => chunks.join("").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>) };
}

test("secrets are redacted at any depth, child bindings are kept", () => {
  const { stream, lines } = capture();
  const log = createLogger({ destination: stream, level: "info" });
  const child = log.child({ component: "matrix", roomId: "mimi://a.example/r/x" });
  child.info({ hs_token: "HS-SECRET", config: { adapters: { xmpp: { componentSecret: "XMPP-SECRET" } } }, req: { headers: { authorization: "Bearer TOKEN" } } }, "hello");
  const raw = JSON.stringify(lines());
  for (const secret of ["HS-SECRET", "XMPP-SECRET", "Bearer TOKEN"]) assert.ok(!raw.includes(secret), `${secret} leaked: ${raw}`);
  const [line] = lines();
  assert.ok(line);
  assert.equal(line.component, "matrix");
  assert.equal(line.roomId, "mimi://a.example/r/x");
  assert.equal(line.hs_token, REDACTED);
  assert.equal(line.level, "info");
});
