// The app's scripts show no text of their own: sentences come translated from the server,
// in data attributes with {name} placeholders (pwa/_prompts.html and the pwa pages).

// The sentences every page carries on #pwa.
export const pageTexts = () => document.getElementById("pwa")?.dataset ?? {};

// Fills the {name} placeholders of a translated sentence.
export function fill(sentence = "", values = {}) {
  return sentence.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}
