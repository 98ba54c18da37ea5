package checkpoint

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CacheKeep is how long a cache entry may stay in the state file at most. Every CachePut drops
// the entries older than this, so that a file used for years by many accounts and many input
// files does not grow without bound; readers ask for much shorter ages anyway.
const CacheKeep = 7 * 24 * time.Hour

// The cache bucket maps a caller-chosen key to an 8-byte big-endian Unix-nanosecond time of
// storage followed by the value. It holds answers that are worth reusing for a while but are
// never the truth of record (the account's custom fields and groups for the online preflight,
// the group names an unchanged input file adds): losing an entry only costs a refetch.

// CacheGet returns the value stored under key and when it was stored, if it was stored no
// longer than maxAge before now (maxAge <= 0 accepts any age). ok is false when there is no
// such entry or it is too old. The value is a copy, safe to keep.
func (s *Store) CacheGet(key string, maxAge time.Duration, now time.Time) (value []byte, stored time.Time, ok bool, err error) {
	err = s.guardedView(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCache).Get([]byte(key))
		if len(v) < 8 {
			return nil
		}
		stored = keyTime(v[:8])
		// An entry from the future (the clock went back) is not trusted either.
		if stored.After(now) || maxAge > 0 && now.Sub(stored) > maxAge {
			return nil
		}
		value, ok = append([]byte(nil), v[8:]...), true
		return nil
	})
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("cache: %w", err)
	}
	if !ok {
		stored = time.Time{}
	}
	return value, stored, ok, nil
}

// CachePut stores value under key as of now, replacing any earlier value, and drops every entry
// stored more than CacheKeep before now.
func (s *Store) CachePut(key string, value []byte, now time.Time) error {
	err := s.guardedUpdate(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCache)
		var old [][]byte
		cutoff := now.Add(-CacheKeep)
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) < 8 || keyTime(v[:8]).Before(cutoff) {
				old = append(old, append([]byte(nil), k...))
			}
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		rec := make([]byte, 8, 8+len(value))
		binary.BigEndian.PutUint64(rec, uint64(now.UnixNano()))
		return b.Put([]byte(key), append(rec, value...))
	})
	if err != nil {
		return fmt.Errorf("cache: cannot update the state file: %w", err)
	}
	return nil
}

// CacheDelete forgets the entry under key (nothing happens when there is none), for when the
// caller knows the cached answer is about to become wrong.
func (s *Store) CacheDelete(key string) error {
	err := s.guardedUpdate(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCache).Delete([]byte(key))
	})
	if err != nil {
		return fmt.Errorf("cache: cannot update the state file: %w", err)
	}
	return nil
}
