// dutypwa page script: CSRF header and device time for htmx requests, conditional polling.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// htmx 4 does not inherit hx-headers from <body>: add the CSRF header to every request here.
document.addEventListener("htmx:config:request", (event) => {
  const ctx = event.detail.ctx;
  ctx.request.headers["X-CSRFToken"] = csrfToken();
  const source = ctx.sourceElement;
  const form = source?.closest?.("form[data-device-time]");
  if (form && ctx.request.body instanceof FormData) {
    ctx.request.body.set("device_time", stampDeviceTime(form));
  }
  // Polled partials: ask with the ETag we hold and bypass the HTTP cache, so that an
  // unchanged partial comes back as a bare 304, which htmx does not swap.
  const etag = source?.dataset?.etag;
  if (etag) {
    ctx.request.headers["If-None-Match"] = `"${etag}"`;
    ctx.request.cache = "no-store";
  }
});

// The moment of the first tap, kept for retries of the same op: a resend after a lost
// answer must carry the same body, or the server sees a conflict instead of a duplicate.
function stampDeviceTime(form) {
  const field = form.querySelector('input[name="device_time"]');
  if (!field) return new Date().toISOString();
  if (!field.value) field.value = new Date().toISOString();
  return field.value;
}

// Plain (non-htmx) submits still carry the device's clock.
document.addEventListener(
  "submit",
  (event) => {
    if (event.target.matches?.("form[data-device-time]")) stampDeviceTime(event.target);
  },
  true,
);

// A form that adds a new item resets itself once the server created it.
document.addEventListener("htmx:after:request", (event) => {
  const ctx = event.detail.ctx;
  const form = ctx.sourceElement?.closest?.("form[data-reset-on-success]");
  if (form && ctx.response?.status === 201) form.reset();
});

// Small behaviours without inline handlers (the Content-Security-Policy forbids them).
document.addEventListener("change", (event) => {
  if (event.target.matches?.("select[data-autosubmit]")) event.target.form.requestSubmit();
});
document.addEventListener("click", (event) => {
  if (event.target.closest?.("[data-print]")) window.print();
});

// A page can come from the service worker's saved copy, with the op id it was first
// rendered with: every showing of a record form gets an id of its own, or two check-ins
// made from the same saved page would be one op (a duplicate, or a conflict). Retries of
// one submission keep the id: the form stays on the page until it is answered.
function freshOpIds() {
  if (!globalThis.crypto?.randomUUID) return;
  for (const form of document.querySelectorAll("form[data-outbox]")) {
    if (form.dataset.opIdFresh) continue;
    form.elements.op_id.value = crypto.randomUUID();
    form.elements.device_time.value = "";
    form.dataset.opIdFresh = "1";
  }
}
document.addEventListener("DOMContentLoaded", freshOpIds);
// Back/forward cache: a page shown again is a new showing.
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  for (const form of document.querySelectorAll("form[data-outbox]")) delete form.dataset.opIdFresh;
  freshOpIds();
});

// The banners float over the foot of the page (app.css), so that one arriving late moves
// nothing: keep as much room below the page's last line, or they would hide it.
const banners = document.getElementById("pwa-banners");
if (banners) {
  const makeRoom = () => {
    const tallest = Math.max(0, ...[...banners.children].map((banner) => banner.offsetHeight));
    document.documentElement.style.setProperty("--banners-height", `${tallest}px`);
  };
  new MutationObserver(makeRoom).observe(banners, { childList: true });
  window.addEventListener("resize", makeRoom);
}

// The More menu (a <details>) closes as a menu does: a tap outside it, or Escape.
document.addEventListener("click", (event) => {
  for (const menu of document.querySelectorAll("details.more-menu[open]")) {
    if (!menu.contains(event.target)) menu.open = false;
  }
});
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const menu of document.querySelectorAll("details.more-menu[open]")) {
    menu.open = false;
    menu.querySelector("summary").focus();
  }
});
