// Per-instance in-memory storage adapter for oidc-provider (one store per double, so several
// doubles in one process never share state, and the library's "in-memory adapter" warning is not
// printed). Follows oidc-provider's adapter interface: upsert, find, findByUid, findByUserCode,
// consume, destroy, revokeByGrantId.

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

export function createMemoryAdapter() {
  /** key -> { value, expiresAt } */
  const store = new Map();
  /** grantId -> Set(key) */
  const grants = new Map();

  const now = () => Date.now();
  function get(key) {
    const e = store.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== undefined && e.expiresAt <= now()) {
      store.delete(key);
      return undefined;
    }
    return e.value;
  }
  function set(key, value, expiresIn) {
    store.set(key, {
      value,
      expiresAt: typeof expiresIn === 'number' ? now() + expiresIn * 1000 : undefined,
    });
  }

  class Adapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      if (this.model === 'Session' && payload.uid) set(`sessionUid:${payload.uid}`, id, expiresIn);
      if (payload.userCode) set(`userCode:${payload.userCode}`, id, expiresIn);
      if (GRANTABLE.has(this.model) && payload.grantId) {
        if (!grants.has(payload.grantId)) grants.set(payload.grantId, new Set());
        grants.get(payload.grantId).add(key);
      }
      set(key, payload, expiresIn);
    }

    async find(id) {
      return get(this.key(id));
    }

    async findByUid(uid) {
      const id = get(`sessionUid:${uid}`);
      return id === undefined ? undefined : this.find(id);
    }

    async findByUserCode(userCode) {
      const id = get(`userCode:${userCode}`);
      return id === undefined ? undefined : this.find(id);
    }

    async consume(id) {
      const value = get(this.key(id));
      if (value) value.consumed = Math.floor(now() / 1000);
    }

    async destroy(id) {
      const key = this.key(id);
      const value = get(key);
      store.delete(key);
      if (value?.grantId) grants.get(value.grantId)?.delete(key);
    }

    async revokeByGrantId(grantId) {
      const keys = grants.get(grantId);
      if (!keys) return;
      for (const key of keys) store.delete(key);
      grants.delete(grantId);
    }
  }

  return {
    adapter: Adapter,
    clear() {
      store.clear();
      grants.clear();
    },
    size: () => store.size,
    /** Revokes every grant (its codes, access and refresh tokens): a test's "refresh token rejected". */
    revokeAllGrants() {
      for (const [grantId, keys] of grants) {
        for (const key of keys) store.delete(key);
        grants.delete(grantId);
      }
    },
  };
}
