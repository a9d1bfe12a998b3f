// Server-to-client requests on the response streams of an older
// (2025-11-25, session) MCP server, answered by the CLI, which sets no
// handler: ping gets an empty result, roots/list and unknown methods get
// JSON-RPC error -32601, each POSTed back at once on the session, while the
// server holds the tools/list answer until all three are answered; and the
// bounds on input_required rounds and on stream resumption.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { mcpgateBin, run, startHttpServer } from './lib/mcpgate.mjs';

const SESSION = 'sess-42';

async function startLegacy(t, state) {
	const srv = await startHttpServer(async (req, res) => {
		let body = '';
		for await (const c of req)
			body += c;
		if (req.method === 'DELETE')
			return res.writeHead(200).end();
		if (req.method !== 'POST')
			return res.writeHead(405).end();
		let msg;
		try {
			msg = JSON.parse(body);
		} catch {
			return res.writeHead(400).end('not JSON');
		}
		if (msg.method === 'initialize') {
			res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': SESSION });
			return res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {
				protocolVersion: '2025-11-25', capabilities: { tools: {} },
				serverInfo: { name: 'legacy', version: '1' } } }));
		}
		if (req.headers['mcp-session-id'] !== SESSION)
			return res.writeHead(400).end('no session');
		if (msg.method === undefined && msg.id !== undefined) {
			// An answer to one of our requests.
			state.answers.set(msg.id, msg);
			state.wake?.();
			return res.writeHead(202).end();
		}
		if (msg.id === undefined)
			return res.writeHead(202).end();
		if (msg.method !== 'tools/list')
			return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(
			    { jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'no' } }));
		res.writeHead(200, { 'content-type': 'text/event-stream' });
		for (const [id, method] of [['s-ping', 'ping'], ['s-roots', 'roots/list'], [7, 'foo/bar']])
			res.write(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id, method })}\n\n`);
		const deadline = Date.now() + 10000;
		while (state.answers.size < 3 && Date.now() < deadline)
			await new Promise((r) => { state.wake = r; setTimeout(r, 200); });
		res.end(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: msg.id,
		    result: { tools: [{ name: 'x', inputSchema: { type: 'object' } }] } })}\n\n`);
	}, { t });
	return srv;
}

test('server requests on a legacy response stream are answered', async (t) => {
	const state = { answers: new Map() };
	const srv = await startLegacy(t, state);
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-srvreq-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const r = await run(mcpgateBin(), ['tools', `${srv.url}/mcp`, '--store', dir, '--no-browser',
	    '--timeout', '15000']);
	assert.equal(r.code, 0, r.stderr);
	assert.match(r.stdout, /"x"/);
	assert.deepEqual(state.answers.get('s-ping'), { jsonrpc: '2.0', id: 's-ping', result: {} });
	assert.equal(state.answers.get('s-roots')?.error?.code, -32601);
	assert.equal(state.answers.get(7)?.error?.code, -32601);
	assert.equal(state.answers.get('s-roots')?.result, undefined);
});

// A 2026-07-28 server that asks for input forever: bounded rounds, each a
// new JSON-RPC id carrying the answers (the default declines elicitations)
// and the request state verbatim; then a clear error.
test('endless input_required rounds end with an error', async (t) => {
	const seen = [];
	const srv = await startHttpServer(async (req, res) => {
		let body = '';
		for await (const c of req)
			body += c;
		const msg = JSON.parse(body);
		seen.push(msg);
		res.writeHead(200, { 'content-type': 'application/json' });
		res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {
			resultType: 'input_required', requestState: `st-${seen.length}`,
			inputRequests: { q: { method: 'elicitation/create', params: { message: 'more?',
			    requestedSchema: { type: 'object', properties: {} } } } } } }));
	}, { t });
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-srvreq-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const r = await run(mcpgateBin(), ['tools', `${srv.url}/mcp`, '--store', dir, '--timeout', '5000']);
	assert.equal(r.code, 1, r.stderr);
	assert.match(r.stderr, /kept asking for input/);
	assert.equal(r.stdout, '');
	assert.equal(seen.length, 9); // the request and 8 retries
	assert.equal(new Set(seen.map((m) => m.id)).size, 9);
	assert.equal(seen[0].params?.requestState, undefined);
	for (let i = 1; i < seen.length; i++) {
		assert.equal(seen[i].params.requestState, `st-${i}`);
		assert.deepEqual(seen[i].params.inputResponses, { q: { action: 'decline' } });
	}
});

// A legacy stream that ends before the answer, and resumptions that never
// bring it: a bounded number of GETs with Last-Event-ID, then an error.
test('endless stream resumption ends with an error', async (t) => {
	const gets = [];
	const srv = await startHttpServer(async (req, res) => {
		let body = '';
		for await (const c of req)
			body += c;
		if (req.method === 'DELETE')
			return res.writeHead(200).end();
		if (req.method === 'GET') {
			gets.push(req.headers['last-event-id']);
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			return res.end(`id: g${gets.length}\nretry: 20\ndata: \n\n`);
		}
		const msg = JSON.parse(body);
		if (msg.method === 'initialize') {
			res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': SESSION });
			return res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: {
				protocolVersion: '2025-11-25', capabilities: {}, serverInfo: { name: 'l', version: '1' } } }));
		}
		if (req.headers['mcp-session-id'] !== SESSION)
			return res.writeHead(400).end('no session');
		if (msg.id === undefined)
			return res.writeHead(202).end();
		res.writeHead(200, { 'content-type': 'text/event-stream' });
		res.end('id: p1\nretry: 20\ndata: \n\n');
	}, { t });
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-srvreq-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	const r = await run(mcpgateBin(), ['tools', `${srv.url}/mcp`, '--store', dir, '--timeout', '5000']);
	assert.equal(r.code, 1, r.stderr);
	assert.match(r.stderr, /sent no response to tools\/list/);
	assert.deepEqual(gets, ['p1', 'g1', 'g2', 'g3', 'g4']);
});
