import { readFile, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import { encodeContentFromJsonText, inspectContent } from "../../content/index.ts";
import { MimiError } from "../../errors.ts";
import { readAll, type CliIo } from "../io.ts";

async function readInput(path: string, io: CliIo): Promise<Uint8Array> {
  try {
    return await readFile(resolve(io.cwd, path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MimiError("MIMI_ERR_FILE_NOT_FOUND", `cannot read ${path}: ${code ?? String(err)}`, { cause: err, details: { path } });
  }
}

export function registerContentCommands(program: Command, io: CliIo): void {
  const content = program.command("content").description("inspect and encode MIMI content (draft-ietf-mimi-content)");
  content
    .command("inspect")
    .description("decode a MIMI content file and print every field, the message ID and whether it re-encodes byte for byte, as JSON")
    .argument("<file>", "MIMI content (CBOR), e.g. reply.cbor")
    .addOption(new Option("--formula <version>", "message ID formula").choices(["-08", "-07"]).default("-08"))
    .option("--sender <uri>", "sender URI for the message ID (default: extension 1, senderUri)")
    .option("--room <uri>", "room URI for the message ID (default: extension 2, roomUri)")
    .action(async (file: string, opts: { formula: "-08" | "-07"; sender?: string; room?: string }) => {
      const bytes = await readInput(file, io);
      const report = inspectContent(bytes, {
        formula: opts.formula,
        ...(opts.sender === undefined ? {} : { senderUri: opts.sender }),
        ...(opts.room === undefined ? {} : { roomUri: opts.room }),
      });
      io.stdout.write(JSON.stringify(report, null, 2) + "\n");
    });
  content
    .command("encode")
    .description("read the JSON form of MIMI content (docs/content-json.md) and write deterministic CBOR")
    .option("-i, --in <file>", "read JSON from this file instead of standard input")
    .option("-o, --out <file>", "write CBOR to this file instead of standard output")
    .option("--hex", "write lowercase hex instead of raw bytes")
    .action(async (opts: { in?: string; out?: string; hex?: boolean }) => {
      const text = opts.in === undefined ? (await readAll(io.stdin)).toString("utf8") : Buffer.from(await readInput(opts.in, io)).toString("utf8");
      const cbor = encodeContentFromJsonText(text);
      const output = opts.hex ? Buffer.from(Buffer.from(cbor).toString("hex") + "\n") : Buffer.from(cbor);
      if (opts.out !== undefined) await writeFile(resolve(io.cwd, opts.out), output);
      else io.stdout.write(output);
    });
}
