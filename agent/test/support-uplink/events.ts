import { newEventId } from '../../../shared/ids/index.js';
import type { OutboxEvent, EventType } from '../../outbox/index.js';

/**
 * Test events shaped like protocol Events. `makeEvent` keeps them small; `fakeJpeg` makes bytes that start and
 * end like a JPEG (SOI … EOI) so collectors that sniff the type accept them.
 */
export function makeEvent(over: Partial<OutboxEvent> & { type?: EventType } = {}): OutboxEvent {
  return { id: over.id ?? newEventId(), rev: over.rev ?? 0, type: over.type ?? 'new', camera: 'front', label: 'person', ...over };
}

export function fakeJpeg(bytes: number, seed = 1): Buffer {
  const b = Buffer.alloc(Math.max(bytes, 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  b[0] = 0xff;
  b[1] = 0xd8;
  b[b.length - 2] = 0xff;
  b[b.length - 1] = 0xd9;
  return b;
}
