import type { EventMessage } from '../../track/messages.js';

/** A `new` message of event `id` on `camera`: a person at 0.9 over the whole frame, started now, still open. */
export function newEventMessage(id: string, camera: string): EventMessage {
  return {
    type: 'new',
    id,
    camera,
    label: 'person',
    score: 0.9,
    top_score: 0.9,
    box: [0, 0, 1, 1],
    started_at: new Date().toISOString(),
    ended_at: null,
    stationary: false,
    zones: [],
    current_zones: [],
  };
}
