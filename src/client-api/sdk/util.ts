// Small helpers of the client SDK: base64 and hex, an async mutex, delays.
import { createHash } from "node:crypto";
import { MimiError } from "../../errors.ts";

/** Standard base64 (the client API's `…B64` fields, docs/CLIENT-API.md). */
export function toB64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/** Decodes standard base64 strictly; anything else is MIMI_ERR_SDK_BAD_RESPONSE naming `what`. */
export function fromB64(text: unknown, what: string): Uint8Array {
  if (typeof text !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) {
    throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${what} is not standard base64`, { details: { field: what } });
  }
  return new Uint8Array(Buffer.from(text, "base64"));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function fromHex(text: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(text)) throw new MimiError("MIMI_ERR_CLI_USAGE", "not a hex string", { details: { length: text.length } });
  return new Uint8Array(Buffer.from(text, "hex"));
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) {
      resolve();
      return;
    }
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** A fair async mutex: `run(fn)` runs fn when every earlier caller has finished. Not reentrant. */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8Encode(s: string): Uint8Array {
  return utf8.encode(s);
}

export function utf8Decode(b: Uint8Array): string {
  return utf8Decoder.decode(b);
}

/** JSON with Uint8Array and bigint support for the state store (bytes as {"$b64"}, bigints as {"$big"}). */
export function stateJsonEncode(value: unknown): Uint8Array {
  return utf8.encode(
    JSON.stringify(value, (_k, v: unknown) => {
      if (v instanceof Uint8Array) return { $b64: toB64(v) };
      if (typeof v === "bigint") return { $big: v.toString() };
      return v;
    }),
  );
}

export function stateJsonDecode<T>(bytes: Uint8Array): T {
  try {
    return JSON.parse(utf8Decoder.decode(bytes), (_k, v: unknown) => {
      if (typeof v === "object" && v !== null && !Array.isArray(v)) {
        const o = v as Record<string, unknown>;
        const keys = Object.keys(o);
        if (keys.length === 1 && typeof o["$b64"] === "string") return new Uint8Array(Buffer.from(o["$b64"], "base64"));
        if (keys.length === 1 && typeof o["$big"] === "string") return BigInt(o["$big"]);
      }
      return v;
    }) as T;
  } catch (cause) {
    throw new MimiError("MIMI_ERR_SDK_STATE_INVALID", "a client state record is not valid JSON", { cause });
  }
}
