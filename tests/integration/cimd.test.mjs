// Client ID Metadata Documents: a client_id that is a URL names a JSON
// document the server fetches.  The documents are served here by a local
// node http server; the test servers allow http and loopback addresses for
// that (cimd.allow_http, cimd.allow_private), except where a test checks
// the refusal.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
	CookieJar, DEFAULT_REDIRECT_URI, authorizeUrl, codeFlow, decodeJwt, htmlUnescape, parseForms, pkce,
	request, startHttpServer, startServer,
} from './lib/mcpgate.mjs';

const CIMD_MAX = 5 * 1024;

// A document server: `docs` maps a path to a function (url) -> {status,
// headers, body}; the body may be an object (sent as JSON) or a string, or
// a list of strings (sent chunked, without Content-Length).
async function docServer(docs, t) {
	const srv = await startHttpServer((req, res) => {
		const make = docs[req.url.split('?')[0]];
		if (!make) {
			res.writeHead(404, { 'content-type': 'text/plain' });
			res.end('not found');
			return;
		}
		const d = make(`${srv.url}${req.url}`);
		const headers = { 'content-type': 'application/json', ...d.headers };
		if (Array.isArray(d.body)) {
			res.writeHead(d.status ?? 200, headers);
			for (const chunk of d.body)
				res.write(chunk);
			res.end();
			return;
		}
		const body = typeof d.body === 'string' ? d.body : JSON.stringify(d.body);
		res.writeHead(d.status ?? 200, { ...headers, 'content-length': Buffer.byteLength(body) });
		res.end(body);
	}, { t });
	return srv;
}

function doc(url, extra = {}) {
	return {
		client_id: url,
		client_name: 'Doc Client',
		redirect_uris: [DEFAULT_REDIRECT_URI],
		token_endpoint_auth_method: 'none',
		...extra,
	};
}

// A document padded (with spaces inside the JSON) to exactly `size` bytes.
function padded(url, size) {
	const s = JSON.stringify(doc(url));
	assert.ok(s.length < size);
	return `${s.slice(0, -1)}${' '.repeat(size - s.length)}}`;
}

function authorize(server, clientId, over = {}, jar = undefined) {
	const p = {
		response_type: 'code', client_id: clientId, redirect_uri: DEFAULT_REDIRECT_URI,
		state: 'cimd-state', code_challenge: pkce().challenge, code_challenge_method: 'S256',
		...over,
	};
	return request(authorizeUrl(server, p), { jar });
}

function assertErrorPage(res, re) {
	assert.equal(res.status, 400, `expected an error page, got ${res.status} ${res.location ?? ''}`);
	assert.equal(res.location, undefined);
	assert.match(res.headers['content-type'] ?? '', /^text\/html/);
	assert.equal(parseForms(res.text).length, 0);
	if (re)
		assert.match(res.text, re);
}

function assertLoginPage(res) {
	assert.equal(res.status, 200, `expected the login page, got ${res.status}\n${res.text.slice(0, 500)}`);
	const f = parseForms(res.text).find((x) => 'password' in x.fields);
	assert.ok(f, 'no login form');
	return f;
}

describe('client ID metadata documents', { timeout: 60000 }, () => {
	let server;
	let docs;

	before(async () => {
		server = await startServer({});
		docs = await docServer({
			'/good.json': (url) => ({ body: doc(url, { client_name: 'Doc <Client> & "Co"' }) }),
			'/flow.json': (url) => ({ body: doc(url, { client_name: 'Flow Client', scope: 'mcp:read' }) }),
			'/mismatch.json': (url) => ({ body: doc(`${url}x`) }),
			'/other-id.json': () => ({ body: doc('https://client.example.com/client.json') }),
			'/exact.json': (url) => ({ body: padded(url, CIMD_MAX) }),
			'/big.json': (url) => ({ body: padded(url, CIMD_MAX + 1) }),
			'/big-chunked.json': (url) => {
				const s = padded(url, 3 * CIMD_MAX);
				return { body: [s.slice(0, 4000), s.slice(4000, 8000), s.slice(8000)] };
			},
			'/redirect.json': () => ({ status: 302, headers: { location: '/good.json' }, body: '' }),
			'/redirect-self.json': (url) => ({ status: 301, headers: { location: url }, body: doc(url) }),
			'/secret.json': (url) => ({ body: doc(url, { client_secret: 'shh' }) }),
			'/basic.json': (url) => ({ body: doc(url, { token_endpoint_auth_method: 'client_secret_basic' }) }),
			'/no-redirects.json': (url) => ({ body: doc(url, { redirect_uris: [] }) }),
			'/bad-redirect.json': (url) => ({ body: doc(url, { redirect_uris: ['http://client.example.com/cb'] }) }),
			'/no-name.json': (url) => ({ body: doc(url, { client_name: undefined }) }),
			// Names that would reorder or hide text on the consent page.
			'/bidi-name.json': (url) => ({ body: doc(url, { client_name: 'Safe App\u202Egnp.exe' }) }),
			'/isolate-name.json': (url) => ({ body: doc(url, { client_name: '\u2067Doc Client' }) }),
			'/rlm-name.json': (url) => ({ body: doc(url, { client_name: 'Doc\u200FClient' }) }),
			'/zwsp-name.json': (url) => ({ body: doc(url, { client_name: 'Doc\u200BClient' }) }),
			'/control-name.json': (url) => ({ body: doc(url, { client_name: 'Doc\u0085Client\n' }) }),
			'/bidi-uri.json': (url) => ({ body: doc(url, { client_uri: 'https://example.com/\u202Dx' }) }),
			'/bidi-lang.json': (url) => ({ body: doc(url, { 'client_name#ar': '\u202Bx' }) }),
			'/not-json.json': () => ({ body: 'client_id=nope' }),
			'/array.json': (url) => ({ body: [JSON.stringify([doc(url)])] }),
			'/error.json': (url) => ({ status: 500, body: doc(url) }),
			// Documents that vouch for client_ids the server must not
			// accept as document URLs at all.
			'/userinfo.json': (url) => ({ body: doc(url.replace('http://', 'http://good.example@')) }),
			'/fragment.json': (url) => ({ body: doc(`${url}#frag`) }),
			'/dots.json': (url) => ({ body: doc(url.replace('/dots.json', '/x/../dots.json')) }),
			'/dot.json': (url) => ({ body: doc(url.replace('/dot.json', '/./dot.json')) }),
		});
	});
	after(async () => {
		await docs?.close();
		await server?.cleanup();
	});

	test('the metadata says client ID metadata documents are supported', () => {
		assert.equal(server.metadata.client_id_metadata_document_supported, true);
	});

	test('a valid document: the consent page shows its name and publisher, and the code flow works', async () => {
		const url = `${docs.url}/good.json`;
		const jar = new CookieJar();
		const page = await authorize(server, url, {}, jar);
		const login = assertLoginPage(page);
		assert.match(page.text, /to continue to <strong>Doc &lt;Client&gt; &amp; &quot;Co&quot;<\/strong>/);
		const r = await request(`${server.url}/login`, {
			method: 'POST', form: { ...login.fields, username: server.username, password: server.password }, jar,
		});
		assert.equal(r.status, 303);
		const consent = await request(r.location, { jar });
		assert.equal(consent.status, 200);
		const m = /<h1>Allow <strong>([\s\S]*?)<\/strong>/.exec(consent.text);
		assert.ok(m, consent.text);
		assert.equal(htmlUnescape(m[1]), 'Doc <Client> & "Co"');
		assert.match(consent.text, new RegExp(`published by <code>127\\.0\\.0\\.1:${docs.port}</code>`));

		const flowUrl = `${docs.url}/flow.json`;
		const flow = await codeFlow(server, { clientId: flowUrl, scope: 'mcp:read mcp:write' });
		assert.equal(flow.token.status, 200, flow.token.text);
		assert.equal(flow.redirect.searchParams.get('iss'), server.issuer);
		// The document's scope bounds what the client gets.
		assert.equal(flow.token.json.scope, 'mcp:read');
		const at = decodeJwt(flow.token.json.access_token).payload;
		assert.equal(at.client_id, flowUrl);
		assert.equal(typeof flow.token.json.refresh_token, 'string');
		// The refresh token works for the document's client too.
		const refresh = await request(server.metadata.token_endpoint, {
			method: 'POST',
			form: { grant_type: 'refresh_token', refresh_token: flow.token.json.refresh_token, client_id: flowUrl },
		});
		assert.equal(refresh.status, 200, refresh.text);
		// A document's client is public and its redirect is loopback:
		// the remembered consent is shown again rather than honoured
		// silently (any local program could present this client_id).
		const again = await authorize(server, flowUrl, { scope: 'mcp:read', state: 'again' }, flow.jar);
		assert.equal(again.status, 200, again.text);
		assert.match(again.text, /action="\/consent"/);
		assert.match(again.text, /You allowed this before/);
		// A secret the client could not have been given is refused.
		const withSecret = await request(server.metadata.token_endpoint, {
			method: 'POST',
			form: { grant_type: 'refresh_token', refresh_token: refresh.json.refresh_token, client_id: flowUrl,
				client_secret: 'guess' },
		});
		assert.equal(withSecret.status, 401);
	});

	test('a document of exactly 5 KiB is accepted', async () => {
		assertLoginPage(await authorize(server, `${docs.url}/exact.json`));
	});

	test('bad documents are refused with an error page, never a redirect', async () => {
		for (const [path, why] of [
			['/mismatch.json', 'client_id differs from the URL'],
			['/other-id.json', 'client_id names another URL'],
			['/big.json', 'over 5 KiB'],
			['/big-chunked.json', 'over 5 KiB, chunked'],
			['/redirect.json', 'a 302 to a good document'],
			['/redirect-self.json', 'a 301 carrying a good document'],
			['/secret.json', 'a client_secret in the document'],
			['/basic.json', 'a secret-based auth method'],
			['/no-redirects.json', 'no redirect URIs'],
			['/bad-redirect.json', 'an http redirect URI on a public host'],
			['/no-name.json', 'no client_name'],
			['/bidi-name.json', 'a right-to-left override in client_name'],
			['/isolate-name.json', 'a right-to-left isolate in client_name'],
			['/rlm-name.json', 'a right-to-left mark in client_name'],
			['/zwsp-name.json', 'a zero-width space in client_name'],
			['/control-name.json', 'C1 and C0 controls in client_name'],
			['/bidi-uri.json', 'a left-to-right override in client_uri'],
			['/bidi-lang.json', 'an embedding in a language-tagged client_name'],
			['/not-json.json', 'not JSON'],
			['/array.json', 'a JSON array'],
			['/error.json', 'status 500'],
			['/missing.json', 'status 404'],
		]) {
			const res = await authorize(server, `${docs.url}${path}`, {
				redirect_uri: path === '/bad-redirect.json' ? 'http://client.example.com/cb' : DEFAULT_REDIRECT_URI,
			});
			try {
				assertErrorPage(res, /not registered/);
			} catch (err) {
				err.message = `${path} (${why}): ${err.message}`;
				throw err;
			}
		}
		// The redirect was not followed.
		assert.equal(docs.requests.filter((p) => p === '/good.json').length, 1);
	});

	test('client_id URLs with userinfo, a fragment or dot segments are not fetched', async () => {
		const ids = [
			`http://good.example@127.0.0.1:${docs.port}/userinfo.json`,
			`http://good.example:pw@127.0.0.1:${docs.port}/userinfo.json`,
			`${docs.url}/fragment.json#frag`,
			`${docs.url}/fragment.json#`,
			`${docs.url}/x/../dots.json`,
			`${docs.url}/./dot.json`,
			`${docs.url}/x/..`,
		];
		for (const id of ids) {
			const res = await authorize(server, id);
			try {
				assertErrorPage(res, /not registered/);
				assert.equal(res.text.includes('good.example'), false);
			} catch (err) {
				err.message = `${id}: ${err.message}`;
				throw err;
			}
		}
		for (const p of ['/userinfo.json', '/fragment.json', '/dots.json', '/dot.json', '/x/..', '/'])
			assert.equal(docs.requests.includes(p), false, `${p} was fetched`);
	});

	test('a redirect_uri not in the document gets an error page', async () => {
		const url = `${docs.url}/good.json`;
		for (const r of ['http://127.0.0.1:9/other', 'https://client.example.com/cb', 'http://localhost:9/callback'])
			assertErrorPage(await authorize(server, url, { redirect_uri: r }), /has not registered/);
		// Loopback: another port is fine (RFC 8252 section 7.3).
		assertLoginPage(await authorize(server, url, { redirect_uri: 'http://127.0.0.1:4321/callback' }));
	});

	test('a document server that never answers gets an error page, not a hang', async (t) => {
		const stuck = await startHttpServer(() => {}, { t });	// reads the request, never answers
		const res = await authorize(server, `${stuck.url}/slow.json`);	// request() gives up after 10 s
		assertErrorPage(res, /not registered/);
		assert.deepEqual(stuck.requests, ['/slow.json']);
		// The failure is remembered for a while: no second fetch.
		assertErrorPage(await authorize(server, `${stuck.url}/slow.json`), /not registered/);
		assert.deepEqual(stuck.requests, ['/slow.json']);
	});

	test('a good document is cached: the client works while its server is down', async (t) => {
		const own = await docServer({
			'/cached.json': (url) => ({ body: doc(url, { client_name: 'Cached Client' }) }),
			'/never.json': (url) => ({ body: doc(url) }),
		}, t);
		const url = `${own.url}/cached.json`;
		const first = await authorize(server, url);
		assertLoginPage(first);
		assert.match(first.text, /Cached Client/);
		assert.deepEqual(own.requests, ['/cached.json']);
		await own.close();
		const second = await authorize(server, url);
		assertLoginPage(second);
		assert.match(second.text, /Cached Client/);
		// A document never fetched before is not available now.
		assertErrorPage(await authorize(server, `${own.url}/never.json`), /not registered/);
	});
});

describe('client ID metadata documents: address and scheme policy', { timeout: 60000 }, () => {
	let docs;

	before(async () => {
		docs = await docServer({ '/good.json': (url) => ({ body: doc(url) }) });
	});
	after(async () => {
		await docs?.close();
	});

	test('with allow_private false, a loopback document URL is refused without a request', async (t) => {
		const server = await startServer({ t, config: { cimd: { allow_private: false, allow_http: true } } });
		const before = docs.requests.length;
		assertErrorPage(await authorize(server, `${docs.url}/good.json`), /not registered/);
		assertErrorPage(await authorize(server, `http://localhost:${docs.port}/good.json`), /not registered/);
		assertErrorPage(await authorize(server, `http://[::1]:${docs.port}/good.json`), /not registered/);
		assert.equal(docs.requests.length, before, 'the server connected to a loopback address');
	});

	test('with allow_http false, an http document URL is not fetched', async (t) => {
		const server = await startServer({ t, config: { cimd: { allow_private: true, allow_http: false } } });
		const before = docs.requests.length;
		assertErrorPage(await authorize(server, `${docs.url}/good.json`), /not registered/);
		assert.equal(docs.requests.length, before);
	});

	test('with allow_private and allow_http the same document is accepted', async (t) => {
		const server = await startServer({ t });
		assertLoginPage(await authorize(server, `${docs.url}/good.json`));
	});
});
