// Studio preferences. The API keeps no per-user preferences (and never
// stores BYOK keys), so they live in this browser's storage.

import { createStore } from './lib/store';
import { platform } from './platform';

export interface Prefs {
  /** Provider for new Playground conversations; undefined = the server's default. */
  provider?: string;
  model?: string;
  /** Voice for spoken answers when the avatar names none. */
  voiceId?: string;
  /** Speak Playground answers aloud. */
  speak: boolean;
  /** The user's own provider keys, by provider id (sent as byokAI). */
  byok: Record<string, string>;
}

const KEY = 'avatarium.prefs';

function load(): Prefs {
  try {
    const raw = platform.storage.get(KEY);
    const p = raw ? (JSON.parse(raw) as Partial<Prefs>) : {};
    return { speak: false, byok: {}, ...p };
  } catch {
    return { speak: false, byok: {} };
  }
}

export const prefs = createStore<Prefs>(load());
prefs.subscribe(() => platform.storage.set(KEY, JSON.stringify(prefs.get())));

export function setPrefs(patch: Partial<Prefs>): void {
  prefs.update((p) => ({ ...p, ...patch }));
}
