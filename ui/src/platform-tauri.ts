// The desktop app's platform (Tauri 2, src-tauri/). The app's window loads
// the dashboard from the embedded server itself, so the API is the page's own
// origin and links, storage and the clipboard behave as in a browser (links
// to other sites open in the system browser). What differs is audio: the
// microphone and the speaker are the app's (Rust: cpal with a VAD, rodio),
// reached through Tauri's IPC. No @tauri-apps/api dependency: the two calls
// needed (invoke, and listen for events) go through the IPC object Tauri
// injects into the page.

import type { ListenOptions, Platform, PlatformAudio, Playback, Utterance } from './platform';

/** What Tauri injects into its webviews (`window.__TAURI_INTERNALS__`). */
export interface TauriInternals {
  invoke<T>(cmd: string, args?: Record<string, unknown>): Promise<T>;
  transformCallback(callback: (message: unknown) => void, once?: boolean): number;
  unregisterCallback?(id: number): void;
}

interface EventPluginInternals {
  unregisterListener(event: string, eventId: number): void;
}

type TauriWindow = Window & {
  __TAURI_INTERNALS__?: TauriInternals;
  __TAURI_EVENT_PLUGIN_INTERNALS__?: EventPluginInternals;
};

/** The IPC object when running inside the desktop app, else null. */
export function tauriInternals(w: Window | undefined = globalThis.window): TauriInternals | null {
  const internals = (w as TauriWindow | undefined)?.__TAURI_INTERNALS__;
  return internals && typeof internals.invoke === 'function' ? internals : null;
}

/** The events src-tauri/src/app.rs emits while listening hands-free. */
export const UTTERANCE_EVENT = 'avatarium://utterance';
export const SPEECH_START_EVENT = 'avatarium://speech-start';

/** An utterance as the app's `stop_listening` / utterance event send it. */
export interface NativeUtterance {
  /** Base64 of a 16 kHz mono 16-bit WAV. */
  wav: string;
  durationMs: number;
  startMs: number;
  sampleRate: number;
  speech: boolean;
}

function base64Bytes(base64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

export function toUtterance(u: NativeUtterance): Utterance {
  return {
    audio: new Blob([base64Bytes(u.wav)], { type: 'audio/wav' }),
    durationMs: u.durationMs,
    speech: u.speech,
  };
}

/** Tauri rejects with the command's error string; make it an Error. */
function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(typeof e === 'string' ? e : 'The desktop app refused the request');
}

/** Subscribes to an app event; resolves to the function that unsubscribes. */
async function listen<T>(tauri: TauriInternals, event: string, handler: (payload: T) => void): Promise<() => void> {
  const callback = tauri.transformCallback((message) => handler((message as { payload: T }).payload));
  const eventId = await tauri.invoke<number>('plugin:event|listen', {
    event,
    target: { kind: 'Any' },
    handler: callback,
  });
  return () => {
    (window as TauriWindow).__TAURI_EVENT_PLUGIN_INTERNALS__?.unregisterListener(event, eventId);
    void tauri.invoke('plugin:event|unlisten', { event, eventId }).catch(() => undefined);
  };
}

export function tauriAudio(tauri: TauriInternals): PlatformAudio {
  let unlisten: Array<() => void> = [];
  const dropListeners = () => {
    for (const off of unlisten) off();
    unlisten = [];
  };
  const call = async <T>(cmd: string, args?: Record<string, unknown>): Promise<T> => {
    try {
      return await tauri.invoke<T>(cmd, args);
    } catch (e) {
      throw asError(e);
    }
  };

  return {
    kind: 'native',
    handsFree: true,
    async play(base64Wav: string): Promise<Playback> {
      const { durationMs } = await call<{ durationMs: number }>('play_audio', { wav: base64Wav });
      return { durationMs, startedAt: performance.now() };
    },
    async stop() {
      await call('stop_audio');
    },
    async startListening(opts: ListenOptions) {
      dropListeners();
      if (opts.mode === 'hands-free') {
        if (opts.onUtterance) {
          const onUtterance = opts.onUtterance;
          unlisten.push(await listen<NativeUtterance>(tauri, UTTERANCE_EVENT, (u) => onUtterance(toUtterance(u))));
        }
        if (opts.onSpeechStart) {
          const onSpeechStart = opts.onSpeechStart;
          unlisten.push(await listen<unknown>(tauri, SPEECH_START_EVENT, () => onSpeechStart()));
        }
      }
      try {
        await call('start_listening', { mode: opts.mode });
      } catch (e) {
        dropListeners();
        throw e;
      }
    },
    async stopListening() {
      try {
        const u = await call<NativeUtterance | null>('stop_listening');
        return u ? toUtterance(u) : null;
      } finally {
        dropListeners();
      }
    },
  };
}

/** The desktop platform: the browser's, with the app's native audio and a
 * "pop out" for the avatar window. */
export function createTauriPlatform(browser: Platform, tauri: TauriInternals): Platform {
  return {
    ...browser,
    kind: 'desktop',
    audio: tauriAudio(tauri),
    async popOutAvatar(avatarId?: string) {
      try {
        await tauri.invoke('pop_out_avatar', { avatar: avatarId ?? null });
      } catch (e) {
        throw asError(e);
      }
    },
  };
}
