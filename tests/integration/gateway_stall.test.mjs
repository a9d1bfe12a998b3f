// An upstream that stops reading its stdin while calls keep coming: the
// gateway queues what the pipe does not take, answers those calls with a
// JSON-RPC error by their timeout, never blocks its request threads on it
// (calls to another upstream go on meanwhile), and the stalled upstream
// serves again once it reads.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { call, ccToken, echoMcp, openSession, startGateway } from './lib/gateway.mjs';

const JSON_ONLY = { headers: { accept: 'application/json' } };

test('a stalled stdio upstream', async (t) => {
	const server = await startGateway(t, {
		// One request thread: a send that blocked on the full pipe would
		// stall every other call.
		config: { gateway: { timeout_ms: 2500 }, listen: { threads: 1 } },
		servers: { stuck: { command: echoMcp(), args: ['--stall'] } },
	});
	const rw = (await ccToken(server, 'mcp:read mcp:write')).token;
	const s = await openSession(server, rw);

	const t0 = Date.now();
	let stallDone = 0;
	const stall = call(server, rw, s, 1, 'tools/call',
	    { name: 'stuck__stall', arguments: { ms: 4000 } }, JSON_ONLY).then((r) => {
		stallDone = Date.now();
		return r;
	});
	// About 1.5 MiB for a child that does not read: far more than a pipe
	// holds, so most of it waits in the gateway's queue.
	const big = [];
	for (let i = 0; i < 48; i++)
		big.push(call(server, rw, s, 100 + i, 'tools/call',
		    { name: 'stuck__echo', arguments: { text: `${i}:`.padEnd(30000, 'x') } }, JSON_ONLY));
	// Meanwhile the other upstream answers, each call at once.
	for (let i = 0; i < 20; i++) {
		const r = await call(server, rw, s, 200 + i, 'tools/call',
		    { name: 'echo__echo', arguments: { text: `fast ${i}` } }, JSON_ONLY);
		assert.equal(r.status, 200);
		assert.equal(r.json.result.content[0].text, `fast ${i}`);
	}
	// Before the stalled call's timeout (2.5 s): nothing waited for it.
	assert.equal(stallDone, 0, `the fast calls took ${Date.now() - t0} ms`);

	// The stalled calls: a JSON-RPC error by the timeout, not a hang.
	const st = await stall;
	assert.equal(st.status, 200);
	assert.equal(st.json.error.code, -32001);
	for (const p of big) {
		const r = await p;
		assert.equal(r.status, 200);
		assert.ok(r.json.error?.code === -32001 || r.json.result, r.text.slice(0, 200));
	}
	assert.ok(Date.now() - t0 < 10000, 'all answered in bound');

	// Once it reads again (after its 4 s), the queued lines reach it and
	// it serves new calls, whole.
	let ok = null;
	for (let i = 0; i < 100 && ok === null; i++) {
		const r = await call(server, rw, s, 300 + i, 'tools/call',
		    { name: 'stuck__echo', arguments: { text: 'y'.repeat(40000) } }, JSON_ONLY);
		if (r.json?.result)
			ok = r.json.result.content[0].text;
		else
			await new Promise((res) => setTimeout(res, 100));
	}
	assert.equal(ok, 'y'.repeat(40000));
});
