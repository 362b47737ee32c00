"""How stream tasks reach people: WebRTC out (WHEP viewers, WHIP push), RTMP push, and live
audio in (WHIP publish, the WebSocket drive protocol).

- `http`: the routes (POST/DELETE /whep, /whip, the /ws drive socket, /play), mounted by the
  API app; `hub.TransportHub` (at `app.state.transport`) holds what they share.
- `tokens`: short-lived HMAC bearer tokens (play, publish, drive) under the server secret.
- `webrtc`: `StreamOutput`, the one MediaSink of a watched task, and `WebRTCViewer`, one
  aiortc peer (a WHEP viewer, or a WHIP push to an SFU); `tracks` and `encode` feed aiortc from
  the task's clock; `workers` moves the viewers into media processes (`DH_MEDIA_WORKERS`).
- `publish`: WHIP ingest of microphones and `RtcAudioSource` (DriveByRTCStream);
  `ws_drive`: the WebSocket drive protocol (DriveByWsStream); `rtmp`: RTMP push.
- `ice`: `DH_ICE_HOST_ADDRESSES` and no default STUN server; `client`: WHEP/WHIP clients;
  `pattern` and `testing`: a test-pattern task and helpers for tests and benchmarks.
"""
