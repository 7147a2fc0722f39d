// Runs an exported ser-keras waveform.tflite on a clip: decode, resample to the model's rate, mono, infer.
// The model's contract (README, "Serve it in an app") is its own `contract` output: float32 (1, n) in [-1, 1]
// at sample_rate, seconds_range long; no answer for silence or too little sound. As the CLI and the
// Streamlit page do, the page says why a clip is unlike the training speech (quality.js), answers "Not sure"
// below the model's threshold or far from its training speech, and scores a recording longer than
// LONG_SECONDS by speech segments (segments.js); the microphone gets a rolling answer every second.
import { loadLiteRt, loadAndCompile, Tensor } from "@litertjs/core";
import { inputWarnings, LONG_SECONDS } from "./quality.js";
import { speechSegments } from "./segments.js";

const MODEL = "model/waveform.tflite";
// Optional, beside the model: the run's run.json (its shortest training clip) and the weights' LICENSE.
const RUN = "model/run.json";
const LICENSE = "model/LICENSE";
// Every model card's limit on use (ser_keras/runs/model_card.py, LIMITATIONS), under every model.
const NOT_FOR = "Not for clinical, diagnostic or mental-health use, and not for decisions about people (hiring, "
  + "education, policing, insurance, credit), nor for monitoring people who have not agreed to it.";
// The microphone: an answer every ROLLING_EVERY s over the last ROLLING_SECONDS s, for at most RECORD_SECONDS.
const ROLLING_SECONDS = 3;
const ROLLING_EVERY = 1;
const RECORD_SECONDS = 30;
// matplotlib's tab10, in label order: the colours of the Streamlit page's and the CLI's timelines.
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf"];

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

// The model's bytes, with the share received so far on the page.
async function fetchModel() {
  const response = await fetch(MODEL);
  if (!response.ok) throw new Error(`no model at ${MODEL} (HTTP ${response.status}); copy a run's waveform.tflite there`);
  const total = Number(response.headers.get("Content-Length")) || 0;
  const reader = response.body.getReader();
  const parts = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    say(total ? `Loading the model… ${Math.round((100 * received) / total)} % of ${(total / 1e6).toFixed(1)} MB`
      : `Loading the model… ${(received / 1e6).toFixed(1)} MB`);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const part of parts) { bytes.set(part, offset); offset += part.length; }
  return bytes;
}

// The run's shortest training clip (s), when its run.json is beside the model and says so.
async function shortestTrainingClip() {
  try {
    const response = await fetch(RUN);
    if (!response.ok) return undefined;
    const shortest = (await response.json())?.input_range?.shortest_sound_seconds;
    return typeof shortest === "number" && Number.isFinite(shortest) && shortest > 0 && shortest < 3600
      ? shortest : undefined;
  } catch {
    return undefined; // no file, or not JSON: no such check, as the CLI without input_range
  }
}

async function showTerms() {
  const terms = document.getElementById("terms");
  terms.replaceChildren(NOT_FOR);
  const response = await fetch(LICENSE, { method: "HEAD" }).catch(() => null);
  if (response?.ok) {
    const link = document.createElement("a");
    link.href = LICENSE;
    link.textContent = "the model's licence";
    terms.append(" Its weights come with their own terms: read ", link, " before you use them.");
  }
}

async function load() {
  say("Loading the runtime…");
  await loadLiteRt("./node_modules/@litertjs/core/wasm/");
  const bytes = await fetchModel();
  let model;
  try {
    model = await loadAndCompile(bytes, { accelerator: "wasm" });
  } catch (error) {
    throw new Error(`${MODEL} is not a usable model (${error.message || error}); copy a run's waveform.tflite there`);
  }
  // The file describes itself: its `contract` output is UTF-8 JSON (labels, sample rate, lengths).
  const length = model.signatures.serve_padded.getInputDetails().find((d) => d.name === "waveform").shape[1];
  const { contract } = await run(model, new Float32Array(4096), length);
  const checked = checkContract(JSON.parse(new TextDecoder().decode(contract)));
  return { model, length, contract: checked, shortest: await shortestTrainingClip() };
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

// One answer for a clip: its windows' mean probabilities, "uncertain" below the threshold or far from the
// training speech, and why the clip is unlike that speech.
async function predict({ model, length, contract, shortest }, samples) {
  const rate = contract.sample_rate;
  const [shortestWindow, longest] = contract.seconds_range;
  if (samples.length < shortestWindow * rate) throw new Error(`too short: under ${shortestWindow} s`);
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
  const warnings = inputWarnings(samples, rate, shortest);
  if (unfamiliar) {
    warnings.push(`unlike the speech the model was trained on: distance ${distance.toFixed(2)} from its training `
      + `clips (95% of clips of speakers it never met are within ${contract.max_distance.toFixed(2)})`);
  }
  return { label, bestGuess: contract.labels[best], probabilities, windows, distance, unfamiliar, warnings };
}

// A long recording: one answer per speech segment (timeline.predict_timeline's segments and rows).
async function predictSegments(state, samples) {
  const rate = state.contract.sample_rate;
  const shortest = Math.max(state.contract.seconds_range[0], 0.5);
  const spans = speechSegments(samples, rate, { minDuration: shortest, maxSeconds: Math.max(4, shortest) });
  if (!spans.length) throw new Error(`no segment of at least ${shortest} s to score`);
  const rows = [];
  for (const [start, end] of spans) {
    const row = { start: start / rate, end: end / rate };
    try {
      const result = await predict(state, samples.subarray(start, end));
      rows.push({ ...row, label: result.label, probabilities: result.probabilities });
    } catch (error) {
      rows.push({ ...row, label: null, warning: `not scored: ${error.message || error}` });
    }
  }
  return rows;
}

// Every piece of text from the model goes into the page as a text node, never as markup.
function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function showWarnings(warnings) {
  const items = warnings.map((problem) => {
    const item = document.createElement("li");
    item.textContent = `This clip is unlike the speech the model was trained on: ${problem}`;
    return item;
  });
  document.getElementById("warnings").replaceChildren(...items);
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
  showWarnings(result.warnings);
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
}

// The timeline: a strip coloured by each segment's emotion over `seconds`, and one row per segment.
function showTimeline(contract, rows, seconds) {
  const colour = (label) => (label && label !== "uncertain" ? COLOURS[contract.labels.indexOf(label) % 10] : "#ddd");
  const strip = document.getElementById("strip");
  strip.replaceChildren(...rows.map((row) => {
    const span = document.createElement("div");
    const start = row.newest ?? row.start; // a rolling answer colours the second it added
    span.style.left = `${(100 * start) / seconds}%`;
    span.style.width = `${(100 * (row.end - start)) / seconds}%`;
    span.style.background = colour(row.label);
    span.title = `${row.start.toFixed(1)}-${row.end.toFixed(1)} s ${row.label ?? "not scored"}`;
    return span;
  }));
  const table = rows.map((row) => {
    const tr = document.createElement("tr");
    const confidence = row.probabilities ? Math.max(...row.probabilities).toFixed(2) : "";
    const swatch = document.createElement("td");
    swatch.className = "swatch";
    swatch.style.background = colour(row.label);
    tr.append(swatch, cell(`${row.start.toFixed(1)}-${row.end.toFixed(1)} s`), cell(row.label ?? "not scored"),
      cell(confidence), cell(row.warning ?? ""));
    return tr;
  });
  document.getElementById("timeline").replaceChildren(...table);
}

function clear() {
  for (const id of ["emotion", "warnings", "probabilities", "strip", "timeline"]) {
    document.getElementById(id).replaceChildren();
  }
}

async function score(state, bytes) {
  try {
    clear();
    say("Scoring…");
    const rate = state.contract.sample_rate;
    const samples = await decode(bytes, rate);
    const seconds = samples.length / rate;
    if (seconds > LONG_SECONDS) { // one answer would mix its parts: one per speech segment
      const rows = await predictSegments(state, samples);
      document.getElementById("emotion").textContent
        = `A long recording (${seconds.toFixed(1)} s): one answer per speech segment`;
      showTimeline(state.contract, rows, seconds);
      window.serKerasResult = { segments: rows };
      say(`${seconds.toFixed(2)} s scored in ${rows.length} speech segment(s).`);
      return;
    }
    const result = await predict(state, samples);
    show(state.contract, result);
    window.serKerasResult = result; // read by the browser test
    say(`${seconds.toFixed(2)} s scored in ${result.windows} window(s).`);
  } catch (error) {
    window.serKerasResult = { error: String(error.message || error) };
    say(`Cannot score this audio: ${error.message || error}`);
  }
}

// The microphone, at the model's rate: every second an answer for the last three, the timeline growing;
// at Stop (or after RECORD_SECONDS) the whole recording is scored as a file is.
async function listen(state, button) {
  const rate = state.contract.sample_rate;
  const context = new AudioContext({ sampleRate: rate });
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  await context.audioWorklet.addModule("tap.js");
  const tap = new AudioWorkletNode(context, "tap");
  const blocks = [];
  let received = 0;
  tap.port.onmessage = (event) => { blocks.push(event.data); received += event.data.length; };
  context.createMediaStreamSource(stream).connect(tap);
  const recording = () => {
    const all = new Float32Array(received);
    let offset = 0;
    for (const block of blocks) { all.set(block, offset); offset += block.length; }
    return all;
  };
  clear();
  const rows = [];
  let busy = false;
  const rolling = setInterval(async () => {
    if (busy) return; // a slow device skips a beat rather than queueing answers
    busy = true;
    const all = recording();
    const start = Math.max(0, all.length - ROLLING_SECONDS * rate);
    const row = { start: start / rate, end: all.length / rate, newest: Math.max(0, all.length / rate - ROLLING_EVERY) };
    try {
      const result = await predict(state, all.subarray(start));
      rows.push({ ...row, label: result.label, probabilities: result.probabilities });
      show(state.contract, result);
    } catch (error) {
      rows.push({ ...row, label: null, warning: `not scored: ${error.message || error}` });
    }
    showTimeline(state.contract, rows, Math.max(all.length / rate, ROLLING_SECONDS));
    window.serKerasRolling = rows;
    say(`Listening… ${(all.length / rate).toFixed(0)} s (an answer every second for the last ${ROLLING_SECONDS} s)`);
    busy = false;
  }, ROLLING_EVERY * 1000);
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, RECORD_SECONDS * 1000);
    button.textContent = "Stop";
    button.onclick = () => { clearTimeout(timer); resolve(); };
  });
  clearInterval(rolling);
  stream.getTracks().forEach((track) => track.stop());
  await context.close();
  button.textContent = "Listen";
  armListen(state, button);
  const all = recording();
  const wav = encodeWav(all, rate);
  await score(state, wav);
}

// The Listen button starts listening; a failure (no microphone, permission refused) is said on the page.
function armListen(state, button) {
  button.onclick = () => listen(state, button).catch((e) => say(`Cannot listen: ${e.message || e}`));
}

// 16-bit PCM WAV bytes of a mono recording, so that it is scored exactly as a file is.
function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + 2 * samples.length);
  const view = new DataView(buffer);
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * samples.length, true); text(8, "WAVEfmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * samples.length, true);
  samples.forEach((x, i) => view.setInt16(44 + 2 * i, Math.round(32767 * Math.max(-1, Math.min(1, x))), true));
  return buffer;
}

showTerms();
load().then((state) => {
  say(`Ready: ${state.contract.labels.join(", ")} at ${state.contract.sample_rate} Hz.`);
  window.serKerasReady = true;
  document.getElementById("file").addEventListener("change", async (event) => {
    const [file] = event.target.files;
    if (file) await score(state, await file.arrayBuffer());
  });
  const button = document.getElementById("listen");
  button.disabled = false;
  armListen(state, button);
}).catch((error) => {
  window.serKerasResult = { error: String(error.message || error) };
  say(`Cannot load the model: ${error.message || error}`);
});
