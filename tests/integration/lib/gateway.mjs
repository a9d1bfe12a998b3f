// Helpers for the gateway's integration tests: a server fronting the echo
// MCP server (build/echo_mcp), client-credentials tokens for it, and MCP
// requests over Streamable HTTP in each protocol version.
//
// Built on lib/mcpgate.mjs; only node: built-ins.

import assert from 'node:assert/strict';
import path from 'node:path';

import { SOURCE_DIR, request, startServer } from './mcpgate.mjs';
import { serviceClient, tokenRequest } from './tokens.mjs';

export const LEGACY = '2025-11-25';
export const LEGACY_OLD = '2025-06-18';
export const MODERN = '2026-07-28';
export const ACCEPT = 'application/json, text/event-stream';

export function echoMcp() {
	return process.env.MCPGATE_ECHO_MCP || path.join(SOURCE_DIR, 'build', 'echo_mcp');
}

// A server with the echo upstream (as "echo", unless `echo` is false) and
// `servers`.
export function startGateway(t, { config = {}, servers = {}, env = {}, echo = true } = {}) {
	return startServer({
		t, env,
		config: { mcpServers: { ...(echo ? { echo: { command: echoMcp() } } : {}), ...servers }, ...config },
	});
}

export function mcpUrl(server) {
	return `${server.url}/mcp`;
}

// A client_credentials token for the gateway with ${scope}.
export async function ccToken(server, scope = 'mcp:read mcp:write', { client, resource } = {}) {
	client ??= await serviceClient(server, 'mcp:read mcp:write mcp:github mcp:jira');
	const r = await tokenRequest(server, client, {
		grant_type: 'client_credentials', scope, resource: resource ?? mcpUrl(server),
	});
	assert.equal(r.status, 200, `token: ${r.status} ${r.text}`);
	return { token: r.json.access_token, client };
}

// POST one JSON-RPC message (an object, or raw text as `body`).
export function post(server, token, msg, { headers = {}, body, session, version } = {}) {
	const h = { accept: ACCEPT, 'content-type': 'application/json', ...headers };
	if (session)
		h['mcp-session-id'] = session;
	if (version)
		h['mcp-protocol-version'] = version;
	return request(mcpUrl(server), {
		method: 'POST', headers: h, bearer: token,
		body: body ?? JSON.stringify(msg),
	});
}

// Parses a response that is JSON or an SSE stream; resolves the list of
// JSON-RPC messages it carried.
export function messages(res) {
	if ((res.headers['content-type'] || '').startsWith('text/event-stream')) {
		const out = [];
		for (const ev of res.text.split(/\n\n/)) {
			const data = ev.split('\n').filter((l) => l.startsWith('data:'))
			    .map((l) => l.slice(5).trimStart()).join('\n');
			if (data)
				out.push(JSON.parse(data));
		}
		return out;
	}
	return res.json === undefined ? [] : [res.json];
}

// The final response to request ${id} in ${res}.
export function answer(res, id) {
	const m = messages(res).find((x) => x.id === id && ('result' in x || 'error' in x));
	assert.ok(m, `no answer to ${id}: ${res.status} ${res.text}`);
	return m;
}

// A legacy session: initialize and the initialized notification.
export async function openSession(server, token, version = LEGACY) {
	const r = await post(server, token, {
		jsonrpc: '2.0', id: 0, method: 'initialize',
		params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 't', version: '1' } },
	});
	assert.equal(r.status, 200, r.text);
	const session = r.headers['mcp-session-id'];
	assert.ok(session, 'no Mcp-Session-Id');
	const n = await post(server, token, { jsonrpc: '2.0', method: 'notifications/initialized' },
	    { session, version: r.json.result.protocolVersion });
	assert.equal(n.status, 202);
	return { session, version: r.json.result.protocolVersion, init: r.json };
}

// A legacy call in ${s} (from openSession).
export function call(server, token, s, id, method, params = {}, opts = {}) {
	return post(server, token, { jsonrpc: '2.0', id, method, params },
	    { session: s.session, version: s.version, ...opts });
}

// A modern (2026-07-28) request with the mirrored headers.
export function modern(server, token, id, method, params = {}, { headers = {}, name } = {}) {
	const h = { 'mcp-method': method, ...headers };
	const n = name ?? params.name ?? params.uri;
	if (n !== undefined && headers['mcp-name'] === undefined)
		h['mcp-name'] = n;
	const p = { ...params, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, ...(params._meta ?? {}) } };
	return post(server, token, { jsonrpc: '2.0', id, method, params: p }, { version: MODERN, headers: h });
}

// Parses a WWW-Authenticate Bearer challenge into {scheme, params}.
export function challenge(h) {
	assert.ok(h, 'no WWW-Authenticate');
	const m = /^(\S+)\s*(.*)$/.exec(h);
	const params = {};
	for (const p of m[2].matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g))
		params[p[1]] = p[2].replace(/\\(.)/g, '$1');
	return { scheme: m[1], params };
}
