package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// WatchKeyAges exports gatehouse_key_age_seconds{alg}: for each algorithm
// with an active signing key, how long ago that key was created, as ages
// returns at each scrape (keys.Manager.ActiveKeyAges). It must answer from
// memory. Call it once.
func (m *Metrics) WatchKeyAges(ages func() map[string]time.Duration) {
	if m == nil {
		return
	}
	desc := prometheus.NewDesc("gatehouse_key_age_seconds",
		"Age of the signing key active now, by algorithm: since its creation.", []string{"alg"}, nil)
	m.reg.MustRegister(collectorFunc{[]*prometheus.Desc{desc}, func(ch chan<- prometheus.Metric) {
		a := ages()
		algs := make([]string, 0, len(a))
		for alg := range a {
			algs = append(algs, alg)
		}
		slices.Sort(algs)
		for _, alg := range algs {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, a[alg].Seconds(), alg)
		}
	}})
}

// PostgresPoolStats is the state of a Postgres connection pool
// (pgxpool.Stat).
type PostgresPoolStats struct {
	Acquired int64 // connections in use
	Idle     int64 // connections open and unused
	Total    int64 // connections open or being opened
	Max      int64 // the pool's bound
}

// WatchPostgresPool exports gatehouse_postgres_pool_connections{state}
// (acquired, idle, total) and gatehouse_postgres_pool_max_connections, as
// stat returns at each scrape. Call it once.
func (m *Metrics) WatchPostgresPool(stat func() PostgresPoolStats) {
	if m == nil {
		return
	}
	conns := prometheus.NewDesc("gatehouse_postgres_pool_connections",
		"Connections of the Postgres pool, by state: acquired (in use), idle, total.", []string{"state"}, nil)
	maxConns := prometheus.NewDesc("gatehouse_postgres_pool_max_connections",
		"The Postgres pool's bound (database_max_conns).", nil, nil)
	m.reg.MustRegister(collectorFunc{[]*prometheus.Desc{conns, maxConns}, func(ch chan<- prometheus.Metric) {
		s := stat()
		ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(s.Acquired), "acquired")
		ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(s.Idle), "idle")
		ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(s.Total), "total")
		ch <- prometheus.MustNewConstMetric(maxConns, prometheus.GaugeValue, float64(s.Max))
	}})
}

// RedisPoolStats is the state of a Redis connection pool (go-redis's
// PoolStats). Hits, Misses and Timeouts count since the pool started.
type RedisPoolStats struct {
	Hits     int64 // a free connection was found
	Misses   int64 // none was, so one was opened
	Timeouts int64 // waiting for a connection timed out
	Total    int64 // connections open
	Idle     int64 // connections open and unused
}

// WatchRedisPool exports gatehouse_redis_pool_hits_total,
// gatehouse_redis_pool_misses_total, gatehouse_redis_pool_timeouts_total
// and gatehouse_redis_pool_connections{state} (total, idle), as stat
// returns at each scrape. Call it once.
func (m *Metrics) WatchRedisPool(stat func() RedisPoolStats) {
	if m == nil {
		return
	}
	hits := prometheus.NewDesc("gatehouse_redis_pool_hits_total",
		"Times the Redis pool had a free connection.", nil, nil)
	misses := prometheus.NewDesc("gatehouse_redis_pool_misses_total",
		"Times the Redis pool had no free connection and opened one.", nil, nil)
	timeouts := prometheus.NewDesc("gatehouse_redis_pool_timeouts_total",
		"Times waiting for a Redis connection timed out.", nil, nil)
	conns := prometheus.NewDesc("gatehouse_redis_pool_connections",
		"Connections of the Redis pool, by state: total, idle.", []string{"state"}, nil)
	m.reg.MustRegister(collectorFunc{[]*prometheus.Desc{hits, misses, timeouts, conns}, func(ch chan<- prometheus.Metric) {
		s := stat()
		ch <- prometheus.MustNewConstMetric(hits, prometheus.CounterValue, float64(s.Hits))
		ch <- prometheus.MustNewConstMetric(misses, prometheus.CounterValue, float64(s.Misses))
		ch <- prometheus.MustNewConstMetric(timeouts, prometheus.CounterValue, float64(s.Timeouts))
		ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(s.Total), "total")
		ch <- prometheus.MustNewConstMetric(conns, prometheus.GaugeValue, float64(s.Idle), "idle")
	}})
}

// collectorFunc is a collector of fixed descriptions whose values are read
// at each scrape by collect.
type collectorFunc struct {
	descs   []*prometheus.Desc
	collect func(ch chan<- prometheus.Metric)
}

func (c collectorFunc) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c collectorFunc) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
