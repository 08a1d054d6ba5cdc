// Small building blocks shared by every page.

import type { ButtonHTMLAttributes, ComponentChildren, HTMLAttributes } from 'preact';
import { useEffect, useId, useRef, useState } from 'preact/hooks';
import { platform } from '../platform';

type ButtonProps = ButtonHTMLAttributes<HTMLButtonElement> & {
  variant?: 'primary' | 'secondary' | 'ghost' | 'danger';
  size?: 'sm' | 'md';
  busy?: boolean;
};

export function Button({ variant = 'secondary', size = 'md', busy, class: cls, children, disabled, type, ...rest }: ButtonProps) {
  return (
    <button
      {...rest}
      type={type ?? 'button'}
      class={`btn btn-${variant} btn-${size} ${cls ?? ''}`}
      disabled={disabled || busy}
      aria-busy={busy ? 'true' : undefined}
    >
      {busy && <span class="spinner spinner-sm" aria-hidden="true" />}
      {children}
    </button>
  );
}

/** A labelled form control; the label is tied to the control by id. */
export function Field({
  label,
  hint,
  children,
  id,
}: {
  label: string;
  hint?: ComponentChildren;
  id: string;
  children: ComponentChildren;
}) {
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children}
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
    </div>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <header class="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p class="subtitle">{subtitle}</p>}
      </div>
      {actions && <div class="page-actions">{actions}</div>}
    </header>
  );
}

export function Card({ children, class: cls, title, ...rest }: HTMLAttributes<HTMLElement> & { title?: string }) {
  const id = useId();
  return (
    <section class={`card ${cls ?? ''}`} aria-labelledby={title ? id : undefined} {...rest}>
      {title && (
        <h2 class="card-title" id={id}>
          {title}
        </h2>
      )}
      {children}
    </section>
  );
}

export function EmptyState({ title, children, icon }: { title: string; children?: ComponentChildren; icon?: ComponentChildren }) {
  return (
    <div class="empty" role="status">
      {icon && <div class="empty-icon" aria-hidden="true">{icon}</div>}
      <h3>{title}</h3>
      {children && <div class="empty-body">{children}</div>}
    </div>
  );
}

export function Spinner({ label = 'Loading' }: { label?: string }) {
  return (
    <div class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      <span>{label}…</span>
    </div>
  );
}

export function Alert({ kind = 'error', children }: { kind?: 'error' | 'info' | 'success' | 'warning'; children: ComponentChildren }) {
  return (
    <div class={`alert alert-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {children}
    </div>
  );
}

export function Badge({ tone = 'neutral', children }: { tone?: 'neutral' | 'good' | 'warn' | 'bad' | 'accent'; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}

/** An on/off switch with an accessible name. */
export function Toggle({
  label,
  checked,
  onChange,
  disabled,
  description,
}: {
  label: string;
  checked: boolean;
  onChange: (v: boolean) => void;
  disabled?: boolean;
  description?: string;
}) {
  const id = useId();
  return (
    <div class="toggle-row">
      <button
        id={id}
        type="button"
        role="switch"
        aria-checked={checked}
        aria-label={label}
        class={`switch ${checked ? 'on' : ''}`}
        disabled={disabled}
        onClick={() => onChange(!checked)}
      >
        <span class="knob" aria-hidden="true" />
      </button>
      <label for={id} class="toggle-label">
        {label}
        {description && <span class="hint"> {description}</span>}
      </label>
    </div>
  );
}

/** Copies `text`, then says so for a moment. */
export function CopyButton({ text, label = 'Copy', size = 'sm' }: { text: string; label?: string; size?: 'sm' | 'md' }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  return (
    <Button
      size={size}
      onClick={async () => {
        const ok = await platform.copyText(text);
        setState(ok ? 'copied' : 'failed');
        window.clearTimeout(timer.current);
        timer.current = window.setTimeout(() => setState('idle'), 2000);
      }}
      aria-live="polite"
    >
      {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed' : label}
    </Button>
  );
}

/** A destructive action that asks once more before it acts. */
export function ConfirmButton({
  label,
  confirmLabel,
  onConfirm,
  ariaLabel,
  size = 'sm',
}: {
  label: string;
  confirmLabel: string;
  onConfirm: () => Promise<void> | void;
  ariaLabel?: string;
  size?: 'sm' | 'md';
}) {
  const [armed, setArmed] = useState(false);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    if (!armed) return;
    const t = window.setTimeout(() => setArmed(false), 5000);
    return () => window.clearTimeout(t);
  }, [armed]);
  if (!armed)
    return (
      <Button size={size} variant="ghost" class="danger-text" aria-label={ariaLabel} onClick={() => setArmed(true)}>
        {label}
      </Button>
    );
  return (
    <span class="confirm">
      <Button
        size={size}
        variant="danger"
        busy={busy}
        onClick={async () => {
          setBusy(true);
          try {
            await onConfirm();
          } finally {
            setBusy(false);
            setArmed(false);
          }
        }}
      >
        {confirmLabel}
      </Button>
      <Button size={size} variant="ghost" onClick={() => setArmed(false)}>
        Cancel
      </Button>
    </span>
  );
}

/** Runs an async loader on mount (and when deps change), with loading and error state. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
  setData: (v: T) => void;
} {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(undefined);
    load().then(
      (v) => {
        if (!live) return;
        setData(v);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError(e instanceof Error ? e : new Error(String(e)));
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { data, error, loading, reload: () => setTick((t) => t + 1), setData };
}
