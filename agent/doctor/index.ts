/**
 * `vigil-agent doctor`: checks a box end to end — config, ffmpeg, each camera, the model, credentials, the
 * collector (a signed heartbeat), clock skew, disk and the outbox — each pass/warn/fail with a hint.
 *
 *   const report = await runDoctor({ config: '/etc/vigil/agent.yaml', version });
 *   process.stdout.write(formatReport(report)); process.exitCode = exitCodeFor(report);
 */
export { runDoctor, type DoctorOptions } from './run.js';
export {
  formatReport,
  exitCodeFor,
  worstStatus,
  type CheckResult,
  type CheckStatus,
  type DoctorReport,
} from './report.js';
export { CLOCK_FAIL_S, CLOCK_WARN_S } from './cloud.js';
export { DISK_FAIL_BYTES } from './disk.js';
