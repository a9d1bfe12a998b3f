// Server-to-client requests through the gateway: an upstream's
// sampling/createMessage reaches a legacy client on the SSE stream of the
// call it belongs to, under an id the gateway chose, and the client's POSTed
// answer goes back to the upstream; a 2026-07-28 client never gets such a
// request (its streams must not carry them): it gets an InputRequiredResult.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ACCEPT, answer, ccToken, mcpUrl, messages, modern, openSession, post, startGateway } from './lib/gateway.mjs';

test('sampling over the call stream', async (t) => {
	const server = await startGateway(t);
	const { token } = await ccToken(server);
	const s = await openSession(server, token);

	const res = await fetch(mcpUrl(server), {
		method: 'POST',
		headers: {
			authorization: `Bearer ${token}`, accept: ACCEPT, 'content-type': 'application/json',
			'mcp-session-id': s.session, 'mcp-protocol-version': s.version,
		},
		body: JSON.stringify({ jsonrpc: '2.0', id: 'call-1', method: 'tools/call',
		    params: { name: 'echo__sample', arguments: {} } }),
		signal: AbortSignal.timeout(10000),
	});
	assert.equal(res.status, 200);
	assert.match(res.headers.get('content-type'), /^text\/event-stream/);
	const reader = res.body.getReader();
	const dec = new TextDecoder();
	let buf = '';
	const events = [];
	async function next() {
		for (;;) {
			const i = buf.indexOf('\n\n');
			if (i >= 0) {
				const ev = buf.slice(0, i);
				buf = buf.slice(i + 2);
				const data = ev.split('\n').filter((l) => l.startsWith('data:'))
				    .map((l) => l.slice(5).trimStart()).join('\n');
				if (data)
					return JSON.parse(data);
				continue;
			}
			const { value, done } = await reader.read();
			assert.ok(!done, 'stream ended early');
			buf += dec.decode(value, { stream: true });
		}
	}
	const req = await next();
	events.push(req);
	assert.equal(req.method, 'sampling/createMessage');
	assert.match(String(req.id), /^mcpgate-\d+$/);
	const r = await post(server, token, { jsonrpc: '2.0', id: req.id,
	    result: { role: 'assistant', content: { type: 'text', text: 'sampled!' }, model: 'm' } },
	{ session: s.session, version: s.version });
	assert.equal(r.status, 202);
	const fin = await next();
	assert.equal(fin.id, 'call-1');
	assert.equal(fin.result.content[0].text, 'sampled!');

	// An answer to an id nobody asked is refused.
	const stray = await post(server, token, { jsonrpc: '2.0', id: 'mcpgate-999999', result: {} },
	    { session: s.session, version: s.version });
	assert.equal(stray.status, 400);

	// Stateless (2026-07-28): never a request on the stream; the client
	// gets an InputRequiredResult instead and answers in its retry
	// (gateway_mrtr.test.mjs has the rest).
	const m = await modern(server, token, 5, 'tools/call', { name: 'echo__sample', arguments: {} });
	assert.equal(m.status, 200);
	assert.ok(messages(m).every((x) => x.method === undefined), m.text);
	const ir = answer(m, 5).result;
	assert.equal(ir.resultType, 'input_required', m.text);
	const [key] = Object.keys(ir.inputRequests);
	assert.equal(ir.inputRequests[key].method, 'sampling/createMessage');
	const m2 = await modern(server, token, 6, 'tools/call', { name: 'echo__sample', arguments: {},
	    inputResponses: { [key]: { role: 'assistant', content: { type: 'text', text: 'retried!' }, model: 'm' } },
	    requestState: ir.requestState });
	assert.equal(answer(m2, 6).result.content[0].text, 'retried!');
});

test('notifications/cancelled reaches the upstream; a client that leaves cancels too', async (t) => {
	const { call, openSession: open } = await import('./lib/gateway.mjs');
	const server = await startGateway(t);
	const { token } = await ccToken(server);
	const s = await open(server, token);
	const slow = call(server, token, s, 77, 'tools/call', { name: 'echo__slow', arguments: { ms: 5000, text: 'late' } },
	    { headers: { accept: 'application/json' } });
	await new Promise((r) => setTimeout(r, 200));
	const n = await post(server, token, { jsonrpc: '2.0', method: 'notifications/cancelled',
	    params: { requestId: 77, reason: 'changed my mind' } }, { session: s.session, version: s.version });
	assert.equal(n.status, 202);
	const r = await slow;
	assert.equal(r.json.error.code, -32800);
	// A client that hangs up.
	const ac = new AbortController();
	const gone = fetch(mcpUrl(server), {
		method: 'POST', signal: ac.signal,
		headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'content-type': 'application/json',
		    'mcp-session-id': s.session, 'mcp-protocol-version': s.version },
		body: JSON.stringify({ jsonrpc: '2.0', id: 78, method: 'tools/call',
		    params: { name: 'echo__slow', arguments: { ms: 5000, text: 'x' } } }),
	}).catch(() => null);
	await new Promise((res) => setTimeout(res, 200));
	ac.abort();
	await gone;
	let seen = [];
	for (let i = 0; i < 50 && seen.length < 2; i++) {
		const c = await call(server, token, s, 79, 'tools/call', { name: 'echo__cancelled', arguments: {} },
		    { headers: { accept: 'application/json' } });
		seen = JSON.parse(c.json.result.content[0].text);
		await new Promise((res) => setTimeout(res, 100));
	}
	assert.equal(seen.length, 2, `upstream saw cancellations: ${JSON.stringify(seen)}`);
});

test('the session stream carries list_changed notifications', async (t) => {
	const { call, openSession: open } = await import('./lib/gateway.mjs');
	const server = await startGateway(t);
	const { token } = await ccToken(server);
	const s = await open(server, token);
	const ac = new AbortController();
	t.after(() => ac.abort());
	const res = await fetch(mcpUrl(server), {
		headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'mcp-session-id': s.session,
		    'mcp-protocol-version': s.version },
		signal: ac.signal,
	});
	assert.equal(res.status, 200);
	// A second stream for the same session is refused.
	const again = await fetch(mcpUrl(server), {
		headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'mcp-session-id': s.session },
		signal: AbortSignal.timeout(5000),
	});
	assert.equal(again.status, 409);
	const r = await call(server, token, s, 1, 'tools/call', { name: 'echo__change', arguments: {} },
	    { headers: { accept: 'application/json' } });
	assert.ok(r.json.result, r.text);
	const reader = res.body.getReader();
	const dec = new TextDecoder();
	let text = '';
	const deadline = Date.now() + 5000;
	while (!text.includes('notifications/tools/list_changed') && Date.now() < deadline) {
		const { value, done } = await reader.read();
		if (done)
			break;
		text += dec.decode(value, { stream: true });
	}
	assert.match(text, /notifications\/tools\/list_changed/);
	const tools = await call(server, token, s, 2, 'tools/list');
	assert.ok(tools.json.result.tools.some((x) => x.name === 'echo__extra'));
});
