// The login and consent pages in a real browser (Debian's chromium driven
// by playwright-core): a public client's authorization code flow with PKCE,
// ending at a loopback redirect URI served by this test.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { chromium } from 'playwright-core';

import {
	authorizeUrl, pkce, randomToken, registerClient, request, startServer, withTimeout,
} from './lib/mcpgate.mjs';

const CHROMIUM = process.env.MCPGATE_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update',
    '--disable-sync'];
const STEP_TIMEOUT_MS = 15000;

// Screenshots go to MCPGATE_ARTIFACTS_DIR, or a directory under the system's
// temporary directory that is kept for looking at afterwards.
function artifactsDir() {
	const dir = process.env.MCPGATE_ARTIFACTS_DIR;
	if (dir) {
		fs.mkdirSync(dir, { recursive: true });
		return dir;
	}
	return fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-browser-'));
}

// A loopback HTTP server that records the first request to /callback.
async function callbackServer() {
	let resolveHit;
	const hit = new Promise((resolve) => { resolveHit = resolve; });
	const srv = http.createServer((req, res) => {
		const u = new URL(req.url, 'http://127.0.0.1');
		if (u.pathname !== '/callback') {
			res.writeHead(404).end();
			return;
		}
		res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
		res.end('<!doctype html><title>callback</title><p>Authorization finished.</p>');
		resolveHit(u);
	});
	await new Promise((resolve, reject) => {
		srv.once('error', reject);
		srv.listen(0, '127.0.0.1', resolve);
	});
	const { port } = srv.address();
	return {
		redirectUri: `http://127.0.0.1:${port}/callback`,
		hit,
		close: () => new Promise((resolve) => {
			srv.closeAllConnections();
			srv.close(() => resolve());
		}),
	};
}

test('login and consent in chromium end at the client with a code that redeems', { timeout: 120000 }, async (t) => {
	const scopes = ['mcp:read', 'mcp:write', 'mcp:github', 'mcp:jira'];
	const server = await startServer({ config: { scopes }, t });
	const cb = await callbackServer();
	t.after(() => cb.close());
	const shots = artifactsDir();
	let browser = null;
	let page = null;
	t.after(async () => {
		if (browser !== null)
			await browser.close().catch(() => {});
	});

	try {
		const reg = await registerClient(server, {
			client_name: 'Browser Test Client',
			redirect_uris: [cb.redirectUri],
			grant_types: ['authorization_code', 'refresh_token'],
			response_types: ['code'],
			token_endpoint_auth_method: 'none',
			scope: 'mcp:read',
		});
		assert.equal(reg.status, 201, `registration: ${reg.text}`);
		const clientId = reg.json.client_id;

		const p = pkce();
		const state = randomToken(12);
		const resource = `${server.issuer}/mcp`;
		const url = authorizeUrl(server, {
			response_type: 'code',
			client_id: clientId,
			redirect_uri: cb.redirectUri,
			scope: 'mcp:read',
			resource,
			state,
			code_challenge: p.challenge,
			code_challenge_method: 'S256',
		});

		browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS,
		    timeout: 30000 });
		const context = await browser.newContext();
		page = await context.newPage();
		page.setDefaultTimeout(STEP_TIMEOUT_MS);
		page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);

		// Login page.
		const first = await page.goto(url);
		assert.equal(first.status(), 200, 'the authorization endpoint shows a page');
		const login = page.locator('form[action="/login"]');
		await login.locator('input[name="username"]').fill(server.username);
		await login.locator('input[name="password"]').fill(server.password);
		// Submit as a person would: the form's submit button, else
		// the form itself (two text fields do not submit on Enter
		// without a button).
		const submit = login.locator('button:not([type]), button[type="submit"], input[type="submit"]');
		await Promise.all([
			page.waitForURL((u) => u.href !== url),
			await submit.count() > 0 ? submit.first().click() :
			    login.evaluate((f) => f.requestSubmit()),
		]);

		// Consent page.
		const allow = page.locator('form[action="/consent"] button[name="decision"][value="allow"]');
		await allow.waitFor();
		assert.equal(await page.locator('form[action="/consent"] button[name="decision"][value="deny"]').count(),
		    1, 'the consent page offers to deny');
		const shot = path.join(shots, 'consent.png');
		await page.screenshot({ path: shot, fullPage: true });
		t.diagnostic(`consent page screenshot: ${shot}`);

		const cookies = await context.cookies(server.issuer);
		assert.ok(cookies.length > 0, 'the server set a session cookie');
		for (const c of cookies) {
			assert.equal(c.httpOnly, true, `cookie ${c.name} is HttpOnly`);
			assert.equal(c.sameSite, 'Lax', `cookie ${c.name} is SameSite=Lax`);
			assert.equal(c.path, '/', `cookie ${c.name} has Path=/`);
		}

		await allow.click();
		const back = await withTimeout(cb.hit, STEP_TIMEOUT_MS, 'the redirect to the client');
		await page.waitForURL((u) => u.href.startsWith(cb.redirectUri));

		assert.equal(back.searchParams.getAll('state').length, 1);
		assert.equal(back.searchParams.get('state'), state);
		assert.equal(back.searchParams.get('iss'), server.issuer);
		assert.equal(back.searchParams.get('error'), null);
		const code = back.searchParams.get('code');
		assert.ok(code, 'the redirect carries a code');

		const tok = await request(server.metadata.token_endpoint, {
			method: 'POST',
			form: {
				grant_type: 'authorization_code',
				code,
				redirect_uri: cb.redirectUri,
				code_verifier: p.verifier,
				client_id: clientId,
				resource,
			},
		});
		assert.equal(tok.status, 200, `token exchange: ${tok.text}`);
		assert.match(tok.headers['cache-control'] ?? '', /no-store/);
		assert.equal(typeof tok.json.access_token, 'string');
		assert.ok(tok.json.access_token.length > 0);
		assert.match(tok.json.token_type, /^bearer$/i);

		// The code is single-use.
		const again = await request(server.metadata.token_endpoint, {
			method: 'POST',
			form: {
				grant_type: 'authorization_code',
				code,
				redirect_uri: cb.redirectUri,
				code_verifier: p.verifier,
				client_id: clientId,
				resource,
			},
		});
		assert.equal(again.status, 400, 'a code redeems once');
		assert.equal(again.json?.error, 'invalid_grant');
	} catch (err) {
		if (page !== null) {
			const shot = path.join(shots, 'failure.png');
			await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
			t.diagnostic(`page at failure: ${page.url()} (screenshot ${shot})`);
		}
		t.diagnostic(`mcpgate output:\n${server.logs()}`);
		throw err;
	}
});
