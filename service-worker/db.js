// IndexedDB "dutypwa" (version 1), shared by the service worker and the pages: the outbox,
// a small key/value `meta` store and the `reference` data a patrol needs offline.
// Layout and meaning: docs/offline.md. Every function takes the database (or the
// IndexedDB factory) as a parameter, so node --test can run them on fake-indexeddb.

export const DB_NAME = "dutypwa";
export const DB_VERSION = 1;

const STORES = ["outbox", "meta", "reference"];

export function openDatabase(factory = globalThis.indexedDB, name = DB_NAME, version = DB_VERSION) {
  return new Promise((resolve, reject) => {
    const opening = factory.open(name, version);
    opening.onupgradeneeded = () => createStores(opening.result, opening.transaction);
    opening.onsuccess = () => {
      const db = opening.result;
      // A database made by someone else without all our stores (a test seeding one
      // store, an old script): add the missing ones instead of failing on every write.
      if (STORES.some((store) => !db.objectStoreNames.contains(store))) {
        db.close();
        openDatabase(factory, name, db.version + 1).then(resolve, reject);
        return;
      }
      // A newer version opened elsewhere (another tab, a new worker): step aside.
      db.onversionchange = () => db.close();
      resolve(db);
    };
    opening.onerror = () => reject(opening.error);
  });
}

function createStores(db, upgrade) {
  const has = (store) => db.objectStoreNames.contains(store);
  const outbox = has("outbox") ? upgrade.objectStore("outbox") : db.createObjectStore("outbox", { keyPath: "id" });
  if (!outbox.indexNames.contains("by_user")) outbox.createIndex("by_user", "user_id");
  if (!outbox.indexNames.contains("by_state")) outbox.createIndex("by_state", "state");
  if (!has("meta")) db.createObjectStore("meta", { keyPath: "key" });
  if (!has("reference")) db.createObjectStore("reference", { keyPath: "site" });
}

// One IDBRequest as a promise. Awaiting it inside `transact` keeps the transaction
// alive: its continuation runs in the request's success event.
export function result(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

// Runs `work(stores)` in one transaction and resolves with what it returned once the
// transaction has committed, so a caller never acts on a write that was rolled back.
// `work` must only await IndexedDB requests of this transaction (anything else lets it
// auto-commit half-way).
export function transact(db, names, mode, work) {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(names, mode);
    const stores = Object.fromEntries([names].flat().map((name) => [name, tx.objectStore(name)]));
    let value;
    tx.oncomplete = () => resolve(value);
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
    Promise.resolve()
      .then(() => work(stores))
      .then(
        (returned) => {
          value = returned;
        },
        (error) => {
          reject(error);
          try {
            tx.abort();
          } catch {
            // already finished
          }
        },
      );
  });
}

export async function getMeta(db, key) {
  const row = await transact(db, "meta", "readonly", ({ meta }) => result(meta.get(key)));
  return row?.value;
}

export function setMeta(db, key, value) {
  return transact(db, "meta", "readwrite", ({ meta }) => result(meta.put({ key, value })));
}

export function deleteMeta(db, key) {
  return transact(db, "meta", "readwrite", ({ meta }) => result(meta.delete(key)));
}

// The device id is made once per browser profile and kept for good: the server lists
// devices holding unsynced work by it.
export function deviceId(db, makeId = () => crypto.randomUUID()) {
  return transact(db, "meta", "readwrite", async ({ meta }) => ensureDeviceId(meta, makeId));
}

export async function ensureDeviceId(metaStore, makeId = () => crypto.randomUUID()) {
  const row = await result(metaStore.get("device_id"));
  if (row) return row.value;
  const id = makeId();
  await result(metaStore.put({ key: "device_id", value: id }));
  return id;
}

// The person using the app now ({id, name}); ids are kept as strings everywhere, so the
// `by_user` index finds the same records whether the id came from HTML or from JSON.
export async function currentUser(db) {
  const user = await getMeta(db, "user");
  return user?.id ? { id: String(user.id), name: user.name ?? "" } : null;
}

export function setCurrentUser(db, user) {
  if (!user?.id) return deleteMeta(db, "user");
  return setMeta(db, "user", { id: String(user.id), name: user.name ?? "" });
}

// Replaces the reference data with one person's sites: on a shared device the next
// person's refresh removes the previous person's sites.
export function storeReference(db, reference, fetchedAt = new Date()) {
  const userId = String(reference.user?.id ?? "");
  const at = fetchedAt.toISOString();
  return transact(db, ["reference", "meta"], "readwrite", async (stores) => {
    await result(stores.reference.clear());
    for (const site of reference.sites ?? []) {
      await result(stores.reference.put({ ...site, site: site.code, user_id: userId, fetched_at: at }));
    }
    const about = {
      user_id: userId,
      user: reference.user ?? null,
      fetched_at: at,
      server_time: reference.server_time ?? null,
      categories: reference.categories ?? [],
      severities: reference.severities ?? [],
      // R7: the open all-hands periods, for the banner of the offline pages.
      all_hands: reference.all_hands ?? [],
    };
    await result(stores.meta.put({ key: "reference", value: about }));
  });
}

export function referenceSites(db) {
  return transact(db, "reference", "readonly", ({ reference }) => result(reference.getAll()));
}

// The checkpoint behind a scanned token in the saved reference data, with its site.
export async function findCheckpoint(db, token) {
  for (const site of await referenceSites(db)) {
    const checkpoint = (site.checkpoints ?? []).find((candidate) => candidate.token === token);
    if (checkpoint) return { site, checkpoint };
  }
  return null;
}
