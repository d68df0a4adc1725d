package store

import (
	"errors"
	"fmt"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"
)

type codeErr int

func (c codeErr) Error() string { return fmt.Sprintf("sqlite code %d", int(c)) }
func (c codeErr) Code() int     { return int(c) }

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"mysql deadlock", &mysqldrv.MySQLError{Number: 1213}, true},
		{"mysql lock wait timeout", &mysqldrv.MySQLError{Number: 1205}, true},
		{"mysql duplicate key", &mysqldrv.MySQLError{Number: 1062}, true},
		{"mysql wrapped deadlock", fmt.Errorf("insert: %w", &mysqldrv.MySQLError{Number: 1213}), true},
		{"mysql check constraint", &mysqldrv.MySQLError{Number: 4025}, false},
		{"mysql data too long", &mysqldrv.MySQLError{Number: 1406}, false},
		{"sqlite busy", codeErr(5), true},
		{"sqlite busy snapshot", codeErr(5 | 2<<8), true},
		{"sqlite locked", codeErr(6), true},
		{"sqlite constraint", codeErr(19), false},
		{"guard moved", fmt.Errorf("raise: %w", errGuardMoved), true},
		{"other", errors.New("connection refused"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.err); got != tt.want {
				t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestChunk(t *testing.T) {
	tests := []struct {
		n, size int
		want    []int
	}{
		{0, 3, nil},
		{3, 3, []int{3}},
		{7, 3, []int{3, 3, 1}},
	}
	for _, tt := range tests {
		var got []int
		for _, c := range chunk(make([]int, tt.n), tt.size) {
			got = append(got, len(c))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("chunk(%d, %d) sizes = %v, want %v", tt.n, tt.size, got, tt.want)
		}
	}
}
