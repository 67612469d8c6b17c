export { ConfigSchema, type Config } from "./schema.ts";
export { validateConfig, parseConfigText, loadConfigFile, defaultConfig, type ConfigProblem } from "./load.ts";
