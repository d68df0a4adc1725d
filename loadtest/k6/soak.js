// soak.js — a steady, moderate stream of buyers on a large sale for a
// bounded time. setup() opens a sale of STOCK units through the admin API;
// then RATE new users per second each buy once, read their order's status
// as its owner, and read the sale. Every REPEAT_EVERY-th buyer buys again
// and must get 409 already_purchased with the same order_no; every
// PAY_EVERY-th buyer pays and must get 200 paid. Fails on any 5xx, an
// unexpected answer, more 202s than STOCK, a p99 above P99_MS on purchases,
// payments, order reads or sale reads, or a sale that does not reconcile
// after the drain. With a PAYMENT_WINDOW shorter than SETTLE_SECONDS,
// teardown() also waits for the unpaid orders to expire and the summary
// checks that exactly those were cancelled and the paid ones kept.
//
//   BASE_URL, ADMIN_URL, ADMIN_TOKEN, JWT_SECRET, USER_BASE, P99_MS,
//   SETTLE_SECONDS, OUT_DIR   as in spike.js
//   STOCK         units of the sale setup() opens   1000000
//   RATE          new buyers per second             50
//   DURATION      how long                          2m
//   REPEAT_EVERY  every n-th buyer buys again       10 (0: never)
//   PAY_EVERY     every n-th buyer pays             2 (0: never)
//   PAYMENT_WINDOW  the sale's payment_window_seconds  3600
//   VUS / MAX_VUS pre-allocated / at most           20 / 200
//
// Each iteration is a distinct user (USER_BASE + iteration number), so
// without JWT_SECRET setup() fetches RATE x DURATION tokens from the admin
// API; JWT_SECRET avoids that.

import http from 'k6/http';
import { check, sleep } from 'k6';
import exec from 'k6/execution';
import {
  EXPECTED_STATUSES, SUMMARY_TREND_STATS, Tokens, baseThresholds, commonConfig, createSale, envInt, envStr,
  parseDuration, pay, purchase, readOrder, readSale, reconcile, settle, summarize,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

const cfg = commonConfig();
const STOCK = envInt('STOCK', 1000000);
const RATE = envInt('RATE', 50);
const DURATION = envStr('DURATION', '2m');
const REPEAT_EVERY = envInt('REPEAT_EVERY', 10);
const PAY_EVERY = envInt('PAY_EVERY', 2);
const PAYMENT_WINDOW = envInt('PAYMENT_WINDOW', 3600);
// The unpaid orders are waited for only when they expire within the
// settling time: the last buyer's window plus two sweeps.
const WAIT_EXPIRY = PAY_EVERY !== 1 && PAYMENT_WINDOW + 2 <= cfg.settleSeconds;
// constant-arrival-rate starts about RATE x DURATION iterations (one more
// at the very end); a second of margin keeps the token list long enough.
const USERS = Math.ceil(RATE * parseDuration(DURATION)) + RATE;

const thresholds = baseThresholds(cfg, STOCK);
thresholds['http_req_duration{name:order_status}'] = [`p(99)<${cfg.p99ms}`];
thresholds['http_req_duration{name:sale}'] = [`p(99)<${cfg.p99ms}`];
if (PAY_EVERY > 0) thresholds['http_req_duration{name:pay}'] = [`p(99)<${cfg.p99ms}`];

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
  teardownTimeout: `${2 * cfg.settleSeconds + 30}s`,
  batch: 50,
  batchPerHost: 50,
};

export function setup() {
  const hours = Math.max(2, Math.ceil(parseDuration(DURATION) / 3600) + 1);
  const sale = createSale(cfg, `k6 soak ${new Date().toISOString()}`, STOCK, hours, PAYMENT_WINDOW);
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
    if (PAY_EVERY > 0 && n % PAY_EVERY === 0) pay(cfg, token, r.orderNo);
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
  if (WAIT_EXPIRY) {
    // Every purchase has been answered: the last unpaid order is due one
    // window from now, and the sweep runs every second.
    settle(cfg, data.saleId, data.baseline);
    sleep(PAYMENT_WINDOW + 2);
  }
  settle(cfg, data.saleId, data.baseline);
}

// expiryCheck: once the windows have closed, the orders left are exactly
// the paid ones and every unpaid one was cancelled.
function expiryCheck(data) {
  const out = { lines: [], failed: 0 };
  if (!WAIT_EXPIRY || !data.metrics.persisted_during_run) return out;
  const get = (name, field) => (data.metrics[name] ? data.metrics[name].values[field] : 0);
  const acc = get('accepted', 'count');
  const payments = get('paid', 'count');
  const kept = get('persisted_during_run', 'value');
  const cancelled = get('cancelled_during_run', 'value');
  const ok = kept === payments && cancelled === acc - payments;
  if (!ok) out.failed++;
  out.lines.push(`  ${ok ? 'ok  ' : 'FAIL'} unpaid orders expired: paid ${payments}, kept ${kept}; ` +
    `unpaid ${acc - payments}, cancelled ${cancelled}`);
  return out;
}

export function handleSummary(data) {
  const s = data.setup_data || {};
  const header = `sale ${s.saleId} of ${STOCK} units, ${RATE} new buyers/s for ${DURATION}` +
    `${REPEAT_EVERY > 0 ? `, 1 in ${REPEAT_EVERY} buys twice` : ''}` +
    `${PAY_EVERY > 0 ? `, 1 in ${PAY_EVERY} pays` : ''}, payment window ${PAYMENT_WINDOW}s, ` +
    `tokens ${cfg.jwtSecret ? 'minted with JWT_SECRET' : 'from the admin API'}`;
  return summarize('soak', cfg, data, header, expiryCheck);
}
