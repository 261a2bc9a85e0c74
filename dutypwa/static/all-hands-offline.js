// R7 offline: the offline page and the offline checkpoint shell show the open all-hands
// periods of the person's sites from the saved reference data (`all_hands` of
// GET /api/v1/reference, kept in meta.reference), with the server banner's answer forms,
// which the worker queues (op all_hands_ack). Pages from the server draw the banner
// themselves (all_hands/_banners.html). An answer still waiting in the outbox counts too.

import { currentUser, getMeta, openDatabase, referenceSites } from "/sw/db.js";
import { recordsOf } from "/sw/outbox.js";
import { fill } from "./texts.js";

// In order of strength, as on the server.
const STATUSES = ["acknowledged", "on_site"];

const host = document.querySelector("[data-all-hands-offline]");
if (host) draw(host);

async function draw(host) {
  const db = await openDatabase().catch(() => null);
  if (!db) return;
  const about = await getMeta(db, "reference");
  if (!about) return;
  const sites = Object.fromEntries((await referenceSites(db)).map((site) => [site.site, site]));
  const now = Date.now();
  const queued = await queuedAnswers(db);
  const open = (about.all_hands ?? [])
    .filter((period) => Date.parse(period.until) > now)
    .map((period) => ({ ...period, status: strongest(period.status, ...(queued[period.id] ?? [])) }));
  // The saved reference is fresher than a saved page's banner: it replaces it.
  document.getElementById("all-hands-banners")?.remove();
  host.replaceChildren(...open.map((period) => banner(host, period, sites[period.site])));
  host.hidden = !open.length;
  window.htmx?.process(host);
}

function banner(host, period, site) {
  const timeZone = site?.timezone;
  const section = document.getElementById("all-hands-offline-banner").content.firstElementChild.cloneNode(true);
  section.id = `all-hands-${period.id}`;
  section.classList.add(`kind-${period.kind}`);
  slot(section, "title").textContent = fill(host.dataset.title, { kind: period.kind_label });
  const when = { start: shown(period.starts_at, timeZone), until: shown(period.until, timeZone) };
  const sentence = fill(host.dataset.when, when);
  slot(section, "when").textContent = site?.name ? `${site.name} · ${sentence}` : sentence;
  show(slot(section, "level"), period.level);
  show(slot(section, "instructions"), period.instructions);
  const url = `/s/${encodeURIComponent(period.site)}/all-hands/${period.id}/ack`;
  for (const form of section.querySelectorAll("form")) {
    const answered = period.status === "on_site" || (period.status && form.dataset.answer === "acknowledged");
    if (answered) {
      form.remove();
      continue;
    }
    form.action = url;
    form.setAttribute("hx-post", url);
    form.elements.op_id.value = crypto.randomUUID();
  }
  const status = { on_site: host.dataset.onSite, acknowledged: host.dataset.read }[period.status];
  show(slot(section, "status"), status);
  return section;
}

async function queuedAnswers(db) {
  const user = await currentUser(db);
  const answers = {};
  for (const record of await recordsOf(db, user?.id)) {
    if (record.kind !== "all_hands_ack" || record.state === "rejected") continue;
    (answers[record.payload.subject] ??= []).push(record.payload.fields?.status);
  }
  return answers;
}

function strongest(...statuses) {
  return statuses.reduce((best, status) => (STATUSES.indexOf(status) > STATUSES.indexOf(best) ? status : best), null);
}

function slot(root, name) {
  return root.querySelector(`[data-slot="${name}"]`);
}

function show(element, text) {
  element.textContent = text ?? "";
  element.hidden = !text;
}

// Like the server's "%m-%d %H:%M" in the site's time zone.
function shown(iso, timeZone) {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: timeZone || undefined, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date(iso));
  const part = (type) => parts.find((item) => item.type === type)?.value ?? "";
  return `${part("month")}-${part("day")} ${part("hour")}:${part("minute")}`;
}
