// The roster grid: paint mode (choose a code, then tap cells) and typing a code, which
// htmx sends on change. A refused cell comes back with its old code and the reason.
"use strict";

(() => {
  const paintValue = () => document.querySelector("[data-paint]:checked")?.value ?? "";
  document.addEventListener("click", (event) => {
    const input = event.target.closest?.(".cell-code");
    const paint = paintValue();
    if (!input || !paint) return;
    const code = paint === "-" ? "" : paint;
    if (input.value === code) return;
    input.value = code;
    input.dispatchEvent(new Event("change", { bubbles: true }));
  });
  // The next edit puts away the last refusal's reason: it was about another cell, and it
  // covers the coverage row below it.
  document.addEventListener("change", (event) => {
    if (!event.target.classList?.contains("cell-code")) return;
    for (const reason of document.querySelectorAll(".roster-grid .cell-error")) {
      reason.closest(".cell")?.classList.remove("refused");
      reason.remove();
    }
  });
  // Typing replaces the cell's code rather than adding to it.
  document.addEventListener("focusin", (event) => {
    if (event.target.classList?.contains("cell-code") && !paintValue()) event.target.select();
  });
})();
