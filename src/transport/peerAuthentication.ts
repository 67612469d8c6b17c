// The `peerAuthentication` fastify plugin: who is calling a MIMI protocol endpoint
// (draft-ietf-mimi-protocol-06 §Transport). httpServer.ts registers it in the context of the
// /v1/ routes only; the directory and /health are outside it.
//
// For every request, in this order:
//  1. MIMI-PROTO-TLS-01: the connection is TLS and the client presented a certificate that the
//     TLS layer verified against server.tls.ca (requestCert + rejectUnauthorized already refuse
//     any other handshake). Without TLS configured there is no peer authentication at all, so
//     every /v1/ request answers 403 MIMI_ERR_PEER_UNAUTHENTICATED.
//  2. MIMI-PROTO-TLS-04: exactly one `From: mimi@<domain>` header, else 400 MIMI_ERR_PEER_BAD_FROM.
//  3. MIMI-PROTO-TLS-02: the client certificate names that domain (subjectAltName dNSName, Node's
//     checkServerIdentity rules; see peerIdentity.ts), else 403 MIMI_ERR_PEER_CERT_MISMATCH.
//  4. MIMI-PROTO-TLS-03: exactly one `Host` header naming this provider's domain (port ignored),
//     else 421 Misdirected Request, MIMI_ERR_PEER_WRONG_HOST (RFC 9110 §15.5.20: this server is
//     not authoritative for the target; the peer may retry elsewhere).
// Then `request.peerDomain` is the authenticated source domain.
import { TLSSocket } from "node:tls";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { MimiError } from "../errors.ts";
import { certificateNamesDomain, hostNamesDomain, parseFromHeader, type CertificateNames } from "./peerIdentity.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated source provider domain; set by the peerAuthentication plugin (/v1/ routes only). */
    peerDomain: string;
  }
}

export interface PeerAuthenticationOptions {
  /** This provider's domain: `Host` must name it. */
  domain: string;
  /** Whether the server runs TLS with required client certificates. false: every request is refused. */
  tls: boolean;
  /**
   * The verified client certificate of a request, or undefined. Default: from the TLS socket
   * (only when the TLS layer authorized it). Tests replace it to exercise the rules without sockets.
   */
  peerCertificate?: (req: FastifyRequest) => CertificateNames | undefined;
}

/**
 * Every value of header `name` as received (node folds repeated From and Host headers into the
 * first one in `headers`; a repeated one must be refused, not silently dropped).
 */
export function headerValues(req: FastifyRequest, name: string): string[] {
  const raw = req.raw.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]?.toLowerCase() === name) out.push(raw[i + 1] ?? "");
  return out;
}

/** The client certificate the TLS layer verified, or undefined. */
export function socketPeerCertificate(req: FastifyRequest): CertificateNames | undefined {
  const socket = req.raw.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  return Object.keys(cert).length === 0 ? undefined : cert;
}

function peerAuthenticationPlugin(app: FastifyInstance, opts: PeerAuthenticationOptions, done: (err?: Error) => void): void {
  const peerCertificate = opts.peerCertificate ?? socketPeerCertificate;
  app.decorateRequest("peerDomain", "");
  app.addHook("onRequest", (req, _reply, next) => {
    try {
      req.peerDomain = authenticate(req, opts, peerCertificate);
      next();
    } catch (err) {
      next(err as Error);
    }
  });
  done();
}

/** The checks, in order; returns the authenticated source domain or throws the MimiError to answer. */
function authenticate(req: FastifyRequest, opts: PeerAuthenticationOptions, peerCertificate: (req: FastifyRequest) => CertificateNames | undefined): string {
  // MIMI-PROTO-TLS-01
  if (!opts.tls) {
    throw new MimiError("MIMI_ERR_PEER_UNAUTHENTICATED", "peer authentication needs mutual TLS and this provider has no server.tls configured");
  }
  const cert = peerCertificate(req);
  if (cert === undefined) throw new MimiError("MIMI_ERR_PEER_UNAUTHENTICATED", "no verified client certificate on this connection");
  // MIMI-PROTO-TLS-04
  const from = parseFromHeader(headerValues(req, "from"));
  // MIMI-PROTO-TLS-02
  const mismatch = certificateNamesDomain(from, cert);
  if (mismatch !== undefined) {
    throw new MimiError("MIMI_ERR_PEER_CERT_MISMATCH", `the client certificate does not name ${from}: ${mismatch.message}`, {
      details: { from, certificateNames: cert.subjectaltname ?? "" },
    });
  }
  // MIMI-PROTO-TLS-03
  const host = headerValues(req, "host");
  if (!hostNamesDomain(host, opts.domain)) {
    throw new MimiError("MIMI_ERR_PEER_WRONG_HOST", `the Host header must name ${opts.domain}`, { details: { host: host.join(", ").slice(0, 300) } });
  }
  return from;
}

// Not encapsulated (what fastify-plugin does): the hook applies to the routes of the context that
// registers the plugin, i.e. the /v1/ routes, and to nothing outside that context.
export const peerAuthentication = Object.assign(peerAuthenticationPlugin, {
  [Symbol.for("skip-override")]: true,
  [Symbol.for("fastify.display-name")]: "peerAuthentication",
});
