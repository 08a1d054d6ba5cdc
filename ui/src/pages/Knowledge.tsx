import { useEffect, useRef, useState } from 'preact/hooks';
import type { Avatar, KnowledgeItem } from '../api/types';
import { AvatarPicker, WithAvatar } from '../components/AvatarPicker';
import { Alert, Badge, Button, Card, ConfirmButton, EmptyState, Field, PageHeader, Spinner } from '../components/ui';
import { icons } from '../components/icons';
import { errorMessage, formatDateTime } from '../lib/format';
import { api } from '../session';

type Kind = 'text' | 'url' | 'file';

/** Upload progress: a fraction while bytes go up, then 'indexing' until the server answers. */
type Progress = { phase: 'sending'; fraction: number | null } | { phase: 'indexing' } | null;

function AddKnowledge({ avatar, onAdded }: { avatar: Avatar; onAdded: (item: KnowledgeItem) => void }) {
  const [kind, setKind] = useState<Kind>('text');
  const [title, setTitle] = useState('');
  const [content, setContent] = useState('');
  const [url, setUrl] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<Progress>(null);
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const fileInput = useRef<HTMLInputElement>(null);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    setDone(undefined);
    try {
      let item: KnowledgeItem;
      if (kind === 'text') {
        setProgress({ phase: 'indexing' });
        item = await api.addKnowledgeText(avatar.id, title, content);
      } else if (kind === 'url') {
        setProgress({ phase: 'indexing' });
        item = await api.addKnowledgeUrl(avatar.id, url, title);
      } else {
        if (!file) throw new Error('Choose a file first');
        setProgress({ phase: 'sending', fraction: 0 });
        item = await api.addKnowledgeFile(avatar.id, file, title, (sent, total) =>
          setProgress(total && sent >= total ? { phase: 'indexing' } : { phase: 'sending', fraction: total ? sent / total : null }),
        );
      }
      onAdded(item);
      setDone(`Added “${item.title}” (${item.chunkCount} ${item.chunkCount === 1 ? 'chunk' : 'chunks'}).`);
      setTitle('');
      setContent('');
      setUrl('');
      setFile(null);
      if (fileInput.current) fileInput.current.value = '';
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setProgress(null);
    }
  };

  const busy = progress !== null;
  return (
    <Card title="Add knowledge">
      <div class="segmented" role="radiogroup" aria-label="Source type">
        {(['text', 'url', 'file'] as Kind[]).map((k) => (
          <button type="button" role="radio" key={k} aria-checked={kind === k} class={kind === k ? 'active' : ''} onClick={() => setKind(k)}>
            {k === 'text' ? 'Text' : k === 'url' ? 'URL' : 'File'}
          </button>
        ))}
      </div>
      <form onSubmit={submit} aria-label="Add knowledge">
        <Field label="Title" id="k-title" hint={kind === 'text' ? undefined : 'Optional: taken from the page or file when empty.'}>
          <input id="k-title" maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} placeholder="Pricing FAQ" />
        </Field>
        {kind === 'text' && (
          <Field label="Content" id="k-content">
            <textarea id="k-content" rows={6} required value={content} onInput={(e) => setContent(e.currentTarget.value)} />
          </Field>
        )}
        {kind === 'url' && (
          <Field label="URL" id="k-url" hint="Public web pages only: private and loopback addresses are refused.">
            <input id="k-url" type="url" required placeholder="https://example.com/faq" value={url} onInput={(e) => setUrl(e.currentTarget.value)} />
          </Field>
        )}
        {kind === 'file' && (
          <Field label="File" id="k-file" hint="Text, Markdown, HTML or PDF, up to 20 MB.">
            <input
              id="k-file"
              ref={fileInput}
              type="file"
              required
              accept=".txt,.md,.markdown,.html,.htm,.pdf,text/plain,text/markdown,text/html,application/pdf"
              onChange={(e) => setFile(e.currentTarget.files?.[0] ?? null)}
            />
          </Field>
        )}
        {progress && (
          <div class="progress-row" role="status">
            <progress
              max={1}
              value={progress.phase === 'sending' && progress.fraction !== null ? progress.fraction : undefined}
              aria-label={progress.phase === 'sending' ? 'Upload progress' : 'Indexing'}
            />
            <span>
              {progress.phase === 'sending'
                ? `Uploading${progress.fraction !== null ? ` ${Math.round(progress.fraction * 100)}%` : ''}…`
                : kind === 'url'
                  ? 'Fetching and indexing…'
                  : 'Indexing…'}
            </span>
          </div>
        )}
        {error && <Alert>{error}</Alert>}
        {done && <Alert kind="success">{done}</Alert>}
        <Button type="submit" variant="primary" busy={busy}>
          {icons.upload()} Add to knowledge base
        </Button>
      </form>
    </Card>
  );
}

function KnowledgeList({ avatar, items, onDeleted, error }: { avatar: Avatar; items: KnowledgeItem[] | null; onDeleted: (id: string) => void; error?: string }) {
  const [delError, setDelError] = useState<string>();
  return (
    <Card title="Knowledge base">
      {error && <Alert>{error}</Alert>}
      {delError && <Alert>{delError}</Alert>}
      {items === null ? (
        <Spinner label="Loading knowledge" />
      ) : items.length === 0 ? (
        <EmptyState title="Nothing here yet">
          <p>Add text, a web page or a document: {avatar.name} answers from it and names its sources.</p>
        </EmptyState>
      ) : (
        <table class="table" aria-label={`Knowledge of ${avatar.name}`}>
          <thead>
            <tr>
              <th scope="col">Title</th>
              <th scope="col">Type</th>
              <th scope="col">Chunks</th>
              <th scope="col">Characters</th>
              <th scope="col">Added</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((i) => (
              <tr key={i.id}>
                <td>
                  <span class="cell-title">{i.title}</span>
                  {i.source && <span class="cell-sub">{i.source}</span>}
                </td>
                <td>
                  <Badge>{i.type}</Badge>
                </td>
                <td>{i.chunkCount}</td>
                <td>{i.chars.toLocaleString()}</td>
                <td>{formatDateTime(i.createdAt)}</td>
                <td class="cell-actions">
                  <ConfirmButton
                    label="Delete"
                    ariaLabel={`Delete ${i.title}`}
                    confirmLabel="Delete"
                    onConfirm={async () => {
                      setDelError(undefined);
                      try {
                        await api.deleteKnowledge(avatar.id, i.id);
                        onDeleted(i.id);
                      } catch (e) {
                        setDelError(errorMessage(e));
                      }
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}

function KnowledgeFor({ avatar }: { avatar: Avatar }) {
  const [items, setItems] = useState<KnowledgeItem[] | null>(null);
  const [error, setError] = useState<string>();
  useEffect(() => {
    let live = true;
    setItems(null);
    setError(undefined);
    api.knowledge(avatar.id).then(
      (list) => live && setItems(list),
      (e) => {
        if (!live) return;
        setItems([]);
        setError(errorMessage(e));
      },
    );
    return () => {
      live = false;
    };
  }, [avatar.id]);
  return (
    <div class="split">
      <AddKnowledge avatar={avatar} onAdded={(item) => setItems((list) => [item, ...(list ?? [])])} />
      <KnowledgeList avatar={avatar} items={items} error={error} onDeleted={(id) => setItems((list) => (list ?? []).filter((i) => i.id !== id))} />
    </div>
  );
}

export function Knowledge() {
  return (
    <>
      <PageHeader title="Knowledge" subtitle="What your avatar knows: answers are grounded in these sources." actions={<AvatarPicker />} />
      <WithAvatar>{(a) => <KnowledgeFor avatar={a} key={a.id} />}</WithAvatar>
    </>
  );
}
