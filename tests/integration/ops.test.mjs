// Operations: signing key rotation while serving, persistence across a
// restart, secrets kept out of the store and the logs, and the admin
// commands for users, clients and grants.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
	CookieJar, DEFAULT_REDIRECT_URI, authorizeInteractively, authorizeUrl, codeFlow, decodeJwt,
	pkce, randomToken, request, sleep, startServer, verifyJwt,
} from './lib/mcpgate.mjs';
import {
	adminClient, assertOAuthError, assertTokenOk, introspectJson, refresh, revoke, serviceClient,
	tokenRequest,
} from './lib/tokens.mjs';

// Polls ${fn} every 200 ms until it returns a truthy value, for at most ${ms}.
async function until(fn, ms, what) {
	const deadline = Date.now() + ms;
	for (;;) {
		const v = await fn();
		if (v)
			return v;
		if (Date.now() > deadline)
			throw new Error(`not within ${ms} ms: ${what}`);
		await sleep(200);
	}
}

// The forms in which a secret could sit in a file: as is, and the bytes it
// stands for when it is base64url.
function needles(secret) {
	const out = [Buffer.from(secret)];
	if (/^[A-Za-z0-9_-]{16,}$/.test(secret))
		out.push(Buffer.from(secret, 'base64url'));
	return out;
}

describe('operations', { timeout: 60000 }, () => {
	let server, svc;
	const jar = new CookieJar();

	before(async () => {
		server = await startServer({ config: { log: { level: 'debug' } } });
		svc = await serviceClient(server);
	});
	after(async () => {
		await server?.cleanup();
	});

	test('admin keys rotate while serving: new kid, old tokens still valid', async () => {
		const before1 = assertTokenOk(await tokenRequest(server, svc, { grant_type: 'client_credentials' }));
		const oldKid = decodeJwt(before1.access_token).header.kid;
		const jwks0 = await request(server.metadata.jwks_uri);
		assert.deepEqual(jwks0.json.keys.map((k) => k.kid), [oldKid]);

		const rot = await server.admin(['keys', 'rotate']);
		assert.equal(rot.code, 0, rot.stderr);
		const newKid = rot.json?.kid;
		assert.equal(typeof newKid, 'string');
		assert.notEqual(newKid, oldKid);

		// The keyring reloads every 5 s (to the second): two keys
		// within about 6 s; the bound leaves room for a loaded machine.
		const jwks = await until(async () => {
			const r = await request(server.metadata.jwks_uri);
			return r.json.keys.length === 2 ? r.json : null;
		}, 9000, 'JWKS with two keys');
		assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
		for (const k of jwks.keys) {
			assert.equal(k.kty, 'EC');
			assert.equal(k.crv, 'P-256');
			assert.equal(k.d, undefined, 'private part published');
		}

		const after1 = assertTokenOk(await tokenRequest(server, svc, { grant_type: 'client_credentials' }));
		const { header } = await verifyJwt(after1.access_token, jwks);
		assert.equal(header.kid, newKid);
		await verifyJwt(before1.access_token, jwks);
		assert.equal((await introspectJson(server, svc, before1.access_token)).active, true);
		assert.equal((await introspectJson(server, svc, after1.access_token)).active, true);

		const list = await server.admin(['keys', 'list']);
		assert.equal(list.code, 0, list.stderr);
		const byKid = Object.fromEntries(list.json.map((k) => [k.kid, k]));
		assert.equal(list.json.length, 2);
		assert.equal(byKid[newKid].state, 'current-or-new');
		assert.equal(byKid[newKid].retired_at, 0);
		assert.equal(byKid[oldKid].state, 'retired, published');
		assert.ok(byKid[oldKid].retired_at > 0);
		// Published for as long as its tokens can live (10 min) and then some.
		assert.ok(byKid[oldKid].publish_until >= byKid[oldKid].retired_at + 600);
		for (const k of list.json)
			assert.equal(k.alg, 'ES256');
		assert.doesNotMatch(list.stdout, /"d"|private|sealed/i);
	});

	test('master.key is 0600 and the store holds no secret in clear', async () => {
		const st = fs.statSync(path.join(server.dataDir, 'master.key'));
		assert.equal(st.mode & 0o777, 0o600);

		const user = `u${randomToken(4)}`.replace(/[-_]/g, 'x');
		const userPw = `pw-${randomToken(12)}`;
		assert.equal((await server.admin(['user', 'add', user], `${userPw}\n`)).code, 0);
		const web = await adminClient(server, ['--name', 'web', '--redirect-uri', DEFAULT_REDIRECT_URI]);
		const localJar = new CookieJar();
		const f = await codeFlow(server, { client: web, scope: 'mcp:read', jar: localJar,
		    username: user, password: userPw });
		const t = assertTokenOk(f.token);
		const r = assertTokenOk(await refresh(server, web, t.refresh_token));
		const cc = assertTokenOk(await tokenRequest(server, svc, { grant_type: 'client_credentials' }));

		const secrets = {
			code: f.code,
			'first refresh token': t.refresh_token,
			'second refresh token': r.refresh_token,
			'access token signature': t.access_token.split('.')[2],
			'refreshed access token signature': r.access_token.split('.')[2],
			'client_credentials token signature': cc.access_token.split('.')[2],
			'access token': t.access_token,
			'client secret': web.client_secret,
			'service client secret': svc.client_secret,
			'demo password': server.password,
			'user password': userPw,
		};
		for (const c of localJar.all())
			secrets[`cookie ${c.name}`] = c.value;
		assert.ok(Object.keys(secrets).some((k) => k.startsWith('cookie ')), 'no session cookie');

		const files = fs.readdirSync(server.dataDir).filter((n) => /^mcpgate\.db(-wal|-shm|-journal)?$/.test(n));
		assert.ok(files.includes('mcpgate.db'), `data dir: ${fs.readdirSync(server.dataDir)}`);
		const blobs = files.map((n) => [n, fs.readFileSync(path.join(server.dataDir, n))]);
		for (const [what, secret] of Object.entries(secrets)) {
			assert.ok(secret.length >= 8, what);
			for (const needle of needles(secret))
				for (const [name, data] of blobs)
					assert.equal(data.indexOf(needle), -1, `${what} found in ${name}`);
		}
		// The digests are there, so the search would have found something.
		const digest = crypto.createHash('sha256').update(web.client_secret).digest('base64url');
		assert.ok(blobs.some(([, data]) => data.indexOf(digest) >= 0), 'client secret digest not found');
	});

	test('no secret reaches the logs', async () => {
		const flowJar = new CookieJar();
		// A failed login, then a good one.
		const client = await adminClient(server, ['--name', 'logs', '--public', '--redirect-uri',
		    DEFAULT_REDIRECT_URI]);
		const wrongPw = `wrong-${randomToken(10)}`;
		const p0 = pkce();
		const refused = await authorizeInteractively({
			authorizeUrl: authorizeUrl(server, { response_type: 'code', client_id: client.client_id,
			    redirect_uri: DEFAULT_REDIRECT_URI, code_challenge: p0.challenge,
			    code_challenge_method: 'S256', state: 's' }),
			username: server.username, password: wrongPw, jar: flowJar,
		});
		assert.equal(refused.pathname, '/login');
		assert.equal(refused.searchParams.get('error'), 'invalid');
		const f = await codeFlow(server, { client: { ...client, token_endpoint_auth_method: 'none' },
		    scope: 'mcp:read', jar: flowJar });
		const t = assertTokenOk(f.token);
		// A replayed code, a refresh, a reuse, revocations.
		assertOAuthError(await tokenRequest(server, f.client, { grant_type: 'authorization_code', code: f.code,
		    redirect_uri: DEFAULT_REDIRECT_URI, code_verifier: f.pkce.verifier }), 400, 'invalid_grant');
		const g = await codeFlow(server, { client: f.client, scope: 'mcp:read', jar: flowJar });
		const gt = assertTokenOk(g.token);
		const r = assertTokenOk(await refresh(server, f.client, gt.refresh_token));
		assertOAuthError(await refresh(server, f.client, gt.refresh_token), 400, 'invalid_grant');
		const h = assertTokenOk((await codeFlow(server, { client: f.client, scope: 'mcp:read',
		    jar: flowJar })).token);
		assert.equal((await revoke(server, f.client, h.access_token)).status, 200);
		assert.equal((await revoke(server, f.client, h.refresh_token)).status, 200);
		// client_credentials, a wrong secret, introspection.
		const cc = assertTokenOk(await tokenRequest(server, svc, { grant_type: 'client_credentials' }));
		const wrongSecret = `${svc.client_secret.slice(0, -4)}XXXX`;
		assertOAuthError(await tokenRequest(server, { ...svc, client_secret: wrongSecret },
		    { grant_type: 'client_credentials' }), 401, 'invalid_client');
		assertOAuthError(await tokenRequest(server, { ...svc, client_secret: wrongSecret,
		    token_endpoint_auth_method: 'client_secret_post' }, { grant_type: 'client_credentials' }),
		    401, 'invalid_client');
		await introspectJson(server, svc, cc.access_token);
		await introspectJson(server, svc, r.refresh_token);
		await sleep(200);	// let the last lines arrive

		const logs = server.logs();
		assert.match(logs, /failed login/, 'the failed login is logged');
		assert.match(logs, /replayed/, 'the replay is logged');
		const secrets = {
			'demo password': server.password,
			'wrong password': wrongPw,
			'first code': f.code,
			'second code': g.code,
			'code verifier': f.pkce.verifier,
			'refresh token': t.refresh_token,
			'reused refresh token': gt.refresh_token,
			'rotated refresh token': r.refresh_token,
			'revoked refresh token': h.refresh_token,
			'client secret': svc.client_secret,
			'wrong client secret': wrongSecret,
		};
		for (const [what, at] of [['access token', t.access_token], ['refreshed access token', r.access_token],
		    ['revoked access token', h.access_token], ['client_credentials token', cc.access_token]]) {
			secrets[`${what} signature`] = at.split('.')[2];
			secrets[`${what} payload`] = at.split('.')[1];
		}
		for (const c of flowJar.all())
			secrets[`cookie ${c.name}`] = c.value;
		for (const [what, secret] of Object.entries(secrets)) {
			assert.ok(secret.length >= 8, what);
			assert.ok(!logs.includes(secret), `${what} found in the server output`);
		}
	});

	test('admin user add (password on stdin), list, del', async () => {
		const name = `alice${randomToken(3).replace(/[-_]/g, 'x')}`;
		const pw = `pw-${randomToken(12)}`;
		const add = await server.admin(['user', 'add', name], `${pw}\n`);
		assert.equal(add.code, 0, add.stderr);
		assert.ok(!add.stdout.includes(pw) && !add.stderr.includes(pw));
		const list = await server.admin(['user', 'list']);
		assert.equal(list.code, 0);
		const u = list.json.find((x) => x.username === name);
		assert.equal(typeof u?.sub, 'string');
		assert.ok(!list.stdout.includes(pw));
		assert.doesNotMatch(list.stdout, /argon2|password|hash/i);

		const f = await codeFlow(server, { scope: 'mcp:read', username: name, password: pw });
		const ft = assertTokenOk(f.token);
		assert.equal(decodeJwt(ft.access_token).payload.sub, u.sub);
		assert.equal((await introspectJson(server, svc, ft.access_token)).active, true);

		assert.notEqual((await server.admin(['user', 'add', `${name}2`], 'short\n')).code, 0, 'short password');
		assert.notEqual((await server.admin(['user', 'add', `${name}3`], '')).code, 0, 'no password');

		const del = await server.admin(['user', 'del', name]);
		assert.equal(del.code, 0, del.stderr);
		assert.ok(!(await server.admin(['user', 'list'])).json.some((x) => x.username === name));
		assert.notEqual((await server.admin(['user', 'del', name])).code, 0, 'deleting twice');
		// The user's grants end with the user.
		assertOAuthError(await refresh(server, f.client, ft.refresh_token), 400, 'invalid_grant',
		    'refresh token of a deleted user');
		assert.equal((await introspectJson(server, svc, ft.access_token)).active, false);
		// The login form sends the browser back to itself with error=invalid.
		await assert.rejects(codeFlow(server, { scope: 'mcp:read', username: name, password: pw }),
		    (err) => err.redirect?.pathname === '/login' && err.redirect.searchParams.get('error') === 'invalid');
	});

	test('admin client add, list, del', async () => {
		const add = await server.admin(['client', 'add', '--name', 'svc2', '--grant', 'client_credentials',
		    '--scope', 'mcp:read']);
		assert.equal(add.code, 0, add.stderr);
		assert.deepEqual(Object.keys(add.json).sort(), ['client_id', 'client_secret']);
		const c = add.json;
		assert.match(c.client_secret, /^[A-Za-z0-9_-]{32,}$/);
		const pub = await server.admin(['client', 'add', '--name', 'pub', '--public', '--redirect-uri',
		    DEFAULT_REDIRECT_URI]);
		assert.equal(pub.code, 0, pub.stderr);
		assert.deepEqual(Object.keys(pub.json), ['client_id']);

		const list = await server.admin(['client', 'list']);
		assert.equal(list.code, 0);
		const digest = crypto.createHash('sha256').update(c.client_secret).digest();
		for (const s of [c.client_secret, svc.client_secret, digest.toString('base64url'),
		    digest.toString('hex'), digest.toString('base64')])
			assert.ok(!list.stdout.includes(s), 'client list shows a secret or its digest');
		for (const x of list.json) {
			assert.equal(x.client_secret, undefined);
			assert.equal(x.secret_digest, undefined);
			assert.deepEqual(Object.keys(x).filter((k) => /secret|digest/i.test(k)), []);
		}
		const mine = list.json.find((x) => x.client_id === c.client_id);
		assert.equal(mine.confidential, true);
		assert.equal(mine.name, 'svc2');
		assert.equal(mine.scope, 'mcp:read');
		assert.deepEqual(mine.grant_types, ['client_credentials']);
		assert.equal(list.json.find((x) => x.client_id === pub.json.client_id).confidential, false);

		const cc = assertTokenOk(await tokenRequest(server, c, { grant_type: 'client_credentials' }));
		assert.equal((await introspectJson(server, svc, cc.access_token)).active, true);
		// A code-flow client with a live grant, deleted: its tokens end too.
		const web = await adminClient(server, ['--name', 'web2', '--redirect-uri', DEFAULT_REDIRECT_URI]);
		const wf = await codeFlow(server, { client: web, scope: 'mcp:read', jar });
		const wt = assertTokenOk(wf.token);
		assert.equal((await server.admin(['client', 'del', web.client_id])).code, 0);
		assert.equal((await introspectJson(server, svc, wt.access_token)).active, false);
		assert.equal((await introspectJson(server, svc, wt.refresh_token)).active, false);
		assertOAuthError(await refresh(server, web, wt.refresh_token), 401, 'invalid_client');

		const del = await server.admin(['client', 'del', c.client_id]);
		assert.equal(del.code, 0, del.stderr);
		assertOAuthError(await tokenRequest(server, c, { grant_type: 'client_credentials' }), 401,
		    'invalid_client', 'deleted client');
		// Its client-credentials tokens, recorded nowhere, end with it.
		assert.equal((await introspectJson(server, svc, cc.access_token)).active, false);
		assert.ok(!(await server.admin(['client', 'list'])).json.some((x) => x.client_id === c.client_id));
		assert.notEqual((await server.admin(['client', 'del', c.client_id])).code, 0);

		for (const bad of [['--grant', 'password'], ['--name', 'x'], ['--scope', 'no:such', '--redirect-uri',
		    DEFAULT_REDIRECT_URI], ['--redirect-uri', 'http://example.com/cb'], ['--bogus']]) {
			const r = await server.admin(['client', 'add', ...bad]);
			assert.notEqual(r.code, 0, bad.join(' '));
			assert.equal(r.json, undefined, bad.join(' '));
		}
	});

	test('admin grants list and revoke', async () => {
		const client = await adminClient(server, ['--name', 'grants', '--public', '--redirect-uri',
		    DEFAULT_REDIRECT_URI]);
		const f = await codeFlow(server, { client: { ...client, token_endpoint_auth_method: 'none' },
		    scope: 'mcp:read mcp:write', jar });
		const t = assertTokenOk(f.token);

		const list = await server.admin(['grants', 'list']);
		assert.equal(list.code, 0, list.stderr);
		const g = list.json.find((x) => x.client_id === client.client_id);
		assert.ok(g, list.stdout);
		assert.equal(g.user, server.username);
		assert.equal(g.resource, `${server.issuer}/mcp`);
		assert.equal(g.scope, 'mcp:read mcp:write');
		assert.equal(g.live_refresh_tokens.length, 1);
		assert.equal(g.live_refresh_tokens[0].client_id, client.client_id);
		assert.equal(g.live_refresh_tokens[0].scope, 'mcp:read mcp:write');
		assert.ok(!list.stdout.includes(t.refresh_token));
		const one = await server.admin(['grants', 'list', server.username]);
		assert.equal(one.code, 0);
		assert.ok(one.json.some((x) => x.client_id === client.client_id));

		// After a rotation, still one live refresh token.
		const r = assertTokenOk(await refresh(server, f.client, t.refresh_token));
		const list2 = await server.admin(['grants', 'list', server.username]);
		const g2 = list2.json.find((x) => x.client_id === client.client_id);
		assert.equal(g2.live_refresh_tokens.length, 1);

		const rv = await server.admin(['grants', 'revoke', server.username, client.client_id]);
		assert.equal(rv.code, 0, rv.stderr);
		assertOAuthError(await refresh(server, f.client, r.refresh_token), 400, 'invalid_grant');
		assert.equal((await introspectJson(server, svc, t.access_token)).active, false);
		assert.equal((await introspectJson(server, svc, r.access_token)).active, false);
		assert.ok(!(await server.admin(['grants', 'list'])).json.some((x) => x.client_id === client.client_id));
		assert.notEqual((await server.admin(['grants', 'revoke', 'nobody', client.client_id])).code, 0);

		// The consent is gone too: the user is asked again.
		const again = await codeFlow(server, { client: f.client, scope: 'mcp:read', jar });
		assert.ok(again.redirect.steps.some((s) => s.status === 200 && /name="decision"/.test(s.text)),
		    'no consent page after the grant was revoked');
	});

	// Last: it restarts the server.
	test('tokens, clients and users survive a restart', async () => {
		const f = await codeFlow(server, { scope: 'mcp:read', jar });
		const t = assertTokenOk(f.token);
		const cc = assertTokenOk(await tokenRequest(server, svc, { grant_type: 'client_credentials' }));
		const gone = assertTokenOk(await tokenRequest(server, svc, { grant_type: 'client_credentials' }));
		assert.equal((await revoke(server, svc, gone.access_token)).status, 200);
		const kids = (await request(server.metadata.jwks_uri)).json.keys.map((k) => k.kid).sort();
		await server.restart();
		assert.equal((await introspectJson(server, svc, gone.access_token)).active, false,
		    'a revoked access token stays revoked');
		assert.deepEqual((await request(server.metadata.jwks_uri)).json.keys.map((k) => k.kid).sort(), kids);
		assert.equal((await introspectJson(server, svc, t.access_token)).active, true);
		assert.equal((await introspectJson(server, svc, cc.access_token)).active, true);
		assert.equal((await introspectJson(server, svc, t.refresh_token)).active, true);
		const r = assertTokenOk(await refresh(server, f.client, t.refresh_token));
		assert.equal((await introspectJson(server, svc, r.access_token)).active, true);
		// The session cookie too, and the remembered consent: straight back.
		const again = await codeFlow(server, { client: f.client, scope: 'mcp:read', jar, password: 'unused' });
		assertTokenOk(again.token);
		assert.equal(again.redirect.steps.length, 1, 'expected a direct redirect');
		assert.equal(fs.statSync(path.join(server.dataDir, 'master.key')).mode & 0o777, 0o600);
	});
});
