import { useEffect, useState } from 'preact/hooks';
import type { Avatar } from '../api/types';
import { useAvatars } from '../components/AvatarPicker';
import { AvatarStage } from '../components/AvatarStage';
import { icons } from '../components/icons';
import { Alert, Badge, ConfirmButton, EmptyState, PageHeader, Spinner, useAsync } from '../components/ui';
import { errorMessage } from '../lib/format';
import { hasUploadedModel } from '../lib/paths';
import { Link, navigate } from '../lib/router';
import { api, refreshAvatars, selectAvatar } from '../session';

function AvatarCard({ a, thumbnailUrl, onDeleted }: { a: Avatar; thumbnailUrl?: string | null; onDeleted: (e?: string) => void }) {
  const go = (path: string) => {
    selectAvatar(a.id);
    navigate(path);
  };
  return (
    <article class="avatar-card" aria-label={a.name}>
      <AvatarStage name={a.name} background={a.backgroundColor} thumbnailUrl={thumbnailUrl} size="sm" />
      <div class="avatar-card-body">
        <div class="avatar-card-head">
          <h2>
            <Link href={`/avatars/${a.id}`}>{a.name}</Link>
          </h2>
          <div class="badges">
            <Badge tone={a.status === 'active' ? 'good' : 'warn'}>{a.status === 'active' ? 'Active' : 'Paused'}</Badge>
            <Badge tone={a.isPublic ? 'accent' : 'neutral'}>{a.isPublic ? 'Public' : 'Private'}</Badge>
          </div>
        </div>
        {a.tagline && <p class="muted">{a.tagline}</p>}
        <dl class="avatar-stats">
          <div>
            <dt>Conversations</dt>
            <dd>{a.conversationCount}</dd>
          </div>
          <div>
            <dt>Views</dt>
            <dd>{a.viewCount}</dd>
          </div>
          <div>
            <dt>Model</dt>
            <dd>{a.avatarPreset ?? 'Custom'}</dd>
          </div>
        </dl>
        <div class="card-actions">
          <Link class="btn btn-secondary btn-sm" href={`/avatars/${a.id}`} aria-label={`Edit ${a.name}`}>
            Edit
          </Link>
          <button type="button" class="btn btn-secondary btn-sm" onClick={() => go('/playground')} aria-label={`Chat with ${a.name}`}>
            Chat
          </button>
          <button type="button" class="btn btn-secondary btn-sm" onClick={() => go('/knowledge')} aria-label={`Knowledge of ${a.name}`}>
            Knowledge
          </button>
          <ConfirmButton
            label="Delete"
            ariaLabel={`Delete ${a.name}`}
            confirmLabel="Delete avatar"
            onConfirm={async () => {
              try {
                await api.deleteAvatar(a.id);
                onDeleted();
              } catch (e) {
                onDeleted(errorMessage(e));
              }
            }}
          />
        </div>
      </div>
    </article>
  );
}

export function Avatars() {
  const { list } = useAvatars();
  const presets = useAsync(() => api.presets(), []);
  const [error, setError] = useState<string>();
  useEffect(() => {
    refreshAvatars().catch((e) => setError(errorMessage(e)));
  }, []);
  return (
    <>
      <PageHeader
        title="Avatars"
        subtitle="Your talking avatars: personality, voice, model and knowledge."
        actions={
          <Link class="btn btn-primary btn-md" href="/avatars/new">
            {icons.plus()} New avatar
          </Link>
        }
      />
      {error && <Alert>{error}</Alert>}
      {list === null ? (
        <Spinner label="Loading avatars" />
      ) : list.length === 0 ? (
        <EmptyState title="No avatars yet" icon={icons.avatars()}>
          <p>Create your first avatar from scratch, or start from a ready-made persona.</p>
          <p class="row-center">
            <Link class="btn btn-primary btn-md" href="/avatars/new">
              Create an avatar
            </Link>
            <Link class="btn btn-secondary btn-md" href="/personas">
              Browse personas
            </Link>
          </p>
        </EmptyState>
      ) : (
        <div class="grid-cards">
          {list.map((a) => (
            <AvatarCard
              key={a.id}
              a={a}
              thumbnailUrl={hasUploadedModel(a.avatarModelUrl) ? null : presets.data?.find((p) => p.id === a.avatarPreset)?.thumbnailUrl}
              onDeleted={(e) => {
                if (e) setError(e);
                else refreshAvatars().catch((err) => setError(errorMessage(err)));
              }}
            />
          ))}
        </div>
      )}
    </>
  );
}
