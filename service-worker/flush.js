// Sending one person's outbox to the server (docs/offline.md, "Flush"): their pending ops
// by seq in batches of at most 100, then their photos one by one, so check-ins are never
// held back behind uploads. `fetch` and the database are parameters: node --test runs
// this against a fake server.

import { deviceId, getMeta, setMeta } from "./db.js";
import {
  PENDING,
  REJECTED,
  SENDING,
  SENT,
  deleteRecord,
  deviceBacklog,
  getRecord,
  recordsOf,
  setState,
  stationRecordsOf,
  updateRecord,
} from "./outbox.js";

export const BATCH_SIZE = 100;
export const SYNC_URL = "/api/v1/sync";
export const PHOTO_URL = "/api/v1/photos/";
// The page's timer: every 30 s while items wait, doubling after each failed flush to 5 min.
export const RETRY_FIRST_S = 30;
export const RETRY_MAX_S = 300;
// A 422 for a photo is most likely a checksum mismatch (bytes damaged on the way):
// worth a few more tries before the record is shown as refused.
const PHOTO_TRIES = 3;
const API_HEADERS = { "X-Dutypwa-Sync": "1" };

// Outcomes: "idle" (nothing to send), "done", "offline" (no network), "retry" (429/5xx:
// try later), "auth" (401/403: everything kept, the person must log in again).
// Returns {outcome, status, error, sent, total, retry_in}.
// With `station` (an id) instead of `userId`: that station's records, sent with its cookie.
export async function flush({ db, fetch, userId, station = null, now = () => new Date(), onProgress = () => {} }) {
  if (!userId && !station) return { outcome: "idle", sent: 0, total: 0, retry_in: null };
  const load = station ? () => stationRecordsOf(db, station) : () => recordsOf(db, userId);
  const records = await load();
  // A flush cut short (the browser stopped the worker mid-request) left records in
  // "sending": the server may or may not have them, and a resend is a harmless duplicate.
  const cutShort = records.filter((record) => record.state === SENDING).map((record) => record.id);
  if (cutShort.length) await setState(db, cutShort, PENDING, now());

  const ops = records.filter((record) => record.state === PENDING || record.state === SENDING);
  const photos = records
    .filter((record) => record.state !== REJECTED)
    .reduce((count, record) => count + unstored(record).length, 0);
  const progress = { sent: 0, total: ops.length + photos };
  if (!progress.total) return finish(db, { outcome: "idle" }, progress, now);
  const tell = () => onProgress({ sent: progress.sent, total: progress.total });
  tell();

  const context = { db, fetch, now, progress, tell, load, device: await deviceId(db) };
  const stopped = (await sendOps(context, ops)) ?? (await sendPhotos(context));
  if (!stopped) await reportBacklog(context);
  return finish(db, stopped ?? { outcome: "done" }, progress, now);
}

// Each batch reports the backlog as it was before the batch; once everything is through,
// say what is left (photos included), so the coverage page stops listing this phone.
async function reportBacklog({ db, fetch, now, device }) {
  await call(fetch, SYNC_URL, {
    method: "POST",
    headers: { ...API_HEADERS, "Content-Type": "application/json" },
    body: JSON.stringify({
      device: { id: device, ...(await deviceBacklog(db)), now: now().toISOString() },
      ops: [],
    }),
  });
}

async function sendOps(context, ops) {
  const { db, fetch, now, progress, tell, device } = context;
  let queue = ops;
  let size = BATCH_SIZE;
  while (queue.length) {
    const batch = queue.slice(0, size);
    const ids = batch.map((record) => record.id);
    await setState(db, ids, SENDING, now());
    const backlog = await deviceBacklog(db);
    const answer = await call(fetch, SYNC_URL, {
      method: "POST",
      headers: { ...API_HEADERS, "Content-Type": "application/json" },
      body: JSON.stringify({
        device: { id: device, ...backlog, now: now().toISOString() },
        ops: batch.map(({ id, kind, device_time, payload }) => ({ id, kind, device_time, payload })),
      }),
    });
    if (answer.outcome === "refused" && batch.length > 1) {
      // The server cannot read this batch as a whole (400): send the rest one op per
      // request, so only the op it cannot take ends up refused.
      await setState(db, ids, PENDING, now());
      size = 1;
      continue;
    }
    if (answer.outcome === "refused") {
      await reject(context, batch[0], answer.error ?? `HTTP ${answer.status}`, { status: answer.status });
      progress.sent += 1;
      tell();
      queue = queue.slice(1);
      continue;
    }
    const results = answer.outcome === "ok" ? answer.body?.results : null;
    if (!Array.isArray(results)) {
      // A 200 without results is a server fault like a 5xx: keep everything, retry later.
      const stop = answer.outcome === "ok" ? { outcome: "retry", status: answer.status } : answer;
      await failed(db, ids, stop, now);
      return stop;
    }
    const byId = new Map(results.map((entry) => [entry?.id, entry]));
    for (const record of batch) await applyResult(context, record, byId.get(record.id));
    progress.sent += batch.length;
    tell();
    queue = queue.slice(batch.length);
  }
  return null;
}

async function applyResult(context, record, answer) {
  const { db, now } = context;
  const status = answer?.status;
  if (status === "created" || status === "duplicate") {
    // Accepted: gone from the outbox, unless photos of it are still to upload.
    if (!unstored(record).length) return deleteRecord(db, record.id);
    return updateRecord(
      db,
      record.id,
      (stored) => {
        stored.state = SENT;
        stored.result = { status };
        stored.last_error = null;
      },
      now(),
    );
  }
  if (status === "conflict" || status === "rejected") {
    return reject(context, record, answer.reason || status, { status });
  }
  // No answer for this op: the server did not handle it; it stays for the next flush.
  return updateRecord(db, record.id, (stored) => {
    stored.state = PENDING;
    stored.last_error = "server";
  }, now());
}

// Kept, never dropped: the sync page shows it with the server's reason.
async function reject(context, record, reason, resultOfServer) {
  const { db, now, progress } = context;
  progress.total -= unstored(record).length; // its photos will not be sent now
  return updateRecord(
    db,
    record.id,
    (stored) => {
      stored.state = REJECTED;
      stored.result = resultOfServer;
      stored.last_error = reason;
    },
    now(),
  );
}

async function sendNewOps(context) {
  const fresh = (await context.load()).filter((record) => record.state === PENDING);
  if (!fresh.length) return null;
  context.progress.total += fresh.length;
  context.tell();
  return sendOps(context, fresh);
}

async function sendPhotos(context) {
  const { db, fetch, now, progress, tell } = context;
  let outcome = null;
  const waiting = (await context.load()).filter((record) => record.state === SENT);
  for (const record of waiting) {
    for (const photo of unstored(record)) {
      // A check-in made while photos upload is not held back behind them: send new ops
      // before each photo (one photo takes seconds on a slow link).
      const stopped = await sendNewOps(context);
      if (stopped) return stopped;
      const answer = await call(fetch, PHOTO_URL + encodeURIComponent(photo.id), {
        method: "PUT",
        headers: {
          ...API_HEADERS,
          "Content-Type": photo.type,
          "X-Content-SHA256": photo.sha256,
          "X-Dutypwa-Site": record.site ?? "",
          // On a station nobody is logged in: the server takes the person from here.
          "X-Dutypwa-Person": record.user_id ?? "",
        },
        body: photo.blob,
      });
      if (answer.outcome === "ok") {
        await updatePhoto(db, record.id, photo.id, (stored) => {
          stored.stored = true;
        }, now);
        progress.sent += 1;
        tell();
        continue;
      }
      if (answer.outcome === "refused" && answer.status === 422 && (photo.attempts ?? 0) + 1 < PHOTO_TRIES) {
        await updatePhoto(db, record.id, photo.id, (stored) => {
          stored.attempts = (stored.attempts ?? 0) + 1;
        }, now);
        outcome = { outcome: "retry", status: 422, error: answer.error };
        continue;
      }
      if (answer.outcome === "refused") {
        await reject(context, record, answer.error ?? `HTTP ${answer.status}`, {
          ...(record.result ?? {}),
          photo: photo.id,
          photo_status: answer.status,
        });
        break;
      }
      await failed(db, [], answer, now, record.id);
      return answer;
    }
    const fresh = await getRecord(db, record.id);
    if (fresh?.state === SENT && !unstored(fresh).length) await deleteRecord(db, record.id);
  }
  return outcome;
}

function updatePhoto(db, recordId, photoId, change, now) {
  return updateRecord(
    db,
    recordId,
    (record) => {
      const photo = record.photos.find((candidate) => candidate.id === photoId);
      if (photo) change(photo);
    },
    now(),
  );
}

// A failed request: the ops go back to pending (or the photo's record keeps its state)
// with the reason the page translates ("network", "server", "auth").
async function failed(db, ids, answer, now, photoRecordId = null) {
  const reason = { offline: "network", retry: "server", auth: "auth" }[answer.outcome] ?? "server";
  for (const id of ids) {
    await updateRecord(db, id, (record) => {
      record.state = PENDING;
      record.attempts += 1;
      record.last_error = reason;
      record.last_status = answer.status ?? null;
    }, now());
  }
  if (photoRecordId) {
    await updateRecord(db, photoRecordId, (record) => {
      record.attempts += 1;
      record.last_error = reason;
      record.last_status = answer.status ?? null;
    }, now());
  }
}

const unstored = (record) => (record.photos ?? []).filter((photo) => !photo.stored);

// One request, sorted into what the flush does next.
async function call(fetch, url, init) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", cache: "no-store", ...init });
  } catch {
    return { outcome: "offline", error: "network" };
  }
  const status = response.status;
  const body = await response.json().catch(() => null);
  if (response.ok) return { outcome: "ok", status, body };
  if (status === 401 || status === 403) return { outcome: "auth", status, error: body?.error };
  if (status === 408 || status === 429 || status >= 500) {
    return { outcome: "retry", status, error: body?.error };
  }
  return { outcome: "refused", status, error: body?.error };
}

// Remembers consecutive failures across flushes (the worker may be stopped in between)
// and says when the page's timer should try again.
async function finish(db, stopped, progress, now) {
  const previous = (await getMeta(db, "flush")) ?? { failures: 0 };
  const failedNow = stopped.outcome === "offline" || stopped.outcome === "retry";
  const failures = failedNow ? previous.failures + 1 : 0;
  await setMeta(db, "flush", { failures, outcome: stopped.outcome, at: now().toISOString() });
  return {
    outcome: stopped.outcome,
    status: stopped.status ?? null,
    error: stopped.error ?? null,
    sent: progress.sent,
    total: progress.total,
    retry_in: failedNow ? Math.min(RETRY_FIRST_S * 2 ** failures, RETRY_MAX_S) : null,
  };
}
