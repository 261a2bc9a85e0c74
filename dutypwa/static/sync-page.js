// The sync page (pwa/sync.html): this person's records still on the phone, pending or
// not accepted, with kind, time, state and the last error, a "send now" button and a
// progress bar. Only the current person's records are read (outbox index by_user).

import { currentUser, findCheckpoint, openDatabase } from "/sw/db.js";
import { requestFlush } from "./offline.js";
import { recordsOf } from "/sw/outbox.js";
import { fill } from "./texts.js";

const page = document.getElementById("sync-page");
const list = document.getElementById("sync-items");
const databaseReady = openDatabase().catch(() => null);
const ERROR_CODES = new Set(["network", "server", "auth"]);
const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
  dateStyle: "short",
  timeStyle: "short",
});

if (page && list) {
  page.querySelector("[data-action=sync-now]").addEventListener("click", requestFlush);
  document.addEventListener("dutypwa:outbox", (event) => update(event.detail));
  draw();
}

async function draw() {
  const db = await databaseReady;
  if (!db) {
    slot(page, "status").textContent = page.dataset.noStorage;
    return;
  }
  const user = await currentUser(db);
  const records = user ? await recordsOf(db, user.id) : [];
  const pending = records.filter((record) => record.state !== "rejected").length;
  slot(page, "summary").textContent = fill(page.dataset.summary, {
    pending,
    rejected: records.length - pending,
  });
  const highlighted = new URLSearchParams(location.search).get("queued");
  const rows = [];
  for (const record of records) rows.push(await row(db, record, record.id === highlighted));
  list.replaceChildren(...rows);
  document.querySelector('[data-slot="empty"]').hidden = records.length > 0;
}

async function row(db, record, highlighted) {
  const item = document.getElementById("sync-item").content.firstElementChild.cloneNode(true);
  item.dataset.opId = record.id;
  item.dataset.state = record.state;
  item.classList.toggle("highlighted", highlighted);
  slot(item, "kind").textContent = page.dataset[`kind${capitalised(record.kind)}`] ?? record.kind;
  const state = slot(item, "state");
  state.textContent = page.dataset[`state${capitalised(record.state)}`] ?? record.state;
  state.classList.add(`state-${record.state}`);
  const time = slot(item, "time");
  time.dateTime = record.device_time;
  time.textContent = timeFormat.format(new Date(record.device_time));
  if (record.photos?.length) slot(item, "photos").textContent = fill(page.dataset.photos, { n: record.photos.length });
  slot(item, "what").textContent = await describe(db, record);
  slot(item, "error").textContent = errorText(record);
  return item;
}

// A line a person recognises: the checkpoint's name, the problem's description, the
// duty-log entry's summary or the step's note.
async function describe(db, record) {
  if (record.kind === "checkin") {
    return (await findCheckpoint(db, record.payload.token))?.checkpoint.name ?? "";
  }
  const fields = record.payload.fields ?? {};
  const text = record.payload.description ?? fields.summary ?? fields.note ?? "";
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

// The worker stores its own failures as codes (translated here) and the server's
// reasons as sentences already in the person's language.
function errorText(record) {
  if (!record.last_error) return "";
  if (ERROR_CODES.has(record.last_error)) return page.dataset[`error${capitalised(record.last_error)}`];
  return record.last_error;
}

function update(message) {
  const bar = slot(page, "progress");
  bar.hidden = !message.flushing || !message.total;
  bar.max = Math.max(message.total ?? 0, 1);
  bar.value = Math.min(message.sent ?? 0, bar.max);
  page.querySelector("[data-action=sync-now]").disabled = Boolean(message.flushing);
  if (message.outcome && message.outcome !== "idle") {
    slot(page, "status").textContent = page.dataset[`outcome${capitalised(message.outcome)}`] ?? "";
  }
  if (!message.flushing) draw();
}

const slot = (root, name) => root.querySelector(`[data-slot="${name}"]`);
const capitalised = (word = "") => word.charAt(0).toUpperCase() + word.slice(1);
