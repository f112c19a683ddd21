// Size + start-up entry: what a HelseID SPA on oauth4webapi imports (code flow + PKCE, PAR, DPoP,
// private_key_jwt, refresh) plus jose's jwtVerify to check tokens, the way oauth4webapi users do.
export {
  discoveryRequest,
  processDiscoveryResponse,
  generateRandomCodeVerifier,
  calculatePKCECodeChallenge,
  generateRandomState,
  generateRandomNonce,
  generateKeyPair,
  pushedAuthorizationRequest,
  processPushedAuthorizationResponse,
  validateAuthResponse,
  authorizationCodeGrantRequest,
  processAuthorizationCodeResponse,
  refreshTokenGrantRequest,
  processRefreshTokenResponse,
  isDPoPNonceError,
  DPoP,
  PrivateKeyJwt,
  modifyAssertion,
  allowInsecureRequests,
} from 'oauth4webapi';
export { jwtVerify, createRemoteJWKSet, createLocalJWKSet } from 'jose';
