/**
 * The typed view of an event's latest message (the wire Event kept as JSON in `events.message_json`): what the app
 * API and the notify job read of it, parsed in one place so nobody digs into the stored JSON by hand.
 */

/** The `thumbnail` field an event announced (firmware-protocol ThumbnailInfo; only these two fields are checked). */
export interface AnnouncedThumbnail {
  sha256: string;
  size: number;
}

export interface EventMessageView {
  /** The box's best score over the event so far: max(top_score, score) when the box sent top_score, else null. */
  topScore: number | null;
  /** The thumbnail the latest message announced; null when it announced none. */
  announcedThumbnail: AnnouncedThumbnail | null;
  /** Zones the object entered so far, in order of entry (Event.zones). */
  zones: unknown[];
  /** Zones the object is in now (Event.current_zones); empty when the box did not say. */
  currentZones: unknown[];
  attributes: Record<string, unknown>;
  stationary: boolean;
}

export function eventMessageView(message: unknown, score: number): EventMessageView {
  const m = (typeof message === 'object' && message !== null ? message : {}) as {
    top_score?: unknown;
    thumbnail?: { sha256?: unknown; size?: unknown } | null;
    zones?: unknown;
    current_zones?: unknown;
    attributes?: unknown;
    stationary?: unknown;
  };
  const t = m.thumbnail;
  return {
    topScore: typeof m.top_score === 'number' ? Math.max(m.top_score, score) : null,
    announcedThumbnail:
      t && typeof t.sha256 === 'string' && typeof t.size === 'number' ? { sha256: t.sha256, size: t.size } : null,
    zones: Array.isArray(m.zones) ? m.zones : [],
    currentZones: Array.isArray(m.current_zones) ? m.current_zones : [],
    attributes:
      typeof m.attributes === 'object' && m.attributes !== null ? (m.attributes as Record<string, unknown>) : {},
    stationary: m.stationary === true,
  };
}

/** The score to judge an event by: its top score when the box sent one, else its current score. */
export function bestScore(e: { topScore: number | null; score: number }): number {
  return e.topScore ?? e.score;
}
