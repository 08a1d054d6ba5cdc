import { useState } from 'preact/hooks';
import { ApiError } from '../api/client';
import { Alert, Button, Field } from '../components/ui';
import { api, signIn } from '../session';

/** Sign in, or create a local account (POST /v1/auth/login, /v1/auth/signup). */
export function Login() {
  const [mode, setMode] = useState<'login' | 'signup'>('login');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const s = mode === 'login' ? await api.login(email, password) : await api.signup(email, password, name || undefined);
      signIn(s.token, s.user);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Something went wrong');
    } finally {
      setBusy(false);
    }
  };

  const signup = mode === 'signup';
  return (
    <div class="auth-page">
      <div class="auth-card">
        <div class="brand brand-lg">
          <span class="brand-mark" aria-hidden="true">
            A
          </span>
          <span class="brand-name">Avatarium</span>
        </div>
        <p class="auth-tagline">Talking AI avatars, on your own machine.</p>
        <div class="tabs" role="tablist" aria-label="Account">
          <button type="button" role="tab" aria-selected={!signup} class={!signup ? 'active' : ''} onClick={() => setMode('login')}>
            Sign in
          </button>
          <button type="button" role="tab" aria-selected={signup} class={signup ? 'active' : ''} onClick={() => setMode('signup')}>
            Create account
          </button>
        </div>
        <form onSubmit={submit} aria-label={signup ? 'Create account' : 'Sign in'}>
          {signup && (
            <Field label="Name" id="auth-name">
              <input id="auth-name" autocomplete="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
            </Field>
          )}
          <Field label="Email" id="auth-email">
            <input id="auth-email" type="email" required autocomplete="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
          </Field>
          <Field label="Password" id="auth-password" hint={signup ? 'At least 8 characters.' : undefined}>
            <input
              id="auth-password"
              type="password"
              required
              minLength={signup ? 8 : undefined}
              autocomplete={signup ? 'new-password' : 'current-password'}
              value={password}
              onInput={(e) => setPassword(e.currentTarget.value)}
            />
          </Field>
          {error && <Alert>{error}</Alert>}
          <Button type="submit" variant="primary" busy={busy} class="btn-block">
            {signup ? 'Create account' : 'Sign in'}
          </Button>
        </form>
        <p class="auth-foot">
          The owner of this install can also get a token with <code>avatarium token</code>.
        </p>
      </div>
    </div>
  );
}
