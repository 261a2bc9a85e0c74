// dutypwa's service worker: a module worker served by dutypwa/pwa.py at /sw.js (scope "/"),
// its modules at /sw/<name>.js. One strategy per kind of request:
//   static and vendored files -> cache-first from this version's precache;
//   page navigations          -> network first, then this person's saved copy (a checkpoint
//                                never opened here gets the checkpoint shell), then /offline;
//   station pages (a tablet)  -> network first, then the offline station, never a saved page
//                                (a handover's state changes with every step);
//   outboxable form POSTs     -> stored in the IndexedDB outbox and answered 202;
//   /api/*                    -> the network only, never cached.
// The contract with the server is docs/offline.md.

import { currentUser, findCheckpoint, getMeta, openDatabase, referenceSites, setMeta } from "./sw/db.js";
import { flush } from "./sw/flush.js";
import { opFromForm, outboxRoute, queuedFragment } from "./sw/ops.js";
import { countsOf, enqueue, stationRecordsOf } from "./sw/outbox.js";
import { QR_READER_MESSAGE, QR_READER_META, cacheMissing, installUrls } from "./sw/qr-reader.js";
import { rosterPages, upToDate } from "./sw/rosters.js";

// Filled in by dutypwa/pwa.py from url_for() when it serves this file. VERSION is a hash of
// everything precached, so every deploy installs a new worker with fresh caches.
const VERSION = "__DUTYPWA_VERSION__";
const PRECACHE_URLS = "__DUTYPWA_PRECACHE_URLS__";
// The offline QR reader: precached only where a page says the browser cannot read QR
// codes itself (./sw/qr-reader.js); served cache-first like the rest once it is cached.
const READER_URLS = "__DUTYPWA_READER_URLS__";
const OFFLINE_URL = "__DUTYPWA_OFFLINE_URL__";
const CHECKPOINT_SHELL_URL = "__DUTYPWA_CHECKPOINT_SHELL_URL__";
const SYNC_PAGE_URL = "__DUTYPWA_SYNC_PAGE_URL__";
const STATION_HOME_URL = "__DUTYPWA_STATION_HOME_URL__";
const STATION_SHELL_URL = "__DUTYPWA_STATION_SHELL_URL__";

// The kill switch: the server sets the version to "kill" (DUTYPWA_SERVICE_WORKER_KILL).
const KILLED = VERSION === "kill";
const CACHE_PREFIX = "dutypwa-";
const STATIC_CACHE = `${CACHE_PREFIX}static-${VERSION}`;
// Saved pages are kept per person: on a shared device nobody is shown another's pages.
const PAGES_CACHE_PREFIX = `${CACHE_PREFIX}pages-`;
// A station tablet's offline page (no person: the station's own credential fetched it).
const STATION_CACHE = `${CACHE_PREFIX}station`;
const MAX_SAVED_PAGES = 60;
// Shells are login-only pages, so they are not in the shared precache; they are saved
// for the person using the app and refreshed when older than this.
const SHELL_MAX_AGE_MS = 30 * 60 * 1000;
// Past this a saved copy is shown instead of waiting on a poor connection (a basement
// pump room); the network's answer still refreshes the saved copy when it comes.
const NAVIGATION_TIMEOUT_MS = 6000;
const API_TIMEOUT_MS = 60000;
const SYNC_TAG = "outbox";
// Held by a running flush; a waiting worker takes it before skipWaiting().
const FLUSH_LOCK = "dutypwa-flush";
const MAX_FLUSH_ROUNDS = 3;
const FINDING_FORM = /^\/s\/[^/]+\/findings\/new$/;
const findingFormPath = (siteCode) => `/s/${encodeURIComponent(siteCode)}/findings/new`;

const precached = new Set(
  [PRECACHE_URLS, READER_URLS]
    .flatMap((urls) => (Array.isArray(urls) ? urls : []))
    .map((url) => new URL(url, self.location).href),
);

let databaseOpening = null;
function database() {
  databaseOpening ??= openDatabase().then(
    (db) => {
      // db.js closes the connection when another context upgrades the database.
      db.addEventListener("versionchange", () => {
        databaseOpening = null;
      });
      return db;
    },
    (error) => {
      databaseOpening = null;
      throw error;
    },
  );
  return databaseOpening;
}

self.addEventListener("install", (event) => event.waitUntil(install()));
self.addEventListener("activate", (event) => event.waitUntil(activate()));
self.addEventListener("fetch", onFetch);
self.addEventListener("message", onMessage);
self.addEventListener("sync", (event) => {
  if (!KILLED && event.tag === SYNC_TAG) event.waitUntil(backgroundSync());
});

async function install() {
  if (KILLED) {
    // Waiting for every tab to close would keep the broken version running.
    await self.skipWaiting();
    return;
  }
  const cache = await caches.open(STATIC_CACHE);
  // A device that needed the QR reader keeps it across versions (offline from the start).
  const verdict = await getMeta(await database(), QR_READER_META).catch(() => null);
  // cache: "reload" skips the HTTP cache, so a new version never precaches an old file.
  await cache.addAll(installUrls(PRECACHE_URLS, READER_URLS, verdict).map(reloaded));
}

function reloaded(url) {
  return new Request(url, { cache: "reload" });
}

// A page says whether its browser reads QR codes itself; where it does not, the reader is
// cached now. Answers every page with {type: "qr-reader", native, ready}: the scan page
// says when offline scanning is ready. One caching at a time (pages ask on every load).
let qrReaderCaching = null;
async function keepQrReader(native) {
  await setMeta(await database(), QR_READER_META, { native }).catch(() => undefined);
  let ready = true;
  if (!native) {
    qrReaderCaching ??= caches
      .open(STATIC_CACHE)
      .then((cache) => cacheMissing(cache, READER_URLS, reloaded))
      .finally(() => {
        qrReaderCaching = null;
      });
    ready = await qrReaderCaching.then(
      () => true,
      () => false,
    );
  }
  await broadcast({ type: QR_READER_MESSAGE, native, ready });
}

async function activate() {
  if (KILLED) {
    await removeEverything();
    return;
  }
  const names = await caches.keys();
  // Only our own caches, and only other versions' static files: the saved pages stay.
  const stale = names.filter((name) => name.startsWith(`${CACHE_PREFIX}static-`) && name !== STATIC_CACHE);
  await Promise.all(stale.map((name) => caches.delete(name)));
  await self.clients.claim();
  // The shells match this version's scripts only once fetched again.
  await saveShells({ force: true }).catch(() => undefined);
  await saveStationShell().catch(() => undefined);
}

// Kill switch (docs/offline.md): remove our caches and this registration, then reload the
// open tabs, which then run without a worker and post straight to the server. The
// outbox in IndexedDB is kept: it holds unsent work, which the pages send themselves.
async function removeEverything() {
  const names = await caches.keys();
  await Promise.all(names.filter((name) => name.startsWith(CACHE_PREFIX)).map((name) => caches.delete(name)));
  await self.registration.unregister();
  const windows = await self.clients.matchAll({ type: "window" });
  await Promise.all(windows.map((client) => client.navigate(client.url).catch(() => null)));
}

function onFetch(event) {
  if (KILLED) return;
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  // The sync API goes to the network as it is: never cached, never queued.
  if (url.pathname.startsWith("/api/")) return;
  const route = outboxRoute(request.method, request.url);
  if (route) {
    event.respondWith(queueWrite(event, route));
    return;
  }
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    const station = url.pathname === STATION_HOME_URL || url.pathname.startsWith(`${STATION_HOME_URL}/`);
    event.respondWith(navigate(event, url, station ? stationShell : savedPage));
    return;
  }
  if (precached.has(url.origin + url.pathname)) event.respondWith(cacheFirst(request));
  // Anything else (htmx partials, photos, QR images) is left to the browser.
}

async function cacheFirst(request) {
  const cached = await caches.match(request, { cacheName: STATIC_CACHE });
  return cached ?? fetch(request);
}

// `fallback(url)`: what to show when the network does not answer in time — this person's
// saved copy, or for a station's pages the offline station.
async function navigate(event, url, fallback) {
  const fromNetwork = fetch(event.request);
  // Registered before anything else reads the response, so the clone gets an unread body.
  event.waitUntil(fromNetwork.then((response) => savePage(url, response.clone())).catch(() => undefined));
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(resolve, NAVIGATION_TIMEOUT_MS, null);
  });
  const answer = await Promise.race([fromNetwork.catch(() => null), timedOut]);
  clearTimeout(timer);
  if (answer) return answer;
  const saved = await fallback(url);
  if (saved) return saved;
  // Nothing saved: a slow answer still beats the offline page.
  return (await fromNetwork.catch(() => null)) ?? offlinePage();
}

// Keeps a page for the person the server rendered it for (X-Dutypwa-User, set by pwa.py):
// never a login page, an error, a redirect or another person's page.
async function savePage(url, response) {
  const userId = response.headers.get("X-Dutypwa-User");
  const noStore = (response.headers.get("Cache-Control") ?? "").includes("no-store");
  if (!response.ok || response.type !== "basic" || !userId || noStore) return;
  const cache = await caches.open(PAGES_CACHE_PREFIX + userId);
  await cache.put(url.href, response);
  const keys = await cache.keys();
  const shells = new Set([CHECKPOINT_SHELL_URL, SYNC_PAGE_URL].map((path) => new URL(path, self.location).href));
  const oldest = keys.filter((key) => !shells.has(key.url)).slice(0, Math.max(0, keys.length - MAX_SAVED_PAGES));
  await Promise.all(oldest.map((key) => cache.delete(key)));
}

async function savedPage(url) {
  const user = await currentUser(await database());
  if (!user) return null;
  const cache = await caches.open(PAGES_CACHE_PREFIX + user.id);
  const page = await cache.match(url.href, { ignoreVary: true });
  if (page) return page;
  // The sync page reads its query (?queued=<id>) in the browser: any saved copy will do.
  if (url.pathname === SYNC_PAGE_URL) return (await cache.match(SYNC_PAGE_URL, { ignoreVary: true })) ?? null;
  // The problem form opened from a checkpoint (?checkpoint=<token>): the site's saved form.
  if (FINDING_FORM.test(url.pathname)) {
    return (await cache.match(url.origin + url.pathname, { ignoreVary: true })) ?? null;
  }
  // A checkpoint never opened on this phone: the shell renders it from the reference data.
  if (/^\/c\/[^/]+$/.test(url.pathname)) {
    return (await cache.match(CHECKPOINT_SHELL_URL, { ignoreVary: true })) ?? null;
  }
  return null;
}

// A station's pages are never saved (a handover changes with every step): without the
// network the offline station runs it from the saved reference (static/station-app.js).
function stationShell() {
  return caches.match(STATION_SHELL_URL, { cacheName: STATION_CACHE, ignoreVary: true });
}

// Keeps the offline station fresh on a tablet enrolled as a station (meta.station, written
// by its pages): after each new version, and when a station page asks.
async function saveStationShell() {
  const station = await getMeta(await database(), "station");
  if (!station?.id) return;
  const response = await fetch(STATION_SHELL_URL, { cache: "no-store", redirect: "manual" });
  if (response.ok && response.type === "basic") {
    await (await caches.open(STATION_CACHE)).put(STATION_SHELL_URL, response);
  }
}

async function offlinePage() {
  const page = await caches.match(OFFLINE_URL, { cacheName: STATIC_CACHE });
  return page ?? Response.error();
}

// Fetches the login-only shells (/app/checkpoint, /sync) for the person using the app.
// When a response was made. Some servers send Date twice ("Thu, 26 Nov 2026 …, Thu, 26 …",
// the app's conditional-response code and the HTTP server each adding one): take the first.
function responseDate(response) {
  const first = (response.headers.get("Date") ?? "").match(/\w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT/);
  return first ? Date.parse(first[0]) : Number.NaN;
}

async function saveShells({ force = false } = {}) {
  const user = await currentUser(await database());
  if (!user) return;
  const cache = await caches.open(PAGES_CACHE_PREFIX + user.id);
  // The problem form of each of the person's sites, so a problem can be reported offline
  // from any checkpoint (the page fills in the checkpoint from the reference data).
  const sites = await referenceSites(await database()).catch(() => []);
  const findingForms = sites.map((site) => findingFormPath(site.code));
  const shells = [CHECKPOINT_SHELL_URL, SYNC_PAGE_URL, ...findingForms].map((path) => ({ path, version: null }));
  // The published roster, readable offline: my shifts, and the months the reference lists.
  for (const { path, version } of [...shells, ...sites.flatMap(rosterPages)]) {
    // ignoreVary: the saved copy varies on Cookie and Accept-Encoding, this lookup has neither.
    const saved = await cache.match(path, { ignoreVary: true });
    // A roster month once per version; the rest when older than SHELL_MAX_AGE_MS.
    const fresh = version === null ? saved && Date.now() - responseDate(saved) < SHELL_MAX_AGE_MS : upToDate(saved, version);
    if (!force && fresh) continue;
    const response = await fetch(path, { cache: "no-store", redirect: "manual" });
    if (response.headers.get("X-Dutypwa-User") === user.id) {
      await savePage(new URL(path, self.location), response);
    }
  }
}

async function queueWrite(event, route) {
  const request = event.request;
  // The untouched request goes to the server when this form cannot be queued.
  const untouched = request.clone();
  try {
    const db = await database();
    const user = await currentUser(db);
    const op = user ? await opFromForm(route, await request.formData()) : null;
    if (!op) return fetch(untouched);
    if (op.kind === "checkin") {
      // The site is only needed to upload photos; the reference data knows it.
      op.site = (await findCheckpoint(db, op.payload.token))?.site.site ?? null;
    }
    const { record } = await enqueue(db, { ...op, user });
    event.waitUntil(afterQueued());
    if (request.headers.get("HX-Request") === "true") {
      return new Response(queuedFragment(route, record, op.queuedText), {
        status: 202,
        headers: { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" },
      });
    }
    // A plain form post (htmx not running): show the sync page with this item on it.
    const syncPage = new URL(SYNC_PAGE_URL, self.location);
    syncPage.searchParams.set("queued", record.id);
    return Response.redirect(syncPage.href, 303);
  } catch (error) {
    // IndexedDB refused (storage full, private mode): let the server take the form.
    console.error("outbox: could not queue the form", error);
    return fetch(untouched);
  }
}

async function afterQueued() {
  await registerBackgroundSync();
  await broadcastCounts();
  await startFlush();
}

async function registerBackgroundSync() {
  // Background Sync exists in Chromium only; elsewhere the pages' triggers cover it.
  await self.registration.sync?.register(SYNC_TAG).catch(() => undefined);
}

// One flush at a time: a trigger during a flush runs one more flush after it.
let flushing = null;
let flushAgain = false;
// Background Sync events being handled now. A flush that fails during one must not
// register the tag again: a tag registered while its own event runs fires again as soon
// as the event ends, so a failing server (or a lost route to it while the phone is
// online) would be asked again at once, in a tight loop. The failed event makes the
// browser retry later with its own backoff; the pages' timer backs off too.
let syncEventsRunning = 0;
function startFlush() {
  if (flushing) {
    flushAgain = true;
    return flushing;
  }
  flushing = (async () => {
    let outcome;
    let rounds = 0;
    try {
      // A request that came in during a flush (the phone coming online while a flush
      // was failing, a record queued meanwhile) gets a round of its own: a few at most.
      do {
        flushAgain = false;
        outcome = await flushHoldingLock();
        rounds += 1;
      } while (flushAgain && rounds < MAX_FLUSH_ROUNDS);
      return outcome;
    } finally {
      flushing = null;
    }
  })();
  return flushing;
}

function flushHoldingLock() {
  return self.navigator.locks ? self.navigator.locks.request(FLUSH_LOCK, flushNow) : flushNow();
}

async function flushNow() {
  const db = await database();
  const user = await currentUser(db);
  await broadcastCounts({ flushing: true });
  const outcome = await flush({
    db,
    fetch: fetchWithTimeout,
    userId: user?.id,
    onProgress: (progress) => broadcastCounts({ flushing: true, ...progress }),
  });
  if (outcome.outcome === "auth") await broadcast({ type: "auth-required", status: outcome.status });
  await flushStation();
  const failed = outcome.outcome === "offline" || outcome.outcome === "retry";
  if (failed && !syncEventsRunning) await registerBackgroundSync();
  await broadcastCounts({
    flushing: false,
    sent: outcome.sent,
    total: outcome.total,
    outcome: outcome.outcome,
    retry_in: outcome.retry_in,
  });
  return outcome;
}

// A station's handover steps go with the station's cookie, whoever is logged in (if
// anyone); the station page hears how it went.
async function flushStation() {
  const db = await database();
  const station = await getMeta(db, "station");
  if (!station?.id) return;
  const outcome = await flush({ db, fetch: fetchWithTimeout, station: station.id });
  const records = await stationRecordsOf(db, station.id);
  await broadcast({
    type: "station-outbox",
    outcome: outcome.outcome,
    pending: records.filter((record) => record.state !== "rejected").length,
    rejected: records.filter((record) => record.state === "rejected").length,
  });
  if ((outcome.outcome === "offline" || outcome.outcome === "retry") && !syncEventsRunning) {
    await registerBackgroundSync();
  }
}

function fetchWithTimeout(url, init) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(API_TIMEOUT_MS) });
}

async function backgroundSync() {
  syncEventsRunning += 1;
  let outcome;
  try {
    outcome = await startFlush();
  } finally {
    syncEventsRunning -= 1;
  }
  // Failing the event makes the browser fire it again later, with its own backoff.
  if (outcome.outcome === "offline" || outcome.outcome === "retry") {
    throw new Error(`outbox flush ended ${outcome.outcome}`);
  }
}

// The skipWaiting() of a new version: only when a page asks, and never during a flush
// (ARCHITECTURE §6). The flush lock is shared between this waiting worker and the active one.
async function skipWaitingWhenIdle() {
  if (self.navigator.locks) {
    await self.navigator.locks.request(FLUSH_LOCK, () => self.skipWaiting());
  } else if (!flushing) {
    await self.skipWaiting();
  }
}

const MESSAGE_HANDLERS = {
  flush: async () => {
    await startFlush();
  },
  // From a page that loaded while this worker was still installing: clients.claim() in
  // activate() only takes the pages that existed then.
  claim: async () => {
    await self.clients.claim();
  },
  // Sent by every page load after it wrote meta.user: counts for the badge, fresh shells.
  hello: async () => {
    await broadcastCounts();
    await saveShells().catch(() => undefined);
  },
  "station-shell": async () => {
    await saveStationShell();
  },
  "skip-waiting": async () => {
    await skipWaitingWhenIdle();
  },
  [QR_READER_MESSAGE]: async ({ native }) => {
    await keepQrReader(Boolean(native));
  },
};

function onMessage(event) {
  if (KILLED) return;
  const handle = MESSAGE_HANDLERS[event.data?.type];
  if (handle) event.waitUntil(handle(event.data));
}

// {type: "outbox", pending, rejected, flushing, sent, total, outcome, retry_in} for the
// badge, the progress bar and the page's retry timer. Chained so that the messages of
// one flush arrive in order.
let lastBroadcast = Promise.resolve();
function broadcastCounts(extra = {}) {
  lastBroadcast = lastBroadcast
    .then(async () => {
      const db = await database();
      const user = await currentUser(db);
      const counts = user ? await countsOf(db, user.id) : { pending: 0, rejected: 0 };
      await broadcast({ type: "outbox", flushing: false, sent: 0, total: 0, ...counts, ...extra });
    })
    .catch((error) => console.error("outbox: could not report counts", error));
  return lastBroadcast;
}

async function broadcast(message) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) client.postMessage(message);
}
