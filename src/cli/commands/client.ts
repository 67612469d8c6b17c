// `mimi-bridge client …`: a native MIMI client on the command line, built on the SDK
// (src/client-api/sdk). The client's state (MLS keys, rooms, cursor) lives in --state DIR
// (default ./.mimi-client, mode 0700); the token in DIR/token (mode 0600), the API URL in
// DIR/client.json. Output is text, or JSON with --json.
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { Option, type Command } from "commander";
import { contentToJson } from "../../content/index.ts";
import { MimiClient } from "../../client-api/sdk/index.ts";
import type { MimiEvent, RoomKind } from "../../client-api/sdk/index.ts";
import { MimiError } from "../../errors.ts";
import { createLogger, silentLogger } from "../../log.ts";
import type { Logger } from "../../log.ts";
import type { CliIo } from "../io.ts";
import { registerClientDiscoveryCommands } from "./clientDiscovery.ts";
import { registerClientConsentCommands } from "./clientConsent.ts";

const DEFAULT_STATE_DIR = ".mimi-client";
const TOKEN_FILE = "token";
const CONFIG_FILE = "client.json";

interface CommonOptions {
  state?: string;
  json?: boolean;
  logLevel?: string;
}

interface Session {
  readonly client: MimiClient;
  readonly dir: string;
}

function stateDir(opts: CommonOptions, io: CliIo): string {
  return resolve(io.cwd, opts.state ?? io.env["MIMI_CLIENT_STATE"] ?? DEFAULT_STATE_DIR);
}

async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new MimiError("MIMI_ERR_SDK_STATE_INVALID", `cannot read ${path}`, { cause: err });
  }
}

function logger(opts: CommonOptions, io: CliIo): Logger {
  if (opts.logLevel === undefined) return silentLogger();
  const level = opts.logLevel as "fatal" | "error" | "warn" | "info" | "debug" | "trace";
  return createLogger({ level, destination: { write: (s: string) => io.stderr.write(s) } });
}

/** Opens the client of --state DIR; `apiUrl` overrides (and is recorded). */
async function open(opts: CommonOptions, io: CliIo, apiUrl?: string): Promise<Session> {
  const dir = stateDir(opts, io);
  let config: { apiUrl?: string };
  try {
    config = JSON.parse((await readText(join(dir, CONFIG_FILE))) ?? "{}") as { apiUrl?: string };
  } catch (cause) {
    throw new MimiError("MIMI_ERR_SDK_STATE_INVALID", `${join(dir, CONFIG_FILE)} is not valid JSON`, { cause });
  }
  const url = apiUrl ?? config.apiUrl;
  if (url === undefined) throw new MimiError("MIMI_ERR_SDK_NOT_REGISTERED", `no client in ${dir}: run "mimi-bridge client register" or "client login" first`);
  await ensureDir(dir);
  if (apiUrl !== undefined && apiUrl !== config.apiUrl) await writeFile(join(dir, CONFIG_FILE), JSON.stringify({ apiUrl }, null, 2) + "\n", { mode: 0o600 });
  const token = await readText(join(dir, TOKEN_FILE));
  const client = new MimiClient({ apiUrl: url, state: join(dir, "state"), persistToken: false, logger: logger(opts, io), ...(token === undefined || token === "" ? {} : { token }) });
  return { client, dir };
}

async function saveToken(dir: string, token: string): Promise<void> {
  const path = join(dir, TOKEN_FILE);
  await writeFile(path, token + "\n", { mode: 0o600 });
  await chmod(path, 0o600);
}

function print(io: CliIo, opts: CommonOptions, value: unknown, text: string): void {
  io.stdout.write(opts.json === true ? JSON.stringify(value) + "\n" : text + "\n");
}

/** Runs `fn` with an open client and closes it whatever happens. */
async function withClient<T>(opts: CommonOptions, io: CliIo, fn: (s: Session) => Promise<T>, apiUrl?: string): Promise<T> {
  const s = await open(opts, io, apiUrl);
  try {
    return await fn(s);
  } finally {
    await s.client.close();
  }
}

function common(cmd: Command): Command {
  return cmd
    .option("-s, --state <dir>", `client state folder (default: $MIMI_CLIENT_STATE, else ./${DEFAULT_STATE_DIR})`)
    .option("--json", "print JSON instead of text")
    .addOption(new Option("--log-level <level>", "log to standard error at this level").choices(["fatal", "error", "warn", "info", "debug", "trace"]));
}

const short = (id: string): string => id.slice(0, 12);

/** One line of text for an event. */
export function formatEvent(e: MimiEvent): string {
  const when = new Date(e.timestamp).toISOString();
  const by = "by" in e && e.by !== undefined ? ` by ${e.by}` : "";
  switch (e.type) {
    case "message": {
      const head = `${when} ${e.roomId} ${e.sender.user} [${short(e.messageId)}]`;
      switch (e.kind) {
        case "edit":
          return `${head} edited ${short(e.replaces ?? "")}: ${e.text}`;
        case "reaction":
          return `${head} reacted ${e.text} to ${short(e.inReplyTo ?? "")}`;
        case "unreact":
          return `${head} withdrew reaction ${short(e.replaces ?? "")}`;
        case "delete":
          return `${head} deleted ${short(e.replaces ?? "")}`;
        default:
          return e.inReplyTo === undefined ? `${head}: ${e.text}` : `${head} (reply to ${short(e.inReplyTo)}): ${e.text}`;
      }
    }
    case "joined":
      return `${when} ${e.roomId} joined (${e.via})`;
    case "left":
      return `${when} ${e.roomId} ${e.reason === "left" ? "left the room" : e.reason === "banned" ? "banned from the room" : "removed from the room"}${by}`;
    case "participantAdded":
      return `${when} ${e.roomId} ${e.user} added with role ${e.role}${by}`;
    case "participantRemoved":
      return `${when} ${e.roomId} ${e.user} removed${by}`;
    case "participantBanned":
      return `${when} ${e.roomId} ${e.user} banned${by}`;
    case "roleChanged":
      return `${when} ${e.roomId} ${e.user} role ${e.from} -> ${e.to}${by}`;
    case "membersChanged":
      return `${when} ${e.roomId} devices${e.added.length > 0 ? ` +${e.added.join(" +")}` : ""}${e.removed.length > 0 ? ` -${e.removed.join(" -")}` : ""}${by}`;
    case "roomMetadata":
      return `${when} ${e.roomId} name "${e.name}"${e.subject === "" ? "" : `, subject "${e.subject}"`}${by}`;
  }
}

/** The JSON form of an event (content in the JSON form of docs/content-json.md). */
export function eventJson(e: MimiEvent): unknown {
  return e.type === "message" ? { ...e, content: contentToJson(e.content) } : e;
}

function parseKind(kind: string): RoomKind {
  if (kind !== "direct" && kind !== "group" && kind !== "channel") throw new MimiError("MIMI_ERR_CLI_USAGE", `--kind must be direct, group or channel, not ${kind}`);
  return kind;
}

function positiveInt(value: string, what: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new MimiError("MIMI_ERR_CLI_USAGE", `${what} must be a non-negative integer`);
  return n;
}

export function registerClientCommands(program: Command, io: CliIo): void {
  const client = program
    .command("client")
    .description("a native MIMI client: register, create rooms, invite, send, listen (state in --state DIR, default ./.mimi-client)");

  common(client.command("register"))
    .description("create an account on a provider with open registration, register this device and upload KeyPackages; the token is saved in DIR/token (0600)")
    .requiredOption("--api <url>", "the provider's client API, e.g. http://127.0.0.1:8481")
    .requiredOption("--user <name>", "the user name (mimi://<provider>/u/<name>)")
    .option("--device <id>", "device ID (default: random, then kept in the state)")
    .action(async (opts: CommonOptions & { api: string; user: string; device?: string }) => {
      await withClient(
        opts,
        io,
        async ({ client: c, dir }) => {
          const r = await c.register(opts.user, opts.device === undefined ? {} : { deviceId: opts.device });
          await saveToken(dir, r.token);
          const { token: _secret, ...account } = r;
          print(io, opts, { ...account, tokenFile: join(dir, TOKEN_FILE) }, `registered ${r.userUri} as ${r.clientUri} (token saved in ${join(dir, TOKEN_FILE)})`);
        },
        opts.api,
      );
    });

  common(client.command("login"))
    .description("use an existing account (token from the operator, or another device's DIR/token): registers this device and uploads KeyPackages")
    .requiredOption("--api <url>", "the provider's client API, e.g. http://127.0.0.1:8481")
    .option("--token <token>", "the bearer token (default: $MIMI_CLIENT_TOKEN)")
    .option("--device <id>", "device ID (default: random, then kept in the state)")
    .action(async (opts: CommonOptions & { api: string; token?: string; device?: string }) => {
      const token = opts.token ?? io.env["MIMI_CLIENT_TOKEN"];
      if (token === undefined || token === "") throw new MimiError("MIMI_ERR_CLI_USAGE", "give --token or set MIMI_CLIENT_TOKEN");
      await withClient(
        opts,
        io,
        async ({ client: c, dir }) => {
          const account = await c.login(token, opts.device === undefined ? {} : { deviceId: opts.device });
          await saveToken(dir, token);
          print(io, opts, account, `logged in as ${account.userUri} on ${account.clientUri}`);
        },
        opts.api,
      );
    });

  common(client.command("whoami"))
    .description("show the account and device of this state")
    .action(async (opts: CommonOptions) => {
      await withClient(opts, io, async ({ client: c }) => {
        const a = await c.account();
        if (a === undefined) throw new MimiError("MIMI_ERR_SDK_NOT_REGISTERED");
        print(io, opts, a, `${a.userUri} on ${a.clientUri}`);
      });
    });

  common(client.command("rooms"))
    .description("list the rooms of this device (after processing pending events); --provider lists the provider's view")
    .option("--provider", "list the rooms the provider knows for the user (GET /rooms)")
    .action(async (opts: CommonOptions & { provider?: boolean }) => {
      await withClient(opts, io, async ({ client: c }) => {
        if (opts.provider === true) {
          const rooms = await c.providerRooms();
          print(io, opts, rooms, rooms.map((r) => `${r.roomId} hub ${r.hub}`).join("\n"));
          return;
        }
        await c.sync();
        const rooms = await c.rooms();
        print(
          io,
          opts,
          rooms,
          rooms.length === 0
            ? "no rooms"
            : rooms.map((r) => `${r.roomId} ${r.status}${r.kind === undefined ? "" : ` ${r.kind}`}${r.name === undefined ? "" : ` "${r.name}"`} ${r.participants.map((p) => `${p.user}(${p.roleName})`).join(" ")}`).join("\n"),
        );
      });
    });

  common(client.command("create"))
    .description("create a room hosted by the provider and add participants")
    .addOption(new Option("--kind <kind>", "room kind").choices(["direct", "group", "channel"]).default("group"))
    .option("--name <name>", "room name (room_metadata)")
    .option("--with <users...>", "user URIs to add (the other participants of a direct room)")
    .action(async (opts: CommonOptions & { kind: string; name?: string; with?: string[] }) => {
      await withClient(opts, io, async ({ client: c }) => {
        const roomId = await c.createRoom(parseKind(opts.kind), { ...(opts.name === undefined ? {} : { name: opts.name }), ...(opts.with === undefined ? {} : { participants: opts.with }) });
        print(io, opts, { roomId }, roomId);
      });
    });

  common(client.command("invite"))
    .description("add a user to a room (claims KeyPackages, commits the participant and the user's clients)")
    .argument("<room>", "room URI")
    .argument("<user>", "user URI, e.g. mimi://b.example/u/bob")
    .option("--role <role>", "role index or name (default: per room policy)")
    .action(async (room: string, user: string, opts: CommonOptions & { role?: string }) => {
      await withClient(opts, io, async ({ client: c }) => {
        await c.addUser(room, user, opts.role === undefined ? {} : { role: opts.role });
        print(io, opts, { roomId: room, user }, `added ${user} to ${room}`);
      });
    });

  const messageAction =
    (run: (c: MimiClient, args: string[], opts: CommonOptions & { markdown?: boolean }) => Promise<string>, verb: string) =>
    async (...all: unknown[]): Promise<void> => {
      const cmd = all[all.length - 1] as Command;
      const opts = cmd.opts<CommonOptions & { markdown?: boolean }>();
      const args = cmd.args;
      await withClient(opts, io, async ({ client: c }) => {
        const messageId = await run(c, args, opts);
        print(io, opts, { roomId: args[0], messageId }, `${verb} ${messageId}`);
      });
    };
  const md = { markdown: true } as const;

  common(client.command("send"))
    .description("send a text message; prints its message ID")
    .argument("<room>", "room URI")
    .argument("<text>", "the message")
    .option("--markdown", "send as text/markdown;variant=GFM-MIMI")
    .action(messageAction((c, [room = "", text = ""], o) => c.send(room, text, o.markdown === true ? md : {}), "sent"));

  common(client.command("reply"))
    .description("reply to a message")
    .argument("<room>", "room URI")
    .argument("<messageId>", "the message replied to (hex)")
    .argument("<text>", "the reply")
    .option("--markdown", "send as text/markdown;variant=GFM-MIMI")
    .action(messageAction((c, [room = "", id = "", text = ""], o) => c.reply(room, id, text, o.markdown === true ? md : {}), "sent"));

  common(client.command("edit"))
    .description("edit one of your messages (replaces its first version)")
    .argument("<room>", "room URI")
    .argument("<messageId>", "the message (hex)")
    .argument("<text>", "the new text")
    .option("--markdown", "send as text/markdown;variant=GFM-MIMI")
    .action(messageAction((c, [room = "", id = "", text = ""], o) => c.edit(room, id, text, o.markdown === true ? md : {}), "sent"));

  common(client.command("react"))
    .description("react to a message")
    .argument("<room>", "room URI")
    .argument("<messageId>", "the message (hex)")
    .argument("<reaction>", "e.g. an emoji")
    .action(messageAction((c, [room = "", id = "", reaction = ""]) => c.react(room, id, reaction), "sent"));

  common(client.command("unreact"))
    .description("withdraw a reaction (give the reaction's ID, or the message and optionally the reaction)")
    .argument("<room>", "room URI")
    .argument("<messageId>", "the reaction, or the message reacted to (hex)")
    .argument("[reaction]", "which reaction, when the message is given")
    .action(messageAction((c, [room = "", id = "", reaction]) => c.unreact(room, id, reaction), "sent"));

  common(client.command("delete"))
    .description("delete a message (replaces it with an empty NullPart)")
    .argument("<room>", "room URI")
    .argument("<messageId>", "the message (hex)")
    .action(messageAction((c, [room = "", id = ""]) => c.delete(room, id), "sent"));

  common(client.command("leave"))
    .description("leave a room (proposals the next committer includes)")
    .argument("<room>", "room URI")
    .action(async (room: string, opts: CommonOptions) => {
      await withClient(opts, io, async ({ client: c }) => {
        await c.leave(room);
        print(io, opts, { roomId: room }, `asked to leave ${room}`);
      });
    });

  common(client.command("remove"))
    .description("remove a user and all of its clients from a room")
    .argument("<room>", "room URI")
    .argument("<user>", "user URI")
    .action(async (room: string, user: string, opts: CommonOptions) => {
      await withClient(opts, io, async ({ client: c }) => {
        await c.removeUser(room, user);
        print(io, opts, { roomId: room, user }, `removed ${user} from ${room}`);
      });
    });

  common(client.command("ban"))
    .description("ban a user (role banned) and remove all of its clients, in one commit")
    .argument("<room>", "room URI")
    .argument("<user>", "user URI")
    .action(async (room: string, user: string, opts: CommonOptions) => {
      await withClient(opts, io, async ({ client: c }) => {
        await c.ban(room, user);
        print(io, opts, { roomId: room, user }, `banned ${user} from ${room}`);
      });
    });

  common(client.command("role"))
    .description("change a participant's role")
    .argument("<room>", "room URI")
    .argument("<user>", "user URI")
    .argument("<role>", "role index or name, e.g. admin, moderator")
    .action(async (room: string, user: string, role: string, opts: CommonOptions) => {
      await withClient(opts, io, async ({ client: c }) => {
        await c.setRole(room, user, role);
        print(io, opts, { roomId: room, user, role }, `${user} now has role ${role} in ${room}`);
      });
    });

  common(client.command("rename"))
    .description("change the room name (and optionally the subject)")
    .argument("<room>", "room URI")
    .argument("<name>", "the new name")
    .option("--subject <subject>", "the new subject")
    .action(async (room: string, name: string, opts: CommonOptions & { subject?: string }) => {
      await withClient(opts, io, async ({ client: c }) => {
        await c.updateMetadata(room, { name, ...(opts.subject === undefined ? {} : { subject: opts.subject }) });
        print(io, opts, { roomId: room, name }, `renamed ${room} to "${name}"`);
      });
    });

  common(client.command("add-device"))
    .description("join rooms of this user from this (new) device by external commit; without ROOM, every room the provider lists that this device is not in")
    .argument("[room]", "room URI")
    .action(async (room: string | undefined, opts: CommonOptions) => {
      await withClient(opts, io, async ({ client: c }) => {
        const joined = await c.addDevice(room);
        print(io, opts, { joined }, joined.length === 0 ? "no rooms to join" : joined.map((r) => `joined ${r}`).join("\n"));
      });
    });

  common(client.command("join"))
    .description("join a room in which this user is a participant with this client, by external commit (e.g. the other side of a direct room)")
    .argument("<room>", "room URI")
    .action(async (room: string, opts: CommonOptions) => {
      await withClient(opts, io, async ({ client: c }) => {
        await c.join(room);
        print(io, opts, { roomId: room }, `joined ${room}`);
      });
    });

  common(client.command("listen"))
    .description("print events (messages, joins, membership changes) as they arrive, until interrupted")
    .argument("[room]", "only events of this room (events of other rooms are consumed too)")
    .option("--count <n>", "stop after n printed events")
    .option("--timeout <ms>", "stop after this many milliseconds")
    .action(async (room: string | undefined, opts: CommonOptions & { count?: string; timeout?: string }) => {
      const max = opts.count === undefined ? undefined : positiveInt(opts.count, "--count");
      const timeout = opts.timeout === undefined ? undefined : positiveInt(opts.timeout, "--timeout");
      await withClient(opts, io, async ({ client: c }) => {
        await c.account().then((a) => {
          if (a === undefined) throw new MimiError("MIMI_ERR_SDK_NOT_REGISTERED");
        });
        const events = c.events();
        let printed = 0;
        const stop = (): void => void events.return?.();
        const timer = timeout === undefined ? undefined : setTimeout(stop, timeout);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        try {
          if (max === 0) return;
          for await (const e of events) {
            if (room !== undefined && e.roomId !== room) continue;
            io.stdout.write((opts.json === true ? JSON.stringify(eventJson(e)) : formatEvent(e)) + "\n");
            printed++;
            if (max !== undefined && printed >= max) break;
          }
        } finally {
          if (timer !== undefined) clearTimeout(timer);
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
        }
      });
    });

  registerClientConsentCommands(client, io, { common, withClient, print }); // client consent … (clientConsent.ts)

  registerClientDiscoveryCommands(client, io, { common, withClient, print }); // profile, search, discover, connect, mapping

  common(client.command("sync"))
    .description("process the events waiting on the provider now (they stay queued for listen)")
    .action(async (opts: CommonOptions) => {
      await withClient(opts, io, async ({ client: c }) => {
        await c.sync();
        print(io, opts, { ok: true }, "synced");
      });
    });
}
