import { useState } from 'preact/hooks';
import type { NewApiKey } from '../api/types';
import { Alert, Badge, Button, Card, ConfirmButton, CopyButton, EmptyState, Field, PageHeader, Spinner, useAsync } from '../components/ui';
import { errorMessage, formatDateTime } from '../lib/format';
import { api } from '../session';

export function ApiKeys() {
  const keys = useAsync(() => api.apiKeys(), []);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [created, setCreated] = useState<NewApiKey | null>(null);

  const create = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const k = await api.createApiKey(name.trim());
      setCreated(k);
      setName('');
      keys.setData([k, ...(keys.data ?? [])]);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  };

  const base = window.location.origin;
  return (
    <>
      <PageHeader title="API keys" subtitle="Keys let your own apps call this server's /v1 API as you." />
      <div class="split">
        <Card title="Create a key">
          <form onSubmit={create} aria-label="Create API key" class="inline-form">
            <Field label="Key name" id="key-name" hint="What it is for, e.g. website or mobile app.">
              <input id="key-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
            </Field>
            <Button type="submit" variant="primary" busy={busy}>
              Create key
            </Button>
          </form>
          {error && <Alert>{error}</Alert>}
          {created && (
            <div class="secret" role="region" aria-label="New API key">
              <p>
                <strong>Copy your new key now.</strong> It is shown only once: the server keeps just a hash.
              </p>
              <div class="secret-row">
                <code data-testid="new-key">{created.key}</code>
                <CopyButton text={created.key} label="Copy key" />
              </div>
              <details>
                <summary>Try it</summary>
                <pre>{`curl ${base}/v1/auth/me \\\n  -H "Authorization: Bearer ${created.key}"`}</pre>
              </details>
              <Button size="sm" variant="ghost" onClick={() => setCreated(null)}>
                Done, hide it
              </Button>
            </div>
          )}
        </Card>
        <Card title="Your keys">
          {keys.error && <Alert>{errorMessage(keys.error)}</Alert>}
          {keys.loading && !keys.data ? (
            <Spinner label="Loading keys" />
          ) : !keys.data || keys.data.length === 0 ? (
            <EmptyState title="No keys yet">
              <p>Create one to call the API from your own code.</p>
            </EmptyState>
          ) : (
            <table class="table" aria-label="API keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Key</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {keys.data.map((k) => (
                  <tr key={k.id} data-status={k.status}>
                    <td class="cell-title">{k.name}</td>
                    <td>
                      <code>{k.prefix}…</code>
                    </td>
                    <td>
                      <Badge tone={k.status === 'active' ? 'good' : 'bad'}>{k.status === 'active' ? 'Active' : 'Revoked'}</Badge>
                    </td>
                    <td>{formatDateTime(k.createdAt)}</td>
                    <td>{k.lastUsedAt ? formatDateTime(k.lastUsedAt) : 'Never'}</td>
                    <td class="cell-actions">
                      {k.status === 'active' && (
                        <ConfirmButton
                          label="Revoke"
                          ariaLabel={`Revoke ${k.name}`}
                          confirmLabel="Revoke key"
                          onConfirm={async () => {
                            setError(undefined);
                            try {
                              await api.revokeApiKey(k.id);
                              if (created?.id === k.id) setCreated(null);
                              keys.reload();
                            } catch (err) {
                              setError(errorMessage(err));
                            }
                          }}
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
      </div>
    </>
  );
}
