// The peer of bench/gateway.sh: the MCP TypeScript SDK's Streamable HTTP
// server, stateless with JSON responses, behind the SDK's requireBearerAuth
// middleware, with one tool `echo` that returns its text.
//
//   node bench/sdk-server.mjs PORT JWKS_FILE ISSUER RESOURCE
//
// The verifier checks the same ES256 access tokens mcpgate issues, as the
// gateway does: signature with a key of mcpgate's JWKS (read once from
// JWKS_FILE), alg ES256 only, typ at+jwt, iss, aud = RESOURCE, exp; the
// middleware then requires the scope mcp:read.  Stateless as the SDK's own
// example: a fresh McpServer and transport for every request (the SDK
// refuses to reuse a stateless transport).

import { readFileSync } from 'node:fs';

import { createLocalJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';

import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

const [port, jwksFile, issuer, resource] = process.argv.slice(2);
if (!port || !jwksFile || !issuer || !resource) {
	console.error('usage: sdk-server.mjs PORT JWKS_FILE ISSUER RESOURCE');
	process.exit(2);
}
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));

const verifier = {
	async verifyAccessToken(token) {
		let payload;
		try {
			({ payload } = await jwtVerify(token, jwks, {
				algorithms: ['ES256'], typ: 'at+jwt', issuer, audience: resource,
			}));
		} catch {
			throw new InvalidTokenError('Invalid token');
		}
		return {
			token,
			clientId: String(payload.client_id ?? ''),
			scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
			expiresAt: payload.exp,
			resource: new URL(resource),
		};
	},
};

function mcpServer() {
	const server = new McpServer({ name: 'sdk-bench', version: '1.0.0' });
	server.registerTool('echo', {
		description: 'Returns its text',
		inputSchema: { text: z.string() },
		annotations: { readOnlyHint: true },
	}, async ({ text }) => ({ content: [{ type: 'text', text }] }));
	return server;
}

const app = createMcpExpressApp({ host: '127.0.0.1' });
const auth = requireBearerAuth({
	verifier,
	requiredScopes: ['mcp:read'],
	resourceMetadataUrl: `${new URL(resource).origin}/.well-known/oauth-protected-resource/mcp`,
	expectedResource: new URL(resource),
});

app.post('/mcp', auth, async (req, res) => {
	const server = mcpServer();
	const transport = new StreamableHTTPServerTransport({
		sessionIdGenerator: undefined, enableJsonResponse: true,
	});
	res.on('close', () => {
		transport.close();
		server.close();
	});
	try {
		await server.connect(transport);
		await transport.handleRequest(req, res, req.body);
	} catch {
		if (!res.headersSent)
			res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
	}
});

app.listen(Number(port), '127.0.0.1', (err) => {
	if (err) {
		console.error(err.message);
		process.exit(1);
	}
});
