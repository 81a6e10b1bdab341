import type { JSX } from 'preact';
import type { EventJson } from '../api/types.js';
import { humanName } from '../format.js';
import { cropGeometry } from './crop-geometry.js';

/**
 * The event's picture: the box's crop with the detection drawn in it, and the crop placed in a frame-shaped outline
 * (geometry in ./crop-geometry.ts).
 */
/** Percent position of the middle of [a, b] (normalised). */
const centre = (a: number, b: number): number => Math.round(((a + b) / 2) * 100);
const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;

function place(el: HTMLElement | null, rect: { left: number; top: number; width: number; height: number }): void {
  // Positions through the CSSOM (the CSP allows no inline style attributes).
  if (!el) return;
  el.style.left = pct(rect.left);
  el.style.top = pct(rect.top);
  el.style.width = pct(rect.width);
  el.style.height = pct(rect.height);
}

export function alt(e: EventJson): string {
  return `${humanName(e.label)} on ${humanName(e.camera)}`;
}

/** Card thumbnail: the crop, or a placeholder saying why there is none. */
export function CardThumb({ event }: { event: EventJson }): JSX.Element {
  if (!event.thumbnail)
    return <div class="thumb thumb-empty">{event.status === 'active' ? 'picture coming' : 'no picture'}</div>;
  return <img class="thumb" src={event.thumbnail.url} alt={alt(event)} loading="lazy" decoding="async" />;
}

/** Detail: the crop large with the box drawn, and the crop placed in the frame. */
export function EventPicture({
  event,
  aspect,
  onLoad,
}: {
  event: EventJson;
  aspect: number | null;
  onLoad: (a: number) => void;
}): JSX.Element {
  if (!event.thumbnail) return <p class="muted">No picture for this event{event.status === 'active' ? ' yet' : ''}.</p>;
  const geo = event.box ? cropGeometry(event.box, aspect) : null;
  return (
    <div class="picture">
      <figure class="crop">
        <div class="crop-frame">
          <img
            src={event.thumbnail.url}
            alt={`${alt(event)}, close-up`}
            onLoad={(e) => {
              const img = e.currentTarget;
              if (img.naturalHeight > 0) onLoad(img.naturalWidth / img.naturalHeight);
            }}
          />
          {geo && <span class="box-outline" aria-hidden="true" ref={(el) => place(el, geo.boxInCrop)} />}
        </div>
        <figcaption>Close-up from the box, the detection outlined.</figcaption>
      </figure>
      {geo && geo.frameAspect !== null && (
        <figure class="frame">
          <div
            class="frame-outline"
            role="img"
            aria-label={`Where in the frame: ${centre(geo.crop[0], geo.crop[2])}% from the left, ${centre(
              geo.crop[1],
              geo.crop[3],
            )}% from the top`}
            ref={(el) => {
              if (el) el.style.aspectRatio = String(geo.frameAspect);
            }}
          >
            <img
              class="frame-crop"
              src={event.thumbnail.url}
              alt=""
              ref={(el) =>
                place(el, {
                  left: geo.crop[0],
                  top: geo.crop[1],
                  width: geo.crop[2] - geo.crop[0],
                  height: geo.crop[3] - geo.crop[1],
                })
              }
            />
            <span
              class="box-outline"
              aria-hidden="true"
              ref={(el) =>
                place(el, {
                  left: event.box![0],
                  top: event.box![1],
                  width: event.box![2] - event.box![0],
                  height: event.box![3] - event.box![1],
                })
              }
            />
          </div>
          <figcaption>Where in the camera's frame.</figcaption>
        </figure>
      )}
    </div>
  );
}
