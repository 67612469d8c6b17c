// The Matrix adapter (issue 6): `matrixAdapter()` is what the bridge host loads for `adapters.matrix`.
import type { Adapter } from "../../src/adapter/index.ts";
import { MatrixAdapter } from "./adapter.ts";
import type { MatrixConfig } from "./config.ts";

export { MatrixAdapter, powerLevelOfRole, roleOfPowerLevel } from "./adapter.ts";
export { MatrixConfigSchema, resolveMatrixConfig } from "./config.ts";
export type { MatrixConfig, MatrixConfigInput } from "./config.ts";
export { MatrixIds } from "./ghosts.ts";

/** A new Matrix adapter (one per configured homeserver). */
export function matrixAdapter(): MatrixAdapter {
  const adapter = new MatrixAdapter();
  return adapter satisfies Adapter<MatrixConfig>;
}
