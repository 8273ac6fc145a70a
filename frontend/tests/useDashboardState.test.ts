import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { effectScope, nextTick } from 'vue';
import { useDashboardState } from '../src/composables/useDashboardState';
import { browserTimeZone } from '../src/lib/dates';

let scope = effectScope();

beforeEach(() => {
  scope = effectScope();
});
afterEach(() => {
  scope.stop();
  window.history.replaceState(null, '', '/');
});

describe('dashboard state in the URL', () => {
  it('spells out the opening state in the address bar, without a new history entry', () => {
    window.history.replaceState(null, '', '/');
    const length = window.history.length;
    scope.run(() => useDashboardState());
    expect(window.location.search).toBe(`?range=7d&tz=${encodeURIComponent(browserTimeZone())}`);
    expect(window.history.length).toBe(length);
  });

  it('restores a shared link', () => {
    window.history.replaceState(null, '', '/?range=30d&tz=Asia%2FKolkata&shop=acme');
    const state = scope.run(() => useDashboardState())!;
    expect(state).toMatchObject({ range: '30d', tz: 'Asia/Kolkata', shop: 'acme' });
  });

  it('writes each change as a new history entry, so Back undoes it', async () => {
    window.history.replaceState(null, '', '/?range=7d&tz=UTC');
    const state = scope.run(() => useDashboardState())!;
    const length = window.history.length;
    state.shop = 'acme';
    state.range = 'today';
    await nextTick();
    expect(window.location.search).toBe('?range=today&tz=UTC&shop=acme');
    expect(window.history.length).toBe(length + 1);
  });

  it('follows Back and Forward', async () => {
    window.history.replaceState(null, '', '/?range=7d&tz=UTC');
    const state = scope.run(() => useDashboardState())!;
    window.history.pushState(null, '', '/?range=all&tz=UTC&shop=other');
    window.dispatchEvent(new PopStateEvent('popstate'));
    await nextTick();
    expect(state).toMatchObject({ range: 'all', shop: 'other' });
    expect(window.location.search).toBe('?range=all&tz=UTC&shop=other');
  });
});
