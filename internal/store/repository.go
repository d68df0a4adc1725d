package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/seckill/seckill/internal/order"
)

// saleRow is a row of the sales table.
type saleRow struct {
	ID                   int64 `gorm:"primaryKey"`
	Name                 string
	PriceCents           int64
	TotalStock           int64
	Sold                 int64
	StartsAt             time.Time
	EndsAt               time.Time
	PaymentWindowSeconds int64
	AdmissionRate        int64
	AdmissionPowBits     int
	CreatedAt            time.Time `gorm:"autoCreateTime:false"`
	UpdatedAt            time.Time `gorm:"autoUpdateTime:false"`
}

func (saleRow) TableName() string { return "sales" }

func (r saleRow) sale() order.Sale {
	return order.Sale{
		ID:            r.ID,
		Name:          r.Name,
		PriceCents:    r.PriceCents,
		TotalStock:    r.TotalStock,
		Sold:          r.Sold,
		StartsAt:      r.StartsAt.UTC(),
		EndsAt:        r.EndsAt.UTC(),
		PaymentWindow: time.Duration(r.PaymentWindowSeconds) * time.Second,
		Admission:     order.Admission{RatePerSecond: r.AdmissionRate, PowBits: r.AdmissionPowBits},
		CreatedAt:     r.CreatedAt.UTC(),
		UpdatedAt:     r.UpdatedAt.UTC(),
	}
}

// orderRow is a row of the orders table. CreatedAt is the reservation time
// carried by the message; PersistedAt is when the worker wrote the row.
type orderRow struct {
	ID          int64 `gorm:"primaryKey"`
	OrderNo     string
	SaleID      int64
	UserID      int64
	Status      string
	Reason      *string   // why a cancelled order was cancelled; NULL otherwise
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	PersistedAt time.Time
	PaidAt      *time.Time
	UpdatedAt   time.Time `gorm:"autoUpdateTime:false"`
}

func (orderRow) TableName() string { return "orders" }

func (r orderRow) order() (order.Order, error) {
	st, err := parseStatus(r.Status)
	if err != nil {
		return order.Order{}, fmt.Errorf("order %s: %w", r.OrderNo, err)
	}
	o := order.Order{
		OrderNo:   r.OrderNo,
		SaleID:    r.SaleID,
		UserID:    r.UserID,
		Status:    st,
		CreatedAt: r.CreatedAt.UTC(),
	}
	if r.Reason != nil {
		o.Reason = *r.Reason
	}
	return o, nil
}

func parseStatus(s string) (order.Status, error) {
	switch order.Status(s) {
	case order.StatusCreated, order.StatusPaid, order.StatusCancelled:
		return order.Status(s), nil
	}
	return "", fmt.Errorf("unknown order status %q", s)
}

// saleRequestRow is a row of sale_requests: one sale created under a
// request id.
type saleRequestRow struct {
	RequestID   string `gorm:"primaryKey"`
	SaleID      int64
	Fingerprint string
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
}

func (saleRequestRow) TableName() string { return "sale_requests" }

// CreateSale stores a new sale with nothing sold, and in the same
// transaction its request id, when given, and the audit entry ctx may
// carry (order.WithAuditNote); see order.Repository. A repeat of a
// recorded request creates and records nothing. Two creates racing with
// one request id meet on its primary key: the loser's attempt is retried
// and finds the winner's row.
func (s *Store) CreateSale(ctx context.Context, n order.NewSale) (order.Sale, bool, error) {
	if err := n.Validate(); err != nil {
		return order.Sale{}, false, err
	}
	var fingerprint string
	if n.RequestID != "" {
		fingerprint = n.Fingerprint()
	}
	var (
		row     saleRow
		note    *order.AuditNote
		created bool
	)
	err := s.withRetry(ctx, func() error {
		// A fresh row each try: GORM reads a row's primary key, set by a
		// failed try's insert, as a condition of the reads into it.
		row, created = saleRow{}, false
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if n.RequestID != "" {
				var prev saleRequestRow
				err := tx.Where("request_id = ?", n.RequestID).Take(&prev).Error
				switch {
				case err == nil:
					if prev.Fingerprint != fingerprint {
						return order.RequestReused(n.RequestID, fmt.Sprintf("to create sale %d with other values", prev.SaleID))
					}
					return takeSale(tx, prev.SaleID, &row)
				case !errors.Is(err, gorm.ErrRecordNotFound):
					return err
				}
			}
			t := now()
			row = saleRow{
				Name:                 n.Name,
				PriceCents:           n.PriceCents,
				TotalStock:           n.TotalStock,
				StartsAt:             utc(n.StartsAt),
				EndsAt:               utc(n.EndsAt),
				PaymentWindowSeconds: int64(n.PaymentWindow / time.Second),
				AdmissionRate:        n.Admission.RatePerSecond,
				AdmissionPowBits:     n.Admission.PowBits,
				CreatedAt:            t,
				UpdatedAt:            t,
			}
			if err := tx.Create(&row).Error; err != nil {
				return err
			}
			if n.RequestID != "" {
				rec := saleRequestRow{RequestID: n.RequestID, SaleID: row.ID, Fingerprint: fingerprint, CreatedAt: t}
				if err := tx.Create(&rec).Error; err != nil {
					return err
				}
			}
			var err error
			note, err = auditInTx(ctx, tx, row.sale())
			created = true
			return err
		})
	})
	if err != nil {
		return order.Sale{}, false, fmt.Errorf("create sale: %w", err)
	}
	switch n := order.AuditNoteFrom(ctx); {
	case !created && n != nil:
		n.MarkReplayed()
	case note != nil:
		note.MarkWritten()
	}
	return row.sale(), created, nil
}

// RemoveSale deletes a sale that holds no order, with its request id, in
// one transaction that also records the removal in the audit trail under
// the actor of the create's note, when ctx carries one; see
// order.Repository.
func (s *Store) RemoveSale(ctx context.Context, id int64) error {
	err := s.withRetry(ctx, func() error {
		return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			var orders int64
			if err := tx.Model(&orderRow{}).Where("sale_id = ?", id).Count(&orders).Error; err != nil {
				return err
			}
			if orders > 0 {
				return fmt.Errorf("sale %d holds %d orders", id, orders)
			}
			if err := tx.Where("sale_id = ?", id).Delete(&saleRequestRow{}).Error; err != nil {
				return err
			}
			res := tx.Where("id = ?", id).Delete(&saleRow{})
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected != 1 {
				return order.ErrSaleNotFound
			}
			n := order.AuditNoteIn(ctx)
			if n == nil {
				return nil
			}
			row := newAuditRow(order.AuditEntry{
				Actor: n.Entry.Actor, Action: order.AuditSaleRemoved, Target: order.SaleTarget(id),
				Detail: "the stock backend could not load the new sale; removed before anything was sold", RemoteAddr: n.Entry.RemoteAddr,
			})
			return tx.Create(&row).Error
		})
	})
	if err != nil {
		return fmt.Errorf("remove sale %d: %w", id, err)
	}
	return nil
}

// Sale returns the sale id, or order.ErrSaleNotFound.
func (s *Store) Sale(ctx context.Context, id int64) (order.Sale, error) {
	var row saleRow
	err := s.db.WithContext(ctx).Where("id = ?", id).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return order.Sale{}, fmt.Errorf("sale %d: %w", id, order.ErrSaleNotFound)
	case err != nil:
		return order.Sale{}, fmt.Errorf("sale %d: %w", id, err)
	}
	return row.sale(), nil
}

// OpenSales lists the sales that end after since, by id.
func (s *Store) OpenSales(ctx context.Context, since time.Time) ([]order.Sale, error) {
	var rows []saleRow
	if err := s.db.WithContext(ctx).Where("ends_at > ?", utc(since)).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("open sales: %w", err)
	}
	out := make([]order.Sale, len(rows))
	for i, r := range rows {
		out[i] = r.sale()
	}
	return out, nil
}

// Order returns the order orderNo, or order.ErrOrderNotFound.
func (s *Store) Order(ctx context.Context, orderNo string) (order.Order, error) {
	var row orderRow
	err := s.db.WithContext(ctx).Where("order_no = ?", orderNo).Take(&row).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return order.Order{}, fmt.Errorf("order %s: %w", orderNo, order.ErrOrderNotFound)
	case err != nil:
		return order.Order{}, fmt.Errorf("order %s: %w", orderNo, err)
	}
	return row.order()
}

// SaleOrders lists every order of a sale, any status, in insertion order.
func (s *Store) SaleOrders(ctx context.Context, saleID int64) ([]order.Order, error) {
	var rows []orderRow
	if err := s.db.WithContext(ctx).Where("sale_id = ?", saleID).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("orders of sale %d: %w", saleID, err)
	}
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		o, err := r.order()
		if err != nil {
			return nil, fmt.Errorf("orders of sale %d: %w", saleID, err)
		}
		out[i] = o
	}
	return out, nil
}
