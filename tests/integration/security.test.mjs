// Regressions from the security review: each test pins one fixed hole.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
	DEFAULT_REDIRECT_URI, authorizeUrl, codeFlow, pkce, request,
	startServer,
} from './lib/mcpgate.mjs';

test('deleting a user ends its session and revokes its refresh tokens', { timeout: 60000 }, async (t) => {
	const server = await startServer({ t });
	const flow = await codeFlow(server, {});
	assert.equal(flow.token.status, 200, flow.token.text);

	const del = await server.admin(['user', 'del', server.username]);
	assert.equal(del.code, 0, del.stderr);

	const refresh = await request(server.metadata.token_endpoint, {
		method: 'POST',
		form: {
			grant_type: 'refresh_token', refresh_token: flow.token.json.refresh_token,
			client_id: flow.client.client_id,
		},
	});
	assert.equal(refresh.status, 400, refresh.text);
	assert.equal(refresh.json.error, 'invalid_grant');

	// The browser's session no longer signs anyone in: no code through
	// the remembered consent, the login page instead.
	const p = pkce();
	const res = await request(authorizeUrl(server, {
		response_type: 'code', client_id: flow.client.client_id, redirect_uri: DEFAULT_REDIRECT_URI,
		state: 's', code_challenge: p.challenge, code_challenge_method: 'S256',
	}), { jar: flow.jar });
	assert.equal(res.status, 200, `${res.status} ${res.location ?? ''}`);
	assert.match(res.text, /name="password"/);
});
