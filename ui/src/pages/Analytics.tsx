import { useState } from 'preact/hooks';
import type { Analytics as Data, Avatar } from '../api/types';
import { AvatarPicker, WithAvatar } from '../components/AvatarPicker';
import { BarChart, HBarChart, LineChart } from '../components/Charts';
import { icons } from '../components/icons';
import { Alert, Card, EmptyState, PageHeader, Spinner, useAsync } from '../components/ui';
import { axisSeconds, errorMessage, formatMs, formatSeconds } from '../lib/format';
import { Link } from '../lib/router';
import { api } from '../session';

type Days = 7 | 30 | 90;

/** True when the range has nothing to draw. */
export function isEmpty(d: Data): boolean {
  return d.totals.views === 0 && d.totals.conversations === 0 && d.totals.messages === 0 && d.latency.count === 0;
}

function Stat({ label, value, sub }: { label: string; value: string; sub?: string }) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd>
        {value}
        {sub && <span class="stat-sub">{sub}</span>}
      </dd>
    </div>
  );
}

function Report({ d, avatar }: { d: Data; avatar: Avatar }) {
  if (isEmpty(d))
    return (
      <EmptyState title="No conversations yet" icon={icons.analytics()}>
        <p>
          Analytics count visitors of {avatar.name}’s public page and embeds. Share the page or{' '}
          <Link href="/embed">embed it on your site</Link>, then come back.
        </p>
      </EmptyState>
    );
  const daily = d.daily;
  return (
    <div class="analytics">
      <dl class="stats" aria-label="Totals">
        <Stat label="Conversations" value={String(d.totals.conversations)} sub={`${d.allTime.conversations} all time`} />
        <Stat label="Messages" value={String(d.totals.messages)} />
        <Stat label="Views" value={String(d.totals.views)} sub={`${d.allTime.views} all time`} />
        <Stat label="Avg. duration" value={formatSeconds(d.sessionDurations.avgSec)} sub={`${d.sessionDurations.count} ended`} />
        <Stat label="Latency p50" value={formatMs(d.latency.p50)} />
        <Stat label="Latency p95" value={formatMs(d.latency.p95)} />
      </dl>
      <div class="chart-grid">
        <Card title="Daily conversations">
          <BarChart title="Daily conversations" data={daily.map((x) => ({ label: x.date, value: x.conversations }))} />
        </Card>
        <Card title="Daily messages">
          <BarChart title="Daily messages" data={daily.map((x) => ({ label: x.date, value: x.messages }))} />
        </Card>
        <Card title="Session duration">
          {d.sessionDurations.count === 0 ? (
            <p class="muted">No ended sessions in this range yet: durations are recorded when a visitor leaves.</p>
          ) : (
            <LineChart title="Average session duration per day" data={daily.map((x) => ({ label: x.date, value: x.avgDurationSec }))} format={axisSeconds} />
          )}
        </Card>
        <Card title="Response latency">
          {d.latency.count === 0 ? (
            <p class="muted">No answers in this range yet.</p>
          ) : (
            <HBarChart
              title="Response latency"
              data={[
                { label: 'p50', value: d.latency.p50 },
                { label: 'p95', value: d.latency.p95 },
                { label: 'avg', value: d.latency.avg },
              ]}
              format={formatMs}
            />
          )}
          <p class="muted small">{`${d.latency.count} ${d.latency.count === 1 ? 'answer' : 'answers'}`}</p>
        </Card>
      </div>
    </div>
  );
}

function AnalyticsFor({ avatar }: { avatar: Avatar }) {
  const [days, setDays] = useState<Days>(7);
  const { data, error, loading } = useAsync(() => api.analytics(avatar.id, days), [avatar.id, days]);
  return (
    <>
      <div class="toolbar">
        <div class="segmented" role="radiogroup" aria-label="Range">
          {([7, 30, 90] as Days[]).map((n) => (
            <button type="button" role="radio" key={n} aria-checked={days === n} class={days === n ? 'active' : ''} onClick={() => setDays(n)}>
              {n} days
            </button>
          ))}
        </div>
      </div>
      {error && <Alert>{errorMessage(error)}</Alert>}
      {loading && !data ? <Spinner label="Loading analytics" /> : data && <Report d={data} avatar={avatar} />}
    </>
  );
}

export function Analytics() {
  return (
    <>
      <PageHeader title="Analytics" subtitle="Visitors, conversations and how fast your avatar answers." actions={<AvatarPicker />} />
      <WithAvatar>{(a) => <AnalyticsFor avatar={a} key={a.id} />}</WithAvatar>
    </>
  );
}
