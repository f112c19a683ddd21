// Names and numbers the panels share: claim names, resources, the trust framework's code
// systems (shared/helseid/README.md, "Context") and the timing the client is created with.

export const SFM_ID_CLAIM = 'e-helse:sfm.api/client/claims/sfm-id';
export const JOURNAL_ID_CLAIM = 'nhn:sfm:journal-id';
export const ORGNR_PARENT_CLAIM = 'helseid://claims/client/claims/orgnr_parent';
export const ORGNR_CHILD_CLAIM = 'helseid://claims/client/claims/orgnr_child';
export const ATTEST_CLAIM = 'nhn:tillitsrammeverk:parameters';
export const SFM_RESOURCE = 'e-helse:sfm.api';
export const KJ_RESOURCE = 'nhn:kjernejournal';
/** The library's default attestResources: only tokens for these carry the attest. */
export const ATTEST_RESOURCES = ['nhn:kjernejournal', 'nhn:phr'];
export const ORGNR_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.4.101';
export const PURPOSE_OF_USE_SYSTEM = 'urn:oid:2.16.840.1.113883.1.11.20448';
export const HEALTHCARE_SERVICE_SYSTEM = 'urn:oid:2.16.578.1.12.4.1.1.8666';
export const SOURCE_SYSTEM = 'helseid-wasm demo';
export const REFRESH_LEEWAY_SECONDS = 30;
export const CLOCK_TOLERANCE_SECONDS = 30;
