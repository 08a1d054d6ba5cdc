import { useEffect, useState } from 'preact/hooks';
import { Layout } from './components/Layout';
import { navigate, match, useLocation } from './lib/router';
import { useStore } from './lib/store';
import { Analytics } from './pages/Analytics';
import { ApiKeys } from './pages/ApiKeys';
import { AvatarEditor } from './pages/AvatarEditor';
import { Avatars } from './pages/Avatars';
import { EmbedPage } from './pages/Embed';
import { Knowledge } from './pages/Knowledge';
import { Login } from './pages/Login';
import { Personas } from './pages/Personas';
import { Playground } from './pages/Playground';
import { Settings } from './pages/Settings';
import { api, token, user } from './session';
import { EmptyState } from './components/ui';
import { Link } from './lib/router';

function Routes() {
  const { pathname, query } = useLocation();
  if (pathname === '/' || pathname === '') {
    navigate('/avatars', { replace: true });
    return null;
  }
  if (pathname === '/avatars') return <Avatars />;
  // Keyed, so moving between editors starts from a fresh form.
  if (pathname === '/avatars/new') return <AvatarEditor id={null} key={`new:${query.get('persona') ?? ''}`} />;
  const edit = match('/avatars/:id', pathname);
  if (edit) return <AvatarEditor id={edit.id} key={edit.id} />;
  if (pathname === '/knowledge') return <Knowledge />;
  if (pathname === '/playground') return <Playground />;
  if (pathname === '/analytics') return <Analytics />;
  if (pathname === '/personas') return <Personas />;
  if (pathname === '/keys') return <ApiKeys />;
  if (pathname === '/settings') return <Settings />;
  if (pathname === '/embed') return <EmbedPage />;
  return (
    <EmptyState title="Page not found">
      <p>
        <Link href="/avatars">Back to your avatars</Link>
      </p>
    </EmptyState>
  );
}

const TITLES: Record<string, string> = {
  avatars: 'Avatars',
  knowledge: 'Knowledge',
  playground: 'Playground',
  analytics: 'Analytics',
  personas: 'Personas',
  keys: 'API keys',
  settings: 'Settings',
  embed: 'Embed',
};

export function App() {
  const signedIn = useStore(token) !== null;
  const { pathname } = useLocation();
  const [offline, setOffline] = useState<boolean | null>(null);

  useEffect(() => {
    const section = pathname.split('/')[1] ?? '';
    document.title = signedIn ? `${TITLES[section] ?? 'Avatarium'} · Avatarium` : 'Sign in · Avatarium';
  }, [pathname, signedIn]);

  // Refresh who we are (and find out early if the stored token expired).
  useEffect(() => {
    if (!signedIn) return;
    api.me().then((me) => user.set(me), () => undefined);
    api.providers().then(
      (ps) => setOffline(ps.find((p) => p.default)?.offline ?? null),
      () => setOffline(null),
    );
  }, [signedIn]);

  if (!signedIn) return <Login />;
  return (
    <Layout offline={offline}>
      <Routes />
    </Layout>
  );
}
