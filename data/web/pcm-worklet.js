// SPDX-License-Identifier: MIT
// The microphone's audio as 16-bit PCM: an AudioWorklet that converts each block of mono
// float samples (at the AudioContext's rate) to s16le and posts it to the page, which sends
// it over the WebSocket in frames of about 100 ms.
class PcmWorklet extends AudioWorkletProcessor {
  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length > 0) {
      const n = channels[0].length;
      const pcm = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (const c of channels) sum += c[i];
        const v = Math.max(-1, Math.min(1, sum / channels.length));
        pcm[i] = v < 0 ? v * 32768 : v * 32767;
      }
      this.port.postMessage(pcm.buffer, [pcm.buffer]);
    }
    return true;
  }
}
registerProcessor('pcm-worklet', PcmWorklet);
