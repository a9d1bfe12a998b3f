// 2026-07-28 Mcp-Param-{Name} headers through the gateway: a tool whose
// inputSchema marks parameters with x-mcp-header needs each present
// argument mirrored by its header (plain or =?base64?...?=, integers
// compared numerically), else 400 with -32020.

import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';

import { SOURCE_DIR } from './lib/mcpgate.mjs';
import { ccToken, modern, startGateway } from './lib/gateway.mjs';

test('Mcp-Param headers mirror the arguments', async (t) => {
	const server = await startGateway(t, {
		echo: false,
		servers: { x: { command: process.execPath,
		    args: [path.join(SOURCE_DIR, 'tests', 'integration', 'lib', 'xheader_mcp.mjs')] } },
	});
	const { token } = await ccToken(server, 'mcp:read');
	const callWith = (id, args, headers) => modern(server, token, id, 'tools/call',
	    { name: 'x__route', arguments: args }, { headers });

	let r = await callWith(1, { region: 'eu', count: 42, note: 'n' },
	    { 'mcp-param-region': 'eu', 'mcp-param-count': '42' });
	assert.equal(r.status, 200, r.text);
	assert.equal(r.json.result.content[0].text, 'eu');
	r = await callWith(2, { region: 'Hello' }, { 'mcp-param-region': `=?base64?${Buffer.from('Hello').toString('base64')}?=` });
	assert.equal(r.status, 200, r.text);
	r = await callWith(3, { count: 7 }, { 'mcp-param-count': '7.0' });
	assert.equal(r.status, 200, r.text);
	r = await callWith(4, { region: null }, {});	// null: no header expected
	assert.equal(r.status, 200, r.text);
	r = await callWith(5, { opts: { tenant: 't1' } }, { 'mcp-param-tenant': 't1' });
	assert.equal(r.status, 200, r.text);

	for (const [args, headers, what] of [
		[{ region: 'eu' }, {}, 'missing'],
		[{ region: 'eu' }, { 'mcp-param-region': 'us' }, 'different'],
		[{ region: 'Hello' }, { 'mcp-param-region': '=?base64?SGVs!!!bG8=?=' }, 'bad alphabet'],
		[{ count: 42 }, { 'mcp-param-count': '43' }, 'number'],
		[{ opts: { tenant: 't1' } }, {}, 'nested missing'],
	]) {
		r = await callWith(9, args, headers);
		assert.equal(r.status, 400, what);
		assert.equal(r.json.error.code, -32020, what);
	}
});
