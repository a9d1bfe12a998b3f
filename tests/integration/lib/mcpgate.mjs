// Helpers for mcpgate's integration tests: start the real server on a free
// port with a throw-away data directory, speak HTTP to it with a cookie jar,
// drive the login and consent pages like a browser would, and check JWTs.
//
// Only node: built-ins.  Every wait has a timeout and every process started
// here is killed when the test (or the whole test process) ends.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SOURCE_DIR = process.env.MCPGATE_SOURCE_DIR ||
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export const READY_TIMEOUT_MS = 15000;
export const STOP_TIMEOUT_MS = 5000;
export const REQUEST_TIMEOUT_MS = 10000;
export const ADMIN_TIMEOUT_MS = 15000;
const LOG_LIMIT = 1 << 20;	// keep at most the last 1 MiB of server output

// The program under test.
export function mcpgateBin() {
	const bin = process.env.MCPGATE_BIN || path.join(SOURCE_DIR, 'build', 'mcpgate');
	if (!fs.existsSync(bin))
		throw new Error(`mcpgate binary not found at ${bin}: build it, or set MCPGATE_BIN`);
	return bin;
}

// ---------------------------------------------------------------------------
// Small utilities

export function randomToken(bytes = 16) {
	return crypto.randomBytes(bytes).toString('base64url');
}

export function sleep(ms) {
	return new Promise((resolve) => setTimeout(resolve, ms));
}

// A TCP port nobody listens on right now.
export function freePort() {
	return new Promise((resolve, reject) => {
		const srv = net.createServer();
		srv.unref();
		srv.on('error', reject);
		srv.listen(0, '127.0.0.1', () => {
			const { port } = srv.address();
			srv.close(() => resolve(port));
		});
	});
}

function isPlainObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Recursive merge: objects merge key by key, anything else (arrays
// included) in `over` replaces what is in `base`.  A key set to null in
// `over` is removed.
export function deepMerge(base, over) {
	if (!isPlainObject(base) || !isPlainObject(over))
		return structuredClone(over);
	const out = structuredClone(base);
	for (const [k, v] of Object.entries(over)) {
		if (v === null)
			delete out[k];
		else if (isPlainObject(v) && isPlainObject(out[k]))
			out[k] = deepMerge(out[k], v);
		else
			out[k] = structuredClone(v);
	}
	return out;
}

// Resolves with `promise`, or rejects after `ms` with `what` in the message.
export function withTimeout(promise, ms, what) {
	let timer;
	const t = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
	});
	return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Child processes: every one is tracked so that none outlives the tests.

const live = new Set();

function killAll() {
	for (const child of live) {
		try {
			child.kill('SIGKILL');
		} catch {
			// already gone
		}
	}
	live.clear();
}

process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
	process.once(sig, () => {
		killAll();
		process.exit(128 + os.constants.signals[sig]);
	});
}

// Registers a child process started elsewhere so that it is killed, at the
// latest, when the test process exits.
export function track(child) {
	live.add(child);
	child.once('exit', () => live.delete(child));
	return child;
}

// Runs `cmd args` to completion with `stdin` as its input.  Resolves
// {code, signal, stdout, stderr, json}; json is stdout parsed when it is
// JSON, else undefined.  Killed after `timeout` ms.
export function run(cmd, args, { stdin = '', env = {}, timeout = ADMIN_TIMEOUT_MS, cwd } = {}) {
	return new Promise((resolve, reject) => {
		const child = spawn(cmd, args, {
			cwd,
			env: { ...process.env, ...env },
			stdio: ['pipe', 'pipe', 'pipe'],
		});
		live.add(child);
		let stdout = '';
		let stderr = '';
		let timedOut = false;
		child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
		child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
		const timer = setTimeout(() => {
			timedOut = true;
			child.kill('SIGKILL');
		}, timeout);
		child.on('error', (err) => {
			clearTimeout(timer);
			live.delete(child);
			reject(err);
		});
		child.on('close', (code, signal) => {
			clearTimeout(timer);
			live.delete(child);
			if (timedOut) {
				reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeout} ms\n` +
				    `stdout:\n${stdout}\nstderr:\n${stderr}`));
				return;
			}
			let json;
			try {
				json = JSON.parse(stdout);
			} catch {
				json = undefined;
			}
			resolve({ code, signal, stdout, stderr, json });
		});
		child.stdin.on('error', () => {});	// the child may not read it
		child.stdin.end(stdin);
	});
}

// ---------------------------------------------------------------------------
// The server

// The configuration a test server starts with, before the test's overrides.
export function defaultConfig({ port, dataDir, password }) {
	const issuer = `http://127.0.0.1:${port}`;
	return {
		listen: { address: '127.0.0.1', port },
		issuer,
		data_dir: dataDir,
		demo_user: { username: 'demo', password },
		registration: { policy: 'open', loopback_only: false, allow_confidential: true },
		cimd: { allow_private: true, allow_http: true },
		resources: [`${issuer}/mcp`],
		// Every test speaks from 127.0.0.1, many of them to one shared
		// server: the per-address request rates are raised far above
		// what they send (limits.test.mjs tests the limits themselves).
		rate_limits: { register: { max: 100000, window: 60 }, authorize: { max: 100000, window: 60 } },
	};
}

// Starts `mcpgate serve --config FILE` and waits until it answers its
// metadata document.
//   config   overrides merged into defaultConfig() (see deepMerge)
//   env      extra environment for the server process
//   args     extra raw arguments after `serve --config FILE`
//   t        a node:test context: the server is stopped in t.after()
//   readyPath  the path polled until it answers 200 (default the
//            authorization server's metadata; a gateway without the
//            authorization server serves PRM_WELL_KNOWN instead)
// Resolves the server handle described in docs/internals/testing.md.
// Starts a server as startServerOnce() does; when the free port it picked was
// taken by another test in between (tests run in parallel), tries again with
// another port, at most three times.
export async function startServer(opts = {}) {
	for (let attempt = 1; ; attempt++) {
		try {
			return await startServerOnce(opts);
		} catch (err) {
			if (attempt >= 3 || opts.config?.listen?.port !== undefined ||
			    !/cannot listen on/.test(err.message))
				throw err;
		}
	}
}

async function startServerOnce({ config = {}, env = {}, args = [], t,
    readyTimeout = READY_TIMEOUT_MS, allowUncleanExit = false,
    readyPath = '/.well-known/oauth-authorization-server' } = {}) {
	const bin = mcpgateBin();
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-it-'));
	const dataDir = path.join(dir, 'data');
	fs.mkdirSync(dataDir, { mode: 0o700 });
	const port = await freePort();
	const password = `pw-${randomToken(12)}`;
	const merged = deepMerge(defaultConfig({ port, dataDir, password }), config);
	const configPath = path.join(dir, 'config.json');
	fs.writeFileSync(configPath, JSON.stringify(merged, null, 2), { mode: 0o600 });

	const issuer = merged.issuer;
	const listenPort = merged.listen?.port ?? port;
	const url = `http://${merged.listen?.address ?? '127.0.0.1'}:${listenPort}`;
	let logs = '';
	let child = null;
	let exited = null;	// promise resolved when the current child exits

	function appendLog(s) {
		logs += s;
		if (logs.length > LOG_LIMIT)
			logs = logs.slice(logs.length - LOG_LIMIT);
	}

	function spawnServer() {
		appendLog(`--- mcpgate serve --config ${configPath} ${args.join(' ')}\n`);
		const c = spawn(bin, ['serve', '--config', configPath, ...args], {
			env: { ...process.env, MCPGATE_DATA: dataDir, ...env },
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		live.add(c);
		c.stdout.setEncoding('utf8').on('data', appendLog);
		c.stderr.setEncoding('utf8').on('data', appendLog);
		exited = new Promise((resolve) => {
			c.on('error', (err) => {
				appendLog(`--- spawn error: ${err.message}\n`);
				live.delete(c);
				resolve({ code: null, signal: null, error: err });
			});
			c.on('exit', (code, signal) => {
				appendLog(`--- exited code=${code} signal=${signal}\n`);
				live.delete(c);
				resolve({ code, signal });
			});
		});
		child = c;
	}

	async function waitReady() {
		const wellKnown = `${url}${readyPath}`;
		const deadline = Date.now() + readyTimeout;
		let lastErr = 'no answer';
		let gone = null;
		exited.then((r) => { gone = r; });
		while (Date.now() < deadline) {
			if (gone)
				throw new Error(`mcpgate exited before it was ready ` +
				    `(code=${gone.code} signal=${gone.signal})\n${logs}`);
			try {
				const res = await fetch(wellKnown, {
					signal: AbortSignal.timeout(2000),
					redirect: 'manual',
				});
				const text = await res.text();
				if (res.status === 200)
					return JSON.parse(text);
				lastErr = `status ${res.status}`;
			} catch (err) {
				lastErr = err.cause?.code || err.message;
			}
			await sleep(50);
		}
		throw new Error(`mcpgate not ready after ${readyTimeout} ms (${lastErr})\n${logs}`);
	}

	async function stop() {
		const c = child;
		if (c === null)
			return;
		child = null;
		let clean = true;
		if (c.exitCode === null && c.signalCode === null) {
			c.kill('SIGTERM');
			let timer;
			const r = await Promise.race([exited, new Promise((resolve) => {
				timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
			})]);
			clearTimeout(timer);
			if (r === null) {
				appendLog(`--- no exit ${STOP_TIMEOUT_MS} ms after SIGTERM, sending SIGKILL\n`);
				c.kill('SIGKILL');
				await withTimeout(exited, STOP_TIMEOUT_MS, 'mcpgate exit after SIGKILL');
				clean = false;
			} else if (r.code !== 0) {
				// A clean shutdown exits 0; anything else is a crash,
				// a sanitizer report (LeakSanitizer exits 23) or a hang.
				clean = false;
			}
		} else if (c.exitCode !== 0) {
			clean = false;	// it died on its own, before it was asked to stop
		}
		live.delete(c);
		if (!clean && !allowUncleanExit)
			throw new Error(`mcpgate did not shut down cleanly\n${logs}`);
	}

	const server = {
		url,
		issuer,
		port: listenPort,
		config: merged,
		configPath,
		dir,
		dataDir,
		password,
		username: merged.demo_user?.username ?? 'demo',
		metadata: null,
		logs: () => logs,
		// Exit status of the current process, or null while it runs.
		exitStatus: () => child === null ? null :
		    (child.exitCode === null && child.signalCode === null ? null :
		    { code: child.exitCode, signal: child.signalCode }),
		stop,
		// The process id of the running server, or null.
		pid: () => child === null ? null : child.pid,
		// Sends `sig` (e.g. 'SIGHUP') to the running server.
		signal(sig) {
			if (child === null)
				throw new Error('mcpgate is not running');
			child.kill(sig);
		},
		async restart() {
			await stop();
			spawnServer();
			server.metadata = await waitReady();
			return server;
		},
		// Stops the server and removes its directory.
		async cleanup() {
			await stop();
			fs.rmSync(dir, { recursive: true, force: true });
		},
		// `mcpgate admin ARGS... --config FILE` with `stdin` as input.
		admin(adminArgs, stdin = '', opts = {}) {
			return run(bin, ['admin', ...adminArgs, '--config', configPath],
			    { stdin, env: { MCPGATE_DATA: dataDir, ...env }, ...opts });
		},
	};

	spawnServer();
	if (t)
		t.after(() => server.cleanup());
	try {
		server.metadata = await waitReady();
	} catch (err) {
		// The error carries the server's output; nothing else is
		// worth keeping (and the unclean exit is the error itself).
		await server.cleanup().catch(() => {});
		throw err;
	}
	return server;
}

// Runs `fn(server)` with a fresh server; on failure the server's output is
// added to the test's diagnostics.  The server is always stopped.
export async function withServer(t, opts, fn) {
	const server = await startServer(opts);
	try {
		return await fn(server);
	} catch (err) {
		if (t)
			t.diagnostic(`mcpgate output:\n${server.logs()}`);
		else
			process.stderr.write(`mcpgate output:\n${server.logs()}\n`);
		throw err;
	} finally {
		await server.cleanup();
	}
}

// ---------------------------------------------------------------------------
// HTTP

// A minimal cookie jar: name=value per host, with Path and expiry honoured.
export class CookieJar {
	constructor() {
		this.cookies = new Map();	// `${host}\0${path}\0${name}` -> cookie
	}

	// Stores the Set-Cookie header values of a response to `url`.
	store(url, setCookies) {
		const u = new URL(url);
		for (const line of setCookies) {
			const parts = line.split(';').map((s) => s.trim());
			const eq = parts[0].indexOf('=');
			if (eq <= 0)
				continue;
			const cookie = {
				name: parts[0].slice(0, eq).trim(),
				value: parts[0].slice(eq + 1).trim(),
				host: u.hostname,
				path: '/',
				expires: null,
				attrs: {},
			};
			const dir = u.pathname.replace(/\/[^/]*$/, '');
			cookie.path = dir === '' ? '/' : dir;
			for (const attr of parts.slice(1)) {
				const i = attr.indexOf('=');
				const k = (i < 0 ? attr : attr.slice(0, i)).trim().toLowerCase();
				const v = i < 0 ? true : attr.slice(i + 1).trim();
				cookie.attrs[k] = v;
				if (k === 'path' && typeof v === 'string' && v.startsWith('/'))
					cookie.path = v;
				else if (k === 'max-age')
					cookie.expires = Date.now() + Number(v) * 1000;
				else if (k === 'expires' && cookie.expires === null)
					cookie.expires = Date.parse(v);
			}
			const key = `${cookie.host}\0${cookie.path}\0${cookie.name}`;
			if (cookie.expires !== null && !(cookie.expires > Date.now()))
				this.cookies.delete(key);
			else
				this.cookies.set(key, cookie);
		}
	}

	// The cookies that go with a request to `url`, as {name, value, attrs}.
	matching(url) {
		const u = new URL(url);
		const out = [];
		for (const [key, c] of this.cookies) {
			if (c.expires !== null && !(c.expires > Date.now())) {
				this.cookies.delete(key);
				continue;
			}
			if (c.host !== u.hostname)
				continue;
			if (!(u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
				continue;
			out.push(c);
		}
		return out;
	}

	header(url) {
		return this.matching(url).map((c) => `${c.name}=${c.value}`).join('; ');
	}

	get(name) {
		for (const c of this.cookies.values())
			if (c.name === name)
				return c;
		return undefined;
	}

	all() {
		return [...this.cookies.values()];
	}

	clear() {
		this.cookies.clear();
	}
}

// client_secret_basic per RFC 6749 section 2.3.1: both parts form-encoded.
export function basicAuth(id, secret) {
	const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
	return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

// One HTTP request.  Never follows redirects.
//   method   default GET, or POST when a body is given
//   headers  object of extra headers
//   form     object -> application/x-www-form-urlencoded (array values repeat)
//   json     value  -> application/json
//   body     raw string or Buffer (Content-Type from headers)
//   basic    [client_id, client_secret] -> Authorization: Basic
//   bearer   token -> Authorization: Bearer
//   jar      a CookieJar to send from and store into
// Resolves {status, headers (lower-case names; set-cookie is an array),
// text, json (when the body parses as JSON), location (absolute, or
// undefined), url}.
export async function request(url, { method, headers = {}, form, json, body, basic, bearer,
    jar, timeout = REQUEST_TIMEOUT_MS } = {}) {
	const h = {};
	for (const [k, v] of Object.entries(headers))
		h[k.toLowerCase()] = v;
	let payload;
	if (form !== undefined) {
		const p = new URLSearchParams();
		for (const [k, v] of Object.entries(form)) {
			if (v === undefined)
				continue;
			for (const one of Array.isArray(v) ? v : [v])
				p.append(k, String(one));
		}
		payload = p.toString();
		h['content-type'] ??= 'application/x-www-form-urlencoded';
	} else if (json !== undefined) {
		payload = JSON.stringify(json);
		h['content-type'] ??= 'application/json';
	} else if (body !== undefined) {
		payload = body;
	}
	if (basic)
		h.authorization = basicAuth(basic[0], basic[1]);
	if (bearer)
		h.authorization = `Bearer ${bearer}`;
	if (jar) {
		const c = jar.header(url);
		if (c)
			h.cookie = c;
	}
	const res = await fetch(url, {
		method: method ?? (payload === undefined ? 'GET' : 'POST'),
		headers: h,
		body: payload,
		redirect: 'manual',
		signal: AbortSignal.timeout(timeout),
	});
	const text = await res.text();
	const setCookies = res.headers.getSetCookie();
	if (jar)
		jar.store(url, setCookies);
	const outHeaders = {};
	for (const [k, v] of res.headers)
		if (k !== 'set-cookie')
			outHeaders[k] = v;
	if (setCookies.length > 0)
		outHeaders['set-cookie'] = setCookies;
	let parsed;
	try {
		parsed = JSON.parse(text);
	} catch {
		parsed = undefined;
	}
	const loc = res.headers.get('location');
	return {
		url,
		status: res.status,
		headers: outHeaders,
		text,
		json: parsed,
		location: loc === null ? undefined : new URL(loc, url).href,
	};
}

// Like request(), but over node:http so that the connection can come from
// a chosen local address (`localAddress`, e.g. '127.0.0.2': every 127/8
// address is loopback on Linux), which lets a test look like several
// clients.  http: URLs only.  Takes the options of request() (form, json,
// body, headers, basic, bearer, jar, timeout) and resolves the same shape.
export function requestFrom(url, { localAddress, method, headers = {}, form, json, body, basic,
    bearer, jar, timeout = REQUEST_TIMEOUT_MS } = {}) {
	const u = new URL(url);
	if (u.protocol !== 'http:')
		throw new Error(`requestFrom: only http: URLs, not ${url}`);
	const h = {};
	for (const [k, v] of Object.entries(headers))
		h[k.toLowerCase()] = v;
	let payload;
	if (form !== undefined) {
		const p = new URLSearchParams();
		for (const [k, v] of Object.entries(form)) {
			if (v === undefined)
				continue;
			for (const one of Array.isArray(v) ? v : [v])
				p.append(k, String(one));
		}
		payload = p.toString();
		h['content-type'] ??= 'application/x-www-form-urlencoded';
	} else if (json !== undefined) {
		payload = JSON.stringify(json);
		h['content-type'] ??= 'application/json';
	} else if (body !== undefined) {
		payload = body;
	}
	if (payload !== undefined)
		h['content-length'] = Buffer.byteLength(payload);
	if (basic)
		h.authorization = basicAuth(basic[0], basic[1]);
	if (bearer)
		h.authorization = `Bearer ${bearer}`;
	if (jar) {
		const c = jar.header(url);
		if (c)
			h.cookie = c;
	}
	return new Promise((resolve, reject) => {
		const req = http.request({
			host: u.hostname.replace(/^\[|\]$/g, ''),
			port: u.port || 80,
			path: `${u.pathname}${u.search}`,
			method: method ?? (payload === undefined ? 'GET' : 'POST'),
			headers: h,
			localAddress,
			agent: false,
			timeout,
		}, (res) => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (d) => { text += d; });
			res.on('error', reject);
			res.on('end', () => {
				const setCookies = [].concat(res.headers['set-cookie'] ?? []);
				if (jar)
					jar.store(url, setCookies);
				const outHeaders = {};
				for (const [k, v] of Object.entries(res.headers))
					if (k !== 'set-cookie')
						outHeaders[k] = Array.isArray(v) ? v.join(', ') : v;
				if (setCookies.length > 0)
					outHeaders['set-cookie'] = setCookies;
				let parsed;
				try {
					parsed = JSON.parse(text);
				} catch {
					parsed = undefined;
				}
				const loc = res.headers.location;
				resolve({
					url,
					status: res.statusCode,
					headers: outHeaders,
					text,
					json: parsed,
					location: loc === undefined ? undefined : new URL(loc, url).href,
				});
			});
		});
		req.on('timeout', () => req.destroy(new Error(`timed out after ${timeout} ms: ${url}`)));
		req.on('error', reject);
		req.end(payload);
	});
}

// A throw-away HTTP server on 127.0.0.1 for the server under test to talk
// to (client metadata documents, ...).  `handler(req, res)` is a node:http
// request listener.  Resolves {url (origin, no trailing slash), port,
// requests (the paths asked for, in order), close()}.  Pass `t` to have it
// closed in t.after().
export async function startHttpServer(handler, { t } = {}) {
	const requests = [];
	const sockets = new Set();
	const srv = http.createServer((req, res) => {
		requests.push(req.url);
		handler(req, res);
	});
	srv.on('connection', (s) => {
		sockets.add(s);
		s.on('close', () => sockets.delete(s));
	});
	await new Promise((resolve, reject) => {
		srv.once('error', reject);
		srv.listen(0, '127.0.0.1', resolve);
	});
	const { port } = srv.address();
	let closed = null;
	const handle = {
		url: `http://127.0.0.1:${port}`,
		port,
		requests,
		close() {
			if (closed === null) {
				closed = new Promise((resolve) => srv.close(() => resolve()));
				for (const s of sockets)
					s.destroy();
			}
			return closed;
		},
	};
	if (t)
		t.after(() => handle.close());
	return handle;
}

// PKCE pair, S256.
export function pkce() {
	const verifier = crypto.randomBytes(32).toString('base64url');
	const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
	return { verifier, challenge };
}

// ---------------------------------------------------------------------------
// HTML forms

export function htmlUnescape(s) {
	return s.replace(/&(amp|lt|gt|quot|#39|#x27|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (m, name, dec, hex) => {
		switch (name) {
		case 'amp': return '&';
		case 'lt': return '<';
		case 'gt': return '>';
		case 'quot': return '"';
		case '#39': case '#x27': case 'apos': return "'";
		default:
			return String.fromCodePoint(dec !== undefined ? Number(dec) : parseInt(hex, 16));
		}
	});
}

// Attributes of one start tag's inside, e.g. ` type="hidden" name=x checked`.
export function parseAttrs(s) {
	const attrs = {};
	const re = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
	let m;
	while ((m = re.exec(s)) !== null) {
		const v = m[2] ?? m[3] ?? m[4];
		attrs[m[1].toLowerCase()] = v === undefined ? '' : htmlUnescape(v);
	}
	return attrs;
}

// Every <form> in `html`: [{action, method, attrs, fields: {name: value},
// buttons: [{name, value, text}]}].  fields holds the inputs a browser would
// submit (hidden, text, password, ... ; checked checkboxes and radios;
// textareas; selects' selected option); submit buttons are listed apart.
export function parseForms(html) {
	const forms = [];
	const formRe = /<form\b([^>]*)>([\s\S]*?)(?:<\/form\s*>|$)/gi;
	let fm;
	while ((fm = formRe.exec(html)) !== null) {
		const attrs = parseAttrs(fm[1]);
		const inner = fm[2];
		const form = {
			action: attrs.action ?? '',
			method: (attrs.method ?? 'get').toLowerCase(),
			attrs,
			fields: {},
			buttons: [],
		};
		const elRe = /<(input|button|textarea|select)\b([^>]*)>(?:([\s\S]*?)<\/\1\s*>)?/gi;
		let em;
		while ((em = elRe.exec(inner)) !== null) {
			const tag = em[1].toLowerCase();
			const a = parseAttrs(em[2]);
			const name = a.name;
			if (tag === 'input') {
				const type = (a.type ?? 'text').toLowerCase();
				if (type === 'submit' || type === 'image') {
					form.buttons.push({ name, value: a.value ?? '', text: a.value ?? '' });
					continue;
				}
				if (type === 'button' || type === 'reset' || type === 'file' || name === undefined)
					continue;
				if ((type === 'checkbox' || type === 'radio') && !('checked' in a))
					continue;
				form.fields[name] = a.value ?? (type === 'checkbox' || type === 'radio' ? 'on' : '');
			} else if (tag === 'button') {
				// <input> is void, so a following </input> can't exist;
				// a <button> without </button> is taken as empty.
				const type = (a.type ?? 'submit').toLowerCase();
				if (type !== 'submit')
					continue;
				form.buttons.push({ name, value: a.value ?? '',
				    text: htmlUnescape((em[3] ?? '').replace(/<[^>]*>/g, '').trim()) });
			} else if (tag === 'textarea') {
				if (name !== undefined)
					form.fields[name] = htmlUnescape(em[3] ?? '');
			} else if (tag === 'select' && name !== undefined) {
				const opts = [...(em[3] ?? '').matchAll(/<option\b([^>]*)>([^<]*)/gi)];
				const sel = opts.find((o) => 'selected' in parseAttrs(o[1])) ?? opts[0];
				if (sel) {
					const oa = parseAttrs(sel[1]);
					form.fields[name] = oa.value ?? htmlUnescape(sel[2].trim());
				}
			}
		}
		forms.push(form);
	}
	return forms;
}

// ---------------------------------------------------------------------------
// The browser part of the authorization code flow

function findLoginForm(forms) {
	return forms.find((f) => f.method === 'post' && 'password' in f.fields &&
	    'username' in f.fields);
}

function findConsentForm(forms) {
	return forms.find((f) => f.method === 'post' &&
	    f.buttons.some((b) => b.name === 'decision'));
}

function interactionError(msg, res) {
	const err = new Error(`${msg} (HTTP ${res.status} from ${res.url})\n${res.text.slice(0, 2000)}`);
	err.response = res;
	return err;
}

// Opens `authorizeUrl` as a browser would, logs in with username/password
// when asked, answers the consent page with `decision`, and resolves the
// URL that the server finally redirects to outside itself (the client's
// redirect_uri, with code/state/iss or error) as a URL object.  Responses
// seen on the way are in `.steps` of the result.  Throws (with .response)
// when the server answers something else, e.g. an error page.
//   jar       CookieJar holding the browser's session; a new one if omitted
//   username  default 'demo'
//   decision  'allow' or 'deny'
export async function authorizeInteractively({ authorizeUrl, username = 'demo', password,
    decision = 'allow', jar = new CookieJar(), maxSteps = 10 }) {
	const origin = new URL(authorizeUrl).origin;
	const steps = [];
	let res = await request(authorizeUrl, { jar });
	steps.push(res);
	let loggedIn = false;
	for (let i = 0; i < maxSteps; i++) {
		if (res.status >= 300 && res.status < 400) {
			if (res.location === undefined)
				throw interactionError('redirect without Location', res);
			const next = new URL(res.location);
			if (next.origin !== origin) {
				next.steps = steps;
				return next;
			}
			// Redirects within the server (e.g. login -> consent)
			// are followed with GET, as 302/303 are by browsers.
			// A redirect_uri on the server's own origin ends here
			// too when it carries an authorization response.
			if (next.searchParams.has('code') || next.searchParams.has('error')) {
				next.steps = steps;
				return next;
			}
			res = await request(next.href, { jar });
			steps.push(res);
			continue;
		}
		const forms = parseForms(res.text);
		if (res.status !== 200) {
			if (loggedIn && findLoginForm(forms))
				throw interactionError('login was not accepted', res);
			throw interactionError('unexpected answer during authorization', res);
		}
		const consent = findConsentForm(forms);
		const login = findLoginForm(forms);
		if (login) {
			if (loggedIn)
				throw interactionError('login was not accepted', res);
			if (password === undefined)
				throw interactionError('login form shown but no password given', res);
			loggedIn = true;
			res = await request(new URL(login.action || res.url, res.url).href, {
				method: 'POST',
				form: { ...login.fields, username, password },
				jar,
			});
			steps.push(res);
			continue;
		}
		if (consent) {
			const button = consent.buttons.find((b) => b.name === 'decision' && b.value === decision);
			if (!button)
				throw interactionError(`consent form has no "${decision}" button`, res);
			res = await request(new URL(consent.action || res.url, res.url).href, {
				method: 'POST',
				form: { ...consent.fields, decision: button.value },
				jar,
			});
			steps.push(res);
			continue;
		}
		throw interactionError('page has neither a login nor a consent form', res);
	}
	throw new Error(`authorization did not finish within ${maxSteps} steps`);
}

// ---------------------------------------------------------------------------
// OAuth clients and flows

export const DEFAULT_REDIRECT_URI = 'http://127.0.0.1:9/callback';

// Dynamic client registration.  Without `body`, a public client using
// authorization_code + refresh_token with DEFAULT_REDIRECT_URI.  Resolves
// the request() result; .json is the registered client on success.
export function registerClient(server, body, opts = {}) {
	const endpoint = server.metadata.registration_endpoint;
	if (!endpoint)
		throw new Error('metadata has no registration_endpoint');
	const b = body ?? {
		client_name: `test-${randomToken(4)}`,
		redirect_uris: [DEFAULT_REDIRECT_URI],
		grant_types: ['authorization_code', 'refresh_token'],
		response_types: ['code'],
		token_endpoint_auth_method: 'none',
	};
	return request(endpoint, { method: 'POST', json: b, ...opts });
}

// Adds the client's authentication to a token-endpoint style request.
export function clientAuth(client, form) {
	const method = client.token_endpoint_auth_method ??
	    (client.client_secret ? 'client_secret_basic' : 'none');
	if (method === 'client_secret_basic')
		return { form, basic: [client.client_id, client.client_secret] };
	if (method === 'client_secret_post')
		return { form: { ...form, client_id: client.client_id, client_secret: client.client_secret } };
	return { form: { ...form, client_id: client.client_id } };
}

// Builds an authorization request URL.
export function authorizeUrl(server, params) {
	const u = new URL(server.metadata.authorization_endpoint);
	for (const [k, v] of Object.entries(params))
		if (v !== undefined)
			u.searchParams.set(k, v);
	return u.href;
}

// The whole authorization code flow with PKCE, as a browser and a client.
//   client       a registered client (the registration response); one is
//                registered (public, redirectUri) when neither client nor
//                clientId is given
//   clientId     use this client_id (a public client) instead
//   scope, resource, redirectUri, state, decision, username, password, jar
//   extra        further authorization request parameters
//   tokenExtra   further token request parameters
// Resolves {client, pkce, state, redirect (URL), code, token (request()
// result of the token exchange), jar}.  Throws when the authorization
// response carries no code.
export async function codeFlow(server, { scope, resource, redirectUri = DEFAULT_REDIRECT_URI,
    clientId, client, state = randomToken(12), decision = 'allow', username,
    password, jar = new CookieJar(), extra = {}, tokenExtra = {} } = {}) {
	if (!client && clientId)
		client = { client_id: clientId, token_endpoint_auth_method: 'none' };
	if (!client) {
		const reg = await registerClient(server, {
			client_name: `flow-${randomToken(4)}`,
			redirect_uris: [redirectUri],
			grant_types: ['authorization_code', 'refresh_token'],
			response_types: ['code'],
			token_endpoint_auth_method: 'none',
			...(scope ? { scope } : {}),
		});
		if (reg.status !== 201)
			throw new Error(`client registration failed: ${reg.status} ${reg.text}`);
		client = reg.json;
	}
	const p = pkce();
	const url = authorizeUrl(server, {
		response_type: 'code',
		client_id: client.client_id,
		redirect_uri: redirectUri,
		scope,
		resource,
		state,
		code_challenge: p.challenge,
		code_challenge_method: 'S256',
		...extra,
	});
	const redirect = await authorizeInteractively({
		authorizeUrl: url,
		username: username ?? server.username ?? 'demo',
		password: password ?? server.password,
		decision,
		jar,
	});
	const code = redirect.searchParams.get('code');
	if (!code) {
		const err = new Error(`authorization failed: ${redirect.href}`);
		err.redirect = redirect;
		throw err;
	}
	const token = await request(server.metadata.token_endpoint, {
		method: 'POST',
		...clientAuth(client, {
			grant_type: 'authorization_code',
			code,
			redirect_uri: redirectUri,
			code_verifier: p.verifier,
			resource,
			...tokenExtra,
		}),
	});
	return { client, pkce: p, state, redirect, code, token, jar };
}

// ---------------------------------------------------------------------------
// JWTs

function b64json(part, what) {
	try {
		return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
	} catch {
		throw new Error(`JWT ${what} is not base64url JSON`);
	}
}

// Splits and decodes a compact JWS without checking anything.
export function decodeJwt(token) {
	if (typeof token !== 'string')
		throw new Error('JWT is not a string');
	const parts = token.split('.');
	if (parts.length !== 3)
		throw new Error(`JWT has ${parts.length} parts, not 3`);
	return {
		header: b64json(parts[0], 'header'),
		payload: b64json(parts[1], 'payload'),
		signature: Buffer.from(parts[2], 'base64url'),
		signingInput: `${parts[0]}.${parts[1]}`,
	};
}

const JWS_ALGS = {
	ES256: { hash: 'sha256', kty: 'EC', crv: 'P-256', dsaEncoding: 'ieee-p1363' },
	ES384: { hash: 'sha384', kty: 'EC', crv: 'P-384', dsaEncoding: 'ieee-p1363' },
	ES512: { hash: 'sha512', kty: 'EC', crv: 'P-521', dsaEncoding: 'ieee-p1363' },
	EdDSA: { hash: null, kty: 'OKP' },
	Ed25519: { hash: null, kty: 'OKP', crv: 'Ed25519' },
	RS256: { hash: 'sha256', kty: 'RSA' },
	RS384: { hash: 'sha384', kty: 'RSA' },
	RS512: { hash: 'sha512', kty: 'RSA' },
	PS256: { hash: 'sha256', kty: 'RSA', pss: true },
	PS384: { hash: 'sha384', kty: 'RSA', pss: true },
	PS512: { hash: 'sha512', kty: 'RSA', pss: true },
};

// Checks a JWS signature with a key from a JWK set (an object, or a URL to
// fetch it from).  Only the signature: claims are the caller's to assert.
// Resolves {header, payload, jwk}; throws when it does not verify.
export async function verifyJwt(token, jwks) {
	const { header, payload, signature, signingInput } = decodeJwt(token);
	const alg = JWS_ALGS[header.alg];
	if (!alg)
		throw new Error(`JWT alg ${JSON.stringify(header.alg)} is not supported`);
	let set = jwks;
	if (typeof jwks === 'string' || jwks instanceof URL) {
		const res = await request(String(jwks));
		if (res.status !== 200 || !res.json)
			throw new Error(`JWKS ${jwks}: HTTP ${res.status}`);
		set = res.json;
	}
	if (!Array.isArray(set?.keys))
		throw new Error('JWK set has no keys array');
	const candidates = set.keys.filter((k) => k.kty === alg.kty &&
	    (alg.crv === undefined || k.crv === alg.crv) &&
	    (k.use === undefined || k.use === 'sig') &&
	    (k.alg === undefined || k.alg === header.alg));
	const keys = header.kid !== undefined ? candidates.filter((k) => k.kid === header.kid) : candidates;
	if (keys.length === 0)
		throw new Error(`no JWK for alg ${header.alg} kid ${JSON.stringify(header.kid)}`);
	for (const jwk of keys) {
		const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
		const opts = { key };
		if (alg.dsaEncoding)
			opts.dsaEncoding = alg.dsaEncoding;
		if (alg.pss) {
			opts.padding = crypto.constants.RSA_PKCS1_PSS_PADDING;
			opts.saltLength = crypto.constants.RSA_PSS_SALTLEN_DIGEST;
		}
		if (crypto.verify(alg.hash, Buffer.from(signingInput), opts, signature))
			return { header, payload, jwk };
	}
	throw new Error(`JWT signature does not verify (alg ${header.alg}, kid ${JSON.stringify(header.kid)})`);
}
