// soak.js — a steady, moderate stream of buyers on a large sale for a
// bounded time. setup() opens a sale of STOCK units through the admin API;
// then RATE new users per second each buy once, read their order's status
// as its owner, and read the sale. Every REPEAT_EVERY-th buyer buys again
// and must get 409 already_purchased with the same order_no. Fails on any
// 5xx, an unexpected answer, more 202s than STOCK, a p99 above P99_MS on
// purchases, order reads or sale reads, or a sale that does not reconcile
// after the drain.
//
//   BASE_URL, ADMIN_URL, ADMIN_TOKEN, JWT_SECRET, USER_BASE, P99_MS,
//   SETTLE_SECONDS, OUT_DIR   as in spike.js
//   STOCK         units of the sale setup() opens   1000000
//   RATE          new buyers per second             50
//   DURATION      how long                          2m
//   REPEAT_EVERY  every n-th buyer buys again       10 (0: never)
//   VUS / MAX_VUS pre-allocated / at most           20 / 200
//
// Each iteration is a distinct user (USER_BASE + iteration number), so
// without JWT_SECRET setup() fetches RATE x DURATION tokens from the admin
// API; JWT_SECRET avoids that.

import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import {
  EXPECTED_STATUSES, SUMMARY_TREND_STATS, Tokens, baseThresholds, commonConfig, createSale, envInt, envStr,
  parseDuration, purchase, readOrder, readSale, reconcile, settle, summarize,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

const cfg = commonConfig();
const STOCK = envInt('STOCK', 1000000);
const RATE = envInt('RATE', 50);
const DURATION = envStr('DURATION', '2m');
const REPEAT_EVERY = envInt('REPEAT_EVERY', 10);
// constant-arrival-rate starts about RATE x DURATION iterations (one more
// at the very end); a second of margin keeps the token list long enough.
const USERS = Math.ceil(RATE * parseDuration(DURATION)) + RATE;

const thresholds = baseThresholds(cfg, STOCK);
thresholds['http_req_duration{name:order_status}'] = [`p(99)<${cfg.p99ms}`];
thresholds['http_req_duration{name:sale}'] = [`p(99)<${cfg.p99ms}`];

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: envInt('VUS', 20),
      maxVUs: envInt('MAX_VUS', 200),
    },
  },
  thresholds,
  summaryTrendStats: SUMMARY_TREND_STATS,
  setupTimeout: '5m',
  teardownTimeout: `${cfg.settleSeconds + 30}s`,
  batch: 50,
  batchPerHost: 50,
};

export function setup() {
  const hours = Math.max(2, Math.ceil(parseDuration(DURATION) / 3600) + 1);
  const sale = createSale(cfg, `k6 soak ${new Date().toISOString()}`, STOCK, hours);
  return {
    saleId: sale.id,
    stock: STOCK,
    baseline: reconcile(cfg, sale.id),
    tokens: Tokens.prepare(cfg, cfg.userBase, USERS),
  };
}

const tokens = new Tokens(cfg);

export default function (data) {
  const n = exec.scenario.iterationInTest;
  const user = cfg.userBase + n;
  const token = tokens.get(data.tokens, user);
  const r = purchase(cfg, data.saleId, token);
  if (r.status === 202) {
    readOrder(cfg, token, r.orderNo, data.saleId, user);
    if (REPEAT_EVERY > 0 && n % REPEAT_EVERY === 0) {
      const again = purchase(cfg, data.saleId, token, { repeat: 'yes' });
      check(again, {
        'soak: a second purchase is already_purchased with the same order_no': (x) =>
          x.code === 'already_purchased' && x.orderNo === r.orderNo,
      });
    }
  }
  readSale(cfg, data.saleId);
}

export function teardown(data) {
  settle(cfg, data.saleId, data.baseline);
}

export function handleSummary(data) {
  const s = data.setup_data || {};
  const header = `sale ${s.saleId} of ${STOCK} units, ${RATE} new buyers/s for ${DURATION}` +
    `${REPEAT_EVERY > 0 ? `, every ${REPEAT_EVERY}th buys twice` : ''}, ` +
    `tokens ${cfg.jwtSecret ? 'minted with JWT_SECRET' : 'from the admin API'}`;
  return summarize('soak', cfg, data, header);
}
