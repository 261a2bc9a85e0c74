// Every station page: remembers that this browser is the station (the worker then sends
// the station's queued handover steps and keeps the offline station fresh), moves to the
// offline station while steps queued there wait or were refused (they are shown there),
// and offers it when a step cannot reach the server. Each page keeps the station's
// reference fresh for the offline station.

import { openDatabase, setMeta } from "/sw/db.js";
import { stationRecordsOf } from "/sw/outbox.js";

const root = document.querySelector(".station[data-station-id]");
if (root) link(root);

async function link(root) {
  const stationId = Number(root.dataset.stationId);
  const shellUrl = root.dataset.shellUrl;
  document.addEventListener("htmx:error", () => offerShell(root, shellUrl));
  const db = await openDatabase().catch(() => null);
  if (!db) return;
  await setMeta(db, "station", { id: stationId, site: root.dataset.site });
  await refreshReference(db, root.dataset.referenceUrl);
  const registration = await navigator.serviceWorker?.getRegistration("/");
  registration?.active?.postMessage({ type: "station-shell" });
  if (document.querySelector("[data-station-app]")) return;
  if ((await stationRecordsOf(db, stationId)).length) window.location.replace(shellUrl);
}

function offerShell(root, shellUrl) {
  if (document.getElementById("station-no-network")) return;
  const alert = document.createElement("p");
  alert.id = "station-no-network";
  alert.className = "alert error";
  alert.setAttribute("role", "alert");
  alert.textContent = `${root.dataset.noNetwork} `;
  const go = document.createElement("a");
  go.className = "button primary";
  go.href = shellUrl;
  go.textContent = root.dataset.goOffline;
  alert.append(go);
  root.querySelector(".station-bar")?.after(alert);
}

// What the offline station draws from (/station/reference.json), when the network answers.
export async function refreshReference(db, url) {
  try {
    const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) return false;
    const fresh = await response.json();
    fresh.fetched_at = new Date().toISOString();
    await setMeta(db, "station_reference", fresh);
    return true;
  } catch {
    return false; // offline: the saved reference serves
  }
}
