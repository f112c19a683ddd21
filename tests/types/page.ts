// Type-checks the thin page's .d.ts (helseid-wasm/page): the same names and shapes as the whole
// package, `init()` with nothing to load.
import init, { HelseIdClient, decodeJwt, verifyJwt, isHelseIdError, version } from "../../pkg/helseid_wasm_page.js";
import type { HelseIdConfig, Session, AuthHeaders } from "../../pkg/helseid_wasm_page.js";

export async function thin(config: HelseIdConfig): Promise<void> {
  const loaded: void = await init();
  const client: HelseIdClient = await HelseIdClient.create({ ...config, sessionHost: "worker" });
  const session: Session | null = client.session();
  const headers: AuthHeaders = await client.authHeaders("https://sfm.example/api", { method: "post" });
  const claims: Record<string, unknown> = decodeJwt("a.b.c").claims;
  const verified: Record<string, unknown> = await verifyJwt("a.b.c", { jwks: { keys: [] }, issuer: "i", audience: "a" });
  const v: string = version();
  void loaded; void session; void headers; void claims; void verified; void v; void isHelseIdError;
}
