import assert from "node:assert/strict";
import { test } from "node:test";

import { cacheMissing, installUrls, nativeQrReader } from "../qr-reader.js";

const PRECACHE = ["/static/app.js", "/static/scan.js", "/offline"];
const READER = [
  "/static/vendor/barcode-detector-3.2.2/ponyfill.js",
  "/static/vendor/barcode-detector-3.2.2/zxing-exported.js",
  "/static/vendor/zxing-wasm-3.1.3/zxing_reader.wasm",
];

function scopeWith(getSupportedFormats) {
  return { BarcodeDetector: { getSupportedFormats } };
}

test("a browser whose BarcodeDetector reads qr_code needs no reader", async () => {
  assert.equal(await nativeQrReader(scopeWith(async () => ["ean_13", "qr_code"])), true);
});

test("no BarcodeDetector, one without qr_code, or a broken one: the reader is needed", async () => {
  assert.equal(await nativeQrReader({}), false);
  assert.equal(await nativeQrReader(undefined), false);
  assert.equal(await nativeQrReader(scopeWith(async () => ["ean_13", "code_128"])), false);
  assert.equal(await nativeQrReader(scopeWith(async () => [])), false);
  assert.equal(
    await nativeQrReader(
      scopeWith(async () => {
        throw new DOMException("not supported", "NotSupportedError");
      }),
    ),
    false,
  );
  assert.equal(await nativeQrReader(scopeWith(async () => "qr_code")), false);
});

test("this runtime (node) has no BarcodeDetector", async () => {
  assert.equal(await nativeQrReader(), false);
});

test("the install precaches the reader only where a page said the native reader is missing", () => {
  assert.deepEqual(installUrls(PRECACHE, READER, null), PRECACHE, "no page has said yet");
  assert.deepEqual(installUrls(PRECACHE, READER, undefined), PRECACHE);
  assert.deepEqual(installUrls(PRECACHE, READER, { native: true }), PRECACHE);
  assert.deepEqual(installUrls(PRECACHE, READER, { native: false }), [...PRECACHE, ...READER]);
});

class FakeCache {
  constructor(urls = []) {
    this.urls = new Set(urls);
    this.added = [];
  }
  async match(url) {
    return this.urls.has(url) ? { url } : undefined;
  }
  async addAll(requests) {
    this.added.push(requests);
    for (const request of requests) this.urls.add(request.url ?? request);
  }
}

test("cacheMissing fetches only what the cache lacks, and nothing when all is there", async () => {
  const cache = new FakeCache([READER[0]]);
  const fetched = await cacheMissing(cache, READER, (url) => ({ url, cache: "reload" }));
  assert.equal(fetched, 2);
  assert.deepEqual(cache.added, [
    [
      { url: READER[1], cache: "reload" },
      { url: READER[2], cache: "reload" },
    ],
  ]);
  assert.equal(await cacheMissing(cache, READER), 0);
  assert.equal(cache.added.length, 1, "a second page load fetches nothing again");
});

test("cacheMissing fails when a file cannot be fetched (the scan page says not ready)", async () => {
  const cache = new FakeCache();
  cache.addAll = async () => {
    throw new TypeError("Failed to fetch");
  };
  await assert.rejects(cacheMissing(cache, READER), TypeError);
});
