import { useEffect, useRef, useState } from 'preact/hooks';
import type { ConversationSocket } from '../api/client';
import type { Avatar, ChatMessage, Conversation, ConversationEvent, ConversationInput, Source } from '../api/types';
import { AvatarPicker, WithAvatar } from '../components/AvatarPicker';
import { AvatarStage, LiveView } from '../components/AvatarStage';
import { icons } from '../components/icons';
import { Alert, Badge, Button, Card, PageHeader, Toggle, useAsync } from '../components/ui';
import { useLiveAvatar } from '../hooks/useLiveAvatar';
import { useSpeaker } from '../hooks/useSpeaker';
import { errorMessage, formatMs } from '../lib/format';
import { hasUploadedModel } from '../lib/paths';
import { useStore } from '../lib/store';
import { prefs, setPrefs } from '../prefs';
import { api } from '../session';

interface Turn {
  key: string;
  role: 'user' | 'assistant';
  content: string;
  state: 'pending' | 'streaming' | 'done' | 'failed';
  sources?: Source[];
  latencyMs?: number;
}

let turnSeq = 0;
const nextKey = () => `t${++turnSeq}`;

export function Sources({ sources }: { sources: Source[] }) {
  if (sources.length === 0) return null;
  return (
    <div class="sources">
      <span class="sources-label">Sources</span>
      <ul aria-label="Sources">
        {sources.map((s) => (
          <li key={s.title}>
            <span class="source-title">{s.title}</span>
            {s.relevance !== undefined && <span class="source-rel">{Math.round(s.relevance * 100)}%</span>}
          </li>
        ))}
      </ul>
    </div>
  );
}

function MessageView({ t, avatarName, onSpeak }: { t: Turn; avatarName: string; onSpeak?: () => void }) {
  return (
    <article class={`msg msg-${t.role} msg-${t.state}`} aria-label={t.role === 'user' ? 'You' : avatarName} data-state={t.state}>
      <div class="msg-bubble">
        <p class="msg-text">
          {t.content}
          {t.state === 'streaming' && <span class="cursor" aria-hidden="true" />}
        </p>
      </div>
      {t.role === 'assistant' && t.state === 'done' && (
        <div class="msg-meta">
          {t.sources && <Sources sources={t.sources} />}
          {t.latencyMs !== undefined && (
            <span class="latency" title="Time to the complete answer">
              Latency <strong>{formatMs(t.latencyMs)}</strong>
            </span>
          )}
          {onSpeak && (
            <button type="button" class="link-btn" onClick={onSpeak} aria-label="Speak this answer">
              {icons.speaker()} Speak
            </button>
          )}
        </div>
      )}
    </article>
  );
}

function Chat({ avatar }: { avatar: Avatar }) {
  const p = useStore(prefs);
  const presets = useAsync(() => api.presets(), []);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [text, setText] = useState('');
  const [error, setError] = useState<string>();
  const [status, setStatus] = useState<'idle' | 'connecting' | 'connected' | 'closed'>('idle');
  const [conv, setConv] = useState<Conversation | null>(null);
  const [waiting, setWaiting] = useState(false);
  const [speechError, setSpeechError] = useState<string>();
  const socket = useRef<ConversationSocket | null>(null);
  const convRef = useRef<Conversation | null>(null);
  const logRef = useRef<HTMLDivElement>(null);
  const speaker = useSpeaker();
  const speakRef = useRef(p.speak);
  speakRef.current = p.speak;
  // The live avatar (003's realtime session), off by default.
  const [liveOn, setLiveOn] = useState(false);
  const live = useLiveAvatar(avatar.id, liveOn);
  const liveRef = useRef(live);
  liveRef.current = live;

  const preset = presets.data?.find((x) => x.id === avatar.avatarPreset);
  const voiceId = avatar.voiceId ?? p.voiceId ?? preset?.voiceId;

  const speak = async (content: string) => {
    setSpeechError(undefined);
    try {
      const s = await api.tts({ text: content.slice(0, 5000), voiceId: voiceId ?? undefined });
      await speaker.play(s);
    } catch (e) {
      setSpeechError(errorMessage(e));
    }
  };

  const speakFn = useRef(speak);
  speakFn.current = speak;

  const reset = () => {
    socket.current?.close();
    socket.current = null;
    const c = convRef.current;
    convRef.current = null;
    if (c) api.endConversation(c.id).catch(() => undefined);
    setConv(null);
    setStatus('idle');
    setTurns([]);
    setError(undefined);
    setWaiting(false);
  };

  // A new avatar gets a new conversation; leaving the page ends it.
  useEffect(() => reset, [avatar.id]);

  useEffect(() => {
    logRef.current?.scrollTo({ top: logRef.current.scrollHeight });
  }, [turns]);

  const onEvent = (ev: ConversationEvent) => {
    switch (ev.type) {
      case 'message':
        if (ev.data.role === 'user')
          setTurns((ts) => {
            const i = ts.findIndex((t) => t.role === 'user' && t.state === 'pending');
            if (i < 0) return ts;
            const copy = [...ts];
            copy[i] = { ...copy[i], content: ev.data.content, state: 'done' };
            return copy;
          });
        break;
      case 'stream_start':
        setTurns((ts) => [...ts, { key: nextKey(), role: 'assistant', content: '', state: 'streaming' }]);
        break;
      case 'stream_chunk':
        setTurns((ts) => ts.map((t) => (t.state === 'streaming' ? { ...t, content: t.content + ev.data } : t)));
        break;
      case 'stream_end': {
        const m: ChatMessage = ev.data;
        setTurns((ts) =>
          ts.map((t) => (t.state === 'streaming' ? { ...t, content: m.content, state: 'done', sources: m.sources ?? [], latencyMs: m.latencyMs } : t)),
        );
        setWaiting(false);
        if (!m.content) break;
        // A live avatar says the answer itself; otherwise "Speak answers" plays it here.
        if (liveRef.current.status === 'live')
          liveRef.current.speak(m.content).catch((e: unknown) => setSpeechError(errorMessage(e)));
        else if (speakRef.current) void speakFn.current(m.content);
        break;
      }
      case 'error':
        setError(ev.message);
        setWaiting(false);
        setTurns((ts) =>
          ts
            .filter((t) => !(t.state === 'streaming' && !t.content))
            .map((t) => (t.state === 'pending' || t.state === 'streaming' ? { ...t, state: 'failed' } : t)),
        );
        break;
      case 'ended':
        setStatus('closed');
        break;
      default:
        break;
    }
  };

  const connect = async (): Promise<ConversationSocket> => {
    if (socket.current?.open) return socket.current;
    setStatus('connecting');
    const input: ConversationInput = { avatarId: avatar.id };
    if (p.provider) {
      input.provider = p.provider;
      if (p.model) input.model = p.model;
      const key = p.byok[p.provider];
      if (key) input.byokAI = { provider: p.provider, apiKey: key, model: p.model };
    }
    const c = await api.createConversation(input);
    convRef.current = c;
    setConv(c);
    const s = api.connectConversation(c.wsUrl);
    s.on(onEvent);
    s.onClose(() => {
      socket.current = null;
      setStatus('closed');
      setWaiting(false);
    });
    await s.ready;
    socket.current = s;
    setStatus('connected');
    return s;
  };

  const send = async (e: Event) => {
    e.preventDefault();
    const message = text.trim();
    if (!message || waiting) return;
    setError(undefined);
    setText('');
    setWaiting(true);
    setTurns((ts) => [...ts, { key: nextKey(), role: 'user', content: message, state: 'pending' }]);
    try {
      const s = await connect();
      s.send(message);
    } catch (err) {
      setError(errorMessage(err));
      setStatus('idle');
      setWaiting(false);
      setTurns((ts) => ts.map((t) => (t.state === 'pending' ? { ...t, state: 'failed' } : t)));
    }
  };

  return (
    <div class="playground">
      <Card class="chat-card" aria-label="Chat">
        <div class="chat-head">
          <div class="chat-title">
            <h2>{avatar.name}</h2>
            <span class={`conn conn-${status}`} role="status">
              {status === 'connected' ? 'Connected' : status === 'connecting' ? 'Connecting…' : status === 'closed' ? 'Disconnected' : 'Not started'}
            </span>
            {conv && (
              <Badge>
                {conv.provider} · {conv.model}
                {conv.byokEnabled ? ' · your key' : ''}
              </Badge>
            )}
          </div>
          <Button size="sm" onClick={reset} disabled={turns.length === 0 && !conv}>
            New conversation
          </Button>
        </div>
        <div class="chat-log" ref={logRef} role="log" aria-label="Conversation" aria-live="polite">
          {avatar.greeting && (
            <article class="msg msg-assistant msg-greeting" aria-label={`${avatar.name} greeting`}>
              <div class="msg-bubble">
                <p class="msg-text">{avatar.greeting}</p>
              </div>
            </article>
          )}
          {turns.map((t) => (
            <MessageView t={t} key={t.key} avatarName={avatar.name} onSpeak={t.role === 'assistant' ? () => speak(t.content) : undefined} />
          ))}
          {turns.length === 0 && <p class="chat-hint">Ask something your avatar should know — answers name the knowledge they come from.</p>}
        </div>
        {error && <Alert>{error}</Alert>}
        <form class="composer" onSubmit={send} aria-label="Send a message">
          <label for="pg-message" class="sr-only">
            Message
          </label>
          <input
            id="pg-message"
            autocomplete="off"
            placeholder={`Message ${avatar.name}…`}
            value={text}
            maxLength={4000}
            onInput={(e) => setText(e.currentTarget.value)}
          />
          <Button type="submit" variant="primary" busy={waiting} disabled={!text.trim()} aria-label="Send">
            {icons.send()}
            <span class="hide-sm">Send</span>
          </Button>
        </form>
      </Card>
      <div class="stage-col">
        <Card aria-label="Avatar">
          <AvatarStage
            name={avatar.name}
            background={avatar.backgroundColor}
            thumbnailUrl={hasUploadedModel(avatar.avatarModelUrl) ? null : preset?.thumbnailUrl}
            presetName={hasUploadedModel(avatar.avatarModelUrl) ? 'Uploaded model' : preset?.name}
            viseme={speaker.viseme}
            speaking={liveOn ? live.speaking : speaker.speaking}
            size="lg"
            showViseme={!liveOn}
            live={
              liveOn && (
                <LiveView
                  name={avatar.name}
                  transport={live.status === 'live' || live.status === 'ended' ? live.transport : null}
                  stream={live.stream}
                  frameRef={live.frameRef}
                  hasFrame={live.hasFrame}
                  sessionId={live.sessionId}
                  note={live.status === 'connecting' ? 'Connecting…' : live.status === 'ended' ? 'Ended' : live.status === 'failed' ? 'Not available' : undefined}
                />
              )
            }
          />
          <Toggle
            label="Live video"
            description={live.status === 'live' && live.fallbackReason ? `(${live.fallbackReason})` : undefined}
            checked={liveOn}
            onChange={(on) => {
              // One voice at a time: the live avatar's.
              if (on) speaker.stop();
              setLiveOn(on);
            }}
          />
          {liveOn && live.error && <Alert>{live.error}</Alert>}
          <Toggle
            label="Speak answers"
            description={liveOn ? '(the live avatar speaks)' : voiceId ? `(${voiceId})` : undefined}
            checked={p.speak}
            onChange={(v) => setPrefs({ speak: v })}
            disabled={liveOn}
          />
          <audio ref={speaker.audioRef} controls aria-label="Spoken answer" class={speaker.hasAudio ? '' : 'hidden'} />
          {speaker.blocked && <p class="hint">The browser blocked autoplay: press play.</p>}
          {speechError && <Alert>{speechError}</Alert>}
        </Card>
      </div>
    </div>
  );
}

export function Playground() {
  return (
    <>
      <PageHeader title="Playground" subtitle="Talk to your avatar over the conversation WebSocket." actions={<AvatarPicker />} />
      <WithAvatar>{(a) => <Chat avatar={a} key={a.id} />}</WithAvatar>
    </>
  );
}
