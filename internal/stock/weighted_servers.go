package stock

import (
	"fmt"
	"hash/crc32"
	"net"
	"strconv"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"
)

var _ memcache.ServerSelector = (*WeightedServers)(nil)

// maxServerWeight bounds one server's weight, and so the length of a
// WeightedServers' selection list.
const maxServerWeight = 1000

// WeightedServers picks the memcached server of a key by weighted modulo
// placement, not consistent hashing. Every server appears in the selection
// list as often as its weight, as in python-memcached; a key goes to the
// entry crc32(key) mod len(list). The same key therefore always lands on
// the same server for one server list, and a server of weight 2 receives
// about twice the keys of one of weight 1.
//
// Changing the list moves keys, and a moved sale is a missing sale: it
// fails closed with order.ErrStockNotLoaded until a warm-up; with modulo
// placement, adding or removing a server moves most keys, not a share of
// them. A WeightedServers is immutable and safe for concurrent use.
type WeightedServers struct {
	list    []net.Addr // the selection list, each server repeated by its weight
	servers []net.Addr // each server once, in the order first given
}

// ParseWeightedServers parses "host:port[*weight],…": comma-separated
// servers, each with an optional positive integer weight (default 1). A
// path containing '/' is a Unix socket. Addresses are resolved once, here. A server listed
// twice adds up its weights.
func ParseWeightedServers(spec string) (*WeightedServers, error) {
	ws := &WeightedServers{}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		host, weight := part, 1
		if i := strings.LastIndexByte(part, '*'); i >= 0 {
			w, err := strconv.Atoi(strings.TrimSpace(part[i+1:]))
			if err != nil || w < 1 || w > maxServerWeight {
				return nil, fmt.Errorf("memcached servers %q: weight of %q must be an integer in [1, %d]", spec, part, maxServerWeight)
			}
			host, weight = strings.TrimSpace(part[:i]), w
		}
		addr, err := resolveServer(host)
		if err != nil {
			return nil, fmt.Errorf("memcached servers %q: %w", spec, err)
		}
		if !seen[addr.String()] {
			seen[addr.String()] = true
			ws.servers = append(ws.servers, addr)
		}
		for range weight {
			ws.list = append(ws.list, addr)
		}
	}
	if len(ws.list) == 0 {
		return nil, fmt.Errorf("memcached servers %q: no server", spec)
	}
	return ws, nil
}

// serverAddr is a resolved address whose Network and String are fixed, so
// the client's per-address connection pools are keyed stably.
type serverAddr struct{ network, addr string }

func (a serverAddr) Network() string { return a.network }
func (a serverAddr) String() string  { return a.addr }

func resolveServer(host string) (net.Addr, error) {
	if host == "" {
		return nil, fmt.Errorf("empty server address")
	}
	if strings.Contains(host, "/") {
		a, err := net.ResolveUnixAddr("unix", host)
		if err != nil {
			return nil, fmt.Errorf("server %q: %w", host, err)
		}
		return serverAddr{a.Network(), a.String()}, nil
	}
	a, err := net.ResolveTCPAddr("tcp", host)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", host, err)
	}
	return serverAddr{a.Network(), a.String()}, nil
}

// PickServer returns the server of key.
func (w *WeightedServers) PickServer(key string) (net.Addr, error) {
	if len(w.list) == 0 {
		return nil, memcache.ErrNoServers
	}
	if len(w.list) == 1 {
		return w.list[0], nil
	}
	return w.list[crc32.ChecksumIEEE([]byte(key))%uint32(len(w.list))], nil
}

// Each calls f once per distinct server, in the order first given.
func (w *WeightedServers) Each(f func(net.Addr) error) error {
	for _, a := range w.servers {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// Servers returns each distinct server once, in the order first given.
func (w *WeightedServers) Servers() []string {
	out := make([]string, len(w.servers))
	for i, a := range w.servers {
		out[i] = a.String()
	}
	return out
}
