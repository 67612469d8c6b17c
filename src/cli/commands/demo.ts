import { Option, type Command } from "commander";
import { runDemo } from "../../demo/demo.ts";
import type { CliIo } from "../io.ts";

export function registerDemoCommand(program: Command, io: CliIo): void {
  program
    .command("demo")
    .description(
      "start three providers as separate processes (fresh test CA, mutual TLS, loopback), run a scripted room scenario across them " +
        "(messages, replies, reactions, edits, deletes, a role change, a second device, a ban, operations that must fail), " +
        "check exactly-once delivery and that the hub holds no plaintext; exit 0 only if every check passes",
    )
    .option("--json", "print one JSON object instead of the transcript")
    .option("--keep", "keep the temporary folder (configs, certificates, data, logs) and print its path")
    .addOption(
      new Option("--consent-policy <policy>", "b.example and c.example enforce this pre-consent policy; a consent phase runs first and the result gains a `consent` object").choices([
        "none",
        "keypackages",
        "quarantine",
      ]),
    )
    .action(async (opts: { json?: boolean; keep?: boolean; consentPolicy?: "none" | "keypackages" | "quarantine" }) => {
      const result = await runDemo({
        ...(opts.keep ? { keep: true } : {}),
        ...(opts.consentPolicy === undefined ? {} : { consentPolicy: opts.consentPolicy }),
        ...(opts.json ? {} : { onLine: (line: string) => io.stdout.write(line + "\n") }),
      });
      if (opts.json) {
        io.stdout.write(JSON.stringify(result, null, 2) + "\n");
      } else {
        io.stdout.write(
          [
            "",
            `messages sent: ${result.messagesSent}, delivered to every intended member: ${result.messagesDelivered}, duplicates: ${result.duplicatesDelivered}`,
            `plaintext found at the hub: ${result.plaintextFoundAtHub}`,
            `refused as expected: ${result.rejectedAsExpected.join("; ") || "none"}`,
            ...(result.unexpected.length ? [`UNEXPECTED: ${result.unexpected.join("; ")}`] : []),
            ...(result.dir ? [`kept: ${result.dir}`] : []),
            result.ok ? "demo passed" : "DEMO FAILED",
            "",
          ].join("\n"),
        );
      }
      if (!result.ok) io.exitCode = 1;
    });
}
