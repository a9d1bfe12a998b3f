// The comparison peer of bench/run.sh: a minimal oidc-provider 9 issuing the
// same client_credentials tokens as mcpgate (ES256 JWT access tokens for one
// resource, scope mcp:read), on 127.0.0.1.
//
//   node bench/oidc-provider.mjs PORT RESOURCE CLIENT_ID CLIENT_SECRET
//
// Prints "ready" on stdout once listening.  Everything is in memory.
import * as crypto from 'node:crypto';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const { default: Provider } = await import(require.resolve('oidc-provider'));

const [port, resource, clientId, clientSecret] = process.argv.slice(2);
if (!port || !resource || !clientId || !clientSecret) {
	console.error('usage: oidc-provider.mjs PORT RESOURCE CLIENT_ID CLIENT_SECRET');
	process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'ES256' };

const provider = new Provider(issuer, {
	jwks: { keys: [jwk] },
	cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
	clients: [{
		client_id: clientId,
		client_secret: clientSecret,
		grant_types: ['client_credentials'],
		response_types: [],
		redirect_uris: [],
		token_endpoint_auth_method: 'client_secret_basic',
		id_token_signed_response_alg: 'ES256',
		scope: 'mcp:read',
	}],
	scopes: ['mcp:read'],
	ttl: { ClientCredentials: 600 },
	features: {
		devInteractions: { enabled: false },
		clientCredentials: { enabled: true },
		resourceIndicators: {
			enabled: true,
			defaultResource: () => resource,
			useGrantedResource: () => true,
			getResourceServerInfo: (_ctx, indicator) => {
				if (indicator !== resource)
					throw new Provider.errors.InvalidTarget();
				return {
					scope: 'mcp:read',
					audience: resource,
					accessTokenTTL: 600,
					accessTokenFormat: 'jwt',
					jwt: { sign: { alg: 'ES256' } },
				};
			},
		},
	},
	// Production-like: no debug details in error bodies.
	renderError: (ctx, out) => { ctx.type = 'json'; ctx.body = out; },
});

// Errors are counted by the load generator; logging each would only slow the
// peer down.
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
