// soldout.js — hammering a sale whose stock is gone. setup() opens a small
// sale through the admin API and buys it out with the first STOCK users;
// then a constant arrival rate of purchases runs for DURATION from a pool
// of USERS users (the buyers among them). Every answer must be 409:
// sold_out, or already_purchased with the buyer's own order_no. A single
// 202 after the buy-out fails the run, as do 5xx, an unexpected answer or a
// purchase p99 above P99_MS; after the drain the sale must reconcile with
// remaining 0 and STOCK orders persisted.
//
//   BASE_URL, ADMIN_URL, ADMIN_TOKEN, JWT_SECRET, USER_BASE, P99_MS,
//   SETTLE_SECONDS, OUT_DIR   as in spike.js
//   STOCK      units of the sale setup() opens   10
//   USERS      user pool, cycled                 1000 (at least STOCK+1)
//   RATE       purchases per second              200
//   DURATION   how long to hammer                20s
//   VUS / MAX_VUS  pre-allocated / at most       50 / 200
//
// With the api's default per-user limit (5 rps, burst 10) keep
// USERS / RATE above ~0.2 s, else 429s show up (counted in rate_limited,
// not failures).

import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';
import {
  EXPECTED_STATUSES, SUMMARY_TREND_STATS, Tokens, baseThresholds, commonConfig, createSale, envInt, envStr,
  parseDuration, purchase, reconcile, settle, summarize,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

const cfg = commonConfig();
const STOCK = envInt('STOCK', 10);
const USERS = Math.max(envInt('USERS', 1000), STOCK + 1);
const RATE = envInt('RATE', 200);
const DURATION = envStr('DURATION', '20s');
parseDuration(DURATION); // reject a malformed duration in the init context

const thresholds = baseThresholds(cfg, STOCK);
thresholds['accepted{phase:hammer}'] = ['count==0'];
thresholds.sold_out = ['count>0'];
thresholds.reconcile_remaining = ['value==0'];
thresholds.reconcile_persisted = [`value==${STOCK}`];

export const options = {
  scenarios: {
    soldout: {
      executor: 'constant-arrival-rate',
      rate: RATE,
      timeUnit: '1s',
      duration: DURATION,
      preAllocatedVUs: envInt('VUS', 50),
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

const tokens = new Tokens(cfg);

export function setup() {
  const sale = createSale(cfg, `k6 soldout ${new Date().toISOString()}`, STOCK, 2);
  const baseline = reconcile(cfg, sale.id);
  const tokenData = Tokens.prepare(cfg, cfg.userBase, USERS);
  const buyers = {};
  for (let i = 0; i < STOCK; i++) {
    const user = cfg.userBase + i;
    const r = purchase(cfg, sale.id, tokens.get(tokenData, user), { phase: 'buyout' });
    if (r.status !== 202) throw new Error(`buy-out: user ${user} got ${r.status} ${r.code}, want 202`);
    buyers[user] = r.orderNo;
  }
  return { saleId: sale.id, stock: STOCK, baseline, tokens: tokenData, buyers };
}

export default function (data) {
  const user = cfg.userBase + (exec.scenario.iterationInTest % USERS);
  const r = purchase(cfg, data.saleId, tokens.get(data.tokens, user), { phase: 'hammer' });
  if (r.code === 'already_purchased') {
    check(r, { 'soldout: already_purchased names the order the buyer got in setup': (x) => data.buyers[user] === x.orderNo });
  }
}

export function teardown(data) {
  settle(cfg, data.saleId, data.baseline);
}

export function handleSummary(data) {
  const s = data.setup_data || {};
  const header = `sale ${s.saleId} of ${STOCK} units bought out in setup, then ${RATE}/s for ${DURATION} ` +
    `from ${USERS} users (from ${cfg.userBase}), tokens ${cfg.jwtSecret ? 'minted with JWT_SECRET' : 'from the admin API'}`;
  return summarize('soldout', cfg, data, header);
}
