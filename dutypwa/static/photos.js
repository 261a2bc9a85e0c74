// Photos chosen in an outbox form (<input type=file data-photos>) are shrunk on the phone
// before the form is sent (ARCHITECTURE §8): decoded upright, long edge at most 1600 px,
// re-encoded as JPEG (which drops EXIF and GPS), hashed and named "<uuid>.jpg". The
// service worker queues these bytes with the op; without a worker they go to the server.
// Inside a camera button (macros.photo_picker, [data-photo-picker]) each photo taken is
// added to those before it, shown as a thumbnail with a remove button; the input's files
// are always the photos kept, so the form (or the outbox) sends exactly those.

import { fill, pageTexts as texts } from "./texts.js";

const MAX_EDGE = 1600;
// iOS refuses canvases above 16.7 megapixels.
const MAX_CANVAS_AREA = 16_777_216;
const JPEG_QUALITY = 0.8;
const DEFAULT_MAX_PHOTOS = 6;

const hashes = new WeakMap(); // input -> SHA-256 of each prepared photo, in order
const kept = new WeakMap(); // camera-button input -> the prepared photos kept, in order

document.addEventListener("change", (event) => {
  const input = event.target;
  if (input.matches?.("form[data-outbox] input[type=file][data-photos]")) prepare(input);
});

document.addEventListener("click", (event) => {
  const button = event.target.closest?.("[data-photo-picker] button[data-remove-photo]");
  if (!button) return;
  const input = button.closest("[data-photo-picker]").querySelector("input[type=file][data-photos]");
  const photos = (kept.get(input) ?? []).filter((photo) => photo.id !== button.dataset.removePhoto);
  keep(input, photos);
  const status = statusLine(input);
  status.textContent = photos.length ? fill(texts().photosReady, { n: photos.length }) : "";
  input.focus(); // the camera button, not the page's start, for a keyboard or a reader
});

// A form that resets itself after a save (data-reset-on-success) starts without photos.
document.addEventListener("reset", (event) => {
  for (const input of event.target.querySelectorAll?.("[data-photo-picker] input[data-photos]") ?? []) {
    kept.delete(input);
    hashes.delete(input);
    showPreviews(input, []);
    statusLine(input).textContent = "";
  }
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
  const picker = Boolean(input.closest("[data-photo-picker]"));
  const before = picker ? (kept.get(input) ?? []) : [];
  const chosen = [...input.files];
  const room = Math.max(0, max - before.length);
  buttons.forEach((button) => (button.disabled = true));
  status.textContent = texts().photosPreparing ?? "";
  try {
    const prepared = [];
    for (const file of chosen.slice(0, room)) prepared.push(await shrink(file));
    const photos = [...before, ...prepared];
    keep(input, photos);
    status.textContent = fill(texts().photosReady, { n: photos.length });
    if (chosen.length > room) status.textContent += ` ${fill(texts().photosTooMany, { n: max })}`;
  } catch (error) {
    console.warn("photo not prepared", error);
    // The photos kept before stay; only the one that could not be read is dropped.
    keep(input, before);
    status.textContent = texts().photosFailed ?? "";
  } finally {
    buttons.forEach((button) => (button.disabled = false));
  }
}

// The photos the form sends: the input's files, their hashes and the thumbnails.
function keep(input, photos) {
  const transfer = new DataTransfer();
  for (const photo of photos) transfer.items.add(photo.file);
  input.files = transfer.files; // setting files fires no change event
  if (photos.length) hashes.set(input, photos.map((photo) => photo.sha256));
  else hashes.delete(input);
  if (input.closest("[data-photo-picker]")) kept.set(input, photos);
  showPreviews(input, photos);
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
  const picker = input.closest("[data-photo-picker]");
  const existing = (picker ?? input.closest("label")?.parentElement ?? input.parentElement).querySelector(
    `[data-photo-status="${input.name}"]`,
  );
  if (existing) return existing;
  const anchor = input.closest("label") ?? input;
  const line = document.createElement("p");
  line.className = "muted photo-status";
  line.dataset.photoStatus = input.name;
  line.setAttribute("role", "status");
  anchor.after(line);
  return line;
}

function showPreviews(input, prepared) {
  const picker = input.closest("[data-photo-picker]");
  if (picker) {
    showThumbnails(picker, prepared);
    return;
  }
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

// The camera button's thumbnails: one per photo kept, each with its remove button (named
// "remove photo n" from the picker's translated data-remove-label).
function showThumbnails(picker, photos) {
  const list = picker.querySelector(".photo-previews");
  for (const image of list.querySelectorAll("img")) URL.revokeObjectURL(image.src);
  list.replaceChildren(
    ...photos.map((photo, index) => {
      const item = document.createElement("li");
      const image = document.createElement("img");
      image.src = URL.createObjectURL(photo.file);
      image.alt = "";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "photo-remove";
      remove.dataset.removePhoto = photo.id;
      remove.setAttribute("aria-label", fill(picker.dataset.removeLabel, { n: index + 1 }));
      remove.textContent = "×";
      item.append(image, remove);
      return item;
    }),
  );
  list.hidden = !photos.length;
}
