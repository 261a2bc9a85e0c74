import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import { OUTBOX_ROUTES, opFromForm, outboxRoute, queuedFragment } from "../ops.js";

const BASE = "https://duty.example.test";
const OP_ID = "3f0b6f8e-6a3c-4d5e-9f10-112233445566";

test("only POSTs to the outboxable form URLs are intercepted", () => {
  assert.equal(outboxRoute("POST", `${BASE}/c/AbC123`).kind, "checkin");
  assert.equal(outboxRoute("POST", `${BASE}/c/AbC123`).param, "AbC123");
  assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/findings`).kind, "finding");
  assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/findings`).param, "CUIHU");
  assert.equal(outboxRoute("GET", `${BASE}/c/AbC123`), null);
  assert.equal(outboxRoute("POST", `${BASE}/c/AbC123/extra`), null);
  assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/findings/new`), null);
  assert.equal(outboxRoute("POST", `${BASE}/login`), null);
  assert.equal(outboxRoute("POST", `${BASE}/api/v1/sync`), null);
  const id = "0b7e3f5c-2a44-4d3e-9a7b-1c2d3e4f5a6b";
  const step = outboxRoute("POST", `${BASE}/s/CUIHU/findings/${id}/steps`);
  assert.deepEqual([step.kind, step.param, step.subject], ["finding_step", "CUIHU", id]);
  assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/log`).kind, "duty_entry");
  assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/log/${id}/steps`).kind, "duty_step");
  assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/findings/not-an-id/steps`), null);
  assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/log/keys`), null);
});

function checkinForm(extra = {}) {
  const form = new FormData();
  form.set("csrf_token", "t");
  form.set("op_id", OP_ID);
  form.set("device_time", "2026-11-26T08:00:00.000Z");
  form.set("_queued", "已保存在手机上");
  form.set("item-0", "ok");
  form.set("item-1", "not_ok");
  form.set("note-1", "漏水");
  form.set("note", "");
  for (const [name, value] of Object.entries(extra)) form.set(name, value);
  return form;
}

test("a check-in form becomes a checkin op with the form's answers only", async () => {
  const route = outboxRoute("POST", `${BASE}/c/tok-1`);
  const op = await opFromForm(route, checkinForm());
  assert.equal(op.id, OP_ID);
  assert.equal(op.kind, "checkin");
  assert.equal(op.deviceTime, "2026-11-26T08:00:00.000Z");
  assert.equal(op.queuedText, "已保存在手机上");
  assert.deepEqual(op.payload, {
    token: "tok-1",
    fields: { "item-0": "ok", "item-1": "not_ok", "note-1": "漏水", note: "" },
  });
  assert.deepEqual(op.photos, []);
});

test("a form without a valid op id is not queued (the server answers it)", async () => {
  const route = outboxRoute("POST", `${BASE}/c/tok-1`);
  assert.equal(await opFromForm(route, checkinForm({ op_id: "" })), null);
  assert.equal(await opFromForm(route, checkinForm({ op_id: "not-a-uuid" })), null);
});

test("a finding form becomes a finding op; its photos are kept with id, hash, type, size", async () => {
  const route = outboxRoute("POST", `${BASE}/s/CUIHU/findings`);
  const photoId = "0a0b0c0d-0000-4000-8000-000000000001";
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 0xff, 0xd9]);
  const form = new FormData();
  form.set("op_id", OP_ID);
  form.set("device_time", "2026-11-26T08:00:00+08:00");
  form.set("site", "CUIHU");
  form.set("area_id", "12");
  form.set("location", " 3号楼 ");
  form.set("category", "safety");
  form.set("severity", "urgent");
  form.set("description", "消防门损坏");
  form.append("photos", new File([jpeg], `${photoId}.jpg`, { type: "image/jpeg" }));
  form.append("photos", new File([jpeg], "camera.jpg", { type: "image/jpeg" }));
  form.append("photos", new File([], "", { type: "application/octet-stream" })); // no file chosen

  const op = await opFromForm(route, form, () => "0a0b0c0d-0000-4000-8000-000000000002");
  assert.equal(op.site, "CUIHU");
  assert.deepEqual(op.payload, {
    site: "CUIHU",
    checkpoint_token: null,
    area_id: 12,
    location: "3号楼",
    category: "safety",
    severity: "urgent",
    description: "消防门损坏",
    photos: [photoId, "0a0b0c0d-0000-4000-8000-000000000002"],
  });
  const hash = createHash("sha256").update(jpeg).digest("hex");
  assert.equal(op.photos.length, 2);
  for (const photo of op.photos) {
    assert.equal(photo.sha256, hash);
    assert.equal(photo.type, "image/jpeg");
    assert.equal(photo.size, jpeg.length);
    assert.deepEqual(new Uint8Array(photo.blob), jpeg);
  }
});

test("the queued fragment has the server answer's root id and escapes the sentence", () => {
  const [checkinRoute] = OUTBOX_ROUTES;
  const html = queuedFragment(checkinRoute, { id: OP_ID }, "Saved <b>here</b> & safe");
  assert.match(html, /^<section id="checkin-done" class="card queued" data-op-id="3f0b6f8e-[^"]+"/);
  assert.ok(html.includes("Saved &lt;b&gt;here&lt;/b&gt; &amp; safe"));
});

test("every queued fragment says where the server's answer for its op will be", () => {
  for (const route of OUTBOX_ROUTES) {
    const html = queuedFragment(route, { id: OP_ID }, "queued");
    assert.ok(html.includes(` data-result="/ops/${route.kind}/${OP_ID}"`), route.kind);
  }
});

test("a lifecycle step keeps its form fields, site, subject and photos", async () => {
  const id = "0b7e3f5c-2a44-4d3e-9a7b-1c2d3e4f5a6b";
  const route = outboxRoute("POST", `${BASE}/s/CUIHU/findings/${id}/steps`);
  const form = new FormData();
  form.set("op_id", "4f9c2d1e-8b7a-4c3d-9e2f-1a0b9c8d7e6f");
  form.set("device_time", "2026-11-26T10:00:00+08:00");
  form.set("csrf_token", "x");
  form.set("action", "correct");
  form.set("note", "Replaced the bulb");
  form.set("base", "3");
  const op = await opFromForm(route, form);
  assert.equal(op.kind, "finding_step");
  assert.equal(op.site, "CUIHU");
  assert.deepEqual(op.payload, {
    site: "CUIHU",
    subject: id,
    fields: { action: "correct", note: "Replaced the bulb", base: "3" },
    photos: [],
  });
});

test("a roster request (R4) is queued with its fields; nothing else under /roster is", async () => {
  const route = outboxRoute("POST", `${BASE}/s/CUIHU/roster/requests`);
  assert.deepEqual([route.kind, route.param, route.subject, route.done],
    ["roster_request", "CUIHU", null, "request-done"]);
  const requestId = "0b7e3f5c-2a44-4d3e-9a7b-1c2d3e4f5a6b";
  // Deciding, cancelling and the roster editor stay online: the server decides.
  for (const path of [`requests/${requestId}/approve`, `requests/${requestId}/cancel`,
    "2031-03/cell", "requests/new"]) {
    assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/roster/${path}`), null, path);
  }
  assert.equal(outboxRoute("GET", `${BASE}/s/CUIHU/roster/requests`), null);
  const form = new FormData();
  form.set("csrf_token", "t");
  form.set("op_id", OP_ID);
  form.set("device_time", "2031-03-01T09:00:00+08:00");
  form.set("_queued", "已保存在手机上");
  form.set("kind", "swap");
  form.set("entry", "11111111-2222-4333-8444-555555555555");
  form.set("counterpart_entry", "66666666-7777-4888-9999-aaaaaaaaaaaa");
  form.set("version", "7");
  form.set("reason", "家中有事");
  const op = await opFromForm(route, form);
  assert.equal(op.kind, "roster_request");
  assert.equal(op.site, "CUIHU");
  assert.equal(op.queuedText, "已保存在手机上");
  assert.deepEqual(op.payload, {
    site: "CUIHU",
    fields: {
      kind: "swap",
      entry: "11111111-2222-4333-8444-555555555555",
      counterpart_entry: "66666666-7777-4888-9999-aaaaaaaaaaaa",
      version: "7",
      reason: "家中有事",
    },
    photos: [],
  });
  const html = queuedFragment(route, { id: OP_ID }, "已保存在手机上");
  assert.match(html, /^<section id="request-done" class="card queued"/);
});

test("an all-hands answer (R7) is queued with its status and the period as subject", async () => {
  const period = "5e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b";
  const route = outboxRoute("POST", `${BASE}/s/CUIHU/all-hands/${period}/ack`);
  assert.deepEqual([route.kind, route.param, route.subject, route.done],
    ["all_hands_ack", "CUIHU", period, "all-hands-ack-done"]);
  // Declaring, extending, lifting and leave decisions stay online: a manager decides.
  for (const path of ["", `/${period}/lift`, `/${period}/extend`, `/${period}/leave/${OP_ID}`,
    "/not-an-id/ack"]) {
    assert.equal(outboxRoute("POST", `${BASE}/s/CUIHU/all-hands${path}`), null, path);
  }
  const form = new FormData();
  form.set("csrf_token", "t");
  form.set("op_id", OP_ID);
  form.set("device_time", "2031-07-20T09:00:00+08:00");
  form.set("_queued", "已保存在手机上");
  form.set("next", "/s/CUIHU/log");
  form.set("status", "on_site");
  const op = await opFromForm(route, form);
  assert.equal(op.kind, "all_hands_ack");
  assert.equal(op.deviceTime, "2031-07-20T09:00:00+08:00");
  assert.deepEqual(op.payload, {
    site: "CUIHU",
    subject: period,
    fields: { next: "/s/CUIHU/log", status: "on_site" },
    photos: [],
  });
  const html = queuedFragment(route, { id: OP_ID }, "已保存在手机上");
  assert.match(html, /^<section id="all-hands-ack-done" class="card queued"/);
});
