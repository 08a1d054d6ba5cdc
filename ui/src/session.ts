// Who is signed in, the API client that carries their token, and the
// dashboard's shared state (the avatars and which one is selected).

import { ApiClient, type Avatar, type User } from './api/client';
import { createStore } from './lib/store';
import { platform } from './platform';

const TOKEN_KEY = 'avatarium.token';
const USER_KEY = 'avatarium.user';
const SELECTED_KEY = 'avatarium.selectedAvatar';

function storedUser(): User | null {
  try {
    const raw = platform.storage.get(USER_KEY);
    return raw ? (JSON.parse(raw) as User) : null;
  } catch {
    return null;
  }
}

export const token = createStore<string | null>(platform.storage.get(TOKEN_KEY));
export const user = createStore<User | null>(token.get() ? storedUser() : null);

export const api = new ApiClient({
  baseUrl: platform.apiBaseUrl(),
  token: () => token.get(),
  onUnauthorized: () => signOut(),
});

export function signIn(newToken: string, who: User): void {
  platform.storage.set(TOKEN_KEY, newToken);
  platform.storage.set(USER_KEY, JSON.stringify(who));
  user.set(who);
  token.set(newToken);
}

export function signOut(): void {
  platform.storage.set(TOKEN_KEY, null);
  platform.storage.set(USER_KEY, null);
  avatars.set(null);
  user.set(null);
  token.set(null);
}

/** The account's avatars; null until loaded. */
export const avatars = createStore<Avatar[] | null>(null);
export const selectedAvatarId = createStore<string | null>(platform.storage.get(SELECTED_KEY));

selectedAvatarId.subscribe(() => platform.storage.set(SELECTED_KEY, selectedAvatarId.get()));

export async function refreshAvatars(): Promise<Avatar[]> {
  const list = await api.avatars();
  avatars.set(list);
  const sel = selectedAvatarId.get();
  if (!sel || !list.some((a) => a.id === sel)) selectedAvatarId.set(list[0]?.id ?? null);
  return list;
}

export function selectAvatar(id: string): void {
  selectedAvatarId.set(id);
}
