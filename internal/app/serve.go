// Package app wires seckill's binaries: it opens the backends named by the
// configuration (real servers or the embedded ones), builds the domain's
// use cases (order.New) and the HTTP listeners, and runs them until the
// context ends.
//
// It is the one package that imports every other one (config, the
// adapters stock, store, mq and cache, the edges httpapi and consumer, and
// the domain order); only cmd/* imports it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Listener is one HTTP server of a binary.
type Listener struct {
	Name    string
	Addr    string
	Handler http.Handler
}

// Bound is a listener whose socket is open; Addr is the actual address
// (useful with ":0").
type Bound struct {
	Listener
	ln  net.Listener
	srv *http.Server
}

// Bind opens the sockets of every listener, so that failures (port taken)
// are reported before anything starts serving.
func Bind(ls ...Listener) ([]*Bound, error) {
	out := make([]*Bound, 0, len(ls))
	var lc net.ListenConfig
	for _, l := range ls {
		ln, err := lc.Listen(context.Background(), "tcp", l.Addr)
		if err != nil {
			for _, b := range out {
				_ = b.ln.Close()
			}
			return nil, fmt.Errorf("%s listener on %s: %w", l.Name, l.Addr, err)
		}
		l.Addr = ln.Addr().String()
		out = append(out, &Bound{Listener: l, ln: ln, srv: &http.Server{
			Handler:           l.Handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       15 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    16 << 10,
		}})
	}
	return out, nil
}

// Serve runs the bound listeners until ctx is done or one fails, then stops
// accepting and drains in-flight requests within timeout.
func Serve(ctx context.Context, log *slog.Logger, timeout time.Duration, bs ...*Bound) error {
	errc := make(chan error, len(bs))
	for _, b := range bs {
		log.Info("listening", "listener", b.Name, "addr", b.Addr)
		go func() {
			if err := b.srv.Serve(b.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener: %w", b.Name, err)
				return
			}
			errc <- nil
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	log.Info("shutting down listeners", "drain_timeout", timeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	for _, b := range bs {
		if err := b.srv.Shutdown(sctx); err != nil {
			first = errors.Join(first, fmt.Errorf("%s listener shutdown: %w", b.Name, err))
		}
	}
	return first
}
