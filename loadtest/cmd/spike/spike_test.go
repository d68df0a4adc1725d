package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/loadtest/internal/load"
	"github.com/seckill/seckill/loadtest/internal/proc"
)

// binDir holds cmd/api, built once by the first test that starts one.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "spike-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var apiBuild struct {
	once sync.Once
	path string
	err  error
	log  bytes.Buffer
}

// apiBinary builds cmd/api (and cmd/worker beside it) once per test binary.
func apiBinary(tb testing.TB) string {
	tb.Helper()
	apiBuild.once.Do(func() {
		ctx := context.Background()
		root, err := proc.ModuleRoot(ctx)
		if err != nil {
			apiBuild.err = err
			return
		}
		apiBuild.path, _, apiBuild.err = proc.Build(ctx, root, binDir, &apiBuild.log)
	})
	if apiBuild.err != nil {
		tb.Fatalf("%v\n%s", apiBuild.err, apiBuild.log.String())
	}
	return apiBuild.path
}

const testSecret = "spike-test-secret-0123456789abcdef"

// demoSale is the sale the embedded mode opens to all, of
// SECKILL_DEMO_STOCK units.
const demoSale = 1

// embedded is cmd/api in embedded mode, as a user starts it, on free
// loopback ports with an environment of its own.
type embedded struct {
	public, admin string
	saleID        int64
}

func newEmbedded(tb testing.TB, stock int64, adminToken string) embedded {
	tb.Helper()
	bin := apiBinary(tb)
	dir := tb.TempDir()
	addrs, err := proc.FreeAddrs(context.Background(), 2)
	if err != nil {
		tb.Fatal(err)
	}
	env := []string{
		// Embedded mode whatever the caller's environment holds.
		"SECKILL_REDIS_URL=", "SECKILL_AMQP_URL=", "SECKILL_MYSQL_DSN=",
		"SECKILL_HTTP_ADDR=" + addrs[0], "SECKILL_ADMIN_ADDR=" + addrs[1],
		"SECKILL_JWT_SECRET=" + testSecret, "SECKILL_ADMIN_TOKEN=" + adminToken, "SECKILL_ADMIN_TOKENS=",
		"SECKILL_SQLITE_PATH=" + filepath.Join(dir, "seckill.db"),
		"SECKILL_DEMO_STOCK=" + strconv.FormatInt(stock, 10),
		"SECKILL_RATE_USER_RPS=1000", "SECKILL_RATE_USER_BURST=1000", "SECKILL_RATE_IP_RPS=0",
		"SECKILL_WORKER_BATCH=64", "SECKILL_STOCK_BACKEND=redis", "SECKILL_LOG_LEVEL=warn",
	}
	p, err := proc.Start("api", bin, nil, env, filepath.Join(dir, "api.log"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		p.Stop(15 * time.Second)
		_, err := p.Exited()
		if err == nil && !tb.Failed() {
			return
		}
		out, _ := os.ReadFile(p.LogPath())
		if err != nil {
			tb.Errorf("api exit: %v", err)
		}
		tb.Logf("api log:\n%s", out)
	})
	e := embedded{public: "http://" + addrs[0], admin: "http://" + addrs[1], saleID: demoSale}
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	if err := proc.WaitHTTP(context.Background(), p, time.Minute, proc.ExpectStatus(c, http.MethodGet, e.public+"/readyz", http.StatusOK)); err != nil {
		tb.Fatal(err)
	}
	return e
}

// runSpike runs the command with args, clear of the caller's environment,
// and returns its error, the decoded JSON summary and the text it printed.
func runSpike(tb testing.TB, args ...string) (report, string, error) {
	tb.Helper()
	tb.Setenv("SECKILL_JWT_SECRET", "")
	tb.Setenv("SECKILL_ADMIN_TOKEN", "")
	path := filepath.Join(tb.TempDir(), "summary.json")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append(args, "-json", path), &stdout, &stderr)
	tb.Logf("spike %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout.String(), stderr.String())
	var rep report
	if raw, rerr := os.ReadFile(path); rerr == nil {
		if jerr := json.Unmarshal(raw, &rep); jerr != nil {
			tb.Fatalf("summary JSON: %v", jerr)
		}
	}
	return rep, stdout.String(), err
}

func failedNames(r report) []string {
	var out []string
	for _, c := range load.Failed(r.Invariants) {
		out = append(out, c.Name)
	}
	return out
}

// TestSpikeSellsOutTheEmbeddedAPI fires 2,000 users at a sale of 200 units
// on the embedded mode: exactly 200 win, the rest are told sold_out, and
// every accepted order is persisted once the queue drains.
func TestSpikeSellsOutTheEmbeddedAPI(t *testing.T) {
	e := newEmbedded(t, 200, "")
	rep, text, err := runSpike(t, "-target", e.public, "-admin", e.admin, "-sale", strconv.FormatInt(e.saleID, 10),
		"-users", "2000", "-user-base", "1000", "-concurrency", "64", "-secret", testSecret,
		"-duration", "2m", "-drain-timeout", "2m")
	if err != nil {
		t.Fatalf("run: %v (exit %d)", err, load.ExitCode("spike", err, io.Discard))
	}
	c := rep.Counts
	if c.Accepted != 200 || c.SoldOut != 1800 || rep.Requests != 2000 || c.Total() != 2000 {
		t.Errorf("counts %+v over %d requests; want 200 accepted, 1800 sold_out of 2000", c, rep.Requests)
	}
	if !rep.OK || !rep.Drained || len(rep.Invariants) != 6 || len(failedNames(rep)) != 0 {
		t.Errorf("ok %t drained %t invariants %+v", rep.OK, rep.Drained, rep.Invariants)
	}
	if a := rep.After; a == nil || a.Persisted != 200 || a.Remaining != 0 || a.ReservedInFlight != 0 || !a.Consistent {
		t.Errorf("reconcile after: %+v", a)
	}
	if rep.SoldOutAfterMS == nil || rep.LatencyMS.P50 <= 0 || rep.LatencyMS.Max < rep.LatencyMS.P99 {
		t.Errorf("sold out after %v, latency %+v", rep.SoldOutAfterMS, rep.LatencyMS)
	}
	for _, want := range []string{`202 accepted +200\n`, `409 sold_out +1800\n`,
		`persisted = accepted\? +yes`, `result: every invariant holds`} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("summary does not match %q", want)
		}
	}
}

// TestSpikeFetchesTokensFromTheAdminAPI runs without a secret, so tokens
// come from POST /admin/v1/tokens behind the admin token; a second run with
// fresh users against the sold-out sale sells nothing and still passes.
func TestSpikeFetchesTokensFromTheAdminAPI(t *testing.T) {
	e := newEmbedded(t, 50, "admin-secret-token")
	args := []string{"-target", e.public, "-admin", e.admin, "-sale", strconv.FormatInt(e.saleID, 10),
		"-admin-token", "admin-secret-token", "-users", "300", "-concurrency", "16"}

	rep, _, err := runSpike(t, append(args, "-user-base", "1")...)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if rep.Tokens != "from POST /admin/v1/tokens" || rep.Counts.Accepted != 50 || rep.Counts.SoldOut != 250 {
		t.Errorf("first run: tokens %q, counts %+v", rep.Tokens, rep.Counts)
	}

	rep, _, err = runSpike(t, append(args, "-user-base", "1001")...)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if rep.Sale.RemainingAtStart != 0 || rep.Before.Persisted != 50 || rep.Counts.Accepted != 0 ||
		rep.Counts.SoldOut != 300 || rep.After == nil || rep.After.Persisted != 50 {
		t.Errorf("rerun: %+v", rep)
	}

	_, _, err = runSpike(t, "-target", e.public, "-admin", e.admin, "-sale", strconv.FormatInt(e.saleID, 10),
		"-users", "10")
	if code := load.ExitCode("spike", err, io.Discard); code != 2 || !strings.Contains(err.Error(), "401") {
		t.Errorf("without the admin token: exit %d, err %v; want 2 and a 401", code, err)
	}
}

// fakeAPI is an api that can be told to break an invariant.
type fakeAPI struct {
	stock    int64
	oversell bool          // accept past the stock
	lose     int64         // accepted orders never persisted
	fail     int64         // the fail-th purchase answers 503 (0: none)
	delay    time.Duration // before each purchase answer

	mu       sync.Mutex
	accepted int64
	n        atomic.Int64
}

func (f *fakeAPI) handler() http.Handler {
	mux := http.NewServeMux()
	send := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/v1/sales/1", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		send(w, http.StatusOK, httpapi.SaleJSON{ID: 1, Name: "fake", TotalStock: f.stock,
			Remaining: max(f.stock-f.accepted, 0), Status: "active"})
	})
	mux.HandleFunc("GET /admin/v1/sales/1/reconcile", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		persisted := max(f.accepted-f.lose, 0)
		remaining := f.stock - f.accepted
		send(w, http.StatusOK, httpapi.ReconcileJSON{SaleID: 1, TotalStock: f.stock, Remaining: remaining,
			Persisted: persisted, Consistent: remaining+persisted == f.stock, StockLoaded: true})
	})
	mux.HandleFunc("POST /api/v1/sales/1/orders", func(w http.ResponseWriter, r *http.Request) {
		n := f.n.Add(1)
		time.Sleep(f.delay)
		if n == f.fail {
			send(w, http.StatusServiceUnavailable, httpapi.ErrorBody{Error: httpapi.ErrorDetail{Code: "unavailable"}})
			return
		}
		f.mu.Lock()
		ok := f.oversell || f.accepted < f.stock
		if ok {
			f.accepted++
		}
		f.mu.Unlock()
		if ok {
			send(w, http.StatusAccepted, map[string]string{"order_no": "o" + strconv.FormatInt(n, 10), "status": "pending"})
			return
		}
		send(w, http.StatusConflict, httpapi.ErrorBody{Error: httpapi.ErrorDetail{Code: "sold_out"}})
	})
	return mux
}

// TestSpikeCatchesBrokenInvariants points the command at fake apis that
// oversell, lose orders or fail, and checks it exits 1 naming each failure.
func TestSpikeCatchesBrokenInvariants(t *testing.T) {
	tests := []struct {
		name   string
		api    *fakeAPI
		failed []string
	}{
		{"healthy", &fakeAPI{stock: 10}, nil},
		{"oversell", &fakeAPI{stock: 10, oversell: true}, []string{"no oversell"}},
		{"lost order", &fakeAPI{stock: 10, lose: 1}, []string{"every accepted order persisted", "reconcile consistent"}},
		{"a 503", &fakeAPI{stock: 10, fail: 3}, []string{"no 5xx or transport error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.api.handler())
			defer srv.Close()
			rep, _, err := runSpike(t, "-target", srv.URL, "-admin", srv.URL, "-users", "40", "-concurrency", "8",
				"-secret", "any", "-drain-timeout", "1s")
			if got := failedNames(rep); strings.Join(got, ",") != strings.Join(tt.failed, ",") {
				t.Errorf("failed %q, want %q", got, tt.failed)
			}
			want := 0
			if tt.failed != nil {
				want = 1
				var ie *load.InvariantError
				if !errors.As(err, &ie) || len(ie.Failed) != len(tt.failed) {
					t.Errorf("error %v, want an InvariantError with %d failures", err, len(tt.failed))
				}
			}
			if code := load.ExitCode("spike", err, io.Discard); code != want || rep.OK != (want == 0) {
				t.Errorf("exit %d ok %t, want exit %d", code, rep.OK, want)
			}
		})
	}
}

// TestSpikeStopsAtTheDurationBound fires at a slow api with a short bound:
// the users not yet sent are reported, the run still checks its invariants.
func TestSpikeStopsAtTheDurationBound(t *testing.T) {
	f := &fakeAPI{stock: 1000, delay: 20 * time.Millisecond}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	rep, text, err := runSpike(t, "-target", srv.URL, "-admin", srv.URL, "-users", "1000", "-concurrency", "2",
		"-secret", "any", "-duration", "200ms")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if rep.NotSent == 0 || rep.Requests+rep.NotSent != 1000 || rep.Counts.Total() != rep.Requests ||
		rep.Counts.Accepted != f.accepted {
		t.Errorf("requests %d, not sent %d, counts %+v, fake accepted %d", rep.Requests, rep.NotSent, rep.Counts, f.accepted)
	}
	if !strings.Contains(text, "-duration bound passed") {
		t.Errorf("summary does not say the bound stopped the run")
	}
}

func TestSpikeUnreachableAPIIsAUsageError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "http://" + ln.Addr().String()
	_ = ln.Close()
	_, _, err = runSpike(t, "-target", addr, "-admin", addr, "-users", "10")
	if code := load.ExitCode("spike", err, io.Discard); code != 2 {
		t.Errorf("unreachable api: exit %d (%v), want 2", code, err)
	}
	_, _, err = runSpike(t, "-users", "-3")
	if code := load.ExitCode("spike", err, io.Discard); code != 2 {
		t.Errorf("bad flag: exit %d (%v), want 2", code, err)
	}
}

// TestSpikeInterrupted cancels a run while it fires, as SIGINT does: the
// requests in flight finish, the rest are not sent, the summary is printed
// without waiting for the drain, and the run fails (exit 1).
func TestSpikeInterrupted(t *testing.T) {
	t.Setenv("SECKILL_JWT_SECRET", "")
	t.Setenv("SECKILL_ADMIN_TOKEN", "")
	f := &fakeAPI{stock: 1000, delay: 20 * time.Millisecond}
	srv := httptest.NewServer(f.handler())
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var stdout bytes.Buffer
	err := run(ctx, []string{"-target", srv.URL, "-admin", srv.URL, "-users", "1000", "-concurrency", "2",
		"-secret", "any"}, &stdout, io.Discard)
	t.Logf("stdout:\n%s", stdout.String())
	if code := load.ExitCode("spike", err, io.Discard); code != 1 || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("exit %d, err %v; want 1 and interrupted", code, err)
	}
	rep := stdout.String()
	if !strings.Contains(rep, "reconcile (interrupted") || !regexp.MustCompile(`transport errors +0\n`).MatchString(rep) {
		t.Errorf("summary does not say it was interrupted, or counts abandoned requests as transport errors")
	}
}

// TestSpikeWalksTheAdmission opens a sale with a waiting room and a proof
// of work on the embedded api and sends every buyer through it: challenge,
// proof, join, polls, then one purchase with the ticket. Every purchase
// carried a ticket the api took, no more orders than units, and the
// tickets, as recorded, never came faster than the rate allows.
func TestSpikeWalksTheAdmission(t *testing.T) {
	const (
		users = 400
		stock = 150
		rate  = 50
		bits  = 8
	)
	e := newEmbedded(t, 10, "")
	rep, text, err := runSpike(t, "-target", e.public, "-admin", e.admin, "-admission",
		"-admission-rate", strconv.Itoa(rate), "-pow-bits", strconv.Itoa(bits), "-stock", strconv.Itoa(stock),
		"-users", strconv.Itoa(users), "-user-base", "5000", "-concurrency", "32", "-secret", testSecret,
		"-duration", "2m", "-drain-timeout", "2m")
	if err != nil {
		t.Fatalf("run: %v (exit %d)", err, load.ExitCode("spike", err, io.Discard))
	}
	a := rep.Admission
	if a == nil {
		t.Fatal("the summary has no admission figures")
	}
	if rep.Sale.ID == e.saleID || rep.Sale.TotalStock != stock || rep.Sale.Admission.RatePerSecond != rate ||
		rep.Sale.Admission.PowBits != bits {
		t.Errorf("sale %+v: want a sale of its own with %d units, rate %d, %d bits", rep.Sale, stock, rate, bits)
	}
	if a.Challenges != users || a.Solved != users || a.Joins != users || a.SolveCPUSeconds <= 0 {
		t.Errorf("challenges %d, solved %d (CPU %gs), joins %d; want %d each", a.Challenges, a.Solved, a.SolveCPUSeconds, a.Joins, users)
	}
	c := rep.Counts
	if c.Total() != a.Tickets || c.Accepted != stock || a.Tickets < stock {
		t.Errorf("purchases %+v, tickets %d; want a purchase per ticket and %d accepted", c, a.Tickets, stock)
	}
	if a.Tickets+a.Ends.SoldOut != users || a.GaveUp != 0 || a.refused() != 0 || a.Polls == 0 {
		t.Errorf("tickets %d + 409 sold_out %d of %d buyers, gave up %d, 403 %d, polls %d",
			a.Tickets, a.Ends.SoldOut, users, a.GaveUp, a.refused(), a.Polls)
	}
	if after := rep.After; after == nil || after.Persisted > stock || after.Persisted != c.Accepted || !after.Consistent {
		t.Errorf("reconcile after: %+v; want %d persisted of %d units", after, c.Accepted, stock)
	}
	if a.InRoomMS.P99 < a.InRoomMS.P50 || a.InRoomMS.Max <= 0 {
		t.Errorf("time in the room %+v", a.InRoomMS)
	}
	// Any window of length T holds at most rate × T + rate tickets; the
	// times are when the answers arrived, each up to the slowest ticket
	// reply after the api issued it.
	at := a.TicketTimesMS
	if int64(len(at)) != a.Tickets {
		t.Fatalf("%d ticket times for %d tickets", len(at), a.Tickets)
	}
	slack := a.TicketLatencyMaxMS / 1000
	for i := range at {
		for j := range at {
			width := (at[j] - at[i]) / 1000
			if width < 0 {
				continue
			}
			n := 0
			for _, x := range at {
				if x >= at[i] && x <= at[j] {
					n++
				}
			}
			if allowed := rate*(width+slack) + rate; float64(n) > allowed {
				t.Fatalf("%d tickets within %.3fs from %.3fs; the rate allows %.1f", n, width, at[i]/1000, allowed)
			}
		}
	}
	if len(failedNames(rep)) != 0 || len(rep.Invariants) != 10 || !rep.OK {
		t.Errorf("invariants %+v", rep.Invariants)
	}
	for _, want := range []string{`admission \(rate_per_second 50, pow_bits 8\)`, `proofs solved +400 \(CPU `,
		`time in the room p99`, `ok +every purchase carried a ticket`, `ok +admitted no faster than the rate`} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("summary does not match %q", want)
		}
	}
}
