// The application service registration (Matrix Application Service API, "Registration"): the
// YAML file the homeserver and the bridge share. It names the bridge (`id`), where the homeserver
// pushes transactions (`url`), the two tokens (`as_token`: bridge → homeserver, `hs_token`:
// homeserver → bridge), the bot (`sender_localpart`) and the exclusive namespaces of ghosts and
// portal aliases.
//
// Tokens are secrets: they are generated fresh (32 random bytes, hex, like matrix-appservice's
// generateToken()), written with mode 0600, never logged and never put in an error message. The
// committed registration.yaml at the repository root is a template whose placeholder tokens the
// bridge refuses, so a copied sample can never become a working (guessable) registration.
import { randomBytes } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { chmod, mkdir, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { MimiError } from "../../src/adapter/index.ts";

export interface RegistrationNamespace {
  readonly regex: string;
  readonly exclusive: boolean;
}

/** The fields mimi-bridge writes and reads (matrix-appservice AppServiceOutput, mautrix-go Registration). */
export interface MatrixRegistration {
  readonly id: string;
  /** Where the homeserver pushes transactions; null: no push (the bridge then receives nothing). */
  readonly url: string | null;
  readonly as_token: string;
  readonly hs_token: string;
  readonly sender_localpart: string;
  readonly namespaces: {
    readonly users: readonly RegistrationNamespace[];
    readonly aliases: readonly RegistrationNamespace[];
    readonly rooms: readonly RegistrationNamespace[];
  };
  /** Absent means true to Synapse; a bridge sends for many users, so we write false (as mautrix does). */
  readonly rate_limited?: boolean;
  /** MSC2409 (stable name, Synapse ≥ 1.9x): typing, receipts and presence in transactions. */
  readonly receive_ephemeral?: boolean;
  /** MSC2409 unstable name, still the only one some homeservers and matrix-appservice read. */
  readonly "de.sorunome.msc2409.push_ephemeral"?: boolean;
  readonly protocols?: readonly string[] | null;
}

export interface GenerateRegistrationOptions {
  /** Unique per homeserver and never changed afterwards (the homeserver keys its AS state on it). */
  readonly id?: string;
  /** The bridge's transaction endpoint as the homeserver reaches it, e.g. http://127.0.0.1:29330. */
  readonly url: string;
  /** The homeserver's server_name. */
  readonly domain: string;
  readonly ghostPrefix: string;
  readonly botLocalpart: string;
}

export const DEFAULT_REGISTRATION_ID = "mimi-bridge";
/** Generated tokens are 64 hex digits; anything shorter than this is not one of ours. */
export const MIN_TOKEN_LENGTH = 32;

const LOCALPART = /^[a-z0-9._=\-/+]+$/;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;
// Values copied from a template. The committed registration.yaml uses PLACEHOLDER_…_REPLACE_ME.
const PLACEHOLDER = /placeholder|replace[-_ ]?me|change[-_ ]?me/i;

/** Escapes a literal for a namespace regex (Python `re` and JavaScript agree on these escapes). */
export function quoteRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** 32 random bytes as hex (matrix-appservice AppServiceRegistration.generateToken). */
export function generateToken(): string {
  return randomBytes(32).toString("hex");
}

/**
 * A fresh registration. The namespaces are anchored at both ends: Synapse matches with Python's
 * re.match (anchored at the start only), so without `$` `@_mimi_.*:hs\.example` would also claim
 * users of hs.example.org.
 */
export function generateRegistration(o: GenerateRegistrationOptions): MatrixRegistration {
  if (!LOCALPART.test(o.ghostPrefix)) throw invalid("ghostPrefix must be a Matrix localpart (a-z 0-9 . _ = - / +)");
  if (!LOCALPART.test(o.botLocalpart)) throw invalid("botLocalpart must be a Matrix localpart (a-z 0-9 . _ = - / +)");
  if (o.botLocalpart.startsWith(o.ghostPrefix)) throw invalid("botLocalpart must not start with ghostPrefix (the bot is not a ghost)");
  if (!/^https?:\/\/[^/?#\s]+/.test(o.url)) throw invalid("url must be an http(s) URL");
  if (!/^[A-Za-z0-9.\-:[\]]{1,255}$/.test(o.domain)) throw invalid("domain must be a Matrix server name");
  const asToken = generateToken();
  let hsToken = generateToken();
  while (hsToken === asToken) hsToken = generateToken();
  const d = quoteRegex(o.domain);
  const p = quoteRegex(o.ghostPrefix);
  return {
    id: o.id ?? DEFAULT_REGISTRATION_ID,
    url: o.url,
    as_token: asToken,
    hs_token: hsToken,
    sender_localpart: o.botLocalpart,
    namespaces: {
      users: [{ exclusive: true, regex: `^@${p}.*:${d}$` }],
      aliases: [{ exclusive: true, regex: `^#${p}.*:${d}$` }],
      rooms: [],
    },
    rate_limited: false,
    receive_ephemeral: true,
    "de.sorunome.msc2409.push_ephemeral": true,
  };
}

const HEADER = `# Matrix application service registration for mimi-bridge, written by
# \`mimi-bridge matrix registration\`. It holds two secrets (as_token, hs_token): keep it mode 0600.
#
# Give the same file to the homeserver and to the bridge (adapters.matrix.registrationFile):
#   Synapse:   app_service_config_files: [/path/to/registration.yaml]   in homeserver.yaml; restart
#   Dendrite:  app_service_api: { config_files: [/path/to/registration.yaml] }
#   conduwuit/continuwuity/Conduit: paste it to the admin room (\`!admin appservices register\`)
# Never change \`id\` once the homeserver knows it; generate new tokens by running the command again
# with --force and restarting both.
`;

/** The registration as YAML with an explanatory header. */
export function registrationYaml(reg: MatrixRegistration): string {
  return `${HEADER}${stringifyYaml(reg, { lineWidth: 0 })}`;
}

/** Writes a registration with mode 0600; refuses an existing file unless `force`. */
export async function writeRegistrationFile(file: string, reg: MatrixRegistration, opts: { force?: boolean } = {}): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  if (opts.force === true) await rm(file, { force: true });
  try {
    // "wx": never follow an existing file or symlink; the mode applies at creation (umask may
    // only narrow it), chmod makes it exact.
    await writeFile(file, registrationYaml(reg), { mode: 0o600, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new MimiError("MIMI_ERR_CLI_USAGE", `${file} already exists; use --force to replace it (the homeserver must then be given the new file)`, { cause: err });
    }
    throw err;
  }
  await chmod(file, 0o600);
}

function invalid(problem: string, cause?: unknown): MimiError {
  return new MimiError("MIMI_ERR_MATRIX_REGISTRATION_INVALID", `Matrix registration: ${problem}`, {
    details: { problem },
    ...(cause === undefined ? {} : { cause }),
  });
}

function placeholder(field: string, why: string): MimiError {
  // Names the field, never its value: a real but short token must not end up in a log.
  return new MimiError(
    "MIMI_ERR_MATRIX_REGISTRATION_PLACEHOLDER",
    `Matrix registration: ${field} ${why}; generate a registration with \`mimi-bridge matrix registration --out FILE\` and give it to the homeserver`,
    { details: { field } },
  );
}

function namespaces(raw: unknown, kind: string): RegistrationNamespace[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalid(`namespaces.${kind} must be a list`);
  return raw.map((entry: unknown, i) => {
    if (typeof entry !== "object" || entry === null) throw invalid(`namespaces.${kind}[${i}] must be a mapping with regex and exclusive`);
    const { regex, exclusive } = entry as { regex?: unknown; exclusive?: unknown };
    if (typeof regex !== "string" || regex === "") throw invalid(`namespaces.${kind}[${i}].regex must be a non-empty string`);
    if (typeof exclusive !== "boolean") throw invalid(`namespaces.${kind}[${i}].exclusive must be true or false`);
    if (PLACEHOLDER.test(regex)) throw placeholder(`namespaces.${kind}[${i}].regex`, "is a placeholder");
    try {
      new RegExp(regex);
    } catch (err) {
      throw invalid(`namespaces.${kind}[${i}].regex is not a regular expression`, err);
    }
    return { regex, exclusive };
  });
}

/**
 * Parses and checks a registration's text. Refuses placeholders and tokens shorter than
 * MIN_TOKEN_LENGTH (MIMI_ERR_MATRIX_REGISTRATION_PLACEHOLDER) and anything malformed
 * (MIMI_ERR_MATRIX_REGISTRATION_INVALID). Errors never contain a token.
 */
export function parseRegistration(text: string, source = "registration"): MatrixRegistration {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: false });
  } catch (err) {
    // The YAML error's message quotes the offending line, which could be a token: keep only its position.
    const pos = (err as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    throw invalid(`${source} is not valid YAML${pos === undefined ? "" : ` (line ${pos})`}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalid(`${source} must be a YAML mapping`);
  const r = doc as Record<string, unknown>;
  const str = (field: string): string => {
    const v = r[field];
    if (typeof v !== "string" || v === "") throw invalid(`${field} must be a non-empty string`);
    return v;
  };
  // Tokens first: the error that matters most for a copied template.
  const tokens: Record<"as_token" | "hs_token", string> = { as_token: "", hs_token: "" };
  for (const field of ["as_token", "hs_token"] as const) {
    const v = r[field];
    if (v === undefined || v === null || v === "") throw placeholder(field, "is missing");
    if (typeof v !== "string") throw invalid(`${field} must be a string (quote it in the YAML)`);
    if (PLACEHOLDER.test(v)) throw placeholder(field, "is a placeholder");
    if (v.length < MIN_TOKEN_LENGTH) throw placeholder(field, `is shorter than ${MIN_TOKEN_LENGTH} characters`);
    if (!TOKEN_CHARS.test(v)) throw invalid(`${field} must be printable ASCII without spaces`);
    tokens[field] = v;
  }
  // The two tokens authenticate opposite directions; sharing one lets the homeserver's copy act as the bridge.
  if (tokens.as_token === tokens.hs_token) throw invalid("as_token and hs_token must differ");
  const id = str("id");
  const sender = str("sender_localpart");
  for (const [field, v] of [["id", id], ["sender_localpart", sender]] as const) if (PLACEHOLDER.test(v)) throw placeholder(field, "is a placeholder");
  if (!LOCALPART.test(sender)) throw invalid("sender_localpart must be a Matrix localpart (a-z 0-9 . _ = - / +)");
  const url = r["url"];
  if (url !== null && url !== undefined && (typeof url !== "string" || !/^https?:\/\/[^/?#\s]+/.test(url))) throw invalid("url must be an http(s) URL or null");
  if (typeof url === "string" && PLACEHOLDER.test(url)) throw placeholder("url", "is a placeholder");
  const ns = r["namespaces"];
  if (typeof ns !== "object" || ns === null || Array.isArray(ns)) throw invalid("namespaces must be a mapping of users, aliases and rooms");
  const n = ns as Record<string, unknown>;
  const bool = (field: string): boolean | undefined => {
    const v = r[field];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") throw invalid(`${field} must be true or false`);
    return v;
  };
  const protocols = r["protocols"];
  if (protocols !== undefined && protocols !== null && !(Array.isArray(protocols) && protocols.every((p) => typeof p === "string"))) {
    throw invalid("protocols must be a list of strings");
  }
  const out: MatrixRegistration = {
    id,
    url: typeof url === "string" ? url : null,
    as_token: tokens.as_token,
    hs_token: tokens.hs_token,
    sender_localpart: sender,
    namespaces: { users: namespaces(n["users"], "users"), aliases: namespaces(n["aliases"], "aliases"), rooms: namespaces(n["rooms"], "rooms") },
    ...optional("rate_limited", bool("rate_limited")),
    ...optional("receive_ephemeral", bool("receive_ephemeral")),
    ...optional("de.sorunome.msc2409.push_ephemeral", bool("de.sorunome.msc2409.push_ephemeral")),
    ...(Array.isArray(protocols) ? { protocols } : {}),
  };
  return out;
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/**
 * Reads the registration file the bridge runs with. Refuses placeholders and, since the file
 * holds both tokens, a file that group or others may read or write (mode must be 0600 or
 * stricter, MIMI_ERR_MATRIX_REGISTRATION_INSECURE).
 */
export function loadRegistration(file: string): MatrixRegistration {
  let text: string;
  let mode: number;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw invalid(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? "error"})`, err);
  }
  // Placeholders first: for the committed template that is the helpful message.
  const reg = parseRegistration(text, file);
  if ((mode & 0o077) !== 0) {
    throw new MimiError("MIMI_ERR_MATRIX_REGISTRATION_INSECURE", `Matrix registration: ${file} must not be readable or writable by group or others (chmod 600 ${file})`, {
      details: { file, mode: `0${(mode & 0o777).toString(8)}` },
    });
  }
  return reg;
}

/** True if `userId` is in one of the registration's exclusive user namespaces. */
export function inExclusiveUserNamespace(reg: MatrixRegistration, userId: string): boolean {
  return reg.namespaces.users.some((ns) => ns.exclusive && matchesAnchoredStart(ns.regex, userId));
}

/** Synapse semantics: Python re.match, anchored at the start only. */
function matchesAnchoredStart(regex: string, s: string): boolean {
  const m = new RegExp(regex).exec(s);
  return m !== null && m.index === 0;
}
