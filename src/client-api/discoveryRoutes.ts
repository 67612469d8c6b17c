// The discovery part of the client API (docs/CLIENT-API.md "Discovery"): a local user's profile and
// searchability, the SII mappings it publishes (its own opt-in, R1), identifierQuery searches
// through this provider (protocol-06 §5.8), SII discovery and, in integrated mode, connect.
// Registered by server.ts; authentication is its onRequest hook (req.user is the caller).
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { UserRecord } from "../accounts/accounts.ts";
import type { ConsentRequester, SearchElementInput } from "../discovery/index.ts";
import { isSearchability } from "../discovery/index.ts";
import type { ProfileChange } from "../discovery/index.ts";
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

function str(b: Record<string, unknown>, name: string, optional: true): string | undefined;
function str(b: Record<string, unknown>, name: string, optional?: false): string;
function str(b: Record<string, unknown>, name: string, optional = false): string | undefined {
  const v = b[name];
  if (v === undefined && optional) return undefined;
  if (typeof v !== "string" || v.length > 2048) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `${name} must be a string`);
  return v;
}

function strList(b: Record<string, unknown>, name: string): string[] | undefined {
  const v = b[name];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.length > 64 || v.some((x) => typeof x !== "string")) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `${name} must be a list of strings`);
  return v as string[];
}

/**
 * The consent service of the other half of issue 4 (src/consent/) in the shape discovery needs:
 * `services.consent.request(requester, target, { roomId })` sends a protocol-06 §5.7 request.
 */
export function consentRequesterOf(s: Services): ConsentRequester {
  return { request: (o) => s.consent.request(o.requester, o.target, o.roomId === undefined ? {} : { roomId: o.roomId }) };
}

/** The fastify plugin; server.ts registers it with `app.register(discoveryRoutes(services))`. */
export function discoveryRoutes(s: Services): (app: FastifyInstance) => Promise<void> {
  const d = s.discovery;
  return async (app) => {
    // A rate-limited answer (429 MIMI_ERR_DISCOVERY_RATE_LIMITED) says when to come back.
    app.addHook("onError", async (_req, reply, err) => {
      const seconds = (err as MimiError).details?.["retryAfterSeconds"];
      if (typeof seconds === "number") void reply.header("retry-after", String(seconds));
      await Promise.resolve();
    });

    app.get("/client/v1/discovery", () => ({
      mode: d.settings.mode,
      defaultSearchability: d.settings.defaultSearchability,
      service: d.provider.enabled,
      discoveryProviders: d.discoveryProviders(),
      identifierQuery: d.settings.identifierQuery.enabled,
    }));

    // ---- profile and searchability ----------------------------------------------------------------
    app.get("/client/v1/discovery/profile", (req) => d.profile(caller(req)));
    app.put("/client/v1/discovery/profile", (req) => d.updateProfile(caller(req), body(req) as ProfileChange));
    app.put("/client/v1/discovery/searchability", (req) => {
      const v = body(req)["searchability"];
      if (!isSearchability(v)) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "searchability must be name, handle or none");
      return d.updateProfile(caller(req), { searchability: v });
    });

    // ---- the user's own SII mappings (R1, R2, R9) ---------------------------------------------------
    app.get("/client/v1/discovery/mappings", (req) => d.mappings(caller(req)));
    app.post("/client/v1/discovery/mappings", async (req, reply) => {
      const b = body(req);
      const tag = str(b, "tag", true);
      return reply.status(201).send(await d.publish(caller(req), str(b, "sii"), tag ?? "Personal"));
    });
    app.post("/client/v1/discovery/mappings/remove", (req) => {
      const b = body(req);
      return d.remove(caller(req), str(b, "sii"), str(b, "tag", true));
    });

    // ---- finding others -------------------------------------------------------------------------------
    app.post("/client/v1/discovery/search", (req) => {
      const b = body(req);
      const elements = b["elements"];
      if (!Array.isArray(elements)) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "elements must be a list of { type, value, field? }");
      return d.search(caller(req), str(b, "domain"), elements as SearchElementInput[]);
    });
    app.post("/client/v1/discovery/discover", (req) => d.discover(caller(req), str(body(req), "identifier")));
    app.post("/client/v1/discovery/connect", (req) => {
      const b = body(req);
      const tags = strList(b, "tags");
      const ssis = strList(b, "ssis");
      const roomId = str(b, "roomId", true);
      return d.connect(caller(req), str(b, "identifier"), {
        ...(tags === undefined ? {} : { tags }),
        ...(ssis === undefined ? {} : { ssis }),
        ...(roomId === undefined ? {} : { roomId }),
      }, consentRequesterOf(s));
    });
    await Promise.resolve();
  };
}
