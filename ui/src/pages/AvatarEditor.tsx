import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import type { Avatar, AvatarInput, AvatarPreset, ModelEntry, Persona, QuizDifficulty, Voice, VoiceGender } from '../api/types';
import { AvatarStage } from '../components/AvatarStage';
import { Alert, Button, Card, Field, PageHeader, Spinner, Toggle, useAsync } from '../components/ui';
import { useSpeaker } from '../hooks/useSpeaker';
import { errorMessage, formatBytes, slugify } from '../lib/format';
import { hasUploadedModel } from '../lib/paths';
import { navigate, useLocation } from '../lib/router';
import { api, refreshAvatars, selectAvatar } from '../session';

interface Form {
  name: string;
  slug: string;
  tagline: string;
  status: 'active' | 'paused';
  isPublic: boolean;
  allowEmbedding: boolean;
  personaId: string;
  personality: string;
  greeting: string;
  traits: string;
  tone: string;
  language: string;
  customInstructions: string;
  quizMode: boolean;
  quizDifficulty: QuizDifficulty;
  avatarPreset: string;
  backgroundColor: string;
  voiceId: string;
  voiceGender: '' | VoiceGender;
  ai: string;
}

const EMPTY: Form = {
  name: '',
  slug: '',
  tagline: '',
  status: 'active',
  isPublic: true,
  allowEmbedding: true,
  personaId: '',
  personality: '',
  greeting: '',
  traits: '',
  tone: '',
  language: '',
  customInstructions: '',
  quizMode: false,
  quizDifficulty: 'medium',
  avatarPreset: 'aria-001',
  backgroundColor: '',
  voiceId: '',
  voiceGender: '',
  ai: '',
};

const TONES = ['professional', 'friendly', 'casual', 'formal', 'playful', 'empathetic', 'enthusiastic', 'calm'];

function fromAvatar(a: Avatar): Form {
  return {
    name: a.name,
    slug: a.slug,
    tagline: a.tagline ?? '',
    status: a.status,
    isPublic: a.isPublic,
    allowEmbedding: a.allowEmbedding,
    personaId: a.personaId ?? '',
    personality: a.personality ?? '',
    greeting: a.greeting ?? '',
    traits: (a.traits ?? []).join(', '),
    tone: a.tone ?? '',
    language: a.language ?? '',
    customInstructions: a.customInstructions ?? '',
    quizMode: a.quizMode,
    quizDifficulty: a.quizDifficulty ?? 'medium',
    avatarPreset: a.avatarPreset ?? 'aria-001',
    backgroundColor: a.backgroundColor ?? '',
    voiceId: a.voiceId ?? '',
    voiceGender: a.voiceGender ?? '',
    ai: a.aiProvider ? `${a.aiProvider}::${a.aiModel ?? ''}` : '',
  };
}

function fromPersona(f: Form, p: Persona, presets: AvatarPreset[]): Form {
  const preset = presets.find((x) => x.id === p.suggestedAvatar);
  return {
    ...f,
    name: f.name || p.name,
    slug: f.slug || slugify(f.name || p.name),
    personaId: p.id,
    personality: p.personality,
    greeting: p.greeting,
    traits: p.traits.join(', '),
    tone: p.tone,
    voiceGender: (p.voiceGender as VoiceGender) || f.voiceGender,
    avatarPreset: preset ? preset.id : f.avatarPreset,
  };
}

/** What the form sends: empty fields are cleared (null) on update, left out on create. */
function toInput(f: Form, creating: boolean, customModel: boolean): AvatarInput {
  const opt = (v: string) => (v.trim() ? v.trim() : creating ? undefined : null);
  const [aiProvider, aiModel] = f.ai ? f.ai.split('::') : ['', ''];
  const traits = f.traits
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const input: AvatarInput = {
    name: f.name.trim(),
    slug: f.slug.trim(),
    tagline: opt(f.tagline),
    status: f.status,
    isPublic: f.isPublic,
    allowEmbedding: f.allowEmbedding,
    personaId: opt(f.personaId),
    personality: opt(f.personality),
    greeting: opt(f.greeting),
    traits: traits.length ? traits : creating ? undefined : null,
    tone: opt(f.tone),
    language: opt(f.language),
    customInstructions: opt(f.customInstructions),
    quizMode: f.quizMode,
    quizDifficulty: f.quizMode ? f.quizDifficulty : creating ? undefined : null,
    avatarPreset: f.avatarPreset,
    backgroundColor: opt(f.backgroundColor),
    voiceId: opt(f.voiceId),
    voiceGender: f.voiceGender ? f.voiceGender : creating ? undefined : null,
    aiProvider: opt(aiProvider ?? ''),
    aiModel: opt(aiModel ?? ''),
  };
  // A preset replaces an uploaded model unless the creator keeps the upload.
  if (!creating && !customModel) input.avatarModelUrl = null;
  return input;
}

interface Options {
  presets: AvatarPreset[];
  personas: Persona[];
  voices: Voice[];
  models: ModelEntry[];
}

async function loadOptions(): Promise<Options> {
  const [presets, personas, voices, models] = await Promise.all([
    api.presets(),
    api.personas(),
    api.voices().catch(() => [] as Voice[]),
    api.models().catch(() => [] as ModelEntry[]),
  ]);
  return { presets, personas, voices, models };
}

export function AvatarEditor({ id }: { id: string | null }) {
  const creating = id === null;
  const { query } = useLocation();
  const personaParam = query.get('persona');
  const opts = useAsync(loadOptions, []);
  const existing = useAsync(() => (id ? api.avatar(id) : Promise.resolve(null)), [id]);
  const [form, setForm] = useState<Form>(EMPTY);
  const [slugTouched, setSlugTouched] = useState(!creating);
  const [modelFile, setModelFile] = useState<File | null>(null);
  const [modelSource, setModelSource] = useState<'preset' | 'upload'>('preset');
  const [progress, setProgress] = useState<number | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [saved, setSaved] = useState(false);
  const speaker = useSpeaker();
  const [previewing, setPreviewing] = useState(false);

  // Fill the form once: from the avatar being edited, or from ?persona=.
  const [filled, setFilled] = useState(false);
  useEffect(() => {
    if (filled || !opts.data) return;
    if (id) {
      if (!existing.data) return;
      setForm(fromAvatar(existing.data));
      setModelSource(hasUploadedModel(existing.data.avatarModelUrl) ? 'upload' : 'preset');
      setFilled(true);
      return;
    }
    const p = personaParam ? opts.data.personas.find((x) => x.id === personaParam) : undefined;
    setForm(p ? fromPersona(EMPTY, p, opts.data.presets) : EMPTY);
    setFilled(true);
  }, [opts.data, existing.data, id, personaParam, filled]);

  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));

  const preset = useMemo(() => opts.data?.presets.find((p) => p.id === form.avatarPreset), [opts.data, form.avatarPreset]);
  const hasCustomModel = hasUploadedModel(existing.data?.avatarModelUrl);
  const voicesByProvider = useMemo(() => {
    const groups = new Map<string, Voice[]>();
    for (const v of opts.data?.voices ?? []) {
      if (!v.configured) continue;
      const g = groups.get(v.provider) ?? [];
      g.push(v);
      groups.set(v.provider, g);
    }
    for (const g of groups.values()) g.sort((a, b) => Number(b.language.startsWith('en')) - Number(a.language.startsWith('en')) || a.name.localeCompare(b.name));
    return [...groups.entries()];
  }, [opts.data]);

  if (opts.loading || existing.loading) return <Spinner label="Loading" />;
  if (opts.error || existing.error) return <Alert>{errorMessage(opts.error ?? existing.error)}</Alert>;

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      const keepUpload = modelSource === 'upload' && (modelFile !== null || hasCustomModel);
      const input = toInput(form, creating, keepUpload);
      const voice = opts.data?.voices.find((v) => v.id === form.voiceId);
      if (voice) input.ttsProvider = voice.provider;
      let avatar = creating ? await api.createAvatar(input) : await api.updateAvatar(id!, input);
      if (modelSource === 'upload' && modelFile) {
        setProgress(0);
        avatar = await api.uploadModel(avatar.id, modelFile, (done, total) => setProgress(total ? done / total : null));
        setProgress(null);
      }
      selectAvatar(avatar.id);
      await refreshAvatars();
      if (creating) navigate('/avatars');
      else {
        existing.setData(avatar);
        setSaved(true);
      }
    } catch (err) {
      setProgress(null);
      setError(err instanceof ApiError ? err.message : errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const previewVoice = async () => {
    setPreviewing(true);
    setError(undefined);
    try {
      const s = await api.ttsPreview({ voiceId: form.voiceId || preset?.voiceId, text: form.greeting || undefined });
      await speaker.play(s);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setPreviewing(false);
    }
  };

  const o = opts.data!;
  const persona = o.personas.find((p) => p.id === form.personaId);
  return (
    <>
      <PageHeader
        title={creating ? 'New avatar' : `Edit ${existing.data?.name ?? 'avatar'}`}
        subtitle={persona ? `Started from the ${persona.name} persona.` : 'Give it a personality, a voice and a look.'}
      />
      <form class="editor" onSubmit={submit} aria-label={creating ? 'Create avatar' : 'Edit avatar'}>
        <div class="editor-main">
          <Card title="Identity">
            <div class="grid-2">
              <Field label="Name" id="f-name">
                <input
                  id="f-name"
                  required
                  maxLength={100}
                  value={form.name}
                  onInput={(e) => {
                    const name = e.currentTarget.value;
                    setForm((f) => ({ ...f, name, slug: slugTouched ? f.slug : slugify(name) }));
                  }}
                />
              </Field>
              <Field label="Slug" id="f-slug" hint="Lowercase letters, digits and dashes.">
                <input
                  id="f-slug"
                  required
                  pattern="[a-z0-9][a-z0-9\-]*[a-z0-9]"
                  minLength={2}
                  maxLength={64}
                  value={form.slug}
                  onInput={(e) => {
                    setSlugTouched(true);
                    set('slug', e.currentTarget.value);
                  }}
                />
              </Field>
            </div>
            <Field label="Tagline" id="f-tagline">
              <input id="f-tagline" maxLength={200} value={form.tagline} onInput={(e) => set('tagline', e.currentTarget.value)} placeholder="Your AI sales helper" />
            </Field>
            <div class="grid-2">
              <Field label="Status" id="f-status">
                <select id="f-status" value={form.status} onChange={(e) => set('status', e.currentTarget.value as Form['status'])}>
                  <option value="active">Active</option>
                  <option value="paused">Paused</option>
                </select>
              </Field>
              <div class="toggles">
                <Toggle label="Public" description="Visitors can open its page" checked={form.isPublic} onChange={(v) => set('isPublic', v)} />
                <Toggle label="Allow embedding" checked={form.allowEmbedding} onChange={(v) => set('allowEmbedding', v)} />
              </div>
            </div>
          </Card>

          <Card title="Soul">
            <Field label="Persona" id="f-persona" hint="Choosing one fills personality, greeting, traits and tone.">
              <select
                id="f-persona"
                value={form.personaId}
                onChange={(e) => {
                  const p = o.personas.find((x) => x.id === e.currentTarget.value);
                  setForm((f) => (p ? fromPersona(f, p, o.presets) : { ...f, personaId: '' }));
                }}
              >
                <option value="">None</option>
                {o.personas.map((p) => (
                  <option value={p.id} key={p.id}>
                    {p.name} ({p.vertical})
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Personality" id="f-personality">
              <textarea id="f-personality" rows={3} maxLength={2000} value={form.personality} onInput={(e) => set('personality', e.currentTarget.value)} />
            </Field>
            <Field label="Greeting" id="f-greeting">
              <input id="f-greeting" maxLength={500} value={form.greeting} onInput={(e) => set('greeting', e.currentTarget.value)} placeholder="Hi! How can I help you today?" />
            </Field>
            <div class="grid-2">
              <Field label="Traits" id="f-traits" hint="Comma-separated, e.g. helpful, concise, warm.">
                <input id="f-traits" value={form.traits} onInput={(e) => set('traits', e.currentTarget.value)} />
              </Field>
              <Field label="Tone" id="f-tone">
                <input id="f-tone" list="tones" maxLength={50} value={form.tone} onInput={(e) => set('tone', e.currentTarget.value)} />
                <datalist id="tones">
                  {TONES.map((t) => (
                    <option value={t} key={t} />
                  ))}
                </datalist>
              </Field>
            </div>
            <div class="grid-2">
              <Field label="Language" id="f-language">
                <input id="f-language" maxLength={50} value={form.language} onInput={(e) => set('language', e.currentTarget.value)} placeholder="English" />
              </Field>
              <div class="toggles">
                <Toggle label="Quiz mode" checked={form.quizMode} onChange={(v) => set('quizMode', v)} />
                {form.quizMode && (
                  <Field label="Quiz difficulty" id="f-quiz">
                    <select id="f-quiz" value={form.quizDifficulty} onChange={(e) => set('quizDifficulty', e.currentTarget.value as QuizDifficulty)}>
                      <option value="easy">Easy</option>
                      <option value="medium">Medium</option>
                      <option value="hard">Hard</option>
                    </select>
                  </Field>
                )}
              </div>
            </div>
            <Field label="Custom instructions" id="f-instructions" hint="Added to the system prompt generated from the fields above.">
              <textarea id="f-instructions" rows={3} maxLength={8000} value={form.customInstructions} onInput={(e) => set('customInstructions', e.currentTarget.value)} />
            </Field>
          </Card>

          <Card title="Model">
            <div class="segmented" role="radiogroup" aria-label="Model source">
              <button type="button" role="radio" aria-checked={modelSource === 'preset'} class={modelSource === 'preset' ? 'active' : ''} onClick={() => setModelSource('preset')}>
                Preset model
              </button>
              <button type="button" role="radio" aria-checked={modelSource === 'upload'} class={modelSource === 'upload' ? 'active' : ''} onClick={() => setModelSource('upload')}>
                Upload GLB/VRM
              </button>
            </div>
            <fieldset class="preset-grid">
              <legend class="sr-only">{modelSource === 'upload' ? 'Fallback preset' : 'Preset'}</legend>
              {o.presets.map((p) => (
                <label class={`preset ${form.avatarPreset === p.id ? 'selected' : ''}`} key={p.id}>
                  <input type="radio" name="preset" value={p.id} checked={form.avatarPreset === p.id} onChange={() => set('avatarPreset', p.id)} class="sr-only" />
                  {p.thumbnailUrl ? (
                    <img src={p.thumbnailUrl} alt="" width={56} height={56} />
                  ) : (
                    <span class="preset-thumb" style={{ background: p.backgroundColor }} aria-hidden="true">
                      {p.name.slice(0, 1)}
                    </span>
                  )}
                  <span class="preset-name">{p.name}</span>
                  <span class="preset-meta">
                    {p.gender} · {p.id}
                  </span>
                </label>
              ))}
            </fieldset>
            {modelSource === 'upload' && (
              <div class="upload">
                <Field
                  label="Model file"
                  id="f-model"
                  hint={hasCustomModel && !modelFile ? 'This avatar already has an uploaded model; choose a file to replace it.' : 'A binary glTF 2.0 file (.glb or .vrm), up to 64 MB.'}
                >
                  <input id="f-model" type="file" accept=".glb,.vrm,model/gltf-binary" onChange={(e) => setModelFile(e.currentTarget.files?.[0] ?? null)} />
                </Field>
                {modelFile && <p class="muted">{`${modelFile.name} · ${formatBytes(modelFile.size)}`}</p>}
                {progress !== null && <progress max={1} value={progress} aria-label="Model upload progress" />}
              </div>
            )}
            <Field label="Background colour" id="f-bg">
              <div class="color-row">
                <input
                  id="f-bg"
                  type="color"
                  value={form.backgroundColor || preset?.backgroundColor || '#0a0a0f'}
                  onInput={(e) => set('backgroundColor', e.currentTarget.value)}
                />
                {form.backgroundColor && (
                  <Button size="sm" variant="ghost" onClick={() => set('backgroundColor', '')}>
                    Use the preset's
                  </Button>
                )}
              </div>
            </Field>
          </Card>

          <Card title="Voice and AI">
            <div class="grid-2">
              <Field label="Voice" id="f-voice">
                <select id="f-voice" value={form.voiceId} onChange={(e) => set('voiceId', e.currentTarget.value)}>
                  <option value="">{preset ? `Preset's voice (${preset.voiceId})` : 'Default voice'}</option>
                  {voicesByProvider.map(([provider, vs]) => (
                    <optgroup label={provider === 'local' ? 'Offline (espeak-ng)' : provider} key={provider}>
                      {vs.map((v) => (
                        <option value={v.id} key={`${provider}-${v.id}`}>
                          {v.name}
                        </option>
                      ))}
                    </optgroup>
                  ))}
                </select>
              </Field>
              <Field label="Voice gender" id="f-vg">
                <select id="f-vg" value={form.voiceGender} onChange={(e) => set('voiceGender', e.currentTarget.value as Form['voiceGender'])}>
                  <option value="">Not set</option>
                  <option value="female">Female</option>
                  <option value="male">Male</option>
                  <option value="neutral">Neutral</option>
                </select>
              </Field>
            </div>
            <Field label="AI model" id="f-ai" hint="Used for visitors' chats. Configure cloud providers on the server to see more.">
              <select id="f-ai" value={form.ai} onChange={(e) => set('ai', e.currentTarget.value)}>
                <option value="">Server default</option>
                {o.models.map((m) => (
                  <option value={`${m.provider}::${m.model}`} key={m.id}>
                    {m.provider} · {m.model}
                    {m.offline ? ' (offline)' : ''}
                  </option>
                ))}
              </select>
            </Field>
          </Card>
        </div>

        <aside class="editor-side" aria-label="Preview">
          <Card title="Preview">
            <AvatarStage
              name={form.name || 'New avatar'}
              background={form.backgroundColor || preset?.backgroundColor}
              thumbnailUrl={modelSource === 'upload' && (modelFile || hasCustomModel) ? null : preset?.thumbnailUrl}
              presetName={modelSource === 'upload' && (modelFile || hasCustomModel) ? 'Uploaded model' : preset?.name}
              viseme={speaker.viseme}
              speaking={speaker.speaking}
              size="lg"
            />
            {preset && modelSource === 'preset' && <p class="muted small">{preset.description}</p>}
            <p class="muted small">A live 3D preview arrives with the renderer.</p>
            <Button onClick={previewVoice} busy={previewing}>
              Preview voice
            </Button>
            <audio ref={speaker.audioRef} class={speaker.hasAudio ? '' : 'hidden'} controls aria-label="Voice preview" />
          </Card>
          {error && <Alert>{error}</Alert>}
          {saved && <Alert kind="success">Saved.</Alert>}
          <div class="editor-actions">
            <Button type="submit" variant="primary" busy={busy}>
              {creating ? 'Create avatar' : 'Save changes'}
            </Button>
            <Button variant="ghost" onClick={() => navigate('/avatars')}>
              Cancel
            </Button>
          </div>
        </aside>
      </form>
    </>
  );
}
