import { defineConfig } from 'vitest/config';
import vue from '@vitejs/plugin-vue';

// The dev server proxies /api to the analytics service, so the app always calls its own
// origin, exactly as it does when analytics serves the built files (no CORS, any host name).
const apiTarget = process.env.ANALYTICS_URL ?? 'http://localhost:8000';

export default defineConfig({
  plugins: [vue()],
  server: {
    port: 3000,
    strictPort: true,
    proxy: {
      '/api': { target: apiTarget, changeOrigin: true },
    },
  },
  preview: { port: 3000, strictPort: true, proxy: { '/api': { target: apiTarget, changeOrigin: true } } },
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
