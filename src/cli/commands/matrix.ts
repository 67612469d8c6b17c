// `mimi-bridge matrix`: the Matrix adapter's operator commands (issue 6).
//
// `matrix registration` writes the application service registration (Matrix Application Service
// API, "Registration") with fresh random tokens, mode 0600. The homeserver and the bridge must be
// given the same tokens; the tokens are never printed.
import { resolve } from "node:path";
import type { Command } from "commander";
import { generateRegistration, writeRegistrationFile, DEFAULT_REGISTRATION_ID } from "../../../adapters/matrix/registration.ts";
import { DEFAULT_MATRIX_LISTEN_PORT } from "../../../adapters/matrix/config.ts";
import { loadConfigFile } from "../../config/index.ts";
import { MimiError } from "../../errors.ts";
import type { CliIo } from "../io.ts";

interface RegistrationOptions {
  out?: string;
  config?: string;
  url?: string;
  domain?: string;
  id?: string;
  ghostPrefix?: string;
  botLocalpart?: string;
  force?: boolean;
}

/** The parts of adapters.matrix this command uses (the config is validated by loadConfigFile). */
interface MatrixSection {
  domain?: string;
  registrationFile?: string;
  ghostPrefix?: string;
  botLocalpart?: string;
  listen?: { host?: string; port?: number };
}

const NOTE = `
The registration holds two secrets (as_token, hs_token); it is written with mode 0600 and the
bridge refuses to read it with looser permissions or with placeholder tokens (such as those of
the repository's template registration.yaml).

Then:
  Synapse    homeserver.yaml:  app_service_config_files: [/path/to/registration.yaml]; restart
  Dendrite   dendrite.yaml:    app_service_api: { config_files: [/path/to/registration.yaml] }
  conduwuit/continuwuity:      send the file's content to the admin room (!admin appservices register)
  mimi-bridge config:          adapters.matrix.registrationFile: /path/to/registration.yaml
If the homeserver runs as another system user, give it its own copy, e.g.
  install -m 600 -o synapse registration.yaml /etc/synapse/mimi-bridge-registration.yaml
`;

export function registerMatrixCommands(program: Command, io: CliIo): void {
  const matrix = program.command("matrix").description("Matrix adapter: application service registration");

  matrix
    .command("registration")
    .description("write a Matrix application service registration with fresh random tokens (mode 0600)")
    .option("--out <file>", "where to write it (default: adapters.matrix.registrationFile of --config)")
    .option("--config <file>", "take domain, ghost prefix, bot localpart and listen address from this configuration's adapters.matrix")
    .option("--url <url>", `where the homeserver pushes transactions (default: adapters.matrix.listen, or http://127.0.0.1:${DEFAULT_MATRIX_LISTEN_PORT})`)
    .option("--domain <server-name>", "the homeserver's server_name (default: adapters.matrix.domain)")
    .option("--id <id>", `the application service ID; never change it once the homeserver knows it (default ${DEFAULT_REGISTRATION_ID})`)
    .option("--ghost-prefix <prefix>", "localpart prefix of the ghosts (default: adapters.matrix.ghostPrefix, or _mimi_)")
    .option("--bot-localpart <localpart>", "the bridge bot's localpart (default: adapters.matrix.botLocalpart, or mimi-bridge)")
    .option("--force", "replace an existing file (the homeserver must then be given the new one)")
    .addHelpText("after", NOTE)
    .action(async (opts: RegistrationOptions) => {
      let section: MatrixSection = {};
      if (opts.config !== undefined) {
        const cfg = await loadConfigFile(resolve(io.cwd, opts.config));
        const m = (cfg.adapters as Record<string, unknown>)["matrix"];
        if (m === undefined) throw new MimiError("MIMI_ERR_CLI_USAGE", `${opts.config} has no adapters.matrix section`);
        section = m as MatrixSection;
      }
      const domain = opts.domain ?? section.domain;
      if (domain === undefined) throw new MimiError("MIMI_ERR_CLI_USAGE", "give --domain (the homeserver's server_name) or --config with adapters.matrix.domain");
      const out = opts.out ?? section.registrationFile;
      if (out === undefined) throw new MimiError("MIMI_ERR_CLI_USAGE", "give --out FILE (or --config with adapters.matrix.registrationFile)");
      const listen = section.listen;
      const url = opts.url ?? (listen === undefined ? `http://127.0.0.1:${DEFAULT_MATRIX_LISTEN_PORT}` : listenUrl(listen.host ?? "127.0.0.1", listen.port ?? DEFAULT_MATRIX_LISTEN_PORT));
      let reg;
      try {
        reg = generateRegistration({
          ...(opts.id === undefined ? {} : { id: opts.id }),
          url,
          domain,
          ghostPrefix: opts.ghostPrefix ?? section.ghostPrefix ?? "_mimi_",
          botLocalpart: opts.botLocalpart ?? section.botLocalpart ?? "mimi-bridge",
        });
      } catch (err) {
        throw new MimiError("MIMI_ERR_CLI_USAGE", err instanceof Error ? err.message : String(err), { cause: err });
      }
      const file = resolve(io.cwd, out);
      await writeRegistrationFile(file, reg, { force: opts.force === true });
      io.stdout.write(
        [
          `wrote ${file} (mode 0600) with fresh as_token and hs_token`,
          `  id:     ${reg.id}`,
          `  url:    ${reg.url ?? "(none)"}   (the bridge's transaction endpoint, as the homeserver reaches it)`,
          `  bot:    @${reg.sender_localpart}:${domain}`,
          `  ghosts: ${reg.namespaces.users.map((n) => n.regex).join(", ")} (exclusive)`,
          `  aliases: ${reg.namespaces.aliases.map((n) => n.regex).join(", ")} (exclusive)`,
          "",
          "Give it to the homeserver (Synapse, homeserver.yaml, then restart Synapse):",
          "  app_service_config_files:",
          `    - ${file}`,
          "and to the bridge (config):",
          `  adapters: { matrix: { registrationFile: ${file} } }`,
          "",
        ].join("\n"),
      );
    });
}

/** The URL the homeserver uses for a listen address (a wildcard address is reachable as loopback). */
function listenUrl(host: string, port: number): string {
  const h = host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "[::1]" : host.includes(":") ? `[${host}]` : host;
  return `http://${h}:${port}`;
}
