// The signing box of the handover (H5): pointer strokes become one SVG path
// "M x y L x y …" in a 600 × 200 box, integers only, in the hidden field `signature`.
// An empty box is refused before sending (the server refuses it too).
"use strict";

(() => {
  const WIDTH = 600;
  const HEIGHT = 200;
  const MAX_LENGTH = 19000; // the server takes up to 20,000 characters

  function setUp(box) {
    if (box.dataset.ready) return;
    box.dataset.ready = "1";
    const canvas = box.querySelector("canvas");
    const field = box.querySelector('input[name="signature"]');
    const error = box.querySelector("[data-signature-error]");
    const context = canvas.getContext("2d");
    let strokes = parse(field.value);
    let current = null;

    function resize() {
      const ratio = window.devicePixelRatio || 1;
      const width = canvas.clientWidth || WIDTH;
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(((width * HEIGHT) / WIDTH) * ratio);
      draw();
    }
    function draw() {
      const scale = canvas.width / WIDTH;
      context.setTransform(scale, 0, 0, scale, 0, 0);
      context.clearRect(0, 0, WIDTH, HEIGHT);
      context.lineWidth = 3;
      context.lineCap = "round";
      context.lineJoin = "round";
      context.strokeStyle = "#10243e";
      for (const stroke of strokes) {
        context.beginPath();
        stroke.forEach(([x, y], index) => (index ? context.lineTo(x, y) : context.moveTo(x, y)));
        if (stroke.length === 1) context.lineTo(stroke[0][0] + 1, stroke[0][1]);
        context.stroke();
      }
    }
    function point(event) {
      const rect = canvas.getBoundingClientRect();
      const x = Math.round(((event.clientX - rect.left) / rect.width) * WIDTH);
      const y = Math.round(((event.clientY - rect.top) / rect.height) * HEIGHT);
      return [Math.min(WIDTH, Math.max(0, x)), Math.min(HEIGHT, Math.max(0, y))];
    }
    function save() {
      const path = strokes
        .map((stroke) => stroke.map(([x, y], index) => `${index ? "L" : "M"} ${x} ${y}`).join(" "))
        .join(" ");
      field.value = path.length <= MAX_LENGTH ? path : field.value;
      if (field.value) error.hidden = true;
    }

    canvas.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      current = [point(event)];
      strokes.push(current);
      draw();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!current) return;
      const [x, y] = point(event);
      const [lastX, lastY] = current[current.length - 1];
      if (Math.abs(x - lastX) + Math.abs(y - lastY) < 3) return;
      current.push([x, y]);
      draw();
    });
    const end = () => {
      if (!current) return;
      current = null;
      save();
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    box.querySelector("[data-signature-clear]").addEventListener("click", () => {
      strokes = [];
      field.value = "";
      draw();
    });
    box.closest("form")?.addEventListener(
      "submit",
      (event) => {
        if (field.value.length >= 10) return;
        event.preventDefault();
        event.stopImmediatePropagation();
        error.textContent = box.dataset.emptyMessage;
        error.hidden = false;
      },
      true,
    );
    new ResizeObserver(resize).observe(canvas);
    resize();
  }

  function parse(path) {
    const strokes = [];
    const parts = (path || "").trim().split(/\s+/);
    for (let index = 0; index + 2 < parts.length + 1; index += 3) {
      const [command, x, y] = [parts[index], Number(parts[index + 1]), Number(parts[index + 2])];
      if (Number.isNaN(x) || Number.isNaN(y)) break;
      if (command === "M") strokes.push([[x, y]]);
      else if (command === "L" && strokes.length) strokes[strokes.length - 1].push([x, y]);
    }
    return strokes;
  }

  const setUpAll = () => document.querySelectorAll("[data-signature]").forEach(setUp);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUpAll);
  else setUpAll();
  document.addEventListener("htmx:after:swap", setUpAll);
  document.addEventListener("station:rendered", setUpAll);
})();
