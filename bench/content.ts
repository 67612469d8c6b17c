// MIMI content: what deterministic encoding, strict validation and the message ID cost, against
// plain CBOR (cborg, no key sorting, no validation) and a bare SHA-256 as baselines.
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { decode as cborgDecode, encode as cborgEncode } from "cborg";
import { computeMessageId, decodeContent, encodeContent } from "../src/content/index.ts";
import { compare } from "./lib.ts";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const vectors = resolve(root, "../shared/vectors/mimi-content");

for (const name of ["reply", "multipart-3"]) {
  const bytes = new Uint8Array(await readFile(join(vectors, `${name}.cbor`)));
  const content = decodeContent(bytes);
  const plain: unknown = cborgDecode(bytes, { useMaps: true });
  await compare({
    bench: "content",
    figure: `decode_strict_${name}`,
    unit: "ops/s",
    subject: () => decodeContent(bytes),
    baselineName: "cborg.decode (no validation)",
    baseline: (): unknown => cborgDecode(bytes, { useMaps: true }),
  });
  await compare({
    bench: "content",
    figure: `encode_deterministic_${name}`,
    unit: "ops/s",
    subject: () => encodeContent(content),
    baselineName: "cborg.encode (no validation)",
    baseline: () => cborgEncode(plain),
  });
  await compare({
    bench: "content",
    figure: `message_id_${name}`,
    unit: "ops/s",
    subject: () =>
      computeMessageId({ senderUri: "mimi://example.com/u/alice-smith", roomUri: "mimi://example.com/r/engineering_team", message: bytes, salt: content.salt }),
    baselineName: "sha256(bytes)",
    baseline: () => createHash("sha256").update(bytes).digest(),
  });
}
