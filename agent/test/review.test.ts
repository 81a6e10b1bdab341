import { describe, expect, it } from 'vitest';
import { validator } from '../../shared/schema/index.js';
import {
  qualify,
  REVIEW_GROUPING_DEFAULTS,
  ReviewMessageSchema,
  ReviewTracker,
  type ReviewInput,
  type ReviewMessage,
  type ReviewRules,
} from '../review/index.js';

/** The review stage (agent/review): grouping event messages of one camera into alert and detection items. */

const checkReview = validator(ReviewMessageSchema);
const T0 = Date.parse('2026-01-01T12:00:00.000Z');
const evt = (n: number): string => `evt_01JGZ60B4W2Y8T6R5Q3P${String(n).padStart(6, '0')}`;
const RULES: ReviewRules = {
  alerts: { labels: ['person', 'car'], required_zones: [] },
  detections: { required_zones: [] },
};

interface Opts {
  label?: string;
  zones?: string[];
  stationary?: boolean;
  moved?: boolean;
  score?: number;
  thumbnail?: boolean;
  media?: boolean;
}

/** A test camera: feeds messages frame by frame (1 frame = 1 s of media and wall time), collects review output. */
class Cam {
  readonly out: ReviewMessage[] = [];
  readonly tracker: ReviewTracker;
  private t = 0;
  private readonly started = new Map<number, number>();
  private ids = 0;

  constructor(rules: ReviewRules = RULES, mergeGapS = 5) {
    this.tracker = new ReviewTracker({
      camera: 'driveway',
      rules,
      merge_gap_s: mergeGapS,
      newId: () => `rev_01JGZ60B5A7C3D9E1F2G${String(++this.ids).padStart(6, '0')}`,
    });
  }

  msg(type: ReviewInput['type'], n: number, o: Opts = {}): ReviewInput {
    if (!this.started.has(n)) this.started.set(n, this.t);
    const start = this.started.get(n) as number;
    return {
      type,
      id: evt(n),
      camera: 'driveway',
      label: o.label ?? 'person',
      score: o.score ?? 0.8,
      top_score: o.score ?? 0.8,
      box: [0.1, 0.1, 0.3, 0.6],
      started_at: new Date(T0 + start * 1000).toISOString(),
      ended_at: type === 'end' ? new Date(T0 + this.t * 1000).toISOString() : null,
      stationary: o.stationary ?? false,
      ...(o.zones ? { zones: o.zones, current_zones: o.zones } : {}),
      ...(o.moved !== undefined ? { moved: o.moved } : {}),
      ...(o.thumbnail ? { thumbnail: `/tmp/${n}.jpg` } : {}),
      ...(o.media ? { media_start: start, media_end: type === 'end' ? this.t : null } : {}),
    };
  }

  /** One frame with these messages; returns what it produced. */
  frame(...messages: ReviewInput[]): ReviewMessage[] {
    const r = this.tracker.update(messages, { mediaMs: this.t * 1000, wallMs: T0 + this.t * 1000 });
    this.t += 1;
    this.out.push(...r);
    for (const m of r) expect(checkReview.issues(m), JSON.stringify(m)).toEqual([]);
    return r;
  }

  idle(frames: number): ReviewMessage[] {
    const r: ReviewMessage[] = [];
    for (let i = 0; i < frames; i++) r.push(...this.frame());
    return r;
  }

  types(): string[] {
    return this.out.map((m) => `${m.type}:${m.severity}`);
  }
}

describe('qualify (pure rules)', () => {
  it('alert by label and required zones, else detection by its labels and zones, else nothing', () => {
    const rules: ReviewRules = {
      alerts: { labels: ['person'], required_zones: ['porch'] },
      detections: { labels: ['person', 'dog'], required_zones: [] },
    };
    expect(qualify(rules, 'person', ['porch'])).toBe('alert');
    expect(qualify(rules, 'person', ['street'])).toBe('detection');
    expect(qualify(rules, 'person', [])).toBe('detection');
    expect(qualify(rules, 'dog', ['porch'])).toBe('detection');
    expect(qualify(rules, 'car', ['porch'])).toBeUndefined();
    const zoned: ReviewRules = { ...rules, detections: { required_zones: ['yard'] } };
    expect(qualify(zoned, 'cat', ['yard'])).toBe('detection');
    expect(qualify(zoned, 'cat', ['street'])).toBeUndefined();
  });
});

describe('ReviewTracker', () => {
  it('one object: new at its first message, end after the merge gap with ended_at = its end', () => {
    const c = new Cam();
    expect(c.frame(c.msg('new', 1, { thumbnail: true }))).toMatchObject([
      {
        kind: 'review',
        type: 'new',
        severity: 'alert',
        objects: [evt(1)],
        labels: ['person'],
        zones: [],
        thumbnail_event: evt(1),
        started_at: '2026-01-01T12:00:00.000Z',
        ended_at: null,
      },
    ]);
    c.idle(2);
    expect(c.frame(c.msg('end', 1))).toEqual([]); // t=3: ended, the gap runs
    expect(c.idle(4)).toEqual([]); // t=4..7: 4 s quiet
    const [end] = c.idle(1); // t=8: 5 s after the end frame
    expect(end).toMatchObject({ type: 'end', ended_at: '2026-01-01T12:00:03.000Z', objects: [evt(1)] });
    expect(c.tracker.openItem()).toBeUndefined();
    expect(c.tracker.ended).toEqual({ alert: 1, detection: 0 });
  });

  it('overlapping objects form one item; an object within the merge gap joins it; after the gap a new item', () => {
    const c = new Cam();
    c.frame(c.msg('new', 1));
    expect(c.frame(c.msg('new', 2, { label: 'car' }))).toMatchObject([
      { type: 'update', objects: [evt(1), evt(2)], labels: ['person', 'car'] },
    ]);
    c.frame(c.msg('end', 1), c.msg('end', 2));
    c.idle(2);
    expect(c.frame(c.msg('new', 3))).toMatchObject([
      { type: 'update', objects: [evt(1), evt(2), evt(3)], labels: ['person', 'car'] },
    ]);
    c.frame(c.msg('end', 3));
    c.idle(6);
    c.frame(c.msg('new', 4));
    expect(c.out.map((m) => [m.type, m.id])).toEqual([
      ['new', c.out[0]?.id],
      ['update', c.out[0]?.id],
      ['update', c.out[0]?.id],
      ['end', c.out[0]?.id],
      ['new', c.out[4]?.id],
    ]);
    expect(c.out[4]?.id).not.toBe(c.out[0]?.id);
    expect(c.out[3]?.ended_at).toBe('2026-01-01T12:00:06.000Z');
  });

  it('two lanes: alert objects make the alert item, detection-only objects the detection item', () => {
    const c = new Cam(); // alerts: person, car; detections: every label
    c.frame(c.msg('new', 1), c.msg('new', 2, { label: 'dog' }));
    expect(c.out.map((m) => [m.type, m.severity, m.objects])).toEqual([
      ['new', 'alert', [evt(1)]],
      ['new', 'detection', [evt(2)]],
    ]);
    expect(c.tracker.openItem('alert')).toBe(c.out[0]?.id);
    expect(c.tracker.openItem('detection')).toBe(c.out[1]?.id);
    c.frame(c.msg('new', 3, { label: 'cat' }), c.msg('new', 4, { label: 'car' }));
    expect(c.out.slice(2).map((m) => [m.severity, m.objects])).toEqual([
      ['alert', [evt(1), evt(4)]],
      ['detection', [evt(2), evt(3)]],
    ]);
    c.frame(c.msg('end', 1), c.msg('end', 4));
    c.idle(6);
    expect(c.tracker.openItem('alert')).toBeUndefined();
    expect(c.tracker.openItem('detection')).toBe(c.out[1]?.id); // the dog and the cat are still about
    expect(c.tracker.ended).toEqual({ alert: 1, detection: 0 });
  });

  it('entering a required zone: the object also joins (or starts) the alert item; severities never change', () => {
    const rules: ReviewRules = {
      alerts: { labels: ['person'], required_zones: ['porch'] },
      detections: { required_zones: [] },
    };
    const c = new Cam(rules);
    expect(c.frame(c.msg('new', 1, { zones: [] }))).toMatchObject([{ type: 'new', severity: 'detection' }]);
    c.idle(1);
    const entered = c.frame(c.msg('update', 1, { zones: ['porch'] })); // t=2
    expect(entered).toMatchObject([
      { type: 'new', severity: 'alert', objects: [evt(1)], zones: ['porch'], started_at: '2026-01-01T12:00:02.000Z' },
      { type: 'update', severity: 'detection', objects: [evt(1)], zones: ['porch'] },
    ]);
    // A person outside the porch joins the detection item only.
    expect(c.frame(c.msg('new', 2, { zones: [] }))).toMatchObject([
      { type: 'update', severity: 'detection', objects: [evt(1), evt(2)] },
    ]);
    c.frame(c.msg('end', 1), c.msg('end', 2));
    c.idle(6);
    const ends = c.out.filter((m) => m.type === 'end');
    expect(ends.map((m) => [m.severity, m.objects])).toEqual([
      ['alert', [evt(1)]],
      ['detection', [evt(1), evt(2)]],
    ]);
    for (const m of c.out.filter((x) => x.severity === 'alert')) expect(m.objects).toEqual([evt(1)]);
    expect(new Set(c.out.filter((x) => x.id === ends[1]?.id).map((m) => m.severity))).toEqual(new Set(['detection']));
    expect(c.tracker.ended).toEqual({ alert: 1, detection: 1 });
  });

  it('required zones: an alert label outside them is a detection; with detection zones too, nothing', () => {
    const c = new Cam({
      alerts: { labels: ['person'], required_zones: ['porch'] },
      detections: { required_zones: ['yard'] },
    });
    c.frame(c.msg('new', 1, { zones: ['street'] }));
    c.frame(c.msg('update', 1, { zones: ['street', 'sidewalk'] }));
    c.frame(c.msg('end', 1));
    c.idle(6);
    expect(c.out).toEqual([]);
    c.frame(c.msg('new', 2, { zones: ['yard'] }));
    expect(c.types()).toEqual(['new:detection']);
    c.frame(c.msg('update', 2, { zones: ['yard', 'porch'] }));
    expect(c.types()).toEqual(['new:detection', 'new:alert', 'update:detection']);
    expect(c.out[1]?.zones).toEqual(['yard', 'porch']);
  });

  it('objects that never qualify make no item and do not join one', () => {
    const c = new Cam({
      alerts: { labels: ['person'], required_zones: [] },
      detections: { labels: ['person'], required_zones: [] },
    });
    c.frame(c.msg('new', 1, { label: 'cat' }));
    c.frame(c.msg('end', 1, { label: 'cat' }));
    c.idle(10);
    expect(c.out).toEqual([]);
    c.frame(c.msg('new', 2));
    c.frame(c.msg('new', 3, { label: 'cat' }));
    expect(c.out).toHaveLength(1);
    expect(c.out[0]?.objects).toEqual([evt(2)]);
  });

  it('a parked (stationary) or never-moved object neither starts nor keeps open an item', () => {
    const c = new Cam();
    c.frame(c.msg('new', 1, { label: 'car', stationary: true }));
    c.frame(c.msg('new', 2, { label: 'car', moved: false }));
    c.idle(3);
    expect(c.out).toEqual([]);
    // A person walks by, the parked cars stay: the item ends a merge gap after the person.
    c.frame(c.msg('new', 3));
    c.frame(c.msg('update', 1, { label: 'car', stationary: true }));
    c.frame(c.msg('end', 3));
    c.idle(6);
    expect(c.types()).toEqual(['new:alert', 'end:alert']);
    expect(c.out[0]?.objects).toEqual([evt(3)]);
    // The car drives off: it starts its own item.
    c.frame(c.msg('update', 1, { label: 'car', stationary: false }));
    expect(c.types()).toEqual(['new:alert', 'end:alert', 'new:alert']);
    expect(c.out[2]?.objects).toEqual([evt(1)]);
  });

  it('an item whose object parks ends a merge gap later, ended when it parked', () => {
    const c = new Cam();
    c.frame(c.msg('new', 1, { label: 'car' }));
    c.idle(1);
    c.frame(c.msg('update', 1, { label: 'car', stationary: true })); // t=2
    c.idle(5);
    expect(c.types()).toEqual(['new:alert', 'end:alert']);
    expect(c.out[1]?.ended_at).toBe('2026-01-01T12:00:02.000Z');
  });

  it('best thumbnail: the highest-scoring object of the highest qualification that has a thumbnail', () => {
    const c = new Cam({ alerts: { labels: ['person'], required_zones: [] }, detections: { required_zones: [] } });
    c.frame(c.msg('new', 1, { label: 'dog', score: 0.95 }));
    expect(c.out[0]?.thumbnail_event).toBeUndefined();
    c.frame(c.msg('update', 1, { label: 'dog', score: 0.95, thumbnail: true }));
    expect(c.out[1]?.thumbnail_event).toBe(evt(1));
    c.frame(c.msg('new', 2, { score: 0.6, thumbnail: true }));
    expect(c.out[2]).toMatchObject({ severity: 'alert', thumbnail_event: evt(2) });
    c.frame(c.msg('new', 3, { score: 0.7, thumbnail: true }));
    expect(c.out[3]?.thumbnail_event).toBe(evt(3));
    expect(c.frame(c.msg('update', 2, { score: 0.6 }))).toEqual([]); // nothing changed: no message
  });

  it('flush ends the open item at once; file inputs carry media_start/media_end', () => {
    const c = new Cam();
    c.idle(2);
    c.frame(c.msg('new', 1, { media: true }));
    c.idle(3);
    c.frame(c.msg('end', 1, { media: true })); // t=6
    const out = c.tracker.flush();
    expect(out).toMatchObject([{ type: 'end', media_start: 2, media_end: 6, started_at: '2026-01-01T12:00:02.000Z' }]);
    expect(c.out[0]).toMatchObject({ type: 'new', media_start: 2, media_end: null });
    expect(c.tracker.flush()).toEqual([]);
  });

  it("flush takes the pipeline's final end messages (read at the last frame) and ends the item", () => {
    const c = new Cam();
    c.frame(c.msg('new', 1));
    c.idle(2); // last frame t=2
    const out = c.tracker.flush([c.msg('end', 1)]);
    expect(out).toMatchObject([{ type: 'end', objects: [evt(1)], ended_at: '2026-01-01T12:00:03.000Z' }]);
    const fresh = new Cam();
    expect(fresh.tracker.flush([fresh.msg('new', 7), fresh.msg('end', 7)])).toMatchObject([
      { type: 'new', objects: [evt(7)] },
      { type: 'end', objects: [evt(7)] },
    ]);
  });

  it('flush with an object still open ends at the last frame', () => {
    const c = new Cam();
    c.frame(c.msg('new', 1));
    c.idle(3); // last frame t=3
    expect(c.tracker.flush()).toMatchObject([{ type: 'end', ended_at: '2026-01-01T12:00:03.000Z' }]);
  });

  it('lists at most 64 objects; later ones still count in labels and zones', () => {
    const c = new Cam();
    for (let i = 0; i < 70; i++) c.frame(c.msg('new', i));
    c.frame(c.msg('new', 99, { label: 'car', zones: ['drive'] }));
    const last = c.out.at(-1) as ReviewMessage;
    expect(last.objects).toHaveLength(64);
    expect(last.objects).not.toContain(evt(99));
    expect(last.labels).toEqual(['person', 'car']);
    expect(last.zones).toEqual(['drive']);
  });

  it('messages without zone fields (older producers) are read as no zones', () => {
    const c = new Cam({
      alerts: { labels: ['person'], required_zones: ['porch'] },
      detections: { required_zones: [] },
    });
    c.frame(c.msg('new', 1));
    expect(c.types()).toEqual(['new:detection']);
    expect(c.out[0]?.zones).toEqual([]);
  });

  it('the merge gap defaults to the schema default (5 s)', () => {
    expect(REVIEW_GROUPING_DEFAULTS.merge_gap_s).toBe(5);
    const t = new ReviewTracker({ camera: 'a', rules: RULES });
    const m = new Cam().msg('new', 1);
    t.update([m], { mediaMs: 0, wallMs: T0 });
    t.update([{ ...m, type: 'end', ended_at: new Date(T0).toISOString() }], { mediaMs: 0, wallMs: T0 });
    expect(t.update([], { mediaMs: 4999, wallMs: T0 + 4999 })).toEqual([]);
    expect(t.update([], { mediaMs: 5000, wallMs: T0 + 5000 })).toMatchObject([{ type: 'end' }]);
  });
});
