package consumer

import (
	"context"
	"log/slog"
	"time"
)

// heldAck is the one ack frame a Loop may hold back (WithAckDelay): the
// AckThrough of the last batch committed, which also acks every batch
// before it whose ack was held. It belongs to Run's goroutine.
type heldAck struct {
	delay time.Duration
	max   int

	ack      func() error // nil: nothing held
	messages int          // deliveries the held frame acks
	timer    *time.Timer  // running while a frame is held with a delay
}

func newHeldAck(delay time.Duration, max int) *heldAck {
	return &heldAck{delay: delay, max: max}
}

// hold takes the frame ack that acks messages more deliveries, in place
// of the one held, and sends it when no delay is set or the deliveries
// reach the bound.
func (h *heldAck) hold(ctx context.Context, log *slog.Logger, ack func() error, messages int) {
	h.ack = ack
	h.messages += messages
	switch {
	case h.delay <= 0 || h.messages >= h.max:
		h.send(ctx, log)
	case h.timer == nil:
		h.timer = time.NewTimer(h.delay)
	}
}

// due fires once a held frame has waited the delay; nil while none waits.
func (h *heldAck) due() <-chan time.Time {
	if h.timer == nil {
		return nil
	}
	return h.timer.C
}

// send sends the held frame, if any.
func (h *heldAck) send(ctx context.Context, log *slog.Logger) {
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	ack, messages := h.ack, h.messages
	h.ack, h.messages = nil, 0
	if ack == nil {
		return
	}
	if err := ack(); err != nil {
		log.WarnContext(ctx, "ack after commit failed; the broker will redeliver and the store will report duplicates",
			"messages", messages, "err", err)
	}
}
