package importer

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gocarina/gocsv"
)

// Report file names inside REPORTS/RUN_ID/.
const (
	ResultsFile  = "results.csv"
	RejectedFile = "rejected.csv"
	SummaryFile  = "summary.json"
)

// resultsChunk is how many result rows are gathered before gocsv writes them: one reflection
// setup per chunk instead of per row, and memory stays flat.
const resultsChunk = 512

// ResultRow is one line of results.csv: what happened to one row of the input.
//
// Every row of the file that the run settled is listed, skipped ones included: a nightly file
// of 100,000 rows writes 100,000 short lines (a few MB), and results.csv stays the complete
// answer to "what happened to line N" without looking at earlier runs. Rows a stopped run did
// not reach are not listed (the summary counts them as left).
type ResultRow struct {
	Line   int    `csv:"line"`
	Status string `csv:"status"` // ok | rejected | failed | in-doubt | skipped
	Key    string `csv:"key"`    // the row's key (e-mail, deal number), never the API key
	UserID ID     `csv:"user_id"`
	DealID ID     `csv:"deal_id"`
	Error  string `csv:"error"` // why; an ok row whose field was left out (on_error: skip) says "warning: ..."
}

// ID is a GetCourse id in a report: empty when there is none rather than 0.
type ID int64

// MarshalCSV writes the id, or nothing for zero.
func (id ID) MarshalCSV() (string, error) {
	if id == 0 {
		return "", nil
	}
	return strconv.FormatInt(int64(id), 10), nil
}

// UnmarshalCSV reads an id written by MarshalCSV.
func (id *ID) UnmarshalCSV(s string) error {
	if s == "" {
		*id = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	*id = ID(n)
	return err
}

// SummaryReport is the content of summary.json.
type SummaryReport struct {
	RunID    string    `json:"run_id"`
	Status   string    `json:"status"`
	Account  string    `json:"account"`
	Target   string    `json:"target"`
	Input    string    `json:"input"`
	Mapping  string    `json:"mapping"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// DurationSeconds is the wall time of the run.
	DurationSeconds float64      `json:"duration_seconds"`
	Counts          ReportCounts `json:"counts"`
	// AchievedRate is rows sent per second of the run; RateLimit the --rate asked for;
	// FinalRate where the adaptive limiter ended (lower when the service pushed back).
	AchievedRate float64 `json:"achieved_rate_per_second"`
	RateLimit    float64 `json:"rate_limit_per_second"`
	FinalRate    float64 `json:"final_rate_per_second"`
	RateLimited  int     `json:"rate_limited_answers"`
	Retried      int     `json:"retried_attempts"`
	StopReason   string  `json:"stop_reason,omitempty"`
	// ResumeCommand is set when rerunning would do more: the run stopped early or rows failed.
	ResumeCommand string   `json:"resume_command,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
	// Settled is what the lookup of deals left in doubt by earlier runs found before this run
	// sent anything (settle.go); absent when there was nothing to look up.
	Settled *SettleCounts `json:"settled,omitempty"`
}

// SettleCounts are the settlement's counts in summary.json.
type SettleCounts struct {
	InDoubt     int    `json:"in_doubt_before"`
	Confirmed   int    `json:"confirmed"`
	Missing     int    `json:"missing_sent_again"`
	Ambiguous   int    `json:"ambiguous"`
	Unchecked   int    `json:"not_looked_up"`
	ExportID    int64  `json:"export_id,omitempty"`
	ExportCalls int    `json:"export_calls"`
	Note        string `json:"note,omitempty"`
}

// ReportCounts are the row counts of summary.json.
type ReportCounts struct {
	Rows            int `json:"rows"`
	OK              int `json:"ok"`
	Rejected        int `json:"rejected"`
	RejectedEarlier int `json:"rejected_earlier"`
	Failed          int `json:"failed"`
	InDoubt         int `json:"in_doubt"`
	Skipped         int `json:"skipped"`
	Sent            int `json:"sent"`
	Left            int `json:"left"`
}

// NeedsRerun reports whether running the same command again would do more work: the run
// stopped early, or rows failed (failed rows are retried by the next run).
func (s *Summary) NeedsRerun() bool { return s.Reason != nil || s.Counts.Failed > 0 }

// Report returns the summary.json form of s.
func (s *Summary) Report() SummaryReport {
	r := SummaryReport{
		RunID: s.RunID, Status: s.Status, Account: s.Account, Target: s.Target, Input: s.Input,
		Mapping: s.Mapping, Started: s.Started, Finished: s.Finished,
		DurationSeconds: s.Duration.Seconds(),
		Counts: ReportCounts{Rows: s.Counts.Total, OK: s.Counts.OK, Rejected: s.Counts.Rejected,
			RejectedEarlier: s.RejectedEarlier, Failed: s.Counts.Failed, InDoubt: s.Counts.InDoubt,
			Skipped: s.Counts.Skipped, Sent: s.Counts.Sent, Left: s.Left},
		AchievedRate: s.Rate, RateLimit: float64(s.MaxRate), FinalRate: float64(s.FinalRate),
		RateLimited: s.RateLimited, Retried: s.Retried, Warnings: s.Warnings,
	}
	if s.Reason != nil {
		r.StopReason = s.Reason.Error()
	}
	if s.NeedsRerun() {
		r.ResumeCommand = s.Command
	}
	if st := s.Settle; st != nil && st.InDoubt > 0 {
		r.Settled = &SettleCounts{InDoubt: st.InDoubt, Confirmed: st.Confirmed, Missing: st.Missing,
			Ambiguous: st.Ambiguous, Unchecked: st.Unchecked, ExportID: st.ExportID, ExportCalls: st.Calls, Note: st.Why}
	}
	return r
}

// reports writes the files of one run's report folder.
type reports struct {
	dir     string
	results *os.File
	buf     *bufio.Writer
	csvw    *gocsv.SafeCSVWriter
	pending []ResultRow
	rejects rejectSink
	closed  bool
	// dealNumberKey makes a row's key in results.csv its deal_number (design.md): set for a
	// deals mapping that maps one. The rows are still ordered by e-mail (keyGate).
	dealNumberKey bool
}

func openReports(dir string, src Input) (*reports, error) {
	f, err := os.OpenFile(filepath.Join(dir, ResultsFile), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	r := &reports{dir: dir, results: f, buf: bufio.NewWriterSize(f, 64<<10)}
	r.csvw = gocsv.NewSafeCSVWriter(csv.NewWriter(r.buf))
	// The header alone, so that a run with no rows still leaves a well-formed file.
	if err := gocsv.MarshalCSV([]ResultRow{}, r.csvw); err != nil {
		f.Close()
		return nil, err
	}
	r.rejects, err = createRejectsFor(dir, src)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// add records one settled row: a line of results.csv, and for rejected and failed rows their
// original cells in rejected.csv.
func (r *reports) add(j *job) error {
	text := j.errText
	if j.warning != "" {
		// A row sent without a field (on_error: skip) says so where its problems are read.
		if text != "" {
			text += "; "
		}
		text += "warning: " + j.warning
	}
	key := j.key
	if r.dealNumberKey {
		if n := dealNumberOf(j.params); n != "" {
			key = n
		}
	}
	r.pending = append(r.pending, ResultRow{Line: j.row.Line, Status: j.status, Key: key,
		UserID: ID(j.userID), DealID: ID(j.dealID), Error: text})
	if len(r.pending) >= resultsChunk {
		if err := r.flushResults(); err != nil {
			return err
		}
	}
	if j.status == RowRejected || j.status == RowFailed {
		return r.rejects.Write(j.row, j.errText)
	}
	return nil
}

func (r *reports) flushResults() error {
	if len(r.pending) == 0 {
		return nil
	}
	err := gocsv.MarshalCSVWithoutHeaders(r.pending, r.csvw)
	clear(r.pending)
	r.pending = r.pending[:0]
	return err
}

// finish writes what is pending, closes the CSV files and writes summary.json.
func (r *reports) finish(s *Summary) error {
	err := r.close()
	b, jerr := json.MarshalIndent(s.Report(), "", "  ")
	if jerr != nil {
		return errors.Join(err, jerr)
	}
	b = append(b, '\n')
	return errors.Join(err, writeFile0600(filepath.Join(r.dir, SummaryFile), b))
}

func (r *reports) close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	err := r.flushResults()
	r.csvw.Flush()
	err = errors.Join(err, r.csvw.Error(), r.buf.Flush(), r.results.Close(), r.rejects.Close())
	return err
}

// abort closes the files if finish was never reached (a panic or an early return).
func (r *reports) abort() { _ = r.close() }

func writeFile0600(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}

// dealNumberOf returns the deal_number of a deals row's params, or "".
func dealNumberOf(params []byte) string {
	if len(params) == 0 {
		return ""
	}
	var p struct {
		Deal struct {
			DealNumber json.RawMessage `json:"deal_number"`
		} `json:"deal"`
	}
	if json.Unmarshal(params, &p) != nil || len(p.Deal.DealNumber) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(p.Deal.DealNumber, &s) == nil {
		return s
	}
	return string(p.Deal.DealNumber) // a number: its digits
}
