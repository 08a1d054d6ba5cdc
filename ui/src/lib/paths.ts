// Pure path helpers, shared by the dashboard and the public pages.

/** Matches `/avatars/:id` style patterns; returns the params or null. */
export function match(pattern: string, pathname: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean);
  const s = pathname.split('/').filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) params[p[i].slice(1)] = decodeURIComponent(s[i]);
    else if (p[i] !== s[i]) return null;
  }
  return params;
}

export interface PublicRoute {
  shortId: string;
  mode: 'page' | 'widget';
}

/** Reads `/a/:shortId` (the public page) or `/a/:shortId/embed` (the widget). */
export function parsePublicPath(pathname: string): PublicRoute | null {
  const m = /^\/a\/([^/]+)(\/embed)?\/?$/.exec(pathname);
  if (!m) return null;
  return { shortId: decodeURIComponent(m[1]), mode: m[2] ? 'widget' : 'page' };
}

/** 002's iframe snippet for an avatar's embed page. */
export function iframeSnippet(embedUrl: string): string {
  return [
    '<iframe',
    `  src="${embedUrl}"`,
    '  width="400"',
    '  height="600"',
    '  style="border: none; border-radius: 16px;"',
    '  allow="microphone; camera"',
    '></iframe>',
  ].join('\n');
}

/** An uploaded model is served from the avatar's own public model URL. */
export function hasUploadedModel(avatarModelUrl: string | null | undefined): boolean {
  return !!avatarModelUrl && avatarModelUrl.includes('/v1/public/avatar/');
}
