// The public avatar pages, no sign-in: `/a/:shortId` (a full page) and
// `/a/:shortId/embed` (the compact widget other sites put in an iframe).
// They use only the public endpoints: avatar details, session, chat, end.

import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiClient, ApiError } from '../api/client';
import type { HistoryItem, PublicAvatar, SessionSummary, Source } from '../api/types';
import { AvatarStage } from '../components/AvatarStage';
import { icons } from '../components/icons';
import { formatMs, initials } from '../lib/format';
import { hasUploadedModel, type PublicRoute } from '../lib/paths';
import { platform } from '../platform';

interface Line {
  key: number;
  role: 'user' | 'assistant';
  content: string;
  sources?: Source[];
  latencyMs?: number;
  failed?: boolean;
}

const api = new ApiClient({ baseUrl: platform.apiBaseUrl(), token: () => null });

function inFrame(): boolean {
  try {
    return window.self !== window.top;
  } catch {
    return true;
  }
}

const canSpeak = typeof window !== 'undefined' && 'speechSynthesis' in window;

export function EmbedApp({ route }: { route: PublicRoute | null }) {
  const [avatar, setAvatar] = useState<PublicAvatar | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [lines, setLines] = useState<Line[]>([]);
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [readAloud, setReadAloud] = useState(false);
  const [summary, setSummary] = useState<SessionSummary | null>(null);
  const [thumbnail, setThumbnail] = useState<string | null>(null);
  const session = useRef<string | null>(null);
  const history = useRef<HistoryItem[]>([]);
  const seq = useRef(0);
  const logRef = useRef<HTMLDivElement>(null);
  const widget = route?.mode === 'widget';

  useEffect(() => {
    if (!route) {
      setLoadError('There is no avatar at this address.');
      return;
    }
    api.publicAvatar(route.shortId).then(
      (a) => {
        setAvatar(a);
        document.title = `${a.name} · Avatarium`;
        if (a.greeting) history.current = [{ role: 'assistant', content: a.greeting }];
        if (a.avatarPreset && !hasUploadedModel(a.avatarModelUrl))
          api.presets().then(
            (ps) => setThumbnail(ps.find((p) => p.id === a.avatarPreset)?.thumbnailUrl ?? null),
            () => undefined,
          );
      },
      (e) => setLoadError(e instanceof ApiError && e.status === 404 ? 'This avatar is not available.' : 'The avatar could not be loaded. Please try again later.'),
    );
  }, [route?.shortId]);

  // Leaving ends the session, so its duration and summary are recorded.
  useEffect(() => {
    if (!route) return;
    const end = () => {
      const id = session.current;
      if (!id) return;
      session.current = null;
      navigator.sendBeacon?.(api.url(api.endSessionPath(route.shortId, id)));
    };
    window.addEventListener('pagehide', end);
    return () => window.removeEventListener('pagehide', end);
  }, [route?.shortId]);

  useEffect(() => {
    logRef.current?.scrollTo({ top: logRef.current.scrollHeight });
  }, [lines, busy]);

  if (loadError || !route)
    return (
      <div class={`public ${widget ? 'widget' : 'page'}`}>
        <div class="public-error" role="alert">
          <h1>Avatar unavailable</h1>
          <p>{loadError}</p>
        </div>
      </div>
    );
  if (!avatar)
    return (
      <div class={`public ${widget ? 'widget' : 'page'}`}>
        <div class="loading" role="status">
          <span class="spinner" aria-hidden="true" />
          <span>Loading…</span>
        </div>
      </div>
    );
  if (widget && inFrame() && !avatar.allowEmbedding)
    return (
      <div class="public widget">
        <div class="public-error" role="alert">
          <h1>Embedding is turned off</h1>
          <p>
            <a href={avatar.url} target="_blank" rel="noopener noreferrer">
              Talk to {avatar.name} on its own page
            </a>
          </p>
        </div>
      </div>
    );

  const send = async (e: Event) => {
    e.preventDefault();
    const message = text.trim();
    if (!message || busy) return;
    setText('');
    setError(undefined);
    setSummary(null);
    setBusy(true);
    const key = ++seq.current;
    setLines((ls) => [...ls, { key, role: 'user', content: message }]);
    try {
      if (!session.current) session.current = (await api.startSession(route.shortId, { source: widget ? 'embed' : 'page' })).sessionId;
      const reply = await api.publicChat(route.shortId, session.current, message, history.current);
      history.current = [...history.current, { role: 'user', content: message }, { role: 'assistant', content: reply.ttsText }];
      setLines((ls) => [...ls, { key: ++seq.current, role: 'assistant', content: reply.displayText, sources: reply.sources, latencyMs: reply.latency.total }]);
      if (readAloud && canSpeak) {
        window.speechSynthesis.cancel();
        window.speechSynthesis.speak(new SpeechSynthesisUtterance(reply.ttsText));
      }
    } catch (err) {
      setLines((ls) => ls.map((l) => (l.key === key ? { ...l, failed: true } : l)));
      setError(err instanceof ApiError ? err.message : 'Something went wrong');
      // An ended or unknown session: start afresh on the next message.
      if (err instanceof ApiError && (err.status === 404 || err.status === 409)) session.current = null;
    } finally {
      setBusy(false);
    }
  };

  const endChat = async () => {
    const id = session.current;
    if (!id) return;
    session.current = null;
    try {
      setSummary(await api.endSession(route.shortId, id));
    } catch {
      // Nothing to show: the next message starts a new session anyway.
    }
    history.current = avatar.greeting ? [{ role: 'assistant', content: avatar.greeting }] : [];
    setLines([]);
  };

  const header = (
    <header class="public-head" style={{ background: avatar.backgroundColor }}>
      <span class="public-avatar" aria-hidden="true">
        {thumbnail ? <img src={thumbnail} alt="" /> : initials(avatar.name)}
      </span>
      <div class="public-title">
        <h1>{avatar.name}</h1>
        {avatar.tagline && <p>{avatar.tagline}</p>}
      </div>
      <div class="public-tools">
        {canSpeak && (
          <button
            type="button"
            class={`icon-btn ${readAloud ? 'on' : ''}`}
            role="switch"
            aria-checked={readAloud}
            aria-label="Read answers aloud"
            title="Read answers aloud"
            onClick={() => {
              if (readAloud) window.speechSynthesis.cancel();
              setReadAloud(!readAloud);
            }}
          >
            {icons.speaker()}
          </button>
        )}
        {!widget && lines.length > 0 && (
          <button type="button" class="btn btn-sm btn-ghost on-dark" onClick={endChat}>
            End chat
          </button>
        )}
      </div>
    </header>
  );

  const chat = (
    <section class="public-chat" aria-label={`Chat with ${avatar.name}`}>
      <div class="chat-log" ref={logRef} role="log" aria-label="Conversation" aria-live="polite">
        {avatar.greeting && (
          <article class="msg msg-assistant" aria-label={`${avatar.name} greeting`}>
            <div class="msg-bubble">
              <p class="msg-text">{avatar.greeting}</p>
            </div>
          </article>
        )}
        {lines.map((l) => (
          <article class={`msg msg-${l.role} ${l.failed ? 'msg-failed' : ''}`} key={l.key} aria-label={l.role === 'user' ? 'You' : avatar.name} data-state="done">
            <div class="msg-bubble">
              <p class="msg-text">{l.content}</p>
            </div>
            {l.role === 'assistant' && (
              <div class="msg-meta">
                {l.sources && l.sources.length > 0 && (
                  <div class="sources">
                    <span class="sources-label">Sources</span>
                    <ul aria-label="Sources">
                      {l.sources.map((s) => (
                        <li key={s.title}>
                          <span class="source-title">{s.title}</span>
                        </li>
                      ))}
                    </ul>
                  </div>
                )}
                {l.latencyMs !== undefined && !widget && <span class="latency">{formatMs(l.latencyMs)}</span>}
              </div>
            )}
          </article>
        ))}
        {busy && (
          <div class="typing" role="status" aria-label={`${avatar.name} is typing`}>
            <span />
            <span />
            <span />
          </div>
        )}
        {summary && (
          <div class="summary" role="status">
            <strong>Chat ended.</strong> {summary.summary}
            {summary.topics.length > 0 && <span class="muted"> Topics: {summary.topics.join(', ')}.</span>}
          </div>
        )}
      </div>
      {error && (
        <div class="alert alert-error" role="alert">
          {error}
        </div>
      )}
      <form class="composer" onSubmit={send} aria-label="Send a message">
        <label for="public-message" class="sr-only">
          Message
        </label>
        <input id="public-message" autocomplete="off" maxLength={4000} placeholder="Type your message…" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit" class="btn btn-primary btn-md" disabled={!text.trim() || busy} aria-label="Send">
          {icons.send()}
        </button>
      </form>
      <p class="powered">Powered by Avatarium</p>
    </section>
  );

  if (widget)
    return (
      <div class="public widget">
        {header}
        {chat}
      </div>
    );
  return (
    <div class="public page">
      {header}
      <div class="public-body">
        <div class="public-stage">
          <AvatarStage name={avatar.name} background={avatar.backgroundColor} thumbnailUrl={thumbnail} size="lg" showViseme={false} />
        </div>
        {chat}
      </div>
    </div>
  );
}
