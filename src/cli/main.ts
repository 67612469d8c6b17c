// The `mimi-bridge` command line. Every command has --help (commander). Exit codes:
//   0 success, 1 the command failed (the error code and message go to stderr),
//   2 wrong command-line use.
import { Command, CommanderError } from "commander";
import { isMimiError } from "../errors.ts";
import { VERSION } from "../version.ts";
import { registerCertsCommands } from "./commands/certs.ts";
import { registerClientCommands } from "./commands/client.ts";
import { registerConfigCommands } from "./commands/config.ts";
import { registerContentCommands } from "./commands/content.ts";
import { registerDemoCommand } from "./commands/demo.ts";
import { registerMatrixCommands } from "./commands/matrix.ts";
import { registerServeCommand } from "./commands/serve.ts";
import { registerUsersCommands } from "./commands/users.ts";
import type { CliIo } from "./io.ts";
import { processIo } from "./io.ts";

export function buildProgram(io: CliIo): Command {
  const program = new Command("mimi-bridge")
    .description("A MIMI provider that bridges Matrix homeservers and XMPP servers into end-to-end encrypted MIMI rooms.")
    .version(VERSION, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride();
  registerServeCommand(program, io);
  registerConfigCommands(program, io);
  registerContentCommands(program, io);
  registerCertsCommands(program, io);
  registerClientCommands(program, io);
  registerUsersCommands(program, io);
  registerMatrixCommands(program, io);
  registerDemoCommand(program, io);
  // Sub-commands inherit output and exit handling.
  for (const cmd of program.commands) {
    cmd.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) }).exitOverride();
    for (const sub of cmd.commands) sub.configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) }).exitOverride();
  }
  return program;
}

/** Runs the CLI and returns the exit code (does not call process.exit). */
export async function run(argv: string[], io: CliIo = processIo()): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: "user" });
    return io.exitCode ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with a CommanderError whose exit code is 0.
      if (err.exitCode === 0) return 0;
      return 2;
    }
    if (isMimiError(err)) {
      io.stderr.write(`mimi-bridge: ${err.code}: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`mimi-bridge: MIMI_ERR_INTERNAL: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

export async function main(argv: string[]): Promise<void> {
  const code = await run(argv);
  process.exitCode = code;
}
