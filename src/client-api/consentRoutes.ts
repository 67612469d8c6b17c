// The consent part of the client API (docs/CLIENT-API.md "Consent"): a local user asks for,
// cancels, grants (optionally with KeyPackages) and revokes consent (protocol-06 §5.7, through
// src/consent/), lists its incoming, outgoing and pending requests with a preview of what is held
// for it, and chooses its own pre-consent policy. Registered by server.ts; authentication is its
// onRequest hook (req.user is the caller).
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { UserRecord } from "../accounts/accounts.ts";
import { PRE_CONSENT_POLICIES } from "../consent/index.ts";
import type { PreConsentPolicy } from "../consent/index.ts";
import { MimiError } from "../errors.ts";
import type { Services } from "../services.ts";

function caller(req: FastifyRequest): UserRecord {
  if (!req.user) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED");
  return req.user;
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b: unknown = req.body;
  if (b === null || typeof b !== "object" || Array.isArray(b)) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "the body must be a JSON object");
  return b as Record<string, unknown>;
}

function str(b: Record<string, unknown>, name: string): string {
  const v = b[name];
  if (typeof v !== "string" || v.length === 0 || v.length > 2048) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `${name} must be a non-empty string`);
  return v;
}

function optStr(b: Record<string, unknown>, name: string): string | undefined {
  return b[name] === undefined || b[name] === null ? undefined : str(b, name);
}

function optBool(b: Record<string, unknown>, name: string): boolean | undefined {
  const v = b[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `${name} must be true or false`);
  return v;
}

/** The fastify plugin; server.ts registers it with `app.register(consentRoutes(services))`. */
export function consentRoutes(s: Services): (app: FastifyInstance) => Promise<void> {
  const c = s.consent;
  return (app) => {
    app.get("/client/v1/consent", (req) => c.list(caller(req).userUri));

    app.post("/client/v1/consent/request", async (req, reply) => {
      const b = body(req);
      const bilateral = optBool(b, "bilateral");
      const r = await c.request({ requester: caller(req).userUri, target: str(b, "target"), roomId: optStr(b, "roomId"), ...(bilateral === undefined ? {} : { bilateral }) });
      return reply.status(201).send(r);
    });

    app.post("/client/v1/consent/cancel", async (req) => {
      const b = body(req);
      return c.cancel({ requester: caller(req).userUri, target: str(b, "target"), roomId: optStr(b, "roomId") });
    });

    app.post("/client/v1/consent/grant", async (req, reply) => {
      const b = body(req);
      const withKeyPackages = optBool(b, "withKeyPackages");
      const r = await c.grant({ target: caller(req).userUri, requester: str(b, "requester"), roomId: optStr(b, "roomId"), ...(withKeyPackages === undefined ? {} : { withKeyPackages }) });
      return reply.status(201).send(r);
    });

    app.post("/client/v1/consent/revoke", async (req) => {
      const b = body(req);
      const notify = optBool(b, "notify");
      return c.revoke({ target: caller(req).userUri, requester: str(b, "requester"), roomId: optStr(b, "roomId"), ...(notify === undefined ? {} : { notify }) });
    });

    app.put("/client/v1/consent/policy", async (req) => {
      const policy = str(body(req), "preConsent");
      if (policy !== "default" && !(PRE_CONSENT_POLICIES as readonly string[]).includes(policy)) {
        throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `preConsent must be one of ${[...PRE_CONSENT_POLICIES, "default"].join(", ")}`);
      }
      return c.setUserPolicy(caller(req).userUri, policy as PreConsentPolicy | "default");
    });

    // KeyPackages a grant carried (protocol-06 §5.7), handed out once, for adding the granting
    // user to a room hosted by this provider (elsewhere the hub never saw them: use keyMaterial).
    app.post("/client/v1/consent/keyPackages", async (req) => {
      const b = body(req);
      const roomId = str(b, "roomId");
      const kps = await c.takeGrantedKeyPackages(caller(req).userUri, str(b, "target"), roomId);
      return { keyPackagesB64: kps.map((k) => Buffer.from(k.buffer, k.byteOffset, k.byteLength).toString("base64")) };
    });
    return Promise.resolve();
  };
}
