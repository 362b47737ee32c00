/* The customer-service widget: one script tag on any site.
 *
 *   <script>
 *     window.dhWidget = { sessionUrl: "/api/dh-session" };   // YOUR backend, see below
 *   </script>
 *   <script src="https://YOUR-DH-SERVER/web/widget.js" async></script>
 *
 * `sessionUrl` is an endpoint of the site owner's own backend: it calls the digital-human server's
 * signed API (CreateDigitalHumanAgentInstance; the ServerSecret stays on that backend) and answers
 * {WsUrl, WhepUrl, PlayToken, AgentInstanceId}. examples/widget_backend.py is such a backend.
 * The widget POSTs {Language, Codec ("H264" | "VP8": what this browser decodes), ...sessionBody}.
 * Options: endUrl (POSTed {AgentInstanceId} on close), title, greeting, language ("en"|"zh"),
 * position ("right"|"left"), microphone (false: text only), sessionBody (extra JSON for sessionUrl).
 * Theme with CSS variables on the page: --dh-accent, --dh-accent-text, --dh-bg, --dh-text,
 * --dh-radius, --dh-font, --dh-z.
 * The widget lives in a shadow root, so the page's CSS and its own do not mix.
 */
(function () {
  "use strict";
  if (window.__dhWidgetLoaded) return;
  window.__dhWidgetLoaded = true;
  var script = document.currentScript;
  var base = script ? new URL(script.src).origin : location.origin;
  var cfg = Object.assign({ position: "right", microphone: true }, window.dhWidget || {});

  var CSS = [
    ":host { all: initial; }",
    ".wrap { position: fixed; bottom: 20px; z-index: var(--dh-z, 2147483000); font: 15px/1.45 var(--dh-font, system-ui, -apple-system, 'Segoe UI', 'Noto Sans CJK SC', sans-serif); color: var(--dh-text, #1b1f24); }",
    ".wrap.right { right: 20px; } .wrap.left { left: 20px; }",
    "button { font: inherit; cursor: pointer; border-radius: 8px; min-height: 40px; }",
    "button:focus-visible, input:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }",
    ".fab { width: 60px; height: 60px; border-radius: 50%; border: 0; background: var(--dh-accent, #0b5cad); color: var(--dh-accent-text, #fff); box-shadow: 0 4px 16px rgba(0,0,0,.25); display: grid; place-items: center; }",
    ".fab svg { width: 28px; height: 28px; }",
    ".panel { position: absolute; bottom: 74px; width: 340px; max-width: calc(100vw - 24px); height: min(600px, calc(100vh - 110px)); background: var(--dh-bg, #fff); border-radius: var(--dh-radius, 14px); box-shadow: 0 8px 32px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; border: 1px solid #d0d7de; }",
    ".right .panel { right: 0; } .left .panel { left: 0; }",
    ".panel[hidden] { display: none; }",
    ".head { display: flex; align-items: center; gap: 8px; padding: 8px 10px 8px 14px; background: var(--dh-accent, #0b5cad); color: var(--dh-accent-text, #fff); }",
    ".head h2 { font-size: 16px; margin: 0; flex: 1; min-width: 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }",
    ".head button { background: transparent; color: inherit; border: 1px solid rgba(255,255,255,.6); padding: 2px 10px; }",
    ".video { background: #0d1117; height: 42%; min-height: 140px; position: relative; }",
    ".video video { width: 100%; height: 100%; object-fit: contain; display: block; }",
    ".state { font-size: 13px; color: #57606a; padding: 4px 12px; border-bottom: 1px solid #eaeef2; }",
    ".state[data-state='st.error'] { color: #b42318; }",
    "ol { list-style: none; margin: 0; padding: 8px 10px; flex: 1; overflow-y: auto; display: flex; flex-direction: column; gap: 6px; }",
    "li { padding: 6px 10px; border-radius: 10px; max-width: 85%; white-space: pre-wrap; }",
    "li.user { align-self: flex-end; background: #dbeafe; } li.avatar { align-self: flex-start; background: #eef1f4; }",
    "form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #eaeef2; }",
    "input { flex: 1; min-width: 0; font: inherit; padding: 8px; border: 1px solid #8c959f; border-radius: 8px; }",
    "form button { background: var(--dh-accent, #0b5cad); color: var(--dh-accent-text, #fff); border: 0; padding: 0 14px; }",
    // The microphone toggle beside the text box: green ring while it listens, struck through when muted.
    "form .mic { flex: none; width: 40px; padding: 0; border-radius: 50%; background: #fff; color: #57606a; border: 1px solid #8c959f; display: grid; place-items: center; }",
    ".mic svg { width: 20px; height: 20px; } .mic .off, .mic[aria-pressed='true'] .on { display: none; } .mic[aria-pressed='true'] .off { display: block; }",
    ".mic[data-state='on'] { color: #1a7f37; border-color: #1a7f37; }",
    ".mic[aria-pressed='true'] { color: #b42318; border-color: #b42318; }",
    ".mic[hidden] { display: none; }",
    ".sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }",
    "@media (max-width: 480px) { .wrap { bottom: 12px; } .wrap.right { right: 12px; } .wrap.left { left: 12px; } .panel { width: calc(100vw - 24px); height: calc(100vh - 96px); height: calc(100dvh - 96px); } .video { height: 38%; } }",
    "@media (max-height: 520px) { .video { min-height: 96px; height: 30%; } }",
  ].join("\n");

  var MIC_PATH = '<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3';
  var MIC = '<svg class="on" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true">' + MIC_PATH + '"/></svg>' +
    '<svg class="off" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true">' + MIC_PATH + 'M4 4l16 16"/></svg>';
  var ICON = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/></svg>';

  function build(tr) {
    var host = document.createElement("div");
    host.id = "dh-widget";
    var root = host.attachShadow({ mode: "open" });
    root.innerHTML =
      "<style>" + CSS + "</style>" +
      '<div class="wrap ' + (cfg.position === "left" ? "left" : "right") + '">' +
      '<div class="panel" role="dialog" aria-modal="false" hidden>' +
      '<div class="head"><h2></h2><button type="button" class="close"></button></div>' +
      '<div class="video"><video autoplay playsinline></video></div>' +
      '<div class="state" role="status" aria-live="polite"></div>' +
      '<ol aria-live="polite"></ol>' +
      '<form><button type="button" class="mic" aria-pressed="false" hidden>' + MIC + '</button>' +
      '<label class="sr"></label><input autocomplete="off"><button type="submit" class="send"></button></form>' +
      "</div>" +
      '<button type="button" class="fab" aria-expanded="false">' + ICON + "</button>" +
      "</div>";
    document.body.appendChild(host);
    var q = function (s) { return root.querySelector(s); };
    var title = cfg.title || tr("widget.title");
    q(".head h2").textContent = title;
    q(".panel").setAttribute("aria-label", title);
    q(".close").textContent = tr("btn.close");
    q(".fab").setAttribute("aria-label", tr("btn.open") + ": " + title);
    q("form label").textContent = tr("chat.label");
    q("input").id = "dh-input";
    q("form label").setAttribute("for", "dh-input");
    q("input").placeholder = tr("chat.placeholder");
    q(".send").textContent = tr("btn.send");
    q(".mic").setAttribute("aria-label", tr("btn.mute"));
    q(".mic").title = tr("btn.mute");
    q("video").setAttribute("aria-label", title);
    return { host: host, root: root, q: q };
  }

  function init() {
    var mods = Promise.all([import(base + "/web/js/chat.js"), import(base + "/web/js/i18n.js"), import(base + "/web/js/api.js")]);
    var lang = cfg.language;
    var ui = null, chat = null, session = null, tr = null, opening = null;

    function line(role, text, opts) {
      var list = ui.q("ol"), last = list.lastElementChild;
      var own = opts && opts.replace ? [].slice.call(list.querySelectorAll("li." + role)).pop() : null;
      if (own) {  // the turn goes on: one line for it; a reply shown after it was never heard
        while (own.nextElementSibling) list.removeChild(own.nextElementSibling);
        own.textContent = text;
      }
      else if (opts && opts.append && last && last.className === role) { last.textContent += " " + text; }
      else { var li = document.createElement("li"); li.className = role; li.textContent = text; list.appendChild(li); }
      list.scrollTop = list.scrollHeight;
    }
    function state(key) { ui.q(".state").textContent = tr(key); ui.q(".state").dataset.state = key; }

    async function open() {
      var m = await mods;
      ui.q(".panel").hidden = false;
      ui.q(".fab").setAttribute("aria-expanded", "true");
      ui.q("input").focus();
      if (chat || opening) return;
      opening = (async function () {
        state("st.starting");
        try {
          var res = await fetch(cfg.sessionUrl, {
            method: "POST", credentials: "include",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(Object.assign({ Language: lang, Codec: m[2].preferredCodec() }, cfg.sessionBody || {})),
          });
          if (!res.ok) {
            // The site's backend may pass the server's reason on (e.g. too many sessions: wait a minute).
            var why = "session " + res.status;
            try { var body = await res.json(); why = body.Message || body.message || why; } catch (e) { /* not JSON */ }
            throw new Error(why);
          }
          session = await res.json();
          if (session.Data) session = session.Data;
          chat = new m[0].AgentChat(ui.q("video"), session, {
            onStatus: state, onLine: line,
            onEnded: function () { chat = null; },
            onMic: function (s) {
              var b = ui.q(".mic");
              b.hidden = s === "denied" || s === "off";
              b.dataset.state = s;
              b.setAttribute("aria-pressed", s === "muted" ? "true" : "false");
            },
          });
          window.dhWidget.chat = chat;  // for the page's own scripts and tests
          await chat.start({ microphone: cfg.microphone !== false });
        } catch (e) {
          state("st.error");
          ui.q(".state").textContent = tr("st.error") + ": " + e.message;
          chat = null;
        } finally { opening = null; }
      })();
    }

    function close() {
      ui.q(".panel").hidden = true;
      ui.q(".fab").setAttribute("aria-expanded", "false");
      ui.q(".fab").focus();
      if (chat) chat.close();
      if (session && cfg.endUrl) {
        fetch(cfg.endUrl, { method: "POST", keepalive: true, credentials: "include",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ AgentInstanceId: session.AgentInstanceId }) }).catch(function () {});
      }
      chat = null; session = null;
      ui.q("ol").textContent = "";
    }

    mods.then(function (m) {
      lang = lang || m[1].browserLang();
      tr = function (k) { return m[1].tFor(lang, k); };
      ui = build(tr);
      ui.q(".fab").addEventListener("click", function () { if (ui.q(".panel").hidden) open(); else close(); });
      ui.q(".close").addEventListener("click", close);
      ui.q(".mic").addEventListener("click", function () { if (chat) chat.setMuted(chat.micState !== "muted"); });
      ui.root.addEventListener("keydown", function (e) { if (e.key === "Escape" && !ui.q(".panel").hidden) close(); });
      ui.q("form").addEventListener("submit", function (e) {
        e.preventDefault();
        var text = ui.q("input").value.trim();
        if (chat && chat.sendText(text)) ui.q("input").value = "";
      });
      line("avatar", cfg.greeting || tr("widget.greeting"));
      state("st.idle");
      window.dhWidget = Object.assign(window.dhWidget || {}, { open: open, close: close, ready: true });
    }).catch(function (e) { console.error("digital-human widget failed to load:", e); });
  }

  if (document.body) init(); else document.addEventListener("DOMContentLoaded", init);
})();
