// The shape every data source shares: `{ data, error, isLoading, refresh }`, plus when it last
// succeeded. The data sources in this folder are thin wrappers naming their endpoint.

import { onScopeDispose, ref, shallowRef, watch, type Ref, type ShallowRef } from 'vue';
import { ApiError, getJson, type Query } from '../api/client';

export interface ApiRequest {
  path: string;
  query: Query;
}

export interface Resource<T> {
  /** The last answer; kept while a refresh runs or fails, so nothing jumps or blanks out. */
  data: ShallowRef<T | null>;
  /** Why the last attempt failed; `null` once one succeeds again. */
  error: ShallowRef<ApiError | null>;
  isLoading: Ref<boolean>;
  updatedAt: ShallowRef<Date | null>;
  refresh: () => Promise<void>;
}

export type Loader<T, R> = (request: R, signal: AbortSignal) => Promise<T>;

/**
 * Loads `request()` now and whenever it changes. A change cancels the answer in flight (it
 * would be for the old filters); a `refresh` while one runs is queued once instead, so a burst
 * of live updates costs at most one extra request.
 */
export function useApiResource<T, R extends ApiRequest = ApiRequest>(
  request: () => R,
  load: Loader<T, R> = (r, signal) => getJson<T>(r.path, r.query, signal),
): Resource<T> {
  const data = shallowRef<T | null>(null);
  const error = shallowRef<ApiError | null>(null);
  const isLoading = ref(false);
  const updatedAt = shallowRef<Date | null>(null);

  let controller: AbortController | null = null;
  let running: Promise<void> | null = null;
  let queued = false;

  function run(restart: boolean): Promise<void> {
    if (running && !restart) {
      queued = true;
      return running;
    }
    controller?.abort();
    const mine = new AbortController();
    controller = mine;
    queued = false;
    isLoading.value = true;
    const current = request();
    const attempt = (async () => {
      try {
        const value = await load(current, mine.signal);
        if (mine.signal.aborted) return;
        data.value = value;
        error.value = null;
        updatedAt.value = new Date();
      } catch (cause) {
        if (mine.signal.aborted) return;
        error.value =
          cause instanceof ApiError ? cause : new ApiError(String(cause), 0, current.path);
      } finally {
        if (controller === mine) {
          controller = null;
          running = null;
          isLoading.value = false;
          if (queued) void run(false);
        }
      }
    })();
    running = attempt;
    return attempt;
  }

  watch(
    () => JSON.stringify(request()),
    () => void run(true),
    { immediate: true },
  );
  onScopeDispose(() => controller?.abort());

  return { data, error, isLoading, updatedAt, refresh: () => run(false) };
}
