import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configReference } from '../../shared/config/index.js';
import { isVigilError } from '../../shared/errors/index.js';
import { parseCameraConfig } from '../camera/config.js';
import {
  AgentConfigSchema,
  cameraStreamConfig,
  effectiveUplinkConfig,
  findCamera,
  loadAgentConfig,
  parseListen,
  parseSize,
  trackerConfigFor,
  writeDeviceSection,
} from '../config.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function errorOf(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected an error');
}

const noDefault = { env: {}, defaultFile: '/nonexistent/agent.yaml' };

const GOOD = `# a box with two cameras
data_dir: /srv/vigil
log:
  level: debug
  file: /var/log/vigil/agent.log
  max_size: 2MiB
cameras:
  - name: door
    input: rtsp://cam1/stream
    labels: [person, car]
    threshold: 0.75
    filters:
      person: { min_score: 0.6 }
    masks:
      - [[0, 0], [0.2, 0], [0.2, 0.2]]
  - name: yard
    input: lavfi:testsrc2=size=320x240:rate=5
    enabled: false
model:
  path: /opt/models/yolox_nano.onnx
status:
  listen: /run/vigil/status.sock
`;

describe('loadAgentConfig', () => {
  it('fills defaults from the schema and resolves the credentials file against data_dir', () => {
    const { config, file: read } = loadAgentConfig(file('agent.yaml', GOOD), {}, noDefault);
    expect(read).toBe(join(dir, 'agent.yaml'));
    expect(config.data_dir).toBe('/srv/vigil');
    expect(config.device.credentials).toBe('/srv/vigil/credentials.json');
    expect(config.log).toEqual({ level: 'debug', file: '/var/log/vigil/agent.log', max_size: '2MiB', max_files: 5 });
    expect(config.cameras.map((c) => c.name)).toEqual(['door', 'yard']);
    const door = findCamera(config, 'door');
    expect(door.detect).toEqual({ width: 640, height: 360, fps: 5 });
    expect(door.enabled).toBe(true);
    expect(findCamera(config, 'yard').enabled).toBe(false);
    expect(config.model?.type).toBe('auto');
    expect(config.outbox.budget_bytes).toBe(256 * 1024 * 1024);
    expect(config.uplink.transport).toBe('auto');
    expect(config.status.listen).toBe('/run/vigil/status.sock');
  });

  it('runs on defaults without any file (motion-only, no cameras)', () => {
    const { config, file: read } = loadAgentConfig(undefined, {}, noDefault);
    expect(read).toBeUndefined();
    expect(config.data_dir).toBe('/var/lib/vigil');
    expect(config.device.credentials).toBe('/var/lib/vigil/credentials.json');
    expect(config.model).toBeUndefined();
    expect(config.cameras).toEqual([]);
    expect(config.status.listen).toBe('127.0.0.1:7411');
  });

  it('rejects an unknown key under a camera, naming the key, the file and the line', () => {
    const text = GOOD.replace('    enabled: false\n', '    enabled: false\n    fsp: 5\n');
    const e = errorOf(() => loadAgentConfig(file('a.yaml', text), {}, noDefault));
    expect(isVigilError(e, 'config_invalid')).toBe(true);
    const line = text.split('\n').findIndex((l) => l.includes('fsp: 5')) + 1;
    expect(line).toBe(19);
    expect(e.message).toContain('unknown config key "cameras.1.fsp"');
    expect(e.message).toContain(`${join(dir, 'a.yaml')}:${line}`);
  });

  it('rejects a wrong type with the key path and line', () => {
    const text = GOOD.replace('    threshold: 0.75\n', '    threshold: high\n');
    const e = errorOf(() => loadAgentConfig(file('b.yaml', text), {}, noDefault));
    expect(isVigilError(e, 'config_invalid')).toBe(true);
    expect(e.message).toMatch(/config key "cameras\.0\.threshold"/);
    expect(e.message).toContain(`b.yaml:11`);
    expect(e.message).toMatch(/number/i);
  });

  it('rejects a bad nested value (detect.fps over 60) and a bad top-level section type', () => {
    const fps = GOOD.replace('    enabled: false\n', '    enabled: false\n    detect:\n      fps: 120\n');
    const e1 = errorOf(() => loadAgentConfig(file('c.yaml', fps), {}, noDefault));
    expect(e1.message).toContain('"cameras.1.detect.fps"');
    expect(e1.message).toContain('c.yaml:20');
    const e2 = errorOf(() => loadAgentConfig(file('d.yaml', 'data_dir: /x\nlog: verbose\n'), {}, noDefault));
    expect(e2.message).toContain('"log"');
    expect(e2.message).toContain('d.yaml:2');
  });

  it('rejects duplicate camera names with the line of the second', () => {
    const text = GOOD.replace('  - name: yard\n', '  - name: door\n');
    const e = errorOf(() => loadAgentConfig(file('dup.yaml', text), {}, noDefault));
    expect(isVigilError(e, 'config_invalid')).toBe(true);
    expect(e.message).toContain('camera name "door" is already used by cameras.0');
    expect(e.message).toContain('cameras.1.name');
    expect(e.message).toContain('dup.yaml:16');
  });

  it('reports a YAML syntax error with its line, and an unreadable explicit file', () => {
    const e = errorOf(() =>
      loadAgentConfig(file('syn.yaml', 'data_dir: /x\ncameras:\n  - name: [door\n'), {}, noDefault),
    );
    expect(e.message).toMatch(/syn\.yaml:\d+: YAML syntax error/);
    expect(errorOf(() => loadAgentConfig(join(dir, 'missing.yaml'), {}, noDefault)).code).toBe('config_unreadable');
  });

  it('takes environment overrides (VIGIL_AGENT__A__B) and CLI overrides, and rejects unknown environment keys', () => {
    const p = file('env.yaml', GOOD);
    const { config } = loadAgentConfig(
      p,
      { data_dir: join(dir, 'data') },
      { env: { VIGIL_AGENT__LOG__LEVEL: 'warn', VIGIL_AGENT__UPLINK__CONCURRENCY: '2' } },
    );
    expect(config.log.level).toBe('warn');
    expect(config.uplink.concurrency).toBe(2);
    expect(config.data_dir).toBe(join(dir, 'data'));
    expect(config.device.credentials).toBe(join(dir, 'data', 'credentials.json'));
    const e = errorOf(() => loadAgentConfig(p, {}, { env: { VIGIL_AGENT__LOGG__LEVEL: 'warn' } }));
    expect(e.message).toContain('VIGIL_AGENT__LOGG__LEVEL');
  });

  it('reads the default file only when it exists', () => {
    const p = file('default.yaml', 'data_dir: /from/default\n');
    expect(loadAgentConfig(undefined, {}, { env: {}, defaultFile: p }).config.data_dir).toBe('/from/default');
    expect(loadAgentConfig(undefined, {}, { env: { VIGIL_AGENT_CONFIG: p } }).config.data_dir).toBe('/from/default');
  });

  it('findCamera lists the configured names for an unknown one', () => {
    const { config } = loadAgentConfig(file('f.yaml', GOOD), {}, noDefault);
    const e = errorOf(() => findCamera(config, 'garage'));
    expect(e.code).toBe('unknown_camera');
    expect(e.message).toBe('no camera "garage"; configured cameras: door, yard');
  });
});

describe('the camera and tracker parts of a camera', () => {
  it('gives the camera stage only its own keys, and the tracker the score gates', () => {
    const { config } = loadAgentConfig(file('g.yaml', GOOD), {}, noDefault);
    const door = findCamera(config, 'door');
    const stream = cameraStreamConfig(door);
    // the camera stage's schema rejects unknown keys: it must accept this
    expect(() => parseCameraConfig(stream)).not.toThrow();
    expect(Object.keys(stream)).not.toContain('labels');
    expect(stream.masks).toHaveLength(1);
    expect(trackerConfigFor(door)).toEqual({ threshold: 0.75, labels: { person: { min_score: 0.6 } } });
    expect(trackerConfigFor(findCamera(config, 'yard'))).toEqual({});
  });
});

describe('effectiveUplinkConfig', () => {
  it('fills URLs and transport from the device section, and explicit uplink keys win', () => {
    const base = loadAgentConfig(
      file(
        'u1.yaml',
        'device:\n  id: dev_1\n  cloud: https://c.example\n  transport: mqtt\n  mqtt_url: mqtts://m.example:8883\n',
      ),
      {},
      noDefault,
    ).config;
    expect(effectiveUplinkConfig(base)).toMatchObject({
      transport: 'mqtt',
      https_url: 'https://c.example',
      mqtt_url: 'mqtts://m.example:8883',
    });
    const own = loadAgentConfig(
      file(
        'u2.yaml',
        'device:\n  cloud: https://c.example\n  transport: mqtt\nuplink:\n  transport: https\n  https_url: ' +
          'https://other.example\n',
      ),
      {},
      noDefault,
    ).config;
    expect(effectiveUplinkConfig(own)).toMatchObject({ transport: 'https', https_url: 'https://other.example' });
    const bare = loadAgentConfig(undefined, {}, noDefault).config;
    expect(effectiveUplinkConfig(bare, { https: 'https://from-credentials.example' })).toMatchObject({
      transport: 'auto',
      https_url: 'https://from-credentials.example',
    });
  });
});

describe('writeDeviceSection', () => {
  const COMMENTED = `# Vigil agent on the garage box
data_dir: /srv/vigil # big disk

# who we are (written by pairing)
device:
  id: dev_OLD # old id
  cloud: https://old.example

# cameras
cameras:
  - name: door # front
    input: rtsp://cam1/stream
`;

  it('changes only the device section, keeping comments, order and other keys', () => {
    const p = file('agent.yaml', COMMENTED);
    chmodSync(p, 0o640);
    writeDeviceSection(p, { id: 'dev_NEW', cloud: 'https://new.example', transport: 'https', mqtt_url: undefined });
    const text = readFileSync(p, 'utf8');
    expect(text).toContain('# Vigil agent on the garage box');
    expect(text).toContain('data_dir: /srv/vigil # big disk');
    expect(text).toContain('# who we are (written by pairing)');
    expect(text).toContain('  id: dev_NEW # old id');
    expect(text).toContain('  cloud: https://new.example');
    expect(text).toContain('  transport: https');
    expect(text).toContain('  - name: door # front');
    expect(text.indexOf('data_dir')).toBeLessThan(text.indexOf('device:'));
    expect(text.indexOf('device:')).toBeLessThan(text.indexOf('cameras:'));
    expect(statSync(p).mode & 0o777).toBe(0o640);
    const { config } = loadAgentConfig(p, {}, noDefault);
    expect(config.device).toMatchObject({ id: 'dev_NEW', cloud: 'https://new.example', transport: 'https' });
    expect(config.cameras[0]?.name).toBe('door');
  });

  it('creates the file when absent, and null removes the section leaving the rest', () => {
    const p = join(dir, 'sub', 'new.yaml');
    writeDeviceSection(p, { id: 'dev_A', cloud: 'https://a.example', transport: 'https' });
    expect(existsSync(p)).toBe(true);
    expect(loadAgentConfig(p, {}, noDefault).config.device.id).toBe('dev_A');
    writeDeviceSection(p, null);
    const text = readFileSync(p, 'utf8');
    expect(text).not.toMatch(/^device:/m);
    expect(text).not.toContain('{}');
    expect(text).toMatch(/^# vigil-agent configuration/);
    expect(loadAgentConfig(p, {}, noDefault).config.device.id).toBeUndefined();

    const q = file('keep.yaml', COMMENTED);
    writeDeviceSection(q, null);
    const kept = readFileSync(q, 'utf8');
    expect(kept).not.toContain('dev_OLD');
    expect(kept).toContain('data_dir: /srv/vigil # big disk');
    expect(kept).toContain('  - name: door # front');
  });

  it('writes through a symlinked config file', () => {
    const real = file('real.yaml', 'data_dir: /srv/x\n');
    const link = join(dir, 'link.yaml');
    symlinkSync(real, link);
    writeDeviceSection(link, { id: 'dev_L' });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toBe('data_dir: /srv/x\ndevice:\n  id: dev_L\n');
  });

  it('refuses to touch a file that is not valid YAML', () => {
    const p = file('bad.yaml', 'data_dir: /x\ncameras: [\n');
    const e = errorOf(() => writeDeviceSection(p, { id: 'dev_A' }));
    expect(e.code).toBe('config_invalid');
    expect(readFileSync(p, 'utf8')).toBe('data_dir: /x\ncameras: [\n');
  });
});

describe('schema documentation and small parsers', () => {
  it('describes every key of the agent config (the README reference is generated from it)', () => {
    const undocumented = configReference(AgentConfigSchema)
      .filter((r) => r.description.trim() === '')
      .map((r) => r.key);
    // The uplink section's credentials are owned by agent/uplink/config.ts.
    expect(undocumented.filter((k) => !['uplink.mqtt_username', 'uplink.mqtt_password'].includes(k))).toEqual([]);
  });

  it('parses sizes and listen addresses', () => {
    expect(parseSize('10MiB')).toBe(10 * 1024 * 1024);
    expect(parseSize('512K')).toBe(512 * 1024);
    expect(parseSize('1.5G')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('4096')).toBe(4096);
    expect(() => parseSize('ten megs')).toThrow(/not a size/);
    expect(parseListen('127.0.0.1:7411')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 7411 });
    expect(parseListen('[::1]:80')).toEqual({ kind: 'tcp', host: '::1', port: 80 });
    expect(parseListen('/run/vigil/s.sock')).toEqual({ kind: 'unix', path: '/run/vigil/s.sock' });
    expect(() => parseListen('localhost')).toThrow(/HOST:PORT/);
  });
});
