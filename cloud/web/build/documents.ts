import { BACKGROUND_COLOR, THEME_COLOR, type IconFile } from './icons.js';

/**
 * The two documents the build writes around the bundle: index.html (no inline script or style: the CSP allows
 * 'self' only) and the web app manifest.
 */
export interface ShellRefs {
  entryJs: string;
  entryCss: string | undefined;
  /** Other initial chunks, preloaded so the browser fetches them in parallel with the entry. */
  preload: string[];
  /** icon name → served path */
  icons: Map<string, string>;
}

const attr = (v: string): string => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

export function indexHtml(r: ShellRefs): string {
  const icon = (name: string): string => `/${r.icons.get(name) ?? name}`;
  const lines = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">',
    '<title>Vigil</title>',
    '<meta name="description" content="Vigil: what your camera boxes saw, live.">',
    `<meta name="theme-color" content="${THEME_COLOR}">`,
    '<meta name="color-scheme" content="light dark">',
    '<link rel="manifest" href="/manifest.webmanifest">',
    `<link rel="icon" href="${attr(icon('icon.svg'))}" type="image/svg+xml">`,
    `<link rel="apple-touch-icon" href="${attr(icon('apple-touch-icon.png'))}">`,
    ...(r.entryCss ? [`<link rel="stylesheet" href="/${attr(r.entryCss)}">`] : []),
    ...r.preload.map((p) => `<link rel="modulepreload" href="/${attr(p)}">`),
    `<script type="module" src="/${attr(r.entryJs)}"></script>`,
    '</head>',
    '<body>',
    '<div id="app"><p class="boot">Loading Vigil…</p></div>',
    '<noscript><p class="boot">Vigil needs JavaScript to show your events.</p></noscript>',
    '</body>',
    '</html>',
    '',
  ];
  return lines.join('\n');
}

export function manifest(icons: IconFile[], paths: Map<string, string>): string {
  const listed = icons.filter((i) => i.type === 'image/png' && (i.purpose === 'any' || i.purpose === 'maskable'));
  return `${JSON.stringify(
    {
      id: '/',
      name: 'Vigil',
      short_name: 'Vigil',
      description: 'What your camera boxes saw, verified, live.',
      start_url: '/',
      scope: '/',
      display: 'standalone',
      orientation: 'any',
      background_color: BACKGROUND_COLOR,
      theme_color: THEME_COLOR,
      icons: listed.map((i) => ({
        src: `/${paths.get(i.name)}`,
        sizes: `${i.size}x${i.size}`,
        type: i.type,
        purpose: i.purpose,
      })),
    },
    null,
    2,
  )}\n`;
}
