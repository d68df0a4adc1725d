// Shared pieces of the seckill k6 scripts (spike.js, soldout.js, soak.js,
// admission.js):
// configuration from the environment, user tokens, one purchase with checks
// on every documented answer, order and sale reads, admin calls, the
// teardown that waits for the queue to drain, and the end-of-test summary.
//
// Everything here that creates a metric runs in the init context, because
// k6 only allows custom metrics to be declared there.

import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Gauge } from 'k6/metrics';
import crypto from 'k6/crypto';
import encoding from 'k6/encoding';

// ---------------------------------------------------------------- metrics

// Purchase outcomes. A 409 sold_out is a correct answer of a flash sale,
// not a failure; these counters tell the outcomes apart.
export const accepted = new Counter('accepted'); // 202
export const soldOut = new Counter('sold_out'); // 409 sold_out
export const alreadyPurchased = new Counter('already_purchased'); // 409 already_purchased
export const rateLimited = new Counter('rate_limited'); // 429
export const serverErrors = new Counter('server_errors'); // any 5xx on any request
// Documented answers that must not occur in these runs (401, 403, 404, 400,
// 413) and transport failures (status 0), tagged with status and code.
export const otherResponses = new Counter('other_responses');

// Written once by teardown() from GET /admin/v1/sales/{id}/reconcile.
export const reconcileConsistent = new Gauge('reconcile_consistent'); // 1 or 0
export const reconcileInFlight = new Gauge('reconcile_in_flight');
export const reconcilePersisted = new Gauge('reconcile_persisted');
export const reconcileRemaining = new Gauge('reconcile_remaining');
export const reconcileCancelled = new Gauge('reconcile_cancelled');
// Orders persisted during the run: persisted at the end minus at setup;
// cancelled during the run likewise (unpaid orders expired).
export const persistedDuringRun = new Gauge('persisted_during_run');
export const cancelledDuringRun = new Gauge('cancelled_during_run');
// Orders paid (200 paid from POST /api/v1/orders/{order_no}/pay).
export const paid = new Counter('paid');

// Statuses that are a normal answer under load: sale reads and order reads
// (200), sale creation (201), accepted (202), sold out or already purchased
// (409) and rate limited (429). Everything else counts in http_req_failed.
export const EXPECTED_STATUSES = [200, 201, 202, 409, 429];

// ----------------------------------------------------------------- config

export function envStr(name, def) {
  const v = __ENV[name];
  return v === undefined || v === '' ? def : v;
}

export function envInt(name, def) {
  const v = envStr(name, '');
  if (v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${name}=${v}: not an integer`);
  return n;
}

// parseDuration reads k6-style durations: 90s, 2m, 1m30s, 1h, 500ms.
export function parseDuration(s) {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let total = 0;
  let matched = '';
  let m;
  while ((m = re.exec(s)) !== null) {
    const n = Number(m[1]);
    total += m[2] === 'ms' ? n / 1000 : m[2] === 's' ? n : m[2] === 'm' ? n * 60 : n * 3600;
    matched += m[0];
  }
  if (matched !== s || total <= 0) throw new Error(`duration ${s}: use e.g. 90s, 2m, 1m30s`);
  return total;
}

// commonConfig is what every script reads from the environment.
export function commonConfig() {
  return {
    baseUrl: envStr('BASE_URL', 'http://127.0.0.1:8080').replace(/\/+$/, ''),
    adminUrl: envStr('ADMIN_URL', 'http://127.0.0.1:9090').replace(/\/+$/, ''),
    adminToken: envStr('ADMIN_TOKEN', ''),
    jwtSecret: envStr('JWT_SECRET', ''),
    tokenTTL: envInt('TOKEN_TTL', 3600),
    userBase: envInt('USER_BASE', 1),
    p99ms: envInt('P99_MS', 1000),
    settleSeconds: envInt('SETTLE_SECONDS', 30),
    outDir: envStr('OUT_DIR', '.').replace(/\/+$/, ''),
  };
}

// baseThresholds: any 5xx, any failed check, any unexpected documented
// answer or a purchase p99 above P99_MS fails the run; so does a
// reconciliation that is inconsistent or still has reservations in flight
// after the drain wait. stock, when known in the init context, bounds the
// number of 202s.
export function baseThresholds(cfg, stock) {
  const t = {
    server_errors: ['count==0'],
    other_responses: ['count==0'],
    checks: ['rate==1'],
    'http_req_duration{name:purchase}': [`p(99)<${cfg.p99ms}`],
    reconcile_consistent: ['value==1'],
    reconcile_in_flight: ['value==0'],
  };
  if (stock !== null && stock !== undefined) t.accepted = [`count<=${stock}`];
  return t;
}

export const SUMMARY_TREND_STATS = ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max', 'count'];

// ----------------------------------------------------------------- tokens

const JWT_HEADER = encoding.b64encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' }), 'rawurl');

// mintToken signs a user token like the api's own: HS256, sub the decimal
// user id, exp required.
export function mintToken(secret, userId, ttlSeconds) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: String(userId), iat: now, exp: now + ttlSeconds };
  const input = `${JWT_HEADER}.${encoding.b64encode(JSON.stringify(claims), 'rawurl')}`;
  const mac = crypto.hmac('sha256', secret, input, 'binary');
  return `${input}.${encoding.b64encode(mac, 'rawurl')}`;
}

export function adminParams(cfg, name) {
  const headers = { 'Content-Type': 'application/json' };
  if (cfg.adminToken) headers.Authorization = `Bearer ${cfg.adminToken}`;
  return { headers, tags: { name } };
}

const TOKEN_CHUNK = 200;

// fetchTokens asks POST /admin/v1/tokens for users firstUser..firstUser+count-1,
// in parallel chunks. Only used when JWT_SECRET is not given.
export function fetchTokens(cfg, firstUser, count) {
  const tokens = new Array(count);
  for (let i = 0; i < count; i += TOKEN_CHUNK) {
    const reqs = [];
    for (let j = i; j < Math.min(count, i + TOKEN_CHUNK); j++) {
      reqs.push({
        method: 'POST',
        url: `${cfg.adminUrl}/admin/v1/tokens`,
        body: JSON.stringify({ user_id: firstUser + j, ttl_seconds: cfg.tokenTTL }),
        params: adminParams(cfg, 'admin_token'),
      });
    }
    const res = http.batch(reqs);
    for (let k = 0; k < res.length; k++) {
      const r = res[k];
      if (r.status !== 200) {
        throw new Error(`POST /admin/v1/tokens for user ${firstUser + i + k}: ${r.status} ${r.body}`);
      }
      tokens[i + k] = r.json('token');
    }
  }
  return tokens;
}

// Tokens is a VU's view of user tokens: minted on demand with JWT_SECRET,
// else taken from the list setup() fetched.
export class Tokens {
  constructor(cfg) {
    this.cfg = cfg;
    this.cache = new Map();
  }

  // prepare runs in setup(): with no JWT_SECRET it fetches count tokens.
  static prepare(cfg, firstUser, count) {
    if (cfg.jwtSecret) return { firstUser, count, list: null };
    return { firstUser, count, list: fetchTokens(cfg, firstUser, count) };
  }

  get(data, userId) {
    if (!this.cfg.jwtSecret) {
      const t = data.list[userId - data.firstUser];
      if (!t) throw new Error(`no token for user ${userId}; setup fetched ${data.count} from ${data.firstUser}`);
      return t;
    }
    let t = this.cache.get(userId);
    if (!t) {
      t = mintToken(this.cfg.jwtSecret, userId, this.cfg.tokenTTL);
      this.cache.set(userId, t);
    }
    return t;
  }
}

// --------------------------------------------------------------- requests

function jsonBody(res) {
  try {
    return res.json();
  } catch (e) {
    return null;
  }
}

function errorCode(b) {
  if (b && b.error && typeof b.error.code === 'string' && typeof b.error.message === 'string') {
    return b.error.code;
  }
  return '';
}

function heldOrderNo(b) {
  if (!b) return '';
  return b.order_no || (b.error && b.error.order_no) || '';
}

// Error codes a purchase may answer with, per status (api/openapi.yaml).
const PURCHASE_ERRORS = {
  400: ['invalid_request'],
  401: ['unauthorized'],
  403: ['sale_not_started', 'sale_ended', 'admission_required', 'admission_invalid'],
  404: ['sale_not_found'],
  409: ['sold_out', 'already_purchased'],
  413: ['payload_too_large'],
  429: ['rate_limited'],
  503: ['unavailable'],
};

function countServerError(res, tags) {
  if (res.status >= 500) serverErrors.add(1, Object.assign({ status: String(res.status) }, tags));
}

// purchase sends POST /api/v1/sales/{id}/orders with no body (and the
// admission ticket in X-Admission-Ticket when one is given), checks the
// answer against the documented contract, counts the outcome and returns
// { status, code, orderNo }.
export function purchase(cfg, saleId, token, tags, ticket) {
  const t = Object.assign({ name: 'purchase' }, tags || {});
  const headers = { Authorization: `Bearer ${token}` };
  if (ticket) headers['X-Admission-Ticket'] = ticket;
  const res = http.post(`${cfg.baseUrl}/api/v1/sales/${saleId}/orders`, null, { headers, tags: t });
  const b = jsonBody(res);
  const code = errorCode(b);
  const ct = tags || {};
  countServerError(res, ct);

  if (res.status === 202) {
    accepted.add(1, ct);
    check(res, {
      'purchase 202: order_no and status pending': () =>
        b !== null && typeof b.order_no === 'string' && b.order_no.length > 0 && b.status === 'pending',
    }, t);
    return { status: 202, code: '', orderNo: b && b.order_no };
  }

  const known = PURCHASE_ERRORS[res.status];
  if (!known) {
    otherResponses.add(1, Object.assign({ status: String(res.status), code }, ct));
    check(res, { 'purchase: documented status': () => false }, t);
    return { status: res.status, code, orderNo: '' };
  }
  const checks = {};
  checks[`purchase ${res.status}: error body with a documented code`] = () => known.includes(code);
  if (res.status === 409 && code === 'already_purchased') {
    checks['purchase 409 already_purchased: carries the held order_no'] = () => heldOrderNo(b) !== '';
  }
  if (res.status === 429) {
    checks['purchase 429: Retry-After in whole seconds'] = () => /^\d+$/.test(res.headers['Retry-After'] || '');
  }
  check(res, checks, t);

  if (code === 'sold_out') soldOut.add(1, ct);
  else if (code === 'already_purchased') alreadyPurchased.add(1, ct);
  else if (res.status === 429) rateLimited.add(1, ct);
  else if (res.status !== 503) otherResponses.add(1, Object.assign({ status: String(res.status), code }, ct));
  return { status: res.status, code, orderNo: heldOrderNo(b) };
}

const ORDER_STATUSES = ['pending', 'created', 'paid', 'cancelled'];
const SALE_STATUSES = ['upcoming', 'active', 'sold_out', 'ended'];

// readOrder fetches GET /api/v1/orders/{order_no} as its owner and checks it.
export function readOrder(cfg, token, orderNo, saleId, userId) {
  const res = http.get(`${cfg.baseUrl}/api/v1/orders/${orderNo}`, {
    headers: { Authorization: `Bearer ${token}` },
    tags: { name: 'order_status' },
  });
  countServerError(res, {});
  const b = jsonBody(res);
  if (res.status !== 200) otherResponses.add(1, { status: String(res.status), code: errorCode(b), name: 'order_status' });
  check(res, {
    'order 200: the owner sees order_no, sale, user and a known status': () =>
      res.status === 200 && b !== null && b.order_no === orderNo && b.sale_id === saleId && b.user_id === userId &&
      ORDER_STATUSES.includes(b.status),
  }, { name: 'order_status' });
  return b;
}

// pay pays orderNo as its owner. An order the worker has not written yet is
// not payable for a moment (409 order_not_payable, asking to retry), so a
// 409 is retried for up to two seconds; the answer must end as 200 paid.
export function pay(cfg, token, orderNo) {
  let res = null;
  let b = null;
  for (let attempt = 0; attempt < 20; attempt++) {
    res = http.post(`${cfg.baseUrl}/api/v1/orders/${orderNo}/pay`, null, {
      headers: { Authorization: `Bearer ${token}` },
      tags: { name: 'pay' },
    });
    countServerError(res, {});
    b = jsonBody(res);
    if (res.status !== 409 || errorCode(b) !== 'order_not_payable') break;
    sleep(0.1);
  }
  if (res.status !== 200) otherResponses.add(1, { status: String(res.status), code: errorCode(b), name: 'pay' });
  const ok = check(res, {
    'pay 200: the owner\'s order is paid': () => res.status === 200 && b !== null && b.order_no === orderNo && b.status === 'paid',
  }, { name: 'pay' });
  if (ok) paid.add(1);
  return ok;
}

// readSale fetches GET /api/v1/sales/{id} and checks its shape.
export function readSale(cfg, saleId) {
  const res = http.get(`${cfg.baseUrl}/api/v1/sales/${saleId}`, { tags: { name: 'sale' } });
  countServerError(res, {});
  const b = jsonBody(res);
  if (res.status !== 200) otherResponses.add(1, { status: String(res.status), code: errorCode(b), name: 'sale' });
  check(res, {
    'sale 200: id, 0 <= remaining <= total_stock, a known status': () =>
      res.status === 200 && b !== null && b.id === saleId && b.remaining >= 0 && b.remaining <= b.total_stock &&
      SALE_STATUSES.includes(b.status),
  }, { name: 'sale' });
  return b;
}

// ------------------------------------------------------------------ admin

// createSale opens a sale now (for the given hours) through the admin API;
// admission, when given, is its { rate_per_second, pow_bits }.
export function createSale(cfg, name, stock, hours, paymentWindowSeconds = 3600, admission = null) {
  const now = Date.now();
  const body = {
    name,
    price_cents: 100,
    total_stock: stock,
    starts_at: new Date(now - 2000).toISOString(),
    ends_at: new Date(now + hours * 3600 * 1000).toISOString(),
    payment_window_seconds: paymentWindowSeconds,
  };
  if (admission) body.admission = admission;
  const res = http.post(`${cfg.adminUrl}/admin/v1/sales`, JSON.stringify(body), adminParams(cfg, 'admin_sale'));
  if (res.status !== 201) throw new Error(`POST /admin/v1/sales: ${res.status} ${res.body}`);
  return res.json();
}

export function reconcile(cfg, saleId) {
  const res = http.get(`${cfg.adminUrl}/admin/v1/sales/${saleId}/reconcile`, adminParams(cfg, 'admin_reconcile'));
  if (res.status !== 200) return null;
  return res.json();
}

// settle polls the reconciliation until reserved_in_flight is 0 or
// SETTLE_SECONDS pass, records it in the reconcile_* gauges and prints it.
// baseline is the reconciliation setup() saw (or null).
export function settle(cfg, saleId, baseline) {
  const deadline = Date.now() + cfg.settleSeconds * 1000;
  let r = null;
  for (;;) {
    r = reconcile(cfg, saleId) || r;
    if (r && r.reserved_in_flight === 0) break;
    if (Date.now() >= deadline) break;
    sleep(0.25);
  }
  if (!r) {
    console.error(`teardown: GET /admin/v1/sales/${saleId}/reconcile never answered 200`);
    reconcileConsistent.add(0);
    return null;
  }
  reconcileConsistent.add(r.consistent ? 1 : 0);
  reconcileInFlight.add(r.reserved_in_flight);
  reconcilePersisted.add(r.persisted);
  reconcileRemaining.add(r.remaining);
  reconcileCancelled.add(r.cancelled);
  const during = r.persisted - (baseline ? baseline.persisted : 0);
  persistedDuringRun.add(during);
  cancelledDuringRun.add(r.cancelled - (baseline ? baseline.cancelled : 0));
  console.log(`teardown: sale ${saleId} reconcile total_stock=${r.total_stock} remaining=${r.remaining} ` +
    `reserved_in_flight=${r.reserved_in_flight} persisted=${r.persisted} cancelled=${r.cancelled} ` +
    `consistent=${r.consistent} (persisted during the run: ${during})`);
  return r;
}

// ---------------------------------------------------------------- summary

function metricValue(data, name, field) {
  const m = data.metrics[name];
  if (!m || !m.values || m.values[field] === undefined) return 0;
  return m.values[field];
}

function ms(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v.toFixed(1)}ms`;
}

function trendLine(data, name, label) {
  const m = data.metrics[name];
  if (!m) return null;
  const v = m.values;
  return `  ${label.padEnd(24)} n=${v.count} avg=${ms(v.avg)} med=${ms(v.med)} p(90)=${ms(v['p(90)'])} ` +
    `p(95)=${ms(v['p(95)'])} p(99)=${ms(v['p(99)'])} max=${ms(v.max)}`;
}

function thresholdLines(data) {
  const lines = [];
  let failed = 0;
  for (const name of Object.keys(data.metrics).sort()) {
    const m = data.metrics[name];
    if (!m.thresholds) continue;
    for (const src of Object.keys(m.thresholds)) {
      const ok = m.thresholds[src].ok;
      if (!ok) failed++;
      const v = m.values;
      const shown = v.count !== undefined && m.type === 'counter' ? `count=${v.count}`
        : v.value !== undefined ? `value=${v.value}`
          : v.rate !== undefined ? `rate=${(v.rate * 100).toFixed(2)}%`
            : src.startsWith('p(') ? `${src.split('<')[0]}=${ms(v[src.split('<')[0]])}` : '';
      lines.push(`    ${ok ? 'ok  ' : 'FAIL'} ${name}: ${src}  (${shown})`);
    }
  }
  return { lines, failed };
}

// summarize builds the text summary (printed on stdout) and the JSON file
// summary-<script>.json in OUT_DIR. extra(data) may add lines and failed
// verdicts of its own: it returns { lines: [...], failed: n }.
export function summarize(script, cfg, data, header, extra) {
  const purchases = metricValue(data, 'http_req_duration{name:purchase}', 'count');
  const lines = [];
  lines.push('');
  lines.push(`seckill k6 ${script}: ${header}`);
  lines.push(`  duration ${(data.state.testRunDurationMs / 1000).toFixed(1)}s, ` +
    `iterations ${metricValue(data, 'iterations', 'count')}, ` +
    `dropped iterations ${metricValue(data, 'dropped_iterations', 'count')}, ` +
    `http requests ${metricValue(data, 'http_reqs', 'count')} ` +
    `(${metricValue(data, 'http_reqs', 'rate').toFixed(1)}/s), ` +
    `http_req_failed ${(metricValue(data, 'http_req_failed', 'rate') * 100).toFixed(2)}%`);
  lines.push(`  purchases ${purchases}: accepted ${metricValue(data, 'accepted', 'count')}, ` +
    `sold_out ${metricValue(data, 'sold_out', 'count')}, ` +
    `already_purchased ${metricValue(data, 'already_purchased', 'count')}, ` +
    `rate_limited ${metricValue(data, 'rate_limited', 'count')}, ` +
    `server_errors ${metricValue(data, 'server_errors', 'count')}, ` +
    `other ${metricValue(data, 'other_responses', 'count')}`);
  lines.push(`  checks ${metricValue(data, 'checks', 'passes')} passed, ${metricValue(data, 'checks', 'fails')} failed`);
  for (const [name, label] of [
    ['http_req_duration{name:purchase}', 'purchase latency'],
    ['http_req_duration{name:order_status}', 'order status latency'],
    ['http_req_duration{name:sale}', 'sale read latency'],
    ['http_req_duration{name:pay}', 'pay latency'],
  ]) {
    const l = trendLine(data, name, label);
    if (l) lines.push(l);
  }
  if (data.metrics.reconcile_consistent) {
    lines.push(`  reconcile after the drain: remaining ${metricValue(data, 'reconcile_remaining', 'value')}, ` +
      `reserved_in_flight ${metricValue(data, 'reconcile_in_flight', 'value')}, ` +
      `persisted ${metricValue(data, 'reconcile_persisted', 'value')} ` +
      `(${metricValue(data, 'persisted_during_run', 'value')} during the run), ` +
      `cancelled ${metricValue(data, 'reconcile_cancelled', 'value')}, ` +
      `consistent ${metricValue(data, 'reconcile_consistent', 'value') === 1}`);
  } else {
    lines.push('  reconcile after the drain: not recorded (teardown did not run or failed)');
  }
  let failed = 0;
  const ex = extra ? extra(data) : { lines: [], failed: 0 };
  if (data.metrics.persisted_during_run) {
    // Every 202 must end up in the database: after the drain the orders
    // written since setup — live, or cancelled because they went unpaid —
    // equal the 202s counted here.
    const acc = metricValue(data, 'accepted', 'count');
    const p = metricValue(data, 'persisted_during_run', 'value');
    const c = metricValue(data, 'cancelled_during_run', 'value');
    const ok = p + c === acc;
    if (!ok) ex.failed++;
    ex.lines.push(`  ${ok ? 'ok  ' : 'FAIL'} every 202 persisted: accepted ${acc}, since setup persisted ${p}` +
      `${c > 0 ? ` + cancelled unpaid ${c}` : ''}`);
  }
  for (const l of ex.lines) lines.push(l);
  failed += ex.failed;
  const th = thresholdLines(data);
  lines.push('  thresholds:');
  for (const l of th.lines) lines.push(l);
  failed += th.failed;
  lines.push(`  result: ${failed === 0 ? 'PASS' : `FAIL (${failed} failed)`}`);
  if (ex.failed > 0 && th.failed === 0) {
    lines.push('  (the failed cross-checks above are not k6 thresholds and do not change k6\'s exit code)');
  }
  lines.push('');

  const setup = Object.assign({}, data.setup_data || {});
  if (setup.tokens) setup.tokens = { firstUser: setup.tokens.firstUser, count: setup.tokens.count };
  if (setup.buyers) setup.buyers = Object.keys(setup.buyers).length;
  const out = {
    script,
    passed: failed === 0,
    failed_verdicts: failed,
    config: cfg,
    setup: setup,
    k6: { state: data.state, options: data.options, metrics: data.metrics, root_group: data.root_group },
  };
  if (out.config.jwtSecret) out.config = Object.assign({}, cfg, { jwtSecret: '***' });
  if (out.config.adminToken) out.config = Object.assign({}, out.config, { adminToken: '***' });
  const res = { stdout: lines.join('\n') + '\n' };
  res[`${cfg.outDir}/summary-${script}.json`] = JSON.stringify(out, null, 2);
  return res;
}
