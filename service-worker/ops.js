// What an outboxable form POST becomes: the routes the worker intercepts and the op it
// stores for each (docs/offline.md, "One write path" and "Ops").

// `done` is the root id of the server's answer to that form: the queued fragment uses
// the same one, so htmx swaps it exactly like the server's.
// Kinds after the first two send their form as it is (`fields`), with the site and the
// subject (the nonconformity or duty-log entry) taken from the URL.
const ID = "([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})";
export const OUTBOX_ROUTES = [
  { kind: "checkin", pattern: /^\/c\/([^/]+)$/, done: "checkin-done" },
  { kind: "finding", pattern: /^\/s\/([^/]+)\/findings$/, done: "finding-done" },
  {
    kind: "finding_step",
    pattern: new RegExp(`^/s/([^/]+)/findings/${ID}/steps$`),
    done: "step-done",
  },
  { kind: "duty_entry", pattern: /^\/s\/([^/]+)\/log$/, done: "entry-done" },
  { kind: "duty_step", pattern: new RegExp(`^/s/([^/]+)/log/${ID}/steps$`), done: "step-done" },
  // R4: leave, a swap or a substitute; the server checks it again when it arrives.
  { kind: "roster_request", pattern: /^\/s\/([^/]+)\/roster\/requests$/, done: "request-done" },
  // R7: "I have read it" / "I am on site" for an all-hands period (the subject).
  {
    kind: "all_hands_ack",
    pattern: new RegExp(`^/s/([^/]+)/all-hands/${ID}/ack$`),
    done: "all-hands-ack-done",
  },
];

// Fields that carry the form's plumbing, not the person's answers.
const PLUMBING = new Set(["csrf_token", "op_id", "device_time", "_queued", "photo_sha256"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function outboxRoute(method, url) {
  if (method !== "POST") return null;
  const path = new URL(url).pathname;
  for (const route of OUTBOX_ROUTES) {
    const match = route.pattern.exec(path);
    if (match) {
      const params = match.slice(1).map((part) => decodeURIComponent(part));
      return { ...route, param: params[0], subject: params[1] ?? null };
    }
  }
  return null;
}

// The op for a posted form, or null when the form is not one we can queue (no valid
// op id): the worker then lets the server answer it, with its own error message.
export async function opFromForm(route, form, makeId = () => crypto.randomUUID()) {
  const id = String(form.get("op_id") ?? "").toLowerCase();
  if (!UUID.test(id)) return null;
  const photos = await photosOf(form, makeId);
  const base = {
    id,
    kind: route.kind,
    deviceTime: stringField(form, "device_time") || new Date().toISOString(),
    queuedText: stringField(form, "_queued"),
    photos,
  };
  if (route.kind === "checkin") {
    return { ...base, site: null, payload: { token: route.param, fields: answers(form) } };
  }
  if (route.kind !== "finding") {
    const payload = { site: route.param, fields: answers(form), photos: photos.map((p) => p.id) };
    if (route.subject) payload.subject = route.subject.toLowerCase();
    return { ...base, site: route.param, payload };
  }
  const area = stringField(form, "area_id");
  return {
    ...base,
    site: route.param,
    payload: {
      site: route.param,
      checkpoint_token: stringField(form, "checkpoint_token") || null,
      area_id: /^\d+$/.test(area) ? Number(area) : null,
      location: stringField(form, "location").trim(),
      category: stringField(form, "category"),
      severity: stringField(form, "severity"),
      description: stringField(form, "description"),
      photos: photos.map((photo) => photo.id),
    },
  };
}

function stringField(form, name) {
  const value = form.get(name);
  return typeof value === "string" ? value : "";
}

function answers(form) {
  const fields = {};
  for (const [name, value] of form.entries()) {
    if (!PLUMBING.has(name) && typeof value === "string") fields[name] = value;
  }
  return fields;
}

// Each chosen photo as the outbox keeps it. The page already shrank it and named it
// "<uuid>.jpg"; the hash is taken here from the very bytes that will be uploaded.
export async function photosOf(form, makeId = () => crypto.randomUUID()) {
  const photos = [];
  for (const file of form.getAll("photos")) {
    if (typeof file === "string" || !file.size) continue;
    const bytes = await file.arrayBuffer();
    const stem = String(file.name ?? "").replace(/\.[^.]*$/, "").toLowerCase();
    photos.push({
      id: UUID.test(stem) ? stem : makeId(),
      sha256: await sha256Hex(bytes),
      type: file.type || "image/jpeg",
      size: bytes.byteLength,
      // The bytes themselves, kept as an ArrayBuffer (ARCHITECTURE §8).
      blob: bytes,
    });
  }
  return photos;
}

export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (char) => ESCAPES[char]);

// Where the page asks for the server's answer to an op once it has arrived (pwa.op_result):
// the partial the form post would have got, which then replaces the queued fragment.
export const resultUrl = (kind, id) => `/ops/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`;

// The 202 answer to a queued form: htmx swaps it like the server's answer. The sentence
// comes from the form (`_queued`), translated by the server; static/offline.js adds the
// "not applied yet" mark and, once sent, swaps in the server's answer from data-result.
export function queuedFragment(route, record, text) {
  return (
    `<section id="${route.done}" class="card queued" data-op-id="${escapeHtml(record.id)}" ` +
    `data-result="${escapeHtml(resultUrl(route.kind, record.id))}" role="status">` +
    `<p class="queued-text">${escapeHtml(text)}</p></section>`
  );
}
