import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Link, useLocation } from '../lib/router';
import { useStore } from '../lib/store';
import { signOut, user } from '../session';
import { icons } from './icons';

const NAV = [
  { href: '/avatars', label: 'Avatars', icon: icons.avatars },
  { href: '/knowledge', label: 'Knowledge', icon: icons.knowledge },
  { href: '/playground', label: 'Playground', icon: icons.playground },
  { href: '/analytics', label: 'Analytics', icon: icons.analytics },
  { href: '/personas', label: 'Personas', icon: icons.personas },
  { href: '/keys', label: 'API keys', icon: icons.keys },
  { href: '/settings', label: 'Settings', icon: icons.settings },
  { href: '/embed', label: 'Embed', icon: icons.embed },
];

export function Layout({ children, offline }: { children: ComponentChildren; offline: boolean | null }) {
  const who = useStore(user);
  const { pathname } = useLocation();
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [pathname]);
  return (
    <div class={`shell ${open ? 'nav-open' : ''}`}>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <button type="button" class="icon-btn" aria-label="Open menu" aria-expanded={open} aria-controls="sidebar" onClick={() => setOpen(!open)}>
          {icons.menu()}
        </button>
        <span class="brand-name">Avatarium</span>
      </header>
      <aside class="sidebar" id="sidebar">
        <div class="brand">
          <span class="brand-mark" aria-hidden="true">
            A
          </span>
          <span class="brand-name">Avatarium</span>
        </div>
        <nav aria-label="Main">
          <ul>
            {NAV.map((n) => (
              <li key={n.href}>
                <Link href={n.href} activePrefix={n.href} class="nav-link">
                  {n.icon()}
                  <span>{n.label}</span>
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="sidebar-foot">
          {offline !== null && (
            <div class={`mode ${offline ? 'mode-offline' : 'mode-cloud'}`} role="status" aria-label={offline ? 'Offline mode' : 'Cloud provider in use'}>
              <span class="dot" aria-hidden="true" />
              {offline ? 'Offline mode' : 'Cloud provider'}
            </div>
          )}
          {who && (
            <div class="account">
              <div class="account-text">
                <span class="account-name">{who.name || who.email}</span>
                <span class="account-email">{who.email}</span>
              </div>
              <button type="button" class="icon-btn" aria-label="Sign out" title="Sign out" onClick={signOut}>
                {icons.logout()}
              </button>
            </div>
          )}
        </div>
      </aside>
      <div class="scrim" onClick={() => setOpen(false)} aria-hidden="true" />
      <main id="main" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}
