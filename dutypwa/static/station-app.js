// The offline station (templates/station/app.html): runs the handover (H1–H12) on a tablet
// without the network. It draws the post from the saved reference (/station/reference.json)
// plus the steps still waiting in the outbox, checks PINs against the saved verifiers and
// queues each step as an op with the person's PIN proof; the server applies them with the
// same rules when the network is back (docs/offline.md, "Station").

import { getMeta, openDatabase, setMeta } from "/sw/db.js";
import { flush } from "/sw/flush.js";
import { photosOf } from "/sw/ops.js";
import { REJECTED, SENT, deleteRecord, enqueue, stationRecordsOf } from "/sw/outbox.js";
import { refreshReference as refreshSaved } from "./station-link.js";
import { fill } from "./texts.js";

const ORDER = ["arrive", "inventory", "log_review", "area_check", "summary", "sign_incoming", "sign_outgoing"];
const TAKER = {
  arrive: "incoming",
  inventory: "incoming",
  log_review: "incoming",
  area_check: "incoming",
  summary: "outgoing",
  sign_incoming: "incoming",
  sign_outgoing: "outgoing",
};
const PIN_STEPS = new Set(["override", "sign_incoming", "sign_outgoing"]);
// As on the server (handover.py): 5 wrong PINs lock the person out for 10 minutes.
const PIN_TRIES = 5;
const PIN_LOCKOUT_MS = 10 * 60 * 1000;
const ACTOR_IDLE_MS = 60 * 1000;

const root = document.querySelector("[data-station-app]");
const texts = JSON.parse(root?.dataset.texts ?? "{}");
const stationId = Number(root?.dataset.stationId);
const encoder = new TextEncoder();

let db = null;
let reference = null;
let model = null;
let records = [];
// The person who entered their PIN last, with their PIN key (memory only, never stored).
let actor = null;

if (root) start();

async function start() {
  db = await openDatabase();
  await refreshReference();
  navigator.serviceWorker?.addEventListener("message", async (event) => {
    if (event.data?.type !== "station-outbox") return;
    if (event.data.outcome === "done") await refreshReference();
    await reload();
    renderOutbox();
  });
  window.addEventListener("online", () => requestFlush());
  document.addEventListener("click", onClick);
  document.addEventListener("submit", onSubmit);
  await reload();
  showHome();
  requestFlush();
}

async function refreshReference() {
  await refreshSaved(db, root.closest(".station").dataset.referenceUrl);
  slot(root, "offline").hidden = navigator.onLine;
}

async function reload() {
  reference = await getMeta(db, "station_reference");
  if (reference?.station?.id !== stationId) reference = null;
  records = await stationRecordsOf(db, stationId);
  model = reference ? derive(reference, records) : null;
}

// The post as the server last said, plus the steps queued here that it has not applied.
function derive(ref, queued) {
  const fetchedAt = ref.fetched_at ?? "";
  const state = {
    duty: ref.duty ? { ...ref.duty } : null,
    handover: ref.handover ? structuredClone(ref.handover) : null,
    entries: ref.entries ?? [],
    signed: null,
  };
  for (const record of queued) {
    if (record.state === REJECTED) continue;
    // A record accepted before the reference was fetched is in the reference already.
    if (record.state === SENT && record.updated_at <= fetchedAt) continue;
    const payload = record.payload;
    if (record.kind === "handover_arrive") {
      if (state.handover) continue;
      state.handover = {
        id: record.id,
        incoming: person(payload.person),
        outgoing: state.duty?.person ?? null,
        arrived_at: record.device_time,
        done: ["arrive"],
        inventory: [],
        carried: [],
        completed: [],
        anomalies: [],
        summary: "",
        overridden: false,
      };
      continue;
    }
    const handover = state.handover;
    if (record.kind !== "handover_step" || handover?.id !== payload.subject) continue;
    const fields = payload.fields;
    if (handover.done.includes(fields.action)) continue;
    applyStep(state, handover, fields, payload.person, record.device_time);
  }
  if (state.handover) state.handover.blocked = blocked(state);
  return state;
}

function applyStep(state, handover, fields, personId, when) {
  const action = fields.action;
  if (action === "cancel") {
    state.handover = null;
    return;
  }
  handover.done.push(action);
  if (action === "log_review") {
    handover.carried = [];
    handover.completed = [];
    for (const entry of state.entries) {
      const choice = fields[`entry-${entry.id}`];
      if (!choice) continue;
      (choice === "completed" ? handover.completed : handover.carried).push({ entry: entry.id, title: entry.summary });
    }
  } else if (action === "override") {
    handover.overridden = true;
  } else if (action === "summary") {
    handover.summary = fields.summary;
  }
  const closes = action === "sign_outgoing" || (action === "sign_incoming" && !handover.outgoing);
  if (closes) {
    state.signed = handover;
    state.duty = { person: handover.incoming, since: when, due_until: null, overdue: false };
    state.handover = null;
  }
}

// H9: important open work not completed in the review blocks the signatures.
function blocked(state) {
  const completed = new Set((state.handover.completed ?? []).map((item) => item.entry));
  return state.entries.some((entry) => entry.important && !completed.has(entry.id));
}

function needed(handover) {
  return handover.outgoing ? ORDER : ORDER.filter((step) => step !== "summary" && step !== "sign_outgoing");
}

function nextStep(handover) {
  return needed(handover).find((step) => !handover.done.includes(step)) ?? null;
}

const person = (id) => {
  const found = reference?.people?.find((candidate) => candidate.id === Number(id));
  return found ? { id: found.id, name: found.name } : { id: Number(id), name: "?" };
};
const personRecord = (id) => reference?.people?.find((candidate) => candidate.id === Number(id)) ?? null;

// Screens

function screen(templateId) {
  const node = document.getElementById(templateId).content.firstElementChild.cloneNode(true);
  const target = slot(root, "screen");
  target.replaceChildren(node);
  document.querySelector("[data-go=home]").hidden = templateId === "tpl-home";
  return node;
}

function showHome() {
  actor = null;
  renderOutbox();
  if (!model) {
    slot(root, "screen").replaceChildren(paragraph(texts.no_reference, "alert warn"));
    return;
  }
  const node = screen("tpl-home");
  const span = currentShift();
  slot(node, "span").textContent = span
    ? `${clock(span.start)} – ${clock(span.end)} · ${fill(texts.next_handover, { time: clock(span.end), by: clock(new Date(span.end - 5 * 60000)) })}`
    : "";
  const duty = slot(node, "duty");
  if (!model.duty) {
    duty.append(paragraph(texts.nobody_on_duty, "empty"));
  } else if (model.duty.due_until && Date.parse(model.duty.due_until) <= Date.now()) {
    const alert = paragraph("", "alert error station-overdue");
    alert.setAttribute("role", "alert");
    alert.append(strong(fill(texts.overdue, { name: model.duty.person.name })));
    alert.append(" ", fill(texts.overdue_detail, { time: clock(model.duty.due_until), name: model.duty.person.name }));
    duty.append(alert);
  } else {
    duty.append(paragraph(model.duty.person.name, "station-person"));
    const since = model.duty.since ? fill(texts.since, { time: clock(model.duty.since) }) : "";
    const until = model.duty.due_until ? ` · ${fill(texts.until, { time: clock(model.duty.due_until) })}` : "";
    duty.append(paragraph(since + until, "muted"));
  }
  const handover = model.handover;
  if (handover) {
    const open = document.getElementById("tpl-open").content.firstElementChild.cloneNode(true);
    slot(open, "who").textContent = fill(texts.in_progress, {
      incoming: handover.incoming.name,
      outgoing: handover.outgoing?.name ?? texts.nobody,
      time: clock(handover.arrived_at),
    });
    progress(slot(open, "steps"), handover);
    slot(node, "handover").append(open);
  } else {
    slot(node, "handover").append(document.getElementById("tpl-start-button").content.firstElementChild.cloneNode(true));
  }
  slot(node, "count").textContent = String(model.entries.length);
  const list = slot(node, "entries");
  for (const entry of model.entries) {
    const item = document.createElement("li");
    if (entry.important) {
      item.className = "important";
      item.append(badge(texts.important), " ");
    }
    item.append(strong(entry.kind_label), ` ${entry.summary}`);
    list.append(item);
  }
  if (!model.entries.length) list.append(paragraph(texts.no_items, "empty"));
}

function showPeople(then) {
  const node = screen("tpl-people");
  slot(node, "title").textContent = then === "arrive" ? texts.relief_title : texts.people_title;
  const holder = model.duty?.person?.id;
  for (const candidate of reference.people) {
    if (then === "arrive" && candidate.id === holder) continue;
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button";
    button.dataset.person = candidate.id;
    button.dataset.then = then;
    button.append(span(candidate.name));
    if (candidate.manager) button.append(small(texts.roles[candidate.role] ?? candidate.role));
    item.append(button);
    slot(node, "people").append(item);
  }
}

function showPin(personId, then) {
  const who = personRecord(personId);
  const node = screen("tpl-pin");
  node.dataset.person = personId;
  node.dataset.then = then;
  slot(node, "title").textContent = fill(texts.pin_of, { name: who?.name ?? "?" });
  node.querySelector("[data-pin-input]").focus();
}

function showStart() {
  const node = screen("tpl-start");
  slot(node, "who").textContent = fill(texts.check_in_as, {
    name: actor.person.name,
    outgoing: model.duty?.person?.name ?? texts.nobody,
  });
}

function showFlow(error = null) {
  const handover = model.handover;
  if (!handover) {
    showHome();
    return;
  }
  let action = nextStep(handover);
  if (!action) {
    showHome();
    return;
  }
  if (action === "sign_incoming" && handover.blocked && !handover.overridden) action = "override";
  const taker = TAKER[action];
  const right = taker === "incoming" ? handover.incoming : taker === "outgoing" ? handover.outgoing : null;
  if (!PIN_STEPS.has(action) && (!actor || actor.person.id !== right.id)) {
    showPin(right.id, "flow");
    return;
  }
  const node = screen("tpl-flow");
  slot(node, "pair").textContent = `${handover.incoming.name} ← ${handover.outgoing?.name ?? texts.nobody}`;
  progress(slot(node, "steps"), handover);
  const cancellers = slot(node, "cancellers");
  const people = [handover.incoming, handover.outgoing, ...reference.people.filter((p) => p.manager)];
  for (const candidate of people) {
    if (!candidate || [...cancellers.options].some((option) => option.value === String(candidate.id))) continue;
    cancellers.append(new Option(candidate.name, candidate.id));
  }
  slot(node, "cancel").hidden = handover.done.includes("sign_incoming");
  const form = node.querySelector("[data-form=step]");
  form.dataset.action = action;
  form.classList.add(`step-${action}`);
  slot(form, "title").textContent = texts.steps[action];
  if (right) slot(form, "who").textContent = fill(texts.now, { name: right.name });
  if (error) showError(form, error);
  slot(form, "blocked").hidden = !(handover.blocked && !handover.overridden && action !== "override");
  const body = slot(form, "body");
  const template = action.startsWith("sign_") ? "tpl-step-sign" : `tpl-step-${action}`;
  body.append(document.getElementById(template).content.firstElementChild.cloneNode(true));
  if (action === "inventory") fillInventory(body);
  else if (action === "log_review") fillReview(body);
  else if (action === "override") fillOverride(body);
  else if (action.startsWith("sign_")) fillSign(body, action, handover);
  document.dispatchEvent(new CustomEvent("station:rendered"));
}

function fillInventory(body) {
  const list = slot(body, "items");
  reference.post.inventory.forEach((item, index) => {
    const row = document.getElementById("tpl-inventory-item").content.firstElementChild.cloneNode(true);
    row.dataset.expected = item.count;
    slot(row, "name").textContent = item.name;
    slot(row, "expected").textContent = fill(texts.expected, { n: item.count });
    slot(row, "all").textContent = fill(texts.all_there, { n: item.count });
    slot(row, "count").name = `count-${index}`;
    slot(row, "explanation").name = `explanation-${index}`;
    for (const radio of row.querySelectorAll("[data-condition]")) radio.name = `condition-${index}`;
    list.append(row);
  });
}

function fillReview(body) {
  const list = slot(body, "entries");
  for (const entry of model.entries) {
    const row = document.getElementById("tpl-review-item").content.firstElementChild.cloneNode(true);
    row.dataset.entry = entry.id;
    if (entry.important) {
      row.classList.add("important");
      slot(row, "important").hidden = false;
    }
    slot(row, "kind").textContent = entry.kind_label;
    slot(row, "summary").textContent = entry.summary;
    for (const radio of row.querySelectorAll("[data-choice]")) radio.name = `entry-${entry.id}`;
    list.append(row);
  }
  slot(body, "none").hidden = model.entries.length > 0;
}

function fillOverride(body) {
  for (const entry of model.entries.filter((candidate) => candidate.important)) {
    const item = document.createElement("li");
    item.className = "important";
    item.append(strong(entry.kind_label), ` ${entry.summary}`);
    slot(body, "important").append(item);
  }
  const choices = slot(body, "supervisors");
  const supervisors = reference.people.filter((candidate) => candidate.manager);
  for (const supervisor of supervisors) {
    const label = document.createElement("label");
    label.className = "pill";
    const radio = document.createElement("input");
    Object.assign(radio, { type: "radio", name: "supervisor_id", value: supervisor.id, required: true });
    label.append(radio, ` ${supervisor.name}`);
    choices.append(label);
  }
  if (!supervisors.length) choices.append(paragraph(texts.no_supervisor, "empty"));
}

function fillSign(body, action, handover) {
  const who = action === "sign_incoming" ? handover.incoming : handover.outgoing;
  slot(body, "intro").textContent = fill(texts[action], { name: who.name });
  if (action === "sign_incoming" && handover.carried?.length) {
    const carried = slot(body, "carried");
    carried.textContent = fill(texts.carried_to_you, { items: handover.carried.map((item) => item.title).join("; ") });
    carried.hidden = false;
  }
  body.querySelector("[data-pin-input]").closest("label").querySelector("span").textContent = fill(texts.pin_of, {
    name: who.name,
  });
}

function showDone(handover) {
  const node = screen("tpl-done");
  slot(node, "title").textContent = fill(texts.done, { name: handover.incoming.name });
  if (handover.carried?.length) {
    slot(node, "carried").textContent = fill(texts.carried, { items: handover.carried.map((item) => item.title).join("; ") });
    slot(node, "carried").hidden = false;
  }
  slot(node, "pending").textContent = waitingText();
}

function progress(list, handover) {
  const upcoming = nextStep(handover);
  for (const action of needed(handover)) {
    const item = document.createElement("li");
    const done = handover.done.includes(action);
    if (done) item.classList.add("done");
    if (action === upcoming) item.classList.add("current");
    item.textContent = `${done ? "✓ " : ""}${texts.steps[action]}`;
    list.append(item);
  }
}

function renderOutbox() {
  const target = slot(root, "outbox");
  const waiting = records.filter((record) => record.state !== REJECTED);
  const refused = records.filter((record) => record.state === REJECTED);
  if (!waiting.length && !refused.length) {
    target.replaceChildren();
    return;
  }
  const node = document.getElementById("tpl-outbox").content.firstElementChild.cloneNode(true);
  if (waiting.length) {
    slot(node, "pending").textContent = waitingText();
    slot(node, "pending").hidden = false;
  }
  if (refused.length) {
    slot(node, "rejected").hidden = false;
    for (const record of refused) {
      const row = document.getElementById("tpl-rejected-item").content.firstElementChild.cloneNode(true);
      row.dataset.record = record.id;
      const action = record.kind === "handover_arrive" ? "arrive" : record.payload.fields?.action;
      slot(row, "what").textContent = texts.steps[action] ?? action;
      slot(row, "who").textContent = person(record.payload.person).name;
      slot(row, "when").textContent = clock(record.device_time);
      slot(row, "reason").textContent = record.last_error ?? "";
      slot(node, "list").append(row);
    }
  }
  target.replaceChildren(node);
}

function waitingText() {
  const waiting = records.filter((record) => record.state !== REJECTED).length;
  return waiting ? fill(texts.waiting, { n: waiting }) : texts.sent;
}

// Actions

async function onClick(event) {
  const go = event.target.closest?.("[data-go]");
  if (go) {
    if (go.dataset.go === "home") showHome();
    else if (go.dataset.go === "people-arrive") showPeople("arrive");
    else if (go.dataset.go === "flow") showFlow();
    return;
  }
  const chosen = event.target.closest?.("[data-person][data-then]");
  if (chosen && chosen.tagName === "BUTTON") {
    showPin(Number(chosen.dataset.person), chosen.dataset.then);
    return;
  }
  const dismiss = event.target.closest?.("[data-dismiss]");
  if (dismiss) {
    await deleteRecord(db, dismiss.closest("[data-record]").dataset.record);
    await reload();
    renderOutbox();
  }
}

async function onSubmit(event) {
  const form = event.target.closest?.("[data-form]");
  if (!form || !root.contains(form)) return;
  event.preventDefault();
  const button = form.querySelector("button[type=submit], button:not([type])");
  if (button) button.disabled = true;
  try {
    if (form.dataset.form === "pin") await submitPin(form);
    else if (form.dataset.form === "arrive") await submitArrive();
    else if (form.dataset.form === "step") await submitStep(form);
    else if (form.dataset.form === "cancel") await submitCancel(form);
  } finally {
    if (button?.isConnected) button.disabled = false;
  }
}

async function submitPin(form) {
  const personId = Number(form.dataset.person);
  const pin = form.querySelector("[data-pin-input]").value.trim();
  let key;
  try {
    key = await checkPin(personId, pin);
  } catch (refusal) {
    form.querySelector("[data-pin-input]").value = "";
    showError(form, refusal.message);
    return;
  }
  actor = { person: person(personId), key, until: Date.now() + ACTOR_IDLE_MS };
  if (form.dataset.then === "arrive") showStart();
  else showFlow();
}

async function submitArrive() {
  if (!actorFresh()) {
    showHome();
    return;
  }
  if (model.handover) {
    showFlow(texts.open_elsewhere);
    return;
  }
  const id = crypto.randomUUID();
  await queue({
    id,
    kind: "handover_arrive",
    person: actor.person.id,
    key: actor.key,
    payload: { outgoing: model.duty?.person?.id ?? null },
  });
  showFlow();
}

async function submitStep(form) {
  const action = form.dataset.action;
  const handover = model.handover;
  const data = new FormData(form);
  let personId;
  let key;
  try {
    if (PIN_STEPS.has(action)) {
      personId =
        action === "override"
          ? Number(data.get("supervisor_id"))
          : (action === "sign_incoming" ? handover.incoming : handover.outgoing).id;
      key = await checkPin(personId, String(data.get("pin") ?? "").trim());
    } else if (actorFresh()) {
      personId = actor.person.id;
      key = actor.key;
    } else {
      showHome();
      return;
    }
    checkStep(action, data);
  } catch (refusal) {
    showError(form, refusal.message);
    const pin = form.querySelector("[data-pin-input]");
    if (pin) pin.value = "";
    return;
  }
  const fields = { action };
  for (const [name, value] of data.entries()) {
    if (typeof value === "string" && !["pin", "supervisor_id"].includes(name)) fields[name] = value;
  }
  if (action === "log_review") fields.shown = model.entries.map((entry) => entry.id).join(",");
  const photos = action === "summary" ? await photosOf(data) : [];
  const closes = action === "sign_outgoing" || (action === "sign_incoming" && !handover.outgoing);
  await queue({
    id: crypto.randomUUID(),
    kind: "handover_step",
    person: personId,
    key,
    payload: { subject: handover.id, fields, photos: photos.map((photo) => photo.id) },
    photos,
  });
  if (PIN_STEPS.has(action)) actor = { person: person(personId), key, until: Date.now() + ACTOR_IDLE_MS };
  if (closes) {
    actor = null;
    showDone(model.signed ?? handover);
  } else {
    showFlow();
  }
}

// What the server would refuse for a person to fix now (it checks everything again).
function checkStep(action, data) {
  if (action === "inventory") {
    reference.post.inventory.forEach((item, index) => {
      const off =
        Number(data.get(`count-${index}`)) !== item.count || (data.get(`condition-${index}`) ?? "ok") !== "ok";
      if (off && !String(data.get(`explanation-${index}`) ?? "").trim()) {
        throw new Error(fill(texts.explain, { item: item.name }));
      }
    });
  }
  if (action === "area_check") {
    for (let index = 0; index < 10; index += 1) {
      const text = String(data.get(`anomaly-${index}`) ?? "").trim();
      if (text && !String(data.get(`anomaly-explanation-${index}`) ?? "").trim()) throw new Error(texts.anomaly_explain);
    }
  }
}

async function submitCancel(form) {
  const data = new FormData(form);
  const personId = Number(data.get("person_id"));
  let key;
  try {
    key = await checkPin(personId, String(data.get("pin") ?? "").trim());
  } catch (refusal) {
    const error = slot(form, "cancel-error");
    error.textContent = refusal.message;
    error.hidden = false;
    return;
  }
  await queue({
    id: crypto.randomUUID(),
    kind: "handover_step",
    person: personId,
    key,
    payload: { subject: model.handover.id, fields: { action: "cancel", reason: String(data.get("reason") ?? "") } },
  });
  showHome();
}

async function queue({ id, kind, person: personId, key, payload, photos = [] }) {
  const pinProof = await hmacHex(key, id);
  await enqueue(db, {
    id,
    kind,
    user: { id: String(personId) },
    site: reference.site.code,
    station: stationId,
    deviceTime: new Date().toISOString(),
    payload: { station: stationId, person: personId, pin_proof: pinProof, ...payload },
    photos,
  });
  await reload();
  renderOutbox();
  requestFlush();
}

// Asks the worker to send (it holds the flush lock); without one, sends from the page.
function requestFlush() {
  if (!navigator.onLine) return;
  const worker = navigator.serviceWorker?.controller;
  if (worker) worker.postMessage({ type: "flush" });
  else flush({ db, fetch: window.fetch.bind(window), station: stationId }).then(async (outcome) => {
    if (outcome.outcome === "done") await refreshReference();
    await reload();
    renderOutbox();
  });
}

function actorFresh() {
  if (!actor || actor.until < Date.now()) {
    actor = null;
    return false;
  }
  actor.until = Date.now() + ACTOR_IDLE_MS;
  return true;
}

// PINs: checked here against the saved verifier; wrong tries counted on this tablet.

async function checkPin(personId, pin) {
  const who = personRecord(personId);
  if (!who) throw new Error(texts.not_here);
  const lock = readLock(personId);
  const lockedUntil = Math.max(lock.until ?? 0, Date.parse(who.locked_until ?? "") || 0);
  if (lockedUntil > Date.now()) {
    throw new Error(fill(texts.locked, { name: who.name, n: Math.ceil((lockedUntil - Date.now()) / 60000) }));
  }
  if (!who.pin) throw new Error(fill(texts.no_pin, { name: who.name }));
  const key = await pinKey(pin, who.pin.salt, who.pin.iterations);
  if ((await sha256Hex(key)) === who.pin.verifier) {
    writeLock(personId, { failures: 0 });
    return key;
  }
  const failures = (lock.failures ?? 0) + 1;
  if (failures >= PIN_TRIES) {
    writeLock(personId, { failures: 0, until: Date.now() + PIN_LOCKOUT_MS });
    throw new Error(fill(texts.locked, { name: who.name, n: PIN_LOCKOUT_MS / 60000 }));
  }
  writeLock(personId, { failures });
  throw new Error(fill(texts.wrong_pin, { n: PIN_TRIES - failures }));
}

const lockKey = (personId) => `dutypwa-station-pin-${stationId}-${personId}`;
function readLock(personId) {
  try {
    return JSON.parse(localStorage.getItem(lockKey(personId)) ?? "{}");
  } catch {
    return {};
  }
}
function writeLock(personId, value) {
  localStorage.setItem(lockKey(personId), JSON.stringify(value));
}

async function pinKey(pin, salt, iterations) {
  const base = await crypto.subtle.importKey("raw", encoder.encode(pin), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: encoder.encode(salt), iterations },
    base,
    256,
  );
  return new Uint8Array(bits);
}

async function sha256Hex(bytes) {
  return hex(await crypto.subtle.digest("SHA-256", bytes));
}

async function hmacHex(key, message) {
  const hmacKey = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return hex(await crypto.subtle.sign("HMAC", hmacKey, encoder.encode(message)));
}

const hex = (buffer) => Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");

// Small DOM helpers

function showError(form, message) {
  const error = slot(form, "error");
  error.textContent = message;
  error.hidden = false;
  error.scrollIntoView?.({ block: "center" });
}

function currentShift() {
  const changes = (reference?.post?.shift_changes ?? []).map((moment) => Date.parse(moment));
  const now = Date.now();
  const past = changes.filter((moment) => moment <= now);
  const future = changes.filter((moment) => moment > now);
  if (!past.length || !future.length) return null;
  return { start: past[past.length - 1], end: future[0] };
}

const timeFormat = new Intl.DateTimeFormat(root?.closest(".station")?.dataset.locale || undefined, {
  timeZone: root?.closest(".station")?.dataset.tz || undefined,
  hour: "2-digit",
  minute: "2-digit",
  hour12: false,
});
const clock = (moment) => (moment ? timeFormat.format(new Date(moment)) : "");
const slot = (node, name) => node.querySelector(`[data-slot="${name}"]`);
function paragraph(text, className) {
  const node = document.createElement("p");
  node.className = className;
  node.textContent = text;
  return node;
}
function strong(text) {
  const node = document.createElement("strong");
  node.textContent = text;
  return node;
}
function span(text) {
  const node = document.createElement("span");
  node.textContent = text;
  return node;
}
function small(text) {
  const node = document.createElement("small");
  node.textContent = text;
  return node;
}
function badge(text) {
  const node = document.createElement("span");
  node.className = "badge badge-overdue";
  node.textContent = text;
  return node;
}
