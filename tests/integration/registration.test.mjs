// Dynamic client registration beyond single requests (those are in
// cases/registration-*.json): registered clients going through the code
// flow with their secrets, and the reaping of registrations that never
// obtained a token (registration.reap_after, run on SIGHUP).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
	DEFAULT_REDIRECT_URI, authorizeInteractively, authorizeUrl, codeFlow, pkce, randomToken, registerClient, request, sleep,
	startServer,
} from './lib/mcpgate.mjs';

async function register(server, body = {}) {
	const res = await registerClient(server, {
		client_name: `reg-${randomToken(4)}`,
		redirect_uris: [DEFAULT_REDIRECT_URI],
		token_endpoint_auth_method: 'none',
		...body,
	});
	assert.equal(res.status, 201, res.text);
	return res.json;
}

// GET /authorize for `clientId`: the login page (200) while the client
// exists, the error page (400) once it is gone.
function startAuthorization(server, clientId) {
	return request(authorizeUrl(server, {
		response_type: 'code', client_id: clientId, redirect_uri: DEFAULT_REDIRECT_URI,
		state: 'x', code_challenge: pkce().challenge, code_challenge_method: 'S256',
	}));
}

test('confidential registered clients authenticate at the token endpoint with their secret', { timeout: 60000 },
    async (t) => {
	const server = await startServer({ t });
	for (const method of ['client_secret_basic', 'client_secret_post']) {
		const client = await register(server, { token_endpoint_auth_method: method });
		assert.equal(typeof client.client_secret, 'string');
		const flow = await codeFlow(server, { client });
		assert.equal(flow.token.status, 200, `${method}: ${flow.token.text}`);
		assert.equal(typeof flow.token.json.access_token, 'string');

		// Without the secret, or with a wrong one, a code is not
		// redeemed.
		for (const [what, opts] of [
			['no secret', { form: { client_id: client.client_id } }],
			['wrong secret (basic)', { basic: [client.client_id, `${client.client_secret}x`], form: {} }],
			['wrong secret (post)', { form: { client_id: client.client_id, client_secret: 'nope' } }],
		]) {
			const p = pkce();
			const redirect = await authorizeInteractively({
				authorizeUrl: authorizeUrl(server, {
					response_type: 'code', client_id: client.client_id,
					redirect_uri: DEFAULT_REDIRECT_URI, state: 's', code_challenge: p.challenge,
					code_challenge_method: 'S256',
				}),
				password: server.password,
			});
			const res = await request(server.metadata.token_endpoint, {
				method: 'POST', basic: opts.basic,
				form: { ...opts.form, grant_type: 'authorization_code', code: redirect.searchParams.get('code'),
					redirect_uri: DEFAULT_REDIRECT_URI, code_verifier: p.verifier },
			});
			assert.equal(res.status, 401, `${method}, ${what}: ${res.text}`);
			assert.equal(res.json.error, 'invalid_client');
			assert.equal(res.json.access_token, undefined);
		}
	}
});

test('registrations that never obtained a token are reaped on SIGHUP after reap_after seconds', { timeout: 60000 },
    async (t) => {
	const server = await startServer({ t, config: { registration: { reap_after: 1 } } });
	const used = await register(server);
	const unused = await register(server);
	const flow = await codeFlow(server, { client: used });
	assert.equal(flow.token.status, 200, flow.token.text);
	const admin = await server.admin(['client', 'add', '--name', 'by-admin', '--redirect-uri',
		DEFAULT_REDIRECT_URI, '--public']);
	assert.equal(admin.code, 0, admin.stderr);
	const adminClient = admin.json.client_id;

	await sleep(2000);
	// Nothing happens before the signal (housekeeping runs every 60 s).
	assert.equal((await startAuthorization(server, unused.client_id)).status, 200);

	server.signal('SIGHUP');
	let res;
	const deadline = Date.now() + 10000;
	do {
		await sleep(50);
		res = await startAuthorization(server, unused.client_id);
	} while (res.status === 200 && Date.now() < deadline);
	assert.equal(res.status, 400, 'the unused registration was not reaped');
	assert.equal(res.location, undefined);
	assert.match(res.text, /not registered/);

	// The one that obtained a token stays, and so do clients made by
	// the administrator.
	assert.equal((await startAuthorization(server, used.client_id)).status, 200);
	assert.equal((await startAuthorization(server, adminClient)).status, 200);
	const list = await server.admin(['client', 'list']);
	assert.equal(list.code, 0, list.stderr);
	assert.ok(list.stdout.includes(used.client_id));
	assert.ok(list.stdout.includes(adminClient));
	assert.equal(list.stdout.includes(unused.client_id), false);
	// The server is still well after the signal, and the used client can
	// still refresh its tokens.
	const refresh = await request(server.metadata.token_endpoint, {
		method: 'POST',
		form: { grant_type: 'refresh_token', refresh_token: flow.token.json.refresh_token,
			client_id: used.client_id },
	});
	assert.equal(refresh.status, 200, refresh.text);
	assert.equal(server.exitStatus(), null);
});
