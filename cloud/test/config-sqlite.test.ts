import { describe, expect, it } from 'vitest';
import { CloudConfigSchema, loadCloudConfig } from '../config.js';

/** `database.sqlite.synchronous`: FULL unless NORMAL is chosen; the schema documents the trade-off. */
describe('database.sqlite.synchronous', () => {
  it('defaults to full and accepts normal from the environment', () => {
    expect(loadCloudConfig({ env: {} }).config.database.sqlite.synchronous).toBe('full');
    expect(
      loadCloudConfig({ env: { VIGIL_CLOUD__DATABASE__SQLITE__SYNCHRONOUS: 'normal' } }).config.database.sqlite
        .synchronous,
    ).toBe('normal');
  });

  it('rejects anything else, naming the setting', () => {
    expect(() => loadCloudConfig({ env: { VIGIL_CLOUD__DATABASE__SQLITE__SYNCHRONOUS: 'off' } })).toThrow(
      /database\.sqlite\.synchronous/,
    );
  });

  it('documents what normal risks', () => {
    const description =
      CloudConfigSchema.properties.database.properties.sqlite.properties.synchronous.description ?? '';
    expect(description).toMatch(/power loss/);
    expect(description).toMatch(/kill -9/);
  });
});
