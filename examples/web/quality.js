// The input checks of ser_keras/signal/quality.py, the same measurements and thresholds, for the page:
// is a clip like the speech the model was trained on? tests/test_web_checks.py pins the two to each other
// on the same samples. No browser API here: Node runs it too.

export const FRAME_SECONDS = 0.032;
export const HOP_SECONDS = 0.016;
export const HIGH_BAND_HZ = 4000;
export const MIN_HIGH_BAND_DB = -40;
export const MAX_CLIPPED_FRACTION = 1e-4;
export const CLIP_PEAK = 0.9;
export const MIN_SPEECH_DBFS = -48;
export const MIN_SNR_DB = 20;
export const SOUND_DB = 40;
export const VOICING_THRESHOLD = 0.5;
export const MIN_VOICED_SECONDS = 0.1;
export const LONG_SECONDS = 10;

// numpy.percentile's default (linear) of an array of numbers.
export function percentile(values, q) {
  const sorted = Float64Array.from(values).sort();
  const position = (q / 100) * (sorted.length - 1);
  const below = Math.floor(position);
  const above = Math.min(below + 1, sorted.length - 1);
  return sorted[below] + (sorted[above] - sorted[below]) * (position - below);
}

// quality.measure: the figures the checks compare with their thresholds, for a mono clip `y` at `sr`.
export function measure(y, sr) {
  const length = Math.max(16, Math.round(FRAME_SECONDS * sr));
  const hop = Math.max(1, Math.round(HOP_SECONDS * sr));
  let signal = Float64Array.from(y);
  if (signal.length < length) {
    const padded = new Float64Array(length);
    padded.set(signal);
    signal = padded;
  }
  const nFrames = Math.floor((signal.length - length) / hop) + 1;
  const frame = (f) => signal.subarray(f * hop, f * hop + length);
  const levelDb = new Float64Array(nFrames);
  for (let f = 0; f < nFrames; f++) {
    let sum = 0;
    for (const x of frame(f)) sum += x * x;
    levelDb[f] = 10 * Math.log10(Math.max(sum / length, 1e-20));
  }
  const loudest = Math.max(...levelDb);
  const sound = [];
  levelDb.forEach((db, f) => { if (db >= loudest - SOUND_DB) sound.push(f); });
  const soundSeconds = sound.length ? ((sound[sound.length - 1] - sound[0]) * hop + length) / sr : 0;

  // the sound frames' power spectrum (periodic Hann window), by a direct DFT: above HIGH_BAND_HZ over all but DC
  const bins = Math.floor(length / 2) + 1;
  const window = Float64Array.from({ length }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / length));
  const cos = new Float64Array(length);
  const sin = new Float64Array(length);
  for (let i = 0; i < length; i++) {
    cos[i] = Math.cos((2 * Math.PI * i) / length);
    sin[i] = Math.sin((2 * Math.PI * i) / length);
  }
  const hasHighBand = sr > 2 * HIGH_BAND_HZ * 1.05;
  let total = 0;
  let high = 0;
  const windowed = new Float64Array(length);
  for (const f of sound) {
    const x = frame(f);
    for (let i = 0; i < length; i++) windowed[i] = x[i] * window[i];
    for (let k = 1; k < bins; k++) {
      let re = 0;
      let im = 0;
      for (let i = 0, phase = 0; i < length; i++, phase = (phase + k) % length) {
        re += windowed[i] * cos[phase];
        im -= windowed[i] * sin[phase];
      }
      const power = re * re + im * im;
      total += power;
      if (hasHighBand && (k * sr) / length > HIGH_BAND_HZ) high += power;
    }
  }
  const highBandDb = high > 0 && total > 0 ? 10 * Math.log10(high / total) : -Infinity;

  let peak = 0;
  for (const x of y) peak = Math.max(peak, Math.abs(x));
  let clipped = 0;
  if (peak >= CLIP_PEAK) {
    for (const x of y) if (Math.abs(x) >= 0.98 * peak) clipped += 1;
    clipped /= y.length;
  }

  // voicing: each sound frame's normalised autocorrelation at the lags of 60-500 Hz
  const lowLag = Math.floor(sr / 500);
  const highLag = Math.min(Math.floor(sr / 60), length - 1);
  let voiced = 0;
  if (highLag > lowLag && sound.length) {
    const centred = new Float64Array(length);
    for (const f of sound) {
      const x = frame(f);
      let mean = 0;
      for (const v of x) mean += v;
      mean /= length;
      for (let i = 0; i < length; i++) centred[i] = x[i] - mean;
      let energy = 0;
      for (const v of centred) energy += v * v;
      energy = Math.max(energy, 1e-20);
      let best = -Infinity;
      for (let lag = lowLag; lag <= highLag; lag++) {
        let sum = 0;
        for (let i = 0; i + lag < length; i++) sum += centred[i] * centred[i + lag];
        best = Math.max(best, sum / energy / ((length - lag) / length));
      }
      if (best > VOICING_THRESHOLD) voiced += 1;
    }
  }
  const p95 = percentile(levelDb, 95);
  return {
    high_band_db: highBandDb,
    clipped_fraction: clipped,
    speech_dbfs: p95 + 3.0103,
    snr_db: p95 - percentile(levelDb, 10),
    sound_seconds: soundSeconds,
    voiced_seconds: (voiced * hop) / sr,
  };
}

// quality.input_warnings: one short phrase per problem found (the Python phrases, word for word).
export function inputWarnings(y, sr, shortestSpeech) {
  const figures = measure(y, sr);
  const found = [];
  const kHz = HIGH_BAND_HZ / 1000;
  if (figures.voiced_seconds < MIN_VOICED_SECONDS) found.push("no speech found: no voiced sound");
  if (figures.high_band_db < MIN_HIGH_BAND_DB) {
    found.push(figures.high_band_db < -90
      ? `band-limited: nothing above ${kHz} kHz (telephone or 8 kHz audio?)`
      : `band-limited: ${figures.high_band_db.toFixed(0)} dB above ${kHz} kHz (telephone or 8 kHz audio?)`);
  }
  if (figures.speech_dbfs < MIN_SPEECH_DBFS) {
    found.push(`very quiet: speech at ${figures.speech_dbfs.toFixed(0)} dBFS`);
  } else if (figures.snr_db < MIN_SNR_DB && figures.voiced_seconds >= MIN_VOICED_SECONDS) {
    found.push(`noisy: loudest parts only ${figures.snr_db.toFixed(0)} dB above the quietest`);
  }
  if (shortestSpeech !== undefined && figures.sound_seconds < shortestSpeech) {
    found.push(`short: ${figures.sound_seconds.toFixed(2)} s of sound, less than any training clip `
      + `(${shortestSpeech.toFixed(2)} s)`);
  }
  if (figures.clipped_fraction > MAX_CLIPPED_FRACTION) {
    found.push(`clipped: ${Number((100 * figures.clipped_fraction).toPrecision(3))} % of samples at the peak`);
  }
  if (y.length > LONG_SECONDS * sr) {
    found.push(`long: over ${LONG_SECONDS} s, so one answer mixes its parts (score it by segments)`);
  }
  return found;
}
