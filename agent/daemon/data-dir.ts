import { type Dirent, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { secureDataDirWith, tightenPath, type Tightened } from '../../shared/fs/index.js';
import type { Logger } from '../../shared/log/index.js';
import { OUTBOX_FILE } from '../outbox/index.js';

/**
 * The agent's data dir is its own: 0700, and what it keeps there 0600 (outbox.db with its -wal/-shm and disk-full
 * reserve, credentials.json, thumbnails, the generated motion model), whatever the umask `vigil-agent` runs under.
 * New files are created owner-only by the code writing them (outbox/open.ts, thumbnail/store.ts,
 * motion/model-cache.ts, credentials/store.ts); a data dir left open by an older version or by hand is tightened
 * here at start (group/other bits removed) with one warning naming what changed. The credentials file is not
 * tightened: loadCredentials refuses one that others can read (someone may have read it: re-pair).
 */
const OUTBOX_COMPANIONS = ['', '-wal', '-shm', '-journal', '.reserve'];
/** Folders whose every entry is ours (generated models, thumbnails per camera). */
const OWN_FOLDERS = ['models', 'thumbnails'];

/** Group/other bits removed from `dir` and everything below it (symlinks are not followed). */
function tightenTree(dir: string, into: Tightened): void {
  tightenPath(dir, into);
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return; // missing, or not a folder
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) tightenTree(p, into);
    else if (e.isFile()) tightenPath(p, into);
  }
}

export function secureAgentDataDir(dataDir: string, log?: Logger): Tightened {
  return secureDataDirWith(dataDir, (t) => tightenAgentFiles(dataDir, t), log);
}

function tightenAgentFiles(dataDir: string, t: Tightened): void {
  let names: string[] = [];
  try {
    names = readdirSync(dataDir);
  } catch {
    // just created, or unreadable: ensurePrivateDir reported what it could
  }
  // The outbox, its companions, and outboxes set aside by --quarantine-corrupt (they hold queued events too).
  const quarantined = names.filter((n) => n.startsWith(`${OUTBOX_FILE}.corrupt-`));
  const outboxFiles = [...OUTBOX_COMPANIONS.map((s) => OUTBOX_FILE + s), ...quarantined];
  for (const name of outboxFiles) tightenPath(join(dataDir, name), t);
  for (const folder of OWN_FOLDERS) tightenTree(join(dataDir, folder), t);
}
