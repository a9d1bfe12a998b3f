// Runs every tests/integration/cases/*.json against a real mcpgate: one
// test per file.  Cases without a "config" share one server; a case with a
// config gets a server of its own.

import { after, describe, test } from 'node:test';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadCases, runCase } from './lib/cases.mjs';
import { startServer } from './lib/mcpgate.mjs';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'cases');
const cases = loadCases(dir);

// A suite, so that its after() hook runs as soon as the cases are done.
describe('cases', () => {
	let shared = null;
	const sharedServer = () => {
		if (shared === null)
			shared = startServer();
		return shared;
	};
	after(async () => {
		if (shared !== null)
			await (await shared.catch(() => null))?.cleanup();
	});

	for (const c of cases) {
		test(`${path.basename(c.file)}: ${c.name}`, { timeout: 60000 }, async (t) => {
			const own = c.config !== undefined ||
			    c.steps.some((s) => s.restart !== undefined);
			const server = own ? await startServer({ config: c.config ?? {}, t }) :
			    await sharedServer();
			try {
				await runCase(c, server, { log: (line) => t.diagnostic(line) });
			} catch (err) {
				t.diagnostic(`mcpgate output:\n${server.logs()}`);
				throw err;
			}
		});
	}
});
