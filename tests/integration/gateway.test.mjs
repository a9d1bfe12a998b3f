// The gateway's MCP endpoint, end to end in front of the echo MCP server:
// Origin, sessions and their binding, the 2026-07-28 header rules, scopes
// per tool and the step-up challenge, bad input, upstream failures,
// concurrent clients, and the audit log.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { request } from './lib/mcpgate.mjs';
import {
	LEGACY, LEGACY_OLD, MODERN, answer, call, ccToken, challenge, mcpUrl, messages, modern, openSession,
	post, startGateway,
} from './lib/gateway.mjs';

test('gateway endpoint', async (t) => {
	const server = await startGateway(t, {
		config: {
			gateway: { timeout_ms: 1500, allowed_origins: ['https://app.example'] },
			listen: { body_max: 8192 },
			policy: { rules: [{ tool: 'echo__env', scopes: ['mcp:jira'] }] },
		},
		servers: { scoped: { command: (await import('./lib/gateway.mjs')).echoMcp(), scope: 'mcp:github' } },
	});
	const rw = (await ccToken(server, 'mcp:read mcp:write')).token;
	const ro = (await ccToken(server, 'mcp:read')).token;
	const s = await openSession(server, rw);

	await t.test('initialize negotiates the version', async () => {
		assert.equal(s.version, LEGACY);
		assert.equal(s.init.result.serverInfo.name, 'mcpgate');
		assert.equal((await openSession(server, rw, LEGACY_OLD)).version, LEGACY_OLD);
		assert.equal((await openSession(server, rw, '2024-11-05')).version, LEGACY);
	});

	await t.test('Origin: present and not allowed is 403', async () => {
		const bad = await post(server, rw, { jsonrpc: '2.0', id: 1, method: 'ping' },
		    { session: s.session, headers: { origin: 'https://evil.example' } });
		assert.equal(bad.status, 403);
		for (const origin of ['https://app.example', server.url]) {
			const ok = await call(server, rw, s, 1, 'ping', {}, { headers: { origin } });
			assert.equal(ok.status, 200, origin);
		}
	});

	await t.test('sessions: required, bound to the token, ended by DELETE', async () => {
		const none = await post(server, rw, { jsonrpc: '2.0', id: 1, method: 'ping' }, { version: LEGACY });
		assert.equal(none.status, 400);
		const unknown = await call(server, rw, { session: 'x'.repeat(43), version: LEGACY }, 1, 'ping');
		assert.equal(unknown.status, 404);
		// Another token of another client with the same session id.
		const other = await call(server, ro, s, 1, 'ping');
		assert.equal(other.status, 404);
		const s2 = await openSession(server, rw);
		const del = await request(mcpUrl(server), {
			method: 'DELETE', bearer: rw, headers: { 'mcp-session-id': s2.session },
		});
		assert.equal(del.status, 200);
		assert.equal((await call(server, rw, s2, 1, 'ping')).status, 404);
		const bad = await post(server, rw, { jsonrpc: '2.0', id: 1, method: 'ping' },
		    { session: s.session, version: '1999-01-01' });
		assert.equal(bad.status, 400);
	});

	await t.test('GET opens the session stream', async () => {
		const ac = new AbortController();
		const res = await fetch(mcpUrl(server), {
			headers: { authorization: `Bearer ${rw}`, accept: 'text/event-stream', 'mcp-session-id': s.session },
			signal: ac.signal,
		});
		assert.equal(res.status, 200);
		assert.match(res.headers.get('content-type'), /^text\/event-stream/);
		ac.abort();
	});

	await t.test('2026-07-28: stateless, headers checked, GET and DELETE 405', async () => {
		const ok = await modern(server, rw, 7, 'tools/call', { name: 'echo__echo', arguments: { text: 'm' } });
		assert.equal(ok.status, 200, ok.text);
		assert.equal(ok.headers['mcp-session-id'], undefined);
		assert.equal(answer(ok, 7).result.content[0].text, 'm');
		assert.equal(answer(ok, 7).result.resultType, 'complete');
		const mm = await modern(server, rw, 8, 'tools/call', { name: 'echo__echo', arguments: {} },
		    { headers: { 'mcp-method': 'tools/list' } });
		assert.equal(mm.status, 400);
		assert.equal(mm.json.error.code, -32020);
		const mn = await modern(server, rw, 9, 'tools/call', { name: 'echo__echo', arguments: {} },
		    { headers: { 'mcp-name': 'echo__slow' } });
		assert.equal(mn.status, 400);
		assert.equal(mn.json.error.code, -32020);
		const nh = await post(server, rw, { jsonrpc: '2.0', id: 10, method: 'tools/list',
		    params: { _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } } });
		assert.equal(nh.status, 400);
		assert.equal(nh.json.error.code, -32020);
		const uv = await post(server, rw, { jsonrpc: '2.0', id: 11, method: 'tools/list',
		    params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } },
		    { version: '2099-01-01', headers: { 'mcp-method': 'tools/list' } });
		assert.equal(uv.status, 400);
		assert.equal(uv.json.error.code, -32022);
		assert.ok(uv.json.error.data.supported.includes(MODERN));
		const unk = await modern(server, rw, 12, 'nope/nope');
		assert.equal(unk.status, 404);
		assert.equal(unk.json.error.code, -32601);
		const disc = await modern(server, rw, 13, 'server/discover');
		assert.equal(disc.status, 200);
		assert.deepEqual(disc.json.result.supportedVersions, [MODERN, LEGACY, LEGACY_OLD]);
		const tl = await modern(server, rw, 14, 'tools/list');
		assert.equal(tl.json.result.cacheScope, 'private');
		assert.equal(typeof tl.json.result.ttlMs, 'number');
		for (const method of ['GET', 'DELETE']) {
			const r = await request(mcpUrl(server), {
				method, bearer: rw, headers: { 'mcp-protocol-version': MODERN, accept: 'text/event-stream' },
			});
			assert.equal(r.status, 405, method);
		}
	});

	await t.test('tools/list shows only what the token may call', async () => {
		const all = answer(await call(server, rw, s, 2, 'tools/list'), 2).result.tools.map((x) => x.name);
		assert.ok(all.includes('echo__echo'));
		assert.ok(all.includes('echo__slow'));
		assert.ok(!all.includes('echo__env'));	// needs mcp:jira by rule
		assert.ok(!all.some((n) => n.startsWith('scoped__')));	// needs mcp:github
		const sro = await openSession(server, ro);
		const some = answer(await call(server, ro, sro, 2, 'tools/list'), 2).result.tools.map((x) => x.name);
		assert.deepEqual(some, ['echo__echo']);
	});

	await t.test('a call without the scope: 403 insufficient_scope with every scope needed', async () => {
		const sro = await openSession(server, ro);
		const r = await call(server, ro, sro, 3, 'tools/call', { name: 'echo__slow', arguments: { ms: 1, text: 'x' } });
		assert.equal(r.status, 403);
		const c = challenge(r.headers['www-authenticate']);
		assert.equal(c.params.error, 'insufficient_scope');
		assert.equal(c.params.scope, 'mcp:write');
		assert.equal(c.params.resource_metadata, `${server.url}/.well-known/oauth-protected-resource/mcp`);
		const g = await call(server, rw, s, 4, 'tools/call', { name: 'scoped__echo', arguments: { text: 'x' } });
		assert.equal(g.status, 403);
		assert.deepEqual(challenge(g.headers['www-authenticate']).params.scope.split(' ').sort(),
		    ['mcp:github', 'mcp:read']);
		const ok = await call(server, ro, sro, 5, 'tools/call', { name: 'echo__echo', arguments: { text: 'ro' } });
		assert.equal(answer(ok, 5).result.content[0].text, 'ro');
	});

	await t.test('bad input', async () => {
		const o = { session: s.session, version: LEGACY };
		let r = await post(server, rw, null, { ...o, body: '{"jsonrpc":' });
		assert.equal(r.status, 400);
		assert.equal(r.json.error.code, -32700);
		r = await call(server, rw, s, 20, 'no/such');
		assert.equal(answer(r, 20).error.code, -32601);
		r = await call(server, rw, s, 21, 'tools/call', { name: 7 });
		assert.equal(answer(r, 21).error.code, -32602);
		r = await call(server, rw, s, 22, 'tools/call', { name: 'no__tool' });
		assert.equal(answer(r, 22).error.code, -32602);
		r = await post(server, rw, null, { ...o, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping',
		    params: { x: 'y'.repeat(10000) } }) });
		assert.equal(r.status, 413);
		r = await post(server, rw, null, { ...o, body: `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":${'['.repeat(100)}${']'.repeat(100)}}}` });
		assert.equal(r.status, 400);
		r = await post(server, rw, [{ jsonrpc: '2.0', id: 1, method: 'ping' }], o);
		assert.equal(r.status, 400);
		assert.equal(r.json.error.code, -32600);
		r = await call(server, rw, s, 23, 'ping');
		assert.equal(r.status, 200);
	});

	await t.test('progress over SSE', async () => {
		const r = await call(server, rw, s, 30, 'tools/call',
		    { name: 'echo__notify', arguments: { count: 3 }, _meta: { progressToken: 'tok-1' } });
		assert.match(r.headers['content-type'], /^text\/event-stream/);
		const ms = messages(r);
		assert.equal(ms.filter((m) => m.method === 'notifications/progress' &&
		    m.params.progressToken === 'tok-1').length, 3);
		assert.equal(answer(r, 30).result.content[0].text, 'notified');
	});

	await t.test('many concurrent clients each get their own answer', async () => {
		const clients = await Promise.all([rw, rw, rw, rw].map((tok) => openSession(server, tok)));
		const jobs = [];
		for (let i = 0; i < 100; i++) {
			const c = clients[i % clients.length];
			jobs.push(call(server, rw, c, 1, 'tools/call',
			    { name: 'echo__slow', arguments: { ms: (i * 7) % 50, text: `n${i}` } },
			    { headers: { accept: 'application/json' } }).then((r) => [i, r]));
		}
		for (const [i, r] of await Promise.all(jobs)) {
			assert.equal(r.status, 200);
			assert.equal(r.json.id, 1);
			assert.equal(r.json.result.content[0].text, `n${i}`);
		}
	});

	await t.test('a slow upstream: JSON-RPC error within the timeout', async () => {
		const t0 = Date.now();
		const r = await call(server, rw, s, 40, 'tools/call', { name: 'echo__slow', arguments: { ms: 5000, text: 'z' } },
		    { headers: { accept: 'application/json' } });
		assert.equal(r.status, 200);
		assert.equal(r.json.error.code, -32001);
		assert.ok(Date.now() - t0 < 4000, 'answered in bound');
		// Others are served meanwhile and afterwards.
		assert.equal((await call(server, rw, s, 41, 'ping')).status, 200);
	});

	await t.test('an upstream that crashes mid-call: JSON-RPC error, then it is back', async () => {
		const r = await call(server, rw, s, 50, 'tools/call', { name: 'echo__crash', arguments: {} },
		    { headers: { accept: 'application/json' } });
		assert.equal(r.status, 200);
		assert.equal(r.json.error.code, -32001);
		let ok = null;
		for (let i = 0; i < 100 && ok === null; i++) {
			const e = await call(server, rw, s, 51, 'tools/call', { name: 'echo__echo', arguments: { text: 'back' } },
			    { headers: { accept: 'application/json' } });
			if (e.json?.result)
				ok = e.json.result.content[0].text;
			else
				await new Promise((res) => setTimeout(res, 100));
		}
		assert.equal(ok, 'back');
	});

	await t.test('audit lines, queryable with admin audit', async () => {
		const all = await server.admin(['audit']);
		assert.equal(all.code, 0, all.stderr);
		const lines = all.stdout.trim().split('\n').map((l) => JSON.parse(l));
		assert.ok(lines.length > 100);
		const denied = await server.admin(['audit', '--denied', '--tool', 'echo__slow']);
		const d = denied.stdout.trim().split('\n').map((l) => JSON.parse(l));
		assert.ok(d.length >= 1);
		assert.ok(d.every((x) => x.decision === 'deny' && x.tool === 'echo__slow'));
		assert.equal(d[0].status, 403);
		assert.ok(d[0].subject);
		const ok = lines.find((x) => x.tool === 'echo__echo' && x.upstream === 'echo' && x.outcome === 'ok');
		assert.ok(ok);
		assert.equal(ok.decision, 'allow');
		assert.ok(ok.reason && ok.reason.length > 0);
		assert.ok(lines.some((x) => x.outcome === 'error' && x.code === -32001));
	});
});
