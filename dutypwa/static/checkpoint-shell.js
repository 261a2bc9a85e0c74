// The offline checkpoint shell (pwa/checkpoint.html): the service worker shows it for
// /c/<token> when that checkpoint's page was never saved on this phone. It draws the
// checkpoint and its check-in form from the reference data; the form is the server's
// (same field names, data-outbox="checkin"), so the worker queues it like any check-in.

import { findCheckpoint, openDatabase } from "/sw/db.js";
import { fill } from "./texts.js";

// Before render() runs: without a token it reaches slot() before its first await.
const slot = (root, name) => root.querySelector(`[data-slot="${name}"]`);
const capitalised = (word = "") => word.charAt(0).toUpperCase() + word.slice(1);

const shell = document.querySelector("[data-offline-shell]");
if (shell) render(shell);

async function render(shell) {
  const token = decodeURIComponent(/^\/c\/([^/]+)$/.exec(location.pathname)?.[1] ?? "");
  const db = token ? await openDatabase().catch(() => null) : null;
  const found = db ? await findCheckpoint(db, token) : null;
  if (!found) {
    slot(shell, "unknown").hidden = false;
    return;
  }
  const { site, checkpoint } = found;
  slot(shell, "head").hidden = false;
  slot(shell, "name").textContent = checkpoint.name;
  slot(shell, "area").textContent = checkpoint.area ?? "";
  slot(shell, "kind").textContent = shell.dataset[`kind${capitalised(checkpoint.kind)}`] ?? checkpoint.kind;
  slot(shell, "code").textContent = checkpoint.code;
  if (checkpoint.description) {
    slot(shell, "description").textContent = checkpoint.description;
    slot(shell, "description").hidden = false;
  }
  document.title = document.title.replace(/^[^·]*/, `${checkpoint.name} `);

  const form = document.getElementById("shell-checkin-form").content.firstElementChild.cloneNode(true);
  form.action = location.pathname;
  form.setAttribute("hx-post", location.pathname);
  form.elements.op_id.value = crypto.randomUUID();
  const checklist = slot(form, "checklist");
  (checkpoint.checklist ?? []).forEach((item, index) => checklist.append(checkItem(shell, item, index)));
  checklist.hidden = !checkpoint.checklist?.length;
  // Problems found here earlier: the answers become re-check steps (recheck:<finding id>).
  const rechecks = slot(form, "rechecks");
  (checkpoint.rechecks ?? []).forEach((finding) => rechecks.append(recheckItem(finding)));
  rechecks.hidden = !checkpoint.rechecks?.length;
  // As on the server's page: a problem reported from here is filed at this checkpoint.
  const report = `/s/${encodeURIComponent(site.code)}/findings/new?checkpoint=${encodeURIComponent(token)}`;
  slot(form, "report").href = report;
  slot(shell, "form").replaceWith(form);
  window.htmx?.process(form);
}

function checkItem(shell, item, index) {
  const row = document.getElementById("shell-check-item").content.firstElementChild.cloneNode(true);
  row.querySelector(".item-name").textContent = item;
  for (const radio of row.querySelectorAll("input[type=radio]")) radio.name = `item-${index}`;
  const note = row.querySelector("input[type=text]");
  note.name = `note-${index}`;
  note.setAttribute("aria-label", fill(shell.dataset.noteLabel, { item }));
  return row;
}

function recheckItem(finding) {
  const row = document.getElementById("shell-recheck-item").content.firstElementChild.cloneNode(true);
  row.dataset.findingId = finding.id;
  row.querySelector(".item-name").textContent = finding.text;
  for (const radio of row.querySelectorAll("input[type=radio]")) radio.name = `recheck:${finding.id}`;
  return row;
}

