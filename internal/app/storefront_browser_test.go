package app_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/httpapi"
	"github.com/seckill/seckill/internal/testenv"
)

// TestStorefrontPage checks the page's answer itself (validated against
// api/openapi.yaml like every answer of the suite): HTML whose only code
// runs under the nonce its Content-Security-Policy names (and workers from
// blob: URLs only), nothing loaded from elsewhere, no inline event handlers; and SECKILL_STOREFRONT=off
// leaves it out while the API stays.
func TestStorefrontPage(t *testing.T) {
	s := newSystem(t, "embedded")
	r := do(t, "GET", s.public.URL+"/?sale=1", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /: %d %s", r.status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q, want text/html; charset=utf-8", ct)
	}
	if v := r.header.Get("X-Content-Type-Options"); v != "nosniff" {
		t.Errorf("X-Content-Type-Options %q, want nosniff", v)
	}
	csp := r.header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9_-]+)'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("Content-Security-Policy %q: want default-src 'none' and a script nonce", csp)
	}
	// The proof-of-work worker comes from the page's own script through a
	// blob: URL; nothing else may start a worker.
	if !strings.Contains(csp, "; worker-src blob:;") {
		t.Errorf("Content-Security-Policy %q: want worker-src blob: (the page's puzzle solver)", csp)
	}
	page := string(r.raw)
	if !strings.Contains(page, `<script nonce="`+m[1]+`">`) {
		t.Errorf("the page's script does not carry the policy's nonce %q", m[1])
	}
	if again := do(t, "GET", s.public.URL+"/", "", nil); strings.Contains(again.header.Get("Content-Security-Policy"), m[1]) {
		t.Errorf("two answers share the nonce %q", m[1])
	}
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),   // inline event handlers
		regexp.MustCompile(`(?i)\s(src|href)\s*=`), // anything loaded from elsewhere
		regexp.MustCompile(`(?i)<script>`),         // a script without the nonce
	} {
		if loc := bad.FindStringIndex(page); loc != nil {
			t.Errorf("the page has %q, which a strict policy blocks or which loads from elsewhere", page[loc[0]:loc[1]])
		}
	}

	off := newSystem(t, "embedded", func(c *config.API) { c.Storefront = config.StorefrontOff })
	if r := do(t, "GET", off.public.URL+"/", "", nil); r.status != http.StatusNotFound {
		t.Errorf("SECKILL_STOREFRONT=off: GET / answered %d, want 404", r.status)
	}
	if r := do(t, "GET", off.public.URL+"/api/v1/sales", "", nil); r.status != http.StatusOK {
		t.Errorf("SECKILL_STOREFRONT=off: GET /api/v1/sales answered %d %s, want 200: only the page is off", r.status, r.raw)
	}
}

// TestStorefrontAPI checks the storefront's own routes on the embedded mode
// and on real servers: the listing holds the open sales newest first, the
// counts show accepted and persisted units, and demo tokens exist in the
// embedded mode only.
func TestStorefrontAPI(t *testing.T) {
	for _, kind := range []string{"embedded", "redis"} {
		t.Run(kind, func(t *testing.T) {
			s := newSystem(t, kind)
			s.startWorker()
			active := s.createSale(t, 5, 0)
			upcoming := s.createSale(t, 2, time.Hour)

			r := do(t, "GET", s.public.URL+"/api/v1/sales", "", nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET /api/v1/sales: %d %s", r.status, r.raw)
			}
			var ids []int64
			for _, v := range r.body["sales"].([]any) {
				ids = append(ids, int64(v.(map[string]any)["id"].(float64)))
			}
			if !slices.Equal(ids, []int64{upcoming, active}) {
				t.Fatalf("GET /api/v1/sales: %d, sales %v; want 200 with %d then %d", r.status, ids, upcoming, active)
			}

			for user := int64(1); user <= 2; user++ {
				if b := s.buy(t, active, s.token(t, user)); b.status != http.StatusAccepted {
					t.Fatalf("buy: %d %s", b.status, b.raw)
				}
			}
			stats := s.public.URL + fmt.Sprintf("/api/v1/sales/%d/stats", active)
			deadline := time.Now().Add(20 * time.Second)
			for {
				r = do(t, "GET", stats, "", nil)
				if r.status == http.StatusOK && r.num("persisted") == 2 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("stats never showed the 2 orders persisted: %d %s", r.status, r.raw)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if r.num("sale_id") != active || r.num("total_stock") != 5 || r.num("remaining") != 3 || r.num("accepted") != 2 || r.str("status") != "active" {
				t.Fatalf("stats %s; want sale %d, total 5, remaining 3, accepted 2, active", r.raw, active)
			}

			demo := do(t, "POST", s.public.URL+"/api/v1/demo/token", "", nil)
			if kind != "embedded" {
				if demo.status != http.StatusNotFound {
					t.Fatalf("demo token on real servers: %d %s, want 404", demo.status, demo.raw)
				}
				return
			}
			if demo.status != http.StatusOK || demo.str("token") == "" {
				t.Fatalf("demo token: %d %s", demo.status, demo.raw)
			}
			b := s.buy(t, active, demo.str("token"))
			if b.status != http.StatusAccepted {
				t.Fatalf("buy with a demo token: %d %s", b.status, b.raw)
			}
			o := do(t, "GET", s.public.URL+"/api/v1/orders/"+b.str("order_no"), demo.str("token"), nil)
			if o.num("user_id") != demo.num("user_id") {
				t.Fatalf("the demo token's order belongs to user %d, the token was for %d", o.num("user_id"), demo.num("user_id"))
			}
		})
	}
}

// TestStorefrontBrowser drives the storefront page in headless Chromium
// through chromedp: the page lists the sales and shows the active one, an
// upcoming sale counts down to its start and then takes a purchase, Buy (as
// the embedded mode's demo user) turns into an order number that reaches
// created, Pay makes it paid, an error answer shows the API's own message,
// and the live view shows remaining, accepted and persisted. It keeps a
// screenshot of each view in the artifact directory.
func TestStorefrontBrowser(t *testing.T) {
	b := startBrowser(t)
	s := newSystem(t, "embedded")
	s.startWorker()
	active := openSale(t, s, "Noise-cancelling headphones", 12900, 3, 0)
	upcoming := openSale(t, s, "Phone, launch edition", 59900, 2, 6*time.Second)
	later := openSale(t, s, "Tablet", 34900, 50, 2*time.Hour)

	// The listing, and the sale shown without ?sale=: the active one.
	b.open(s.public.URL + "/")
	b.waitText("sale-id", strconv.FormatInt(active, 10))
	listed := b.waitEval(`Array.from(document.querySelectorAll("#sales button")).map(e => e.dataset.sale).join(",")`,
		regexp.MustCompile(`^\d+,\d+,\d+$`))
	if want := fmt.Sprintf("%d,%d,%d", later, upcoming, active); listed != want {
		t.Fatalf("the page lists sales %s, want %s (newest first)", listed, want)
	}
	user := b.waitMatch("token-label", regexp.MustCompile(`^demo user \d+$`))

	// The upcoming sale counts down; Buy waits for it to start.
	b.click(fmt.Sprintf(`#sales button[data-sale="%d"]`, upcoming))
	b.waitText("sale-id", strconv.FormatInt(upcoming, 10))
	b.waitText("sale-status", "upcoming")
	var seen []int
	deadline := time.Now().Add(6*time.Second + browserTimeout)
	for !b.enabled("#buy") {
		text := b.text("sale-countdown")
		if m := regexp.MustCompile(`^starts in 0:0(\d)$`).FindStringSubmatch(text); m != nil {
			n, _ := strconv.Atoi(m[1])
			if len(seen) == 0 || seen[len(seen)-1] != n {
				seen = append(seen, n)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Buy never enabled for the upcoming sale; the countdown shows %q, the status %q", text, b.text("sale-status"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(seen) < 2 || !slices.IsSortedFunc(seen, func(a, b int) int { return b - a }) {
		t.Fatalf("the countdown showed seconds %v before Buy was enabled, want it counting down", seen)
	}
	t.Logf("countdown seen: %v seconds, then Buy enabled", seen)
	if st := b.text("sale-status"); st != "active" {
		t.Fatalf("Buy is enabled while the sale is %q", st)
	}

	// Buy as the demo user, without a pasted token; then pay.
	b.click("#buy")
	orderNo := b.waitMatch("order-no", regexp.MustCompile(`^[0-9a-f-]{36}$`))
	b.waitText("order-status", "created")
	token := b.eval(`document.getElementById("token").value`)
	o := do(t, "GET", s.public.URL+"/api/v1/orders/"+orderNo, token, nil)
	if o.status != http.StatusOK || o.str("status") != "created" || "demo user "+strconv.FormatInt(o.num("user_id"), 10) != user {
		t.Fatalf("the page's order %s: the API answers %d %s; the page shows %q", orderNo, o.status, o.raw, user)
	}
	b.waitText("sale-remaining", "1")
	b.click("#pay")
	b.waitText("order-status", "paid")
	if r := do(t, "GET", s.public.URL+"/api/v1/orders/"+orderNo, token, nil); r.str("status") != "paid" {
		t.Fatalf("after Pay the API answers %d %s", r.status, r.raw)
	}
	if m := b.text("message"); m != "" {
		t.Errorf("the page shows an error after paying: %q", m)
	}
	shot := b.screenshot("storefront.png")
	if docs := os.Getenv("SECKILL_STOREFRONT_SCREENSHOT"); docs != "" {
		if !filepath.IsAbs(docs) {
			docs = filepath.Join(repoRoot(t), docs)
		}
		if err := os.WriteFile(docs, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("storefront screenshot also written to %s", docs)
	}

	// A refused purchase: the page shows the API's message for it, and the
	// token handed over in the link leaves the address bar.
	refused := do(t, "POST", fmt.Sprintf("%s/api/v1/sales/%d/orders", s.public.URL, active), "not-a-token", nil)
	want := refused.body["error"].(map[string]any)["message"].(string)
	b.open(fmt.Sprintf("%s/?sale=%d&token=not-a-token", s.public.URL, active))
	b.waitText("sale-status", "active")
	if u := b.eval(`window.location.href`); strings.Contains(u, "token") {
		t.Errorf("the token stays in the address bar: %s", u)
	}
	b.click("#buy")
	b.waitText("message", want)

	// The live view of the active sale, while two users buy.
	b.open(fmt.Sprintf("%s/?sale=%d&view=live", s.public.URL, active))
	b.waitText("live-remaining", "3")
	for u := int64(1); u <= 2; u++ {
		if r := s.buy(t, active, s.token(t, u)); r.status != http.StatusAccepted {
			t.Fatalf("buy: %d %s", r.status, r.raw)
		}
	}
	b.waitText("live-remaining", "1")
	b.waitText("live-accepted", "2")
	b.waitText("live-persisted", "2")
	b.waitText("live-inflight", "0")
	b.waitMatch("live-rate", regexp.MustCompile(`^-?\d+\.\d$`))
	if b.visible("#buy") {
		t.Error("the live view shows the Buy button")
	}
	b.screenshot("storefront-live.png")
}

// TestStorefrontBrowserAdmission drives the page through a sale with
// admission on (a waiting room letting in 1 buyer a second, a 12-bit
// proof of work) with four buyers in line ahead: Buy solves the puzzle in
// the page's worker, shows the buyer's place and how many wait ahead as
// the room answers, buys with the ticket and follows the order; the sale, sold out by
// that purchase, then points to the other open sale and to the admin
// route that reopens it. With SECKILL_STOREFRONT_SHOT set it writes a
// screenshot of the page in line there.
func TestStorefrontBrowserAdmission(t *testing.T) {
	b := startBrowser(t)
	s := newSystem(t, "embedded")
	s.startWorker()
	other := openSale(t, s, "Tablet", 34900, 50, 0)
	sale := s.createAdmissionSale(t, 1, httpapi.AdmissionJSON{RatePerSecond: 1, PowBits: 12})

	b.open(fmt.Sprintf("%s/?sale=%d", s.public.URL, sale))
	b.waitText("sale-status", "active")
	b.waitText("sale-admission", "waiting room (1 buyer let in a second) · puzzle first (12-bit proof of work)")
	b.waitMatch("token-label", regexp.MustCompile(`^demo user \d+$`))
	if b.visible("#door") || b.visible("#way-on") {
		t.Fatal("the admission panel or the sold-out hint shows before Buy")
	}
	// Every step the panel shows, in order: the puzzle's may pass too fast
	// to catch by polling.
	b.eval(`(() => {
		const el = document.getElementById("door-step");
		window.doorSteps = [];
		new MutationObserver(() => {
			if (window.doorSteps[window.doorSteps.length - 1] !== el.textContent) window.doorSteps.push(el.textContent);
		}).observe(el, {childList: true, characterData: true, subtree: true});
		return "";
	})()`)

	// Four buyers join the line through the API, the first let in at once.
	// The room lets in one place at most per second since its last call,
	// so at least two wait ahead of the page when it joins.
	const ahead = 4
	for u := int64(1); u <= ahead; u++ {
		tok := s.token(t, u)
		ch := challengeOf(t, s.public.URL, sale, tok)
		if ch.status != http.StatusOK {
			t.Fatalf("challenge: %d %s", ch.status, ch.raw)
		}
		r := admit(t, s.public.URL, sale, tok, map[string]string{"challenge": ch.str("challenge"), "nonce": admission.Solve(ch.str("challenge"), 12)})
		if want := http.StatusAccepted; u > 1 && r.status != want || u == 1 && r.status != http.StatusOK {
			t.Fatalf("buyer %d joins: %d %s", u, r.status, r.raw)
		}
	}

	b.click("#buy")
	b.waitText("door-step", "Waiting in line")
	b.waitMatch("door-note", regexp.MustCompile(`^The sale lets in up to 1 buyer a second`))
	if p := b.text("queue-position"); p != strconv.Itoa(ahead+1) {
		t.Fatalf("the page shows place %q in line, want %d", p, ahead+1)
	}
	b.waitMatch("queue-next", regexp.MustCompile(`^\d+\.\d s$`))
	shot := b.screenshot("storefront-queue.png")
	if path := os.Getenv("SECKILL_STOREFRONT_SHOT"); path != "" {
		if err := os.WriteFile(path, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot of the page in line written to %s", path)
	}
	// The count ahead only goes down while the page waits (each answer of
	// the room), then the page buys.
	var counts []int
	deadline := time.Now().Add(ahead*ahead*time.Second + browserTimeout)
	for b.text("door-step") == "Waiting in line" {
		if n, err := strconv.Atoi(b.text("queue-ahead")); err == nil && (len(counts) == 0 || counts[len(counts)-1] != n) {
			counts = append(counts, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("still in line; ahead seen %v", counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(counts) == 0 || counts[0] < 1 || !slices.IsSortedFunc(counts, func(a, b int) int { return b - a }) {
		t.Fatalf("ahead of the buyer the page showed %v, want a count above 0 that only goes down", counts)
	}
	t.Logf("ahead seen: %v", counts)

	orderNo := b.waitMatch("order-no", regexp.MustCompile(`^[0-9a-f-]{36}$`))
	b.waitText("order-status", "created")
	b.waitText("door-step", "Let in: the order below is yours.")
	if b.visible("#queue") {
		t.Error("the place in line still shows after the purchase")
	}
	steps := b.eval(`window.doorSteps.join(" | ")`)
	if want := "Getting a puzzle… | Solving the puzzle… | Joining the line… | Waiting in line | Your turn: buying… | Let in: the order below is yours."; steps != want {
		t.Fatalf("the panel went through %q, want %q", steps, want)
	}
	if m := b.text("message"); m != "" {
		t.Fatalf("the page shows an error: %q", m)
	}
	token := b.eval(`document.getElementById("token").value`)
	if o := do(t, "GET", s.public.URL+"/api/v1/orders/"+orderNo, token, nil); o.status != http.StatusOK || o.num("sale_id") != sale {
		t.Fatalf("the page's order %s: %d %s", orderNo, o.status, o.raw)
	}

	// Sold out by that purchase: a way on to the other sale, and how to
	// reopen this one.
	b.waitText("sale-status", "sold out")
	b.waitMatch("way-on-title", regexp.MustCompile(`^This sale is sold out\.`))
	curl := b.text("way-on-curl")
	if want := fmt.Sprintf("/admin/v1/sales/%d/stock", sale); !strings.Contains(curl, want) || !b.visible("#way-on-demo") {
		t.Fatalf("the sold-out sale's hint is %q (shown: %v), want a curl line for %s", curl, b.visible("#way-on-demo"), want)
	}
	b.screenshot("storefront-sold-out.png")
	b.click(fmt.Sprintf(`#way-on-sales button[data-sale="%d"]`, other))
	b.waitText("sale-id", strconv.FormatInt(other, 10))
	b.waitText("sale-admission", "open to all")
	if b.visible("#way-on") || b.visible("#door") {
		t.Fatal("the open sale shows the sold-out sale's way on or admission panel")
	}
}

// openSale opens a sale through the admin API, ending two hours after it
// starts.
func openSale(tb testing.TB, s *system, name string, priceCents, stock int64, startsIn time.Duration) int64 {
	tb.Helper()
	now := time.Now().UTC()
	r := do(tb, "POST", s.admin.URL+"/admin/v1/sales", "", jsonBody(tb, httpapi.NewSaleJSON{
		Name: name, PriceCents: priceCents, TotalStock: stock,
		StartsAt: now.Add(startsIn), EndsAt: now.Add(startsIn + 2*time.Hour), PaymentWindowSeconds: 900,
	}))
	if r.status != http.StatusCreated {
		tb.Fatalf("create sale %q: %d %s", name, r.status, r.raw)
	}
	return r.num("id")
}

// browserTimeout bounds every wait on the browser: a guard against a hang,
// not a performance assertion.
const browserTimeout = 20 * time.Second

// browser is one tab of a headless Chromium driven through chromedp.
type browser struct {
	tb  testing.TB
	ctx context.Context
}

// startBrowser starts Debian's Chromium (scripts/services.sh installs it)
// headless, with the flags this machine needs: no sandbox (tests run as
// root), no GPU, no shared-memory files in /dev/shm, and none of its
// background connections, which a closed network refuses. It stops in
// cleanup.
func startBrowser(tb testing.TB) *browser {
	tb.Helper()
	chromium := testenv.Command(tb, "chromium", "scripts/services.sh installs it")
	var out syncBuffer
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(900, 1000),
		chromedp.CombinedOutput(&out),
	)
	actx, stopAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, stopTab := chromedp.NewContext(actx)
	tb.Cleanup(func() {
		stopTab()
		stopAlloc()
		if tb.Failed() {
			tb.Logf("chromium output:\n%s", out.String())
		}
	})
	// The first action starts the browser: no timeout on it, which would
	// stop the browser with it.
	if err := chromedp.Do(ctx); err != nil {
		tb.Fatalf("start chromium: %v\n%s", err, out.String())
	}
	return &browser{tb: tb, ctx: ctx}
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.tb.Fatalf("browser: %v", err)
	}
}

func (b *browser) open(u string) {
	b.tb.Helper()
	b.do(chromedp.Navigate(u))
}

// eval runs a JavaScript expression that gives a string.
func (b *browser) eval(expr string) string {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.tb.Fatalf("browser: %s: %v", expr, err)
	}
	return v
}

// text is the text of the element with the given id, shown or not.
func (b *browser) text(id string) string {
	b.tb.Helper()
	return b.eval(fmt.Sprintf(`(document.getElementById(%q) || {textContent: "(no element #%s)"}).textContent`, id, id))
}

// enabled tells whether the element is on the page, shown and enabled.
func (b *browser) enabled(sel string) bool {
	b.tb.Helper()
	return b.eval(fmt.Sprintf(`(e => String(!!e && !e.disabled && e.offsetParent !== null))(document.querySelector(%q))`, sel)) == "true"
}

// visible tells whether the element is on the page and shown.
func (b *browser) visible(sel string) bool {
	b.tb.Helper()
	return b.eval(fmt.Sprintf(`(e => String(!!e && e.offsetParent !== null))(document.querySelector(%q))`, sel)) == "true"
}

// click clicks the element with the mouse once it is shown and enabled.
func (b *browser) click(sel string) {
	b.tb.Helper()
	deadline := time.Now().Add(browserTimeout)
	for !b.enabled(sel) {
		if time.Now().After(deadline) {
			b.tb.Fatalf("%s not clickable after %s; the page shows message %q", sel, browserTimeout, b.text("message"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// waitEval waits until the expression's value matches re and returns it.
func (b *browser) waitEval(expr string, re *regexp.Regexp) string {
	b.tb.Helper()
	deadline := time.Now().Add(browserTimeout)
	for {
		got := b.eval(expr)
		if re.MatchString(got) {
			return got
		}
		if time.Now().After(deadline) {
			b.tb.Fatalf("%s gives %q after %s, want a match of %s; the page shows message %q",
				expr, got, browserTimeout, re, b.text("message"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMatch waits until the element's text matches re and returns it.
func (b *browser) waitMatch(id string, re *regexp.Regexp) string {
	b.tb.Helper()
	return b.waitEval(fmt.Sprintf(`(document.getElementById(%q) || {textContent: "(no element #%s)"}).textContent`, id, id), re)
}

func (b *browser) waitText(id, want string) {
	b.tb.Helper()
	b.waitMatch(id, regexp.MustCompile("^"+regexp.QuoteMeta(want)+"$"))
}

// screenshot takes a PNG of the whole page, writes it to the artifact
// directory under name, logs where, and returns it.
func (b *browser) screenshot(name string) []byte {
	b.tb.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.tb.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(b.tb), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.tb.Fatal(err)
	}
	b.tb.Logf("screenshot: %s (%d bytes)", path, len(png))
	return png
}

// artifactDir is where tests leave what a person looks at afterwards:
// $SECKILL_ARTIFACT_DIR, or .artifacts at the repository's root (ignored
// by git).
func artifactDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("SECKILL_ARTIFACT_DIR")
	if dir == "" {
		dir = filepath.Join(repoRoot(tb), ".artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// repoRoot is the directory of go.mod, above the test's own.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// syncBuffer is a bytes.Buffer that the browser's output goroutine and the
// test may use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
