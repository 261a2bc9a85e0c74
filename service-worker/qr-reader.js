// The offline QR reader (the barcode-detector ponyfill and its zxing wasm, ≈450 KB gzipped)
// is precached only on devices that need it: where the browser's own BarcodeDetector reads
// qr_code (Android Chrome), the scanner never loads it. BarcodeDetector is not exposed to
// service workers, so a page decides (nativeQrReader) and tells the worker, which keeps
// the verdict for its next versions and caches the reader (cacheMissing).

export const QR_READER_MESSAGE = "qr-reader";
// meta key: {native: boolean} as the last page found it.
export const QR_READER_META = "qr-reader";

// True when this browser's BarcodeDetector reads QR codes. `scope` is `window` in a page.
export async function nativeQrReader(scope = globalThis) {
  if (!scope || !("BarcodeDetector" in scope)) return false;
  try {
    const formats = await scope.BarcodeDetector.getSupportedFormats();
    return Array.isArray(formats) && formats.includes("qr_code");
  } catch {
    // Present but broken (an old or locked-down build): the ponyfill will be used.
    return false;
  }
}

// What a worker's install precaches: the reader's files only where a page of this device
// said the native detector is missing. Before any page has said (the first install, on
// the login page), none: the page's verdict comes right after and adds them if needed.
export function installUrls(precacheUrls, readerUrls, verdict) {
  return verdict && verdict.native === false ? [...precacheUrls, ...readerUrls] : [...precacheUrls];
}

// Adds the URLs the cache does not hold yet; resolves to how many it fetched.
export async function cacheMissing(cache, urls, makeRequest = (url) => url) {
  const missing = [];
  for (const url of urls) {
    if (!(await cache.match(url))) missing.push(url);
  }
  if (missing.length) await cache.addAll(missing.map(makeRequest));
  return missing.length;
}
