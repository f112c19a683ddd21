// What the demo page knows about the local HelseID test double (www/dev-idp/), for its pickers.
// The page cannot import the double's Node modules, so these are copies; tests/e2e/demo.test.mjs
// compares them with signer.mjs (EPJ_USERS, TEST_JOURNALS) and provider.mjs (TEST_CLIENT_DEFS) so
// they cannot drift apart unnoticed. Everything here is synthetic test data.

/** The test clients of the double and their tenancy (provider.mjs TEST_CLIENT_DEFS). */
export const LOCAL_CLIENTS = Object.freeze({
  'helseid-wasm-rs256': { tenancy: 'single', ownOrg: '910000001' },
  'helseid-wasm-es256': { tenancy: 'single', ownOrg: '910000001' },
  'helseid-wasm-multi': { tenancy: 'multi' },
});

/**
 * The demo EPJ's users and what each may act for (signer.mjs EPJ_USERS): the backend signer
 * refuses anything else. `pid` ties them to the HelseID test users (users.mjs). `password`: TEST
 * ONLY, the double's demo password (signer.mjs EPJ_TEST_PASSWORDS), pre-filled on the page.
 */
export const LOCAL_EPJ_USERS = Object.freeze({
  kvart: {
    pid: '06828399789',
    password: 'kvart-test-only-password',
    organizations: [
      { parent: '910000001', children: ['910000011', '910000012', '910000099'] },
      { parent: '920000001', children: ['920000011', '920000012', '920000099'] },
      { parent: '920000002', children: ['920000021'] },
      { parent: '920000009', children: [] },
      { parent: '920000003', children: [] },
    ],
    journalIds: ['5f0c3b8e-2d4a-4c1e-9b7a-1a2b3c4d5e01', '5f0c3b8e-2d4a-4c1e-9b7a-1a2b3c4d5e02'],
  },
  lege2: {
    pid: '14867912305',
    password: 'lege2-test-only-password',
    organizations: [
      { parent: '910000001', children: ['910000012'] },
      { parent: '920000002', children: ['920000021'] },
    ],
    journalIds: ['5f0c3b8e-2d4a-4c1e-9b7a-1a2b3c4d5e03'],
  },
  niva3: { pid: '21927245628', password: 'niva3-test-only-password', organizations: [], journalIds: [] },
});

/**
 * The user may act for these, but the double's OP refuses them on purpose (dev-idp README,
 * "Context"), so that the page can show HelseID's answers. Keyed by tenancy, then parent:child.
 */
export const ORG_NOTES = Object.freeze({
  single: { '910000001:910000099': 'not on the client’s list: HID-1002' },
  multi: {
    '910000001:': 'not a parent of this client: HID-1001',
    '920000001:920000099': 'child not on the client’s list: HID-1002',
    '920000009:': 'terms not accepted: rejected_scope',
    '920000003:': 'not on the client’s list: HID-1001',
  },
});

/** The EPJ user (key and allow-list) with this pid, or undefined. */
export function epjUserByPid(pid) {
  const entry = Object.entries(LOCAL_EPJ_USERS).find(([, u]) => u.pid === pid);
  return entry ? { key: entry[0], ...entry[1] } : undefined;
}

/**
 * The organisation choices for a client of `tenancy`: [{ parent, child, label, note }].
 * Single-tenant clients name only a child of their own organisation; multi-tenant clients name a
 * parent alone or parent + child (API.md "Organisation, journal and patient context").
 */
export function organisationChoices(user, tenancy, ownOrg) {
  const out = [];
  for (const { parent, children } of user?.organizations ?? []) {
    if (tenancy === 'single') {
      if (ownOrg && parent !== ownOrg) continue;
      for (const child of children) out.push({ parent: '', child, label: `${child} (under ${parent})`, note: ORG_NOTES.single[`${parent}:${child}`] });
    } else {
      out.push({ parent, child: '', label: `${parent}`, note: ORG_NOTES.multi[`${parent}:`] });
      for (const child of children) out.push({ parent, child, label: `${parent} › ${child}`, note: ORG_NOTES.multi[`${parent}:${child}`] });
    }
  }
  return out;
}
