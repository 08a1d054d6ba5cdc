import type { ComponentChildren } from 'preact';
import { createStore, useStore } from './store';

export { match } from './paths';

// A small History API router: the server answers every dashboard path with
// the app (SPA fallback), so deep links and reloads work.

const current = () => window.location.pathname + window.location.search;
const location = createStore(current());

window.addEventListener('popstate', () => location.set(current()));

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === current()) return;
  if (opts.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  location.set(current());
  window.scrollTo(0, 0);
}

export interface Location {
  pathname: string;
  query: URLSearchParams;
}

export function useLocation(): Location {
  const href = useStore(location);
  const url = new URL(href, 'http://x');
  return { pathname: url.pathname, query: url.searchParams };
}

interface LinkProps {
  href: string;
  children?: ComponentChildren;
  class?: string;
  title?: string;
  'aria-label'?: string;
  onClick?: (e: MouseEvent) => void;
  /** Marks the link aria-current="page" when the path starts with this. */
  activePrefix?: string;
}

export function Link({ href, activePrefix, children, onClick, ...rest }: LinkProps) {
  const { pathname } = useLocation();
  const active = activePrefix !== undefined && (pathname === activePrefix || pathname.startsWith(`${activePrefix}/`));
  return (
    <a
      {...rest}
      href={href}
      aria-current={active ? 'page' : undefined}
      onClick={(e) => {
        onClick?.(e);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}
