import { useEffect, useRef, useState } from 'preact/hooks';
import type { Speech, VisemeCue } from '../api/types';
import { visemeAt, wavBlob } from '../lib/speech';

/**
 * Plays the API's speech (base64 WAV + viseme timeline) through an <audio>
 * element and follows the audio clock, so `viseme` is the one sounding now.
 * Render `<audio ref={audioRef} …>` in the component that uses it.
 */
export function useSpeaker() {
  const audioRef = useRef<HTMLAudioElement>(null);
  const cues = useRef<readonly VisemeCue[]>([]);
  const url = useRef<string | null>(null);
  const frame = useRef<number>(0);
  const [viseme, setViseme] = useState('sil');
  const [speaking, setSpeaking] = useState(false);
  const [blocked, setBlocked] = useState(false);
  const [hasAudio, setHasAudio] = useState(false);

  useEffect(() => {
    const audio = audioRef.current;
    if (!audio) return;
    const tick = () => {
      setViseme(visemeAt(cues.current, audio.currentTime * 1000));
      if (!audio.paused && !audio.ended) frame.current = requestAnimationFrame(tick);
    };
    const onPlay = () => {
      setSpeaking(true);
      setBlocked(false);
      cancelAnimationFrame(frame.current);
      frame.current = requestAnimationFrame(tick);
    };
    const onStop = () => {
      setSpeaking(false);
      cancelAnimationFrame(frame.current);
      setViseme('sil');
    };
    audio.addEventListener('play', onPlay);
    audio.addEventListener('pause', onStop);
    audio.addEventListener('ended', onStop);
    return () => {
      audio.removeEventListener('play', onPlay);
      audio.removeEventListener('pause', onStop);
      audio.removeEventListener('ended', onStop);
      cancelAnimationFrame(frame.current);
    };
  }, []);

  useEffect(
    () => () => {
      if (url.current) URL.revokeObjectURL(url.current);
    },
    [],
  );

  const play = async (speech: Speech) => {
    const audio = audioRef.current;
    if (!audio) return;
    audio.pause();
    if (url.current) URL.revokeObjectURL(url.current);
    url.current = URL.createObjectURL(wavBlob(speech.audio));
    cues.current = speech.visemes;
    audio.src = url.current;
    setHasAudio(true);
    try {
      await audio.play();
    } catch {
      // Autoplay refused (no user gesture yet): the controls let them press play.
      setBlocked(true);
    }
  };

  const stop = () => audioRef.current?.pause();

  return { audioRef, play, stop, viseme, speaking, blocked, hasAudio };
}
