import { newEventId } from '../ids/index.js';

/** A sample protocol event, as built by sampleEvent: what a test or bench sends unless it says otherwise. */
export interface SampleEvent {
  id: string;
  rev: number;
  type: 'new';
  [field: string]: unknown;
}

/**
 * A valid `new` event of `deviceId` (a person at the front camera, started now, a fresh id), for tests and benches;
 * `o` overrides or adds fields.
 */
export function sampleEvent(deviceId: string, o: Record<string, unknown> = {}): SampleEvent {
  return {
    v: 1,
    id: newEventId(),
    device_id: deviceId,
    camera: 'front',
    type: 'new',
    rev: 0,
    label: 'person',
    score: 0.8,
    box: [0.1, 0.1, 0.4, 0.8],
    started_at: new Date().toISOString(),
    ...o,
  };
}
