// The dashboard in headless Chromium against the real analytics service over a real store
// holding known events. Every wait is "until it appears" with a generous limit; nothing is
// timed.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Breakdown, Funnel, OriginalMetrics, Products, Realtime, Summary } from '../src/api/types';
import { addDays, todayIn } from '../src/lib/dates';
import { formatCount, formatMoney, formatPercent } from '../src/lib/format';
import { REPO_ROOT, Stack, eventually } from './stack';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ZONE = 'Europe/Berlin';
const LOCALE = 'en-US';
const WAIT = { timeout: 25_000, interval: 100 };
/**
 * Where the screenshots go (the README's view, phone width, dark mode), to look at by eye:
 * `SCREENSHOT_DIR`, else `target/screenshots` (ignored by git, so a test run leaves the work tree
 * clean). The README's picture is refreshed by copying `dashboard.png` from there into `docs/`.
 */
const SCREENSHOTS = process.env.SCREENSHOT_DIR || join(REPO_ROOT, 'target', 'screenshots');

const stack = new Stack();
let context: BrowserContext;
let page: Page;
let profileDir = '';
let hasV1 = false;
/** Console errors and page errors, except those a deliberate outage causes. */
const consoleErrors: string[] = [];
let outage = false;

const now = Date.now();
const ago = (ms: number) => new Date(now - ms).toISOString();
const MINUTE = 60_000;
const DAY = 86_400_000;

function event(type: 'page_view' | 'add_to_cart' | 'purchase', at: string, extra: Record<string, unknown> = {}) {
  return { event_type: type, timestamp: at, shop_id: 'acme', currency: 'EUR', ...extra };
}

// Today (in the last 7 days and the last 30 minutes), 8 and 10 days ago (the 7 days before,
// and in the last 30 days), and 60 days ago (all time only).
const KNOWN_EVENTS = [
  ...['s1', 's2', 's3'].map((s) =>
    event('page_view', ago(MINUTE), { product_id: 'p-1', session_id: s, visitor_id: `v-${s}`, path: s === 's3' ? '/' : '/shoes' }),
  ),
  event('add_to_cart', ago(MINUTE), { product_id: 'p-1', session_id: 's1', visitor_id: 'v-s1' }),
  event('add_to_cart', ago(MINUTE), { product_id: 'p-1', session_id: 's2', visitor_id: 'v-s2' }),
  event('purchase', ago(30_000), { product_id: 'p-1', session_id: 's1', visitor_id: 'v-s1', order_amount: 15, order_id: 'o-1' }),
  event('page_view', ago(MINUTE), { shop_id: 'globex', product_id: 'p-2', session_id: 'g1' }),
  event('purchase', ago(30_000), { shop_id: 'globex', product_id: 'p-2', session_id: 'g1', order_amount: 20.5, order_id: 'o-2' }),
  event('page_view', ago(8 * DAY), { product_id: 'p-1' }),
  event('page_view', ago(8 * DAY), { product_id: 'p-1' }),
  event('purchase', ago(8 * DAY), { product_id: 'p-1', order_amount: 10, order_id: 'o-3' }),
  ...Array.from({ length: 4 }, () => event('page_view', ago(10 * DAY), { product_id: 'p-3' })),
  ...Array.from({ length: 5 }, () => event('page_view', ago(60 * DAY), { product_id: 'p-4' })),
];

/** The API parameters of a preset, computed here independently of the app. */
function rangeQuery(days: number | null, shop?: string): Record<string, string | undefined> {
  const today = todayIn(ZONE);
  return days === null
    ? { tz: ZONE, shop_id: shop }
    : { from: addDays(today, -(days - 1)), to: addDays(today, 1), tz: ZONE, shop_id: shop };
}

const card = (id: string) => page.getByTestId(id).locator('[data-role=value]');
const cardText = (id: string) => card(id).textContent().then((t) => t?.trim());

/** The cards must show exactly what `/api/analytics` answers for `query`. */
async function expectCardsToMatch(query: Record<string, string | undefined>): Promise<OriginalMetrics> {
  const metrics = await stack.api<OriginalMetrics>('/api/analytics', query);
  await expect.poll(() => cardText('page-views'), WAIT).toBe(formatCount(metrics.total_page_views, LOCALE));
  await expect.poll(() => cardText('add-to-carts'), WAIT).toBe(formatCount(metrics.total_add_to_carts, LOCALE));
  await expect.poll(() => cardText('purchases'), WAIT).toBe(formatCount(metrics.total_purchases, LOCALE));
  await expect.poll(() => cardText('conversion-rate'), WAIT).toBe(formatPercent(metrics.conversion_rate, LOCALE));
  const currency = hasV1 ? 'EUR' : null;
  await expect.poll(() => cardText('average-order'), WAIT).toBe(formatMoney(metrics.average_purchase_value, currency, LOCALE));
  await expect.poll(() => cardText('max-order'), WAIT).toBe(formatMoney(metrics.max_purchase_value, currency, LOCALE));
  await expect.poll(() => cardText('min-order'), WAIT).toBe(formatMoney(metrics.min_purchase_value, currency, LOCALE));
  await expect.poll(() => cardText('top-product'), WAIT).toBe(metrics.top_product_id ?? 'N/A');
  return metrics;
}

beforeAll(async () => {
  await stack.start();
  await stack.send(KNOWN_EVENTS);
  await eventually('the known events to be stored', async () => {
    const all = await stack.api<OriginalMetrics>('/api/analytics');
    return all.total_page_views === 15 && all.total_purchases === 3 ? true : undefined;
  });
  hasV1 = await stack.hasV1();

  profileDir = mkdtempSync(join(tmpdir(), 'dashboard-chromium-'));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    locale: LOCALE,
    timezoneId: ZONE,
    colorScheme: 'light',
    viewport: { width: 1280, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error' && !outage) consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`page error: ${error.message}`));
});

afterAll(async () => {
  await context?.close();
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  await stack.stopAll();
});

/** With analytics gone, the page says what failed, and keeps the last numbers on screen. */
async function expectOutageReported(): Promise<void> {
  const alert = page.getByTestId('error');
  await expect.poll(() => alert.isVisible(), WAIT).toBe(true);
  await expect.poll(() => alert.textContent(), WAIT).toContain('/api/analytics): the analytics service is unreachable');
  expect(await cardText('page-views')).toBe(formatCount(6, LOCALE));
}

/** Signs in through the form with `key`. */
async function signInWith(key: string): Promise<void> {
  const form = page.getByTestId('sign-in');
  await expect.poll(() => form.isVisible(), WAIT).toBe(true);
  await page.getByLabel('Read key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => form.isVisible(), WAIT).toBe(false);
}

describe('the dashboard in a real browser', () => {
  it('asks for a read key, refuses a bad one, and signs in with a good one', async () => {
    await page.goto(`${stack.analyticsUrl}/`);
    await expect.poll(() => page.getByTestId('sign-in').isVisible(), WAIT).toBe(true);
    // A refused key is a 401, which the browser reports on its console: expected here.
    outage = true;
    try {
      await page.getByLabel('Read key').fill('rk_not_a_real_key');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect.poll(() => page.getByTestId('sign-in-error').textContent(), WAIT).toContain('unknown or revoked');
    } finally {
      outage = false;
    }
    await signInWith(stack.readKey);
    // Kept for the tab's session only.
    expect(await page.evaluate(() => Object.keys(localStorage).length)).toBe(0);
    expect(await page.evaluate(() => Object.values(sessionStorage))).toContain(stack.readKey);
  });

  it('opens on the last 7 days in the browser zone and shows exactly the API numbers', async () => {
    await page.goto(`${stack.analyticsUrl}/`);
    await expect.poll(() => new URL(page.url()).search, WAIT).toBe('?range=7d&tz=Europe%2FBerlin');
    await expect.poll(() => page.getByLabel('Last 7 days').isChecked(), WAIT).toBe(true);
    await expect.poll(() => page.getByLabel('Time zone').inputValue(), WAIT).toBe(ZONE);

    const metrics = await expectCardsToMatch(rangeQuery(7));
    // The known events, as a person would count them.
    expect(metrics).toMatchObject({ total_page_views: 4, total_add_to_carts: 2, total_purchases: 2, top_product_id: 'p-1' });
    expect(await cardText('conversion-rate')).toBe('50.00%');
    expect(await cardText('min-order')).toMatch(/^(€)?15\.00$/);
    // 4 page views against 6 in the 7 days before.
    await expect.poll(() => page.getByTestId('page-views').locator('[data-role=delta]').textContent(), WAIT).toContain('33.3%');
    expect(await page.getByTestId('page-views').locator('[data-role=delta]').textContent()).toContain('down 33.3% on the previous period');
    await expect.poll(() => page.getByTestId('last-updated').isVisible(), WAIT).toBe(true);
  });

  it('shows the v1 panels with the API numbers', async (ctx) => {
    if (!hasV1) ctx.skip();
    const query = rangeQuery(7);
    const summary = await stack.api<Summary>('/api/v1/summary', { ...query, compare: 'previous' });
    await expect.poll(() => cardText('revenue'), WAIT).toBe(formatMoney(summary.metrics.revenue, 'EUR', LOCALE));
    expect(await cardText('revenue')).toBe('€35.50');
    await expect.poll(() => cardText('visitors'), WAIT).toBe(formatCount(summary.metrics.visitors, LOCALE));
    await expect.poll(() => cardText('sessions'), WAIT).toBe(formatCount(summary.metrics.sessions, LOCALE));

    const funnel = await stack.api<Funnel>('/api/v1/funnel', query);
    for (const step of funnel.steps) {
      await expect
        .poll(() => page.locator(`[data-testid=funnel] [data-step=${step.step}] [data-role=count]`).textContent(), WAIT)
        .toBe(formatCount(step.count, LOCALE));
    }

    const products = await stack.api<Products>('/api/v1/products', query);
    const firstRow = page.getByTestId('products').locator('tbody tr').first().locator('th');
    await expect.poll(() => firstRow.textContent().then((t) => t?.trim()), WAIT).toBe(products.products[0]?.product_id);

    const realtime = await stack.api<Realtime>('/api/v1/realtime');
    await expect
      .poll(() => page.getByTestId('realtime').locator('[data-role=page_views]').textContent(), WAIT)
      .toBe(formatCount(realtime.page_views, LOCALE));
    // The chart has drawn its canvas.
    await expect.poll(() => page.getByTestId('chart').locator('canvas').count(), WAIT).toBeGreaterThan(0);

    // Each CSV link downloads what is shown: same range and zone, the chart's interval.
    const links = page.getByTestId('export').locator('a');
    expect(await links.count()).toBe(3);
    for (const href of await links.evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''))) {
      const url = new URL(href, stack.analyticsUrl);
      expect(url.searchParams.get('from')).toBe(query.from);
      expect(url.searchParams.get('tz')).toBe(ZONE);
      const response = await fetch(url, { headers: stack.auth() });
      expect(response.status, href).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/csv');
      const rows = (await response.text()).trim().split(/\r?\n/);
      if (url.searchParams.get('dataset') === 'timeseries') {
        expect(url.searchParams.get('interval')).toBe('day');
        expect(rows.length - 1).toBe(7);
      }
    }
  });

  it('names every control for screen readers and works from the keyboard', async () => {
    const unnamed = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('input, select, button, a[href]')]
        .filter((el) => {
          const labels = 'labels' in el ? (el as HTMLInputElement).labels : null;
          const name = [...(labels ?? [])].map((l) => l.textContent).join('') || el.getAttribute('aria-label') || el.textContent;
          return !name?.trim();
        })
        .map((el) => el.outerHTML.slice(0, 100)),
    );
    expect(unnamed).toEqual([]);

    // The range is a real radio group: arrow keys move the choice, with a visible focus ring.
    await page.getByLabel('Last 7 days').focus();
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => new URL(page.url()).searchParams.get('range'), WAIT).toBe('30d');
    const ring = await page.evaluate(() => {
      const focused = document.activeElement;
      const face = focused?.nextElementSibling;
      return face ? getComputedStyle(face).outlineStyle : 'none';
    });
    expect(ring).toBe('solid');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => new URL(page.url()).searchParams.get('range'), WAIT).toBe('7d');
    await expectCardsToMatch(rangeQuery(7));
  });

  it('updates itself when new events are stored, without a reload', async () => {
    // Through the live stream, not by polling, when the server has one.
    if (hasV1) await expect.poll(() => page.getByTestId('live-mode').textContent().then((t) => t?.trim()), WAIT).toBe('Live');
    await page.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    await stack.send([
      event('page_view', ago(10_000), { product_id: 'p-2' }),
      event('page_view', ago(10_000), { product_id: 'p-2' }),
    ]);
    await expect.poll(() => cardText('page-views'), WAIT).toBe(formatCount(6, LOCALE));
    await expectCardsToMatch(rangeQuery(7));
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
  });

  it('changes the numbers with the range and the shop, and keeps them in the URL', async () => {
    await page.getByLabel('Last 30 days').check();
    await expect.poll(() => new URL(page.url()).searchParams.get('range'), WAIT).toBe('30d');
    const month = await expectCardsToMatch(rangeQuery(30));
    expect(month.total_page_views).toBe(12);

    await page.getByLabel('All time').check();
    const all = await expectCardsToMatch(rangeQuery(null));
    expect(all.total_page_views).toBe(17);

    await page.getByLabel('Today').check();
    await expectCardsToMatch(rangeQuery(1));

    if (hasV1) {
      await expect.poll(() => page.getByLabel('Shop').locator('option').count(), WAIT).toBeGreaterThanOrEqual(3);
      await page.getByLabel('Shop').selectOption('globex');
      await expect.poll(() => new URL(page.url()).searchParams.get('shop'), WAIT).toBe('globex');
      const globex = await expectCardsToMatch(rangeQuery(1, 'globex'));
      expect(globex.total_page_views).toBe(1);
      await page.getByLabel('Shop').selectOption('');
    }

    // A custom range: both days inclusive on screen, `to` exclusive for the API.
    await page.getByLabel('Custom').check();
    const today = todayIn(ZONE);
    await page.getByLabel('From', { exact: true }).fill(addDays(today, -9));
    await page.getByLabel('To', { exact: true }).fill(addDays(today, -8));
    await expect.poll(() => new URL(page.url()).search, WAIT).toBe(
      `?range=custom&from=${addDays(today, -9)}&to=${addDays(today, -8)}&tz=Europe%2FBerlin`,
    );
    const custom = await expectCardsToMatch({ from: addDays(today, -9), to: addDays(today, -7), tz: ZONE });
    expect(custom).toMatchObject({ total_page_views: 2, total_purchases: 1 });

    // A shared link opens on the state it names.
    await page.goto(`${stack.analyticsUrl}/?range=30d&tz=${encodeURIComponent(ZONE)}`);
    await expectCardsToMatch(rangeQuery(30));
    await page.goto(`${stack.analyticsUrl}/`);
    await expectCardsToMatch(rangeQuery(7));
  });

  it('narrows every figure to a clicked row, keeps it in the URL, and removes it', async (ctx) => {
    if (!hasV1) ctx.skip();
    await page.goto(`${stack.analyticsUrl}/`);
    const pages = page.getByTestId('breakdown-pages');
    const landing = await stack.api<Breakdown>('/api/v1/breakdown', { ...rangeQuery(7), dimension: 'landing_page', limit: '8' });
    expect(landing.rows.map((r) => r.value)).toContain('/shoes');
    const shoesRow = pages.locator('tbody tr[data-value="/shoes"]');
    await expect.poll(() => shoesRow.locator('td').first().textContent(), WAIT).toBe(
      formatCount(landing.rows.find((r) => r.value === '/shoes')?.visitors ?? -1, LOCALE),
    );

    await shoesRow.getByRole('button', { name: '/shoes' }).click();
    await expect.poll(() => new URL(page.url()).searchParams.get('landing_page'), WAIT).toBe('/shoes');
    const chip = page.getByTestId('filters').locator('[data-filter=landing_page]');
    await expect.poll(() => chip.textContent(), WAIT).toContain('/shoes');
    // Every figure is the API's for that segment: two sessions landed on /shoes, one bought.
    const segment = await expectCardsToMatch({ ...rangeQuery(7), landing_page: '/shoes' });
    expect(segment).toMatchObject({ total_page_views: 2, total_purchases: 1 });
    // The page breakdown is narrowed too; the landing-page rows are not offered again.
    await expect.poll(() => pages.locator('tbody tr').count(), WAIT).toBe(1);
    expect(await pages.locator('tbody button.pick').count()).toBe(0);

    // A shared link opens filtered; Back returns to the view before the click.
    await page.reload();
    await expect.poll(() => chip.isVisible(), WAIT).toBe(true);
    await expectCardsToMatch({ ...rangeQuery(7), landing_page: '/shoes' });
    await page.goBack();
    await expect.poll(() => chip.isVisible(), WAIT).toBe(false);
    await expectCardsToMatch(rangeQuery(7));
    await page.goForward();
    await expect.poll(() => chip.isVisible(), WAIT).toBe(true);

    // Removing the chip shows everything again.
    await chip.getByRole('button').click();
    await expect.poll(() => new URL(page.url()).searchParams.has('landing_page'), WAIT).toBe(false);
    await expectCardsToMatch(rangeQuery(7));
  });

  it('says so when a filter matches nothing', async (ctx) => {
    if (!hasV1) ctx.skip();
    await page.goto(`${stack.analyticsUrl}/?range=7d&tz=${encodeURIComponent(ZONE)}&country=ZZ`);
    await expect.poll(() => cardText('page-views'), WAIT).toBe('0');
    for (const card of ['sources', 'pages', 'devices', 'countries']) {
      await expect
        .poll(() => page.getByTestId(`breakdown-${card}`).getByTestId('breakdown-empty').textContent(), WAIT)
        .toContain('Nothing in this range');
    }
    await expect.poll(() => page.getByTestId('products').textContent(), WAIT).toContain('No product');
    await page.getByTestId('filters').getByRole('button', { name: 'Clear all' }).click();
    await expectCardsToMatch(rangeQuery(7));
  });

  it('says what failed when the API is unreachable, and recovers by itself', async () => {
    outage = true;
    await stack.stopAnalytics('SIGKILL');
    try {
      await expectOutageReported();
    } finally {
      await stack.startAnalytics();
    }
    const alert = page.getByTestId('error');
    await expect.poll(() => alert.isVisible(), WAIT).toBe(false);
    outage = false;
    await expectCardsToMatch(rangeQuery(7));
    // And it is live again: a new event shows up without a reload.
    await stack.send([event('page_view', ago(5_000), { product_id: 'p-1' })]);
    await expect.poll(() => cardText('page-views'), WAIT).toBe(formatCount(7, LOCALE));
  });

  it('fits a phone screen, follows dark mode, and saves the screenshots', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.setViewportSize({ width: 375, height: 812 });
    // Nothing sticks out sideways (wide tables scroll inside their own box).
    const overflowing = () =>
      page.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
          .filter((el) => !el.closest('.table-scroll'))
          .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ${Math.round(el.getBoundingClientRect().right)}`),
      );
    await expect.poll(overflowing, WAIT).toEqual([]);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });

    // Dark mode follows the system.
    await page.emulateMedia({ colorScheme: 'dark' });
    const dark = () => page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
    await expect.poll(dark, WAIT).toBe('rgb(15, 18, 23)');
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });

    await expectCardsToMatch(rangeQuery(7));
    await page.screenshot({ path: join(SCREENSHOTS, 'dashboard.png'), fullPage: true });
  });

  it('keeps large figures on one line on a phone and the revenue axis wide enough for them', async (ctx) => {
    if (!hasV1) ctx.skip();
    await stack.send([
      event('page_view', ago(2 * MINUTE), { shop_id: 'bigco', product_id: 'p-9' }),
      event('purchase', ago(2 * MINUTE), { shop_id: 'bigco', product_id: 'p-9', order_amount: 20255.33, order_id: 'big-1' }),
      event('purchase', ago(DAY), { shop_id: 'bigco', product_id: 'p-9', order_amount: 4000, order_id: 'big-2' }),
    ]);
    await eventually('the large orders to be stored', async () => {
      const big = await stack.api<OriginalMetrics>('/api/analytics', { shop_id: 'bigco' });
      return big.total_purchases === 2 ? true : undefined;
    });
    await page.setViewportSize({ width: 375, height: 812 });
    try {
      await page.goto(`${stack.analyticsUrl}/?range=7d&tz=${encodeURIComponent(ZONE)}&shop=bigco`);
      await expect.poll(() => cardText('revenue'), WAIT).toBe('€24,255.33');
      await expect.poll(() => cardText('max-order'), WAIT).toBe('€20,255.33');
      // Each figure is one line of text, inside its card.
      const lines = await page.evaluate(() =>
        [...document.querySelectorAll<HTMLElement>('[data-role=value]')].map((el) => {
          const range = document.createRange();
          range.selectNodeContents(el);
          const rects = [...range.getClientRects()].filter((r) => r.width > 0);
          const tops = new Set(rects.map((r) => Math.round(r.top)));
          const card = el.closest('article')?.getBoundingClientRect();
          const inside = card ? el.scrollWidth <= el.clientWidth + 1 : false;
          return { text: el.textContent?.trim(), lines: tops.size, inside };
        }),
      );
      expect(lines.filter((l) => l.lines > 1 || !l.inside)).toEqual([]);
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-phone-large.png'), fullPage: true });
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
    // The revenue axis (right of the plot) is at least as wide as a five-digit amount.
    await expect.poll(() => page.getByTestId('chart').locator('.u-over').count(), WAIT).toBe(1);
    const axis = await page.evaluate(() => {
      const chart = document.querySelector('[data-testid=chart] .uplot') as HTMLElement;
      const over = chart.querySelector('.u-over') as HTMLElement;
      const right = chart.querySelector('.u-wrap')!.getBoundingClientRect().right - over.getBoundingClientRect().right;
      const context = document.createElement('canvas').getContext('2d')!;
      context.font = '12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
      return { right, label: context.measureText('€20,000.00').width };
    });
    expect(axis.right).toBeGreaterThanOrEqual(axis.label);
    await page.goto(`${stack.analyticsUrl}/`);
  });

  it('shows only the shop of a shop key, and signs out when its key is revoked', async () => {
    await page.getByTestId('sign-out').click();
    const acme = stack.createKey('--kind', 'read', '--shop', 'acme');
    // Analytics learns of a new key within its refresh (1 s here).
    await eventually('analytics to know the new key', async () => {
      const response = await fetch(`${stack.analyticsUrl}/api/v1/key`, { headers: { Authorization: `Bearer ${acme.key}` } });
      return response.ok ? true : undefined;
    });
    await signInWith(acme.key);
    const options = page.getByTestId('shop').locator('option');
    await expect.poll(() => options.allTextContents(), WAIT).toEqual([expect.stringMatching(/^acme/)]);
    await expect.poll(() => new URL(page.url()).searchParams.get('shop'), WAIT).toBe('acme');
    await expectCardsToMatch(rangeQuery(7, 'acme'));

    outage = true;
    try {
      stack.analyticsCommand('keys', 'revoke', acme.id);
      // New events end the revoked key's live stream; the dashboard's next request is a 401.
      await stack.send([event('page_view', ago(5_000), { product_id: 'p-1' })]);
      // The stream ends, the browser retries it (401), and the next poll (5 s) signs out.
      await expect.poll(() => page.getByTestId('sign-in').isVisible(), { ...WAIT, timeout: 45_000 }).toBe(true);
      expect(await page.getByTestId('sign-in-notice').textContent()).toContain('refused');
      expect(await page.evaluate(() => Object.values(sessionStorage))).not.toContain(acme.key);
    } finally {
      outage = false;
    }
    await signInWith(stack.readKey);
  });

  it('renders the API reference at /api/docs from its own assets, under its CSP, without a key', async () => {
    const docs = await context.newPage();
    const errors: string[] = [];
    const elsewhere: string[] = [];
    docs.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    docs.on('pageerror', (error) => errors.push(error.message));
    docs.on('request', (request) => {
      // Its search index runs in a worker made from a blob of this origin.
      const url = request.url().replace(/^blob:/, '');
      if (!url.startsWith(stack.analyticsUrl) && !url.startsWith('data:')) elsewhere.push(request.url());
    });
    try {
      await docs.goto(`${stack.analyticsUrl}/api/docs`);
      await expect.poll(() => docs.getByText('Shop analytics: analytics API').count(), WAIT).toBeGreaterThan(0);
      await expect.poll(() => docs.getByText('/api/v1/summary').count(), WAIT).toBeGreaterThan(0);
      expect(elsewhere).toEqual([]);
      expect(errors).toEqual([]);
    } finally {
      await docs.close();
    }
  });

  it('logged no console errors', () => {
    expect(consoleErrors).toEqual([]);
  });
});
