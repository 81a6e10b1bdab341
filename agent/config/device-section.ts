import { chownSync, existsSync, readFileSync, statSync } from 'node:fs';
import { isMap, parseDocument } from 'yaml';
import { PRIVATE_FILE_MODE, writeFileAtomic } from '../../shared/fs/index.js';
import { VigilError } from '../errors.js';
import type { DeviceConfig } from './schema.js';

const NEW_FILE_HEADER =
  'vigil-agent configuration. Every key, its default and meaning: the README\'s "Agent configuration" reference.\n' +
  'The device section is written by `vigil-agent pair` and cleared by `vigil-agent unpair`.';

/**
 * Sets (or with `null` removes) the `device` section of a YAML config file, leaving every other key, comment and
 * blank line as it was. Keys of `device` given as undefined are removed. Creates the file when absent: 0600 whatever
 * the umask (a config may hold camera passwords in its rtsp URLs), and when we are root given to the owner of
 * `ownerOf` (the data dir: `sudo vigil-agent pair` writes a file the daemon's user can read). An existing file
 * keeps its mode and owner (the installer's is root:vigil 0640).
 */
export function writeDeviceSection(
  file: string,
  device: Partial<DeviceConfig> | null,
  options: { ownerOf?: string } = {},
): void {
  const exists = existsSync(file);
  const text = exists ? readFileSync(file, 'utf8') : '';
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line;
    throw new VigilError(
      'config_invalid',
      `${file}${line ? `:${line}` : ''}: YAML syntax error: ${e.message.split('\n')[0]}; the device section was ` +
        `not written`,
      {
        details: { file, line },
      },
    );
  }
  if (doc.contents === null || doc.contents === undefined) {
    doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
    if (!exists || text.trim() === '')
      doc.commentBefore = NEW_FILE_HEADER.split('\n')
        .map((l) => ' ' + l)
        .join('\n');
  }
  if (!isMap(doc.contents))
    throw new VigilError(
      'config_invalid',
      `${file}: the top level must be a mapping of keys; the device section was not written`,
      { details: { file } },
    );

  if (device === null) {
    doc.delete('device');
  } else {
    const section = doc.get('device');
    if (!isMap(section)) doc.set('device', doc.createNode({}));
    for (const [key, value] of Object.entries(device)) {
      if (value === undefined) doc.deleteIn(['device', key]);
      else doc.setIn(['device', key], value);
    }
  }
  let out = doc.toString();
  // A file left with no keys keeps its comments only (YAML would print an empty map as `{}`).
  if (isMap(doc.contents) && doc.contents.items.length === 0) out = out.replace(/^\{\}\n/m, '');
  writeFileAtomic(file, out, exists ? {} : { mode: PRIVATE_FILE_MODE });
  if (!exists && options.ownerOf && process.getuid?.() === 0 && existsSync(options.ownerOf)) {
    const owner = statSync(options.ownerOf);
    if (owner.uid !== 0) chownSync(file, owner.uid, owner.gid);
  }
}
