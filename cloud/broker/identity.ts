import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * Who a collector is on the broker, when the config does not say:
 *
 * - shared group `vigil-<deployment id>`: the collectors of one deployment (one database) split the traffic; another
 *   deployment on the same broker has another group and never takes this one's messages;
 * - client id `vc-<deployment id>-<host>-<suffix>`: unique per instance (two collectors with one client id throw
 *   each other off the broker) and STABLE across restarts of that instance, because the broker keeps the
 *   persistent session — and the messages queued in it — under the client id; a new id per start would leave an
 *   orphaned session that keeps taking its share of the group's traffic until it expires. The random suffix is kept
 *   in the data dir, one slot per instance running on that data dir (a lock file holding the pid marks a slot taken);
 * - login `vigil-collector-<deployment id>` with a password derived from the secrets key (every collector of a
 *   deployment has the same key), when the collector provisions the broker and `mqtt.username` is not set.
 */
export function defaultSharedGroup(deploymentId: string): string {
  return `vigil-${deploymentId}`;
}

export function defaultCollectorUsername(deploymentId: string): string {
  return `vigil-collector-${deploymentId}`;
}

/** HMAC of the username under the secrets key: the same on every collector of the deployment, never stored. */
export function derivedCollectorPassword(secretsKey: Buffer, username: string): string {
  return createHmac('sha256', secretsKey).update(`vigil-broker-login:${username}`, 'utf8').digest('base64url');
}

/** Host name reduced to what is safe and short in a client id. */
function hostPart(): string {
  const h = hostname()
    .split('.')[0]!
    .replace(/[^A-Za-z0-9_-]/g, '')
    .slice(0, 16);
  return h || 'host';
}

const MAX_SLOTS = 64;
/** Slots claimed by this process (a second collector in the same process must not take the same one). */
const claimedHere = new Set<string>();

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface InstanceSlot {
  /** Random suffix of this slot, the same at every start. */
  suffix: string;
  slot: number;
  release(): void;
}

/**
 * Claims the first free instance slot of the data dir: `mqtt-instance-<n>.lock` (pid of the holder) and
 * `mqtt-instance-<n>.id` (the slot's random suffix, created once). A lock whose process is gone is taken over.
 */
export function claimInstanceSlot(dataDir: string): InstanceSlot {
  mkdirSync(dataDir, { recursive: true });
  for (let n = 1; n <= MAX_SLOTS; n++) {
    const lock = join(dataDir, `mqtt-instance-${n}.lock`);
    if (claimedHere.has(lock)) continue;
    if (!takeLock(lock)) continue;
    claimedHere.add(lock);
    const idFile = join(dataDir, `mqtt-instance-${n}.id`);
    let suffix: string;
    try {
      suffix = readFileSync(idFile, 'utf8').trim();
    } catch {
      suffix = '';
    }
    if (!/^[a-z0-9]{6}$/.test(suffix)) {
      suffix = randomSuffix();
      writeFileSync(idFile, suffix + '\n', { mode: 0o600 });
    }
    return {
      suffix,
      slot: n,
      release: () => {
        claimedHere.delete(lock);
        try {
          unlinkSync(lock);
        } catch {
          // already gone
        }
      },
    };
  }
  // Every slot taken: an id for this run only (its broker session will not be found again after a restart).
  return { suffix: randomSuffix(), slot: 0, release: () => undefined };
}

function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return false;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(lock, 'utf8').trim());
    } catch {
      // vanished: try again
    }
    // Our own pid in a lock this process did not take is a leftover of an earlier run (e.g. pid 1 in a container).
    if (holder !== process.pid && pidAlive(holder)) return false;
    try {
      unlinkSync(lock);
    } catch {
      // someone else took it over first; the retry decides
    }
  }
  return false;
}

function randomSuffix(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(6)].map((b) => alphabet[b % 36]).join('');
}

export function defaultClientId(deploymentId: string, suffix: string): string {
  return `vc-${deploymentId}-${hostPart()}-${suffix}`;
}
