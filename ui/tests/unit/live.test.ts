import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiError } from '../../src/api/client';
import { fallbackPlan, openLive, queueClip } from '../../src/lib/live';

afterEach(() => vi.unstubAllGlobals());

describe('fallbackPlan', () => {
  it('falls back on the same session when no peer was made', () => {
    expect(fallbackPlan({ stage: 'unsupported' })).toMatchObject({ fallBack: true, newSession: false });
    expect(fallbackPlan({ stage: 'offer', error: new Error('boom') })).toMatchObject({ fallBack: true, newSession: false, reason: expect.stringContaining('boom') });
    // An unsupported offer (400) or a server error: the session has no peer.
    const bad = new ApiError(400, 'BAD_REQUEST', 'Unsupported offer: no H264');
    expect(fallbackPlan({ stage: 'start', error: bad })).toMatchObject({ fallBack: true, newSession: false, reason: expect.stringContaining('no H264') });
    expect(fallbackPlan({ stage: 'start', error: new ApiError(500, 'INTERNAL_ERROR', 'x') })).toMatchObject({ fallBack: true, newSession: false });
  });

  it('opens a new session when the server holds a peer or lost the session', () => {
    expect(fallbackPlan({ stage: 'start', error: new ApiError(404, 'SESSION_NOT_FOUND', 'gone') })).toMatchObject({ fallBack: true, newSession: true });
    expect(fallbackPlan({ stage: 'answer', error: new Error('bad answer') })).toMatchObject({ fallBack: true, newSession: true });
    expect(fallbackPlan({ stage: 'connect', state: 'timeout' })).toEqual({ fallBack: true, newSession: true, reason: 'WebRTC did not connect in time' });
    expect(fallbackPlan({ stage: 'connect', state: 'failed' })).toMatchObject({ fallBack: true, newSession: true, reason: 'WebRTC did not connect (failed)' });
  });

  it('gives up when the sign-in is refused', () => {
    expect(fallbackPlan({ stage: 'start', error: new ApiError(401, 'UNAUTHORIZED', 'expired') })).toMatchObject({ fallBack: false });
  });
});

describe('queueClip', () => {
  it('plays clips back to back, never in the past', () => {
    expect(queueClip(1, 0, 2)).toEqual({ start: 1, until: 3 });
    expect(queueClip(2, 3, 1.5)).toEqual({ start: 3, until: 4.5 });
    expect(queueClip(10, 3, 1)).toEqual({ start: 10, until: 11 });
  });
});

// --- openLive against a fake server and browser ------------------------------

type Route = (body: Record<string, unknown>) => { status: number; body: unknown };

function fakeServer(routes: Record<string, Route>) {
  const calls: { path: string; body: Record<string, unknown> }[] = [];
  let n = 0;
  const defaults: Record<string, Route> = {
    '/v1/streaming.new': () => ({ status: 200, body: { session_id: `s${++n}`, ice_servers: [], access_token: `tok${n}` } }),
    '/v1/streaming.start': (b) => ({ status: 200, body: { status: 'started', session_id: b.session_id, sdp: { type: 'answer', sdp: 'v=0 answer' } } }),
    '/v1/streaming.stop': (b) => ({ status: 200, body: { status: 'stopped', session_id: b.session_id, duration: 1 } }),
    '/v1/avatar.speak': () => ({ status: 200, body: { task_id: 't1', status: 'processing', duration_estimate: 1 } }),
  };
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    const path = new URL(url).pathname;
    const body = init.body ? (JSON.parse(String(init.body)) as Record<string, unknown>) : {};
    calls.push({ path, body });
    const r = (routes[path] ?? defaults[path])(body);
    return new Response(JSON.stringify(r.body), { status: r.status });
  });
  return calls;
}

class FakeSocket extends EventTarget {
  static opened: string[] = [];
  constructor(readonly url: string) {
    super();
    FakeSocket.opened.push(url);
    setTimeout(() => this.dispatchEvent(new Event('open')), 0);
  }
  close() {}
}

class FakeStream {
  tracks: unknown[] = [];
  getTracks() {
    return this.tracks;
  }
  addTrack(t: unknown) {
    this.tracks.push(t);
  }
}

/** A peer that gathers at once and connects (or never does). */
function fakePeer(connects: boolean) {
  return class FakePC extends EventTarget {
    iceGatheringState = 'new';
    connectionState = 'new';
    localDescription: { type: string; sdp: string } | null = null;
    closed = false;
    addTransceiver() {}
    async createOffer() {
      return { type: 'offer', sdp: 'v=0 offer with candidates' };
    }
    async setLocalDescription(d: { type: string; sdp: string }) {
      this.localDescription = d;
      setTimeout(() => {
        this.iceGatheringState = 'complete';
        this.dispatchEvent(new Event('icegatheringstatechange'));
      }, 0);
    }
    async setRemoteDescription() {
      if (connects)
        setTimeout(() => {
          this.connectionState = 'connected';
          this.dispatchEvent(new Event('connectionstatechange'));
        }, 0);
    }
    close() {
      this.closed = true;
    }
  };
}

const client = () => new ApiClient({ baseUrl: 'http://127.0.0.1:8000', token: () => 'tok' });

function browser(pc: unknown) {
  FakeSocket.opened = [];
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.stubGlobal('MediaStream', FakeStream);
  vi.stubGlobal('RTCPeerConnection', pc);
}

describe('openLive', () => {
  it('uses WebRTC when the peer connects, sending the whole offer', async () => {
    browser(fakePeer(true));
    const calls = fakeServer({});
    const live = await openLive(client(), { avatarId: 'av1', quality: 'low' });
    expect(live.transport).toBe('webrtc');
    expect(live.stream).not.toBeNull();
    expect(calls[0]).toEqual({ path: '/v1/streaming.new', body: { quality: 'low', avatar_id: 'av1' } });
    expect(calls[1]).toEqual({ path: '/v1/streaming.start', body: { session_id: 's1', sdp: { type: 'offer', sdp: 'v=0 offer with candidates' } } });
    // The socket carries events only, with the session's token.
    expect(FakeSocket.opened).toEqual(['ws://127.0.0.1:8000/ws/s1?token=tok1']);
    await live.speak('Hello');
    expect(calls.at(-1)).toEqual({ path: '/v1/avatar.speak', body: { session_id: 's1', text: 'Hello' } });
    await live.close();
    expect(calls.at(-1)).toEqual({ path: '/v1/streaming.stop', body: { session_id: 's1' } });
  });

  it('falls back to the WebSocket on the same session without RTCPeerConnection', async () => {
    browser(undefined);
    const calls = fakeServer({});
    const live = await openLive(client());
    expect(live.transport).toBe('websocket');
    expect(live.stream).toBeNull();
    expect(live.fallbackReason).toBe('This browser has no WebRTC');
    expect(calls.map((c) => c.path)).toEqual(['/v1/streaming.new']);
    expect(FakeSocket.opened).toEqual(['ws://127.0.0.1:8000/ws/s1?token=tok1']);
  });

  it('falls back on the same session when streaming.start refuses the offer', async () => {
    browser(fakePeer(true));
    const calls = fakeServer({
      '/v1/streaming.start': () => ({ status: 400, body: { error: { code: 'BAD_REQUEST', message: 'Unsupported offer' }, meta: { requestId: 'r' } } }),
    });
    const live = await openLive(client());
    expect(live.transport).toBe('websocket');
    expect(live.fallbackReason).toMatch(/Unsupported offer/);
    expect(live.sessionId).toBe('s1');
    expect(calls.map((c) => c.path)).toEqual(['/v1/streaming.new', '/v1/streaming.start']);
  });

  it('stops the session and opens another when the peer never connects', async () => {
    browser(fakePeer(false));
    const calls = fakeServer({});
    const live = await openLive(client(), { connectTimeoutMs: 20 });
    expect(live.transport).toBe('websocket');
    expect(live.fallbackReason).toBe('WebRTC did not connect in time');
    expect(live.sessionId).toBe('s2');
    expect(calls.map((c) => c.path)).toEqual(['/v1/streaming.new', '/v1/streaming.start', '/v1/streaming.stop', '/v1/streaming.new']);
    expect(calls[2].body).toEqual({ session_id: 's1' });
    expect(FakeSocket.opened).toEqual(['ws://127.0.0.1:8000/ws/s2?token=tok2']);
  });

  it('stops the session when opening is cancelled', async () => {
    browser(fakePeer(true));
    const calls = fakeServer({});
    const ac = new AbortController();
    ac.abort();
    await expect(openLive(client(), { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await vi.waitFor(() => expect(calls.map((c) => c.path)).toEqual(['/v1/streaming.new', '/v1/streaming.stop']));
  });
});
