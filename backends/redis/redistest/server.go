// Package redistest runs a real redis-server for tests: a child process on a
// free loopback port, which a test can kill (as a crash would) and start again
// on the same port. It needs the redis-server binary (Debian package
// redis-server); without it, Start skips the test and says why.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Server is a real redis-server child process on a loopback port.
type Server struct {
	t    testing.TB
	bin  string
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	// exited is closed when cmd has been waited for.
	exited chan struct{}
}

// Start starts redis-server on a free loopback port, without persistence
// unless args (extra redis-server options, such as "--appendonly", "yes")
// say otherwise, and stops it when the test ends. It skips the test, saying
// why, only when no redis-server binary exists: CI installs one.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not found on PATH: install it (apt-get install redis-server) to run the real-server tests")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), args: args}
	t.Cleanup(s.Kill)
	// The free port is released before redis-server binds it, so another
	// process may take it first: then try another port.
	for attempt := 1; ; attempt++ {
		s.port = freePort(t)
		err := s.start()
		if err == nil {
			return s
		}
		if attempt == 5 {
			t.Fatalf("start redis-server: %v", err)
		}
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addr is the server's host:port on the loopback interface.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Start starts the server again (after Kill) on the same port and data
// directory, and waits until it answers PING.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
}

// start runs redis-server and waits until this very process (not another
// one that got the port) answers.
func (s *Server) start() error {
	logPath := filepath.Join(s.dir, "redis.log")
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "no",
		"--logfile", logPath,
	}, s.args...)
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	rdb := goredis.NewClient(&goredis.Options{Addr: s.Addr(), MaxRetries: -1, Password: s.password()})
	defer rdb.Close()
	want := "process_id:" + strconv.Itoa(cmd.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			s.cmd = nil
			return fmt.Errorf("redis-server on %s exited:\n%s", s.Addr(), log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := rdb.Info(ctx, "server").Result()
		cancel()
		if err == nil && strings.Contains(info, want) {
			return nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			s.Kill()
			return fmt.Errorf("redis-server on %s did not answer (last error %v):\n%s", s.Addr(), err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// password is the server's --requirepass, if its options set one.
func (s *Server) password() string { return s.option("--requirepass") }

// option is the value of the server's option name ("--requirepass"), or
// "" when its options do not set it.
func (s *Server) option(name string) string {
	for i, a := range s.args {
		if a == name && i+1 < len(s.args) {
			return s.args[i+1]
		}
	}
	return ""
}

// Kill ends the server with SIGKILL, as a crash would, and waits until it is
// gone. It is safe to call when the server is already stopped.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

func (s *Server) String() string { return fmt.Sprintf("redis-server on %s", s.Addr()) }
