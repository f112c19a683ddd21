// axios with helseid-wasm: DPoP headers on every request, one retry on a use_dpop_nonce challenge.
import axios from "axios";

export function helseIdAxios(client, { resource, ...defaults } = {}) {
  const http = axios.create(defaults);
  http.interceptors.request.use(async (config) => {
    const headers = await client.authHeaders(http.getUri(config), { method: config.method, resource });
    config.headers.set(headers);
    return config;
  });
  // axios gives no URL on a response: the one it was sent to.
  const answer = (res) => ({ url: http.getUri(res.config), status: res.status, headers: res.headers });
  http.interceptors.response.use(
    (res) => (client.takeDpopNonce(answer(res)), res),
    (error) => {
      const res = error.response;
      if (!res || !client.takeDpopNonce(answer(res)) || error.config.helseIdRetried) throw error;
      return http({ ...error.config, helseIdRetried: true });
    },
  );
  return http;
}
