import { afterEach, describe, expect, it } from 'vitest';
import { createApp, h, type App } from 'vue';
import MetricCards from '../src/components/MetricCards.vue';
import type { OriginalMetrics } from '../src/api/types';

const original: OriginalMetrics = {
  total_page_views: 150,
  total_add_to_carts: 45,
  total_purchases: 12,
  conversion_rate: 8,
  average_purchase_value: 15,
  max_purchase_value: 299.99,
  min_purchase_value: 9.9,
  top_product_id: null,
};

let app: App | null = null;
afterEach(() => {
  app?.unmount();
  app = null;
  document.body.innerHTML = '';
});

type Props = InstanceType<typeof MetricCards>['$props'];

function render(props: Props): HTMLElement {
  const root = document.createElement('div');
  document.body.append(root);
  app = createApp({ render: () => h(MetricCards, props) });
  app.mount(root);
  return root;
}

const value = (root: HTMLElement, id: string) =>
  root.querySelector(`[data-testid="${id}"] [data-role="value"]`)?.textContent?.trim();

describe('the key figures', () => {
  it('shows what the original showed, right: two-decimal money, the rate as given, N/A', () => {
    const root = render({
      original: { current: original, previous: null },
      summary: null,
      compare: false,
      currency: null,
      originalFailed: false,
      summaryFailed: false,
    });
    expect(value(root, 'page-views')).toBe((150).toLocaleString());
    expect(value(root, 'conversion-rate')).toMatch(/^8[.,]00\s?%$/);
    expect(value(root, 'average-order')).toMatch(/^15[.,]00$/);
    expect(value(root, 'min-order')).toMatch(/^9[.,]90$/);
    expect(value(root, 'top-product')).toBe('N/A');
    expect(root.querySelector('[data-testid="page-views"] [data-role="delta"]')).toBeNull();
  });

  it('compares with the previous period and says so in words', () => {
    const root = render({
      original: { current: original, previous: { ...original, total_page_views: 200, total_purchases: 0 } },
      summary: null,
      compare: true,
      currency: 'EUR',
      originalFailed: false,
      summaryFailed: false,
    });
    const delta = root.querySelector('[data-testid="page-views"] [data-role="delta"]');
    expect(delta?.textContent).toContain('down 25% on the previous period');
    expect(delta?.classList.contains('bad')).toBe(true);
    const purchases = root.querySelector('[data-testid="purchases"] [data-role="delta"]');
    expect(purchases?.textContent).toContain('nothing in the previous period to compare with');
  });

  it('tells "loading" from "not available"', () => {
    const root = render({
      original: null,
      summary: null,
      compare: true,
      currency: null,
      originalFailed: false,
      summaryFailed: true,
    });
    expect(root.querySelector('[data-testid="page-views"]')?.getAttribute('aria-busy')).toBe('true');
    expect(value(root, 'page-views')).toContain('loading');
    expect(value(root, 'revenue')).toContain('not available');
  });
});
