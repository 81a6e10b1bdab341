import { describe, expect, it } from 'vitest';
import type { EventDetailJson, EventJson, EventMessageJson } from '../web/app/api/types.js';
import { cropGeometry } from '../web/app/components/crop-geometry.js';
import { pairCommand } from '../web/app/devices/pair-command.js';
import { apiQuery, filtersFrom, filtersSearch, matches, mergeLive } from '../web/app/events/filters.js';
import { timelineSteps } from '../web/app/events/timeline-steps.js';
import { formatSkew } from '../web/app/format.js';
import {
  browserTimeZone,
  formFrom,
  isTicked,
  preferencesFrom,
  preferencesSummary,
  timeZones,
  toggled,
} from '../web/app/notifications/preferences.js';
import { parsePushPayload, planNotification } from '../web/shared/push-payload.js';
import { matchPath } from '../web/shared/routes.js';

/**
 * The web app's logic that needs no browser: filters (URL ↔ API query ↔ live events), the push payload → notification
 * plan the service worker shows, the crop geometry of the detail picture, the pairing command, routes.
 */
function event(o: Partial<EventJson> = {}): EventJson {
  return {
    id: 'evt_A',
    device_id: 'dev_1',
    camera: 'front',
    label: 'person',
    score: 0.8,
    top_score: 0.9,
    box: [0.1, 0.1, 0.4, 0.8],
    status: 'active',
    end_reason: null,
    rev: 0,
    started_at: '2026-03-02T10:00:00.000Z',
    ended_at: null,
    duration_s: null,
    zones: [],
    stationary: false,
    thumbnail: null,
    created_at: '2026-03-02T10:00:01.000Z',
    updated_at: '2026-03-02T10:00:01.000Z',
    ...o,
  };
}

describe('event filters', () => {
  it('round-trip through the URL and become the API query (days → local-midnight instants)', () => {
    const f = filtersFrom(new URLSearchParams('camera=front&label=dog&status=ended&from=2026-03-01&to=2026-03-02&x=1'));
    expect(filtersSearch(f)).toBe('?camera=front&label=dog&status=ended&from=2026-03-01&to=2026-03-02');
    const q = apiQuery(f);
    expect(q).toMatchObject({ camera: 'front', label: 'dog', status: 'ended', zone: undefined });
    expect(new Date(q.since!).getDate()).toBe(1);
    expect(Date.parse(q.until!) - Date.parse(q.since!)).toBe(2 * 86_400_000);
    expect(filtersFrom(new URLSearchParams('status=bogus')).status).toBe('');
  });

  it('let a live event in only where it belongs, in start order, and update it in place', () => {
    const f = filtersFrom(new URLSearchParams('camera=front&zone=porch'));
    const old = event({ id: 'evt_OLD', zones: ['porch'], started_at: '2026-03-02T09:00:00.000Z' });
    expect(matches(f, event({ zones: ['porch'] }))).toBe(true);
    expect(matches(f, event({ zones: ['lawn'] }))).toBe(false);
    expect(matches(f, event({ camera: 'back', zones: ['porch'] }))).toBe(false);
    const list = mergeLive([old], event({ zones: ['porch'] }), f);
    expect(list.map((e) => e.id)).toEqual(['evt_A', 'evt_OLD']);
    expect(mergeLive(list, event({ camera: 'back' }), f).map((e) => e.id)).toEqual(['evt_OLD']);
    const ended = mergeLive(list, event({ zones: ['porch'], status: 'ended', duration_s: 4 }), f);
    expect(ended[0]).toMatchObject({ id: 'evt_A', status: 'ended', duration_s: 4 });
    // A stream update carries no verification: what the list knew stays.
    const verified = [{ ...event({ zones: ['porch'] }), verification: null }];
    expect(mergeLive(verified, event({ zones: ['porch'], rev: 2 }), f)[0]).toHaveProperty('verification', null);
  });
});

describe('push notifications in the service worker', () => {
  const icons = { icon: '/assets/icon-192-x.png', badge: '/assets/badge-96-x.png' };

  it('show title, body and picture with tag = the collapse id, open the event', () => {
    const p = parsePushPayload(
      JSON.stringify({
        title: 'Person at front',
        body: 'Someone at the door',
        event_id: 'evt_A',
        thumbnail_url: 'https://vigil.example/v1/events/evt_A/thumbnail?exp=1&sig=s',
        tag: 'evt_A',
      }),
    )!;
    const plan = planNotification(p, icons, 5);
    expect(plan).toEqual({
      title: 'Person at front',
      options: {
        body: 'Someone at the door',
        tag: 'evt_A',
        icon: p.thumbnail_url,
        image: p.thumbnail_url,
        badge: icons.badge,
        renotify: true,
        silent: false,
        timestamp: 5,
        data: { url: '/events/evt_A', event_id: 'evt_A', review_id: null },
      },
    });
  });

  it('replace a review item quietly on update, say when unverified, refuse what is not a push of ours', () => {
    const p = parsePushPayload(
      JSON.stringify({
        title: 'Alert',
        body: 'b',
        event_id: 'evt_A',
        review_id: 'rev_1',
        update: true,
        unverified: true,
      }),
    )!;
    const plan = planNotification(p, icons, 0);
    expect(plan.options).toMatchObject({ tag: 'rev_1', renotify: false, silent: true, icon: icons.icon });
    expect(plan.options.data).toEqual({ url: '/review/rev_1', event_id: 'evt_A', review_id: 'rev_1' });
    expect(plan.options.body).toBe('b\nNot verified by the vision check yet.');
    expect(plan.options).not.toHaveProperty('image');
    const test = parsePushPayload(JSON.stringify({ title: 'Vigil test notification', body: '', event_id: 'test' }))!;
    expect(planNotification(test, icons, 0).options.data.url).toBe('/notifications');
    expect(parsePushPayload('not json')).toBeNull();
    expect(parsePushPayload(JSON.stringify({ title: 'x' }))).toBeNull();
    expect(parsePushPayload(JSON.stringify({ title: 'x', event_id: 'e', thumbnail_url: 'javascript:1' }))).toEqual({
      title: 'x',
      body: '',
      event_id: 'e',
    });
  });
});

describe('detail picture geometry', () => {
  it('places the box in the crop (15 % margin each side) and finds the frame proportions', () => {
    const g = cropGeometry([0.4, 0.4, 0.6, 0.6], 1);
    expect(g.crop.map((v) => +v.toFixed(3))).toEqual([0.37, 0.37, 0.63, 0.63]);
    expect(+g.boxInCrop.left.toFixed(4)).toBe(+(0.03 / 0.26).toFixed(4));
    expect(+g.boxInCrop.width.toFixed(4)).toBe(+(0.2 / 0.26).toFixed(4));
    expect(g.frameAspect).toBeCloseTo(1);
    // Clamped at the frame's edge: the box touches the crop's side there.
    const edge = cropGeometry([0, 0.2, 0.5, 0.6], 2);
    expect(edge.crop[0]).toBe(0);
    expect(edge.boxInCrop.left).toBe(0);
    expect(edge.frameAspect).toBeCloseTo((2 * (0.66 - 0.14)) / 0.575);
  });
});

describe('small pieces', () => {
  it('writes the exact pair command, quoting what the shell would split', () => {
    expect(pairCommand('https://vigil.example', 'K7QX-M2PD', 'garage')).toBe(
      'vigil-agent pair --cloud https://vigil.example --code K7QX-M2PD --name garage',
    );
    expect(pairCommand('http://127.0.0.1:8080', 'AB12-CD34', '')).toBe(
      'vigil-agent pair --cloud http://127.0.0.1:8080 --code AB12-CD34',
    );
    expect(pairCommand('https://v.example', 'AB12-CD34', "Anna's shed")).toBe(
      "vigil-agent pair --cloud https://v.example --code AB12-CD34 --name 'Anna'\\''s shed'",
    );
  });

  it('matches the pages, reads clock skew', () => {
    expect(matchPath('/events/evt_A%2F1')).toEqual({ page: 'event', params: { id: 'evt_A/1' } });
    expect(matchPath('/events/')).toEqual({ page: 'events', params: {} });
    expect(matchPath('/nope').page).toBe('not-found');
    expect(matchPath('/').page).toBe('home');
    expect(formatSkew(-2500)).toBe('2.5 s behind');
    expect(formatSkew(120)).toBe('120 ms ahead');
  });
});

describe('notification settings of a phone or browser', () => {
  it('keeps "every label / camera" as null, also when one is unticked and ticked again', () => {
    const offered = ['car', 'dog', 'person'];
    const form = formFrom(null);
    expect(form.labels).toBeNull();
    expect(isTicked(form.labels, 'dog')).toBe(true);
    const off = toggled(form.labels, offered, 'car', false);
    expect(off).toEqual(['dog', 'person']);
    expect(toggled(off, offered, 'car', true)).toBeNull();
    expect(toggled([], offered, 'dog', true)).toEqual(['dog']);
  });

  it('saves ticked lists sorted, null for all, and quiet hours only when on (time zone kept)', () => {
    const f = { ...formFrom(null), cameras: ['dev_2/yard', 'dev_1/front'], quiet: true, timeZone: 'Europe/Berlin' };
    expect(preferencesFrom(f)).toEqual({
      labels: null,
      cameras: ['dev_1/front', 'dev_2/yard'],
      quiet_hours: { start: '22:00', end: '07:00', time_zone: 'Europe/Berlin' },
    });
    expect(preferencesFrom({ ...f, quiet: false }).quiet_hours).toBeNull();
    const back = formFrom(preferencesFrom(f));
    expect(back).toMatchObject({ labels: null, cameras: ['dev_1/front', 'dev_2/yard'], quiet: true });
    expect(preferencesSummary({ labels: ['dog'], cameras: ['dev_1/front'], quiet_hours: null })).toBe('dog · 1 camera');
    expect(preferencesSummary(null)).toBe('all labels · all cameras');
  });

  it("offers every time zone the runtime knows, the browser's one included", () => {
    const zones = timeZones('Europe/Berlin');
    expect(zones).toContain('Europe/Berlin');
    expect(zones).toContain('UTC');
    expect(zones).toContain(browserTimeZone());
  });
});

describe("the event detail's timeline", () => {
  const detail = (o: Partial<EventDetailJson> = {}): EventDetailJson => ({
    ...event({ label: 'dog', status: 'ended', rev: 2, ended_at: '2026-03-02T10:00:13.000Z' }),
    verification: null,
    push_sent: false,
    push_at: null,
    push_deliveries: [],
    ...o,
  });
  const msg = (o: Partial<EventMessageJson>): EventMessageJson => ({
    type: 'update',
    rev: 1,
    received_at: '2026-03-02T10:00:05.000Z',
    score: 0.8,
    zones: [],
    stationary: false,
    ...o,
  });

  it('lists the box messages (new, what each update changed, the end) with the check and the push, in time', () => {
    const e = detail({
      verification: {
        status: 'verified',
        classified_at: '2026-03-02T10:00:02.000Z',
      } as EventDetailJson['verification'],
      push_at: '2026-03-02T10:00:03.000Z',
    });
    const steps = timelineSteps(e, [
      msg({ type: 'end', rev: 2, received_at: '2026-03-02T10:00:14.000Z', duration: 12.5, end_reason: 'left' }),
      msg({ type: 'new', rev: 0, received_at: '2026-03-02T10:00:01.000Z', score: 0.7 }),
      msg({ rev: 1, score: 0.86, zones: ['lawn'], stationary: true }),
    ]);
    expect(steps.map((s) => s.what)).toEqual([
      'New: dog seen, score 70 %',
      'Vision check: verified',
      'Push sent',
      'Update 1: score 86 %, entered lawn, stopped moving',
      'Ended (left) after 13 s',
    ]);
  });

  it("falls back to the event's own times without messages", () => {
    const kinds = timelineSteps(detail(), null).map((s) => s.kind);
    expect(kinds).toEqual(['new', 'received', 'update', 'end']);
  });
});
