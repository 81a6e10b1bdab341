import sharp from 'sharp';

/**
 * The app's icons, drawn here as SVG and rasterised with sharp at build time: the manifest's 192/512 px icons
 * (`any` with rounded corners, `maskable` full-bleed with the glyph inside the safe zone), the Apple touch icon, a
 * monochrome badge for Android's status bar, and the SVG favicon.
 */
export const THEME_COLOR = '#0f2742';
export const BACKGROUND_COLOR = '#0b1b2e';

interface IconStyle {
  /** Fill the whole square (maskable, touch icon) or round the corners (any). */
  fullBleed: boolean;
  /** Glyph size as a fraction of the icon (maskable keeps it inside the 80% safe circle). */
  glyph: number;
  /** White glyph on transparent (badge) instead of the coloured icon. */
  mono: boolean;
}

/** An eye: the lens ring and pupil, the shape of a watchful camera. */
export function iconSvg(style: IconStyle): string {
  const s = 512;
  const g = style.glyph * s;
  const o = (s - g) / 2;
  const eye = style.mono ? '#ffffff' : '#e8f1ff';
  const pupil = style.mono ? '#ffffff' : '#3fa7ff';
  const bg = style.mono
    ? ''
    : `<rect width="${s}" height="${s}" rx="${style.fullBleed ? 0 : 96}" fill="${THEME_COLOR}"/>`;
  const k = g / 100;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${s} ${s}">${bg}` +
    `<g transform="translate(${o} ${o}) scale(${k})">` +
    `<path d="M4 50 C22 18 78 18 96 50 C78 82 22 82 4 50 Z" fill="none" stroke="${eye}" stroke-width="7" ` +
    `stroke-linejoin="round"/>` +
    `<circle cx="50" cy="50" r="19" fill="none" stroke="${pupil}" stroke-width="7"/>` +
    `<circle cx="50" cy="50" r="7" fill="${pupil}"/>` +
    `</g></svg>`
  );
}

export interface IconFile {
  /** Logical name (the build hashes it). */
  name: string;
  bytes: Uint8Array;
  type: string;
  size?: number;
  purpose?: 'any' | 'maskable' | 'monochrome';
}

async function png(svg: string, size: number): Promise<Uint8Array> {
  return new Uint8Array(await sharp(Buffer.from(svg)).resize(size, size).png({ compressionLevel: 9 }).toBuffer());
}

export async function renderIcons(): Promise<IconFile[]> {
  const any = iconSvg({ fullBleed: false, glyph: 0.72, mono: false });
  const maskable = iconSvg({ fullBleed: true, glyph: 0.56, mono: false });
  const touch = iconSvg({ fullBleed: true, glyph: 0.64, mono: false });
  const badge = iconSvg({ fullBleed: false, glyph: 0.9, mono: true });
  return [
    { name: 'icon.svg', bytes: new TextEncoder().encode(any), type: 'image/svg+xml' },
    { name: 'icon-192.png', bytes: await png(any, 192), type: 'image/png', size: 192, purpose: 'any' },
    { name: 'icon-512.png', bytes: await png(any, 512), type: 'image/png', size: 512, purpose: 'any' },
    {
      name: 'icon-maskable-512.png',
      bytes: await png(maskable, 512),
      type: 'image/png',
      size: 512,
      purpose: 'maskable',
    },
    { name: 'apple-touch-icon.png', bytes: await png(touch, 180), type: 'image/png', size: 180 },
    { name: 'badge-96.png', bytes: await png(badge, 96), type: 'image/png', size: 96, purpose: 'monochrome' },
  ];
}
