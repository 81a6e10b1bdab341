/**
 * What `vigil-agent doctor` reports: one line per check, each pass / warn / fail (or skip when a check cannot
 * apply, e.g. no model configured), with a detail saying what was seen and a hint saying what to do next.
 */
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Short stable name: config, ffmpeg, camera:<name>, model, credentials, cloud, clock, disk, outbox. */
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do about it; empty when nothing is needed. */
  hint: string;
}

export interface DoctorReport {
  checks: CheckResult[];
  /** The worst status among the checks (skip counts as pass). */
  status: 'pass' | 'warn' | 'fail';
}

export const pass = (name: string, detail: string, hint = ''): CheckResult => ({ name, status: 'pass', detail, hint });
export const warn = (name: string, detail: string, hint: string): CheckResult => ({
  name,
  status: 'warn',
  detail,
  hint,
});
export const fail = (name: string, detail: string, hint: string): CheckResult => ({
  name,
  status: 'fail',
  detail,
  hint,
});
export const skip = (name: string, detail: string, hint = ''): CheckResult => ({ name, status: 'skip', detail, hint });

export function worstStatus(checks: readonly CheckResult[]): DoctorReport['status'] {
  if (checks.some((c) => c.status === 'fail')) return 'fail';
  if (checks.some((c) => c.status === 'warn')) return 'warn';
  return 'pass';
}

/**
 * Exit code: 0 when nothing failed (warnings included: the box works, something deserves a look), 1 when a check
 * failed. With `strict`, warnings exit 2 so a provisioning script can stop on them too.
 */
export function exitCodeFor(report: DoctorReport, strict = false): number {
  if (report.status === 'fail') return 1;
  if (report.status === 'warn' && strict) return 2;
  return 0;
}

const LABEL: Record<CheckStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', skip: 'SKIP' };

/** Human-readable report: aligned status, name and detail; the hint indented below anything not passing. */
export function formatReport(report: DoctorReport): string {
  const width = Math.max(6, ...report.checks.map((c) => c.name.length));
  const lines: string[] = [];
  for (const c of report.checks) {
    lines.push(`${LABEL[c.status]}  ${c.name.padEnd(width)}  ${c.detail}`);
    if (c.hint && c.status !== 'pass') lines.push(`${' '.repeat(6 + width + 2)}hint: ${c.hint}`);
  }
  const counts = (['pass', 'warn', 'fail', 'skip'] as const)
    .map((s) => [s, report.checks.filter((c) => c.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  lines.push('', `doctor: ${report.status.toUpperCase()} (${counts.join(', ')})`);
  return lines.join('\n') + '\n';
}
