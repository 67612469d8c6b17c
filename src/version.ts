import pkg from "../package.json" with { type: "json" };

/** The mimi-bridge version, from package.json. */
export const VERSION: string = pkg.version;
