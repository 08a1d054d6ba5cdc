import { useState } from 'preact/hooks';
import type { Avatar } from '../api/types';
import { AvatarPicker, WithAvatar } from '../components/AvatarPicker';
import { icons } from '../components/icons';
import { Alert, Card, CopyButton, Field, PageHeader } from '../components/ui';
import { iframeSnippet } from '../lib/paths';
import { Link } from '../lib/router';
import { platform } from '../platform';

function EmbedFor({ avatar }: { avatar: Avatar }) {
  const [preview, setPreview] = useState(false);
  const snippet = iframeSnippet(avatar.embedUrl);
  const reachable = avatar.isPublic && avatar.status === 'active';
  return (
    <div class="split">
      <div class="stack">
        {!reachable && (
          <Alert kind="warning">
            {avatar.name} is {avatar.isPublic ? 'paused' : 'private'}: visitors see “not found” until you make it public and active in{' '}
            <Link href={`/avatars/${avatar.id}`}>its settings</Link>.
          </Alert>
        )}
        {reachable && !avatar.allowEmbedding && (
          <Alert kind="warning">Embedding is turned off for {avatar.name}: the widget will refuse to show inside other sites.</Alert>
        )}
        <Card title="Embed code">
          <Field label="Iframe snippet" id="embed-code" hint="Paste it into any web page.">
            <textarea id="embed-code" class="code" rows={8} wrap="off" readOnly value={snippet} onFocus={(e) => e.currentTarget.select()} />
          </Field>
          <div class="row">
            <CopyButton text={snippet} label="Copy snippet" size="md" />
          </div>
        </Card>
        <Card title="Public page">
          <Field label="Page URL" id="embed-url">
            <div class="row">
              <input id="embed-url" readOnly value={avatar.url} onFocus={(e) => e.currentTarget.select()} />
              <CopyButton text={avatar.url} label="Copy link" />
            </div>
          </Field>
          <button type="button" class="btn btn-secondary btn-md" onClick={() => platform.openExternal(avatar.url)}>
            {icons.external()} Open public page
          </button>
        </Card>
      </div>
      <Card title="Widget preview">
        {reachable && preview ? (
          <iframe class="embed-preview" src={avatar.embedUrl} title={`${avatar.name} widget preview`} width={400} height={600} />
        ) : reachable ? (
          <div class="preview-placeholder">
            <p class="muted">The widget as visitors see it. Opening it counts as a view in Analytics.</p>
            <button type="button" class="btn btn-secondary btn-md" onClick={() => setPreview(true)}>
              Show preview
            </button>
          </div>
        ) : (
          <p class="muted">The preview appears when the avatar is public and active.</p>
        )}
      </Card>
    </div>
  );
}

export function EmbedPage() {
  return (
    <>
      <PageHeader title="Embed" subtitle="Put your avatar on any website with one iframe." actions={<AvatarPicker />} />
      <WithAvatar>{(a) => <EmbedFor avatar={a} key={a.id} />}</WithAvatar>
    </>
  );
}
