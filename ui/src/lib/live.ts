// A live avatar: a realtime session (003) shown as video.
//
// WebRTC first: `streaming.new`, a recvonly offer for video and audio with
// every ICE candidate in it (the server takes one offer, no trickle), then
// `streaming.start` answers it and the avatar arrives as an H.264 video
// track and an Opus voice track. When that cannot work (no
// RTCPeerConnection, the offer refused, no connection within a few
// seconds) the session WebSocket carries the avatar instead: `frame`
// events with base64 JPEGs (the server sends them whenever no WebRTC
// peer is connected) and `audio` events with base64 WAV.
//
// `fallbackPlan` is the decision, kept pure for the unit tests.

import { ApiError, type ApiClient } from '../api/client';
import type { LiveEvent, SpeakTask, StreamingQuality, StreamingSession } from '../api/types';

export type LiveTransport = 'webrtc' | 'websocket';

/** Where the WebRTC attempt stopped. */
export type WebRtcFailure =
  /** This browser has no RTCPeerConnection (or the caller asked for none). */
  | { stage: 'unsupported' }
  /** createOffer / setLocalDescription failed. */
  | { stage: 'offer'; error: unknown }
  /** streaming.start refused the offer or failed. */
  | { stage: 'start'; error: unknown }
  /** The server's answer could not be applied. */
  | { stage: 'answer'; error: unknown }
  /** No connection: the peer failed or closed, or the timeout passed. */
  | { stage: 'connect'; state: string };

export interface FallbackPlan {
  /** Go on over the WebSocket (false: give up, e.g. the sign-in expired). */
  fallBack: boolean;
  /**
   * Open a new session for the WebSocket: the old one is gone, or holds a
   * peer the server keeps until its connect timeout (its frames already go
   * to the socket meanwhile, but a fresh session starts clean).
   */
  newSession: boolean;
  /** Why WebRTC is not used, for people. */
  reason: string;
}

function describe(e: unknown): string {
  if (e instanceof ApiError) return `${e.message} (${e.status || e.code})`;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** What to do when WebRTC did not work out. */
export function fallbackPlan(f: WebRtcFailure): FallbackPlan {
  switch (f.stage) {
    case 'unsupported':
      return { fallBack: true, newSession: false, reason: 'This browser has no WebRTC' };
    case 'offer':
      return { fallBack: true, newSession: false, reason: `Could not make a WebRTC offer: ${describe(f.error)}` };
    case 'start': {
      const e = f.error;
      // A refused sign-in fails the WebSocket path too.
      if (e instanceof ApiError && (e.status === 401 || e.status === 403)) return { fallBack: false, newSession: false, reason: describe(e) };
      // The session is gone (stopped, or expired meanwhile).
      const gone = e instanceof ApiError && e.status === 404;
      return { fallBack: true, newSession: gone, reason: `The server did not start WebRTC: ${describe(e)}` };
    }
    case 'answer':
      return { fallBack: true, newSession: true, reason: `The server's WebRTC answer did not apply: ${describe(f.error)}` };
    case 'connect':
      return {
        fallBack: true,
        newSession: true,
        reason: f.state === 'timeout' ? 'WebRTC did not connect in time' : `WebRTC did not connect (${f.state})`,
      };
  }
}

/** Seconds from `now` at which a clip of `duration` s that arrived now should start, and when the queue is free again. */
export function queueClip(now: number, queuedUntil: number, duration: number): { start: number; until: number } {
  const start = Math.max(now, queuedUntil);
  return { start, until: start + duration };
}

export interface LiveOptions {
  /** The avatar to show: a preset id, or one of the account's avatars. */
  avatarId?: string;
  quality?: StreamingQuality;
  /** 'websocket' skips WebRTC. */
  prefer?: LiveTransport;
  /** How long to wait for ICE gathering before sending what was gathered. */
  gatherTimeoutMs?: number;
  /** How long the peer may take to connect before the WebSocket takes over. */
  connectTimeoutMs?: number;
  /** Each JPEG frame on the WebSocket path, as a data: URL. */
  onFrame?: (src: string) => void;
  /** Every event of the session WebSocket. */
  onEvent?: (e: LiveEvent) => void;
  /** The session ended without close() (stopped elsewhere, connection lost). */
  onEnded?: (why: string) => void;
  /** Play `audio` events on the WebSocket path (default true). */
  playAudio?: boolean;
  /** Aborting gives up while opening; the session is stopped. */
  signal?: AbortSignal;
}

export interface LiveAvatar {
  readonly sessionId: string;
  readonly transport: LiveTransport;
  /** The avatar's video and voice (WebRTC only). */
  readonly stream: MediaStream | null;
  /** Why WebRTC is not in use (WebSocket only). */
  readonly fallbackReason: string | null;
  /** Makes the avatar say `text`. */
  speak(text: string): Promise<SpeakTask>;
  /** Stops the session (streaming.stop) and lets go of everything. */
  close(): Promise<void>;
}

const abortError = () => new DOMException('Opening the live avatar was cancelled', 'AbortError');

function checkAborted(signal?: AbortSignal) {
  if (signal?.aborted) throw abortError();
}

/** Resolves when ICE gathering completes, or after `timeoutMs` with what there is. */
function gathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      pc.removeEventListener('icecandidate', onCandidate);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done();
    };
    // A null candidate also ends gathering.
    const onCandidate = (e: RTCPeerConnectionIceEvent) => {
      if (!e.candidate) done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', check);
    pc.addEventListener('icecandidate', onCandidate);
  });
}

/** Resolves when the peer connects; rejects with the state it ended in, or 'timeout'. */
function connected(pc: RTCPeerConnection, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (err?: unknown) => {
      clearTimeout(timer);
      pc.removeEventListener('connectionstatechange', check);
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const check = () => {
      const s = pc.connectionState;
      if (s === 'connected') finish();
      else if (s === 'failed' || s === 'closed') finish(s);
    };
    const onAbort = () => finish(abortError());
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    pc.addEventListener('connectionstatechange', check);
    signal?.addEventListener('abort', onAbort);
    check();
  });
}

class Failure extends Error {
  constructor(readonly failure: WebRtcFailure) {
    super(failure.stage);
  }
}

/** The WebRTC attempt: resolves to the connected peer and its stream. */
async function webrtc(
  api: ApiClient,
  s: StreamingSession,
  o: LiveOptions,
): Promise<{ pc: RTCPeerConnection; stream: MediaStream }> {
  if (typeof RTCPeerConnection !== 'function') throw new Failure({ stage: 'unsupported' });
  let pc: RTCPeerConnection;
  try {
    pc = new RTCPeerConnection({ iceServers: s.ice_servers });
  } catch (error) {
    throw new Failure({ stage: 'offer', error });
  }
  const stream = new MediaStream();
  pc.addEventListener('track', (e) => {
    if (!stream.getTracks().includes(e.track)) stream.addTrack(e.track);
  });
  try {
    try {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, o.gatherTimeoutMs ?? 3000);
    } catch (error) {
      throw new Failure({ stage: 'offer', error });
    }
    checkAborted(o.signal);
    const offer = pc.localDescription;
    if (!offer) throw new Failure({ stage: 'offer', error: new Error('no local description') });
    let answer;
    try {
      answer = await api.streamingStart(s.session_id, { type: 'offer', sdp: offer.sdp });
    } catch (error) {
      throw new Failure({ stage: 'start', error });
    }
    checkAborted(o.signal);
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp.sdp });
    } catch (error) {
      throw new Failure({ stage: 'answer', error });
    }
    try {
      await connected(pc, o.connectTimeoutMs ?? 10_000, o.signal);
    } catch (state) {
      if (state instanceof DOMException) throw state;
      throw new Failure({ stage: 'connect', state: String(state) });
    }
    return { pc, stream };
  } catch (e) {
    pc.close();
    throw e;
  }
}

/** Plays base64 WAV clips one after another through Web Audio. */
class ClipPlayer {
  private ctx: AudioContext | null = null;
  private until = 0;
  private readonly sources = new Set<AudioBufferSourceNode>();

  constructor() {
    const Ctx = globalThis.AudioContext ?? (globalThis as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (Ctx) this.ctx = new Ctx();
  }

  async play(base64: string): Promise<void> {
    const ctx = this.ctx;
    if (!ctx) return;
    if (ctx.state === 'suspended') await ctx.resume().catch(() => undefined);
    const bin = atob(base64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const buffer = await ctx.decodeAudioData(bytes.buffer);
    if (this.ctx !== ctx) return;
    const { start, until } = queueClip(ctx.currentTime, this.until, buffer.duration);
    this.until = until;
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(ctx.destination);
    src.onended = () => this.sources.delete(src);
    this.sources.add(src);
    src.start(start);
  }

  /** Barge-in: what is queued stops. */
  stop(): void {
    for (const s of this.sources) s.stop();
    this.sources.clear();
    this.until = 0;
  }

  close(): void {
    this.stop();
    void this.ctx?.close().catch(() => undefined);
    this.ctx = null;
  }
}

/** Opens the session WebSocket; resolves once it is open. */
function openSocket(api: ApiClient, s: StreamingSession, o: LiveOptions, player: ClipPlayer | null): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(api.sessionSocketUrl(s.session_id, s.access_token));
    ws.addEventListener('open', () => resolve(ws), { once: true });
    ws.addEventListener('error', () => reject(new ApiError(0, 'WS_ERROR', 'Could not open the session socket')), { once: true });
    ws.addEventListener('message', (m) => {
      let ev: LiveEvent;
      try {
        ev = JSON.parse(String(m.data)) as LiveEvent;
      } catch {
        return;
      }
      if (ev.type === 'frame') o.onFrame?.(`data:image/jpeg;base64,${ev.data}`);
      else if (ev.type === 'audio' && player) void player.play(ev.data).catch(() => undefined);
      else if (ev.type === 'status' && ev.status === 'interrupted') player?.stop();
      o.onEvent?.(ev);
    });
  });
}

/**
 * Opens a live avatar: WebRTC when it connects, else the session
 * WebSocket. Rejects only when neither works (or on abort).
 */
export async function openLive(api: ApiClient, o: LiveOptions = {}): Promise<LiveAvatar> {
  const create = () => api.streamingNew({ quality: o.quality ?? 'medium', avatar_id: o.avatarId });
  let session = await create();
  const stopQuietly = (id: string) => api.streamingStop(id).catch(() => undefined);
  let transport: LiveTransport = 'webrtc';
  let pc: RTCPeerConnection | null = null;
  let stream: MediaStream | null = null;
  let fallbackReason: string | null = null;
  let ws: WebSocket | null = null;
  let player: ClipPlayer | null = null;
  let closed = false;

  try {
    checkAborted(o.signal);
    try {
      if (o.prefer === 'websocket') throw new Failure({ stage: 'unsupported' });
      ({ pc, stream } = await webrtc(api, session, o));
    } catch (e) {
      if (!(e instanceof Failure)) throw e;
      const plan = fallbackPlan(o.prefer === 'websocket' ? { stage: 'unsupported' } : e.failure);
      if (o.prefer === 'websocket') plan.reason = 'WebSocket chosen';
      if (!plan.fallBack) throw e.failure.stage === 'start' ? e.failure.error : new Error(plan.reason);
      transport = 'websocket';
      fallbackReason = plan.reason;
      if (plan.newSession) {
        void stopQuietly(session.session_id);
        session = await create();
        checkAborted(o.signal);
      }
    }
    if (transport === 'websocket') {
      player = o.playAudio === false ? null : new ClipPlayer();
      ws = await openSocket(api, session, o, player);
    } else {
      // Events only (status, chat); the media is on the peer. Optional.
      ws = await openSocket(api, session, o, null).catch(() => null);
    }
    checkAborted(o.signal);
  } catch (e) {
    pc?.close();
    ws?.close(1000);
    player?.close();
    void stopQuietly(session.session_id);
    throw e;
  }

  const end = (why: string) => {
    if (closed) return;
    closed = true;
    o.onEnded?.(why);
  };
  ws?.addEventListener('close', () => {
    // Over WebRTC the socket only carries events: losing it ends nothing.
    if (transport === 'websocket') end('The session socket closed');
  });
  pc?.addEventListener('connectionstatechange', () => {
    if (pc && (pc.connectionState === 'failed' || pc.connectionState === 'closed')) end(`The WebRTC connection ${pc.connectionState}`);
  });

  const sessionId = session.session_id;
  return {
    sessionId,
    transport,
    stream,
    fallbackReason,
    speak: (text: string) => api.avatarSpeak({ session_id: sessionId, text: text.slice(0, 5000) }),
    async close() {
      closed = true;
      pc?.close();
      ws?.close(1000);
      player?.close();
      stream?.getTracks().forEach((t) => t.stop());
      await stopQuietly(sessionId);
    },
  };
}
