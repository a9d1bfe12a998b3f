// Transport: native TLS, the refusal to listen on a non-loopback address
// without TLS, and slow clients timing out while others are served.

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';

import {
	READY_TIMEOUT_MS, REQUEST_TIMEOUT_MS, deepMerge, defaultConfig, freePort, mcpgateBin, randomToken,
	request, run, sleep, startServer, track, verifyJwt,
} from './lib/mcpgate.mjs';
import { adminClient } from './lib/tokens.mjs';

// One HTTPS request trusting only ${ca}.  Resolves {status, headers, text, json}.
function httpsRequest(url, { ca, method = 'GET', headers = {}, body } = {}) {
	return new Promise((resolve, reject) => {
		const req = https.request(url, { method, headers, ca, timeout: REQUEST_TIMEOUT_MS }, (res) => {
			let text = '';
			res.setEncoding('utf8');
			res.on('data', (d) => { text += d; });
			res.on('end', () => {
				let json;
				try {
					json = JSON.parse(text);
				} catch {
					json = undefined;
				}
				resolve({ status: res.statusCode, headers: res.headers, text, json });
			});
		});
		req.on('timeout', () => req.destroy(new Error(`timed out: ${url}`)));
		req.on('error', reject);
		req.end(body);
	});
}

// A self-signed EC P-256 certificate for 127.0.0.1 in ${dir}.
function makeCert(dir) {
	const cert = path.join(dir, 'cert.pem');
	const key = path.join(dir, 'key.pem');
	execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
		'-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1',
		'-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 15000 });
	fs.chmodSync(key, 0o600);
	return { cert, key, ca: fs.readFileSync(cert) };
}

// Starts `mcpgate serve` over TLS, which startServer() cannot poll: resolves
// {port, issuer, dir, ca, logs(), admin(), stop()} once the metadata answers
// over https.
async function startTlsServer() {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-tls-'));
	const dataDir = path.join(dir, 'data');
	fs.mkdirSync(dataDir, { mode: 0o700 });
	const { cert, key, ca } = makeCert(dir);
	const port = await freePort();
	const issuer = `https://127.0.0.1:${port}`;
	const config = deepMerge(defaultConfig({ port, dataDir, password: `pw-${randomToken(12)}` }),
	    { issuer, tls: { cert, key }, resources: [`${issuer}/mcp`] });
	const configPath = path.join(dir, 'config.json');
	fs.writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
	let logs = '';
	const child = track(spawn(mcpgateBin(), ['serve', '--config', configPath],
	    { stdio: ['ignore', 'pipe', 'pipe'] }));
	child.stdout.setEncoding('utf8').on('data', (d) => { logs += d; });
	child.stderr.setEncoding('utf8').on('data', (d) => { logs += d; });
	const exited = new Promise((resolve) => child.on('exit', resolve));
	const srv = {
		port, issuer, dir, ca, configPath,
		logs: () => logs,
		admin: (args, stdin = '') => run(mcpgateBin(), ['admin', ...args, '--config', configPath], { stdin }),
		async stop() {
			if (child.exitCode === null && child.signalCode === null) {
				child.kill('SIGTERM');
				const t = setTimeout(() => child.kill('SIGKILL'), 5000);
				await exited;
				clearTimeout(t);
			}
			fs.rmSync(dir, { recursive: true, force: true });
		},
	};
	const deadline = Date.now() + READY_TIMEOUT_MS;
	for (;;) {
		if (child.exitCode !== null)
			throw new Error(`mcpgate exited (${child.exitCode}):\n${logs}`);
		try {
			const r = await httpsRequest(`${issuer}/.well-known/oauth-authorization-server`, { ca });
			if (r.status === 200) {
				srv.metadata = r.json;
				return srv;
			}
		} catch {
			// not yet
		}
		if (Date.now() > deadline) {
			await srv.stop();
			throw new Error(`mcpgate (TLS) not ready:\n${logs}`);
		}
		await sleep(100);
	}
}

describe('native TLS', { timeout: 60000 }, () => {
	let srv;
	before(async () => {
		srv = await startTlsServer();
	});
	after(async () => {
		await srv?.stop();
	});

	test('metadata, JWKS and a token over https', async () => {
		assert.equal(srv.metadata.issuer, srv.issuer);
		assert.equal(srv.metadata.token_endpoint, `${srv.issuer}/token`);
		const jwks = await httpsRequest(srv.metadata.jwks_uri, { ca: srv.ca });
		assert.equal(jwks.status, 200);
		assert.equal(jwks.json.keys.length, 1);

		const c = await adminClient(srv, ['--name', 'svc', '--grant', 'client_credentials', '--scope', 'mcp:read']);
		const body = new URLSearchParams({ grant_type: 'client_credentials' }).toString();
		const r = await httpsRequest(srv.metadata.token_endpoint, {
			ca: srv.ca,
			method: 'POST',
			headers: {
				'content-type': 'application/x-www-form-urlencoded',
				authorization: `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}`,
			},
			body,
		});
		assert.equal(r.status, 200, r.text);
		assert.equal(r.headers['cache-control'], 'no-store');
		const { payload } = await verifyJwt(r.json.access_token, jwks.json);
		assert.equal(payload.iss, srv.issuer);
		assert.equal(payload.aud, `${srv.issuer}/mcp`);
	});

	test('the certificate is the configured one', async () => {
		const peer = await new Promise((resolve, reject) => {
			const sock = tls.connect({ host: '127.0.0.1', port: srv.port, ca: srv.ca },
			    () => {
				const c = sock.getPeerX509Certificate();
				sock.destroy();
				resolve(c);
			});
			sock.once('error', reject);
		});
		assert.equal(peer.fingerprint256, new crypto.X509Certificate(srv.ca).fingerprint256);
		// Without the CA the self-signed certificate is not trusted.
		await assert.rejects(httpsRequest(`${srv.issuer}/.well-known/oauth-authorization-server`),
		    /self[- ]signed/i);
	});

	test('plain HTTP to the TLS port gets no answer', async () => {
		let res = null;
		try {
			res = await request(`http://127.0.0.1:${srv.port}/.well-known/oauth-authorization-server`,
			    { timeout: 5000 });
		} catch {
			res = null;
		}
		assert.ok(res === null || res.status !== 200, `plain HTTP answered ${res?.status}: ${res?.text}`);
		// The server still serves https afterwards.
		const ok = await httpsRequest(`${srv.issuer}/.well-known/oauth-authorization-server`, { ca: srv.ca });
		assert.equal(ok.status, 200);
	});
});

describe('listen address', { timeout: 30000 }, () => {
	test('a non-loopback address without TLS is refused', async () => {
		const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-addr-'));
		try {
			const port = await freePort();
			const config = deepMerge(defaultConfig({ port, dataDir: path.join(dir, 'data'),
			    password: `pw-${randomToken(12)}` }), { listen: { address: '0.0.0.0' } });
			const configPath = path.join(dir, 'config.json');
			fs.writeFileSync(configPath, JSON.stringify(config), { mode: 0o600 });
			const r = await run(mcpgateBin(), ['serve', '--config', configPath], { timeout: 10000 });
			assert.notEqual(r.code, 0);
			assert.match(r.stderr, /TLS/);
			assert.match(r.stderr, /behind_tls_proxy/);
			assert.doesNotMatch(r.stdout, /ready/);
		} finally {
			fs.rmSync(dir, { recursive: true, force: true });
		}
	});

	test('with behind_tls_proxy it starts', async (t) => {
		const server = await startServer({ t, config: { listen: { address: '0.0.0.0', behind_tls_proxy: true } } });
		const r = await request(`http://127.0.0.1:${server.port}/.well-known/oauth-authorization-server`);
		assert.equal(r.status, 200);
		assert.equal(r.json.issuer, server.issuer);
	});
});

describe('slow clients', { timeout: 30000 }, () => {
	let server;
	before(async () => {
		server = await startServer({ config: { listen: { timeout: 2 } } });
	});
	after(async () => {
		await server?.cleanup();
	});

	// Opens a connection, sends ${data}, and resolves {socket, closed}, where
	// closed resolves with the time the server closed the connection.
	async function stall(data) {
		const socket = net.connect(server.port, '127.0.0.1');
		await new Promise((resolve, reject) => {
			socket.once('connect', resolve);
			socket.once('error', reject);
		});
		let received = '';
		socket.setEncoding('utf8').on('data', (d) => { received += d; });
		socket.on('error', () => {});
		const closed = new Promise((resolve) => socket.once('close', () => resolve(Date.now())));
		socket.write(data);
		return { socket, closed, received: () => received };
	}

	for (const [what, data] of [
		['half a request line and headers', 'POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty'],
		['headers but half the body', 'POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
		    'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type='],
	]) {
		test(`${what}: closed after listen.timeout, others served meanwhile`, async () => {
			const started = Date.now();
			const s = await stall(data);
			let closedAt = null;
			s.closed.then((at) => { closedAt = at; });
			// Others are served while it hangs.
			for (let i = 0; i < 5; i++) {
				const r = await request(`${server.url}/.well-known/oauth-authorization-server`);
				assert.equal(r.status, 200);
				await sleep(100);
			}
			if (Date.now() - started < 1000)
				assert.equal(closedAt, null, 'closed well before the timeout');
			let timer;
			const at = await Promise.race([s.closed, new Promise((resolve) => {
				timer = setTimeout(() => resolve(null), 8000);
			})]);
			clearTimeout(timer);
			s.socket.destroy();
			assert.notEqual(at, null, 'the server did not close the stalled connection');
			assert.ok(at - started >= 1500, `closed after ${at - started} ms`);
			assert.doesNotMatch(s.received(), /HTTP\/1\.1 200/);
		});
	}
});
