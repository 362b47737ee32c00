// A tiny WHEP player: /play?RoomId=..&StreamId=..&Token=..  (plain browser JS, no SDK).
// window.dhStats exposes what arrives, for people (console) and for tests.
// With &PublishStreamId=..&PublishToken=.. (CreateStreamPublishToken) a "Microphone" button
// publishes the microphone by WHIP under RoomId/PublishStreamId, for DriveByRTCStream.
"use strict";

const q = new URLSearchParams(location.search);
const roomId = q.get("RoomId") || "";
const streamId = q.get("StreamId") || "";
const token = q.get("Token") || "";
const whepUrl = q.get("WhepUrl") ||
  `/whep/${encodeURIComponent(roomId)}/${encodeURIComponent(streamId)}`;

const video = document.getElementById("video");
const statusEl = document.getElementById("status");
const unmute = document.getElementById("unmute");
const eventsEl = document.getElementById("events");

const stats = (window.dhStats = {
  state: "new", error: null, framesDecoded: 0, framesDropped: 0, frameWidth: 0, frameHeight: 0,
  framesPerSecond: 0, codec: null, audioLevel: 0, maxAudioLevel: 0, totalAudioEnergy: 0,
  audioPacketsReceived: 0, heardLevel: 0, maxHeardLevel: 0, muted: false, events: [],
});
let resource = null;
let pc = null;

function setStatus(text) { statusEl.textContent = text; }

function waitForIce(pc, ms) {
  // The server does no trickle ICE: send the offer with every candidate we gather in time.
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { pc.removeEventListener("icegatheringstatechange", check); resolve(); };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(done, ms);
  });
}

async function start() {
  pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const channel = pc.createDataChannel("events");
  channel.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    stats.events.push(msg);
    const line = document.createElement("div");
    line.textContent = JSON.stringify(msg.Data || msg);
    eventsEl.prepend(line);
  };
  const stream = new MediaStream();
  pc.ontrack = (ev) => {
    stream.addTrack(ev.track);
    if (ev.track.kind === "audio") meter(ev.track);
    if (video.srcObject) return;  // one stream for both tracks; a new srcObject restarts play()
    video.srcObject = stream;
    video.play().catch((e) => {
      if (e.name !== "NotAllowedError") return;
      // Autoplay with sound was blocked: play muted, offer a button.
      video.muted = true;
      video.play();
      unmute.hidden = false;
    });
  };
  pc.onconnectionstatechange = () => {
    stats.state = pc.connectionState;
    setStatus(pc.connectionState);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await waitForIce(pc, 2000);
  const res = await fetch(whepUrl, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", "Authorization": `Bearer ${token}` },
    body: pc.localDescription.sdp,
  });
  if (res.status !== 201) throw new Error(`WHEP ${res.status}: ${await res.text()}`);
  resource = new URL(res.headers.get("Location"), new URL(whepUrl, location.href)).href;
  await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
}

let analyser = null;
function meter(track) {
  // The loudness as heard, from the decoded track (getStats' audioLevel needs an audio device).
  try {
    const ctx = new AudioContext();
    analyser = ctx.createAnalyser();
    analyser.fftSize = 1024;
    ctx.createMediaStreamSource(new MediaStream([track])).connect(analyser);
    ctx.resume();
  } catch (e) { analyser = null; }
}

function heardLevel() {
  if (!analyser) return 0;
  const buf = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(buf);
  let sum = 0;
  for (const x of buf) sum += x * x;
  return Math.sqrt(sum / buf.length);
}

async function poll() {
  if (!pc) return;
  const report = await pc.getStats();
  const codecs = {};
  report.forEach((s) => { if (s.type === "codec") codecs[s.id] = s.mimeType; });
  report.forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") {
      stats.framesDecoded = s.framesDecoded || 0;
      stats.framesDropped = s.framesDropped || 0;
      stats.frameWidth = s.frameWidth || 0;
      stats.frameHeight = s.frameHeight || 0;
      stats.framesPerSecond = s.framesPerSecond || 0;
      stats.codec = codecs[s.codecId] || stats.codec;
    } else if (s.kind === "audio") {
      stats.audioLevel = s.audioLevel || 0;
      stats.maxAudioLevel = Math.max(stats.maxAudioLevel, stats.audioLevel);
      stats.totalAudioEnergy = s.totalAudioEnergy || 0;
      stats.audioPacketsReceived = s.packetsReceived || 0;
    }
  });
  stats.heardLevel = heardLevel();
  stats.maxHeardLevel = Math.max(stats.maxHeardLevel, stats.heardLevel);
  stats.muted = video.muted;
}

unmute.onclick = () => { video.muted = false; unmute.hidden = true; };

// ---- optional: publish the microphone (WHIP) ----
const pubStreamId = q.get("PublishStreamId");
const pubToken = q.get("PublishToken") || "";
const micButton = document.getElementById("mic");
const pubStats = (window.dhPublish = { state: "off", error: null, packetsSent: 0 });
let pubPc = null;
let pubResource = null;

async function startMic() {
  const media = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
  pubPc = new RTCPeerConnection({ iceServers: [] });
  for (const track of media.getAudioTracks()) pubPc.addTransceiver(track, { direction: "sendonly" });
  pubPc.onconnectionstatechange = () => { pubStats.state = pubPc.connectionState; };
  await pubPc.setLocalDescription(await pubPc.createOffer());
  await waitForIce(pubPc, 2000);
  const url = `/whip/${encodeURIComponent(roomId)}/${encodeURIComponent(pubStreamId)}`;
  const res = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", "Authorization": `Bearer ${pubToken}` },
    body: pubPc.localDescription.sdp,
  });
  if (res.status !== 201) throw new Error(`WHIP ${res.status}: ${await res.text()}`);
  pubResource = new URL(res.headers.get("Location"), location.href).href;
  await pubPc.setRemoteDescription({ type: "answer", sdp: await res.text() });
  micButton.textContent = "Microphone off";
}

async function stopMic() {
  if (pubResource) {
    await fetch(pubResource, { method: "DELETE", headers: { "Authorization": `Bearer ${pubToken}` } });
    pubResource = null;
  }
  if (pubPc) { pubPc.getSenders().forEach((s) => s.track && s.track.stop()); pubPc.close(); pubPc = null; }
  pubStats.state = "off";
  micButton.textContent = "Microphone";
}

if (pubStreamId) {
  micButton.hidden = false;
  micButton.onclick = () => {
    const action = pubPc ? stopMic() : startMic();
    action.catch((e) => { pubStats.error = String(e); pubStats.state = "failed"; });
  };
  setInterval(async () => {
    if (!pubPc) return;
    (await pubPc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp") pubStats.packetsSent = s.packetsSent || 0;
    });
  }, 250);
}
addEventListener("pagehide", () => {
  if (resource) fetch(resource, { method: "DELETE", keepalive: true,
    headers: { "Authorization": `Bearer ${token}` } });
  if (pubResource) fetch(pubResource, { method: "DELETE", keepalive: true,
    headers: { "Authorization": `Bearer ${pubToken}` } });
});
setInterval(poll, 250);
start().catch((e) => { stats.error = String(e); stats.state = "failed"; setStatus(String(e)); });
