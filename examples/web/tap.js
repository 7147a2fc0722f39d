// An AudioWorklet that hands the page each block of microphone samples (channel 0) as it arrives.
class Tap extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}

registerProcessor("tap", Tap);
