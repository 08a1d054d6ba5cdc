// AvatarStage: where the talking avatar is shown.
//
// For now it draws a placeholder face (the preset's colours and initials)
// whose mouth follows the current viseme, and prints the viseme name. The
// renderer (another crate) will supply real frames of the avatar model;
// whoever wires them in replaces the <svg> below and keeps these props:
// `viseme` is the Oculus viseme sounding now, in sync with the audio.

import { useId } from 'preact/hooks';
import { initials } from '../lib/format';
import { mouthOf } from '../lib/speech';

export interface AvatarStageProps {
  name: string;
  /** Background colour of the avatar (its own or its preset's). */
  background?: string;
  /** The preset the avatar uses, shown under the face. */
  presetName?: string;
  /** The current viseme (sil, PP, FF, TH, DD, kk, CH, SS, nn, RR, aa, E, ih, oh, ou). */
  viseme?: string;
  speaking?: boolean;
  size?: 'sm' | 'md' | 'lg';
  /** Print the viseme name under the face (studio views). */
  showViseme?: boolean;
}

export function AvatarStage({ name, background = '#0A0A0F', presetName, viseme = 'sil', speaking = false, size = 'md', showViseme = true }: AvatarStageProps) {
  const gradient = `face-${useId().replace(/[^a-zA-Z0-9_-]/g, '')}`;
  const m = mouthOf(viseme);
  const mouthW = 14 + m.wide * 26;
  const mouthH = 2 + m.open * 18;
  return (
    <figure class={`stage stage-${size} ${speaking ? 'speaking' : ''}`} aria-label={`${name} avatar stage`} data-viseme={viseme}>
      <div class="stage-canvas" style={{ background }}>
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
          <ellipse class="mouth" cx="60" cy="76" rx={mouthW / 2} ry={mouthH / 2} fill="#7a2d3b" />
          <text x="60" y="112" text-anchor="middle" class="stage-initials">
            {initials(name)}
          </text>
        </svg>
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
