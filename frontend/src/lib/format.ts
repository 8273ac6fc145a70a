// Every number the dashboard shows goes through here, in the browser's locale (or the one
// given, for tests). The API has already rounded amounts and rates to two decimals; these
// functions only choose how to write them.

export type Direction = 'up' | 'down' | 'flat' | 'none';

const cache = new Map<string, Intl.NumberFormat>();

function numberFormat(locale: string | undefined, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${locale ?? ''}|${JSON.stringify(options)}`;
  let format = cache.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, options);
    cache.set(key, format);
  }
  return format;
}

/** A count: `1,234`. */
export function formatCount(value: number, locale?: string): string {
  return numberFormat(locale, { maximumFractionDigits: 0 }).format(value);
}

/** A percentage the API gives as a number of percent: `8` → `8.00%`. */
export function formatPercent(value: number, locale?: string): string {
  return numberFormat(locale, {
    style: 'percent',
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  }).format(value / 100);
}

/**
 * Money with two decimals: `15` → `15.00`, or `$15.00` when the one currency is known. Mixed
 * or unknown currencies (`XXX`) get no symbol rather than a wrong one.
 */
export function formatMoney(value: number, currency: string | null = null, locale?: string): string {
  if (currency && /^[A-Z]{3}$/.test(currency) && currency !== 'XXX') {
    try {
      return numberFormat(locale, {
        style: 'currency',
        currency,
        minimumFractionDigits: 2,
        maximumFractionDigits: 2,
      }).format(value);
    } catch {
      // A code this browser does not know: fall through to the plain amount.
    }
  }
  return numberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
}

/** A duration the API gives in whole seconds: `754` → `12m 34s`, `3725` → `1h 02m 05s`. */
export function formatDuration(seconds: number): string {
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = whole % 60;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (h > 0) return `${h}h ${pad(m)}m ${pad(s)}s`;
  if (m > 0) return `${m}m ${pad(s)}s`;
  return `${s}s`;
}

/** A ratio with two decimals as the API gives it: `2.5` → `2.50`. */
export function formatRatio(value: number, locale?: string): string {
  return numberFormat(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 }).format(value);
}

/** The currency to label money with: the only one in the breakdown, else none. */
export function singleCurrency(byCurrency: Record<string, number> | null | undefined): string | null {
  const codes = Object.keys(byCurrency ?? {});
  return codes.length === 1 && codes[0] !== 'XXX' ? (codes[0] ?? null) : null;
}

/** Percent change the way the API defines it: `null` when there was nothing before. */
export function percentChange(current: number, previous: number): number | null {
  if (previous === 0) return null;
  return Math.round(((current - previous) / Math.abs(previous)) * 10_000) / 100;
}

export interface ChangeDisplay {
  direction: Direction;
  /** Short, for the eye: `+12.5%`. */
  text: string;
  /** Whole, for screen readers: `up 12.5% on the previous period`. */
  label: string;
}

/** A card's delta. `undefined`: no comparison asked; `null`: nothing to compare with. */
export function describeChange(change: number | null | undefined, locale?: string): ChangeDisplay {
  if (change === undefined) return { direction: 'none', text: '', label: '' };
  if (change === null) {
    return { direction: 'none', text: 'new', label: 'nothing in the previous period to compare with' };
  }
  const magnitude = numberFormat(locale, { style: 'percent', maximumFractionDigits: 1 }).format(
    Math.abs(change) / 100,
  );
  if (change === 0) return { direction: 'flat', text: magnitude, label: 'unchanged from the previous period' };
  const up = change > 0;
  return {
    direction: up ? 'up' : 'down',
    text: `${up ? '+' : '−'}${magnitude}`,
    label: `${up ? 'up' : 'down'} ${magnitude} on the previous period`,
  };
}

/** A moment as wall-clock time: `14:03:21`. */
export function formatClock(date: Date, locale?: string): string {
  return new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(date);
}

/** A calendar day (`YYYY-MM-DD`) as the locale writes it: `Nov 7, 2025`. */
export function formatDay(date: string, locale?: string): string {
  // A date has no zone: read and write it in UTC so no offset can move it a day.
  return new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' }).format(
    new Date(`${date}T00:00:00Z`),
  );
}
