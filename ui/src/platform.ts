// What the UI needs from where it runs: a browser, or the desktop app
// (Tauri, src-tauri/), whose implementation is in platform-tauri.ts. Both
// load the dashboard from the Avatarium server itself, so the API is the
// page's own origin in either; they differ in audio (the app uses the
// machine's microphone and speaker natively) and in what the app adds
// (a pop-out avatar window). Nothing else in the UI needs to know which.

import { createTauriPlatform, tauriInternals } from './platform-tauri';

export type ListenMode = 'push-to-talk' | 'hands-free';

/** Something the user said, ready for `/v1/stt/transcribe`. */
export interface Utterance {
  /** WAV (the desktop app) or WebM/Ogg/MP4 (a browser's MediaRecorder). */
  audio: Blob;
  durationMs: number;
  /** Whether a voice-activity detector heard speech in it (true where none ran). */
  speech: boolean;
}

export interface ListenOptions {
  mode: ListenMode;
  /** Hands-free: called with each utterance as soon as the speaker pauses. */
  onUtterance?: (u: Utterance) => void;
  /** Hands-free: called when speech begins. */
  onSpeechStart?: () => void;
}

export interface Playback {
  durationMs: number;
  /** `performance.now()` when the sound started, for following it (visemes). */
  startedAt: number;
}

/** Microphone and speaker. */
export interface PlatformAudio {
  readonly kind: 'native' | 'browser';
  /** Whether `startListening({ mode: 'hands-free' })` works here. */
  readonly handsFree: boolean;
  /** Plays base64 WAV (the API's speech), replacing what was playing. */
  play(base64Wav: string): Promise<Playback>;
  stop(): Promise<void>;
  /** Opens the microphone; rejects with a readable reason (no device, refused). */
  startListening(opts: ListenOptions): Promise<void>;
  /** Closes it: the push-to-talk recording, or a hands-free utterance still
   * in progress; null when there is none. */
  stopListening(): Promise<Utterance | null>;
}

export interface Platform {
  readonly kind: 'browser' | 'desktop';
  /** Where the API is: '' for the page's own origin. */
  apiBaseUrl(): string;
  /** Opens a link outside the app (a new tab, or the system browser). */
  openExternal(url: string): void;
  /** Saves bytes as a file the user names or finds in Downloads. */
  saveFile(name: string, data: Blob): Promise<void>;
  /** Copies text to the clipboard; resolves false when it could not. */
  copyText(text: string): Promise<boolean>;
  /** Small persistent key-value storage for the token and preferences. */
  storage: {
    get(key: string): string | null;
    set(key: string, value: string | null): void;
  };
  audio: PlatformAudio;
  /** The desktop app only: shows an avatar (an avatar's or preset's id) in
   * its own native window. */
  popOutAvatar?(avatarId?: string): Promise<void>;
}

function legacyCopy(text: string): boolean {
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

export const browserPlatform: Platform = {
  kind: 'browser',
  apiBaseUrl: () => '',
  openExternal(url) {
    window.open(url, '_blank', 'noopener,noreferrer');
  },
  async saveFile(name, data) {
    const url = URL.createObjectURL(data);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  },
  async copyText(text) {
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        return true;
      }
    } catch {
      // Fall through: permission refused or no focus.
    }
    return legacyCopy(text);
  },
  audio: browserAudio(),
  storage: {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch {
        return null;
      }
    },
    set(key, value) {
      try {
        if (value === null) window.localStorage.removeItem(key);
        else window.localStorage.setItem(key, value);
      } catch {
        // Storage disabled (private mode): preferences last for the page only.
      }
    },
  },
};

/** The browser's audio: an <audio> element, and MediaRecorder for
 * push-to-talk (hands-free needs a VAD, which only the desktop app has). */
export function browserAudio(): PlatformAudio {
  let current: { el: HTMLAudioElement; url: string } | null = null;
  let recording: { recorder: MediaRecorder; chunks: Blob[]; stream: MediaStream; started: number } | null = null;

  const release = () => {
    if (!current) return;
    current.el.pause();
    URL.revokeObjectURL(current.url);
    current = null;
  };

  return {
    kind: 'browser',
    handsFree: false,
    async play(base64Wav) {
      release();
      const bin = atob(base64Wav);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      const url = URL.createObjectURL(new Blob([bytes], { type: 'audio/wav' }));
      const el = new Audio(url);
      current = { el, url };
      await el.play();
      return { durationMs: Number.isFinite(el.duration) ? el.duration * 1000 : 0, startedAt: performance.now() };
    },
    async stop() {
      release();
    },
    async startListening(opts) {
      if (opts.mode === 'hands-free') throw new Error('Hands-free listening needs the Avatarium desktop app');
      if (!navigator.mediaDevices?.getUserMedia || typeof MediaRecorder === 'undefined')
        throw new Error('This browser cannot record audio');
      if (recording) throw new Error('Already listening');
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const recorder = new MediaRecorder(stream);
      const chunks: Blob[] = [];
      recorder.addEventListener('dataavailable', (e) => {
        if (e.data.size > 0) chunks.push(e.data);
      });
      recorder.start();
      recording = { recorder, chunks, stream, started: performance.now() };
    },
    async stopListening() {
      const r = recording;
      recording = null;
      if (!r) return null;
      const stopped = new Promise<void>((resolve) => r.recorder.addEventListener('stop', () => resolve(), { once: true }));
      r.recorder.stop();
      await stopped;
      for (const track of r.stream.getTracks()) track.stop();
      if (!r.chunks.length) return null;
      return {
        audio: new Blob(r.chunks, { type: r.recorder.mimeType || 'audio/webm' }),
        durationMs: performance.now() - r.started,
        speech: true,
      };
    },
  };
}

const tauri = tauriInternals();

/** The platform the app runs on: the desktop app's inside it (Tauri puts
 * its IPC object on the window before the page's scripts run), else the
 * browser's. */
export const platform: Platform = tauri ? createTauriPlatform(browserPlatform, tauri) : browserPlatform;
