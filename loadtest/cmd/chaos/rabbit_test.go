package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseWatermark(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   watermark
		ok     bool
		args   string
	}{
		{"Memory high watermark setting: 0.4 of available memory, computed to: 10.1106 gb", watermark{relative: 0.4}, true,
			"set_vm_memory_high_watermark 0.4"},
		{"Memory high watermark setting: 1073741824 bytes", watermark{absolute: 1 << 30}, true,
			"set_vm_memory_high_watermark absolute 1073741824"},
		{"Memory high watermark setting: 0.0001 of available memory", watermark{relative: 0.0001}, true,
			"set_vm_memory_high_watermark 0.0001"},
		{"Status of node rabbit@host", watermark{}, false, ""},
	} {
		got, ok := parseWatermark("Status of node\n" + tc.status + "\n")
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q: %+v %t, want %+v %t", tc.status, got, ok, tc.want, tc.ok)
		}
		if ok && strings.Join(got.args(), " ") != tc.args {
			t.Errorf("%q: args %q, want %q", tc.status, got.args(), tc.args)
		}
	}
	if strings.Join(defaultWatermark.args(), " ") != "set_vm_memory_high_watermark 0.4" {
		t.Errorf("default %q", defaultWatermark.args())
	}
}

func TestParseSS(t *testing.T) {
	out := `ESTAB 0 0 127.0.0.1:41234 127.0.0.1:5672 users:(("api",pid=101,fd=9))
ESTAB 0 0 127.0.0.1:41236 127.0.0.1:5672 users:(("worker",pid=202,fd=7))
ESTAB 0 0 127.0.0.1:41238 127.0.0.1:5672 users:(("go-test",pid=999,fd=3))
0 0 [::1]:41240 [::1]:5672 users:(("api",pid=101,fd=11))
garbage
`
	got := parseSS(out, map[int]string{101: "api1", 202: "worker1"})
	want := map[int]string{41234: "api1", 41236: "worker1", 41240: "api1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ports %v, want %v", got, want)
	}
}
