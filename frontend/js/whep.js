// Watch a stream task over WHEP (plain browser WebRTC, no SDK). Adapted from the transport's
// player (frontend/play.js, owned by the WebRTC part): recv-only audio+video, no trickle ICE
// (the offer carries every gathered candidate), DELETE of the session's Location on close.
// Adds: reconnect when the connection fails, and a stats() snapshot for the debug panel/tests.

function waitForIce(pc, ms) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(done, ms);
  });
}

export class WhepPlayer {
  // onState(state) is called with "connecting" | "connected" | "reconnecting" | "failed" | "closed".
  constructor(video, whepUrl, token, { onState = () => {}, onEvent = () => {} } = {}) {
    this.video = video;
    this.url = whepUrl;
    this.token = token;
    this.onState = onState;
    this.onEvent = onEvent;
    this.pc = null;
    this.resource = null;
    this.closed = false;
    this.retries = 0;
    this.info = { state: "new", framesDecoded: 0, frameWidth: 0, frameHeight: 0, fps: 0, codec: null, error: null };
    this._poll = setInterval(() => this._stats(), 500);
  }

  async start() {
    this.onState("connecting");
    const pc = (this.pc = new RTCPeerConnection({ iceServers: [] }));
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    const channel = pc.createDataChannel("events");
    channel.onmessage = (ev) => { try { this.onEvent(JSON.parse(ev.data)); } catch (e) { /* not JSON */ } };
    const stream = new MediaStream();
    pc.ontrack = (ev) => {
      stream.addTrack(ev.track);
      if (this.video.srcObject === stream) return;
      this.video.srcObject = stream;
      this.video.play().catch((e) => {
        if (e.name !== "NotAllowedError") return;
        // Autoplay with sound was blocked: play muted until the user asks for sound.
        this.video.muted = true;
        this.video.play().catch(() => {});
        this.video.dispatchEvent(new CustomEvent("dh-muted-autoplay"));
      });
    };
    pc.onconnectionstatechange = () => {
      this.info.state = pc.connectionState;
      if (pc !== this.pc || this.closed) return;
      if (pc.connectionState === "connected") { this.retries = 0; this.onState("connected"); }
      if (pc.connectionState === "failed") this._reconnect();
      if (pc.connectionState === "disconnected") {
        // Often recovers by itself; give it a moment before starting over.
        setTimeout(() => { if (pc === this.pc && pc.connectionState === "disconnected") this._reconnect(); }, 4000);
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc, 2000);
    const res = await fetch(this.url, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", "Authorization": `Bearer ${this.token}` },
      body: pc.localDescription.sdp,
    });
    if (res.status !== 201) {
      const text = await res.text();
      const err = new Error(`WHEP ${res.status}: ${text}`);
      err.status = res.status;
      throw err;
    }
    this.resource = new URL(res.headers.get("Location"), new URL(this.url, location.href)).href;
    await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  }

  async _reconnect() {
    if (this.closed) return;
    this.onState("reconnecting");
    this._teardown();
    const delay = Math.min(8000, 500 * 2 ** this.retries++);
    await new Promise((r) => setTimeout(r, delay));
    if (this.closed) return;
    try {
      await this.start();
    } catch (e) {
      this.info.error = String(e);
      // 404: the stream task is gone (the conversation ended); nothing to come back to.
      if (e.status === 404 || e.status === 403 || this.retries > 8) { this.onState("failed"); return; }
      this._reconnect();
    }
  }

  _teardown() {
    if (this.resource) {
      fetch(this.resource, { method: "DELETE", keepalive: true, headers: { "Authorization": `Bearer ${this.token}` } }).catch(() => {});
      this.resource = null;
    }
    if (this.pc) { this.pc.ontrack = null; this.pc.close(); this.pc = null; }
  }

  async _stats() {
    if (!this.pc) return;
    try {
      const report = await this.pc.getStats();
      const codecs = {};
      report.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
      report.forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") {
          this.info.framesDecoded = s.framesDecoded || 0;
          this.info.frameWidth = s.frameWidth || 0;
          this.info.frameHeight = s.frameHeight || 0;
          this.info.fps = s.framesPerSecond || 0;
          this.info.codec = codecs[s.codecId] || this.info.codec;
        }
      });
    } catch (e) { /* closed meanwhile */ }
  }

  stats() { return { ...this.info }; }

  close() {
    this.closed = true;
    clearInterval(this._poll);
    this._teardown();
    this.onState("closed");
  }
}
