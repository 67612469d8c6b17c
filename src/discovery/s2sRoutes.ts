// MIMI-DISC-CHOICE-11: the discovery endpoints on the server-to-server listener: our extension, not part of
// draft-ietf-mimi-protocol-06 (which has no cross-provider discovery). They are registered in the
// /v1/ context of src/transport/httpServer.ts, so mutual TLS and peer authentication (From,
// certificate, Host; MIMI-PROTO-TLS-01..04) apply exactly as to the protocol endpoints, and
// `req.peerDomain` is the authenticated requesting provider.
//
//   GET  /v1/discovery/key       our discovery public key (JSON; every provider serves it)
//   POST /v1/discovery/publish   SignedDiscoveryMapping → 201      (discovery.service.enabled)
//   POST /v1/discovery/remove    SignedDiscoveryRemoval → 201      (discovery.service.enabled)
//   POST /v1/discovery/lookup    DiscoveryLookupRequest → 200 DiscoveryLookupResponse
import type { FastifyInstance, FastifyRequest } from "fastify";
import { DISCOVERY_KEY_PATH } from "./keys.ts";
import type { DiscoveryService } from "./service.ts";

function bodyOf(req: FastifyRequest): Uint8Array {
  const raw: unknown = req.body;
  return raw instanceof Uint8Array ? Uint8Array.from(raw) : new Uint8Array(0);
}

/** Registers the discovery endpoints in the peer-authenticated /v1/ context `v1`. */
export function discoveryPeerRoutes(d: DiscoveryService): (v1: FastifyInstance) => Promise<void> {
  return async (v1) => {
    v1.get(DISCOVERY_KEY_PATH, (_req, reply) => reply.header("cache-control", "max-age=300").send(d.keyDocument()));
    v1.post("/v1/discovery/publish", async (req, reply) => {
      await d.provider.publishBody(bodyOf(req), req.peerDomain);
      return reply.status(201).send();
    });
    v1.post("/v1/discovery/remove", async (req, reply) => {
      await d.provider.removeBody(bodyOf(req), req.peerDomain);
      return reply.status(201).send();
    });
    v1.post("/v1/discovery/lookup", async (req, reply) => {
      const answer = await d.provider.lookupBody(bodyOf(req), req.peerDomain);
      return reply.status(200).type("application/octet-stream").send(Buffer.from(answer.buffer, answer.byteOffset, answer.byteLength));
    });
    await Promise.resolve();
  };
}
