// Bundled (esbuild) by recipes.test.mjs and served at /recipes/angular-app.js: an Angular
// application (no CLI: the compiler links Angular's partially compiled classes at run time, JIT)
// whose HttpClient has the recipe's interceptor, as an app's app.config.ts would provide it.
import '@angular/compiler';
import { provideZonelessChangeDetection } from '@angular/core';
import { HttpClient, provideHttpClient, withFetch, withInterceptors } from '@angular/common/http';
import { createApplication } from '@angular/platform-browser';
import { firstValueFrom } from 'rxjs';
import type { HelseIdClient } from 'helseid-wasm';
import { helseIdInterceptor } from '../../../recipes/angular';

export async function angularHttp(client: HelseIdClient) {
  const app = await createApplication({
    providers: [
      provideZonelessChangeDetection(),
      provideHttpClient(withFetch(), withInterceptors([helseIdInterceptor(client)])),
    ],
  });
  const http = app.injector.get(HttpClient);
  return {
    get: (url: string) => firstValueFrom(http.get(url)),
    post: (url: string, body: unknown) => firstValueFrom(http.post(url, body)),
  };
}
