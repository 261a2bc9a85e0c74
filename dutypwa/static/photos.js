// Photos chosen in an outbox form (<input type=file data-photos>) are shrunk on the phone
// before the form is sent (ARCHITECTURE §8): decoded upright, long edge at most 1600 px,
// re-encoded as JPEG (which drops EXIF and GPS), hashed and named "<uuid>.jpg". The
// service worker queues these bytes with the op; without a worker they go to the server.

import { fill, pageTexts as texts } from "./texts.js";

const MAX_EDGE = 1600;
// iOS refuses canvases above 16.7 megapixels.
const MAX_CANVAS_AREA = 16_777_216;
const JPEG_QUALITY = 0.8;
const DEFAULT_MAX_PHOTOS = 6;

const hashes = new WeakMap(); // input -> SHA-256 of each prepared photo, in order

document.addEventListener("change", (event) => {
  const input = event.target;
  if (input.matches?.("form[data-outbox] input[type=file][data-photos]")) prepare(input);
});

// The hashes travel with the form as photo_sha256, so the server can check the files of
// a form posted without a worker.
document.addEventListener("htmx:config:request", (event) => {
  const body = event.detail.ctx.request.body;
  const form = event.detail.ctx.sourceElement?.closest?.("form");
  if (!form || !(body instanceof FormData)) return;
  body.delete("photo_sha256");
  for (const input of form.querySelectorAll("input[type=file][data-photos]")) {
    for (const hash of hashes.get(input) ?? []) body.append("photo_sha256", hash);
  }
});

async function prepare(input) {
  const form = input.form;
  const buttons = [...form.querySelectorAll("button[type=submit], button:not([type])")];
  const status = statusLine(input);
  const max = Number(input.dataset.max) || DEFAULT_MAX_PHOTOS;
  const chosen = [...input.files];
  buttons.forEach((button) => (button.disabled = true));
  status.textContent = texts().photosPreparing ?? "";
  try {
    const prepared = [];
    for (const file of chosen.slice(0, max)) prepared.push(await shrink(file));
    const transfer = new DataTransfer();
    for (const photo of prepared) transfer.items.add(photo.file);
    input.files = transfer.files; // setting files fires no change event
    hashes.set(input, prepared.map((photo) => photo.sha256));
    showPreviews(input, prepared);
    status.textContent = fill(texts().photosReady, { n: prepared.length });
    if (chosen.length > max) status.textContent += ` ${fill(texts().photosTooMany, { n: max })}`;
  } catch (error) {
    console.warn("photo not prepared", error);
    input.value = "";
    hashes.delete(input);
    showPreviews(input, []);
    status.textContent = texts().photosFailed ?? "";
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

export async function shrink(file) {
  // createImageBitmap applies the EXIF orientation, so the photo comes out upright.
  const bitmap = await createImageBitmap(file);
  const { width, height } = fitted(bitmap.width, bitmap.height);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const blob = await new Promise((resolve, reject) =>
    canvas.toBlob((made) => (made ? resolve(made) : reject(new Error("no JPEG"))), "image/jpeg", JPEG_QUALITY),
  );
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  const sha256 = Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
  const id = crypto.randomUUID();
  return { id, sha256, file: new File([blob], `${id}.jpg`, { type: "image/jpeg" }) };
}

export function fitted(width, height) {
  const scale = Math.min(1, MAX_EDGE / Math.max(width, height), Math.sqrt(MAX_CANVAS_AREA / (width * height)));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

function statusLine(input) {
  const anchor = input.closest("label") ?? input;
  let line = anchor.parentElement.querySelector(`[data-photo-status="${input.name}"]`);
  if (!line) {
    line = document.createElement("p");
    line.className = "muted photo-status";
    line.dataset.photoStatus = input.name;
    line.setAttribute("role", "status");
    anchor.after(line);
  }
  return line;
}

function showPreviews(input, prepared) {
  const status = statusLine(input);
  let previews = status.nextElementSibling?.matches?.(".photo-previews") ? status.nextElementSibling : null;
  for (const image of previews?.querySelectorAll("img") ?? []) URL.revokeObjectURL(image.src);
  if (!prepared.length) {
    previews?.remove();
    return;
  }
  if (!previews) {
    previews = document.createElement("div");
    previews.className = "photos photo-previews";
    status.after(previews);
  }
  previews.replaceChildren(
    ...prepared.map((photo) => {
      const image = document.createElement("img");
      image.src = URL.createObjectURL(photo.file);
      image.alt = "";
      return image;
    }),
  );
}
