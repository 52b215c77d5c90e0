import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ArmError } from './ids.ts';
import { header, type ArmRequest, type ArmResponse, type World } from './world.ts';

/*
 * The Azure AD side: the OpenID metadata and client-credentials token endpoint
 * that @azure/identity (MSAL) uses with authorityHost = the emulator, and the
 * bearer check on ARM requests. Tokens are HS256 JWTs signed with a key the
 * emulator keeps (in the state dir for the standalone runner), so they stay
 * valid across a restart, as real tokens do.
 */

const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

export class TokenIssuer {
  private readonly signingKey: Buffer;
  readonly lifetimeSeconds: number;

  constructor(signingKey: Buffer = randomBytes(32), lifetimeSeconds = 3600) {
    this.signingKey = signingKey;
    this.lifetimeSeconds = lifetimeSeconds;
  }

  private sign(data: string): string {
    return createHmac('sha256', this.signingKey).update(data).digest('base64url');
  }

  issue(claims: Record<string, unknown>): string {
    const now = Math.floor(Date.now() / 1000);
    const body = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ ...claims, iat: now, nbf: now, exp: now + this.lifetimeSeconds, jti: randomUUID() })}`;
    return `${body}.${this.sign(body)}`;
  }

  /** The token's claims when it is ours and current; undefined otherwise. */
  verify(token: string): Record<string, unknown> | undefined {
    const [h, p, s] = token.split('.');
    if (h === undefined || p === undefined || s === undefined) return undefined;
    const want = Buffer.from(this.sign(`${h}.${p}`));
    const got = Buffer.from(s);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
    return typeof claims['exp'] === 'number' && claims['exp'] > Date.now() / 1000 ? claims : undefined;
  }
}

function requireTenant(w: World, tenant: string): void {
  if (tenant !== w.config.tenantId) throw new ArmError(400, 'invalid_tenant', `Tenant '${tenant}' not found.`);
}

export function openIdConfiguration(endpoint: string, w: World, tenant: string): ArmResponse {
  requireTenant(w, tenant);
  const base = `${endpoint}/${tenant}`;
  return {
    status: 200,
    body: {
      issuer: `${base}/v2.0`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      tenant_region_scope: null,
      cloud_instance_name: 'emulator',
    },
  };
}

const tokenRequestSchema = z.object({
  grant_type: z.literal('client_credentials'),
  client_id: z.string().min(1),
  scope: z.string().min(1),
  client_secret: z.string().min(1).optional(),
  client_assertion: z.string().min(1).optional(),
}).refine((r) => r.client_secret !== undefined || r.client_assertion !== undefined, 'client_secret or client_assertion is required');

/** POST /{tenant}/oauth2/v2.0/token: the client-credentials grant (secret or federated assertion). */
export function issueToken(w: World, issuer: TokenIssuer, tenant: string, req: ArmRequest): ArmResponse {
  requireTenant(w, tenant);
  const form = Object.fromEntries(new URLSearchParams(req.body));
  const r = tokenRequestSchema.safeParse(form);
  if (!r.success) {
    return { status: 400, body: { error: 'invalid_request', error_description: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') } };
  }
  const resource = r.data.scope.split(' ')[0]?.replace(/\/?\.default$/, '') ?? '';
  const accessToken = issuer.issue({ aud: resource, iss: `${req.base}/${tenant}/`, tid: tenant, appid: r.data.client_id, sub: r.data.client_id });
  return {
    status: 200,
    body: { token_type: 'Bearer', expires_in: issuer.lifetimeSeconds, ext_expires_in: issuer.lifetimeSeconds, access_token: accessToken },
  };
}

/** ARM answers 401 to a request without a current token of this emulator. */
export function requireBearer(w: World, issuer: TokenIssuer, req: ArmRequest): void {
  const auth = header(req, 'authorization') ?? '';
  const m = /^Bearer (\S+)$/i.exec(auth);
  if (!m?.[1]) throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
  const claims = issuer.verify(m[1]);
  if (!claims || claims['tid'] !== w.config.tenantId) {
    throw new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid or has expired.');
  }
}
