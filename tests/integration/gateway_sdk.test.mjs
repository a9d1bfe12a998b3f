// The official MCP TypeScript SDK client against `mcpgate serve`: the whole
// OAuth flow (401, protected resource metadata, authorization server
// metadata, dynamic registration, authorization code with PKCE through our
// login and consent pages, token), tools/list and tools/call; then step-up
// (a call that needs mcp:write with an mcp:read token: 403, a new
// authorization with both scopes, success); then client credentials with
// the SDK's ClientCredentialsProvider.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';

import { CookieJar, authorizeInteractively, decodeJwt } from './lib/mcpgate.mjs';
import { mcpUrl, startGateway } from './lib/gateway.mjs';
import { serviceClient } from './lib/tokens.mjs';

const REDIRECT = 'http://127.0.0.1:9/callback';
const CLIENT_SCOPES = 'mcp:read mcp:write';

// The SDK registers a client for the scope of the first challenge only
// (mcp:read), and our authorization server never grants a client more than
// it registered for, so a later step-up could not get mcp:write.  This
// client registers for every scope it may ever ask for (RFC 7591 lets it
// choose), and still asks each authorization for the least it needs.
function registeringFor(scopes) {
	return async (url, init) => {
		if (init?.method === 'POST' && String(url).endsWith('/register') && typeof init.body === 'string') {
			const body = JSON.parse(init.body);
			body.scope = scopes;
			init = { ...init, body: JSON.stringify(body) };
		}
		return fetch(url, init);
	};
}

// An OAuthClientProvider whose "browser" submits our login and consent
// forms over HTTP.  Scope accumulation across step-ups is the client's
// business (MCP authorization, "Step-Up Authorization Flow"): the
// authorization request asks for the union of what the last token had and
// what the challenge names.  It keeps no refresh token: on a 403
// insufficient_scope, SDK 1.32.2 refreshes a refresh token it holds without
// asking for the challenged scope (and gets the same token again), where a
// new authorization is what step-up needs.
class FormProvider {
	constructor(server) {
		this.server = server;
		this.jar = new CookieJar();
		this.authorizations = [];
	}

	get redirectUrl() { return REDIRECT; }

	get clientMetadata() {
		return {
			client_name: 'sdk integration test', redirect_uris: [REDIRECT],
			grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
			token_endpoint_auth_method: 'none',
		};
	}

	clientInformation() { return this.client; }
	saveClientInformation(c) { this.client = c; }
	tokens() { return this._tokens; }
	saveTokens(t) { this._tokens = { ...t, refresh_token: undefined }; }
	saveCodeVerifier(v) { this.verifier = v; }
	codeVerifier() { return this.verifier; }

	async redirectToAuthorization(url) {
		const asked = new Set((url.searchParams.get('scope') ?? '').split(' ').filter(Boolean));
		for (const s of (this._tokens?.scope ?? '').split(' ').filter(Boolean))
			asked.add(s);
		url.searchParams.set('scope', [...asked].sort().join(' '));
		this.authorizations.push(url);
		const back = await authorizeInteractively({
			authorizeUrl: url.href, username: this.server.username, password: this.server.password, jar: this.jar,
		});
		this.code = back.searchParams.get('code');
		assert.ok(this.code, `no code: ${back.href}`);
	}
}

test('the SDK client: authorization code with PKCE, step-up, client credentials', async (t) => {
	const server = await startGateway(t);
	const url = new URL(mcpUrl(server));

	const provider = new FormProvider(server);
	const opts = { authProvider: provider, fetch: registeringFor(CLIENT_SCOPES) };
	let transport = new StreamableHTTPClientTransport(url, opts);
	let client = new Client({ name: 'sdk-test', version: '1.0.0' });
	await assert.rejects(client.connect(transport), UnauthorizedError);
	assert.equal(provider.authorizations.length, 1);
	const first = provider.authorizations[0];
	assert.equal(first.searchParams.get('scope'), 'mcp:read');
	assert.equal(first.searchParams.get('resource'), mcpUrl(server));
	assert.equal(first.searchParams.get('code_challenge_method'), 'S256');
	assert.ok(provider.client.client_id, 'registered');
	await transport.finishAuth(provider.code);
	assert.equal(provider.tokens().scope, 'mcp:read');
	assert.equal(decodeJwt(provider.tokens().access_token).payload.aud, mcpUrl(server));

	transport = new StreamableHTTPClientTransport(url, opts);
	client = new Client({ name: 'sdk-test', version: '1.0.0' });
	await client.connect(transport);
	t.after(() => client.close());
	const tools = (await client.listTools()).tools.map((x) => x.name);
	assert.deepEqual(tools, ['echo__echo']);	// read-only tools only
	const r = await client.callTool({ name: 'echo__echo', arguments: { text: 'via sdk' } });
	assert.equal(r.content[0].text, 'via sdk');

	// Step-up: echo__slow needs mcp:write.
	await assert.rejects(client.callTool({ name: 'echo__slow', arguments: { ms: 1, text: 'w' } }),
	    UnauthorizedError);
	assert.equal(provider.authorizations.length, 2);
	assert.equal(provider.authorizations[1].searchParams.get('scope'), 'mcp:read mcp:write');
	await transport.finishAuth(provider.code);
	assert.equal(provider.tokens().scope, 'mcp:read mcp:write');
	const w = await client.callTool({ name: 'echo__slow', arguments: { ms: 1, text: 'written' } });
	assert.equal(w.content[0].text, 'written');
	assert.ok((await client.listTools()).tools.length > 1);

	// Client credentials.
	const svc = await serviceClient(server, 'mcp:read mcp:write');
	const cc = new ClientCredentialsProvider({
		clientId: svc.client_id, clientSecret: svc.client_secret, scope: 'mcp:read',
		expectedIssuer: server.issuer,
	});
	const ct = new StreamableHTTPClientTransport(url, { authProvider: cc });
	const c2 = new Client({ name: 'sdk-cc', version: '1.0.0' });
	await c2.connect(ct);
	t.after(() => c2.close());
	assert.equal(cc.tokens().scope, 'mcp:read');
	const e = await c2.callTool({ name: 'echo__echo', arguments: { text: 'machine' } });
	assert.equal(e.content[0].text, 'machine');
});
