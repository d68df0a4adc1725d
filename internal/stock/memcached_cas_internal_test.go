package stock

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/seckill/seckill/internal/order"
)

// replyServer is a memcached stand-in on 127.0.0.1 that knows no item and
// answers every storage command with reply.
func replyServer(tb testing.TB, reply string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serveReplies(c, reply)
			}()
		}
	}()
	return ln.Addr().String()
}

func serveReplies(c net.Conn, reply string) {
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			return
		}
		switch f[0] {
		case "get", "gets":
			_, err = io.WriteString(c, "END\r\n")
		case "set", "add", "cas":
			n, perr := strconv.Atoi(f[4])
			if perr != nil {
				return
			}
			if _, err = io.CopyN(io.Discard, r, int64(n)+2); err == nil {
				_, err = io.WriteString(c, reply)
			}
		default:
			_, err = io.WriteString(c, "ERROR\r\n")
		}
		if err != nil {
			return
		}
	}
}

// TestWriteErrorClasses: a failed conditional write lost a race, surely
// wrote nothing, or may have written; the classes come from gomemcache's
// sentinels and types.
func TestWriteErrorClasses(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		lost, not bool // lostRace, neverSent
	}{
		{"EXISTS", memcache.ErrCASConflict, true, false},
		{"NOT_FOUND", memcache.ErrCacheMiss, true, false},
		{"NOT_STORED", memcache.ErrNotStored, true, false},
		{"wrapped EXISTS", fmt.Errorf("cas: %w", memcache.ErrCASConflict), true, false},
		{"connect timeout", &memcache.ConnectTimeoutError{Addr: &net.TCPAddr{}}, false, true},
		{"no servers", memcache.ErrNoServers, false, true},
		{"malformed key", memcache.ErrMalformedKey, false, true},
		{"server error", memcache.ErrServerError, false, true},
		{"dial refused", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, false, true},
		{"read failed", &net.OpError{Op: "read", Err: errors.New("connection reset")}, false, false},
		{"write failed", &net.OpError{Op: "write", Err: errors.New("broken pipe")}, false, false},
		{"connection closed", io.EOF, false, false},
		{"deadline", os.ErrDeadlineExceeded, false, false},
	}
	for _, tt := range tests {
		if got := lostRace(tt.err); got != tt.lost {
			t.Errorf("%s: lostRace = %v, want %v", tt.name, got, tt.lost)
		}
		if got := neverSent(tt.err); got != tt.not {
			t.Errorf("%s: neverSent = %v, want %v", tt.name, got, tt.not)
		}
	}
}

// TestErrorReplyIsRefused: a server that answers a write with an error
// line stored nothing, so the write fails closed (order.ErrUnavailable)
// and is not in doubt. The error comes from gomemcache itself, so this
// pins the one error classified by its text.
func TestErrorReplyIsRefused(t *testing.T) {
	for _, reply := range []string{"SERVER_ERROR object too large for cache\r\n", "CLIENT_ERROR bad data chunk\r\n"} {
		addr := replyServer(t, reply)
		client := memcache.New(addr)
		t.Cleanup(func() { client.Close() })

		err := client.Add(&memcache.Item{Key: "k", Value: []byte("v")})
		if err == nil || !neverSent(err) {
			t.Fatalf("%q: Add = %v, want an error neverSent knows", reply, err)
		}
		if err := client.CompareAndSwap(&memcache.Item{Key: "k", Value: []byte("v")}); err == nil || !neverSent(err) {
			t.Fatalf("%q: CompareAndSwap = %v, want an error neverSent knows", reply, err)
		}

		m, err := NewMemcachedClient(client)
		if err != nil {
			t.Fatal(err)
		}
		err = m.update(context.Background(), "test", 1, func([]byte) ([]byte, error) { return []byte("value"), nil })
		if !errors.Is(err, order.ErrUnavailable) || errors.Is(err, errInDoubt) {
			t.Fatalf("%q: update = %v, want order.ErrUnavailable and not in doubt", reply, err)
		}
	}
}
