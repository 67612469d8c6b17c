// The outbound side of the server-to-server transport (draft-ietf-mimi-protocol-06 §Transport):
// HTTPS with mutual TLS to other providers.
//
//  - One keep-alive undici Agent per peer domain, with our certificate and key as the client
//    certificate (MIMI-PROTO-TLS-01) and, as trust anchors, the CA of the peer's entry in the
//    static peer map or else server.tls.ca (plus Node's default CAs with outbound.trustSystemRoots).
//  - The peer's server certificate is verified against the peer's DOMAIN (SNI and name check),
//    whatever the URL's host is: a static entry may say https://127.0.0.1:8481 and the
//    certificate must still name b.example (MIMI-PROTO-TLS-02, same rules as the server side).
//  - Every request sends `Host: <peer domain>` (MIMI-PROTO-TLS-03), `From: mimi@<our domain>`
//    (MIMI-PROTO-TLS-04) and `Content-Type: application/octet-stream` (digest §2.1: the draft
//    names no media type).
//  - Endpoint URLs come from the peer's directory (GET /.well-known/mimi-protocol-directory at the
//    static entry's URL, else https://<domain>), cached for outbound.directoryTtlMs; failures are
//    not cached. A directory URL must be https and on the base URL's host, the peer domain or a
//    subdomain of it (a peer cannot point our client certificate at arbitrary hosts).
//  - Answers of any HTTP status are results ({ status, headers, body }); only failing to get an
//    answer throws: MIMI_ERR_PEER_TLS, MIMI_ERR_PEER_TIMEOUT (outbound.requestTimeoutMs for the
//    whole exchange, outbound.connectTimeoutMs for the connection) or MIMI_ERR_PEER_UNREACHABLE.
import type { Socket } from "node:net";
import { Agent, buildConnector, type Dispatcher } from "undici";
import { MimiError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { DIRECTORY_PATH, expandTemplate, mimiEndpoints, type MimiDirectory, type MimiEndpointName } from "../protocol/directory.ts";
import { certificateNamesDomain, isProviderDomain } from "./peerIdentity.ts";
import type { PeerTarget } from "./tlsMaterial.ts";

export const MIMI_CONTENT_TYPE = "application/octet-stream";
/** Largest directory document accepted. */
export const MAX_DIRECTORY_BYTES = 64 * 1024;

export type PeerHeaders = Record<string, string | string[] | undefined>;

export interface PeerResponse {
  status: number;
  /** Lowercase header names. */
  headers: PeerHeaders;
  body: Uint8Array;
}

/** Our side of mutual TLS: the client certificate and its key. */
export interface ClientTlsMaterial {
  readonly certPem: string;
  /** Never logged (the field name is on the logger's redaction list). */
  readonly privateKey: string;
}

export interface PeerClientOptions {
  /** Our provider domain, sent as `From: mimi@<domain>`. */
  domain: string;
  logger: Logger;
  /** Undefined when server.tls is not configured: every request then fails with MIMI_ERR_PEER_UNAUTHENTICATED. */
  tls: ClientTlsMaterial | undefined;
  /** The static peer map (config `peers`, resolved by loadTransportSecurity). */
  peers: ReadonlyMap<string, PeerTarget>;
  /** Trust anchors for peers without their own CA. */
  defaultServerCa: readonly string[];
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  directoryTtlMs: number;
  maxResponseBytes: number;
  /** Clock for the directory cache (tests). */
  now?: () => number;
}

export interface PeerRequestOptions {
  /** Request body (POST endpoints). */
  body?: Uint8Array;
  /** Extra headers; From, Host and Content-Type are always ours. */
  headers?: Record<string, string>;
}

/**
 * Milliseconds to wait according to a Retry-After header (RFC 9110 §10.2.3): delay-seconds or an
 * HTTP-date (IMF-fixdate, and the obsolete RFC 850 and asctime forms recipients must accept).
 * Undefined when absent or malformed; a date in the past gives 0.
 */
export function retryAfterMs(headers: PeerHeaders, now: number = Date.now()): number | undefined {
  const raw = headers["retry-after"];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (value === undefined || value === "") return undefined;
  if (/^[0-9]+$/.test(value)) {
    const seconds = Number(value);
    return Number.isSafeInteger(seconds * 1000) ? seconds * 1000 : undefined;
  }
  const date = parseHttpDate(value);
  return date === undefined ? undefined : Math.max(0, date - now);
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "([0-9]{2}):([0-9]{2}):([0-9]{2})";
const IMF_FIXDATE = new RegExp(`^${DAY}, ([0-9]{2}) ${MONTH} ([0-9]{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(`^${LONG_DAY}, ([0-9]{2})-${MONTH}-([0-9]{2}) ${TIME} GMT$`);
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ([ 0-9][0-9]) ${TIME} ([0-9]{4})$`);

/** An HTTP-date (RFC 9110 §5.6.7) as epoch milliseconds, or undefined. */
export function parseHttpDate(value: string, now: number = Date.now()): number | undefined {
  let day: number, month: number, year: number, h: number, m: number, s: number;
  let match: RegExpExecArray | null;
  if ((match = IMF_FIXDATE.exec(value))) {
    [day, month, year, h, m, s] = [Number(match[1]), MONTHS.indexOf(match[2] ?? ""), Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])];
  } else if ((match = RFC850.exec(value))) {
    [day, month, h, m, s] = [Number(match[1]), MONTHS.indexOf(match[2] ?? ""), Number(match[4]), Number(match[5]), Number(match[6])];
    // A two-digit year more than 50 years in the future is in the past century (RFC 9110 §5.6.7).
    const yy = Number(match[3]);
    const thisYear = new Date(now).getUTCFullYear();
    year = Math.floor(thisYear / 100) * 100 + yy;
    if (year > thisYear + 50) year -= 100;
  } else if ((match = ASCTIME.exec(value))) {
    [month, day, h, m, s, year] = [MONTHS.indexOf(match[1] ?? ""), Number((match[2] ?? "").trim()), Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])];
  } else {
    return undefined;
  }
  if (h > 23 || m > 59 || s > 60 || day < 1) return undefined;
  const t = Date.UTC(year, month, day, h, m, Math.min(s, 59));
  // Reject dates that roll over (Feb 30 → Mar 2).
  return new Date(t).getUTCDate() === day ? t : undefined;
}

// Error codes of Node and OpenSSL that mean "TLS failed" rather than "no route" or "no answer".
const TLS_CODES = new Set([
  "EPROTO",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "INVALID_CA",
  "INVALID_PURPOSE",
  "HOSTNAME_MISMATCH",
]);
const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "ETIMEDOUT"]);

function errorChain(err: unknown): { code?: unknown; name?: unknown; message?: unknown }[] {
  const out: { code?: unknown; name?: unknown; message?: unknown }[] = [];
  let cur: unknown = err;
  for (let i = 0; i < 8 && cur !== null && typeof cur === "object"; i++) {
    out.push(cur);
    const next: unknown = (cur as { cause?: unknown }).cause;
    if (next === cur) break;
    cur = next;
  }
  return out;
}

/** Classifies a failure to get an answer: TLS, timeout, or unreachable. */
export function classifyNetworkError(err: unknown, timedOut: boolean): "MIMI_ERR_PEER_TLS" | "MIMI_ERR_PEER_TIMEOUT" | "MIMI_ERR_PEER_UNREACHABLE" {
  const chain = errorChain(err);
  for (const e of chain) {
    const code = typeof e.code === "string" ? e.code : "";
    if (TLS_CODES.has(code) || code.startsWith("ERR_SSL_") || code.startsWith("ERR_TLS_") || code.startsWith("CERT_")) return "MIMI_ERR_PEER_TLS";
  }
  if (timedOut) return "MIMI_ERR_PEER_TIMEOUT";
  for (const e of chain) {
    if ((typeof e.code === "string" && TIMEOUT_CODES.has(e.code)) || e.name === "TimeoutError") return "MIMI_ERR_PEER_TIMEOUT";
  }
  return "MIMI_ERR_PEER_UNREACHABLE";
}

/**
 * Remembers why connections of one peer died at the TLS level, for failures that undici only
 * reports as "other side closed". A Node server refuses a client certificate that does not
 * chain to its CA by closing the connection right after the TLS 1.3 handshake, without an alert,
 * so "closed before a single byte of answer" on a fresh connection is reported as a TLS failure
 * (most likely our certificate was refused). Keyed by the local port that undici's SocketError
 * carries.
 */
class ConnectionWatch {
  readonly #failures = new Map<number, Error>();

  observe(socket: Socket): void {
    const port = socket.localPort;
    if (port === undefined) return;
    socket.on("error", (err: Error) => {
      if (classifyNetworkError(err, false) === "MIMI_ERR_PEER_TLS") this.#failures.set(port, err);
    });
    socket.once("end", () => {
      // TLSSocket.bytesRead counts decrypted application bytes: 0 means no answer ever came.
      if (socket.bytesRead === 0 && !this.#failures.has(port)) {
        this.#failures.set(
          port,
          Object.assign(new Error("the peer closed the connection right after the TLS handshake without answering (it most likely refused our client certificate)"), {
            code: "ERR_TLS_CLOSED_AFTER_HANDSHAKE",
          }),
        );
      }
    });
    socket.once("close", () => setTimeout(() => this.#failures.delete(port), 5000).unref());
  }

  /** The TLS failure behind `err`, if its connection had one. */
  explain(err: unknown): Error | undefined {
    for (const e of errorChain(err)) {
      const info = (e as { socket?: { localPort?: unknown } }).socket;
      if (typeof info?.localPort === "number") return this.#failures.get(info.localPort);
    }
    return undefined;
  }
}

function describe(err: unknown): string {
  return errorChain(err)
    .map((e) => [typeof e.code === "string" ? e.code : undefined, typeof e.message === "string" ? e.message : undefined].filter(Boolean).join(" "))
    .filter(Boolean)
    .join(" <- ");
}

/** Base URL without trailing slashes. */
function trimBase(url: string): string {
  return url.replace(/\/+$/, "");
}

interface CachedDirectory {
  expires: number;
  value: Promise<Partial<MimiDirectory>>;
}

export class PeerClient {
  readonly #opts: PeerClientOptions;
  readonly #log: Logger;
  readonly #agents = new Map<string, { agent: Agent; watch: ConnectionWatch }>();
  readonly #directories = new Map<string, CachedDirectory>();
  #closed = false;

  constructor(opts: PeerClientOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: "peer-client" });
  }

  /** The value of our `From` header. */
  get from(): string {
    return `mimi@${this.#opts.domain}`;
  }

  /** Where `peer` is reached: its static entry's URL, else https://<peer>. */
  baseUrl(peer: string): string {
    this.#checkPeer(peer);
    return trimBase(this.#opts.peers.get(peer)?.url ?? `https://${peer}`);
  }

  /** The peer's protocol directory (cached for outbound.directoryTtlMs). */
  async directory(peer: string): Promise<Partial<MimiDirectory>> {
    this.#checkPeer(peer);
    const now = this.#now();
    const cached = this.#directories.get(peer);
    if (cached !== undefined && cached.expires > now) return cached.value;
    const value = this.#fetchDirectory(peer);
    const entry: CachedDirectory = { expires: now + this.#opts.directoryTtlMs, value };
    this.#directories.set(peer, entry);
    value.catch(() => {
      // Failures are not cached: the next call asks again.
      if (this.#directories.get(peer) === entry) this.#directories.delete(peer);
    });
    return value;
  }

  /** Drops the cached directory of `peer` (e.g. after a 404 from one of its endpoints). */
  forgetDirectory(peer: string): void {
    this.#directories.delete(peer);
  }

  /** The absolute URL of `endpoint` at `peer`, its template filled with `params`. */
  async endpointUrl(peer: string, endpoint: MimiEndpointName, params: Record<string, string>): Promise<string> {
    const template = (await this.directory(peer))[endpoint];
    if (template === undefined) throw new MimiError("MIMI_ERR_PEER_BAD_DIRECTORY", `${peer}'s directory has no ${endpoint} endpoint`, { details: { peer, endpoint } });
    return expandTemplate(template, params);
  }

  /** Calls a protocol endpoint of `peer` with the endpoint's method (mimiEndpoints). */
  async request(peer: string, endpoint: MimiEndpointName, params: Record<string, string>, opts: PeerRequestOptions = {}): Promise<PeerResponse> {
    const url = await this.endpointUrl(peer, endpoint, params);
    return this.requestUrl(peer, mimiEndpoints[endpoint].method, url, opts);
  }

  /** One HTTPS exchange with `peer` at an absolute URL, over the peer's mutual-TLS agent. */
  async requestUrl(peer: string, method: Dispatcher.HttpMethod, url: string, opts: PeerRequestOptions = {}): Promise<PeerResponse> {
    this.#checkPeer(peer);
    const { agent, watch } = this.#agent(peer);
    const target = new URL(url);
    if (target.protocol !== "https:") throw new MimiError("MIMI_ERR_PEER_UNREACHABLE", `refusing a non-https URL for ${peer}: ${target.origin}`, { details: { peer } });
    const timeout = AbortSignal.timeout(this.#opts.requestTimeoutMs);
    const started = Date.now();
    try {
      const res = await agent.request({
        origin: target.origin,
        path: `${target.pathname}${target.search}`,
        method,
        headers: {
          ...opts.headers,
          host: peer, // MIMI-PROTO-TLS-03: the target provider, whatever address the URL has
          from: this.from, // MIMI-PROTO-TLS-04
          "content-type": MIMI_CONTENT_TYPE,
        },
        body: opts.body === undefined ? null : Buffer.from(opts.body.buffer, opts.body.byteOffset, opts.body.byteLength),
        signal: timeout,
      });
      const body = new Uint8Array(await res.body.arrayBuffer());
      this.#log.debug({ peer, method, path: target.pathname, status: res.statusCode, ms: Date.now() - started }, "peer request");
      return { status: res.statusCode, headers: res.headers, body };
    } catch (err) {
      if (err instanceof MimiError) throw err;
      let code = classifyNetworkError(err, timeout.aborted);
      let cause: unknown = err;
      const tlsFailure = code === "MIMI_ERR_PEER_UNREACHABLE" ? watch.explain(err) : undefined;
      if (tlsFailure !== undefined) {
        code = "MIMI_ERR_PEER_TLS";
        cause = Object.assign(new Error(tlsFailure.message, { cause: err }), { code: (tlsFailure as NodeJS.ErrnoException).code });
      }
      const what =
        code === "MIMI_ERR_PEER_TLS" ? "TLS failed with" : code === "MIMI_ERR_PEER_TIMEOUT" ? `no answer within ${this.#opts.requestTimeoutMs} ms from` : "cannot reach";
      const failure = new MimiError(code, `${what} ${peer} (${method} ${target.origin}${target.pathname}): ${describe(cause)}`, { cause, details: { peer, url: `${target.origin}${target.pathname}` } });
      this.#log.info({ peer, method, path: target.pathname, code, ms: Date.now() - started }, "peer request failed");
      throw failure;
    }
  }

  /** Closes every connection. Requests in flight fail with MIMI_ERR_PEER_UNREACHABLE. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const agents = [...this.#agents.values()];
    this.#agents.clear();
    this.#directories.clear();
    await Promise.all(agents.map((a) => a.agent.destroy()));
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  #checkPeer(peer: string): void {
    if (!isProviderDomain(peer)) throw new MimiError("MIMI_ERR_PEER_UNREACHABLE", `${JSON.stringify(peer.slice(0, 300))} is not a provider domain`);
    if (this.#closed) throw new MimiError("MIMI_ERR_PEER_UNREACHABLE", "the peer client is closed");
  }

  #agent(peer: string): { agent: Agent; watch: ConnectionWatch } {
    const tls = this.#opts.tls;
    // MIMI-PROTO-TLS-01: no client certificate, no peer authentication.
    if (tls === undefined) throw new MimiError("MIMI_ERR_PEER_UNAUTHENTICATED", "outbound requests need server.tls: its certificate is our client certificate (mutual TLS)", { details: { peer } });
    let entry = this.#agents.get(peer);
    if (entry === undefined) {
      const ca = this.#opts.peers.get(peer)?.serverCa ?? this.#opts.defaultServerCa;
      const watch = new ConnectionWatch();
      const connector = buildConnector({
        cert: tls.certPem,
        key: tls.privateKey,
        ca: [...ca],
        rejectUnauthorized: true,
        // MIMI-PROTO-TLS-02: SNI and the name check use the peer's domain, not the URL's host.
        servername: peer,
        checkServerIdentity: (_host, cert) => certificateNamesDomain(peer, cert),
        minVersion: "TLSv1.2",
        timeout: this.#opts.connectTimeoutMs,
        allowH2: false,
      });
      const agent = new Agent({
        connect: (options, callback) =>
          connector(options, (...args) => {
            if (args[1]) watch.observe(args[1]);
            callback(...args);
          }),
        allowH2: false,
        keepAliveTimeout: 30_000,
        headersTimeout: this.#opts.requestTimeoutMs,
        bodyTimeout: this.#opts.requestTimeoutMs,
        maxResponseSize: this.#opts.maxResponseBytes,
      });
      entry = { agent, watch };
      this.#agents.set(peer, entry);
    }
    return entry;
  }

  async #fetchDirectory(peer: string): Promise<Partial<MimiDirectory>> {
    const base = this.baseUrl(peer);
    const res = await this.requestUrl(peer, "GET", `${base}${DIRECTORY_PATH}`, { headers: { accept: "application/json" } });
    const fail = (why: string) => new MimiError("MIMI_ERR_PEER_BAD_DIRECTORY", `${peer}'s directory (${base}${DIRECTORY_PATH}): ${why}`, { details: { peer, status: res.status } });
    if (res.status !== 200) throw fail(`HTTP status ${res.status}`);
    if (res.body.byteLength > MAX_DIRECTORY_BYTES) throw fail(`larger than ${MAX_DIRECTORY_BYTES} bytes`);
    let doc: unknown;
    try {
      doc = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(res.body));
    } catch {
      throw fail("not JSON");
    }
    if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw fail("not a JSON object");
    const baseHost = new URL(base).hostname;
    const out: Partial<MimiDirectory> = {};
    for (const name of Object.keys(mimiEndpoints) as MimiEndpointName[]) {
      const value = (doc as Record<string, unknown>)[name];
      if (value === undefined) continue;
      if (typeof value !== "string") throw fail(`${name} is not a string`);
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        throw fail(`${name} is not an absolute URL`);
      }
      if (url.protocol !== "https:") throw fail(`${name} is not an https URL`);
      const host = url.hostname;
      if (host !== baseHost && host !== peer && !host.endsWith(`.${peer}`)) throw fail(`${name} points to ${host}, which is neither ${baseHost} nor within ${peer}`);
      out[name] = value;
    }
    return out;
  }
}
