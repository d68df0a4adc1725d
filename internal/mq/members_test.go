package mq

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestMembersHearEachOther: two members find each other within a few
// heartbeats, and one that stops is forgotten once its heartbeats stop.
func TestMembersHearEachOther(t *testing.T) {
	b := newBroker(t)
	t.Cleanup(func() {
		if c, err := b.conn.Channel(); err == nil {
			_ = c.ExchangeDelete(b.topo.Exchange+".members", false, false)
		}
	})
	every := 50 * time.Millisecond
	newMember := func() (*Members, context.CancelFunc, chan struct{}) {
		m, err := NewMembers(b.url, testLogger(t), every, WithTopology(b.topo))
		mustNoErr(t, err, "new members")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = m.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return m, cancel, done
	}
	a, _, _ := newMember()
	c, stopC, doneC := newMember()
	both := []string{a.Self(), c.Self()}
	slices.Sort(both)
	waitFor(t, "both members seen by both", func() bool {
		return slices.Equal(a.Live(), both) && slices.Equal(c.Live(), both)
	})
	stopC()
	<-doneC
	waitFor(t, "the stopped member forgotten", func() bool { return slices.Equal(a.Live(), []string{a.Self()}) })
}
