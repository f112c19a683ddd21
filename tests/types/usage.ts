// Type-checks the generated .d.ts against the API.md contract: every name and shape used here
// must exist with these types (tsc fails otherwise).
import init, { HelseIdClient, decodeJwt, verifyJwt, isHelseIdError, version } from "../../pkg/helseid_wasm.js";
import type { HelseIdConfig, HelseIdContext, Session, HelseIdError, HelseIdErrorCode, VerifyOptions, TokenRefreshedDetail, TokenRefreshCause, AuthHeaders, DpopAnswer } from "../../pkg/helseid_wasm.js";

export async function usage(key: CryptoKey): Promise<void> {
  await init();
  const config: HelseIdConfig = {
    issuer: "https://helseid-sts.test.nhn.no",
    clientId: "client",
    redirectUri: "https://app.example/",
    scope: "openid profile offline_access",
    resources: ["e-helse:sfm.api"],
    clientAuth: { type: "private_key_jwt", key, alg: "PS256" },
    requireSfmId: true,
    requiredSecurityLevel: "4",
    storage: "session",
    sessionHost: "auto",
    workerUrl: new URL("https://app.example/vendor/helseid_wasm_worker.js"),
    assertionTimeoutSeconds: 10,
  };
  const client: HelseIdClient = await HelseIdClient.create(config);
  await client.loginWithRedirect({ loginHint: "x", acrValues: "Level4", extraParams: { a: "b" } });
  if (client.isRedirectCallback()) {
    const session: Session = await client.handleRedirectCallback();
    const pid: string | undefined = session.helseid.pid;
    const type: "DPoP" | "Bearer" = session.tokenType;
    void pid; void type;
  }
  const token: string = await client.getAccessToken({ resource: "e-helse:sfm.api", forceRefresh: false });
  const response: Response = await client.fetch("https://api.example/x", { method: "POST" }, { resource: "e-helse:sfm.api" });
  // API.md "Headers for your own HTTP client": a Record<string, string> with Authorization.
  const headers: Record<string, string> = await client.authHeaders("https://api.example/x", { method: "post", resource: "e-helse:sfm.api" });
  const typed: AuthHeaders = await client.authHeaders(new Request("https://api.example/x"));
  const authorization: string = typed.Authorization;
  const retry: boolean = client.takeDpopNonce(response);
  const axiosLike: DpopAnswer = { url: "https://api.example/x", status: 401, headers: { "dpop-nonce": "n" } };
  const angularLike: DpopAnswer = { url: null, status: 200, headers: { get: (name: string) => (name ? null : null) } };
  const again: boolean = client.takeDpopNonce(axiosLike) || client.takeDpopNonce(angularLike);
  void headers; void authorization; void retry; void again;
  const refreshed: Session = await client.refresh();
  const current: Session | null = client.session();
  const off: () => void = client.on("tokenRefreshed", (s: TokenRefreshedDetail) => {
    const cause: TokenRefreshCause = s.cause;
    void cause;
  });
  const where: "worker" | "page-holder" | "page-follower" = client.sessionHost();
  void where;
  off();
  await client.logout({ state: "s" });
  client.dispose();
  const decoded = decodeJwt(token);
  const header: Record<string, unknown> = decoded.header;
  const options: VerifyOptions = { jwks: { keys: [] }, issuer: "i", audience: ["a"], nowSeconds: 1 };
  const claims: Record<string, unknown> = await verifyJwt(token, options);
  try { await client.refresh(); } catch (e: unknown) {
    if (isHelseIdError(e)) {
      const err: HelseIdError = e;
      const code: HelseIdErrorCode = err.code;
      const retry: boolean = err.retryable;
      void code; void retry;
    }
  }
  // The attest has only the members HelseID defines (finding 13): no index signatures.
  const attest: HelseIdContext = { trustFramework: {
    practitioner: { legal_entity: { id: "912345678", name: "Lege Leif Lagesen ENK" }, point_of_care: { id: "998877665" } },
    care_relationship: { purpose_of_use: { code: "TREAT", text: "Behandling" }, decision_ref: { user_selected: true } },
    patients: [{ point_of_care: { id: "998877665" }, department: { id: "705592", authority: "https://www.nhn.no" } }],
  } };
  const extra: HelseIdContext = { trustFramework: {
    // @ts-expect-error nickname is not a member of the attest
    practitioner: { legal_entity: { id: "912345678" }, point_of_care: { id: "998877665" }, nickname: "Doc" },
    care_relationship: { purpose_of_use: { code: "TREAT" } },
  } };
  void attest; void extra;
  const v: string = version();
  void response; void refreshed; void current; void header; void claims; void v;
}
