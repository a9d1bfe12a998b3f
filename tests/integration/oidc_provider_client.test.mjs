// The mcpgate client against a third-party authorization server:
// oidc-provider (npm), with resource indicators, dynamic registration and
// client credentials enabled, and a node MCP resource server whose protected
// resource metadata names it.  oidc-provider publishes only OpenID
// discovery (/.well-known/openid-configuration), so the client's RFC 8414 to
// OIDC fallback is exercised too.
//   - client credentials, client_secret_basic and client_secret_post;
//   - the authorization code flow: the CLI registers (application_type
//     native), prints the URL; the test is the browser, driving
//     oidc-provider's login and consent pages over HTTP; then refreshes
//     (offline_access, prompt=consent, rotated refresh tokens).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import Provider from 'oidc-provider';

import {
	CookieJar, freePort, mcpgateBin, parseForms, request, startHttpServer, track, verifyJwt,
} from './lib/mcpgate.mjs';

const CLI_TIMEOUT_MS = 60000;

async function startProvider(t, resource) {
	const port = await freePort();
	const issuer = `http://127.0.0.1:${port}`;
	const provider = new Provider(issuer, {
		clients: [
			{ client_id: 'svc-basic', client_secret: 'secret-basic-0123456789', grant_types: ['client_credentials'],
			    redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' },
			{ client_id: 'svc-post', client_secret: 'secret-post-0123456789', grant_types: ['client_credentials'],
			    redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post' },
		],
		features: {
			clientCredentials: { enabled: true },
			registration: { enabled: true },
			devInteractions: { enabled: true },
			resourceIndicators: {
				enabled: true,
				defaultResource: () => resource,
				useGrantedResource: () => true,
				getResourceServerInfo: (ctx, indicator) => {
					if (indicator !== resource)
						throw new Error(`unknown resource ${indicator}`);
					return { scope: 'mcp:read', audience: resource, accessTokenFormat: 'jwt',
					    jwt: { sign: { alg: 'RS256' } } };
				},
			},
		},
		scopes: ['openid', 'offline_access', 'mcp:read'],
		// Access tokens that expire within the client's refresh margin
		// (a minute): every `mcpgate token` refreshes.
		ttl: { AccessToken: 45 },
		pkce: { required: () => true },
	});
	provider.on('server_error', (ctx, err) => { console.error('oidc-provider error', err); });
	// Record how clients authenticate at the token endpoint.
	const tokenRequests = [];
	provider.use(async (ctx, next) => {
		if (ctx.path === '/token')
			tokenRequests.push({ basic: /^Basic /.test(ctx.get('authorization')) });
		await next();
	});
	const srv = http.createServer(provider.callback());
	await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
	t.after(() => new Promise((resolve) => { srv.closeAllConnections?.(); srv.close(resolve); }));
	return { issuer, jwks: `${issuer}/jwks`, tokenRequests };
}

// The resource server: protected resource metadata naming ${as}, JSON-RPC
// answers to tokens signed by it for this resource.
async function startResource(t, state) {
	const rs = await startHttpServer(async (req, res) => {
		const u = new URL(req.url, 'http://x');
		const resource = `${rs.url}/mcp`;
		if (req.method === 'GET' && u.pathname === '/.well-known/oauth-protected-resource/mcp') {
			res.writeHead(200, { 'content-type': 'application/json' });
			res.end(JSON.stringify({ resource, authorization_servers: [state.as.issuer],
			    scopes_supported: ['mcp:read'] }));
			return;
		}
		let body = '';
		for await (const c of req)
			body += c;
		const msg = JSON.parse(body || '{}');
		const auth = req.headers.authorization ?? '';
		let ok = false;
		if (auth.startsWith('Bearer ')) {
			try {
				const { payload } = await verifyJwt(auth.slice(7), state.as.jwks);
				ok = [payload.aud].flat().includes(resource) && payload.iss === state.as.issuer;
				state.claims.push(payload);
			} catch (err) {
				state.errors.push(String(err));
			}
		}
		if (!ok) {
			res.writeHead(401, { 'www-authenticate':
			    `Bearer resource_metadata="${rs.url}/.well-known/oauth-protected-resource/mcp"` });
			res.end();
			return;
		}
		if (msg.id === undefined) {
			res.writeHead(202).end();
			return;
		}
		const result = msg.method === 'tools/list' ?
		    { tools: [{ name: 'whoami', inputSchema: { type: 'object' } }] } :
		    { content: [{ type: 'text', text: 'ok' }] };
		res.writeHead(200, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }));
	}, { t });
	return rs;
}

// oidc-provider's interaction pages, as a browser: log in with any name,
// confirm consent, follow redirects until one leaves the provider.
async function browse(authorizeUrl) {
	const origin = new URL(authorizeUrl).origin;
	const jar = new CookieJar();
	let res = await request(authorizeUrl, { jar });
	for (let i = 0; i < 15; i++) {
		if (res.status >= 300 && res.status < 400) {
			const next = new URL(res.location);
			if (next.origin !== origin)
				return next;
			res = await request(next.href, { jar });
			continue;
		}
		assert.equal(res.status, 200, `unexpected ${res.status}: ${res.text.slice(0, 500)}`);
		const form = parseForms(res.text).find((f) => (f.method ?? '').toLowerCase() === 'post');
		assert.ok(form, `no form in: ${res.text.slice(0, 500)}`);
		const fields = { ...form.fields };
		if ('login' in fields || 'password' in fields) {
			fields.login = 'alice';
			fields.password = 'whatever';
		}
		res = await request(new URL(form.action, res.url ?? origin).href, { method: 'POST', form: fields, jar });
	}
	throw new Error('too many steps in the oidc-provider interaction');
}

function cli(args) {
	return new Promise((resolve, reject) => {
		const child = track(spawn(mcpgateBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] }));
		let stdout = '', stderr = '', pending = Promise.resolve();
		const seen = new Set();
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error(`mcpgate ${args.join(' ')} timed out\n${stderr}`));
		}, CLI_TIMEOUT_MS);
		child.stdout.on('data', (d) => { stdout += d; });
		child.stderr.on('data', (d) => {
			stderr += d;
			for (const m of stderr.matchAll(/^ {2}(http\S+)$/gm)) {
				if (seen.has(m[1]))
					continue;
				seen.add(m[1]);
				pending = pending.then(async () => {
					const final = await browse(m[1]);
					await fetch(final.href);
				}).catch((err) => { stderr += `\n[test browser] ${err.stack}\n`; });
			}
		});
		child.on('close', async (code) => {
			clearTimeout(timer);
			await pending;
			resolve({ code, stdout, stderr });
		});
	});
}

test('client against oidc-provider', { timeout: 120000 }, async (t) => {
	const state = { as: null, claims: [], errors: [] };
	const rs = await startResource(t, state);
	const url = `${rs.url}/mcp`;
	state.as = await startProvider(t, url);
	const store = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-oidc-client-'));
	t.after(() => fs.rmSync(store, { recursive: true, force: true }));

	for (const [id, secret, how] of [['svc-basic', 'secret-basic-0123456789', 'basic'],
	    ['svc-post', 'secret-post-0123456789', 'post']]) {
		await t.test(`client credentials (client_secret_${how})`, async () => {
			const dir = fs.mkdtempSync(path.join(store, 'cc-'));
			const r = await cli(['call', url, 'whoami', '--store', dir, '--client-credentials',
			    '--client-id', id, '--client-secret', secret, '--client-auth', how]);
			assert.equal(r.code, 0, `${r.stderr}\n${state.errors.join('\n')}`);
			assert.equal(JSON.parse(r.stdout).content[0].text, 'ok');
			const last = state.claims.at(-1);
			assert.equal(last.client_id, id);
			assert.ok([last.aud].flat().includes(url));
			assert.equal(state.as.tokenRequests.at(-1).basic, how === 'basic');
		});
	}

	await t.test('client credentials with --client-secret-file', async () => {
		const dir = fs.mkdtempSync(path.join(store, 'cc-'));
		const file = path.join(dir, 'secret');
		fs.writeFileSync(file, 'secret-post-0123456789\n', { mode: 0o600 });
		const r = await cli(['call', url, 'whoami', '--store', dir, '--client-credentials',
		    '--client-id', 'svc-post', '--client-secret-file', file, '--client-auth', 'post']);
		assert.equal(r.code, 0, `${r.stderr}\n${state.errors.join('\n')}`);
		assert.equal(JSON.parse(r.stdout).content[0].text, 'ok');
		assert.equal(state.claims.at(-1).client_id, 'svc-post');
		assert.doesNotMatch(r.stderr, /readable by others/);
		// Readable by others: a warning, still used; empty, missing or
		// both forms: refused before any request.
		fs.chmodSync(file, 0o644);
		const w = await cli(['call', url, 'whoami', '--store', dir, '--client-credentials',
		    '--client-id', 'svc-post', '--client-secret-file', file, '--client-auth', 'post']);
		assert.equal(w.code, 0, w.stderr);
		assert.match(w.stderr, /readable by others/);
		fs.writeFileSync(file, '\n');
		for (const args of [['--client-secret-file', file], ['--client-secret-file', path.join(dir, 'none')],
		    ['--client-secret-file', file, '--client-secret', 'x']]) {
			const before = state.as.tokenRequests.length;
			const b = await cli(['call', url, 'whoami', '--store', dir, '--client-credentials',
			    '--client-id', 'svc-post', ...args]);
			assert.notEqual(b.code, 0, b.stderr);
			assert.match(b.stderr, /client secret file|not both/);
			assert.equal(state.as.tokenRequests.length, before);
			assert.doesNotMatch(b.stderr, /secret-post-0123456789/);
		}
	});

	await t.test('pre-registered credentials tied to an issuer (--issuer)', async () => {
		const dir = fs.mkdtempSync(path.join(store, 'cc-'));
		const base = ['call', url, 'whoami', '--store', dir, '--client-credentials',
		    '--client-id', 'svc-post', '--client-secret', 'secret-post-0123456789', '--client-auth', 'post'];
		const ok = await cli([...base, '--issuer', state.as.issuer]);
		assert.equal(ok.code, 0, ok.stderr);
		assert.equal(JSON.parse(ok.stdout).content[0].text, 'ok');
		// Another issuer: refused before the credentials go anywhere.
		const before = state.as.tokenRequests.length;
		const dir2 = fs.mkdtempSync(path.join(store, 'cc-'));
		const bad = await cli([...base.map((a) => (a === dir ? dir2 : a)), '--issuer', 'https://as.other.example']);
		assert.equal(bad.code, 1, bad.stderr);
		assert.match(bad.stderr, /registered with https:\/\/as\.other\.example/);
		assert.equal(state.as.tokenRequests.length, before);
		assert.equal(bad.stdout, '');
	});

	await t.test('client credentials with a wrong secret fail clearly', async () => {
		const dir = fs.mkdtempSync(path.join(store, 'cc-'));
		const r = await cli(['call', url, 'whoami', '--store', dir, '--client-credentials',
		    '--client-id', 'svc-basic', '--client-secret', 'wrong-secret-0123456789']);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /token endpoint .* refused the request \(HTTP 401, invalid_client/);
		assert.equal(r.stderr.includes('wrong-secret'), false);
	});

	await t.test('authorization code with registration, login and consent pages', async () => {
		const dir = fs.mkdtempSync(path.join(store, 'code-'));
		const r = await cli(['login', url, '--store', dir, '--no-browser']);
		assert.equal(r.code, 0, `${r.stderr}\n${state.errors.join('\n')}`);
		const tools = await cli(['tools', url, '--store', dir, '--no-login']);
		assert.equal(tools.code, 0, tools.stderr);
		assert.deepEqual(JSON.parse(tools.stdout).tools.map((x) => x.name), ['whoami']);
		const last = state.claims.at(-1);
		assert.equal(last.sub, 'alice');
		assert.match(last.scope, /mcp:read/);

		// offline_access with prompt=consent gave a refresh token; each
		// `token` refreshes (the access token lives 45 s, under the
		// client's one-minute margin), and oidc-provider rotates the
		// refresh token, so the second refresh proves the first rotated
		// one was stored.
		const status = await cli(['status', '--store', dir]);
		assert.equal(status.code, 0, status.stderr);
		assert.match(status.stdout, /refresh: +yes/);
		const seen = new Set();
		for (let i = 0; i < 2; i++) {
			const tok = await cli(['token', url, '--store', dir, '--no-login']);
			assert.equal(tok.code, 0, `${tok.stderr}\n${state.errors.join('\n')}`);
			seen.add(tok.stdout.trim());
		}
		assert.equal(seen.size, 2, 'each token call should have refreshed');
		const after = await cli(['tools', url, '--store', dir, '--no-login']);
		assert.equal(after.code, 0, after.stderr);
	});
});
