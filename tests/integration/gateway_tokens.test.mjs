// The gateway's token check, end to end: every defect of a bearer token
// gets the exact status and WWW-Authenticate challenge of RFC 6750 / RFC
// 9728, and the protected resource metadata is served at both paths.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { test } from 'node:test';

import { request, sleep, startServer } from './lib/mcpgate.mjs';
import { revoke } from './lib/tokens.mjs';
import { LEGACY, ccToken, challenge, mcpUrl, openSession, post, startGateway } from './lib/gateway.mjs';

const PING = { jsonrpc: '2.0', id: 1, method: 'ping' };

function prmUrl(server) {
	return `${server.url}/.well-known/oauth-protected-resource/mcp`;
}

// A 401 invalid_token with the resource_metadata parameter.
function assertInvalidToken(r, server, what) {
	assert.equal(r.status, 401, `${what}: ${r.status} ${r.text}`);
	const c = challenge(r.headers['www-authenticate']);
	assert.equal(c.scheme, 'Bearer', what);
	assert.equal(c.params.error, 'invalid_token', what);
	assert.equal(c.params.resource_metadata, prmUrl(server), what);
}

function b64(o) {
	return Buffer.from(JSON.stringify(o)).toString('base64url');
}

test('token defects', async (t) => {
	const server = await startGateway(t);
	const { token, client } = await ccToken(server);

	await t.test('a valid token is accepted', async () => {
		const s = await openSession(server, token);
		assert.ok(s.session);
	});

	await t.test('no token: 401, challenge without error', async () => {
		const r = await post(server, null, PING);
		assert.equal(r.status, 401);
		const c = challenge(r.headers['www-authenticate']);
		assert.equal(c.scheme, 'Bearer');
		assert.equal(c.params.error, undefined);
		assert.equal(c.params.resource_metadata, prmUrl(server));
		assert.equal(c.params.scope, 'mcp:read');
	});

	await t.test('another scheme counts as no token', async () => {
		const r = await post(server, null, PING, { headers: { authorization: 'Basic YTpi' } });
		assert.equal(r.status, 401);
		assert.equal(challenge(r.headers['www-authenticate']).params.error, undefined);
	});

	await t.test('malformed Authorization: 400 invalid_request', async () => {
		for (const h of ['Bearer', 'Bearer a b', 'Bearer !!!', `Bearer ${'a'.repeat(9000)}`]) {
			const r = await post(server, null, PING, { headers: { authorization: h } });
			assert.equal(r.status, 400, h.slice(0, 20));
			assert.equal(challenge(r.headers['www-authenticate']).params.error, 'invalid_request');
		}
	});

	await t.test('a malformed token: 401 invalid_token', async () => {
		for (const tok of ['abc', 'a.b.c', 'eyJhbGciOiJFUzI1NiJ9.e30.AAAA'])
			assertInvalidToken(await post(server, tok, PING), server, tok);
	});

	await t.test('tampered: 401 invalid_token', async () => {
		const [h, p, s] = token.split('.');
		const claims = JSON.parse(Buffer.from(p, 'base64url'));
		claims.scope = 'mcp:read mcp:write mcp:admin';
		assertInvalidToken(await post(server, `${h}.${b64(claims)}.${s}`, PING), server, 'payload');
		const sig = Buffer.from(s, 'base64url');
		sig[5] ^= 1;
		assertInvalidToken(await post(server, `${h}.${p}.${sig.toString('base64url')}`, PING), server,
		    'signature');
	});

	await t.test('alg none and HS256: 401 invalid_token', async () => {
		const [h, p] = token.split('.');
		const hdr = JSON.parse(Buffer.from(h, 'base64url'));
		assertInvalidToken(await post(server, `${b64({ ...hdr, alg: 'none' })}.${p}.`, PING), server,
		    'none');
		const hs = `${b64({ ...hdr, alg: 'HS256' })}.${p}`;
		const mac = crypto.createHmac('sha256', 'secret').update(hs).digest('base64url');
		assertInvalidToken(await post(server, `${hs}.${mac}`, PING), server, 'HS256');
	});

	await t.test('signed by another key: 401 invalid_token', async () => {
		const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
		const [h, p] = token.split('.');
		const input = `${h}.${p}`;
		const sig = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
		assertInvalidToken(await post(server, `${input}.${sig.toString('base64url')}`, PING), server,
		    'foreign key');
	});

	await t.test('revoked: refused within 1 s', async () => {
		const { token: tok } = await ccToken(server, 'mcp:read', { client });
		assert.equal((await post(server, tok, { jsonrpc: '2.0', id: 1, method: 'initialize',
		    params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'x', version: '1' } } })).status, 200);
		const r = await revoke(server, client, tok);
		assert.equal(r.status, 200);
		const t0 = Date.now();
		let status;
		do {
			status = (await post(server, tok, { jsonrpc: '2.0', id: 1, method: 'initialize',
			    params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'x', version: '1' } } })).status;
			if (status === 401)
				break;
			await sleep(50);
		} while (Date.now() - t0 < 1000);
		assert.equal(status, 401, 'still accepted 1 s after revocation');
	});

	await t.test('query-string token: never accepted', async () => {
		const r = await request(`${mcpUrl(server)}?access_token=${token}`, {
			method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' },
			body: JSON.stringify(PING),
		});
		assert.equal(r.status, 401);
		assert.equal(challenge(r.headers['www-authenticate']).params.error, undefined);
		const both = await request(`${mcpUrl(server)}?access_token=${token}`, {
			method: 'POST', bearer: token,
			headers: { 'content-type': 'application/json', accept: 'application/json' },
			body: JSON.stringify(PING),
		});
		assert.equal(both.status, 400);
		assert.equal(challenge(both.headers['www-authenticate']).params.error, 'invalid_request');
	});

	await t.test('no token value in the logs or the audit file', async () => {
		assert.ok(!server.logs().includes(token));
		const a = await server.admin(['audit']);
		assert.equal(a.code, 0);
		assert.ok(!a.stdout.includes(token));
		assert.ok(a.stdout.includes('"decision":"deny"'));
	});

	await t.test('protected resource metadata at both paths', async () => {
		for (const u of [prmUrl(server), `${server.url}/.well-known/oauth-protected-resource`]) {
			const r = await request(u);
			assert.equal(r.status, 200, u);
			assert.equal(r.json.resource, mcpUrl(server));
			assert.deepEqual(r.json.authorization_servers, [server.issuer]);
			assert.deepEqual(r.json.bearer_methods_supported, ['header']);
			assert.ok(r.json.scopes_supported.includes('mcp:read'));
			assert.ok(r.json.scopes_supported.includes('mcp:write'));
		}
	});
});

test('wrong audience, wrong issuer, expired', async (t) => {
	// Two resources: a token for the other one is refused here.  A second
	// server on the same store and keys, under another issuer name, signs
	// tokens with the right key but the wrong iss.
	const a = await startGateway(t, {
		config: { tokens: { access_ttl: 10 }, auth: { clock_skew: 0 } },
	});
	const other = `${a.issuer}/other`;
	await a.stop();
	a.config.resources = [`${a.issuer}/mcp`, other];
	const fs = await import('node:fs');
	fs.writeFileSync(a.configPath, JSON.stringify(a.config));
	await a.restart();
	const { token, client } = await ccToken(a, 'mcp:read');

	const wrongAud = await ccToken(a, 'mcp:read', { client, resource: other });
	assertInvalidToken(await post(a, wrongAud.token, PING), a, 'audience');

	const b = await startServer({
		t, config: {
			data_dir: a.dataDir, issuer: `http://localhost:${a.port + 0}`, resources: [`${a.issuer}/mcp`],
			gateway: { enabled: false }, demo_user: null,
		},
	});
	// (b's issuer names a's port: ask b's own listener.)
	const foreign = await ccToken({ metadata: { token_endpoint: `${b.url}/token` } }, 'mcp:read',
	    { client, resource: `${a.issuer}/mcp` });
	assert.equal(JSON.parse(Buffer.from(foreign.token.split('.')[1], 'base64url')).iss, b.issuer);
	assertInvalidToken(await post(a, foreign.token, PING), a, 'issuer');

	// Expiry: access_ttl 10 s, no skew.
	assert.equal((await openSession(a, token)).session.length, 43);
	await sleep(11000);
	assertInvalidToken(await post(a, token, { jsonrpc: '2.0', id: 1, method: 'initialize',
	    params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'x', version: '1' } } }), a, 'expired');
});
