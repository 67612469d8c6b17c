// Searching stored bytes for plaintext in the forms it could hide in (the hub-never-sees-plaintext
// tests: MIMI-E2E-01, MIMI-E2E-02).
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

