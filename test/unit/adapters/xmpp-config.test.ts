// The `adapters.xmpp` section: the sample's example validates, and the component secret is never
// a placeholder and never sits in a file others can read.
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { resolveXmppConfig, type XmppConfigInput } from "../../../adapters/xmpp/config.ts";
import { parseConfigText } from "../../../src/config/index.ts";
import { isMimiError } from "../../../src/errors.ts";

const samplePath = new URL("../../../config.sample.yaml", import.meta.url);
const base = { service: "xmpp://127.0.0.1:5347", componentDomain: "mimi.xmpp.example", domain: "xmpp.example" } as const;

function refuses(input: XmppConfigInput, pattern: RegExp): void {
  assert.throws(
    () => resolveXmppConfig(input),
    (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID") && pattern.test(err.message),
  );
}

test("the sample's commented-out adapters.xmpp example validates when uncommented", async () => {
  const text = await readFile(samplePath, "utf8");
  const uncommented = text.replace(/^adapters: \{\}\n((?:# {2}.*\n)+)/m, (_m, body: string) => `adapters:\n${body.replace(/^# {2}/gm, "  ")}`);
  assert.notEqual(uncommented, text);
  const cfg = parseConfigText(uncommented);
  const xmpp = (cfg.adapters as { xmpp?: Record<string, unknown> }).xmpp;
  assert.equal(xmpp?.["componentDomain"], "mimi.xmpp.example");
  assert.equal(xmpp?.["componentSecretFile"], "/etc/mimi-bridge/xmpp-component.secret");
});

test("the component secret: exactly one of componentSecret and componentSecretFile", () => {
  refuses({ ...base }, /exactly one/);
  refuses({ ...base, componentSecret: "a-real-secret-1234", componentSecretFile: "/x" }, /exactly one/);
  assert.equal(resolveXmppConfig({ ...base, componentSecret: "a-real-secret-1234" }).componentSecret, "a-real-secret-1234");
});

test("placeholder component secrets are refused, and the error does not echo the value", () => {
  for (const s of ["PLACEHOLDER_SECRET", "change-me", "REPLACE_ME_PLEASE", "secret", "password"]) {
    assert.throws(
      () => resolveXmppConfig({ ...base, componentSecret: s }),
      (err: unknown) => isMimiError(err, "MIMI_ERR_CONFIG_INVALID") && /placeholder/.test(err.message),
    );
  }
  // The value itself never appears (checked with one that is not an English word).
  assert.throws(() => resolveXmppConfig({ ...base, componentSecret: "Xq-CHANGEME-7" }), (err: unknown) => isMimiError(err) && !err.message.includes("Xq-CHANGEME-7"));
});

test("componentSecretFile: read and trimmed when mode 0600; refused when group or others can read it, empty or missing", async () => {
  const dir = await mkdtemp(join(tmpdir(), "xmpp-secret-"));
  try {
    const file = join(dir, "secret");
    await writeFile(file, "  0123456789abcdef\n", { mode: 0o600 });
    assert.equal(resolveXmppConfig({ ...base, componentSecretFile: file }).componentSecret, "0123456789abcdef");
    await chmod(file, 0o644);
    refuses({ ...base, componentSecretFile: file }, /must not be readable by group or others/);
    await writeFile(join(dir, "empty"), "\n", { mode: 0o600 });
    refuses({ ...base, componentSecretFile: join(dir, "empty") }, /is empty/);
    refuses({ ...base, componentSecretFile: join(dir, "missing") }, /cannot read/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
