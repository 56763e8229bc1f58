/**
 * The cluster page on the daemon's HTTP port (docs/operating.md, "The cluster page"): `/` (HTML),
 * `/page.js`, `/page.css`, and its one data source, the membership document at `/v1/membership`.
 * Same origin only, no inline script, no CDN: a Content-Security-Policy forbids anything else, and
 * the script builds the DOM with textContent, so a hostile container label shows as text. Only
 * loopback clients are served unless the daemon was started with --expose-page.
 */
import type http from 'node:http';
import { isLoopback } from '../epmd/address.ts';
import { MEMBERSHIP_PATH, type MembershipDocument } from './membership-document.ts';
import { PAGE_CSS, PAGE_HTML } from './page-assets.ts';
import { PAGE_SCRIPT } from './page-script.ts';

export interface PageOptions {
  /** The local view's membership document. */
  document(): MembershipDocument;
  /** Serve clients that are not on this host's loopback too. */
  exposed: boolean;
}

/** Nothing but this origin's script, style and JSON; no framing, no forms, no plugins. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const ASSETS: Record<string, { type: string; body: string }> = {
  '/': { type: 'text/html; charset=utf-8', body: PAGE_HTML },
  '/page.js': { type: 'text/javascript; charset=utf-8', body: PAGE_SCRIPT },
  '/page.css': { type: 'text/css; charset=utf-8', body: PAGE_CSS },
};

/** The paths this module answers. */
export function isPagePath(path: string): boolean {
  return path === MEMBERSHIP_PATH || path in ASSETS;
}

/** Answers a GET for one of the page's paths (see {@link isPagePath}). */
export function servePage(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  path: string,
  page: PageOptions,
): void {
  if (!page.exposed && !isLoopback(req.socket.remoteAddress ?? '')) {
    res
      .writeHead(403, { 'content-type': 'text/plain', ...SECURITY_HEADERS })
      .end('the cluster page is served to this host only; see --expose-page (docs/operating.md)\n');
    return;
  }
  if (path === MEMBERSHIP_PATH) {
    let body: string;
    try {
      body = JSON.stringify(page.document());
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain', ...SECURITY_HEADERS }).end(`${String(err)}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS }).end(body);
    return;
  }
  const asset = ASSETS[path]!;
  res.writeHead(200, { 'content-type': asset.type, ...SECURITY_HEADERS }).end(asset.body);
}
