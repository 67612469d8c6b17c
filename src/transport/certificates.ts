// Test and private-deployment certificates for mutual TLS between providers (the `certs`
// command): a CA, and provider certificates usable as TLS server AND client certificate
// (subjectAltName dNSName = the provider domain, optional IP addresses, extended key usage
// serverAuth + clientAuth). ECDSA P-256 keys made with WebCrypto, signed with @peculiar/x509;
// PEM out. Key files are written with mode 0600 in folders created with mode 0700; no key is
// ever logged or printed.
//
// Loaded only by the `certs` command (dynamic import): @peculiar/x509 registers its algorithms
// with tsyringe, which needs the global Reflect metadata API (reflect-metadata); the serving
// process never loads it.
import "reflect-metadata";
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
  cryptoProvider,
} from "@peculiar/x509";
import { randomBytes, webcrypto } from "node:crypto";
import { chmod, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { MimiError, wrapError } from "../errors.ts";
import { isProviderDomain } from "./peerIdentity.ts";

cryptoProvider.set(webcrypto as unknown as Parameters<typeof cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC_KEY = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;
/** Backdating of notBefore, for peers whose clocks are a little behind. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** A certificate and its private key, both PEM (the key is PKCS#8). */
export interface CertificateAndKey {
  readonly certPem: string;
  /** Never logged (the field name is on the logger's redaction list). */
  readonly privateKey: string;
}

export interface CreateCaOptions {
  commonName?: string;
  days?: number;
  now?: Date;
}

export interface ProviderCertificateOptions {
  domain: string;
  /** IP addresses to add as subjectAltName iPAddress entries. */
  ips?: readonly string[];
  days?: number;
  now?: Date;
  /** Extended key usages; default both (a provider is server and client). Tests narrow it. */
  usages?: readonly ("serverAuth" | "clientAuth")[];
}

function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01; // positive and without a leading zero octet
  return bytes.toString("hex");
}

function validity(days: number, now: Date): { notBefore: Date; notAfter: Date } {
  if (!Number.isInteger(days) || days < 1 || days > 36500) throw new MimiError("MIMI_ERR_CLI_USAGE", `--days must be an integer from 1 to 36500, got ${days}`);
  return { notBefore: new Date(now.getTime() - CLOCK_SKEW_MS), notAfter: new Date(now.getTime() + days * DAY_MS) };
}

async function exportKey(key: CryptoKey): Promise<string> {
  return PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function newKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"]);
}

/** A self-signed CA for provider certificates (basicConstraints CA, pathLength 0). */
export async function createCa(opts: CreateCaOptions = {}): Promise<CertificateAndKey> {
  const commonName = opts.commonName ?? "mimi-bridge test CA";
  const keys = await newKeyPair();
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ O: ["mimi-bridge (tests and private deployments)"] }, { CN: [commonName] }],
    ...validity(opts.days ?? 3650, opts.now ?? new Date()),
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new BasicConstraintsExtension(true, 0, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem") + "\n", privateKey: await exportKey(keys.privateKey) };
}

/** A provider certificate signed by `ca`: dNSName = domain (+ IP addresses), serverAuth + clientAuth. */
export async function issueProviderCertificate(ca: CertificateAndKey, opts: ProviderCertificateOptions): Promise<CertificateAndKey> {
  if (!isProviderDomain(opts.domain)) throw new MimiError("MIMI_ERR_CLI_USAGE", `${JSON.stringify(opts.domain)} is not a provider domain (a lowercase DNS name such as a.example)`);
  const ips = opts.ips ?? [];
  for (const ip of ips) if (isIP(ip) === 0) throw new MimiError("MIMI_ERR_CLI_USAGE", `${JSON.stringify(ip)} is not an IP address`);
  let caCert: X509Certificate;
  let caKey: CryptoKey;
  try {
    caCert = new X509Certificate(ca.certPem);
    caKey = await webcrypto.subtle.importKey("pkcs8", PemConverter.decodeFirst(ca.privateKey), EC_KEY, false, ["sign"]);
  } catch (err) {
    throw wrapError("MIMI_ERR_CLI_USAGE", err, "the CA certificate or key cannot be read (an ECDSA P-256 CA made by `mimi-bridge certs ca` is expected)");
  }
  const keys = await newKeyPair();
  const usages = opts.usages ?? ["serverAuth", "clientAuth"];
  const cert = await X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [opts.domain] }],
    issuer: caCert.subject,
    ...validity(opts.days ?? 397, opts.now ?? new Date()),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new BasicConstraintsExtension(false, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
      new ExtendedKeyUsageExtension(usages.map((u) => (u === "serverAuth" ? ExtendedKeyUsage.serverAuth : ExtendedKeyUsage.clientAuth))),
      new SubjectAlternativeNameExtension([{ type: "dns", value: opts.domain }, ...ips.map((ip) => ({ type: "ip" as const, value: ip }))]),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
      await AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return { certPem: cert.toString("pem") + "\n", privateKey: await exportKey(keys.privateKey) };
}

export interface WrittenFiles {
  cert: string;
  key: string;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Creates `dir` (mode 0700 when it is new). */
export async function ensurePrivateDir(dir: string): Promise<void> {
  try {
    const created = await mkdir(dir, { recursive: true, mode: 0o700 });
    if (created !== undefined) await chmod(dir, 0o700);
  } catch (err) {
    throw wrapError("MIMI_ERR_FILE_NOT_FOUND", err, `cannot create ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/**
 * MIMI-PROTO-TLS-05: writes `<name>.crt` (0644) and `<name>.key` (0600, created exclusively so it is never readable
 * by others at any moment) in `dir`. Existing files are refused unless `force`.
 */
export async function writeCertificateAndKey(dir: string, name: string, pair: CertificateAndKey, opts: { force?: boolean } = {}): Promise<WrittenFiles> {
  await ensurePrivateDir(dir);
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  if (opts.force) {
    await Promise.all([rm(files.cert, { force: true }), rm(files.key, { force: true })]);
  } else {
    for (const f of [files.key, files.cert]) {
      if (await exists(f)) throw new MimiError("MIMI_ERR_CLI_USAGE", `${f} already exists; use --force to replace it`);
    }
  }
  try {
    await writeFile(files.key, pair.privateKey, { mode: 0o600, flag: "wx" });
    await chmod(files.key, 0o600); // in case of an unusual umask or file system
    await writeFile(files.cert, pair.certPem, { mode: 0o644, flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") {
      throw new MimiError("MIMI_ERR_CLI_USAGE", `${files.key} or ${files.cert} already exists; use --force to replace it`, { cause: err });
    }
    throw wrapError("MIMI_ERR_FILE_NOT_FOUND", err, `cannot write ${name}.crt/.key in ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return files;
}

/** Reads `ca.crt` and `ca.key` from a folder made by `certs ca`. */
export async function readCa(dir: string): Promise<CertificateAndKey> {
  try {
    const [certPem, privateKey] = await Promise.all([readFile(join(dir, "ca.crt"), "utf8"), readFile(join(dir, "ca.key"), "utf8")]);
    return { certPem, privateKey };
  } catch (err) {
    throw wrapError("MIMI_ERR_FILE_NOT_FOUND", err, `cannot read ca.crt and ca.key in ${dir}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
