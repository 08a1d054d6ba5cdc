// What the UI needs from where it runs. The browser implementation is the
// only one today; the desktop shell (Tauri) will provide its own with the
// same interface (its webview loads the app from its own scheme, so it also
// says where the API is), and nothing else in the UI changes.

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

/** The platform the app runs on. A desktop build swaps this one line. */
export const platform: Platform = browserPlatform;
