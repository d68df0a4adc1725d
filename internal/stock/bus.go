package stock

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/order"
)

// RedisBus carries sold-out announcements between api instances over Redis
// pub/sub. A lost message costs only speed, never correctness: a flag is
// re-checked against the stock backend within a few seconds.
type RedisBus struct {
	client  redis.UniversalClient
	channel string
	log     *slog.Logger
}

var _ order.SoldOutBus = (*RedisBus)(nil)

// NewRedisBus announces on prefix + ":soldout".
func NewRedisBus(client redis.UniversalClient, prefix string, log *slog.Logger) *RedisBus {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &RedisBus{client: client, channel: prefix + ":soldout", log: log}
}

// Announce tells every instance that saleID sold out (or has units again).
func (b *RedisBus) Announce(ctx context.Context, saleID int64, soldOut bool) error {
	state := "0"
	if soldOut {
		state = "1"
	}
	if err := b.client.Publish(ctx, b.channel, strconv.FormatInt(saleID, 10)+":"+state).Err(); err != nil {
		return fmt.Errorf("stock: announce sale %d: %w", saleID, err)
	}
	return nil
}

// Run delivers announcements to handle until ctx ends. The subscription
// re-establishes itself after a lost connection.
func (b *RedisBus) Run(ctx context.Context, handle func(ctx context.Context, saleID int64, soldOut bool)) error {
	sub := b.client.Subscribe(ctx, b.channel)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg, ok := <-ch:
			if !ok {
				return nil
			}
			id, state, found := strings.Cut(msg.Payload, ":")
			saleID, err := strconv.ParseInt(id, 10, 64)
			if !found || err != nil || (state != "0" && state != "1") {
				b.log.WarnContext(ctx, "ignoring a malformed sold-out announcement", "payload", msg.Payload)
				continue
			}
			handle(ctx, saleID, state == "1")
		}
	}
}
