// The in-app QR scanner (ARCHITECTURE §7), means in order: the browser's BarcodeDetector if
// it reads qr_code; else the vendored barcode-detector ponyfill (zxing-wasm, loaded only here,
// its wasm self-hosted); the camera with a scan loop; else a photo of the label decoded by the
// same detector; else the short code printed under the QR, looked up in the offline reference
// data (else by the server). Only our own /c/<token> URLs are followed. Every sentence shown
// comes from the page.

import { codeKey } from "/sw/codes.js";
import { QR_READER_MESSAGE, nativeQrReader } from "/sw/qr-reader.js";

const SCAN_INTERVAL_MS = 200; // ≈5 decodes a second: quick to react, light on the battery
const PHOTO_LONG_EDGE = 1600; // a label fills enough of a photo at this size
const REFERENCE_DB = "dutypwa"; // docs/offline.md: IndexedDB `dutypwa`, store `reference`
const REFERENCE_STORE = "reference";
const CHECKPOINT_PATH = /^\/c\/([A-Za-z0-9_-]+)\/?$/;

const root = document.getElementById("scanner");
const video = document.getElementById("scan-video");
const viewfinder = document.getElementById("scan-viewfinder");
const cameraStatus = document.getElementById("scan-status");
const retryButton = document.getElementById("scan-retry");
const photoSection = document.getElementById("scan-photo");
const photoInput = document.getElementById("scan-photo-input");
const photoStatus = document.getElementById("scan-photo-status");
const codeForm = document.getElementById("scan-code-form");
const codeStatus = document.getElementById("scan-code-status");
const offlineStatus = document.getElementById("scan-offline");
const messages = document.getElementById("scan-messages").content;

// The labels' origin (PUBLIC_BASE_URL) and the one this page is open on are both ours.
const ourOrigins = new Set([location.origin]);
if (root.dataset.labelBaseUrl) ourOrigins.add(new URL(root.dataset.labelBaseUrl).origin);

let detectorReady = null; // Promise<detector | null>, made once
let detectorSettled = false;
let stream = null;
let cameraWanted = true; // false once we navigate away or the camera failed for good
let cameraRun = 0; // bumps on every start/stop, so a late getUserMedia answer is dropped
let lastScanAt = -Infinity;
let leaving = false;

function say(element, key, tone = "", values = {}) {
  let text = messages.querySelector(`[data-key="${key}"]`).textContent;
  for (const [name, value] of Object.entries(values)) text = text.replace(`{${name}}`, value);
  const className = `alert ${tone}`.trim();
  // The scan loop repeats itself several times a second: don't make screen readers repeat.
  if (element.textContent === text && element.className === className && !element.hidden) return;
  element.textContent = text;
  element.className = className;
  element.hidden = false;
}

// Detector

function getDetector() {
  detectorReady ??= makeDetector()
    .catch((error) => {
      console.error("QR reader unavailable", error);
      return null;
    })
    .finally(() => {
      detectorSettled = true;
    });
  return detectorReady;
}

async function makeDetector() {
  if ("BarcodeDetector" in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) return new window.BarcodeDetector({ formats: ["qr_code"] });
    } catch (error) {
      console.warn("native BarcodeDetector unusable", error);
    }
  }
  const { BarcodeDetector, prepareZXingModule } = await import(root.dataset.ponyfill);
  // The ponyfill fetches its wasm from a public CDN by default: load our copy instead, and
  // wait for it here so that a failure shows now rather than at the first frame.
  const wasmUrl = new URL(root.dataset.wasm, location.href).href;
  await prepareZXingModule({
    overrides: {
      locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasmUrl : prefix + path),
    },
    fireImmediately: true,
  });
  return new BarcodeDetector({ formats: ["qr_code"] });
}

// What a QR code says

function checkpointPath(rawValue) {
  let url;
  try {
    url = new URL(rawValue.trim());
  } catch {
    return null;
  }
  const match = ourOrigins.has(url.origin) && CHECKPOINT_PATH.exec(url.pathname);
  return match ? `/c/${match[1]}` : null;
}

// True if one of the codes was ours (and we are on our way there).
function followCodes(barcodes, statusElement) {
  for (const barcode of barcodes) {
    const path = checkpointPath(barcode.rawValue || "");
    if (path) {
      openCheckpoint(path, statusElement);
      return true;
    }
  }
  if (barcodes.length) say(statusElement, "foreign", "error");
  return false;
}

function openCheckpoint(path, statusElement) {
  leaving = true;
  cameraWanted = false;
  stopCamera();
  say(statusElement, "opening", "ok");
  location.assign(new URL(path, location.origin).href);
}

// Camera

async function startCamera() {
  if (stream || leaving || document.hidden) return;
  const run = ++cameraRun;
  retryButton.hidden = true;
  if (!navigator.mediaDevices?.getUserMedia) {
    cameraFailed("no-camera");
    return;
  }
  say(cameraStatus, "starting");
  let newStream;
  try {
    newStream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" },
      audio: false,
    });
  } catch (error) {
    if (run !== cameraRun) return;
    if (error.name === "NotAllowedError" || error.name === "SecurityError") {
      cameraFailed("denied", true); // allowed later in the settings: try again when shown
    } else if (error.name === "NotFoundError" || error.name === "OverconstrainedError") {
      cameraFailed("no-camera", false);
    } else {
      cameraFailed("camera-error", true); // e.g. another app holds the camera
    }
    return;
  }
  if (run !== cameraRun || leaving || document.hidden) {
    newStream.getTracks().forEach((track) => track.stop());
    return;
  }
  stream = newStream;
  video.srcObject = stream;
  viewfinder.classList.remove("off");
  try {
    await video.play();
  } catch (error) {
    // play() is interrupted when the camera is stopped meanwhile; nothing to report then.
    if (run === cameraRun) console.warn("video did not start", error);
  }
  if (!detectorSettled) say(cameraStatus, "loading");
  const detector = await getDetector();
  if (run !== cameraRun) return;
  if (!detector) {
    noReader();
    return;
  }
  say(cameraStatus, "scanning");
  nextFrame(run);
}

function cameraFailed(key, mayRetry = false) {
  stopCamera();
  say(cameraStatus, key, "warn");
  retryButton.hidden = !mayRetry;
  if (!mayRetry) cameraWanted = false;
  photoInput.closest("label").classList.add("primary");
}

function stopCamera() {
  cameraRun++;
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  video.srcObject = null;
  viewfinder.classList.add("off"); // its box stays: nothing below moves
}

function nextFrame(run) {
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback((now) => scanFrame(run, now));
  else requestAnimationFrame((now) => scanFrame(run, now));
}

// One decode at a time, at most every SCAN_INTERVAL_MS; the next frame is asked for only
// after this one is done.
async function scanFrame(run, now) {
  if (run !== cameraRun) return;
  if (now - lastScanAt >= SCAN_INTERVAL_MS && video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA) {
    lastScanAt = now;
    const detector = await getDetector();
    try {
      if (followCodes(await detector.detect(video), cameraStatus)) return;
    } catch (error) {
      console.warn("decode failed", error);
    }
  }
  if (run === cameraRun) nextFrame(run);
}

// Stop the camera whenever the page is not shown; start it again when it is.
document.addEventListener("visibilitychange", () => {
  if (document.hidden) stopCamera();
  else if (cameraWanted) startCamera();
});
window.addEventListener("pagehide", stopCamera);
window.addEventListener("pageshow", (event) => {
  // Back from the checkpoint page through the back/forward cache: scan again.
  if (!event.persisted || !leaving) return;
  leaving = false;
  cameraWanted = true;
  photoStatus.hidden = codeStatus.hidden = true;
  startCamera();
});
retryButton.addEventListener("click", () => {
  cameraWanted = true;
  startCamera();
});

// Photo of the label

photoInput.addEventListener("change", async () => {
  const file = photoInput.files[0];
  photoInput.value = "";
  if (!file) return;
  say(photoStatus, "reading-photo");
  const detector = await getDetector();
  if (!detector) {
    say(photoStatus, "no-reader", "warn");
    return;
  }
  let barcodes = [];
  try {
    const bitmap = await photoBitmap(file);
    barcodes = await detector.detect(bitmap);
    bitmap.close();
  } catch (error) {
    console.warn("photo not decoded", error);
  }
  if (!followCodes(barcodes, photoStatus) && !barcodes.length) {
    say(photoStatus, "no-code-in-photo", "warn");
  }
});

// createImageBitmap applies the EXIF orientation; a phone photo is scaled down first.
async function photoBitmap(file) {
  const bitmap = await createImageBitmap(file);
  const scale = PHOTO_LONG_EDGE / Math.max(bitmap.width, bitmap.height);
  if (scale >= 1) return bitmap;
  try {
    const smaller = await createImageBitmap(bitmap, {
      resizeWidth: Math.round(bitmap.width * scale),
      resizeHeight: Math.round(bitmap.height * scale),
      resizeQuality: "high",
    });
    bitmap.close();
    return smaller;
  } catch {
    return bitmap;
  }
}

// The short code printed under the QR

codeForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const code = new FormData(codeForm).get("code").trim();
  if (!code) return;
  const reference = await readReference(root.dataset.site);
  // "7", "007" and "００７" are the same label (codes.js, as the server reads them).
  const wanted = codeKey(code);
  const checkpoint = (reference?.checkpoints || []).find(
    (candidate) => codeKey(candidate.code) === wanted,
  );
  if (checkpoint) openCheckpoint(`/c/${encodeURIComponent(checkpoint.token)}`, codeStatus);
  // Not on this phone (no reference data yet, or a checkpoint added since): the server knows.
  else if (navigator.onLine) codeForm.submit();
  else if (!reference) say(codeStatus, "no-reference", "warn");
  else say(codeStatus, "unknown-code", "error", { code });
});

// The site's record in the `reference` store, or null when this phone has none.
function readReference(siteCode) {
  return new Promise((resolve) => {
    if (!window.indexedDB) {
      resolve(null);
      return;
    }
    const request = indexedDB.open(REFERENCE_DB);
    // Opening a database that does not exist creates it empty, which would keep the app's
    // own upgrade from ever running: abort that, so the database stays absent.
    request.onupgradeneeded = () => request.transaction.abort();
    request.onerror = () => resolve(null);
    request.onsuccess = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains(REFERENCE_STORE)) {
        db.close();
        resolve(null);
        return;
      }
      const read = db.transaction(REFERENCE_STORE).objectStore(REFERENCE_STORE).get(siteCode);
      read.onsuccess = () => resolve(read.result ?? null);
      read.onerror = () => resolve(null);
      read.transaction.oncomplete = () => db.close();
    };
  });
}

// Offline readiness: at once where the browser reads QR codes itself; else when the worker
// says it holds the reader (service-worker/qr-reader.js). The line is there from the start
// ("preparing"), so the page does not move when it changes.
async function showOfflineReadiness() {
  if (await nativeQrReader(window)) {
    say(offlineStatus, "offline-ready", "ok");
    return;
  }
  if (!navigator.serviceWorker) return;
  navigator.serviceWorker.addEventListener("message", (event) => {
    const message = event.data ?? {};
    if (message.type !== QR_READER_MESSAGE || message.native) return;
    say(offlineStatus, message.ready ? "offline-ready" : "offline-not-ready", message.ready ? "ok" : "warn");
  });
  const registration = await navigator.serviceWorker.ready;
  registration.active?.postMessage({ type: QR_READER_MESSAGE, native: false });
}

function noReader() {
  cameraWanted = false;
  stopCamera();
  retryButton.hidden = true;
  say(cameraStatus, "no-reader", "warn");
  photoSection.hidden = true;
  document.getElementById("scan-code-input").focus();
}

// Start: load the reader and open the camera at the same time.
getDetector().then((detector) => detector || noReader());
startCamera();
showOfflineReadiness();
