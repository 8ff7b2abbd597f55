// The dashboard's files (one page, its script and styles, uPlot), served as they are: no build step for the app.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RequestHandler } from 'express';

/** The files under assets/ a browser may ask for, with their types. */
const ASSETS: Record<string, string> = {
  'dashboard.js': 'text/javascript; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'uPlot.iife.min.js': 'text/javascript; charset=utf-8',
  'uPlot.min.css': 'text/css; charset=utf-8',
};

/** Scripts and styles of this origin only: the page has no inline script, and reads nothing from elsewhere. */
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const cache = new Map<string, Buffer>();
/** Read once per process: the files ship with the package and do not change while it runs. */
function asset(name: string): Buffer {
  let body = cache.get(name);
  if (!body) {
    body = readFileSync(path.join(__dirname, 'assets', name));
    cache.set(name, body);
  }
  return body;
}

const secured = (res: Parameters<RequestHandler>[1], type: string) =>
  res
    .set('Content-Type', type)
    .set('Content-Security-Policy', CONTENT_SECURITY_POLICY)
    .set('X-Content-Type-Options', 'nosniff')
    .set('Cache-Control', 'no-store');

/** GET `/`: the page; a mount path without its trailing slash is redirected, so the page's relative URLs resolve under it. */
export const servePage: RequestHandler = (req, res) => {
  const [pathname, query] = req.originalUrl.split('?', 2) as [string, string | undefined];
  if (!pathname.endsWith('/')) return res.redirect(302, `${pathname}/${query === undefined ? '' : `?${query}`}`);
  secured(res, 'text/html; charset=utf-8').send(asset('index.html'));
};

/** GET `/assets/:name`. */
export const serveAsset: RequestHandler = (req, res, next) => {
  const name = String(req.params.name);
  const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
  if (!type) return next();
  secured(res, type).send(asset(name));
};
