// The browser-facing half of the authorization server: the authorization
// endpoint's checks (error pages before the redirect URI is trusted,
// redirected errors after), the login and consent pages (headers, escaping,
// CSRF, 303s, throttling), remembered consent, state and iss.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import {
	CookieJar, authorizeInteractively, authorizeUrl, clientAuth, decodeJwt, htmlUnescape,
	parseForms, pkce, randomToken, registerClient, request, requestFrom, sleep, startServer,
} from './lib/mcpgate.mjs';

const SCOPES = {
	'mcp:read': 'Read your notes',
	'mcp:write': 'Change your notes',
	'mcp:admin': 'Manage every notebook',
};
const NOTES = 'https://notes.example.com/mcp';
const MAIL = 'https://mail.example.com/mcp';
const LOOPBACK = 'http://127.0.0.1:9/callback';
const HTTPS_REDIRECT = 'https://app.example.com/oauth/cb';
// Characters that all need encoding in a query, and some that do not.
const WEIRD_STATE = 'a b&c=d?e#f/g+h%25i;j\u00e9k"l<m>';

// ---------------------------------------------------------------------------
// Helpers

async function register(server, body) {
	const res = await registerClient(server, {
		client_name: `authz-${randomToken(4)}`,
		redirect_uris: [LOOPBACK],
		token_endpoint_auth_method: 'none',
		...body,
	});
	assert.equal(res.status, 201, res.text);
	return res.json;
}

// A complete, valid authorization request for `client`, with overrides
// (undefined removes a parameter).
function params(client, over = {}) {
	const p = {
		response_type: 'code',
		client_id: client.client_id,
		redirect_uri: client.redirect_uris[0],
		state: `st-${randomToken(6)}`,
		code_challenge: pkce().challenge,
		code_challenge_method: 'S256',
		resource: NOTES,
		scope: 'mcp:read',
		...over,
	};
	for (const k of Object.keys(p))
		if (p[k] === undefined)
			delete p[k];
	return p;
}

// The raw query string for `pairs` ([[name, value], ...]), so that a
// parameter may be repeated.
function query(pairs) {
	const q = new URLSearchParams();
	for (const [k, v] of pairs)
		q.append(k, v);
	return q.toString();
}

function getAuthorize(server, p, jar) {
	return request(authorizeUrl(server, p), { jar });
}

function assertPageHeaders(res) {
	assert.match(res.headers['content-type'] ?? '', /^text\/html/);
	assert.equal(res.headers['x-frame-options'], 'DENY');
	assert.match(res.headers['content-security-policy'] ?? '', /(^|;)\s*frame-ancestors 'none'\s*(;|$)/);
	assert.match(res.headers['cache-control'] ?? '', /(^|,)\s*no-store\s*(,|$)/);
}

// An error page shown to the user: 400, HTML, no redirect of any kind.
function assertErrorPage(res, text, status = 400) {
	assert.equal(res.status, status, `expected an error page, got ${res.status} ${res.location ?? ''}`);
	assert.equal(res.location, undefined, 'an error page must not redirect');
	assertPageHeaders(res);
	assert.equal(parseForms(res.text).length, 0, 'an error page has no form');
	if (text)
		assert.match(res.text, text);
}

// A redirect back to `redirectUri` carrying `error`, the exact `state` and
// the issuer, and no code.
function assertRedirectError(server, res, redirectUri, error, state, status = 302) {
	assert.equal(res.status, status, `expected a ${status} redirect, got ${res.status}\n${res.text.slice(0, 500)}`);
	assert.ok(res.location, 'redirect without Location');
	const u = new URL(res.location);
	assert.equal(`${u.origin}${u.pathname}`, redirectUri);
	assert.deepEqual(u.searchParams.getAll('error'), [error], res.location);
	assert.deepEqual(u.searchParams.getAll('iss'), [server.issuer]);
	if (state === undefined)
		assert.equal(u.searchParams.has('state'), false);
	else
		assert.deepEqual(u.searchParams.getAll('state'), [state]);
	assert.equal(u.searchParams.has('code'), false);
	assert.equal(u.hash, '');
	return u;
}

function assertRedirectCode(server, res, redirectUri, state, status) {
	assert.equal(res.status, status, `expected a ${status} redirect, got ${res.status}\n${res.text.slice(0, 500)}`);
	const u = new URL(res.location);
	assert.equal(`${u.origin}${u.pathname}`, redirectUri);
	assert.equal(u.searchParams.getAll('code').length, 1);
	assert.ok(u.searchParams.get('code').length > 0);
	assert.deepEqual(u.searchParams.getAll('state'), [state]);
	assert.deepEqual(u.searchParams.getAll('iss'), [server.issuer]);
	assert.equal(u.searchParams.has('error'), false);
	return u.searchParams.get('code');
}

function loginForm(res) {
	assert.equal(res.status, 200, `expected the login page, got ${res.status}\n${res.text.slice(0, 500)}`);
	const f = parseForms(res.text).find((x) => 'password' in x.fields);
	assert.ok(f, 'no login form');
	assert.equal(f.method, 'post');
	assert.equal(f.action, '/login');
	assert.ok(f.fields.req && f.fields.csrf, 'login form without req/csrf');
	return f;
}

function consentForm(res) {
	assert.equal(res.status, 200, `expected the consent page, got ${res.status}\n${res.text.slice(0, 500)}`);
	const f = parseForms(res.text).find((x) => x.buttons.some((b) => b.name === 'decision'));
	assert.ok(f, 'no consent form');
	assert.equal(f.method, 'post');
	assert.equal(f.action, '/consent');
	assert.ok(f.fields.req && f.fields.csrf, 'consent form without req/csrf');
	return f;
}

// Posts the login form; resolves the 303 answer.
async function postLogin(server, form, jar, username, password) {
	return request(`${server.url}${form.action}`, {
		method: 'POST', form: { ...form.fields, username, password }, jar,
	});
}

// GET authorize, log in; resolves the consent page response.
async function toConsent(server, p, jar) {
	const page = await getAuthorize(server, p, jar);
	const login = loginForm(page);
	const res = await postLogin(server, login, jar, server.username, server.password);
	assert.equal(res.status, 303, res.text);
	assert.match(res.location, new RegExp(`^${server.url}/consent\\?req=`));
	return request(res.location, { jar });
}

async function exchange(server, client, code, p, verifier) {
	return request(server.metadata.token_endpoint, {
		method: 'POST',
		...clientAuth(client, {
			grant_type: 'authorization_code', code, redirect_uri: p.redirect_uri,
			code_verifier: verifier, resource: p.resource,
		}),
	});
}

// The text inside the first <strong> after `marker`.
function strongAfter(html, marker) {
	const i = html.indexOf(marker);
	assert.ok(i >= 0, `page has no ${marker}`);
	const m = /<strong>([\s\S]*?)<\/strong>/.exec(html.slice(i));
	assert.ok(m, `no <strong> after ${marker}`);
	return m[1];
}

// ---------------------------------------------------------------------------

describe('authorization endpoint', { timeout: 120000 }, () => {
	let server;
	let client;		// public, loopback redirect, mcp:read mcp:write
	let webClient;		// public, https redirect, all scopes

	before(async () => {
		server = await startServer({ config: { scopes: SCOPES, resources: [NOTES, MAIL] } });
		client = await register(server, { scope: 'mcp:read mcp:write' });
		webClient = await register(server, { redirect_uris: [HTTPS_REDIRECT] });
	});
	after(async () => {
		await server?.cleanup();
	});

	test('errors before the client and redirect URI are known are pages, never redirects', async () => {
		const ok = params(client);
		const cases = [
			['missing client_id', { ...ok, client_id: undefined }, /client_id is missing/],
			['unknown client_id', { ...ok, client_id: 'no-such-client' }, /not registered/],
			['unregistered redirect_uri', { ...ok, redirect_uri: 'https://evil.example.com/cb' },
			    /has not registered/],
			['redirect_uri of another client', { ...ok, redirect_uri: HTTPS_REDIRECT }, /has not registered/],
			['a bad redirect wins over a bad response_type',
			    { ...ok, redirect_uri: 'https://evil.example.com/cb', response_type: 'token' },
			    /has not registered/],
			['an unknown client wins over everything else',
			    { client_id: 'nope', redirect_uri: 'https://evil.example.com/cb', response_type: 'token' },
			    /not registered/],
			['loopback, other path', { ...ok, redirect_uri: 'http://127.0.0.1:9/other' }, /has not registered/],
			['loopback, path prefix', { ...ok, redirect_uri: 'http://127.0.0.1:9/callback/x' },
			    /has not registered/],
			['loopback, extra query', { ...ok, redirect_uri: 'http://127.0.0.1:9/callback?x=1' },
			    /has not registered/],
			['loopback, other host', { ...ok, redirect_uri: 'http://localhost:9/callback' },
			    /has not registered/],
			['loopback, other address', { ...ok, redirect_uri: 'http://127.0.0.2:9/callback' },
			    /has not registered/],
			['loopback, https instead of http', { ...ok, redirect_uri: 'https://127.0.0.1:9/callback' },
			    /has not registered/],
			['loopback, no redirect_uri', { ...ok, redirect_uri: undefined }, /has not registered/],
		];
		for (const [what, p] of cases) {
			const res = await getAuthorize(server, p);
			try {
				assertErrorPage(res, cases.find((c) => c[0] === what)[2]);
			} catch (err) {
				err.message = `${what}: ${err.message}`;
				throw err;
			}
		}
		// Duplicated client_id or redirect_uri: a page too.
		for (const name of ['client_id', 'redirect_uri']) {
			const pairs = Object.entries(params(client));
			pairs.push([name, name === 'client_id' ? client.client_id : client.redirect_uris[0]]);
			const res = await request(`${server.metadata.authorization_endpoint}?${query(pairs)}`);
			assertErrorPage(res, /more than once/);
		}
	});

	test('https redirect URIs must match exactly', async () => {
		const ok = params(webClient);
		for (const r of ['https://app.example.com/oauth/cb/', 'https://app.example.com:443/oauth/cb',
			'https://app.example.com:8443/oauth/cb', 'https://APP.example.com/oauth/cb',
			'https://app.example.com/oauth/CB', 'https://app.example.com/oauth/cb?x=1',
			'https://app.example.com/oauth', 'http://app.example.com/oauth/cb',
			'https://evil.app.example.com/oauth/cb', 'https://app.example.com/oauth/cb#f']) {
			const res = await getAuthorize(server, { ...ok, redirect_uri: r });
			try {
				assertErrorPage(res, /has not registered/);
			} catch (err) {
				err.message = `${r}: ${err.message}`;
				throw err;
			}
		}
		// The exact URI is accepted, and so is none at all (a single
		// non-loopback URI is registered).
		loginForm(await getAuthorize(server, ok));
		loginForm(await getAuthorize(server, { ...ok, redirect_uri: undefined }));
	});

	test('a loopback redirect may use another port, and the code comes back there', async () => {
		// A client of its own: consent given in other tests must not count.
		const client = await register(server, { scope: 'mcp:read mcp:write' });
		const redirect = 'http://127.0.0.1:5555/callback';
		const p = params(client, { redirect_uri: redirect });
		const verifier = pkce();
		p.code_challenge = verifier.challenge;
		const jar = new CookieJar();
		const consent = consentForm(await toConsent(server, p, jar));
		const res = await request(`${server.url}/consent`, {
			method: 'POST', form: { ...consent.fields, decision: 'allow' }, jar,
		});
		const code = assertRedirectCode(server, res, redirect, p.state, 303);
		const tok = await exchange(server, client, code, p, verifier.verifier);
		assert.equal(tok.status, 200, tok.text);
	});

	test('errors after the redirect URI is trusted go back with error, state and iss', async () => {
		const ok = params(client, { state: WEIRD_STATE });
		const cases = [
			['response_type=token', { response_type: 'token' }, 'unsupported_response_type'],
			['response_type=code id_token', { response_type: 'code id_token' }, 'unsupported_response_type'],
			['response_type empty', { response_type: '' }, 'invalid_request'],
			['no response_type', { response_type: undefined }, 'invalid_request'],
			['no code_challenge', { code_challenge: undefined }, 'invalid_request'],
			['no code_challenge, no method', { code_challenge: undefined, code_challenge_method: undefined },
			    'invalid_request'],
			['code_challenge_method plain', { code_challenge_method: 'plain' }, 'invalid_request'],
			['plain with a verifier as challenge',
			    { code_challenge_method: 'plain', code_challenge: pkce().verifier }, 'invalid_request'],
			['code_challenge_method absent', { code_challenge_method: undefined }, 'invalid_request'],
			['code_challenge_method s256', { code_challenge_method: 's256' }, 'invalid_request'],
			['challenge 42 characters', { code_challenge: 'A'.repeat(42) }, 'invalid_request'],
			['challenge 44 characters', { code_challenge: 'A'.repeat(44) }, 'invalid_request'],
			['challenge 128 characters', { code_challenge: 'A'.repeat(128) }, 'invalid_request'],
			['challenge empty', { code_challenge: '' }, 'invalid_request'],
			['challenge with +', { code_challenge: `${'A'.repeat(42)}+` }, 'invalid_request'],
			['challenge with /', { code_challenge: `/${'A'.repeat(42)}` }, 'invalid_request'],
			['challenge with =', { code_challenge: `${'A'.repeat(42)}=` }, 'invalid_request'],
			['challenge with .', { code_challenge: `${'A'.repeat(21)}.${'A'.repeat(21)}` }, 'invalid_request'],
			['challenge with ~', { code_challenge: `${'A'.repeat(21)}~${'A'.repeat(21)}` }, 'invalid_request'],
			['challenge with a space', { code_challenge: `${'A'.repeat(21)} ${'A'.repeat(21)}` }, 'invalid_request'],
			['unknown resource', { resource: 'https://other.example.com/mcp' }, 'invalid_target'],
			['resource differing by a slash', { resource: `${NOTES}/` }, 'invalid_target'],
			['no resource with two configured', { resource: undefined }, 'invalid_target'],
			['only a scope the client may not have', { scope: 'mcp:admin' }, 'invalid_scope'],
			['only an unknown scope', { scope: 'files:delete' }, 'invalid_scope'],
		];
		for (const [what, over, error] of cases) {
			const p = { ...ok, ...over };
			for (const k of Object.keys(p))
				if (p[k] === undefined)
					delete p[k];
			const res = await getAuthorize(server, p);
			try {
				assertRedirectError(server, res, LOOPBACK, error, WEIRD_STATE);
				assert.match(res.headers['cache-control'] ?? '', /no-store/);
				assert.equal(res.headers['set-cookie'], undefined, 'no cookie for a refused request');
			} catch (err) {
				err.message = `${what}: ${err.message}`;
				throw err;
			}
		}
	});

	test('a client without the code grant gets unauthorized_client', async () => {
		const r = await server.admin(['client', 'add', '--name', 'svc', '--grant', 'client_credentials',
			'--redirect-uri', LOOPBACK]);
		assert.equal(r.code, 0, r.stderr);
		const res = await getAuthorize(server, params({ client_id: r.json.client_id, redirect_uris: [LOOPBACK] },
			{ state: 'svc' }));
		assertRedirectError(server, res, LOOPBACK, 'unauthorized_client', 'svc');
	});

	test('a repeated parameter is refused with invalid_request', async () => {
		for (const name of ['response_type', 'scope', 'code_challenge', 'code_challenge_method', 'resource']) {
			const p = params(client, { state: 'dup-check' });
			const pairs = Object.entries(p);
			pairs.push([name, p[name]]);	// the same value twice is still a duplicate
			const res = await request(`${server.metadata.authorization_endpoint}?${query(pairs)}`);
			try {
				assertRedirectError(server, res, LOOPBACK, 'invalid_request', 'dup-check');
			} catch (err) {
				err.message = `${name}: ${err.message}`;
				throw err;
			}
		}
	});

	test('state is optional, and returned exactly when present', async () => {
		const res = await getAuthorize(server, params(client, { state: undefined, response_type: 'token' }));
		assertRedirectError(server, res, LOOPBACK, 'unsupported_response_type', undefined);
		// The raw Location keeps the reserved characters encoded.
		const res2 = await getAuthorize(server, params(client, { state: WEIRD_STATE, response_type: 'token' }));
		const raw = new URL(res2.location).search;
		assert.equal(raw.includes('#'), false);
		assert.equal(raw.split('&').filter((x) => x.startsWith('state=')).length, 1);
	});

	test('a redirect URI with a query keeps it, for errors and for codes', async () => {
		const redirect = 'https://app.example.com/cb?tenant=a%26b&x=1';
		const c = await register(server, { redirect_uris: [redirect] });
		const res = await getAuthorize(server, params(c, { response_type: 'token', state: WEIRD_STATE }));
		assert.equal(res.status, 302);
		const u = new URL(res.location);
		assert.equal(u.origin + u.pathname, 'https://app.example.com/cb');
		assert.deepEqual([...u.searchParams.keys()].sort(),
		    ['error', 'error_description', 'iss', 'state', 'tenant', 'x']);
		assert.equal(u.searchParams.get('tenant'), 'a&b');
		assert.equal(u.searchParams.get('x'), '1');
		assert.equal(u.searchParams.get('error'), 'unsupported_response_type');
		assert.equal(u.searchParams.get('state'), WEIRD_STATE);
		assert.ok(res.location.startsWith(`${redirect}&`), res.location);

		const jar = new CookieJar();
		const form = consentForm(await toConsent(server, params(c, { state: 'q' }), jar));
		const ok = await request(`${server.url}/consent`, {
			method: 'POST', form: { ...form.fields, decision: 'allow' }, jar,
		});
		assert.equal(ok.status, 303);
		assert.ok(ok.location.startsWith(`${redirect}&code=`), ok.location);
		const v = new URL(ok.location);
		assert.equal(v.searchParams.get('tenant'), 'a&b');
		assert.equal(v.searchParams.get('state'), 'q');
		assert.equal(v.searchParams.get('iss'), server.issuer);
	});

	test('an overlong state is not echoed', async () => {
		const res = await getAuthorize(server, params(client, { state: 's'.repeat(5000) }));
		assertRedirectError(server, res, LOOPBACK, 'invalid_request', undefined);
	});

	test('login and consent pages: headers, 303s, scopes in words, redirect host, a code', async () => {
		// A client of its own: consent given in other tests must not count.
		const client = await register(server, { scope: 'mcp:read mcp:write' });
		const jar = new CookieJar();
		const verifier = pkce();
		const p = params(client, { scope: 'mcp:read mcp:admin', code_challenge: verifier.challenge,
			state: WEIRD_STATE });
		const page = await getAuthorize(server, p, jar);
		assertPageHeaders(page);
		const bcookie = page.headers['set-cookie']?.find((c) => c.startsWith('mcpgate_b='));
		assert.ok(bcookie, 'no browser cookie');
		assert.match(bcookie, /;\s*HttpOnly/i);
		assert.match(bcookie, /;\s*SameSite=(Lax|Strict)/i);
		const login = loginForm(page);

		// Wrong password: 303 back to the login page with a notice; no session.
		const bad = await postLogin(server, login, jar, server.username, `${server.password}x`);
		assert.equal(bad.status, 303);
		const badLoc = new URL(bad.location);
		assert.equal(badLoc.pathname, '/login');
		assert.equal(badLoc.searchParams.get('req'), login.fields.req);
		assert.equal(badLoc.searchParams.get('error'), 'invalid');
		assert.equal(jar.get('mcpgate_sid'), undefined);
		const again = await request(bad.location, { jar });
		assertPageHeaders(again);
		const login2 = loginForm(again);
		assert.match(again.text, /class="notice"[^>]*>The username or password is not correct\./);
		// An unknown user is refused the same way.
		const unknown = await postLogin(server, login2, jar, 'nobody', server.password);
		assert.equal(unknown.status, 303);
		assert.equal(new URL(unknown.location).searchParams.get('error'), 'invalid');

		// Right password: 303 to the consent page, with a session cookie.
		const good = await postLogin(server, login2, jar, server.username, server.password);
		assert.equal(good.status, 303);
		assert.equal(new URL(good.location).pathname, '/consent');
		const sid = good.headers['set-cookie']?.find((c) => c.startsWith('mcpgate_sid='));
		assert.ok(sid, 'no session cookie');
		assert.match(sid, /;\s*HttpOnly/i);
		const consent = await request(good.location, { jar });
		assertPageHeaders(consent);
		const form = consentForm(consent);
		assert.deepEqual(form.buttons.map((b) => b.value).sort(), ['allow', 'deny']);
		// The scopes actually asked for, cut to the client's, in words.
		const items = [...consent.text.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => m[1]);
		assert.equal(items.length, 1, consent.text);
		assert.match(items[0], /^Read your notes/);
		assert.match(items[0], /mcp:read/);
		assert.equal(consent.text.includes(SCOPES['mcp:admin']), false);
		assert.equal(consent.text.includes(SCOPES['mcp:write']), false);
		assert.match(consent.text, /<code>127\.0\.0\.1:9<\/code>/);
		assert.match(consent.text, /Signed in as <strong>demo<\/strong>/);

		const res = await request(`${server.url}/consent`, {
			method: 'POST', form: { ...form.fields, decision: 'allow' }, jar,
		});
		const code = assertRedirectCode(server, res, LOOPBACK, WEIRD_STATE, 303);
		assert.match(res.headers['cache-control'] ?? '', /no-store/);
		// The token's scope shows the cut.
		const tok = await exchange(server, client, code, p, verifier.verifier);
		assert.equal(tok.status, 200, tok.text);
		assert.equal(tok.json.scope, 'mcp:read');
		const at = decodeJwt(tok.json.access_token).payload;
		assert.equal(at.scope, 'mcp:read');
		assert.equal(at.aud, NOTES);
		assert.equal(at.client_id, client.client_id);
		// The pending request is used up: posting the form again fails.
		const replay = await request(`${server.url}/consent`, {
			method: 'POST', form: { ...form.fields, decision: 'allow' }, jar,
		});
		assertErrorPage(replay, /expired or was already used/);
	});

	test('the consent page shows the redirect host of an https client and every scope asked', async () => {
		const jar = new CookieJar();
		const consent = await toConsent(server, params(webClient, { scope: 'mcp:write mcp:admin mcp:read' }), jar);
		consentForm(consent);
		const items = [...consent.text.matchAll(/<li>([\s\S]*?)<\/li>/g)].map((m) => htmlUnescape(m[1]));
		assert.equal(items.length, 3);
		for (const [name, desc] of Object.entries(SCOPES))
			assert.ok(items.some((i) => i.startsWith(desc) && i.includes(name)), `${name} missing: ${items}`);
		assert.match(consent.text, /<code>app\.example\.com<\/code>/);
	});

	test('deny sends access_denied back with state and iss', async () => {
		// A client of its own: consent given in other tests must not count.
		const client = await register(server, { scope: 'mcp:read mcp:write' });
		const jar = new CookieJar();
		const p = params(client, { state: WEIRD_STATE });
		const form = consentForm(await toConsent(server, p, jar));
		const res = await request(`${server.url}/consent`, {
			method: 'POST', form: { ...form.fields, decision: 'deny' }, jar,
		});
		assertRedirectError(server, res, LOOPBACK, 'access_denied', WEIRD_STATE, 303);
		// Nothing was remembered: the next request asks again.
		consentForm(await getAuthorize(server, p, jar));
	});

	test('consent is remembered per client, resource and scopes', async () => {
		const c = await register(server, { scope: 'mcp:read mcp:write' });
		const jar = new CookieJar();
		const first = params(c, { scope: 'mcp:read mcp:write' });
		const url = await authorizeInteractively({ authorizeUrl: authorizeUrl(server, first),
			password: server.password, jar });
		assert.ok(url.searchParams.get('code'));

		// Same scopes, and a subset: straight back with a code.
		for (const scope of ['mcp:read mcp:write', 'mcp:write', 'mcp:read']) {
			const verifier = pkce();
			const p = params(c, { scope, state: WEIRD_STATE, code_challenge: verifier.challenge });
			const res = await getAuthorize(server, p, jar);
			const code = assertRedirectCode(server, res, LOOPBACK, WEIRD_STATE, 302);
			const tok = await exchange(server, c, code, p, verifier.verifier);
			assert.equal(tok.status, 200, tok.text);
			assert.equal(tok.json.scope, scope.split(' ').sort().join(' '));
		}
		// No scope asked: the client's whole set, which was consented.
		assertRedirectCode(server, await getAuthorize(server, params(c, { scope: undefined, state: 's' }), jar),
		    LOOPBACK, 's', 302);
		// Another resource: ask again.
		consentForm(await getAuthorize(server, params(c, { resource: MAIL }), jar));
		// Another client of the same user: ask again.
		const other = await register(server, { scope: 'mcp:read' });
		consentForm(await getAuthorize(server, params(other), jar));

		// A wider scope asks again; allowing it remembers the union.
		const wide = await register(server, {});
		const jar2 = new CookieJar();
		const u1 = await authorizeInteractively({
			authorizeUrl: authorizeUrl(server, params(wide, { scope: 'mcp:read' })),
			password: server.password, jar: jar2 });
		assert.ok(u1.searchParams.get('code'));
		const widePage = await getAuthorize(server, params(wide, { scope: 'mcp:read mcp:admin', state: 'wide' }),
		    jar2);
		const form = consentForm(widePage);
		const items = [...widePage.text.matchAll(/<li>([\s\S]*?)<\/li>/g)];
		assert.equal(items.length, 2);
		const res = await request(`${server.url}/consent`, {
			method: 'POST', form: { ...form.fields, decision: 'allow' }, jar: jar2,
		});
		assertRedirectCode(server, res, LOOPBACK, 'wide', 303);
		for (const scope of ['mcp:admin', 'mcp:read mcp:admin'])
			assertRedirectCode(server, await getAuthorize(server, params(wide, { scope, state: 'u' }), jar2),
			    LOOPBACK, 'u', 302);
		consentForm(await getAuthorize(server, params(wide, { scope: 'mcp:write', state: 'w' }), jar2));

		// Consent belongs to the user, not the browser: a new browser
		// logs in and goes straight back.
		const jar3 = new CookieJar();
		const page = await getAuthorize(server, params(c, { scope: 'mcp:read', state: 'nb' }), jar3);
		const res3 = await postLogin(server, loginForm(page), jar3, server.username, server.password);
		assert.equal(res3.status, 303);
		const next = await request(res3.location, { jar: jar3 });
		assertRedirectCode(server, next, LOOPBACK, 'nb', 302);

		// Another user of the same client is asked.
		const add = await server.admin(['user', 'add', 'carol'], 'carol-password-1\n');
		assert.equal(add.code, 0, add.stderr);
		const jar4 = new CookieJar();
		const page4 = await getAuthorize(server, params(c, { scope: 'mcp:read' }), jar4);
		const res4 = await postLogin(server, loginForm(page4), jar4, 'carol', 'carol-password-1');
		assert.equal(res4.status, 303);
		const consent4 = await request(res4.location, { jar: jar4 });
		consentForm(consent4);
		assert.match(consent4.text, /Signed in as <strong>carol<\/strong>/);
	});

	test('the authorization request may be a POST form', async () => {
		// A client of its own: consent given in other tests must not count.
		const client = await register(server, { scope: 'mcp:read mcp:write' });
		const jar = new CookieJar();
		const verifier = pkce();
		const p = params(client, { state: WEIRD_STATE, code_challenge: verifier.challenge });
		const page = await request(server.metadata.authorization_endpoint, { method: 'POST', form: p, jar });
		assertPageHeaders(page);
		const login = loginForm(page);
		const r1 = await postLogin(server, login, jar, server.username, server.password);
		assert.equal(r1.status, 303);
		const form = consentForm(await request(r1.location, { jar }));
		const r2 = await request(`${server.url}/consent`, {
			method: 'POST', form: { ...form.fields, decision: 'allow' }, jar,
		});
		const code = assertRedirectCode(server, r2, LOOPBACK, WEIRD_STATE, 303);
		const tok = await exchange(server, client, code, p, verifier.verifier);
		assert.equal(tok.status, 200, tok.text);
		// Errors from a POST request are redirected just the same.
		const bad = await request(server.metadata.authorization_endpoint, {
			method: 'POST', form: { ...p, code_challenge_method: 'plain' },
		});
		assertRedirectError(server, bad, LOOPBACK, 'invalid_request', WEIRD_STATE);
		// And a POST with an unknown client gets the page.
		assertErrorPage(await request(server.metadata.authorization_endpoint, {
			method: 'POST', form: { ...p, client_id: 'nope' },
		}), /not registered/);
	});

	test('what the client supplied is HTML-escaped on the login and consent pages', async () => {
		const name = '<script>alert("x")</script> & \'quoted\' "name"';
		const c = await register(server, { client_name: name });
		const jar = new CookieJar();
		const page = await getAuthorize(server, params(c), jar);
		loginForm(page);
		assert.equal(page.text.includes('<script>'), false);
		const shown = strongAfter(page.text, 'to continue to');
		assert.doesNotMatch(shown, /[<>"']/);
		assert.equal(htmlUnescape(shown), name);
		assert.match(shown, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &#39;quoted&#39;/);

		const consent = await toConsent(server, params(c), jar);
		consentForm(consent);
		assert.equal(consent.text.includes('<script>'), false);
		const shown2 = strongAfter(consent.text, '<h1>Allow');
		assert.doesNotMatch(shown2, /[<>"']/);
		assert.equal(htmlUnescape(shown2), name);
	});

	test('CSRF: a login post without the token, with a wrong one or from another browser is refused', async () => {
		const jar = new CookieJar();
		const login = loginForm(await getAuthorize(server, params(client), jar));
		const url = `${server.url}/login`;
		const creds = { username: server.username, password: server.password };
		const other = new CookieJar();
		loginForm(await getAuthorize(server, params(client), other));	// another browser's cookie
		const tries = [
			['no csrf field', { req: login.fields.req, ...creds }, jar],
			['empty csrf', { ...login.fields, csrf: '', ...creds }, jar],
			['wrong csrf', { ...login.fields, csrf: randomToken(32), ...creds }, jar],
			['csrf of the right length, altered', { ...login.fields,
				csrf: login.fields.csrf.slice(0, -1) + (login.fields.csrf.endsWith('A') ? 'B' : 'A'), ...creds }, jar],
			['no browser cookie', { ...login.fields, ...creds }, undefined],
			['another browser\'s cookie', { ...login.fields, ...creds }, other],
		];
		for (const [what, form, j] of tries) {
			const res = await request(url, { method: 'POST', form, jar: j });
			try {
				assertErrorPage(res, null, 403);
				assert.equal((res.headers['set-cookie'] ?? []).some((c) => c.startsWith('mcpgate_sid=')), false,
				    'a session was created');
			} catch (err) {
				err.message = `${what}: ${err.message}`;
				throw err;
			}
		}
		assert.equal(jar.get('mcpgate_sid'), undefined);
		// The form itself still works afterwards.
		const res = await postLogin(server, login, jar, server.username, server.password);
		assert.equal(res.status, 303);
		assert.equal(new URL(res.location).pathname, '/consent');
	});

	test('CSRF: a consent post without the token, with a wrong one or without the cookies gives no code', async () => {
		// A client of its own: consent given in other tests must not count.
		const client = await register(server, { scope: 'mcp:read mcp:write' });
		const jar = new CookieJar();
		const p = params(client, { state: 'csrf' });
		const form = consentForm(await toConsent(server, p, jar));
		const url = `${server.url}/consent`;
		const sid = jar.get('mcpgate_sid').value;
		const tries = [
			['no csrf field', { req: form.fields.req, decision: 'allow' }, { jar }],
			['wrong csrf', { ...form.fields, csrf: randomToken(32), decision: 'allow' }, { jar }],
			['no cookies', { ...form.fields, decision: 'allow' }, {}],
			['session cookie but no browser cookie', { ...form.fields, decision: 'allow' },
			    { headers: { cookie: `mcpgate_sid=${sid}` } }],
			['deny without csrf', { req: form.fields.req, decision: 'deny' }, { jar }],
		];
		for (const [what, f, opts] of tries) {
			const res = await request(url, { method: 'POST', form: f, ...opts });
			try {
				assertErrorPage(res, null, 403);
			} catch (err) {
				err.message = `${what}: ${err.message}`;
				throw err;
			}
		}
		// Nothing was consumed or remembered by the refused posts.
		const res = await request(url, { method: 'POST', form: { ...form.fields, decision: 'allow' }, jar });
		assertRedirectCode(server, res, LOOPBACK, 'csrf', 303);
	});

	test('the login and consent pages refuse malformed or unknown request handles with a page', async () => {
		const jar = new CookieJar();
		loginForm(await getAuthorize(server, params(client), jar));	// a browser cookie
		// A well-formed but unknown handle: /consent without a session
		// sends the browser to sign in first, where it is refused.
		const unknown = 'A'.repeat(43);
		const r1 = await request(`${server.url}/consent?req=${unknown}`, { jar });
		assert.equal(r1.status, 303);
		assert.equal(r1.location, `${server.url}/login?req=${unknown}`);
		const r2 = await request(r1.location, { jar });
		assertErrorPage(r2, /expired or was already used/);
		assertErrorPage(await request(`${server.url}/login?req=${unknown}`), null, 403);

		const handles = ['', 'short', 'A'.repeat(44), `${'A'.repeat(41)}\r\n`,
			`${'A'.repeat(41)}\r\nSet-Cookie: x=1`, `${'A'.repeat(40)}<x>`, `${'A'.repeat(42)}#`,
			`${'A'.repeat(42)}&`, `${'A'.repeat(42)}\u00e9`, `${'A'.repeat(42)}\0`];
		for (const h of handles) {
			for (const page of ['/login', '/consent']) {
				for (const j of [jar, undefined]) {
					const res = await request(`${server.url}${page}?${query([['req', h]])}`, { jar: j });
					const what = `${page} ${JSON.stringify(h)} ${j ? 'with' : 'without'} cookies`;
					assert.ok(res.status === 400 || res.status === 403, `${what}: ${res.status} ${res.text}`);
					assert.equal(res.location, undefined, `${what}: redirected to ${res.location}`);
					assertPageHeaders(res);
				}
			}
		}
	});

	test('form posts with another content type are refused', async () => {
		const jar = new CookieJar();
		const login = loginForm(await getAuthorize(server, params(client), jar));
		const res = await request(`${server.url}/login`, {
			method: 'POST', json: { ...login.fields, username: server.username, password: server.password }, jar,
		});
		assertErrorPage(res);
		assert.equal(jar.get('mcpgate_sid'), undefined);
	});
});

test('with an https issuer the cookies are Secure', { timeout: 30000 }, async (t) => {
	// The server listens on plain http here; only the issuer says https
	// (as behind a TLS-terminating proxy).
	const server = await startServer({ t, config: { issuer: 'https://auth.example.com',
		listen: { behind_tls_proxy: true } } });
	const reg = await request(`${server.url}/register`, { method: 'POST', json: {
		client_name: 'secure', redirect_uris: [LOOPBACK], token_endpoint_auth_method: 'none' } });
	assert.equal(reg.status, 201, reg.text);
	const jar = new CookieJar();
	const page = await request(`${server.url}/authorize?${query(Object.entries(params(reg.json, {
		resource: undefined })))}`, { jar });
	const login = loginForm(page);
	const b = page.headers['set-cookie'].find((c) => c.startsWith('mcpgate_b='));
	assert.match(b, /;\s*Secure/i);
	// (The test's cookie jar, unlike a browser, sends Secure cookies over http.)
	const res = await postLogin(server, login, jar, server.username, server.password);
	assert.equal(res.status, 303, res.text);
	const sid = res.headers['set-cookie'].find((c) => c.startsWith('mcpgate_sid='));
	assert.match(sid, /;\s*Secure/i);
	assert.match(sid, /;\s*HttpOnly/i);
	// And the redirects name that issuer.
	const bad = await request(`${server.url}/authorize?${query(Object.entries(params(reg.json, {
		resource: undefined, response_type: 'token', state: 's' })))}`);
	assert.equal(new URL(bad.location).searchParams.get('iss'), 'https://auth.example.com');
});

// ---------------------------------------------------------------------------
// One configured resource (the default), and throttling, which needs a server
// of its own: failed logins count per address too.

describe('resource default and login throttling', { timeout: 120000 }, () => {
	let server;
	let client;

	before(async () => {
		server = await startServer({});
		client = await register(server, {});
		for (const user of ['alice', 'bob']) {
			const r = await server.admin(['user', 'add', user], `${user}-password-1\n`);
			assert.equal(r.code, 0, r.stderr);
		}
	});
	after(async () => {
		await server?.cleanup();
	});

	test('without resource, the token is for the single configured resource', async () => {
		const jar = new CookieJar();
		const verifier = pkce();
		const p = params(client, { resource: undefined, code_challenge: verifier.challenge, scope: undefined });
		const url = await authorizeInteractively({ authorizeUrl: authorizeUrl(server, p),
			password: server.password, jar });
		const tok = await request(server.metadata.token_endpoint, {
			method: 'POST', form: { grant_type: 'authorization_code', code: url.searchParams.get('code'),
				redirect_uri: p.redirect_uri, code_verifier: verifier.verifier, client_id: client.client_id },
		});
		assert.equal(tok.status, 200, tok.text);
		assert.equal(decodeJwt(tok.json.access_token).payload.aud, server.config.resources[0]);
		// Naming it explicitly works too; another one does not.
		const res = await getAuthorize(server, params(client, { resource: 'https://elsewhere.example/mcp', state: 'r' }));
		assertRedirectError(server, res, LOOPBACK, 'invalid_target', 'r');
	});

	// One login attempt from `addr`, in a browser of its own.
	async function attempt(addr, username, password) {
		const jar = new CookieJar();
		const page = await requestFrom(authorizeUrl(server, params(client, { resource: undefined })),
		    { localAddress: addr, jar });
		const login = loginForm(page);
		const res = await requestFrom(`${server.url}/login`, {
			localAddress: addr, method: 'POST', form: { ...login.fields, username, password }, jar,
		});
		assert.equal(res.status, 303, `${addr} ${username}: ${res.status}`);
		const loc = new URL(res.location);
		const session = (res.headers['set-cookie'] ?? []).some((c) => c.startsWith('mcpgate_sid='));
		return { res, loc, jar, session, error: loc.searchParams.get('error'), addr };
	}

	async function assertThrottled(a) {
		assert.equal(a.loc.pathname, '/login', a.res.location);
		assert.equal(a.error, 'throttled');
		assert.equal(a.session, false);
		const page = await requestFrom(a.res.location, { localAddress: a.addr, jar: a.jar });
		loginForm(page);
		assert.match(page.text, /class="notice"[^>]*>Too many failed attempts/);
	}

	function assertSignedIn(a) {
		assert.equal(a.loc.pathname, '/consent', a.res.location);
		assert.equal(a.error, null);
		assert.equal(a.session, true);
	}

	test('after 5 failures an account is refused even with the right password, from any address', async () => {
		for (let i = 0; i < 5; i++) {
			const a = await attempt('127.0.0.2', 'alice', `wrong-${i}`);
			assert.equal(a.error, 'invalid', `attempt ${i + 1}`);
		}
		// The account, from a fresh address.
		await assertThrottled(await attempt('127.0.0.3', 'alice', 'alice-password-1'));
		// The address, for another account.
		await assertThrottled(await attempt('127.0.0.2', 'bob', 'bob-password-1'));
		// Neither: fine.
		assertSignedIn(await attempt('127.0.0.4', 'bob', 'bob-password-1'));
	});

	test('after 5 failures from an address, every account is refused from it', async () => {
		for (let i = 0; i < 5; i++) {
			const a = await attempt('127.0.0.5', `ghost${i}`, 'whatever-password');
			assert.equal(a.error, 'invalid', `attempt ${i + 1}`);
		}
		await assertThrottled(await attempt('127.0.0.5', server.username, server.password));
		assertSignedIn(await attempt('127.0.0.6', server.username, server.password));
	});

	test('fewer than 5 failures do not block, and a success clears the account\'s count', async () => {
		for (let i = 0; i < 4; i++)
			assert.equal((await attempt(`127.0.1.${i + 1}`, 'bob', 'nope')).error, 'invalid');
		assertSignedIn(await attempt('127.0.1.10', 'bob', 'bob-password-1'));
		for (let i = 0; i < 4; i++)
			assert.equal((await attempt(`127.0.1.${i + 20}`, 'bob', 'nope')).error, 'invalid');
		assertSignedIn(await attempt('127.0.1.30', 'bob', 'bob-password-1'));
	});
});

test('the throttle lasts login.window seconds', { timeout: 30000 }, async (t) => {
	// A window wide enough that three argon2id verifications (even under
	// ASan on a loaded machine) fit in it, with the clock's one-second grain.
	const server = await startServer({ t, config: { login: { max_failures: 2, window: 3 } } });
	const client = await register(server, {});
	async function attempt(password) {
		const jar = new CookieJar();
		const login = loginForm(await getAuthorize(server, params(client, { resource: undefined }), jar));
		const res = await postLogin(server, login, jar, server.username, password);
		assert.equal(res.status, 303);
		return new URL(res.location);
	}
	assert.equal((await attempt('wrong-1')).searchParams.get('error'), 'invalid');
	assert.equal((await attempt('wrong-2')).searchParams.get('error'), 'invalid');
	assert.equal((await attempt(server.password)).searchParams.get('error'), 'throttled');
	// The clock has a one-second grain: a window of 3 s is over within 4 s.
	await sleep(4100);
	const ok = await attempt(server.password);
	assert.equal(ok.pathname, '/consent');
	assert.equal(ok.searchParams.get('error'), null);
});
