// Resource subscriptions and change notifications through the gateway, with
// a small stdio upstream (lib/subs_mcp.mjs) whose tools trigger
// notifications/resources/updated and tools/list_changed, and which logs
// every resources/subscribe and unsubscribe it receives to a file:
//   - legacy sessions: only subscribed sessions get an update (a parent URI
//     covers its sub-resources), one upstream subscribe per URI whatever the
//     number of sessions, the upstream unsubscribe when the last one leaves
//     (unsubscribe, DELETE), no update for a session whose last token may
//     not read the resource, per-user upstreams' updates only to their
//     subject, capability and limit errors;
//   - 2026-07-28 subscriptions/listen: the acknowledgement first, the
//     subscriptionId on every notification, the filter honoured, upstream
//     refcounting released when the stream ends or the gateway stops,
//     the limits and refusals;
//   - upstream restarts: a process that exits is subscribed again to what
//     is held when the supervisor restarts it; a per-user instance stopped
//     when idle is not started to be unsubscribed, and is subscribed again
//     when a call starts it;
//   - refused subscribes: no record is kept (a later subscribe asks the
//     upstream again, unsubscribe answers as for an unknown URI), holders
//     arriving while the first subscribe is in flight get the upstream's
//     own answer;
//   - a listen stream's subscribe that timed out (the upstream took it):
//     unsubscribed upstream when the last holder leaves;
//   - many subscribes without a client (a listen stream's, the renewals
//     after a restart) go out a few at a time, within the upstream's
//     max_calls, and every key ends up subscribed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { ACCEPT, MODERN, call, ccToken, challenge, mcpUrl, modern, openSession, startGateway } from './lib/gateway.mjs';
import { SOURCE_DIR, sleep } from './lib/mcpgate.mjs';
import { serviceClient } from './lib/tokens.mjs';

const SUBS_MCP = path.join(SOURCE_DIR, 'tests', 'integration', 'lib', 'subs_mcp.mjs');
const A = 'mcpgate://subs/test://r/a';
const B = 'mcpgate://subs/test://r/b';
const DIR = 'mcpgate://subs/test://dir';
const META_SUB = 'io.modelcontextprotocol/subscriptionId';

function tmpLog(t, name) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-subs-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	return path.join(dir, name);
}

// The lines of the upstream's log: [{pid, op, uri}].
function upstreamLog(file) {
	if (!fs.existsSync(file))
		return [];
	return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
		const [pid, op, uri] = l.split(' ');
		return { pid, op, uri };
	});
}

async function until(what, fn, ms = 5000) {
	const end = Date.now() + ms;
	for (;;) {
		const v = fn();
		if (v)
			return v;
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}`);
		await sleep(25);
	}
}

function subsServers(log, log2) {
	return {
		subs: { command: process.execPath, args: [SUBS_MCP], env: { SUBS_LOG: log } },
		nosub: { command: process.execPath, args: [SUBS_MCP], env: { SUBS_NOSUB: '1' } },
		...(log2 ? { peru: { command: process.execPath, args: [SUBS_MCP], env: { SUBS_LOG: log2 },
		    isolation: 'per-user' } } : {}),
	};
}

// Reads the SSE body of ${res} in the background: the JSON-RPC messages
// it carried so far are in .events.
function sse(res) {
	const reader = res.body.getReader();
	const dec = new TextDecoder();
	const s = { events: [], ids: [], ended: false, res };
	let buf = '';
	s.done = (async () => {
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done)
					break;
				buf += dec.decode(value, { stream: true }).replace(/\r\n/g, '\n');
				let i;
				while ((i = buf.indexOf('\n\n')) >= 0) {
					const ev = buf.slice(0, i);
					buf = buf.slice(i + 2);
					const data = ev.split('\n').filter((l) => l.startsWith('data:'))
					    .map((l) => l.slice(5).trimStart()).join('\n');
					const id = ev.split('\n').find((l) => l.startsWith('id:'));
					if (data) {
						s.events.push(JSON.parse(data));
						s.ids.push(id === undefined ? undefined : id.slice(3).trimStart());
					}
				}
			}
		} catch {
			// cancelled
		}
		s.ended = true;
	})();
	s.waitFor = (what, pred, ms = 5000) => until(what, () => s.events.find(pred), ms);
	s.updates = (uri) => s.events.filter((e) => e.method === 'notifications/resources/updated' &&
	    (uri === undefined || e.params.uri === uri));
	s.close = async () => {
		await reader.cancel().catch(() => {});
		await s.done;
	};
	return s;
}

// The GET stream of a legacy session.
function getStream(server, token, s, headers = {}) {
	return fetch(mcpUrl(server), {
		method: 'GET',
		headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'mcp-session-id': s.session,
		    'mcp-protocol-version': s.version, ...headers },
	});
}

async function sessionStream(t, server, token, s) {
	const res = await getStream(server, token, s);
	assert.equal(res.status, 200);
	const st = sse(res);
	t.after(() => st.close());
	// The stream is registered before its headers are sent.
	return st;
}

// POST subscriptions/listen; resolves the raw fetch Response.
function listenRaw(server, token, id, notifications, { accept = ACCEPT } = {}) {
	return fetch(mcpUrl(server), {
		method: 'POST',
		headers: { authorization: `Bearer ${token}`, accept, 'content-type': 'application/json',
		    'mcp-protocol-version': MODERN, 'mcp-method': 'subscriptions/listen' },
		body: JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: {
			_meta: { 'io.modelcontextprotocol/protocolVersion': MODERN,
			    'io.modelcontextprotocol/clientCapabilities': {} },
			notifications } }),
	});
}

async function listen(t, server, token, id, notifications) {
	const res = await listenRaw(server, token, id, notifications);
	assert.equal(res.status, 200, await (res.status === 200 ? '' : res.text()));
	assert.match(res.headers.get('content-type'), /^text\/event-stream/);
	const st = sse(res);
	t.after(() => st.close());
	await st.waitFor('the acknowledgement', () => st.events.length > 0);
	return st;
}

function touch(server, token, s, id, uri, tool = 'subs__touch') {
	return call(server, token, s, id, 'tools/call', { name: tool, arguments: { uri } },
	    { headers: { accept: 'application/json' } });
}

function ops(log, op, uri) {
	return upstreamLog(log).filter((l) => l.op === op && (uri === undefined || l.uri === uri));
}

test('legacy sessions: per-session subscriptions, upstream refcounting, policy', async (t) => {
	const log = tmpLog(t, 'subs.log');
	const log2 = tmpLog(t, 'peru.log');
	const server = await startGateway(t, { echo: false, servers: subsServers(log, log2) });
	const client = await serviceClient(server, 'mcp:read mcp:write');
	const { token } = await ccToken(server, 'mcp:read mcp:write', { client });
	const { token: wtoken } = await ccToken(server, 'mcp:write', { client });

	const s1 = await openSession(server, token);
	assert.equal(s1.init.result.capabilities.resources.subscribe, true, 'subscribe advertised');
	const s2 = await openSession(server, token);
	const s3 = await openSession(server, token);
	const st1 = await sessionStream(t, server, token, s1);
	const st2 = await sessionStream(t, server, token, s2);
	const st3 = await sessionStream(t, server, token, s3);

	await t.test('two sessions on one URI: one upstream subscribe', async () => {
		let r = await call(server, token, s1, 1, 'resources/subscribe', { uri: A });
		assert.equal(r.status, 200, r.text);
		assert.deepEqual(r.json.result, {});
		await until('the upstream subscribe', () => ops(log, 'subscribe', 'test://r/a').length === 1);
		r = await call(server, token, s2, 1, 'resources/subscribe', { uri: A });
		assert.deepEqual(r.json.result, {});
		// Subscribing twice in one session is no new subscription.
		r = await call(server, token, s2, 2, 'resources/subscribe', { uri: A });
		assert.deepEqual(r.json.result, {});
		r = await call(server, token, s3, 1, 'resources/subscribe', { uri: B });
		assert.deepEqual(r.json.result, {});
		await until('b subscribed upstream', () => ops(log, 'subscribe', 'test://r/b').length === 1);
		assert.equal(ops(log, 'subscribe', 'test://r/a').length, 1);
	});

	await t.test('only subscribed sessions get the update', async () => {
		const r = await touch(server, token, s1, 10, 'test://r/a');
		assert.equal(r.status, 200, r.text);
		await st1.waitFor('a on s1', (e) => e.params?.uri === A);
		await st2.waitFor('a on s2', (e) => e.params?.uri === A);
		await touch(server, token, s1, 11, 'test://r/b');
		await st3.waitFor('b on s3', (e) => e.params?.uri === B);
		// Streams are in order: b came after a, so a would be there.
		assert.equal(st3.updates(A).length, 0, 's3 is not subscribed to a');
		assert.equal(st1.updates(B).length, 0);
		assert.equal(st1.updates(A).length, 1);
	});

	await t.test('a parent URI covers its sub-resources, not its siblings', async () => {
		const r = await call(server, token, s3, 2, 'resources/subscribe', { uri: DIR });
		assert.deepEqual(r.json.result, {});
		await touch(server, token, s3, 12, 'test://dirx');
		await touch(server, token, s3, 13, 'test://dir/x');
		await st3.waitFor('dir/x on s3', (e) => e.params?.uri === `${DIR}/x`);
		assert.equal(st3.updates(`${DIR}x`).length, 0);
	});

	await t.test('unsubscribe stops them; the upstream is told after the last one', async () => {
		let r = await call(server, token, s1, 3, 'resources/subscribe', { uri: B });
		assert.deepEqual(r.json.result, {});
		r = await call(server, token, s1, 4, 'resources/unsubscribe', { uri: A });
		assert.equal(r.status, 200);
		assert.deepEqual(r.json.result, {});
		const before = st1.updates(A).length;
		await touch(server, token, s1, 14, 'test://r/a');
		await st2.waitFor('second a on s2', () => st2.updates(A).length === 2);
		await touch(server, token, s1, 15, 'test://r/b');
		await st1.waitFor('b on s1', (e) => e.params?.uri === B);
		assert.equal(st1.updates(A).length, before, 'no update after unsubscribe');
		await sleep(200);
		assert.equal(ops(log, 'unsubscribe', 'test://r/a').length, 0, 's2 still holds a');
		// An unknown subscription: nothing to do.
		r = await call(server, token, s1, 5, 'resources/unsubscribe', { uri: A });
		assert.deepEqual(r.json.result, {});
	});

	await t.test('DELETE releases the session\'s subscriptions', async () => {
		const del = await fetch(mcpUrl(server), { method: 'DELETE', headers: {
			authorization: `Bearer ${token}`, 'mcp-session-id': s2.session } });
		assert.equal(del.status, 200);
		await until('the upstream unsubscribe of a', () => ops(log, 'unsubscribe', 'test://r/a').length === 1);
	});

	await t.test('a session whose token may not read gets none', async () => {
		const s5 = await openSession(server, token);
		const s6 = await openSession(server, token);
		const st5 = await sessionStream(t, server, token, s5);
		const st6 = await sessionStream(t, server, token, s6);
		for (const s of [s5, s6]) {
			const r = await call(server, token, s, 1, 'resources/subscribe', { uri: A });
			assert.deepEqual(r.json.result, {});
		}
		await until('a subscribed again', () => ops(log, 'subscribe', 'test://r/a').length === 2);
		// s5 goes on with a token without mcp:read.
		const p = await call(server, wtoken, s5, 2, 'ping', {});
		assert.equal(p.status, 200);
		await touch(server, token, s6, 20, 'test://r/a');
		await st6.waitFor('a on s6', (e) => e.params?.uri === A);
		await sleep(300);
		assert.equal(st5.updates(A).length, 0, 'no update without mcp:read');
		// Back to a token that may read: updates again.
		await call(server, token, s5, 3, 'ping', {});
		await touch(server, token, s6, 21, 'test://r/a');
		await st5.waitFor('a on s5', (e) => e.params?.uri === A);
		// Subscribing needs mcp:read: the step-up challenge.
		const d = await call(server, wtoken, s5, 4, 'resources/subscribe', { uri: B });
		assert.equal(d.status, 403);
		const c = challenge(d.headers['www-authenticate']);
		assert.equal(c.params.error, 'insufficient_scope');
		assert.match(c.params.scope, /mcp:read/);
	});

	await t.test('refusals: no subscribe support, unknown resource, modern method', async () => {
		let r = await call(server, token, s1, 30, 'resources/subscribe', { uri: 'mcpgate://nosub/test://r/a' });
		assert.equal(r.status, 200);
		assert.equal(r.json.error.code, -32601);
		assert.match(r.json.error.message, /does not support subscriptions/);
		r = await call(server, token, s1, 31, 'resources/subscribe', { uri: 'nope://x' });
		assert.equal(r.json.error.code, -32602);
		r = await call(server, token, s1, 32, 'resources/subscribe', {});
		assert.equal(r.json.error.code, -32602);
		const m = await modern(server, token, 33, 'resources/subscribe', { uri: A });
		assert.equal(m.status, 404);
		assert.equal(m.json.error.code, -32601);
	});

	await t.test('at most 256 URIs per session', async () => {
		const s7 = await openSession(server, token);
		for (let i = 0; i < 256; i++) {
			const r = await call(server, token, s7, i, 'resources/subscribe', { uri: `mcpgate://subs/test://many/${i}` });
			assert.deepEqual(r.json.result, {}, r.text);
		}
		const r = await call(server, token, s7, 999, 'resources/subscribe', { uri: 'mcpgate://subs/test://many/x' });
		assert.equal(r.status, 200);
		assert.equal(r.json.error.code, -32000);
		assert.match(r.json.error.message, /too many subscriptions/);
		assert.equal(r.json.error.data.max, 256);
		const many = (op) => ops(log, op).filter((l) => l.uri.startsWith('test://many/')).length;
		await until('256 upstream subscribes', () => many('subscribe') === 256);
		const del = await fetch(mcpUrl(server), { method: 'DELETE', headers: {
			authorization: `Bearer ${token}`, 'mcp-session-id': s7.session } });
		assert.equal(del.status, 200);
		await until('256 upstream unsubscribes', () => many('unsubscribe') === 256);
	});

	await t.test('per-user upstream: one instance per subject, updates to its subject only', async () => {
		const other = await serviceClient(server, 'mcp:read mcp:write');
		const { token: otoken } = await ccToken(server, 'mcp:read mcp:write', { client: other });
		const so = await openSession(server, otoken);
		const sto = await sessionStream(t, server, otoken, so);
		const PA = 'mcpgate://peru/test://r/a';
		for (const [tok, s] of [[token, s1], [otoken, so]]) {
			const r = await call(server, tok, s, 40, 'resources/subscribe', { uri: PA });
			assert.deepEqual(r.json.result, {}, r.text);
		}
		const subs = await until('two per-user subscribes', () => {
			const l = ops(log2, 'subscribe', 'test://r/a');
			return l.length === 2 ? l : null;
		});
		assert.notEqual(subs[0].pid, subs[1].pid, 'separate instances');
		await touch(server, token, s1, 41, 'test://r/a', 'peru__touch');
		await st1.waitFor('peru a on s1', (e) => e.params?.uri === PA);
		await touch(server, otoken, so, 42, 'test://r/a', 'peru__touch');
		await sto.waitFor('peru a on the other', (e) => e.params?.uri === PA);
		await sleep(200);
		assert.equal(st1.updates(PA).length, 1, 'only its own instance\'s update');
		assert.equal(sto.updates(PA).length, 1);
	});
});

test('subscriptions/listen: acknowledgement, tags, filter, refcounting, limits', async (t) => {
	const log = tmpLog(t, 'subs.log');
	const server = await startGateway(t, { echo: false, servers: subsServers(log) });
	const client = await serviceClient(server, 'mcp:read mcp:write');
	const { token } = await ccToken(server, 'mcp:read mcp:write', { client });
	const { token: wtoken } = await ccToken(server, 'mcp:write', { client });
	const trigger = (id, name, args = {}) => modern(server, token, id, 'tools/call', { name, arguments: args });

	const l1 = await listen(t, server, token, 'sub-1', { resourcesListChanged: true, resourceSubscriptions: [B] });
	const l2 = await listen(t, server, token, 7, { toolsListChanged: true });

	await t.test('the acknowledgement comes first and says what is honoured', () => {
		const ack = l1.events[0];
		assert.equal(ack.method, 'notifications/subscriptions/acknowledged');
		assert.equal(ack.params._meta[META_SUB], 'sub-1');
		assert.deepEqual(ack.params.notifications, { resourcesListChanged: true, resourceSubscriptions: [B] });
		assert.equal(l2.events[0].params._meta[META_SUB], 7);
		assert.deepEqual(l2.events[0].params.notifications, { toolsListChanged: true });
	});

	await t.test('one upstream subscribe; updates tagged', async () => {
		await until('b subscribed upstream', () => ops(log, 'subscribe', 'test://r/b').length === 1);
		const r = await trigger(1, 'subs__touch', { uri: 'test://r/b' });
		assert.equal(r.status, 200, r.text);
		const u = await l1.waitFor('b on l1', (e) => e.method === 'notifications/resources/updated');
		assert.equal(u.params.uri, B);
		assert.equal(u.params._meta[META_SUB], 'sub-1');
	});

	await t.test('the filter: list changes only of the kinds asked', async () => {
		const r = await trigger(2, 'subs__grow');
		assert.equal(r.status, 200, r.text);
		const tl = await l2.waitFor('tools list_changed on l2', (e) => e.method === 'notifications/tools/list_changed');
		assert.equal(tl.params._meta[META_SUB], 7);
		const rl = await l1.waitFor('resources list_changed on l1',
		    (e) => e.method === 'notifications/resources/list_changed');
		assert.equal(rl.params._meta[META_SUB], 'sub-1');
		await sleep(200);
		assert.ok(!l1.events.some((e) => e.method === 'notifications/tools/list_changed'), 'no tools list_changed on l1');
		assert.ok(!l2.events.some((e) => e.method !== 'notifications/subscriptions/acknowledged' &&
		    e.method !== 'notifications/tools/list_changed'), 'only tools list_changed on l2');
		assert.ok(l1.events.concat(l2.events).every((e) => e.params?._meta?.[META_SUB] !== undefined));
		assert.equal(l2.updates().length, 0);
	});

	await t.test('the end of the stream releases its subscriptions', async () => {
		const l3 = await listen(t, server, token, 'sub-3', { resourceSubscriptions: [B] });
		await l1.close();
		await sleep(300);
		assert.equal(ops(log, 'unsubscribe', 'test://r/b').length, 0, 'l3 still holds b');
		await l3.close();
		await until('b unsubscribed upstream', () => ops(log, 'unsubscribe', 'test://r/b').length === 1);
	});

	await t.test('refusals', async () => {
		let r = await listenRaw(server, token, 20, { resourceSubscriptions: ['mcpgate://subs/x', 5] });
		assert.equal(r.status, 400);
		assert.equal((await r.json()).error.code, -32602);
		r = await listenRaw(server, token, 21, { toolsListChanged: 'yes' });
		assert.equal(r.status, 400);
		assert.equal((await r.json()).error.code, -32602);
		r = await listenRaw(server, token, 22, undefined);
		assert.equal(r.status, 400);
		const j = await r.json();
		assert.equal(j.error.code, -32602);
		assert.equal(j.id, 22);
		r = await listenRaw(server, token, 23, { resourceSubscriptions: ['nope://x'] });
		assert.equal(r.status, 400);
		assert.equal((await r.json()).error.code, -32602);
		r = await listenRaw(server, token, 24, { resourceSubscriptions: Array.from({ length: 257 }, (_, i) => `mcpgate://subs/test://m/${i}`) });
		assert.equal(r.status, 400);
		assert.equal((await r.json()).error.data.max, 256);
		r = await listenRaw(server, wtoken, 25, { resourceSubscriptions: [A] });
		assert.equal(r.status, 403);
		assert.equal(challenge(r.headers.get('www-authenticate')).params.error, 'insufficient_scope');
		await r.arrayBuffer();
		r = await listenRaw(server, token, 26, { toolsListChanged: true }, { accept: 'application/json' });
		assert.equal(r.status, 406);
		assert.equal((await r.json()).error.code, -32600);
		// No subscribe support: left out of the acknowledgement.
		const l = await listen(t, server, token, 27, { resourceSubscriptions: ['mcpgate://nosub/test://r/a'] });
		assert.deepEqual(l.events[0].params.notifications, { resourceSubscriptions: [] });
		await l.close();
		// Legacy sessions have no subscriptions/listen.
		const s = await openSession(server, token);
		const lr = await call(server, token, s, 1, 'subscriptions/listen', { notifications: {} });
		assert.equal(lr.json.error.code, -32601);
	});

	await t.test('at most 8 listen streams per subject', async () => {
		const other = await serviceClient(server, 'mcp:read mcp:write');
		const { token: ot } = await ccToken(server, 'mcp:read mcp:write', { client: other });
		const open = [];
		for (let i = 0; i < 8; i++)
			open.push(await listen(t, server, ot, `o-${i}`, { toolsListChanged: true }));
		const r = await listenRaw(server, ot, 'o-8', { toolsListChanged: true });
		assert.equal(r.status, 429);
		const j = await r.json();
		assert.equal(j.id, 'o-8');
		assert.equal(j.error.code, -32000);
		assert.equal(j.error.data.max, 8);
		// Another subject is not affected; a closed stream frees its place.
		await open[0].close();
		let ok = null;
		for (let i = 0; i < 40 && ok === null; i++) {
			const x = await listenRaw(server, ot, `o-again-${i}`, { toolsListChanged: true });
			if (x.status === 200)
				ok = x;
			else {
				await x.arrayBuffer();
				await sleep(50);
			}
		}
		assert.ok(ok, 'a place after one stream closed');
		const st = sse(ok);
		t.after(() => st.close());
		for (const o of open)
			await o.close();
	});

	await t.test('audit lines for listen', async () => {
		const all = await server.admin(['audit']);
		assert.equal(all.code, 0, all.stderr);
		const lines = all.stdout.trim().split('\n').map((l) => JSON.parse(l));
		assert.ok(lines.some((x) => x.method === 'subscriptions/listen' && x.decision === 'allow' && x.status === 200));
		assert.ok(lines.some((x) => x.method === 'subscriptions/listen' && x.status === 429));
	});

	await t.test('shutdown ends listen streams with a result and unsubscribes upstream', async () => {
		const l = await listen(t, server, token, 'last', { resourceSubscriptions: [A] });
		await until('a subscribed upstream', () => ops(log, 'subscribe', 'test://r/a').length === 1);
		await server.stop();
		await l.done;
		const fin = l.events.find((e) => e.id === 'last');
		assert.ok(fin, 'the listen result');
		assert.equal(fin.result._meta[META_SUB], 'last');
		assert.equal(fin.result.resultType, 'complete');
		await until('a unsubscribed upstream', () => ops(log, 'unsubscribe', 'test://r/a').length === 1);
	});
});

test('no resources.subscribe without an upstream that supports it', async (t) => {
	const server = await startGateway(t, { echo: false, servers: {
		nosub: { command: process.execPath, args: [SUBS_MCP], env: { SUBS_NOSUB: '1' } } } });
	const { token } = await ccToken(server);
	const s = await openSession(server, token);
	assert.equal(s.init.result.capabilities.resources.subscribe, undefined);
	assert.equal(s.init.result.capabilities.resources.listChanged, true);
});

test('legacy GET stream: event ids and Last-Event-ID resumption', async (t) => {
	const log = tmpLog(t, 'subs.log');
	const server = await startGateway(t, { echo: false, servers: subsServers(log) });
	const { token } = await ccToken(server);
	const s = await openSession(server, token);
	const st = await sessionStream(t, server, token, s);
	const r = await call(server, token, s, 1, 'resources/subscribe', { uri: A });
	assert.deepEqual(r.json.result, {});
	await touch(server, token, s, 2, 'test://r/a');
	await st.waitFor('the first update', () => st.events.length === 1);
	const first = st.ids[0];
	assert.match(first, /^\d+$/, 'an event id');
	await st.close();

	// Missed while no stream is open (or while the gateway has not yet
	// noticed the client left).
	await touch(server, token, s, 3, 'test://r/a');
	await touch(server, token, s, 4, 'test://r/b'); // not subscribed: not sent
	await touch(server, token, s, 5, 'test://r/a');

	const bad = await getStream(server, token, s, { 'last-event-id': 'x1' });
	assert.equal(bad.status, 400);
	assert.equal((await bad.json()).error.code, -32600);

	// The previous stream may still be registered for a moment: 409 then.
	let res;
	for (let i = 0; i < 100; i++) {
		res = await getStream(server, token, s, { 'last-event-id': first });
		if (res.status !== 409)
			break;
		await res.arrayBuffer();
		await sleep(50);
	}
	assert.equal(res.status, 200);
	const again = sse(res);
	t.after(() => again.close());
	await again.waitFor('two replayed updates', () => again.events.length === 2);
	assert.deepEqual(again.events.map((e) => e.params.uri), [A, A]);
	assert.deepEqual(again.ids.map(Number), [Number(first) + 1, Number(first) + 2]);
	// New events go on with the next ids.
	await touch(server, token, s, 6, 'test://r/a');
	await again.waitFor('a new update', () => again.events.length === 3);
	assert.equal(Number(again.ids[2]), Number(first) + 3);
	await again.close();

	// Without Last-Event-ID: no replay.
	for (let i = 0; i < 100; i++) {
		res = await getStream(server, token, s);
		if (res.status !== 409)
			break;
		await res.arrayBuffer();
		await sleep(50);
	}
	assert.equal(res.status, 200);
	const fresh = sse(res);
	t.after(() => fresh.close());
	await touch(server, token, s, 7, 'test://r/a');
	await fresh.waitFor('only the new update', () => fresh.events.length === 1);
	assert.equal(Number(fresh.ids[0]), Number(first) + 4);
});

function alive(pid) {
	try {
		process.kill(Number(pid), 0);
		return true;
	} catch {
		return false;
	}
}

test('an upstream that restarts is subscribed again', async (t) => {
	const log = tmpLog(t, 'subs.log');
	const server = await startGateway(t, { echo: false, servers: subsServers(log) });
	const { token } = await ccToken(server);
	const s = await openSession(server, token);
	const st = await sessionStream(t, server, token, s);
	let r = await call(server, token, s, 1, 'resources/subscribe', { uri: A });
	assert.deepEqual(r.json.result, {}, r.text);
	const l = await listen(t, server, token, 'l', { resourceSubscriptions: [B] });
	const first = await until('a and b subscribed upstream', () => {
		const a = ops(log, 'subscribe', 'test://r/a');
		return a.length === 1 && ops(log, 'subscribe', 'test://r/b').length === 1 ? a[0].pid : null;
	});

	// The process exits; the supervisor starts another, which the gateway
	// subscribes again to what is still held.
	r = await touch(server, token, s, 2, undefined, 'subs__exit');
	assert.equal(r.status, 200, r.text);
	await until('a subscribed in the new process', () => ops(log, 'subscribe', 'test://r/a')
	    .some((x) => x.pid !== first), 10000);
	await until('b subscribed in the new process', () => ops(log, 'subscribe', 'test://r/b')
	    .some((x) => x.pid !== first));
	assert.ok(!alive(first), 'the old process is gone');
	const second = ops(log, 'start').at(-1).pid;
	assert.notEqual(second, first);
	assert.deepEqual(ops(log, 'subscribe').filter((x) => x.pid === second).map((x) => x.uri).sort(),
	    ['test://r/a', 'test://r/b'], 'each held URI once');

	// Updates flow again, to both kinds of holder.
	r = await touch(server, token, s, 3, 'test://r/a');
	assert.equal(r.status, 200, r.text);
	await st.waitFor('a after the restart', (e) => e.params?.uri === A);
	r = await touch(server, token, s, 4, 'test://r/b');
	assert.equal(r.status, 200, r.text);
	await l.waitFor('b after the restart', (e) => e.method === 'notifications/resources/updated' &&
	    e.params.uri === B);
	// The last holder's unsubscribe reaches the running process.
	r = await call(server, token, s, 5, 'resources/unsubscribe', { uri: A });
	assert.deepEqual(r.json.result, {}, r.text);
	await until('a unsubscribed in the new process', () => ops(log, 'unsubscribe', 'test://r/a')
	    .some((x) => x.pid === second));
});

test('a subscribe the upstream refuses leaves no record', async (t) => {
	const log = tmpLog(t, 'subs.log');
	const server = await startGateway(t, { echo: false, servers: subsServers(log) });
	const { token } = await ccToken(server);
	const REF = 'mcpgate://subs/test://refuse/x';
	const s1 = await openSession(server, token);
	const s2 = await openSession(server, token);
	const s3 = await openSession(server, token);
	const refused = (uri) => ops(log, 'refuse', uri).length;

	await t.test('the client gets the upstream\'s error; nothing is kept', async () => {
		let r = await call(server, token, s1, 1, 'resources/subscribe', { uri: REF });
		assert.equal(r.status, 200);
		assert.equal(r.json.error.code, -32602, r.text);
		assert.match(r.json.error.message, /cannot be subscribed/);
		assert.equal(refused('test://refuse/x'), 1);
		// Unsubscribing: as for a URI never subscribed.
		r = await call(server, token, s1, 2, 'resources/unsubscribe', { uri: REF });
		assert.deepEqual(r.json.result, {});
		// A later subscribe, of this session or another, asks the upstream again.
		r = await call(server, token, s1, 3, 'resources/subscribe', { uri: REF });
		assert.equal(r.json.error.code, -32602);
		r = await call(server, token, s2, 1, 'resources/subscribe', { uri: REF });
		assert.equal(r.json.error.code, -32602);
		assert.equal(refused('test://refuse/x'), 3);
		await sleep(200);
		assert.equal(ops(log, 'unsubscribe', 'test://refuse/x').length, 0, 'nothing to unsubscribe');
	});

	await t.test('while the first subscribe is in flight, later ones are forwarded too', async () => {
		// Refused: every holder gets the error, and none is kept.
		const SR = 'mcpgate://subs/test://slow-refuse/y';
		const rs = await Promise.all([s1, s2].map((s, i) =>
		    call(server, token, s, 10 + i, 'resources/subscribe', { uri: SR })));
		for (const r of rs)
			assert.equal(r.json.error?.code, -32602, r.text);
		assert.equal(refused('test://slow-refuse/y'), 2);
		for (const [i, s] of [s1, s2].entries()) {
			const r = await call(server, token, s, 20 + i, 'resources/unsubscribe', { uri: SR });
			assert.deepEqual(r.json.result, {});
		}
		let r = await call(server, token, s3, 1, 'resources/subscribe', { uri: SR });
		assert.equal(r.json.error.code, -32602);
		assert.equal(refused('test://slow-refuse/y'), 3);

		// Accepted: both get the upstream's answer; once accepted, the
		// gateway answers later holders itself.
		const SO = 'mcpgate://subs/test://slow/z';
		const ok = await Promise.all([s1, s2].map((s, i) =>
		    call(server, token, s, 30 + i, 'resources/subscribe', { uri: SO })));
		for (const r of ok)
			assert.deepEqual(r.json.result, {}, r.text);
		assert.equal(ops(log, 'subscribe', 'test://slow/z').length, 2);
		r = await call(server, token, s3, 2, 'resources/subscribe', { uri: SO });
		assert.deepEqual(r.json.result, {});
		assert.equal(ops(log, 'subscribe', 'test://slow/z').length, 2, 'answered by the gateway');
		for (const [i, s] of [s1, s2, s3].entries()) {
			r = await call(server, token, s, 40 + i, 'resources/unsubscribe', { uri: SO });
			assert.deepEqual(r.json.result, {});
		}
		await until('one upstream unsubscribe', () => ops(log, 'unsubscribe', 'test://slow/z').length === 1);
	});

	await t.test('a listen stream\'s refused URI: a later subscriber tries again', async () => {
		const LR = 'mcpgate://subs/test://refuse/l';
		const l = await listen(t, server, token, 'lr', { resourceSubscriptions: [LR] });
		assert.deepEqual(l.events[0].params.notifications, { resourceSubscriptions: [LR] });
		await until('the stream\'s subscribe refused', () => refused('test://refuse/l') === 1);
		const r = await call(server, token, s1, 50, 'resources/subscribe', { uri: LR });
		assert.equal(r.json.error.code, -32602, r.text);
		assert.equal(refused('test://refuse/l'), 2);
		await l.close();
		await sleep(200);
		assert.equal(ops(log, 'unsubscribe', 'test://refuse/l').length, 0, 'never subscribed');
	});
});

test('per-user instances: stopped when idle, subscribed again when started', async (t) => {
	const log = tmpLog(t, 'peru.log');
	const server = await startGateway(t, { echo: false, servers: {
		peru: { command: process.execPath, args: [SUBS_MCP], env: { SUBS_LOG: log },
		    isolation: 'per-user', idle_ms: 1000 } } });
	const { token } = await ccToken(server);
	const PA = 'mcpgate://peru/test://r/a';
	const s = await openSession(server, token);
	const st = await sessionStream(t, server, token, s);
	const starts = () => ops(log, 'start').length;
	const reaped = (pid) => until(`process ${pid} stopped when idle`, () => !alive(pid), 10000);

	let r = await call(server, token, s, 1, 'resources/subscribe', { uri: PA });
	assert.deepEqual(r.json.result, {}, r.text);
	const p1 = ops(log, 'subscribe', 'test://r/a')[0].pid;

	await t.test('the last holder leaving a stopped instance does not start it', async () => {
		await reaped(p1);
		const before = starts();
		r = await call(server, token, s, 2, 'resources/unsubscribe', { uri: PA });
		assert.equal(r.status, 200);
		assert.deepEqual(r.json.result, {});
		await sleep(500);
		assert.equal(starts(), before, 'no process started');
		assert.equal(ops(log, 'unsubscribe').length, 0);
		// A session that ends after its instance stopped: the same.
		const s2 = await openSession(server, token);
		r = await call(server, token, s2, 1, 'resources/subscribe', { uri: PA });
		assert.deepEqual(r.json.result, {}, r.text);
		const p2 = ops(log, 'subscribe', 'test://r/a').at(-1).pid;
		assert.notEqual(p2, p1);
		await reaped(p2);
		const n = starts();
		const del = await fetch(mcpUrl(server), { method: 'DELETE', headers: {
			authorization: `Bearer ${token}`, 'mcp-session-id': s2.session } });
		assert.equal(del.status, 200);
		await sleep(500);
		assert.equal(starts(), n, 'no process started');
		assert.equal(ops(log, 'unsubscribe').length, 0);
	});

	await t.test('an instance started again is subscribed again', async () => {
		r = await call(server, token, s, 3, 'resources/subscribe', { uri: PA });
		assert.deepEqual(r.json.result, {}, r.text);
		const p3 = ops(log, 'subscribe', 'test://r/a').at(-1).pid;
		await reaped(p3);
		// Held while stopped: the gateway answers, nothing starts.
		const s4 = await openSession(server, token);
		const n = starts();
		r = await call(server, token, s4, 1, 'resources/subscribe', { uri: PA });
		assert.deepEqual(r.json.result, {}, r.text);
		await sleep(300);
		assert.equal(starts(), n);
		// A call starts it; the held URI is subscribed in the new process.
		r = await touch(server, token, s, 4, 'test://r/a', 'peru__touch');
		assert.equal(r.status, 200, r.text);
		const p4 = ops(log, 'start').at(-1).pid;
		assert.notEqual(p4, p3);
		await until('a subscribed in the new process', () =>
		    ops(log, 'subscribe', 'test://r/a').filter((x) => x.pid === p4).length === 1);
		await st.waitFor('the update', (e) => e.params?.uri === PA);
		r = await touch(server, token, s, 5, 'test://r/a', 'peru__touch');
		await st.waitFor('another update', () => st.updates(PA).length === 2);
	});
});

test('a listen stream\'s subscribe that timed out is unsubscribed when its last holder leaves', async (t) => {
	const log = tmpLog(t, 'subs.log');
	const server = await startGateway(t, { echo: false, servers: subsServers(log),
	    config: { gateway: { timeout_ms: 300 } } });
	const { token } = await ccToken(server);
	const SL = 'mcpgate://subs/test://slow/t';
	const l = await listen(t, server, token, 'lt', { resourceSubscriptions: [SL] });
	await until('the stream\'s subscribe upstream', () => ops(log, 'subscribe', 'test://slow/t').length === 1);
	// The gateway gives up after 300 ms; the upstream answers at 800 ms,
	// having subscribed.
	await sleep(1200);
	assert.equal(ops(log, 'unsubscribe', 'test://slow/t').length, 0, 'still held');
	await l.close();
	await until('the upstream unsubscribed', () => ops(log, 'unsubscribe', 'test://slow/t').length === 1);
});

test('many subscriptions are renewed a few at a time, every one of them', async (t) => {
	const log = tmpLog(t, 'subs.log');
	// Four calls in flight per instance: one subscribe at a time.
	const server = await startGateway(t, { echo: false, servers: {
		subs: { command: process.execPath, args: [SUBS_MCP], env: { SUBS_LOG: log }, max_calls: 4 } } });
	const { token } = await ccToken(server);
	const N = 40;
	const uri = (i) => `test://many/${i}`;
	const uris = Array.from({ length: N }, (_, i) => `mcpgate://subs/${uri(i)}`);
	const subscribed = (pid) => new Set(ops(log, 'subscribe').filter((x) => x.pid === pid).map((x) => x.uri));
	const l = await listen(t, server, token, 'lm', { resourceSubscriptions: uris });
	assert.equal(l.events[0].params.notifications.resourceSubscriptions.length, N);
	const first = ops(log, 'start')[0].pid;
	await until(`${N} subscribed upstream`, () => subscribed(first).size === N);
	assert.equal(ops(log, 'subscribe').length, N, 'each once');

	// The process exits; the new one gets all of them again.
	const s = await openSession(server, token);
	let r = await touch(server, token, s, 1, undefined, 'subs__exit');
	assert.equal(r.status, 200, r.text);
	const second = await until('a new process', () => {
		const st = ops(log, 'start').at(-1);
		return st.pid !== first ? st.pid : null;
	}, 10000);
	await until(`${N} subscribed in the new process`, () => subscribed(second).size === N, 10000);
	assert.equal(ops(log, 'subscribe').filter((x) => x.pid === second).length, N, 'each once');
	// And updates flow for the last of them.
	r = await touch(server, token, s, 2, uri(N - 1));
	assert.equal(r.status, 200, r.text);
	await l.waitFor('the update', (e) => e.method === 'notifications/resources/updated' &&
	    e.params.uri === uris[N - 1]);
});
