// `make run`: scripts/run.sh with the built binary, as a person starts it,
// with its embedded defaults (no configuration file): data in a temporary
// MCPGATE_DATA, a free MCPGATE_PORT, and the real filesystem and everything
// MCP servers from node_modules.  Waits for the printed MCP URL, checks the
// metadata and the 401 challenge, signs in as the printed demo user through
// the sign-in and consent pages for an mcp:read token, and uses the tools;
// then stops the server with SIGTERM and expects a clean exit.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import {
	SOURCE_DIR, STOP_TIMEOUT_MS, codeFlow, freePort, mcpgateBin, registerClient, request, sleep, track,
	withTimeout,
} from './lib/mcpgate.mjs';
import { answer, challenge, modern } from './lib/gateway.mjs';

// Two node MCP servers start before the listener: allow them time on a
// loaded machine.
const READY_MS = 60000;

// The lines run.sh prints once it listens ("  MCP URL:      http://...").
function printed(out, label) {
	const m = new RegExp(`^\\s*${label}:\\s+(\\S+)\\s*$`, 'm').exec(out);
	return m ? m[1] : undefined;
}

// PIDs of live processes whose command line contains `needle`.
function processesWith(needle) {
	const out = [];
	for (const d of fs.readdirSync('/proc')) {
		if (!/^\d+$/.test(d))
			continue;
		try {
			if (fs.readFileSync(`/proc/${d}/cmdline`, 'latin1').includes(needle))
				out.push(Number(d));
		} catch {
			// gone meanwhile
		}
	}
	return out;
}

test('make run: scripts/run.sh serves the demo gateway, and stops cleanly', { timeout: 180000 }, async (t) => {
	const bin = path.resolve(mcpgateBin());
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-run-'));
	const data = path.join(dir, 'var');
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	let child = null;
	let out = '';
	let exited = null;

	for (let attempt = 1; ; attempt++) {
		const port = await freePort();
		out = '';
		child = track(spawn('sh', [path.join(SOURCE_DIR, 'scripts', 'run.sh'), bin], {
			cwd: dir,
			env: { ...process.env, MCPGATE_DATA: data, MCPGATE_PORT: String(port), MCPGATE_CONFIG: '' },
			stdio: ['ignore', 'pipe', 'pipe'],
		}));
		child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
		child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
		exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
		let gone = null;
		exited.then((r) => { gone = r; });
		const deadline = Date.now() + READY_MS;
		while (Date.now() < deadline && gone === null && printed(out, 'password') === undefined)
			await sleep(50);
		if (gone !== null && /cannot listen/.test(out) && attempt < 3)
			continue;	// another test took the port meanwhile
		assert.equal(gone, null, `run.sh exited before it was ready:\n${out}`);
		assert.ok(printed(out, 'password'), `run.sh printed no password within ${READY_MS} ms:\n${out}`);
		assert.equal(printed(out, 'MCP URL'), `http://127.0.0.1:${port}/mcp`, out);
		break;
	}
	t.after(() => {
		if (child.exitCode === null && child.signalCode === null)
			child.kill('SIGKILL');
	});

	try {
		const mcp = printed(out, 'MCP URL');
		const origin = new URL(mcp).origin;
		const password = printed(out, 'password');
		assert.equal(printed(out, 'demo user'), 'demo');
		assert.match(password, /^[0-9a-f]{16,}$/, 'the first start generates a password');

		// Authorization server metadata and protected resource metadata.
		const as = await request(`${origin}/.well-known/oauth-authorization-server`);
		assert.equal(as.status, 200);
		assert.equal(as.json.issuer, origin);
		assert.ok(as.json.registration_endpoint);
		const prmUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
		const prm = await request(prmUrl);
		assert.equal(prm.status, 200, prm.text);
		assert.equal(prm.json.resource, mcp);
		assert.deepEqual(prm.json.authorization_servers, [origin]);

		// /mcp without a token: 401 with a challenge naming the PRM.
		const anon = await request(mcp, {
			method: 'POST',
			headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
			body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
		});
		assert.equal(anon.status, 401);
		const ch = challenge(anon.headers['www-authenticate']);
		assert.equal(ch.scheme, 'Bearer');
		assert.equal(ch.params.resource_metadata, prmUrl);

		// The demo user signs in and allows mcp:read (registration, the
		// sign-in and consent pages, the code exchange).
		const server = { url: origin, metadata: as.json, username: 'demo', password };
		const reg = await registerClient(server);
		assert.equal(reg.status, 201, reg.text);
		const flow = await codeFlow(server, { client: reg.json, scope: 'mcp:read', resource: mcp });
		assert.equal(flow.token.status, 200, flow.token.text);
		assert.equal(flow.token.json.scope, 'mcp:read');
		const token = flow.token.json.access_token;

		// Both demo servers' tools, namespaced; an mcp:read token is
		// shown the read-only ones (docs/internals/policy.md).
		const list = answer(await modern(server, token, 2, 'tools/list'), 2);
		assert.ok(list.result, JSON.stringify(list));
		const names = list.result.tools.map((x) => x.name);
		for (const n of ['filesystem__read_text_file', 'filesystem__list_directory',
			'filesystem__list_allowed_directories', 'everything__echo', 'everything__get-sum'])
			assert.ok(names.includes(n), `${n} missing from ${names.join(' ')}`);
		assert.ok(names.every((n) => /^(filesystem|everything)__/.test(n)), names.join(' '));
		assert.ok(!names.includes('filesystem__write_file'), 'a write tool listed for mcp:read');

		// With mcp:write too (the same browser session: consent only),
		// the write tools are listed as well.
		const rw = await codeFlow(server, { client: flow.client, jar: flow.jar, scope: 'mcp:read mcp:write',
		    resource: mcp });
		assert.equal(rw.token.status, 200, rw.token.text);
		assert.equal(rw.token.json.scope, 'mcp:read mcp:write');
		const all = answer(await modern(server, rw.token.json.access_token, 6, 'tools/list'), 6);
		const allNames = all.result.tools.map((x) => x.name);
		for (const n of [...names, 'filesystem__write_file', 'filesystem__edit_file'])
			assert.ok(allNames.includes(n), `${n} missing from ${allNames.join(' ')}`);

		// A read-only tool works with mcp:read ...
		const demo = path.join(data, 'demo');
		const read = answer(await modern(server, token, 3, 'tools/call',
		    { name: 'filesystem__read_text_file', arguments: { path: path.join(fs.realpathSync(demo), 'hello.txt') } }), 3);
		assert.ok(read.result, JSON.stringify(read));
		assert.notEqual(read.result.isError, true, JSON.stringify(read));
		assert.match(read.result.content[0].text, /Hello from the mcpgate demo folder/);
		const echo = answer(await modern(server, token, 4, 'tools/call',
		    { name: 'everything__echo', arguments: { message: 'hi there' } }), 4);
		assert.match(JSON.stringify(echo.result), /hi there/);

		// ... a write tool is refused without mcp:write, and writes nothing.
		const target = path.join(fs.realpathSync(demo), 'written.txt');
		const write = await modern(server, token, 5, 'tools/call',
		    { name: 'filesystem__write_file', arguments: { path: target, content: 'x' } });
		assert.equal(write.status, 403, write.text);
		const wch = challenge(write.headers['www-authenticate']);
		assert.equal(wch.params.error, 'insufficient_scope');
		assert.match(wch.params.scope, /mcp:write/);
		assert.equal(fs.existsSync(target), false);
	} catch (err) {
		t.diagnostic(`run.sh output:\n${out}`);
		throw err;
	}

	// SIGTERM (what Ctrl-C in `make run` amounts to): exit 0, and the
	// upstream servers end with it.
	assert.notDeepEqual(processesWith(path.join(data, 'demo')), [], 'the filesystem server is not running');
	child.kill('SIGTERM');
	const r = await withTimeout(exited, STOP_TIMEOUT_MS + 10000, 'run.sh exit after SIGTERM');
	assert.deepEqual(r, { code: 0, signal: null }, out);
	let left = processesWith(path.join(data, 'demo'));
	for (let i = 0; i < 100 && left.length > 0; i++) {
		await sleep(50);
		left = processesWith(path.join(data, 'demo'));
	}
	assert.deepEqual(left, [], 'the filesystem server outlived mcpgate');
	assert.match(out, /shutting down/);
});
