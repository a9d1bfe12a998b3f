// A small MCP server (protocol 2025-11-25) whose tools, prompt and resource
// send requests to their client while they run (elicitation/create,
// sampling/createMessage, roots/list, one or several at once) and return
// what they got, for the gateway's multi round-trip tests.  Run as a
// program it speaks stdio (newline-delimited JSON-RPC); serveHttp() runs
// the same server on Streamable HTTP in the calling process, where a call's
// requests and log messages travel on its own response stream.  Only node:
// built-ins.

import http from 'node:http';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const ELICIT = { mode: 'form', message: 'Your name?',
    requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } };
const SAMPLE = { messages: [{ role: 'user', content: { type: 'text', text: 'Say hi' } }], maxTokens: 10 };
export const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];

const TOOLS = [
	// Not read-only: it needs mcp:write.
	{ name: 'ask', description: 'elicits a name', inputSchema: { type: 'object' } },
	{ name: 'sample', description: 'samples', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
	{ name: 'roots', description: 'lists roots', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
	{ name: 'several', description: 'all three at once', inputSchema: { type: 'object' },
	    annotations: { readOnlyHint: true } },
	{ name: 'twice', description: 'elicits twice, one after the other', inputSchema: { type: 'object' },
	    annotations: { readOnlyHint: true } },
	{ name: 'log', description: 'a message at every level', inputSchema: { type: 'object' },
	    annotations: { readOnlyHint: true } },
	{ name: 'later_roots', description: 'asks roots/list after it returned', inputSchema: { type: 'object' },
	    annotations: { readOnlyHint: true } },
	{ name: 'seen', description: 'what the server saw', inputSchema: { type: 'object' },
	    annotations: { readOnlyHint: true } },
	// As a 2026-07-28 server would: its own InputRequiredResult.
	{ name: 'native', description: 'asks in its result', inputSchema: { type: 'object' },
	    annotations: { readOnlyHint: true } },
];

// The server's state and logic; ${send} takes messages not tied to a call.
export function makeCore(send) {
	const st = { next: 1, pending: new Map(), cancelled: [], failed: [], startupRoots: null, laterRoots: null };

	// A request to the client on ${out}; resolves its response message.
	function ask(out, method, params) {
		const id = `srv-${st.next++}`;
		const p = new Promise((resolve) => st.pending.set(id, resolve));
		out({ jsonrpc: '2.0', id, method, params });
		return p;
	}
	function got(tool, m) {
		if (m.error)
			st.failed.push({ tool, error: m.error });
		return m.result ?? { error: m.error };
	}
	const text = (v) => ({ content: [{ type: 'text', text: JSON.stringify(v) }] });

	async function tool(name, out, p) {
		switch (name) {
		case 'ask':
			return text(got(name, await ask(out, 'elicitation/create', ELICIT)));
		case 'sample':
			return text(got(name, await ask(out, 'sampling/createMessage', SAMPLE)));
		case 'roots':
			return text(got(name, await ask(out, 'roots/list', {})));
		case 'several': {
			const r = await Promise.all([ask(out, 'elicitation/create', ELICIT),
			    ask(out, 'sampling/createMessage', SAMPLE), ask(out, 'roots/list', {})]);
			return text(r.map((m) => got(name, m)));
		}
		case 'twice': {
			const a = got(name, await ask(out, 'elicitation/create', ELICIT));
			const b = got(name, await ask(out, 'elicitation/create', { ...ELICIT, message: 'And again?' }));
			return text([a, b]);
		}
		case 'log':
			for (const level of LEVELS)
				out({ jsonrpc: '2.0', method: 'notifications/message', params: { level, logger: 'mrtr', data: level } });
			return text('logged');
		case 'later_roots':
			setTimeout(async () => {
				st.laterRoots = got(name, await ask(send, 'roots/list', {}));
			}, 300);
			return text('ok');
		case 'native':
			if (p.requestState === 'native-state-1' && p.inputResponses?.color)
				return text(p.inputResponses.color);
			return { resultType: 'input_required', requestState: 'native-state-1',
			    inputRequests: { color: { method: 'elicitation/create', params: { ...ELICIT, message: 'Color?' } } } };
		case 'seen':
			return text({ cancelled: st.cancelled, failed: st.failed, startupRoots: st.startupRoots,
			    laterRoots: st.laterRoots });
		default:
			return null;
		}
	}

	// The result for request ${m} (messages about it go to ${out}), or
	// an error object as {error}.
	async function request(m) {
		const p = m.params ?? {};
		switch (m.method) {
		case 'initialize':
			return { result: { protocolVersion: p.protocolVersion, serverInfo: { name: 'mrtr', version: '1' },
			    capabilities: { tools: {}, prompts: {}, resources: {}, logging: {} } } };
		case 'tools/list':
			return { result: { tools: TOOLS } };
		case 'prompts/list':
			return { result: { prompts: [{ name: 'greet', description: 'greets whoever answers' }] } };
		case 'resources/list':
			return { result: { resources: [{ uri: 'mrtr://card', name: 'card' }] } };
		case 'ping':
			return { result: {} };
		default:
			return null;
		}
	}

	async function call(m, out) {
		const p = m.params ?? {};
		const simple = await request(m);
		if (simple !== null)
			return { jsonrpc: '2.0', id: m.id, ...simple };
		let result = null;
		if (m.method === 'tools/call')
			result = await tool(p.name, out, p);
		else if (m.method === 'prompts/get' && p.name === 'greet') {
			const r = got('greet', await ask(out, 'elicitation/create', ELICIT));
			result = { messages: [{ role: 'user', content: { type: 'text', text: `Hello ${r.content?.name}` } }] };
		} else if (m.method === 'resources/read' && p.uri === 'mrtr://card') {
			const r = got('card', await ask(out, 'elicitation/create', ELICIT));
			result = { contents: [{ uri: p.uri, text: `card of ${r.content?.name}` }] };
		}
		if (result === null)
			return { jsonrpc: '2.0', id: m.id, error: { code: -32601, message: 'method not found' } };
		return { jsonrpc: '2.0', id: m.id, result };
	}

	function response(m) {
		const f = st.pending.get(m.id);
		if (f) {
			st.pending.delete(m.id);
			f(m);
		}
	}

	function notification(m) {
		if (m.method === 'notifications/cancelled')
			st.cancelled.push(m.params?.requestId);
		// Asked with no call running: the gateway has nobody to ask.
		if (m.method === 'notifications/initialized')
			ask(send, 'roots/list', {}).then((r) => { st.startupRoots = got('startup', r); });
	}

	return { call, response, notification };
}

// Streamable HTTP on 127.0.0.1 (a free port); resolves {url, close()}.
export async function serveHttp() {
	const core = makeCore(() => {});
	const srv = http.createServer((req, res) => {
		if (req.method !== 'POST') {
			res.writeHead(405, { allow: 'POST' }).end();
			return;
		}
		let body = '';
		req.on('data', (d) => { body += d; });
		req.on('end', async () => {
			let m;
			try {
				m = JSON.parse(body);
			} catch {
				res.writeHead(400).end();
				return;
			}
			if (m.method === undefined) {
				core.response(m);
				res.writeHead(202).end();
				return;
			}
			if (m.id === undefined) {
				core.notification(m);
				res.writeHead(202).end();
				return;
			}
			if (!['tools/call', 'prompts/get', 'resources/read'].includes(m.method)) {
				const r = await core.call(m, () => {});
				res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'mrtr-session' });
				res.end(JSON.stringify(r));
				return;
			}
			res.writeHead(200, { 'content-type': 'text/event-stream' });
			const out = (msg) => res.write(`event: message\ndata: ${JSON.stringify(msg)}\n\n`);
			out(await core.call(m, out));
			res.end();
		});
	});
	await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
	return {
		url: `http://127.0.0.1:${srv.address().port}/mcp`,
		close: () => new Promise((resolve) => { srv.closeAllConnections(); srv.close(() => resolve()); }),
	};
}

function stdio() {
	const send = (m) => process.stdout.write(`${JSON.stringify(m)}\n`);
	const core = makeCore(send);
	readline.createInterface({ input: process.stdin }).on('line', async (line) => {
		let m;
		try {
			m = JSON.parse(line);
		} catch {
			return;
		}
		if (m.method === undefined)
			core.response(m);
		else if (m.id === undefined)
			core.notification(m);
		else
			send(await core.call(m, send));
	});
}

if (process.argv[1] === fileURLToPath(import.meta.url))
	stdio();
