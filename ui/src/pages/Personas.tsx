import { useMemo, useState } from 'preact/hooks';
import type { Persona } from '../api/types';
import { Alert, Badge, PageHeader, Spinner, useAsync } from '../components/ui';
import { errorMessage, verticalLabel } from '../lib/format';
import { navigate } from '../lib/router';
import { api } from '../session';

function PersonaCard({ p }: { p: Persona }) {
  return (
    <article class="persona-card" aria-label={p.name}>
      <div class="persona-head">
        <h2>{p.name}</h2>
        <Badge tone="accent">{verticalLabel(p.vertical)}</Badge>
      </div>
      <p>{p.description}</p>
      <p class="quote">“{p.greeting}”</p>
      <ul class="chips" aria-label="Traits">
        {p.traits.map((t) => (
          <li key={t}>{t}</li>
        ))}
      </ul>
      {p.sampleQuestions.length > 0 && (
        <details>
          <summary>Sample questions</summary>
          <ul>
            {p.sampleQuestions.map((q) => (
              <li key={q}>{q}</li>
            ))}
          </ul>
        </details>
      )}
      <button
        type="button"
        class="btn btn-primary btn-sm"
        aria-label={`Start an avatar from ${p.name}`}
        onClick={() => navigate(`/avatars/new?persona=${encodeURIComponent(p.id)}`)}
      >
        Start an avatar from this persona
      </button>
    </article>
  );
}

export function Personas() {
  const { data, error, loading } = useAsync(() => api.personas(), []);
  const [vertical, setVertical] = useState('all');
  const verticals = useMemo(() => [...new Set((data ?? []).map((p) => p.vertical))].sort(), [data]);
  const shown = (data ?? []).filter((p) => vertical === 'all' || p.vertical === vertical);
  return (
    <>
      <PageHeader title="Personas" subtitle="Ready-made personalities by industry. Start an avatar from one and adjust it." />
      {error && <Alert>{errorMessage(error)}</Alert>}
      {loading ? (
        <Spinner label="Loading personas" />
      ) : (
        <>
          <div class="filter-chips" role="group" aria-label="Filter by vertical">
            {['all', ...verticals].map((v) => (
              <button type="button" key={v} aria-pressed={vertical === v} class={vertical === v ? 'active' : ''} onClick={() => setVertical(v)}>
                {v === 'all' ? 'All' : verticalLabel(v)}
              </button>
            ))}
          </div>
          <div class="grid-cards">
            {shown.map((p) => (
              <PersonaCard p={p} key={p.id} />
            ))}
          </div>
        </>
      )}
    </>
  );
}
