// Server-to-client requests on the response streams of an older
// (2025-11-25, session) MCP server, answered by the CLI, which sets no
// handler: ping gets an empty result, roots/list and unknown methods get
// JSON-RPC error -32601, each POSTed back at once on the session, while the
// server holds the tools/list answer until all three are answered.

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
