import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError, errorFromBody } from '../../src/api/client';
import { iframeSnippet, match, parsePublicPath } from '../../src/lib/paths';

function client(token: string | null = 'tok', onUnauthorized = () => {}) {
  return new ApiClient({ baseUrl: 'http://127.0.0.1:8000', token: () => token, onUnauthorized });
}

afterEach(() => vi.unstubAllGlobals());

describe('ApiClient', () => {
  it('sends the bearer token and unwraps data', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ data: [{ id: 'k1' }], meta: { requestId: 'r' } }), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    const keys = await client().apiKeys();
    expect(keys).toEqual([{ id: 'k1' }]);
    const [url, init] = fetch.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://127.0.0.1:8000/v1/api-keys');
    expect((init.headers as Record<string, string>).Authorization).toBe('Bearer tok');
  });

  it('leaves public endpoints anonymous and builds queries', async () => {
    const fetch = vi.fn(async () => new Response(JSON.stringify({ data: { ok: true } }), { status: 200 }));
    vi.stubGlobal('fetch', fetch);
    await client().publicAvatar('abc 123');
    await client().analytics('av1', 7);
    const calls = fetch.mock.calls as unknown as [string, RequestInit][];
    expect(calls[0][0]).toBe('http://127.0.0.1:8000/v1/public/avatar/abc%20123');
    expect((calls[0][1].headers as Record<string, string>).Authorization).toBeUndefined();
    expect(calls[1][0]).toBe('http://127.0.0.1:8000/v1/consumer-avatars/av1/analytics?days=7');
  });

  it('turns the error envelope into ApiError and reports expired tokens', async () => {
    vi.stubGlobal('fetch', async () => new Response(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'Token is invalid or expired' }, meta: { requestId: 'req_1' } }), { status: 401 }));
    const onUnauthorized = vi.fn();
    const err = await client('tok', onUnauthorized).me().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 401, code: 'UNAUTHORIZED', message: 'Token is invalid or expired', requestId: 'req_1' });
    expect(onUnauthorized).toHaveBeenCalledOnce();
  });

  it('says when the server cannot be reached', async () => {
    vi.stubGlobal('fetch', async () => {
      throw new TypeError('fetch failed');
    });
    await expect(client().health()).rejects.toMatchObject({ status: 0, code: 'NETWORK_ERROR' });
    expect(errorFromBody(502, null).message).toBe('Request failed (502)');
  });
});

describe('routes', () => {
  it('matches dashboard paths', () => {
    expect(match('/avatars/:id', '/avatars/abc-1')).toEqual({ id: 'abc-1' });
    expect(match('/avatars/:id', '/avatars')).toBeNull();
    expect(match('/avatars/new', '/avatars/new/')).toEqual({});
  });

  it('reads the public page and the widget from the URL', () => {
    expect(parsePublicPath('/a/abc12345678')).toEqual({ shortId: 'abc12345678', mode: 'page' });
    expect(parsePublicPath('/a/abc12345678/embed')).toEqual({ shortId: 'abc12345678', mode: 'widget' });
    expect(parsePublicPath('/a/x_-Y/embed/')).toEqual({ shortId: 'x_-Y', mode: 'widget' });
    expect(parsePublicPath('/avatars')).toBeNull();
  });

  it('writes 002’s iframe snippet', () => {
    const s = iframeSnippet('http://127.0.0.1:8000/a/abc/embed');
    expect(s).toContain('src="http://127.0.0.1:8000/a/abc/embed"');
    expect(s).toContain('allow="microphone; camera"');
    expect(s.startsWith('<iframe')).toBe(true);
  });
});
