// Domain names as they appear in identifiers: the host of a MIMI URI (the provider), the domain of
// a mailto: address, the domainpart of a JID, the server name of a Matrix user ID.
//
// One normal form everywhere: lowercase ASCII with A-labels (IDNA, RFC 5890), computed by the
// WHATWG "domain to ASCII" algorithm that Node exposes as url.domainToASCII (UTS #46 mapping:
// case folding, width mapping, NFC, then Punycode). On top of what WHATWG checks we require
// LDH labels (RFC 1123 §2.1, RFC 5890 §2.3.1) and the DNS length limits (RFC 1035 §2.3.4),
// because every name here must also be usable as a TLS name and a Matrix server name.
//
// IPv4 literals are accepted in their dotted-decimal form (Matrix server names allow them and
// test set-ups use loopback); WHATWG rewrites odd forms such as `0x7f.1` to `127.0.0.1`, which
// is the same address, so that is accepted as a normalisation.
import { domainToASCII, domainToUnicode } from "node:url";

/** RFC 1035 §2.3.4: 255 octets on the wire, which is at most 253 characters in text form. */
export const MAX_DOMAIN_LENGTH = 253;
/** RFC 1035 §2.3.4: a label is at most 63 octets. */
export const MAX_LABEL_LENGTH = 63;

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
// Characters the WHATWG host parser would silently percent-decode, or that belong to another
// URI component. A host that contains them is a malformed identifier here, not something to fix.
const NEVER_IN_HOST = /[%\s[\]:@/\\?#]/u;

/** True if `ascii` is a dotted-decimal IPv4 address. */
export function isIpv4(ascii: string): boolean {
  return IPV4.test(ascii);
}

/**
 * The normalised ASCII form of a domain name (or IPv4 address), or undefined if it is not one.
 * Idempotent: toAsciiDomain(toAsciiDomain(x)) === toAsciiDomain(x).
 */
export function toAsciiDomain(input: string): string | undefined {
  if (input.length === 0 || input.length > 1024 || !input.isWellFormed()) return undefined;
  if (NEVER_IN_HOST.test(input)) return undefined;
  const ascii = domainToASCII(input);
  if (ascii === "") return undefined;
  if (isIpv4(ascii)) return ascii;
  if (ascii.length > MAX_DOMAIN_LENGTH) return undefined;
  for (const label of ascii.split(".")) {
    // The empty label (a trailing or doubled dot) fails here too.
    if (!LDH_LABEL.test(label)) return undefined;
  }
  // A second pass must not change it, and neither may a trip through the U-label form that JIDs
  // use (RFC 7622 §3.2): this rejects Punycode labels that do not decode to a valid U-label.
  if (domainToASCII(ascii) !== ascii || domainToASCII(domainToUnicode(ascii)) !== ascii) return undefined;
  return ascii;
}

/** The U-label (Unicode) form of an already normalised ASCII domain, for RFC 7622 domainparts. */
export function toUnicodeDomain(ascii: string): string {
  const unicode = domainToUnicode(ascii);
  return unicode === "" ? ascii : unicode;
}
