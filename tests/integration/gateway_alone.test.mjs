// The gateway alone ("authorization_server": {"enabled": false}) against
// another authorization server: here a second mcpgate, trusted through
// RFC 7662 introspection.  Its protected resource metadata names that
// issuer; its tokens work; a token revoked there is refused here once the
// introspection cache lets go of it.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { request, startServer } from './lib/mcpgate.mjs';
import { revoke, serviceClient } from './lib/tokens.mjs';
import { ccToken, echoMcp, openSession, post } from './lib/gateway.mjs';

test('a gateway without its own authorization server', async (t) => {
	const as = await startServer({ t, config: { gateway: { enabled: false } } });
	const rsClient = await serviceClient(as, 'mcp:read');
	const resource = `${as.issuer}/mcp`;	// the audience the AS issues for
	const gw = await startServer({
		t,
		readyPath: '/.well-known/oauth-protected-resource',
		config: {
			authorization_server: { enabled: false },
			demo_user: null,
			gateway: { resource },
			auth: {
				mode: 'introspection', issuer: as.issuer, allow_http: true, cache_ttl: 1,
				introspection_endpoint: `${as.issuer}/introspect`,
				client_id: rsClient.client_id, client_secret: rsClient.client_secret,
			},
			mcpServers: { echo: { command: echoMcp() } },
		},
	});
	const prm = await request(`${gw.url}/.well-known/oauth-protected-resource/mcp`);
	assert.equal(prm.status, 200);
	assert.equal(prm.json.resource, resource);
	assert.deepEqual(prm.json.authorization_servers, [as.issuer]);
	assert.equal((await request(`${gw.url}/.well-known/oauth-authorization-server`)).status, 404);

	const { token, client } = await ccToken(as, 'mcp:read', { resource });
	const s = await openSession(gw, token);
	const r = await post(gw, token, { jsonrpc: '2.0', id: 1, method: 'tools/call',
	    params: { name: 'echo__echo', arguments: { text: 'alone' } } },
	{ session: s.session, version: s.version, headers: { accept: 'application/json' } });
	assert.equal(r.json.result.content[0].text, 'alone');

	const none = await post(gw, null, { jsonrpc: '2.0', id: 1, method: 'ping' });
	assert.equal(none.status, 401);
	assert.match(none.headers['www-authenticate'], /resource_metadata="[^"]*\/\.well-known\/oauth-protected-resource\/mcp"/);

	assert.equal((await revoke(as, client, token)).status, 200);
	let status = 200;
	for (let i = 0; i < 60 && status !== 401; i++) {
		status = (await post(gw, token, { jsonrpc: '2.0', id: 2, method: 'ping' },
		    { session: s.session, version: s.version })).status;
		if (status !== 401)
			await new Promise((res) => setTimeout(res, 100));
	}
	assert.equal(status, 401, 'a revoked token is refused after the cache TTL');
});
