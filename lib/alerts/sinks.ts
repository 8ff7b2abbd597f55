// Alert sinks: the onAlert callback and the webhook, both run off the request's path; failures go to warn.
import type { SpendAlert } from '../types';
import type { Warn } from '../warnings';
import { deliver, type WebhookConfig } from './webhook';

export interface AlertSinks {
  onAlert: ((alert: SpendAlert) => void | Promise<void>) | undefined;
  webhook: WebhookConfig | undefined;
}

/** Sends an alert to every sink and returns at once: nothing a sink does can delay or fail a request. */
export type SendAlert = (alert: SpendAlert) => void;

export function createAlertSender(sinks: AlertSinks, warn: Warn): SendAlert {
  const callbackFailed = (err: unknown) =>
    warn('TB_ALERT_CALLBACK_FAILED', `costMeter's onAlert failed: ${err instanceof Error ? err.message : String(err)}.`);
  return (alert) => {
    const { onAlert, webhook } = sinks;
    if (onAlert) {
      try {
        Promise.resolve(onAlert(alert)).catch(callbackFailed);
      } catch (err) {
        callbackFailed(err);
      }
    }
    if (webhook) {
      void deliver(webhook, alert).then((delivery) => {
        if (delivery.ok) return;
        // The origin only: a webhook's path often holds its secret.
        warn(
          'TB_ALERT_WEBHOOK_FAILED',
          `A ${alert.kind} alert could not be posted to ${webhook.url.origin} after ${delivery.attempts} attempt(s): ${delivery.reason}.`,
        );
      });
    }
  };
}
