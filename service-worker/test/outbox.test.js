import assert from "node:assert/strict";
import { test } from "node:test";

import { deviceId, getMeta } from "../db.js";
import { REJECTED, countsOf, deviceBacklog, enqueue, recordsOf, setState } from "../outbox.js";
import { ANNA, BO, checkin, enqueueMany, openTestDb, photo } from "./helpers.js";

test("enqueue stores the op with its person, device, seq and photos, pending", async () => {
  const db = await openTestDb();
  const picture = photo();
  const op = checkin(ANNA, { photos: [picture] });
  const { record, created } = await enqueue(db, op, new Date("2026-11-26T00:00:00Z"));

  assert.equal(created, true);
  assert.equal(record.user_id, "7");
  assert.equal(record.device_id, await deviceId(db));
  assert.equal(record.seq, 1);
  assert.equal(record.state, "pending");
  assert.equal(record.attempts, 0);
  assert.equal(record.device_time, op.deviceTime);
  assert.deepEqual(record.payload, op.payload);
  assert.equal(record.created_at, "2026-11-26T00:00:00.000Z");
  assert.equal(record.photos.length, 1);
  assert.equal(record.photos[0].stored, false);
  assert.deepEqual(new Uint8Array(record.photos[0].blob), new Uint8Array([1, 2, 3]));
  assert.deepEqual(await recordsOf(db, "7"), [record]);
});

test("seq increases per device, across people", async () => {
  const db = await openTestDb();
  const first = (await enqueue(db, checkin(ANNA))).record;
  const second = (await enqueue(db, checkin(BO))).record;
  const third = (await enqueue(db, checkin(ANNA))).record;
  assert.deepEqual([first.seq, second.seq, third.seq], [1, 2, 3]);
  assert.equal(await getMeta(db, "seq"), 3);
});

test("the same op queued twice (double tap) is stored once", async () => {
  const db = await openTestDb();
  const op = checkin(ANNA);
  const first = await enqueue(db, op);
  const again = await enqueue(db, { ...op, payload: { token: "other", fields: {} } });
  assert.equal(again.created, false);
  assert.deepEqual(again.record, first.record);
  assert.equal((await recordsOf(db, ANNA.id)).length, 1);
});

test("a record needs the person who made it", async () => {
  const db = await openTestDb();
  assert.throws(() => enqueue(db, checkin(null)), /person/);
});

test("on a shared device each person sees only their own records (ARCHITECTURE §9)", async () => {
  const db = await openTestDb();
  await enqueueMany(db, () => checkin(ANNA), 2);
  await enqueueMany(db, () => checkin(BO), 3);
  const annas = await recordsOf(db, ANNA.id);
  assert.equal(annas.length, 2);
  assert.ok(annas.every((record) => record.user_id === "7"));
  assert.deepEqual(await countsOf(db, BO.id), { pending: 3, rejected: 0 });
  assert.deepEqual(await recordsOf(db, null), []);
  // Ids from JSON (numbers) and from HTML (strings) find the same records.
  assert.equal((await recordsOf(db, 7)).length, 2);
});

test("counts: pending, sending and sent are waiting; rejected is separate", async () => {
  const db = await openTestDb();
  const [a, b, c] = await enqueueMany(db, () => checkin(ANNA), 3);
  await setState(db, [b.id], "sent");
  await setState(db, [c.id], REJECTED);
  assert.deepEqual(await countsOf(db, ANNA.id), { pending: 2, rejected: 1 });
  assert.ok(a);
});

test("the device backlog counts everyone's unsynced records and the oldest one", async () => {
  const db = await openTestDb();
  await enqueue(db, checkin(ANNA), new Date("2026-11-26T01:00:00Z"));
  await enqueue(db, checkin(BO), new Date("2026-11-26T00:30:00Z"));
  const refused = (await enqueue(db, checkin(BO), new Date("2026-11-25T00:00:00Z"))).record;
  await setState(db, [refused.id], REJECTED);
  assert.deepEqual(await deviceBacklog(db), {
    outbox_size: 2,
    oldest_pending: "2026-11-26T00:30:00.000Z",
  });
});

test("the device id is made once", async () => {
  const db = await openTestDb();
  const first = await deviceId(db);
  assert.match(first, /^[0-9a-f-]{36}$/);
  assert.equal(await deviceId(db), first);
});

test("a database made elsewhere without our stores gets them, its data kept", async () => {
  const { IDBFactory } = await import("fake-indexeddb");
  const { openDatabase, referenceSites } = await import("../db.js");
  const factory = new IDBFactory();
  await new Promise((resolve, reject) => {
    const opening = factory.open("dutypwa", 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore("reference", { keyPath: "site" });
    opening.onsuccess = () => {
      const write = opening.result.transaction("reference", "readwrite");
      write.objectStore("reference").put({ site: "CUIHU", checkpoints: [] });
      write.oncomplete = () => resolve(opening.result.close());
    };
    opening.onerror = () => reject(opening.error);
  });

  const db = await openDatabase(factory);

  assert.deepEqual([...db.objectStoreNames].sort(), ["meta", "outbox", "reference"]);
  assert.equal(db.version, 2);
  assert.deepEqual((await referenceSites(db)).map((site) => site.site), ["CUIHU"]);
  assert.equal((await enqueue(db, checkin(ANNA))).created, true);
});
