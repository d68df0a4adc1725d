package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStorefrontPage checks the page's answer itself (validated against
// api/openapi.yaml like every answer of the suite): HTML whose only code
// runs under the nonce its Content-Security-Policy names, nothing loaded
// from elsewhere, no inline event handlers.
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
}

// TestStorefrontBrowser buys and pays through the storefront page in
// headless Chromium, driven over ChromeDriver's WebDriver protocol: the page
// must show the order number, then created, the remaining units dropping,
// then paid; and an error answer in the API's own words.
func TestStorefrontBrowser(t *testing.T) {
	wd := startBrowser(t)
	s := newSystem(t, "embedded")
	s.startWorker()
	sale := s.createSale(t, 3, 0)
	token := s.token(t, 1)

	// A refused purchase: the page must show the API's message for it.
	refused := do(t, "POST", fmt.Sprintf("%s/api/v1/sales/%d/orders", s.public.URL, sale), "not-a-token", nil)
	want := refused.body["error"].(map[string]any)["message"].(string)
	wd.open(fmt.Sprintf("%s/?sale=%d&token=not-a-token", s.public.URL, sale))
	wd.waitText("sale-status", "active")
	wd.click("buy")
	wd.waitText("message", want)

	wd.open(fmt.Sprintf("%s/?sale=%d&token=%s", s.public.URL, sale, url.QueryEscape(token)))
	wd.waitText("sale-remaining", "3")
	wd.waitText("sale-status", "active")
	if u := wd.currentURL(); strings.Contains(u, "token") {
		t.Errorf("the token stays in the address bar: %s", u)
	}
	wd.click("buy")
	orderNo := wd.waitMatch("order-no", regexp.MustCompile(`^[0-9a-f-]{36}$`))
	wd.waitText("order-status", "created")
	wd.waitText("sale-remaining", "2")
	if r := do(t, "GET", s.public.URL+"/api/v1/orders/"+orderNo, token, nil); r.status != http.StatusOK || r.str("status") != "created" {
		t.Fatalf("the page's order %s: the API answers %d %s", orderNo, r.status, r.raw)
	}
	wd.click("pay")
	wd.waitText("order-status", "paid")
	if r := do(t, "GET", s.public.URL+"/api/v1/orders/"+orderNo, token, nil); r.str("status") != "paid" {
		t.Fatalf("after Pay the API answers %d %s", r.status, r.raw)
	}
	if m := wd.text("message"); m != "" {
		t.Errorf("the page shows an error after paying: %q", m)
	}
}

// browserTimeout bounds every wait on the browser: a guard against a hang,
// not a performance assertion.
const browserTimeout = 20 * time.Second

// needBrowser skips (or, with SECKILL_REQUIRE_SERVICES=1, fails) when
// Chromium or ChromeDriver is not installed; scripts/services.sh installs
// both.
func needBrowser(tb testing.TB) (chromium, driver string) {
	tb.Helper()
	var missing []string
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		missing = append(missing, "chromium")
	}
	driver, err = exec.LookPath("chromedriver")
	if err != nil {
		missing = append(missing, "chromedriver")
	}
	if len(missing) > 0 {
		if os.Getenv("SECKILL_REQUIRE_SERVICES") == "1" {
			tb.Fatalf("%s required (SECKILL_REQUIRE_SERVICES=1) but not installed: run scripts/services.sh", strings.Join(missing, " and "))
		}
		tb.Skipf("%s not installed (scripts/services.sh installs both); set SECKILL_REQUIRE_SERVICES=1 to fail instead", strings.Join(missing, " and "))
	}
	return chromium, driver
}

// webDriver is one ChromeDriver session, spoken to in plain WebDriver JSON.
type webDriver struct {
	tb    testing.TB
	base  string // http://127.0.0.1:port/session/<id> once the session exists
	httpc *http.Client
}

// startBrowser starts ChromeDriver and a headless Chromium session, both
// ended in cleanup.
func startBrowser(tb testing.TB) *webDriver {
	tb.Helper()
	chromium, driverPath := needBrowser(tb)
	port := freePort(tb)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, driverPath, fmt.Sprintf("--port=%d", port), "--allowed-ips=127.0.0.1")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatalf("start chromedriver: %v", err)
	}
	tb.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if tb.Failed() {
			tb.Logf("chromedriver output:\n%s", logs.String())
		}
	})
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	wd := &webDriver{tb: tb, base: root, httpc: &http.Client{Timeout: browserTimeout}}
	deadline := time.Now().Add(browserTimeout)
	for {
		var st struct {
			Ready bool `json:"ready"`
		}
		if err := wd.try("GET", "/status", nil, &st); err == nil && st.Ready {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("chromedriver not ready on %s after %s", root, browserTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	profile := tb.TempDir()
	var session struct {
		SessionID string `json:"sessionId"`
	}
	wd.call("POST", "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{
				"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--user-data-dir=" + profile,
			},
		},
	}}}, &session)
	wd.base = root + "/session/" + session.SessionID
	tb.Cleanup(func() { _ = wd.try("DELETE", "", nil, nil) })
	return wd
}

func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// try sends one WebDriver command and decodes its "value" into out.
func (w *webDriver) try(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := w.httpc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("%s %s: %d %.300s", method, path, res.StatusCode, raw)
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %.500s", method, path, res.StatusCode, env.Value)
	}
	if out != nil {
		return json.Unmarshal(env.Value, out)
	}
	return nil
}

func (w *webDriver) call(method, path string, in, out any) {
	w.tb.Helper()
	if err := w.try(method, path, in, out); err != nil {
		w.tb.Fatalf("webdriver: %v", err)
	}
}

func (w *webDriver) open(u string) {
	w.tb.Helper()
	w.call("POST", "/url", map[string]string{"url": u}, nil)
}

func (w *webDriver) currentURL() string {
	w.tb.Helper()
	var u string
	w.call("GET", "/url", nil, &u)
	return u
}

// element finds the element with the given id.
func (w *webDriver) element(id string) (string, error) {
	var ref map[string]string
	if err := w.try("POST", "/element", map[string]string{"using": "css selector", "value": "#" + id}, &ref); err != nil {
		return "", err
	}
	for _, v := range ref { // the key is the spec's element identifier
		return v, nil
	}
	return "", fmt.Errorf("no element #%s", id)
}

func (w *webDriver) text(id string) string {
	w.tb.Helper()
	el, err := w.element(id)
	if err != nil {
		w.tb.Fatalf("webdriver: %v", err)
	}
	var s string
	w.call("GET", "/element/"+el+"/text", nil, &s)
	return s
}

// click clicks the element once it is shown and enabled.
func (w *webDriver) click(id string) {
	w.tb.Helper()
	deadline := time.Now().Add(browserTimeout)
	for {
		el, err := w.element(id)
		if err == nil {
			var shown, enabled bool
			err = w.try("GET", "/element/"+el+"/displayed", nil, &shown)
			if err == nil {
				err = w.try("GET", "/element/"+el+"/enabled", nil, &enabled)
			}
			if err == nil && shown && enabled {
				w.call("POST", "/element/"+el+"/click", map[string]any{}, nil)
				return
			}
		}
		if time.Now().After(deadline) {
			w.tb.Fatalf("#%s not clickable after %s (%v); the page shows message %q", id, browserTimeout, err, w.text("message"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMatch waits until the element's text matches re and returns it.
func (w *webDriver) waitMatch(id string, re *regexp.Regexp) string {
	w.tb.Helper()
	deadline := time.Now().Add(browserTimeout)
	for {
		got := w.text(id)
		if re.MatchString(got) {
			return got
		}
		if time.Now().After(deadline) {
			w.tb.Fatalf("#%s shows %q after %s, want a match of %s; the page shows message %q",
				id, got, browserTimeout, re, w.text("message"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *webDriver) waitText(id, want string) {
	w.tb.Helper()
	w.waitMatch(id, regexp.MustCompile("^"+regexp.QuoteMeta(want)+"$"))
}
