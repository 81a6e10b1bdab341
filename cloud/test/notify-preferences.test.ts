import { describe, expect, it } from 'vitest';
import { excludedBy, wantedTargets, type PushSubject } from '../notify/preferences.js';
import { ALL_PUSHES, type PushPreferences } from '../store/push-tokens.js';

/**
 * Which registrations a push goes to, by their own preferences (cloud/notify/preferences.ts): labels (any of a
 * review item's), cameras as "<device>/<camera>", quiet hours in the registration's IANA time zone (daylight saving
 * time followed, windows over midnight, end exclusive).
 */
const car: PushSubject = { deviceId: 'dev_a', camera: 'drive', labels: ['car'] };
const person: PushSubject = { deviceId: 'dev_a', camera: 'front', labels: ['person'] };
const at = (iso: string): number => Date.parse(iso);
const noon = at('2026-01-15T12:00:00Z');
const prefs = (p: Partial<PushPreferences>): PushPreferences => ({ ...ALL_PUSHES, ...p });
const nights = (timeZone: string) => prefs({ quietHours: { start: '22:00', end: '06:00', timeZone } });

describe('notification preferences of a registration', () => {
  it('lets everything through when nothing is restricted', () => {
    expect(excludedBy(ALL_PUSHES, car, noon)).toBeNull();
  });

  it('labels: one of them must be the push’s; [] lets nothing through', () => {
    const people = prefs({ labels: ['person'] });
    expect(excludedBy(people, car, noon)).toBe('label');
    expect(excludedBy(people, person, noon)).toBeNull();
    expect(excludedBy(people, { ...car, labels: ['car', 'person'] }, noon)).toBeNull();
    expect(excludedBy(prefs({ labels: [] }), person, noon)).toBe('label');
  });

  it('cameras: "<device>/<camera>" of the push', () => {
    const front = prefs({ cameras: ['dev_a/front', 'dev_b/drive'] });
    expect(excludedBy(front, person, noon)).toBeNull();
    expect(excludedBy(front, car, noon)).toBe('camera');
    expect(excludedBy(front, { ...car, deviceId: 'dev_b' }, noon)).toBeNull();
  });

  it('quiet hours over midnight in the registration’s time zone, following daylight saving time', () => {
    const berlin = nights('Europe/Berlin');
    // winter, UTC+1
    expect(excludedBy(berlin, car, at('2026-01-15T20:30:00Z'))).toBeNull(); // 21:30
    expect(excludedBy(berlin, car, at('2026-01-15T21:00:00Z'))).toBe('quiet_hours'); // 22:00
    expect(excludedBy(berlin, car, at('2026-01-16T03:00:00Z'))).toBe('quiet_hours'); // 04:00
    expect(excludedBy(berlin, car, at('2026-01-16T05:00:00Z'))).toBeNull(); // 06:00: the end is not quiet
    // summer, UTC+2: 20:30Z is 22:30 in Berlin (a fixed +01:00 would say 21:30)
    expect(excludedBy(berlin, car, at('2026-07-15T20:30:00Z'))).toBe('quiet_hours');
    expect(excludedBy(berlin, car, at('2026-07-16T04:30:00Z'))).toBeNull(); // 06:30
    // a zone 5:45 ahead of UTC
    const kathmandu = nights('Asia/Kathmandu');
    expect(excludedBy(kathmandu, car, at('2026-01-15T16:15:00Z'))).toBe('quiet_hours'); // 22:00
    expect(excludedBy(kathmandu, car, at('2026-01-15T16:14:00Z'))).toBeNull(); // 21:59
  });

  it('a window within one day', () => {
    const lunch = prefs({ quietHours: { start: '12:00', end: '13:30', timeZone: 'UTC' } });
    expect(excludedBy(lunch, car, at('2026-01-15T11:59:00Z'))).toBeNull();
    expect(excludedBy(lunch, car, at('2026-01-15T13:29:00Z'))).toBe('quiet_hours');
    expect(excludedBy(lunch, car, at('2026-01-15T13:30:00Z'))).toBeNull();
  });

  it('a time zone this runtime does not know pushes rather than stays silent', () => {
    expect(excludedBy(nights('Mars/Olympus_Mons'), car, at('2026-01-15T23:00:00Z'))).toBeNull();
  });

  it('picks the wanted registrations and counts the others by reason', () => {
    const tokens = [
      { id: 'a', preferences: ALL_PUSHES },
      { id: 'b', preferences: prefs({ labels: ['person'] }) },
      { id: 'c', preferences: prefs({ cameras: ['dev_a/front'] }) },
      { id: 'd', preferences: nights('UTC') },
      { id: 'e', preferences: prefs({ labels: ['car'], cameras: ['dev_a/drive'] }) },
    ];
    const { wanted, skipped } = wantedTargets(tokens, car, at('2026-01-15T23:00:00Z'));
    expect(wanted.map((t) => t.id)).toEqual(['a', 'e']);
    expect(skipped).toEqual({ label: 1, camera: 1, quiet_hours: 1 });
  });
});
