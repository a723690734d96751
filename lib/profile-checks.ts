import type * as client from 'openid-client';

import type { ConfigProblem } from './errors';
import type { ClientKey } from './keys';
import type { ProtocolProfile } from './protocol-profile';

/**
 * The protocol profile (./protocol-profile.ts) against what the provider publishes and the key the
 * client signs with: checked once at discovery, so that a provider or key that cannot do what the
 * settings ask stops the app with one message naming the setting, instead of failing each sign-in.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2 (authorization server metadata)
 * @see https://www.rfc-editor.org/rfc/rfc9126#section-5 (PAR metadata)
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-5.1 (DPoP metadata)
 * @see https://www.rfc-editor.org/rfc/rfc9207#section-3 (iss parameter metadata)
 */
export function findProfileIncompatibilities(
  metadata: client.ServerMetadata,
  signing: Pick<ClientKey, 'alg' | 'kid'>,
  protocol: ProtocolProfile,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const fapi2 = protocol.profile === 'fapi2';
  const parSetting = fapi2 ? 'OIDC_PROFILE' : 'OIDC_PAR';
  if (protocol.par === 'on' && !metadata.pushed_authorization_request_endpoint) {
    problems.push({
      variable: parSetting,
      message:
        `${fapi2 ? 'fapi2' : 'true'} pushes authorization requests, but the provider has no ` +
        'pushed_authorization_request_endpoint (RFC 9126 §5)',
      fix: fapi2 ? 'use a provider with PAR' : 'enable PAR at the provider, or set OIDC_PAR=false',
    });
  }
  if (protocol.par === 'off' && metadata.require_pushed_authorization_requests === true) {
    problems.push({
      variable: 'OIDC_PAR',
      message:
        'false, but the provider requires pushed authorization requests ' +
        '(require_pushed_authorization_requests)',
      fix: 'remove OIDC_PAR (PAR is then used because the provider requires it)',
    });
  }
  const dpopAlgs = metadata.dpop_signing_alg_values_supported;
  if (protocol.dpop.enabled && Array.isArray(dpopAlgs)) {
    const names = protocol.dpop.alg === 'EdDSA' ? ['EdDSA', 'Ed25519'] : [protocol.dpop.alg];
    if (!names.some((name) => dpopAlgs.includes(name))) {
      problems.push({
        variable: 'OIDC_DPOP_ALG',
        message:
          `DPoP proofs would be signed with ${protocol.dpop.alg}, but the provider accepts only ` +
          `${dpopAlgs.join(', ')} (dpop_signing_alg_values_supported)`,
        fix: 'set OIDC_DPOP_ALG to ES256 or EdDSA, whichever the provider lists',
      });
    }
  }
  if (
    protocol.requireIssParameter &&
    metadata.authorization_response_iss_parameter_supported !== true
  ) {
    problems.push({
      variable: 'OIDC_PROFILE',
      message:
        'fapi2 requires the iss parameter in authorization responses (RFC 9207), but the ' +
        'provider does not advertise authorization_response_iss_parameter_supported',
      fix: 'use a provider that sends iss in its authorization responses',
    });
  }
  if (protocol.assertionAlgs && !protocol.assertionAlgs.includes(signing.alg)) {
    problems.push({
      variable: 'OIDC_CLIENT_AUTH_ALG',
      message:
        `the client signs its assertions with ${signing.alg} (key ${signing.kid}), which ` +
        `OIDC_PROFILE=fapi2 does not allow (only ${protocol.assertionAlgs.join(', ')})`,
      fix:
        signing.alg === 'RS256'
          ? 'set OIDC_CLIENT_AUTH_ALG=PS256 (the same RSA key signs it), ' +
            'or use an EC P-256 or Ed25519 key'
          : 'use an EC P-256 (ES256) or Ed25519 (EdDSA) key, or an RSA key with PS256',
    });
  }
  return problems;
}
