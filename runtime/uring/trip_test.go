package uring

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/urgen/urgen/generated/uapi"
)

// BenchmarkNopTrip measures what the layer itself costs per request: a
// NOP, which the kernel completes at once, submitted through a ring from
// g goroutines (Options.RingOnly: no shortcut around the ring). What a
// read through the ring costs beyond this is the kernel's read.
func BenchmarkNopTrip(b *testing.B) {
	for _, g := range []int{1, 32, 256} {
		b.Run(fmt.Sprintf("g=%d", g), func(b *testing.B) {
			e, err := NewEngine(Options{RingOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			per := b.N/g + 1
			var wg sync.WaitGroup
			cpu0 := cpuNow()
			b.ResetTimer()
			for range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range per {
						var sqe uapi.SQE
						sqe.PrepNop()
						if res, _, err := e.shard().do(context.Background(), &sqe, keepRefs{}, 0); err != nil || res != 0 {
							b.Errorf("nop: %d, %v", res, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64((cpuNow()-cpu0).Nanoseconds())/float64(per*g), "cpu-ns/op")
		})
	}
}
