import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { loadConfigFile } from "../../config/index.ts";
import type { CliIo } from "../io.ts";

export const SAMPLE_CONFIG_PATH = fileURLToPath(new URL("../../../config.sample.yaml", import.meta.url));

export function registerConfigCommands(program: Command, io: CliIo): void {
  const config = program.command("config").description("check and show configuration files");
  config
    .command("check")
    .description("validate a YAML configuration file; every problem is listed at once")
    .argument("<file>", "configuration file (YAML)")
    .option("--print", "also print the effective configuration (with defaults) as JSON")
    .action(async (file: string, opts: { print?: boolean }) => {
      const cfg = await loadConfigFile(resolve(io.cwd, file));
      io.stdout.write(`${file}: ok\n`);
      if (opts.print) io.stdout.write(JSON.stringify(cfg, null, 2) + "\n");
    });
  config
    .command("sample")
    .description("print the sample configuration (every setting, with its default and meaning)")
    .action(async () => {
      io.stdout.write(await readFile(SAMPLE_CONFIG_PATH, "utf8"));
    });
}
