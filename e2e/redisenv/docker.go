package redisenv

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	tc "github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// Labels on every container, so that a later run can find what a killed
// test binary left behind.
const (
	labelPID  = "necrostack.e2e.pid"
	labelTest = "necrostack.e2e.test"
)

var redisPort = network.MustParsePort("6379/tcp")

// dockerEnvironment chooses the image: NECROSTACK_REDIS_IMAGE, else the
// public image if present or pullable, else one built from the host's
// redis-server.
func dockerEnvironment(ctx context.Context, p *tc.DockerProvider) (*environment, error) {
	e := &environment{kind: Docker, provider: p}
	if img := os.Getenv(EnvImage); img != "" {
		if !imagePresent(ctx, p, img) {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err := p.PullImage(pctx, img)
			cancel()
			if err != nil {
				return nil, fmt.Errorf("%s=%s: pull: %w", EnvImage, img, err)
			}
		}
		cmd, err := commandFor(ctx, p, img)
		if err != nil {
			return nil, err
		}
		e.image, e.cmd, e.detail = img, cmd, "image "+img+" from "+EnvImage
		return e, nil
	}

	var pullErr error
	if !imagePresent(ctx, p, PublicImage) {
		pctx, cancel := context.WithTimeout(ctx, pullTimeout)
		pullErr = p.PullImage(pctx, PublicImage)
		cancel()
	}
	if pullErr == nil {
		cmd, err := commandFor(ctx, p, PublicImage)
		if err != nil {
			return nil, err
		}
		e.image, e.cmd, e.detail = PublicImage, cmd, "image "+PublicImage
		return e, nil
	}

	bin, err := buildLocalImage(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("no Redis image: %s cannot be pulled (%v), and building %s failed: %w", PublicImage, oneLine(pullErr), LocalImage, err)
	}
	e.image, e.cmd = LocalImage, nil
	e.detail = fmt.Sprintf("image %s built FROM scratch out of %s, as %s cannot be pulled: %s", LocalImage, bin, PublicImage, oneLine(pullErr))
	return e, nil
}

func imagePresent(ctx context.Context, p *tc.DockerProvider, img string) bool {
	_, err := p.Client().ImageInspect(ctx, img)
	return err == nil
}

// commandFor returns what goes before redis-server's options in the
// container's command: nothing when the image's entrypoint is redis-server
// itself (as in the local image), else "redis-server", which the official
// images' entrypoint script runs.
func commandFor(ctx context.Context, p *tc.DockerProvider, img string) ([]string, error) {
	res, err := p.Client().ImageInspect(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("inspect image %s: %w", img, err)
	}
	if cfg := res.Config; cfg != nil && len(cfg.Entrypoint) > 0 && path.Base(cfg.Entrypoint[len(cfg.Entrypoint)-1]) == "redis-server" {
		return nil, nil
	}
	return []string{"redis-server"}, nil
}

func oneLine(err error) string {
	if err == nil {
		return "no error"
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// removeLeftovers removes the containers of earlier test binaries that are
// gone: a binary killed by go test -timeout runs no cleanup, and Ryuk, which
// would have, is disabled.
func removeLeftovers(ctx context.Context, p *tc.DockerProvider) {
	list, err := p.Client().ContainerList(ctx, client.ContainerListOptions{
		All: true, Filters: make(client.Filters).Add("label", labelPID),
	})
	if err != nil {
		return
	}
	for _, c := range list.Items {
		pid, err := strconv.Atoi(c.Labels[labelPID])
		if err == nil && pid != os.Getpid() && processAlive(pid) {
			continue
		}
		_, _ = p.Client().ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		fmt.Printf("redisenv: removed container %.12s left by test process %s (%s)\n", c.ID, c.Labels[labelPID], c.Labels[labelTest])
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// dockerServer is a Redis container. It is created once and started,
// killed and started again in place, so its data directory survives.
type dockerServer struct {
	ctr *tc.DockerContainer
	cli client.APIClient
}

func newContainer(ctx context.Context, t testing.TB, env *environment, port int, args []string, hostNetwork bool) (*dockerServer, error) {
	req := tc.GenericContainerRequest{
		ContainerRequest: tc.ContainerRequest{
			Image:  env.image,
			Labels: map[string]string{labelPID: strconv.Itoa(os.Getpid()), labelTest: t.Name()},
		},
		Logger: tclog.TestLogger(t),
	}
	if hostNetwork {
		// In the host's network, on its own loopback port, so that the
		// nodes of a cluster reach each other at the address they announce.
		args = append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--dir", "/data"}, args...)
		req.HostConfigModifier = func(hc *container.HostConfig) { hc.NetworkMode = "host" }
	} else {
		args = append([]string{"--bind", "0.0.0.0", "--port", "6379", "--dir", "/data"}, args...)
		req.ExposedPorts = []string{redisPort.String()}
		req.HostConfigModifier = func(hc *container.HostConfig) {
			// A fixed host port, published on loopback only, so that a
			// restarted container is at the same address.
			hc.PortBindings = network.PortMap{redisPort: {{
				HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: strconv.Itoa(port),
			}}}
		}
	}
	req.Cmd = append(append([]string(nil), env.cmd...), args...)
	c, err := tc.GenericContainer(ctx, req)
	if err != nil {
		if c != nil {
			_ = c.Terminate(ctx)
		}
		return nil, err
	}
	return &dockerServer{ctr: c.(*tc.DockerContainer), cli: env.provider.Client()}, nil
}

func (s *dockerServer) start(ctx context.Context) error { return s.ctr.Start(ctx) }

func (s *dockerServer) kill(ctx context.Context) error {
	if _, err := s.cli.ContainerKill(ctx, s.ctr.GetContainerID(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return err
	}
	return s.waitExited(ctx)
}

func (s *dockerServer) stop(ctx context.Context) error {
	timeout := 20 * time.Second
	if err := s.ctr.Stop(ctx, &timeout); err != nil {
		return err
	}
	return s.waitExited(ctx)
}

// waitExited waits until Docker no longer counts the container as running,
// so that a start right after is not refused.
func (s *dockerServer) waitExited(ctx context.Context) error {
	for {
		st, err := s.ctr.State(ctx)
		if err != nil {
			return err
		}
		if !st.Running && !st.Restarting {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("container still running: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *dockerServer) exited(ctx context.Context) bool {
	st, err := s.ctr.State(ctx)
	return err == nil && !st.Running && !st.Restarting
}

func (s *dockerServer) logs(ctx context.Context) string {
	res, err := s.cli.ContainerLogs(ctx, s.ctr.GetContainerID(), client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: "60",
	})
	if err != nil {
		return fmt.Sprintf("(no container log: %v)", err)
	}
	defer res.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, res); err != nil {
		fmt.Fprintf(&out, "(reading the log: %v)", err)
	}
	return out.String()
}

func (s *dockerServer) remove(ctx context.Context) error {
	return s.ctr.Terminate(ctx)
}
