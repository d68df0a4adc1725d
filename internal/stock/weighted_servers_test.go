package stock

import (
	"fmt"
	"math"
	"net"
	"testing"
)

func TestParseWeightedServers(t *testing.T) {
	tests := []struct {
		spec    string
		list    []string // the selection list, nil for an error
		servers []string
	}{
		{spec: "127.0.0.1:11211", list: []string{"127.0.0.1:11211"}, servers: []string{"127.0.0.1:11211"}},
		{spec: "10.0.0.1:11211*2, 10.0.0.2:11211", list: []string{"10.0.0.1:11211", "10.0.0.1:11211", "10.0.0.2:11211"},
			servers: []string{"10.0.0.1:11211", "10.0.0.2:11211"}},
		{spec: "10.0.0.1:1,10.0.0.1:1*2,", list: []string{"10.0.0.1:1", "10.0.0.1:1", "10.0.0.1:1"}, servers: []string{"10.0.0.1:1"}},
		{spec: "[::1]:11211*3", list: []string{"[::1]:11211", "[::1]:11211", "[::1]:11211"}, servers: []string{"[::1]:11211"}},
		{spec: ""},
		{spec: " , "},
		{spec: "10.0.0.1:11211*0"},
		{spec: "10.0.0.1:11211*-1"},
		{spec: "10.0.0.1:11211*x"},
		{spec: "10.0.0.1:11211*1001"},
		{spec: "*2"},
		{spec: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			r, err := ParseWeightedServers(tt.spec)
			if tt.list == nil {
				if err == nil {
					t.Fatalf("ParseWeightedServers(%q) accepted %v", tt.spec, r.list)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseWeightedServers(%q): %v", tt.spec, err)
			}
			got := make([]string, len(r.list))
			for i, a := range r.list {
				got[i] = a.String()
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.list) {
				t.Errorf("selection list %v, want %v", got, tt.list)
			}
			if fmt.Sprint(r.Servers()) != fmt.Sprint(tt.servers) {
				t.Errorf("servers %v, want %v", r.Servers(), tt.servers)
			}
			var each []string
			if err := r.Each(func(a net.Addr) error { each = append(each, a.String()); return nil }); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(each) != fmt.Sprint(tt.servers) {
				t.Errorf("Each visited %v, want %v", each, tt.servers)
			}
		})
	}
}

// TestWeightedServersDistribution spreads many sale keys over servers of
// weights 1, 2 and 5: each receives about its share of the selection list.
func TestWeightedServersDistribution(t *testing.T) {
	r, err := ParseWeightedServers("10.0.0.1:11211*1,10.0.0.2:11211*2,10.0.0.3:11211*5")
	if err != nil {
		t.Fatal(err)
	}
	const keys = 80000
	counts := map[string]int{}
	for id := range keys {
		a, err := r.PickServer(fmt.Sprintf("sk:{s%d}:state", id+1))
		if err != nil {
			t.Fatal(err)
		}
		counts[a.String()]++
	}
	want := map[string]float64{"10.0.0.1:11211": 1.0 / 8, "10.0.0.2:11211": 2.0 / 8, "10.0.0.3:11211": 5.0 / 8}
	for addr, share := range want {
		got := float64(counts[addr]) / keys
		if math.Abs(got-share) > 0.02 {
			t.Errorf("%s got %.3f of the keys, want %.3f ± 0.02 (counts %v)", addr, got, share, counts)
		}
	}
}

// TestWeightedServersStable: a key always maps to the same server, in one
// selection and in every one parsed from the same list, and a lone server
// takes every key.
func TestWeightedServersStable(t *testing.T) {
	const spec = "10.0.0.1:11211*3,10.0.0.2:11211,10.0.0.3:11211*2"
	a, err := ParseWeightedServers(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseWeightedServers(spec)
	if err != nil {
		t.Fatal(err)
	}
	for id := range 2000 {
		key := fmt.Sprintf("sk:{s%d}:state", id)
		first, _ := a.PickServer(key)
		for range 3 {
			again, _ := a.PickServer(key)
			other, _ := b.PickServer(key)
			if again.String() != first.String() || other.String() != first.String() {
				t.Fatalf("key %s moved: %s, %s, %s", key, first, again, other)
			}
		}
	}
	one, err := ParseWeightedServers("10.0.0.9:11211*4")
	if err != nil {
		t.Fatal(err)
	}
	for id := range 100 {
		if got, _ := one.PickServer(fmt.Sprint(id)); got.String() != "10.0.0.9:11211" {
			t.Fatalf("lone server picked %s", got)
		}
	}
}
