// The microphone as 16 kHz int16 PCM frames: getUserMedia with echo cancellation and noise
// suppression (the avatar's voice from the speakers must not come back as "user speech"),
// an AudioWorklet that downsamples, and a level meter.

export class Microphone {
  constructor(onFrame) {
    this.onFrame = onFrame;
    this.ctx = null;
    this.stream = null;
    this.node = null;
    this.level = 0;
    this.muted = false;
  }

  // Throws a DOMException (NotAllowedError, NotFoundError...) when there is no microphone.
  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    this.ctx = new AudioContext();
    await this.ctx.audioWorklet.addModule(new URL("./pcm-worklet.js", import.meta.url));
    const source = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, "pcm-downsampler");
    this.node.port.onmessage = (e) => {
      const pcm = new Int16Array(e.data);
      let sum = 0;
      for (let i = 0; i < pcm.length; i += 4) sum += Math.abs(pcm[i]);
      this.level = sum / (pcm.length / 4) / 32768;
      if (!this.muted) this.onFrame(e.data);
    };
    source.connect(this.node);
    // Not connected to the destination: nothing of the microphone is played back.
    await this.ctx.resume();
  }

  setMuted(muted) {
    this.muted = muted;
    if (this.node) this.node.port.postMessage({ muted });
    if (this.stream) this.stream.getAudioTracks().forEach((tr) => { tr.enabled = !muted; });
  }

  stop() {
    if (this.stream) this.stream.getTracks().forEach((tr) => tr.stop());
    if (this.ctx) this.ctx.close().catch(() => {});
    this.stream = this.ctx = this.node = null;
  }
}
