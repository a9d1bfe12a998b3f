// The declarative case runner: a case is a JSON file of HTTP steps with
// expectations, run against a real mcpgate.  The format is described in
// docs/internals/testing.md.

import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';

import {
	CookieJar, authorizeInteractively, pkce, randomToken, request,
} from './mcpgate.mjs';

// ---------------------------------------------------------------------------
// Loading

export function loadCases(dir) {
	const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
	return files.map((f) => {
		const file = path.join(dir, f);
		let c;
		try {
			c = JSON.parse(fs.readFileSync(file, 'utf8'));
		} catch (err) {
			throw new Error(`${file}: ${err.message}`);
		}
		validateCase(c, file);
		c.file = file;
		return c;
	});
}

const STEP_KINDS = ['request', 'authorize', 'admin', 'restart'];

export function validateCase(c, file = '(case)') {
	const fail = (msg) => { throw new Error(`${file}: ${msg}`); };
	if (c === null || typeof c !== 'object' || Array.isArray(c))
		fail('not a JSON object');
	if (typeof c.name !== 'string' || c.name === '')
		fail('"name" must be a non-empty string');
	if (c.config !== undefined && (typeof c.config !== 'object' || Array.isArray(c.config)))
		fail('"config" must be an object');
	if (!Array.isArray(c.steps) || c.steps.length === 0)
		fail('"steps" must be a non-empty array');
	c.steps.forEach((s, i) => {
		const kinds = STEP_KINDS.filter((k) => k in s);
		if (kinds.length !== 1)
			fail(`step ${i + 1} must have exactly one of ${STEP_KINDS.join(', ')}`);
		for (const k of Object.keys(s))
			if (!STEP_KINDS.includes(k) && !['expect', 'save', 'note'].includes(k))
				fail(`step ${i + 1}: unknown key "${k}"`);
	});
}

// ---------------------------------------------------------------------------
// Templating: "${a.b.c}" looks a value up in the case's scope.  A string
// that is one template alone becomes the value itself (object, number...);
// templates inside a longer string are replaced by the value as text.

export function lookup(scope, expr) {
	let v = scope;
	for (const part of expr.split('.')) {
		if (v === null || v === undefined)
			return undefined;
		v = v[part];
	}
	return v;
}

export function expand(value, scope) {
	if (typeof value === 'string') {
		const whole = /^\$\{([^}]+)\}$/.exec(value);
		if (whole) {
			const v = lookup(scope, whole[1].trim());
			if (v === undefined)
				throw new Error(`template ${value}: nothing saved under "${whole[1]}"`);
			return v;
		}
		return value.replace(/\$\{([^}]+)\}/g, (m, expr) => {
			const v = lookup(scope, expr.trim());
			if (v === undefined)
				throw new Error(`template ${m}: nothing saved under "${expr}"`);
			return typeof v === 'string' ? v : JSON.stringify(v);
		});
	}
	if (Array.isArray(value))
		return value.map((v) => expand(v, scope));
	if (value !== null && typeof value === 'object') {
		const out = {};
		for (const [k, v] of Object.entries(value))
			out[k] = expand(v, scope);
		return out;
	}
	return value;
}

// ---------------------------------------------------------------------------
// Matching: `expected` is a pattern for `actual`.
//   "$exists" / "$absent"        presence
//   "/re/flags"                  String(actual) matches the regex
//   {"$contains": [p...]}        actual is an array with an element
//                                matching each p
//   {"$eq": v}                   deep equality, no patterns inside v
//   {"$type": "string"}          typeof actual ("array", "null" too)
//   {"$not": p}                  actual does not match p
//   {...}                        actual is an object; each key matches
//   [...]                        same length, element by element
//   anything else                strict equality
// Returns a list of mismatch descriptions (empty when it matches).

function typeOf(v) {
	if (v === null)
		return 'null';
	if (Array.isArray(v))
		return 'array';
	return typeof v;
}

const REGEX = /^\/(.*)\/([dgimsuy]*)$/s;

export function match(expected, actual, where = '$') {
	if (expected === '$exists')
		return actual === undefined ? [`${where}: missing`] : [];
	if (expected === '$absent')
		return actual === undefined ? [] : [`${where}: present (${JSON.stringify(actual)}) but should be absent`];
	if (actual === undefined)
		return [`${where}: missing, expected ${JSON.stringify(expected)}`];
	if (typeof expected === 'string') {
		const re = REGEX.exec(expected);
		if (re) {
			const s = typeof actual === 'string' ? actual : JSON.stringify(actual);
			return new RegExp(re[1], re[2]).test(s) ? [] :
			    [`${where}: ${JSON.stringify(actual)} does not match ${expected}`];
		}
	}
	if (Array.isArray(expected)) {
		if (!Array.isArray(actual))
			return [`${where}: expected an array, got ${JSON.stringify(actual)}`];
		if (actual.length !== expected.length)
			return [`${where}: expected ${expected.length} elements, got ${JSON.stringify(actual)}`];
		return expected.flatMap((e, i) => match(e, actual[i], `${where}[${i}]`));
	}
	if (expected !== null && typeof expected === 'object') {
		if ('$contains' in expected) {
			if (!Array.isArray(actual))
				return [`${where}: expected an array, got ${JSON.stringify(actual)}`];
			const want = Array.isArray(expected.$contains) ? expected.$contains : [expected.$contains];
			return want.filter((w) => !actual.some((a) => match(w, a).length === 0))
			    .map((w) => `${where}: ${JSON.stringify(actual)} has no element matching ${JSON.stringify(w)}`);
		}
		if ('$eq' in expected)
			return isDeepStrictEqual(actual, expected.$eq) ? [] :
			    [`${where}: ${JSON.stringify(actual)} is not ${JSON.stringify(expected.$eq)}`];
		if ('$type' in expected)
			return typeOf(actual) === expected.$type ? [] :
			    [`${where}: ${JSON.stringify(actual)} is not of type ${expected.$type}`];
		if ('$not' in expected)
			return match(expected.$not, actual, where).length > 0 ? [] :
			    [`${where}: ${JSON.stringify(actual)} matches ${JSON.stringify(expected.$not)} but should not`];
		if (typeOf(actual) !== 'object')
			return [`${where}: expected an object, got ${JSON.stringify(actual)}`];
		return Object.entries(expected).flatMap(([k, e]) =>
		    match(e, actual[k], `${where}.${k}`));
	}
	return actual === expected ? [] :
	    [`${where}: ${JSON.stringify(actual)} !== ${JSON.stringify(expected)}`];
}

// ---------------------------------------------------------------------------
// Results: what a step's expect and save see.
//   status, headers (lower-case names), text, json, location
//   location: {href, origin, pathname, query: {name: value}, fragment}

function locationView(href) {
	if (href === undefined)
		return undefined;
	const u = new URL(href);
	const query = {};
	for (const [k, v] of u.searchParams)
		query[k] = k in query ? [].concat(query[k], v) : v;
	return { href: u.href, origin: u.origin, pathname: u.pathname, query, fragment: u.hash.slice(1) };
}

function checkExpect(expect, view) {
	const problems = [];
	if (expect.status !== undefined) {
		const ok = Array.isArray(expect.status) ? expect.status.includes(view.status) :
		    expect.status === view.status;
		if (!ok)
			problems.push(`status: ${view.status}, expected ${JSON.stringify(expect.status)}`);
	}
	if (expect.headers) {
		const lower = {};
		for (const [k, v] of Object.entries(expect.headers))
			lower[k.toLowerCase()] = v;
		problems.push(...match(lower, view.headers ?? {}, 'headers'));
	}
	for (const key of ['json', 'location', 'stdout', 'code'])
		if (expect[key] !== undefined)
			problems.push(...match(expect[key], view[key], key));
	if (expect.text_contains !== undefined) {
		for (const s of [].concat(expect.text_contains))
			if (typeof view.text !== 'string' || !view.text.includes(s))
				problems.push(`text: does not contain ${JSON.stringify(s)}`);
	}
	if (expect.text_not_contains !== undefined) {
		for (const s of [].concat(expect.text_not_contains))
			if (typeof view.text === 'string' && view.text.includes(s))
				problems.push(`text: contains ${JSON.stringify(s)}`);
	}
	return problems;
}

// ---------------------------------------------------------------------------
// Running

function describe(view) {
	const body = view.text === undefined ? '' : String(view.text).slice(0, 1500);
	return `status ${view.status}\nheaders ${JSON.stringify(view.headers ?? {})}\n` +
	    (view.location ? `location ${view.location.href}\n` : '') + `body ${body}`;
}

async function runRequest(req, scope, server, jar) {
	const target = req.path ?? req.url;
	if (typeof target !== 'string')
		throw new Error('request needs "path"');
	const url = /^https?:\/\//.test(target) ? target : `${server.issuer}${target}`;
	const res = await request(url, {
		method: req.method,
		headers: req.headers,
		form: req.form,
		json: req.json,
		body: req.body,
		basic: req.basic,
		bearer: req.bearer,
		jar: req.cookies === false ? undefined : jar,
	});
	return { ...res, location: locationView(res.location) };
}

async function runAuthorize(a, scope, server, jar) {
	const u = new URL(server.metadata.authorization_endpoint);
	for (const [k, v] of Object.entries(a.params ?? {}))
		if (v !== undefined && v !== null)
			u.searchParams.set(k, String(v));
	try {
		const loc = await authorizeInteractively({
			authorizeUrl: u.href,
			username: a.username ?? server.username ?? 'demo',
			password: a.password ?? server.password,
			decision: a.decision ?? 'allow',
			jar: a.fresh_session ? new CookieJar() : jar,
		});
		const last = loc.steps.at(-1);
		return { status: last.status, headers: last.headers, text: last.text,
		    json: last.json, location: locationView(loc.href) };
	} catch (err) {
		// An error page instead of a redirect is a result too.
		if (!err.response)
			throw err;
		const r = err.response;
		return { status: r.status, headers: r.headers, text: r.text, json: r.json,
		    location: locationView(r.location), error: err.message };
	}
}

async function runAdmin(a, server) {
	const r = await server.admin(a.args ?? [], a.stdin ?? '');
	return { status: r.code, code: r.code, stdout: r.stdout, text: r.stdout + r.stderr,
	    json: r.json, headers: {} };
}

// Runs one case's steps against `server`.  `log` gets a line per step.
export async function runCase(c, server, { log = () => {} } = {}) {
	const jar = new CookieJar();
	const scope = {
		metadata: server.metadata,
		server: { issuer: server.issuer, url: server.url, port: server.port,
		    password: server.password, username: server.username },
		pkce: pkce(),
		random: randomToken(8),
	};
	for (let i = 0; i < c.steps.length; i++) {
		const step = c.steps[i];
		const label = `${c.name}: step ${i + 1}${step.note ? ` (${step.note})` : ''}`;
		let view;
		try {
			if (step.request !== undefined) {
				const req = expand(step.request, scope);
				log(`${label}: ${req.method ?? 'GET/POST'} ${req.path ?? req.url}`);
				view = await runRequest(req, scope, server, jar);
			} else if (step.authorize !== undefined) {
				log(`${label}: authorize`);
				view = await runAuthorize(expand(step.authorize, scope), scope, server, jar);
			} else if (step.admin !== undefined) {
				const a = expand(step.admin, scope);
				log(`${label}: admin ${(a.args ?? []).join(' ')}`);
				view = await runAdmin(a, server);
			} else if (step.restart !== undefined) {
				log(`${label}: restart`);
				await server.restart();
				scope.metadata = server.metadata;
				view = { status: 0, headers: {} };
			}
		} catch (err) {
			err.message = `${label}: ${err.message}`;
			throw err;
		}
		if (step.expect) {
			const problems = checkExpect(expand(step.expect, scope), view);
			if (problems.length > 0)
				throw new Error(`${label}:\n  ${problems.join('\n  ')}\n--- response\n${describe(view)}`);
		}
		for (const [name, p] of Object.entries(step.save ?? {})) {
			const v = lookup(view, p);
			if (v === undefined)
				throw new Error(`${label}: save ${name}: nothing at "${p}"\n--- response\n${describe(view)}`);
			scope[name] = v;
		}
	}
	return scope;
}
