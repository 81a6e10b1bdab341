/** The fields of an API event the demo prints (GET /v1/events/{id} shape). */
export interface DemoEvent {
  id: string;
  camera: string;
  label: string;
  score: number;
  status: string;
  started_at: string;
  thumbnail: { url: string } | null;
}

/** One readable line per change: time, camera, new/update/end, label, score, thumbnail URL. */
export function eventLine(kind: string, e: DemoEvent, baseUrl: string): string {
  const time = new Date(e.started_at).toISOString().slice(11, 19);
  const what = kind === 'event.new' ? 'new' : e.status === 'ended' ? 'ended' : 'update';
  const thumb = e.thumbnail ? `${baseUrl}${e.thumbnail.url}` : '(thumbnail pending)';
  return (
    `  ${time}  ${e.camera.padEnd(8)} ${what.padEnd(6)} ${e.label.padEnd(10)} ${e.score.toFixed(2)}  ${e.id} ` +
    ` ${thumb}`
  );
}
