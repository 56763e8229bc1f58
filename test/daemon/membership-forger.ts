/**
 * A forged membership endpoint for test/daemon/clusters.test.ts: serves the JSON document in
 * argv[5] over HTTPS with the certificate and key given, at argv[2]:argv[3], to anyone. Prints
 * "listening" once it does.
 *   node membership-forger.ts HOST PORT CERT KEY DOCUMENT_JSON
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';

const [host, port, cert, key, body] = process.argv.slice(2);
const server = https.createServer({ cert: readFileSync(cert!), key: readFileSync(key!) }, (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' }).end(body);
});
server.listen({ host, port: Number(port) }, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
