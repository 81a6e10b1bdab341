import type { JSX } from 'preact';
import { encode } from 'uqr';

/**
 * A QR code drawn as SVG from the module matrix (uqr encodes; one <path> of unit squares, no inline style, so the
 * CSP holds). `label` is its accessible name.
 */
export function qrPath(text: string): { size: number; d: string } {
  const qr = encode(text, { ecc: 'M', border: 2 });
  let d = '';
  qr.data.forEach((row, y) => {
    row.forEach((on, x) => {
      if (on) d += `M${x} ${y}h1v1h-1z`;
    });
  });
  return { size: qr.size, d };
}

export function QrCode({ text, label }: { text: string; label: string }): JSX.Element {
  const { size, d } = qrPath(text);
  return (
    <svg class="qr" viewBox={`0 0 ${size} ${size}`} role="img" aria-label={label} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
