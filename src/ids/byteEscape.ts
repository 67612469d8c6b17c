// The byte-level escape shared by the Matrix and XMPP ghost grammars (docs/MAPPING.md): on the
// UTF-8 bytes of a string, `_x` stands for the uppercase letter X, `__` for `_`, `=hh` for the
// byte 0xhh (lowercase hex), and bytes the grammar allows raw stand for themselves. The two
// grammars differ only in which bytes are raw.

export const utf8Encoder = new TextEncoder();
export const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reverses the escape. Returns undefined unless `escaped` is the canonical spelling of some
 * string (checked by re-escaping with `escape`), so that each string has exactly one escaped form.
 */
export function tryUnescapeBytes(escaped: string, isRaw: (byte: number) => boolean, escape: (value: string) => string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < escaped.length; i++) {
    const c = escaped.charCodeAt(i);
    if (c === 0x5f) {
      const next = escaped.charCodeAt(i + 1);
      if (next === 0x5f) bytes.push(0x5f);
      else if (next >= 0x61 && next <= 0x7a) bytes.push(next - 0x20);
      else return undefined;
      i += 1;
    } else if (c === 0x3d) {
      const pair = escaped.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(pair)) return undefined;
      bytes.push(Number.parseInt(pair, 16));
      i += 2;
    } else if (isRaw(c)) {
      bytes.push(c);
    } else {
      return undefined;
    }
  }
  let value: string;
  try {
    value = utf8Decoder.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
  return escape(value) === escaped ? value : undefined;
}
