// Long-lived gateway streams end with the token that opened them: a
// 2026-07-28 subscriptions/listen stream and a legacy session's GET stream
// are closed within about a second of their token's revocation (through
// /revoke) or at its expiry; a listen stream ends with a -32003 error whose
// data.error is "invalid_token", its subscriptions are released (the
// upstream, lib/subs_mcp.mjs, logs the unsubscribe), and an audit line says
// why.  A legacy session goes on: a request with a new token works and a GET
// with it opens a new stream.  Other principals' streams stay open and keep
// getting updates.
//
// In introspection mode (a second mcpgate is the authorization server, the
// gateway asks it by RFC 7662) the gateway keeps each stream's token and asks
// about it again every cache_ttl (1 s here): a revocation at that server ends
// the streams the token opened within about cache_ttl plus a second; while
// the server is unreachable no stream ends (only a definite "active": false
// or expiry ends one).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { ACCEPT, MODERN, call, ccToken, echoMcp, mcpUrl, openSession, startGateway } from './lib/gateway.mjs';
import { SOURCE_DIR, decodeJwt, sleep, startServer } from './lib/mcpgate.mjs';
import { revoke, serviceClient } from './lib/tokens.mjs';

const SUBS_MCP = path.join(SOURCE_DIR, 'tests', 'integration', 'lib', 'subs_mcp.mjs');
const A = 'mcpgate://subs/test://r/a';
const B = 'mcpgate://subs/test://r/b';
const META_SUB = 'io.modelcontextprotocol/subscriptionId';
const REAUTH = -32003;

function tmpLog(t, name) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-streamtok-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	return path.join(dir, name);
}

// The upstream's log lines with ${op} (and ${uri}).
function ops(file, op, uri) {
	if (!fs.existsSync(file))
		return [];
	return fs.readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => l.split(' '))
	    .filter(([, o, u]) => o === op && (uri === undefined || u === uri));
}

async function until(what, fn, ms = 5000) {
	const end = Date.now() + ms;
	for (;;) {
		const v = fn();
		if (v)
			return v;
		if (Date.now() > end)
			throw new Error(`timed out waiting for ${what}`);
		await sleep(20);
	}
}

// Reads an SSE body in the background: .events are its JSON-RPC messages,
// .endedAt the time the server closed it.
function sse(res) {
	const reader = res.body.getReader();
	const dec = new TextDecoder();
	const s = { events: [], ended: false, endedAt: 0 };
	let buf = '';
	s.done = (async () => {
		try {
			for (;;) {
				const { value, done } = await reader.read();
				if (done)
					break;
				buf += dec.decode(value, { stream: true }).replace(/\r\n/g, '\n');
				let i;
				while ((i = buf.indexOf('\n\n')) >= 0) {
					const data = buf.slice(0, i).split('\n').filter((l) => l.startsWith('data:'))
					    .map((l) => l.slice(5).trimStart()).join('\n');
					buf = buf.slice(i + 2);
					if (data)
						s.events.push(JSON.parse(data));
				}
			}
		} catch {
			// cancelled
		}
		s.ended = true;
		s.endedAt = Date.now();
	})();
	s.updates = (uri) => s.events.filter((e) => e.method === 'notifications/resources/updated' &&
	    e.params.uri === uri);
	s.close = async () => {
		await reader.cancel().catch(() => {});
		await s.done;
	};
	return s;
}

function getStreamRaw(server, token, s) {
	return fetch(mcpUrl(server), {
		method: 'GET',
		headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', 'mcp-session-id': s.session,
		    'mcp-protocol-version': s.version },
	});
}

async function getStream(t, server, token, s) {
	const res = await getStreamRaw(server, token, s);
	assert.equal(res.status, 200);
	const st = sse(res);
	t.after(() => st.close());
	return st;
}

async function listen(t, server, token, id, notifications) {
	const res = await fetch(mcpUrl(server), {
		method: 'POST',
		headers: { authorization: `Bearer ${token}`, accept: ACCEPT, 'content-type': 'application/json',
		    'mcp-protocol-version': MODERN, 'mcp-method': 'subscriptions/listen' },
		body: JSON.stringify({ jsonrpc: '2.0', id, method: 'subscriptions/listen', params: {
			_meta: { 'io.modelcontextprotocol/protocolVersion': MODERN,
			    'io.modelcontextprotocol/clientCapabilities': {} },
			notifications } }),
	});
	assert.equal(res.status, 200);
	const st = sse(res);
	t.after(() => st.close());
	await until('the acknowledgement', () => st.events.length > 0);
	return st;
}

// The upstream reports an update of its ${uri} (test://r/a is A).
function touch(server, token, s, id, uri) {
	return call(server, token, s, id, 'tools/call', { name: 'subs__touch', arguments: { uri } },
	    { headers: { accept: 'application/json' } });
}

// Asserts that ${st} ended with the listen request's error for ${reason}.
function assertReauth(st, id, reason) {
	const fin = st.events.at(-1);
	assert.equal(fin.id, id, JSON.stringify(fin));
	assert.equal(fin.error.code, REAUTH);
	assert.equal(fin.error.data.error, 'invalid_token');
	assert.equal(fin.error.data.reason, reason);
	assert.equal(fin.result, undefined);
}

async function auditLines(server) {
	const all = await server.admin(['audit']);
	assert.equal(all.code, 0, all.stderr);
	return all.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

test('revocation ends the streams its token opened', async (t) => {
	const log = tmpLog(t, 'subs.log');
	const server = await startGateway(t, { echo: false, servers: {
		subs: { command: process.execPath, args: [SUBS_MCP], env: { SUBS_LOG: log } } } });
	const alice = await serviceClient(server, 'mcp:read mcp:write');
	const bob = await serviceClient(server, 'mcp:read mcp:write');
	const { token: ta } = await ccToken(server, 'mcp:read mcp:write', { client: alice });
	const { token: tb } = await ccToken(server, 'mcp:read mcp:write', { client: bob });

	// Alice: a listen stream alone on B, a session holding A with a GET
	// stream.  Bob: a listen stream on A, a session with a GET stream.
	const la = await listen(t, server, ta, 'la', { resourceSubscriptions: [B] });
	const lb = await listen(t, server, tb, 'lb', { resourceSubscriptions: [A] });
	const sa = await openSession(server, ta);
	const sb = await openSession(server, tb);
	const ga = await getStream(t, server, ta, sa);
	const gb = await getStream(t, server, tb, sb);
	const r = await call(server, ta, sa, 1, 'resources/subscribe', { uri: A });
	assert.deepEqual(r.json.result, {});
	await until('both subscribed upstream', () => ops(log, 'subscribe', 'test://r/a').length === 1 &&
	    ops(log, 'subscribe', 'test://r/b').length === 1);
	assert.equal((await touch(server, ta, sa, 2, 'test://r/a')).status, 200);
	await until('the update on both', () => ga.updates(A).length === 1 && lb.updates(A).length === 1);

	await t.test('closed within about a second of /revoke', async () => {
		assert.equal((await revoke(server, alice, ta)).status, 200);
		const t0 = Date.now();
		await until('alice\'s streams ended', () => la.ended && ga.ended, 3000);
		const took = Math.max(la.endedAt, ga.endedAt) - t0;
		t.diagnostic(`listen stream ended after ${la.endedAt - t0} ms, GET stream after ${ga.endedAt - t0} ms`);
		assert.ok(took <= 1500, `streams ended ${took} ms after the revocation`);
		assertReauth(la, 'la', 'revoked');
		assert.equal(la.events[0].method, 'notifications/subscriptions/acknowledged');
		assert.equal(la.events[0].params._meta[META_SUB], 'la');
	});

	await t.test('the listen stream\'s subscription is released upstream', async () => {
		await until('b unsubscribed upstream', () => ops(log, 'unsubscribe', 'test://r/b').length === 1);
		// A is still held by alice's session and bob's stream.
		assert.equal(ops(log, 'unsubscribe', 'test://r/a').length, 0);
	});

	await t.test('other principals\' streams stay open and get updates', async () => {
		await sleep(1200);
		assert.equal(lb.ended, false);
		assert.equal(gb.ended, false);
		const { token: tb2 } = await ccToken(server, 'mcp:read mcp:write', { client: bob });
		assert.equal((await touch(server, tb2, sb, 3, 'test://r/a')).status, 200);
		await until('the update on bob\'s listen stream', () => lb.updates(A).length === 2);
	});

	await t.test('the session goes on with a new token, and a new GET opens a stream', async () => {
		// The revoked token is refused (no new stream with it).
		assert.equal((await getStreamRaw(server, ta, sa)).status, 401);
		const { token: ta2 } = await ccToken(server, 'mcp:read mcp:write', { client: alice });
		assert.equal((await call(server, ta2, sa, 4, 'ping')).status, 200);
		const ga2 = await getStream(t, server, ta2, sa);
		assert.equal((await touch(server, ta2, sa, 5, 'test://r/a')).status, 200);
		await until('the update on the new stream', () => ga2.updates(A).length === 1);
		assert.equal(ga2.ended, false);
	});

	await t.test('audit lines for the ended streams', async () => {
		const lines = await auditLines(server);
		const ended = lines.filter((x) => x.reason === 'stream ended: token revoked');
		assert.ok(ended.some((x) => x.method === 'subscriptions/listen' && x.decision === 'deny' &&
		    x.subject === alice.client_id), JSON.stringify(ended));
		assert.ok(ended.some((x) => x.session === sa.session && x.subject === alice.client_id),
		    JSON.stringify(ended));
		assert.ok(!ended.some((x) => x.subject === bob.client_id));
	});
});

test('expiry ends the streams its token opened', async (t) => {
	const log = tmpLog(t, 'subs.log');
	const server = await startGateway(t, { echo: false,
		config: { tokens: { access_ttl: 10 }, auth: { clock_skew: 0 } },
		servers: { subs: { command: process.execPath, args: [SUBS_MCP], env: { SUBS_LOG: log } } } });
	const alice = await serviceClient(server, 'mcp:read mcp:write');
	const bob = await serviceClient(server, 'mcp:read mcp:write');
	const { token: ta } = await ccToken(server, 'mcp:read mcp:write', { client: alice });
	const exp = decodeJwt(ta).payload.exp;
	const la = await listen(t, server, ta, 7, { resourceSubscriptions: [B] });
	const sa = await openSession(server, ta);
	const ga = await getStream(t, server, ta, sa);
	await until('b subscribed upstream', () => ops(log, 'subscribe', 'test://r/b').length === 1);
	// Bob's token is newer: it outlives alice's by a few seconds.
	await sleep(3000);
	const { token: tb } = await ccToken(server, 'mcp:read mcp:write', { client: bob });
	const lb = await listen(t, server, tb, 8, { toolsListChanged: true });
	const sb = await openSession(server, tb);
	const gb = await getStream(t, server, tb, sb);

	await until('alice\'s streams ended', () => la.ended && ga.ended, 15000);
	const late = Math.max(la.endedAt, ga.endedAt) - exp * 1000;
	t.diagnostic(`streams ended ${late} ms after exp`);
	assert.ok(la.endedAt >= exp * 1000 - 1000, 'ended before the token expired');
	assert.ok(late <= 1500, `ended ${late} ms after exp`);
	assertReauth(la, 7, 'expired');
	await until('b unsubscribed upstream', () => ops(log, 'unsubscribe', 'test://r/b').length === 1);
	assert.equal(lb.ended, false);
	assert.equal(gb.ended, false);
	const lines = await auditLines(server);
	assert.ok(lines.some((x) => x.reason === 'stream ended: token expired' && x.method === 'subscriptions/listen'));
});

// An authorization server (a second mcpgate without its gateway) and a
// gateway trusting it through introspection, reusing answers for 1 s.
async function introspectionPair(t) {
	const as = await startServer({ t, config: { gateway: { enabled: false } } });
	const rsClient = await serviceClient(as, 'mcp:read');
	const resource = `${as.issuer}/mcp`;
	const gw = await startServer({
		t,
		readyPath: '/.well-known/oauth-protected-resource',
		config: {
			authorization_server: { enabled: false },
			demo_user: null,
			gateway: { resource },
			auth: {
				mode: 'introspection', issuer: as.issuer, allow_http: true, cache_ttl: 1,
				introspection_endpoint: `${as.issuer}/introspect`,
				client_id: rsClient.client_id, client_secret: rsClient.client_secret,
			},
			mcpServers: { echo: { command: echoMcp() } },
		},
	});
	const token = async (client) => (await ccToken(as, 'mcp:read mcp:write', { client, resource })).token;
	return { as, gw, token };
}

test('introspection mode: revocation at the authorization server ends the streams its token opened',
    async (t) => {
	const { as, gw, token } = await introspectionPair(t);
	const alice = await serviceClient(as, 'mcp:read mcp:write');
	const bob = await serviceClient(as, 'mcp:read mcp:write');
	const ta = await token(alice);
	const tb = await token(bob);

	// Alice: two listen streams (one token, one re-check) and a session's
	// GET stream.  Bob: one of each.
	const la = await listen(t, gw, ta, 'la', { toolsListChanged: true });
	const la2 = await listen(t, gw, ta, 'la2', { toolsListChanged: true });
	const sa = await openSession(gw, ta);
	const ga = await getStream(t, gw, ta, sa);
	const lb = await listen(t, gw, tb, 'lb', { toolsListChanged: true });
	const sb = await openSession(gw, tb);
	const gb = await getStream(t, gw, tb, sb);

	await t.test('streams stay open while the token is active', async () => {
		// Three re-check periods: each re-check hears "active".
		await sleep(3200);
		for (const st of [la, la2, ga, lb, gb])
			assert.equal(st.ended, false);
	});

	await t.test('closed within cache_ttl and a second of /revoke at the authorization server', async () => {
		assert.equal((await revoke(as, alice, ta)).status, 200);
		const t0 = Date.now();
		await until('alice\'s streams ended', () => la.ended && la2.ended && ga.ended, 5000);
		const took = Math.max(la.endedAt, la2.endedAt, ga.endedAt) - t0;
		t.diagnostic(`listen streams ended after ${la.endedAt - t0} and ${la2.endedAt - t0} ms, ` +
		    `GET stream after ${ga.endedAt - t0} ms`);
		assert.ok(took <= 2500, `streams ended ${took} ms after the revocation`);
		assertReauth(la, 'la', 'revoked');
		assertReauth(la2, 'la2', 'revoked');
		assert.equal(la.events[0].method, 'notifications/subscriptions/acknowledged');
	});

	await t.test('other principals\' streams stay open; the session goes on with a new token', async () => {
		await sleep(1500);
		assert.equal(lb.ended, false);
		assert.equal(gb.ended, false);
		assert.equal((await getStreamRaw(gw, ta, sa)).status, 401);
		const ta2 = await token(alice);
		assert.equal((await call(gw, ta2, sa, 4, 'ping')).status, 200);
		const ga2 = await getStream(t, gw, ta2, sa);
		await sleep(1500);
		assert.equal(ga2.ended, false);
	});

	await t.test('audit lines for the ended streams; the token is in no log', async () => {
		const lines = await auditLines(gw);
		const ended = lines.filter((x) => x.reason === 'stream ended: token revoked');
		assert.ok(ended.filter((x) => x.method === 'subscriptions/listen' && x.decision === 'deny' &&
		    x.subject === alice.client_id && x.code === REAUTH).length === 2, JSON.stringify(ended));
		assert.ok(ended.some((x) => x.session === sa.session && x.subject === alice.client_id),
		    JSON.stringify(ended));
		assert.ok(!ended.some((x) => x.subject === bob.client_id));
		const all = JSON.stringify(lines) + gw.logs();
		assert.ok(!all.includes(ta) && !all.includes(tb), 'a token in the audit trail or the log');
	});
});

test('introspection mode: an unreachable authorization server ends no stream', async (t) => {
	const { as, gw, token } = await introspectionPair(t);
	const alice = await serviceClient(as, 'mcp:read mcp:write');
	const ta = await token(alice);
	const la = await listen(t, gw, ta, 'la', { toolsListChanged: true });
	const sa = await openSession(gw, ta);
	const ga = await getStream(t, gw, ta, sa);

	await as.stop();
	await sleep(3500);
	assert.equal(la.ended, false);
	assert.equal(ga.ended, false);
	assert.match(gw.logs(), /a stream's token could not be introspected again: its streams stay open/);

	// Back, the next re-check (at most RS_WATCH_RETRY_S, 5 s, after the
	// last failure) hears of the revocation.
	await as.restart();
	assert.equal((await revoke(as, alice, ta)).status, 200);
	const t0 = Date.now();
	await until('the streams ended', () => la.ended && ga.ended, 8000);
	t.diagnostic(`streams ended ${Math.max(la.endedAt, ga.endedAt) - t0} ms after the revocation`);
	assertReauth(la, 'la', 'revoked');
	assert.ok(!gw.logs().includes(ta), 'the token in the log');
});
