package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	nsredis "github.com/necrostack/necrostack/backends/redis"
	"github.com/necrostack/necrostack/backends/redis/redistest"
)

// dashboardOn serves the dashboard of url, with token, for a test.
func dashboardOn(t *testing.T, url, token string) *httptest.Server {
	t.Helper()
	in, err := nsredis.NewInspector(context.Background(), url, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close() })
	d := &dashboard{in: in, token: token, log: slog.New(slog.DiscardHandler), rates: newRates()}
	srv := httptest.NewServer(d.handler())
	t.Cleanup(srv.Close)
	return srv
}

// client is a browser-like client: it keeps cookies and does not follow
// redirects.
func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetch(t *testing.T, c *http.Client, method, u string, form url.Values, header ...string) (int, string, *http.Response) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// csrfOf is the CSRF cookie c holds for srv.
func csrfOf(t *testing.T, c *http.Client, srv *httptest.Server) string {
	u, _ := url.Parse(srv.URL)
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == csrfCookie {
			return k.Value
		}
	}
	t.Fatal("no CSRF cookie")
	return ""
}

// The access token: without it every page is refused; /login sets it in
// a cookie, a bearer header works too.
func TestWebToken(t *testing.T) {
	s := seed(t)
	srv := dashboardOn(t, s.srv.URL(), "s3cret-token")
	c := client(t)
	if code, body, _ := fetch(t, c, "GET", srv.URL+"/", nil); code != 401 || !strings.Contains(body, "access token is needed") {
		t.Errorf("no token: %d %q", code, body)
	}
	if code, _, _ := fetch(t, c, "GET", srv.URL+"/", nil, "Authorization", "Bearer wrong"); code != 401 {
		t.Errorf("a wrong bearer token: %d", code)
	}
	if code, _, _ := fetch(t, c, "GET", srv.URL+"/login?token=wrong", nil); code != 401 {
		t.Errorf("/login with a wrong token: %d", code)
	}
	if code, body, _ := fetch(t, c, "GET", srv.URL+"/", nil, "Authorization", "Bearer s3cret-token"); code != 200 || !strings.Contains(body, stream) {
		t.Errorf("a bearer token: %d", code)
	}
	if code, _, _ := fetch(t, c, "GET", srv.URL+"/login?token=s3cret-token", nil); code != 303 {
		t.Errorf("/login: %d, want a redirect", code)
	}
	if code, body, _ := fetch(t, c, "GET", srv.URL+"/dlq?stream="+stream, nil); code != 200 || strings.Count(body, `class="dl"`) != 6 {
		t.Errorf("after /login: %d, %d dead letters listed", code, strings.Count(body, `class="dl"`))
	}
}

// A POST without the page's CSRF token changes nothing; with it, redrive
// and purge do what they say, and purge wants its confirmation.
func TestWebForms(t *testing.T) {
	s := seed(t)
	srv := dashboardOn(t, s.srv.URL(), "")
	c := client(t)
	oracle := dls(t, s, "--organ", "Oracle")
	if code, body, _ := fetch(t, c, "GET", srv.URL+"/dlq/show?stream="+stream+"&id="+oracle[0].ID, nil); code != 200 || !strings.Contains(body, `id="redrive"`) || !strings.Contains(body, "SPIRIT") {
		t.Fatalf("a dead letter's page: %d\n%s", code, body)
	}
	token := csrfOf(t, c, srv)
	form := func(id, csrf string, extra ...string) url.Values {
		v := url.Values{"stream": {stream}, "id": {id}, "csrf": {csrf}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	for _, f := range []url.Values{form(oracle[0].ID, ""), form(oracle[0].ID, "0123456789abcdef0123456789abcdef")} {
		if code, body, _ := fetch(t, c, "POST", srv.URL+"/dlq/redrive", f); code != 403 || !strings.Contains(body, "CSRF") {
			t.Errorf("redrive with csrf %q: %d %q", f.Get("csrf"), code, body)
		}
	}
	if d, _ := s.lens(t); d != 6 {
		t.Fatalf("refused forms changed the dead letters: %d", d)
	}
	code, _, resp := fetch(t, c, "POST", srv.URL+"/dlq/redrive", form(oracle[0].ID, token))
	if d, _ := s.lens(t); code != 303 || !strings.Contains(resp.Header.Get("Location"), "redrove+1+dead+letter") || d != 5 {
		t.Errorf("redrive: %d to %q, %d dead letters", code, resp.Header.Get("Location"), d)
	}
	if code, body, _ := fetch(t, c, "POST", srv.URL+"/dlq/purge", form(oracle[1].ID, token)); code != 500 || !strings.Contains(body, "tick the box") {
		t.Errorf("purge unconfirmed: %d", code)
	}
	if d, _ := s.lens(t); d != 5 {
		t.Errorf("an unconfirmed purge deleted: %d left", d)
	}
	if code, _, _ := fetch(t, c, "POST", srv.URL+"/dlq/purge", form(oracle[1].ID, token, "confirm", "yes")); code != 303 {
		t.Errorf("purge: %d", code)
	}
	if d, _ := s.lens(t); d != 4 {
		t.Errorf("after the purge, %d dead letters, want 4", d)
	}
	if code, _, _ := fetch(t, c, "GET", srv.URL+"/dlq/show?stream="+stream+"&id=1-1", nil); code != 404 {
		t.Errorf("a missing dead letter: %d, want 404", code)
	}
	if code, _, _ := fetch(t, c, "GET", srv.URL+"/dlq?stream=nowhere", nil); code != 404 {
		t.Errorf("a missing stream: %d, want 404", code)
	}
}

// No page shows the Redis password; listening beyond the loopback needs
// a token.
func TestWebSecrets(t *testing.T) {
	red := redistest.Start(t, "--requirepass", "pw-9d2f")
	srv := dashboardOn(t, "redis://:pw-9d2f@"+red.Addr(), "")
	if code, body, _ := fetch(t, client(t), "GET", srv.URL+"/", nil); code != 200 || strings.Contains(body, "pw-9d2f") || !strings.Contains(body, "xxxxx@") {
		t.Errorf("the status page: %d, the password shown: %v", code, strings.Contains(body, "pw-9d2f"))
	}
	code, _, errOut := necro(t, red.URL(), "web", "--listen", "0.0.0.0:0")
	if code != 2 || !strings.Contains(errOut, "beyond the loopback, the dashboard needs an access token") {
		t.Errorf("web on 0.0.0.0 without a token: exit %d, %s", code, errOut)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// Without a token the dashboard answers only to a loopback Host (no DNS
// rebinding), and refuses a cross-origin POST even with a good CSRF pair.
func TestWebOrigins(t *testing.T) {
	s := seed(t)
	srv := dashboardOn(t, s.srv.URL(), "")
	c := client(t)
	if code, body, _ := fetch(t, c, "GET", srv.URL+"/", nil, "Host", "evil.example"); code != 403 || !strings.Contains(body, "answers only to localhost") {
		t.Errorf("Host evil.example: %d %q", code, body)
	}
	for _, host := range []string{"localhost", "[::1]:8080", "127.0.0.1:8080"} {
		if code, _, _ := fetch(t, c, "GET", srv.URL+"/", nil, "Host", host); code != 200 {
			t.Errorf("Host %s: %d", host, code)
		}
	}
	oracle := dls(t, s, "--organ", "Oracle")
	fetch(t, c, "GET", srv.URL+"/dlq?stream="+stream, nil)
	form := url.Values{"stream": {stream}, "id": {oracle[0].ID}, "csrf": {csrfOf(t, c, srv)}}
	if code, _, _ := fetch(t, c, "POST", srv.URL+"/dlq/redrive", form, "Sec-Fetch-Site", "same-site"); code != 403 {
		t.Errorf("a same-site (not same-origin) POST: %d, want 403", code)
	}
	if code, _, _ := fetch(t, c, "POST", srv.URL+"/dlq/redrive", form, "Origin", "http://evil.example"); code != 403 {
		t.Errorf("a cross-origin POST: %d, want 403", code)
	}
	if d, _ := s.lens(t); d != 6 {
		t.Errorf("refused POSTs changed the dead letters: %d", d)
	}
}

// The throughput chart: entries added between samples, as bars over five
// minutes, and the rate over the last minute; a stream made again (fewer
// added than before) starts over; streams gone are forgotten.
func TestRates(t *testing.T) {
	r := newRates()
	start := time.Now().Add(-2 * time.Minute)
	for i := 0; i <= 120; i++ { // 10 entries a second for two minutes
		r.observe("s", int64(10*i), start.Add(time.Duration(i)*time.Second))
	}
	r.observe("s", 1200, start.Add(120*time.Second)) // the same instant again: ignored
	chart, rate := r.chart("s")
	if rate < 9.9 || rate > 10.1 {
		t.Errorf("rate %v, want 10/s", rate)
	}
	if wellFormed(t, chart) < 2 || !strings.Contains(chart, "peak 50 per 5s") || strings.Contains(chart, `height="-`) {
		t.Errorf("chart: %s", chart)
	}
	r.observe("s", 3, start.Add(121*time.Second)) // deleted and made again
	if _, rate := r.chart("s"); rate != 0 {
		t.Errorf("after a restart of the count, rate %v, want 0 (one sample)", rate)
	}
	r.keep(nil)
	if chart, _ := r.chart("s"); !strings.Contains(chart, "sampling") {
		t.Errorf("a forgotten stream still charted: %s", chart)
	}
}
