import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { humanName } from '../format.js';
import { activeFilterCount, type EventFilters, type FilterKey, VERDICT_TEXT, VERDICTS } from './filters.js';

/**
 * The filter form. Each change applies at once (the list reloads); on phones the form folds into a disclosure
 * showing how many filters are on.
 */
export const DEFAULT_LABELS = ['person', 'car', 'bicycle', 'motorcycle', 'bus', 'truck', 'dog', 'cat'];

interface Props {
  filters: EventFilters;
  cameras: string[];
  labels: string[];
  zones: string[];
  /** Filters the collector can apply (others are not shown). */
  supported: ReadonlySet<FilterKey>;
  onChange: (next: EventFilters) => void;
}

export function Select(props: {
  label: string;
  name: string;
  value: string;
  any: string;
  options: Array<[string, string]>;
  onChange: (v: string) => void;
}): JSX.Element {
  const id = `filter-${props.name}`;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select id={id} name={props.name} value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)}>
        <option value="">{props.any}</option>
        {props.options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </div>
  );
}

const withCurrent = (list: string[], current: string): string[] =>
  current && !list.includes(current) ? [...list, current].sort() : list;

export function FilterBar({ filters, cameras, labels, zones, supported, onChange }: Props): JSX.Element {
  const set = (k: FilterKey) => (v: string) => onChange({ ...filters, [k]: v });
  const count = activeFilterCount(filters);
  // Open at first when filters are on; then the person's choice (clearing the filters does not fold it).
  const [open, setOpen] = useState(count > 0);
  return (
    <details class="filters" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Filters{count > 0 ? ` (${count} on)` : ''}</summary>
      <form class="filter-form" aria-label="Filter events" onSubmit={(e) => e.preventDefault()}>
        <Select
          label="Camera"
          name="camera"
          value={filters.camera}
          any="All cameras"
          options={withCurrent(cameras, filters.camera).map((c) => [c, humanName(c)])}
          onChange={set('camera')}
        />
        <Select
          label="Label"
          name="label"
          value={filters.label}
          any="All labels"
          options={withCurrent(labels, filters.label).map((l) => [l, humanName(l)])}
          onChange={set('label')}
        />
        {supported.has('zone') && (
          <Select
            label="Zone"
            name="zone"
            value={filters.zone}
            any="All zones"
            options={withCurrent(zones, filters.zone).map((z) => [z, humanName(z)])}
            onChange={set('zone')}
          />
        )}
        <Select
          label="Status"
          name="status"
          value={filters.status}
          any="Active and ended"
          options={[
            ['active', 'Active'],
            ['ended', 'Ended'],
          ]}
          onChange={set('status')}
        />
        {supported.has('verdict') && (
          <Select
            label="Verdict"
            name="verdict"
            value={filters.verdict}
            any="Any verdict"
            options={VERDICTS.map((v) => [v, VERDICT_TEXT[v]])}
            onChange={set('verdict')}
          />
        )}
        <div class="field">
          <label for="filter-from">From</label>
          <input
            id="filter-from"
            type="date"
            name="from"
            value={filters.from}
            max={filters.to || undefined}
            onChange={(e) => set('from')(e.currentTarget.value)}
          />
        </div>
        <div class="field">
          <label for="filter-to">To</label>
          <input
            id="filter-to"
            type="date"
            name="to"
            value={filters.to}
            min={filters.from || undefined}
            onChange={(e) => set('to')(e.currentTarget.value)}
          />
        </div>
        {count > 0 && (
          <button
            type="button"
            class="button button-small button-quiet"
            onClick={() => onChange({ camera: '', label: '', zone: '', status: '', verdict: '', from: '', to: '' })}
          >
            Clear filters
          </button>
        )}
      </form>
    </details>
  );
}
