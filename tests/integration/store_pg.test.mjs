// Two nodes on one PostgreSQL store: two `mcpgate serve` processes with the
// same issuer, master key and database.  A token revoked at one node is
// refused at the other's /mcp (its denylist polls the store), and a refresh
// token rotated at one node is refused at the other.
//
// The database is the ctest fixture "pg" (tests/support/pg_cluster.sh): its
// URL is in the file named by $MCPGATE_TEST_PG_STATE, and this test uses the
// fixture's second database, mcpgate_it, so that it may run alongside the
// unit test of the store.  $MCPGATE_TEST_PG_IT_URL names another database.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';

import {
	CookieJar, DEFAULT_REDIRECT_URI, clientAuth, codeFlow, request, sleep, startServer,
} from './lib/mcpgate.mjs';
import { echoMcp, post, LEGACY } from './lib/gateway.mjs';
import { assertOAuthError, assertTokenOk, revoke, serviceClient, tokenRequest } from './lib/tokens.mjs';

// Longest wait for a revocation to reach the other node (polled every
// 250 ms).
const PROPAGATION_MS = 5000;

function storeUrl() {
	if (process.env.MCPGATE_TEST_PG_IT_URL)
		return process.env.MCPGATE_TEST_PG_IT_URL;
	const state = process.env.MCPGATE_TEST_PG_STATE;
	if (!state)
		return null;
	const url = fs.readFileSync(state, 'utf8').trim();
	assert.match(url, /\/mcpgate$/, 'unexpected fixture URL');
	return `${url}_it`;
}

const url = storeUrl();

describe('two nodes on one PostgreSQL store', { timeout: 120000, skip: url === null ? 'no PostgreSQL fixture' : false }, () => {
	let a, b;
	const jar = new CookieJar();
	const env = { MCPGATE_MASTER_KEY: crypto.randomBytes(32).toString('base64url') };

	const init = {
		jsonrpc: '2.0', id: 1, method: 'initialize',
		params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 't', version: '1' } },
	};

	before(async () => {
		const mcpServers = { echo: { command: echoMcp() } };
		// Node A creates the schema and the signing key; node B, started
		// after it, finds both.
		a = await startServer({ env, config: { store: url, mcpServers } });
		b = await startServer({
			env,
			config: {
				store: url, mcpServers, issuer: a.issuer, resources: [`${a.issuer}/mcp`],
				demo_user: { username: a.username, password: a.password },
			},
		});
	});
	after(async () => {
		await Promise.all([a?.cleanup(), b?.cleanup()]);
	});

	test('the store URL and its password stay out of the logs', () => {
		const password = decodeURIComponent(new URL(url).password);
		for (const n of [a, b]) {
			assert.match(n.logs(), /store: PostgreSQL database mcpgate_it on /);
			assert.ok(!n.logs().includes('postgresql://'), 'URL in the log');
			if (password)
				assert.ok(!n.logs().includes(password), 'password in the log');
		}
	});

	test('a node with a wrong password does not start, and its log shows neither', async () => {
		const wrong = new URL(url);
		wrong.password = 'Wr0ngPassw0rdOfTheTest';
		const password = decodeURIComponent(new URL(url).password);
		await assert.rejects(startServer({ env, config: { store: wrong.href } }), (err) => {
			assert.match(err.message, /exited before it was ready/);
			assert.match(err.message, /store: cannot connect to database mcpgate_it on \//);
			assert.ok(!err.message.includes('Wr0ngPassw0rdOfTheTest'), 'password in the log');
			assert.ok(!err.message.includes('postgresql://'), 'URL in the log');
			if (password)
				assert.ok(!err.message.includes(password), 'password in the log');
			return true;
		});
	});

	test('an access token revoked at node A is refused at node B', async () => {
		const svc = await serviceClient(a);
		const t = assertTokenOk(await tokenRequest(a, svc, {
			grant_type: 'client_credentials', scope: 'mcp:read', resource: `${a.issuer}/mcp`,
		}));
		const ok = await post(b, t.access_token, init);
		assert.equal(ok.status, 200, `node B before revocation: ${ok.status} ${ok.text}`);

		assert.equal((await revoke(a, svc, t.access_token)).status, 200);
		const deadline = Date.now() + PROPAGATION_MS;
		let r;
		for (;;) {
			r = await post(b, t.access_token, init);
			if (r.status !== 200 || Date.now() > deadline)
				break;
			await sleep(100);
		}
		assert.equal(r.status, 401, `node B after revocation: ${r.status} ${r.text}`);
		assert.match(r.headers['www-authenticate'] ?? '', /error="invalid_token"/);
	});

	test('a refresh token rotated at node B is refused at node A', async () => {
		const f = await codeFlow(a, { scope: 'mcp:read', jar });
		const g = assertTokenOk(f.token, 'code exchange at A');
		assert.equal(typeof g.refresh_token, 'string');

		// Node B's token endpoint, not the issuer's (node A's).
		const atB = await request(`${b.url}/token`, {
			method: 'POST',
			...clientAuth(f.client, { grant_type: 'refresh_token', refresh_token: g.refresh_token }),
		});
		const next = assertTokenOk(atB, 'refresh at B');
		assert.notEqual(next.refresh_token, g.refresh_token);
		const use = await post(a, next.access_token, init);
		assert.equal(use.status, 200, `B's access token at A: ${use.status} ${use.text}`);

		const again = await request(a.metadata.token_endpoint, {
			method: 'POST',
			...clientAuth(f.client, { grant_type: 'refresh_token', refresh_token: g.refresh_token }),
		});
		assertOAuthError(again, 400, 'invalid_grant', 'rotated token at A');
	});

	test('a code replayed at node B revokes what node A issued for it', async () => {
		const f = await codeFlow(a, { scope: 'mcp:read', jar });
		const g = assertTokenOk(f.token, 'code exchange at A');
		assert.equal((await post(a, g.access_token, init)).status, 200);
		const replay = await request(`${b.url}/token`, {
			method: 'POST',
			...clientAuth(f.client, {
				grant_type: 'authorization_code', code: f.code,
				redirect_uri: DEFAULT_REDIRECT_URI, code_verifier: f.pkce.verifier,
			}),
		});
		assertOAuthError(replay, 400, 'invalid_grant', 'code replayed at B');
		const deadline = Date.now() + PROPAGATION_MS;
		let r;
		for (;;) {
			r = await post(a, g.access_token, init);
			if (r.status !== 200 || Date.now() > deadline)
				break;
			await sleep(100);
		}
		assert.equal(r.status, 401, `A's access token after the replay: ${r.status} ${r.text}`);
		const rt = await request(a.metadata.token_endpoint, {
			method: 'POST',
			...clientAuth(f.client, { grant_type: 'refresh_token', refresh_token: g.refresh_token }),
		});
		assertOAuthError(rt, 400, 'invalid_grant', 'refresh token of a replayed code');
	});
});
