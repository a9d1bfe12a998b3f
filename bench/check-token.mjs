// Fetch one client_credentials token and check it is what the benchmark
// claims to measure: a compact JWS with header alg ES256, typ at+jwt, a kid
// found in the server's JWKS, a 64-byte (86-character) signature that
// verifies against that key, and the expected aud and scope.
//
//   node bench/check-token.mjs TOKEN_URL JWKS_URL BASIC_B64 RESOURCE
//
// Prints the header and claims and exits 0, or says what is wrong and exits 1.
import * as crypto from 'node:crypto';

const [tokenUrl, jwksUrl, basic, resource] = process.argv.slice(2);
const fail = (msg) => { console.error(`check-token: ${msg}`); process.exit(1); };
const b64json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));

const signal = AbortSignal.timeout(5000);
const res = await fetch(tokenUrl, {
	method: 'POST',
	signal,
	headers: {
		authorization: `Basic ${basic}`,
		'content-type': 'application/x-www-form-urlencoded',
	},
	body: 'grant_type=client_credentials&scope=mcp%3Aread',
});
const body = await res.json();
if (res.status !== 200 || typeof body.access_token !== 'string')
	fail(`token request: HTTP ${res.status} ${JSON.stringify(body)}`);
const parts = body.access_token.split('.');
if (parts.length !== 3)
	fail('not a compact JWS');
const header = b64json(parts[0]);
const claims = b64json(parts[1]);
if (header.alg !== 'ES256' || header.typ !== 'at+jwt')
	fail(`header ${JSON.stringify(header)}`);
if (parts[2].length !== 86)
	fail(`signature is ${parts[2].length} characters, not 86`);
if (claims.aud !== resource || claims.scope !== 'mcp:read')
	fail(`claims ${JSON.stringify(claims)}`);

const jwks = await (await fetch(jwksUrl, { signal })).json();
const jwk = jwks.keys.find((k) => k.kid === header.kid);
if (!jwk)
	fail(`kid ${header.kid} not in ${jwksUrl}`);
const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
const ok = crypto.verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key, dsaEncoding: 'ieee-p1363' },
	Buffer.from(parts[2], 'base64url'));
if (!ok)
	fail('signature does not verify');
console.log(`  header ${JSON.stringify(header)}`);
console.log(`  claims ${JSON.stringify(claims)}`);
console.log(`  ${body.access_token.length}-byte token, signature verified with the JWKS`);
