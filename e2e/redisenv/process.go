package redisenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// childServer is redis-server as a child process, started again on the same
// port and data directory after a kill.
type childServer struct {
	bin  string
	dir  string
	args []string

	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

func newChild(t testing.TB, env *environment, port int, args []string) (*childServer, error) {
	dir := t.TempDir()
	args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--logfile", filepath.Join(dir, "redis.log"),
	}, args...)
	return &childServer{bin: env.redisServer, dir: dir, args: args}, nil
}

func (s *childServer) start(context.Context) error {
	cmd := exec.Command(s.bin, s.args...)
	// Never outlive the test binary, even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.done)
	return nil
}

func (s *childServer) kill(ctx context.Context) error {
	return s.signal(ctx, syscall.SIGKILL)
}

func (s *childServer) stop(ctx context.Context) error {
	return s.signal(ctx, syscall.SIGTERM)
}

// signal sends sig and waits for the process to end, killing it if ctx
// ends first.
func (s *childServer) signal(ctx context.Context, sig syscall.Signal) error {
	if s.cmd == nil {
		return nil
	}
	defer func() { s.cmd = nil }()
	if err := s.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		_ = s.cmd.Process.Kill()
		<-s.done
		return fmt.Errorf("redis-server did not exit on %v: killed", sig)
	}
}

func (s *childServer) exited(context.Context) bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *childServer) logs(context.Context) string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return fmt.Sprintf("(no redis-server log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > 60 {
		lines = lines[len(lines)-60:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

func (s *childServer) remove(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return s.kill(ctx)
}
