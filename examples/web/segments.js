// The speech segments of ser_keras/serving/timeline.py (`speech_segments`): where a long recording is
// scored, one answer per segment. The same frames, thresholds and joins; tests/test_web_checks.py pins the
// two to each other on the same samples. No browser API here: Node runs it too.
import { percentile } from "./quality.js";

export const NOISE_MARGIN_DB = 15;
export const QUIETEST_SPEECH_DBFS = -60;
export const SPLIT_FRAME = 2048;
export const SPLIT_HOP = 512;

// librosa.feature.rms of the centred, zero-padded signal: one value per hop, 1 + floor(n / hop) of them.
export function frameRms(y, frameLength = SPLIT_FRAME, hopLength = SPLIT_HOP) {
  const half = frameLength / 2;
  const nFrames = 1 + Math.floor(y.length / hopLength);
  const rms = new Float64Array(nFrames);
  for (let t = 0; t < nFrames; t++) {
    let sum = 0;
    const end = Math.min(t * hopLength - half + frameLength, y.length);
    for (let i = Math.max(t * hopLength - half, 0); i < end; i++) sum += y[i] * y[i];
    rms[t] = Math.sqrt(sum / frameLength);
  }
  return rms;
}

// numpy's round: halves to even.
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// timeline.speech_segments: [start, end) sample spans that hold speech, in order.
export function speechSegments(y, sr, { topDb = 40, minGap = 0.3, minDuration = 0.5, maxSeconds = 4 } = {}) {
  const rms = frameRms(y);
  const db = Array.from(rms, (r) => 20 * Math.log10(Math.max(r, 1e-5)));
  const loudest = Math.max(...db);
  const threshold = Math.max(Math.min(loudest - topDb, percentile(db, 10) + NOISE_MARGIN_DB), QUIETEST_SPEECH_DBFS);
  const reference = 10 ** ((threshold + topDb) / 20);
  const floor = 20 * Math.log10(Math.max(reference, 1e-5)) - topDb;
  const intervals = [];
  for (let t = 0; t < db.length; t++) {
    if (db[t] > floor && (t === 0 || db[t - 1] <= floor)) intervals.push([Math.min(t * SPLIT_HOP, y.length), 0]);
    if (db[t] > floor && (t === db.length - 1 || db[t + 1] <= floor)) {
      intervals[intervals.length - 1][1] = Math.min((t + 1) * SPLIT_HOP, y.length);
    }
  }
  const joined = [];
  for (const [start, end] of intervals) {
    if (joined.length && start - joined[joined.length - 1][1] < minGap * sr) joined[joined.length - 1][1] = end;
    else joined.push([start, end]);
  }
  const spans = [];
  for (const [start, end] of joined) {
    if (end - start < minDuration * sr) continue;
    const parts = Math.ceil((end - start) / (maxSeconds * sr));
    const step = (end - start) / parts; // numpy.linspace's arithmetic, its last point the end itself
    const edges = Array.from({ length: parts + 1 }, (_, i) => roundHalfEven(i === parts ? end : i * step + start));
    for (let i = 0; i < parts; i++) spans.push([edges[i], edges[i + 1]]);
  }
  return spans;
}
