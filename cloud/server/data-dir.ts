import { join } from 'node:path';
import { secureDataDirWith, tightenPath, type Tightened } from '../../shared/fs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { SECRETS_KEY_FILE } from '../pairing/secret-box.js';

/**
 * The collector's data dir is its own: 0700, and what it keeps there 0600 (database and its -wal/-shm, the secrets
 * key, thumbnails), whatever the umask `vigil-cloud` runs under. A data dir left open by an older version or by
 * hand is tightened at start (group/other bits removed) with one warning naming what changed. New files are created
 * owner-only by the code writing them (cloud/db/sqlite.ts, cloud/blob/fs.ts, cloud/pairing/secret-box.ts).
 */
export const DATA_DIR_ENTRIES = [
  'vigil.db',
  'vigil.db-wal',
  'vigil.db-shm',
  'vigil.db-journal',
  SECRETS_KEY_FILE,
  'thumbnails',
];

export function secureDataDir(dataDir: string, log?: Logger): Tightened {
  return secureDataDirWith(
    dataDir,
    (t) => {
      for (const name of DATA_DIR_ENTRIES) tightenPath(join(dataDir, name), t);
    },
    log,
  );
}
