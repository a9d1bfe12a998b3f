// A minimal MCP server on stdio (newline-delimited JSON-RPC) with one tool
// whose inputSchema marks parameters with x-mcp-header (2026-07-28), for
// the gateway's Mcp-Param header tests.  Only node: built-ins.

import readline from 'node:readline';

const TOOL = {
	name: 'route',
	description: 'echoes its region',
	annotations: { readOnlyHint: true },
	inputSchema: {
		type: 'object',
		properties: {
			region: { type: 'string', 'x-mcp-header': 'Region' },
			count: { type: 'integer', 'x-mcp-header': 'Count' },
			opts: { type: 'object', properties: { tenant: { type: 'string', 'x-mcp-header': 'Tenant' } } },
			note: { type: 'string' },
		},
	},
};

function send(m) {
	process.stdout.write(`${JSON.stringify(m)}\n`);
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
	let m;
	try {
		m = JSON.parse(line);
	} catch {
		return;
	}
	if (m.id === undefined || m.method === undefined)
		return;
	const ok = (result) => send({ jsonrpc: '2.0', id: m.id, result });
	switch (m.method) {
	case 'initialize':
		return ok({ protocolVersion: m.params.protocolVersion, capabilities: { tools: {} },
		    serverInfo: { name: 'xheader', version: '1' } });
	case 'tools/list':
		return ok({ tools: [TOOL] });
	case 'tools/call':
		return ok({ content: [{ type: 'text', text: String(m.params.arguments?.region) }] });
	case 'ping':
		return ok({});
	default:
		return send({ jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'method not found' } });
	}
});
