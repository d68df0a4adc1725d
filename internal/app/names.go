package app

import (
	"github.com/seckill/seckill/internal/config"
	"github.com/seckill/seckill/internal/mq"
)

// OverridesFrom turns the configured name prefixes into Overrides.
func OverridesFrom(n config.Names) Overrides {
	ov := Overrides{StockPrefix: n.StockPrefix}
	if n.QueuePrefix != "" || n.PersistPartitions > 1 {
		t := mq.DefaultTopology().WithPrefix(n.QueuePrefix)
		t.Partitions = max(n.PersistPartitions, 1)
		ov.Topology = &t
	}
	return ov
}
