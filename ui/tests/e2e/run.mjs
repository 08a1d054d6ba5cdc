#!/usr/bin/env node
// End-to-end tests of the dashboard and the public pages against the real
// server binary, driven with playwright-core and the system Chromium.
//
// It builds nothing: run `npm run build` in ui/ and `cargo build -p
// avatarium-cli` first (scripts/ui-test.sh does both). Then:
//
//   node tests/e2e/run.mjs
//
// Environment:
//   AVATARIUM_BIN     server binary (default: <target>/debug/avatarium)
//   CHROMIUM          browser executable (default: /usr/bin/chromium)
//   E2E_ARTIFACTS     where screenshots and the server log go (default: a temp dir)
//   E2E_SERVER_URL    use a running server instead of starting one
//   E2E_UI_URL        open the UI from here (e.g. `npm run dev`), default: the server
//   E2E_HEADED=1      show the browser

import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');
const targetDir = process.env.CARGO_TARGET_DIR ? resolve(repo, process.env.CARGO_TARGET_DIR) : join(repo, 'target');
const BIN = process.env.AVATARIUM_BIN ?? join(targetDir, 'debug', 'avatarium');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = process.env.E2E_ARTIFACTS ?? mkdtempSync(join(tmpdir(), 'avatarium-ui-e2e-'));
const TIMEOUT = 20_000;

mkdirSync(ARTIFACTS, { recursive: true });
const cleanups = [];

// --- helpers ------------------------------------------------------------------

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value (returned) or time runs out. */
async function eventually(what, fn, timeout = TIMEOUT) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(100);
  }
}

async function startServer() {
  if (process.env.E2E_SERVER_URL) return { url: process.env.E2E_SERVER_URL.replace(/\/$/, ''), started: false };
  if (!existsSync(BIN)) throw new Error(`No server binary at ${BIN}: run \`cargo build -p avatarium-cli\` first (or set AVATARIUM_BIN)`);
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'avatarium-e2e-data-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  // A clean environment: no cloud keys or defaults, so the offline `local`
  // provider answers from the knowledge base.
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^AVATARIUM_|_API_KEY$/.test(k)) env[k] = v;
  env.RUST_LOG = 'info,sqlx=warn';
  const log = createWriteStream(join(ARTIFACTS, 'server.log'));
  const child = spawn(BIN, ['serve', '--port', String(port), '--data-dir', dataDir], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  cleanups.push(
    () =>
      new Promise((res) => {
        if (exited) return res();
        child.once('exit', res);
        child.kill('SIGTERM');
        setTimeout(() => {
          if (!exited) child.kill('SIGKILL');
        }, 5000);
      }),
  );
  const url = `http://127.0.0.1:${port}`;
  await eventually(
    'the server /health',
    async () => {
      if (exited) throw new Error(`the server exited (${JSON.stringify(exited)}); see ${join(ARTIFACTS, 'server.log')}`);
      const r = await fetch(`${url}/health`);
      return r.ok;
    },
    60_000,
  );
  return { url, started: true };
}

// --- the run ------------------------------------------------------------------

const results = [];
let page;
let shot = 0;

async function screenshot(name, p = page) {
  const file = join(ARTIFACTS, `${String(++shot).padStart(2, '0')}-${name}.png`);
  await p.screenshot({ path: file, fullPage: true });
  return file;
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    console.log(`  ✓ ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push({ name, ok: false, ms: Date.now() - t0, error: e });
    console.log(`  ✗ ${name} (${Date.now() - t0} ms)\n    ${String(e.stack ?? e).split('\n').join('\n    ')}`);
    try {
      if (page && !page.isClosed()) await screenshot(`FAILED-${name.replace(/\W+/g, '-')}`);
    } catch {
      // The browser may be gone.
    }
    throw e;
  }
}

async function main() {
  const server = await startServer();
  const ui = (process.env.E2E_UI_URL ?? server.url).replace(/\/$/, '');
  const sameOrigin = ui === server.url;
  console.log(`server ${server.url}${server.started ? ' (started)' : ''}, UI ${ui}, artefacts ${ARTIFACTS}`);

  const profile = mkdtempSync(join(tmpdir(), 'avatarium-e2e-chromium-'));
  cleanups.push(() => rmSync(profile, { recursive: true, force: true }));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: process.env.E2E_HEADED !== '1',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1360, height: 900 },
  });
  cleanups.push(() => context.close());
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ui });

  // Fail on script errors and CSP violations anywhere.
  const problems = [];
  // (The third-party test page is on another origin and expects one refusal.)
  const ours = (url) => url.startsWith(ui) || url.startsWith(server.url) || url === 'about:blank';
  const watch = (p) => {
    p.on('pageerror', (e) => problems.push(`page error on ${p.url()}: ${e.message}`));
    p.on('console', (m) => {
      if (ours(p.url()) && m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP on ${p.url()}: ${m.text()}`);
    });
  };
  context.on('page', watch);
  page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  page.setDefaultTimeout(TIMEOUT);

  const api = async (path, init = {}) => {
    const r = await fetch(`${server.url}${path}`, init);
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : null };
  };
  const token = () => page.evaluate(() => localStorage.getItem('avatarium.token'));
  const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true }).click();
  const heading = (name) => page.getByRole('heading', { level: 1, name });

  const email = `e2e-${Date.now()}@example.com`;
  const password = 'correct-horse-42';
  const knowledgeText = 'Basic costs 10 dollars a month, Pro costs 30 dollars a month.';
  let persona;
  let avatar;

  console.log('Avatarium UI end-to-end');

  await step('the server serves the dashboard with its headers', async () => {
    if (!sameOrigin) return console.log('    (skipped: the UI comes from E2E_UI_URL)');
    const r = await fetch(`${server.url}/`, { headers: { Accept: 'text/html' } });
    assert.equal(r.status, 200);
    const html = await r.text();
    assert.match(html, /<div id="app">/, 'the built dashboard (run npm run build, then rebuild the server)');
    assert.equal(r.headers.get('x-frame-options'), 'DENY');
    assert.match(r.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const json = await fetch(`${server.url}/`);
    assert.equal(json.status, 404, 'API clients still get JSON at /');
    assert.match(json.headers.get('content-type') ?? '', /application\/json/);
  });

  await step('sign up', async () => {
    await page.goto(`${ui}/`);
    await page.getByRole('tab', { name: 'Sign in' }).waitFor();
    await screenshot('sign-in');
    await page.getByRole('tab', { name: 'Create account' }).click();
    await page.getByLabel('Name').fill('E2E Tester');
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await heading('Avatars').waitFor();
    await page.getByText('No avatars yet').waitFor();
    const t = await token();
    assert.ok(t, 'the token is kept in localStorage');
    const me = await api('/v1/auth/me', { headers: { Authorization: `Bearer ${t}` } });
    assert.equal(me.status, 200);
    assert.equal(me.body.data.email, email);
    // The session survives a reload, and the client route is served by the server.
    await page.reload();
    await heading('Avatars').waitFor();
    await screenshot('avatars-empty');
  });

  await step('create an avatar from a persona', async () => {
    persona = (await api('/v1/personas/id/sales-rep')).body.data;
    await nav('Personas');
    await heading('Personas').waitFor();
    await page.getByRole('button', { name: `Start an avatar from ${persona.name}` }).waitFor();
    await screenshot('personas');
    await page.getByRole('button', { name: `Start an avatar from ${persona.name}` }).click();
    await heading('New avatar').waitFor();
    // The form is pre-filled from the persona.
    await eventually('the persona to fill the form', async () => (await page.getByLabel('Personality').inputValue()) === persona.personality);
    assert.equal(await page.getByLabel('Greeting').inputValue(), persona.greeting);
    assert.equal(await page.getByLabel('Persona', { exact: true }).inputValue(), persona.id);
    assert.equal(await page.getByLabel('Traits').inputValue(), persona.traits.join(', '));
    await page.getByLabel('Name', { exact: true }).fill('Sally');
    assert.equal(await page.getByLabel('Slug').inputValue(), 'sally');
    await screenshot('avatar-editor');
    await page.getByRole('button', { name: 'Create avatar' }).click();
    await heading('Avatars').waitFor();
    await page.getByRole('article', { name: 'Sally' }).waitFor();
    const list = await api('/v1/consumer-avatars', { headers: { Authorization: `Bearer ${await token()}` } });
    avatar = list.body.data.find((a) => a.name === 'Sally');
    assert.ok(avatar, 'the avatar exists');
    assert.equal(avatar.personaId, persona.id);
    assert.equal(avatar.avatarPreset, persona.suggestedAvatar);
    assert.equal(avatar.greeting, persona.greeting);
    await screenshot('avatars');
    // No visitors yet: analytics says so.
    await nav('Analytics');
    await heading('Analytics').waitFor();
    await page.getByText('No conversations yet').waitFor();
    await screenshot('analytics-empty');
  });

  await step('add knowledge (text and file) and delete an item', async () => {
    await nav('Knowledge');
    await heading('Knowledge').waitFor();
    await page.getByLabel('Title').fill('Pricing FAQ');
    await page.getByLabel('Content').fill(knowledgeText);
    await page.getByRole('button', { name: 'Add to knowledge base' }).click();
    const table = page.getByRole('table', { name: 'Knowledge of Sally' });
    await table.getByRole('row', { name: /Pricing FAQ/ }).waitFor();
    // A file, uploaded with progress.
    const file = join(ARTIFACTS, 'refunds.md');
    writeFileSync(file, '# Refunds\n\nRefunds are possible within 14 days of purchase.\n');
    await page.getByRole('radio', { name: 'File' }).click();
    await page.getByLabel('Title').fill('Refund policy');
    await page.getByLabel('File', { exact: true }).setInputFiles(file);
    await page.getByRole('button', { name: 'Add to knowledge base' }).click();
    await table.getByRole('row', { name: /Refund policy/ }).waitFor();
    assert.equal(await table.locator('tbody tr').count(), 2);
    await screenshot('knowledge');
    await page.getByRole('button', { name: 'Delete Refund policy' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await eventually('the item to go', async () => (await table.locator('tbody tr').count()) === 1);
    const items = await api(`/v1/consumer-avatars/${avatar.id}/knowledge`, { headers: { Authorization: `Bearer ${await token()}` } });
    assert.deepEqual(
      items.body.data.map((i) => i.title),
      ['Pricing FAQ'],
    );
  });

  await step('playground: a grounded, streamed answer with its source and latency', async () => {
    const frames = [];
    page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
    await nav('Playground');
    await heading('Playground').waitFor();
    await page.getByLabel('Message', { exact: true }).fill('What are your pricing plans?');
    await page.getByRole('button', { name: 'Send' }).click();
    const answer = page.locator('article.msg-assistant[data-state="done"]').first();
    await answer.waitFor();
    const text = await answer.locator('.msg-text').innerText();
    assert.match(text, /\b10\b/, `answer: ${text}`);
    assert.match(text, /\b30\b/, `answer: ${text}`);
    const sources = answer.getByRole('list', { name: 'Sources' });
    assert.match(await sources.innerText(), /Pricing FAQ/);
    assert.match(await answer.locator('.latency').innerText(), /Latency\s+\d+(\.\d+)?\s*(ms|s)/);
    const types = frames.map((f) => JSON.parse(f).type);
    for (const t of ['message', 'stream_start', 'stream_chunk', 'stream_end']) assert.ok(types.includes(t), `saw ${t} on the socket: ${types}`);
    assert.equal(await page.getByRole('status').filter({ hasText: 'Connected' }).count(), 1);
    await screenshot('playground');
  });

  await step('playground: speak answers plays the WAV with visemes in sync', async () => {
    const toggle = page.getByRole('switch', { name: 'Speak answers' });
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-checked'), 'true');
    // Record every viseme the stage shows from now on.
    await page.evaluate(() => {
      const fig = document.querySelector('figure[data-viseme]');
      window.__visemes = new Set();
      new MutationObserver(() => window.__visemes.add(fig.dataset.viseme)).observe(fig, { attributes: true });
    });
    await page.getByLabel('Message', { exact: true }).fill('How much does Pro cost?');
    await page.getByRole('button', { name: 'Send' }).click();
    await eventually('two answers', async () => (await page.locator('article.msg-assistant[data-state="done"]').count()) === 2);
    const audio = page.getByLabel('Spoken answer');
    await eventually('the answer audio', () => audio.evaluate((a) => a.src.startsWith('blob:') && a.duration > 0));
    const seen = await eventually('visemes while speaking', async () => {
      const v = await page.evaluate(() => [...window.__visemes]);
      return v.some((x) => x !== 'sil') ? v : null;
    });
    assert.ok(seen.length > 1, `visemes: ${seen}`);
    await screenshot('playground-speaking');
    await toggle.click();
  });

  await step('playground: live video over WebRTC speaks the answers', async () => {
    const auth = { headers: { Authorization: `Bearer ${await token()}` } };
    const toggle = page.getByRole('switch', { name: 'Live video' });
    // When the toggle is clicked and when the <video> first shows a frame.
    await page.evaluate(() => {
      const t = (window.__live = { clickAt: null, firstFrameAt: null });
      document.addEventListener('click', (e) => e.target.closest?.('[role="switch"][aria-label="Live video"]') && (t.clickAt ??= performance.now()), true);
      const seen = new WeakSet();
      new MutationObserver(() => {
        const v = document.querySelector('[data-testid="live-video"]');
        if (!v || seen.has(v)) return;
        seen.add(v);
        v.requestVideoFrameCallback(() => (t.firstFrameAt ??= performance.now()));
      }).observe(document.body, { childList: true, subtree: true });
    });
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-checked'), 'true');
    const label = page.getByTestId('live-transport');
    await label.waitFor({ timeout: 30_000 });
    const why = await page.locator('.toggle-row', { has: toggle }).innerText();
    assert.equal((await label.innerText()).trim(), 'WebRTC', `the transport (${why})`);
    const video = page.getByTestId('live-video');
    const sample = () =>
      video.evaluate((v) => ({
        at: performance.now(),
        frames: v.getVideoPlaybackQuality().totalVideoFrames,
        width: v.videoWidth,
        height: v.videoHeight,
        paused: v.paused,
        muted: v.muted,
        audioTracks: v.srcObject?.getAudioTracks().length ?? 0,
        audioFlowing: v.srcObject?.getAudioTracks().some((t) => t.readyState === 'live' && !t.muted) ?? false,
        videoTracks: v.srcObject?.getVideoTracks().length ?? 0,
      }));
    const first = await eventually('more than 10 decoded frames', async () => {
      const q = await sample();
      return q.frames > 10 && q.width > 0 ? q : null;
    }, 30_000);
    assert.equal(first.videoTracks, 1, 'a video track');
    assert.ok(first.audioTracks >= 1, 'the stream has an audio track');
    await eventually('audio packets on the track', async () => (await sample()).audioFlowing);
    const t = await page.evaluate(() => window.__live);
    const firstFrameMs = t.clickAt !== null && t.firstFrameAt !== null ? Math.round(t.firstFrameAt - t.clickAt) : null;
    console.log(
      `    live: first decoded frame ${firstFrameMs ?? '?'} ms after the click; ${first.frames} frames at ${first.width}×${first.height}` +
        `${first.muted ? ' (muted)' : ''}${first.paused ? ' (paused)' : ''}`,
    );
    const sessionId = await page.getByTestId('live-stage').getAttribute('data-session-id');
    assert.ok(sessionId, 'the stage names its session');
    const listed = await api('/v1/streaming.sessions', auth);
    assert.ok(listed.body.sessions.some((x) => x.session_id === sessionId), `listed: ${JSON.stringify(listed.body)}`);
    await screenshot('playground-live');

    // An answer is spoken by the live avatar, and the video goes on.
    const spoken = page.waitForResponse((r) => r.url().endsWith('/v1/avatar.speak') && r.request().method() === 'POST');
    const before = (await sample()).frames;
    await page.getByLabel('Message', { exact: true }).fill('How much does Basic cost?');
    await page.getByRole('button', { name: 'Send' }).click();
    await eventually('three answers', async () => (await page.locator('article.msg-assistant[data-state="done"]').count()) === 3);
    const speak = await spoken;
    assert.equal(speak.status(), 200, await speak.text());
    const task = await speak.json();
    assert.equal(task.status, 'processing');
    assert.equal(JSON.parse(speak.request().postData()).session_id, sessionId);
    const after = await eventually('frames to keep coming', async () => {
      const q = await sample();
      return q.frames > before + 10 ? q : null;
    });
    const fps = ((after.frames - first.frames) * 1000) / (after.at - first.at);
    console.log(`    live: totalVideoFrames ${after.frames} after the spoken answer (${before} before it), ${fps.toFixed(1)} frames/s decoded`);
    await eventually('the speak task to finish', async () => {
      const r = await api(`/v1/avatar.speak/${task.task_id}`, auth);
      return r.body?.status === 'completed';
    }, 30_000);

    // Off: the session is stopped on the server.
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-checked'), 'false');
    await video.waitFor({ state: 'detached' });
    await eventually('the session to stop', async () => {
      const r = await api('/v1/streaming.sessions', auth);
      return r.status === 200 && !r.body.sessions.some((x) => x.session_id === sessionId);
    });
  });

  let key;
  await step('API keys: created, shown once, copied, revoked', async () => {
    await nav('API keys');
    await heading('API keys').waitFor();
    await page.getByLabel('Key name').fill('ci-test');
    await page.getByRole('button', { name: 'Create key' }).click();
    key = (await page.getByTestId('new-key').innerText()).trim();
    assert.match(key, /^av_live_/);
    const me = await api('/v1/auth/me', { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(me.status, 200);
    assert.equal(me.body.data.authenticatedWith, 'apiKey');
    await page.getByRole('button', { name: 'Copy key' }).click();
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), key);
    await screenshot('api-keys-created');
    // Shown once: gone after a reload, only the prefix remains.
    await page.reload();
    const row = page.getByRole('table', { name: 'API keys' }).getByRole('row', { name: /ci-test/ });
    await row.waitFor();
    assert.ok(!(await page.content()).includes(key), 'the secret is not shown again');
    assert.ok((await row.innerText()).includes(key.slice(0, 14)), 'the row shows the key prefix');
    await page.getByRole('button', { name: 'Revoke ci-test' }).click();
    await page.getByRole('button', { name: 'Revoke key' }).click();
    await row.getByText('Revoked').waitFor();
    const after = await api('/v1/auth/me', { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(after.status, 401, 'a revoked key is refused');
    await screenshot('api-keys-revoked');
  });

  await step('settings: offline mode, providers, default voice kept', async () => {
    await nav('Settings');
    await heading('Settings').waitFor();
    await page.getByRole('status', { name: 'Offline mode' }).filter({ hasText: 'Offline mode' }).first().waitFor();
    await page.getByRole('table', { name: 'AI providers' }).getByRole('row', { name: /Built-in \(offline\)/ }).waitFor();
    await page.getByLabel('Default voice').selectOption('en-us+f2');
    await page.reload();
    await heading('Settings').waitFor();
    await eventually('the voice preference', async () => (await page.getByLabel('Default voice').inputValue()) === 'en-us+f2');
    await screenshot('settings');
  });

  let embedUrl;
  await step('embed: the snippet, and a chat in the widget', async () => {
    await nav('Embed');
    await heading('Embed').waitFor();
    const snippet = await page.getByLabel('Iframe snippet').inputValue();
    assert.match(snippet, /<iframe/);
    embedUrl = /src="([^"]+)"/.exec(snippet)[1];
    assert.ok(embedUrl.endsWith(`/a/${avatar.shortId}/embed`), embedUrl);
    if (sameOrigin) assert.equal(new URL(embedUrl).origin, server.url);
    await screenshot('embed');

    const widget = await context.newPage();
    const res = await widget.goto(embedUrl);
    if (sameOrigin) {
      assert.equal(res.headers()['x-frame-options'], undefined, 'the widget can be framed');
      assert.match(res.headers()['content-security-policy'] ?? '', /frame-ancestors \*/);
    }
    await widget.getByRole('heading', { name: 'Sally' }).waitFor();
    await widget.getByText(persona.greeting).waitFor();
    await widget.getByLabel('Message', { exact: true }).fill('What are your pricing plans?');
    await widget.getByRole('button', { name: 'Send' }).click();
    const answer = widget.getByRole('article', { name: 'Sally', exact: true }).last();
    await answer.getByRole('list', { name: 'Sources' }).waitFor();
    const text = await answer.locator('.msg-text').innerText();
    assert.match(text, /\b10\b/);
    assert.match(text, /\b30\b/);
    assert.match(await answer.getByRole('list', { name: 'Sources' }).innerText(), /Pricing FAQ/);
    await widget.setViewportSize({ width: 400, height: 600 });
    await screenshot('embed-widget', widget);
    // Leaving ends the session (its duration is recorded for analytics).
    await widget.goto('about:blank');
    await widget.close();
  });

  await step('embed: the widget works inside a third-party page', async () => {
    const port = await freePort();
    const site = createServer((_, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(
        `<!doctype html><title>Shop</title><h1>Another site</h1>` +
          `<iframe id="widget" src="${embedUrl}" width="400" height="600" style="border:none;border-radius:16px" allow="microphone; camera"></iframe>` +
          `<iframe id="dashboard" src="${new URL(embedUrl).origin}/" width="300" height="200"></iframe>`,
      );
    });
    await new Promise((r) => site.listen(port, '127.0.0.1', r));
    cleanups.push(
      () =>
        new Promise((r) => {
          site.close(r);
          site.closeAllConnections();
        }),
    );
    // localhost is another origin than 127.0.0.1 for the browser.
    const host = new URL(embedUrl).hostname === 'localhost' ? '127.0.0.1' : 'localhost';
    const other = await context.newPage();
    await other.goto(`http://${host}:${port}/`);
    const frame = other.frameLocator('#widget');
    await frame.getByRole('heading', { name: 'Sally' }).waitFor();
    await frame.getByLabel('Message', { exact: true }).waitFor();
    await screenshot('embed-third-party', other);
    // The dashboard itself refuses to be framed (frame-ancestors 'none', X-Frame-Options: DENY).
    if (sameOrigin) {
      const dash = await (await other.$('#dashboard')).contentFrame();
      await sleep(300);
      const html = dash ? await dash.content().catch(() => '') : '';
      assert.ok(!html.includes('id="app"'), 'the dashboard must not load inside another site');
    }
    await other.close();
  });

  await step('public page /a/:shortId', async () => {
    const pub = await context.newPage();
    const res = await pub.goto(`${new URL(embedUrl).origin}/a/${avatar.shortId}`);
    if (sameOrigin) assert.equal(res.headers()['x-frame-options'], 'SAMEORIGIN');
    await pub.getByRole('heading', { name: 'Sally' }).waitFor();
    await pub.getByRole('figure', { name: 'Sally avatar stage' }).waitFor();
    await screenshot('public-page', pub);
    const missing = await context.newPage();
    await missing.goto(`${new URL(embedUrl).origin}/a/nope-nope-no/embed`);
    await missing.getByRole('heading', { name: 'Avatar unavailable' }).waitFor();
    await missing.close();
    await pub.close();
  });

  await step('analytics: charts drawn from the visitor chat', async () => {
    await nav('Avatars');
    await nav('Analytics');
    await heading('Analytics').waitFor();
    const chart = page.getByRole('img', { name: /^Daily conversations chart/ });
    await chart.waitFor();
    const marks = await chart.locator('rect.mark').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('data-value'))));
    assert.equal(marks.length, 7, 'one bar per day of the range');
    assert.ok(marks.some((v) => v > 0), `a bar with data: ${marks}`);
    const latency = page.getByRole('img', { name: 'Response latency chart' });
    assert.ok((await latency.locator('.mark').count()) >= 2, 'p50 and p95 drawn');
    const stats = await page.getByRole('definition').allInnerTexts();
    assert.ok(stats.length >= 6, `stats: ${stats}`);
    // The 30-day range redraws with 30 bars.
    await page.getByRole('radio', { name: '30 days' }).click();
    await eventually('30 bars', async () => (await chart.locator('rect.mark').count()) === 30);
    await page.getByRole('radio', { name: '7 days' }).click();
    await eventually('7 bars', async () => (await chart.locator('rect.mark').count()) === 7);
    await screenshot('analytics');
  });

  await step('sign out and sign in again', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('tab', { name: 'Sign in' }).waitFor();
    assert.equal(await token(), null);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: /wrong email or password/i }).waitFor();
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Back where they were (Analytics), with their data.
    await heading('Analytics').waitFor();
    await nav('Avatars');
    await page.getByRole('article', { name: 'Sally' }).waitFor();
  });

  await step('no script errors or CSP violations', async () => {
    assert.deepEqual(problems, []);
  });
}

let failed = false;
const started = Date.now();
try {
  await main();
} catch (e) {
  failed = true;
  if (!results.some((r) => !r.ok)) console.error(e);
} finally {
  for (const c of cleanups.reverse()) {
    try {
      await c();
    } catch {
      // Best effort.
    }
  }
}
const passed = results.filter((r) => r.ok).length;
console.log(`\n${passed} passed, ${results.length - passed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS}`);
process.exit(failed ? 1 : 0);
