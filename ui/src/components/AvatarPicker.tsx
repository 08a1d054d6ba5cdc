import { useEffect } from 'preact/hooks';
import { avatars, refreshAvatars, selectAvatar, selectedAvatarId } from '../session';
import { useStore } from '../lib/store';
import { Link } from '../lib/router';
import type { ComponentChildren } from 'preact';
import type { Avatar } from '../api/types';
import { EmptyState, Spinner } from './ui';

/** Loads the avatars once and keeps them fresh for every page that needs them. */
export function useAvatars(): { list: Avatar[] | null; selected: Avatar | null } {
  const list = useStore(avatars);
  const selectedId = useStore(selectedAvatarId);
  useEffect(() => {
    if (list === null) refreshAvatars().catch(() => avatars.set([]));
  }, [list]);
  const selected = list?.find((a) => a.id === selectedId) ?? list?.[0] ?? null;
  return { list, selected };
}

/** The "which avatar" select shared by Knowledge, Playground, Analytics and Embed. */
export function AvatarPicker({ label = 'Avatar' }: { label?: string }) {
  const { list, selected } = useAvatars();
  if (!list || list.length === 0) return null;
  return (
    <div class="picker">
      <label for="avatar-picker">{label}</label>
      <select id="avatar-picker" value={selected?.id} onChange={(e) => selectAvatar((e.target as HTMLSelectElement).value)}>
        {list.map((a) => (
          <option value={a.id} key={a.id}>
            {a.name}
          </option>
        ))}
      </select>
    </div>
  );
}

/** Renders `children(avatar)` once an avatar exists, else a loading or empty state. */
export function WithAvatar({ children }: { children: (a: Avatar) => ComponentChildren }) {
  const { list, selected } = useAvatars();
  if (list === null) return <Spinner label="Loading avatars" />;
  if (!selected)
    return (
      <EmptyState title="No avatars yet">
        <p>Create an avatar first, or start one from a persona.</p>
        <p>
          <Link class="btn btn-primary btn-md" href="/avatars/new">
            Create an avatar
          </Link>{' '}
          <Link class="btn btn-secondary btn-md" href="/personas">
            Browse personas
          </Link>
        </p>
      </EmptyState>
    );
  return <>{children(selected)}</>;
}
