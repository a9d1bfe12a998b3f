// Token revocation (RFC 7009) and introspection (RFC 7662).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { CookieJar, codeFlow, decodeJwt, randomToken, request, sleep, startServer } from './lib/mcpgate.mjs';
import {
	assertOAuthError, assertTokenOk, introspect, introspectJson, refresh, revoke, serviceClient,
	tokenRequest,
} from './lib/tokens.mjs';

describe('revocation and introspection', { timeout: 60000 }, () => {
	let server, svc, short, shortSvc, shortToken;
	const jar = new CookieJar();

	async function grant(scope = 'mcp:read') {
		const f = await codeFlow(server, { scope, jar });
		const body = assertTokenOk(f.token, 'code exchange');
		return { client: f.client, access: body.access_token, refresh: body.refresh_token };
	}

	const active = async (token) => (await introspectJson(server, svc, token)).active;

	before(async () => {
		// The short-lived server's token is issued first, and checked
		// last, so that its expiry costs little extra time.
		[server, short] = await Promise.all([startServer(),
		    startServer({ config: { tokens: { access_ttl: 10 } } })]);
		[svc, shortSvc] = await Promise.all([serviceClient(server), serviceClient(short)]);
		shortToken = assertTokenOk(await tokenRequest(short, shortSvc, { grant_type: 'client_credentials' }));
		assert.equal(shortToken.expires_in, 10);
		assert.equal((await introspectJson(short, shortSvc, shortToken.access_token)).active, true,
		    'live right after issue');
	});
	after(async () => {
		await Promise.all([server?.cleanup(), short?.cleanup()]);
	});

	describe('revocation', () => {
		test('requires client authentication', async () => {
			const g = await grant();
			const none = await request(server.metadata.revocation_endpoint, { method: 'POST',
			    form: { token: g.refresh } });
			assertOAuthError(none, 401, 'invalid_client', 'no client');
			const wrong = await revoke(server, { ...svc, client_secret: 'wrong' }, g.refresh);
			assertOAuthError(wrong, 401, 'invalid_client', 'wrong secret');
			assert.match(wrong.headers['www-authenticate'] ?? '', /^Basic /);
			const unknown = await revoke(server, { client_id: randomToken() }, g.refresh);
			assertOAuthError(unknown, 401, 'invalid_client', 'unknown client');
			// Nothing was revoked by those.
			assert.equal(await active(g.refresh), true);
			assertTokenOk(await refresh(server, g.client, g.refresh));
		});

		test('a revoked refresh token takes its family with it', async () => {
			const g = await grant();
			const r1 = assertTokenOk(await refresh(server, g.client, g.refresh));
			const rv = await revoke(server, g.client, r1.refresh_token);
			assert.equal(rv.status, 200, rv.text);
			assert.equal(rv.headers['cache-control'], 'no-store');
			assertOAuthError(await refresh(server, g.client, r1.refresh_token), 400, 'invalid_grant');
			assert.equal(await active(r1.refresh_token), false);
			assert.equal(await active(g.access), false, 'access token of the family');
			assert.equal(await active(r1.access_token), false, 'access token of the family');
			// Revoking it again is still 200.
			assert.equal((await revoke(server, g.client, r1.refresh_token)).status, 200);
		});

		test('the hint does not decide: a refresh token hinted as access token is revoked', async () => {
			const g = await grant();
			assert.equal((await revoke(server, g.client, g.refresh,
			    { token_type_hint: 'access_token' })).status, 200);
			assertOAuthError(await refresh(server, g.client, g.refresh), 400, 'invalid_grant');
			const h = await grant();
			assert.equal((await revoke(server, h.client, h.access,
			    { token_type_hint: 'refresh_token' })).status, 200);
			assert.equal(await active(h.access), false);
		});

		test('a revoked access token is inactive at once; its refresh token lives on', async () => {
			const g = await grant();
			assert.equal(await active(g.access), true);
			const rv = await revoke(server, g.client, g.access, { token_type_hint: 'access_token' });
			assert.equal(rv.status, 200, rv.text);
			assert.equal(await active(g.access), false);
			const next = assertTokenOk(await refresh(server, g.client, g.refresh));
			assert.equal(await active(next.access_token), true);
		});

		test('a client_credentials token can be revoked by its client', async () => {
			const t = assertTokenOk(await tokenRequest(server, svc, { grant_type: 'client_credentials' }));
			assert.equal(await active(t.access_token), true);
			assert.equal((await revoke(server, svc, t.access_token)).status, 200);
			assert.equal(await active(t.access_token), false);
		});

		test('an unknown token answers 200', async () => {
			const g = await grant();
			for (const token of [randomToken(32), 'x', 'a.b.c', `${g.access}x`, 'A'.repeat(300),
			    'A.'.repeat(3000)]) {
				const r = await revoke(server, g.client, token);
				assert.equal(r.status, 200, `${token.slice(0, 20)}: ${r.text}`);
			}
			assert.equal(await active(g.access), true);
			assert.equal(await active(g.refresh), true);
		});

		test('another client\'s token: 200, and the token still works', async () => {
			const g = await grant();
			const other = await grant();
			assert.equal((await revoke(server, other.client, g.refresh)).status, 200);
			assert.equal((await revoke(server, other.client, g.access)).status, 200);
			assert.equal((await revoke(server, svc, g.access)).status, 200);
			assert.equal(await active(g.access), true);
			assert.equal(await active(g.refresh), true);
			assertTokenOk(await refresh(server, g.client, g.refresh));
		});

		test('a wrong token_type_hint is unsupported_token_type; a missing token invalid_request', async () => {
			const g = await grant();
			for (const hint of ['id_token', 'ACCESS_TOKEN', 'refresh'])
				assertOAuthError(await revoke(server, g.client, g.refresh, { token_type_hint: hint }), 400,
				    'unsupported_token_type', hint);
			assert.equal(await active(g.refresh), true);
			assertOAuthError(await revoke(server, g.client, undefined), 400, 'invalid_request');
			const get = await request(server.metadata.revocation_endpoint);
			assert.equal(get.status, 405);
			assert.equal(get.headers.allow, 'POST');
			assertOAuthError(await request(server.metadata.revocation_endpoint, { method: 'POST',
			    json: { token: g.refresh, client_id: g.client.client_id } }), 400, 'invalid_request', 'JSON body');
			assertOAuthError(await request(server.metadata.revocation_endpoint, { method: 'POST',
			    form: { token: [g.refresh, g.refresh], client_id: g.client.client_id } }), 400,
			    'invalid_request', 'repeated token');
		});
	});

	describe('introspection', () => {
		test('needs a confidential client', async () => {
			const g = await grant();
			assertOAuthError(await introspect(server, g.client, g.access), 401, 'invalid_client', 'public');
			const none = await request(server.metadata.introspection_endpoint, { method: 'POST',
			    form: { token: g.access } });
			assertOAuthError(none, 401, 'invalid_client', 'no client');
			const wrong = await introspect(server, { ...svc, client_secret: 'nope' }, g.access);
			assertOAuthError(wrong, 401, 'invalid_client', 'wrong secret');
			assertOAuthError(await introspect(server, svc, undefined), 400, 'invalid_request', 'no token');
			const get = await request(server.metadata.introspection_endpoint);
			assert.equal(get.status, 405);
			assert.equal(get.headers.allow, 'POST');
		});

		test('a live access token: active, with its claims', async () => {
			const g = await grant('mcp:read mcp:write');
			const claims = decodeJwt(g.access).payload;
			const r = await introspect(server, svc, g.access);
			assert.equal(r.status, 200);
			assert.equal(r.headers['cache-control'], 'no-store');
			assert.equal(r.json.active, true);
			assert.equal(r.json.token_type, 'Bearer');
			for (const k of ['iss', 'sub', 'aud', 'client_id', 'scope', 'iat', 'exp', 'jti'])
				assert.deepEqual(r.json[k], claims[k], k);
			// client_secret_post works for introspection too.
			const p = await introspectJson(server, { ...svc, token_endpoint_auth_method: 'client_secret_post' },
			    g.access);
			assert.equal(p.active, true);
		});

		test('a live refresh token: active, with its grant', async () => {
			const g = await grant('mcp:read mcp:write');
			const sub = decodeJwt(g.access).payload.sub;
			const j = await introspectJson(server, svc, g.refresh);
			assert.equal(j.active, true);
			assert.equal(j.token_type, 'refresh_token');
			assert.equal(j.client_id, g.client.client_id);
			assert.equal(j.sub, sub);
			assert.equal(j.scope, 'mcp:read mcp:write');
			assert.equal(j.aud, `${server.issuer}/mcp`);
			assert.equal(j.iss, server.issuer);
			assert.ok(Number.isInteger(j.iat) && Number.isInteger(j.exp) && j.exp > j.iat);
		});

		test('unknown, garbage and revoked tokens are inactive, and say nothing else', async () => {
			const g = await grant();
			assert.equal((await revoke(server, g.client, g.access)).status, 200);
			for (const token of [g.access, randomToken(32), 'garbage', '', '...', 'a.b', 'a.b.c',
			    'A'.repeat(257), `${'A'.repeat(4000)}.${'A'.repeat(4000)}.A`, '\u00e9\u00e9']) {
				const r = await introspect(server, svc, token);
				if (token === '') {
					assertOAuthError(r, 400, 'invalid_request', 'empty token');
					continue;
				}
				assert.equal(r.status, 200, `${token.slice(0, 20)}: ${r.text}`);
				assert.deepEqual(r.json, { active: false }, token.slice(0, 20));
			}
			// A token parameter over the form's value limit is a bad request.
			assertOAuthError(await introspect(server, svc, `${'A'.repeat(5000)}.${'A'.repeat(5000)}.A`), 400,
			    'invalid_request', 'oversized token');
		});

		test('tampered tokens are inactive', async () => {
			const g = await grant('mcp:read');
			assert.equal(await active(g.access), true);
			const [h, p, s] = g.access.split('.');
			const flip = (str, i) => str.slice(0, i) + (str[i] === 'A' ? 'B' : 'A') + str.slice(i + 1);
			const widened = Buffer.from(JSON.stringify({ ...decodeJwt(g.access).payload,
			    scope: 'mcp:read mcp:write' })).toString('base64url');
			const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
			const hs = Buffer.from(JSON.stringify({ ...decodeJwt(g.access).header, alg: 'HS256' }))
			    .toString('base64url');
			const variants = {
				'payload char flipped': `${h}.${flip(p, 10)}.${s}`,
				'payload char flipped at the end': `${h}.${flip(p, p.length - 2)}.${s}`,
				'payload replaced': `${h}.${widened}.${s}`,
				'header char flipped': `${flip(h, 5)}.${p}.${s}`,
				'signature char flipped': `${h}.${p}.${flip(s, 7)}`,
				'signature truncated': `${h}.${p}.${s.slice(0, -1)}`,
				'signature empty': `${h}.${p}.`,
				'alg none': `${noneHeader}.${p}.`,
				'alg HS256': `${hs}.${p}.${s}`,
				'extra part': `${g.access}.${s}`,
				'padding added': `${h}.${p}.${s}=`,
			};
			for (const c of 'AQgw_-')
				variants[`signature with "${c}" appended`] = `${g.access}${c}`;
			variants['signature with "AA" appended'] = `${g.access}AA`;
			for (const [what, token] of Object.entries(variants)) {
				const r = await introspect(server, svc, token);
				assert.equal(r.status, 200, `${what}: ${r.text}`);
				assert.deepEqual(r.json, { active: false }, what);
				// Revoking a forgery must not revoke the real token.
				assert.equal((await revoke(server, g.client, token)).status, 200, what);
			}
			assert.equal(await active(g.access), true);
		});

		test('another server\'s token is inactive', async () => {
			const j = await introspectJson(server, svc, shortToken.access_token);
			assert.deepEqual(j, { active: false });
		});

		test('an expired access token is inactive', async () => {
			const claims = decodeJwt(shortToken.access_token).payload;
			assert.equal(claims.exp, claims.iat + 10);
			const wait = (claims.exp + 1) * 1000 - Date.now();
			if (wait > 0)
				await sleep(wait);
			const r = await introspect(short, shortSvc, shortToken.access_token);
			assert.equal(r.status, 200);
			assert.deepEqual(r.json, { active: false });
		});
	});
});
