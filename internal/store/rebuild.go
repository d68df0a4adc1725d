package store

import (
	"context"
	"fmt"
	"time"
)

// PassFence records that the worker received the fence fenceID at at,
// after committing everything delivered before it; see order.BatchStore. A
// fence passes once: a redelivered fence keeps its first time. An unknown
// fence id (a rebuild recorded elsewhere, or gone) is not an error.
func (s *Store) PassFence(ctx context.Context, fenceID string, at time.Time) error {
	err := s.db.WithContext(ctx).Table("stock_rebuilds").
		Where("fence_id = ? AND passed_at IS NULL", fenceID).
		Update("passed_at", utc(at)).Error
	if err != nil {
		return fmt.Errorf("pass fence %s: %w", fenceID, err)
	}
	return nil
}
