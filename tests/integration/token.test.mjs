// The token endpoint: the authorization_code grant (JWT access tokens per
// RFC 9068, single-use codes bound to client, redirect URI, PKCE verifier
// and resource), client_credentials, and the endpoint's error answers.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';

import {
	CookieJar, DEFAULT_REDIRECT_URI, authorizeInteractively, authorizeUrl, codeFlow, decodeJwt,
	pkce, randomToken, registerClient, request, sleep, startServer, verifyJwt,
} from './lib/mcpgate.mjs';
import {
	adminClient, assertOAuthError, assertTokenOk, introspectJson, refresh, serviceClient,
	tokenRequest,
} from './lib/tokens.mjs';

const R1 = 'https://mcp.example.com/one';
const R2 = 'https://mcp.example.com/two';

// Registers a public code-flow client with the harness's redirect URI.
async function publicClient(server) {
	const reg = await registerClient(server);
	assert.equal(reg.status, 201, reg.text);
	return reg.json;
}

// Runs the browser part of the flow only: resolves {code, pkce}.
async function getCode(server, client, { scope = 'mcp:read', resource = R1, jar } = {}) {
	const p = pkce();
	const redirect = await authorizeInteractively({
		authorizeUrl: authorizeUrl(server, {
			response_type: 'code',
			client_id: client.client_id,
			redirect_uri: DEFAULT_REDIRECT_URI,
			scope,
			resource,
			state: randomToken(8),
			code_challenge: p.challenge,
			code_challenge_method: 'S256',
		}),
		username: server.username,
		password: server.password,
		jar,
	});
	const code = redirect.searchParams.get('code');
	assert.ok(code, `no code in ${redirect.href}`);
	return { code, pkce: p };
}

function exchange(server, client, code, verifier, extra = {}) {
	return tokenRequest(server, client, {
		grant_type: 'authorization_code',
		code,
		redirect_uri: DEFAULT_REDIRECT_URI,
		code_verifier: verifier,
		resource: R1,
		...extra,
	});
}

describe('token endpoint', { timeout: 60000 }, () => {
	let server, svc, sub;
	const jar = new CookieJar();	// one browser session for every flow

	before(async () => {
		server = await startServer({ config: { resources: [R1, R2] } });
		svc = await serviceClient(server);
		const users = await server.admin(['user', 'list']);
		assert.equal(users.code, 0, users.stderr);
		sub = users.json.find((u) => u.username === server.username).sub;
		assert.equal(typeof sub, 'string');
	});
	after(async () => {
		await server?.cleanup();
	});

	describe('authorization_code', () => {
		test('issues an RFC 9068 access token signed with a published ES256 key', async () => {
			const t0 = Math.floor(Date.now() / 1000);
			const f = await codeFlow(server, { scope: 'mcp:read mcp:write', resource: R1, jar });
			const t1 = Math.floor(Date.now() / 1000);
			const body = assertTokenOk(f.token);
			assert.equal(body.expires_in, 600);
			assert.equal(body.scope, 'mcp:read mcp:write');
			assert.equal(typeof body.refresh_token, 'string');
			assert.ok(body.refresh_token.length >= 32);

			const jwks = await request(server.metadata.jwks_uri);
			assert.equal(jwks.status, 200);
			const { header, payload, jwk } = await verifyJwt(body.access_token, jwks.json);
			assert.equal(header.typ, 'at+jwt');
			assert.equal(header.alg, 'ES256');
			assert.equal(typeof header.kid, 'string');
			assert.ok(jwks.json.keys.some((k) => k.kid === header.kid));
			assert.equal(jwk.kid, header.kid);
			assert.equal(payload.iss, server.issuer);
			assert.equal(payload.sub, sub);
			assert.equal(payload.aud, R1);
			assert.equal(payload.client_id, f.client.client_id);
			assert.equal(payload.scope, 'mcp:read mcp:write');
			assert.ok(Number.isInteger(payload.iat) && payload.iat >= t0 - 1 && payload.iat <= t1 + 1,
			    `iat ${payload.iat} not in [${t0}, ${t1}]`);
			assert.equal(payload.exp, payload.iat + 600);
			assert.match(payload.jti, /^[A-Za-z0-9_-]{16,}$/);

			// A second token has its own jti.
			const again = await codeFlow(server, { scope: 'mcp:read', resource: R1, jar });
			assert.notEqual(decodeJwt(assertTokenOk(again.token).access_token).payload.jti, payload.jti);

			const intro = await introspectJson(server, svc, body.access_token);
			assert.equal(intro.active, true);
			assert.equal(intro.sub, sub);
			assert.equal(intro.client_id, f.client.client_id);
			assert.equal(intro.scope, 'mcp:read mcp:write');
			assert.equal(intro.aud, R1);
			assert.equal(intro.exp, payload.exp);
		});

		test('a code works once; its second use fails and revokes the first use\'s tokens', async () => {
			const client = await publicClient(server);
			const { code, pkce: p } = await getCode(server, client, { jar });
			const first = assertTokenOk(await exchange(server, client, code, p.verifier));
			assert.equal((await introspectJson(server, svc, first.access_token)).active, true);

			const second = await exchange(server, client, code, p.verifier);
			assertOAuthError(second, 400, 'invalid_grant', 'replayed code');

			assert.equal((await introspectJson(server, svc, first.access_token)).active, false);
			assert.equal((await introspectJson(server, svc, first.refresh_token)).active, false);
			assertOAuthError(await refresh(server, client, first.refresh_token), 400, 'invalid_grant',
			    'refresh token of a replayed code');
		});

		test('concurrent exchanges of one code: exactly one succeeds', async () => {
			const client = await publicClient(server);
			for (let round = 0; round < 5; round++) {
				const { code, pkce: p } = await getCode(server, client, { jar });
				const n = 2 + round;
				const rs = await Promise.all(Array.from({ length: n },
				    () => exchange(server, client, code, p.verifier)));
				const ok = rs.filter((r) => r.status === 200);
				assert.equal(ok.length, 1, rs.map((r) => `${r.status} ${r.text}`).join(' | '));
				for (const r of rs.filter((x) => x.status !== 200))
					assertOAuthError(r, 400, 'invalid_grant', `round ${round}`);
			}
		});

		test('a wrong code_verifier fails and neither burns the code nor revokes anything', async () => {
			const client = await publicClient(server);
			const { code, pkce: p } = await getCode(server, client, { jar });
			for (let i = 0; i < 2; i++)
				assertOAuthError(await exchange(server, client, code, pkce().verifier), 400,
				    'invalid_grant', 'wrong verifier');
			const ok = assertTokenOk(await exchange(server, client, code, p.verifier));
			assert.equal((await introspectJson(server, svc, ok.access_token)).active, true);
			// ... and the code is now used up.
			assertOAuthError(await exchange(server, client, code, p.verifier), 400, 'invalid_grant');
		});

		test('a malformed code_verifier is refused with invalid_grant', async () => {
			const client = await publicClient(server);
			const { code, pkce: p } = await getCode(server, client, { jar });
			for (const bad of ['short', 'x'.repeat(129), `${p.verifier.slice(0, 43)}!`]) {
				assertOAuthError(await exchange(server, client, code, bad), 400, 'invalid_grant',
				    `verifier ${bad}`);
			}
			assertTokenOk(await exchange(server, client, code, p.verifier));
		});

		test('a wrong redirect_uri fails without burning the code', async () => {
			const client = await publicClient(server);
			const { code, pkce: p } = await getCode(server, client, { jar });
			for (const uri of ['http://127.0.0.1:9/other', 'http://127.0.0.1:10/callback',
			    `${DEFAULT_REDIRECT_URI}/`, `${DEFAULT_REDIRECT_URI}?x=1`]) {
				assertOAuthError(await exchange(server, client, code, p.verifier, { redirect_uri: uri }),
				    400, 'invalid_grant', `redirect_uri ${uri}`);
			}
			assertTokenOk(await exchange(server, client, code, p.verifier));
		});

		test('another client cannot use the code, and does not burn it', async () => {
			const client = await publicClient(server);
			const other = await publicClient(server);
			const { code, pkce: p } = await getCode(server, client, { jar });
			assertOAuthError(await exchange(server, other, code, p.verifier), 400, 'invalid_grant',
			    'other public client');
			// A confidential client authenticating properly fares no better.
			const conf = await adminClient(server, ['--name', 'conf', '--grant', 'authorization_code',
			    '--redirect-uri', DEFAULT_REDIRECT_URI]);
			assertOAuthError(await exchange(server, conf, code, p.verifier), 400, 'invalid_grant',
			    'other confidential client');
			const ok = assertTokenOk(await exchange(server, client, code, p.verifier));
			assert.equal(decodeJwt(ok.access_token).payload.client_id, client.client_id);
		});

		test('missing code_verifier, code or redirect_uri is invalid_request', async () => {
			const client = await publicClient(server);
			const { code, pkce: p } = await getCode(server, client, { jar });
			assertOAuthError(await exchange(server, client, code, undefined), 400, 'invalid_request',
			    'no code_verifier');
			assertOAuthError(await exchange(server, client, undefined, p.verifier), 400, 'invalid_request',
			    'no code');
			assertOAuthError(await exchange(server, client, code, p.verifier, { redirect_uri: undefined }),
			    400, 'invalid_request', 'no redirect_uri');
			assertTokenOk(await exchange(server, client, code, p.verifier));
		});

		test('an unknown code is invalid_grant', async () => {
			const client = await publicClient(server);
			assertOAuthError(await exchange(server, client, randomToken(32), pkce().verifier), 400,
			    'invalid_grant');
			assertOAuthError(await exchange(server, client, 'x'.repeat(300), pkce().verifier), 400,
			    'invalid_grant');
		});

		test('a resource other than the authorized one is invalid_target', async () => {
			const client = await publicClient(server);
			const { code, pkce: p } = await getCode(server, client, { resource: R1, jar });
			assertOAuthError(await exchange(server, client, code, p.verifier, { resource: R2 }), 400,
			    'invalid_target', 'other configured resource');
			const c2 = await getCode(server, client, { resource: R1, jar });
			assertOAuthError(await exchange(server, client, c2.code, c2.pkce.verifier,
			    { resource: 'https://unknown.example.com/mcp' }), 400, 'invalid_target', 'unknown resource');
			// Without resource, the token is for the authorized one.
			const c3 = await getCode(server, client, { resource: R2, jar });
			const ok = assertTokenOk(await exchange(server, client, c3.code, c3.pkce.verifier,
			    { resource: undefined }));
			assert.equal(decodeJwt(ok.access_token).payload.aud, R2);
		});

		test('a public client must not present a secret', async () => {
			const client = await publicClient(server);
			const { code, pkce: p } = await getCode(server, client, { jar });
			const r = await request(server.metadata.token_endpoint, {
				method: 'POST',
				basic: [client.client_id, 'made-up-secret'],
				form: { grant_type: 'authorization_code', code, redirect_uri: DEFAULT_REDIRECT_URI,
				    code_verifier: p.verifier },
			});
			assertOAuthError(r, 401, 'invalid_client');
			assert.match(r.headers['www-authenticate'] ?? '', /^Basic /);
			assertTokenOk(await exchange(server, client, code, p.verifier));
		});
	});

	describe('client_credentials', () => {
		const cc = (extra = {}) => ({ grant_type: 'client_credentials', resource: R1, ...extra });

		test('client_secret_basic: a token for the client itself, without refresh token', async () => {
			const r = await tokenRequest(server, svc, cc());
			const body = assertTokenOk(r);
			assert.equal(body.refresh_token, undefined);
			assert.equal(body.scope, 'mcp:read mcp:write');
			assert.equal(body.expires_in, 600);
			const { header, payload } = await verifyJwt(body.access_token, server.metadata.jwks_uri);
			assert.equal(header.typ, 'at+jwt');
			assert.equal(payload.sub, svc.client_id);
			assert.equal(payload.client_id, svc.client_id);
			assert.equal(payload.aud, R1);
			assert.equal(payload.iss, server.issuer);
			assert.equal(payload.scope, 'mcp:read mcp:write');
			assert.equal(payload.exp, payload.iat + 600);
		});

		test('client_secret_post works too', async () => {
			const body = assertTokenOk(await tokenRequest(server,
			    { ...svc, token_endpoint_auth_method: 'client_secret_post' }, cc({ resource: R2 })));
			assert.equal(decodeJwt(body.access_token).payload.aud, R2);
			assert.equal(body.refresh_token, undefined);
		});

		test('Basic credentials are form-urldecoded (RFC 6749 2.3.1)', async () => {
			const pct = (s) => [...Buffer.from(s)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
			const hdr = `Basic ${Buffer.from(`${pct(svc.client_id)}:${pct(svc.client_secret)}`).toString('base64')}`;
			const r = await request(server.metadata.token_endpoint, {
				method: 'POST', headers: { authorization: hdr }, form: cc(),
			});
			assert.equal(decodeJwt(assertTokenOk(r).access_token).payload.sub, svc.client_id);
			// An encoded secret that decodes to something else fails.
			const hdr2 = `Basic ${Buffer.from(`${svc.client_id}:${pct(svc.client_secret)}%41`).toString('base64')}`;
			const r2 = await request(server.metadata.token_endpoint, {
				method: 'POST', headers: { authorization: hdr2 }, form: cc(),
			});
			assertOAuthError(r2, 401, 'invalid_client');
		});

		test('scope is cut to the client\'s scopes', async () => {
			let body = assertTokenOk(await tokenRequest(server, svc, cc({ scope: 'mcp:read mcp:jira' })));
			assert.equal(body.scope, 'mcp:read');
			assert.equal(decodeJwt(body.access_token).payload.scope, 'mcp:read');
			body = assertTokenOk(await tokenRequest(server, svc, cc({ scope: 'mcp:write' })));
			assert.equal(body.scope, 'mcp:write');
			assertOAuthError(await tokenRequest(server, svc, cc({ scope: 'mcp:jira' })), 400, 'invalid_scope');
			assertOAuthError(await tokenRequest(server, svc, cc({ scope: 'no:such:scope' })), 400,
			    'invalid_scope');
		});

		test('a wrong secret is 401 invalid_client with a Basic challenge', async () => {
			const r = await tokenRequest(server, { ...svc, client_secret: `${svc.client_secret}x` }, cc());
			assertOAuthError(r, 401, 'invalid_client');
			assert.match(r.headers['www-authenticate'] ?? '', /^Basic realm="[^"]+"/);
			const p = await tokenRequest(server, { ...svc, client_secret: 'wrong',
			    token_endpoint_auth_method: 'client_secret_post' }, cc());
			assertOAuthError(p, 401, 'invalid_client');
			const none = await tokenRequest(server, { client_id: svc.client_id }, cc());
			assertOAuthError(none, 401, 'invalid_client', 'no secret');
			const unknown = await tokenRequest(server, { client_id: randomToken(),
			    client_secret: randomToken() }, cc());
			assertOAuthError(unknown, 401, 'invalid_client', 'unknown client');
			assert.match(unknown.headers['www-authenticate'] ?? '', /^Basic /);
		});

		test('Basic and client_secret in the body at once is invalid_request', async () => {
			const r = await request(server.metadata.token_endpoint, {
				method: 'POST',
				basic: [svc.client_id, svc.client_secret],
				form: cc({ client_secret: svc.client_secret }),
			});
			assertOAuthError(r, 400, 'invalid_request');
			const r2 = await request(server.metadata.token_endpoint, {
				method: 'POST',
				basic: [svc.client_id, svc.client_secret],
				form: cc({ client_id: randomToken() }),
			});
			assertOAuthError(r2, 400, 'invalid_request', 'client_id differs from Basic');
			const r3 = await request(server.metadata.token_endpoint, {
				method: 'POST',
				headers: { authorization: `Bearer ${randomToken()}` },
				form: cc(),
			});
			assertOAuthError(r3, 400, 'invalid_request', 'Bearer scheme');
		});

		test('a public client may not use client_credentials', async () => {
			const pub = await publicClient(server);
			assertOAuthError(await tokenRequest(server, pub, cc()), 400, 'unauthorized_client', 'registered');
			const adm = await adminClient(server, ['--name', 'pub', '--public', '--redirect-uri',
			    DEFAULT_REDIRECT_URI]);
			assert.equal(adm.client_secret, undefined);
			assertOAuthError(await tokenRequest(server, adm, cc()), 400, 'unauthorized_client', 'admin');
			const r = await server.admin(['client', 'add', '--name', 'x', '--grant', 'client_credentials',
			    '--public']);
			assert.notEqual(r.code, 0);
			assert.match(r.stderr, /cannot be public/);
		});

		test('an authorization_code client may not use client_credentials', async () => {
			const c = await adminClient(server, ['--name', 'web', '--grant', 'authorization_code',
			    '--redirect-uri', DEFAULT_REDIRECT_URI]);
			assert.equal(typeof c.client_secret, 'string');
			assertOAuthError(await tokenRequest(server, c, cc()), 400, 'unauthorized_client');
			// ... nor a client_credentials client the code grant.
			assertOAuthError(await tokenRequest(server, svc, { grant_type: 'authorization_code',
			    code: randomToken(32), code_verifier: pkce().verifier, redirect_uri: DEFAULT_REDIRECT_URI }),
			    400, 'unauthorized_client');
			assertOAuthError(await refresh(server, svc, randomToken(32)), 400, 'unauthorized_client');
		});

		test('an unknown resource is invalid_target; none with two resources is too', async () => {
			assertOAuthError(await tokenRequest(server, svc, cc({ resource: 'https://unknown.example.com/mcp' })),
			    400, 'invalid_target');
			assertOAuthError(await tokenRequest(server, svc, cc({ resource: `${R1}/` })), 400, 'invalid_target');
			assertOAuthError(await tokenRequest(server, svc, cc({ resource: undefined })), 400,
			    'invalid_target', 'no resource among two');
		});
	});

	describe('errors', () => {
		const endpoint = () => server.metadata.token_endpoint;
		const post = (opts) => request(endpoint(), { method: 'POST', ...opts });

		test('missing grant_type is invalid_request', async () => {
			assertOAuthError(await post({ basic: [svc.client_id, svc.client_secret], form: { resource: R1 } }),
			    400, 'invalid_request');
			assertOAuthError(await post({ form: {} }), 400, 'invalid_request', 'empty form');
			assertOAuthError(await post({ form: { grant_type: '' } }), 400, 'invalid_request', 'empty grant');
		});

		test('an unknown grant is unsupported_grant_type', async () => {
			for (const g of ['password', 'implicit', 'urn:ietf:params:oauth:grant-type:device_code',
			    'CLIENT_CREDENTIALS', 'client_credentials '])
				assertOAuthError(await post({ basic: [svc.client_id, svc.client_secret],
				    form: { grant_type: g } }), 400, 'unsupported_grant_type', g);
		});

		test('a body that is not a form is invalid_request', async () => {
			const form = `grant_type=client_credentials&resource=${encodeURIComponent(R1)}`;
			for (const ct of ['application/json', 'text/plain', 'multipart/form-data; boundary=x',
			    'application/x-www-form-urlencodedx']) {
				assertOAuthError(await post({ basic: [svc.client_id, svc.client_secret],
				    headers: { 'content-type': ct }, body: form }), 400, 'invalid_request', ct);
			}
			assertOAuthError(await post({ basic: [svc.client_id, svc.client_secret],
			    json: { grant_type: 'client_credentials' } }), 400, 'invalid_request', 'JSON');
			// No Content-Type at all (fetch adds text/plain for a string: use a Buffer).
			assertOAuthError(await post({ basic: [svc.client_id, svc.client_secret],
			    body: Buffer.from(form) }), 400, 'invalid_request', 'no Content-Type');
			// With a charset parameter, it is still a form.
			assertTokenOk(await post({ basic: [svc.client_id, svc.client_secret],
			    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' }, body: form }));
		});

		test('a repeated parameter is invalid_request', async () => {
			for (const form of [
				{ grant_type: ['client_credentials', 'client_credentials'], resource: R1 },
				{ grant_type: 'client_credentials', resource: [R1, R2] },
				{ grant_type: 'client_credentials', resource: R1, scope: ['mcp:read', 'mcp:write'] },
			]) {
				assertOAuthError(await post({ basic: [svc.client_id, svc.client_secret], form }), 400,
				    'invalid_request', JSON.stringify(form));
			}
			const client = await publicClient(server);
			assertOAuthError(await post({ form: { grant_type: 'authorization_code',
			    client_id: [client.client_id, client.client_id] } }), 400, 'invalid_request');
		});

		test('a malformed form is invalid_request', async () => {
			for (const body of ['grant_type=client_credentials&resource=%zz',
			    'grant_type=client_credentials&x=%4', 'grant_type=client_%00credentials',
			    '%zz=1&grant_type=client_credentials']) {
				assertOAuthError(await post({ basic: [svc.client_id, svc.client_secret],
				    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }), 400,
				    'invalid_request', body);
			}
		});

		test('malformed or oversized Basic credentials are 4xx OAuth errors', async () => {
			const b64 = (s) => Buffer.from(s).toString('base64');
			for (const [hdr, status, error] of [
				['Basic', 401, 'invalid_client'],
				['Basic !!!!', 401, 'invalid_client'],
				[`Basic ${b64('no-colon')}`, 401, 'invalid_client'],
				[`Basic ${b64(`:${svc.client_secret}`)}`, 401, 'invalid_client'],
				[`Basic ${b64(`${svc.client_id}:%zz`)}`, 401, 'invalid_client'],
				[`Basic ${b64(`${svc.client_id}:a%00b`)}`, 401, 'invalid_client'],
				[`Basic ${b64(`${svc.client_id}:${'x'.repeat(3000)}`)}`, 401, 'invalid_client'],
				['Digest username="x"', 400, 'invalid_request'],
			]) {
				const r = await post({ headers: { authorization: hdr }, form: { grant_type: 'client_credentials' } });
				assertOAuthError(r, status, error, hdr.slice(0, 30));
			}
			// Lower-case scheme name is the same scheme (RFC 9110 11.1).
			const lc = `basic ${b64(`${svc.client_id}:${svc.client_secret}`)}`;
			assertTokenOk(await post({ headers: { authorization: lc }, form: { grant_type: 'client_credentials',
			    resource: R1 } }));
		});

		test('two Authorization headers are invalid_request', async () => {
			const basic = `Basic ${Buffer.from(`${svc.client_id}:${svc.client_secret}`).toString('base64')}`;
			const body = `grant_type=client_credentials&resource=${encodeURIComponent(R1)}`;
			const raw = `POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n` +
			    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n` +
			    `Authorization: ${basic}\r\nAuthorization: ${basic}\r\n\r\n${body}`;
			const text = await new Promise((resolve, reject) => {
				const sock = net.connect(server.port, '127.0.0.1', () => sock.end(raw));
				let out = '';
				sock.setEncoding('utf8').on('data', (d) => { out += d; });
				sock.setTimeout(5000, () => sock.destroy(new Error('no answer')));
				sock.on('end', () => resolve(out));
				sock.on('error', reject);
			});
			assert.match(text, /^HTTP\/1\.1 400 /);
			assert.match(text, /"error":"invalid_request"/);
		});

		test('GET and other methods are 405 with Allow: POST', async () => {
			for (const method of ['GET', 'PUT', 'DELETE']) {
				const r = await request(`${endpoint()}?grant_type=client_credentials`, { method });
				assert.equal(r.status, 405, method);
				assert.equal(r.headers.allow, 'POST', method);
				assert.equal(typeof r.json?.error, 'string', `${method}: ${r.text}`);
				assert.equal(r.headers['cache-control'], 'no-store');
			}
		});

		test('error answers are JSON and 4xx, never 5xx', async () => {
			const bodies = ['', '&&&', '=', 'grant_type', 'grant_type=', '==&=', 'a=b=c',
			    `grant_type=refresh_token&refresh_token=${'A'.repeat(3000)}`,
			    'grant_type=authorization_code&code=&code_verifier=&redirect_uri=',
			    'grant_type=client_credentials&scope=%20%20', 'grant_type=client_credentials&scope=a%22b',
			    `grant_type=client_credentials&scope=${'s '.repeat(500)}`,
			    'grant_type=client_credentials&resource=', '\u00e9=\u00e9'];
			for (const body of bodies) {
				for (const basic of [undefined, [svc.client_id, svc.client_secret]]) {
					const r = await post({ basic, body,
					    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
					assert.ok(r.status === 400 || r.status === 401, `${body}: ${r.status} ${r.text}`);
					assert.equal(typeof r.json?.error, 'string', `${body}: ${r.text}`);
					assert.equal(r.headers['cache-control'], 'no-store');
					assert.equal(r.headers.pragma, 'no-cache');
				}
			}
		});
	});
});

describe('token endpoint with short code lifetime and small body limit', { timeout: 30000 }, () => {
	let server;
	before(async () => {
		server = await startServer({ config: { tokens: { code_ttl: 1 }, listen: { body_max: 4096 } } });
	});
	after(async () => {
		await server?.cleanup();
	});

	test('an expired code is invalid_grant', async () => {
		const reg = await registerClient(server);
		assert.equal(reg.status, 201);
		const client = reg.json;
		const resource = `${server.issuer}/mcp`;
		const { code, pkce: p } = await getCode(server, client, { resource });
		await sleep(2100);
		const r = await tokenRequest(server, client, { grant_type: 'authorization_code', code,
		    redirect_uri: DEFAULT_REDIRECT_URI, code_verifier: p.verifier });
		assertOAuthError(r, 400, 'invalid_grant');
	});

	test('a body over listen.body_max is 413', async () => {
		const body = `grant_type=client_credentials&x=${'a'.repeat(10 * 1024)}`;
		const r = await request(server.metadata.token_endpoint, { method: 'POST', body,
		    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
		assert.equal(r.status, 413, r.text);
		assert.equal(typeof r.json?.error, 'string', r.text);
		// Just under the limit is read and judged on its content.
		const small = `grant_type=nope&x=${'a'.repeat(3000)}`;
		const r2 = await request(server.metadata.token_endpoint, { method: 'POST', body: small,
		    headers: { 'content-type': 'application/x-www-form-urlencoded' } });
		assertOAuthError(r2, 400, 'unsupported_grant_type');
	});
});
