// Who is talking and to whom: the identity rules of draft-ietf-mimi-protocol-06 §Transport, as
// pure functions shared by the server side (peerAuthentication.ts) and the client side
// (peerClient.ts).
//
//  - MIMI-PROTO-TLS-04: the source provider is named by a `From` header of exactly the form
//    `mimi@<source-domain>` (the local part is the literal "mimi").
//  - MIMI-PROTO-TLS-02: the peer's certificate must authenticate that domain (RFC 6125). We use
//    Node's tls.checkServerIdentity semantics on the certificate's subjectAltName dNSName entries:
//    case-insensitive comparison; a wildcard only as the whole or part of the LEFTMOST label,
//    matching exactly one label, never in a name of two labels or fewer (`*.example` matches
//    nothing, `*.a.example` matches `x.a.example` but neither `a.example` nor `y.x.a.example`),
//    and never in an A-label (`xn--`). Unlike checkServerIdentity, a certificate WITHOUT any
//    dNSName is refused instead of falling back to the subject CN (RFC 9525 §6.3 drops the CN
//    fallback), so only subjectAltName dNSName entries can name a provider domain.
//  - MIMI-PROTO-TLS-03: the target provider is named by `Host`; its port is ignored.
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { MimiError } from "../errors.ts";

/** The part of a certificate the name check reads (node's PeerCertificate has it). */
export interface CertificateNames {
  /** Node's text form: `DNS:a.example, IP Address:127.0.0.1`. */
  subjectaltname?: string | undefined;
}

const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const DOMAIN = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);
const ALL_DIGITS_LABEL = /(?:^|\.)[0-9]+$/;

/**
 * True if `name` is a provider domain as this project writes them: lowercase LDH labels within
 * the DNS limits, no trailing dot, and not an IP address (a last label of digits only, which no
 * top-level domain is, RFC 1123 §2.1; IP SANs must never stand in for a provider domain).
 */
export function isProviderDomain(name: string): boolean {
  return DOMAIN.test(name) && !ALL_DIGITS_LABEL.test(name);
}

/**
 * MIMI-PROTO-TLS-04: the source domain of a `From: mimi@<domain>` header. Throws
 * MIMI_ERR_PEER_BAD_FROM when the header is missing, repeated, or not exactly that form.
 * `values` is every `From` field of the request as received, or a single value.
 */
export function parseFromHeader(values: string | readonly string[] | undefined): string {
  const list = values === undefined ? [] : typeof values === "string" ? [values] : values;
  if (list.length === 0) throw new MimiError("MIMI_ERR_PEER_BAD_FROM", "the From header is missing: it must be mimi@<source-domain>");
  if (list.length > 1) throw new MimiError("MIMI_ERR_PEER_BAD_FROM", "more than one From header");
  const value = list[0] ?? "";
  const at = value.indexOf("@");
  const local = at < 0 ? "" : value.slice(0, at);
  const domain = at < 0 ? "" : value.slice(at + 1);
  if (local !== "mimi" || !isProviderDomain(domain)) {
    throw new MimiError("MIMI_ERR_PEER_BAD_FROM", `the From header must be exactly mimi@<source-domain> (a lowercase DNS name), got ${JSON.stringify(value.slice(0, 300))}`, {
      details: { from: value.slice(0, 300) },
    });
  }
  return domain;
}

/**
 * MIMI-PROTO-TLS-03: the host name of a `Host` header without its port, lowercased, with one
 * trailing dot removed; undefined if the header is malformed. IPv6 literals are returned with
 * their brackets (they never equal a provider domain).
 */
export function hostWithoutPort(host: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+)(?::([0-9]{1,5}))?$/.exec(host);
  if (!m?.[1]) return undefined;
  return m[1].toLowerCase().replace(/\.$/, "");
}

/** MIMI-PROTO-TLS-03: true if exactly one `Host` value names `domain` (any port). */
export function hostNamesDomain(values: string | readonly string[] | undefined, domain: string): boolean {
  const list = values === undefined ? [] : typeof values === "string" ? [values] : values;
  if (list.length !== 1) return false;
  return hostWithoutPort(list[0] ?? "") === domain;
}

/** True if the certificate carries at least one subjectAltName dNSName entry. */
export function hasDnsName(cert: CertificateNames): boolean {
  return /(?:^|, )DNS:/.test(cert.subjectaltname ?? "");
}

/**
 * MIMI-PROTO-TLS-02: undefined if `cert` authenticates the provider `domain`, else an Error with
 * code ERR_TLS_CERT_ALTNAME_INVALID saying why (the shape tls.connect expects from a
 * `checkServerIdentity` callback, so the client side uses this function as is).
 */
export function certificateNamesDomain(domain: string, cert: CertificateNames): Error | undefined {
  if (!isProviderDomain(domain)) {
    return Object.assign(new Error(`${JSON.stringify(domain)} is not a provider domain`), { code: "ERR_TLS_CERT_ALTNAME_INVALID" });
  }
  if (!hasDnsName(cert)) {
    return Object.assign(new Error(`the certificate has no subjectAltName dNSName, so it cannot name ${domain}`), {
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
      host: domain,
    });
  }
  // checkServerIdentity reads only subjectaltname, and subject for the CN fallback that the
  // dNSName check above has already ruled out; so no subject is passed at all.
  return checkServerIdentity(domain, { subject: {}, subjectaltname: cert.subjectaltname } as unknown as PeerCertificate);
}
