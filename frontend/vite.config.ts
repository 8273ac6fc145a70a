import type { ProxyOptions } from 'vite';
import { defineConfig } from 'vitest/config';
import vue from '@vitejs/plugin-vue';

// The dev server proxies /api to the analytics service, so the app always calls its own
// origin, exactly as it does when analytics serves the built files (no CORS, any host name).
const apiTarget = process.env.ANALYTICS_URL ?? 'http://localhost:8000';

const apiProxy: ProxyOptions = {
  target: apiTarget,
  changeOrigin: true,
  // The proxy holds a response's headers back until its first body chunk; for the live event
  // stream that is the first keep-alive, 15 s away, and the browser would not know it is
  // connected until then. Send them at once.
  configure: (proxy) => {
    proxy.on('proxyRes', (proxyRes, _req, res) => {
      if (String(proxyRes.headers['content-type']).startsWith('text/event-stream')) {
        process.nextTick(() => res.flushHeaders());
      }
    });
  },
};

export default defineConfig({
  plugins: [vue()],
  server: {
    port: 3000,
    strictPort: true,
    proxy: { '/api': apiProxy },
  },
  preview: { port: 3000, strictPort: true, proxy: { '/api': apiProxy } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Small enough that one chunk is the fastest to load; uPlot is ~50 kB.
    chunkSizeWarningLimit: 300,
  },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
  },
});
