// The mcpgate client against hostile or broken servers: every case must end
// with a clear message and exit status 1: never a crash, a hang or a token
// on the output.  One node server plays the MCP resource and a minimal
// authorization server (metadata, registration, an authorization endpoint
// that redirects at once, a token endpoint), each part misbehaving as the
// case asks.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { freePort, mcpgateBin, startHttpServer, track } from './lib/mcpgate.mjs';

const CLI_TIMEOUT_MS = 30000;

// Run the CLI; every printed authorization URL is fetched, and its redirect
// (to the loopback listener) followed once, like a browser that consents.
function cli(args) {
	return new Promise((resolve, reject) => {
		const child = track(spawn(mcpgateBin(), args, { stdio: ['ignore', 'pipe', 'pipe'] }));
		let stdout = '', stderr = '', pending = Promise.resolve();
		const seen = new Set();
		const started = Date.now();
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error(`mcpgate ${args.join(' ')} hung\n${stderr}`));
		}, CLI_TIMEOUT_MS);
		child.stdout.on('data', (d) => { stdout += d; });
		child.stderr.on('data', (d) => {
			stderr += d;
			for (const m of stderr.matchAll(/^ {2}(http\S+)$/gm)) {
				if (seen.has(m[1]))
					continue;
				seen.add(m[1]);
				pending = pending.then(async () => {
					const r = await fetch(m[1], { redirect: 'manual' });
					const loc = r.headers.get('location');
					if (loc)
						await fetch(loc).catch(() => {});
				}).catch(() => {});
			}
		});
		child.on('close', async (code, signal) => {
			clearTimeout(timer);
			await pending;
			resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
		});
	});
}

// The misbehaving server.  ${mode} is read at each request.
async function startHostile(t, state) {
	const srv = await startHttpServer(async (req, res) => {
		const u = new URL(req.url, srv.url);
		const base = srv.url;
		const json = (status, body, headers = {}) => {
			res.writeHead(status, { 'content-type': 'application/json', ...headers });
			res.end(typeof body === 'string' ? body : JSON.stringify(body));
		};
		let body = '';
		for await (const c of req)
			body += c;
		state.requests++;
		const m = state.mode;
		if (u.pathname === '/mcp') {
			if (m === 'hang')
				return; // never answers
			if (m === 'ok-server' && (req.headers.authorization ?? '').startsWith('Bearer ')) {
				const msg = JSON.parse(body);
				if (msg.id === undefined)
					return res.writeHead(202).end();
				return json(200, { jsonrpc: '2.0', id: msg.id, result: { tools: [] } });
			}
			return json(401, { error: 'invalid_token' },
			    { 'www-authenticate': `Bearer resource_metadata="${base}/prm"` });
		}
		if (u.pathname === '/prm') {
			if (m === 'prm-huge')
				return json(200, `{"resource":"${base}/mcp","pad":"${'x'.repeat(400 * 1024)}"}`);
			if (m === 'prm-garbage')
				return json(200, '{"resource": ');
			if (m === 'prm-other-resource')
				return json(200, { resource: 'https://elsewhere.example/mcp', authorization_servers: [base] });
			return json(200, { resource: `${base}/mcp`, authorization_servers: [base] });
		}
		if (u.pathname === '/.well-known/oauth-protected-resource/mcp' ||
		    u.pathname === '/.well-known/oauth-protected-resource')
			return json(404, {});
		if (u.pathname === '/.well-known/oauth-authorization-server') {
			return json(200, {
				issuer: m === 'issuer-mismatch' ? 'https://honest.example' : base,
				authorization_endpoint: `${base}/authorize`, token_endpoint: `${base}/token`,
				registration_endpoint: `${base}/register`, response_types_supported: ['code'],
				code_challenge_methods_supported: m === 'no-s256' ? ['plain'] : ['S256'],
				authorization_response_iss_parameter_supported: true,
				token_endpoint_auth_methods_supported: ['none'],
			});
		}
		if (u.pathname === '/register') {
			if (m === 'register-refused')
				return json(400, { error: 'invalid_redirect_uri', error_description: 'no \u001b[31mloopback' });
			return json(201, { client_id: 'hostile-client' });
		}
		if (u.pathname === '/authorize') {
			const to = new URL(u.searchParams.get('redirect_uri'));
			to.searchParams.set('code', 'the-code');
			to.searchParams.set('state', m === 'wrong-state' ? 'not-your-state' : u.searchParams.get('state'));
			if (m !== 'no-iss')
				to.searchParams.set('iss', base);
			res.writeHead(302, { location: to.href });
			return res.end();
		}
		if (u.pathname === '/token') {
			state.tokenRequests++;
			if (m === 'token-garbage')
				return json(200, '<html>');
			return json(200, { access_token: `at-${state.tokenRequests}-SECRET`, token_type: 'Bearer',
			    expires_in: 3600 });
		}
		json(404, {});
	}, { t });
	return srv;
}

test('client against hostile servers', { timeout: 200000 }, async (t) => {
	const state = { mode: 'ok', requests: 0, tokenRequests: 0 };
	const srv = await startHostile(t, state);
	const url = `${srv.url}/mcp`;
	const store = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-hostile-'));
	t.after(() => fs.rmSync(store, { recursive: true, force: true }));
	let n = 0;
	const run = (mode, extra = []) => {
		state.mode = mode;
		return cli(['login', url, '--store', path.join(store, String(n++)), '--no-browser', '--timeout', '2000',
		    ...extra]);
	};
	const fails = (r, re) => {
		assert.equal(r.signal, null, r.stderr);
		assert.equal(r.code, 1, r.stderr);
		assert.match(r.stderr, re);
		assert.equal(r.stdout, '');
		assert.equal(/SECRET/.test(r.stderr), false, r.stderr);
	};

	await t.test('unreachable server', async () => {
		const port = await freePort();
		const r = await cli(['tools', `http://127.0.0.1:${port}/mcp`, '--store', store, '--timeout', '2000']);
		fails(r, /server unreachable: cannot reach .*\n.*check the URL/);
	});
	await t.test('a server that never answers', async () => {
		const r = await run('hang');
		fails(r, /did not answer in time/);
		assert.ok(r.ms < 20000);
	});
	await t.test('oversized metadata', async () => {
		fails(await run('prm-huge'), /larger than/);
	});
	await t.test('malformed metadata', async () => {
		fails(await run('prm-garbage'), /no protected resource metadata/);
	});
	await t.test('metadata for another resource', async () => {
		fails(await run('prm-other-resource'), /is for https:\/\/elsewhere.example\/mcp/);
	});
	await t.test('issuer mismatch', async () => {
		fails(await run('issuer-mismatch'), /names issuer "https:\/\/honest.example"/);
	});
	await t.test('no S256', async () => {
		fails(await run('no-s256'), /does not support PKCE S256/);
	});
	await t.test('registration refused', async () => {
		const r = await run('register-refused');
		fails(r, /refused to register this client \(HTTP 400, invalid_redirect_uri: no \?\[31mloopback\)/);
	});
	await t.test('a redirect with a wrong state', async () => {
		const before = state.tokenRequests;
		fails(await run('wrong-state'), /wrong or no state/);
		assert.equal(state.tokenRequests, before, 'the code must not be redeemed');
	});
	await t.test('a missing iss the server promised', async () => {
		const before = state.tokenRequests;
		fails(await run('no-iss'), /lacks the iss parameter/);
		assert.equal(state.tokenRequests, before);
	});
	await t.test('a token endpoint answering garbage', async () => {
		fails(await run('token-garbage'), /token endpoint answered with no JSON object/);
	});
	await t.test('endless 401s end', async () => {
		const before = state.tokenRequests;
		fails(await run('ok'), /keeps refusing freshly issued tokens/);
		assert.ok(state.tokenRequests - before <= 3, `${state.tokenRequests - before} token requests`);
	});
	await t.test('and a server that behaves works', async () => {
		const r = await run('ok-server');
		assert.equal(r.code, 0, r.stderr);
	});
});
