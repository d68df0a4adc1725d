// Package proc starts and stops the seckill binaries a load tool drives:
// it builds cmd/api and cmd/worker, finds free ports, starts children whose
// output goes to a log file, waits for them to answer and stops them.
package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ModuleRoot is the directory of the go.mod the running tool belongs to.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run inside the seckill module (go env GOMOD is empty)")
	}
	return filepath.Dir(mod), nil
}

// Build builds cmd/api and cmd/worker of the module at root into
// dir and returns their paths.
func Build(ctx context.Context, root, dir string, log io.Writer) (api, worker string, err error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(os.PathSeparator), "./cmd/api", "./cmd/worker")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go build ./cmd/api ./cmd/worker: %w", err)
	}
	return filepath.Join(dir, "api"), filepath.Join(dir, "worker"), nil
}

// FreeAddrs returns n distinct free 127.0.0.1 addresses. They are free when
// returned; the processes given them bind them moments later.
func FreeAddrs(ctx context.Context, n int) ([]string, error) {
	lns := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}()
	out := make([]string, 0, n)
	for range n {
		l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// Proc is a child process a tool started.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	err  error         // its exit status, once done
	log  *os.File
}

// Start starts path with args and env (added to the tool's own
// environment), its output going to logPath. The child gets SIGKILL if the
// tool dies first.
func Start(name, path string, args, env []string, logPath string) (*Proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd := exec.Command(path, args...) //nolint:noctx // stopped by Stop, not by a context, to shut down gracefully
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, done: make(chan struct{}), log: lf}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process is gone, and why.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// LogPath is the file its output goes to.
func (p *Proc) LogPath() string { return p.log.Name() }

// Kill sends SIGKILL, as a crash would, and waits for the exit.
func (p *Proc) Kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.log.Close()
}

// Stop sends SIGTERM, waits up to grace for the exit, then kills.
func (p *Proc) Stop(grace time.Duration) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	_ = p.log.Close()
}

// WaitHTTP polls check until it returns nil, the process exits, ctx ends or
// timeout passes.
func WaitHTTP(ctx context.Context, p *Proc, timeout time.Duration, check func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if gone, err := p.Exited(); gone {
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("%s exited before it was ready (%w); see %s", p.Name, err, p.log.Name())
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %w; see %s", p.Name, timeout, last, p.log.Name())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ExpectStatus is a readiness check: method url answers want.
func ExpectStatus(c *http.Client, method, url string, want int) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return err
		}
		res, err := c.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
		_ = res.Body.Close()
		if res.StatusCode != want {
			return fmt.Errorf("%s %s: %d, want %d", method, url, res.StatusCode, want)
		}
		return nil
	}
}
