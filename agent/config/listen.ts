import { isAbsolute } from 'node:path';
import { VigilError } from '../errors.js';

export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** `status.listen`: `HOST:PORT`, `[v6]:PORT`, or an absolute unix socket path. */
export function parseListen(text: string): ListenAddress {
  if (isAbsolute(text)) return { kind: 'unix', path: text };
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535)
    throw new VigilError(
      'config_invalid',
      `status.listen must be HOST:PORT or an absolute socket path, got "${text}"`,
      { details: { path: 'status.listen' } },
    );
  return { kind: 'tcp', host: (m[1] ?? m[2]) as string, port };
}
