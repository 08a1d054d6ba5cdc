import { useMemo, useState } from 'preact/hooks';
import type { AiProvider, ModelEntry, SttProvider, Voice } from '../api/types';
import type { Subscription } from '../api/client';
import { icons } from '../components/icons';
import { Alert, Badge, Button, Card, Field, PageHeader, Spinner, useAsync } from '../components/ui';
import { useSpeaker } from '../hooks/useSpeaker';
import { errorMessage } from '../lib/format';
import { useStore } from '../lib/store';
import { prefs, setPrefs } from '../prefs';
import { api, user } from '../session';

interface Data {
  providers: AiProvider[];
  models: ModelEntry[];
  voices: Voice[];
  stt: SttProvider[];
  subscription: Subscription | null;
  version: string | null;
}

async function load(): Promise<Data> {
  const [providers, models, voices, stt, subscription, health] = await Promise.all([
    api.providers(),
    api.models(),
    api.voices(),
    api.sttProviders(),
    api.subscription().catch(() => null),
    api.health().catch(() => null),
  ]);
  return { providers, models, voices, stt, subscription, version: health?.version ?? null };
}

function OfflineBanner({ providers, stt }: { providers: AiProvider[]; stt: SttProvider[] }) {
  const def = providers.find((p) => p.default);
  const whisper = stt.find((s) => s.id === 'local');
  const offline = !!def?.offline;
  return (
    <div class={`offline-banner ${offline ? 'is-offline' : 'is-cloud'}`} role="status" aria-label="Offline mode">
      <span class="offline-icon" aria-hidden="true">
        {icons.offline()}
      </span>
      <div>
        <strong>{offline ? 'Offline mode' : 'Cloud provider by default'}</strong>
        <p>
          {offline
            ? `Chats use ${def?.name ?? 'the built-in model'} and speech uses the offline voice: nothing leaves this machine unless you choose a cloud provider.`
            : `New chats use ${def?.name}, which sends text to its service.`}{' '}
          {whisper?.available ? 'Speech recognition runs locally with Whisper.' : 'No local Whisper model is installed yet.'}
        </p>
      </div>
    </div>
  );
}

function Providers({ providers }: { providers: AiProvider[] }) {
  const p = useStore(prefs);
  const [drafts, setDrafts] = useState<Record<string, string>>({});
  const [saved, setSaved] = useState<string>();
  return (
    <Card title="AI providers">
      <p class="muted">
        Keys set on the server (e.g. <code>GROQ_API_KEY</code>) make a provider available to everyone. Your own keys (BYOK) are kept in this browser only and sent with each
        Playground conversation; the server holds them in memory and never stores them.
      </p>
      <table class="table" aria-label="AI providers">
        <thead>
          <tr>
            <th scope="col">Provider</th>
            <th scope="col">Status</th>
            <th scope="col">Models</th>
            <th scope="col">Your key</th>
          </tr>
        </thead>
        <tbody>
          {providers.map((pr) => (
            <tr key={pr.id}>
              <td>
                <span class="cell-title">{pr.name}</span>
                <span class="cell-sub">{pr.id}</span>
              </td>
              <td>
                {pr.default && <Badge tone="accent">Default</Badge>}{' '}
                {pr.offline && pr.configured ? (
                  <Badge tone="good">Offline</Badge>
                ) : pr.offline ? (
                  <Badge>Not running</Badge>
                ) : pr.configured ? <Badge tone="good">Server key</Badge> : p.byok[pr.id] ? <Badge tone="accent">Your key</Badge> : <Badge>Not configured</Badge>}
              </td>
              <td class="cell-sub-list">{pr.models.slice(0, 3).join(', ') + (pr.models.length > 3 ? ` +${pr.models.length - 3}` : '')}</td>
              <td>
                {pr.capabilities.byok ? (
                  <form
                    class="byok"
                    aria-label={`${pr.name} key`}
                    onSubmit={(e) => {
                      e.preventDefault();
                      const v = (drafts[pr.id] ?? '').trim();
                      const byok = { ...p.byok };
                      if (v) byok[pr.id] = v;
                      else delete byok[pr.id];
                      setPrefs({ byok });
                      setDrafts((d) => ({ ...d, [pr.id]: '' }));
                      setSaved(v ? `Saved your ${pr.name} key in this browser.` : `Removed your ${pr.name} key.`);
                    }}
                  >
                    <label class="sr-only" for={`byok-${pr.id}`}>{`${pr.name} API key`}</label>
                    <input
                      id={`byok-${pr.id}`}
                      type="password"
                      autocomplete="off"
                      placeholder={p.byok[pr.id] ? '•••••••• saved' : 'Paste a key'}
                      value={drafts[pr.id] ?? ''}
                      onInput={(e) => setDrafts((d) => ({ ...d, [pr.id]: e.currentTarget.value }))}
                    />
                    <Button size="sm" type="submit">
                      {drafts[pr.id] ? 'Save' : p.byok[pr.id] ? 'Remove' : 'Save'}
                    </Button>
                  </form>
                ) : (
                  <span class="muted">—</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {saved && <Alert kind="success">{saved}</Alert>}
    </Card>
  );
}

function Defaults({ providers, models, voices }: { providers: AiProvider[]; models: ModelEntry[]; voices: Voice[] }) {
  const p = useStore(prefs);
  const speaker = useSpeaker();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  // Models the Playground can use: the server's, plus those of providers you hold a key for.
  const choices = useMemo(() => {
    const out = models.map((m) => ({ value: `${m.provider}::${m.model}`, label: `${m.provider} · ${m.model}${m.offline ? ' (offline)' : ''}` }));
    for (const pr of providers) {
      if (pr.configured || !p.byok[pr.id]) continue;
      for (const m of pr.models) out.push({ value: `${pr.id}::${m}`, label: `${pr.id} · ${m} (your key)` });
    }
    return out;
  }, [models, providers, p.byok]);
  const usable = voices.filter((v) => v.configured);
  const current = p.provider ? `${p.provider}::${p.model ?? ''}` : '';
  return (
    <Card title="Defaults">
      <div class="grid-2">
        <Field label="Default model" id="pref-model" hint="For new Playground conversations.">
          <select
            id="pref-model"
            value={current}
            onChange={(e) => {
              const v = e.currentTarget.value;
              if (!v) setPrefs({ provider: undefined, model: undefined });
              else {
                const [provider, model] = v.split('::');
                setPrefs({ provider, model: model || undefined });
              }
            }}
          >
            <option value="">Server default</option>
            {choices.map((c) => (
              <option value={c.value} key={c.value}>
                {c.label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Default voice" id="pref-voice" hint="Used when an avatar has no voice of its own.">
          <div class="row">
            <select id="pref-voice" value={p.voiceId ?? ''} onChange={(e) => setPrefs({ voiceId: e.currentTarget.value || undefined })}>
              <option value="">Preset's voice</option>
              {usable.map((v) => (
                <option value={v.id} key={`${v.provider}-${v.id}`}>
                  {v.name} · {v.provider === 'local' ? 'offline' : v.provider}
                </option>
              ))}
            </select>
            <Button
              size="sm"
              busy={busy}
              onClick={async () => {
                setBusy(true);
                setError(undefined);
                try {
                  await speaker.play(await api.ttsPreview({ voiceId: p.voiceId }));
                } catch (err) {
                  setError(errorMessage(err));
                } finally {
                  setBusy(false);
                }
              }}
            >
              Preview
            </Button>
          </div>
        </Field>
      </div>
      <audio ref={speaker.audioRef} controls class={speaker.hasAudio ? '' : 'hidden'} aria-label="Voice preview" />
      {error && <Alert>{error}</Alert>}
    </Card>
  );
}

function Speech({ stt }: { stt: SttProvider[] }) {
  const whisper = stt.find((s) => s.id === 'local');
  const models = whisper?.models ?? [];
  return (
    <Card title="Speech recognition">
      <h3 class="sub-title">Local Whisper models</h3>
      {models.length === 0 ? (
        <p class="muted">None installed.</p>
      ) : (
        <ul class="chips" aria-label="Installed Whisper models">
          {models.map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
      <p class="muted small">
        The API has no model download endpoint yet; download one from a terminal with <code>avatarium models download base.en</code> (resumable, checksum-verified), then
        reload this page.
      </p>
      <h3 class="sub-title">Providers</h3>
      <ul class="plain-list" aria-label="Speech-to-text providers">
        {stt.map((s) => (
          <li key={s.id}>
            <span>{s.name}</span>
            <span>
              {s.offline && <Badge tone="good">Offline</Badge>} {s.available ? <Badge tone="good">Available</Badge> : <Badge>Unavailable</Badge>}{' '}
              <span class="muted small">~{s.latencyEstimateMs} ms</span>
            </span>
          </li>
        ))}
      </ul>
    </Card>
  );
}

function Account({ subscription, version }: { subscription: Subscription | null; version: string | null }) {
  const who = useStore(user);
  return (
    <Card title="Account">
      <dl class="kv">
        <dt>Email</dt>
        <dd>{who?.email}</dd>
        {subscription && (
          <>
            <dt>Plan</dt>
            <dd>{subscription.plan.name}</dd>
            <dt>Avatars</dt>
            <dd>
              {subscription.usage.avatars}
              {subscription.usage.avatarLimit !== null ? ` of ${subscription.usage.avatarLimit}` : ''}
            </dd>
            <dt>Conversations this month</dt>
            <dd>
              {subscription.usage.sessionsThisMonth}
              {subscription.usage.sessionQuota !== null ? ` of ${subscription.usage.sessionQuota}` : ''}
            </dd>
          </>
        )}
        {version && (
          <>
            <dt>Server version</dt>
            <dd>{version}</dd>
          </>
        )}
      </dl>
    </Card>
  );
}

export function Settings() {
  const { data, error, loading } = useAsync(load, []);
  return (
    <>
      <PageHeader title="Settings" subtitle="Providers, keys, default model and voice. Preferences are saved in this browser." />
      {error && <Alert>{errorMessage(error)}</Alert>}
      {loading && !data ? (
        <Spinner label="Loading settings" />
      ) : (
        data && (
          <div class="stack">
            <OfflineBanner providers={data.providers} stt={data.stt} />
            <Defaults providers={data.providers} models={data.models} voices={data.voices} />
            <Providers providers={data.providers} />
            <div class="split">
              <Speech stt={data.stt} />
              <Account subscription={data.subscription} version={data.version} />
            </div>
          </div>
        )
      )}
    </>
  );
}
