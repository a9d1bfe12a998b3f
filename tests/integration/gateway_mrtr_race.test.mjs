// Multi round-trip requests under concurrency: many parked calls at once,
// retries racing the client's own cancellations, and retries racing the
// upstream's answer.  Every request must get exactly one answer carrying
// its own id, no round may be cancelled as if its client had left, and the
// gateway must stay up.  The upstream is lib/mrtr_mcp.mjs on Streamable
// HTTP (each upstream request comes on the stream of its call, so calls of
// one principal can run side by side).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MODERN, answer, ccToken, modern, post, startGateway } from './lib/gateway.mjs';
import { serveHttp } from './lib/mrtr_mcp.mjs';

const ELICITED = { action: 'accept', content: { name: 'Ada' } };

function irOf(res, id) {
	assert.equal(res.status, 200, res.text);
	const a = answer(res, id);
	assert.equal(a.result?.resultType, 'input_required', res.text);
	return a.result;
}

function responses(ir) {
	return Object.fromEntries(Object.keys(ir.inputRequests).map((k) => [k, ELICITED]));
}

// notifications/cancelled for request ${rid}, as a 2026-07-28 client sends it.
function cancel(server, token, rid) {
	return post(server, token, { jsonrpc: '2.0', method: 'notifications/cancelled',
	    params: { requestId: rid, _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN } } },
	{ version: MODERN, headers: { 'mcp-method': 'notifications/cancelled' } });
}

async function startRaceGateway(t) {
	const up = await serveHttp();
	t.after(() => up.close());
	const server = await startGateway(t, { echo: false, servers: { m: { url: up.url } },
	    config: { gateway: { mrtr: { per_principal: 64, max: 1024 } } } });
	return server;
}

test('many calls park at once; each round trip completes', async (t) => {
	const server = await startRaceGateway(t);
	const tokens = await Promise.all([0, 1, 2, 3].map(() => ccToken(server)));
	for (let round = 0; round < 2; round++) {
		const jobs = [];
		for (let i = 0; i < 40; i++) {
			const { token } = tokens[i % tokens.length];
			const id = 1000 * round + 2 * i + 1;
			jobs.push((async () => {
				const ir = irOf(await modern(server, token, id, 'tools/call', { name: 'm__ask', arguments: {} }), id);
				const r = await modern(server, token, id + 1, 'tools/call', { name: 'm__ask', arguments: {},
				    inputResponses: responses(ir), requestState: ir.requestState });
				const a = answer(r, id + 1);
				assert.ok(a.result, `retry ${id + 1}: ${r.text}`);
				assert.equal(a.result.resultType, 'complete', r.text);
				assert.deepEqual(JSON.parse(a.result.content[0].text), ELICITED);
			})());
		}
		await Promise.all(jobs);
	}
});

test('cancellations racing retries', async (t) => {
	const server = await startRaceGateway(t);
	const { token } = await ccToken(server);
	for (let round = 0; round < 20; round++) {
		const jobs = [];
		for (let i = 0; i < 8; i++) {
			const id = 1000 * round + 10 * i + 1;
			jobs.push((async () => {
				const ir = irOf(await modern(server, token, id, 'tools/call', { name: 'm__ask', arguments: {} }), id);
				const [r] = await Promise.all([
					modern(server, token, id + 1, 'tools/call', { name: 'm__ask', arguments: {},
					    inputResponses: responses(ir), requestState: ir.requestState }),
					cancel(server, token, id + 1), cancel(server, token, id), cancel(server, token, id + 1),
				]);
				// Either the call completed or it was cancelled: one
				// answer, with the retry's id.
				assert.equal(r.status, 200, r.text);
				const a = answer(r, id + 1);
				assert.ok(a.result || a.error, r.text);
			})());
		}
		await Promise.all(jobs);
	}
	// Still serving.
	const ir = irOf(await modern(server, token, 1, 'tools/call', { name: 'm__ask', arguments: {} }), 1);
	const r = await modern(server, token, 2, 'tools/call', { name: 'm__ask', arguments: {},
	    inputResponses: responses(ir), requestState: ir.requestState });
	assert.equal(answer(r, 2).result.resultType, 'complete');
});
