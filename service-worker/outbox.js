// The outbox: every fact a device records waits here until the server has accepted it.
// A record is deleted only after `created`/`duplicate` for its op and every photo stored;
// refused ones stay as "rejected" for the person to see. Layout: docs/offline.md.

import { ensureDeviceId, result, transact } from "./db.js";

export const PENDING = "pending";
export const SENDING = "sending";
export const SENT = "sent"; // the op was accepted; some of its photos are still to upload
export const REJECTED = "rejected";
const UNSYNCED = new Set([PENDING, SENDING, SENT]);

// Stores one op for `user`. Queuing the same op id twice (a double tap, a resent form)
// keeps the first record: returns {record, created}.
// A station's records (a handover on a shared tablet) carry `station`: they are sent with
// the station's credential, not a login, and only the station's own page lists them.
export function enqueue(
  db,
  { id, kind, user, site = null, station = null, deviceTime, payload, photos = [] },
  now = new Date(),
) {
  if (!user?.id) throw new Error("an outbox record needs the person who made it");
  return transact(db, ["outbox", "meta"], "readwrite", async ({ outbox, meta }) => {
    const existing = await result(outbox.get(id));
    if (existing) return { record: existing, created: false };
    const seqRow = await result(meta.get("seq"));
    const seq = (seqRow?.value ?? 0) + 1;
    await result(meta.put({ key: "seq", value: seq }));
    const stamp = now.toISOString();
    const record = {
      id,
      kind,
      user_id: String(user.id),
      device_id: await ensureDeviceId(meta),
      site,
      station,
      seq,
      device_time: deviceTime ?? stamp,
      payload,
      photos: photos.map((photo) => ({ ...photo, stored: false })),
      state: PENDING,
      attempts: 0,
      last_error: null,
      result: null,
      created_at: stamp,
      updated_at: stamp,
    };
    await result(outbox.add(record));
    return { record, created: true };
  });
}

// One person's records, oldest first. Nobody else's are ever returned: on a shared
// tablet a person sees and sends only their own.
export async function recordsOf(db, userId) {
  if (!userId) return [];
  const records = await transact(db, "outbox", "readonly", ({ outbox }) =>
    result(outbox.index("by_user").getAll(String(userId))),
  );
  return records.filter((record) => !record.station).sort((a, b) => a.seq - b.seq);
}

// A station's records, everyone's (each names its person), oldest first.
export async function stationRecordsOf(db, stationId) {
  if (!stationId) return [];
  const records = await transact(db, "outbox", "readonly", ({ outbox }) => result(outbox.getAll()));
  return records.filter((record) => record.station === Number(stationId)).sort((a, b) => a.seq - b.seq);
}

export async function countsOf(db, userId) {
  const records = await recordsOf(db, userId);
  return {
    pending: records.filter((record) => UNSYNCED.has(record.state)).length,
    rejected: records.filter((record) => record.state === REJECTED).length,
  };
}

export function getRecord(db, id) {
  return transact(db, "outbox", "readonly", ({ outbox }) => result(outbox.get(id)));
}

// Applies `change(record)` (which edits the record in place) and stamps updated_at.
export function updateRecord(db, id, change, now = new Date()) {
  return transact(db, "outbox", "readwrite", async ({ outbox }) => {
    const record = await result(outbox.get(id));
    if (!record) return null;
    change(record);
    record.updated_at = now.toISOString();
    await result(outbox.put(record));
    return record;
  });
}

export function deleteRecord(db, id) {
  return transact(db, "outbox", "readwrite", ({ outbox }) => result(outbox.delete(id)));
}

export function setState(db, ids, state, now = new Date()) {
  return transact(db, "outbox", "readwrite", async ({ outbox }) => {
    for (const id of ids) {
      const record = await result(outbox.get(id));
      if (!record) continue;
      record.state = state;
      record.updated_at = now.toISOString();
      await result(outbox.put(record));
    }
  });
}

// What the device reports on each sync: how much unsynced work it holds, anyone's, and
// since when (the coverage page lists phones holding unsynced work).
export async function deviceBacklog(db) {
  const all = await transact(db, "outbox", "readonly", ({ outbox }) => result(outbox.getAll()));
  const waiting = all.filter((record) => UNSYNCED.has(record.state));
  const oldest = waiting.map((record) => record.created_at).sort()[0] ?? null;
  return { outbox_size: waiting.length, oldest_pending: oldest };
}
