// Self-tests of the integration test library: the parts that need no
// server (HTML forms, cookies, PKCE, JWT checks, the case format).  If
// these are wrong, every other integration test is.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { expand, loadCases, match, validateCase } from './lib/cases.mjs';
import {
	CookieJar, basicAuth, decodeJwt, deepMerge, defaultConfig, freePort, htmlUnescape,
	parseForms, pkce, verifyJwt,
} from './lib/mcpgate.mjs';

test('parseForms reads hidden inputs in any attribute order and unescapes values', () => {
	const html = `<!doctype html><html><body>
<form method="post" action="/login">
  <input type="hidden" name="req" value="a&amp;b&lt;c&gt;d&quot;e&#39;f">
  <input value='tok"en' name='csrf' type='hidden'>
  <INPUT NAME=username TYPE=text>
  <input name="password" type="password" value="">
  <input type="checkbox" name="remember">
  <input type="checkbox" name="agree" value="yes" checked>
  <button type="submit">Sign in</button>
</form>
<form method="POST" action="/consent?x=1&amp;y=2">
  <input name="req" type="hidden" value="r2"/>
  <input type="hidden" name="csrf" value="c2">
  <button type="submit" name="decision" value="allow">Allow <b>access</b></button>
  <button value="deny" name="decision" type="submit">Deny</button>
  <button type="button" name="noise" value="x">Not a submit</button>
</form></body></html>`;
	const forms = parseForms(html);
	assert.equal(forms.length, 2);
	assert.equal(forms[0].action, '/login');
	assert.equal(forms[0].method, 'post');
	assert.deepEqual(forms[0].fields, {
		req: 'a&b<c>d"e\'f',
		csrf: 'tok"en',
		username: '',
		password: '',
		agree: 'yes',
	});
	assert.deepEqual(forms[0].buttons, [{ name: undefined, value: '', text: 'Sign in' }]);
	assert.equal(forms[1].action, '/consent?x=1&y=2');
	assert.equal(forms[1].method, 'post');
	assert.deepEqual(forms[1].fields, { req: 'r2', csrf: 'c2' });
	assert.deepEqual(forms[1].buttons, [
		{ name: 'decision', value: 'allow', text: 'Allow access' },
		{ name: 'decision', value: 'deny', text: 'Deny' },
	]);
});

test('parseForms: no forms, default method, textarea and select', () => {
	assert.deepEqual(parseForms('<p>no form here</p>'), []);
	const [f] = parseForms(`<form action=/x><textarea name="t">a &amp; b</textarea>
<select name="s"><option value="1">one</option><option value="2" selected>two</option></select>
<input type="submit" name="go" value="Go"></form>`);
	assert.equal(f.method, 'get');
	assert.equal(f.action, '/x');
	assert.deepEqual(f.fields, { t: 'a & b', s: '2' });
	assert.deepEqual(f.buttons, [{ name: 'go', value: 'Go', text: 'Go' }]);
});

test('htmlUnescape handles the five escapes and numeric references, once', () => {
	assert.equal(htmlUnescape('&amp;lt; &lt;&gt;&quot;&#39;&#x27;&#65;'), '&lt; <>"\'\'A');
	assert.equal(htmlUnescape('plain'), 'plain');
});

test('CookieJar sends cookies by host and path and honours deletion', () => {
	const jar = new CookieJar();
	jar.store('http://127.0.0.1:8080/login', [
		'sid=abc; Path=/; HttpOnly; SameSite=Lax',
		'narrow=1; Path=/consent',
		'gone=1; Path=/; Max-Age=0',
	]);
	assert.equal(jar.header('http://127.0.0.1:8080/authorize?x=1'), 'sid=abc');
	assert.equal(jar.header('http://127.0.0.1:8080/consent'), 'sid=abc; narrow=1');
	assert.equal(jar.header('http://127.0.0.1:8080/consentx'), 'sid=abc');
	assert.equal(jar.header('http://localhost:8080/'), '');
	assert.equal(jar.get('sid').attrs.httponly, true);
	assert.equal(jar.get('sid').attrs.samesite, 'Lax');
	assert.equal(jar.get('gone'), undefined);
	jar.store('http://127.0.0.1:8080/logout', ['sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT']);
	assert.equal(jar.header('http://127.0.0.1:8080/'), '');
	jar.store('http://127.0.0.1:8080/a/b', ['dflt=1']);
	assert.equal(jar.get('dflt').path, '/a');
});

test('pkce gives a 43-character verifier and its S256 challenge', () => {
	const a = pkce();
	const b = pkce();
	assert.match(a.verifier, /^[A-Za-z0-9_-]{43}$/);
	assert.notEqual(a.verifier, b.verifier);
	assert.equal(a.challenge,
	    crypto.createHash('sha256').update(a.verifier, 'ascii').digest('base64url'));
});

test('basicAuth form-encodes both parts (RFC 6749 2.3.1)', () => {
	const h = basicAuth('id:1', 'se cret/+');
	assert.equal(Buffer.from(h.slice(6), 'base64').toString(), 'id%3A1:se+cret%2F%2B');
});

test('deepMerge merges objects, replaces arrays and deletes on null', () => {
	const base = defaultConfig({ port: 1234, dataDir: '/tmp/d', password: 'pw' });
	assert.equal(base.issuer, 'http://127.0.0.1:1234');
	assert.deepEqual(base.resources, ['http://127.0.0.1:1234/mcp']);
	const m = deepMerge(base, {
		registration: { policy: 'token', initial_access_token: 't' },
		resources: ['http://127.0.0.1:1234/other'],
		cimd: null,
	});
	assert.deepEqual(m.registration, {
		policy: 'token',
		initial_access_token: 't',
		loopback_only: false,
		allow_confidential: true,
	});
	assert.deepEqual(m.resources, ['http://127.0.0.1:1234/other']);
	assert.equal('cimd' in m, false);
	assert.deepEqual(m.listen, { address: '127.0.0.1', port: 1234 });
	assert.equal(base.registration.policy, 'open', 'the base is not modified');
});

test('freePort gives a usable port', async () => {
	const p = await freePort();
	assert.ok(Number.isInteger(p) && p > 0 && p < 65536);
});

function sign(alg, key, payload, kid) {
	const h = Buffer.from(JSON.stringify({ alg, kid, typ: 'JWT' })).toString('base64url');
	const p = Buffer.from(JSON.stringify(payload)).toString('base64url');
	const input = Buffer.from(`${h}.${p}`);
	let sig;
	if (alg === 'ES256')
		sig = crypto.sign('sha256', input, { key, dsaEncoding: 'ieee-p1363' });
	else if (alg === 'EdDSA')
		sig = crypto.sign(null, input, key);
	else
		sig = crypto.sign('sha256', input, key);
	return `${h}.${p}.${sig.toString('base64url')}`;
}

test('verifyJwt checks ES256, EdDSA and RS256 signatures against a JWK set', async () => {
	const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
	const ed = crypto.generateKeyPairSync('ed25519');
	const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
	const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
	const jwks = { keys: [
		{ ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec1', use: 'sig' },
		{ ...ed.publicKey.export({ format: 'jwk' }), kid: 'ed1' },
		{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa1' },
	] };
	const claims = { iss: 'http://127.0.0.1:1', sub: 'demo' };

	for (const [alg, key, kid] of [['ES256', ec.privateKey, 'ec1'],
	    ['EdDSA', ed.privateKey, 'ed1'], ['RS256', rsa.privateKey, 'rsa1']]) {
		const tok = sign(alg, key, claims, kid);
		const v = await verifyJwt(tok, jwks);
		assert.deepEqual(v.payload, claims);
		assert.equal(v.jwk.kid, kid);
		assert.deepEqual(decodeJwt(tok).payload, claims);

		// A changed payload does not verify.
		const [h, , s] = tok.split('.');
		const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'root' })).toString('base64url')}.${s}`;
		await assert.rejects(verifyJwt(forged, jwks), /does not verify/);
	}
	// Signed by a key that is not in the set, under a known kid.
	await assert.rejects(verifyJwt(sign('ES256', other.privateKey, claims, 'ec1'), jwks),
	    /does not verify/);
	// Unknown kid, unsupported alg, malformed token.
	await assert.rejects(verifyJwt(sign('ES256', ec.privateKey, claims, 'nope'), jwks), /no JWK/);
	const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}.`;
	await assert.rejects(verifyJwt(none, jwks), /not supported/);
	assert.throws(() => decodeJwt('a.b'), /2 parts/);
	assert.throws(() => decodeJwt('!!.e30.'), /header/);
});

test('expand substitutes whole values and inside strings; unknown names fail', () => {
	const scope = { client: { client_id: 'c1', n: 3 }, metadata: { token_endpoint: 'http://h/token' } };
	assert.deepEqual(expand({
		path: '${metadata.token_endpoint}',
		basic: ['${client.client_id}', 'x'],
		json: { whole: '${client}', n: '${client.n}', s: 'id=${client.client_id};n=${client.n}' },
		keep: 5,
	}, scope), {
		path: 'http://h/token',
		basic: ['c1', 'x'],
		json: { whole: { client_id: 'c1', n: 3 }, n: 3, s: 'id=c1;n=3' },
		keep: 5,
	});
	assert.throws(() => expand('${nope.x}', scope), /nothing saved under "nope.x"/);
	assert.throws(() => expand('a ${client.zz} b', scope), /client.zz/);
});

test('match: subset objects, operators, arrays and regexes', () => {
	const actual = { error: 'invalid_request', n: 2, list: ['a', 'b', 'c'], o: { x: 1, y: 2 } };
	assert.deepEqual(match({ error: 'invalid_request' }, actual), []);
	assert.deepEqual(match({ error: '/^invalid_/', n: 2, o: { y: 2 } }, actual), []);
	assert.deepEqual(match({ missing: '$absent', error: '$exists' }, actual), []);
	assert.deepEqual(match({ list: { $contains: ['c', 'a'] } }, actual), []);
	assert.deepEqual(match({ list: ['a', 'b', 'c'] }, actual), []);
	assert.deepEqual(match({ o: { $eq: { x: 1, y: 2 } }, n: { $type: 'number' } }, actual), []);
	assert.deepEqual(match({ error: { $not: 'server_error' } }, actual), []);

	assert.equal(match({ error: 'invalid_grant' }, actual).length, 1);
	assert.equal(match({ error: '$absent' }, actual).length, 1);
	assert.equal(match({ missing: '$exists' }, actual).length, 1);
	assert.equal(match({ list: { $contains: ['d'] } }, actual).length, 1);
	assert.equal(match({ list: ['a', 'b'] }, actual).length, 1);
	assert.equal(match({ o: { $eq: { x: 1 } } }, actual).length, 1);
	assert.equal(match({ n: '2' }, actual).length, 1, 'no type coercion');
	assert.equal(match({ n: { $type: 'string' } }, actual).length, 1);
	assert.equal(match({ error: { $not: '/invalid/' } }, actual).length, 1);
	assert.equal(match({ error: 'x' }, undefined).length, 1);
	assert.equal(match({ o: { z: 1 } }, actual)[0], '$.o.z: missing, expected 1');
});

test('validateCase rejects malformed cases', () => {
	const ok = { name: 'n', steps: [{ request: { path: '/' } }] };
	validateCase(structuredClone(ok));
	assert.throws(() => validateCase({ steps: ok.steps }), /name/);
	assert.throws(() => validateCase({ name: 'n', steps: [] }), /steps/);
	assert.throws(() => validateCase({ name: 'n', steps: [{}] }), /exactly one/);
	assert.throws(() => validateCase({ name: 'n', steps: [{ request: {}, admin: {} }] }), /exactly one/);
	assert.throws(() => validateCase({ name: 'n', steps: [{ request: {}, expext: {} }] }), /unknown key "expext"/);
	assert.throws(() => validateCase({ name: 'n', config: [], steps: ok.steps }), /config/);
});

test('every committed case file loads', () => {
	const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cases');
	const cases = loadCases(dir);
	assert.ok(cases.length >= 5);
	const names = new Set(cases.map((c) => c.name));
	assert.equal(names.size, cases.length, 'case names are unique');
});
