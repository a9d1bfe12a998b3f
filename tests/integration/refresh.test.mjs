// The refresh_token grant: rotation on every use, reuse detection that
// revokes the whole family, scope narrowing only, binding to the client,
// exactly one winner among concurrent refreshes, and the lifetimes.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { CookieJar, codeFlow, decodeJwt, randomToken, sleep, startServer } from './lib/mcpgate.mjs';
import {
	assertOAuthError, assertTokenOk, introspectJson, refresh, serviceClient,
} from './lib/tokens.mjs';

describe('refresh_token grant', { timeout: 60000 }, () => {
	let server, svc;
	const jar = new CookieJar();

	// A fresh grant: {client, access, refresh, scope}.
	async function grant(scope = 'mcp:read mcp:write') {
		const f = await codeFlow(server, { scope, jar });
		const body = assertTokenOk(f.token, 'code exchange');
		assert.equal(typeof body.refresh_token, 'string');
		return { client: f.client, access: body.access_token, refresh: body.refresh_token, scope: body.scope };
	}

	before(async () => {
		server = await startServer({ config: { listen: { threads: 8 } } });
		svc = await serviceClient(server);
	});
	after(async () => {
		await server?.cleanup();
	});

	test('every refresh rotates the refresh token and mints a new access token', async () => {
		const g = await grant();
		const seen = new Set([g.refresh]);
		const jtis = new Set([decodeJwt(g.access).payload.jti]);
		let cur = g.refresh;
		for (let i = 0; i < 3; i++) {
			const body = assertTokenOk(await refresh(server, g.client, cur), `refresh ${i}`);
			assert.equal(typeof body.refresh_token, 'string');
			assert.ok(!seen.has(body.refresh_token), 'refresh token not rotated');
			seen.add(body.refresh_token);
			assert.equal(body.scope, 'mcp:read mcp:write');
			assert.equal(body.expires_in, 600);
			const claims = decodeJwt(body.access_token).payload;
			assert.ok(!jtis.has(claims.jti));
			jtis.add(claims.jti);
			assert.equal(claims.client_id, g.client.client_id);
			assert.equal(claims.scope, 'mcp:read mcp:write');
			assert.equal(claims.aud, `${server.issuer}/mcp`);
			// The predecessor is no longer active, the successor is.
			assert.equal((await introspectJson(server, svc, cur)).active, false);
			const live = await introspectJson(server, svc, body.refresh_token);
			assert.equal(live.active, true);
			assert.equal(live.token_type, 'refresh_token');
			assert.equal(live.client_id, g.client.client_id);
			cur = body.refresh_token;
		}
		assert.equal((await introspectJson(server, svc, g.access)).active, true,
		    'rotation alone does not revoke earlier access tokens');
	});

	test('a rotated token presented again revokes the whole family', async () => {
		const g = await grant();
		const r1 = assertTokenOk(await refresh(server, g.client, g.refresh));
		const r2 = assertTokenOk(await refresh(server, g.client, r1.refresh_token));
		for (const at of [g.access, r1.access_token, r2.access_token])
			assert.equal((await introspectJson(server, svc, at)).active, true);

		assertOAuthError(await refresh(server, g.client, g.refresh), 400, 'invalid_grant', 'reuse');

		// The newest refresh token is dead, and so is every access token.
		assertOAuthError(await refresh(server, g.client, r2.refresh_token), 400, 'invalid_grant',
		    'newest after reuse');
		assert.equal((await introspectJson(server, svc, r2.refresh_token)).active, false);
		for (const at of [g.access, r1.access_token, r2.access_token])
			assert.equal((await introspectJson(server, svc, at)).active, false);

		// Other grants of the same user and client are untouched.
		const other = await grant();
		assertTokenOk(await refresh(server, other.client, other.refresh));
	});

	test('scope can narrow; the refresh token keeps the grant; widening is invalid_scope', async () => {
		const g = await grant('mcp:read mcp:write');
		const narrow = assertTokenOk(await refresh(server, g.client, g.refresh, { scope: 'mcp:read' }));
		assert.equal(narrow.scope, 'mcp:read');
		assert.equal(decodeJwt(narrow.access_token).payload.scope, 'mcp:read');
		const rt = await introspectJson(server, svc, narrow.refresh_token);
		assert.equal(rt.active, true);
		assert.equal(rt.scope, 'mcp:read mcp:write');

		for (const wide of ['mcp:read mcp:write mcp:jira', 'mcp:jira', 'no:such']) {
			assertOAuthError(await refresh(server, g.client, narrow.refresh_token, { scope: wide }), 400,
			    'invalid_scope', wide);
		}
		// A refused request uses nothing up: the token still refreshes,
		// to the full grant when no scope is asked.
		const full = assertTokenOk(await refresh(server, g.client, narrow.refresh_token));
		assert.equal(full.scope, 'mcp:read mcp:write');
		assert.equal(decodeJwt(full.access_token).payload.scope, 'mcp:read mcp:write');
		const w = assertTokenOk(await refresh(server, g.client, full.refresh_token, { scope: 'mcp:write' }));
		assert.equal(w.scope, 'mcp:write');
	});

	test('another client\'s refresh token is invalid_grant and revokes nothing', async () => {
		const g = await grant();
		const thief = await grant();
		assertOAuthError(await refresh(server, thief.client, g.refresh), 400, 'invalid_grant', 'other client');
		assertOAuthError(await refresh(server, svc, g.refresh), 400, 'unauthorized_client',
		    'client without the grant');
		assert.equal((await introspectJson(server, svc, g.access)).active, true);
		const ok = assertTokenOk(await refresh(server, g.client, g.refresh));
		assertTokenOk(await refresh(server, g.client, ok.refresh_token));
		assertTokenOk(await refresh(server, thief.client, thief.refresh));
	});

	test('missing, unknown and oversized refresh tokens', async () => {
		const g = await grant();
		assertOAuthError(await refresh(server, g.client, undefined), 400, 'invalid_request', 'missing');
		assertOAuthError(await refresh(server, g.client, randomToken(32)), 400, 'invalid_grant', 'unknown');
		// An empty parameter counts as omitted (RFC 6749 section 3.1).
		assertOAuthError(await refresh(server, g.client, ''), 400, 'invalid_request', 'empty');
		assertOAuthError(await refresh(server, g.client, 'A'.repeat(5000)), 400, 'invalid_grant', 'long');
		assertOAuthError(await refresh(server, g.client, g.access), 400, 'invalid_grant', 'an access token');
		assertOAuthError(await refresh(server, g.client, g.refresh, { resource: 'https://other.example/mcp' }),
		    400, 'invalid_target', 'other resource');
		assertTokenOk(await refresh(server, g.client, g.refresh, { resource: `${server.issuer}/mcp` }));
	});

	test('concurrent refreshes with one token: exactly one succeeds', async () => {
		for (let round = 0; round < 10; round++) {
			const n = 2 + (round % 7);	// 2 to 8 at once
			const g = await grant();
			const results = await Promise.all(Array.from({ length: n },
			    () => refresh(server, g.client, g.refresh)));
			const ok = results.filter((r) => r.status === 200);
			const bad = results.filter((r) => r.status !== 200);
			assert.equal(ok.length, 1, `round ${round} (${n} at once): ` +
			    results.map((r) => `${r.status} ${r.text}`).join(' | '));
			for (const r of bad)
				assertOAuthError(r, 400, 'invalid_grant', `round ${round}`);
			assert.equal(typeof ok[0].json.refresh_token, 'string');
			assert.notEqual(ok[0].json.refresh_token, g.refresh);
		}
	});
});

describe('refresh token lifetimes', { timeout: 30000 }, () => {
	test('refresh_idle_ttl and refresh_ttl below 60 s are refused', async () => {
		for (const tokens of [{ refresh_idle_ttl: 59 }, { refresh_ttl: 59 }, { access_ttl: 9 },
		    { code_ttl: 0 }]) {
			await assert.rejects(startServer({ config: { tokens } }), /exited before it was ready/,
			    JSON.stringify(tokens));
		}
	});

	test('idle expiry is capped by the absolute one, which rotation keeps', async (t) => {
		const server = await startServer({ t, config: { tokens: { refresh_ttl: 60, refresh_idle_ttl: 3600,
		    access_ttl: 30 } } });
		const svc = await serviceClient(server);
		const f = await codeFlow(server, { scope: 'mcp:read' });
		const body = assertTokenOk(f.token);
		assert.equal(body.expires_in, 30);
		const claims = decodeJwt(body.access_token).payload;
		assert.equal(claims.exp, claims.iat + 30);
		const rt = await introspectJson(server, svc, body.refresh_token);
		assert.equal(rt.active, true);
		assert.equal(rt.exp, rt.iat + 60, 'exp is the absolute expiry');

		await sleep(1100);	// the next token is created a second later
		const next = assertTokenOk(await refresh(server, f.client, body.refresh_token));
		assert.equal(next.expires_in, 30);
		const rt2 = await introspectJson(server, svc, next.refresh_token);
		assert.equal(rt2.active, true);
		assert.ok(rt2.iat > rt.iat);
		assert.equal(rt2.exp, rt.exp, 'rotation must not extend the absolute expiry');
	});

	test('idle expiry moves with each rotation', async (t) => {
		const server = await startServer({ t, config: { tokens: { refresh_ttl: 7200, refresh_idle_ttl: 60 } } });
		const svc = await serviceClient(server);
		const f = await codeFlow(server, { scope: 'mcp:read' });
		const body = assertTokenOk(f.token);
		assert.equal(body.expires_in, 600);
		const rt = await introspectJson(server, svc, body.refresh_token);
		assert.equal(rt.exp, rt.iat + 60, 'exp is the idle expiry');
		await sleep(1100);
		const next = assertTokenOk(await refresh(server, f.client, body.refresh_token));
		const rt2 = await introspectJson(server, svc, next.refresh_token);
		assert.ok(rt2.iat > rt.iat);
		assert.equal(rt2.exp, rt2.iat + 60);
	});
});

test('a refresh gives only what the configuration still allows', async (t) => {
	const server = await startServer({ t });
	const f = await codeFlow(server, { scope: 'mcp:read mcp:write' });
	const first = assertTokenOk(f.token);
	assert.equal(first.scope, 'mcp:read mcp:write');

	// mcp:write is withdrawn from the server: the grant loses it.
	const cfg = JSON.parse(fs.readFileSync(server.configPath, 'utf8'));
	cfg.scopes = ['mcp:read', 'mcp:github'];
	fs.writeFileSync(server.configPath, JSON.stringify(cfg));
	await server.restart();
	const r1 = assertTokenOk(await refresh(server, f.client, first.refresh_token));
	assert.equal(r1.scope, 'mcp:read');
	assert.equal(decodeJwt(r1.access_token).payload.scope, 'mcp:read');
	assertOAuthError(await refresh(server, f.client, r1.refresh_token, { scope: 'mcp:write' }), 400,
	    'invalid_scope');

	// The resource is no longer served: no more tokens for it.
	cfg.resources = [`${server.issuer}/other`];
	fs.writeFileSync(server.configPath, JSON.stringify(cfg));
	await server.restart();
	assertOAuthError(await refresh(server, f.client, r1.refresh_token), 400, 'invalid_target');
});
