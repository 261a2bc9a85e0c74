// The problem form opened offline from a checkpoint: the service worker shows the site's
// saved form (docs/offline.md), which was rendered without a checkpoint. Name the
// checkpoint from the reference data and send its token, as the server's form would.

import { findCheckpoint, openDatabase } from "/sw/db.js";

const form = document.querySelector("form[data-outbox=finding]");
const token = new URLSearchParams(location.search).get("checkpoint");
if (form && token && !form.elements.checkpoint_token) nameCheckpoint(form, token);

async function nameCheckpoint(form, token) {
  const db = await openDatabase().catch(() => null);
  const found = db ? await findCheckpoint(db, token) : null;
  db?.close();
  if (!found) return; // not on this phone: the area and place fields stay
  const hidden = document.createElement("input");
  hidden.type = "hidden";
  hidden.name = "checkpoint_token";
  hidden.value = token;
  form.append(hidden);
  const shown = form.querySelector("[data-offline-checkpoint]");
  shown.querySelector("[data-slot=name]").textContent = found.checkpoint.name;
  shown.querySelector("[data-slot=code]").textContent = found.checkpoint.code;
  shown.hidden = false;
  const place = form.querySelector("[data-place-fields]");
  if (place) place.hidden = true;
}
