// The MIMI protocol directory (draft-ietf-mimi-protocol-06 §"Directory"): a JSON document at
// /.well-known/mimi-protocol-directory giving the URL template of every endpoint, modelled on
// the ACME directory (RFC 8555 §7.1.1).
import { MimiError } from "../errors.ts";
//
// The draft's own example is broken in two places (digest §2.14 items 1 and 2); the choices
// below are made here, in one place, and listed in docs/CONFORMANCE.md:
//  - `update` gets the missing slash: …/update/{roomId};
//  - `proxyDownload` is a well-formed JSON member;
//  - the consent endpoints are addressed by provider domain, as the endpoint text says
//    (POST /requestConsent/{targetDomain}, POST /updateConsent/{requesterDomain}); the
//    ConsentEntry body names both users, so a user in the path would only repeat it (and put
//    user identifiers into every access log on the way);
//  - {roomId} and user templates take the MIMI URI without its "mimi://" prefix, as in the
//    draft's examples (`/notify/a.example/r/clubhouse`), each segment percent-encoded.

/** Every endpoint of draft-ietf-mimi-protocol-06, with its method and path template under /v1. */
export const mimiEndpoints = {
  keyMaterial: { method: "POST", template: "/v1/keyMaterial/{targetUser}" },
  update: { method: "POST", template: "/v1/update/{roomId}" },
  notify: { method: "POST", template: "/v1/notify/{roomId}" },
  submitMessage: { method: "POST", template: "/v1/submitMessage/{roomId}" },
  groupInfo: { method: "POST", template: "/v1/groupInfo/{roomId}" },
  requestConsent: { method: "POST", template: "/v1/requestConsent/{targetDomain}" },
  updateConsent: { method: "POST", template: "/v1/updateConsent/{requesterDomain}" },
  identifierQuery: { method: "POST", template: "/v1/identifierQuery/{domain}" },
  reportAbuse: { method: "POST", template: "/v1/reportAbuse/{roomId}" },
  proxyDownload: { method: "GET", template: "/v1/proxyDownload/{downloadUrl}" },
} as const;

export type MimiEndpointName = keyof typeof mimiEndpoints;
export type MimiDirectory = Record<MimiEndpointName, string>;

export const DIRECTORY_PATH = "/.well-known/mimi-protocol-directory";

/** Joins a base URL (which may carry a path prefix) and an endpoint template. */
function join(baseUrl: string, template: string): string {
  return baseUrl.replace(/\/+$/, "") + template;
}

/** The directory document for a provider reachable at `baseUrl` (absolute, http or https). */
export function buildDirectory(baseUrl: string): MimiDirectory {
  const parsed = new URL(baseUrl);
  const base = `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  const out = {} as MimiDirectory;
  for (const [name, ep] of Object.entries(mimiEndpoints) as [MimiEndpointName, (typeof mimiEndpoints)[MimiEndpointName]][]) {
    out[name] = join(base, ep.template);
  }
  return out;
}

/** Fills a template's placeholders; values are percent-encoded per path segment. */
export function expandTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (_m, name: string) => {
    const v = values[name];
    if (v === undefined) throw new MimiError("MIMI_ERR_INTERNAL", `no value for {${name}} in ${template}`);
    return v.split("/").map(encodeURIComponent).join("/");
  });
}
