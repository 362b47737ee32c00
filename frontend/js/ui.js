// Small pieces the conversation pages share: transcript lines, status, pickers, debug panel.

import { t, getLang, onLangChange } from "./i18n.js";

export function statusSetter(el) {
  let key = "st.idle";
  const show = () => { el.dataset.state = key; el.textContent = t(key); };
  onLangChange(show);
  return (next) => { key = next; show(); };
}

export function transcriptWriter(list) {
  return (role, text, { append } = {}) => {
    let li = list.lastElementChild;
    if (append && li && li.classList.contains(role)) {
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
    list.scrollTop = list.scrollHeight;
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
