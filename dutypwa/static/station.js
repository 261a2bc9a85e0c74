// Station mode (a tablet enrolled at a post): the live clock, leaving for the station home
// after 60 s without a touch (the server forgets the person), the PIN pad's keys, the
// inventory count steppers and the explanation a discrepancy needs.
"use strict";

(() => {
  const root = document.querySelector(".station");
  if (!root) return;
  const home = root.dataset.stationHome;
  const leaveUrl = root.dataset.stationLeave;
  const timeZone = root.dataset.tz || undefined;
  const locale = root.dataset.locale || undefined;

  // The clock, in the site's time zone.
  const short = new Intl.DateTimeFormat(locale, { timeZone, hour: "2-digit", minute: "2-digit", hour12: false });
  const long = new Intl.DateTimeFormat(locale, {
    timeZone, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  function tick() {
    const now = new Date();
    for (const clock of document.querySelectorAll("[data-clock]")) {
      clock.textContent = (clock.hasAttribute("data-seconds") ? long : short).format(now);
      clock.setAttribute("datetime", now.toISOString());
    }
    for (const left of document.querySelectorAll("[data-countdown]")) {
      const minutes = Math.round((Date.parse(left.dataset.countdown) - now) / 60000);
      if (Number.isNaN(minutes) || minutes < 0) {
        left.textContent = "";
        continue;
      }
      const text = `${Math.floor(minutes / 60)}:${String(minutes % 60).padStart(2, "0")}`;
      left.textContent = `(${(left.dataset.labelLeft || "{t}").replace("{t}", text)})`;
    }
  }
  tick();
  setInterval(tick, 1000);

  // Leaving ("Cancel", "Not you?", idle): the server forgets the person (a POST: GETs
  // change nothing), then the home page loads — also when the server cannot be reached, so
  // that the worker shows the offline station instead of a browser error page.
  async function leave() {
    try {
      await fetch(leaveUrl, {
        method: "POST",
        headers: { "X-CSRFToken": document.querySelector('meta[name="csrf-token"]')?.content || "" },
        credentials: "same-origin",
        redirect: "manual",
        signal: AbortSignal.timeout(3000),
      });
    } catch {
      // Offline or too slow: the server forgets the person after 90 s idle anyway.
    }
    window.location.assign(home);
  }
  document.getElementById("station-leave")?.addEventListener("submit", (event) => {
    event.preventDefault();
    leave();
  });

  // Idle: back home (the home page is reloaded too, so its state stays fresh).
  const idleMs = (Number(root.dataset.idleSeconds) || 60) * 1000;
  let idleTimer = null;
  function resetIdle() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(leave, idleMs);
  }
  for (const type of ["pointerdown", "keydown", "input", "scroll"]) {
    document.addEventListener(type, resetIdle, { passive: true, capture: true });
  }
  resetIdle();

  // PIN pad: the keys type into the PIN field of their own form.
  document.addEventListener("click", (event) => {
    const key = event.target.closest?.("[data-digit]");
    if (!key) return;
    const input = key.closest("form")?.querySelector("[data-pin-input]");
    if (!input) return;
    if (key.dataset.digit === "clear") input.value = "";
    else if (input.value.length < 12) input.value += key.dataset.digit;
  });

  // Inventory: − / + / "all there", and the explanation shown (and required) when the
  // count or the condition is off. The server checks it again.
  function refreshItem(item) {
    const expected = Number(item.dataset.expected);
    const count = item.querySelector('input[type="number"]');
    const condition = item.querySelector('input[type="radio"]:checked')?.value || "ok";
    const explanation = item.querySelector("[data-explanation]");
    const off = (count.value !== "" && Number(count.value) !== expected) || condition !== "ok";
    const written = explanation.querySelector("textarea").value.trim() !== "";
    explanation.hidden = !off && !written;
    explanation.querySelector("textarea").required = off;
    item.classList.toggle("discrepancy", off);
    item.classList.toggle("counted", count.value !== "");
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest?.("[data-step]");
    const item = button?.closest("[data-inventory-item]");
    if (!item) return;
    const count = item.querySelector('input[type="number"]');
    if (button.dataset.step === "all") count.value = item.dataset.expected;
    else count.value = Math.max(0, (Number(count.value) || 0) + Number(button.dataset.step));
    refreshItem(item);
  });
  document.addEventListener("input", (event) => {
    const item = event.target.closest?.("[data-inventory-item]");
    if (item) refreshItem(item);
  });
  document.addEventListener("change", (event) => {
    const item = event.target.closest?.("[data-inventory-item]");
    if (item) refreshItem(item);
  });
  function refreshAll() {
    for (const item of document.querySelectorAll("[data-inventory-item]")) refreshItem(item);
  }
  refreshAll();
  // A refused step comes back through htmx: set the new form up too.
  document.addEventListener("htmx:after:swap", refreshAll);
  // The offline station draws its forms itself (station-app.js).
  document.addEventListener("station:rendered", refreshAll);
})();
