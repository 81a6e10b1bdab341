import type { DaemonStatus } from './schema.js';

/** The compact human view `vigil-agent status` prints. */
const age = (s: number | null): string =>
  s === null ? '-' : s < 120 ? `${s.toFixed(1)}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${(s / 3600).toFixed(1)}h`;

export function formatStatus(s: DaemonStatus): string {
  const lines: string[] = [];
  lines.push(
    `vigil-agent ${s.version}  pid ${s.pid}  up ${age(s.uptime_s)}  device ${s.device_id}  ` +
      `mode ${s.mode}${s.stopping ? '  (stopping)' : ''}`,
  );
  lines.push(`config ${s.config_file ?? '(defaults)'}  data ${s.data_dir}`);
  const r = s.last_reload;
  if (r)
    lines.push(
      `last reload ${r.at}: ${r.ok ? `ok, restarted [${r.restarted_cameras.join(', ')}]` : `FAILED: ${r.error}`}`,
    );
  const m = s.active_model;
  if (m) {
    const which = m.id ? `${m.id} "${m.name ?? ''}"` : 'config model';
    lines.push(`model   ${which}  ${m.format}  sha256 ${m.sha256.slice(0, 12)}…  since ${m.loaded_at}  ${m.path}`);
    if (m.fallback) lines.push(`        FALLBACK at start: ${m.fallback}`);
    const up = m.last_update;
    if (up)
      lines.push(
        `        last update ${up.model_id} at ${up.at}: ${up.status}` + (up.code ? ` ${up.code}: ${up.message}` : ''),
      );
  }
  const u = s.uplink;
  lines.push(
    `uplink  ${u.state} via ${u.transport}${u.url ? ` ${u.url}` : ''}  last ack ${u.last_ack_at ?? 'never'}  ` +
      `clock offset ${u.clock_offset_ms} ms  ` +
      `acked ${u.acked}${u.consecutive_failures ? `  failures in a row ${u.consecutive_failures}` : ''}`,
  );
  const o = s.outbox;
  lines.push(
    `outbox  depth ${o.depth} (pending ${o.pending}, in flight ${o.in_flight}, dead ${o.dead})  ` +
      `oldest ${age(o.oldest_pending_age_s)}  dropped ${o.dropped}  ` +
      `accepted ${o.accepted_since_start}${o.refused_since_start ? `  REFUSED ${o.refused_since_start}` : ''}` +
      (o.disk_full ? '  DISK FULL' : ''),
  );
  const refused = o.refused ? o.refused.disk_full + o.refused.outbox_full : 0;
  if (o.disk_full || (o.held ?? 0) > 0 || refused > 0 || (o.thumbnails_skipped ?? 0) > 0) {
    const bytes = o.disk_free_bytes;
    const free = bytes === undefined || bytes === null ? '?' : `${Math.round(bytes / 1024)} KiB`;
    const state = o.disk_full ? 'FULL: free space; sending goes on, new events kept without thumbnails' : 'ok';
    const counts = `refused: disk full ${o.refused?.disk_full ?? 0}, over budget ${o.refused?.outbox_full ?? 0}`;
    lines.push(
      `disk    ${state}  free ${free}  reserve ${o.reserve ?? '?'}  held in memory ${o.held ?? 0}  ${counts}` +
        `  thumbnails skipped ${o.thumbnails_skipped ?? 0}`,
    );
  }
  const l = s.local_mqtt;
  if (l)
    lines.push(
      `local   ${l.state} ${l.url}  prefix ${l.topic_prefix}  discovery ${l.discovery ? 'on' : 'off'}  ` +
        `queued ${l.queued}  dropped ${l.dropped}  events ${l.events_published}` +
        (l.detect_off.length > 0 ? `  detect off: ${l.detect_off.join(', ')}` : '') +
        (l.last_error && l.state !== 'connected' ? `  error: ${l.last_error}` : ''),
    );
  const k = s.commands;
  if (k && k.received > 0)
    lines.push(
      `commands received ${k.received}  run ${k.executed} (failed ${k.failed})  refused ${k.refused}  ` +
        `duplicates ${k.duplicates}  dropped ${k.refused_signature + k.refused_invalid}` +
        (k.results_lost > 0 ? `  results lost ${k.results_lost}` : ''),
    );
  if (s.cameras.length === 0) lines.push('cameras none configured');
  else {
    lines.push('cameras');
    const w = Math.max(...s.cameras.map((c) => c.name.length));
    for (const c of s.cameras) {
      lines.push(
        `  ${c.name.padEnd(w)}  ${c.phase.padEnd(12)} ${c.fps.toFixed(1).padStart(5)} fps  last ` +
          `frame ${age(c.last_frame_age_s).padStart(6)}  restarts ${c.restarts}  ` +
          `events ${c.events}${c.last_error ? `  error: ${c.last_error}` : ''}`,
      );
    }
  }
  return lines.join('\n');
}
