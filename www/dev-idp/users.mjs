// Test users of the local HelseID test double. All identities are synthetic (Tenor-style test
// fødselsnummer: month + 80, valid mod-11 check digits); none of them is a real person.
import { createHash } from 'node:crypto';

/** Like HelseID, `sub` is the pid pseudonym: standard base64 (may contain '+', '/', '='). */
export function pidPseudonym(pid) {
  return createHash('sha256').update(`helseid-test-double|pid|${pid}`).digest('base64');
}

const RAW_USERS = [
  {
    key: 'kvart',
    pid: '06828399789',
    hpr: '565501872',
    given_name: 'KVART',
    middle_name: '',
    family_name: 'GREVLING',
    security_level: '4',
    assurance_level: 'high',
  },
  {
    key: 'lege2',
    pid: '14867912305',
    hpr: '431001110',
    given_name: 'LINE',
    middle_name: '',
    family_name: 'LEGESEN',
    security_level: '4',
    assurance_level: 'high',
  },
  {
    key: 'niva3',
    pid: '21927245628',
    hpr: undefined, // not health personnel: no HPR number claim at all
    given_name: 'NILS',
    middle_name: '',
    family_name: 'NIVÅTRE',
    security_level: '3',
    assurance_level: 'substantial',
  },
];

export const USERS = RAW_USERS.map((u) => Object.freeze({
  ...u,
  name: [u.given_name, u.middle_name, u.family_name].filter(Boolean).join(' '),
  sub: pidPseudonym(u.pid),
}));

/** Find a test user by key, pid, HPR number or sub (what `login_hint` may carry). */
export function findUser(hint) {
  if (hint === undefined || hint === null) return undefined;
  const h = String(hint).trim();
  return USERS.find((u) => u.key === h || u.pid === h || u.hpr === h || u.sub === h);
}

export function findUserBySub(sub) {
  return USERS.find((u) => u.sub === sub);
}

/** HelseID identity claims of a user (claim name -> value), undefined values left out. */
export function identityClaims(user) {
  const out = {
    'helseid://claims/identity/pid': user.pid,
    'helseid://claims/identity/pid_pseudonym': user.sub,
    'helseid://claims/identity/security_level': user.security_level,
    'helseid://claims/identity/assurance_level': user.assurance_level,
    'helseid://claims/hpr/hpr_number': user.hpr,
    name: user.name,
    given_name: user.given_name,
    middle_name: user.middle_name,
    family_name: user.family_name,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}
