// What a typed short code means, on the phone (scan.js) as on the server
// (dutypwa/models/checkpoint.py code_key; both run the cases in tests/code_keys.json):
// "7", "007", "００７" and " 0 07 " are the same label, so are "a-7" and "A-007".
// Full-width forms become ASCII, spaces go, letters are upper case, and each run of
// digits loses its leading zeros.

export function codeKey(code) {
  return String(code ?? "")
    .normalize("NFKC")
    .replace(/\s+/g, "")
    .toUpperCase()
    .replace(/[0-9]+/g, (digits) => digits.replace(/^0+/, "") || "0");
}
