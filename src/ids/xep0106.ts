// XEP-0106 JID Escaping (version 1.1.1): the ten transformations of §3.2/§3.3, applied to a JID
// localpart only (§2 requirement 1: "MUST NOT be applied to domain identifiers or resource
// identifiers").
//
// On the escaping of "\" itself the XEP says two things. §4.1 rule 7, §4.2 step 3 and the
// §4.3 exceptions ("foo\bar" and "\2plus\2is\4" are "not modified by escaping or unescaping")
// escape a backslash only when it starts a sequence that would unescape (\20 … \5c). Rows 9–11
// of the §5.1 examples table escape every backslash ("c:\net" → "c\3a\5cnet"). We follow the
// normative rules (rows 9–11 then escape to "c\3a\net" etc.); both spellings unescape to the same
// string, and unescape(escape(s)) = s either way. The tests pin both facts.
import { MimiError } from "../errors.ts";

/** §3.2 "Mapping from Unescaped to Escaped Characters". Case is significant: lowercase hex only. */
export const JID_ESCAPES = {
  " ": "\\20",
  '"': "\\22",
  "&": "\\26",
  "'": "\\27",
  "/": "\\2f",
  ":": "\\3a",
  "<": "\\3c",
  ">": "\\3e",
  "@": "\\40",
  "\\": "\\5c",
} as const;

type Escapable = keyof typeof JID_ESCAPES;

// The two hex digits of each escape sequence, mapped back to the character (§3.3).
const UNESCAPED: ReadonlyMap<string, string> = new Map(Object.entries(JID_ESCAPES).map(([char, seq]) => [seq.slice(1), char]));
const SEQUENCE = /\\(20|22|26|27|2f|3a|3c|3e|40|5c)/g;

function isEscapable(c: string): c is Escapable {
  return Object.hasOwn(JID_ESCAPES, c);
}

/**
 * Escapes a string for use as a JID localpart (XEP-0106 §3.2, §4.1, §4.2).
 * Throws MIMI_ERR_ID_INVALID_JID if the string starts or ends with a space, because "\20 MUST NOT
 * be the first or last character of an escaped localpart" (MIMI-ID-35).
 */
export function escapeJidLocalpart(value: string): string {
  if (value.startsWith(" ") || value.endsWith(" ")) {
    throw new MimiError("MIMI_ERR_ID_INVALID_JID", "XEP-0106 cannot escape a localpart that starts or ends with a space", {
      details: { reason: "leading or trailing space" },
    });
  }
  let out = "";
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === "\\") {
      // MIMI-ID-36: §4.2 step 3, the leading backslash of a sequence that would unescape MUST be
      // escaped to \5c; §4.3, any other backslash is left alone.
      out += UNESCAPED.has(value.slice(i + 1, i + 3)) ? "\\5c" : "\\";
    } else if (isEscapable(c)) {
      // MIMI-ID-33: §3.2 table; MIMI-ID-38: §2 requirement 3, no other character is escaped.
      out += JID_ESCAPES[c];
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * Unescapes a JID localpart (XEP-0106 §3.3). Only the ten lowercase sequences are unescaped;
 * partial and unknown sequences ("\2p", "\41", "\2F") are left as they are (§4.1 rule 3, §4.3:
 * MIMI-ID-34). Scanning is left to right, so "\5c27" becomes "\27", not "'".
 */
export function unescapeJidLocalpart(escaped: string): string {
  return escaped.replace(SEQUENCE, (_seq, hex: string) => UNESCAPED.get(hex) ?? "");
}
