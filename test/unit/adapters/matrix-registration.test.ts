// MIMI-MATRIX-01: the application service registration (Matrix Application Service API,
// "Registration"): fresh random tokens, exclusive ghost and alias namespaces that cover exactly
// the ghosts the adapter makes, ephemeral events on; placeholders (the committed template among
// them) and files others can read are refused, and no error ever carries a token.
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  generateRegistration,
  inExclusiveUserNamespace,
  loadRegistration,
  parseRegistration,
  registrationYaml,
  writeRegistrationFile,
  type GenerateRegistrationOptions,
  type MatrixRegistration,
} from "../../../adapters/matrix/registration.ts";
import { isMimiError } from "../../../src/errors.ts";
import { matrixGhostFor } from "../../../src/ids/index.ts";

const committed = new URL("../../../registration.yaml", import.meta.url);
const opts: GenerateRegistrationOptions = { url: "http://127.0.0.1:29330", domain: "hs.example", ghostPrefix: "_mimi_", botLocalpart: "mimi-bridge" };

function matches(regex: string, s: string): boolean {
  // Synapse: Python re.match (anchored at the start).
  const m = new RegExp(regex).exec(s);
  return m !== null && m.index === 0;
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "matrix-reg-"));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test("MIMI-MATRIX-01: generateRegistration makes fresh 32-byte hex tokens, different every time and from each other", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const reg = generateRegistration(opts);
    assert.match(reg.as_token, /^[0-9a-f]{64}$/);
    assert.match(reg.hs_token, /^[0-9a-f]{64}$/);
    assert.notEqual(reg.as_token, reg.hs_token);
    assert.ok(!seen.has(reg.as_token) && !seen.has(reg.hs_token));
    seen.add(reg.as_token);
    seen.add(reg.hs_token);
  }
});

test("MIMI-MATRIX-01: the registration's fields: id, url, bot, exclusive namespaces, rate limits off, ephemeral events (stable and MSC2409 names)", () => {
  const reg = generateRegistration(opts);
  assert.equal(reg.id, "mimi-bridge");
  assert.equal(generateRegistration({ ...opts, id: "mimi-2" }).id, "mimi-2");
  assert.equal(reg.url, "http://127.0.0.1:29330");
  assert.equal(reg.sender_localpart, "mimi-bridge");
  assert.equal(reg.rate_limited, false);
  assert.equal(reg.receive_ephemeral, true);
  assert.equal(reg["de.sorunome.msc2409.push_ephemeral"], true);
  assert.deepEqual(reg.namespaces.users, [{ exclusive: true, regex: "^@_mimi_.*:hs\\.example$" }]);
  assert.deepEqual(reg.namespaces.aliases, [{ exclusive: true, regex: "^#_mimi_.*:hs\\.example$" }]);
  assert.deepEqual(reg.namespaces.rooms, []);
});

test("MIMI-MATRIX-01: the users namespace covers every ghost matrixGhostFor makes, and nothing else of ours", () => {
  for (const domain of ["hs.example", "localhost:8448", "127.0.0.1:8008"]) {
    for (const ghostPrefix of ["_mimi_", "mimi.", "x+y_"]) {
      const reg = generateRegistration({ ...opts, domain, ghostPrefix });
      const users = reg.namespaces.users[0]?.regex ?? "";
      for (const uri of ["mimi://b.example/u/alice", "mimi://c.example/u/Bob_Smith", "mimi://xn--bcher-kva.example/u/jürgen", "mimi://d.example/u/a.b-c=d"]) {
        const ghost = matrixGhostFor(uri, { serverName: domain, prefix: ghostPrefix });
        assert.ok(matches(users, ghost), `${ghost} in ${users}`);
        assert.ok(inExclusiveUserNamespace(reg, ghost));
      }
      for (const other of [`@alice:${domain}`, `@mimi-bridge:${domain}`, `@${ghostPrefix}x:${domain}.evil`, `@${ghostPrefix}x:other.example`, `@a${ghostPrefix}x:${domain}`]) {
        assert.ok(!matches(users, other), `${other} not in ${users}`);
      }
      assert.ok(matches(reg.namespaces.aliases[0]?.regex ?? "", `#${ghostPrefix}room:${domain}`));
      assert.ok(!matches(reg.namespaces.aliases[0]?.regex ?? "", `#room:${domain}`));
    }
  }
});

test("MIMI-MATRIX-01: generateRegistration refuses bad prefixes, a bot inside the ghost namespace, bad URLs and domains", () => {
  const bad = (o: Partial<GenerateRegistrationOptions>) =>
    assert.throws(
      () => generateRegistration({ ...opts, ...o }),
      (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_INVALID"),
    );
  bad({ ghostPrefix: "Mimi" });
  bad({ ghostPrefix: "" });
  bad({ botLocalpart: "_mimi_bot" });
  bad({ botLocalpart: "Bot" });
  bad({ url: "ftp://x" });
  bad({ domain: "hs example" });
});

test("MIMI-MATRIX-01: registrationYaml has a header comment and parses back to the same registration", () => {
  const reg = generateRegistration(opts);
  const text = registrationYaml(reg);
  assert.match(text, /^# Matrix application service registration for mimi-bridge/);
  assert.match(text, /app_service_config_files/);
  assert.match(text, /mode 0600/);
  const back: MatrixRegistration = parseRegistration(text);
  assert.deepEqual(back, reg);
});

test("MIMI-MATRIX-01: the committed registration.yaml (a template) is refused for its placeholders, without echoing them", async () => {
  const text = await readFile(committed, "utf8");
  assert.match(text, /PLACEHOLDER/);
  const check = (err: unknown) =>
    isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_PLACEHOLDER") && !err.message.includes("PLACEHOLDER_AS_TOKEN") && !err.message.includes("PLACEHOLDER_HS_TOKEN");
  assert.throws(() => parseRegistration(text), check);
  assert.throws(() => loadRegistration(committed.pathname), check);
  // Even with mode 0600 (placeholders are checked whatever the mode).
  await withDir(async (dir) => {
    const copy = join(dir, "registration.yaml");
    await writeFile(copy, text, { mode: 0o600 });
    assert.throws(() => loadRegistration(copy), check);
  });
});

test("MIMI-MATRIX-01: placeholder and too-short tokens are refused; the message names the field, never the value", () => {
  const good = generateRegistration(opts);
  const cases: [string, string][] = [
    ["as_token", "CHANGE_ME_0123456789abcdef0123456789abcdef"],
    ["hs_token", "replace-me-0123456789abcdef0123456789abcdef"],
    ["hs_token", "Placeholder0123456789abcdef0123456789abcdef"],
    ["as_token", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d"], // 31 characters: not a generated token
    ["hs_token", ""],
  ];
  for (const [field, value] of cases) {
    const text = registrationYaml({ ...good, [field]: value });
    assert.throws(
      () => parseRegistration(text),
      (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_PLACEHOLDER") && err.message.includes(field) && (value === "" || !err.message.includes(value)),
      `${field}=${value}`,
    );
  }
  // A placeholder in another field too.
  assert.throws(() => parseRegistration(registrationYaml({ ...good, id: "CHANGE-ME" })), (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_PLACEHOLDER"));
});

test("MIMI-MATRIX-01: malformed registrations are refused with MIMI_ERR_MATRIX_REGISTRATION_INVALID and no token in the message", () => {
  const good = generateRegistration(opts);
  const invalid = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parseRegistration(text),
      (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_INVALID") && pattern.test(err.message) && !err.message.includes(good.as_token) && !err.message.includes(good.hs_token),
      pattern.source,
    );
  invalid(registrationYaml({ ...good, hs_token: good.as_token }), /must differ/);
  invalid(`as_token: ${good.as_token}\nhs_token: ${good.hs_token}\n  bad: [indent\n`, /not valid YAML/);
  invalid("- a list\n", /mapping/);
  invalid(registrationYaml({ ...good, sender_localpart: "Bad Bot" }), /sender_localpart/);
  invalid(registrationYaml({ ...good, url: "not a url" }), /url/);
  invalid(registrationYaml({ ...good, namespaces: undefined as unknown as MatrixRegistration["namespaces"] }), /namespaces/);
  invalid(registrationYaml({ ...good, namespaces: { ...good.namespaces, users: [{ regex: "(", exclusive: true }] } }), /regular expression/);
  invalid(registrationYaml({ ...good, namespaces: { ...good.namespaces, users: [{ regex: "@x.*" } as never] } }), /exclusive/);
  // url: null is allowed (no push), and unknown extra fields are ignored.
  assert.equal(parseRegistration(registrationYaml({ ...good, url: null })).url, null);
  assert.equal(parseRegistration(`${registrationYaml(good)}io.element.msc4190: true\n`).id, "mimi-bridge");
});

test("MIMI-MATRIX-01: loadRegistration wants mode 0600 or stricter; writeRegistrationFile writes 0600 and refuses to overwrite without force", async () => {
  await withDir(async (dir) => {
    const file = join(dir, "sub", "registration.yaml");
    const reg = generateRegistration(opts);
    await writeRegistrationFile(file, reg);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(loadRegistration(file), reg);
    await assert.rejects(writeRegistrationFile(file, generateRegistration(opts)), (err: unknown) => isMimiError(err, "MIMI_ERR_CLI_USAGE") && /--force/.test(err.message));
    assert.deepEqual(loadRegistration(file), reg, "unchanged");
    const fresh = generateRegistration(opts);
    await writeRegistrationFile(file, fresh, { force: true });
    assert.equal(loadRegistration(file).hs_token, fresh.hs_token);

    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o660]) {
      await chmod(file, mode);
      assert.throws(
        () => loadRegistration(file),
        (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_INSECURE") && /chmod 600/.test(err.message) && !err.message.includes(fresh.hs_token),
        mode.toString(8),
      );
    }
    await chmod(file, 0o400);
    assert.equal(loadRegistration(file).as_token, fresh.as_token);
    assert.throws(() => loadRegistration(join(dir, "missing.yaml")), (err: unknown) => isMimiError(err, "MIMI_ERR_MATRIX_REGISTRATION_INVALID") && /ENOENT/.test(err.message));
  });
});
