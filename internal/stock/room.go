package stock

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/seckill/seckill/internal/admission"
	"github.com/seckill/seckill/scripts/lua"
)

var roomScript = redis.NewScript(lua.Room)

// Room is the sales' waiting rooms on Redis (room.lua): a sale's room lives
// under the sale's hash tag, beside its stock, so it works on a Redis
// Cluster and every replica shares it. Whatever the stock backend, the
// rooms are on Redis.
type Room struct {
	client redis.UniversalClient
	prefix string
}

var _ admission.Room = (*Room)(nil)

// NewRoom returns the waiting rooms on client, under prefix (as the stock
// keys' prefix, free of '{' and '}').
func NewRoom(client redis.UniversalClient, prefix string) *Room {
	if prefix == "" || strings.ContainsAny(prefix, "{}") {
		panic(fmt.Sprintf("stock: invalid room key prefix %q", prefix))
	}
	return &Room{client: client, prefix: prefix}
}

func (r *Room) base(saleID int64) string {
	return r.prefix + ":{s" + strconv.FormatInt(saleID, 10) + "}:room"
}

// Join gives a buyer a place in the sale's room (see admission.Room).
func (r *Room) Join(ctx context.Context, j admission.Join) (admission.Place, error) {
	base := r.base(j.SaleID)
	keys := []string{base, base + ":places"}
	if j.Spend != "" {
		keys = append(keys, base+":spent:"+j.Spend)
	}
	return r.run(ctx, keys, "join", j.Rate, j.UserID, max(j.Keep, time.Second), max(j.SpendFor, time.Millisecond))
}

// Poll lets in whoever's turn has come in the sale's room.
func (r *Room) Poll(ctx context.Context, saleID, rate, position int64, keep time.Duration) (admission.Place, error) {
	base := r.base(saleID)
	return r.run(ctx, []string{base, base + ":places"}, "poll", rate, position, max(keep, time.Second), time.Millisecond)
}

func (r *Room) run(ctx context.Context, keys []string, op string, rate, who int64, keep, spendFor time.Duration) (admission.Place, error) {
	reply, err := roomScript.Run(ctx, r.client, keys, op, rate, who, keep.Milliseconds(), spendFor.Milliseconds()).Int64Slice()
	if err != nil {
		return admission.Place{}, fmt.Errorf("room.lua: %w", err)
	}
	if len(reply) != 4 {
		return admission.Place{}, fmt.Errorf("room.lua: reply %v", reply)
	}
	if reply[0] < 0 {
		return admission.Place{}, admission.ErrSpent
	}
	return admission.Place{Position: reply[0], Admitted: reply[1], Last: reply[2], Credit: reply[3]}, nil
}
