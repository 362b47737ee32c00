// Small pieces the conversation pages share: transcript lines, status, pickers, debug panel.

import { t, getLang, onLangChange } from "./i18n.js";

export function statusSetter(el) {
  let key = "st.idle";
  const show = () => { el.dataset.state = key; el.textContent = t(key); };
  onLangChange(show);
  return (next) => { key = next; show(); };
}

export function transcriptWriter(list) {
  // Stay at the newest line while the reader is there, also when the list changes size (a phone
  // turned, the on-screen keyboard, the layout giving the video more room); not after they
  // scrolled back to read.
  let atEnd = true;
  list.addEventListener("scroll", () => { atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 24; });
  if (window.ResizeObserver) new ResizeObserver(() => { if (atEnd) list.scrollTop = list.scrollHeight; }).observe(list);
  return (role, text, { append, replace } = {}) => {
    let li = list.lastElementChild;
    const own = replace ? [...list.querySelectorAll("li." + role)].pop() : null;
    if (own) {
      // The turn goes on: its line gets the whole text; a reply shown after it was never heard.
      while (own.nextElementSibling) own.nextElementSibling.remove();
      own.querySelector(".text").textContent = text;
    } else if (append && li && li.classList.contains(role)) {
      li.querySelector(".text").textContent += " " + text;
    } else {
      li = document.createElement("li");
      li.className = role;
      const who = document.createElement("span");
      who.className = "who";
      who.dataset.i18n = role === "user" ? "you" : "avatar";
      who.textContent = t(who.dataset.i18n);
      const body = document.createElement("span");
      body.className = "text";
      body.textContent = text;
      li.append(who, body);
      list.append(li);
    }
    if (atEnd) list.scrollTop = list.scrollHeight;
  };
}

const LAT = [
  ["endpoint_ms", "lat.endpoint"], ["asr_ms", "lat.asr"], ["llm_first_token_ms", "lat.llm"],
  ["llm_first_sentence_ms", "lat.sentence"], ["tts_first_audio_ms", "lat.tts"], ["first_audio_out_ms", "lat.out"],
];

export function latencyWriter(tbody) {
  let last = null;
  const draw = () => {
    tbody.textContent = "";
    for (const [k, key] of LAT) {
      const tr = document.createElement("tr");
      const a = document.createElement("td");
      a.textContent = t(key);
      const b = document.createElement("td");
      b.textContent = last && last[k] != null ? Math.round(last[k]) : "–";
      tr.append(a, b);
      tbody.append(tr);
    }
  };
  onLangChange(draw);
  draw();
  return (lat) => { last = lat; draw(); };
}

// Fill the avatar and voice pickers from /web/config; voices filtered by language.
export function fillPickers(cfg, avatarSel, voiceSel, langSel) {
  avatarSel.textContent = "";
  for (const a of cfg.DigitalHumans) {
    const o = new Option(a.Name || a.DigitalHumanId, a.DigitalHumanId);
    o.dataset.preview = a.AvatarUrl || "";
    avatarSel.append(o);
  }
  const fillVoices = () => {
    const lang = langSel ? langSel.value : getLang();
    const keep = voiceSel.value;
    voiceSel.textContent = "";
    voiceSel.append(new Option(t("pick.auto"), ""));
    for (const v of cfg.Timbres) {
      if (!v.Language || v.Language.toLowerCase().startsWith(lang)) voiceSel.append(new Option(v.Name, v.TimbreId));
    }
    if ([...voiceSel.options].some((o) => o.value === keep)) voiceSel.value = keep;
  };
  if (langSel) {
    langSel.value = getLang();
    langSel.addEventListener("change", fillVoices);
  }
  onLangChange(fillVoices);
  fillVoices();
}

// The video box takes the shape of what it shows: the stream once it plays, before that the
// avatar's preview (a square photo should not sit in a tall black box).
export function fitVideoBox(box, video, preview) {
  const set = (w, h) => { if (w > 0 && h > 0) box.style.setProperty("--ar", `${w} / ${h}`); };
  const fromVideo = () => set(video.videoWidth, video.videoHeight);
  video.addEventListener("loadedmetadata", fromVideo);
  video.addEventListener("resize", fromVideo);
  preview.addEventListener("load", () => { if (!video.videoWidth) set(preview.naturalWidth, preview.naturalHeight); });
}

// The microphone toggle (button.mic): its label stays "Mute microphone"; aria-pressed says
// whether it is muted, data-state drives the look. Off or refused: nothing to toggle.
export function showMic(button, state) {
  button.dataset.state = state;
  button.disabled = state === "denied" || state === "off";
  button.setAttribute("aria-pressed", state === "muted" ? "true" : "false");
}

// The speaking level as a ring around the microphone button.
export function micLevel(button, getChat) {
  setInterval(() => {
    const chat = getChat();
    const level = chat && chat.mic && chat.micState === "on" ? Math.min(1, chat.mic.level * 4) : 0;
    button.style.setProperty("--level", level.toFixed(2));
  }, 100);
}
