// Who the dashboard is signed in as: the read key, kept in sessionStorage only (so it is gone
// when the tab closes, and never in localStorage or a cookie), and what that key may read.
// Every request sends the key (api/client.ts); a 401 signs out.

import { reactive } from 'vue';

import type { components } from './schema';

export const KEY_STORAGE = 'shop-analytics.read-key';

/** What `GET /api/v1/key` says about the key held (`shop_id` is `null` for a key that reads
 * every shop). */
export type KeyScope = components['schemas']['KeyScope'];

export type SessionStatus =
  /** Not asked yet. */
  | 'checking'
  /** The service needs no key (`AUTH=off`). */
  | 'open'
  /** Signed in with a read key. */
  | 'signed-in'
  /** A key is needed: show the sign-in form. */
  | 'signed-out';

export interface Session {
  status: SessionStatus;
  key: string | null;
  scope: KeyScope | null;
  /** Why the last key was refused, to show above the form. */
  notice: string | null;
}

function storage(): Storage | null {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}

export const session: Session = reactive({
  status: 'checking',
  key: storage()?.getItem(KEY_STORAGE) ?? null,
  scope: null,
  notice: null,
});

/** Keeps `key` for this tab's session and marks the dashboard signed in with `scope`. */
export function signIn(key: string, scope: KeyScope): void {
  storage()?.setItem(KEY_STORAGE, key);
  Object.assign(session, { status: 'signed-in', key, scope, notice: null });
}

/** Forgets the key; `notice` says why (e.g. it was refused). */
export function signOut(notice: string | null = null): void {
  storage()?.removeItem(KEY_STORAGE);
  Object.assign(session, { status: 'signed-out', key: null, scope: null, notice });
}

/** The service answered 401: the key held is no longer good (or was never needed). */
export function keyRefused(): void {
  if (session.status === 'signed-in' || session.key) {
    signOut('Your key was refused (revoked, or not a read key). Sign in again.');
  } else if (session.status !== 'checking') {
    signOut();
  }
}
