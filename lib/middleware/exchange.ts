// The Express adapter: a step as an Express middleware, over an exchange made of `req`, `res` and `next`.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { BudgetContext } from '../context';
import type { Exchange } from '../exchange';
import type { BudgetRefusal } from '../refusal';
import { answerRefusal } from '../steps/respond';
import type { Step } from '../steps/step';
import { wrongFramework } from '../wrong-framework';
import type { RejectHandler } from './types';

/**
 * One request as the steps see it on Express. A class, not an object literal: each
 * middleware of a route makes one per request, and its methods then live once on the
 * prototype instead of as new closures every time.
 */
class ExpressExchange implements Exchange {
  constructor(
    readonly req: Request,
    readonly res: Response,
    private readonly next: NextFunction,
  ) {}

  get request(): unknown {
    return this.req;
  }

  get body(): unknown {
    return this.req.body;
  }

  get context(): BudgetContext | undefined {
    return this.req.tokenBudget;
  }

  set context(context: BudgetContext | undefined) {
    this.req.tokenBudget = context;
  }

  isJson(): boolean {
    return Boolean(this.req.is('json'));
  }

  get bodyParserHint(): string {
    return "express.json() before it, e.g. app.use(express.json({ limit: '1mb' }))";
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  sendJson(status: number, headers: Record<string, string>, body: unknown): void {
    this.res.status(status).set(headers).json(body);
  }

  takeOver(): void {}

  passOn(error: unknown): void {
    this.next(error);
  }

  callOnReject(onReject: unknown, refusal: BudgetRefusal): unknown {
    return (onReject as RejectHandler)(refusal, this.req, this.res, this.next);
  }
}

/** One request as the steps see it on Express. */
export function expressExchange(req: Request, res: Response, next: NextFunction): Exchange {
  return new ExpressExchange(req, res, next);
}

/** Koa calls a middleware with (ctx, next): an Express middleware mounted there must say so, not crash. */
function isKoaCall(res: unknown): boolean {
  return typeof res === 'function';
}

/** The step as an Express middleware: sync steps stay sync, and a rejected promise reaches next() on Express 4 too. */
export function expressMiddleware(step: Step): RequestHandler {
  return (req, res, next) => {
    if (isKoaCall(res)) throw wrongFramework('token-budget', 'Koa', "import { createTokenBudget } from 'token-budget/koa'");
    const exchange = new ExpressExchange(req, res, next);
    let running: void | Promise<void>;
    try {
      running = step.run(exchange);
    } catch (err) {
      return void answerRefusal(err, exchange, step.answer);
    }
    if (!running) return step.ends ? undefined : next();
    running
      .then(step.ends ? undefined : () => next(), (err: unknown) => void answerRefusal(err, exchange, step.answer))
      .catch(next);
  };
}
