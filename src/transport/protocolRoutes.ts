// The handlers of the draft-ietf-mimi-protocol-06 endpoints (§5), on top of the hub and the
// follower. Peer authentication already happened (peerAuthentication plugin): `peerDomain` is
// the mTLS-authenticated source provider. Bodies are TLS presentation language; protocol
// answers go back with 200 (201 for /notify), failures as typed JSON errors.
import { MimiError } from "../errors.ts";
import { parseMimiUri, providerOf } from "../ids/index.ts";
import type { Services } from "../services.ts";
import type { ProtocolHandlers } from "./httpServer.ts";

/** `{roomId}` and `{targetUser}` path parameters are the URI without "mimi://". */
function uriFromPath(param: string, kind: "room" | "user"): string {
  let parsed;
  try {
    parsed = parseMimiUri(`mimi://${param}`);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_HTTP_BAD_REQUEST", `not a ${kind} in the path: ${param}`, { cause });
  }
  if (parsed.kind !== kind) throw new MimiError("MIMI_ERR_HTTP_BAD_REQUEST", `not a ${kind} in the path: ${param}`);
  return parsed.uri;
}

export function protocolHandlers(s: Services): ProtocolHandlers {
  const hostedRoom = (param: string): string => {
    const roomId = uriFromPath(param, "room");
    if (!s.hub.isHubOf(roomId)) throw new MimiError("MIMI_ERR_ROOM_NOT_FOUND", `this provider is not the hub of ${roomId}`);
    return roomId;
  };
  return {
    keyMaterial: async ({ param, body, peerDomain }) => {
      const target = uriFromPath(param, "user");
      return { status: 200, body: await s.hub.keyMaterial(target, body, peerDomain) };
    },
    update: async ({ param, body, peerDomain }) => ({ status: 200, body: await s.hub.update(hostedRoom(param), body, peerDomain) }),
    submitMessage: async ({ param, body, peerDomain }) => ({ status: 200, body: await s.hub.submitMessage(hostedRoom(param), body, peerDomain) }),
    groupInfo: async ({ param, body, peerDomain }) => ({ status: 200, body: await s.hub.groupInfo(hostedRoom(param), body, peerDomain) }),
    notify: async ({ param, body, peerDomain }) => {
      const roomId = uriFromPath(param, "room");
      if (providerOf(roomId) === s.domain) throw new MimiError("MIMI_ERR_CLIENT_FORBIDDEN", "this provider is the hub of the room; nobody notifies it");
      await s.follower.notify(roomId, body, peerDomain);
      // MIMI-PROTO-FANOUT-20: 201 only once stored (protocol-06 §5.5).
      return { status: 201 };
    },
    // protocol-06 §5.7: POST /requestConsent/{targetDomain} (request, cancel) and
    // POST /updateConsent/{requesterDomain} (grant, revoke), provider to provider directly; 201
    // (also for unknown users and unmatched cancels: MIMI-PROTO-CONSENT-05, MIMI-PROTO-CONSENT-06).
    requestConsent: async ({ param, body, peerDomain }) => {
      if (param.toLowerCase() !== s.domain) throw new MimiError("MIMI_ERR_CONSENT_SCOPE_MISMATCH", `this provider is ${s.domain}, not ${param.slice(0, 255)}`);
      await s.consent.onRequestConsent(body, peerDomain);
      return { status: 201 };
    },
    updateConsent: async ({ param, body, peerDomain }) => {
      if (param.toLowerCase() !== s.domain) throw new MimiError("MIMI_ERR_CONSENT_SCOPE_MISMATCH", `this provider is ${s.domain}, not ${param.slice(0, 255)}`);
      await s.consent.onUpdateConsent(body, peerDomain);
      return { status: 201 };
    },
    // protocol-06 §5.8: POST /identifierQuery/{domain}, local provider → target provider directly.
    // MIMI-DISC-01..08: src/discovery/identifierQuery.ts (rate limit per peer, match semantics,
    // searchability, uniform answers).
    identifierQuery: async ({ param, body, peerDomain }) => {
      // MIMI-DISC-CHOICE-09: {domain} is the target provider, i.e. this one.
      if (param.toLowerCase() !== s.domain) throw new MimiError("MIMI_ERR_HTTP_BAD_REQUEST", `this provider is ${s.domain}, not ${param.slice(0, 255)}`);
      return { status: 200, body: await s.discovery.identifierQuery.answerPeer(body, peerDomain) };
    },
  };
}
