// Angular HttpClient with helseid-wasm:
//   provideHttpClient(withFetch(), withInterceptors([helseIdInterceptor(client)]))
import { HttpErrorResponse, HttpResponse, type HttpInterceptorFn } from "@angular/common/http";
import { catchError, from, switchMap, tap, throwError } from "rxjs";
import type { HelseIdClient } from "helseid-wasm";

export function helseIdInterceptor(client: HelseIdClient, resource?: string): HttpInterceptorFn {
  return (req, next) => {
    const url = req.urlWithParams;
    const answer = (r: HttpResponse<unknown> | HttpErrorResponse) =>
      ({ url, status: r.status, headers: r.headers });
    const send = (retried: boolean): ReturnType<HttpInterceptorFn> =>
      from(client.authHeaders(url, { method: req.method, resource })).pipe(
        switchMap((headers) => next(req.clone({ setHeaders: headers }))),
        tap((event) => { if (event instanceof HttpResponse) client.takeDpopNonce(answer(event)); }),
        catchError((e) => e instanceof HttpErrorResponse && client.takeDpopNonce(answer(e)) && !retried
          ? send(true) : throwError(() => e)),
      );
    return send(false);
  };
}
