// docs/policy.md shows the presets as tables; this test renders them from the presets and checks
// that the document still says the same thing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { CAPABILITY_NAMES, capabilityValue, directPreset, groupPreset, moderatedChannelPreset } from "../../../src/policy/index.ts";
import type { PolicyPreset } from "../../../src/policy/index.ts";

function render(p: PolicyPreset): string {
  const roles = p.policy.roleData.roles;
  const head = `| capability | ${roles.map((r) => `${r.roleIndex} ${r.roleName}`).join(" | ")} |`;
  const rule = `|---|${roles.map(() => ":-:").join("|")}|`;
  const rows = CAPABILITY_NAMES.filter((name) => roles.some((r) => r.roleCapabilities.includes(capabilityValue(name)))).map(
    (name) => `| ${name} | ${roles.map((r) => (r.roleCapabilities.includes(capabilityValue(name)) ? "✓" : "")).join(" | ")} |`,
  );
  const limits = [
    "| role | min participants | max participants | min active | max active | authorized_role_changes |",
    "|---|---|---|---|---|---|",
    ...roles.map((r) => {
      const max = (v: number | undefined): string => (v === undefined ? "–" : String(v));
      const changes = r.authorizedRoleChanges.map((c) => `(${c.fromRoleIndex},[${c.targetRoleIndexes.join(",")}])`).join(" ") || "–";
      return `| ${r.roleIndex} ${r.roleName} | ${r.minimumParticipantsConstraint} | ${max(r.maximumParticipantsConstraint)} | ${r.minimumActiveParticipantsConstraint} | ${max(r.maximumActiveParticipantsConstraint)} | ${changes} |`;
    }),
  ];
  return [head, rule, ...rows, "", ...limits].join("\n");
}

test("docs/policy.md shows the presets exactly as src/policy/presets.ts defines them", () => {
  const doc = readFileSync(new URL("../../../docs/policy.md", import.meta.url), "utf8");
  const presets = [directPreset(), groupPreset(), moderatedChannelPreset()];
  if (process.env["POLICY_DOCS_PRINT"] === "1") for (const p of presets) console.log(`\n<!-- ${p.kind} -->\n${render(p)}\n<!-- end -->`);
  for (const p of presets) {
    assert.ok(doc.includes(render(p)), `docs/policy.md does not contain the current ${p.kind} table; run with POLICY_DOCS_PRINT=1 to print it`);
  }
});
