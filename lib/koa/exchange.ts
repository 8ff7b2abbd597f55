// The Koa adapter: a step as a Koa middleware, over an exchange made of `ctx`.
import type { Exchange } from '../exchange';
import type { BudgetRefusal } from '../refusal';
import { answerRefusal } from '../steps/respond';
import type { Step } from '../steps/step';
import { wrongFramework } from '../wrong-framework';
import type { KoaContext, KoaMiddleware, RejectHandler } from './types';
import './state';

/** One request as the steps see it on Koa. */
export function koaExchange(ctx: KoaContext): Exchange {
  return {
    request: ctx,
    get body(): unknown {
      return (ctx.request as { body?: unknown }).body;
    },
    req: ctx.req,
    res: ctx.res,
    get context() {
      return ctx.state.tokenBudget;
    },
    set context(context) {
      ctx.state.tokenBudget = context;
    },
    isJson: () => Boolean(ctx.is('json')),
    bodyParserHint: '@koa/bodyparser before it, e.g. app.use(bodyParser())',
    get headersSent() {
      return ctx.headerSent;
    },
    sendJson(status, headers, body) {
      ctx.status = status;
      ctx.set(headers);
      ctx.body = body;
    },
    takeOver() {
      // The step writes the node response itself: Koa must not answer it again.
      ctx.respond = false;
    },
    passOn(error) {
      throw error;
    },
    callOnReject: (onReject, refusal: BudgetRefusal) => (onReject as RejectHandler)(refusal, ctx),
  };
}

/** The step as a Koa middleware; mounted on Express (called with req, res, next), it says so instead of crashing. */
export function koaMiddleware(step: Step): KoaMiddleware {
  const middleware = async (ctx: KoaContext, next: () => Promise<unknown>): Promise<void> => {
    const exchange = koaExchange(ctx);
    try {
      await step.run(exchange);
    } catch (err) {
      return answerRefusal(err, exchange, step.answer);
    }
    if (!step.ends) await next();
  };
  return (ctx, next) => {
    if (typeof next !== 'function')
      throw wrongFramework('token-budget/koa', 'Express', "import { createTokenBudget } from 'token-budget'");
    return middleware(ctx, next);
  };
}
