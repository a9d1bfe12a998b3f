// The mcpgate client (CLI on libmcpgate) against `mcpgate serve`: its
// authorization server and its /mcp gateway fronting the echo MCP server
// (build/echo_mcp), with a scope policy: echo__echo needs mcp:read,
// echo__slow mcp:write, every other tool mcp:github (so the lists are known):
//   login (dynamic registration, code flow with the loopback listener; the
//   test is the browser), token (refresh before expiry), tools, call, a
//   stored token the gateway refuses (401) refreshed and the call retried,
//   step-up on 403 insufficient_scope, two processes refreshing at once with
//   one stored refresh token, the token file encrypted (readable with its
//   key only) and refused when corrupted, logout with revocation.
// See docs/internals/client.md.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
	authorizeInteractively, decodeJwt, mcpgateBin, track, verifyJwt,
} from './lib/mcpgate.mjs';
import { mcpUrl, startGateway } from './lib/gateway.mjs';
import { introspectJson, serviceClient } from './lib/tokens.mjs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const CLI_TIMEOUT_MS = 60000;

// Run the CLI.  Every authorization URL it prints is completed as the demo
// user (consent ${decision}) and the browser's final redirect delivered to
// the loopback listener.  Resolves {code, stdout, stderr, logins}.
function cli(server, args, { decision = 'allow', stdin } = {}) {
	return new Promise((resolve, reject) => {
		const child = track(spawn(mcpgateBin(), args, { stdio: ['pipe', 'pipe', 'pipe'] }));
		let stdout = '', stderr = '', logins = 0, pending = Promise.resolve();
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
				logins++;
				pending = pending.then(async () => {
					const final = await authorizeInteractively({ authorizeUrl: m[1],
					    password: server.password, decision });
					await fetch(final.href);
				}).catch((err) => { stderr += `\n[test browser] ${err.stack}\n`; });
			}
		});
		child.on('close', async (code) => {
			clearTimeout(timer);
			await pending;
			resolve({ code, stdout, stderr, logins });
		});
		// The CLI may exit before it reads its input (a refusal): EPIPE
		// on its stdin is not an error of the test's.
		child.stdin.on('error', () => {});
		child.stdin.end(stdin ?? '');
	});
}

// Decrypt a store file the way src/client/tokstore.c seals it.
function openStoreFile(dir, name) {
	const key = fs.readFileSync(path.join(dir, 'key'));
	const raw = fs.readFileSync(path.join(dir, name));
	const magic = 'mcpgate-store-1\n';
	assert.equal(raw.subarray(0, magic.length).toString(), magic);
	const sealed = raw.subarray(magic.length);
	const d = crypto.createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
	d.setAAD(Buffer.from(name));
	d.setAuthTag(sealed.subarray(sealed.length - 16));
	return JSON.parse(Buffer.concat([d.update(sealed.subarray(12, sealed.length - 16)), d.final()]).toString());
}

// Seal ${doc} into store file ${name} the same way.
function sealStoreFile(dir, name, doc) {
	const key = fs.readFileSync(path.join(dir, 'key'));
	const iv = crypto.randomBytes(12);
	const c = crypto.createCipheriv('aes-256-gcm', key, iv);
	c.setAAD(Buffer.from(name));
	const ct = Buffer.concat([c.update(JSON.stringify(doc)), c.final()]);
	fs.writeFileSync(path.join(dir, name),
	    Buffer.concat([Buffer.from('mcpgate-store-1\n'), iv, ct, c.getAuthTag()]), { mode: 0o600 });
}

function tokenFile(dir) {
	const names = fs.readdirSync(dir).filter((n) => /^t-[A-Za-z0-9_-]{43}$/.test(n));
	assert.equal(names.length, 1, `token files: ${names}`);
	return names[0];
}

test('client against mcpgate serve', { timeout: 240000 }, async (t) => {
	const server = await startGateway(t, {
		config: {
			tokens: { access_ttl: 10 },
			policy: { rules: [
				{ tool: 'echo__echo', scopes: ['mcp:read'] },
				{ tool: 'echo__slow', scopes: ['mcp:write'] },
				{ tool: 'echo__*', scopes: ['mcp:github'] },
			] },
		},
	});
	const url = mcpUrl(server);
	const store = path.join(server.dir, 'client-store');
	const base = ['--store', store];

	await t.test('not logged in: token fails clearly without a browser', async () => {
		const r = await cli(server, ['token', url, ...base, '--no-login']);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /not logged in/);
		assert.equal(r.stdout, '');
	});

	await t.test('login: registration, code flow, loopback', async () => {
		const r = await cli(server, ['login', url, ...base, '--no-browser']);
		assert.equal(r.code, 0, r.stderr);
		assert.equal(r.logins, 1);
		assert.match(r.stderr, /logged in/);
		const st = fs.statSync(store);
		assert.equal(st.mode & 0o777, 0o700);
		assert.equal(fs.statSync(path.join(store, 'key')).mode & 0o777, 0o600);
		const doc = openStoreFile(store, tokenFile(store));
		assert.equal(doc.server_url, url);
		assert.equal(doc.resource, url);
		assert.equal(doc.issuer, server.issuer);
		assert.equal(doc.requested_scope, 'mcp:read');
		assert.equal(typeof doc.refresh_token, 'string');
		const claims = decodeJwt(doc.access_token).payload;
		assert.ok([claims.aud].flat().includes(url));
	});

	await t.test('the token file is encrypted', async () => {
		const name = tokenFile(store);
		const doc = openStoreFile(store, name);
		for (const f of fs.readdirSync(store)) {
			const raw = fs.readFileSync(path.join(store, f));
			assert.equal(raw.includes(doc.access_token), false, f);
			assert.equal(raw.includes(doc.refresh_token), false, f);
			assert.equal(raw.includes('access_token'), false, f);
			if (f !== 'key' && !f.endsWith('.lock'))
				assert.equal(fs.statSync(path.join(store, f)).mode & 0o777, 0o600, f);
		}
		// Without the right key, nothing opens.
		assert.throws(() => {
			const raw = fs.readFileSync(path.join(store, name));
			const d = crypto.createDecipheriv('aes-256-gcm', crypto.randomBytes(32), raw.subarray(16, 28));
			d.setAAD(Buffer.from(name));
			d.setAuthTag(raw.subarray(raw.length - 16));
			d.update(raw.subarray(28, raw.length - 16));
			d.final();
		});
	});

	await t.test('token refreshes an expiring access token', async () => {
		const before = openStoreFile(store, tokenFile(store));
		const r = await cli(server, ['token', url, ...base, '--no-login']);
		assert.equal(r.code, 0, r.stderr);
		const tok = r.stdout.trim();
		// access_ttl 10 s is inside the 60 s refresh margin: refreshed.
		assert.notEqual(tok, before.access_token);
		const after = openStoreFile(store, tokenFile(store));
		assert.equal(after.access_token, tok);
		assert.notEqual(after.refresh_token, before.refresh_token);
		await verifyJwt(tok, server.metadata.jwks_uri);
	});

	await t.test('tools and call', async () => {
		const r = await cli(server, ['tools', url, ...base, '--no-login']);
		assert.equal(r.code, 0, r.stderr);
		// An mcp:read token is shown the tools it may call only.
		assert.deepEqual(JSON.parse(r.stdout).tools.map((x) => x.name), ['echo__echo']);
		const c = await cli(server, ['call', url, 'echo__echo', '{"text":"x1"}', ...base, '--no-login']);
		assert.equal(c.code, 0, c.stderr);
		assert.equal(JSON.parse(c.stdout).content[0].text, 'x1');
		const bad = await cli(server, ['call', url, 'echo__echo', '[1]', ...base, '--no-login']);
		assert.equal(bad.code, 1);
		assert.match(bad.stderr, /must be a JSON object/);
	});

	await t.test('a stored token the gateway refuses is refreshed on its 401', async () => {
		const name = tokenFile(store);
		const doc = openStoreFile(store, name);
		// Valid by the clock (so not refreshed before the call), refused by
		// the gateway: its signature is broken.
		const [h, p, sig] = doc.access_token.split('.');
		const bad = `${h}.${p}.${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`;
		sealStoreFile(store, name, { ...doc, access_token: bad,
		    expires_at: Math.floor(Date.now() / 1000) + 3600 });
		const c = await cli(server, ['call', url, 'echo__echo', '{"text":"x2"}', ...base, '--no-login']);
		assert.equal(c.code, 0, c.stderr);
		assert.equal(c.logins, 0);
		assert.equal(JSON.parse(c.stdout).content[0].text, 'x2');
		const after = openStoreFile(store, name);
		assert.notEqual(after.access_token, bad);
		assert.notEqual(after.refresh_token, doc.refresh_token);
		await verifyJwt(after.access_token, server.metadata.jwks_uri);
	});

	await t.test('two processes refresh at once with one stored refresh token', async () => {
		const rs1 = await Promise.all([1, 2, 3].map(() => cli(server, ['token', url, ...base, '--no-login'])));
		for (const r of rs1)
			assert.equal(r.code, 0, r.stderr);
		for (const r of rs1)
			await verifyJwt(r.stdout.trim(), server.metadata.jwks_uri);
		// The family is intact: the stored refresh token still works.
		const r = await cli(server, ['token', url, ...base, '--no-login']);
		assert.equal(r.code, 0, r.stderr);
	});

	await t.test('step-up on 403 insufficient_scope', async () => {
		const denied = await cli(server, ['call', url, 'echo__slow', ...base, '--no-login']);
		assert.equal(denied.code, 1);
		assert.match(denied.stderr, /insufficient scope/);
		const r = await cli(server, ['call', url, 'echo__slow', '{"ms":1,"text":"w1"}', ...base, '--no-browser']);
		assert.equal(r.code, 0, r.stderr);
		assert.equal(r.logins, 1);
		assert.equal(JSON.parse(r.stdout).content[0].text, 'w1');
		const doc = openStoreFile(store, tokenFile(store));
		assert.equal(doc.requested_scope, 'mcp:read mcp:write');
	});

	await t.test('status shows logins, never tokens', async () => {
		const doc = openStoreFile(store, tokenFile(store));
		const r = await cli(server, ['status', ...base]);
		assert.equal(r.code, 0, r.stderr);
		assert.match(r.stdout, new RegExp(url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
		assert.match(r.stdout, /issuer: {3}http/);
		assert.match(r.stdout, /mcp:write/);
		assert.equal(r.stdout.includes(doc.access_token), false);
		assert.equal(r.stdout.includes(doc.refresh_token), false);
	});

	await t.test('a corrupted token file is refused', async () => {
		const name = tokenFile(store);
		const file = path.join(store, name);
		const good = fs.readFileSync(file);
		const bad = Buffer.from(good);
		bad[bad.length - 20] ^= 0x40;
		fs.writeFileSync(file, bad);
		const r = await cli(server, ['token', url, ...base, '--no-login']);
		assert.equal(r.code, 1);
		assert.match(r.stderr, /corrupted or was written with another key/);
		assert.equal(r.stdout, '');
		const s = await cli(server, ['status', ...base]);
		assert.equal(s.code, 1);
		assert.match(s.stderr, /failed authentication/);
		fs.writeFileSync(file, good);
	});

	await t.test('bridge: the TypeScript SDK stdio client lists and calls tools', async () => {
		const transport = new StdioClientTransport({ command: mcpgateBin(),
		    args: ['bridge', url, ...base, '--no-login'], stderr: 'pipe' });
		let stderr = '';
		transport.stderr?.on('data', (d) => { stderr += d; });
		const client = new Client({ name: 'sdk-test', version: '1.0.0' });
		try {
			await client.connect(transport);
			assert.equal(client.getServerVersion()?.name, 'mcpgate');
			// After the step-up the token holds mcp:read and mcp:write.
			const { tools } = await client.listTools();
			assert.deepEqual(tools.map((x) => x.name), ['echo__echo', 'echo__slow']);
			const r = await client.callTool({ name: 'echo__echo', arguments: { text: 'b' } });
			assert.equal(r.content[0].text, 'b');
			const w = await client.callTool({ name: 'echo__slow', arguments: { ms: 1, text: 'w2' } });
			assert.equal(w.content[0].text, 'w2');
			await assert.rejects(client.request({ method: 'no/such' },
			    (await import('@modelcontextprotocol/sdk/types.js')).EmptyResultSchema),
			    (err) => err.code === -32601 && /method not found/i.test(err.message));
		} catch (err) {
			err.message += `\nbridge stderr:\n${stderr}`;
			throw err;
		} finally {
			await client.close();
		}
	});

	await t.test('logout revokes the tokens', async () => {
		const svc = await serviceClient(server);
		const doc = openStoreFile(store, tokenFile(store));
		assert.equal((await introspectJson(server, svc, doc.refresh_token)).active, true);
		const r = await cli(server, ['logout', url, ...base]);
		assert.equal(r.code, 0, r.stderr);
		assert.equal((await introspectJson(server, svc, doc.refresh_token)).active, false);
		assert.equal((await introspectJson(server, svc, doc.access_token)).active, false);
		assert.deepEqual(fs.readdirSync(store).filter((n) => n.startsWith('t-') && !n.endsWith('.lock')), []);
		const again = await cli(server, ['token', url, ...base, '--no-login']);
		assert.equal(again.code, 1);
		assert.match(again.stderr, /not logged in/);
	});

	await t.test('consent denied is reported', async () => {
		// A scope not consented before, so the consent page is shown.
		const r = await cli(server, ['login', url, ...base, '--no-browser', '--scope', 'mcp:jira'],
		    { decision: 'deny' });
		assert.equal(r.code, 1);
		assert.match(r.stderr, /access denied/);
	});
});
