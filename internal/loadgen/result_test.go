package loadgen

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var rec recorder
	for i := 100; i >= 1; i-- { // out of order: the result sorts
		rec.add(time.Duration(i)*time.Millisecond, nil)
	}
	rec.add(time.Hour, errors.New("failed")) // failures are not latencies
	r := rec.result(time.Second)

	assert.Equal(t, 101, r.Requests)
	assert.Equal(t, 1, r.Errors)
	assert.Equal(t, time.Millisecond, r.Percentile(0.001))
	assert.Equal(t, 50*time.Millisecond, r.Percentile(0.50))
	assert.Equal(t, 99*time.Millisecond, r.Percentile(0.99))
	assert.Equal(t, 100*time.Millisecond, r.Percentile(1))
	assert.InDelta(t, 100.0, r.Throughput(), 1e-9)
}

func TestEmptyResult(t *testing.T) {
	var r Result
	assert.Zero(t, r.Percentile(0.99))
	assert.Zero(t, r.Throughput())
}
