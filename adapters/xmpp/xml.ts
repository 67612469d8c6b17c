// XML helpers on @xmpp/component's own xml() (never @xmpp/client's: dependency trial §5.3), the
// namespaces the adapter speaks, and RFC 6120 §8.3 stanza errors.
import { xml, type XmlChild, type XmlElement } from "@xmpp/component";

export { xml };
export type { XmlChild, XmlElement };

export const NS = {
  stanzas: "urn:ietf:params:xml:ns:xmpp-stanzas",
  discoInfo: "http://jabber.org/protocol/disco#info",
  discoItems: "http://jabber.org/protocol/disco#items",
  muc: "http://jabber.org/protocol/muc",
  mucUser: "http://jabber.org/protocol/muc#user",
  mucAdmin: "http://jabber.org/protocol/muc#admin",
  mucOwner: "http://jabber.org/protocol/muc#owner",
  mucRoomInfo: "http://jabber.org/protocol/muc#roominfo",
  conference: "jabber:x:conference",
  commands: "http://jabber.org/protocol/commands",
  dataForms: "jabber:x:data",
  gateway: "jabber:iq:gateway",
  version: "jabber:iq:version",
  ping: "urn:xmpp:ping",
  delay: "urn:xmpp:delay",
  sid: "urn:xmpp:sid:0",
  correct: "urn:xmpp:message-correct:0",
  reply: "urn:xmpp:reply:0",
  fallback: "urn:xmpp:fallback:0",
  reactions: "urn:xmpp:reactions:0",
  retract: "urn:xmpp:message-retract:1",
  retract0: "urn:xmpp:message-retract:0",
  fasten: "urn:xmpp:fasten:0",
  moderate: "urn:xmpp:message-moderate:1",
  moderate0: "urn:xmpp:message-moderate:0",
  markers: "urn:xmpp:chat-markers:0",
  chatStates: "http://jabber.org/protocol/chatstates",
  oob: "jabber:x:oob",
  hints: "urn:xmpp:hints",
  nick: "http://jabber.org/protocol/nick",
  occupantId: "urn:xmpp:occupant-id:0",
  receipts: "urn:xmpp:receipts",
} as const;

/** Content namespaces a stanza's own children (body, subject, thread) may carry. */
const STREAM_NS = new Set([undefined, "jabber:client", "jabber:server", "jabber:component:accept"]);

/** A direct child in the stanza's own namespace (not a look-alike from an extension). */
export function ownChild(stanza: XmlElement, name: string): XmlElement | undefined {
  return stanza.getChildElements().find((c) => c.name === name && STREAM_NS.has(c.attrs.xmlns));
}

export function ownChildText(stanza: XmlElement, name: string): string | undefined {
  const c = ownChild(stanza, name);
  return c === undefined ? undefined : c.getText();
}

export type ErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";
export type ErrorCondition =
  | "bad-request"
  | "conflict"
  | "feature-not-implemented"
  | "forbidden"
  | "gone"
  | "internal-server-error"
  | "item-not-found"
  | "jid-malformed"
  | "not-acceptable"
  | "not-allowed"
  | "not-authorized"
  | "policy-violation"
  | "recipient-unavailable"
  | "registration-required"
  | "remote-server-not-found"
  | "remote-server-timeout"
  | "resource-constraint"
  | "service-unavailable"
  | "subscription-required"
  | "undefined-condition"
  | "unexpected-request";

const DEFAULT_TYPE: Record<ErrorCondition, ErrorType> = {
  "bad-request": "modify",
  conflict: "cancel",
  "feature-not-implemented": "cancel",
  forbidden: "auth",
  gone: "cancel",
  "internal-server-error": "cancel",
  "item-not-found": "cancel",
  "jid-malformed": "modify",
  "not-acceptable": "modify",
  "not-allowed": "cancel",
  "not-authorized": "auth",
  "policy-violation": "modify",
  "recipient-unavailable": "wait",
  "registration-required": "auth",
  "remote-server-not-found": "cancel",
  "remote-server-timeout": "wait",
  "resource-constraint": "wait",
  "service-unavailable": "cancel",
  "subscription-required": "auth",
  "undefined-condition": "cancel",
  "unexpected-request": "wait",
};

export interface StanzaErrorSpec {
  readonly condition: ErrorCondition;
  readonly text?: string | undefined;
  readonly type?: ErrorType | undefined;
  /** An application-specific condition element (RFC 6120 §8.3.2). */
  readonly app?: XmlElement | undefined;
}

/** RFC 6120 §8.3.2: <error type><condition xmlns=stanzas/><text/></error>. */
export function errorElement(spec: StanzaErrorSpec): XmlElement {
  return xml(
    "error",
    { type: spec.type ?? DEFAULT_TYPE[spec.condition] },
    xml(spec.condition, { xmlns: NS.stanzas }),
    spec.text === undefined ? undefined : xml("text", { xmlns: NS.stanzas, "xml:lang": "en" }, spec.text),
    spec.app,
  );
}

/**
 * RFC 6120 §8.3.1: the error reply swaps from and to, keeps the id and is of type error. The
 * original payload is not echoed (it may be huge or private). Never answer an error with an error.
 */
export function errorReply(stanza: XmlElement, spec: StanzaErrorSpec, from?: string): XmlElement | undefined {
  if (stanza.attrs.type === "error") return undefined;
  const to = stanza.attrs.from;
  if (to === undefined) return undefined;
  return xml(stanza.name, { type: "error", id: stanza.attrs.id, from: from ?? stanza.attrs.to, to }, errorElement(spec));
}

/** The condition and text of a stanza error (a bounce). */
export function readError(stanza: XmlElement): { condition: string; type: string; text?: string } {
  const err = stanza.getChild("error");
  const cond = err?.getChildElements().find((c) => c.attrs.xmlns === NS.stanzas && c.name !== "text");
  const text = err?.getChildText("text", NS.stanzas) ?? undefined;
  return { condition: cond?.name ?? "undefined-condition", type: err?.attrs.type ?? "cancel", ...(text === null || text === undefined ? {} : { text }) };
}

/** XEP-0082 DateTime in UTC, second precision with milliseconds when present. */
export function xmppDateTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, "Z");
}

/** Parses a XEP-0082 DateTime; undefined when malformed. */
export function parseXmppDateTime(text: string | undefined): number | undefined {
  if (text === undefined || text.length > 64) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** UTF-8 length of a string. */
export const byteLength = (s: string): number => Buffer.byteLength(s, "utf8");

/** XEP-0004 data form helpers. */
export function formField(form: XmlElement | undefined, varName: string): string | undefined {
  const field = form?.getChildren("field").find((f) => f.attrs.var === varName);
  const value = field?.getChildText("value");
  return value === null || value === undefined ? undefined : value;
}

export function formFieldValues(form: XmlElement | undefined, varName: string): string[] {
  const field = form?.getChildren("field").find((f) => f.attrs.var === varName);
  return field === undefined ? [] : field.getChildren("value").map((v) => v.getText());
}
