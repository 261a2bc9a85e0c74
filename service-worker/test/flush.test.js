import assert from "node:assert/strict";
import { test } from "node:test";

import { getMeta } from "../db.js";
import { BATCH_SIZE, PHOTO_URL, SYNC_URL, flush } from "../flush.js";
import { enqueue, getRecord, recordsOf, setState, stationRecordsOf } from "../outbox.js";
import {
  ANNA,
  BO,
  acceptEverything,
  checkin,
  enqueueMany,
  fakeServer,
  json,
  openTestDb,
  photo,
} from "./helpers.js";

const NOW = () => new Date("2026-11-26T00:00:00Z");
const run = (db, server, userId = ANNA.id, onProgress) =>
  flush({ db, fetch: server.fetch, userId, now: NOW, onProgress });

test("sends only the current person's pending ops, by seq, in batches of at most 100", async () => {
  const db = await openTestDb();
  const annas = await enqueueMany(db, () => checkin(ANNA), 2 * BATCH_SIZE + 5);
  const bos = await enqueueMany(db, () => checkin(BO), 3);
  const server = fakeServer();

  const outcome = await run(db, server);

  assert.equal(outcome.outcome, "done");
  const calls = server.syncCalls();
  const batches = calls.slice(0, -1);
  assert.deepEqual(batches.map((call) => call.json.ops.length), [100, 100, 5]);
  const report = calls.at(-1).json;
  assert.deepEqual(report.ops, [], "a last report after everything went through");
  assert.equal(report.device.outbox_size, 3, "only the other person's records are left");
  const sentIds = batches.flatMap((call) => call.json.ops.map((op) => op.id));
  assert.deepEqual(sentIds, annas.map((record) => record.id), "in seq order, each once");
  for (const call of batches) {
    assert.equal(call.method, "POST");
    assert.equal(call.headers["X-Dutypwa-Sync"], "1");
    assert.equal(call.headers["Content-Type"], "application/json");
    assert.deepEqual(Object.keys(call.json.ops[0]).sort(), ["device_time", "id", "kind", "payload"]);
    assert.equal(call.json.device.id, annas[0].device_id);
    assert.equal(call.json.device.now, "2026-11-26T00:00:00.000Z");
  }
  assert.equal(batches[0].json.device.outbox_size, 2 * BATCH_SIZE + 5 + 3, "the whole device's backlog");
  assert.deepEqual(await recordsOf(db, ANNA.id), [], "accepted ops are deleted");
  assert.equal((await recordsOf(db, BO.id)).length, bos.length, "another person's ops are not sent");
});

test("nobody logged in: nothing is sent", async () => {
  const db = await openTestDb();
  await enqueueMany(db, () => checkin(ANNA), 2);
  const server = fakeServer();
  assert.equal((await run(db, server, null)).outcome, "idle");
  assert.equal(server.calls.length, 0);
});

test("created and duplicate delete the record; conflict and rejected keep it as rejected (D1)", async () => {
  const db = await openTestDb();
  const [created, duplicate, conflict, rejected, unanswered] = await enqueueMany(db, () => checkin(ANNA), 5);
  const server = fakeServer((call) =>
    json({
      server_time: "2026-11-26T00:00:01+00:00",
      results: [
        { id: created.id, status: "created", reason: null },
        { id: duplicate.id, status: "duplicate", reason: null },
        { id: conflict.id, status: "conflict", reason: "已用其他内容记录过" },
        { id: rejected.id, status: "rejected", reason: "此标签已更换" },
      ],
    }),
  );

  const outcome = await run(db, server);

  assert.equal(await getRecord(db, created.id), undefined);
  assert.equal(await getRecord(db, duplicate.id), undefined);
  const kept = await getRecord(db, conflict.id);
  assert.equal(kept.state, "rejected");
  assert.equal(kept.last_error, "已用其他内容记录过");
  assert.deepEqual(kept.result, { status: "conflict" });
  const refused = await getRecord(db, rejected.id);
  assert.equal(refused.state, "rejected");
  assert.equal(refused.last_error, "此标签已更换");
  assert.equal((await getRecord(db, unanswered.id)).state, "pending", "no answer: sent again later");
  assert.equal(outcome.outcome, "done");

  await run(db, fakeServer());
  assert.equal((await getRecord(db, conflict.id)).state, "rejected", "rejected ones are not resent");
  assert.equal(await getRecord(db, unanswered.id), undefined);
});

for (const status of [401, 403]) {
  test(`${status}: everything is kept and the flush stops for a new login`, async () => {
    const db = await openTestDb();
    const records = await enqueueMany(db, () => checkin(ANNA), 3);
    const server = fakeServer(() => json({ error: "请重新登录" }, status));

    const outcome = await run(db, server);

    assert.equal(outcome.outcome, "auth");
    assert.equal(outcome.status, status);
    assert.equal(outcome.retry_in, null);
    assert.equal(server.calls.length, 1);
    const kept = await recordsOf(db, ANNA.id);
    assert.deepEqual(kept.map((record) => record.id), records.map((record) => record.id));
    assert.ok(kept.every((record) => record.state === "pending" && record.last_error === "auth"));
  });
}

test("5xx and 429 keep everything and back off 60 s, 120 s … up to 5 min; success resets", async () => {
  const db = await openTestDb();
  await enqueueMany(db, () => checkin(ANNA), 2);
  const delays = [];
  for (const status of [503, 500, 429, 502, 503]) {
    const outcome = await run(db, fakeServer(() => json({ error: "busy" }, status)));
    assert.equal(outcome.outcome, "retry");
    delays.push(outcome.retry_in);
  }
  assert.deepEqual(delays, [60, 120, 240, 300, 300]);
  const kept = await recordsOf(db, ANNA.id);
  assert.equal(kept.length, 2);
  assert.ok(kept.every((record) => record.state === "pending" && record.attempts === 5));
  assert.equal(kept[0].last_error, "server");
  assert.equal((await getMeta(db, "flush")).failures, 5);

  const done = await run(db, fakeServer());
  assert.equal(done.outcome, "done");
  assert.equal(done.retry_in, null);
  assert.equal((await getMeta(db, "flush")).failures, 0);
});

test("no network: everything is kept as pending", async () => {
  const db = await openTestDb();
  await enqueueMany(db, () => checkin(ANNA), 2);
  const outcome = await run(db, fakeServer(() => new TypeError("Failed to fetch")));
  assert.equal(outcome.outcome, "offline");
  assert.equal(outcome.retry_in, 60);
  const kept = await recordsOf(db, ANNA.id);
  assert.ok(kept.every((record) => record.state === "pending" && record.last_error === "network"));
});

test("a 200 without results is a server fault: kept, retried", async () => {
  const db = await openTestDb();
  await enqueueMany(db, () => checkin(ANNA), 1);
  const outcome = await run(db, fakeServer(() => new Response("<html>proxy</html>", { status: 200 })));
  assert.equal(outcome.outcome, "retry");
  assert.equal((await recordsOf(db, ANNA.id))[0].state, "pending");
});

test("records left 'sending' by a flush that was cut short are sent again", async () => {
  const db = await openTestDb();
  const [record] = await enqueueMany(db, () => checkin(ANNA), 1);
  await setState(db, [record.id], "sending");
  const server = fakeServer();
  assert.equal((await run(db, server)).outcome, "done");
  assert.equal(server.syncCalls()[0].json.ops[0].id, record.id);
  assert.equal(await getRecord(db, record.id), undefined);
});

test("a batch the server cannot read (400) is resent op by op; only the bad op is rejected", async () => {
  const db = await openTestDb();
  const [good, bad, later] = await enqueueMany(db, () => checkin(ANNA), 3);
  const server = fakeServer((call) =>
    call.json.ops.some((op) => op.id === bad.id)
      ? json({ error: "device_time is not a time." }, 400)
      : acceptEverything(call),
  );

  const outcome = await run(db, server);

  assert.equal(outcome.outcome, "done");
  assert.deepEqual(server.syncCalls().map((call) => call.json.ops.length), [3, 1, 1, 1, 0]);
  assert.equal(await getRecord(db, good.id), undefined);
  assert.equal(await getRecord(db, later.id), undefined);
  const refused = await getRecord(db, bad.id);
  assert.equal(refused.state, "rejected");
  assert.equal(refused.last_error, "device_time is not a time.");
});

function findingWithPhotos(count) {
  const photos = Array.from({ length: count }, (_, index) => photo([index, 1, 2]));
  return checkin(ANNA, {
    kind: "finding",
    site: "CUIHU",
    photos,
    payload: { site: "CUIHU", description: "漏水", photos: photos.map((item) => item.id) },
  });
}

test("photos go after all ops, one by one; the record is deleted once every photo is stored", async () => {
  const db = await openTestDb();
  const [finding] = await enqueueMany(db, () => findingWithPhotos(2), 1);
  const [checkinOp] = await enqueueMany(db, () => checkin(ANNA), 1);
  const progress = [];
  const server = fakeServer();

  const outcome = await run(db, server, ANNA.id, (step) => progress.push(step));

  assert.equal(outcome.outcome, "done");
  assert.deepEqual(
    server.calls.map((call) => call.method),
    ["POST", "PUT", "PUT", "POST"],
    "the check-in is not held back behind the photos; a last backlog report closes",
  );
  assert.equal(server.syncCalls().at(-1).json.device.outbox_size, 0);
  assert.deepEqual(server.syncCalls()[0].json.ops.map((op) => op.id), [finding.id, checkinOp.id]);
  const [first, second] = server.photoCalls();
  assert.equal(first.url, PHOTO_URL + finding.photos[0].id);
  assert.equal(first.headers["Content-Type"], "image/jpeg");
  assert.equal(first.headers["X-Content-SHA256"], finding.photos[0].sha256);
  assert.equal(first.headers["X-Dutypwa-Site"], "CUIHU");
  assert.equal(first.headers["X-Dutypwa-Sync"], "1");
  assert.deepEqual(new Uint8Array(first.body), new Uint8Array([0, 1, 2]));
  assert.equal(second.url, PHOTO_URL + finding.photos[1].id);
  assert.deepEqual(await recordsOf(db, ANNA.id), []);
  assert.deepEqual(progress.at(-1), { sent: 4, total: 4 });
  assert.ok(progress.every((step, index) => index === 0 || step.sent >= progress[index - 1].sent));
});

test("an accepted op waits as 'sent' while a photo cannot be stored; the op is not resent", async () => {
  const db = await openTestDb();
  const [finding] = await enqueueMany(db, () => findingWithPhotos(2), 1);
  let photoPuts = 0;
  const flaky = fakeServer((call) => {
    if (call.url === SYNC_URL) return acceptEverything(call);
    photoPuts += 1;
    return photoPuts === 1 ? json({ status: "created" }, 201) : json({ error: "down" }, 503);
  });

  const outcome = await run(db, flaky);

  assert.equal(outcome.outcome, "retry");
  const waiting = await getRecord(db, finding.id);
  assert.equal(waiting.state, "sent");
  assert.deepEqual(waiting.photos.map((item) => item.stored), [true, false]);

  const server = fakeServer((call) => (call.url === SYNC_URL ? json({}, 500) : json({}, 200)));
  assert.equal((await run(db, server)).outcome, "done");
  assert.deepEqual(server.photoCalls().map((call) => call.url), [PHOTO_URL + finding.photos[1].id]);
  assert.ok(server.syncCalls().every((call) => call.json.ops.length === 0), "the op is not resent");
  assert.equal(await getRecord(db, finding.id), undefined);
});

test("a photo the server refuses (415) leaves the record rejected, photo kept", async () => {
  const db = await openTestDb();
  const [finding] = await enqueueMany(db, () => findingWithPhotos(2), 1);
  const server = fakeServer((call) =>
    call.url === SYNC_URL ? acceptEverything(call) : json({ error: "不是照片" }, 415),
  );

  await run(db, server);

  const kept = await getRecord(db, finding.id);
  assert.equal(kept.state, "rejected");
  assert.equal(kept.last_error, "不是照片");
  assert.equal(kept.result.status, "created");
  assert.equal(kept.result.photo, finding.photos[0].id);
  assert.ok(kept.photos[0].blob.byteLength > 0, "the photo is kept");
  assert.equal(server.photoCalls().length, 1);
});

test("a photo answered 422 (damaged on the way) is tried again before it counts as refused", async () => {
  const db = await openTestDb();
  const [finding] = await enqueueMany(db, () => findingWithPhotos(1), 1);
  const server = fakeServer((call) =>
    call.url === SYNC_URL ? acceptEverything(call) : json({ error: "checksum" }, 422),
  );
  assert.equal((await run(db, server)).outcome, "retry");
  assert.equal((await getRecord(db, finding.id)).state, "sent");
  assert.equal((await run(db, server)).outcome, "retry");
  await run(db, server);
  assert.equal((await getRecord(db, finding.id)).state, "rejected");
  assert.equal(server.photoCalls().length, 3);
});

test("401 while uploading photos keeps the record and stops", async () => {
  const db = await openTestDb();
  const [finding] = await enqueueMany(db, () => findingWithPhotos(2), 1);
  const server = fakeServer((call) => (call.url === SYNC_URL ? acceptEverything(call) : json({}, 401)));
  const outcome = await run(db, server);
  assert.equal(outcome.outcome, "auth");
  assert.equal(server.photoCalls().length, 1);
  const kept = await getRecord(db, finding.id);
  assert.equal(kept.state, "sent");
  assert.equal(kept.last_error, "auth");
});

test("a check-in made while photos upload goes before the next photo, not after all", async () => {
  const db = await openTestDb();
  const [finding] = await enqueueMany(db, () => findingWithPhotos(2), 1);
  let madeDuringUpload = null;
  const server = fakeServer(async (call) => {
    if (call.url.startsWith(PHOTO_URL) && !madeDuringUpload) {
      [madeDuringUpload] = await enqueueMany(db, () => checkin(ANNA), 1);
    }
    return acceptEverything(call);
  });

  assert.equal((await run(db, server)).outcome, "done");

  const order = server.calls.map((call) =>
    call.url === SYNC_URL ? `POST ${call.json.ops.map((op) => op.id).join(",")}` : "PUT",
  );
  assert.deepEqual(order, [`POST ${finding.id}`, "PUT", `POST ${madeDuringUpload.id}`, "PUT", "POST "]);
  assert.deepEqual(await recordsOf(db, ANNA.id), []);
});

test("a station's records: sent by the station flush only, each photo naming its person", async () => {
  const db = await openTestDb();
  const [own] = await enqueueMany(db, () => checkin(ANNA), 1);
  const summary = { ...checkin(BO), kind: "handover_step", station: 3, site: "CUIHU", photos: [photo()] };
  const { record: step } = await enqueue(db, summary);
  const { record: elsewhere } = await enqueue(db, { ...checkin(ANNA), kind: "handover_step", station: 4 });

  assert.deepEqual((await recordsOf(db, ANNA.id)).map((record) => record.id), [own.id], "not on the person's list");
  assert.deepEqual((await stationRecordsOf(db, 3)).map((record) => record.id), [step.id]);

  const server = fakeServer();
  const outcome = await flush({ db, fetch: server.fetch, station: 3, now: NOW });
  assert.equal(outcome.outcome, "done");
  const sent = server.syncCalls().flatMap((call) => call.json.ops.map((op) => op.id));
  assert.deepEqual(sent, [step.id], "only this station's record");
  const [upload] = server.photoCalls();
  assert.equal(upload.headers["X-Dutypwa-Person"], BO.id, "the person who took it, not a login");
  assert.equal(upload.headers["X-Dutypwa-Site"], "CUIHU");
  assert.deepEqual(await stationRecordsOf(db, 3), []);
  assert.equal((await stationRecordsOf(db, 4)).length, 1, "another station's record stays");
  assert.equal((await recordsOf(db, ANNA.id)).length, 1, "the person's own record stays");
  assert.equal(elsewhere.station, 4);
});
