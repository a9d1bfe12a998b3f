// Regressions from the security review: each test pins one fixed hole.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
	CookieJar, DEFAULT_REDIRECT_URI, authorizeUrl, codeFlow, parseForms, pkce, registerClient, request,
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

test('introspection is for administrator-made clients, not for anyone who registers', { timeout: 60000 },
    async (t) => {
	const server = await startServer({ t });
	const flow = await codeFlow(server, {});
	assert.equal(flow.token.status, 200, flow.token.text);
	const reg = await registerClient(server, {
		client_name: 'would-be resource server', redirect_uris: [DEFAULT_REDIRECT_URI],
		token_endpoint_auth_method: 'client_secret_basic',
	});
	assert.equal(reg.status, 201, reg.text);
	for (const token of [flow.token.json.access_token, flow.token.json.refresh_token]) {
		const res = await request(server.metadata.introspection_endpoint, {
			method: 'POST', basic: [reg.json.client_id, reg.json.client_secret], form: { token },
		});
		assert.equal(res.status, 401, res.text);
		assert.equal(res.json.error, 'invalid_client');
		assert.equal(res.json.sub, undefined);
	}

	const add = await server.admin(['client', 'add', '--name', 'rs', '--grant', 'client_credentials']);
	assert.equal(add.code, 0, add.stderr);
	const rs = add.json;
	const res = await request(server.metadata.introspection_endpoint, {
		method: 'POST', basic: [rs.client_id, rs.client_secret], form: { token: flow.token.json.access_token },
	});
	assert.equal(res.status, 200, res.text);
	assert.equal(res.json.active, true);
});

test('form posts sent by another site are refused (Origin, Sec-Fetch-Site)', { timeout: 60000 }, async (t) => {
	const server = await startServer({ t });
	const reg = await registerClient(server, {
		client_name: 'xsite', redirect_uris: [DEFAULT_REDIRECT_URI], token_endpoint_auth_method: 'none',
	});
	assert.equal(reg.status, 201, reg.text);
	const jar = new CookieJar();
	const page = await request(authorizeUrl(server, {
		response_type: 'code', client_id: reg.json.client_id, redirect_uri: DEFAULT_REDIRECT_URI,
		code_challenge: pkce().challenge, code_challenge_method: 'S256',
	}), { jar });
	assert.equal(page.status, 200);
	const form = parseForms(page.text).find((f) => f.action === '/login');
	const post = (headers) => request(`${server.url}/login`, {
		method: 'POST', headers, jar,
		form: { ...form.fields, username: server.username, password: server.password },
	});
	for (const headers of [{ origin: 'http://evil.example' }, { origin: 'null' },
	    { origin: `${server.issuer}.evil.example` }, { 'sec-fetch-site': 'cross-site' }]) {
		const res = await post(headers);
		assert.equal(res.status, 403, JSON.stringify(headers));
		assert.match(res.text, /another site/);
		assert.equal(res.headers['set-cookie'], undefined, 'no session for a refused post');
	}
	// The browser's own post: same origin.
	const ok = await post({ origin: server.issuer, 'sec-fetch-site': 'same-origin' });
	assert.equal(ok.status, 303);
	assert.match(ok.location, /\/consent\?req=/);
});
