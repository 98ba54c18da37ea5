package importer

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/gcbatch/gcbatch/checkpoint"
)

// stats is the one counter object of a run, behind one mutex: the collector counts outcomes,
// the reader counts rows read, workers count requests, and the progress bar reads snapshots.
type stats struct {
	mu              sync.Mutex
	fileRows        int // -1 unknown
	read            int
	left            int // rows that got no outcome (stopped while in the pipeline)
	rejectedEarlier int
	counts          checkpoint.Counts
	// The sending window, on the monotonic clock: when the first request was made, and when
	// the first and the last answer came; answered counts the rows that got one.
	firstSend, firstAnswer, lastAnswer time.Time
	answered                           int
}

type statsSnapshot struct {
	fileRows, read, left, rejectedEarlier int
	counts                                checkpoint.Counts
	firstSend, firstAnswer, lastAnswer    time.Time
	answered                              int
}

func newStats(fileRows int) *stats { return &stats{fileRows: fileRows} }

func (s *stats) addRead() {
	s.mu.Lock()
	s.read++
	s.mu.Unlock()
}

func (s *stats) addSent() {
	s.mu.Lock()
	s.counts.Sent++
	if s.firstSend.IsZero() {
		s.firstSend = time.Now()
	}
	s.mu.Unlock()
}

func (s *stats) unSent() {
	s.mu.Lock()
	s.counts.Sent--
	s.mu.Unlock()
}

func (s *stats) addLeft() {
	s.mu.Lock()
	s.left++
	s.mu.Unlock()
}

func (s *stats) add(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.sent {
		now := time.Now()
		if s.answered == 0 {
			s.firstAnswer = now
		}
		s.lastAnswer = now
		s.answered++
	}
	switch j.status {
	case RowOK:
		s.counts.OK++
	case RowRejected:
		s.counts.Rejected++
		if j.earlier {
			s.rejectedEarlier++
		}
	case RowFailed:
		s.counts.Failed++
	case RowInDoubt:
		s.counts.InDoubt++
	case RowSkipped:
		s.counts.Skipped++
	}
}

func (s *stats) snapshot() statsSnapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return statsSnapshot{fileRows: s.fileRows, read: s.read, left: s.left,
		rejectedEarlier: s.rejectedEarlier, counts: s.counts,
		firstSend: s.firstSend, firstAnswer: s.firstAnswer, lastAnswer: s.lastAnswer, answered: s.answered}
}

// rates works out a run's speeds for its summary. sending is the time rows were being sent,
// from the first request to the last answer. sent is requests per second, counted between
// answers: N answers evenly spaced by a limiter of R/s span (N-1)/R seconds, so (N-1)/span
// reads R, where N/span would read more than --rate for a short run (and one row answered in
// a millisecond would read "1,000 rows/s"). checked is rows settled per second (sent, skipped
// as confirmed earlier, rejected locally) over the rows' flow, the speed of a rerun that
// mostly skips, only over a second or more (a few rows checked in milliseconds say nothing).
// A rate that rests on fewer than two rows is zero: too little to say.
func (s statsSnapshot) rates(flow time.Duration) (sending time.Duration, sent, checked float64) {
	if !s.firstSend.IsZero() && !s.lastAnswer.IsZero() {
		sending = s.lastAnswer.Sub(s.firstSend)
	}
	if span := s.lastAnswer.Sub(s.firstAnswer); s.answered >= 2 && span > 0 {
		sent = float64(s.answered-1) / span.Seconds()
	}
	if n := s.done(); n >= 2 && flow >= time.Second {
		checked = float64(n) / flow.Seconds()
	}
	return sending, sent, checked
}

func (s statsSnapshot) done() int {
	c := s.counts
	return c.OK + c.Rejected + c.Failed + c.InDoubt + c.Skipped
}

// progressTick is how often the bar is redrawn.
const progressTick = 200 * time.Millisecond

// startProgress draws a progress bar on w until the returned stop function is called: rows
// done of the file's rows, rows/s, the time left, the outcome counts, and a note while the
// limiter is backing off. stop draws the final state and ends the line.
func startProgress(w io.Writer, st *stats, lim *AdaptiveLimiter) (stop func()) {
	total := int64(st.snapshot().fileRows)
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("importing"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(progressTick/2),
		progressbar.OptionSetWidth(24),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetRenderBlankState(true),
	)
	draw := func() {
		s := st.snapshot()
		bar.Describe(describe(s, lim.State()))
		_ = bar.Set64(int64(s.done()))
	}
	stopTicks := every(progressTick, draw)
	return func() {
		stopTicks()
		draw()
		_ = bar.Exit()
		fmt.Fprintln(w)
	}
}

// every calls f every interval on a goroutine of its own until the returned stop is called.
// stop returns once that goroutine has ended, so f is not running after it (the bar and the
// live status draw their final state then, without racing a tick).
func every(interval time.Duration, f func()) (stop func()) {
	quit := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				f()
			}
		}
	}()
	return func() {
		close(quit)
		<-ended
	}
}

// describe is the bar's text: counts, and why it is slow when it is.
func describe(s statsSnapshot, ls LimiterState) string {
	c := s.counts
	var b strings.Builder
	fmt.Fprintf(&b, "ok %d · rejected %d · failed %d", c.OK, c.Rejected, c.Failed)
	if c.InDoubt > 0 {
		fmt.Fprintf(&b, " · in doubt %d", c.InDoubt)
	}
	if c.Skipped > 0 {
		fmt.Fprintf(&b, " · skipped %d", c.Skipped)
	}
	switch {
	case ls.BackingOff > 0 && ls.Current < ls.Max:
		fmt.Fprintf(&b, " · backing off: service says too many requests, now %s", FormatRate(ls.Current))
	case ls.BackingOff > 0:
		fmt.Fprintf(&b, " · retrying in %s", ls.BackingOff.Round(100*time.Millisecond))
	case ls.Current < ls.Max:
		fmt.Fprintf(&b, " · slowed to %s", FormatRate(ls.Current))
	}
	return b.String()
}
