/// <reference types="vitest/config" />
import { resolve } from 'node:path';
import { defineConfig, type Plugin } from 'vite';

// The dashboard (index.html) and the public avatar pages (embed.html) are two
// entries of one build; avatarium-server embeds `dist/` and serves them.
// `npm run dev` proxies the API to a server on 127.0.0.1:8000 (AVATARIUM_URL).
const api = process.env.AVATARIUM_URL ?? 'http://127.0.0.1:8000';

/** In development, serve the public pages (/a/:shortId, /a/:shortId/embed)
 * from the embed entry, as the Rust server does. */
function publicPages(): Plugin {
  return {
    name: 'avatarium-public-pages',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        if (req.url && /^\/a\/[^/?#]+(\/embed)?\/?([?#].*)?$/.test(req.url)) req.url = '/embed.html';
        next();
      });
    },
  };
}

export default defineConfig({
  plugins: [publicPages()],
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    target: 'es2022',
    // Hashed file names under /assets/: the server caches them for a year.
    assetsDir: 'assets',
    sourcemap: false,
    rollupOptions: {
      input: {
        index: resolve(import.meta.dirname, 'index.html'),
        embed: resolve(import.meta.dirname, 'embed.html'),
      },
    },
  },
  server: {
    proxy: {
      '/v1': { target: api, ws: true },
      '/api': api,
      '/health': api,
      '/assets/avatars': api,
    },
  },
  test: {
    include: ['tests/unit/**/*.test.ts'],
  },
});
