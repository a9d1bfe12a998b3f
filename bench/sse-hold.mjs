// Opens N idle Server-Sent Events streams on mcpgate's MCP endpoint, the
// 2025-11-25 way: N sessions (initialize), then one GET stream per session,
// each on its own connection; holds them until SIGTERM (at most 600 s).
//
//   node bench/sse-hold.mjs URL N   (BENCH_TOKEN in the environment)
//
// Prints "sessions N ms T", then "streams N ms T" once every stream has its
// 200 and text/event-stream headers, then "closed" at the end.  Exits 1 if a
// session or a stream fails, or if it is not done within 120 s.

import http from 'node:http';
import net from 'node:net';

const [url, nArg] = process.argv.slice(2);
const token = process.env.BENCH_TOKEN;
const n = Number(nArg);
if (!url || !(n > 0) || !token) {
	console.error('usage: BENCH_TOKEN=... sse-hold.mjs URL N');
	process.exit(2);
}
const u = new URL(url);
const port = Number(u.port);
const deadline = setTimeout(() => {
	console.error('sse-hold: not done within 120 s');
	process.exit(1);
}, 120000);

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function initialize() {
	const body = JSON.stringify({
		jsonrpc: '2.0', id: 0, method: 'initialize',
		params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'sse-hold', version: '1' } },
	});
	return new Promise((resolve, reject) => {
		const req = http.request({
			host: u.hostname, port, path: u.pathname, method: 'POST', agent,
			headers: {
				authorization: `Bearer ${token}`, 'content-type': 'application/json',
				accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body),
			},
		}, (res) => {
			res.resume();
			res.on('end', () => {
				const sid = res.headers['mcp-session-id'];
				if (res.statusCode !== 200 || !sid)
					reject(new Error(`initialize: ${res.statusCode}`));
				else
					resolve(sid);
			});
		});
		req.on('error', reject);
		req.end(body);
	});
}

// One GET stream on its own socket; resolves with the socket once the
// response headers (200, text/event-stream) are in.
function stream(sid) {
	return new Promise((resolve, reject) => {
		const s = net.connect(port, u.hostname);
		let head = '';
		s.setEncoding('latin1');
		s.on('connect', () => s.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\n` +
		    `Authorization: Bearer ${token}\r\nAccept: text/event-stream\r\n` +
		    `Mcp-Session-Id: ${sid}\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n`));
		const onData = (d) => {
			head += d;
			const end = head.indexOf('\r\n\r\n');
			if (end < 0) {
				if (head.length > 8192)
					reject(new Error('GET: headers too long'));
				return;
			}
			s.off('data', onData);
			s.on('data', () => {});	// heartbeats: read and drop
			if (!/^HTTP\/1\.1 200 /.test(head) || !/\r\ncontent-type: text\/event-stream/i.test(head))
				reject(new Error(`GET: ${head.split('\r\n')[0]}`));
			else
				resolve(s);
		};
		s.on('data', onData);
		s.on('error', reject);
	});
}

// Runs f over items, at most c at a time.
async function pool(items, c, f) {
	const out = new Array(items.length);
	let next = 0;
	await Promise.all(Array.from({ length: c }, async () => {
		while (next < items.length) {
			const i = next++;
			out[i] = await f(items[i]);
		}
	}));
	return out;
}

try {
	let t = Date.now();
	const sids = await pool(Array.from({ length: n }), 16, () => initialize());
	agent.destroy();
	console.log(`sessions ${n} ms ${Date.now() - t}`);
	t = Date.now();
	const socks = await pool(sids, 64, stream);
	console.log(`streams ${socks.length} ms ${Date.now() - t}`);
	clearTimeout(deadline);
	let closed = 0;
	for (const s of socks)
		s.on('close', () => closed++);
	const end = () => {
		for (const s of socks)
			s.destroy();
		console.log(`closed (${closed} ended by the server while held)`);
		process.exit(0);
	};
	process.on('SIGTERM', end);
	setTimeout(end, 600000);
} catch (e) {
	console.error(`sse-hold: ${e.message}`);
	process.exit(1);
}
