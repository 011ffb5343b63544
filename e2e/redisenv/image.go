package redisenv

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	tc "github.com/testcontainers/testcontainers-go"
)

// dockerfile builds the local image: the host's redis-server and the
// libraries it links, nothing else. The binary goes in under the name
// redis-server whatever the host's file is called: Debian's is a symlink to
// redis-check-rdb, and Redis picks its mode from argv[0].
const dockerfile = `FROM scratch
COPY rootfs/ /
EXPOSE 6379
ENTRYPOINT ["/usr/bin/redis-server"]
`

// buildLocalImage builds LocalImage from the host's redis-server and returns
// the binary's path. The image is kept: the next run's build comes from
// Docker's cache, and rebuilds when the host's files change.
func buildLocalImage(ctx context.Context, p *tc.DockerProvider) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("no redis-server on PATH to build it from (apt-get install redis-server): %w", err)
	}
	archive, err := buildContext(ctx, bin)
	if err != nil {
		return "", err
	}
	repo, tag, _ := strings.Cut(LocalImage, ":")
	var log bytes.Buffer
	req := tc.ContainerRequest{FromDockerfile: tc.FromDockerfile{
		ContextArchive: bytes.NewReader(archive),
		Repo:           repo,
		Tag:            tag,
		KeepImage:      true,
		BuildLogWriter: &log,
	}}
	bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := p.BuildImage(bctx, &req); err != nil {
		return "", fmt.Errorf("docker build: %w\n%s", err, log.String())
	}
	return bin, nil
}

// buildContext returns a tar archive holding the Dockerfile and, under
// rootfs/, redis-server, every library ldd lists for it at its own path
// (symlinks followed), and an empty /data for Redis's files.
func buildContext(ctx context.Context, bin string) ([]byte, error) {
	libs, err := sharedLibraries(ctx, bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, mode int64, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	if err := add("Dockerfile", 0o644, []byte(dockerfile)); err != nil {
		return nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "rootfs/data/", Typeflag: tar.TypeDir, Mode: 0o777, ModTime: time.Unix(0, 0)}); err != nil {
		return nil, err
	}
	files := map[string]string{"/usr/bin/redis-server": bin}
	for _, l := range libs {
		files[l] = l
	}
	for dst, src := range files {
		// Read through symlinks: the image holds each file at the path the
		// binary or the loader asks for.
		body, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		info, err := os.Stat(src)
		if err != nil {
			return nil, err
		}
		if err := add("rootfs"+dst, int64(info.Mode().Perm()), body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sharedLibraries returns the absolute paths ldd lists for bin: every
// library it links and the dynamic loader. A static binary has none.
func sharedLibraries(ctx context.Context, bin string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "ldd", bin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(string(out)+stderr.String(), "not a dynamic executable") {
			return nil, nil
		}
		return nil, fmt.Errorf("ldd %s: %w: %s", bin, err, stderr.String())
	}
	return parseLdd(bytes.NewReader(out), bin)
}

// parseLdd reads ldd's output:
//
//	linux-vdso.so.1 (0x...)                          the kernel's, no file
//	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)
//	/lib64/ld-linux-x86-64.so.2 (0x...)              the loader
func parseLdd(r io.Reader, bin string) ([]string, error) {
	var libs []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		name, target, linked := strings.Cut(line, "=>")
		if linked {
			target = strings.TrimSpace(target)
			if strings.HasPrefix(target, "not found") {
				return nil, fmt.Errorf("ldd %s: %s is not found", bin, strings.TrimSpace(name))
			}
		} else {
			target = name
		}
		if f := strings.Fields(target); len(f) > 0 && filepath.IsAbs(f[0]) {
			libs = append(libs, f[0])
		}
	}
	return libs, sc.Err()
}
