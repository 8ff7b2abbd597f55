// The Express adapter: a step as an Express middleware, over an exchange made of `req`, `res` and `next`.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Exchange } from '../exchange';
import type { BudgetRefusal } from '../refusal';
import { answerRefusal } from '../steps/respond';
import type { Step } from '../steps/step';
import { wrongFramework } from '../wrong-framework';
import type { RejectHandler } from './types';

/** One request as the steps see it on Express. */
export function expressExchange(req: Request, res: Response, next: NextFunction): Exchange {
  return {
    request: req,
    get body(): unknown {
      return req.body;
    },
    req,
    res,
    get context() {
      return req.tokenBudget;
    },
    set context(context) {
      req.tokenBudget = context;
    },
    isJson: () => Boolean(req.is('json')),
    bodyParserHint: "express.json() before it, e.g. app.use(express.json({ limit: '1mb' }))",
    get headersSent() {
      return res.headersSent;
    },
    sendJson(status, headers, body) {
      res.status(status).set(headers).json(body);
    },
    takeOver() {},
    passOn: next,
    callOnReject: (onReject, refusal: BudgetRefusal) => (onReject as RejectHandler)(refusal, req, res, next),
  };
}

/** Koa calls a middleware with (ctx, next): an Express middleware mounted there must say so, not crash. */
function isKoaCall(res: unknown): boolean {
  return typeof res === 'function';
}

/** The step as an Express middleware: sync steps stay sync, and a rejected promise reaches next() on Express 4 too. */
export function expressMiddleware(step: Step): RequestHandler {
  return (req, res, next) => {
    if (isKoaCall(res)) throw wrongFramework('token-budget', 'Koa', "import { createTokenBudget } from 'token-budget/koa'");
    const exchange = expressExchange(req, res, next);
    const failed = (err: unknown) => void answerRefusal(err, exchange, step.answer);
    let running: void | Promise<void>;
    try {
      running = step.run(exchange);
    } catch (err) {
      return failed(err);
    }
    if (!running) return step.ends ? undefined : next();
    running.then(() => (step.ends ? undefined : next()), failed).catch(next);
  };
}
