// A real Synapse for tests (issue 6 §8): installed with pip into a Python virtual environment cached
// in the repo's ignored .tools/ folder (one install shared by every test process, behind a lock),
// configured in a temporary folder (one loopback HTTP listener with the client API only, SQLite,
// rate limits off, the application-service registrations the caller passes), started in the
// foreground as our child process, and stopped by that PID only. A Synapse that cannot be
// installed or started FAILS the test (never skips).
//
// Secrets (the registration shared secret, access tokens) are never logged or put in errors.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { freePort, repoRoot, stopChild, tempDir } from "./processes.ts";

const run = promisify(execFile);

/** The pinned Synapse release (pip package matrix-synapse). */
export const SYNAPSE_VERSION = "1.163.2";
/** The cached virtual environment holding that release. */
export const synapseVenv = join(repoRoot, ".tools", `synapse-venv-${SYNAPSE_VERSION}`);
const venvPython = join(synapseVenv, "bin", "python");
const installedMarker = join(synapseVenv, ".mimi-installed");
const lockDir = `${synapseVenv}.lock`;

export interface SynapseOptions {
  /** The homeserver's server_name (default hs.localhost). */
  serverName?: string;
  /** Application-service registration files (absolute paths) for app_service_config_files. */
  appServiceConfigFiles?: readonly string[];
  /** Top-level homeserver.yaml keys merged over the generated ones. */
  extraConfig?: Record<string, unknown>;
  /** Root log level of homeserver.log (default INFO). */
  logLevel?: "DEBUG" | "INFO" | "WARNING";
  /** Bound on waiting for /_matrix/client/versions after a start (default 180 s). */
  startTimeoutMs?: number;
}

export interface SynapseUser {
  readonly userId: string;
  readonly localpart: string;
  readonly password: string;
  readonly accessToken: string;
  readonly deviceId: string;
}

export interface SynapseServer {
  /** The client-server API base URL, http://127.0.0.1:<port>. */
  readonly url: string;
  readonly serverName: string;
  readonly port: number;
  /** The temporary folder: homeserver.yaml, homeserver.db, media, homeserver.log. */
  readonly dir: string;
  readonly configPath: string;
  readonly logPath: string;
  pid(): number | undefined;
  /** Registers a user with the shared-secret admin API; the password is random when not given. */
  registerUser(localpart: string, password?: string, admin?: boolean): Promise<SynapseUser>;
  /** The last lines of homeserver.log and of Synapse's own output. */
  logTail(lines?: number): Promise<string>;
  stop(): Promise<void>;
  /** Stops and starts again on the same port with the same database. */
  restart(): Promise<void>;
  /** Stops Synapse and removes the folder. */
  dispose(): Promise<void>;
}

export interface EnsureSynapseResult {
  /** The venv's python, to run `python -m synapse.app.homeserver`. */
  python: string;
  /** Whether this call installed Synapse (false when the cache was used). */
  installed: boolean;
  /** How long this call took, waiting for another process's install included. */
  ms: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function errText(err: unknown): string {
  if (err instanceof Error) {
    const e = err as Error & { stderr?: unknown; stdout?: unknown };
    const tail = (s: unknown) => (typeof s === "string" && s.trim() !== "" ? `\n${s.trim().split("\n").slice(-20).join("\n")}` : "");
    return `${e.message}${tail(e.stdout)}${tail(e.stderr)}`;
  }
  return String(err);
}


function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A lock between test processes: mkdir is atomic; the owner's PID inside lets a stale lock be taken over. */
async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  await mkdir(join(repoRoot, ".tools"), { recursive: true });
  const ownerFile = join(lockDir, "pid");
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(ownerFile, String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    let stale: boolean;
    try {
      const owner = Number((await readFile(ownerFile, "utf8")).trim());
      stale = Number.isInteger(owner) && owner > 0 && !alive(owner);
    } catch {
      // No PID yet: the owner is between mkdir and writeFile, unless it died there long ago.
      try {
        stale = Date.now() - (await stat(lockDir)).mtimeMs > 120_000;
      } catch {
        stale = false; // removed meanwhile: try again
      }
    }
    if (stale) {
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for the Synapse install lock ${lockDir}`);
    await sleep(500);
  }
  try {
    return await fn();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

async function installedVersion(): Promise<string | undefined> {
  if (!existsSync(installedMarker) || !existsSync(venvPython)) return undefined;
  try {
    const { stdout } = await run(venvPython, ["-c", "import synapse, importlib.metadata as m; print(m.version('matrix-synapse'))"], { timeout: 120_000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

async function venvAvailable(): Promise<boolean> {
  try {
    await run("python3", ["-c", "import venv, ensurepip"], { timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** Installs python3 and its venv module from the distribution's packages (as root; apt as configured). */
async function installPythonVenv(): Promise<void> {
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await run("apt-get", ["update", "-qq"], { timeout: 300_000, env });
    await run("apt-get", ["install", "-y", "-qq", "python3", "python3-venv"], { timeout: 600_000, env });
  } catch (err) {
    throw new Error(`python3 with the venv module is missing and could not be installed with apt-get: ${errText(err)}`, { cause: err });
  }
  if (!(await venvAvailable())) throw new Error("apt-get installed python3-venv, but `python3 -m venv` is still unavailable");
}

/**
 * Makes sure the cached venv holds Synapse SYNAPSE_VERSION; installs it (python3 -m venv, then
 * pip install matrix-synapse==SYNAPSE_VERSION from the configured index) when it does not.
 */
export async function ensureSynapse(): Promise<EnsureSynapseResult> {
  const started = Date.now();
  if ((await installedVersion()) === SYNAPSE_VERSION) return { python: venvPython, installed: false, ms: Date.now() - started };
  return withLock(async () => {
    // Another process may have installed it while we waited for the lock.
    if ((await installedVersion()) === SYNAPSE_VERSION) return { python: venvPython, installed: false, ms: Date.now() - started };
    if (!(await venvAvailable())) await installPythonVenv();
    await rm(synapseVenv, { recursive: true, force: true });
    try {
      await run("python3", ["-m", "venv", synapseVenv], { timeout: 300_000 });
      const env = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1" };
      await run(venvPython, ["-m", "pip", "install", "--quiet", `matrix-synapse==${SYNAPSE_VERSION}`], { timeout: 1_800_000, env, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      await rm(synapseVenv, { recursive: true, force: true });
      throw new Error(`could not install Synapse ${SYNAPSE_VERSION} into ${synapseVenv}: ${errText(err)}`, { cause: err });
    }
    await writeFile(installedMarker, `${SYNAPSE_VERSION}\n`);
    const got = await installedVersion();
    if (got !== SYNAPSE_VERSION) throw new Error(`installed Synapse reports version ${got ?? "(import failed)"}, expected ${SYNAPSE_VERSION}`);
    return { python: venvPython, installed: true, ms: Date.now() - started };
  });
}

/** A Synapse signing key file: "ed25519 <key id> <unpadded base64 of the 32-byte seed>". */
function signingKey(): string {
  const id = `a_${randomBytes(3).toString("base64url").replace(/[^A-Za-z0-9]/g, "x").slice(0, 4)}`;
  return `ed25519 ${id} ${randomBytes(32).toString("base64").replace(/=+$/, "")}\n`;
}

const unlimited = { per_second: 100_000, burst_count: 100_000 };

/** Every rc_* rate limit Synapse SYNAPSE_VERSION reads, set so high that no test reaches it. */
const rateLimitsOff: Record<string, unknown> = {
  rc_message: unlimited,
  rc_registration: unlimited,
  rc_registration_token_validity: unlimited,
  rc_login: { address: unlimited, account: unlimited, failed_attempts: unlimited },
  rc_admin_redaction: unlimited,
  rc_joins: { local: unlimited, remote: unlimited },
  rc_joins_per_room: unlimited,
  rc_3pid_validation: unlimited,
  rc_invites: { per_room: unlimited, per_user: unlimited, per_issuer: unlimited },
  rc_third_party_invite: unlimited,
  rc_media_create: unlimited,
  rc_presence: { per_user: unlimited },
  rc_delayed_event_mgmt: unlimited,
  rc_room_creation: unlimited,
  rc_reports: unlimited,
  rc_user_directory: unlimited,
  rc_profile: unlimited,
  rc_key_requests: unlimited,
  rc_federation: { window_size: 1000, sleep_limit: 10_000, sleep_delay: 1, reject_limit: 10_000, concurrent: 100 },
};

export async function startSynapse(o: SynapseOptions = {}): Promise<SynapseServer> {
  const { python } = await ensureSynapse();
  const tmp = await tempDir("synapse");
  const serverName = o.serverName ?? "hs.localhost";
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dir = tmp.path;
  const configPath = join(dir, "homeserver.yaml");
  const logPath = join(dir, "homeserver.log");
  const logConfigPath = join(dir, "log.yaml");
  const signingKeyPath = join(dir, "signing.key");
  const sharedSecret = randomBytes(32).toString("hex");
  const startTimeoutMs = o.startTimeoutMs ?? 180_000;
  await mkdir(join(dir, "media"), { recursive: true });
  await writeFile(signingKeyPath, signingKey(), { mode: 0o600 });
  await writeFile(
    logConfigPath,
    stringify({
      version: 1,
      formatters: { precise: { format: "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s" } },
      handlers: { file: { class: "logging.FileHandler", formatter: "precise", filename: logPath, encoding: "utf8" } },
      loggers: { "synapse.storage.SQL": { level: "WARNING" } },
      root: { level: o.logLevel ?? "INFO", handlers: ["file"] },
      disable_existing_loggers: false,
    }),
  );
  const config: Record<string, unknown> = {
    server_name: serverName,
    public_baseurl: `${url}/`,
    pid_file: join(dir, "homeserver.pid"),
    listeners: [{ port, bind_addresses: ["127.0.0.1"], type: "http", tls: false, x_forwarded: false, resources: [{ names: ["client"], compress: false }] }],
    database: { name: "sqlite3", args: { database: join(dir, "homeserver.db") } },
    log_config: logConfigPath,
    media_store_path: join(dir, "media"),
    signing_key_path: signingKeyPath,
    registration_shared_secret: sharedSecret,
    macaroon_secret_key: randomBytes(32).toString("hex"),
    form_secret: randomBytes(32).toString("hex"),
    enable_registration: false,
    report_stats: false,
    enable_metrics: false,
    trusted_key_servers: [],
    suppress_key_server_warning: true,
    federation_domain_whitelist: [],
    url_preview_enabled: false,
    bcrypt_rounds: 4,
    app_service_config_files: [...(o.appServiceConfigFiles ?? [])],
    ...rateLimitsOff,
    ...o.extraConfig,
  };
  await writeFile(configPath, `# generated by test/helpers/synapse.ts\n${stringify(config)}`, { mode: 0o600 });

  let child: ChildProcess | undefined;
  let exited: Promise<void> | undefined;
  let output = "";
  // A crashed test process must not leave Synapse behind: kill our child (by its PID) on exit.
  const onExit = () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  };
  process.once("exit", onExit);

  const logTail = async (lines = 40): Promise<string> => {
    let log: string;
    try {
      log = (await readFile(logPath, "utf8")).split("\n").slice(-lines).join("\n");
    } catch {
      log = "(no homeserver.log)";
    }
    return `Synapse output (last ${lines} lines):\n${output.split("\n").slice(-lines).join("\n")}\nhomeserver.log (last ${lines} lines):\n${log}`;
  };

  const start = async () => {
    output = "";
    const c = spawn(python, ["-m", "synapse.app.homeserver", "-c", configPath], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
    });
    child = c;
    const keep = (d: Buffer) => (output = (output + d.toString("utf8")).slice(-8000));
    c.stdout.on("data", keep);
    c.stderr.on("data", keep);
    exited = new Promise((resolve) => c.once("exit", () => resolve()));
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`Synapse exited (${c.exitCode ?? c.signalCode}) while starting.\n${await logTail()}`);
      try {
        const res = await fetch(`${url}/_matrix/client/versions`, { signal: AbortSignal.timeout(5_000) });
        if (res.ok) {
          const body = (await res.json()) as { versions?: unknown };
          if (Array.isArray(body.versions)) return;
        } else await res.body?.cancel();
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    throw new Error(`Synapse did not answer /_matrix/client/versions within ${startTimeoutMs / 1000} s.\n${await logTail()}`);
  };

  const stop = async () => {
    await stopChild(child, exited, 20_000);
    child = undefined;
  };

  const registerUser = async (localpart: string, password = randomBytes(18).toString("base64url"), admin = false): Promise<SynapseUser> => {
    const endpoint = `${url}/_synapse/admin/v1/register`;
    const nonceRes = await fetch(endpoint, { signal: AbortSignal.timeout(60_000) });
    if (!nonceRes.ok) throw new Error(`GET ${endpoint}: HTTP ${nonceRes.status} ${await nonceRes.text()}`);
    const { nonce } = (await nonceRes.json()) as { nonce: string };
    const mac = createHmac("sha1", sharedSecret)
      .update(`${nonce}\0${localpart}\0${password}\0${admin ? "admin" : "notadmin"}`)
      .digest("hex");
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ nonce, username: localpart, password, admin, mac }),
      signal: AbortSignal.timeout(60_000),
    });
    if (!res.ok) throw new Error(`registering @${localpart}:${serverName}: HTTP ${res.status} ${await res.text()}`);
    const body = (await res.json()) as { user_id: string; access_token: string; device_id: string };
    return { userId: body.user_id, localpart, password, accessToken: body.access_token, deviceId: body.device_id };
  };

  const server: SynapseServer = {
    url,
    serverName,
    port,
    dir,
    configPath,
    logPath,
    pid: () => child?.pid,
    registerUser,
    logTail,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    dispose: async () => {
      await stop();
      process.removeListener("exit", onExit);
      await tmp.remove();
    },
  };
  try {
    await start();
  } catch (err) {
    await server.dispose();
    throw err;
  }
  return server;
}
