// `mimi-bridge certs`: a test CA and provider certificates for mutual TLS between providers
// (draft-ietf-mimi-protocol-06 §Transport). For tests and private deployments only; public
// deployments use certificates from a CA their peers already trust.
//
// The certificate code (and @peculiar/x509 with its Reflect shim) is imported only when a certs
// command runs, so `serve` never loads it.
import type { Command } from "commander";
import { resolve } from "node:path";
import { MimiError } from "../../errors.ts";
import type { CliIo } from "../io.ts";

const NOTE = `
These certificates are for TESTS and PRIVATE DEPLOYMENTS only (a CA that only your own
providers trust). Keys are ECDSA P-256, written as PKCS#8 PEM with mode 0600 in folders created
with mode 0700; they are never printed. Every provider certificate is both a TLS server and a
TLS client certificate (extended key usage serverAuth + clientAuth) whose subjectAltName
dNSName is the provider domain, as mutual TLS between MIMI providers needs.

Then configure each provider (see README.md, "Secure transport"):
  server:
    tls: { cert: DIR/a.example.crt, key: DIR/a.example.key, ca: DIR/ca.crt }
`;

interface CommonOptions {
  out: string;
  days?: string;
  force?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(",").map((v) => v.trim()).filter(Boolean)];
}

function days(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(n)) throw new MimiError("MIMI_ERR_CLI_USAGE", `--days must be a whole number of days, got ${JSON.stringify(value)}`);
  return n;
}

function print(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function registerCertsCommands(program: Command, io: CliIo): void {
  const certs = program
    .command("certs")
    .description("create a test CA and provider certificates for mutual TLS between providers (tests and private deployments only)")
    .addHelpText("after", NOTE);

  certs
    .command("ca")
    .description("create a CA (ca.crt, ca.key) for tests and private deployments")
    .requiredOption("--out <dir>", "folder to write ca.crt and ca.key into (created with mode 0700)")
    .option("--name <common-name>", "the CA's common name", "mimi-bridge test CA")
    .option("--days <n>", "validity in days (default 3650)")
    .option("--force", "replace existing files")
    .addHelpText("after", NOTE)
    .action(async (opts: CommonOptions & { name: string }) => {
      const c = await import("../../transport/certificates.ts");
      const out = resolve(io.cwd, opts.out);
      const caOptions: Parameters<typeof c.createCa>[0] = { commonName: opts.name };
      const d = days(opts.days);
      if (d !== undefined) caOptions.days = d;
      const ca = await c.createCa(caOptions);
      const files = await c.writeCertificateAndKey(out, "ca", ca, { force: opts.force === true });
      print(io, { ca: files });
    });

  certs
    .command("provider")
    .description("create a provider certificate (<domain>.crt, <domain>.key) signed by a CA made with `certs ca`")
    .requiredOption("--ca <dir>", "folder holding ca.crt and ca.key")
    .requiredOption("--domain <domain>", "the provider domain, e.g. a.example (subjectAltName dNSName)")
    .option("--ip <address>", "also an IP address subjectAltName (repeatable, or comma-separated)", collect, [])
    .requiredOption("--out <dir>", "folder to write the files into (created with mode 0700)")
    .option("--days <n>", "validity in days (default 397)")
    .option("--force", "replace existing files")
    .addHelpText("after", NOTE)
    .action(async (opts: CommonOptions & { ca: string; domain: string; ip: string[] }) => {
      const c = await import("../../transport/certificates.ts");
      const ca = await c.readCa(resolve(io.cwd, opts.ca));
      const certOptions: Parameters<typeof c.issueProviderCertificate>[1] = { domain: opts.domain, ips: opts.ip };
      const d = days(opts.days);
      if (d !== undefined) certOptions.days = d;
      const pair = await c.issueProviderCertificate(ca, certOptions);
      const files = await c.writeCertificateAndKey(resolve(io.cwd, opts.out), opts.domain, pair, { force: opts.force === true });
      print(io, { providers: [{ domain: opts.domain, ...files }] });
    });

  certs
    .command("dev")
    .description("create a CA and one provider certificate per domain in one folder, for local test set-ups")
    .requiredOption("--out <dir>", "folder for ca.crt, ca.key and <domain>.crt/.key (created with mode 0700)")
    .requiredOption("--domains <list>", "comma-separated provider domains, e.g. a.example,b.example,c.example", collect, [])
    .option("--ip <address>", "also an IP address subjectAltName in every provider certificate (repeatable)", collect, [])
    .option("--days <n>", "validity in days of the provider certificates (default 397; the CA gets 3650)")
    .option("--force", "replace existing files")
    .addHelpText("after", NOTE)
    .action(async (opts: CommonOptions & { domains: string[]; ip: string[] }) => {
      if (opts.domains.length === 0) throw new MimiError("MIMI_ERR_CLI_USAGE", "--domains needs at least one domain");
      const c = await import("../../transport/certificates.ts");
      const out = resolve(io.cwd, opts.out);
      const d = days(opts.days);
      // Check every domain before writing anything.
      const pairs: { domain: string; pair: Awaited<ReturnType<typeof c.issueProviderCertificate>> }[] = [];
      const ca = await c.createCa();
      for (const domain of new Set(opts.domains)) {
        const certOptions: Parameters<typeof c.issueProviderCertificate>[1] = { domain, ips: opts.ip };
        if (d !== undefined) certOptions.days = d;
        pairs.push({ domain, pair: await c.issueProviderCertificate(ca, certOptions) });
      }
      const caFiles = await c.writeCertificateAndKey(out, "ca", ca, { force: opts.force === true });
      const providers = [];
      for (const { domain, pair } of pairs) providers.push({ domain, ...(await c.writeCertificateAndKey(out, domain, pair, { force: opts.force === true })) });
      print(io, { ca: caFiles, providers });
    });
}
