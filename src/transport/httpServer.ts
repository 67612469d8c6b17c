// The provider's HTTP server (fastify). This file wires the endpoint families; each family is a
// fastify plugin. Errors leave the server in one shape: `{ code, message, details? }` with the
// HTTP status of the error catalogue (src/errors.ts).
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from "fastify";
import { MimiError, isMimiError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { DIRECTORY_PATH, buildDirectory, mimiEndpoints } from "../protocol/directory.ts";

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
}

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
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: opts.bodyLimitBytes,
    disableRequestLogging: false,
    return503OnClosing: true,
    forceCloseConnections: "idle",
  });

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

  // The protocol endpoints themselves arrive with the protocol work (issue 3). Until then they
  // answer 501 with a typed error rather than a bare 404, so a peer can tell "not yet" from
  // "wrong URL".
  for (const [name, ep] of Object.entries(mimiEndpoints)) {
    const path = ep.template.replace(/\/\{[A-Za-z]+\}$/, "/*");
    app.route({
      method: ep.method,
      url: path,
      handler: async (_req, reply) =>
        reply.status(501).send(new MimiError("MIMI_ERR_HTTP_NOT_IMPLEMENTED", `${name} is not implemented yet`).toJSON()),
    });
  }

  await app.ready();
  return app;
}
