package checkpoint

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrNotFound is returned (wrapped) when the state file has no record of the thing asked for.
var ErrNotFound = errors.New("not found")

// Counts are a run's row tallies, as the summary and `runs show` print them.
type Counts struct {
	Total, OK, Rejected, Failed, InDoubt, Skipped, Sent int
}

// Run is one import as the state file remembers it: what was imported where, how to resume
// it and how it ended.
type Run struct {
	ID               string `json:"id"`
	Account          string `json:"account"`
	Target           string `json:"target"`
	InputPath        string `json:"input_path"`
	InputFingerprint string `json:"input_fingerprint"`
	MappingPath      string `json:"mapping_path"`
	MappingHash      string `json:"mapping_hash"`
	// Command is the command line that resumes this run. No key ever appears on a gcbatch
	// command line, so it is safe to store and print.
	Command string `json:"command"`
	// Status is running, done, partial (done with rejects or failures), stopped (a fatal
	// answer from the service) or interrupted.
	Status     string    `json:"status"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Counts     Counts    `json:"counts"`
	ReportsDir string    `json:"reports_dir"`
	Note       string    `json:"note,omitempty"`
}

// NewRunID returns a run id such as "20261126-172233-3f9a": the UTC second the run started,
// so ids sort by time in listings and directory names, and 16 random bits, so two runs started
// in the same second (two cron jobs, two accounts) do not collide.
func NewRunID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// PutRun inserts or replaces the record of r.ID.
func (s *Store) PutRun(r Run) error {
	if r.ID == "" {
		return errors.New("checkpoint: PutRun: run has no id")
	}
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return s.guardedUpdate(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRuns).Put([]byte(r.ID), v)
	})
}

// GetRun returns the run with the given id; an unknown id gives an error wrapping ErrNotFound.
func (s *Store) GetRun(id string) (Run, error) {
	var r Run
	err := s.guardedView(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		var v []byte
		if b != nil {
			v = b.Get([]byte(id))
		}
		if v == nil {
			return fmt.Errorf("run %s: %w in %s", id, ErrNotFound, s.path)
		}
		return s.decodeRun(v, &r)
	})
	return r, err
}

// ListRuns returns every run, newest first.
func (s *Store) ListRuns() ([]Run, error) {
	var runs []Run
	err := s.guardedView(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRuns)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var r Run
			if err := s.decodeRun(v, &r); err != nil {
				return err
			}
			runs = append(runs, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// Ids order runs by their start second only; the start time breaks ties within a second.
	slices.SortStableFunc(runs, func(a, b Run) int {
		if c := b.Started.Compare(a.Started); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return runs, nil
}

func (s *Store) decodeRun(v []byte, r *Run) error {
	if err := json.Unmarshal(v, r); err != nil {
		return damaged(s.path, fmt.Errorf("run record: %w", err))
	}
	return nil
}
