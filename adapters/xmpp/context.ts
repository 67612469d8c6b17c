// What the parts of the XMPP adapter share: identities, config, the core, the store, the
// component link; the mapping of core rejections to stanza errors; MIMI roles ↔ MUC affiliations
// and roles (XEP-0045 §5); and the portable element form used to keep stanzas in the store.
import type { AdapterStore, CoreApi, Logger, PlatformEvent, RoomKindName, SubmitResult } from "../../src/adapter/index.ts";
import type { XmppConfig } from "./config.ts";
import type { XmppIds } from "./ids.ts";
import type { ComponentLink } from "./link.ts";
import { xml, type StanzaErrorSpec, type XmlElement } from "./xml.ts";

export interface BridgeContext {
  readonly ids: XmppIds;
  readonly config: XmppConfig;
  readonly log: Logger;
  readonly core: CoreApi;
  readonly store: AdapterStore;
  readonly link: ComponentLink;
  /** ctx.core.submit that never throws (a thrown error becomes a rejection). */
  submit(event: PlatformEvent): Promise<SubmitResult>;
}

export type Rejection = Extract<SubmitResult, { status: "rejected" }>;

export const MIMI_ERROR_NS = "urn:mimi-bridge:error:0";

/** RFC 6120 §8.3.3: the stanza error that tells an XMPP user why the core refused. */
export function errorForRejection(r: Rejection): StanzaErrorSpec {
  const c = r.code;
  const app = xml("mimi-error", { xmlns: MIMI_ERROR_NS, code: c });
  const text = `${r.message} (${c})`;
  if (c.includes("CONSENT")) return { condition: "subscription-required", text, app };
  if (c.includes("RATE_LIMITED")) return { condition: "resource-constraint", text, app };
  if (c.includes("TOO_LARGE")) return { condition: "policy-violation", text, app };
  if (c.includes("POLICY") || c.includes("FORBIDDEN") || c.includes("NOT_ALLOWED") || c.includes("DENIED")) return { condition: "forbidden", text, app };
  if (c.includes("NOT_FOUND") || c.includes("UNKNOWN")) return { condition: "item-not-found", text, app };
  if (c.includes("PEER") || c.includes("TIMEOUT") || c.includes("UNREACHABLE")) return { condition: "remote-server-timeout", text, app };
  if (c.includes("INTERNAL") || c.includes("STORAGE")) return { condition: "internal-server-error", type: "wait", text, app };
  if (c.includes("INVALID") || c.includes("BAD") || c.includes("SCHEMA") || c.includes("MALFORMED")) return { condition: "not-acceptable", text, app };
  return { condition: "undefined-condition", text, app };
}

// ---- roles --------------------------------------------------------------------------------------

export type Affiliation = "owner" | "admin" | "member" | "none" | "outcast";
export type MucRole = "moderator" | "participant" | "visitor" | "none";

/**
 * MIMI role (room-policy presets, src/policy/presets.ts) → XEP-0045 affiliation and role:
 *   super_admin → owner/moderator; admin → admin/moderator; moderator → member/moderator;
 *   member, participant, speaker → member/participant; attendee, guest → none/visitor;
 *   banned → outcast/none; no_role → none/none; anything else → member/participant.
 */
export function mucStanding(mimiRole: string | undefined): { affiliation: Affiliation; role: MucRole } {
  switch (mimiRole) {
    case "super_admin":
      return { affiliation: "owner", role: "moderator" };
    case "admin":
      return { affiliation: "admin", role: "moderator" };
    case "moderator":
      return { affiliation: "member", role: "moderator" };
    case "attendee":
    case "guest":
      return { affiliation: "none", role: "visitor" };
    case "banned":
      return { affiliation: "outcast", role: "none" };
    case "no_role":
      return { affiliation: "none", role: "none" };
    default:
      return { affiliation: "member", role: "participant" };
  }
}

/** XEP-0045 §9/§10 affiliation or §8 role change → the MIMI role of the room's preset. */
export function mimiRoleFor(kind: RoomKindName, change: { affiliation?: string | undefined; role?: string | undefined }): string | undefined {
  const channel = kind === "channel";
  switch (change.affiliation) {
    case "owner":
      return channel ? "super_admin" : "admin";
    case "admin":
      return channel ? "moderator" : "admin";
    case "member":
      return channel ? "speaker" : "member";
    default:
      break;
  }
  switch (change.role) {
    case "moderator":
      return channel ? "moderator" : "admin";
    case "participant":
      return channel ? "speaker" : "member";
    case "visitor":
      return channel ? "guest" : undefined;
    default:
      return undefined;
  }
}

// ---- elements in the store ------------------------------------------------------------------------

export interface JsonEl {
  readonly n: string;
  readonly a: Record<string, string>;
  readonly c: (JsonEl | string)[];
}

export function toJsonEl(el: XmlElement): JsonEl {
  const a: Record<string, string> = {};
  for (const [k, v] of Object.entries(el.attrs)) if (typeof v === "string") a[k] = v;
  return { n: el.name, a, c: el.children.map((c) => (typeof c === "string" ? c : toJsonEl(c))) };
}

export function fromJsonEl(j: JsonEl): XmlElement {
  return xml(j.n, { ...j.a }, ...j.c.map((c) => (typeof c === "string" ? c : fromJsonEl(c))));
}

/** A deep copy (ltx 3 elements of @xmpp/xml 0.13 have no clone()). */
export function cloneEl(el: XmlElement): XmlElement {
  return fromJsonEl(toJsonEl(el));
}
