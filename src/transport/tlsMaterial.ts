// Reading and checking the files named by server.tls, peers.*.ca and outbound (the config holds
// paths only). Every problem is collected and reported at once, like the schema's problems:
//
//  - every file must be readable and hold PEM of the right kind;
//  - MIMI-PROTO-TLS-05: the private key file must be mode 0600 or stricter (no group or other
//    bits), else MIMI_ERR_CONFIG_KEY_PERMISSIONS;
//  - the certificate must match the key, be within its validity period, allow TLS server and
//    client use (extended key usage, when present), and name provider.domain (peers check it
//    against our `From`, MIMI-PROTO-TLS-02);
//  - peers need server.tls: our certificate is our client certificate;
//  - with server.tls, server.publicUrl (the base of our directory's URLs) must be https.
//
// Relative paths are relative to the working directory (like storage.dataDir). Key material is
// kept in a field named `privateKey`, which the logger censors wherever it appears; paths may be
// logged, file contents never are.
import { X509Certificate, createPrivateKey, type KeyObject } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { getCACertificates } from "node:tls";
import { resolve } from "node:path";
import type { Config, ConfigProblem } from "../config/index.ts";
import { MimiError } from "../errors.ts";
import { certificateNamesDomain } from "./peerIdentity.ts";

export const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** Our certificate and key, and the trust anchors for peers' client certificates. */
export interface ServerTlsMaterial {
  /** PEM: our certificate, followed by any intermediates. */
  readonly certPem: string;
  /** PEM: our private key. Never logged (the field name is on the logger's redaction list). */
  readonly privateKey: string;
  /** PEM certificates that client certificates must chain to (server.tls.ca, plus Node's default CAs with trustSystemRoots). */
  readonly clientCa: readonly string[];
  /** For log lines: where the material came from. */
  readonly paths: { readonly cert: string; readonly key: string; readonly ca: string };
  readonly notAfter: Date;
}

/** Where a peer is reached and which CAs its server certificate may chain to. */
export interface PeerTarget {
  readonly url: string;
  readonly serverCa: readonly string[];
}

export interface TransportSecurity {
  /** Undefined when server.tls is not configured (plain HTTP, no peer authentication). */
  readonly server: ServerTlsMaterial | undefined;
  /** Static peer map, resolved (peers.<domain>). */
  readonly peers: ReadonlyMap<string, PeerTarget>;
  /** CAs for peers without an entry, or without their own ca: server.tls.ca (+ Node's defaults with outbound.trustSystemRoots). */
  readonly defaultServerCa: readonly string[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Splits a PEM bundle into its certificates (anything between them is ignored). */
export function splitPemCertificates(text: string): string[] {
  return [...text.matchAll(PEM_CERT)].map((m) => `${m[0]}\n`);
}

/** The CAs Node trusts by default: its bundled Mozilla store, plus the OS store with --use-system-ca, plus NODE_EXTRA_CA_CERTS. */
export function defaultRootCertificates(): string[] {
  return getCACertificates("default");
}

/** Key file mode check (MIMI-PROTO-TLS-05): undefined if 0600 or stricter, else the problem. */
export function keyModeProblem(mode: number): string | undefined {
  const perms = mode & 0o777;
  return (perms & 0o077) === 0 ? undefined : `is readable by group or others (mode ${perms.toString(8).padStart(4, "0")}); it must be 0600 or stricter (chmod 600)`;
}

interface Collector {
  problems: ConfigProblem[];
  permissionProblem: boolean;
}

async function readText(path: string, configPath: string, c: Collector): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    c.problems.push({ path: configPath, message: `cannot read ${path}: ${code}` });
    return undefined;
  }
}

async function readCertificates(path: string, configPath: string, c: Collector): Promise<string[] | undefined> {
  const text = await readText(path, configPath, c);
  if (text === undefined) return undefined;
  const pems = splitPemCertificates(text);
  if (pems.length === 0) {
    c.problems.push({ path: configPath, message: `${path} holds no PEM certificate` });
    return undefined;
  }
  for (const [i, pem] of pems.entries()) {
    try {
      new X509Certificate(pem);
    } catch (err) {
      c.problems.push({ path: configPath, message: `${path}: certificate ${i + 1} cannot be parsed (${err instanceof Error ? err.message : String(err)})` });
      return undefined;
    }
  }
  return pems;
}

async function readPrivateKey(path: string, configPath: string, c: Collector): Promise<{ pem: string; key: KeyObject } | undefined> {
  try {
    const st = await stat(path);
    if (!st.isFile()) {
      c.problems.push({ path: configPath, message: `${path} is not a file` });
      return undefined;
    }
    const modeProblem = keyModeProblem(st.mode);
    if (modeProblem !== undefined) {
      c.problems.push({ path: configPath, message: `${path} ${modeProblem}` });
      c.permissionProblem = true;
      return undefined; // do not even read a key that others may have read
    }
  } catch (err) {
    c.problems.push({ path: configPath, message: `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
    return undefined;
  }
  const pem = await readText(path, configPath, c);
  if (pem === undefined) return undefined;
  try {
    return { pem, key: createPrivateKey(pem) };
  } catch {
    // The parser's message could quote the file; say only that it is not a key.
    c.problems.push({ path: configPath, message: `${path} holds no usable PEM private key` });
    return undefined;
  }
}

function checkLeaf(leafPem: string, key: KeyObject | undefined, domain: string, path: string, now: Date, c: Collector): Date | undefined {
  const cert = new X509Certificate(leafPem);
  const at = "server.tls.cert";
  if (key !== undefined && !cert.checkPrivateKey(key)) c.problems.push({ path: at, message: `${path}: the certificate does not match server.tls.key` });
  if (cert.validToDate.getTime() < now.getTime()) c.problems.push({ path: at, message: `${path}: the certificate expired on ${cert.validTo}` });
  if (cert.validFromDate.getTime() > now.getTime()) c.problems.push({ path: at, message: `${path}: the certificate is not valid before ${cert.validFrom}` });
  const mismatch = certificateNamesDomain(domain, { subjectaltname: cert.subjectAltName });
  if (mismatch !== undefined) c.problems.push({ path: at, message: `${path}: the certificate does not name provider.domain ${domain} (${mismatch.message})` });
  const eku = cert.keyUsage as string[] | undefined; // node: the extended key usage OIDs, undefined when the extension is absent
  if (eku !== undefined && eku.length > 0 && !(eku.includes(EKU_SERVER_AUTH) && eku.includes(EKU_CLIENT_AUTH))) {
    c.problems.push({ path: at, message: `${path}: the certificate's extended key usage must allow both serverAuth and clientAuth (it is our server and our client certificate)` });
  }
  return cert.validToDate;
}

export interface LoadTransportOptions {
  /** Base for relative paths; default process.cwd(). */
  cwd?: string;
  now?: Date;
}

/**
 * Reads and checks every file the transport settings name. Throws one MimiError listing every
 * problem: MIMI_ERR_CONFIG_KEY_PERMISSIONS if a key file is too open (whatever else is wrong),
 * else MIMI_ERR_CONFIG_INVALID.
 */
export async function loadTransportSecurity(config: Config, opts: LoadTransportOptions = {}): Promise<TransportSecurity> {
  const cwd = opts.cwd ?? process.cwd();
  const now = opts.now ?? new Date();
  const c: Collector = { problems: [], permissionProblem: false };
  const tlsConfig = config.server.tls;

  let server: ServerTlsMaterial | undefined;
  let configuredCa: string[] | undefined;
  if (tlsConfig !== undefined) {
    const paths = { cert: resolve(cwd, tlsConfig.cert), key: resolve(cwd, tlsConfig.key), ca: resolve(cwd, tlsConfig.ca) };
    const key = await readPrivateKey(paths.key, "server.tls.key", c);
    const chain = await readCertificates(paths.cert, "server.tls.cert", c);
    configuredCa = await readCertificates(paths.ca, "server.tls.ca", c);
    const leaf = chain?.[0];
    const notAfter = leaf === undefined ? undefined : checkLeaf(leaf, key?.key, config.provider.domain, paths.cert, now, c);
    if (key !== undefined && chain !== undefined && configuredCa !== undefined && notAfter !== undefined) {
      server = {
        certPem: chain.join(""),
        privateKey: key.pem,
        clientCa: tlsConfig.trustSystemRoots ? [...configuredCa, ...defaultRootCertificates()] : configuredCa,
        paths,
        notAfter,
      };
    }
  }

  if (tlsConfig !== undefined && config.server.publicUrl?.startsWith("http:")) {
    c.problems.push({ path: "server.publicUrl", message: "must be an https URL when server.tls is set (peers only talk https)" });
  }

  const withDefaults = (cas: string[]) => (config.outbound.trustSystemRoots ? [...cas, ...defaultRootCertificates()] : cas);
  const peers = new Map<string, PeerTarget>();
  const peerEntries = Object.entries(config.peers);
  if (peerEntries.length > 0 && tlsConfig === undefined) {
    c.problems.push({ path: "peers", message: "talking to peers needs server.tls: its certificate is also our client certificate (mutual TLS)" });
  }
  for (const [domain, peer] of peerEntries) {
    let serverCa = configuredCa ?? [];
    if (peer.ca !== undefined) {
      const cas = await readCertificates(resolve(cwd, peer.ca), `peers[${JSON.stringify(domain)}].ca`, c);
      if (cas !== undefined) serverCa = cas;
    }
    peers.set(domain, { url: peer.url, serverCa: withDefaults(serverCa) });
  }

  if (c.problems.length > 0) {
    const problems = [...c.problems].sort((a, b) => a.path.localeCompare(b.path));
    const lines = problems.map((p) => `  ${p.path}: ${p.message}`).join("\n");
    throw new MimiError(
      c.permissionProblem ? "MIMI_ERR_CONFIG_KEY_PERMISSIONS" : "MIMI_ERR_CONFIG_INVALID",
      `the TLS settings have ${problems.length} problem(s):\n${lines}`,
      { details: { problems } },
    );
  }
  return { server, peers, defaultServerCa: withDefaults(configuredCa ?? []) };
}
