import type { VisemeCue } from '../api/types';

/** Decodes the API's base64 WAV into a Blob an <audio> element can play. */
export function wavBlob(base64: string): Blob {
  const bin = atob(base64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Blob([bytes], { type: 'audio/wav' });
}

/** The viseme sounding at `ms` (cues are sorted and cover the audio), or 'sil'. */
export function visemeAt(cues: readonly VisemeCue[], ms: number): string {
  let lo = 0;
  let hi = cues.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = cues[mid];
    if (ms < c.start) hi = mid - 1;
    else if (ms >= c.end) lo = mid + 1;
    else return c.viseme;
  }
  return 'sil';
}

/** Mouth opening (0..1) and width (0..1) of the 15 Oculus visemes the API
 * names (sil PP FF TH DD kk CH SS nn RR aa E ih oh ou), for the placeholder stage. */
export const MOUTH: Record<string, { open: number; wide: number }> = {
  sil: { open: 0.02, wide: 0.5 },
  PP: { open: 0.0, wide: 0.45 },
  FF: { open: 0.12, wide: 0.55 },
  TH: { open: 0.2, wide: 0.55 },
  DD: { open: 0.3, wide: 0.55 },
  kk: { open: 0.35, wide: 0.5 },
  CH: { open: 0.3, wide: 0.4 },
  SS: { open: 0.15, wide: 0.65 },
  nn: { open: 0.25, wide: 0.55 },
  RR: { open: 0.3, wide: 0.4 },
  aa: { open: 0.9, wide: 0.6 },
  E: { open: 0.55, wide: 0.75 },
  ih: { open: 0.4, wide: 0.8 },
  oh: { open: 0.75, wide: 0.35 },
  ou: { open: 0.45, wide: 0.25 },
};

export function mouthOf(viseme: string): { open: number; wide: number } {
  return MOUTH[viseme] ?? MOUTH.sil;
}
