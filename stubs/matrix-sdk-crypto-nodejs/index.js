"use strict";
/* global module */
// Stub for @matrix-org/matrix-sdk-crypto-nodejs (see package.json): loading works, using it throws.
const fail = (name) => {
  throw new Error(`@matrix-org/matrix-sdk-crypto-nodejs is stubbed in mimi-bridge (Matrix E2EE is not supported); tried to use ${String(name)}`);
};
module.exports = new Proxy(
  {},
  {
    get(_target, name) {
      if (name === "__esModule") return false;
      if (typeof name === "symbol" || name === "then") return undefined;
      return new Proxy(function stubbed() {}, { construct: () => fail(name), apply: () => fail(name), get: (_t, inner) => (inner === "prototype" ? {} : fail(`${String(name)}.${String(inner)}`)) });
    },
  },
);
