// Searches what a provider kept (its store, every file of its data folder, its log) for message
// plaintexts: the check behind "the hub never sees plaintext" (MIMI-E2E-01, DESIGN.md §2).
//
// LevelDB compresses table files, so a raw file scan alone could miss a text; the store is also
// read through the Store interface, where values are as written. Texts are searched as UTF-8 and
// as base64 (a JSON field ending in B64 would hold them that way).
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { DEFAULT_NAMESPACES, openStore } from "../storage/index.ts";
import { silentLogger } from "../log.ts";

export interface PlaintextFinding {
  text: string;
  where: string;
}

function needles(text: string): Buffer[] {
  const utf8 = Buffer.from(text, "utf8");
  return [utf8, Buffer.from(utf8.toString("base64"), "utf8")];
}

function search(haystack: Buffer, texts: readonly string[], where: string, out: PlaintextFinding[]): void {
  for (const text of texts) {
    if (needles(text).some((n) => haystack.includes(n))) out.push({ text, where });
  }
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    const st = await stat(p);
    if (st.isDirectory()) out.push(...(await files(p)));
    else out.push(p);
  }
  return out;
}

/**
 * Scans a STOPPED provider's data folder (store contents and raw files) and log file. `control`
 * is a string that must be found in the store (e.g. the room ID), proving the scan reads it.
 */
export async function scanForPlaintext(o: { dataDir: string; logFile?: string; texts: readonly string[]; control?: string }): Promise<{ findings: PlaintextFinding[]; controlFound: boolean; valuesScanned: number; filesScanned: number }> {
  const findings: PlaintextFinding[] = [];
  let valuesScanned = 0;
  let controlFound = false;
  const store = await openStore({ kind: "level", dataDir: o.dataDir, logger: silentLogger(), namespaces: DEFAULT_NAMESPACES });
  try {
    for (const name of store.namespaces) {
      for await (const { key, value } of store.namespace(name).iterate()) {
        valuesScanned++;
        const buf = Buffer.concat([Buffer.from(key, "utf8"), Buffer.from(value)]);
        search(buf, o.texts, `store ${name}/${key}`, findings);
        if (o.control !== undefined && buf.includes(Buffer.from(o.control, "utf8"))) controlFound = true;
      }
    }
  } finally {
    await store.close();
  }
  const all = await files(o.dataDir);
  for (const f of all) search(await readFile(f), o.texts, `file ${f}`, findings);
  if (o.logFile !== undefined) search(await readFile(o.logFile), o.texts, `log ${o.logFile}`, findings);
  return { findings, controlFound, valuesScanned, filesScanned: all.length };
}
