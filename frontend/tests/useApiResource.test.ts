import { afterEach, describe, expect, it, vi } from 'vitest';
import { effectScope, nextTick, ref } from 'vue';
import { ApiError, buildUrl, getJson } from '../src/api/client';
import { useApiResource } from '../src/composables/useApiResource';
import { useSummary } from '../src/composables/useSummary';

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

/** Resolves once every pending promise callback has run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

afterEach(() => vi.unstubAllGlobals());

describe('the API client', () => {
  it('leaves out empty parameters (the API refuses `shop_id=`)', () => {
    expect(buildUrl('/api/v1/summary', { shop_id: null, from: '2025-10-01', tz: 'Europe/Berlin', to: undefined })).toBe(
      '/api/v1/summary?from=2025-10-01&tz=Europe%2FBerlin',
    );
    expect(buildUrl('/api/analytics')).toBe('/api/analytics');
  });

  it('says the service is unreachable when the request never got an answer', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    const error = await getJson('/api/analytics').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 0, path: '/api/analytics', unreachable: true });
    expect((error as ApiError).message).toBe('the analytics service is unreachable');
  });

  it("repeats the API's own error message with the status", async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse({ error: 'invalid parameter `tz`' }, 400)));
    await expect(getJson('/api/v1/summary', { tz: 'x' })).rejects.toThrow('invalid parameter `tz` (HTTP 400)');
  });
});

describe('a data source', () => {
  it('loads at once, refetches when its query changes, and keeps data while refreshing', async () => {
    const fetch = vi.fn((url: string) => Promise.resolve(jsonResponse({ url })));
    vi.stubGlobal('fetch', fetch);
    const shop = ref('a');
    const scope = effectScope();
    const summary = scope.run(() => useSummary(() => ({ shop_id: shop.value })))!;
    expect(summary.isLoading.value).toBe(true);
    await settle();
    expect(summary.data.value).toEqual({ url: '/api/v1/summary?shop_id=a' });
    expect(summary.isLoading.value).toBe(false);
    expect(summary.updatedAt.value).toBeInstanceOf(Date);

    shop.value = 'b';
    await nextTick();
    // The old answer stays on screen until the new one arrives: nothing blanks out.
    expect(summary.isLoading.value).toBe(true);
    expect(summary.data.value).toEqual({ url: '/api/v1/summary?shop_id=a' });
    await settle();
    expect(summary.data.value).toEqual({ url: '/api/v1/summary?shop_id=b' });
    scope.stop();
  });

  it('reports an error, keeps the last data, and clears the error on the next success', async () => {
    let up = true;
    vi.stubGlobal(
      'fetch',
      vi.fn(() => (up ? Promise.resolve(jsonResponse({ n: 1 })) : Promise.reject(new TypeError('down')))),
    );
    const scope = effectScope();
    const resource = scope.run(() => useApiResource<{ n: number }>(() => ({ path: '/api/analytics', query: {} })))!;
    await settle();
    up = false;
    await resource.refresh();
    expect(resource.error.value?.message).toBe('the analytics service is unreachable');
    expect(resource.data.value).toEqual({ n: 1 });
    up = true;
    await resource.refresh();
    expect(resource.error.value).toBeNull();
    scope.stop();
  });

  it('queues one refresh behind the one in flight instead of piling requests up', async () => {
    const resolvers: ((r: Response) => void)[] = [];
    const fetch = vi.fn(() => new Promise<Response>((resolve) => resolvers.push(resolve)));
    vi.stubGlobal('fetch', fetch);
    const scope = effectScope();
    const resource = scope.run(() => useApiResource<number>(() => ({ path: '/api/analytics', query: {} })))!;
    void resource.refresh();
    void resource.refresh();
    void resource.refresh();
    expect(fetch).toHaveBeenCalledTimes(1);
    resolvers[0]!(jsonResponse(1));
    await settle();
    expect(fetch).toHaveBeenCalledTimes(2);
    resolvers[1]!(jsonResponse(2));
    await settle();
    expect(fetch).toHaveBeenCalledTimes(2);
    expect(resource.data.value).toBe(2);
    scope.stop();
  });

  it('drops the answer for filters that are no longer chosen', async () => {
    const resolvers = new Map<string, (r: Response) => void>();
    vi.stubGlobal(
      'fetch',
      vi.fn((url: string) => new Promise<Response>((resolve) => resolvers.set(url, resolve))),
    );
    const tz = ref('UTC');
    const scope = effectScope();
    const resource = scope.run(() => useSummary(() => ({ tz: tz.value })))!;
    tz.value = 'Asia/Kolkata';
    await nextTick();
    resolvers.get('/api/v1/summary?tz=Asia%2FKolkata')!(jsonResponse('kolkata'));
    resolvers.get('/api/v1/summary?tz=UTC')!(jsonResponse('utc'));
    await settle();
    expect(resource.data.value).toBe('kolkata');
    scope.stop();
  });
});
