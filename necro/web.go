package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	nsredis "github.com/necrostack/necrostack/backends/redis"
)

//go:embed web/*.html web/*.css
var webFiles embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"age": func(ms float64, some bool) string { return age(ms, some) },
	"svg": func(s string) template.HTML { return template.HTML(s) }, // drawn by necro, its text escaped
}).ParseFS(webFiles, "web/*.html"))

// dashboard is `necro web`: the pages, over an Inspector.
type dashboard struct {
	in    *nsredis.Inspector
	token string // "" when none is needed (loopback)
	log   *slog.Logger
	rates *rates
}

func webCommand(o *options, getenv func(string) string) *cobra.Command {
	var listen, token string
	var sample time.Duration
	cmd := &cobra.Command{
		Use:   "web",
		Short: "A dashboard in the browser: streams, consumers, lag, throughput, dead letters, chains",
		Long: "web serves the dashboard on --listen (127.0.0.1:8080): the status of every NecroStack stream,\n" +
			"refreshing itself, with each stream's throughput over the last five minutes; the dead letters,\n" +
			"one by one, with redrive and purge; a chain drawn as a picture; the flow of event types.\n" +
			"Listening beyond the loopback needs an access token (--token, or $NECRO_WEB_TOKEN): open\n" +
			"/login?token=… once, or send it as Authorization: Bearer …. It serves until interrupted.",
		Example: "  necro web\n  NECRO_WEB_TOKEN=$(openssl rand -hex 16) necro web --listen 0.0.0.0:8080",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if token == "" {
				token = getenv("NECRO_WEB_TOKEN")
			}
			host, _, err := net.SplitHostPort(listen)
			if err != nil {
				return usageError{fmt.Errorf("--listen %q: %v", listen, err)}
			}
			if !loopback(host) && token == "" {
				return usageError{fmt.Errorf("--listen %s: beyond the loopback, the dashboard needs an access token (--token, or $NECRO_WEB_TOKEN)", listen)}
			}
			in, err := o.inspector(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return usageError{fmt.Errorf("--listen: %w", err)}
			}
			d := &dashboard{in: in, token: token, log: slog.New(slog.NewJSONHandler(o.stderr, nil)), rates: newRates()}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			go d.rates.sample(ctx, in, sample)
			srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second}
			stopped := make(chan struct{})
			go func() {
				defer close(stopped)
				<-ctx.Done()
				shut, done := context.WithTimeout(context.Background(), 5*time.Second)
				defer done()
				_ = srv.Shutdown(shut) // lets the requests in flight finish
			}()
			fmt.Fprintf(o.stdout, "necro web: http://%s/ (Redis %s)\n", ln.Addr(), in.URL())
			err = srv.Serve(ln)
			cancel()
			<-stopped // before the Inspector closes
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "host:port to serve the dashboard on")
	cmd.Flags().StringVar(&token, "token", "", "the access token the pages need (default $NECRO_WEB_TOKEN; required beyond the loopback)")
	cmd.Flags().DurationVar(&sample, "sample", time.Second, "how often the throughput is sampled")
	return cmd
}

// loopbackHost reports whether a request's Host names the loopback.
func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	return loopback(strings.Trim(host, "[]"))
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// handler is the dashboard's routes, behind the access check.
func (d *dashboard) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.status)
	mux.HandleFunc("GET /dlq", d.deadLetters)
	mux.HandleFunc("GET /dlq/show", d.deadLetter)
	mux.HandleFunc("POST /dlq/redrive", d.redrive)
	mux.HandleFunc("POST /dlq/purge", d.purge)
	mux.HandleFunc("GET /trace", d.trace)
	mux.HandleFunc("GET /graph", d.graph)
	mux.HandleFunc("GET /style.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		css, _ := webFiles.ReadFile("web/style.css")
		_, _ = w.Write(css)
	})
	mux.HandleFunc("GET /login", d.login)
	// Cross-origin POSTs are refused by the browser's own word
	// (Sec-Fetch-Site, Origin), before the CSRF token is even looked at.
	return http.NewCrossOriginProtection().Handler(d.guard(mux))
}

const tokenCookie, csrfCookie = "necro_token", "necro_csrf"

// guard refuses requests without the access token (when one is set), and
// POSTs whose CSRF field does not match their cookie. Every page gets
// headers that keep it out of frames and off other origins.
func (d *dashboard) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		if d.token == "" && !loopbackHost(r.Host) {
			// Without a token the dashboard is the loopback's only: a page
			// whose name was rebound to 127.0.0.1 does not get in.
			http.Error(w, "necro web: without an access token the dashboard answers only to localhost, 127.0.0.1 and [::1]", http.StatusForbidden)
			return
		}
		if d.token != "" && r.URL.Path != "/login" && !d.authorized(r) {
			http.Error(w, "necro web: an access token is needed: open /login?token=…, or send Authorization: Bearer …", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost {
			c, err := r.Cookie(csrfCookie)
			if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
				http.Error(w, "necro web: the form's CSRF token is missing or wrong: reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (d *dashboard) authorized(r *http.Request) bool {
	given := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if c, err := r.Cookie(tokenCookie); err == nil && given == "" {
		given = c.Value
	}
	return given != "" && subtle.ConstantTimeCompare([]byte(given), []byte(d.token)) == 1
}

func (d *dashboard) login(w http.ResponseWriter, r *http.Request) {
	if d.token == "" || subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("token")), []byte(d.token)) != 1 {
		http.Error(w, "necro web: wrong or missing token", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: d.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// csrf returns the request's CSRF token, setting its cookie when it has
// none.
func csrf(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 32 {
		return c.Value
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	v := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return v
}

// page is what every template gets.
type page struct {
	Title, Redis, CSRF, Flash, Error string
	Data                             any
}

func (d *dashboard) render(w http.ResponseWriter, r *http.Request, name, title string, data any, err error) {
	p := page{Title: title, Redis: d.in.URL(), CSRF: csrf(w, r), Flash: r.URL.Query().Get("done"), Data: data}
	status := http.StatusOK
	if err != nil {
		p.Error = err.Error()
		status = http.StatusInternalServerError
		if isNotFound(err) {
			status = http.StatusNotFound
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, p); err != nil {
		d.log.Error("necro web: render", "page", name, "error", err.Error())
	}
}

// streamView is a stream on the status page.
type streamView struct {
	streamJSON
	Chart template.HTML
	Rate  float64 // entries added per second, over the last minute
}

func (d *dashboard) status(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	names, err := d.in.Streams(ctx)
	var views []streamView
	for _, s := range names {
		st, serr := d.in.Stats(ctx, s)
		if serr != nil {
			err = serr
			break
		}
		d.rates.observe(s, st.Added, time.Now())
		chart, rate := d.rates.chart(s)
		views = append(views, streamView{streamJSON: toJSON(st), Chart: template.HTML(chart), Rate: rate})
	}
	d.render(w, r, "status.html", "Streams", views, err)
}

type dlqView struct {
	Stream string
	Items  []deadLetterJSON
}

func (d *dashboard) deadLetters(w http.ResponseWriter, r *http.Request) {
	stream := r.URL.Query().Get("stream")
	dls, err := d.in.DeadLetters(r.Context(), stream, "", 500)
	v := dlqView{Stream: stream}
	for _, dl := range dls {
		v.Items = append(v.Items, dlJSON(dl))
	}
	d.render(w, r, "dlq.html", "Dead letters of "+stream, v, err)
}

type dlView struct {
	Stream string
	DL     deadLetterJSON
	Event  string // the event, indented
	Chain  string // its chain id, for the trace link
}

func (d *dashboard) deadLetter(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	dl, err := d.in.DeadLetter(r.Context(), q.Get("stream"), q.Get("id"))
	v := dlView{Stream: q.Get("stream"), DL: dlJSON(dl)}
	if err == nil && !dl.Event.IsZero() {
		var x any
		_ = json.Unmarshal(v.DL.Event, &x)
		b, _ := json.MarshalIndent(x, "", "  ")
		v.Event, v.Chain = string(b), dl.Event.ID()
	}
	d.render(w, r, "dl.html", "Dead letter "+q.Get("id"), v, err)
}

// back redirects to the dead letters of stream, saying what was done.
func back(w http.ResponseWriter, r *http.Request, stream, done string) {
	http.Redirect(w, r, "/dlq?stream="+url.QueryEscape(stream)+"&done="+url.QueryEscape(done), http.StatusSeeOther)
}

func (d *dashboard) redrive(w http.ResponseWriter, r *http.Request) {
	stream, id := r.PostFormValue("stream"), r.PostFormValue("id")
	n, err := d.in.Redrive(r.Context(), stream, id)
	if err != nil {
		d.render(w, r, "dl.html", "Dead letter "+id, dlView{Stream: stream}, err)
		return
	}
	d.log.Info("necro web: redrove", "stream", stream, "id", id)
	back(w, r, stream, fmt.Sprintf("redrove %d dead letter (%s) to %s", n, id, stream))
}

func (d *dashboard) purge(w http.ResponseWriter, r *http.Request) {
	stream, id := r.PostFormValue("stream"), r.PostFormValue("id")
	if r.PostFormValue("confirm") != "yes" {
		d.render(w, r, "dl.html", "Dead letter "+id, dlView{Stream: stream}, errors.New("tick the box to confirm the purge: it cannot be undone"))
		return
	}
	n, err := d.in.Purge(r.Context(), stream, id)
	if err != nil {
		d.render(w, r, "dl.html", "Dead letter "+id, dlView{Stream: stream}, err)
		return
	}
	d.log.Info("necro web: purged", "stream", stream, "id", id)
	back(w, r, stream, fmt.Sprintf("purged %d dead letter (%s)", n, id))
}

type pictureView struct {
	Stream, ID, Text string
	SVG              template.HTML
}

func (d *dashboard) trace(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := pictureView{Stream: q.Get("stream"), ID: q.Get("id")}
	var err error
	if v.ID != "" {
		var c *chain
		if c, err = d.findChain(r.Context(), v.Stream, v.ID); err == nil {
			var text, svg strings.Builder
			_ = c.text(&text)
			_ = c.picture().svg(&svg)
			v.Text, v.SVG = text.String(), template.HTML(svg.String())
		}
	}
	d.render(w, r, "trace.html", "Chain", v, err)
}

func (d *dashboard) findChain(ctx context.Context, stream, id string) (*chain, error) {
	entries, dls, err := readStream(ctx, d.in, stream, webScan)
	if err != nil {
		return nil, err
	}
	return findChain(entries, dls, id)
}

// webScan is how many of a stream's newest entries the chain and flow
// pages read.
const webScan = 100_000

func (d *dashboard) graph(w http.ResponseWriter, r *http.Request) {
	stream := r.URL.Query().Get("stream")
	v := pictureView{Stream: stream}
	entries, dls, err := readStream(r.Context(), d.in, stream, webScan)
	if err == nil {
		var svg strings.Builder
		_ = observeFlow(entries, dls).picture().svg(&svg)
		v.SVG = template.HTML(svg.String())
	}
	d.render(w, r, "graph.html", "Flow of "+stream, v, err)
}

// rates keeps each stream's count of added entries over the last five
// minutes, a sample a second, for the throughput charts.
type rates struct {
	mu      sync.Mutex
	samples map[string][]rateSample
}

type rateSample struct {
	at    time.Time
	added int64
}

const rateWindow = 5 * time.Minute

func newRates() *rates { return &rates{samples: map[string][]rateSample{}} }

func (r *rates) observe(stream string, added int64, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.samples[stream]
	if n := len(s); n > 0 && (added < s[n-1].added || !at.After(s[n-1].at)) {
		if added >= s[n-1].added {
			return // not after the last sample (a page and the sampler at once): nothing new
		}
		s = nil // fewer than before: the stream was deleted and made again
	}
	s = append(s, rateSample{at: at, added: added})
	i := 0
	for i < len(s) && at.Sub(s[i].at) > rateWindow {
		i++
	}
	r.samples[stream] = slices.Clone(s[i:])
}

// sample observes every stream every period until ctx ends.
func (r *rates) sample(ctx context.Context, in *nsredis.Inspector, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	var names []string
	for i := 0; ; i++ {
		if i%10 == 0 { // the streams, every tenth sample: a SCAN of the keyspace
			if found, err := in.Streams(ctx); err == nil {
				names = found
				r.keep(names)
			}
		}
		for _, s := range names {
			if added, err := in.Added(ctx, s); err == nil {
				r.observe(s, added, time.Now())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// keep forgets the samples of streams not in names.
func (r *rates) keep(names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for s := range r.samples {
		if !slices.Contains(names, s) {
			delete(r.samples, s)
		}
	}
}

// chart draws the entries added per second over the window as bars, and
// returns it with the rate over the last minute.
func (r *rates) chart(stream string) (string, float64) {
	r.mu.Lock()
	s := slices.Clone(r.samples[stream])
	r.mu.Unlock()
	const w, h, bars = 300, 48, 60
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="%d" height="%d" viewBox="0 0 %d %d"><rect width="%d" height="%d" fill="#f6f8fa"/>`, w, h+12, w, h+12, w, h)
	rate := 0.0
	if len(s) >= 2 {
		end := s[len(s)-1].at
		per := make([]float64, bars) // each bar is rateWindow/bars
		slot := rateWindow / bars
		for i := 1; i < len(s); i++ {
			k := bars - 1 - int(end.Sub(s[i].at)/slot)
			if k >= 0 {
				per[k] += float64(s[i].added - s[i-1].added)
			}
		}
		top := 1.0
		for _, v := range per {
			top = max(top, v)
		}
		for i, v := range per {
			bh := int(v / top * float64(h-2))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#4a6fa5"/>`, i*w/bars, h-bh, w/bars-1, bh)
		}
		for i := len(s) - 1; i > 0; i-- {
			if end.Sub(s[i-1].at) > time.Minute {
				if secs := end.Sub(s[i-1].at).Seconds(); secs > 0 {
					rate = float64(s[len(s)-1].added-s[i-1].added) / secs
				}
				break
			}
			if i == 1 {
				if secs := end.Sub(s[0].at).Seconds(); secs > 0 {
					rate = float64(s[len(s)-1].added-s[0].added) / secs
				}
			}
		}
		fmt.Fprintf(&b, `<text x="0" y="%d" font-size="10" fill="#555">5 min ago</text><text x="%d" y="%d" font-size="10" fill="#555" text-anchor="end">now · peak %.0f per %v</text>`, h+11, w, h+11, top, slot)
	} else {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" fill="#555" text-anchor="middle">sampling…</text>`, w/2, h/2+4)
	}
	b.WriteString(`</svg>`)
	return b.String(), rate
}
