/** Per-stage timing and counts of a camera pipeline. */
export interface StageTotals {
  /**
   * Waiting for the next decoded frame (files run flat out: the decoder's pace), and one event-loop turn for the
   * camera's bytes that arrived during the stages (pipe reads, copies into the next frame).
   */
  decode: number;
  motion: number;
  detect: number;
  track: number;
  thumbnail: number;
}

export interface PipelineStats {
  camera: string;
  frames: number;
  motion_frames: number;
  /** Frames on which the detector ran (a frame with several regions counts once). */
  detect_frames: number;
  /** Model runs (one per region). */
  detector_runs: number;
  /** Distinct events announced. */
  events: number;
  messages: number;
  /** Total ms per stage. */
  total_ms: StageTotals;
  /** ms per frame per stage (over all frames). */
  ms_per_frame: StageTotals;
  /** Detector internals, total ms: letterbox, session.run, decode+NMS. */
  detector_ms: { preprocess: number; run: number; postprocess: number };
  /** (preprocess + postprocess) / run, in percent. */
  detector_overhead_pct: number;
  /** Most raw picture bytes the thumbnail store held at once (crops of live tracks + frames of announced events). */
  picture_bytes_peak: number;
  /** Most tracks alive at once (announced or not). */
  live_tracks_peak: number;
  /** Detections dropped by the object filter (masks, size and shape limits), before tracking. */
  detections_filtered: number;
  /** Review items ended so far, by severity (an item upgraded to alert counts as an alert); 0 without review. */
  review_items: { alert: number; detection: number };
}

export function emptyTotals(): StageTotals {
  return { decode: 0, motion: 0, detect: 0, track: 0, thumbnail: 0 };
}

export function perFrame(t: StageTotals, frames: number): StageTotals {
  const f = Math.max(1, frames);
  const r = (v: number) => Math.round((v / f) * 1000) / 1000;
  return {
    decode: r(t.decode),
    motion: r(t.motion),
    detect: r(t.detect),
    track: r(t.track),
    thumbnail: r(t.thumbnail),
  };
}
