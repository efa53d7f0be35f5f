"use strict";
// Runs on the audio thread: hands each block of microphone samples (Float32, the context's rate) to the page,
// which converts them to 16-bit PCM for the socket.
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel && channel.length) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor("capture", Capture);
