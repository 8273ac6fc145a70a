// The one place that talks HTTP. Every URL is relative (`/api/...`), so the dashboard calls
// the origin that served it: analytics itself in production, the Vite proxy in development.

import { keyRefused, session } from './session';
import type { ErrorBody, ExportDataset } from './types';

/** Query parameters; `undefined` and `null` are left out (the API refuses empty values). */
export type Query = Record<string, string | number | boolean | null | undefined>;

/** Why a request failed, in words a merchant can act on. */
export class ApiError extends Error {
  constructor(
    message: string,
    /** `0` when the service could not be reached at all. */
    readonly status: number,
    /** The endpoint, e.g. `/api/v1/summary`, so the error can say what failed. */
    readonly path: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get unreachable(): boolean {
    return this.status === 0;
  }
}

export function buildUrl(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

/** The headers of every request: JSON, and the read key when signed in with one. */
export function authHeaders(accept = 'application/json', key: string | null = session.key): Record<string, string> {
  return key ? { Accept: accept, Authorization: `Bearer ${key}` } : { Accept: accept };
}

/** GETs `path` with the key held (or `key`); a network failure becomes an `ApiError`. */
export async function request(path: string, query: Query = {}, signal?: AbortSignal, key?: string | null): Promise<Response> {
  try {
    return await fetch(buildUrl(path, query), { headers: authHeaders('application/json', key), signal });
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw new ApiError('the analytics service is unreachable', 0, path);
  }
}

/** GETs JSON; any failure becomes an `ApiError` whose message names the cause. A `401` signs
 * out: the key held is no longer good. */
export async function getJson<T>(path: string, query: Query = {}, signal?: AbortSignal): Promise<T> {
  const response = await request(path, query, signal);
  if (!response.ok) {
    if (response.status === 401) keyRefused();
    throw new ApiError(await describeFailure(response), response.status, path);
  }
  try {
    return (await response.json()) as T;
  } catch (cause) {
    if (signal?.aborted) throw cause;
    throw new ApiError('the answer was not valid JSON', response.status, path);
  }
}

async function describeFailure(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as ErrorBody;
    if (typeof body.error === 'string' && body.error) return `${body.error} (HTTP ${response.status})`;
  } catch {
    // Not JSON (a proxy's error page, for instance): the status line is all there is.
  }
  if (response.status === 404) return `this endpoint does not exist on the server (HTTP 404)`;
  if (response.status >= 500) return `the analytics service failed (HTTP ${response.status})`;
  return `HTTP ${response.status} ${response.statusText}`.trim();
}

/** The server-sent event stream of newly stored events. */
export const LIVE_URL = '/api/v1/live';

/** The live stream's URL: `EventSource` cannot set headers, so the read key goes in the URL
 * (the one place the analytics service takes it there). */
export function liveUrl(key: string | null = session.key): string {
  return key ? buildUrl(LIVE_URL, { key }) : LIVE_URL;
}

/** A link that downloads `dataset` as CSV with the same filters. */
export function exportUrl(dataset: ExportDataset, query: Query): string {
  return buildUrl('/api/v1/export', { ...query, dataset });
}
