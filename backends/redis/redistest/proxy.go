package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a loopback TCP proxy between Redis clients and a server that
// injects the faults of a real network: latency, connections reset, links
// that stay open but carry nothing (half-open: what is sent on them is lost,
// as when a NAT or a load balancer forgets a connection), a stalled link
// that delivers what it held once it resumes (a partition that heals), and
// the reply of a chosen command cut after the server has run it. It reads the Redis protocol
// (RESP2 and RESP3) in both directions, so that it knows which reply answers
// which command.
//
// Faults apply to the connections open when they are set and to new ones.
// The proxy closes everything when the test ends.
type Proxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	mu       sync.Mutex
	conns    map[*link]struct{}
	accepted int
	latency  time.Duration
	silent   bool // new links are dead (BlackHole)
	stalled  bool
	resumed  chan struct{} // closed when a stall ends
	cuts     []cutRule
	cutDone  int
	closed   bool
	wg       sync.WaitGroup
	commands map[string]int // replies delivered, by command name
}

// cutRule cuts the replies of the next n commands that match.
type cutRule struct {
	match func(args []string) bool
	n     int
}

// link is one client connection and its connection to the server.
type link struct {
	client, server net.Conn
	once           sync.Once
	gone           chan struct{} // closed when the link is closed
	dead           atomic.Bool   // carries nothing, ever again
}

// reset closes both sides at once, with RST where the OS allows, as a
// connection lost would.
func (l *link) reset() { l.close(true) }

// close closes both sides, with RST (abort) or FIN.
func (l *link) close(abort bool) {
	l.once.Do(func() {
		for _, c := range []net.Conn{l.client, l.server} {
			if tc, ok := c.(*net.TCPConn); ok && abort {
				_ = tc.SetLinger(0)
			}
			_ = c.Close()
		}
		close(l.gone)
	})
}

// StartProxy starts a proxy on a free loopback port in front of target
// (host:port, on loopback), and stops it when the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: listen: %v", err)
	}
	p := &Proxy{t: t, ln: ln, target: target, conns: map[*link]struct{}{}, resumed: make(chan struct{}), commands: map[string]int{}}
	close(p.resumed)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is a redis:// URL of the proxy.
func (p *Proxy) URL() string { return "redis://" + p.Addr() }

// SetLatency delays every chunk the proxy forwards, each way, by d.
func (p *Proxy) SetLatency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// ResetAll resets every open connection; new ones are accepted as usual.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.conns))
	for l := range p.conns {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.reset()
	}
}

// BlackHole makes every open link, and every link accepted until Heal,
// half-open: the sockets stay open, the client's writes still succeed
// (into buffers), and nothing is carried either way, ever again. Only a
// client that gives up on such a connection and opens another gets through,
// once the proxy is healed.
func (p *Proxy) BlackHole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = true
	for l := range p.conns {
		l.dead.Store(true)
	}
}

// Heal ends a black hole for the links accepted from now on.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.silent = false
	p.mu.Unlock()
}

// Stall holds everything every link carries, each way, open or new, until
// Resume delivers it, as TCP does once a partition heals: commands a client
// has given up on may still reach the server.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		p.stalled = true
		p.resumed = make(chan struct{})
	}
}

// Resume ends a stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stalled {
		p.stalled = false
		close(p.resumed)
	}
}

// CutReply makes the proxy cut the replies of the next n commands for which
// match returns true: the server runs the command, and instead of its reply
// the client reads the end of the connection (as when a proxy or a load
// balancer drops it). args are the command's arguments, the
// name first, as sent.
func (p *Proxy) CutReply(match func(args []string) bool, n int) {
	p.mu.Lock()
	p.cuts = append(p.cuts, cutRule{match: match, n: n})
	p.mu.Unlock()
}

// Command returns a CutReply matcher for commands named name (any case).
func Command(name string) func(args []string) bool {
	return func(args []string) bool { return len(args) > 0 && strings.EqualFold(args[0], name) }
}

// Cut reports how many replies the proxy has cut so far.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutDone
}

// Accepted reports how many client connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Replies reports how many replies to commands named name (upper case)
// the proxy has delivered.
func (p *Proxy) Replies(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.commands[strings.ToUpper(name)]
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.stalled {
		p.stalled = false
		close(p.resumed)
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.ResetAll()
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			_ = c.Close()
			continue
		}
		l := &link{client: c, server: s, gone: make(chan struct{})}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.reset()
			return
		}
		l.dead.Store(p.silent)
		p.conns[l] = struct{}{}
		p.accepted++
		p.mu.Unlock()
		pending := make(chan []string, 1024) // commands sent, in order, awaiting their replies
		p.wg.Add(2)
		go p.forwardCommands(l, pending)
		go p.forwardReplies(l, pending)
	}
}

// wait blocks while l is stalled or dead and applies the latency; it
// reports false once l is to carry nothing more.
func (p *Proxy) wait(l *link) bool {
	p.mu.Lock()
	resumed, latency, closed := p.resumed, p.latency, p.closed
	p.mu.Unlock()
	if l.dead.Load() {
		<-l.gone // silent until the client gives up, or the proxy closes
		return false
	}
	select {
	case <-resumed:
	case <-l.gone:
		return false
	}
	if latency > 0 {
		time.Sleep(latency)
	}
	return !closed && !l.dead.Load()
}

func (p *Proxy) drop(l *link) {
	l.reset()
	p.mu.Lock()
	delete(p.conns, l)
	p.mu.Unlock()
}

func (p *Proxy) forwardCommands(l *link, pending chan<- []string) {
	defer p.wg.Done()
	defer close(pending)
	defer p.drop(l)
	r := bufio.NewReader(l.client)
	for {
		raw, args, err := readFrame(r, true)
		if err != nil {
			return
		}
		if !p.wait(l) {
			return
		}
		pending <- args
		if _, err := l.server.Write(raw); err != nil {
			return
		}
	}
}

func (p *Proxy) forwardReplies(l *link, pending <-chan []string) {
	defer p.wg.Done()
	defer p.drop(l)
	r := bufio.NewReader(l.server)
	for {
		raw, _, err := readFrame(r, false)
		if err != nil {
			return
		}
		if raw[0] == '>' { // a push message answers no command
			if p.wait(l) {
				_, _ = l.client.Write(raw)
			}
			continue
		}
		args, ok := <-pending
		if !ok {
			return
		}
		if !p.wait(l) {
			return
		}
		if p.cutNow(args) {
			l.close(false) // the client reads EOF where the reply should be
			return
		}
		if _, err := l.client.Write(raw); err != nil {
			return
		}
	}
}

// cutNow reports whether the reply to args is to be cut, and counts it.
func (p *Proxy) cutNow(args []string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := range p.cuts {
		if c := &p.cuts[i]; c.n > 0 && c.match(args) {
			c.n--
			p.cutDone++
			return true
		}
	}
	if len(args) > 0 {
		p.commands[strings.ToUpper(args[0])]++
	}
	return false
}

// readFrame reads one RESP frame and returns its bytes; for a command (an
// array of bulk strings, or an inline command), also its arguments. An
// attribute frame ('|') is returned together with the frame it annotates.
func readFrame(r *bufio.Reader, command bool) (raw []byte, args []string, err error) {
	var buf []byte
	if command {
		b, err := r.Peek(1)
		if err != nil {
			return nil, nil, err
		}
		if b[0] != '*' { // an inline command
			line, err := r.ReadBytes('\n')
			if err != nil {
				return nil, nil, err
			}
			return line, strings.Fields(string(line)), nil
		}
	}
	var top []string
	buf, err = readValue(r, buf, &top, 0)
	if err != nil {
		return nil, nil, err
	}
	return buf, top, nil
}

var errProtocol = errors.New("proxy: bad RESP frame")

// readValue appends one RESP value read from r to buf. The bulk strings of a
// top-level array (depth 1) are collected into args.
func readValue(r *bufio.Reader, buf []byte, args *[]string, depth int) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return buf, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return buf, errProtocol
	}
	buf = append(buf, line...)
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+', '-', ':', ',', '#', '_', '(':
		return buf, nil
	case '$', '!', '=':
		n, err := strconv.Atoi(body)
		if err != nil {
			return buf, errProtocol
		}
		if n < 0 {
			return buf, nil
		}
		start := len(buf)
		buf = append(buf, make([]byte, n+2)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return buf, err
		}
		if depth == 1 && args != nil {
			*args = append(*args, string(buf[start:start+n]))
		}
		return buf, nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil {
			return buf, errProtocol
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for range max(n, 0) {
			if buf, err = readValue(r, buf, args, depth+1); err != nil {
				return buf, err
			}
		}
		if line[0] == '|' { // an attribute: the value it annotates follows
			return readValue(r, buf, args, depth)
		}
		return buf, nil
	}
	return buf, fmt.Errorf("%w: type %q", errProtocol, line[0])
}
