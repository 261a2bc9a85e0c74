// Every page: registers the service worker, tells it who is using the app, asks it to
// send the outbox (app start, page visible, back online, a timer while items wait), keeps
// the reference data fresh, and draws the outbox badge, the progress bar and the banners
// (new version, install, log in again, storage evicted). It shows no text of its own:
// everything comes translated from #pwa and the <template>s in pwa/_prompts.html.

import { currentUser, getMeta, openDatabase, setCurrentUser, setMeta, storeReference } from "/sw/db.js";
import { flush } from "/sw/flush.js";
import { countsOf, getRecord } from "/sw/outbox.js";
import { QR_READER_MESSAGE, nativeQrReader } from "/sw/qr-reader.js";
import "./photos.js";
import { fill, pageTexts } from "./texts.js";

const REFERENCE_URL = "/api/v1/reference";
const REFERENCE_EVERY_MS = 15 * 60 * 1000;
const TIMER_FIRST_S = 30;
// The `online` event can come a moment before requests get through (a phone joining Wi-Fi;
// in Chromium the worker's network a moment after its page's): a send that failed for want
// of network while the page is online is tried again soon, a few times, not after the backoff.
const ONLINE_RETRY_S = 2;
const ONLINE_RETRIES = 3;
let onlineRetries = 0;
const FLUSH_LOCK = "dutypwa-flush";
const DISMISS_FOR_MS = 14 * 24 * 3600 * 1000;

const texts = pageTexts();
// null where IndexedDB is refused (some private modes): forms then post to the server.
const databaseReady = openDatabase().catch(() => null);
let registration = null;
let flushing = false;
let askedForUpdate = false;
let flushTimer = null;
let installPrompt = null;
let lastCounts = { pending: 0, rejected: 0 };

window.addEventListener("beforeinstallprompt", (event) => {
  // Keep Chrome's own mini-infobar away and offer installing from our banner instead.
  event.preventDefault();
  installPrompt = event;
  if (!dismissedRecently("install")) showBanner("install");
});
window.addEventListener("appinstalled", () => {
  hideBanner("install");
  navigator.storage?.persist?.().catch(() => false);
});

start();

async function start() {
  const db = await databaseReady;
  const user = db ? await whoIsHere(db) : null;
  wireTriggers();
  navigator.serviceWorker?.addEventListener("message", (event) => onWorkerMessage(event.data ?? {}));
  registration = await registerWorker();
  if (registration) tellQrReader();
  if (db && user) {
    // A reload of the first page keeps the login page as referrer: a minute is enough.
    const age = loginAge();
    const justLoggedIn = cameFromLogin() && (age === null || age < 60 * 1000);
    await checkStorage(db, user, justLoggedIn);
    refreshReference(db, user, { force: justLoggedIn });
  }
  await showSavedCounts();
  await tellWorker({ type: "hello" });
  requestFlush();
  offerIosInstall();
}

// meta.user follows the page: the server renders data-user-id on <body> for a logged-in
// person and leaves it out otherwise. The offline page is the same for everyone, so it
// keeps whoever was there.
async function whoIsHere(db) {
  const body = document.body;
  if (body.hasAttribute("data-offline-page")) return currentUser(db);
  const id = body.dataset.userId;
  const user = id ? { id: String(id), name: body.dataset.userName ?? "" } : null;
  await setCurrentUser(db, user);
  return user;
}

async function registerWorker() {
  if (!("serviceWorker" in navigator) || !texts.worker) return null;
  if ("workerOff" in texts) {
    // Kill switch: no new registration; an existing one fetches the worker that removes it.
    const existing = await navigator.serviceWorker.getRegistration("/");
    await existing?.update().catch(() => undefined);
    return null;
  }
  try {
    const registered = await navigator.serviceWorker.register(texts.worker, {
      type: "module",
      scope: "/",
      updateViaCache: "none",
    });
    // Some environments (test harnesses, locked-down browsers) resolve without a registration.
    if (!registered) return null;
    watchForUpdates(registered);
    // A first visit: the page loaded before the worker was active. Ask it to take this
    // page over now, so the next form is queued without waiting for a reload.
    navigator.serviceWorker.ready.then((ready) => {
      if (!navigator.serviceWorker.controller) ready.active?.postMessage({ type: "claim" });
    });
    return registered;
  } catch (error) {
    // No module workers in this browser: forms post straight to the server.
    console.warn("service worker not registered", error);
    return null;
  }
}

function watchForUpdates(registered) {
  const offer = () => {
    if (registered.waiting && navigator.serviceWorker.controller) showBanner("update");
  };
  offer();
  registered.addEventListener("updatefound", () => {
    const worker = registered.installing;
    worker?.addEventListener("statechange", () => {
      if (worker.state === "installed") offer();
    });
  });
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (askedForUpdate) window.location.reload();
  });
}

// The worker caches the offline QR reader only where this browser cannot read QR codes
// itself; BarcodeDetector exists in pages, not in workers, so the page finds out.
async function tellQrReader() {
  const native = await nativeQrReader(window);
  const ready = await navigator.serviceWorker.ready;
  ready.active?.postMessage({ type: QR_READER_MESSAGE, native });
}

async function tellWorker(message) {
  const worker = navigator.serviceWorker?.controller ?? registration?.active;
  worker?.postMessage(message);
  return Boolean(worker);
}

// Anything that should send the outbox now. Without a worker in charge of this page (a
// first visit, the kill switch, a reload that bypassed it) the page sends it itself.
export function requestFlush() {
  clearTimeout(flushTimer);
  if (navigator.serviceWorker?.controller) {
    navigator.serviceWorker.controller.postMessage({ type: "flush" });
  } else {
    flushInPage();
  }
}

async function flushInPage() {
  const db = await databaseReady;
  const user = db && (await currentUser(db));
  if (!user) return;
  const run = async () => {
    const outcome = await flush({
      db,
      fetch: window.fetch.bind(window),
      userId: user.id,
      onProgress: (progress) => onWorkerMessage({ ...lastCounts, type: "outbox", flushing: true, ...progress }),
    });
    if (outcome.outcome === "auth") onWorkerMessage({ type: "auth-required", status: outcome.status });
    onWorkerMessage({ type: "outbox", ...(await countsOf(db, user.id)), ...outcome, flushing: false });
  };
  // The same lock as the worker's: never two flushes at once.
  if (navigator.locks) await navigator.locks.request(FLUSH_LOCK, { ifAvailable: true }, (lock) => lock && run());
  else await run();
}

function wireTriggers() {
  window.addEventListener("online", () => {
    onlineRetries = ONLINE_RETRIES;
    requestFlush();
  });
  document.addEventListener("visibilitychange", async () => {
    if (document.visibilityState !== "visible") return;
    requestFlush();
    const db = await databaseReady;
    const user = db && (await currentUser(db));
    if (user) refreshReference(db, user);
  });
  setInterval(async () => {
    const db = await databaseReady;
    const user = db && (await currentUser(db));
    if (user) refreshReference(db, user);
  }, REFERENCE_EVERY_MS);
  document.getElementById("pwa-banners")?.addEventListener("click", onBannerClick);
  document.addEventListener("click", (event) => {
    if (event.target.closest?.("[data-action=retry]")) window.location.reload();
  });
  // A "not OK" item needs a note (the server's rule): when the worker will queue the
  // form, ask for it now, or the check-in would only be refused later, out of sight.
  // Without a worker the server answers at once with its own message.
  document.addEventListener("change", (event) => {
    const radio = event.target;
    if (!navigator.serviceWorker?.controller) return;
    if (!radio.matches?.('form[data-outbox] input[type=radio][name^="item-"]')) return;
    const note = radio.form.querySelector(`input[name="note-${radio.name.slice(5)}"]`);
    if (note) note.required = radio.value === "not_ok" && radio.checked;
  });
}

// Messages from the worker (or from flushInPage): badge, progress bar, retry timer.
// Re-sent on document as "dutypwa:outbox" for the sync page.
function onWorkerMessage(message) {
  if (message.type === "auth-required") {
    showBanner("auth");
    return;
  }
  if (message.type !== "outbox") return;
  flushing = Boolean(message.flushing);
  lastCounts = { pending: message.pending ?? 0, rejected: message.rejected ?? 0 };
  drawBadge(message);
  drawProgress(message);
  for (const button of document.querySelectorAll("[data-action=update]")) button.disabled = flushing;
  if (!flushing) {
    scheduleFlush(message);
    markQueuedAnswers();
  }
  document.dispatchEvent(new CustomEvent("dutypwa:outbox", { detail: message }));
}

function scheduleFlush(message) {
  clearTimeout(flushTimer);
  if (!message.pending || message.outcome === "auth") return;
  let seconds = message.retry_in ?? TIMER_FIRST_S;
  if (message.outcome === "offline" && navigator.onLine && onlineRetries > 0) {
    onlineRetries -= 1;
    seconds = ONLINE_RETRY_S;
  }
  flushTimer = setTimeout(requestFlush, seconds * 1000);
}

async function showSavedCounts() {
  const db = await databaseReady;
  const user = db && (await currentUser(db));
  const counts = user ? await countsOf(db, user.id) : { pending: 0, rejected: 0 };
  onWorkerMessage({ type: "outbox", flushing, sent: 0, total: 0, ...counts });
}

function drawBadge({ pending = 0, rejected = 0 }) {
  const badge = document.getElementById("outbox-badge");
  if (!badge) return;
  badge.hidden = pending + rejected === 0;
  badge.querySelector(".outbox-count").textContent = String(pending);
  badge.querySelector(".outbox-rejected").hidden = rejected === 0;
  badge.classList.toggle("has-rejected", rejected > 0);
  const labels = [fill(badge.dataset.label, { n: pending })];
  if (rejected) labels.push(fill(badge.dataset.rejectedLabel, { n: rejected }));
  badge.title = labels.join(" · ");
  badge.setAttribute("aria-label", badge.title);
}

function drawProgress({ flushing: busy, sent = 0, total = 0 }) {
  const bar = document.getElementById("outbox-progress");
  if (!bar) return;
  bar.hidden = !busy || !total;
  bar.max = Math.max(total, 1);
  bar.value = Math.min(sent, bar.max);
}

// The worker's 202 answers (section.queued) say "saved on this phone" and that it is not
// applied yet. Once the server has the op (its record left the outbox, or only its photos
// are still to upload), the server's own answer for it (data-result: the partial its form
// post gets, the item's other parts out of band) takes the note's place; a refused op says
// why. One way for every kind of op (docs/offline.md, "After the flush").
const QUEUED_ANSWERS = ".queued[data-op-id]:not(.synced):not(.not-accepted)";
// Answers being looked at now: the after-swap hook and the worker's message may both ask.
const inHand = new WeakSet();

async function markQueuedAnswers() {
  const answers = [...document.querySelectorAll(QUEUED_ANSWERS)].filter((answer) => !inHand.has(answer));
  if (!answers.length) return;
  for (const answer of answers) inHand.add(answer);
  const db = await databaseReady;
  for (const answer of answers) {
    const text = answer.querySelector(".queued-text");
    if (text && !text.textContent.trim()) text.textContent = texts.queued ?? "";
    const record = db ? await getRecord(db, answer.dataset.opId) : null;
    if (record?.state === "rejected") {
      notAccepted(answer, record);
    } else if (!record || record.state === "sent") {
      await showServersAnswer(answer);
    } else {
      markNotApplied(answer);
    }
    inHand.delete(answer);
  }
}

function markNotApplied(answer) {
  if (answer.querySelector(".queued-pending") || !texts.queuedPending) return;
  const mark = answer.appendChild(document.createElement("p"));
  mark.className = "queued-pending";
  mark.textContent = texts.queuedPending;
}

function notAccepted(answer, record) {
  answer.querySelector(".queued-pending")?.remove();
  const note = answer.querySelector(".sync-note") ?? answer.appendChild(document.createElement("p"));
  note.className = "sync-note";
  answer.classList.add("not-accepted");
  note.textContent = fill(texts.notAccepted, { reason: record.last_error ?? "" });
}

async function showServersAnswer(answer) {
  const { id } = answer;
  if (answer.dataset.result && window.htmx) {
    await window.htmx
      .ajax("GET", answer.dataset.result, { source: answer, target: answer, swap: "outerHTML" })
      .catch((error) => console.warn("the server's answer was not shown", error));
  }
  if (!answer.isConnected) {
    // The server's answer has the same root id; mark it as the outcome of a queued write.
    document.getElementById(id)?.classList.add("synced");
    return;
  }
  // No answer to show (no network right now, or an op kind without one): one status line.
  answer.querySelector(".queued-pending")?.remove();
  answer.classList.add("synced");
  const text = answer.querySelector(".queued-text") ?? answer.appendChild(document.createElement("p"));
  text.className = "queued-text";
  text.textContent = texts.synced ?? "";
}

// Only the server's answer replaces a queued note: an error page (htmx swaps 4xx/5xx) or
// nothing (204: not arrived) leaves it as it is.
document.addEventListener("htmx:before:response", (event) => {
  const ctx = event.detail?.ctx;
  if (ctx?.sourceElement?.matches?.(".queued[data-op-id]") && ctx.response?.status !== 200) {
    event.preventDefault();
  }
});
// A queued note just swapped in: mark it, or show the answer if the flush already sent it.
document.addEventListener("htmx:after:swap", () => {
  if (document.querySelector(QUEUED_ANSWERS)) markQueuedAnswers();
});

// How long after logging in a missing marker still means "not written yet", not "evicted".
const FRESH_LOGIN_MS = 10 * 60 * 1000;

const cameFromLogin = () => {
  try {
    return Boolean(texts.login) && new URL(document.referrer).pathname === texts.login;
  } catch {
    return false;
  }
};

// The server renders when this session logged in (data-login-at on <body>); pages opened
// right after login may run before the first one wrote the marker.
function loginAge() {
  const loginAt = Date.parse(document.body.dataset.loginAt ?? "");
  return Number.isNaN(loginAt) ? null : Date.now() - loginAt;
}

// The marker is written after login. Missing later, while the server still knows the
// person, it means the browser deleted this site's storage (Safari after 7 days without
// a visit, or low disk space): unsent records went with it, so say so.
async function checkStorage(db, user, justLoggedIn) {
  const marker = await getMeta(db, "marker");
  const age = loginAge();
  // A session from before login times were recorded (age null) proves nothing either way.
  const evicted = !marker && !justLoggedIn && age !== null && age > FRESH_LOGIN_MS;
  if (evicted) showBanner("evicted");
  if (!marker || justLoggedIn) await setMeta(db, "marker", { user_id: user.id, at: new Date().toISOString() });
  if (justLoggedIn && navigator.storage?.persisted && !(await navigator.storage.persisted())) {
    await navigator.storage.persist().catch(() => false);
  }
}

// The sites, checkpoints and checklists a patrol needs offline: at login, on app start
// and every 15 minutes (docs/offline.md, "reference").
async function refreshReference(db, user, { force = false } = {}) {
  if (!navigator.onLine) return;
  const about = await getMeta(db, "reference");
  const fresh = about?.user_id === user.id && Date.now() - Date.parse(about.fetched_at) < REFERENCE_EVERY_MS;
  if (fresh && !force) return;
  try {
    const response = await fetch(REFERENCE_URL, {
      headers: { "X-Dutypwa-Sync": "1", Accept: "application/json" },
      cache: "no-store",
      credentials: "same-origin",
    });
    if (response.status === 401) showBanner("auth");
    if (!response.ok) return;
    const reference = await response.json();
    // Another person may have logged in on this device meanwhile.
    if (String(reference.user?.id) === user.id) await storeReference(db, reference);
  } catch (error) {
    console.warn("reference data not refreshed", error);
  }
}

function offerIosInstall() {
  const ios = /iphone|ipad|ipod/i.test(navigator.userAgent) || (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  if (ios && !navigator.standalone && !dismissedRecently("ios")) showBanner("ios");
}

function showBanner(name) {
  const host = document.getElementById("pwa-banners");
  const template = document.getElementById(`banner-${name}`);
  if (!host || !template || host.querySelector(`[data-banner="${name}"]`)) return;
  const banner = template.content.firstElementChild.cloneNode(true);
  const login = banner.querySelector("[data-action=login]");
  if (login) login.href = `${texts.login}?next=${encodeURIComponent(location.pathname + location.search)}`;
  const update = banner.querySelector("[data-action=update]");
  if (update) update.disabled = flushing;
  // What needs doing now goes above the install hints.
  if (["update", "auth", "evicted"].includes(name)) host.prepend(banner);
  else host.append(banner);
}

function hideBanner(name) {
  document.querySelector(`#pwa-banners [data-banner="${name}"]`)?.remove();
}

async function onBannerClick(event) {
  const action = event.target.closest("[data-action]")?.dataset.action;
  const banner = event.target.closest("[data-banner]");
  if (!action || !banner) return;
  if (action === "update" && !flushing && registration?.waiting) {
    askedForUpdate = true;
    registration.waiting.postMessage({ type: "skip-waiting" });
  } else if (action === "install" && installPrompt) {
    installPrompt.prompt();
    await installPrompt.userChoice.catch(() => null);
    installPrompt = null;
    banner.remove();
  } else if (action === "dismiss") {
    localStorage.setItem(`dutypwa-dismissed-${banner.dataset.banner}`, String(Date.now()));
    banner.remove();
  }
}

function dismissedRecently(name) {
  const at = Number(localStorage.getItem(`dutypwa-dismissed-${name}`) ?? 0);
  return Date.now() - at < DISMISS_FOR_MS;
}
