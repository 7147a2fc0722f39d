// Runs an exported ser-keras waveform.tflite on a clip: decode, resample to the model's rate, mono, infer.
// The model's contract (README, "Serve it in an app") is its own `contract` output: float32 (1, n) in [-1, 1]
// at sample_rate, seconds_range long; no answer for silence or too little sound.
import { loadLiteRt, loadAndCompile, Tensor } from "@litertjs/core";

const MODEL = "model/waveform.tflite";

const status = document.getElementById("status");
const say = (text) => { status.textContent = text; };

// LiteRT.js cannot resize an input, so the page runs `serve_padded`: the clip zero-padded to the
// fixed length the signature takes, and how many samples are the clip.
async function run(model, samples, length) {
  const padded = new Float32Array(length);
  padded.set(samples.subarray(0, length));
  const inputs = {
    waveform: new Tensor(padded, [1, length]),
    samples: new Tensor(new Int32Array([Math.min(samples.length, length)]), [1]),
  };
  const outputs = await model.run("serve_padded", inputs);
  Object.values(inputs).forEach((tensor) => tensor.delete());
  const arrays = Object.fromEntries(Object.entries(outputs).map(([name, tensor]) => [name, tensor.toTypedArray()]));
  for (const tensor of Object.values(outputs)) tensor.delete();
  return arrays;
}

// The contract is data from a file someone handed the user: check every field the page reads.
function checkContract(contract) {
  const finite = (x, low, high) => typeof x === "number" && Number.isFinite(x) && x >= low && x <= high;
  const ok = contract && typeof contract === "object" && !Array.isArray(contract)
    && Array.isArray(contract.labels) && contract.labels.length >= 1 && contract.labels.length <= 64
    && contract.labels.every((label) => typeof label === "string" && /^[a-z][a-z _-]{0,31}$/.test(label))
    && Number.isInteger(contract.sample_rate) && contract.sample_rate >= 1000 && contract.sample_rate <= 384000
    && Array.isArray(contract.seconds_range) && contract.seconds_range.length === 2
    && contract.seconds_range.every((s) => finite(s, 0, 86400))
    && contract.seconds_range[0] <= contract.seconds_range[1]
    && ["min_confidence", "silence_peak", "min_sound_seconds"].every(
      (key) => contract[key] === undefined || finite(contract[key], 0, key === "min_sound_seconds" ? 86400 : 1))
    && (contract.max_distance === undefined || finite(contract.max_distance, 0, 1e6));
  if (!ok) throw new Error("the model's contract is damaged (labels, sample rate or lengths)");
  return contract;
}

async function load() {
  await loadLiteRt("./node_modules/@litertjs/core/wasm/");
  let model;
  try {
    model = await loadAndCompile(MODEL, { accelerator: "wasm" });
  } catch (error) {
    throw new Error(`no usable model at ${MODEL} (${error.message || error}); copy a run's waveform.tflite there`);
  }
  // The file describes itself: its `contract` output is UTF-8 JSON (labels, sample rate, lengths).
  const length = model.signatures.serve_padded.getInputDetails().find((d) => d.name === "waveform").shape[1];
  const { contract } = await run(model, new Float32Array(4096), length);
  return { model, length, contract: checkContract(JSON.parse(new TextDecoder().decode(contract))) };
}

async function decode(bytes, sampleRate) {
  // An OfflineAudioContext at the model's rate decodes and resamples in one step.
  const context = new OfflineAudioContext(1, 1, sampleRate);
  const audio = await context.decodeAudioData(bytes);
  const mono = new Float32Array(audio.length);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const channel = audio.getChannelData(c);
    for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / audio.numberOfChannels;
  }
  return mono;
}

async function predict({ model, length, contract }, samples) {
  const rate = contract.sample_rate;
  const [shortest, longest] = contract.seconds_range;
  if (samples.length < shortest * rate) throw new Error(`too short: under ${shortest} s`);
  let peak = 0;
  for (const s of samples) peak = Math.max(peak, Math.abs(s));
  if (peak < contract.silence_peak) throw new Error("silent: peak below -80 dBFS");
  const windowLength = Math.round(longest * rate); // longer audio: windows of `longest` s, averaged
  const total = new Float64Array(contract.labels.length);
  let windows = 0;
  let distance = 0; // how far the clip lies from the training speech (a file without it gives none)
  for (let start = 0; start === 0 || samples.length - start >= windowLength / 2; start += windowLength) {
    const outputs = await run(model, samples.subarray(start, start + windowLength), length);
    const sound = outputs.sound_seconds[0];
    if (sound < contract.min_sound_seconds) {
      throw new Error(`too little sound after trimming silence (${sound.toFixed(3)} s)`);
    }
    const p = Array.from(outputs.probabilities);
    const sum = p.reduce((a, b) => a + b, 0);
    if (p.length !== total.length || !p.every((x) => Number.isFinite(x) && x >= 0 && x <= 1) || !(Math.abs(sum - 1) <= 1e-3)) {
      throw new Error("the model gave no probabilities for this clip (NaN or out of range)");
    }
    p.forEach((x, i) => { total[i] += x; });
    const d = outputs.distance ? outputs.distance[0] : 0;
    if (!(Number.isFinite(d) && d >= 0)) throw new Error("the model gave no distance for this clip (NaN or negative)");
    distance += d;
    windows += 1;
  }
  const probabilities = Array.from(total, (p) => p / windows);
  const best = probabilities.indexOf(Math.max(...probabilities));
  distance /= windows;
  // far from the training speech: the answer means little, however confident (the contract's max_distance)
  const unfamiliar = contract.max_distance !== undefined && distance > contract.max_distance;
  const sure = !unfamiliar && probabilities[best] >= (contract.min_confidence ?? 0);
  const label = sure ? contract.labels[best] : "uncertain";
  return { label, bestGuess: contract.labels[best], probabilities, windows, distance, unfamiliar };
}

// Every piece of text from the model goes into the page as a text node, never as markup.
function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function show(contract, result) {
  const confidence = Math.max(...result.probabilities);
  const why = result.unfamiliar
    ? `unlike the speech the model was trained on: distance ${result.distance.toFixed(2)}, `
      + `95% of unseen speakers' clips are within ${contract.max_distance.toFixed(2)}`
    : `below ${contract.min_confidence.toFixed(2)}`;
  document.getElementById("emotion").textContent = result.label === "uncertain"
    ? `Not sure (best guess ${result.bestGuess} at ${confidence.toFixed(2)}, ${why})`
    : `Predicted emotion: ${result.label} (${confidence.toFixed(2)})`;
  const rows = contract.labels
    .map((label, i) => [label, result.probabilities[i]])
    .sort((a, b) => b[1] - a[1])
    .map(([label, p]) => {
      const row = document.createElement("tr");
      const bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${(200 * p).toFixed(0)}px`;
      const barCell = document.createElement("td");
      barCell.append(bar);
      row.append(cell(label), cell(p.toFixed(3)), barCell);
      return row;
    });
  document.getElementById("probabilities").replaceChildren(...rows);
  window.serKerasResult = result; // read by the browser test
}

async function score(state, bytes) {
  try {
    say("Scoring…");
    const samples = await decode(bytes, state.contract.sample_rate);
    const result = await predict(state, samples);
    show(state.contract, result);
    say(`${(samples.length / state.contract.sample_rate).toFixed(2)} s scored in ${result.windows} window(s).`);
  } catch (error) {
    window.serKerasResult = { error: String(error.message || error) };
    say(`Cannot score this audio: ${error.message || error}`);
  }
}

async function record(state) {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  const recorder = new MediaRecorder(stream);
  const chunks = [];
  recorder.ondataavailable = (event) => chunks.push(event.data);
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start();
  say("Recording…");
  setTimeout(() => recorder.stop(), 4000);
  await stopped;
  stream.getTracks().forEach((track) => track.stop());
  await score(state, await new Blob(chunks).arrayBuffer());
}

load().then((state) => {
  say(`Ready: ${state.contract.labels.join(", ")} at ${state.contract.sample_rate} Hz.`);
  window.serKerasReady = true;
  document.getElementById("file").addEventListener("change", async (event) => {
    const [file] = event.target.files;
    if (file) await score(state, await file.arrayBuffer());
  });
  document.getElementById("record").addEventListener("click", () => record(state).catch((e) => say(String(e))));
}).catch((error) => {
  window.serKerasResult = { error: String(error.message || error) };
  say(`Cannot load the model: ${error.message || error}`);
});
