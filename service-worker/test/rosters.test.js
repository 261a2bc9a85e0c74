import assert from "node:assert/strict";
import { test } from "node:test";

import { ROSTER_VERSION_HEADER, rosterPages, upToDate } from "../rosters.js";

test("only the published months the reference lists are fetched, with their versions", () => {
  const site = { code: "CUIHU", rosters: [{ month: "2026-12", version: 7 }] };
  assert.deepEqual(rosterPages(site), [
    { path: "/s/CUIHU/roster/mine", version: null },
    { path: "/s/CUIHU/roster/2026-12", version: "7" },
  ]);
});

test("a site without published months (or an older reference) gives only my shifts", () => {
  assert.deepEqual(rosterPages({ code: "南湖" }), [{ path: "/s/%E5%8D%97%E6%B9%96/roster/mine", version: null }]);
  assert.deepEqual(rosterPages({ code: "X", rosters: [] }).length, 1);
});

test("a saved month is kept until its version changes", () => {
  const saved = new Response("<html>", { headers: { [ROSTER_VERSION_HEADER]: "7" } });
  assert.equal(upToDate(saved, "7"), true);
  assert.equal(upToDate(saved, "8"), false);
  assert.equal(upToDate(undefined, "7"), false);
  assert.equal(upToDate(new Response("<html>"), "7"), false);
});
