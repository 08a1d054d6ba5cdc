// AvatarStage: where the talking avatar is shown.
//
// For now it shows the preset's thumbnail (or, without one, a placeholder
// face in the avatar's colours) and a mouth that follows the current viseme,
// and prints the viseme name. The renderer (another crate) will supply real
// frames of the avatar model; whoever wires them in replaces the contents of
// `.stage-canvas` below and keeps these props: `viseme` is the Oculus viseme
// sounding now, in sync with the audio, and `speaking` says audio is playing.

import type { ComponentChildren, Ref } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { initials } from '../lib/format';
import type { LiveTransport } from '../lib/live';
import { mouthOf } from '../lib/speech';

export interface AvatarStageProps {
  name: string;
  /** Background colour of the avatar (its own or its preset's). */
  background?: string;
  /** The preset's still image, when the server has one. */
  thumbnailUrl?: string | null;
  /** The preset the avatar uses, shown under the face. */
  presetName?: string;
  /** The current viseme (sil, PP, FF, TH, DD, kk, CH, SS, nn, RR, aa, E, ih, oh, ou). */
  viseme?: string;
  speaking?: boolean;
  size?: 'sm' | 'md' | 'lg';
  /** Print the viseme name under the face (studio views). */
  showViseme?: boolean;
  /** Replaces the still avatar: the live one (see LiveView). */
  live?: ComponentChildren;
}

function Mouth({ viseme, cx, cy, scale = 1 }: { viseme: string; cx: number; cy: number; scale?: number }) {
  const m = mouthOf(viseme);
  return <ellipse class="mouth" cx={cx} cy={cy} rx={((14 + m.wide * 26) / 2) * scale} ry={((2 + m.open * 18) / 2) * scale} fill="#7a2d3b" />;
}

export function AvatarStage({
  name,
  background = '#0A0A0F',
  thumbnailUrl,
  presetName,
  viseme = 'sil',
  speaking = false,
  size = 'md',
  showViseme = true,
  live,
}: AvatarStageProps) {
  const gradient = `face-${useId().replace(/[^a-zA-Z0-9_-]/g, '')}`;
  return (
    <figure class={`stage stage-${size} ${speaking ? 'speaking' : ''}`} aria-label={`${name} avatar stage`} data-viseme={viseme}>
      <div class="stage-canvas" style={{ background }}>
        {live ? (
          live
        ) : thumbnailUrl ? (
          <>
            <img src={thumbnailUrl} alt={`${name}${presetName ? ` (${presetName})` : ''}`} class="stage-image" />
            {speaking && (
              <svg class="stage-mouth-badge" viewBox="0 0 60 40" aria-hidden="true">
                <rect x="0" y="0" width="60" height="40" rx="12" fill="rgba(255,255,255,0.9)" />
                <Mouth viseme={viseme} cx={30} cy={20} scale={1.1} />
              </svg>
            )}
          </>
        ) : (
          <svg viewBox="0 0 120 120" role="img" aria-label={`Placeholder for ${name}: the rendered avatar comes with the renderer`}>
            <defs>
              <radialGradient id={gradient} cx="50%" cy="40%" r="60%">
                <stop offset="0%" stop-color="#fbe3cf" />
                <stop offset="100%" stop-color="#e9b996" />
              </radialGradient>
            </defs>
            <circle cx="60" cy="58" r="40" fill={`url(#${gradient})`} />
            <circle cx="46" cy="50" r="4" fill="#2b2233" />
            <circle cx="74" cy="50" r="4" fill="#2b2233" />
            <Mouth viseme={viseme} cx={60} cy={76} />
            <text x="60" y="112" text-anchor="middle" class="stage-initials">
              {initials(name)}
            </text>
          </svg>
        )}
      </div>
      <figcaption class="stage-caption">
        <span class="stage-name">{name}</span>
        {presetName && <span class="stage-preset">{presetName}</span>}
        {showViseme && (
          <span class="stage-viseme">
            Viseme: <strong data-testid="current-viseme">{viseme}</strong>
          </span>
        )}
      </figcaption>
    </figure>
  );
}

export interface LiveViewProps {
  name: string;
  /** null while connecting. */
  transport: LiveTransport | null;
  /** WebRTC: the avatar's video and voice. */
  stream?: MediaStream | null;
  /** WebSocket: the `<img>` that frames are written to. */
  frameRef?: Ref<HTMLImageElement>;
  /** WebSocket: a frame has arrived. */
  hasFrame?: boolean;
  /** Shown over the stage (connecting, ended). */
  note?: string;
  /** The realtime session shown. */
  sessionId?: string | null;
}

/**
 * The live avatar inside a stage: a `<video>` of the WebRTC stream, or an
 * `<img>` the WebSocket's JPEG frames are written to, labelled with the
 * transport. The video starts with sound (the user turned it on); where
 * the browser refuses, it plays muted with an Unmute button.
 */
export function LiveView({ name, transport, stream, frameRef, hasFrame, note, sessionId }: LiveViewProps) {
  const video = useRef<HTMLVideoElement>(null);
  const [muted, setMuted] = useState(false);

  useEffect(() => {
    const v = video.current;
    if (!v || !stream) return;
    v.srcObject = stream;
    v.muted = false;
    setMuted(false);
    v.play()
      .catch(() => {
        v.muted = true;
        setMuted(true);
        return v.play();
      })
      .catch(() => undefined);
    return () => {
      v.srcObject = null;
    };
  }, [stream]);

  const unmute = () => {
    const v = video.current;
    if (!v) return;
    v.muted = false;
    setMuted(false);
    v.play().catch(() => undefined);
  };

  return (
    <div class="stage-live" data-testid="live-stage" data-transport={transport ?? ''} data-session-id={sessionId ?? undefined}>
      {transport === 'webrtc' && (
        <video ref={video} class="stage-video" autoplay playsInline data-testid="live-video" aria-label={`${name}, live video`} />
      )}
      {transport === 'websocket' && (
        <img ref={frameRef} class={`stage-video ${hasFrame ? '' : 'hidden'}`} alt={`${name}, live`} data-testid="live-frame" />
      )}
      {transport && (
        <span class="live-badge" data-testid="live-transport" title="How the live avatar reaches this page">
          <span class="live-dot" aria-hidden="true" />
          {transport === 'webrtc' ? 'WebRTC' : 'WebSocket'}
        </span>
      )}
      {note && <span class="live-note" role="status">{note}</span>}
      {muted && (
        <button type="button" class="live-unmute" onClick={unmute} data-testid="live-unmute">
          Unmute
        </button>
      )}
    </div>
  );
}
