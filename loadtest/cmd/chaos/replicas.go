package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Series of the api's /metrics the replicas scenario reads.
const (
	flagAnswersSeries = "seckill_soldout_flag_answers_total"
	reserveCallSeries = "seckill_stock_reserve_duration_seconds_count"
)

const (
	// flagSaleStock is the size of the sale sold out through api1 alone.
	flagSaleStock = 50
	// flagHammer is how many buyers then ask api2 for it.
	flagHammer = 300
	// announceWait lets api1's sold-out announcement reach api2.
	announceWait = time.Second
)

// injectReplicas has no fault: it shows what two replicas promise. A
// crowd spread over both apis buys the scenario's sale (checked by
// checkReplicas once it settled: exactly the stock, one order per buyer,
// all persisted). Then a second sale is sold out through api1 alone, and a
// crowd asking api2 for it must be answered 409 sold_out by api2's local
// sold-out flag, which it learnt from api1's announcement: api2 counts the
// flag's answers and makes no stock reservation call meanwhile.
func injectReplicas(ctx context.Context, s *suite, st *state) error {
	users := s.sz.users
	s.spikeWith(ctx, st, users, 0, nil)

	sale, err := s.admin[0].createSale(ctx, "chaos replicas flag", flagSaleStock)
	if err != nil {
		return err
	}
	api1, api2 := s.cl.apis[0], s.cl.apis[1]
	first := st.nextUser
	st.nextUser += flagSaleStock * 2
	res := s.spiker.run(ctx, s.cl.apis[:1], sale, first, flagSaleStock*2, s.sz.rate)
	st.note("sale %d of %d units sold through %s alone: %s", sale, flagSaleStock, api1.name, countsText(res))
	if res.counts.Accepted != flagSaleStock || res.counts.SoldOut == 0 {
		return fmt.Errorf("sale %d through %s: %d accepted and %d sold out, want %d accepted then sold out",
			sale, api1.name, res.counts.Accepted, res.counts.SoldOut, flagSaleStock)
	}
	sleep(ctx, announceWait)

	before, err := s.admin[1].metrics(ctx)
	if err != nil {
		return err
	}
	first = st.nextUser
	st.nextUser += flagHammer
	res = s.spiker.run(ctx, s.cl.apis[1:2], sale, first, flagHammer, s.sz.rate)
	after, err := s.admin[1].metrics(ctx)
	if err != nil {
		return err
	}
	flags := after[flagAnswersSeries] - before[flagAnswersSeries]
	reserves := after[reserveCallSeries] - before[reserveCallSeries]
	st.note("%d buyers asked %s for it: %s; %s counted %.0f flag answers (%s %.0f in all) and %.0f reservation calls",
		flagHammer, api2.name, countsText(res), api2.name, flags, flagAnswersSeries, after[flagAnswersSeries], reserves)
	var errs []string
	if res.counts.SoldOut != flagHammer {
		errs = append(errs, fmt.Sprintf("%s answered %d of %d buyers of the sold-out sale 409 sold_out", api2.name, res.counts.SoldOut, flagHammer))
	}
	if flags < flagHammer {
		errs = append(errs, fmt.Sprintf("%s answered %.0f purchases from its sold-out flag, want %d", api2.name, flags, flagHammer))
	}
	if reserves != 0 {
		errs = append(errs, fmt.Sprintf("%s made %.0f stock reservation calls for a sale sold out through %s", api2.name, reserves, api1.name))
	}
	if len(errs) > 0 {
		return fmt.Errorf("sold-out flag: %s", strings.Join(errs, "; "))
	}
	return nil
}

// checkReplicas holds the crowd's sale to what two replicas promise: with
// more buyers than units and no fault, every unit is sold once, to distinct
// buyers, and every sale is in MySQL.
func checkReplicas(st *state, o observation) []string {
	var out []string
	t := o.tally()
	if int64(t.accepted) != o.totalStock || int64(t.persisted) != o.totalStock {
		out = append(out, fmt.Sprintf("replicas: %d accepted and %d persisted, want the stock, %d, for each", t.accepted, t.persisted, o.totalStock))
	}
	users := map[int64]bool{}
	byAPI := map[string]int{}
	for _, a := range st.accepted {
		users[a.UserID] = true
		byAPI[a.API]++
	}
	if len(users) != len(st.accepted) {
		out = append(out, fmt.Sprintf("replicas: %d accepted orders for %d buyers", len(st.accepted), len(users)))
	}
	if len(byAPI) < 2 {
		out = append(out, fmt.Sprintf("replicas: accepted orders came from %d api only (%v)", len(byAPI), byAPI))
	}
	return out
}

// metrics scrapes the api's /metrics and sums each series by name (labels
// dropped), e.g. "seckill_stock_reserve_duration_seconds_count".
func (a adminClient) metrics(ctx context.Context) (map[string]float64, error) {
	status, raw, err := a.call(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("metrics: %d %s", status, truncate(raw))
	}
	return parseMetrics(raw), nil
}

// parseMetrics reads the Prometheus text format, summing the samples of a
// name over its labels.
func parseMetrics(raw []byte) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		name := line[:sp]
		if i := strings.IndexAny(name, "{ "); i >= 0 {
			name = name[:i]
		}
		out[name] += v
	}
	return out
}
