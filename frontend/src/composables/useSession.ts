// Signing in: what the dashboard asks the analytics service before anything else
// (`GET /api/v1/key`), and checking a key typed into the sign-in form.

import { ApiError, request } from '../api/client';
import { session, signIn, signOut } from '../api/session';
import type { KeyAnswer } from '../api/types';

/** Why a key cannot sign the dashboard in, or `null` when it did. */
export async function trySignIn(key: string): Promise<string | null> {
  const trimmed = key.trim();
  if (!trimmed) return 'Paste a read key (it starts with rk_).';
  let response: Response;
  try {
    response = await request('/api/v1/key', {}, undefined, trimmed);
  } catch (cause) {
    return cause instanceof ApiError ? `Cannot check the key: ${cause.message}.` : String(cause);
  }
  if (response.status === 401) return 'This key is unknown or revoked.';
  if (response.status === 429) return 'Too many attempts; wait a few seconds and try again.';
  if (!response.ok) return `Cannot check the key (HTTP ${response.status}).`;
  const answer = (await response.json()) as KeyAnswer;
  if (answer.auth === 'off') {
    Object.assign(session, { status: 'open', key: null, scope: null, notice: null });
    return null;
  }
  if (!answer.key) return 'This key is unknown or revoked.';
  if (answer.key.kind !== 'read') {
    return `This is a ${answer.key.kind} key: the dashboard needs a read key (rk_).`;
  }
  signIn(trimmed, answer.key);
  return null;
}

/** Decides at start whether to ask for a key: not with `AUTH=off`, not with a good key kept
 * from earlier in this tab's session. When the service cannot be reached, the dashboard opens
 * and says so; a `401` then signs it out. */
export async function checkSession(): Promise<void> {
  let response: Response;
  try {
    response = await request('/api/v1/key');
  } catch {
    session.status = session.key ? 'signed-in' : 'open';
    return;
  }
  if (response.status === 401) {
    signOut(session.key ? 'Your key was refused (revoked?). Sign in again.' : null);
    return;
  }
  if (!response.ok) {
    // An older analytics without `/api/v1/key`: try without asking; a 401 will ask.
    session.status = session.key ? 'signed-in' : 'open';
    return;
  }
  const answer = (await response.json()) as KeyAnswer;
  if (answer.auth === 'off') {
    session.status = 'open';
  } else if (answer.key?.kind === 'read' && session.key) {
    signIn(session.key, answer.key);
  } else {
    signOut(answer.key ? 'The key kept in this tab is not a read key.' : null);
  }
}
