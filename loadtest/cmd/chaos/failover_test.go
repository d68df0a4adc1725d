package main

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestShardMaster: the slot's master is the online master of the shard
// whose ranges hold it; a failed old master beside its promoted replica is
// not it, and a slot nobody serves has none.
func TestShardMaster(t *testing.T) {
	shards := []redis.ClusterShard{
		{Slots: []redis.SlotRange{{Start: 0, End: 5460}}, Nodes: []redis.Node{
			{IP: "127.0.0.1", Port: 7000, Role: "master", Health: "online"},
			{IP: "127.0.0.1", Port: 7003, Role: "replica", Health: "online"},
		}},
		{Slots: []redis.SlotRange{{Start: 5461, End: 10922}}, Nodes: []redis.Node{
			{IP: "127.0.0.1", Port: 7001, Role: "master", Health: "failed"},
			{IP: "127.0.0.1", Port: 7004, Role: "master", Health: "online"},
		}},
	}
	for _, tt := range []struct {
		slot int64
		want string
	}{
		{0, "127.0.0.1:7000"}, {5460, "127.0.0.1:7000"}, {7102, "127.0.0.1:7004"}, {15224, ""},
	} {
		if got := shardMaster(shards, tt.slot); got != tt.want {
			t.Errorf("slot %d: %q, want %q", tt.slot, got, tt.want)
		}
	}
}
