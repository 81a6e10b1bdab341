import sharp from 'sharp';
import type { RgbBuffer } from './yuv.js';

/**
 * Draws a camera's zones and masks on a frame, for a field tech checking coordinates on the real picture
 * (`vigil-agent snapshot --draw`): each polygon outlined and tinted (semi-transparent, so the scene shows through)
 * with its name, one style per kind, and a legend in the bottom-left corner. Polygons are in normalised frame
 * coordinates (0..1, x right, y down), as the config holds them. An SVG overlay composited by sharp.
 */

export type OverlayKind = 'zone' | 'object_mask' | 'label_mask' | 'motion_mask';

export interface OverlayShape {
  kind: OverlayKind;
  /** Written beside the polygon: a zone's name, or e.g. `object mask 1`, `car mask 1`, `motion mask 2`. */
  name: string;
  points: ReadonlyArray<readonly [number, number]>;
}

export interface OverlayStyle {
  /** Outline and tint colour (#rrggbb). */
  color: string;
  /** Opacity of the tint inside the polygon. */
  fillOpacity: number;
  /** SVG stroke-dasharray in units of the stroke width; none for a solid line. */
  dash?: readonly number[];
  legend: string;
}

/** Per kind: zones solid green; object masks dashed, red (all labels) or orange (one label); motion dotted blue. */
export const OVERLAY_STYLES: Readonly<Record<OverlayKind, OverlayStyle>> = {
  zone: { color: '#00e676', fillOpacity: 0.25, legend: 'zone' },
  object_mask: { color: '#ff1744', fillOpacity: 0.35, dash: [4, 2], legend: 'object mask (all labels)' },
  label_mask: { color: '#ff9100', fillOpacity: 0.35, dash: [4, 2], legend: 'object mask (one label)' },
  motion_mask: { color: '#2979ff', fillOpacity: 0.35, dash: [1, 1.5], legend: 'motion mask' },
};

/** Legend order, top to bottom. */
const KINDS: readonly OverlayKind[] = ['zone', 'object_mask', 'label_mask', 'motion_mask'];

const escapeXml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string);

const round = (v: number): number => Math.round(v * 10) / 10;

interface Size {
  width: number;
  height: number;
}
interface Metrics {
  stroke: number;
  font: number;
  pad: number;
}

/** Sizes that stay readable from a 320×240 detect frame up to 4K. */
function metrics({ width, height }: Size): Metrics {
  const short = Math.min(width, height);
  const font = Math.max(10, Math.round(short / 28));
  return { stroke: Math.max(2, Math.round(short / 180)), font, pad: Math.max(2, Math.round(font / 4)) };
}

/** A dark box (outlined in `outline`) with white text, top-left at (x, y), kept inside the frame. */
function tag(text: string, x: number, y: number, frame: Size, m: Metrics, outline: string): string {
  const { font, pad } = m;
  // DejaVu Sans averages ~0.6 em per character; the box only needs to be about right.
  const w = Math.ceil(text.length * font * 0.6) + 2 * pad;
  const h = font + 2 * pad;
  const left = Math.min(Math.max(0, x), Math.max(0, frame.width - w));
  const top = Math.min(Math.max(0, y), Math.max(0, frame.height - h));
  return (
    `<rect x="${round(left)}" y="${round(top)}" width="${w}" height="${h}" fill="#000" fill-opacity="0.6" ` +
    `stroke="${outline}" stroke-width="1"/>` +
    `<text x="${round(left + pad)}" y="${round(top + pad + font * 0.85)}" font-size="${font}" fill="#fff">` +
    `${escapeXml(text)}</text>`
  );
}

const dashOf = (st: OverlayStyle, m: Metrics): string =>
  st.dash ? ` stroke-dasharray="${st.dash.map((d) => round(d * m.stroke)).join(' ')}"` : '';

function shapeSvg(s: OverlayShape, frame: Size, m: Metrics): string {
  const st = OVERLAY_STYLES[s.kind];
  const pts = s.points.map(([x, y]) => [x * frame.width, y * frame.height] as const);
  const polygon =
    `<polygon points="${pts.map(([x, y]) => `${round(x)},${round(y)}`).join(' ')}" fill="${st.color}" ` +
    `fill-opacity="${st.fillOpacity}" stroke="${st.color}" stroke-width="${m.stroke}" ` +
    `stroke-linejoin="round"${dashOf(st, m)}/>`;
  // The name goes at the topmost point (leftmost among equals), just inside the polygon.
  const [tx, ty] = pts.reduce((a, b) => (b[1] < a[1] || (b[1] === a[1] && b[0] < a[0]) ? b : a));
  return `${polygon}\n${tag(s.name, tx + m.stroke, ty + m.stroke, frame, m, st.color)}`;
}

/** The kinds drawn, each with its swatch; or one line saying there is nothing to draw. */
function legendSvg(shapes: readonly OverlayShape[], frame: Size, m: Metrics): string {
  const kinds = KINDS.filter((k) => shapes.some((s) => s.kind === k));
  const row = m.font + 2 * m.pad;
  const text = kinds.map((k) => OVERLAY_STYLES[k].legend);
  if (text.length === 0) text.push('no zones, object masks or motion masks configured');
  const swatch = kinds.length > 0 ? m.font : 0;
  const boxW = Math.ceil(Math.max(...text.map((t) => t.length)) * m.font * 0.6) + swatch + 4 * m.pad;
  const boxH = row * text.length + m.pad;
  const top = frame.height - boxH - m.pad;
  const parts = [
    `<rect x="${m.pad}" y="${top}" width="${Math.min(boxW, frame.width - 2 * m.pad)}" height="${boxH}" ` +
      'fill="#000" fill-opacity="0.6"/>',
  ];
  text.forEach((t, i) => {
    const y = top + m.pad + i * row;
    const kind = kinds[i];
    if (kind) {
      const st = OVERLAY_STYLES[kind];
      parts.push(
        `<rect x="${2 * m.pad}" y="${y + m.pad / 2}" width="${swatch}" height="${m.font}" fill="${st.color}" ` +
          `fill-opacity="${st.fillOpacity}" stroke="${st.color}" stroke-width="${m.stroke}"${dashOf(st, m)}/>`,
      );
    }
    parts.push(
      `<text x="${3 * m.pad + swatch}" y="${round(y + m.pad / 2 + m.font * 0.85)}" font-size="${m.font}" ` +
        `fill="#fff">${escapeXml(t)}</text>`,
    );
  });
  return parts.join('\n');
}

/** The overlay as an SVG document of the frame's size (transparent where nothing is drawn). */
export function overlaySvg(shapes: readonly OverlayShape[], width: number, height: number): string {
  const frame = { width, height };
  const m = metrics(frame);
  // Masks under zones: a zone drawn last stays readable where both overlap.
  const ordered = [...shapes].sort((a, b) => KINDS.indexOf(b.kind) - KINDS.indexOf(a.kind));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Verdana, sans-serif">`,
    ...ordered.map((s) => shapeSvg(s, frame, m)),
    legendSvg(shapes, frame, m),
    '</svg>',
  ].join('\n');
}

/** The frame with the overlay drawn on it, as a JPEG. */
export async function drawOverlay(rgb: RgbBuffer, shapes: readonly OverlayShape[], quality = 90): Promise<Buffer> {
  const svg = Buffer.from(overlaySvg(shapes, rgb.width, rgb.height));
  return sharp(rgb.data, { raw: { width: rgb.width, height: rgb.height, channels: 3 } })
    .composite([{ input: svg, top: 0, left: 0 }])
    .jpeg({ quality })
    .toBuffer();
}
