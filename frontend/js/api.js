// Calls to the server's /web routes. `base` is "" on the server's own pages and the server's
// origin for the widget on a third-party page.

export async function getJson(url, opts = {}) {
  const res = await fetch(url, { credentials: "same-origin", ...opts });
  let body = null;
  try { body = await res.json(); } catch (e) { body = { Code: res.status, Message: res.statusText }; }
  if (!res.ok || (body && body.Code !== undefined && body.Code !== 0)) {
    const err = new Error((body && body.Message) || `HTTP ${res.status}`);
    err.status = res.status;
    err.code = body && body.Code;
    throw err;
  }
  return body;
}

export function postJson(url, data, headers = {}) {
  return getJson(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(data || {}),
  });
}

export const config = (base = "") => getJson(`${base}/web/config`);

// H.264 where the browser decodes it in WebRTC (Safari prefers it), else VP8 (e.g. a Firefox
// without the OpenH264 plugin).
export function preferredCodec() {
  try {
    const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video");
    if (caps && !caps.codecs.some((c) => /h264/i.test(c.mimeType))) return "VP8";
  } catch (e) { /* older browsers: keep the default */ }
  return "H264";
}

export async function startSession(body, base = "") {
  return (await postJson(`${base}/web/session`, { Codec: preferredCodec(), ...body })).Data;
}

export function endSession(instanceId, base = "") {
  // sendBeacon survives the page closing; a plain fetch is the fallback.
  const url = `${base}/web/session/end`;
  const blob = new Blob([JSON.stringify({ AgentInstanceId: instanceId })], { type: "application/json" });
  if (navigator.sendBeacon && navigator.sendBeacon(url, blob)) return;
  fetch(url, { method: "POST", body: blob, keepalive: true }).catch(() => {});
}

export async function say(instanceId, text, base = "") {
  return postJson(`${base}/web/session/say`, { AgentInstanceId: instanceId, Text: text });
}
