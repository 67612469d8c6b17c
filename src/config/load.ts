// Loading and validating configuration: YAML → Ajv (allErrors, defaults) → frozen Config.
// All problems are reported at once, one line each, as `path: message`.
import { readFile } from "node:fs/promises";
import { Ajv, type ErrorObject } from "ajv";
import { parseDocument } from "yaml";
import { MimiError } from "../errors.ts";
import { ConfigSchema, type Config } from "./schema.ts";

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictTypes: false, allowUnionTypes: true, verbose: true });
const validate = ajv.compile<Config>(ConfigSchema);

/** One validation problem: a dotted path into the config and what is wrong there. */
export interface ConfigProblem {
  path: string;
  message: string;
}

function joinPath(base: string, key: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (base ? `${base}.${key}` : key) : `${base}[${JSON.stringify(key)}]`;
}

function toPath(pointer: string): string {
  let out = "";
  for (const raw of pointer.split("/").slice(1)) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    out = /^\d+$/.test(key) ? `${out}[${key}]` : joinPath(out, key);
  }
  return out;
}

function describe(err: ErrorObject): ConfigProblem {
  const path = toPath(err.instancePath);
  switch (err.keyword) {
    case "additionalProperties": {
      const extra = String((err.params as { additionalProperty: string }).additionalProperty);
      return { path: joinPath(path, extra), message: "unknown setting" };
    }
    case "required": {
      const missing = String((err.params as { missingProperty: string }).missingProperty);
      return { path: joinPath(path, missing), message: "is required" };
    }
    case "pattern": {
      const description = (err.parentSchema as { description?: string } | undefined)?.description;
      return { path: path || "(root)", message: description ? `must be ${description}` : "has the wrong format" };
    }
    case "enum":
    case "const": {
      return { path: path || "(root)", message: err.message ?? "has a value that is not allowed" };
    }
    default:
      return { path: path || "(root)", message: err.message ?? "is invalid" };
  }
}

/** Turns Ajv's errors into one problem per path; union branches collapse into "must be one of". */
function problemsFrom(errors: ErrorObject[]): ConfigProblem[] {
  const byPath = new Map<string, ConfigProblem>();
  const unionPaths = new Set(errors.filter((e) => e.keyword === "anyOf").map((e) => e.instancePath));
  for (const err of errors) {
    if (err.keyword === "anyOf") continue;
    if (unionPaths.has(err.instancePath) && (err.keyword === "const" || err.keyword === "type")) {
      const allowed = errors
        .filter((e) => e.instancePath === err.instancePath && e.keyword === "const")
        .map((e) => JSON.stringify((e.params as { allowedValue: unknown }).allowedValue));
      const path = toPath(err.instancePath) || "(root)";
      byPath.set(path, { path, message: allowed.length ? `must be one of ${allowed.join(", ")}` : "has the wrong type" });
      continue;
    }
    const p = describe(err);
    if (!byPath.has(p.path)) byPath.set(p.path, p);
  }
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * Validates a parsed configuration object (e.g. from YAML). Returns the config with defaults
 * applied, deeply frozen; throws MIMI_ERR_CONFIG_INVALID listing every problem.
 */
export function validateConfig(input: unknown, source = "configuration"): Config {
  const data: unknown = structuredClone(input ?? {});
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", `${source}: the top level must be a mapping`, {
      details: { problems: [{ path: "(root)", message: "must be a mapping" }] },
    });
  }
  if (!validate(data)) {
    const problems = problemsFrom(validate.errors ?? []);
    const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join("\n");
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", `${source} has ${problems.length} problem(s):\n${lines}`, { details: { problems } });
  }
  return deepFreeze(data);
}

/** Parses YAML text; syntax errors are MIMI_ERR_CONFIG_PARSE with line and column. */
export function parseConfigText(text: string, source = "configuration"): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => ({
      path: e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : "(document)",
      message: e.message.split("\n")[0] ?? e.message,
    }));
    const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join("\n");
    throw new MimiError("MIMI_ERR_CONFIG_PARSE", `${source} is not valid YAML:\n${lines}`, { details: { problems }, cause: doc.errors[0] });
  }
  return validateConfig(doc.toJS({ maxAliasCount: 100 }), source);
}

export async function loadConfigFile(path: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MimiError(code === "ENOENT" ? "MIMI_ERR_CONFIG_NOT_FOUND" : "MIMI_ERR_CONFIG_PARSE", `cannot read configuration ${path}: ${code ?? String(err)}`, { cause: err, details: { path } });
  }
  return parseConfigText(text, path);
}

/** The configuration used when no file is given: every default. */
export function defaultConfig(): Config {
  return validateConfig({}, "defaults");
}
