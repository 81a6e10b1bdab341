import * as ort from 'onnxruntime-node';
import { binding, initOrt } from 'onnxruntime-node/dist/binding.js';

/**
 * The motion model's onnxruntime session, run synchronously.
 *
 * onnxruntime-node's `InferenceSession.run` is a synchronous native call that it defers to a `setImmediate` and
 * wraps in a promise. For the detector (milliseconds a run) that costs nothing; for the motion model (about 0.15 ms)
 * the deferral hands the event loop over in the middle of every frame's motion stage: the camera's pipe reads,
 * their copies and timers then run inside it, and the run waits behind them. This calls the same native session
 * directly (the binding onnxruntime-node's own backend uses), so a frame's motion is one uninterrupted call.
 *
 * The outputs are written into the preallocated `fetches` tensors, as with the public API. If the binding is not
 * shaped as expected (another onnxruntime-node version), the public asynchronous session is used instead.
 */
export interface MotionSession {
  /** Runs the model; the outputs land in `fetches`. Synchronous unless this is the fallback session. */
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, ort.Tensor>): void | Promise<void>;
  /** Called once (MotionDetector.close). */
  release(): Promise<void>;
}

interface NativeSession {
  loadModel(path: string, options: ort.InferenceSession.SessionOptions): void;
  loadModel(buffer: ArrayBuffer, offset: number, length: number, options: ort.InferenceSession.SessionOptions): void;
  run(feeds: object, fetches: object, options: object): unknown;
  dispose(): void;
}

const RUN_OPTIONS = {};

function nativeAvailable(): boolean {
  const ctor = (binding as { InferenceSession?: unknown } | undefined)?.InferenceSession;
  const proto = typeof ctor === 'function' ? (ctor as { prototype?: Record<string, unknown> }).prototype : undefined;
  return (
    typeof initOrt === 'function' && ['loadModel', 'run', 'dispose'].every((m) => typeof proto?.[m] === 'function')
  );
}

export async function openMotionSession(
  model: string | Uint8Array,
  options: ort.InferenceSession.SessionOptions,
  prefer: 'synchronous' | 'public' = 'synchronous',
): Promise<MotionSession> {
  if (prefer === 'synchronous' && nativeAvailable()) {
    initOrt();
    const native = new binding.InferenceSession() as unknown as NativeSession;
    if (typeof model === 'string') native.loadModel(model, options);
    else native.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, options);
    return {
      run(feeds, fetches): void {
        native.run(feeds, fetches, RUN_OPTIONS);
      },
      async release(): Promise<void> {
        native.dispose();
      },
    };
  }
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model, options)
      : await ort.InferenceSession.create(model, options);
  return {
    async run(feeds, fetches): Promise<void> {
      await session.run(feeds, fetches);
    },
    release: () => session.release(),
  };
}
