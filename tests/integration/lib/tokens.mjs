// Helpers for the token, revocation and introspection tests: clients made
// with `mcpgate admin`, token requests, introspection and revocation calls,
// and the common checks of a token endpoint answer.
//
// Built on lib/mcpgate.mjs; only node: built-ins.

import assert from 'node:assert/strict';

import { clientAuth, request } from './mcpgate.mjs';

// `mcpgate admin client add ARGS...`: resolves the printed
// {client_id, client_secret?}.  Throws when the command fails.
export async function adminClient(server, args) {
	const r = await server.admin(['client', 'add', ...args]);
	if (r.code !== 0 || r.json === undefined)
		throw new Error(`admin client add ${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
	return r.json;
}

// A confidential client_credentials client (also a resource server for
// introspection), authenticating with client_secret_basic.
export async function serviceClient(server, scope = 'mcp:read mcp:write') {
	const c = await adminClient(server, ['--name', 'svc', '--grant', 'client_credentials',
	    '--scope', scope]);
	return { ...c, token_endpoint_auth_method: 'client_secret_basic' };
}

// POST to the token endpoint with the client's authentication.
export function tokenRequest(server, client, form, opts = {}) {
	return request(server.metadata.token_endpoint, { method: 'POST', ...clientAuth(client, form), ...opts });
}

// POST to the introspection endpoint as ${client}; resolves the response.
export function introspect(server, client, token, extra = {}) {
	const endpoint = server.metadata.introspection_endpoint ?? `${server.issuer}/introspect`;
	return request(endpoint, { method: 'POST', ...clientAuth(client, { token, ...extra }) });
}

// Introspects ${token} and returns the parsed body, asserting a 200 JSON
// answer with a boolean "active".
export async function introspectJson(server, client, token, extra = {}) {
	const r = await introspect(server, client, token, extra);
	assert.equal(r.status, 200, `introspection: ${r.status} ${r.text}`);
	assert.equal(typeof r.json?.active, 'boolean', `introspection body: ${r.text}`);
	return r.json;
}

// POST to the revocation endpoint as ${client}.
export function revoke(server, client, token, extra = {}) {
	const endpoint = server.metadata.revocation_endpoint ?? `${server.issuer}/revoke`;
	return request(endpoint, { method: 'POST', ...clientAuth(client, { token, ...extra }) });
}

// A refresh_token grant request by ${client}.
export function refresh(server, client, refreshToken, extra = {}) {
	return tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: refreshToken, ...extra });
}

// Asserts an RFC 6749 section 5.2 error answer: ${status}, JSON with
// ${error}, and the no-store headers of section 5.1.
export function assertOAuthError(res, status, error, what = '') {
	const where = `${what ? `${what}: ` : ''}${res.status} ${res.text}`;
	assert.equal(res.status, status, where);
	assert.match(res.headers['content-type'] ?? '', /^application\/json/, where);
	assert.equal(typeof res.json, 'object', where);
	assert.equal(res.json.error, error, where);
	assert.equal(res.headers['cache-control'], 'no-store', where);
	assert.equal(res.headers.pragma, 'no-cache', where);
}

// Asserts a successful token answer and returns its body.
export function assertTokenOk(res, what = '') {
	const where = `${what ? `${what}: ` : ''}${res.status} ${res.text}`;
	assert.equal(res.status, 200, where);
	assert.match(res.headers['content-type'] ?? '', /^application\/json/, where);
	assert.equal(res.headers['cache-control'], 'no-store', where);
	assert.equal(res.headers.pragma, 'no-cache', where);
	assert.equal(typeof res.json.access_token, 'string', where);
	assert.equal(res.json.token_type, 'Bearer', where);
	return res.json;
}
