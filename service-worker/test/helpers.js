// Shared test helpers: a fresh in-memory IndexedDB per test and a fake server.

import { IDBFactory } from "fake-indexeddb";

import { openDatabase } from "../db.js";
import { enqueue } from "../outbox.js";
import { PHOTO_URL, SYNC_URL } from "../flush.js";

export const ANNA = { id: "7", name: "张伟" };
export const BO = { id: "8", name: "刘芳" };

export const openTestDb = () => openDatabase(new IDBFactory());

let counter = 0;
export function uuid() {
  counter += 1;
  return `00000000-0000-4000-8000-${String(counter).padStart(12, "0")}`;
}

export function checkin(user, overrides = {}) {
  return {
    id: uuid(),
    kind: "checkin",
    user,
    deviceTime: "2026-11-26T08:00:00+08:00",
    payload: { token: "tok-1", fields: { note: "" } },
    ...overrides,
  };
}

export function photo(bytes = [1, 2, 3]) {
  const blob = new Uint8Array(bytes).buffer;
  return { id: uuid(), sha256: "ab".repeat(32), type: "image/jpeg", size: blob.byteLength, blob };
}

export async function enqueueMany(db, makeOp, count) {
  const records = [];
  for (let index = 0; index < count; index += 1) records.push((await enqueue(db, makeOp(index))).record);
  return records;
}

export const json = (body, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

// A fake fetch: `answer(call)` returns a Response, or an Error to throw (network down).
export function fakeServer(answer = acceptEverything) {
  const calls = [];
  async function fetch(url, init = {}) {
    const call = { url, method: init.method ?? "GET", headers: init.headers ?? {}, body: init.body };
    if (typeof init.body === "string") call.json = JSON.parse(init.body);
    calls.push(call);
    const response = await answer(call, calls);
    if (response instanceof Error) throw response;
    return response;
  }
  return {
    fetch,
    calls,
    syncCalls: () => calls.filter((call) => call.url === SYNC_URL),
    photoCalls: () => calls.filter((call) => call.url.startsWith(PHOTO_URL)),
  };
}

export function acceptEverything(call, statuses = {}) {
  if (call.url === SYNC_URL) {
    return json({
      server_time: "2026-11-26T00:00:01+00:00",
      results: call.json.ops.map((op) => ({ id: op.id, status: statuses[op.id] ?? "created", reason: null })),
    });
  }
  return json({ status: "created" }, 201);
}
