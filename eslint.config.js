// Lint rules that guard the architecture and the test discipline, on top of typescript-eslint's
// type-aware recommended set.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const noFocusedOrSkippedTests = [
  {
    selector: "CallExpression[callee.type='MemberExpression'][callee.object.name=/^(test|it|describe|suite)$/][callee.property.name=/^(only|skip|todo)$/]",
    message: "No focused, skipped or todo tests: every test runs in CI.",
  },
  {
    selector: "CallExpression[callee.name=/^(test|it|describe|suite)$/] ObjectExpression > Property[key.name=/^(only|skip|todo)$/]",
    message: "No focused, skipped or todo tests: every test runs in CI.",
  },
  {
    selector: "CallExpression[callee.type='MemberExpression'][callee.object.name='t'][callee.property.name=/^(skip|todo)$/]",
    message: "No skipped tests at run time: a missing server must fail the test, not skip it.",
  },
];

export default tseslint.config(
  { ignores: ["node_modules/**", ".tools/**", "data/**", "coverage/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ["*.js", "bin/*.mjs", "scripts/*.mjs"] }, tsconfigRootDir: import.meta.dirname },
      globals: { process: "readonly", console: "readonly", Buffer: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly" },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/only-throw-error": "error",
      "@typescript-eslint/no-floating-promises": ["error", {
        allowForKnownSafeCalls: [{ from: "package", package: "node:test", name: ["test", "it", "describe", "suite"] }],
      }],
      "no-restricted-syntax": ["error", ...noFocusedOrSkippedTests],
    },
  },
  {
    // ts-mls is imported only behind src/mls (DESIGN.md section 5).
    files: ["**/*.ts"],
    ignores: ["src/mls/**"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["ts-mls", "ts-mls/*"], message: "Only src/mls/ imports ts-mls." }] }],
    },
  },
  {
    // Adapters see the core only through the adapter SDK (DESIGN.md section 4).
    files: ["adapters/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", {
        patterns: [
          { group: ["ts-mls", "ts-mls/*"], message: "Adapters never touch MLS." },
          { regex: "^(\\.\\./)+src/(?!adapter/)", message: "Adapters import only the adapter SDK (src/adapter/)." },
          { group: ["#src/*", "!#src/adapter/*"], message: "Adapters import only the adapter SDK (src/adapter/)." },
        ],
      }],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
);
