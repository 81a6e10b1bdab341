import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ErrorNotice } from '../components/error-notice.js';
import { formatWhen, humanName } from '../format.js';
import type { SnapshotOutcome, SnapshotProblem, SnapshotProgress } from './snapshot-outcome.js';
import { takeSnapshot } from './snapshot.js';

/**
 * One camera of a box on the Devices screen, for an admin: its row (`children`) with a "Snapshot" button that asks
 * the box what the camera sees now (./snapshot.ts), says how far the command got, then shows the JPEG inline or
 * why there is none (the API's code and message).
 */
type View =
  | { phase: 'idle' }
  | { phase: SnapshotProgress }
  | { phase: 'ended'; outcome: SnapshotOutcome }
  | { phase: 'error'; error: unknown };

const PROGRESS_TEXT: Record<SnapshotProgress, string> = {
  sending: 'Asking the box…',
  queued: 'Waiting for the box to take the command…',
  delivered: 'The box has the command; waiting for the picture…',
};

function Problem({ p }: { p: SnapshotProblem }): JSX.Element {
  return (
    <div class="notice notice-error" role="alert">
      <p class="notice-message">{p.title}</p>
      {p.message && <p>{p.message}</p>}
      <p class="notice-meta">
        {p.code && <span>Code: {p.code}</span>}
        {p.reason && p.reason !== p.code && <span> · Reason: {p.reason}</span>}
        <span>
          {p.code ? ' · ' : ''}Command: <code>{p.commandId}</code>
        </span>
      </p>
    </div>
  );
}

function Picture({ o, onError }: { o: Extract<SnapshotOutcome, { ok: true }>; onError: () => void }): JSX.Element {
  const name = humanName(o.camera);
  return (
    <figure class="snapshot-picture">
      <img
        src={o.url}
        alt={`What ${name} sees now`}
        {...(o.width && o.height ? { width: o.width, height: o.height } : {})}
        decoding="async"
        onError={onError}
      />
      <figcaption>
        {name}
        {o.capturedAt ? `, ${formatWhen(o.capturedAt)}` : ''}
        {o.width && o.height ? ` · ${o.width}×${o.height}` : ''}
      </figcaption>
    </figure>
  );
}

export function CameraSnapshot({
  deviceId,
  camera,
  children,
}: {
  deviceId: string;
  camera: string;
  children: ComponentChildren;
}): JSX.Element {
  const [view, setView] = useState<View>({ phase: 'idle' });
  const [broken, setBroken] = useState(false);
  const running = useRef<AbortController | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  useEffect(() => () => running.current?.abort(), []);
  const name = humanName(camera);
  const busy = view.phase === 'sending' || view.phase === 'queued' || view.phase === 'delivered';

  const ask = async (): Promise<void> => {
    running.current?.abort();
    const ctl = new AbortController();
    running.current = ctl;
    setBroken(false);
    try {
      const outcome = await takeSnapshot(deviceId, camera, {
        signal: ctl.signal,
        onProgress: (phase) => setView({ phase }),
      });
      setView({ phase: 'ended', outcome });
    } catch (error) {
      if (!ctl.signal.aborted) setView({ phase: 'error', error });
    }
  };

  const hide = (): void => {
    setView({ phase: 'idle' });
    button.current?.focus(); // the Hide button goes away: the keyboard stays on this camera
  };

  return (
    <li class="camera" data-camera={camera}>
      <div class="camera-row">
        {children}
        <button
          type="button"
          ref={button}
          class="button button-small camera-snapshot"
          disabled={busy}
          aria-busy={busy}
          onClick={() => void ask()}
        >
          Snapshot<span class="visually-hidden"> of {name}</span>
        </button>
      </div>
      {busy && (
        <p class="muted small snapshot-progress" role="status">
          {PROGRESS_TEXT[view.phase]}
        </p>
      )}
      {view.phase === 'error' && <ErrorNotice error={view.error} />}
      {view.phase === 'ended' && !view.outcome.ok && <Problem p={view.outcome} />}
      {view.phase === 'ended' && view.outcome.ok && (
        <div class="snapshot">
          {broken ? (
            <p class="notice notice-error" role="alert">
              The picture could not be loaded. Command: <code>{view.outcome.commandId}</code>
            </p>
          ) : (
            <Picture o={view.outcome} onError={() => setBroken(true)} />
          )}
          <button type="button" class="button button-small button-quiet" onClick={hide}>
            Hide<span class="visually-hidden"> the snapshot of {name}</span>
          </button>
        </div>
      )}
    </li>
  );
}
