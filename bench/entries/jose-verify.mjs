// Verification benchmark only: jose's jwtVerify with a local JWKS.
export { jwtVerify, createLocalJWKSet } from 'jose';
