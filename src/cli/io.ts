// What a CLI command may touch of the outside world, so tests can run commands in-process.
import type { Writable, Readable } from "node:stream";

export interface CliIo {
  stdout: Pick<Writable, "write">;
  stderr: Pick<Writable, "write">;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Set by a command that wants a non-zero exit without throwing. */
  exitCode?: number;
}

export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, cwd: process.cwd() };
}

export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}
