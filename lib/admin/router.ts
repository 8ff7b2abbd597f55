// budget.adminRouter({ authorize }): the admin JSON API and the dashboard page, refused to anyone `authorize` does not let in.
import type { Request, RequestHandler, Response, Router } from 'express';
import type { BudgetConfig } from '../config';
import { checkFunction, checkOptionNames, fail, optionNames, positiveInteger } from '../options/check';
import type { FeatureFlags } from '../types';
import type { AdminRouterOptions, FlagAudit, PrincipalId, UserUsage } from '../types';
import { serveAsset, servePage } from './page';
import { alertsToday, flagList, hourlySpend, meterLimits, spendNow, topPrincipals, type ViewSources } from './view';

/** What the router reads beyond the view: a principal's usage of a named quota. */
export interface AdminSources extends ViewSources {
  usage(name: string, id: PrincipalId, tier: string | undefined): Promise<UserUsage>;
}

const DEFAULT_TOP = 10;
/** As `checkName`: flags share the feature names' rules. */
const FLAG_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function deny(res: Response, challenge: string | undefined): void {
  res.set('Cache-Control', 'no-store');
  if (challenge) {
    res
      .status(401)
      .set('WWW-Authenticate', challenge)
      .json({ error: { type: 'unauthorized', message: 'Sign in to see this.' } });
  } else res.status(403).json({ error: { type: 'forbidden', message: 'You may not see this.' } });
}

const logFlagChange = (change: FlagAudit) =>
  console.info(
    `token-budget admin: flag ${change.flag} switched ${change.to ? 'on' : 'off'} (was ${change.from === undefined ? 'unset' : change.from ? 'on' : 'off'}) by ${change.by} at ${change.at}`,
  );

const ADMIN_ROUTER_OPTION_NAMES = optionNames<AdminRouterOptions>({
  authorize: true,
  challenge: true,
  actor: true,
  onFlagChange: true,
  maxTopPrincipals: true,
});

/** Reads `budget.adminRouter(options)`: `authorize` is required, everything else has a default. */
function readAdminOptions(options: AdminRouterOptions) {
  if (typeof options !== 'object' || options === null || typeof options.authorize !== 'function') {
    fail(
      'TB_INVALID_OPTION',
      'adminRouter needs { authorize: req => boolean }: who may see spend and switch flags is the app’s decision; nothing is open by default.',
    );
  }
  checkOptionNames(options, ADMIN_ROUTER_OPTION_NAMES, 'adminRouter');
  const { challenge } = options;
  if (challenge !== undefined && (typeof challenge !== 'string' || /[\r\n]/.test(challenge) || challenge === '')) {
    fail('TB_INVALID_OPTION', `adminRouter.challenge must be a WWW-Authenticate value; got ${JSON.stringify(challenge)}.`);
  }
  return {
    authorize: options.authorize,
    challenge,
    actor: checkFunction(options.actor, 'adminRouter.actor') ?? ((req: Request) => req.ip),
    onFlagChange: checkFunction(options.onFlagChange, 'adminRouter.onFlagChange') ?? logFlagChange,
    maxTop:
      options.maxTopPrincipals === undefined ? 100 : positiveInteger(options.maxTopPrincipals, 'adminRouter.maxTopPrincipals'),
  };
}

/** An async JSON handler: its answer is sent uncached; a failure reaches the app's error handler. */
const answer =
  (handler: (req: Request, res: Response) => Promise<unknown>): RequestHandler =>
  (req, res, next) => {
    handler(req, res).then((body) => {
      if (body !== undefined) res.set('Cache-Control', 'no-store').json(body);
    }, next);
  };

async function switchFlag(
  flags: FeatureFlags,
  req: Request,
  res: Response,
  audit: (change: FlagAudit) => void,
  actor: (req: Request) => string | undefined,
) {
  const on = (req.body as { on?: unknown } | undefined)?.on;
  if (typeof on !== 'boolean') {
    res.status(400).json({ error: { type: 'invalid_request', message: 'Send a JSON body { "on": true } or { "on": false }.' } });
    return undefined;
  }
  const flag = String(req.params.name);
  if (!FLAG_NAME.test(flag)) {
    res.status(400).json({ error: { type: 'invalid_request', message: 'A flag name is 1–64 letters, digits, _, . or -.' } });
    return undefined;
  }
  const from = await flags.get(flag);
  await flags.set(flag, on);
  audit({ flag, from, to: on, by: actor(req) ?? 'unknown', at: new Date().toISOString() });
  return { name: flag, on, was: from };
}

/** Builds the router: every request is authorized first, then answered from the store's rankings, flags and meters. */
export function createAdminRouter(config: BudgetConfig, sources: AdminSources, options: AdminRouterOptions): Router {
  const { authorize, challenge, actor, onFlagChange, maxTop } = readAdminOptions(options);
  const audit = (change: FlagAudit) => {
    try {
      onFlagChange(change);
    } catch (err) {
      config.warn('TB_ADMIN_AUDIT_FAILED', `adminRouter's onFlagChange threw: ${String(err)}.`);
    }
  };
  const limitOf = (req: Request) => {
    const asked = Number(req.query.limit ?? DEFAULT_TOP);
    return Number.isSafeInteger(asked) && asked > 0 ? Math.min(asked, maxTop) : DEFAULT_TOP;
  };

  // Express (a peer dependency) is loaded when an app builds the router, not by require('token-budget').
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Router: newRouter, json } = require('express') as typeof import('express');
  const router = newRouter();
  router.use((req, res, next) => {
    Promise.resolve()
      .then(() => authorize(req))
      .then(
        (allowed) => (allowed === true ? next() : deny(res, challenge)),
        (err: unknown) => {
          config.warn('TB_ADMIN_AUTHORIZE_FAILED', `adminRouter's authorize failed, so the request was refused: ${String(err)}.`);
          deny(res, challenge);
        },
      );
  });
  router.get('/', servePage);
  router.get('/assets/:name', serveAsset);
  router.get(
    '/api/overview',
    answer(async (req) => {
      const [spend, hourly, top, flags, alerts] = await Promise.all([
        spendNow(sources),
        hourlySpend(sources),
        topPrincipals(sources, limitOf(req)),
        flagList(sources),
        alertsToday(sources),
      ]);
      return { spend, hourly, top, flags, alerts, ...meterLimits(sources) };
    }),
  );
  router.get(
    '/api/spend',
    answer(() => spendNow(sources)),
  );
  router.get(
    '/api/spend/hourly',
    answer(() => hourlySpend(sources)),
  );
  router.get(
    '/api/principals/top',
    answer((req) => topPrincipals(sources, limitOf(req))),
  );
  router.get(
    '/api/quotas/:name/:id',
    answer(async (req, res) => {
      const tier = typeof req.query.tier === 'string' ? req.query.tier : undefined;
      try {
        return await sources.usage(String(req.params.name), String(req.params.id), tier);
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'TB_INVALID_OPTION') throw err;
        res.status(404).json({ error: { type: 'not_found', message: `No quota named ${JSON.stringify(req.params.name)}.` } });
        return undefined;
      }
    }),
  );
  router.get(
    '/api/flags',
    answer(() => flagList(sources)),
  );
  router.post(
    '/api/flags/:name',
    json({ limit: '1kb' }),
    answer((req, res) => switchFlag(sources.flags, req, res, audit, actor)),
  );
  router.get(
    '/api/alerts',
    answer(() => alertsToday(sources)),
  );
  router.get('/api/meters', (_req, res) => {
    res.set('Cache-Control', 'no-store').json(meterLimits(sources));
  });
  return router;
}
