import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { getJson, liveUrl } from '../src/api/client';
import { KEY_STORAGE, session, signIn, signOut } from '../src/api/session';
import { checkSession, trySignIn } from '../src/composables/useSession';

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const READ = { id: 'key_1', kind: 'read', shop_id: 'acme', name: null } as const;

beforeEach(() => {
  sessionStorage.clear();
  localStorage.clear();
  Object.assign(session, { status: 'checking', key: null, scope: null, notice: null });
});
afterEach(() => vi.unstubAllGlobals());

describe('the read key', () => {
  it('is sent on every request once signed in, and never before', async () => {
    const fetch = vi.fn((_url: string, _init?: RequestInit) => Promise.resolve(jsonResponse({})));
    vi.stubGlobal('fetch', fetch);
    await getJson('/api/analytics');
    expect(new Headers(fetch.mock.calls[0]?.[1]?.headers).get('Authorization')).toBeNull();
    signIn('rk_secret', READ);
    await getJson('/api/analytics');
    expect(new Headers(fetch.mock.calls[1]?.[1]?.headers).get('Authorization')).toBe('Bearer rk_secret');
  });

  it('is kept for the tab session only, and travels in the URL of the live stream alone', () => {
    signIn('rk_secret', READ);
    expect(sessionStorage.getItem(KEY_STORAGE)).toBe('rk_secret');
    expect(localStorage.length).toBe(0);
    expect(document.cookie).not.toContain('rk_secret');
    expect(liveUrl()).toBe('/api/v1/live?key=rk_secret');
    signOut();
    expect(sessionStorage.getItem(KEY_STORAGE)).toBeNull();
    expect(liveUrl()).toBe('/api/v1/live');
  });

  it('is forgotten when the service answers 401, and the form says why', async () => {
    signIn('rk_revoked', READ);
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse({ error: 'the API key is unknown or revoked' }, 401)));
    await expect(getJson('/api/v1/summary')).rejects.toThrow('HTTP 401');
    expect(session.status).toBe('signed-out');
    expect(session.key).toBeNull();
    expect(session.notice).toContain('refused');
    expect(sessionStorage.getItem(KEY_STORAGE)).toBeNull();
  });
});

describe('signing in', () => {
  it('keeps a read key the service knows, with its shop', async () => {
    const fetch = vi.fn((_url: string, _init?: RequestInit) => Promise.resolve(jsonResponse({ auth: 'keys', key: READ })));
    vi.stubGlobal('fetch', fetch);
    expect(await trySignIn('  rk_good ')).toBeNull();
    expect(fetch.mock.calls[0]?.[0]).toBe('/api/v1/key');
    expect(new Headers(fetch.mock.calls[0]?.[1]?.headers).get('Authorization')).toBe('Bearer rk_good');
    expect(session).toMatchObject({ status: 'signed-in', key: 'rk_good', scope: { shop_id: 'acme' } });
  });

  it('refuses an unknown key and a key that is not a read key', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse({ error: 'unknown' }, 401)));
    expect(await trySignIn('rk_bad')).toContain('unknown or revoked');
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse({ auth: 'keys', key: { ...READ, kind: 'write' } })));
    expect(await trySignIn('sk_write')).toContain('read key');
    expect(session.key).toBeNull();
    expect(sessionStorage.getItem(KEY_STORAGE)).toBeNull();
  });
});

describe('at start', () => {
  it('asks for nothing when the service needs no key', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse({ auth: 'off' })));
    await checkSession();
    expect(session.status).toBe('open');
  });

  it('asks for a key when none is kept, and reuses a good one kept in this tab', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse({ auth: 'keys', key: null })));
    await checkSession();
    expect(session.status).toBe('signed-out');

    session.key = 'rk_kept';
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse({ auth: 'keys', key: READ })));
    await checkSession();
    expect(session).toMatchObject({ status: 'signed-in', key: 'rk_kept' });
  });

  it('opens the dashboard when the service is unreachable, so it can say so', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    await checkSession();
    expect(session.status).toBe('open');
  });
});
