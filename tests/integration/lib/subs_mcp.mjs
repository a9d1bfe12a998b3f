// A minimal MCP server on stdio (newline-delimited JSON-RPC) whose
// resources can be subscribed to, for the gateway's subscription tests.
// Every resources/subscribe and resources/unsubscribe it receives is
// appended to the file named by SUBS_LOG ("<pid> subscribe <uri>"), so a
// test sees what reached the upstream; so is its start ("<pid> start -").
// URIs containing "refuse" cannot be subscribed to (a -32602 error, logged
// as "<pid> refuse <uri>"); the answer to a subscribe of a URI containing
// "slow" comes after 800 ms.  Tools trigger notifications and events
// deterministically:
//   touch {uri}  notifications/resources/updated for uri (subscribed or not)
//   grow         a new tool appears: notifications/tools/list_changed
//   exit         answers, then the process exits (the gateway restarts it)
// With SUBS_NOSUB=1 it does not offer subscriptions (and refuses them).
// Only node: built-ins.

import fs from 'node:fs';
import readline from 'node:readline';

const LOG = process.env.SUBS_LOG;
const NOSUB = process.env.SUBS_NOSUB === '1';
const SLOW_MS = 800;
const RESOURCES = [
	{ uri: 'test://r/a', name: 'a', mimeType: 'text/plain' },
	{ uri: 'test://r/b', name: 'b', mimeType: 'text/plain' },
	{ uri: 'test://dir', name: 'dir', mimeType: 'text/plain' },
];
const tools = [
	{ name: 'touch', description: 'reports an update of a resource', annotations: { readOnlyHint: true },
	    inputSchema: { type: 'object', properties: { uri: { type: 'string' } } } },
	{ name: 'grow', description: 'adds a tool', annotations: { readOnlyHint: true },
	    inputSchema: { type: 'object' } },
	{ name: 'exit', description: 'ends this process', inputSchema: { type: 'object' } },
];

function send(m) {
	process.stdout.write(`${JSON.stringify(m)}\n`);
}

function log(line) {
	if (LOG)
		fs.appendFileSync(LOG, `${process.pid} ${line}\n`);
}

log('start -');

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
	const fail = (code, message) => send({ jsonrpc: '2.0', id: m.id, error: { code, message } });
	switch (m.method) {
	case 'initialize':
		return ok({ protocolVersion: m.params.protocolVersion,
		    capabilities: { tools: { listChanged: true },
			resources: NOSUB ? { listChanged: true } : { subscribe: true, listChanged: true } },
		    serverInfo: { name: 'subs', version: '1' } });
	case 'tools/list':
		return ok({ tools });
	case 'resources/list':
		return ok({ resources: RESOURCES });
	case 'resources/templates/list':
		return ok({ resourceTemplates: [] });
	case 'resources/read':
		return ok({ contents: [{ uri: m.params.uri, mimeType: 'text/plain', text: `content of ${m.params.uri}` }] });
	case 'resources/subscribe':
	case 'resources/unsubscribe': {
		if (NOSUB)
			return fail(-32601, 'method not found');
		const uri = String(m.params.uri);
		const refuse = m.method === 'resources/subscribe' && uri.includes('refuse');
		log(`${refuse ? 'refuse' : m.method.slice('resources/'.length)} ${uri}`);
		const answer = () => (refuse ? fail(-32602, 'this resource cannot be subscribed to') : ok({}));
		if (m.method === 'resources/subscribe' && uri.includes('slow'))
			return setTimeout(answer, SLOW_MS);
		return answer();
	}
	case 'tools/call':
		if (m.params.name === 'touch') {
			send({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: m.params.arguments.uri } });
			return ok({ content: [{ type: 'text', text: 'touched' }] });
		}
		if (m.params.name === 'exit') {
			process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: m.id,
			    result: { content: [{ type: 'text', text: 'bye' }] } })}\n`, () => process.exit(0));
			return undefined;
		}
		if (m.params.name === 'grow') {
			tools.push({ name: `t${tools.length}`, description: 'grown', inputSchema: { type: 'object' } });
			send({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
			return ok({ content: [{ type: 'text', text: 'grown' }] });
		}
		return fail(-32602, 'unknown tool');
	case 'ping':
		return ok({});
	default:
		return fail(-32601, 'method not found');
	}
});
