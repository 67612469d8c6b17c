// Bounded retries of an operation that commits to a room: the hub accepts exactly one commit per
// epoch and answers the others wrongEpoch with its current epoch (protocol-06 §5.3). The loser
// drops its commit, catches up with the events up to that epoch, rebuilds the operation on the new
// state and tries again.
import { MimiError } from "../../errors.ts";

export type AttemptOutcome<T> =
  | { readonly kind: "done"; readonly value: T }
  /** Lost a race: the hub is at `epoch` (undefined when unknown, e.g. invalidProposal). */
  | { readonly kind: "retry"; readonly epoch: bigint | undefined; readonly reason: string };

export interface RetryOptions {
  /** Attempts in total (default 5). */
  readonly maxAttempts?: number;
  /** Brings the local state up to `epoch` (processing pending events) before the next attempt. */
  readonly catchUp: (epoch: bigint | undefined, attempt: number) => Promise<void>;
  /** What the operation is, for the error message. */
  readonly what: string;
}

/** Runs `attempt` until it is done, catching up between attempts; MIMI_ERR_SDK_CONFLICT when the attempts run out. */
export async function retryOnWrongEpoch<T>(attempt: (n: number) => Promise<AttemptOutcome<T>>, options: RetryOptions): Promise<T> {
  const max = options.maxAttempts ?? 5;
  let last = "";
  for (let n = 1; n <= max; n++) {
    const outcome = await attempt(n);
    if (outcome.kind === "done") return outcome.value;
    last = outcome.reason;
    if (n < max) await options.catchUp(outcome.epoch, n);
  }
  throw new MimiError("MIMI_ERR_SDK_CONFLICT", `${options.what}: gave up after ${max} attempts (${last})`, { details: { attempts: max, reason: last } });
}
