// The provider-local client API for native MIMI clients (docs/CLIENT-API.md). A separate
// listener from the server-to-server one: clients authenticate with bearer tokens, not with
// provider certificates. The provider never holds client MLS keys; it stores and forwards
// ciphertext, KeyPackages and public handshakes.
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { MimiError, isMimiError } from "../errors.ts";
import type { InboxEvent } from "../inbox/inbox.ts";
import type { Logger } from "../log.ts";
import type { UserRecord } from "../accounts/accounts.ts";
import { ClientOperations, roomKindOf, roomUriOf } from "./operations.ts";
import type { Services } from "../services.ts";
import { discoveryRoutes } from "./discoveryRoutes.ts";
import { consentRoutes } from "./consentRoutes.ts";

export interface ClientApiOptions {
  services: Services;
  logger: Logger;
  registration: "open" | "closed";
  bodyLimitBytes: number;
  /** Longest long-poll wait a client may ask for. */
  maxWaitMs?: number;
}

declare module "fastify" {
  interface FastifyRequest {
    user: UserRecord | undefined;
  }
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
function fromB64(value: unknown, field: string): Uint8Array {
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `${field} must be a base64 string`);
  }
  return new Uint8Array(Buffer.from(value, "base64"));
}
function field(body: unknown, name: string): unknown {
  return body !== null && typeof body === "object" ? (body as Record<string, unknown>)[name] : undefined;
}


export async function buildClientApi(o: ClientApiOptions): Promise<FastifyInstance> {
  const s = o.services;
  const logger: FastifyBaseLogger = o.logger.child({ component: "client-api" });
  const app = Fastify({ loggerInstance: logger, bodyLimit: o.bodyLimitBytes, return503OnClosing: true, forceCloseConnections: true });
  const maxWait = o.maxWaitMs ?? 30_000;

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    const mimi = isMimiError(err)
      ? err
      : err.code === "FST_ERR_CTP_BODY_TOO_LARGE"
        ? new MimiError("MIMI_ERR_HTTP_BODY_TOO_LARGE", undefined, { cause: err })
        : err.statusCode !== undefined && err.statusCode < 500
          ? new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", err.message, { cause: err })
          : new MimiError("MIMI_ERR_INTERNAL", undefined, { cause: err });
    if (mimi.statusCode >= 500) req.log.error({ err }, "client request failed");
    return reply.status(mimi.statusCode).send(mimi.toJSON());
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send(new MimiError("MIMI_ERR_HTTP_NOT_FOUND", `no endpoint ${req.method} ${req.url.split("?")[0] ?? ""}`).toJSON()));

  app.decorateRequest("user", undefined);
  app.addHook("onRequest", async (req) => {
    if (req.url === "/client/v1/register" || !req.url.startsWith("/client/v1/")) return;
    const auth = req.headers.authorization;
    const token = typeof auth === "string" && auth.startsWith("Bearer ") ? auth.slice(7).trim() : undefined;
    const user = await s.accounts.authenticate(token);
    if (!user) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED");
    req.user = user;
  });
  const me = (req: FastifyRequest): UserRecord => {
    if (!req.user) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED");
    return req.user;
  };
  const ops = (req: FastifyRequest) => new ClientOperations(s, me(req));
  const roomFrom = (req: FastifyRequest): string => {
    const raw = (req.params as Record<string, string>)["*"] ?? "";
    return roomUriOf(raw.replace(/\/(keyMaterial|update|submit|groupInfo|subscription)$/, ""));
  };

  // ---- accounts and devices ----------------------------------------------------------------

  app.post("/client/v1/register", async (req, reply) => {
    if (o.registration !== "open") throw new MimiError("MIMI_ERR_CLIENT_REGISTRATION_CLOSED");
    const user = field(req.body, "user");
    if (typeof user !== "string") throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "user must be a string");
    const created = await s.accounts.createUser(user);
    return reply.status(201).send(created);
  });

  app.get("/client/v1/me", (req) => ops(req).me());

  app.get("/client/v1/provider", (req) => {
    const p = ops(req).provider();
    return {
      domain: p.domain,
      hubExternalSender: { signatureKeyB64: b64(p.hubSignatureKey), credentialB64: b64(p.hubCredential) },
      cipherSuites: p.cipherSuites,
      roomKinds: p.roomKinds,
    };
  });

  app.post("/client/v1/devices", (req) => {
    const deviceId = field(req.body, "deviceId");
    if (deviceId !== undefined && typeof deviceId !== "string") throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "deviceId must be a string");
    return ops(req).addDevice(deviceId);
  });

  app.post("/client/v1/keyPackages", (req) => {
    const list = field(req.body, "keyPackagesB64");
    if (!Array.isArray(list) || list.length === 0 || list.length > 100) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "keyPackagesB64 must be a list of 1 to 100 KeyPackages");
    return ops(req).uploadKeyPackages(list.map((v, i) => fromB64(v, `keyPackagesB64[${i}]`)));
  });

  app.get("/client/v1/keyPackages/count", (req) => ops(req).keyPackageCounts());

  // ---- rooms -----------------------------------------------------------------------------------

  app.post("/client/v1/rooms/template", async (req) => {
    const participants = field(req.body, "participants") ?? [];
    if (!Array.isArray(participants) || participants.some((p) => typeof p !== "string")) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "participants must be a list of user URIs");
    const t = await ops(req).template(roomKindOf(field(req.body, "kind")), participants as string[]);
    return {
      roomId: t.roomId,
      groupIdB64: b64(t.groupId),
      kind: t.kind,
      hubExternalSender: { signatureKeyB64: b64(s.hubSender.signaturePublicKey), credentialB64: b64(s.hubIdentity.credential) },
      components: { participantListB64: b64(t.participantList), rolesListB64: b64(t.rolesList), baseRoomPolicyB64: b64(t.baseRoomPolicy) },
      expiresAt: t.expiresAt,
    };
  });

  app.post("/client/v1/rooms", async (req, reply) => {
    const roomId = field(req.body, "roomId");
    const clientUri = field(req.body, "clientUri");
    if (typeof roomId !== "string" || typeof clientUri !== "string") throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "roomId and clientUri are required");
    const created = await ops(req).createRoom(roomId, clientUri, fromB64(field(req.body, "groupInfoB64"), "groupInfoB64"), fromB64(field(req.body, "ratchetTreeB64"), "ratchetTreeB64"));
    return reply.status(201).send(created);
  });

  app.get("/client/v1/rooms", (req) => ops(req).rooms());

  app.post("/client/v1/rooms/*", async (req, reply: FastifyReply) => {
    const raw = (req.params as Record<string, string>)["*"] ?? "";
    const action = raw.slice(raw.lastIndexOf("/") + 1);
    const roomId = roomFrom(req);
    const o2 = ops(req);
    switch (action) {
      case "keyMaterial":
        return { responseB64: b64(await o2.keyMaterial(roomId, fromB64(field(req.body, "requestB64"), "requestB64"))) };
      case "update":
        return { responseB64: b64(await o2.update(roomId, fromB64(field(req.body, "bundleB64"), "bundleB64"))) };
      case "submit":
        return { responseB64: b64(await o2.submit(roomId, fromB64(field(req.body, "messageB64"), "messageB64"))) };
      case "groupInfo":
        return { responseB64: b64(await o2.groupInfo(roomId, fromB64(field(req.body, "requestB64"), "requestB64"))) };
      default:
        return reply.status(404).send(new MimiError("MIMI_ERR_HTTP_NOT_FOUND", `no room action ${action}`).toJSON());
    }
  });

  app.delete("/client/v1/rooms/*", async (req, reply) => {
    await ops(req).unsubscribe(roomFrom(req));
    return reply.status(204).send();
  });

  // ---- events ----------------------------------------------------------------------------------

  const toJson = (e: InboxEvent) =>
    e.type === "welcome"
      ? { seq: e.seq, type: e.type, roomId: e.roomId, timestamp: e.timestamp, fanoutB64: b64(e.fanout), keyPackageRefsB64: e.keyPackageRefs.map(b64) }
      : { seq: e.seq, type: e.type, roomId: e.roomId, timestamp: e.timestamp, fanoutB64: b64(e.fanout) };

  app.post("/client/v1/events/ack", async (req, reply) => {
    const clientUri = field(req.body, "clientUri");
    const seq = field(req.body, "seq");
    if (typeof clientUri !== "string" || typeof seq !== "number") throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "clientUri (string) and seq (non-negative integer) are required");
    await ops(req).ack(clientUri, seq);
    return reply.status(204).send();
  });

  app.get("/client/v1/events", async (req, reply) => {
    const user = me(req);
    const q = req.query as Record<string, string | undefined>;
    const after = Number(q.after ?? "0");
    if (!Number.isInteger(after) || after < 0) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "after must be a non-negative integer");
    const accept = req.headers.accept ?? "";
    if (q.wait === undefined && accept.includes("text/event-stream")) {
      // Server-Sent Events: everything after `after`, then live.
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      let cursor = after;
      let closed = false;
      let busy = false;
      const pump = async () => {
        if (busy || closed) return;
        busy = true;
        try {
          for (;;) {
            const batch = await s.inbox.read(user.name, cursor);
            if (batch.length === 0) break;
            for (const e of batch) {
              res.write(`id: ${e.seq}\ndata: ${JSON.stringify(toJson(e))}\n\n`);
              cursor = e.seq;
            }
          }
        } finally {
          busy = false;
        }
      };
      const unsubscribe = s.inbox.subscribe(user.name, () => void pump());
      const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
      req.raw.on("close", () => {
        closed = true;
        clearInterval(keepAlive);
        unsubscribe();
      });
      await pump();
      return reply;
    }
    const wait = Math.min(Math.max(Number(q.wait ?? "0") || 0, 0), maxWait);
    const controller = new AbortController();
    req.raw.on("close", () => controller.abort());
    return (await ops(req).events(after, wait, controller.signal)).map(toJson);
  });

  await app.register(discoveryRoutes(s)); // profiles, mappings, search, discover, connect (docs/CLIENT-API.md "Discovery")
  await app.register(consentRoutes(s)); // request, cancel, grant, revoke, list, policy (docs/CLIENT-API.md "Consent")
  await app.ready();
  return app;
}

