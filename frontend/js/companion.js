// The companion page: pick an avatar and a voice, talk with the microphone, watch the avatar.

import { applyI18n, mountToggle, t } from "./i18n.js";
import { config, endSession, startSession } from "./api.js";
import { AgentChat } from "./chat.js";
import { fillPickers, fitVideoBox, latencyWriter, micLevel, showMic, statusSetter, transcriptWriter } from "./ui.js";

const $ = (id) => document.getElementById(id);
mountToggle($("lang"));
const setStatus = statusSetter($("status"));
const addLine = transcriptWriter($("transcript"));
const showLatency = latencyWriter($("latency"));
const video = $("video");
let chat = null;
let session = null;

// For people at the console and for tests.
window.dh = { get chat() { return chat; }, get session() { return session; } };

function showPreview() {
  const opt = $("avatar").selectedOptions[0];
  $("preview").src = (opt && opt.dataset.preview) || "";
  $("preview").hidden = !(opt && opt.dataset.preview);
}

function setRunning(running) {
  $("start").disabled = running;
  for (const id of ["avatar", "voice", "language"]) $(id).disabled = running;
  for (const id of ["stop", "interrupt", "text", "send"]) $(id).disabled = !running;
  if (!running) showMic($("mute"), "off");
  // On a phone the pickers give their room to the conversation while it runs (app.css).
  $("stage").toggleAttribute("data-running", running);
}

async function start(ev) {
  ev.preventDefault();
  setRunning(true);
  setStatus("st.starting");
  try {
    session = await startSession({
      DigitalHumanId: $("avatar").value,
      TimbreId: $("voice").value || null,
      Scenario: "companion",
      Language: $("language").value,
    });
    chat = new AgentChat(video, session, {
      onStatus: setStatus,
      onLine: addLine,
      onLatency: showLatency,
      onEnded: () => { setRunning(false); },
      onMic: (state) => {
        showMic($("mute"), state);
        if (state === "denied") $("text").focus();
      },
    });
    await chat.start({ microphone: true });
  } catch (e) {
    setStatus("st.error");
    $("status").textContent = `${t("st.error")}: ${e.message}`;
    setRunning(false);
  }
}

function stop() {
  if (chat) chat.close();
  if (session) endSession(session.AgentInstanceId);
  chat = null;
  session = null;
  video.srcObject = null;
  $("placeholder").hidden = false;
  setStatus("st.ended");
  setRunning(false);
}

video.addEventListener("playing", () => { $("placeholder").hidden = true; });
video.addEventListener("dh-muted-autoplay", () => { $("sound").classList.remove("hidden"); });
$("sound").onclick = () => { video.muted = false; $("sound").classList.add("hidden"); };
$("setup").addEventListener("submit", start);
$("stop").onclick = stop;
$("interrupt").onclick = () => chat && chat.interrupt();
$("mute").onclick = () => chat && chat.setMuted(chat.micState !== "muted");
$("say").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (chat && chat.sendText($("text").value.trim())) $("text").value = "";
});
$("avatar").addEventListener("change", showPreview);
addEventListener("pagehide", () => { if (session) endSession(session.AgentInstanceId); });

setInterval(() => {
  if (!chat) return;
  const s = chat.stats();
  $("vstats").textContent = s.framesDecoded
    ? `${s.frameWidth}×${s.frameHeight} ${s.codec || ""} ${Math.round(s.fps || 0)} fps, ${s.framesDecoded} ${t("debug.frames")}`
    : "–";
}, 500);
micLevel($("mute"), () => chat);
fitVideoBox($("video-box"), video, $("preview"));

config().then((cfg) => {
  fillPickers(cfg, $("avatar"), $("voice"), $("language"));
  showPreview();
  applyI18n(document);
}).catch((e) => { $("status").textContent = `${t("st.error")}: ${e.message}`; });
setRunning(false);
