// AudioWorklet: microphone samples at the context's rate → 16 kHz mono int16, posted to the
// main thread in 20 ms frames (320 samples). Downsampling averages each output sample's span
// of input samples (a box filter: cheap, and enough against aliasing for speech recognition).

class PcmDownsampler extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ratio = sampleRate / 16000;
    this.pos = 0;       // fractional read position of the next output sample, in input samples
    this.acc = 0;       // running sum and count of the current output sample's inputs
    this.n = 0;
    this.out = new Int16Array(320);
    this.fill = 0;
    this.muted = false;
    this.port.onmessage = (e) => { if ("muted" in e.data) this.muted = !!e.data.muted; };
  }

  process(inputs) {
    const input = inputs[0];
    if (!input || !input[0]) return true;
    const ch = input[0];
    for (let i = 0; i < ch.length; i++) {
      this.acc += this.muted ? 0 : ch[i];
      this.n++;
      this.pos += 1;
      if (this.pos >= this.ratio) {
        this.pos -= this.ratio;
        const v = Math.max(-1, Math.min(1, this.acc / this.n));
        this.out[this.fill++] = v < 0 ? v * 32768 : v * 32767;
        this.acc = 0;
        this.n = 0;
        if (this.fill === this.out.length) {
          this.port.postMessage(this.out.buffer, [this.out.buffer]);
          this.out = new Int16Array(320);
          this.fill = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor("pcm-downsampler", PcmDownsampler);
