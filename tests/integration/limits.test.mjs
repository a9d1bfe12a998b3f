// Per-address limits: concurrent connections (listen.per_ip_connections),
// request rates at /register and /authorize (rate_limits), and what the
// registration endpoint and the pages make of names that would reorder or
// hide text.  Clients take addresses from 127/8 (all loopback on Linux):
// the server on 127.0.0.1 sees 127.0.0.2 and 127.0.0.3 as other clients than
// 127.0.0.1, from which the harness (and its pooled keep-alive connections)
// speaks.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';

import {
	CookieJar, DEFAULT_REDIRECT_URI, authorizeUrl, parseForms, pkce, registerClient, request, requestFrom,
	sleep, startServer, withTimeout,
} from './lib/mcpgate.mjs';
import { adminClient } from './lib/tokens.mjs';

const SECOND = '127.0.0.2';
const THIRD = '127.0.0.3';

// A raw keep-alive connection from `localAddress` that has had one request
// answered, so the server has certainly accepted (and counts) it.
async function heldConnection(server, localAddress) {
	const sock = net.connect({ host: '127.0.0.1', port: server.port, localAddress });
	const got = await exchange(sock);
	assert.match(got, /^HTTP\/1\.1 200 /, `a held connection was not served: ${got.slice(0, 200)}`);
	return sock;
}

// Sends a GET of the metadata on `sock` and resolves what came back before
// the first response ended, the connection closed, or 5 s passed: '' when
// the server closed the connection without an answer.
function exchange(sock) {
	return withTimeout(new Promise((resolve) => {
		let buf = '';
		const done = () => {
			sock.off('data', onData);
			resolve(buf);
		};
		const onData = (d) => {
			buf += d.toString('latin1');
			const end = buf.indexOf('\r\n\r\n');
			const m = /\r\ncontent-length: *(\d+)/i.exec(buf);
			if (end >= 0 && m && buf.length >= end + 4 + Number(m[1]))
				done();
		};
		sock.on('data', onData);
		sock.once('close', done);
		sock.once('error', done);
		sock.write('GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
	}), 5000, 'an answer or a close');
}

test('the connection past listen.per_ip_connections is closed; another address is served', { timeout: 60000 },
    async (t) => {
	const LIMIT = 4;
	const server = await startServer({ t, config: { listen: { per_ip_connections: LIMIT } } });
	const held = [];
	t.after(() => held.forEach((s) => s.destroy()));
	for (let i = 0; i < LIMIT; i++)
		held.push(await heldConnection(server, THIRD));

	// The fifth from that address is closed unanswered.
	const extra = net.connect({ host: '127.0.0.1', port: server.port, localAddress: THIRD });
	extra.on('error', () => {});
	assert.equal(await exchange(extra), '', 'the connection past the limit was served');
	extra.destroy();

	// 127.0.0.2 is another client: served while the first holds its
	// connections.
	const other = await requestFrom(`${server.url}/.well-known/oauth-authorization-server`,
	    { localAddress: SECOND });
	assert.equal(other.status, 200);
	const otherHeld = await heldConnection(server, SECOND);
	held.push(otherHeld);

	// The limit is on connections held at once: when one closes, the
	// address may open another.
	held.shift().destroy();
	let again = '';
	for (let i = 0; i < 50 && again === ''; i++) {
		await sleep(50);
		const s = net.connect({ host: '127.0.0.1', port: server.port, localAddress: THIRD });
		s.on('error', () => {});
		again = await exchange(s);
		if (again === '')
			s.destroy();
		else
			held.push(s);
	}
	assert.match(again, /^HTTP\/1\.1 200 /);
	assert.match(server.logs(), /connection from 127\.0\.0\.3 refused: it holds 4, the per-address limit/);
});

test('the default per-address connection limit lets one address hold 200 connections', { timeout: 60000 },
    async (t) => {
	// The tests and the benchmarks' clients hold many connections from
	// loopback; the default (256) must leave them room.
	const server = await startServer({ t });
	const held = [];
	t.after(() => held.forEach((s) => s.destroy()));
	for (let i = 0; i < 200; i++)
		held.push(net.connect({ host: '127.0.0.1', port: server.port, localAddress: THIRD }));
	const answers = await Promise.all(held.map((s) => exchange(s)));
	assert.equal(answers.filter((a) => /^HTTP\/1\.1 200 /.test(a)).length, 200);
});

function registration(name = 'rate-client', extra = {}) {
	return {
		client_name: name,
		redirect_uris: [DEFAULT_REDIRECT_URI],
		token_endpoint_auth_method: 'none',
		...extra,
	};
}

test('/register: past rate_limits.register from one address, 429 with Retry-After and a JSON error',
    { timeout: 60000 }, async (t) => {
	const server = await startServer({ t, config: { rate_limits: { register: { max: 3, window: 600 } } } });
	for (let i = 0; i < 3; i++) {
		const ok = await registerClient(server, registration(`rate-${i}`));
		assert.equal(ok.status, 201, ok.text);
	}
	const res = await registerClient(server, registration('rate-3'));
	assert.equal(res.status, 429, res.text);
	assert.match(res.headers['content-type'] ?? '', /^application\/json/);
	assert.match(res.headers['cache-control'] ?? '', /no-store/);
	assert.equal(res.json?.error, 'temporarily_unavailable');
	assert.equal(res.json?.client_id, undefined);
	const ra = Number(res.headers['retry-after']);
	assert.ok(Number.isInteger(ra) && ra >= 590 && ra <= 600, `Retry-After ${res.headers['retry-after']}`);

	// A malformed registration is refused with 429 too: attempts count,
	// not successes.
	const bad = await registerClient(server, { redirect_uris: 'x' });
	assert.equal(bad.status, 429);

	// Another address registers.
	const other = await requestFrom(server.metadata.registration_endpoint,
	    { localAddress: SECOND, method: 'POST', json: registration('rate-other') });
	assert.equal(other.status, 201, other.text);

	// The token endpoint and the metadata are not limited by it.
	assert.equal((await request(`${server.url}/.well-known/oauth-authorization-server`)).status, 200);
});

function authorizeReq(server, clientId) {
	return authorizeUrl(server, {
		response_type: 'code', client_id: clientId, redirect_uri: DEFAULT_REDIRECT_URI,
		state: 's', code_challenge: pkce().challenge, code_challenge_method: 'S256',
	});
}

test('/authorize and the sign-in post: past rate_limits.authorize, 429 with Retry-After and an HTML page',
    { timeout: 60000 }, async (t) => {
	const server = await startServer({ t, config: { rate_limits: { authorize: { max: 3, window: 120 } } } });
	const reg = await registerClient(server, registration('authz-rate'));
	assert.equal(reg.status, 201, reg.text);
	const id = reg.json.client_id;
	const jar = new CookieJar();
	let login;
	for (let i = 0; i < 3; i++) {
		const page = await request(authorizeReq(server, id), { jar });
		assert.equal(page.status, 200, page.text.slice(0, 300));
		login = parseForms(page.text).find((f) => 'password' in f.fields);
		assert.ok(login);
	}
	const res = await request(authorizeReq(server, id), { jar });
	assert.equal(res.status, 429);
	assert.match(res.headers['content-type'] ?? '', /^text\/html/);
	assert.match(res.headers['cache-control'] ?? '', /no-store/);
	assert.match(res.text, /Too many requests/);
	assert.equal(parseForms(res.text).length, 0);
	const ra = Number(res.headers['retry-after']);
	assert.ok(Number.isInteger(ra) && ra >= 110 && ra <= 120, `Retry-After ${res.headers['retry-after']}`);

	// The sign-in post counts against the same limit.
	const post = await request(new URL(login.action, server.url).href, {
		method: 'POST', form: { ...login.fields, username: 'demo', password: server.password }, jar,
	});
	assert.equal(post.status, 429);
	assert.equal(post.headers['set-cookie'], undefined);

	// 127.0.0.2 still gets the sign-in page.
	const other = await requestFrom(authorizeReq(server, id), { localAddress: SECOND });
	assert.equal(other.status, 200, other.text.slice(0, 300));
	assert.ok(parseForms(other.text).find((f) => 'password' in f.fields));
});

test('rate limits set to 0 are off', { timeout: 60000 }, async (t) => {
	const server = await startServer({ t, config: { rate_limits: { register: { max: 0 } } } });
	for (let i = 0; i < 40; i++) {
		const res = await registerClient(server, registration(`off-${i}`));
		assert.equal(res.status, 201, res.text);
	}
});

test('registration refuses names that reorder or hide text (invalid_client_metadata)', { timeout: 60000 },
    async (t) => {
	const server = await startServer({ t });
	for (const [what, body] of [
		['RLO', registration('Safe App\u202Egnp.exe')],
		['LRE', registration('a\u202Ab')],
		['RLE', registration('a\u202Bb')],
		['PDF', registration('a\u202Cb')],
		['LRO', registration('a\u202Db')],
		['LRI', registration('\u2066a')],
		['RLI', registration('\u2067a')],
		['FSI', registration('\u2068a')],
		['PDI', registration('a\u2069')],
		['LRM', registration('a\u200E')],
		['RLM', registration('a\u200F')],
		['ALM', registration('a\u061C')],
		['zero-width space', registration('Goo\u200Bgle')],
		['zero-width joiner', registration('a\u200Db')],
		['BOM', registration('\uFEFFa')],
		['soft hyphen', registration('a\u00ADb')],
		['tag characters', registration('a\u{E0041}')],
		['NUL', registration('a\u0000b')],
		['newline', registration('a\nb')],
		['escape', registration('a\u001b[31mb')],
		['DEL', registration('a\u007f')],
		['NEL (C1)', registration('a\u0085b')],
		['CSI (C1)', registration('a\u009bb')],
		['line separator', registration('a\u2028b')],
		['private use', registration('\uE000')],
		['noncharacter', registration('\uFFFE')],
		['client_uri with an override', registration('ok', { client_uri: 'https://example.com/\u202E' })],
		['tos_uri with a control', registration('ok', { tos_uri: 'https://example.com/\u0007' })],
		['language-tagged name', registration('ok', { 'client_name#he': '\u202Bx' })],
		['contacts with an isolate', registration('ok', { contacts: ['a@example.com\u2066'] })],
	]) {
		const res = await registerClient(server, body);
		assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
		assert.equal(res.json?.error, 'invalid_client_metadata', what);
	}
	// Letters of any script, emoji with variation selectors, and
	// right-to-left letters themselves are fine.
	for (const name of ['Caf\u00e9 \u65e5\u672c', '\u05e9\u05dc\u05d5\u05dd', 'Rocket \u{1F680} \u2764\uFE0F']) {
		const res = await registerClient(server, registration(name));
		assert.equal(res.status, 201, `${name}: ${res.text}`);
		assert.equal(res.json.client_name, name);
	}
});

test('the sign-in and consent pages never show such characters, even from a stored name; consent names the resource', { timeout: 60000 },
    async (t) => {
	const server = await startServer({ t });
	// An operator-made client (not checked at registration) with a
	// right-to-left override and an isolate in its name.
	const c = await adminClient(server, ['--name', 'Evil\u202Egnp.exe\u2066x', '--public',
	    '--redirect-uri', DEFAULT_REDIRECT_URI]);
	const jar = new CookieJar();
	const page = await request(authorizeReq(server, c.client_id), { jar });
	assert.equal(page.status, 200, page.text.slice(0, 300));
	assert.ok(!/[\u202A-\u202E\u2066-\u2069]/.test(page.text), 'the sign-in page shows a bidi control');
	assert.match(page.text, /Evil\uFFFDgnp\.exe\uFFFDx/);
	const login = parseForms(page.text).find((f) => 'password' in f.fields);
	let res = await request(new URL(login.action, server.url).href, {
		method: 'POST', form: { ...login.fields, username: 'demo', password: server.password }, jar,
	});
	assert.equal(res.status, 303, res.text);
	res = await request(res.location, { jar });
	assert.equal(res.status, 200, res.text.slice(0, 300));
	assert.ok(parseForms(res.text).some((f) => f.buttons?.some((b) => b.value === 'allow')), 'no consent form');
	assert.ok(!/[\u202A-\u202E\u2066-\u2069]/.test(res.text), 'the consent page shows a bidi control');
	assert.match(res.text, /Evil\uFFFDgnp\.exe\uFFFDx/);
	// The consent page also names the MCP server (resource) asked for.
	assert.ok(res.text.includes(`On the MCP server <code>${server.url}/mcp</code>`), res.text);
});
