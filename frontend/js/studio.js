// The studio: operator sign-in, avatars (create from uploads, with progress), voices, stream
// tasks (start, watch, drive by text/audio, stop) and video jobs (render, cancel, download).
// Every action goes through the server's /web/api/{Action} proxy: the browser never holds the
// ServerSecret; the HttpOnly session cookie is the credential.

import { applyI18n, mountToggle, onLangChange, t } from "./i18n.js";
import { getJson, postJson } from "./api.js";

const $ = (id) => document.getElementById(id);
mountToggle($("lang"));
const HEADERS = { "X-DH-Studio": "1" };
let avatars = [];
let voices = [];
let watching = null;  // TaskId shown in the player
let lastJobs = [];
let lastTasks = [];

async function act(action, body = {}) {
  return (await postJson(`/web/api/${action}`, body, HEADERS)).Data;
}

// Upload with progress (fetch cannot report upload progress; XMLHttpRequest can).
function upload(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/web/api/UploadFile");
    xhr.setRequestHeader("X-DH-Studio", "1");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 200 && body.Code === 0) resolve(body.Data);
      else reject(new Error(body.Message || `HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error("network error"));
    const form = new FormData();
    form.append("File", file, file.name);
    xhr.send(form);
  });
}

function msg(id, text, error = false) {
  $(id).textContent = text;
  $(id).classList.toggle("err", error);
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// ---- sign-in ----

async function checkSignIn() {
  const me = await getJson("/web/me");
  $("signin").classList.toggle("hidden", me.SignedIn);
  $("studio").classList.toggle("hidden", !me.SignedIn);
  $("logout").classList.toggle("hidden", !me.SignedIn);
  $("nopw").classList.toggle("hidden", me.PasswordSet);
  $("password").disabled = $("login").disabled = !me.PasswordSet;
  if (me.SignedIn) await loadAll();
  else if (me.PasswordSet) $("password").focus();
}

$("signin").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await postJson("/web/login", { Password: $("password").value });
    $("password").value = "";
    msg("signin-msg", "");
    await checkSignIn();
  } catch (e) {
    msg("signin-msg", e.status === 401 ? t("studio.wrong") : e.message, true);
  }
});
$("logout").onclick = async () => { await postJson("/web/logout", {}); location.reload(); };

// ---- avatars and voices ----

async function loadAvatars() {
  avatars = [];
  for (let offset = 0; offset < 200; offset += 20) {
    const page = await act("GetDigitalHumanList", { FetchMode: 1, Offset: offset, Limit: 20 });
    avatars.push(...page.DigitalHumans);
    if (page.DigitalHumans.length < 20) break;
  }
  const list = $("avatars");
  list.textContent = "";
  for (const a of avatars) {
    const state = a.Status === 2 ? "ready" : a.Status === 3 ? "failed" : "building";
    const img = el("img", { alt: a.Name, loading: "lazy" });
    if (a.AvatarUrl) img.src = a.AvatarUrl;
    const li = el("li", { "data-id": a.DigitalHumanId, "data-status": state }, img,
      el("div", { class: "name", text: a.Name }),
      el("div", { class: "muted", text: `${a.Kind || ""} · ${t("status." + state)}${state === "building" ? ` ${a.Progress}%` : ""}` }));
    if (a.FailReason) li.append(el("div", { class: "msg err", text: a.FailReason }));
    if (a.Actions && a.Actions.length) {
      li.append(el("div", { class: "actions", text: a.Actions.map((x) => x.Action).join(", ") }));
    }
    if (!a.IsPublic) {
      li.append(el("button", { type: "button", class: "danger", text: "✕", "aria-label": `Delete ${a.Name}`,
        onclick: async () => { if (confirm(`Delete ${a.Name}?`)) { await act("DeleteDigitalHuman", { DigitalHumanId: a.DigitalHumanId }); loadAvatars(); } } }));
    }
    list.append(li);
  }
  for (const sel of [$("s-avatar"), $("v-avatar")]) {
    const keep = sel.value;
    sel.textContent = "";
    for (const a of avatars.filter((x) => x.Status === 2)) sel.append(new Option(a.Name, a.DigitalHumanId));
    if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
  }
}

async function loadVoices() {
  voices = [];
  for (let offset = 0; offset < 200; offset += 20) {
    const page = await act("GetTimbreList", { Offset: offset, Limit: 20 });
    voices.push(...page.Timbres);
    if (page.Timbres.length < 20) break;
  }
  $("voices").textContent = "";
  for (const v of voices) {
    const audio = el("audio", { preload: "none", src: `/web/voice-sample/${encodeURIComponent(v.TimbreId)}` });
    const play = el("button", { type: "button", text: "▶ " + t("studio.preview"), "aria-label": `${t("studio.preview")}: ${v.Name}`,
      onclick: () => { audio.currentTime = 0; audio.play().catch((e) => msg("c-msg", e.message, true)); } });
    $("voices").append(el("tr", {}, el("td", { text: v.Name }), el("td", { text: v.Language }), el("td", {}, play, audio)));
  }
  for (const sel of [$("d-voice"), $("v-voice")]) {
    sel.textContent = "";
    for (const v of voices) sel.append(new Option(`${v.Name} (${v.Language})`, v.TimbreId));
  }
}

// The actions box: keywords of a photo avatar's built-in actions, or a video avatar's named
// stretches. Returns the creation Hint, or throws naming the line it cannot read.
function actionsHint(kind, text) {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  if (!lines.length) return null;
  const words = (w) => w.split(/[,，、]/).map((x) => x.trim()).filter(Boolean);
  if (kind === "photo") {
    const Keywords = {};
    for (const line of lines) {
      const m = line.match(/^([A-Za-z0-9_-]+)\s*=\s*(.+)$/);
      if (!m) throw new Error(`${t("studio.badLine")}: ${line}`);
      Keywords[m[1]] = words(m[2]);
    }
    return { Keywords };
  }
  const Actions = [];
  for (const line of lines) {
    const m = line.match(/^([A-Za-z0-9_-]+)\s+([\d.]+)\s*-\s*([\d.]+)\s*(?:=\s*(.*))?$/);
    if (!m || !(Number(m[3]) > Number(m[2]))) throw new Error(`${t("studio.badLine")}: ${line}`);
    Actions.push({ Action: m[1], Start: Number(m[2]), End: Number(m[3]), Keywords: words(m[4] || "") });
  }
  return { Actions };
}

function kindChanged() {
  const video = document.querySelector("input[name=kind]:checked").value === "video";
  $("c-actions-label").dataset.i18n = video ? "studio.videoActions" : "studio.photoKeywords";
  $("c-actions-help").dataset.i18n = video ? "studio.videoActionsHelp" : "studio.photoKeywordsHelp";
  $("c-file").accept = video ? "video/*" : "image/*";
  applyI18n($("create"));
}
document.querySelectorAll("input[name=kind]").forEach((r) => r.addEventListener("change", kindChanged));

$("create").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("c-file").files[0];
  const kind = document.querySelector("input[name=kind]:checked").value;
  let hint = null;
  try { hint = actionsHint(kind, $("c-actions").value); } catch (e) { msg("c-msg", e.message, true); return; }
  const bar = $("c-progress");
  $("c-submit").disabled = true;
  try {
    msg("c-msg", "…");
    const up = await upload(file, (f) => { bar.value = Math.round(f * 20); });
    const body = { Name: $("c-name").value, [kind === "photo" ? "ImageUrl" : "VideoUrl"]: up.Url };
    if (hint) body.Hint = hint;
    const created = await act(kind === "photo" ? "CreateImageDigitalHuman" : "CreateVideoDigitalHuman", body);
    const id = created.DigitalHumanId;
    await loadAvatars();
    for (;;) {
      const info = await act("GetDigitalHumanInfo", { DigitalHumanId: id });
      bar.value = 20 + Math.round(info.Progress * 0.8);
      msg("c-msg", `${info.Name}: ${t(info.Status === 2 ? "status.ready" : info.Status === 3 ? "status.failed" : "status.building")} ${info.Progress}%`, info.Status === 3);
      if (info.Status !== 1) { if (info.FailReason) msg("c-msg", info.FailReason, true); break; }
      await new Promise((r) => setTimeout(r, 1000));
    }
    await loadAvatars();
  } catch (e) {
    msg("c-msg", e.message, true);
  } finally {
    $("c-submit").disabled = false;
  }
});

// ---- stream tasks ----

async function loadTasks() {
  const data = await act("QueryDigitalHumanStreamTasks", {});
  const body = $("tasks");
  body.textContent = "";
  const list = (lastTasks = data.TaskList || []);
  if (!list.length) body.append(el("tr", {}, el("td", { colspan: "3", class: "muted", text: t("studio.none") })));
  for (const task of list) {
    const row = el("tr", { "data-task": task.TaskId },
      el("td", { text: `${task.TaskId.slice(0, 12)}… ${task.RoomId}/${task.StreamId}` }),
      el("td", { text: t(`tstatus.${task.Status}`) }),
      el("td", {}, el("div", { class: "row" },
        el("button", { type: "button", text: t("studio.watch"), onclick: () => watch(task) }),
        el("button", { type: "button", class: "danger", text: t("studio.stopTask"),
          onclick: async () => { await act("StopDigitalHumanStreamTask", { TaskId: task.TaskId }); if (watching === task.TaskId) unwatch(); loadTasks(); } }))));
    body.append(row);
  }
}

async function watch(task) {
  const tok = await act("CreateStreamPlayToken", { RoomId: task.RoomId, StreamId: task.StreamId, Expire: 3600 });
  watching = task.TaskId;
  $("player").src = tok.PlayUrl;
  $("watch").classList.remove("hidden");
  // Drives are refused until the task streams: keep the forms off until then.
  setDriving(false);
  for (;;) {
    const st = await act("GetDigitalHumanStreamTaskStatus", { TaskId: task.TaskId });
    msg("d-msg", `${t("studio.task")} ${task.TaskId.slice(0, 12)}…: ${t(`tstatus.${st.Status}`)}${st.FailReason ? ` (${st.FailReason})` : ""}`, st.Status === 2);
    if (watching !== task.TaskId) return;
    if (st.Status === 3) { setDriving(true); break; }
    if (st.Status !== 1) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  loadTasks();
}

function setDriving(on) {
  document.querySelectorAll("#d-text button, #d-audio button").forEach((b) => { b.disabled = !on; });
  $("watch").dataset.streaming = on ? "1" : "0";
}

function unwatch() { watching = null; $("player").src = "about:blank"; $("watch").classList.add("hidden"); }

$("s-new").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const stream = "studio" + Math.random().toString(36).slice(2, 10);
  try {
    const r = await act("CreateDigitalHumanStreamTask", {
      DigitalHumanConfig: { DigitalHumanId: $("s-avatar").value },
      RTCConfig: { RoomId: "studio", StreamId: stream },
      VideoConfig: { Width: 720, Height: 1280 },
    });
    await loadTasks();
    await watch({ TaskId: r.TaskId, RoomId: "studio", StreamId: stream });
  } catch (e) { msg("d-msg", e.message, true); $("watch").classList.remove("hidden"); }
});

$("d-text").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await act("DriveByText", { TaskId: watching, Text: $("d-text-in").value, TTSConfig: { TimbreId: $("d-voice").value } });
    msg("d-msg", `DriveId ${r.DriveId}`);
  } catch (e) { msg("d-msg", e.message, true); }
});

$("d-audio").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const up = await upload($("d-audio-in").files[0], () => {});
    const r = await act("DriveByAudio", { TaskId: watching, AudioUrl: up.Url });
    msg("d-msg", `DriveId ${r.DriveId}`);
  } catch (e) { msg("d-msg", e.message, true); }
});

// ---- video jobs ----

async function loadVideos() {
  const data = await act("QueryDigitalHumanVideos", { Limit: 20 });
  const body = $("videos");
  body.textContent = "";
  if (!data.VideoTasks.length) body.append(el("tr", {}, el("td", { colspan: "4", class: "muted", text: t("studio.none") })));
  for (const job of data.VideoTasks) {
    const cell = el("td");
    if (job.Status <= 2) cell.append(el("button", { type: "button", text: t("studio.cancel"), onclick: async () => { await act("CancelDigitalHumanVideo", { VideoTaskId: job.VideoTaskId }); loadVideos(); } }));
    if (job.Status === 4 && job.VideoUrl) cell.append(el("a", { class: "btn", href: job.VideoUrl, download: "", text: t("studio.download") }));
    const bar = el("progress", { max: "100", value: String(job.Progress), "aria-label": `${t("studio.progress")} ${job.VideoTaskId}` });
    body.append(el("tr", { "data-job": job.VideoTaskId, "data-status": String(job.Status) },
      el("td", { text: `${job.VideoTaskId.slice(0, 12)}… ${job.Width}×${job.Height}` }),
      el("td", { text: t(`vstatus.${job.Status}`) + (job.FailReason ? `: ${job.FailReason}` : "") }),
      el("td", {}, bar), cell));
  }
  lastJobs = data.VideoTasks;
  return data.VideoTasks;
}

$("v-new").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const [w, h] = $("v-size").value.split("x").map(Number);
  const keywords = $("v-keywords").value.split("\n").map((l) => l.split("=").map((s) => s.trim()))
    .filter((p) => p.length === 2 && p[0] && p[1]).map(([Keyword, Action]) => ({ Keyword, Action }));
  try {
    const body = { DigitalHumanId: $("v-avatar").value, Text: $("v-text").value, Width: w, Height: h, KeywordActions: keywords };
    if ($("v-voice").value) body.TTSConfig = { TimbreId: $("v-voice").value };
    const r = await act("CreateDigitalHumanVideo", body);
    msg("v-msg", `VideoTaskId ${r.VideoTaskId}`);
    await loadVideos();
  } catch (e) { msg("v-msg", e.message, true); }
});

$("refresh").onclick = () => loadAll();

async function loadAll() {
  await Promise.all([loadAvatars(), loadVoices()]);
  await Promise.all([loadTasks(), loadVideos()]);
}

// Keep running jobs and tasks fresh while anything is in progress.
setInterval(async () => {
  if ($("studio").classList.contains("hidden") || document.hidden) return;
  try {
    // Redraw only while something changes by itself (a redraw moves keyboard focus).
    if (lastJobs.some((j) => j.Status <= 2)) await loadVideos();
    if (lastTasks.some((x) => x.Status === 1 || x.Status === 4)) await loadTasks();
  } catch (e) { /* signed out or server restarting */ }
}, 2000);

onLangChange(() => { if (!$("studio").classList.contains("hidden")) loadAll(); });
kindChanged();
applyI18n(document);
checkSignIn().catch((e) => msg("signin-msg", e.message, true));
