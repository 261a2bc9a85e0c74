// The roster a phone keeps for reading offline (docs/offline.md): the person's own shifts,
// and each site's published months that the reference data lists (this one and the next,
// with their versions). A month is fetched once per version, and a month that is not
// published is never asked for (it answered 404 after every page load).

// Sent with every roster month page (roster/views.py); a saved copy carries it too.
export const ROSTER_VERSION_HEADER = "X-Dutypwa-Roster-Version";

// One site's roster pages from its reference data: [{path, version}]. `version` is null
// for the person's own shifts, which are refreshed by age like the shells.
export function rosterPages(site) {
  const base = `/s/${encodeURIComponent(site.code)}/roster`;
  const months = Array.isArray(site.rosters) ? site.rosters : [];
  return [
    { path: `${base}/mine`, version: null },
    ...months.map(({ month, version }) => ({ path: `${base}/${month}`, version: String(version) })),
  ];
}

// Whether a saved copy (a Response, or undefined) is the month's current version.
export function upToDate(saved, version) {
  return Boolean(saved) && saved.headers.get(ROSTER_VERSION_HEADER) === version;
}
