// `mimi-bridge users …`: the operator's way to create client API accounts when registration is
// closed (the default). Works on the data folder directly, so the provider must not be running
// (LevelDB admits one process; a running provider makes this fail with MIMI_ERR_STORAGE_LOCKED).
import { resolve } from "node:path";
import type { Command } from "commander";
import { Accounts } from "../../accounts/accounts.ts";
import { loadConfigFile, defaultConfig, type Config } from "../../config/index.ts";
import { silentLogger } from "../../log.ts";
import { openStore } from "../../storage/index.ts";
import type { CliIo } from "../io.ts";

async function withAccounts<T>(opts: { config?: string; dataDir?: string; domain?: string }, io: CliIo, fn: (a: Accounts, cfg: Config) => Promise<T>): Promise<T> {
  const path = opts.config ?? io.env.MIMI_BRIDGE_CONFIG;
  const cfg = path === undefined ? defaultConfig() : await loadConfigFile(resolve(io.cwd, path));
  const domain = opts.domain ?? cfg.provider.domain;
  const dataDir = resolve(io.cwd, opts.dataDir ?? cfg.storage.dataDir);
  const store = await openStore({ kind: "level", dataDir, logger: silentLogger() });
  try {
    return await fn(new Accounts(store, domain), cfg);
  } finally {
    await store.close();
  }
}

export function registerUsersCommands(program: Command, io: CliIo): void {
  const users = program.command("users").description("manage the accounts of native MIMI clients (the provider must be stopped)");
  users
    .command("add")
    .description("create a user and print its client API token (shown once; only its hash is stored)")
    .argument("<name>", "user name: 1-64 characters of a-z 0-9 . _ -")
    .option("-c, --config <file>", "configuration file (for provider.domain and storage.dataDir)")
    .option("--data-dir <dir>", "data folder (storage.dataDir)")
    .option("--domain <domain>", "provider domain (provider.domain)")
    .option("--json", "print JSON")
    .action(async (name: string, opts: { config?: string; dataDir?: string; domain?: string; json?: boolean }) => {
      const created = await withAccounts(opts, io, (a) => a.createUser(name));
      io.stdout.write(opts.json ? JSON.stringify(created) + "\n" : `${created.userUri}\ntoken: ${created.token}\n`);
    });
  users
    .command("list")
    .description("list users and their devices")
    .option("-c, --config <file>", "configuration file")
    .option("--data-dir <dir>", "data folder (storage.dataDir)")
    .option("--domain <domain>", "provider domain")
    .action(async (opts: { config?: string; dataDir?: string; domain?: string }) => {
      await withAccounts(opts, io, async (a) => {
        for (const u of await a.listUsers()) {
          const devices = await a.devices(u.name);
          io.stdout.write(`${u.userUri}${devices.length ? "  " + devices.map((d) => d.deviceId).join(", ") : ""}\n`);
        }
      });
    });
}
