// One conversation with an agent instance: the conversation WebSocket (microphone PCM up,
// events down; protocol at the top of agent/http.py), the avatar over WHEP, the microphone.
// Reconnects the socket and the video after a network drop; falls back to typed messages when
// the microphone is refused. UI code listens through the callbacks.

import { Microphone } from "./mic.js";
import { WhepPlayer } from "./whep.js";

export class AgentChat {
  // session: {WsUrl, WhepUrl, PlayToken, AgentInstanceId}
  // handlers: onStatus(key), onLine(role, text, {append, replace}), onLatency(obj), onEnded(reason), onMic(state)
  constructor(video, session, handlers = {}) {
    this.video = video;
    this.session = session;
    this.h = { onStatus() {}, onLine() {}, onLatency() {}, onEnded() {}, onMic() {}, onEvent() {}, ...handlers };
    this.ws = null;
    this.mic = null;
    this.player = null;
    this.closed = false;
    this.wsRetries = 0;
    this.replying = false;  // the avatar's current answer is being appended to one line
    this.latency = null;
    this.events = [];       // every event, for the debug panel and tests
    this.micState = "off";  // "on" | "muted" | "denied" | "off"
  }

  async start({ microphone = true } = {}) {
    this.h.onStatus("st.connecting");
    await this._connect();
    this.player = new WhepPlayer(this.video, this.session.WhepUrl, this.session.PlayToken, {
      onState: (s) => {
        if (s === "reconnecting") this.h.onStatus("st.reconnecting");
        // The stream task is gone (404/403 on WHEP): the conversation has ended server-side.
        if (s === "failed") this._ended("stream ended");
      },
      onEvent: (msg) => this._driveEvent(msg),
    });
    this.player.start().catch((e) => { this.player.info.error = String(e); this.player._reconnect(); });
    if (microphone) await this.startMic();
    else this._setMic("off");
  }

  async startMic() {
    this.mic = new Microphone((buf) => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(buf);
    });
    try {
      await this.mic.start();
      this._setMic("on");
      this.h.onStatus("st.listening");
    } catch (e) {
      this.mic = null;
      this._setMic("denied");
      this.h.onStatus("st.micDenied");
    }
  }

  _setMic(state) { this.micState = state; this.h.onMic(state); }

  _connect() {
    return new Promise((resolve, reject) => {
      let opened = false;
      const ws = (this.ws = new WebSocket(this.session.WsUrl));
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        opened = true;
        this.wsRetries = 0;
        ws.send(JSON.stringify({ type: "start", sampleRate: 16000 }));
        resolve();
      };
      ws.onmessage = (ev) => { try { this._event(JSON.parse(ev.data)); } catch (e) { /* not JSON */ } };
      ws.onclose = (ev) => {
        if (ws !== this.ws || this.closed) return;
        // 4401/4404: the token or the instance is no longer valid; nothing to reconnect to.
        if (ev.code === 4401 || ev.code === 4404) { this._ended("gone"); if (!opened) reject(new Error(ev.reason)); return; }
        if (!opened && this.wsRetries === 0) { reject(new Error(`WebSocket closed (${ev.code})`)); return; }
        this._reconnectSocket();
      };
    });
  }

  async _reconnectSocket() {
    this.h.onStatus("st.reconnecting");
    const delay = Math.min(8000, 500 * 2 ** this.wsRetries++);
    await new Promise((r) => setTimeout(r, delay));
    if (this.closed) return;
    try { await this._connect(); this.h.onStatus(this.micState === "on" ? "st.listening" : "st.idle"); }
    catch (e) { if (!this.closed && this.wsRetries < 12) this._reconnectSocket(); else this._ended("network"); }
  }

  _event(e) {
    this.events.push(e);
    if (this.events.length > 500) this.events.shift();
    this.h.onEvent(e);
    switch (e.type) {
      case "speech":
        if (e.state === "start") this.h.onStatus("st.hearing");
        break;
      case "transcript":
        this.replying = false;
        // "continues": the user went on before hearing an answer; this replaces that turn's line.
        if (e.text) this.h.onLine("user", e.text, { append: false, replace: !!e.continues });
        this.h.onStatus("st.thinking");
        break;
      case "reply":
        this.h.onLine("avatar", e.text, { append: this.replying });
        this.replying = true;
        this.h.onStatus("st.speaking");
        break;
      case "barge_in":
      case "interrupted":
        this.replying = false;
        this.h.onStatus("st.listening");
        break;
      case "latency":
        this.latency = e;
        this.h.onLatency(e);
        break;
      case "closed":
        this._ended(e.reason || "closed");
        break;
      default:
        break;
    }
  }

  _driveEvent(msg) {
    // Drive events of the avatar's task (data channel): Status 4+ = the drive finished.
    const st = msg && msg.Data && msg.Data.Status;
    if (st >= 4 && !this.closed) this.h.onStatus(this.micState === "on" ? "st.listening" : "st.idle");
  }

  _ended(reason) {
    if (this.closed) return;
    this.closed = true;
    this.h.onStatus("st.ended");
    this.h.onEnded(reason);
    this._teardown();
  }

  sendText(text) {
    if (!text || !this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.replying = false;
    this.h.onLine("user", text, { append: false });
    this.ws.send(JSON.stringify({ type: "text", text }));
    this.h.onStatus("st.thinking");
    return true;
  }

  interrupt() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: "interrupt" }));
  }

  setMuted(muted) {
    if (!this.mic) return;
    this.mic.setMuted(muted);
    this._setMic(muted ? "muted" : "on");
    this.h.onStatus(muted ? "st.muted" : "st.listening");
  }

  stats() { return this.player ? this.player.stats() : {}; }

  _teardown() {
    if (this.mic) { this.mic.stop(); this.mic = null; }
    if (this.player) { this.player.close(); this.player = null; }
    if (this.ws) { const ws = this.ws; this.ws = null; try { ws.close(1000); } catch (e) { /* closed */ } }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this._teardown();
  }
}
