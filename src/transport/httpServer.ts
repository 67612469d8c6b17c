// The provider's HTTP server (fastify). This file wires the endpoint families; each family is a
// fastify plugin. Errors leave the server in one shape: `{ code, message, details? }` with the
// HTTP status of the error catalogue (src/errors.ts).
//
// With `tls` the server is HTTPS and asks every client for a certificate, refusing at the TLS
// level any handshake without one that chains to server.tls.ca (MIMI-PROTO-TLS-01); this holds
// for the directory and /health too. The /v1/ protocol routes additionally run the
// peerAuthentication plugin (From, certificate name, Host); without TLS they answer 403
// MIMI_ERR_PEER_UNAUTHENTICATED.
import type { Server as HttpsServer } from "node:https";
import type { TLSSocket } from "node:tls";
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from "fastify";
import { MimiError, isMimiError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { DIRECTORY_PATH, buildDirectory, mimiEndpoints, type MimiEndpointName } from "../protocol/directory.ts";
import { peerAuthentication, type PeerAuthenticationOptions } from "./peerAuthentication.ts";

/** What the HTTPS listener needs: our certificate and key, and the CAs client certificates must chain to. */
export interface HttpsMaterial {
  readonly certPem: string;
  /** Never logged (the field name is on the logger's redaction list). */
  readonly privateKey: string;
  readonly clientCa: readonly string[];
}

export interface HealthInfo {
  /** Throws or returns false when the provider cannot serve (e.g. the store is closed). */
  check(): Promise<{ ok: boolean; details: Record<string, unknown> }>;
}

export interface HttpServerOptions {
  logger: Logger;
  domain: string;
  /** Absolute base URL peers use; the directory's URLs are built on it. */
  publicUrl: () => string;
  bodyLimitBytes: number;
  version: string;
  health: HealthInfo;
  /** HTTPS with required client certificates. Absent: plain HTTP. */
  tls?: HttpsMaterial | undefined;
  /**
   * Guard the /v1/ routes with the peerAuthentication plugin (default true; `tls` implies it).
   * Only route-level tests set it to false to reach the handlers without sockets.
   */
  requirePeerAuthentication?: boolean;
  /** Handlers of the protocol endpoints; the others answer 501. */
  protocol?: ProtocolHandlers | undefined;
  /** Overrides how the plugin finds the client certificate (tests without sockets). */
  peerCertificate?: PeerAuthenticationOptions["peerCertificate"];
  /** More routes in the peer-authenticated /v1/ context (our extensions, e.g. /v1/discovery/…). */
  peerRoutes?: ((v1: FastifyInstance) => Promise<void>) | undefined;
}

/** One protocol request, after peer authentication: the path parameter, the raw body, the peer. */
export interface ProtocolRequest {
  /** The `{…}` part of the path as fastify decoded it (e.g. "a.example/r/room1"). */
  param: string;
  body: Uint8Array;
  /** The authenticated source provider (MIMI-PROTO-TLS-02). */
  peerDomain: string;
}

export type ProtocolHandlers = Partial<Record<MimiEndpointName, (req: ProtocolRequest) => Promise<{ status: number; body?: Uint8Array }>>>;

/** Maps fastify's own errors onto the catalogue so every error answer has a stable code. */
function toMimiError(err: FastifyError | Error): MimiError {
  if (isMimiError(err)) return err;
  const code = (err as FastifyError).code;
  switch (code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new MimiError("MIMI_ERR_HTTP_BODY_TOO_LARGE", undefined, { cause: err });
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
    case "FST_ERR_CTP_INVALID_CONTENT_LENGTH":
      return new MimiError("MIMI_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE", undefined, { cause: err });
    default: {
      const status = (err as FastifyError).statusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        return new MimiError("MIMI_ERR_HTTP_BAD_REQUEST", err.message, { cause: err });
      }
      return new MimiError("MIMI_ERR_INTERNAL", undefined, { cause: err });
    }
  }
}

export async function buildHttpServer(opts: HttpServerOptions): Promise<FastifyInstance> {
  const logger: FastifyBaseLogger = opts.logger.child({ component: "http" });
  const common = {
    loggerInstance: logger,
    bodyLimit: opts.bodyLimitBytes,
    return503OnClosing: true,
    forceCloseConnections: "idle" as const,
  };
  // MIMI-PROTO-TLS-01: mutual authentication. requestCert + rejectUnauthorized: a handshake
  // without a client certificate chaining to clientCa fails at the TLS level, before HTTP.
  // (The https server is used through the same FastifyInstance surface: listen, inject, close,
  // server.address().)
  const app: FastifyInstance = opts.tls
    ? Fastify<HttpsServer>({
        ...common,
        https: {
          cert: opts.tls.certPem,
          key: opts.tls.privateKey,
          ca: [...opts.tls.clientCa],
          requestCert: true,
          rejectUnauthorized: true,
          minVersion: "TLSv1.2",
        },
      })
    : Fastify(common);
  if (opts.tls) {
    app.server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      logger.debug({ code: err.code, remoteAddress: socket.remoteAddress }, "TLS handshake refused");
    });
  }

  // MIMI bodies are binary TLS-presentation-language structs; the draft names no media type,
  // so octet-stream (and message/mls) are accepted as raw buffers (digest §2.1).
  const raw = (_req: unknown, body: Buffer, done: (err: Error | null, body?: Buffer) => void) => done(null, body);
  app.removeContentTypeParser(["text/plain"]);
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, raw);
  app.addContentTypeParser("message/mls", { parseAs: "buffer" }, raw);

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const mimi = toMimiError(err);
    if (mimi.statusCode >= 500) req.log.error({ err }, "request failed");
    else req.log.info({ code: mimi.code }, "request rejected");
    // A rate-limited answer (429) says when to come back (RFC 6585 §4, RFC 9110 §10.2.3).
    if (typeof mimi.details?.["retryAfterSeconds"] === "number") void reply.header("retry-after", String(mimi.details["retryAfterSeconds"]));
    return reply.status(mimi.statusCode).send(mimi.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const err = new MimiError("MIMI_ERR_HTTP_NOT_FOUND", `no endpoint ${req.method} ${req.url.split("?")[0] ?? ""}`);
    return reply.status(404).send(err.toJSON());
  });

  // draft-ietf-mimi-protocol-06 §Directory.
  app.get(DIRECTORY_PATH, (_req, reply) => reply.send(buildDirectory(opts.publicUrl())));

  app.get("/health", async (_req, reply) => {
    let result: { ok: boolean; details: Record<string, unknown> };
    try {
      result = await opts.health.check();
    } catch (err) {
      result = { ok: false, details: { error: err instanceof Error ? err.message : String(err) } };
    }
    return reply.status(result.ok ? 200 : 503).send({
      status: result.ok ? "ok" : "unavailable",
      provider: opts.domain,
      version: opts.version,
      ...result.details,
    });
  });

  // The protocol endpoints (everything under /v1/), in their own context so the
  // peerAuthentication hook applies to them and to nothing else.
  // MIMI-PROTO-TLS-01: every /v1/ route is guarded; without TLS nothing can authenticate a
  // peer, so they answer 403 MIMI_ERR_PEER_UNAUTHENTICATED. Only route-level tests switch the
  // guard off explicitly to reach the handlers.
  const guard = opts.tls !== undefined || opts.requirePeerAuthentication !== false;
  await app.register(async (v1) => {
    if (guard) {
      const authOptions: PeerAuthenticationOptions = { domain: opts.domain, tls: opts.tls !== undefined };
      if (opts.peerCertificate !== undefined) authOptions.peerCertificate = opts.peerCertificate;
      await v1.register(peerAuthentication, authOptions);
    }
    // Endpoints without a handler answer 501 with a typed error rather than a bare 404, so a
    // peer can tell "not (yet) implemented" from "wrong URL".
    for (const [name, ep] of Object.entries(mimiEndpoints) as [MimiEndpointName, (typeof mimiEndpoints)[MimiEndpointName]][]) {
      const path = ep.template.replace(/\/\{[A-Za-z]+\}$/, "/*");
      const handler = opts.protocol?.[name];
      v1.route({
        method: ep.method,
        url: path,
        handler: async (req, reply) => {
          if (!handler) return reply.status(501).send(new MimiError("MIMI_ERR_HTTP_NOT_IMPLEMENTED", `${name} is not implemented yet`).toJSON());
          const param = (req.params as Record<string, string>)["*"] ?? "";
          const raw: unknown = req.body;
          const body = raw instanceof Uint8Array ? Uint8Array.from(raw) : new Uint8Array(0);
          const result = await handler({ param, body, peerDomain: req.peerDomain });
          reply.status(result.status);
          if (result.body === undefined) return reply.send();
          return reply.type("application/octet-stream").send(Buffer.from(result.body.buffer, result.body.byteOffset, result.body.byteLength));
        },
      });
    }
    if (opts.peerRoutes !== undefined) await opts.peerRoutes(v1);
  });

  await app.ready();
  return app;
}
