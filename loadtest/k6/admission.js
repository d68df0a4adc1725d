// admission.js — a flash sale behind a waiting room and a proof of work.
// setup() opens a sale of STOCK units with admission { rate_per_second:
// RATE, pow_bits: POW_BITS }; then USERS distinct buyers, VUS at a time,
// each walk the door as a browser would: POST .../challenge, find the
// nonce whose SHA-256(challenge + ":" + nonce) begins with POW_BITS zero
// bits, POST .../admission with it, and while the answer is 202 sleep
// retry_after_ms and ask again with the queue_token; with the ticket (200)
// they buy once, sending it in X-Admission-Ticket. A buyer told 409
// sold_out at the door goes home.
//
// Passes when no more 202s than STOCK came back, the door refused no one
// (no 403: every proof and every ticket was good), nothing answered 5xx,
// every answer matched the documented contract, the purchase p99 stayed
// under P99_MS and, after the queue drained, the sale reconciles. The
// rate itself (tickets no faster than RATE a second) is checked by
// `go run ./loadtest/cmd/spike -admission`, which records every ticket's
// time; here admission_tickets over the run's duration shows it roughly.
//
//   BASE_URL, ADMIN_URL, ADMIN_TOKEN, JWT_SECRET, USER_BASE, P99_MS,
//   TOKEN_TTL, SETTLE_SECONDS, OUT_DIR   as in spike.js
//   STOCK         units of the sale setup() opens        100
//   RATE          buyers let in per second (0: no room)  50
//   POW_BITS      proof-of-work bits (0: none, max 26)   10
//   USERS         distinct buyers, one iteration each   300
//   VUS           buyers at the door at once (cap)       min(USERS, 300)
//   MAX_DURATION  bound on the whole run                 2m
//
// Run it against a local api (go run ./cmd/api, embedded mode):
//
//   k6 run -e JWT_SECRET=$SECKILL_JWT_SECRET loadtest/k6/admission.js
//   k6 run -e USERS=1000 -e VUS=500 -e STOCK=300 -e RATE=100 -e POW_BITS=12 loadtest/k6/admission.js
//
// Without JWT_SECRET, setup() fetches the tokens from POST /admin/v1/tokens.
// Each proof costs 2^POW_BITS SHA-256 on average in k6's JavaScript, so
// keep POW_BITS low (≤ 14) or VUs few; the api's per-user limit applies to
// the polls too, which honour retry_after_ms and so stay well under it.

import http from 'k6/http';
import { check, sleep } from 'k6';
import crypto from 'k6/crypto';
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import {
  EXPECTED_STATUSES, SUMMARY_TREND_STATS, Tokens, baseThresholds, commonConfig, createSale, envInt, envStr,
  otherResponses, purchase, rateLimited, reconcile, serverErrors, settle, summarize,
} from './lib.js';

http.setResponseCallback(http.expectedStatuses(...EXPECTED_STATUSES));

const cfg = commonConfig();
const STOCK = envInt('STOCK', 100);
const RATE = envInt('RATE', 50);
const POW_BITS = envInt('POW_BITS', 10);
const USERS = envInt('USERS', 300);
const VUS = Math.max(1, Math.min(USERS, envInt('VUS', 300)));
if (RATE < 0 || POW_BITS < 0 || POW_BITS > 26 || (RATE === 0 && POW_BITS === 0)) {
  throw new Error(`RATE=${RATE} POW_BITS=${POW_BITS}: a sale with admission needs RATE > 0 or 0 < POW_BITS <= 26`);
}

// What the door did.
const challenges = new Counter('admission_challenges'); // 200 from .../challenge
const proofs = new Counter('admission_proofs'); // nonces found
const joins = new Counter('admission_joins'); // joins answered 200 or 202
const polls = new Counter('admission_polls'); // asks again with a queue_token
const tickets = new Counter('admission_tickets'); // 200 with a ticket
const doorSoldOut = new Counter('admission_sold_out'); // 409 sold_out at the door
const doorRefused = new Counter('admission_refused'); // 403 at the door, tagged with its code
const solveTime = new Trend('admission_solve', true); // wall time finding one nonce, in this VU
const inRoom = new Trend('admission_in_room', true); // from the join to the ticket

const thresholds = baseThresholds(cfg, STOCK);
thresholds.admission_refused = ['count==0'];
thresholds.admission_tickets = ['count>0'];
thresholds.reconcile_persisted = [`value<=${STOCK}`];

export const options = {
  scenarios: {
    admission: {
      executor: 'shared-iterations',
      vus: VUS,
      iterations: USERS,
      maxDuration: envStr('MAX_DURATION', '2m'),
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
  const admission = { rate_per_second: RATE, pow_bits: POW_BITS };
  const sale = createSale(cfg, `k6 admission ${new Date().toISOString()}`, STOCK, 2, 3600, admission);
  const baseline = reconcile(cfg, sale.id);
  return { saleId: sale.id, stock: STOCK, admission, baseline, tokens: Tokens.prepare(cfg, cfg.userBase, USERS) };
}

// hasZeroBits tells whether a hex digest begins with bits zero bits.
function hasZeroBits(hex, bits) {
  let i = 0;
  for (; bits >= 4; bits -= 4, i++) {
    if (hex.charCodeAt(i) !== 48) return false; // '0'
  }
  return bits === 0 || parseInt(hex[i], 16) >> (4 - bits) === 0;
}

// solve finds the smallest decimal nonce proving bits of work on challenge.
function solve(challenge, bits) {
  for (let n = 0; ; n++) {
    if (hasZeroBits(crypto.sha256(`${challenge}:${n}`, 'hex'), bits)) return String(n);
  }
}

function post(saleId, path, token, body, name) {
  const res = http.post(`${cfg.baseUrl}/api/v1/sales/${saleId}${path}`, JSON.stringify(body), {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    tags: { name },
  });
  let b = null;
  try {
    b = res.json();
  } catch (e) {
    b = null;
  }
  return { res, b };
}

// turnedAway counts an answer of the door that is not a ticket or a place.
function turnedAway(r, name) {
  const code = r.b && r.b.error ? r.b.error.code : '';
  if (r.res.status === 409 && code === 'sold_out') doorSoldOut.add(1);
  else if (r.res.status === 403) doorRefused.add(1, { code });
  else if (r.res.status === 429) rateLimited.add(1, { name });
  else if (r.res.status >= 500) serverErrors.add(1, { status: String(r.res.status), name });
  else otherResponses.add(1, { status: String(r.res.status), code, name });
}

export default function (data) {
  const user = cfg.userBase + exec.scenario.iterationInTest;
  const token = tokens.get(data.tokens, user);
  let body = {};
  if (data.admission.pow_bits > 0) {
    const c = post(data.saleId, '/challenge', token, {}, 'challenge');
    if (c.res.status !== 200) {
      turnedAway(c, 'challenge');
      return;
    }
    challenges.add(1);
    check(c.res, {
      'challenge 200: challenge, bits and expires_at': () =>
        c.b !== null && typeof c.b.challenge === 'string' && c.b.bits === data.admission.pow_bits && !!c.b.expires_at,
    });
    const t0 = Date.now();
    const nonce = solve(c.b.challenge, c.b.bits);
    solveTime.add(Date.now() - t0);
    proofs.add(1);
    body = { challenge: c.b.challenge, nonce };
  }
  const joinedAt = Date.now();
  let r = post(data.saleId, '/admission', token, body, 'admission');
  if (r.res.status === 200 || r.res.status === 202) joins.add(1);
  while (r.res.status === 202) {
    check(r.res, {
      'admission 202: place, retry_after_ms, queue_token and Retry-After': () =>
        r.b !== null && r.b.position > 0 && r.b.ahead >= 0 && r.b.retry_after_ms > 0 &&
        typeof r.b.queue_token === 'string' && /^\d+$/.test(r.res.headers['Retry-After'] || ''),
    });
    sleep(r.b.retry_after_ms / 1000);
    polls.add(1);
    r = post(data.saleId, '/admission', token, { queue_token: r.b.queue_token }, 'admission_poll');
  }
  if (r.res.status !== 200) {
    turnedAway(r, 'admission');
    return;
  }
  check(r.res, {
    'admission 200: ticket and expires_at': () => r.b !== null && typeof r.b.ticket === 'string' && !!r.b.expires_at,
  });
  tickets.add(1);
  inRoom.add(Date.now() - joinedAt);
  purchase(cfg, data.saleId, token, { phase: 'ticket' }, r.b.ticket);
}

export function teardown(data) {
  settle(cfg, data.saleId, data.baseline);
}

function count(data, name) {
  const m = data.metrics[name];
  return m && m.values && m.values.count !== undefined ? m.values.count : 0;
}

function trend(data, name) {
  const m = data.metrics[name];
  if (!m) return '-';
  const f = (v) => (v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(1)}ms`);
  return `med=${f(m.values.med)} p(99)=${f(m.values['p(99)'])} max=${f(m.values.max)}`;
}

export function handleSummary(data) {
  const s = data.setup_data || {};
  const header = `sale ${s.saleId} of ${STOCK} units, rate_per_second ${RATE}, pow_bits ${POW_BITS}; ` +
    `${USERS} buyers (from ${cfg.userBase}), ${VUS} at once, tokens ` +
    `${cfg.jwtSecret ? 'minted with JWT_SECRET' : 'from the admin API'}`;
  return summarize('admission', cfg, data, header, (d) => ({
    lines: [
      `  door: challenges ${count(d, 'admission_challenges')}, proofs ${count(d, 'admission_proofs')} ` +
        `(solve ${trend(d, 'admission_solve')}), joins ${count(d, 'admission_joins')}, ` +
        `polls ${count(d, 'admission_polls')}, tickets ${count(d, 'admission_tickets')}, ` +
        `409 sold_out ${count(d, 'admission_sold_out')}, 403 refused ${count(d, 'admission_refused')}`,
      `  time in the room: ${trend(d, 'admission_in_room')}`,
    ],
    failed: 0,
  }));
}
