// Searching stored bytes for plaintext in the forms it could hide in (the hub-never-sees-plaintext
// tests: MIMI-E2E-01, MIMI-E2E-02, MIMI-E2E-03).
import { openStore } from "../../src/storage/index.ts";

/** The forms in which a plaintext could be hidden in stored text: UTF-8 as is, base64 at each byte alignment (standard and url-safe), hex. */
export function needles(text: string): { form: string; value: string }[] {
  const bytes = Buffer.from(text, "utf8");
  const out: { form: string; value: string }[] = [{ form: "utf-8", value: text }, { form: "hex", value: bytes.toString("hex") }];
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), bytes]).toString("base64");
    // drop the first group (it mixes in the filler) and the last one (padding depends on the end)
    const core = enc.slice(k === 0 ? 0 : 4, -4);
    out.push({ form: `base64/${k}`, value: core });
    out.push({ form: `base64url/${k}`, value: core.replaceAll("+", "-").replaceAll("/", "_") });
  }
  return out;
}

/** Where in `haystack` (raw bytes) any needle of any secret occurs: UTF-8 as bytes, the others as ASCII. */
export function findings(haystack: Uint8Array, secrets: readonly string[], where: string): string[] {
  const buf = Buffer.from(haystack.buffer, haystack.byteOffset, haystack.byteLength);
  const ascii = buf.toString("latin1");
  const lower = ascii.toLowerCase();
  const out: string[] = [];
  for (const s of secrets) {
    for (const n of needles(s)) {
      const hit =
        n.form === "utf-8" ? buf.indexOf(Buffer.from(n.value, "utf8")) >= 0 : n.form === "hex" ? lower.includes(n.value) : ascii.includes(n.value);
      if (hit) out.push(`${where}: ${JSON.stringify(s)} as ${n.form}`);
    }
  }
  return out;
}


/** The bridge's namespaces: the legacy users' endpoint (portals, ID maps, queues; hosted MLS clients), not the hub. */
export const BRIDGE_NAMESPACES: ReadonlySet<string> = new Set(["adapters", "bridge_clients"]);

/**
 * Searches every key and value of a stopped provider's LevelDB store for the secrets: hits in
 * the hub's namespaces and in the bridge's, and the namespaces that mention `roomId` (a control:
 * the search did look at the room's records).
 */
export async function scanStore(dataDir: string, secrets: readonly string[], roomId: string): Promise<{ hubHits: string[]; bridgeHits: string[]; roomIdIn: Set<string> }> {
  const hubHits: string[] = [];
  const bridgeHits: string[] = [];
  const roomIdIn = new Set<string>();
  const store = await openStore({ kind: "level", dataDir });
  try {
    for (const ns of store.namespaces) {
      for await (const { key, value } of store.namespace(ns).iterate()) {
        const hits = [...findings(Buffer.from(key, "utf8"), secrets, `${ns} key ${key}`), ...findings(value, secrets, `${ns}/${key}`)];
        (BRIDGE_NAMESPACES.has(ns) ? bridgeHits : hubHits).push(...hits);
        if (key.includes(roomId) || Buffer.from(value).includes(Buffer.from(roomId, "utf8"))) roomIdIn.add(ns);
      }
    }
  } finally {
    await store.close();
  }
  return { hubHits, bridgeHits, roomIdIn };
}
