// Certificates for tests, made in-process with the same code as `mimi-bridge certs`
// (src/transport/certificates.ts), and small TLS client helpers for tests that talk to a
// provider over real sockets.
import { connect, type ConnectionOptions, type TLSSocket } from "node:tls";
import { join } from "node:path";
import { createCa, issueProviderCertificate, writeCertificateAndKey, type CertificateAndKey, type ProviderCertificateOptions } from "../../src/transport/certificates.ts";

export interface CertFiles {
  cert: string;
  key: string;
}

export interface DevCertificates {
  dir: string;
  ca: CertFiles & { pair: CertificateAndKey };
  providers: Record<string, CertFiles & { pair: CertificateAndKey }>;
}

/** A CA and one provider certificate per domain, written into `dir` like `certs dev`. */
export async function makeDevCertificates(dir: string, domains: string[], opts: Omit<ProviderCertificateOptions, "domain"> = {}): Promise<DevCertificates> {
  const ca = await createCa();
  const caFiles = await writeCertificateAndKey(dir, "ca", ca);
  const providers: DevCertificates["providers"] = {};
  for (const domain of domains) {
    const pair = await issueProviderCertificate(ca, { ...opts, domain });
    providers[domain] = { ...(await writeCertificateAndKey(dir, domain, pair)), pair };
  }
  return { dir, ca: { ...caFiles, pair: ca }, providers };
}

/** One more provider certificate signed by an existing CA, written as `<name>.crt/.key` in `dir`. */
export async function makeProviderCertificate(dir: string, name: string, ca: CertificateAndKey, opts: ProviderCertificateOptions): Promise<CertFiles & { pair: CertificateAndKey }> {
  const pair = await issueProviderCertificate(ca, opts);
  return { ...(await writeCertificateAndKey(join(dir), name, pair)), pair };
}

export interface RawHttpsResult {
  /** Whether the client's side of the TLS handshake completed (with TLS 1.3 a refused client certificate is only seen after it). */
  handshake: boolean;
  /** Set when the exchange failed (TLS alert, reset, closed without an answer). */
  error?: NodeJS.ErrnoException;
  /** The raw HTTP answer, when there was one. */
  response?: string;
}

/**
 * Opens a TLS connection with `options`, sends `request` (raw HTTP/1.1, which should say
 * `Connection: close`) and collects the answer or the error. With TLS 1.3 a server that refuses the client certificate does so after the
 * client's side of the handshake, so the refusal shows up on the first read.
 */
export function rawHttpsExchange(options: ConnectionOptions, request: string, timeoutMs = 10_000): Promise<RawHttpsResult> {
  return new Promise((resolveResult) => {
    let response = "";
    let handshake = false;
    let done = false;
    const sockets: TLSSocket[] = [];
    const finish = (result: Omit<RawHttpsResult, "handshake">) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const s of sockets) s.destroy();
      resolveResult({ handshake, ...result });
    };
    const timer = setTimeout(() => finish({ error: Object.assign(new Error("timed out"), { code: "TEST_TIMEOUT" }) }), timeoutMs);
    const socket = connect(options, () => {
      handshake = true;
      socket.write(request);
    });
    sockets.push(socket);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (response += chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => finish({ error }));
    socket.on("end", () => finish(response === "" ? { error: Object.assign(new Error("closed without an answer"), { code: "TEST_NO_ANSWER" }) } : { response }));
  });
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Parses the raw HTTP/1.1 answer collected by rawHttpsExchange (Connection: close, no chunking expected). */
export function parseHttpAnswer(raw: string): HttpAnswer {
  const end = raw.indexOf("\r\n\r\n");
  const head = end < 0 ? raw : raw.slice(0, end);
  const [statusLine = "", ...lines] = head.split("\r\n");
  const m = /^HTTP\/1\.1 (\d{3})/.exec(statusLine);
  if (!m?.[1]) throw new Error(`not an HTTP answer: ${raw.slice(0, 200)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(m[1]), headers, body: end < 0 ? "" : raw.slice(end + 4) };
}

/** A raw HTTP/1.1 request with `Connection: close`; headers with an undefined value are left out. */
export function rawRequest(method: string, path: string, headers: Record<string, string | undefined>, body = ""): string {
  const lines = [`${method} ${path} HTTP/1.1`];
  for (const [k, v] of Object.entries({ ...headers, "content-length": String(Buffer.byteLength(body)), connection: "close" })) {
    if (v !== undefined) lines.push(`${k}: ${v}`);
  }
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}
