// The tutor page: a lesson beside the avatar; "Read aloud" makes the avatar read a passage
// (a text drive of the instance: SendAgentInstanceTTS), questions go to the tutor agent whose
// prompt carries the lesson.

import { applyI18n, getLang, mountToggle, onLangChange, t } from "./i18n.js";
import { config, endSession, getJson, say, startSession } from "./api.js";
import { AgentChat } from "./chat.js";
import { fillPickers, fitVideoBox, micLevel, showMic, statusSetter, transcriptWriter } from "./ui.js";

const $ = (id) => document.getElementById(id);
mountToggle($("lang"));
const setStatus = statusSetter($("status"));
const addLine = transcriptWriter($("transcript"));
const video = $("video");
let lessons = {};
let chat = null;
let session = null;
window.dh = { get chat() { return chat; }, get session() { return session; } };

function drawLesson() {
  const lesson = lessons[$("lesson").value];
  if (!lesson) return;
  $("lesson-title").textContent = lesson.title;
  const list = $("passages");
  list.textContent = "";
  lesson.passages.forEach((text, i) => {
    const li = document.createElement("li");
    const p = document.createElement("p");
    p.textContent = text;
    p.lang = lesson.language === "zh" ? "zh-CN" : "en";
    const b = document.createElement("button");
    b.type = "button";
    b.className = "read";
    b.dataset.i18n = "btn.read";
    b.textContent = t("btn.read");
    b.disabled = !session;
    b.setAttribute("aria-describedby", `passage-${i}`);
    p.id = `passage-${i}`;
    b.onclick = async () => {
      list.querySelectorAll("li").forEach((x) => x.classList.remove("reading"));
      li.classList.add("reading");
      addLine("avatar", text);
      try { await say(session.AgentInstanceId, text); } catch (e) { setStatus("st.error"); }
    };
    li.append(b, p);  // the button first: on a phone it floats at the top of its passage
    list.append(li);
  });
}

function showPreview() {
  const opt = $("avatar").selectedOptions[0];
  $("preview").src = (opt && opt.dataset.preview) || "";
  $("preview").hidden = !(opt && opt.dataset.preview);
}

function setRunning(running) {
  $("start").disabled = running;
  $("stop").disabled = !running;
  for (const id of ["lesson", "avatar", "voice"]) $(id).disabled = running;
  $("text").disabled = $("send").disabled = !running;
  document.querySelectorAll("button.read").forEach((b) => { b.disabled = !running; });
  if (!running) showMic($("mute"), "off");
  // On a phone the pickers give their room to the lesson while the session runs (tutor.html).
  $("stage").toggleAttribute("data-running", running);
}

$("setup").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  setRunning(true);
  setStatus("st.starting");
  const lesson = lessons[$("lesson").value];
  try {
    session = await startSession({
      DigitalHumanId: $("avatar").value,
      TimbreId: $("voice").value || null,
      Scenario: "tutor",
      Language: lesson.language,
      Lesson: $("lesson").value,
    });
    chat = new AgentChat(video, session, {
      onStatus: setStatus, onLine: addLine, onEnded: () => { session = null; setRunning(false); },
      onMic: (state) => showMic($("mute"), state),
    });
    await chat.start({ microphone: true });
    setRunning(true);
  } catch (e) {
    setStatus("st.error");
    $("status").textContent = `${t("st.error")}: ${e.message}`;
    session = null;
    setRunning(false);
  }
});
$("stop").onclick = () => {
  if (chat) chat.close();
  if (session) endSession(session.AgentInstanceId);
  chat = session = null;
  video.srcObject = null;
  $("placeholder").hidden = false;
  setStatus("st.ended");
  setRunning(false);
};
$("mute").onclick = () => chat && chat.setMuted(chat.micState !== "muted");
micLevel($("mute"), () => chat);
fitVideoBox($("video-box"), video, $("preview"));
$("ask").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (chat && chat.sendText($("text").value.trim())) $("text").value = "";
});
$("lesson").addEventListener("change", drawLesson);
video.addEventListener("playing", () => { $("placeholder").hidden = true; });
video.addEventListener("dh-muted-autoplay", () => { $("sound").classList.remove("hidden"); });
$("sound").onclick = () => { video.muted = false; $("sound").classList.add("hidden"); };
addEventListener("pagehide", () => { if (session) endSession(session.AgentInstanceId); });

Promise.all([config(), getJson("lessons.json")]).then(([cfg, all]) => {
  lessons = all;
  for (const [id, l] of Object.entries(all)) $("lesson").append(new Option(l.title, id));
  const mine = Object.keys(all).find((id) => all[id].language === getLang());
  if (mine) $("lesson").value = mine;
  const langProxy = { get value() { return (lessons[$("lesson").value] || {}).language || getLang(); }, addEventListener() {} };
  fillPickers(cfg, $("avatar"), $("voice"), null);
  // Voices follow the lesson's language rather than the UI's.
  const refill = () => {
    const lang = langProxy.value;
    $("voice").textContent = "";
    $("voice").append(new Option(t("pick.auto"), ""));
    for (const v of cfg.Timbres) if (!v.Language || v.Language.toLowerCase().startsWith(lang)) $("voice").append(new Option(v.Name, v.TimbreId));
  };
  $("lesson").addEventListener("change", refill);
  onLangChange((lang) => {
    // Before a session starts, follow the UI language with a lesson in that language.
    const next = Object.keys(lessons).find((id) => lessons[id].language === lang);
    if (!session && next && lessons[$("lesson").value].language !== lang) {
      $("lesson").value = next;
      drawLesson();
    }
    refill();
  });
  refill();
  showPreview();
  $("avatar").addEventListener("change", showPreview);
  drawLesson();
  applyI18n(document);
}).catch((e) => { $("status").textContent = `${t("st.error")}: ${e.message}`; });
setRunning(false);
