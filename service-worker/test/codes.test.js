import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { codeKey } from "../codes.js";

// The same cases the server's code_key runs (tests/test_scanner.py).
const CASES = JSON.parse(readFileSync(new URL("../../tests/code_keys.json", import.meta.url)));

test("a typed short code means what the server reads it as", () => {
  for (const [typed, key] of CASES) assert.equal(codeKey(typed), key, JSON.stringify(typed));
});
