// Small byte helpers shared by the content codec, the JSON form and the tests.

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Lowercase hex, the form used by the JSON representation and the inspect report. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** Parses hex (either case, even length). Returns undefined for anything else. */
export function parseHex(text: string): Uint8Array | undefined {
  if (!HEX.test(text)) return undefined;
  return new Uint8Array(Buffer.from(text, "hex"));
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

/** Bytewise lexicographic comparison (RFC 8949 §4.2.1 map-key order). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

const utf8Encoder = new TextEncoder();

export function utf8Length(text: string): number {
  return utf8Encoder.encode(text).byteLength;
}

export function utf8Bytes(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}
