import { useEffect, useRef, useState } from 'preact/hooks';
import type { StreamingQuality } from '../api/types';
import { errorMessage } from '../lib/format';
import { type LiveAvatar, type LiveTransport, openLive } from '../lib/live';
import { api } from '../session';

export type LiveStatus = 'off' | 'connecting' | 'live' | 'ended' | 'failed';

/**
 * A live avatar while `enabled`: opened when it turns on (or the avatar
 * changes), stopped when it turns off, the avatar changes, the component
 * unmounts or the page goes away. WebSocket frames go straight to the
 * `<img>` given to `frameRef`, without a render per frame.
 */
export function useLiveAvatar(avatarId: string, enabled: boolean, quality: StreamingQuality = 'medium') {
  const [status, setStatus] = useState<LiveStatus>('off');
  const [transport, setTransport] = useState<LiveTransport | null>(null);
  const [stream, setStream] = useState<MediaStream | null>(null);
  const [fallbackReason, setFallbackReason] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const [speaking, setSpeaking] = useState(false);
  const [hasFrame, setHasFrame] = useState(false);
  const live = useRef<LiveAvatar | null>(null);
  const img = useRef<HTMLImageElement | null>(null);
  const lastFrame = useRef<string | null>(null);

  /** Ref callback for the fallback's `<img>`: shows the latest frame at once. */
  const frameRef = (el: HTMLImageElement | null) => {
    img.current = el;
    if (el && lastFrame.current) el.src = lastFrame.current;
  };

  useEffect(() => {
    if (!enabled) return;
    const ac = new AbortController();
    let mine: LiveAvatar | null = null;
    setStatus('connecting');
    setError(undefined);
    openLive(api, {
      avatarId,
      quality,
      signal: ac.signal,
      onFrame: (src) => {
        lastFrame.current = src;
        if (img.current) img.current.src = src;
        setHasFrame(true);
      },
      onEvent: (e) => {
        if (e.type === 'status') setSpeaking(e.status === 'speaking');
      },
      onEnded: (why) => {
        if (ac.signal.aborted) return;
        setStatus('ended');
        setError(why);
        setSpeaking(false);
      },
    }).then(
      (l) => {
        if (ac.signal.aborted) {
          void l.close();
          return;
        }
        mine = l;
        live.current = l;
        setTransport(l.transport);
        setStream(l.stream);
        setFallbackReason(l.fallbackReason);
        setStatus('live');
      },
      (e: unknown) => {
        if (ac.signal.aborted) return;
        setStatus('failed');
        setError(errorMessage(e));
      },
    );
    const onPageHide = () => void mine?.close();
    window.addEventListener('pagehide', onPageHide);
    return () => {
      window.removeEventListener('pagehide', onPageHide);
      ac.abort();
      void mine?.close();
      live.current = null;
      lastFrame.current = null;
      setStatus('off');
      setTransport(null);
      setStream(null);
      setFallbackReason(null);
      setSpeaking(false);
      setHasFrame(false);
    };
  }, [avatarId, enabled, quality]);

  return {
    status,
    transport,
    stream,
    fallbackReason,
    error,
    speaking,
    hasFrame,
    frameRef,
    /** The live session's id, while there is one. */
    sessionId: live.current?.sessionId ?? null,
    /** Makes the live avatar say `text`; false when none is live. */
    async speak(text: string): Promise<boolean> {
      const l = live.current;
      if (!l || !text.trim()) return false;
      await l.speak(text);
      return true;
    },
  };
}
